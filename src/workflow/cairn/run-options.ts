/**
 * The options of a Cairn snapshot run (`runCairnWorkflow`, `runCairnWorkflowWithPlane`,
 * `runCairnCore`) and their checks, made before anything runs or is locked.
 */
import type { Clock } from "../../core/clock.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import type { Store } from "../../store/store.js";
import type { DataRootLock } from "../effects/index.js";
import { checkCommonRunOptions, checkOptional, checkPathOption, checkPayloadOption } from "../pgs/run.js";
import type { PyObject } from "../pgs/value.js";
import type { PreparedSnapshot } from "./run.js";
import { checkPayloadText } from "./payload-text.js";

export interface RunCairnOptions {
  snapshot: PreparedSnapshot;
  /** `<namespace>::<CODE>`; may be omitted when the snapshot holds one workflow. */
  workflow?: string;
  payload: PyObject;
  /** Data root of the CS stores. */
  dataRoot: string;
  /** Where `traces/` is written (the working directory or `--workspace`). */
  baseDir: string;
  /** Logical clock of the CS runtimes (append timestamps); default fixed at 2025-01-01T00:00:00Z. */
  clock?: Clock;
  store?: Store;
  /**
   * Also write `<trace_id>.svg` and `<trace_id>.png` (the workflow graph with the visited path
   * highlighted, render/cairn-dot.ts) next to the trace. Default false. Needs `await
   * loadTraceRenderer()` first (else `E_USAGE` before anything runs). The pictures are not part
   * of the hash chain, the summary or the store receipt.
   */
  render?: boolean;
  /**
   * Set by the plane driver for workflows with lane-bound steps (lane-step.ts): the plane
   * session (`<node id>@<plane clock ms>:<signing subject>`). Such a run also depends on the
   * services it calls, which the prior local state does not capture, so the session is folded
   * into the trace id and recorded in WF_START (`plane_session`). Absent for every other run.
   */
  planeSession?: string;
  /**
   * The data root's lock, already held by the caller (`acquireDataRootLock`): checked to be held
   * and to cover `dataRoot` (`E_USAGE` otherwise), not released. Without it the run takes the
   * lock itself, waiting up to `dataRootLockWaitMs`, and releases it when it ends (as
   * `runPgsWorkflow` does; effects/data-root-lock.ts). A driver of `runCairnCore` must run the
   * generator to completion or call its `return()`, which releases the lock.
   */
  dataRootLock?: DataRootLock;
  /** How long the run waits for the data root's lock when it takes it itself (ms; default DEFAULT_DATA_ROOT_LOCK_WAIT_MS = 5000). */
  dataRootLockWaitMs?: number;
}

/** The keys of `RunCairnOptions`: any other key is E_USAGE naming the one it probably meant. */
export const RUN_CAIRN_OPTION_KEYS: readonly string[] = [
  "snapshot", "workflow", "payload", "dataRoot", "baseDir", "clock", "store", "render", "planeSession", "dataRootLock", "dataRootLockWaitMs",
];
/** Options of `runPgsWorkflow` that Cairn snapshot runs do not take: refused (E_USAGE), never ignored. */
const PGS_ONLY_OPTION_KEYS: readonly string[] = ["effectDurability", "traceLimit", "workspace", "atoms"];

/**
 * How a run takes its payload's text: `check` (every new run: a lone surrogate is refused,
 * payload-text.ts) or `as_recorded` (a replay, cairn/replay.ts: the payload a run recorded runs
 * again as it ran then, one recorded before the check existed included — a replay reproduces
 * what was recorded). Internal: not an option of the public entry points.
 */
export type PayloadTextMode = "check" | "as_recorded";

/**
 * The values of a Cairn run's options, before anything runs: each wrong one is E_USAGE naming
 * it (a SealedSnapshot where a PreparedSnapshot is expected says so), a payload that is not a
 * JSON object, or that holds a lone surrogate (payload-text.ts; not for a replay: `payloadText`
 * `as_recorded`), E_INVALID_INPUT. `fn` names the entry point in messages.
 */
export function checkRunCairnValues(opts: RunCairnOptions, fn: string, payloadText: PayloadTextMode = "check"): void {
  const snap = opts.snapshot as unknown;
  const prepared = snap !== null && typeof snap === "object" && (snap as Partial<PreparedSnapshot>).atoms instanceof Map &&
    (snap as Partial<PreparedSnapshot>).modules instanceof Map && (snap as Partial<PreparedSnapshot>).cs instanceof Map && typeof (snap as Partial<PreparedSnapshot>).sealed === "object";
  if (!prepared) {
    const sealedGiven = snap !== null && typeof snap === "object" && "content" in snap && "digest" in snap;
    throw new CairnError(
      ErrorCode.USAGE,
      `${fn}: snapshot must be a PreparedSnapshot (from prepareSnapshot), got ${sealedGiven ? "a SealedSnapshot: pass prepareSnapshot(snapshot)" : describeArgument(snap)}`,
      { field: "snapshot" },
    );
  }
  checkOptional(opts.workflow, (w) => typeof w === "string", "workflow", "a string <namespace>::<CODE>", fn);
  checkPayloadOption(opts.payload, fn);
  if (payloadText === "check") checkPayloadText(opts.payload);
  checkPathOption(opts.dataRoot, "dataRoot", fn);
  checkPathOption(opts.baseDir, "baseDir", fn);
  checkCommonRunOptions(opts as unknown as Record<string, unknown>, fn);
  checkOptional(opts.planeSession, (x) => typeof x === "string", "planeSession", "a string", fn);
}

/**
 * A Cairn run's options, before anything runs or is locked: an object, no `runPgsWorkflow`-only
 * option, no unknown key (`keys`; did-you-mean), and their values (`checkRunCairnValues`).
 * `fn` names the entry point in messages (runCairnWorkflow, runCairnWorkflowWithPlane).
 */
export function checkRunCairnOptions(opts: RunCairnOptions, fn: string, keys: readonly string[] = RUN_CAIRN_OPTION_KEYS, payloadText: PayloadTextMode = "check"): void {
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `${fn}: options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  for (const k of PGS_ONLY_OPTION_KEYS) {
    if (k in opts) throw new CairnError(ErrorCode.USAGE, `${fn}: ${k} is an option of runPgsWorkflow, not of Cairn snapshot runs (which do not take it)`, { field: k });
  }
  refuseUnknownKeys(opts, keys, `${fn} option`, `${fn} options`);
  checkRunCairnValues(opts, fn, payloadText);
}
