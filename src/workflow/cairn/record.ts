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
import { recordRunArtifacts, type RecordedRun, type RunRecordBody } from "../pgs/record.js";
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

export function recordCairnRun(store: Store, r: CairnRecordInput): CairnRecordedRun {
  return store.transaction(() => {
    const snapshot = storeSnapshot(store, r.sealed.content);
    const observed = r.laneObservations === undefined ? undefined : store.putBytes(r.laneObservations, { mediaType: LANE_OBSERVATIONS_MEDIA_TYPE }).digest;
    const kind = { paramsKind: CAIRN_RUN_PARAMS_KIND, rootPrefix: CAIRN_ROOT_PREFIX, stateRole: "cairn.workflow.state" };
    const run = recordRunArtifacts(store, r, snapshot, kind, observed === undefined ? [] : [observed]);
    return observed === undefined ? run : { ...run, laneObservations: observed };
  });
}
