/**
 * The host shape shared by the three CS runtimes (SEMANTICS C.1): validate the metadata,
 * build a fresh backend from the config, pick the method from the operation name, run it,
 * and turn what it touched into an `EffectRecord`.
 */
import { sha256 } from "../../core/digest.js";
import { configError, inputError } from "./errors.js";
import { getMember, hasMember, isPgsObject, type PgsObject, type PgsValue } from "./pyvalue.js";
import type { CsCall, CsCapabilityId, CsOutcome, CsResult, CsRuntime, EffectContext, EffectRecord, HandlerRef, OperationDialect } from "./types.js";

/** What a method touched: the bytes written or observed under `path`. */
export interface EffectDraft {
  readonly action: EffectRecord["action"];
  readonly path: string;
  readonly bytes: Uint8Array;
  readonly created: boolean;
}

/** A method's outcome: the raw result (with `result_status`) and what it touched. */
export interface MethodResult {
  readonly result: Record<string, PgsValue> & { readonly result_status: CsOutcome };
  readonly effect?: EffectDraft;
}

export type Method = (payload: PgsObject) => MethodResult;

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
  construct(config: PgsObject, ctx: EffectContext, call: CsCall): Backend;
}

/** Result members of a status-only outcome. */
export function status(s: CsOutcome, extra: Record<string, PgsValue> = {}): MethodResult["result"] {
  return { result_status: s, ...extra };
}

/** The message of the reference for an operation without a method. */
export function noHandlerMessage(op: string): string {
  return `No backend handler for op: ${op}`;
}

function declaredHandler(metadata: PgsObject, op: string): string | undefined {
  const ops = getMember(metadata, "operations");
  const table = isPgsObject(ops) ? getMember(ops, "operations") : null;
  const entry = isPgsObject(table) ? getMember(table, op) : null;
  const handler = isPgsObject(entry) ? getMember(entry, "handler") : null;
  return typeof handler === "string" ? handler : undefined;
}

function pickMethod(spec: HostSpec, op: string, metadata: PgsObject, dialect: OperationDialect): string | undefined {
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
    digest: sha256(d.bytes),
    size: d.bytes.length,
  });
}

/** Builds a sealed runtime from a host spec. */
export function defineCsRuntime(spec: HostSpec): CsRuntime {
  const handlerRef = Object.freeze({ ...spec.handlerRef });
  const execute = (call: CsCall, ctx: EffectContext): CsResult => {
    const where = call.capabilityCode ?? spec.capability;
    const md = call.metadata;
    if (!isPgsObject(md) || !hasMember(md, "capability")) throw configError(`${where}: cs_metadata must be an object with a "capability" member`);
    if (spec.requiresOperationsMetadata && !hasMember(md, "operations")) throw configError(`${where}: cs_metadata must have an "operations" member`);
    if (!isPgsObject(call.config)) throw configError(`${where}: the CS config (expanded policy) must be an object`);
    if (typeof call.op !== "string") throw inputError(`${where}: operation name must be a string`);
    if (!isPgsObject(call.payload)) throw inputError(`${where}: CS payload must be an object`);
    const backend = spec.construct(call.config, ctx, call);
    const name = pickMethod(spec, call.op, md, ctx.operationDialect ?? "reference");
    const method = name === undefined ? undefined : backend.methods[name];
    const out: MethodResult = method === undefined ? { result: status("BACKEND_ERROR", { message: noHandlerMessage(call.op) }) } : method(call.payload);
    let draft = out.effect ?? backend.constructed;
    if (draft !== undefined && backend.constructed?.created === true && !draft.created) draft = { ...draft, created: true };
    const result = Object.freeze({ ...out.result });
    return Object.freeze({
      outcome: out.result.result_status,
      result,
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
export function requirePathConfig(config: PgsObject, where: string): string {
  const p = getMember(config, "path");
  if (!hasMember(config, "path") || p === null) throw configError(`${where}: config has no "path"`);
  if (typeof p !== "string") throw configError(`${where}: config "path" must be a string`);
  return p;
}
