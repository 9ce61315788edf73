/**
 * Recording a Cairn snapshot run in the store, in one transaction (the PGS recording's shape,
 * src/workflow/pgs/record.ts, with the sealed snapshot as the program):
 *
 *  - program: the snapshot content artifact (its digest is the snapshot digest), `contains` →
 *    the user CT bundles;
 *  - inputs: the payload as given (`compactPy`) and the prior-state manifest (`contains` → the
 *    prior store files);
 *  - outputs: the trace bytes and the effects artifact (`effectsBody`, `contains` → posterior
 *    files);
 *  - a receipt with params `{kind: "cairn.workflow.run", workflow, engine}`, resources `{events, hops,
 *    csCalls}`, status `succeeded` iff exit 0;
 *  - roots (kind `run`) `cairn-wf:<trace_id>` → trace and `cairn-wf:<trace_id>:effects`.
 */
import type { Digest } from "../../core/digest.js";
import type { Store } from "../../store/store.js";
import { recordRunArtifacts, type RecordedInputs, type RecordedRun, type RunRecordBody, type RunRecordKind } from "../pgs/record.js";
import { storeSnapshot, type SealedSnapshot } from "./seal.js";

export const CAIRN_RUN_PARAMS_KIND = "cairn.workflow.run";
export const CAIRN_ROOT_PREFIX = "cairn-wf:";
export const LANE_OBSERVATIONS_MEDIA_TYPE = "application/vnd.cairn.workflow.lane-observations+json";

export interface CairnRecordInput extends RunRecordBody {
  sealed: SealedSnapshot;
  /**
   * A run with lane-bound steps: the canonical JSON of its lane observations (each step's
   * `CC_STEP.detail.lane`: execution ref, evidence ids, ExecutionResult digest). The service's
   * answers are inputs of such a run, so they are one more receipt input (media type
   * LANE_OBSERVATIONS_MEDIA_TYPE): a repeat that the service answered differently is a
   * different action, not a "nondeterministic program" conflict.
   */
  laneObservations?: Buffer;
}

export interface CairnRecordedRun extends RecordedRun {
  /** The lane observations artifact (runs with lane-bound steps only). */
  laneObservations?: Digest;
}

/** How Cairn snapshot runs are named in the store. */
export const CAIRN_RECORD_KIND: RunRecordKind = Object.freeze({ paramsKind: CAIRN_RUN_PARAMS_KIND, rootPrefix: CAIRN_ROOT_PREFIX, stateRole: "cairn.workflow.state" });

/**
 * Records a Cairn snapshot run in one transaction. `started` (pgs/record-start.ts), when the
 * run's start was recorded: its snapshot and inputs are not stored again.
 */
export function recordCairnRun(store: Store, r: CairnRecordInput, started?: RecordedInputs & { program: Digest }): CairnRecordedRun {
  return store.transaction(() => {
    const snapshot = started?.program ?? storeSnapshot(store, r.sealed.content);
    const observed = r.laneObservations === undefined ? undefined : store.putBytes(r.laneObservations, { mediaType: LANE_OBSERVATIONS_MEDIA_TYPE }).digest;
    const run = recordRunArtifacts(store, r, snapshot, CAIRN_RECORD_KIND, observed === undefined ? [] : [observed], started);
    return observed === undefined ? run : { ...run, laneObservations: observed };
  });
}
