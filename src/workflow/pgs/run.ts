/**
 * `runPgsWorkflow`: one run of a PGS v0.3 workflow, end to end (SEMANTICS A.12 without the
 * printing): load and trust the snapshot, capture the prior state, derive the trace id, run
 * the scheduler while writing the chained trace, write the summary, record in the store.
 *
 * Determinism rule: the trace, the summary, the effects and the data-root files written are a
 * function of (snapshot files, workflow, payload, prior state of the RB's files) only. No wall
 * clock, no randomness: CS timestamps/addresses and the inactivity clock come from the logical
 * sources of the sealed tables (tables.ts); absolute paths never reach the trace.
 *
 * A run holds its data root's lock (effects/data-root-lock.ts) from before the snapshot is
 * loaded until it returns or throws: its own, or the one the caller passes as `dataRootLock`.
 *
 * A trace write that fails (trace directory, open, any flush, `close()`) is not a run error:
 * the run stops there and `runPgsWorkflow` throws the writer's `E_STORE_IO` error (trace.ts,
 * ARCHITECTURE §11.7), with no summary, no store record, and an earlier summary of the same
 * trace id removed.
 */
import { readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { codePointPosition, duplicateJsonKey } from "../../core/json-keys.js";
import { echoedJson } from "../../core/echo.js";
import { CairnError, ErrorCode, osErrorText } from "../../core/errors.js";
import { sha256, type Digest } from "../../core/digest.js";
import {
  EXIT_ZERO_STATUSES, MAX_PAYLOAD_BYTES, MAX_SEGMENT_CHARS, SAFE_SEGMENT_RE, TRACES_DIR,
} from "./constants.js";
import { CT_ATOMS, type CtAtomTable } from "../atoms/index.js";
import { checkDataRootHoldsState, createEffectContext, lockForRun, newCheckedDirs, normalizeDataRoot, type CheckedDirs, type DataRootLock, type EffectDurability } from "../effects/index.js";
import type { Clock } from "../../core/clock.js";
import { schedule, type EffectCall, type EngineRun, type PathEntry, type ViolationRecord } from "./engine.js";
import { compactPy, parsePyJson } from "./pyjson.js";
import { checkPayloadDepth } from "../py/json.js";
import { checkPayloadTextDepth } from "./payload-depth.js";
import { PGS_RECORD_KIND, putPgsSnapshot, recordRun, type RecordedRun } from "./record.js";
import { recordRunStart } from "./record-start.js";
import { loadSnapshot, type PgsPackage } from "./snapshot.js";
import { captureState, relevantFiles, stateDigest, type StateFile } from "./state.js";
import { renderSummary } from "./summary.js";
import { emitRunError, TraceWriter, traceLimit, traceWriteError, writeTraceSummary, type TraceLimit } from "./trace.js";
import { runTraceId } from "./trace-id.js";
import type { PyObject } from "./value.js";
import { traceDot } from "../render/dot.js";
import { loadedTraceRenderer, writeTracePictures, type TracePictures, type TraceRenderer } from "../render/render.js";
import { strictUtf8 } from "../../core/utf8.js";
import { makeDir } from "../../core/dirs.js";
import { checkPathArgument, describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { Store } from "../../store/store.js";

/** Status reported when a runtime error aborted the run (no WF_COMPLETE was written). */
export const STATUS_ERROR = "ERROR";

export interface WorkflowName {
  fqdn: string;
  domain: string;
  code: string;
}

/**
 * Splits `<domain>::<CODE>`; domain = before the first `::`, code = after the last. A malformed
 * name is E_INVALID_INPUT with `details.field` "workflow", the `runPgsWorkflow` option it comes
 * from (until 2026-11-28 "--wf", the CLI's flag; the message names the value only).
 */
export function parseWorkflowFqdn(fqdn: string): WorkflowName {
  const first = fqdn.indexOf("::");
  if (first < 0) throw new CairnError(ErrorCode.INVALID_INPUT, `Invalid WF FQDN (expected <domain>::<CODE>): '${fqdn}'`, { field: "workflow", value: fqdn });
  const domain = fqdn.slice(0, first);
  const code = fqdn.slice(fqdn.lastIndexOf("::") + 2);
  for (const [what, v] of [["domain", domain], ["code", code]] as const) {
    if (!SAFE_SEGMENT_RE.test(v) || v.length > MAX_SEGMENT_CHARS) {
      throw new CairnError(
        ErrorCode.INVALID_INPUT,
        `Invalid WF FQDN '${fqdn}': the ${what} ${JSON.stringify(v)} must be 1..${MAX_SEGMENT_CHARS} characters of A-Z a-z 0-9 _ . - (not starting with . or -)`,
        { field: "workflow", value: fqdn },
      );
    }
  }
  return { fqdn, domain, code };
}

/**
 * Reads a payload file (A.12 step 4); it must hold a JSON object. Its refusals name the argument,
 * `details.field` "path" (and the file, `details.path`).
 */
export function readPayloadFile(path: string, opts: PayloadParseOptions = {}): PyObject {
  return readPayloadFileAs(path, "path", opts);
}

/**
 * `readPayloadFile` with its refusals' `details.field` = `field`: the CLI's `--payload FILE`
 * passes its flag (cli/workflow-commands.ts). Not part of the library API (pgs/index.ts).
 */
export function readPayloadFileAs(path: string, field: string, opts: PayloadParseOptions = {}): PyObject {
  checkPathArgument("readPayloadFile", "path", path);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `Payload file ${path} is not a regular file`, { field, path });
    size = st.size;
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError(ErrorCode.NOT_FOUND, `Payload file not found: ${path}`, { field, path });
  }
  if (size > MAX_PAYLOAD_BYTES) throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `Payload file ${path} is ${size} bytes, more than the ${MAX_PAYLOAD_BYTES}-byte limit`, { field, path });
  return parsePayloadBytes(readFileSync(path), path, opts, field);
}

export interface PayloadParseOptions {
  /**
   * Refuse a member name written twice in one object (E_INVALID_INPUT naming it and both
   * places). Sealed Cairn snapshot runs ask for it: nothing there requires Python's last-wins,
   * and a dropped value would be recorded nowhere (the payload is stored as parsed). PGS
   * workspace runs keep the reference's `json.loads` semantics (the last value wins).
   */
  uniqueKeys?: boolean;
}

/**
 * A payload's bytes (at most MAX_PAYLOAD_BYTES, the caller's check) as its JSON object, `name`
 * naming it in messages (its path, or `<stdin>`): strict UTF-8 (the line of the first invalid
 * byte), JSON (line and column), a JSON object. Each refusal's `details.field` is `field`: by
 * default "payload" (the bytes are the payload, whatever their source; `runPgsWorkflow` and the
 * lone-surrogate check name a refused payload so too), "path" from `readPayloadFile`, the CLI's
 * "--payload" from `wf run --payload`.
 */
export function parsePayloadBytes(bytes: Buffer, name: string, opts: PayloadParseOptions = {}, field = "payload"): PyObject {
  const decoded = strictUtf8(bytes);
  if ("invalidLine" in decoded) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `Payload file is not valid UTF-8 (line ${decoded.invalidLine}) (${name})`, { field, path: name, line: decoded.invalidLine });
  }
  let v;
  try {
    v = parsePyJson(decoded.text, name);
  } catch (err) {
    if (err instanceof CairnError) {
      const why = err.message.startsWith(`${name} is not valid JSON: `) ? err.message.slice(`${name} is not valid JSON: `.length) : err.message;
      throw new CairnError(ErrorCode.INVALID_INPUT, `Payload file is not valid JSON: ${why} (${name})`, { ...err.details, field });
    }
    throw err;
  }
  if (!(v instanceof Map)) throw new CairnError(ErrorCode.INVALID_INPUT, `Payload file ${name} must hold a JSON object`, { field, path: name });
  checkPayloadTextDepth(v, decoded.text, name, field);
  if (opts.uniqueKeys === true) {
    const dup = duplicateJsonKey(decoded.text);
    if (dup !== null) {
      // Columns in code points, as this file's JSON errors count them.
      const at = codePointPosition(decoded.text, dup.at);
      const first = codePointPosition(decoded.text, dup.first);
      throw new CairnError(
        ErrorCode.INVALID_INPUT,
        `Payload file has a member written twice: ${echoedJson(dup.key)} at line ${at.line}, column ${at.column} (first at line ${first.line}, column ${first.column}): a sealed snapshot's payload must name each member once (${name})`,
        { field, path: name, key: dup.key, line: at.line, column: at.column },
      );
    }
  }
  return v;
}

export interface RunPgsOptions {
  /** Workspace root (absolute, or relative to the working directory). */
  workspace: string;
  /** `<domain>::<WF_CODE>`. */
  workflow: string;
  payload: PyObject;
  /** Data root (absolute, or relative to the working directory). */
  dataRoot: string;
  /** The sealed CT atom table; default `CT_ATOMS` (inactivity clock fixed at 2025-01-01T00:00:00Z). */
  atoms?: CtAtomTable;
  /** The logical clock of the CS runtimes (append timestamps); default fixed at 2025-01-01T00:00:00Z. */
  clock?: Clock;
  /** When given, the trace and a receipt are recorded in it. */
  store?: Store;
  /** An already loaded snapshot of the workflow's domain (e.g. cached across runs). */
  snapshot?: PgsPackage;
  /**
   * Also write `<trace_id>.svg` and `<trace_id>.png` (the workflow graph with the visited path
   * highlighted) next to the trace. Default false. Needs `await loadTraceRenderer()` first
   * (else `E_USAGE` before anything runs). The pictures are not part of the hash chain or the
   * store receipt.
   */
  render?: boolean;
  /**
   * Whether the CS runtimes fsync the data-root files they write: `"fsync"` (default: a
   * completed effect survives an OS crash or power loss) or `"no-fsync"` (same writes, same
   * atomicity towards readers and against a crash of the process, no fsync: what the reference
   * runtime does). See `EffectDurability`. The trace files are never fsynced (§11.7).
   */
  effectDurability?: EffectDurability;
  /**
   * The data root's lock, already held by the caller (`acquireDataRootLock`), e.g. one lock for
   * many runs (`cairn serve`, benchmarks): the run checks it is held and covers `dataRoot`
   * (`E_USAGE` otherwise) and does not release it. Without it the run takes the lock itself,
   * waiting up to `dataRootLockWaitMs`, and releases it when it returns or throws
   * (`E_DATA_ROOT_LOCKED` when another process keeps it, at once when this process holds it).
   */
  dataRootLock?: DataRootLock;
  /** How long the run waits for the data root's lock when it takes it itself (ms; default DEFAULT_DATA_ROOT_LOCK_WAIT_MS = 5000). */
  dataRootLockWaitMs?: number;
  /**
   * The trace's size limit (trace.ts `TraceLimit`: default `MAX_TRACE_BYTES`, which is also the
   * most it may be; `E_USAGE` otherwise, before anything runs). A limit other than the default is
   * recorded in the receipt's params (`traceLimit`) of a run recorded in a `store`, and `wf
   * replay` re-runs with it; a run under the default records none (its receipt keeps its bytes).
   */
  traceLimit?: Partial<TraceLimit>;
}

export interface PgsRunResult {
  /** Terminal status (`SUCCESS`, `VIOLATION`, …) or `ERROR` when a runtime error aborted the run. */
  status: string;
  exitCode: 0 | 1;
  workflow: string;
  domain: string;
  traceId: string;
  /** Trace directory, relative to the workspace (`traces/<domain>/<WF_CODE>/<trace_id>`). */
  traceDir: string;
  /** Absolute trace directory. */
  traceDirAbs: string;
  path: PathEntry[];
  surface: PyObject;
  effects: EffectCall[];
  violations: ViolationRecord[];
  error: { code: string; message: string; cc: string | null; step: string | null } | null;
  events: number;
  /** The run's digests, and `workflow`: the workflow's FQDN (`<domain>::<CODE>`, not a digest), one of the trace id's inputs. */
  digests: { snapshot: Digest; workflow: string; payload: Digest; priorState: Digest; posteriorState: Digest; trace: Digest; chainHead: Digest | null };
  recorded: RecordedRun | null;
  /**
   * With `render: true`: the file names (in the trace directory) of the pictures written, or
   * why none were (`skipped`, `note`: a graph over the render bounds, or drawing failed — never a
   * failed run; render/render.ts `TracePictures`); else null.
   */
  pictures: TracePictures | null;
}

/**
 * The text of a run's ERROR event. Nothing is rewritten: every message a run can raise is
 * path-free where it is made (the CS runtimes name files relative to the data root and write a
 * configured path's data root as `{{module_data_root}}`, effects/confine.ts; the snapshot,
 * engine and grammar name addresses, FQDNs and snapshot-relative files), and text that came
 * from the payload, an atom or a data file is recorded verbatim — rewriting it would make the
 * trace depend on where the run happened (`wf replay` uses a temp data root). An OS error that
 * is not a Cairn error (none is expected: the CS layer wraps every fs call) loses the path Node
 * puts in its message.
 */
export function runErrorMessage(err: unknown): string {
  if (err instanceof CairnError || !(err instanceof Error)) return err instanceof Error ? err.message : String(err);
  const e = err as NodeJS.ErrnoException & { dest?: unknown };
  if (typeof e.syscall !== "string" || typeof e.code !== "string") return e.message;
  const text = osErrorText(e);
  return [e.path, e.dest].some((p) => typeof p === "string" && p !== "" && text.includes(p)) ? `${e.code} (${e.syscall})` : text;
}

/**
 * Removes `<trace_id>.md` (best effort) when the run's trace could not be written: an earlier run
 * of the same trace id left it, and it would name a chain head the truncated trace file no longer
 * holds.
 */
export function discardSummary(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // best effort (the directory may be read-only); verifyTraceChain reports the mismatch
  }
}

/**
 * What a run computes once its trace is closed (PGS and Cairn runs alike): the posterior
 * state (with the files' bytes when `withBytes`, to record them), the exit code and every digest
 * of the result (the trace's from the writer's running hash: the trace's bytes are kept only for
 * a store, `trace.bytes()`).
 */
export function closedRunFacts(
  dataRoot: string,
  files: readonly string[],
  ids: { snapshot: Digest; workflow: string; payload: Digest; priorState: Digest },
  trace: TraceWriter,
  status: string,
  withBytes: boolean,
  /** The run's memo of the real data root (its effect context's `checkedDirs`), shared with this capture (state.ts `captureState`). */
  checked?: CheckedDirs,
): { after: StateFile[]; exitCode: 0 | 1; digests: PgsRunResult["digests"] } {
  const after = captureState(dataRoot, files, withBytes, checked);
  return {
    after,
    exitCode: EXIT_ZERO_STATUSES.has(status) ? 0 : 1,
    digests: { ...ids, posteriorState: stateDigest(after), trace: trace.digest(), chainHead: trace.head },
  };
}

/**
 * A failure after a run has its trace (writing the summary or pictures, recording it in the
 * store): the same error with `details.traceId`, so a caller (the HTTP gateway) can name the
 * trace of a run whose effects were applied.
 */
export function withTraceId(traceId: string, err: unknown): unknown {
  if (!(err instanceof CairnError) || typeof err.details.traceId === "string") return err;
  return new CairnError(err.code, err.message, { ...err.details, traceId }, { cause: err });
}

/** The limit a run records in its receipt: none for the default (trace.ts `traceLimit`, `E_USAGE` for one that is not a limit). */
function recordedTraceLimit(limit: Partial<TraceLimit> | undefined): TraceLimit | undefined {
  if (limit === undefined) return undefined;
  const effective = traceLimit(limit);
  const def = traceLimit();
  return effective.maxBytes === def.maxBytes && effective.errorReserveBytes === def.errorReserveBytes ? undefined : effective;
}

/** The keys of `RunPgsOptions`: any other key is E_USAGE naming the one it probably meant. */
export const RUN_PGS_OPTION_KEYS: readonly string[] = [
  "workspace", "workflow", "payload", "dataRoot", "atoms", "clock", "store", "snapshot", "render", "effectDurability", "dataRootLock", "dataRootLockWaitMs", "traceLimit",
];
/** The keys of a `traceLimit` option (trace.ts `TraceLimit`). */
const TRACE_LIMIT_KEYS: readonly string[] = ["maxBytes", "errorReserveBytes"];
/**
 * The least error reserve a run's `traceLimit` may leave (its `errorReserveBytes`, given or
 * derived: half of `maxBytes` up to TRACE_ERROR_RESERVE_BYTES): the reserve must hold the ERROR
 * event of a run that hits the limit (trace.ts `emitRunError`), else the run could only throw and
 * leave a trace with no ERROR event and no summary. So `maxBytes` is at least 2 × this with the
 * derived reserve, more than this with an explicit one; a smaller limit is E_USAGE before anything runs.
 */
export const MIN_TRACE_ERROR_RESERVE_BYTES = 2048;

/** E_USAGE naming `field` unless `v` is a non-empty string: an empty path is never read as the current directory. */
export function checkPathOption(v: unknown, field: string, fn: string): asserts v is string {
  if (typeof v !== "string" || v === "") {
    throw new CairnError(ErrorCode.USAGE, `${fn}: ${field} must be a non-empty path${v === "" ? " (an empty path is not read as the current directory)" : `, got ${describeArgument(v)}`}`, { field });
  }
}

/** E_INVALID_INPUT (as the CLI's "must hold a JSON object") unless the payload is a JSON object in the Python model (a Map: `fromPlain`, `readPayloadFile`). */
export function checkPayloadOption(v: unknown, fn: string): asserts v is PyObject {
  if (!(v instanceof Map)) {
    const hint = isOptionsObject(v) ? " (convert a plain object with fromPlain)" : "";
    throw new CairnError(ErrorCode.INVALID_INPUT, `${fn}: payload must be a JSON object (a PyObject, from fromPlain or readPayloadFile), got ${describeArgument(v)}${hint}`, { field: "payload" });
  }
}

/** E_USAGE naming `field` when `ok` is false for a given (not undefined) option `v`. */
export function checkOptional(v: unknown, ok: (v: unknown) => boolean, field: string, what: string, fn: string): void {
  if (v !== undefined && !ok(v)) throw new CairnError(ErrorCode.USAGE, `${fn}: ${field} must be ${what}, got ${describeArgument(v)}`, { field });
}

/** The options shared by both runtimes' runs: `clock`, `store`, `render`. */
export function checkCommonRunOptions(o: Record<string, unknown>, fn: string): void {
  checkOptional(o.clock, (c) => c !== null && typeof c === "object" && typeof (c as { now?: unknown }).now === "function", "clock", "a Clock (an object with now())", fn);
  checkOptional(o.store, (x) => x instanceof Store, "store", "a Store (from openStore)", fn);
  checkOptional(o.render, (x) => typeof x === "boolean", "render", "a boolean", fn);
}

/** `runPgsWorkflow`'s argument checks, before anything runs (each wrong option E_USAGE naming it; a payload that is not an object E_INVALID_INPUT). */
function checkRunPgsOptions(opts: unknown, minReserve: boolean): asserts opts is RunPgsOptions {
  const fn = "runPgsWorkflow";
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `${fn}: options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, RUN_PGS_OPTION_KEYS, `${fn} option`, `${fn} options`);
  checkPathOption(opts.workspace, "workspace", fn);
  checkPathOption(opts.dataRoot, "dataRoot", fn);
  if (typeof opts.workflow !== "string") throw new CairnError(ErrorCode.USAGE, `${fn}: workflow must be a string <domain>::<CODE>, got ${describeArgument(opts.workflow)}`, { field: "workflow" });
  checkPayloadOption(opts.payload, fn);
  checkCommonRunOptions(opts, fn);
  checkOptional(opts.atoms, (x) => x !== null && typeof x === "object", "atoms", "a CtAtomTable", fn);
  checkOptional(opts.snapshot, (x) => x !== null && typeof x === "object" && typeof (x as { domain?: unknown }).domain === "string", "snapshot", "a PgsPackage (from loadSnapshot)", fn);
  const limit = opts.traceLimit;
  if (limit !== undefined) {
    if (!isOptionsObject(limit)) throw new CairnError(ErrorCode.USAGE, `${fn}: traceLimit must be an object { maxBytes?, errorReserveBytes? }, got ${describeArgument(limit)}`, { field: "traceLimit" });
    refuseUnknownKeys(limit, TRACE_LIMIT_KEYS, "traceLimit key", "traceLimit keys");
    const effective = traceLimit(limit); // E_USAGE for one that is not a limit
    if (minReserve && effective.errorReserveBytes < MIN_TRACE_ERROR_RESERVE_BYTES) {
      throw new CairnError(
        ErrorCode.USAGE,
        `${fn}: traceLimit leaves ${effective.errorReserveBytes} bytes for the ERROR event of a run that hits it; the least is ${MIN_TRACE_ERROR_RESERVE_BYTES} (MIN_TRACE_ERROR_RESERVE_BYTES): raise maxBytes${limit.errorReserveBytes === undefined ? ` to at least ${2 * MIN_TRACE_ERROR_RESERVE_BYTES}` : " or errorReserveBytes"}`,
        { field: limit.errorReserveBytes === undefined ? "maxBytes" : "errorReserveBytes" },
      );
    }
  }
}

export function runPgsWorkflow(opts: RunPgsOptions): PgsRunResult {
  checkRunPgsOptions(opts, true);
  return runChecked(opts);
}

/**
 * `runPgsWorkflow` for `wf replay` of a recorded run (replay.ts): the recorded `traceLimit` is
 * not held to MIN_TRACE_ERROR_RESERVE_BYTES — the recorded run completed under it (its ERROR
 * event, if any, fitted), and a run recorded before that minimum existed must still replay.
 * Every other check is `runPgsWorkflow`'s.
 */
export function runRecordedPgsWorkflow(opts: RunPgsOptions): PgsRunResult {
  checkRunPgsOptions(opts, false);
  return runChecked(opts);
}

/** `runPgsWorkflow` after its argument checks. */
function runChecked(opts: RunPgsOptions): PgsRunResult {
  const name = parseWorkflowFqdn(opts.workflow);
  const workspace = resolve(opts.workspace);
  const dataRoot = normalizeDataRoot(resolve(opts.dataRoot));
  const renderer = opts.render === true ? loadedTraceRenderer() : undefined;
  if (opts.render === true && renderer === undefined) {
    throw new CairnError(ErrorCode.USAGE, "runPgsWorkflow({ render: true }) needs `await loadTraceRenderer()` first");
  }
  if (opts.effectDurability !== undefined && opts.effectDurability !== "fsync" && opts.effectDurability !== "no-fsync") {
    throw new CairnError(ErrorCode.USAGE, `effectDurability must be "fsync" or "no-fsync", got ${JSON.stringify(opts.effectDurability)}`);
  }
  checkDataRootHoldsState(dataRoot); // a file is refused before anything runs, as `cairn serve` refuses it (effects/confine.ts)
  // One holder at a time on a data root (effects/data-root-lock.ts): the caller's lock, checked
  // to cover this data root, or the data root's lock, taken for this run.
  const lock = lockForRun(dataRoot, opts.dataRootLock, opts.dataRootLockWaitMs);
  try {
    return runLocked(opts, name, workspace, dataRoot, renderer);
  } finally {
    lock?.release();
  }
}

/** `runPgsWorkflow` after its option checks, with the data root's lock held. */
function runLocked(opts: RunPgsOptions, name: WorkflowName, workspace: string, dataRoot: string, renderer: TraceRenderer | undefined): PgsRunResult {
  checkPayloadDepth(opts.payload);
  const pkg = opts.snapshot ?? loadSnapshot(workspace, name.domain);
  if (pkg.domain !== name.domain) throw new CairnError(ErrorCode.USAGE, `snapshot of domain ${pkg.domain} given for workflow ${name.fqdn}`);
  const wf = pkg.vocab.tryAddr(name.fqdn);
  if (wf === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `WF FQDN not in vocab: '${name.fqdn}'`, { fqdn: name.fqdn }); // A.12 step 7
  const entry = pkg.entry.get(wf);
  if (entry === undefined) {
    throw new CairnError(ErrorCode.NOT_FOUND, `No entry point for WF '${name.fqdn}' (addr ${wf}) — snapshot may be stale or domain mismatch`, { workflow: name.fqdn, addr: wf });
  }
  const files = relevantFiles(pkg, entry.rb, dataRoot);
  // The run's memo of the real data root, shared by its two state captures and its CS calls (state.ts `captureState`).
  const checkedDirs = newCheckedDirs();
  const before = captureState(dataRoot, files, opts.store !== undefined, checkedDirs); // the bytes only to record them
  // The payload as recorded (compact JSON, key order as given): the reference's outputs follow
  // that order, so the id hashes these bytes and two orders of one object are two runs with two
  // ids, never one id with two traces (as for Cairn snapshot runs).
  const payloadText = compactPy(opts.payload);
  const payloadBytes = Buffer.from(payloadText, "utf8");
  const ids = { snapshot: pkg.digest, workflow: name.fqdn, payload: sha256(payloadBytes), priorState: stateDigest(before) };
  const traceId = runTraceId(ids, name.domain, name.code, opts.payload, payloadText);
  // With a store, the run's start is recorded before its first node (record-start.ts): a kill
  // after an effect and before the run's record leaves the store saying so.
  const store = opts.store;
  const started = store === undefined ? undefined : recordRunStart(store, { workflow: name.fqdn, traceId, payloadBytes, before }, PGS_RECORD_KIND, () => putPgsSnapshot(store, pkg));
  const traceDir = [TRACES_DIR, name.domain, name.code, traceId].join("/");
  const traceDirAbs = join(workspace, traceDir);
  let freshDir = false;
  try {
    freshDir = makeDir(traceDirAbs); // made now: no earlier trace or summary of this id in it
  } catch (err) {
    throw traceWriteError(`${traceDir}/${traceId}.jsonl`, err);
  }
  // The trace's bytes are kept only to record them in the store (TraceWriter `keepBytes`).
  const trace = new TraceWriter(traceId, name.domain, wf, join(traceDirAbs, `${traceId}.jsonl`), `${traceDir}/${traceId}.jsonl`, freshDir, opts.store !== undefined, opts.traceLimit);
  const run: EngineRun = {
    pkg, wf, wfFqdn: name.fqdn, rb: entry.rb, payload: opts.payload, atoms: opts.atoms ?? CT_ATOMS, trace,
    effects: createEffectContext({
      dataRoot, traceId, durability: opts.effectDurability ?? "fsync", refuseDirectoryPaths: true, checkedDirs, ...(opts.clock === undefined ? {} : { clock: opts.clock }),
    }),
    path: [], calls: [], violations: [], current: null,
  };
  let status: string;
  let surface: PyObject = new Map();
  let error: PgsRunResult["error"] = null;
  try {
    try {
      ({ status, surface } = schedule(run, entry.start));
      trace.flush();
    } catch (err) {
      if (trace.failure !== undefined) throw trace.failure; // not a run error: the trace cannot be written
      // The error the run ends with: `err`, or the trace limit's error when its ERROR event does not fit (trace.ts).
      const ended = emitRunError(trace, err, (e) => new Map([["message", runErrorMessage(e)]]));
      status = STATUS_ERROR;
      error = { code: ended instanceof CairnError ? ended.code : ErrorCode.INTERNAL, message: runErrorMessage(ended), cc: run.current?.cc ?? null, step: run.current?.step ?? null };
    } finally {
      trace.close();
    }
  } catch (err) {
    // The run ends by throwing (a failed trace write, E_STORE_IO, trace.ts): no summary, no
    // store record, and an earlier summary of this trace id is removed (unless the
    // writer was replacing an earlier trace: that trace and its summary stay as they were).
    if (trace.replacing === undefined) discardSummary(join(traceDirAbs, `${traceId}.md`));
    throw err;
  }
  // From here the run has its trace (and its effects are applied): a failure names the trace.
  try {
    const { after, exitCode, digests } = closedRunFacts(dataRoot, files, ids, trace, status, opts.store !== undefined, checkedDirs);
    const summary = renderSummary({
      traceId, workflow: name.fqdn, status, exitCode, error, digests, events: trace.events, chainHead: trace.head,
      path: run.path, violations: run.violations, effects: run.calls, before, after, surface,
    });
    writeTraceSummary(traceDirAbs, traceDir, traceId, summary, freshDir);
    const recorded = opts.store === undefined ? null : recordRun(opts.store, {
      // The payload as given (key order kept: the trace depends on it), not the canonical form.
      pkg, workflow: name.fqdn, traceId, status, succeeded: exitCode === 0, payloadBytes, before, after, traceBytes: trace.bytes(),
      calls: run.calls, events: trace.events, hops: run.path.length, traceLimit: recordedTraceLimit(opts.traceLimit),
    }, started);
    const pictures = renderer === undefined ? null : writeTracePictures(renderer, traceDirAbs, traceId, traceDot({
      pkg, wf, wfFqdn: name.fqdn, start: entry.start, traceId, status, exitCode, path: run.path, errorCc: error?.cc ?? null,
    }));
    return {
      status, exitCode, workflow: name.fqdn, domain: name.domain, traceId, traceDir, traceDirAbs, path: run.path, surface,
      effects: run.calls, violations: run.violations, error, events: trace.events, digests, recorded, pictures,
    };
  } catch (err) {
    throw withTraceId(traceId, err);
  }
}
