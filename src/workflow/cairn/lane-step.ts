/**
 * Running lane-bound steps (issue 5 §6.1): a CT or CS step whose declaration binds it to an
 * execution-plane lane (lane-compile.ts) is executed through a PlaneNode — admission, exactly
 * one target, the lane, evidence — instead of the local handler.
 *
 * - **Driver.** `runCairnWorkflowWithPlane` drives the runtime's generator (`runCairnCore`,
 *   run.ts): every step runs as in `runCairnWorkflow`, except that a lane-bound step is handed
 *   here. Everything else — trace, hash chain, routing, summary, store recording — is the same
 *   code path.
 * - **Request.** One AdmissionRequest per step execution: `lane_id` / `operation` /
 *   `acceptable_attestation` from the sealed binding; `payload` = the binding's payload template
 *   evaluated over the step's resolved inputs (must be a JSON object); `idempotency_key` =
 *   `<trace_id>:<node>:<visit>:<step>` (the same run inputs in the same plane session give the
 *   same key; a plain id, so evidence repeats it verbatim when it is at most 128 characters); `authority_ref` = an Ed25519 ref signed by the runtime with
 *   the caller's key for the caller's subject (`signAuthorityRef` over the whole request: payload
 *   hash, lane, operation and request hash; valid `ttlMs` from the plane clock). The node's policy decides
 *   whether that subject may use that lane and operation.
 * - **Result → outcome.**
 *   - `succeeded`: the step result document is the lane output, or with `result_json: <member>`
 *     the JSON parsed from that output member (process: stdout, http: body). It must be a JSON
 *     object. Its optional `outcome` member names the step outcome (e.g. ALREADY_EXISTS for a
 *     registry service answering a repeat); it must be one the step declares, else the step
 *     ends BACKEND_ERROR. Without `outcome` the step is SUCCESS; a SUCCESS result must hold
 *     every declared output field, else the step ends VIOLATION (BACKEND_ERROR when the step
 *     has no VIOLATION outcome). The other members of a SUCCESS document are the step's result
 *     fields; any other outcome has none (as a local CT's VIOLATION: the compiler binds no field
 *     on it; the members stay in the plane's evidence — they reached the node's result before
 *     workflow engine version 5), and its string `message` member is the step's error text.
 *     A `result_status` member (RESERVED_RESULT_FIELD) breaks the contract: BACKEND_ERROR (it
 *     reached the node's result before 2026-11-27).
 *   - `failed`: BACKEND_ERROR. The raw facts (the output's top-level numbers / booleans / nulls:
 *     `exit_code`, `status_code`…) are the step's result fields, and the error text names the
 *     failure class or says it is a raw fact without one.
 *   - `rejected`: not an outcome. The run aborts with an `ERROR` event `plane admission rejected
 *     …: <reason>` (`E_PLANE_REJECTED`, details.reason `plane_admission_rejected`), which
 *     examine classifies as `admission_error`.
 * - **Trace links.** The step's `CC_STEP.detail.lane` records `lane_id`, `kind`, `operation`,
 *   `status`, `execution_ref`, `evidence` (the evidence ids, in emission order, as the JSONL sink
 *   has them), `result_digest` (SHA-256 of the canonical ExecutionResult), `failure_class`, and
 *   with a store evidence sink `evidence_digests` (the stored evidence records). A rejection's
 *   evidence ids are in the ERROR message. When the run is recorded (`store`), an edge
 *   `cairn.workflow.lane-evidence` (role `trace`) goes from the trace artifact to every stored
 *   evidence record of the run. Both ends must be in one store, so a recorded run whose store
 *   evidence sink records into another store is refused before anything runs (E_USAGE naming
 *   both stores, `checkEvidenceStore`); before 2026-11-27 the edge was silently left out.
 * - **Determinism.** Lane outputs are external facts: a lane-bound run is only as deterministic
 *   as the service it calls. The service's state is not in the prior local state, so the trace
 *   id also derives from the plane session `<node id>@<plane clock ms at run start>:<subject>`
 *   (`RunCairnOptions.planeSession`, recorded in WF_START as `plane_session`): two runs in one
 *   session instant with the same inputs get the same id (and the later replaces the earlier's
 *   trace files). Evidence ids, execution refs and signed-ref times come from the node's
 *   injected clock and id source (pinned in tests, the real clock in the CLI), so a pinned
 *   node and a service that answers the same give byte-identical traces. In the store, the
 *   lane observations are one more receipt input (record.ts). `cairn wf replay` and
 *   `runCairnWorkflow` refuse lane-bound workflows (E_USAGE) instead of pretending to
 *   reproduce them.
 */
import { KeyObject } from "node:crypto";
import type { Clock } from "../../core/clock.js";
import type { Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { signAuthorityRef } from "../../plane/authority/ed25519.js";
import { CONTRACT_VERSION, type JsonValue } from "../../plane/contracts/base.js";
import type { ExecutionResult } from "../../plane/contracts/execution.js";
import { fingerprint, redactOutput } from "../../plane/evidence/redact.js";
import { StoreEvidenceSink } from "../../plane/evidence/store-sink.js";
import { PlaneNode, rejectionEvidenceMessage } from "../../plane/node/node.js";
import { checkClockOption } from "../../plane/contracts/ids.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { withoutBom } from "../../core/utf8.js";
import { acquireDataRootLockAsync, checkDataRootLockWait, DEFAULT_DATA_ROOT_LOCK_WAIT_MS } from "../effects/index.js";
import { fromPlain, toPlain, type PyObject, type PyValue } from "../pgs/value.js";
import type { LaneTemplate, SnapshotLaneBinding } from "./lane-compile.js";
import type { SnapshotStep } from "./model.js";
import { follow } from "./paths.js";
import { RESERVED_RESULT_FIELD } from "./usercts.js";
import { constBindingValue } from "./sealed-value.js";
import { missingOutputs, runCairnCore, type CairnRunResult } from "./run.js";
import { checkRunCairnOptions, RUN_CAIRN_OPTION_KEYS, type RunCairnOptions } from "./run-options.js";

/** Edge type from a recorded run's trace to the evidence records of its lane-bound steps. */
export const LANE_EVIDENCE_EDGE_TYPE = "cairn.workflow.lane-evidence";
/** `details.reason` of a run aborted by an admission rejection. */
export const PLANE_REJECTED_REASON = "plane_admission_rejected";
/** Default lifetime of the authority ref signed for each lane request. */
export const LANE_AUTHORITY_TTL_MS = 60_000;

/** A lane-bound step, handed from the runtime to the driver. */
export interface LaneStepCall {
  readonly step: SnapshotStep;
  readonly lane: SnapshotLaneBinding;
  readonly inputs: PyObject;
  /** The run's step seed `<trace_id>|<node>|<visit>|<step>` (the request's key uses `:` instead of `|`). */
  readonly idempotencyKey: string;
  /** The node's FQDN (`<ns>::<WF>::<node>`). */
  readonly cc: string;
}

/** What the driver hands back: the step's outcome, result fields, error text and trace detail. */
export interface LaneStepOutcome {
  status: string;
  fields: PyObject;
  error?: string;
  lane: PyObject;
}

/** Who the runtime signs lane requests as. The node's trusted keys and policy decide the rest. */
export interface PlaneAuthority {
  readonly privateKey: KeyObject | string;
  /** The key id the node knows the public key by (`authority.trusted_keys[].id`). */
  readonly keyId: string;
  readonly subject: string;
  /** The node's audience (`authority.audience`). */
  readonly audience: string;
  /** Lifetime of each signed ref (default LANE_AUTHORITY_TTL_MS). */
  readonly ttlMs?: number;
}

export interface PlaneRunBinding {
  /** A registered node (completeRegistration done, targets connected). */
  readonly node: PlaneNode;
  readonly authority: PlaneAuthority;
  /** Times of the signed refs: the node's clock (a test pins it). */
  readonly clock: Clock;
  /** The node's store evidence sink, if any: its digests go into the trace (and the run's store edge). */
  readonly storeSink?: StoreEvidenceSink | null;
}

export interface RunCairnPlaneOptions extends RunCairnOptions {
  readonly plane: PlaneRunBinding;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function evaluate(t: LaneTemplate, inputs: PyObject): PyValue {
  if ("input" in t) return t.input.name === null ? inputs : follow(inputs.get(t.input.name), t.input.segments);
  if ("const" in t) return constBindingValue(t);
  if ("object" in t) return new Map(Object.entries(t.object).map(([k, x]) => [k, evaluate(x, inputs)]));
  if ("array" in t) return t.array.map((x) => evaluate(x, inputs));
  return JSON.stringify(toPlain(evaluate(t.json, inputs)));
}

/** The lane request payload of a step (a JSON object), from its binding and resolved inputs. */
export function lanePayload(lane: SnapshotLaneBinding, inputs: PyObject, where: string): Record<string, JsonValue> {
  const v = toPlain(evaluate(lane.payload, inputs));
  if (!isObject(v)) throw new CairnError(ErrorCode.INVALID_INPUT, `${where}: the lane payload must be a JSON object, the binding made ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}`, { reason: "lane_payload" });
  return v as Record<string, JsonValue>;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** Maps a succeeded ExecutionResult's output to the step outcome and fields (see the module comment). */
function fromOutput(step: SnapshotStep, lane: SnapshotLaneBinding, output: unknown): { status: string; fields: PyObject; error?: string } {
  const broken = (error: string) => ({ status: "BACKEND_ERROR", fields: new Map() as PyObject, error });
  let doc: unknown = output;
  if (lane.resultJson !== null) {
    const text = isObject(output) ? output[lane.resultJson] : undefined;
    if (typeof text !== "string") return broken(`lane ${lane.laneId} succeeded but its output has no text member ${lane.resultJson}`);
    try {
      // One leading BOM is not part of the JSON text (RFC 8259 §8.1 lets a parser ignore it); the
      // lane's raw output keeps it (the bytes received).
      doc = JSON.parse(withoutBom(text));
    } catch (err) {
      return broken(`lane ${lane.laneId} succeeded but its output member ${lane.resultJson} is not JSON (${(err as Error).message}): ${show(text)}`);
    }
  }
  if (!isObject(doc)) return broken(`lane ${lane.laneId} succeeded but the step result is not a JSON object: ${show(doc)}`);
  const { outcome, ...rest } = doc;
  // A node's result never holds its outcome member (docs/workflow-cairn.md §1), as for user CTs.
  if (Object.prototype.hasOwnProperty.call(rest, RESERVED_RESULT_FIELD)) {
    return broken(`lane ${lane.laneId} broke the step's contract: its result holds ${JSON.stringify(RESERVED_RESULT_FIELD)}, a member no result may carry (the step's outcome is its "outcome" member, SUCCESS without one)`);
  }
  const status = outcome === undefined ? "SUCCESS" : outcome;
  if (typeof status !== "string" || !(step.outcomes as string[]).includes(status)) {
    return broken(`lane ${lane.laneId} answered outcome ${show(outcome)}, which step ${step.id} does not declare (its outcomes: ${step.outcomes.join(", ")})`);
  }
  if (status === "SUCCESS") {
    const fields = fromPlain(rest) as PyObject;
    // The declared output fields are a contract later bindings rely on (run.ts missingOutputs).
    const missing = missingOutputs(step, fields);
    if (missing !== null) return { status: step.outcomes.includes("VIOLATION") ? "VIOLATION" : "BACKEND_ERROR", fields: new Map(), error: `lane ${lane.laneId} broke the step's contract: ${missing}` };
    return { status, fields };
  }
  // Any other outcome carries no field, as a local CT's or store's non-SUCCESS carries none of its
  // declared fields (docs/workflow-cairn.md §1; the compiler binds none): the document's members
  // stay in the plane's evidence, its `message` becomes the error text. Before engine version 5
  // they reached the node's result and surface.
  const m = rest.message;
  return { status, fields: new Map(), error: typeof m === "string" ? m : `lane ${lane.laneId} answered ${status}` };
}

/** Stored evidence digests of `ids`, in order, from a store sink. */
function storedDigests(sink: StoreEvidenceSink | null | undefined, ids: readonly string[]): Digest[] {
  if (sink === null || sink === undefined) return [];
  const out: Digest[] = [];
  for (const id of ids) {
    const rec = sink.recorded.find((r) => r.evidence_id === id);
    if (rec !== undefined) out.push(rec.evidence);
  }
  return out;
}

function laneDetail(lane: SnapshotLaneBinding, r: ExecutionResult, digests: readonly Digest[], withDigests: boolean): PyObject {
  const d: Record<string, unknown> = {
    lane_id: lane.laneId,
    kind: lane.kind,
    operation: lane.operation,
    status: r.status,
    execution_ref: r.execution_ref,
    evidence: [...r.evidence],
    result_digest: fingerprint(r)?.sha256 ?? null,
    failure_class: r.failure?.class ?? null,
  };
  if (withDigests) d.evidence_digests = [...digests];
  return fromPlain(d) as PyObject;
}

/** Executes one lane-bound step on the node. Throws E_PLANE_REJECTED for an admission rejection. */
export async function executeLaneStep(call: LaneStepCall, plane: PlaneRunBinding, evidence: Digest[]): Promise<LaneStepOutcome> {
  const { lane, step } = call;
  const where = `${call.cc} step ${step.id}`;
  const payload = lanePayload(lane, call.inputs, where);
  const request: Record<string, unknown> = {
    contract_version: CONTRACT_VERSION,
    lane_id: lane.laneId,
    operation: lane.operation,
    idempotency_key: call.idempotencyKey.split("|").join(":"),
    payload,
    acceptable_attestation: { contract_version: CONTRACT_VERSION, classes: lane.acceptableAttestation.classes, priority_order: lane.acceptableAttestation.priorityOrder },
    metadata: { cairn_step: `${call.cc}/${step.id}` },
  };
  const now = plane.clock.now();
  const a = plane.authority;
  // The ref binds the whole request (payload hash, lane, operation and the request hash).
  const authority_ref = signAuthorityRef({
    privateKey: a.privateKey,
    keyId: a.keyId,
    subject: a.subject,
    audience: a.audience,
    request,
    issuedAt: now,
    expiresAt: now + (a.ttlMs ?? LANE_AUTHORITY_TTL_MS),
  });
  const result = await plane.node.execute({ ...request, authority_ref });
  const digests = storedDigests(plane.storeSink, result.evidence);
  evidence.push(...digests);
  if (result.status === "rejected") {
    const rej = result.rejection;
    const sub = rej !== undefined && typeof rej.details.reason === "string" ? ` (${rej.details.reason})` : "";
    throw new CairnError(
      ErrorCode.PLANE_REJECTED,
      // The reason's fixed message, as the evidence writes it: the rejection's own message may
      // quote what was sent (a subject, an audience) or a time, and this text enters the trace.
      `plane admission rejected lane-bound step ${step.id} (lane ${lane.laneId}, operation ${lane.operation}): ${rej?.reason ?? "rejected"}${sub}: ${rejectionEvidenceMessage(rej?.reason ?? "")}; evidence ${result.evidence.join(", ") || "none"}`,
      {
        reason: PLANE_REJECTED_REASON, rejection: rej?.reason ?? null, evidence: [...result.evidence], evidence_digests: digests,
        laneObservation: laneDetail(lane, result, digests, plane.storeSink !== null && plane.storeSink !== undefined),
      },
    );
  }
  const detail = laneDetail(lane, result, digests, plane.storeSink !== null && plane.storeSink !== undefined);
  if (result.status === "failed") {
    const facts = redactOutput(result.output).facts as Record<string, JsonValue>;
    const f = result.failure;
    const why = f === undefined ? "a raw fact without a failure class" : `${f.class}: ${f.message}`;
    return { status: "BACKEND_ERROR", fields: fromPlain(facts) as PyObject, error: `lane ${lane.laneId} ${lane.operation} failed (${why}); facts ${show(facts)}`, lane: detail };
  }
  return { ...fromOutput(step, lane, result.output), lane: detail };
}

/** `details.reason` of a recorded run whose store evidence goes to another store. */
export const EVIDENCE_STORE_MISMATCH_REASON = "evidence_store_mismatch";

/**
 * A recorded run (`opts.store`) with a store evidence sink: the sink must record into the run's
 * store, or the trace → evidence edges (LANE_EVIDENCE_EDGE_TYPE) could not be written. E_USAGE
 * naming both stores otherwise. The sink's store is opened here if it was given as a function
 * (the first lane step would open it anyway). One store is one Store handle: a process holds one
 * writer handle per store (openStore refuses a second on the same real path, E_STORE_LOCKED).
 */
function checkEvidenceStore(opts: RunCairnPlaneOptions): void {
  const sink = opts.plane.storeSink;
  const store = opts.store;
  if (store === undefined || sink === undefined || sink === null) return;
  const evidence = sink.openedStore();
  if (evidence === store) return;
  throw evidenceStoreMismatch(store.root, evidence.root);
}

/** The E_USAGE of a recorded run whose lane evidence goes to another store (also checked by the CLI before it opens either). */
export function evidenceStoreMismatch(storeRoot: string, evidenceRoot: string): CairnError {
  return new CairnError(
    ErrorCode.USAGE,
    `the run is recorded in store ${storeRoot} but the plane node records its store evidence in store ${evidenceRoot}: ` +
      `the run's trace cannot be linked to its lane evidence (${LANE_EVIDENCE_EDGE_TYPE} edges need both in one store); ` +
      `record the evidence in the run's store (node config: evidence.store: true) or do not record the run`,
    { field: "plane.storeSink", reason: EVIDENCE_STORE_MISMATCH_REASON, store: storeRoot, evidence_store: evidenceRoot },
  );
}

/**
 * One run of a workflow whose lane-bound steps execute on `opts.plane.node` (see the module
 * comment). Steps without a lane run exactly as in `runCairnWorkflow`.
 */
export async function runCairnWorkflowWithPlane(opts: RunCairnPlaneOptions): Promise<CairnRunResult> {
  // Every option before the lock is taken (the run's own checks would come after it).
  checkRunCairnOptions(opts, "runCairnWorkflowWithPlane", PLANE_RUN_OPTION_KEYS);
  checkPlaneBinding(opts.plane);
  // The data root's lock, taken without blocking the event loop (the plane's lanes, timers and
  // any server in this process keep running while another process holds it).
  const waitMs = opts.dataRootLockWaitMs === undefined ? DEFAULT_DATA_ROOT_LOCK_WAIT_MS : checkDataRootLockWait(opts.dataRootLockWaitMs, "dataRootLockWaitMs");
  const own = opts.dataRootLock === undefined ? await acquireDataRootLockAsync(opts.dataRoot, { waitMs }) : undefined;
  try {
    // After the data root's lock (the order locks are taken in: data root, then stores).
    checkEvidenceStore(opts);
    return await drivePlaneRun({ ...opts, ...(own === undefined ? {} : { dataRootLock: own }) });
  } finally {
    own?.release();
  }
}

/** The keys of `RunCairnPlaneOptions`: a Cairn run's, but the session the driver sets, and `plane`. */
const PLANE_RUN_OPTION_KEYS: readonly string[] = Object.freeze([...RUN_CAIRN_OPTION_KEYS.filter((k) => k !== "planeSession"), "plane"]);

/** The keys of `RunCairnPlaneOptions.plane` and of its `authority` (any other is refused, with a did-you-mean). */
export const PLANE_BINDING_KEYS: readonly string[] = Object.freeze(["node", "authority", "clock", "storeSink"]);
export const PLANE_AUTHORITY_KEYS: readonly string[] = Object.freeze(["privateKey", "keyId", "subject", "audience", "ttlMs"]);

function bindingError(option: string, message: string, v: unknown): CairnError {
  return new CairnError(ErrorCode.USAGE, `runCairnWorkflowWithPlane: ${option} must be ${message}, got ${describeArgument(v)}`, { field: option });
}

/**
 * The plane binding, checked before the lock is taken or anything runs or is traced: E_USAGE
 * naming the option (`plane.authority.ttlMs`) for a missing member, a wrong type or an unknown key.
 */
function checkPlaneBinding(plane: unknown): asserts plane is PlaneRunBinding {
  if (!isOptionsObject(plane)) throw bindingError("plane", "an object {node, authority, clock, storeSink?}", plane);
  refuseUnknownKeys(plane, PLANE_BINDING_KEYS, "plane option", "plane options");
  if (!(plane.node instanceof PlaneNode)) throw bindingError("plane.node", "a PlaneNode", plane.node);
  checkClockOption(plane.clock, "runCairnWorkflowWithPlane", "plane.clock");
  if (plane.storeSink !== undefined && plane.storeSink !== null && !(plane.storeSink instanceof StoreEvidenceSink)) {
    throw bindingError("plane.storeSink", "a StoreEvidenceSink or null", plane.storeSink);
  }
  const a = plane.authority;
  if (!isOptionsObject(a)) throw bindingError("plane.authority", "an object {privateKey, keyId, subject, audience, ttlMs?}", a);
  refuseUnknownKeys(a, PLANE_AUTHORITY_KEYS, "plane.authority option", "plane.authority options");
  if (typeof a.privateKey !== "string" && !(a.privateKey instanceof KeyObject)) throw bindingError("plane.authority.privateKey", "an Ed25519 private key (KeyObject or PEM text)", a.privateKey);
  for (const f of ["keyId", "subject", "audience"] as const) {
    if (typeof a[f] !== "string" || a[f] === "") throw bindingError(`plane.authority.${f}`, "a non-empty string", a[f]);
  }
  if (a.ttlMs !== undefined && (typeof a.ttlMs !== "number" || !Number.isSafeInteger(a.ttlMs) || a.ttlMs <= 0)) {
    throw bindingError("plane.authority.ttlMs", "a positive whole number of milliseconds", a.ttlMs);
  }
}

async function drivePlaneRun(opts: RunCairnPlaneOptions): Promise<CairnRunResult> {
  const { plane, ...rest } = opts;
  const run = runCairnCore({ ...rest, planeSession: `${plane.node.nodeId}@${plane.clock.now()}:${plane.authority.subject}` });
  const evidence: Digest[] = [];
  let next = run.next();
  while (next.done !== true) {
    let outcome: LaneStepOutcome;
    try {
      outcome = await executeLaneStep(next.value, plane, evidence);
    } catch (err) {
      next = run.throw(err);
      continue;
    }
    next = run.next(outcome);
  }
  const result = next.value;
  const store = opts.store;
  if (store !== undefined && result.recorded !== null) {
    const linked = [...new Set(evidence)].filter((d) => store.has(d));
    if (linked.length > 0) store.addEdge({ from: [result.recorded.trace], to: linked, type: LANE_EVIDENCE_EDGE_TYPE, role: "trace" });
  }
  return result;
}
