/**
 * The host shape shared by the three CS runtimes (SEMANTICS C.1): validate the metadata,
 * build a fresh backend from the config, pick the method from the operation name, run it,
 * and turn what it touched into an `EffectRecord`.
 */
import { sha256, type Digest } from "../../core/digest.js";
import { configError, inputError } from "./errors.js";
import { getOrNull, isDict, type PyDict, type PyValue } from "../py/value.js";
import type { CsCall, CsCapabilityId, CsOutcome, CsRawResult, CsResult, CsRuntime, EffectContext, EffectRecord, HandlerRef, OperationDialect } from "./types.js";

/** What a method touched: the bytes (and maybe their digest, from the file cache), or only their digest and size. */
export type EffectDraft = {
  readonly action: EffectRecord["action"];
  readonly path: string;
  readonly created: boolean;
} & ({ readonly bytes: Uint8Array; readonly digest?: Digest } | { readonly bytes?: undefined; readonly digest: Digest; readonly size: number });

/** A method's outcome: the raw result (built by `status`, so `result_status` comes first) and what it touched. */
export interface MethodResult {
  readonly result: CsRawResult;
  readonly effect?: EffectDraft;
}

export type Method = (payload: PyDict) => MethodResult;

/** A backend built for one call. */
export interface Backend {
  readonly methods: Readonly<Record<string, Method>>;
  /** Set when constructing the backend already changed the data root (the registry creates its file). */
  readonly constructed?: EffectDraft;
}

export interface HostSpec {
  readonly capability: CsCapabilityId;
  readonly handlerRef: HandlerRef;
  /** Methods reachable by lower-cased operation name (the reference rule). */
  readonly referenceMethods: readonly string[];
  /** Methods reachable only through a declared handler name under the "declared" dialect. */
  readonly extensionMethods?: readonly string[];
  /** CS_MUTABLE_JSON_V0 also requires an `operations` member in the metadata. */
  readonly requiresOperationsMetadata: boolean;
  construct(config: PyDict, ctx: EffectContext, call: CsCall): Backend;
}

/** The raw result dict of an outcome: `result_status`, then the `extra` members in their order. */
export function status(s: CsOutcome, extra: Readonly<Record<string, PyValue>> = {}): CsRawResult {
  return new Map<string, PyValue>([["result_status", s], ...Object.entries(extra)]);
}

/**
 * The BACKEND_ERROR of a backend that cannot use its file (a registry or mutable store that does
 * not read or parse, C.2 / C.4). Under the reference dialect it is bare, as the reference
 * returns it (`{"result_status": "BACKEND_ERROR"}`: a snapshot mapping
 * `$.capability_result.message` gets null, as there); under the declared dialect (Cairn
 * stores) it carries the reason as `message` (the step's `message` result field and
 * `CC_STEP.detail.error`). The "No backend handler" BACKEND_ERROR carries its message in both,
 * as in the reference (C.1).
 */
export function backendError(dialect: OperationDialect | undefined, message: string): CsRawResult {
  return status("BACKEND_ERROR", dialect === "declared" ? { message } : {});
}

/** The message of the reference for an operation without a method. */
export function noHandlerMessage(op: string): string {
  return `No backend handler for op: ${op}`;
}

function declaredHandler(metadata: PyDict, op: string): string | undefined {
  const ops = getOrNull(metadata, "operations");
  const table = isDict(ops) ? getOrNull(ops, "operations") : null;
  const entry = isDict(table) ? getOrNull(table, op) : null;
  const handler = isDict(entry) ? getOrNull(entry, "handler") : null;
  return typeof handler === "string" ? handler : undefined;
}

function pickMethod(spec: HostSpec, op: string, metadata: PyDict, dialect: OperationDialect): string | undefined {
  if (dialect === "declared") {
    const h = declaredHandler(metadata, op);
    if (h !== undefined && (spec.referenceMethods.includes(h) || (spec.extensionMethods ?? []).includes(h))) return h;
  }
  const lower = op.toLowerCase();
  return spec.referenceMethods.includes(lower) ? lower : undefined;
}

function toRecord(spec: HostSpec, op: string, d: EffectDraft, ctx: EffectContext): EffectRecord {
  return Object.freeze({
    id: ctx.nextId(),
    capability: spec.capability,
    op,
    path: d.path,
    action: d.action,
    created: d.created,
    digest: d.digest ?? sha256(d.bytes),
    size: d.bytes === undefined ? d.size : d.bytes.length,
  });
}

/** Builds a sealed runtime from a host spec. */
export function defineCsRuntime(spec: HostSpec): CsRuntime {
  const handlerRef = Object.freeze({ ...spec.handlerRef });
  const execute = (call: CsCall, ctx: EffectContext): CsResult => {
    const where = call.capabilityCode ?? spec.capability;
    const md = call.metadata;
    if (!isDict(md) || !md.has("capability")) throw configError(`${where}: cs_metadata must be an object with a "capability" member`);
    if (spec.requiresOperationsMetadata && !md.has("operations")) throw configError(`${where}: cs_metadata must have an "operations" member`);
    if (!isDict(call.config)) throw configError(`${where}: the CS config (expanded policy) must be an object`);
    if (typeof call.op !== "string") throw inputError(`${where}: operation name must be a string`);
    if (!isDict(call.payload)) throw inputError(`${where}: CS payload must be an object`);
    const backend = spec.construct(call.config, ctx, call);
    const name = pickMethod(spec, call.op, md, ctx.operationDialect ?? "reference");
    const method = name === undefined ? undefined : backend.methods[name];
    const out: MethodResult = method === undefined ? { result: status("BACKEND_ERROR", { message: noHandlerMessage(call.op) }) } : method(call.payload);
    let draft = out.effect ?? backend.constructed;
    if (draft !== undefined && backend.constructed?.created === true && !draft.created) draft = { ...draft, created: true };
    return Object.freeze({
      outcome: out.result.get("result_status") as CsOutcome,
      result: out.result,
      ...(draft === undefined ? {} : { effect: toRecord(spec, call.op, draft, ctx) }),
    });
  };
  return Object.freeze({
    capability: spec.capability,
    handlerRef,
    referenceMethods: Object.freeze([...spec.referenceMethods]),
    execute,
  });
}

/** The `path` member of a registry / append-only config; absence (or a non-string) is a hard error. */
export function requirePathConfig(config: PyDict, where: string): string {
  const p = getOrNull(config, "path");
  if (p === null) throw configError(`${where}: config has no "path"`);
  if (typeof p !== "string") throw configError(`${where}: config "path" must be a string`);
  return p;
}
