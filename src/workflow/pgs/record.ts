/**
 * Recording a PGS run in Cairn's store (issue 4 §3.3), in one transaction:
 *
 *  - program: the snapshot manifest (canonical JSON; its digest is the snapshot digest),
 *    `contains` → the snapshot's file artifacts;
 *  - inputs: the payload as given (`compactPy`: key order kept, since the trace depends on it;
 *    the trace id hashes its canonical form instead) and the prior
 *    state manifest, `contains` → the prior data-root file artifacts;
 *  - outputs: the trace (`<trace_id>.jsonl` bytes) and the effects artifact (the CS calls and
 *    the posterior state manifest), `contains` → the posterior file artifacts;
 *  - a receipt (program, inputs, params `{kind, workflow}` → outputs; status `succeeded` iff
 *    the exit code is 0) with its execution edges;
 *  - roots `pgs:<trace_id>` (the trace) and `pgs:<trace_id>:effects` so gc keeps the run.
 */
import { canonicalBytes } from "../../core/canonical.js";
import type { Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { Store } from "../../store/store.js";
import type { EffectCall } from "./engine.js";
import { snapshotManifest, type PgsPackage } from "./snapshot.js";
import { stateManifest, type StateFile } from "./state.js";

export const SNAPSHOT_MEDIA_TYPE = "application/vnd.cairn.pgs.snapshot+json";
export const STATE_MEDIA_TYPE = "application/vnd.cairn.pgs.state+json";
export const EFFECTS_MEDIA_TYPE = "application/vnd.cairn.pgs.effects+json";
export const TRACE_MEDIA_TYPE = "application/vnd.cairn.pgs.trace+jsonl";
export const PAYLOAD_MEDIA_TYPE = "application/json";
export const EFFECTS_KIND = "cairn.pgs.effects";
export const EFFECTS_VERSION = 1;
export const RECEIPT_PARAMS_KIND = "cairn.pgs.run";
export const ROOT_PREFIX = "pgs:";

/** The effects artifact body (canonical JSON). */
export function effectsBody(workflow: string, traceId: string, status: string, calls: readonly EffectCall[], before: readonly StateFile[], after: readonly StateFile[]) {
  return {
    kind: EFFECTS_KIND,
    version: EFFECTS_VERSION,
    workflow,
    traceId,
    status,
    calls: calls.map((c) => ({ cc: c.cc, step: c.step, cs: c.cs, op: c.op, status: c.status, file: c.file === undefined ? null : { ...c.file } })),
    files: before.map((b, i) => ({ path: b.path, before: b.digest, after: after[i]?.digest ?? null })),
  };
}

/** What a workflow run records, whatever produced it (a PGS workspace or a Cairn snapshot). */
export interface RunRecordBody {
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
}

export interface RecordInput extends RunRecordBody {
  pkg: PgsPackage;
}

/** How one runtime names its runs in the store. */
export interface RunRecordKind {
  /** Receipt `params.kind`. */
  paramsKind: string;
  /** Roots `<rootPrefix><trace_id>` (trace) and `<rootPrefix><trace_id>:effects`. */
  rootPrefix: string;
  /** Role of the `contains` edges from state manifests to file bytes. */
  stateRole: string;
}

/**
 * The part of recording both runtimes share; call inside a store transaction. Stores the
 * payload, the prior-state manifest (+ file bytes), the trace and the effects artifact (+ the
 * posterior file bytes), records the receipt (program = `program`, inputs = [payload, prior
 * state, ...extraInputs], outputs = [trace, effects]) and pins both roots.
 */
export function recordRunArtifacts(store: Store, r: RunRecordBody, program: Digest, kind: RunRecordKind, extraInputs: readonly Digest[] = []): RecordedRun {
  const payload = store.putBytes(r.payloadBytes, { mediaType: PAYLOAD_MEDIA_TYPE }).digest;
  const priorState = store.putBytes(canonicalBytes(stateManifest(r.before)), { mediaType: STATE_MEDIA_TYPE }).digest;
  putFiles(store, priorState, r.before, kind.stateRole);
  const trace = store.putBytes(r.traceBytes, { mediaType: TRACE_MEDIA_TYPE }).digest;
  const effects = store.putBytes(canonicalBytes(effectsBody(r.workflow, r.traceId, r.status, r.calls, r.before, r.after)), { mediaType: EFFECTS_MEDIA_TYPE }).digest;
  putFiles(store, effects, r.after, kind.stateRole);
  const receipt = store.recordReceipt({
    program,
    inputs: [payload, priorState, ...extraInputs],
    params: { kind: kind.paramsKind, workflow: r.workflow },
    outputs: [trace, effects],
    status: r.succeeded ? "succeeded" : "failed",
    resources: { events: r.events, hops: r.hops, csCalls: r.calls.length },
  }).digest;
  store.pin(`${kind.rootPrefix}${r.traceId}`, trace, "run");
  store.pin(`${kind.rootPrefix}${r.traceId}:effects`, effects, "run");
  return { receipt, snapshot: program, payload, priorState, trace, effects };
}

export interface RecordedRun {
  receipt: Digest;
  snapshot: Digest;
  payload: Digest;
  priorState: Digest;
  trace: Digest;
  effects: Digest;
}

/** Stores each present file's bytes and links them to `from` with one `contains` edge. */
export function putFiles(store: Store, from: Digest, files: ReadonlyArray<{ path?: string; bytes: Buffer | null | undefined }>, role: string): void {
  const members: Digest[] = [];
  for (const f of files) {
    if (f.bytes === undefined) throw new CairnError(ErrorCode.INTERNAL, `state file ${f.path ?? "?"} was captured without its bytes and cannot be recorded`);
    if (f.bytes !== null) members.push(store.putBytes(f.bytes).digest);
  }
  const unique = [...new Set(members)];
  if (unique.length > 0) store.addEdge({ from: [from], to: unique, type: "contains", role });
}

export function recordRun(store: Store, r: RecordInput): RecordedRun {
  return store.transaction(() => {
    const snapshot = store.putBytes(canonicalBytes(snapshotManifest(r.pkg.domain, r.pkg.files)), { mediaType: SNAPSHOT_MEDIA_TYPE }).digest;
    putFiles(store, snapshot, r.pkg.files, "pgs.snapshot");
    return recordRunArtifacts(store, r, snapshot, { paramsKind: RECEIPT_PARAMS_KIND, rootPrefix: ROOT_PREFIX, stateRole: "pgs.state" });
  });
}
