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
 *  - a receipt with params `{kind: "cairn.workflow.run", workflow}`, resources `{events, hops,
 *    csCalls}`, status `succeeded` iff exit 0;
 *  - roots (kind `run`) `cairn-wf:<trace_id>` → trace and `cairn-wf:<trace_id>:effects`.
 */
import { canonicalBytes } from "../../core/canonical.js";
import type { Digest } from "../../core/digest.js";
import type { Store } from "../../store/store.js";
import type { EffectCall } from "../pgs/engine.js";
import { EFFECTS_MEDIA_TYPE, effectsBody, PAYLOAD_MEDIA_TYPE, STATE_MEDIA_TYPE, TRACE_MEDIA_TYPE } from "../pgs/record.js";
import { stateManifest, type StateFile } from "../pgs/state.js";
import { storeSnapshot, type SealedSnapshot } from "./seal.js";

export const CAIRN_RUN_PARAMS_KIND = "cairn.workflow.run";
export const CAIRN_ROOT_PREFIX = "cairn-wf:";
export const LANE_OBSERVATIONS_MEDIA_TYPE = "application/vnd.cairn.workflow.lane-observations+json";

export interface CairnRecordInput {
  sealed: SealedSnapshot;
  workflow: string;
  traceId: string;
  status: string;
  succeeded: boolean;
  payloadBytes: Buffer;
  before: readonly StateFile[];
  after: readonly StateFile[];
  traceBytes: Buffer;
  calls: readonly EffectCall[];
  events: number;
  hops: number;
  /**
   * A run with lane-bound steps: the canonical JSON of its lane observations (each step's
   * `CC_STEP.detail.lane`: execution ref, evidence ids, ExecutionResult digest). The service's
   * answers are inputs of such a run, so they are one more receipt input (media type
   * LANE_OBSERVATIONS_MEDIA_TYPE): a repeat that the service answered differently is a
   * different action, not a "nondeterministic program" conflict.
   */
  laneObservations?: Buffer;
}

export interface CairnRecordedRun {
  receipt: Digest;
  snapshot: Digest;
  payload: Digest;
  priorState: Digest;
  trace: Digest;
  effects: Digest;
  /** The lane observations artifact (runs with lane-bound steps only). */
  laneObservations?: Digest;
}

function putFiles(store: Store, from: Digest, files: ReadonlyArray<{ bytes: Buffer | null }>, role: string): void {
  const members: Digest[] = [];
  for (const f of files) if (f.bytes !== null) members.push(store.putBytes(f.bytes).digest);
  const unique = [...new Set(members)];
  if (unique.length > 0) store.addEdge({ from: [from], to: unique, type: "contains", role });
}

export function recordCairnRun(store: Store, r: CairnRecordInput): CairnRecordedRun {
  return store.transaction(() => {
    const snapshot = storeSnapshot(store, r.sealed.content);
    const payload = store.putBytes(r.payloadBytes, { mediaType: PAYLOAD_MEDIA_TYPE }).digest;
    const priorState = store.putBytes(canonicalBytes(stateManifest(r.before)), { mediaType: STATE_MEDIA_TYPE }).digest;
    putFiles(store, priorState, r.before, "cairn.workflow.state");
    const observed = r.laneObservations === undefined ? undefined : store.putBytes(r.laneObservations, { mediaType: LANE_OBSERVATIONS_MEDIA_TYPE }).digest;
    const trace = store.putBytes(r.traceBytes, { mediaType: TRACE_MEDIA_TYPE }).digest;
    const effects = store.putBytes(canonicalBytes(effectsBody(r.workflow, r.traceId, r.status, r.calls, r.before, r.after)), { mediaType: EFFECTS_MEDIA_TYPE }).digest;
    putFiles(store, effects, r.after, "cairn.workflow.state");
    const receipt = store.recordReceipt({
      program: snapshot,
      inputs: observed === undefined ? [payload, priorState] : [payload, priorState, observed],
      params: { kind: CAIRN_RUN_PARAMS_KIND, workflow: r.workflow },
      outputs: [trace, effects],
      status: r.succeeded ? "succeeded" : "failed",
      resources: { events: r.events, hops: r.hops, csCalls: r.calls.length },
    }).digest;
    store.pin(`${CAIRN_ROOT_PREFIX}${r.traceId}`, trace, "run");
    store.pin(`${CAIRN_ROOT_PREFIX}${r.traceId}:effects`, effects, "run");
    return { receipt, snapshot, payload, priorState, trace, effects, ...(observed === undefined ? {} : { laneObservations: observed }) };
  });
}
