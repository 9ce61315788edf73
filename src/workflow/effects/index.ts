/**
 * PGS v0.3 CS (side-effect) runtimes: CS_REGISTRY_V0, CS_APPENDONLY_JSONL_V0,
 * CS_MUTABLE_JSON_V0 — byte-compatible with the reference's data-root files
 * (/work/shared/fixtures/pgs/SEMANTICS.md Part C), deterministic, confined to the data root.
 *
 * ## The contract: `CsRuntime.execute(call, ctx) → CsResult`
 *
 * - `call.op` — the step's operation name (`"REGISTER"`, `"APPEND"`, `"WRITE"`…). Under the
 *   default "reference" dialect the method is the lower-cased name; an operation without a
 *   method returns `BACKEND_ERROR` with `message: "No backend handler for op: <op>"`, exactly
 *   like the reference (so `GET_ALL`, `GET_RANGE`, `GET_SINCE`, `GET`, `PUT`, `LIST`, which the
 *   metadata declares, are BACKEND_ERROR). `ctx.operationDialect = "declared"` routes declared
 *   operations to their declared handler instead (a Cairn extension; see types.ts).
 * - `call.payload` — the resolved step inputs, `__store__` moved to `__pgs_store_entity__`
 *   (`buildCsPayload`). Members the operation does not use are ignored.
 * - `call.config` — the RB policy after `{{module_data_root}}` expansion (`selectPolicy` +
 *   `expandPolicy`); `call.metadata` — `cs_metadata` (needs a `capability` member; the
 *   mutable store also `operations`).
 * - `ctx: EffectContext` — `{ dataRoot, clock, nextId(), operationDialect? }`: the only source
 *   of time and ids (`createEffectContext`; rules in context.ts). Nothing reads the wall clock
 *   or a random generator, so the same context, inputs and prior data-root state give
 *   byte-identical files and results.
 * - Result: `{ outcome, result, effect? }`. `outcome` ∈ SUCCESS | ALREADY_EXISTS | NOT_FOUND |
 *   VIOLATION | BACKEND_ERROR and equals `result.get("result_status")`; `result` is the raw
 *   result dict (`result_status` first, then `address`, `exists`, `target_cs`, `record_id`,
 *   `entries`, `value`, `keys`…) that `$.capability_result.*` mappings read; `effect` says which file (relative to the data root)
 *   the call appended to / replaced / created / only read, with the SHA-256 and size of those
 *   bytes, and a run-scoped id from `ctx.nextId()` — for the trace.
 * - Hard errors are thrown as `CairnError`s (the engine aborts the run, writes an `ERROR`
 *   trace event): bad config or metadata, an unhashable registry key, a missing store entity,
 *   an unserialisable value, a path outside the data root (`E_PATH_CONFINEMENT`,
 *   `details.reason = "path_confinement"`), a torn append-only log, I/O failures the reference
 *   does not map to a status. A torn JSON-lines file stays refused until the operator repairs it
 *   (`cairn wf repair-tail`, `repairTornTail`: jsonl.ts).
 *
 * Values are the shared Python value model (src/workflow/py/value.ts), in and out: dicts are
 * `Map`s (insertion order), ints `bigint`, floats `number`. Payload, config, metadata and the
 * raw result are dicts; nothing is converted at the boundary. The data files are read and
 * written with the shared JSON module (src/workflow/py/json.ts): the spaced form for JSON
 * lines, the pretty form for the mutable document, the canonical form for registry addresses.
 *
 * Files (all under the data root, created on first use):
 * - registry: JSON lines, spaced serialisation (registry.ts);
 * - append-only log: JSON lines, spaced serialisation (appendonly.ts);
 * - mutable store: one pretty-printed JSON object, no trailing newline (mutable.ts).
 */
import { APPENDONLY_RUNTIME } from "./appendonly.js";
import { configError } from "./errors.js";
import { MUTABLE_RUNTIME } from "./mutable.js";
import { buildCsPayload, expandPolicyShared, selectPolicy } from "./policy.js";
import { pyTruthy, type PyDict, type PyValue } from "../py/value.js";
import { REGISTRY_RUNTIME } from "./registry.js";
import type { CsResult, CsRuntime, EffectContext, HandlerRef } from "./types.js";

/** The sealed CS table, keyed by capability id (as in the snapshots' handler modules). */
export const CS_RUNTIMES: Readonly<Record<string, CsRuntime>> = Object.freeze(
  // A null prototype: `CS_RUNTIMES["toString"]` is undefined, not an inherited function.
  Object.assign(Object.create(null) as Record<string, CsRuntime>, {
    CS_REGISTRY_V0: REGISTRY_RUNTIME,
    CS_APPENDONLY_JSONL_V0: APPENDONLY_RUNTIME,
    CS_MUTABLE_JSON_V0: MUTABLE_RUNTIME,
  }),
);

/** `Object.values(CS_RUNTIMES)` once (the table is frozen). */
const RUNTIME_LIST: readonly CsRuntime[] = Object.freeze(Object.values(CS_RUNTIMES));

/** The runtime for a capability id, or `undefined` (never an inherited property). */
export function csRuntimeFor(capability: string): CsRuntime | undefined {
  return Object.prototype.hasOwnProperty.call(CS_RUNTIMES, capability) ? CS_RUNTIMES[capability] : undefined;
}

/** `module` and `callable` of a `handler_ref` dict or a `HandlerRef`; `undefined` for anything else. */
function refParts(ref: PyValue | HandlerRef | undefined): { module: unknown; callable: unknown } | undefined {
  if (ref instanceof Map) return { module: ref.get("module"), callable: ref.get("callable") };
  if (ref === undefined || ref === null || typeof ref !== "object" || Array.isArray(ref)) return undefined;
  const r = ref as HandlerRef;
  return { module: r.module, callable: r.callable };
}

/** The runtime whose `handler_ref` is exactly `{module, callable}` (the sealed-registry lookup of A.10 step 4). */
export function csRuntimeForHandlerRef(ref: PyValue | HandlerRef | undefined): CsRuntime | undefined {
  const parts = refParts(ref);
  if (parts === undefined) return undefined;
  for (const rt of RUNTIME_LIST) {
    if (rt.handlerRef.module === parts.module && rt.handlerRef.callable === parts.callable) return rt;
  }
  return undefined;
}

/** One CS step as the dispatcher sees it (A.10). */
export interface CsStepInvocation {
  /** `handlers.cs[addr].handler_ref`. */
  readonly handlerRef: PyValue | HandlerRef;
  /** `handlers.cs[addr].cs_metadata` (`undefined`/falsy → `{}`). */
  readonly csMetadata: PyValue | undefined;
  /** `rb_policy[rb][addr]` (`undefined` when missing). */
  readonly rbPolicyEntry: PyValue | undefined;
  readonly op: string;
  /** The resolved step inputs, `__store__` included. */
  readonly stepInputs: PyDict;
  /** `fqdn(addr)`, for messages. */
  readonly capabilityCode?: string;
}

/**
 * A.10 steps 2–6 for one CS step: policy selection and expansion, payload, sealed lookup by
 * handler ref (unknown → hard error), execution.
 */
export function invokeCsStep(step: CsStepInvocation, ctx: EffectContext): CsResult {
  const rt = csRuntimeForHandlerRef(step.handlerRef);
  if (rt === undefined) {
    throw configError(`CS handler ${JSON.stringify(String(refParts(step.handlerRef)?.module ?? null))} is not in the sealed CS registry`, {
      capabilityCode: step.capabilityCode ?? null,
    });
  }
  const md = step.csMetadata;
  return rt.execute(
    {
      op: step.op,
      payload: buildCsPayload(step.stepInputs),
      // Memoised per (policy, data root): the policy belongs to the loaded snapshot and the
      // runtimes only read their config.
      config: expandPolicyShared(selectPolicy(step.rbPolicyEntry), ctx.dataRoot),
      metadata: md === undefined || !pyTruthy(md) ? new Map() : md,
      ...(step.capabilityCode === undefined ? {} : { capabilityCode: step.capabilityCode }),
    },
    ctx,
  );
}

export { APPENDONLY_RUNTIME, MUTABLE_RUNTIME, REGISTRY_RUNTIME };
export { ADDRESS_HEX_DIGITS, ADDRESS_PREFIX, registryAddress } from "./registry.js";
export { APPENDONLY_READ_MAX_BYTES, APPENDONLY_READ_MAX_ENTRIES, RECORD_ID_COUNTER_WIDTH, recordId } from "./appendonly.js";
export { DEFAULT_LOGICAL_EPOCH_MS, EFFECT_ID_COUNTER_WIDTH, appendTimestamp, createEffectContext, type EffectContextOptions } from "./context.js";
export { MODULE_DATA_ROOT_TEMPLATE, PAYLOAD_STORE_ENTITY, PGS_DATA_ROOT_UNSUPPORTED_CHARS, STEP_STORE_INPUT, buildCsPayload, expandPolicy, expandPolicyShared, selectPolicy } from "./policy.js";
export { checkDataRootHoldsState, confineAbsolute, confineRelative, refuseDirectoryPath, keepBatchRoot, newBatchCheckedDirs, newCheckedDirs, runBatchCheckedDirs, normalizeDataRoot, preparePath, type CheckedDirs, type ConfinedPath, type PreparedPath } from "./confine.js";
export { cachedDigest, fileCacheUsage, remember } from "./filecache.js";
export {
  DataRootLock, acquireDataRootLock, acquireDataRootLockAsync, checkDataRootLockWait, dataRootLockDir, dataRootLockFile, dataRootRealPath, lockForRun, withPrivateDataRootLock,
  DATA_ROOT_LOCK_DIR_ENV, DATA_ROOT_LOCK_POLL_FIRST_MS, DATA_ROOT_LOCK_POLL_MAX_MS, MAX_LOCK_SYMLINK_HOPS, DATA_ROOT_LOCK_DIR_MODE, DATA_ROOT_LOCK_DIR_PREFIX, DATA_ROOT_LOCK_HASH_HEX, DATA_ROOT_LOCK_REFRESH_MS, DATA_ROOT_LOCK_SUFFIX,
  DEFAULT_DATA_ROOT_LOCK_WAIT_MS, MAX_DATA_ROOT_LOCK_WAIT_MS,
} from "./data-root-lock.js";
export { EffectErrorReason, osErrorText, type EffectErrorReasonValue } from "./errors.js";
export { DATA_FILE_MODE, MAX_DATA_FILE_BYTES, MAX_TEMP_NAME_ATTEMPTS, MAX_TEMP_PID } from "./fsio.js";
export { NOT_JSON_LINES_REASON, REPAIR_TAIL_COMMAND, REPAIR_TAIL_HEAD_BYTES, repairTail, repairTornTail, type RepairTailOptions, type TailRepairReport, type TornTailRepair } from "./jsonl.js";
export type {
  CsCall,
  CsCapabilityId,
  CsOutcome,
  CsRawResult,
  CsResult,
  CsRuntime,
  EffectContext,
  EffectDurability,
  EffectRecord,
  HandlerRef,
  LogReadLimit,
  OperationDialect,
} from "./types.js";
