/**
 * The start record of a workflow run (both runtimes), written to the store in one transaction
 * before the run's first node, so before any effect: the program (snapshot), the inputs
 * (payload as given, prior-state manifest + file bytes) and a small canonical JSON intent
 *
 *   {kind: "cairn.workflow.run-started", version: 1, run, workflow, traceId, program, payload, priorState}
 *
 * (`run` = the receipt kind the finished run records) that `contains` them, pinned as
 * `<prefix><trace_id>:started` (kind `run`). The run's record (record.ts `recordRunArtifacts`)
 * removes that root in its own transaction. A process killed between the two — after effects
 * were applied, before the record — leaves the root: the store then says which run started,
 * with which inputs, and that it never finished (`wf replay` names it; ARCHITECTURE §11.9).
 * The intent holds no time, no path and no engine version, so a trace id (a digest of the same
 * inputs) always has the same intent: a re-run of an interrupted trace id, by any build, pins the
 * same root again instead of conflicting with it.
 */
import { canonicalBytes } from "../../core/canonical.js";
import type { Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import { putRunInputs, startedRootName, type RecordedInputs, type RunRecordBody, type RunRecordKind } from "./record.js";

export const RUN_STARTED_KIND = "cairn.workflow.run-started";
export const RUN_STARTED_VERSION = 1;
export const RUN_STARTED_MEDIA_TYPE = "application/vnd.cairn.workflow.run-started+json";

/** The body of a start record. */
export interface RunStartedBody {
  kind: typeof RUN_STARTED_KIND;
  version: typeof RUN_STARTED_VERSION;
  /** The receipt kind of the finished run (`cairn.pgs.run`, `cairn.workflow.run`). */
  run: string;
  workflow: string;
  traceId: string;
  program: Digest;
  payload: Digest;
  priorState: Digest;
}

/** What a start record stored, for the run's record to reuse. */
export interface StartedRun extends RecordedInputs {
  program: Digest;
  /** The intent artifact the start root pins. */
  intent: Digest;
}

/**
 * Records a run's start (one store transaction). `putProgram` stores the runtime's program (the
 * PGS snapshot manifest, or the sealed Cairn snapshot) and returns its digest.
 */
export function recordRunStart(
  store: Store,
  r: Pick<RunRecordBody, "workflow" | "traceId" | "payloadBytes" | "before">,
  kind: RunRecordKind,
  putProgram: () => Digest,
): StartedRun {
  return store.transaction(() => {
    const program = putProgram();
    const { payload, priorState } = putRunInputs(store, r, kind.stateRole);
    const body: RunStartedBody = {
      kind: RUN_STARTED_KIND,
      version: RUN_STARTED_VERSION,
      run: kind.paramsKind,
      workflow: r.workflow,
      traceId: r.traceId,
      program,
      payload,
      priorState,
    };
    const intent = store.putBytes(canonicalBytes(body), { mediaType: RUN_STARTED_MEDIA_TYPE }).digest;
    store.addEdge({ from: [intent], to: [...new Set([program, payload, priorState])], type: "contains", role: "cairn.workflow.run-started" });
    store.pin(startedRootName(kind.rootPrefix, r.traceId), intent, "run");
    return { program, payload, priorState, intent };
  });
}

/** The intent a start root left behind for `traceId` (a run started and never recorded), or undefined. */
export function interruptedRun(store: Store, rootPrefix: string, traceId: string): Digest | undefined {
  return store.findRoot(startedRootName(rootPrefix, traceId))?.digest;
}

/**
 * `wf replay`'s E_NOT_FOUND for a recorded run it cannot find (`why`); when `store` holds a start
 * record of the trace id under `rootPrefix`, the message says the run started and was never
 * recorded instead.
 */
export function unrecordedRunError(store: Store | undefined, rootPrefix: string, traceId: string, why: string): CairnError {
  const intent = store === undefined ? undefined : interruptedRun(store, rootPrefix, traceId);
  if (intent === undefined) return new CairnError(ErrorCode.NOT_FOUND, `Recorded run ${traceId} not found in the store: ${why}`, { traceId });
  return new CairnError(
    ErrorCode.NOT_FOUND,
    `Recorded run ${traceId} not found in the store: it started (root ${startedRootName(rootPrefix, traceId)} → ${intent}) but was never recorded — the process was killed or its recording failed, possibly after effects were applied; the start record holds its snapshot, payload and prior state`,
    { traceId, started: intent },
  );
}
