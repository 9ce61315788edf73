/**
 * `replayCairnRun`: re-executes a recorded run of a sealed Cairn snapshot (issue 4 §3.4) and
 * confirms byte-identical outputs — the Cairn counterpart of src/workflow/pgs/replay.ts, with
 * the same result shape.
 *
 * The run is found through its root `cairn-wf:<trace_id>` (the trace artifact) and the receipt
 * that produced it (params `{kind: "cairn.workflow.run", workflow}`, program = the snapshot
 * content artifact, inputs = [payload as given, prior-state manifest] (+ the lane observations
 * for a lane-bound run), outputs = [trace, effects]; record.ts). A lane-bound run is refused
 * with `E_USAGE` (details.reason `plane_required`): its step outputs were external facts. Then:
 *
 *  1. the snapshot is loaded from the store and verified over its **whole content**
 *     (`loadSnapshotFromStore`: canonical form, digest = the receipt's program); a changed
 *     artifact — bytes that no longer hash to their digest, or a non-canonical content — is
 *     refused with `E_SNAPSHOT_INTEGRITY` before anything runs. The recorded trace's
 *     `WF_START.detail.snapshot` must name the same digest (else `E_SNAPSHOT_INTEGRITY`, check
 *     `expected`);
 *  2. a fresh temp directory receives the recorded prior-state files in a data root (exact
 *     bytes; absent files stay absent; a file recorded as an unusable directory is recreated as
 *     an empty directory, any other unusable file — symlink, device/FIFO, too large, unreadable —
 *     refuses the replay with `E_INVALID_INPUT` (exit 1), `details.reason = "unreplayable_state"`,
 *     naming the file: pgs/replay.ts `replayInTemp`) and serves as the base directory of `traces/`;
 *  3. the workflow runs again with the recorded payload (recorded as given, so its key order —
 *     which the trace's `payload_keys` and inputs depend on — is kept; a lone surrogate in it,
 *     which a new run refuses (payload-text.ts), is run as it was recorded), recording into a
 *     throwaway temp store (never the user's), without pictures;
 *  4. the new trace and effects artifact are compared byte for byte with the recorded ones,
 *     and — when the run was named by a trace file whose sibling `<trace_id>.md` exists — the
 *     summary too. The first differing line is reported.
 *
 * The user's store is only read.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Digest } from "../../core/digest.js";
import type { Store } from "../../store/store.js";
import { parsePyJson } from "../pgs/pyjson.js";
import { RECEIPT_PARAMS_KIND as PGS_RECEIPT_KIND, ROOT_PREFIX as PGS_ROOT_PREFIX, requireThisWorkflowEngine } from "../pgs/record.js";
import { receiptOf, replayInTemp, replayPgsRun, traceIdOf, type RecordedRun, type ReplayResult } from "../pgs/replay.js";
import { CAIRN_SNAPSHOT_REMEDY, recordedBytes, recordedReadError } from "../pgs/recorded-reads.js";
import { interruptedRun, unrecordedRunError } from "../pgs/record-start.js";
import type { PyObject } from "../pgs/value.js";
import { CAIRN_ROOT_PREFIX, CAIRN_RUN_PARAMS_KIND } from "./record.js";
import { laneBoundSteps } from "./lane-compile.js";
import { prepareSnapshot, runRecordedCairnWorkflow } from "./run.js";
import { loadSnapshotFromStore, SNAPSHOT_INTEGRITY_REASON, type SealedSnapshot } from "./seal.js";

export type { ReplayDifference, ReplayResult } from "../pgs/replay.js";

/** The kind of a recorded run: a sealed Cairn snapshot run, a PGS workspace run, or none recorded. */
export type RecordedRunKind = "cairn" | "pgs" | "none";

function notFound(traceId: string, why: string): CairnError {
  return unrecordedRunError(undefined, "", traceId, why);
}

/** A Cairn run receipt has 2 inputs (payload, prior state), or 3 for a lane-bound run (+ lane observations, record.ts). */
const CAIRN_RUN_INPUT_COUNTS: readonly number[] = [2, 3];

/**
 * Which runtime recorded the run named by `traceIdOrPath` (a trace id or a trace `.jsonl`):
 * `cairn` when the root `cairn-wf:<trace_id>` leads to a receipt of kind `cairn.workflow.run`,
 * `pgs` when `pgs:<trace_id>` leads to one of kind `cairn.pgs.run`; also `cairn` when neither
 * does and a Cairn run of that id started and was never recorded (its start root,
 * pgs/record-start.ts); else `none`.
 */
export function recordedRunKind(store: Store, traceIdOrPath: string): RecordedRunKind {
  return recordedRunKindOf(store, traceIdOf(traceIdOrPath).traceId);
}

/** `recordedRunKind` of the run whose trace id is `traceId`. */
function recordedRunKindOf(store: Store, traceId: string): RecordedRunKind {
  const cairn = store.findRoot(`${CAIRN_ROOT_PREFIX}${traceId}`);
  if (cairn !== undefined && receiptOf(store, cairn.digest, store.findRoot(`${CAIRN_ROOT_PREFIX}${traceId}:effects`)?.digest, CAIRN_RUN_PARAMS_KIND, CAIRN_RUN_INPUT_COUNTS) !== undefined) return "cairn";
  const pgs = store.findRoot(`${PGS_ROOT_PREFIX}${traceId}`);
  if (pgs !== undefined && receiptOf(store, pgs.digest, store.findRoot(`${PGS_ROOT_PREFIX}${traceId}:effects`)?.digest, PGS_RECEIPT_KIND) !== undefined) return "pgs";
  // Started and never recorded: `replayCairnRun` names the start record.
  if (interruptedRun(store, CAIRN_ROOT_PREFIX, traceId) !== undefined) return "cairn";
  return "none";
}

/** The trace artifact a store recorded for a run: its root (`cairn-wf:<id>` or `pgs:<id>`) and the digest it names. */
export interface RecordedTraceRef {
  kind: "cairn" | "pgs";
  root: string;
  digest: Digest;
}

/**
 * The trace the store recorded for the `kind` run `traceId` (a Cairn trace: root
 * `cairn-wf:<id>` with a receipt of kind `cairn.workflow.run`; a PGS trace: `pgs:<id>` with one of
 * kind `cairn.pgs.run` — only that runtime's root is looked up, as `wf replay` finds a run of
 * it), or undefined when the store holds no recorded run of it (a run started and never recorded
 * has no trace artifact). `cairn examine --store` compares a trace file with it.
 */
export function recordedTraceRef(store: Store, traceId: string, kind: "cairn" | "pgs"): RecordedTraceRef | undefined {
  const root = `${kind === "cairn" ? CAIRN_ROOT_PREFIX : PGS_ROOT_PREFIX}${traceId}`;
  const found = store.findRoot(root);
  if (found === undefined) return undefined;
  const receipt = kind === "cairn"
    ? receiptOf(store, found.digest, store.findRoot(`${root}:effects`)?.digest, CAIRN_RUN_PARAMS_KIND, CAIRN_RUN_INPUT_COUNTS)
    : receiptOf(store, found.digest, store.findRoot(`${root}:effects`)?.digest, PGS_RECEIPT_KIND);
  return receipt === undefined ? undefined : { kind, root, digest: found.digest };
}

/**
 * The runtime that wrote a trace file, from its first event (`traceIdOf`'s `firstEvent`): `cairn`
 * when its `WF_START` names a snapshot (`detail.snapshot`, written by the Cairn runtime only),
 * `pgs` when it is a `WF_START` naming none; null for a bare trace id (no file) or a file it
 * cannot tell.
 */
function traceFileKind(firstEvent: unknown): "cairn" | "pgs" | null {
  if (firstEvent === null || typeof firstEvent !== "object") return null;
  const ev = firstEvent as { event_type?: unknown; detail?: { snapshot?: unknown } | null };
  if (ev.event_type !== "WF_START") return null;
  return typeof ev.detail?.snapshot === "string" ? "cairn" : "pgs";
}

/**
 * Replays the run named by `traceIdOrPath` with the runtime that recorded it (`recordedRunKind`).
 * A run the store does not hold is `E_NOT_FOUND` naming the root that was looked for: for a
 * trace file, its runtime's (`cairn-wf:<id>` for a Cairn trace, `pgs:<id>` for a PGS one), each
 * runtime's own message (a start record without a recording, a root without its receipt); for a
 * bare trace id, both roots unless one of them (or a PGS start record) exists.
 */
export function replayRecordedRun(store: Store, traceIdOrPath: string): ReplayResult {
  const kind = recordedRunKind(store, traceIdOrPath);
  if (kind === "cairn") return replayCairnRun(store, traceIdOrPath);
  if (kind === "pgs") return replayPgsRun(store, traceIdOrPath);
  const { traceId, firstEvent } = traceIdOf(traceIdOrPath);
  const fileKind = traceFileKind(firstEvent);
  if (fileKind === "cairn") return replayCairnRun(store, traceIdOrPath);
  if (fileKind === "pgs") return replayPgsRun(store, traceIdOrPath);
  if (store.findRoot(`${CAIRN_ROOT_PREFIX}${traceId}`) !== undefined) return replayCairnRun(store, traceIdOrPath);
  if (store.findRoot(`${PGS_ROOT_PREFIX}${traceId}`) !== undefined || interruptedRun(store, PGS_ROOT_PREFIX, traceId) !== undefined) return replayPgsRun(store, traceIdOrPath);
  throw notFound(traceId, `no root ${CAIRN_ROOT_PREFIX}${traceId} (a sealed Cairn snapshot run) or ${PGS_ROOT_PREFIX}${traceId} (a PGS workspace run)`);
}

/**
 * Loads the recorded snapshot; any damage to the artifact is `E_SNAPSHOT_INTEGRITY`, one the store
 * knows but cannot return (tombstoned, collected by gc) E_NOT_FOUND naming the run and the remedy.
 */
function recordedSnapshot(store: Store, digest: Digest, traceId: string): SealedSnapshot {
  try {
    return loadSnapshotFromStore(store, digest, `the recorded snapshot ${digest} of run ${traceId}`, { traceId });
  } catch (err) {
    throw recordedReadError(store, err, traceId, "snapshot", digest, { remedy: CAIRN_SNAPSHOT_REMEDY });
  }
}

/** The snapshot digest the recorded trace's WF_START names (null when absent). */
function traceSnapshot(trace: Buffer): string | null {
  const first = trace.toString("utf8").split("\n", 1)[0] ?? "";
  try {
    const ev = JSON.parse(first) as { event_type?: unknown; detail?: { snapshot?: unknown } };
    return ev.event_type === "WF_START" && typeof ev.detail?.snapshot === "string" ? ev.detail.snapshot : null;
  } catch {
    return null;
  }
}

/**
 * Replays the recorded Cairn run named by `traceIdOrPath` (a trace id, or a trace `.jsonl`
 * file) from `store`. Throws `E_NOT_FOUND` when the store holds no such run and
 * `E_SNAPSHOT_INTEGRITY` when its recorded snapshot was changed. Never writes to `store`.
 */
export function replayCairnRun(store: Store, traceIdOrPath: string): ReplayResult {
  const { traceId, tracePath } = traceIdOf(traceIdOrPath);
  const traceRoot = store.findRoot(`${CAIRN_ROOT_PREFIX}${traceId}`);
  if (traceRoot === undefined) throw unrecordedRunError(store, CAIRN_ROOT_PREFIX, traceId, `no root ${CAIRN_ROOT_PREFIX}${traceId}`);
  const effectsRoot = store.findRoot(`${CAIRN_ROOT_PREFIX}${traceId}:effects`);
  const receipt = receiptOf(store, traceRoot.digest, effectsRoot?.digest, CAIRN_RUN_PARAMS_KIND, CAIRN_RUN_INPUT_COUNTS);
  if (receipt === undefined) throw notFound(traceId, "no Cairn workflow receipt produced its trace");
  requireThisWorkflowEngine(receipt.params, traceId);
  const workflow = (receipt.params as { workflow?: unknown } | null)?.workflow;
  if (typeof workflow !== "string") throw notFound(traceId, "its receipt names no workflow");
  const [payloadDigest, priorDigest] = receipt.inputs as [Digest, Digest];
  const recordedTrace = recordedBytes(store, traceId, "trace", traceRoot.digest);
  const recordedEffects = recordedBytes(store, traceId, "effects", receipt.outputs[1] as Digest);

  const sealed = recordedSnapshot(store, receipt.program, traceId);
  const named = traceSnapshot(recordedTrace);
  if (named !== sealed.digest) {
    throw new CairnError(ErrorCode.SNAPSHOT_INTEGRITY, `snapshot integrity check failed (expected): the recorded trace of ${traceId} names snapshot ${named ?? "(none)"}, its receipt ${sealed.digest}`, {
      reason: SNAPSHOT_INTEGRITY_REASON, check: "expected", traceId, expected: named, actual: sealed.digest,
    });
  }
  // A lane-bound run's step outputs were the services' answers: not reproducible from the store.
  const wf = Object.prototype.hasOwnProperty.call(sealed.content.workflows, workflow) ? sealed.content.workflows[workflow] : undefined;
  const lanes = wf === undefined ? [] : laneBoundSteps(wf);
  if (receipt.inputs.length === 3 || lanes.length > 0) {
    throw new CairnError(ErrorCode.USAGE, `Recorded run ${traceId} has lane-bound steps (${lanes.join(", ") || "lane observations recorded"}): its step outputs came from execution-plane services, so it cannot be replayed from the store`, {
      reason: "plane_required", traceId, steps: [...lanes],
    });
  }
  const prepared = prepareSnapshot(sealed);
  const prior = JSON.parse(recordedBytes(store, traceId, "prior-state manifest", priorDigest).toString("utf8")) as { files?: unknown };
  if (!Array.isArray(prior.files)) throw notFound(traceId, `the prior-state manifest ${priorDigest} has no files`);
  const parsed = parsePyJson(recordedBytes(store, traceId, "payload", payloadDigest).toString("utf8"), `payload ${payloadDigest}`);
  if (!(parsed instanceof Map)) throw new CairnError(ErrorCode.INVALID_INPUT, `Recorded payload of ${traceId} is not a JSON object`, { traceId });
  const payload = parsed as PyObject;

  return replayInTemp(store, { traceId, tracePath, workflow, traceDigest: traceRoot.digest, trace: recordedTrace, effects: recordedEffects, priorFiles: prior.files as RecordedRun["priorFiles"], priorState: priorDigest }, "cairn-wf-replay-", ({ tmp, dataRoot, scratch, dataRootLock }) => {
    const base = join(tmp, "workspace");
    mkdirSync(base);
    // The payload as recorded: a run recorded before payload-text.ts refused a lone surrogate replays too.
    return runRecordedCairnWorkflow({ snapshot: prepared, workflow, payload, dataRoot, baseDir: base, store: scratch, dataRootLock });
  });
}
