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
 *  - a receipt (program, inputs, params `{kind, workflow, engine}` → outputs; status
 *    `succeeded` iff the exit code is 0) with its execution edges; a run under a trace limit other than the
 *    default also records it (params `traceLimit` `{maxBytes, errorReserveBytes}`), for replay;
 *  - roots `pgs:<trace_id>` (the trace) and `pgs:<trace_id>:effects` so gc keeps the run.
 */
import { canonicalBytes } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { requireEngine, type EngineId } from "../../core/engine-version.js";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { ARTIFACT_LOSS_TEXT, artifactLoss, lossOfReadError } from "../../store/artifact-loss.js";
import { CONTAINS_EDGE_TYPE } from "../../store/gc.js";
import { TYPED_FRAME_MAGIC } from "../../store/identity.js";
import type { Params } from "../../store/receipts.js";
import type { Store } from "../../store/store.js";
import type { EffectCall } from "./engine.js";
import { snapshotManifest, type PgsPackage } from "./snapshot.js";
import { stateManifest, type StateFile } from "./state.js";
import type { TraceLimit } from "./trace.js";

export const SNAPSHOT_MEDIA_TYPE = "application/vnd.cairn.pgs.snapshot+json";
export const STATE_MEDIA_TYPE = "application/vnd.cairn.pgs.state+json";
export const EFFECTS_MEDIA_TYPE = "application/vnd.cairn.pgs.effects+json";
export const TRACE_MEDIA_TYPE = "application/vnd.cairn.pgs.trace+jsonl";
export const PAYLOAD_MEDIA_TYPE = "application/json";
export const EFFECTS_KIND = "cairn.pgs.effects";
export const EFFECTS_VERSION = 1;
export const RECEIPT_PARAMS_KIND = "cairn.pgs.run";
export const ROOT_PREFIX = "pgs:";

/**
 * The workflow engine (both runtimes: PGS workspaces and sealed Cairn snapshots), recorded in
 * every run's receipt params. The version changes when the same snapshot, payload and prior
 * state would give other trace or effects bytes: the trace format or its event details, an
 * atom's or CS runtime's semantics, routing, the state capture or the recording itself. Not for
 * speed, messages, or inputs newly refused. Two versions therefore never record the same
 * action (receipt key) with different outputs, which the store would refuse as a conflict, and
 * `wf replay` refuses a run recorded by another version (ARCHITECTURE §11.9). Receipts recorded
 * before the engine was named (no `engine` member) are version 1's.
 *
 * Versions: 1 — every build up to 2026-11-26; 2 — a user CT result that JSON would alter (NaN,
 * undefined, an integer literal beyond ±(2^53−1)…) is a VIOLATION instead of being rewritten,
 * and a run stopped by its trace limit right after an effect names the effect in its `ERROR`
 * event (`untraced_effect`); 3 — a user CT result holding `result_status` is a VIOLATION
 * instead of a SUCCESS whose node result and surface carried that member; 4 — PGS runs read a
 * non-string `step_id` as the reference does (a falsy one names no step, a number records under
 * a key no `$.results` text finds, a list or object aborts the run) and a CS path ending in `/`
 * is a confinement error, left out of the state capture; a lane-bound step whose lane result
 * holds `result_status` ends BACKEND_ERROR; 5 — a lane-bound step whose lane answers an outcome
 * other than SUCCESS contributes no field to the node's result and surface (its `message` is
 * only the step's error text), as a local CT's VIOLATION; a user CT time-out's ERROR message
 * names the CT as the step's `ct:` does (`m.slow`), not by its bundle digest's prefix; 6 —
 * the Python emulation reads and prints text with CPython 3.11's Unicode 14.0.0 instead of the
 * Node build's (py/unicode.ts): a decimal digit assigned since (Kawi, Nag Mundari…) is no
 * number for a parameter rule or a `$.results.<cc addr>` binding, and a character assigned
 * since is escaped in a VIOLATION message's `repr`.
 */
export const WORKFLOW_ENGINE: EngineId = Object.freeze({ name: "cairn.workflow", version: "7" });

/** The receipt params of a recorded run (record.ts `recordRunArtifacts`). */
export function runReceiptParams(kind: string, workflow: string, traceLimit?: TraceLimit): Params {
  const engine = { name: WORKFLOW_ENGINE.name, version: WORKFLOW_ENGINE.version };
  return traceLimit === undefined ? { kind, workflow, engine } : { kind, workflow, engine, traceLimit: { ...traceLimit } };
}

/**
 * Refuses (E_USAGE) a recorded run whose receipt names another workflow engine version; a
 * receipt without `engine` was recorded by version 1.
 */
export function requireThisWorkflowEngine(params: unknown, traceId: string): void {
  const recorded = (params as { engine?: unknown } | null)?.engine;
  const found = recorded === undefined ? { name: WORKFLOW_ENGINE.name, version: "1" } : ((recorded ?? {}) as { name?: unknown; version?: unknown });
  requireEngine(WORKFLOW_ENGINE, found, `recorded run ${traceId}`, "replayed", { traceId });
}

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
  /** A trace limit other than the default (pgs/run.ts `RunPgsOptions.traceLimit`): recorded in the receipt's params, for replay. */
  traceLimit?: TraceLimit;
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

/** The run's inputs as recorded: the payload as given and the prior-state manifest (`contains` → the prior file bytes). */
export interface RecordedInputs {
  payload: Digest;
  priorState: Digest;
}

/** Stores a run's inputs (call inside a store transaction). */
export function putRunInputs(store: Store, r: Pick<RunRecordBody, "payloadBytes" | "before">, stateRole: string): RecordedInputs {
  const payload = store.putBytes(r.payloadBytes, { mediaType: PAYLOAD_MEDIA_TYPE }).digest;
  const priorState = store.putBytes(canonicalBytes(stateManifest(r.before)), { mediaType: STATE_MEDIA_TYPE }).digest;
  putFiles(store, priorState, r.before, stateRole);
  return { payload, priorState };
}

/**
 * The root naming the start record of a run not recorded (yet): record-start.ts pins it before
 * the run's first node, `recordRunArtifacts` removes it with the run's record. One left behind
 * names a run that was interrupted (killed, or its recording failed) after it started.
 */
export function startedRootName(rootPrefix: string, traceId: string): string {
  return `${rootPrefix}${traceId}${STARTED_ROOT_SUFFIX}`;
}
export const STARTED_ROOT_SUFFIX = ":started";

/**
 * The part of recording both runtimes share; call inside a store transaction. Stores the
 * payload, the prior-state manifest (+ file bytes) — unless `inputs` says where the run's start
 * record stored them —, the trace and the effects artifact (+ the posterior file bytes), records
 * the receipt (program = `program`, inputs = [payload, prior state, ...extraInputs], outputs =
 * [trace, effects]), pins both roots and removes the run's start root.
 */
export function recordRunArtifacts(store: Store, r: RunRecordBody, program: Digest, kind: RunRecordKind, extraInputs: readonly Digest[] = [], inputs?: RecordedInputs): RecordedRun {
  const { payload, priorState } = inputs ?? putRunInputs(store, r, kind.stateRole);
  const trace = store.putBytes(r.traceBytes, { mediaType: TRACE_MEDIA_TYPE }).digest;
  const effects = store.putBytes(canonicalBytes(effectsBody(r.workflow, r.traceId, r.status, r.calls, r.before, r.after)), { mediaType: EFFECTS_MEDIA_TYPE }).digest;
  putFiles(store, effects, r.after, kind.stateRole);
  const receipt = store.recordReceipt({
    program,
    inputs: [payload, priorState, ...extraInputs],
    params: runReceiptParams(kind.paramsKind, r.workflow, r.traceLimit),
    outputs: [trace, effects],
    status: r.succeeded ? "succeeded" : "failed",
    resources: { events: r.events, hops: r.hops, csCalls: r.calls.length },
  }).digest;
  store.pin(`${kind.rootPrefix}${r.traceId}`, trace, "run");
  store.pin(`${kind.rootPrefix}${r.traceId}:effects`, effects, "run");
  // The run is recorded: its start record (this run's, or an interrupted run's of the same trace
  // id, so of the same inputs) is no longer an open one.
  const started = startedRootName(kind.rootPrefix, r.traceId);
  if (store.findRoot(started) !== undefined) store.unpin(started);
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

/** Data-root files above this size are recorded in chunks (a state-file manifest), smaller ones whole. */
export const STATE_CHUNKED_ABOVE_BYTES = 1024 * 1024;
/** Chunk size of a chunked state file: chunks start at multiples of it, so a file that only grows shares every full chunk with its earlier versions. */
export const STATE_CHUNK_BYTES = 256 * 1024;
export const STATE_FILE_MEDIA_TYPE = "application/vnd.cairn.pgs.state-file+json";
export const STATE_FILE_KIND = "cairn.pgs.state-file";
export const STATE_FILE_VERSION = 1;

/** The manifest of a chunked state file: its SHA-256 (the digest state manifests name) and its chunks in order. */
export interface StateFileManifest {
  kind: typeof STATE_FILE_KIND;
  version: typeof STATE_FILE_VERSION;
  digest: Digest;
  size: number;
  chunkSize: number;
  chunks: Digest[];
}

/**
 * Stores a file's bytes: whole (the artifact's digest is the file's), or above
 * STATE_CHUNKED_ABOVE_BYTES as chunks of STATE_CHUNK_BYTES plus a state-file manifest with a
 * `contains` edge to them. Content addressing then shares the unchanged chunks between the
 * versions of a file that grows (an audit log): a recorded run stores its last chunk and a
 * manifest instead of the whole file again. Returns the artifact to link from the state manifest.
 */
function putStateFile(store: Store, bytes: Buffer, digest: Digest, role: string): Digest {
  if (bytes.length <= STATE_CHUNKED_ABOVE_BYTES || reservedChunkStart(bytes)) return store.putBytes(bytes).digest;
  const chunks: Digest[] = [];
  for (let off = 0; off < bytes.length; off += STATE_CHUNK_BYTES) chunks.push(store.putBytes(bytes.subarray(off, off + STATE_CHUNK_BYTES)).digest);
  const body: StateFileManifest = { kind: STATE_FILE_KIND, version: STATE_FILE_VERSION, digest, size: bytes.length, chunkSize: STATE_CHUNK_BYTES, chunks };
  const m = store.putBytes(canonicalBytes(body), { mediaType: STATE_FILE_MEDIA_TYPE }).digest;
  store.addEdge({ from: [m], to: [...new Set(chunks)], type: "contains", role });
  return m;
}

/**
 * A chunk after the first may not begin with the store's reserved typed-frame magic (an untyped
 * artifact cannot): such a file is stored whole, as it always was (only offset 0 is checked then).
 */
function reservedChunkStart(bytes: Buffer): boolean {
  for (let off = STATE_CHUNK_BYTES; off < bytes.length; off += STATE_CHUNK_BYTES) {
    if (bytes.subarray(off, off + TYPED_FRAME_MAGIC.length).equals(TYPED_FRAME_MAGIC)) return true;
  }
  return false;
}

/** How a state-file manifest's canonical JSON begins (its members in RFC 8785 order). */
const STATE_FILE_MANIFEST_PREFIX = Buffer.from('{"chunkSize":');
/** A state-file manifest is small: a 256 MiB file has 1,024 chunks (~75 KiB). */
const STATE_FILE_MANIFEST_MAX_BYTES = 1024 * 1024;

/** The bytes of `digest` when its artifact is present, else undefined (absent, tombstoned or swept by gc). */
function presentBytes(store: Store, digest: Digest): Buffer | undefined {
  try {
    return store.get(digest);
  } catch (err) {
    if (isCairnError(err, ErrorCode.NOT_FOUND)) return undefined;
    throw err;
  }
}

/**
 * The bytes of the state file `digest` that the state manifest `manifest` names: the artifact
 * of that digest while it is present, else the chunked state-file manifest the state manifest
 * `contains` for it (the chunks joined and re-hashed). Only `contains` targets are looked at,
 * and those that are not present are skipped. Throws NOT_FOUND when the store has neither,
 * E_STORE_CORRUPT when the chunks do not hash to the digest. A NOT_FOUND says what the store
 * knows but cannot return (store/artifact-loss.ts; `details.reason` `tombstoned` | `collected`
 * when it is certain): a chunk of its chunked copy, the file itself (stored whole), or else the
 * state-file manifests among the `contains` targets that are deleted (`details.lost`: one of
 * them may have been its chunked copy). Before, a tombstoned file was
 * "not in the store (neither whole nor chunked …)".
 */
export function stateFileBytes(store: Store, manifest: Digest, digest: Digest): Buffer {
  const whole = presentBytes(store, digest);
  if (whole !== undefined) return whole;
  const targets = new Set<Digest>();
  // Only the manifest's own `contains` edges: a depth-1 lineage would also cross the execution
  // edge of every receipt that took this prior state as an input (one per run that shares it).
  for (const e of store.edgesOfType(manifest, CONTAINS_EDGE_TYPE, "down")) for (const t of e.to) targets.add(t);
  /** Deleted targets that `contain` something: state-file manifests (a whole file contains nothing). */
  const lost: Digest[] = [];
  const noteLost = (t: Digest): void => {
    if (artifactLoss(store, t) !== undefined && store.edgesOfType(t, CONTAINS_EDGE_TYPE, "down").length > 0) lost.push(t);
  };
  for (const t of targets) {
    let info;
    try {
      info = store.stat(t);
    } catch {
      noteLost(t);
      continue;
    }
    if (info.size > STATE_FILE_MANIFEST_MAX_BYTES) continue;
    const raw = presentBytes(store, t);
    if (raw === undefined) noteLost(t);
    if (raw === undefined || !raw.subarray(0, STATE_FILE_MANIFEST_PREFIX.length).equals(STATE_FILE_MANIFEST_PREFIX)) continue;
    let body: Partial<StateFileManifest>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Partial<StateFileManifest>;
    } catch {
      continue;
    }
    if (body.kind !== STATE_FILE_KIND || body.digest !== digest || !Array.isArray(body.chunks)) continue;
    const bytes = Buffer.concat(body.chunks.map((c) => chunkBytes(store, digest, t, c)));
    if (bytes.length !== body.size || sha256(bytes) !== digest) {
      throw new CairnError(ErrorCode.STORE_CORRUPT, `the chunks of state file ${digest} (manifest ${t}) do not hash to it`, { digest, manifest: t });
    }
    return bytes;
  }
  // Found neither way: the file itself deleted (it was stored whole), else what may have held it.
  const wholeLoss = artifactLoss(store, digest);
  if (wholeLoss !== undefined) throw new CairnError(ErrorCode.NOT_FOUND, `state file ${digest} ${ARTIFACT_LOSS_TEXT[wholeLoss]}`, { digest, manifest, reason: wholeLoss });
  const deleted = lost.length === 0 ? "" : `; the state-file manifest${lost.length === 1 ? "" : "s"} ${lost.join(", ")} it contains ${lost.length === 1 ? "is" : "are"} deleted from the store (tombstoned or collected by gc), which may have held the file's chunked copy`;
  throw new CairnError(ErrorCode.NOT_FOUND, `state file ${digest} is not in the store (neither whole nor chunked under ${manifest})${deleted}`, { digest, manifest, ...(lost.length === 0 ? {} : { lost }) });
}

/** Chunk `chunk` of the chunked copy `fileManifest` of state file `digest`; one deleted from the store says which file it is a chunk of. */
function chunkBytes(store: Store, digest: Digest, fileManifest: Digest, chunk: Digest): Buffer {
  try {
    return store.get(chunk);
  } catch (err) {
    const loss = lossOfReadError(store, err, chunk);
    if (loss === undefined) throw err;
    throw new CairnError(ErrorCode.NOT_FOUND, `state file ${digest}: its chunk ${chunk} (state-file manifest ${fileManifest}) ${ARTIFACT_LOSS_TEXT[loss]}`, { digest, manifest: fileManifest, chunk, reason: loss });
  }
}

/**
 * Stores each present file's bytes (state files whole or chunked: `putStateFile`; with `whole`,
 * always whole: snapshot files) and links them to `from` with one `contains` edge.
 */
export function putFiles(store: Store, from: Digest, files: ReadonlyArray<{ path?: string; digest?: Digest | null; bytes: Buffer | null | undefined }>, role: string, whole = false): void {
  const members: Digest[] = [];
  for (const f of files) {
    if (f.bytes === undefined) throw new CairnError(ErrorCode.INTERNAL, `state file ${f.path ?? "?"} was captured without its bytes and cannot be recorded`);
    if (f.bytes === null) continue;
    members.push(whole || f.digest === undefined || f.digest === null ? store.putBytes(f.bytes).digest : putStateFile(store, f.bytes, f.digest, role));
  }
  const unique = [...new Set(members)];
  if (unique.length > 0) store.addEdge({ from: [from], to: unique, type: "contains", role });
}

/** How PGS runs are named in the store. */
export const PGS_RECORD_KIND: RunRecordKind = Object.freeze({ paramsKind: RECEIPT_PARAMS_KIND, rootPrefix: ROOT_PREFIX, stateRole: "pgs.state" });

/** Stores a PGS snapshot: its manifest (the program of its runs) `contains` its files. */
export function putPgsSnapshot(store: Store, pkg: PgsPackage): Digest {
  return store.transaction(() => {
    const snapshot = store.putBytes(canonicalBytes(snapshotManifest(pkg.domain, pkg.files)), { mediaType: SNAPSHOT_MEDIA_TYPE }).digest;
    putFiles(store, snapshot, pkg.files, "pgs.snapshot", true);
    return snapshot;
  });
}

/**
 * Records a PGS run in one transaction. `started` (record-start.ts), when the run's start was
 * recorded: its snapshot and inputs are not stored again.
 */
export function recordRun(store: Store, r: RecordInput, started?: RecordedInputs & { program: Digest }): RecordedRun {
  return store.transaction(() => {
    const snapshot = started?.program ?? putPgsSnapshot(store, r.pkg);
    return recordRunArtifacts(store, r, snapshot, PGS_RECORD_KIND, [], started);
  });
}
