/**
 * Types of the CS (side-effect) runtime layer. The contract is documented at the top of
 * index.ts; this file only declares it.
 */
import type { Clock } from "../../core/clock.js";
import type { Digest } from "../../core/digest.js";
import type { PyDict, PyValue } from "../py/value.js";
import type { CheckedDirs } from "./confine.js";

/** The capability ids of the three CS runtimes, as in the snapshots' handler modules and vocabularies. */
export type CsCapabilityId = "CS_REGISTRY_V0" | "CS_APPENDONLY_JSONL_V0" | "CS_MUTABLE_JSON_V0";

/** Statuses a CS runtime reports (SEMANTICS A.10 status vocabulary). */
export type CsOutcome = "SUCCESS" | "ALREADY_EXISTS" | "NOT_FOUND" | "VIOLATION" | "BACKEND_ERROR";

/**
 * How an operation name selects a backend method, and what a BACKEND_ERROR result carries.
 *  - `"reference"` (default): the reference's rule — the lower-cased operation name; names
 *    declared in the metadata without such a method (`GET_ALL`, `GET_RANGE`, `GET_SINCE`,
 *    `GET`, `PUT`, `LIST`) return BACKEND_ERROR "No backend handler for op: <op>". A registry
 *    or mutable store whose file cannot be read or parsed answers a bare
 *    `{"result_status": "BACKEND_ERROR"}`, as the reference does (C.2, C.4).
 *  - `"declared"`: Cairn extension — an operation declared in `cs_metadata.operations`
 *    dispatches to its declared `handler` (`GET_ALL` → read_all, `GET_RANGE` → read_range,
 *    `GET_SINCE` → read_since, `GET` → read, `PUT` → write, `LIST` → list_keys); anything
 *    else falls back to the reference rule. Changes outcomes only for calls the reference
 *    answers with BACKEND_ERROR; none of the six runnable workflows makes such a call. Every
 *    BACKEND_ERROR carries the reason as `message` (host.ts `backendError`).
 */
export type OperationDialect = "reference" | "declared";

/**
 * Whether the CS runtimes fsync what they write.
 *  - `"fsync"` (default): an append reports success only after `fsync` of the file (and of its
 *    directory when the file was created); a replacement fsyncs the temp file before the rename
 *    and the directory after it; a created parent directory is fsynced into its parent. A
 *    completed effect survives an OS crash or power loss.
 *  - `"no-fsync"`: the same writes in the same order (one `O_APPEND` write per append, temp +
 *    rename per replacement, so atomicity towards readers and a crash of the *process* are
 *    unchanged) without any fsync. A completed effect survives the process dying, not an OS
 *    crash or power loss: after one, an append may be lost or torn (readers refuse a torn tail,
 *    jsonl.ts) and a replaced document may be the old one. This is what the reference runtime
 *    does (it never fsyncs). Opt-in only (`runPgsWorkflow({ effectDurability })`).
 */
export type EffectDurability = "fsync" | "no-fsync";

/**
 * Everything a CS runtime takes from the run instead of the environment. Same context
 * values + same inputs + same prior data-root state ⇒ byte-identical files and results.
 */
export interface EffectContext {
  /** Absolute data root (`--data-root`). Every file a runtime touches must resolve inside it. */
  readonly dataRoot: string;
  /**
   * The run's logical clock (ms since the Unix epoch) — never the wall clock. Read once per
   * APPEND; the record timestamp is `clock.now()` ms + `sequence_number` µs (context.ts).
   */
  readonly clock: Clock;
  /** The next run-scoped effect id (deterministic; see `createEffectContext`). Called once per effect. */
  nextId(): string;
  /** Operation dispatch rule; default `"reference"`. */
  readonly operationDialect?: OperationDialect;
  /**
   * The PGS path rule (confine.ts `refuseDirectoryPath`): a configured or entity path ending in
   * `/` or `/.` names a directory and is refused (`E_PATH_CONFINEMENT`), as the reference's
   * open() of it fails. PGS runs set it; unset (Cairn snapshot runs, whose compiler accepts a
   * store path ending in `/`), such a path names the file without the ending.
   */
  readonly refuseDirectoryPaths?: boolean;
  /** Whether effects are fsynced; default `"fsync"` (see EffectDurability). */
  readonly durability?: EffectDurability;
  /** The run's memo of the resolved real data root (`preparePath`, `CheckedDirs`); absent: every call resolves it. */
  readonly checkedDirs?: CheckedDirs;
  /**
   * The bound on what one append-only read (READ_ALL / GET_ALL, GET_RANGE, GET_SINCE) returns
   * (appendonly.ts `LogReadLimit`); absent members are the named defaults
   * (`APPENDONLY_READ_MAX_ENTRIES`, `APPENDONLY_READ_MAX_BYTES`). Lower ones are for tests.
   */
  readonly logReadLimit?: Partial<LogReadLimit>;
}

/** The most one append-only read returns: entries, and bytes of their lines (UTF-8, without terminators). */
export interface LogReadLimit {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** One CS invocation (SEMANTICS A.10 steps 3–6). */
export interface CsCall {
  /** The step's `op` as compiled (e.g. `"REGISTER"`); matched case-insensitively, like the reference. */
  readonly op: string;
  /** Resolved step inputs without `__store__`; a truthy store entity re-added as `__pgs_store_entity__` (see `buildCsPayload`). */
  readonly payload: PyDict;
  /** The RB policy after `{{module_data_root}}` expansion (see `expandPolicy`). */
  readonly config: PyDict;
  /** `handlers.cs[addr].cs_metadata` (`{}` when missing). Must be a dict with a `capability` member. */
  readonly metadata: PyValue;
  /** `fqdn(addr)` of the CS node; informational (named in errors). */
  readonly capabilityCode?: string;
}

/** What a call did to the data root, for the trace. */
export interface EffectRecord {
  /** `ctx.nextId()` at the time of the call. */
  readonly id: string;
  readonly capability: CsCapabilityId;
  /** The operation as called. */
  readonly op: string;
  /** Path relative to the data root, `/`-separated. */
  readonly path: string;
  /**
   * `append`: bytes appended (one JSON line); `replace`: the whole new document; `create`:
   * an empty file created and nothing else; `read`: the call only observed the file.
   */
  readonly action: "append" | "replace" | "create" | "read";
  /** True when this call created the file. */
  readonly created: boolean;
  /** SHA-256 of the bytes written (append/replace/create) or observed (read; an absent file reads as empty). */
  readonly digest: Digest;
  /** Length of those bytes. */
  readonly size: number;
}

/**
 * The raw result dict of a CS call: `result_status` first, then operation-specific members, in
 * the shared Python value model (ints `bigint`, dicts `Map`). Treat as read-only.
 */
export type CsRawResult = PyDict;

/** The result of `CsRuntime.execute`. */
export interface CsResult {
  /** `result.result_status` (every runtime here always sets it). */
  readonly outcome: CsOutcome;
  /** The raw result (A.10 step 6): what `$.capability_result.*` mappings read. */
  readonly result: CsRawResult;
  /** Present when the call read or wrote a data file. */
  readonly effect?: EffectRecord;
}

/** A sealed handler reference as written in `handlers.json`. */
export interface HandlerRef {
  readonly module: string;
  readonly callable: string;
}

/** A CS runtime: a stateless host; every `execute` builds a fresh backend (A.10 step 4). */
export interface CsRuntime {
  readonly capability: CsCapabilityId;
  readonly handlerRef: HandlerRef;
  /** Methods reachable under the reference rule (lower-case names). */
  readonly referenceMethods: readonly string[];
  /**
   * Runs one call. Returns a status outcome; throws a CairnError for hard errors (bad config
   * or metadata, unhashable key, path confinement, I/O failures the reference does not map).
   */
  execute(call: CsCall, ctx: EffectContext): CsResult;
}
