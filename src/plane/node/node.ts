/**
 * The execution-plane node: registration, target routing, ordered admission, single-target
 * dispatch, cancellation and evidence.
 *
 * REGISTRATION. Lanes (by lane id), target verifiers (by verifier id), exactly one authority
 * verifier, and evidence sinks are registered, then `completeRegistration()` freezes the set
 * (later registration throws E_USAGE). Governed traffic is rejected with
 * `registration_incomplete` until then. Targets may connect at any time.
 *
 * TARGETS. `connectTarget(attestation, client)` hands the (untrusted) attestation to the first
 * registered verifier (in registration order) whose `handles()` is true. Only a descriptor that
 * verifier mints enters routing, and only if it is a valid TargetDescriptor, its `verifier_id` is
 * the verifier's own, every class
 * it attests is among the verifier's `capability_classes`, and it is not expired. The
 * attestation's claimed classes are never read. Failures: `target_attestation_unverifiable`
 * (no verifier, verifier refusal, a throwing or malformed verdict — details.reason
 * `verifier_error` —, or a descriptor breaking those rules) and `target_descriptor_expired`.
 * Reconnecting a target id replaces its descriptor.
 *
 * ADMISSION ORDER (the first failing check wins; every rejection emits `admission.rejected`):
 *   1. `invalid_request`            the input is not a JSON object
 *   2. `contract_version_mismatch`  `contract_version` is not 1 (missing counts as a mismatch)
 *   3. `invalid_request`            the AdmissionRequest schema fails (details name the path),
 *                                   or request_id does not match SAFE_ID_RE (`$.request_id`),
 *                                   or a string or member name anywhere in the request holds a
 *                                   lone surrogate (details.reason `lone_surrogate`, the path);
 *                                   nested acceptable_attestation / sandbox_profile / authority_ref
 *                                   without their own contract_version inherit the request's.
 *      An unvalidated request_id is echoed (rejection, evidence) only if it matches SAFE_ID_RE;
 *      an unregistered lane id is never echoed (fingerprint in details, null stamp).
 *   4. direct lower-lane-owner provenance: `lane_not_registered` if the lane is unknown,
 *      `direct_provenance_not_allowed` unless the lane was registered with `allowDirect`;
 *      otherwise accepted WITHOUT target or authority (decision reason
 *      "direct lower-lane-owner execution", provenance_kind marked in every evidence record)
 *   5. `registration_incomplete`
 *   6. `authority_verifier_missing`
 *   7. `lane_not_registered`
 *   8. `authority_ref_missing`
 *   9. authority verification (the verifier's own order; see authority/ed25519.ts):
 *      `authority_rejected` (details.reason: signature_missing, unknown_key, bad_signature,
 *      audience_mismatch, not_yet_valid, payload_hash_mismatch, lane_mismatch,
 *      operation_mismatch, request_hash_missing, request_hash_mismatch, verifier_error),
 *      `authority_expired` (details.reason expired), `policy_denied` (details.reason
 *      policy_denied). details.reason is ALWAYS set; a throwing verifier or a malformed verdict
 *      is `authority_rejected` / verifier_error.
 *  10. target selection: `no_satisfying_attested_target`, or `target_descriptor_expired` when
 *      the only targets that would satisfy the request have expired descriptors, or
 *      `placement_unavailable` when only the request's non-local `placement.kind` stood in the
 *      way (every target attesting an acceptable class runs local).
 * A request without `request_id` gets one minted (prefix `adm`).
 *
 * TARGET SELECTION (deterministic, no fallback). The ranked classes are the request's
 * `priority_order`, then its remaining `classes`. For the first ranked class that any eligible
 * target attests, the eligible target with the smallest `target_id` (code-unit order) is chosen.
 * Eligible = same lane, attests the class, descriptor not expired, and (for a descriptor whose
 * `metadata.placement` is "local") the request does not ask for a non-local placement, and (for
 * an endpoint-bound descriptor, one whose `metadata.endpoint_origin` is set, e.g.
 * `declared-endpoint-weak`) the lane's `requestOrigin(payload)` is exactly that origin — a lane
 * that cannot say is never eligible (fail closed). When only the origin stood in the way, the
 * rejection is `no_satisfying_attested_target` with details.reason `endpoint_not_attested` and
 * the request's `origin` (null if none); when only the placement did, it is
 * `placement_unavailable` with details `{lane_id, classes, requested, placement: "local"}` (the
 * lane's own failure class for a placement mismatch, here before any I/O). Precedence: an
 * expired descriptor, then the origin, then the placement. This fixes the reference's map-order choice and its
 * priority-only-within-one-target quirk.
 *
 * EXECUTION. One execute call dispatches to exactly one target, at most once. There is no retry
 * and no fallback: a failure is returned as the result; trying elsewhere is the caller's decision.
 * Evidence sequence: admission.accepted, target.selected, execution.started, [execution.cancelled],
 * execution.completed — or a single admission.rejected. `execution.cancelled` is written once per
 * execution, however often `cancel` is called (or `execute`'s `signal` aborted). A rejection returns an ExecutionResult
 * with status `rejected` and the rejection. A lane that throws instead of returning an outcome
 * yields status `failed` with failure class `semantic_runtime_failed` (`cancellation` if the
 * execution was being cancelled); one that resolves an invalid outcome (undefined, a succeeded
 * outcome carrying a failure, …) yields `semantic_runtime_failed` with invalid_outcome — and
 * `execution.completed` is emitted in every case.
 *
 * DISPATCH GATE. Admission's evidence may wait (a store sink waits for the store's writer lock),
 * so right before dispatch — after `execution.started`, once the execution is cancellable —
 * the node checks again, with the clock read anew; the first that holds wins, and then the lane
 * is NEVER called and the execution completes `failed` with `execution.completed` payload
 * `dispatched: false` (failure details `dispatched: false` too):
 *   1. cancellation: `execute`'s `signal` aborted (at any time before; an `execute` given a signal
 *      first lets the event loop poll once, so a signal handler held back by a blocked thread runs)
 *      or `cancel(ref)` called → `execution.cancelled` as by `cancel`, class `cancellation`
 *      ("execution cancelled before dispatch: nothing was dispatched");
 *   2. governed requests: the authority ref's `expires_at` has passed (`now >= expires_at`) →
 *      `approval_expired` (details reason `authority_ref_expired`, expires_at, now);
 *   3. governed requests: the selected target descriptor's `expires_at` has passed →
 *      `lease_expired` (details reason `target_descriptor_expired`, target_id, expires_at, now).
 * Sequences: admission.accepted, target.selected (governed requests only), execution.started,
 * execution.cancelled, execution.completed (1); the same without execution.cancelled (2, 3).
 *
 * SINK FAILURE. Evidence is awaited on every sink before the next step; a sink that throws makes
 * the call throw, so nothing is dispatched unless `execution.started` was recorded everywhere.
 * Each record is preceded by every sink's `open()` (EvidenceSink), so a sink that cannot open
 * (a locked store) fails the call before any sink has that record.
 */
import type { Clock } from "../../core/clock.js";
import { CairnError, UsageError } from "../../core/errors.js";
import { CONTRACT_VERSION, CONTRACT_VERSION_RANGE, jsonPath, loneSurrogatePath, type JsonValue } from "../contracts/base.js";
import { LONE_SURROGATE_REASON } from "../../core/lone-surrogate.js";
import {
  makeAdmissionDecision,
  makeAdmissionRejection,
  makeAdmissionRequest,
  type AdmissionDecision,
  type AdmissionRejection,
  type AdmissionRequest,
} from "../contracts/admission.js";
import { makeEvidence, makeExecutionRequest, makeExecutionResult, type Evidence, type EvidenceType, type ExecutionEvent, type ExecutionRequest, type ExecutionResult } from "../contracts/execution.js";
import { checkClockOption, checkIdsOption, type IdSource } from "../contracts/ids.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { makeNodeDescriptor, makeTargetAttestation, makeTargetDescriptor, type NodeDescriptor, type TargetDescriptor } from "../contracts/target.js";
import type { TargetVerifier } from "../attestation/verifier.js";
import type { AuthorityVerifier } from "../authority/verifier.js";
import { fingerprint, isSafeId, redactDetails, redactInvalid, redactOutput, redactPath, redactRequest, SAFE_ID_RE } from "../evidence/redact.js";
import { inheritNestedVersions } from "../authority/request-hash.js";
import type { EvidenceSink } from "../evidence/sinks.js";
import type { Lane, LaneContext, LaneOutcome } from "../lanes/lane.js";

export const DIRECT_REASON = "direct lower-lane-owner execution";
export const GOVERNED_REASON = "admitted";
/** `details.reason` of an `invalid_request` holding a string with a lone surrogate (core/lone-surrogate.ts). */
export { LONE_SURROGATE_REASON };
const LONE_SURROGATE_MESSAGE = "a string or member name with a lone surrogate, which canonical JSON (RFC 8785) cannot hold";

/** How a node reaches a target. The default runs the registered lane in this process. */
export interface TargetClient {
  execute(request: ExecutionRequest, lane: Lane, ctx: LaneContext): Promise<LaneOutcome>;
}
export const localTargetClient: TargetClient = Object.freeze({ execute: (request: ExecutionRequest, lane: Lane, ctx: LaneContext) => lane.execute(request, ctx) });

export interface PlaneNodeOptions {
  readonly nodeId: string;
  readonly clock: Clock;
  readonly ids: IdSource;
  readonly metadata?: Record<string, JsonValue>;
}

export interface RegisterLaneOptions {
  /** Admit direct lower-lane-owner requests on this lane (default false: fail closed). */
  readonly allowDirect?: boolean;
}

/** The target an admitted request was routed to (`AdmitResult.target`). */
export interface RoutedTarget {
  readonly descriptor: TargetDescriptor;
  readonly client: TargetClient;
}

export type ConnectResult = { readonly ok: true; readonly descriptor: TargetDescriptor } | { readonly ok: false; readonly rejection: AdmissionRejection };

export type AdmitResult =
  | { readonly ok: true; readonly decision: AdmissionDecision; readonly request: AdmissionRequest; readonly target: RoutedTarget | null; readonly evidence: readonly Evidence[] }
  | { readonly ok: false; readonly rejection: AdmissionRejection; readonly request: AdmissionRequest | null; readonly evidence: readonly Evidence[] };

export type CancelResult =
  | { readonly ok: true; readonly execution_ref: string; readonly evidence: Evidence; readonly already_cancelled?: true }
  | { readonly ok: false; readonly rejection: AdmissionRejection };

interface Stamps {
  execution_ref: string | null;
  request_id: string | null;
  lane_id: string | null;
  target_id: string | null;
  target_verifier_id: string | null;
  attestation_class: string | null;
  provenance_kind: "node_admitted" | "direct_lower_lane_owner";
}

type CheckResult =
  | { ok: true; request: AdmissionRequest; target: RoutedTarget | null; attestationClass: string | null }
  | { ok: false; rejection: AdmissionRejection; request: AdmissionRequest | null; authorityVerified?: boolean };

interface Running {
  readonly controller: AbortController;
  readonly stamps: Stamps;
  /** Ids of evidence emitted for this execution by cancel(), listed in its result. */
  readonly cancelEvidence: string[];
  /** Pending `execution.cancelled` emissions: `execution.completed` waits for them (ordering). */
  readonly cancelling: Promise<unknown>[];
  /** The first cancel's `execution.cancelled` record (an execution is cancelled once). */
  cancelled: Promise<Evidence> | null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function byId(a: RoutedTarget, b: RoutedTarget): number {
  const x = a.descriptor.target_id;
  const y = b.descriptor.target_id;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The fixed message `admission.rejected` evidence carries for each reason (never the rejection's own). */
export const REJECTION_EVIDENCE_MESSAGES: Readonly<Record<string, string>> = Object.freeze({
  invalid_request: "invalid AdmissionRequest",
  contract_version_mismatch: "unsupported contract version",
  registration_incomplete: "node registration is not complete",
  authority_verifier_missing: "no authority verifier is registered",
  lane_not_registered: "the requested lane is not registered",
  authority_ref_missing: "the request carries no authority ref",
  authority_rejected: "the authority ref was rejected",
  authority_expired: "the authority ref is expired or not yet valid",
  policy_denied: "the policy denies this request",
  direct_provenance_not_allowed: "direct provenance is not allowed",
  target_descriptor_expired: "the target descriptor has expired",
  no_satisfying_attested_target: "no attested target satisfies the request",
  placement_unavailable: "no attested target runs on the requested placement",
  target_attestation_unverifiable: "the target attestation cannot be verified",
  unknown_execution_ref: "no running execution has this ref",
});

/** The evidence message for a rejection reason (a reason outside the table gets a generic one). */
export function rejectionEvidenceMessage(reason: string): string {
  return Object.prototype.hasOwnProperty.call(REJECTION_EVIDENCE_MESSAGES, reason) ? (REJECTION_EVIDENCE_MESSAGES[reason] as string) : "admission rejected";
}

/** See authority/request-hash.ts: the signer normalizes a request exactly this way. */
const inheritVersion = inheritNestedVersions;

const AUTHORITY_REASONS: ReadonlySet<string> = new Set(["authority_rejected", "authority_expired", "policy_denied"]);
const CAUSE_RE = /^[a-z][a-z0-9_]{0,63}$/;

/** Whether `v` is a JSON object whose values are all JSON (what rejection details must be). */
function isJsonObject(v: unknown): v is Record<string, JsonValue> {
  return isPlainObject(v) && fingerprint(v) !== null; // canonical encoding succeeds only for JSON
}

/** Whether a request asks for a placement other than local (`placement.kind`). */
function wantsRemotePlacement(req: AdmissionRequest): boolean {
  const kind = req.placement?.kind;
  return kind !== undefined && kind !== null && kind !== "local";
}

/**
 * Resolves once the event loop has polled for I/O (and so run the handlers of signals received
 * meanwhile, e.g. during a wait that blocked the thread): two `setImmediate` turns always have a
 * poll phase between them; one may not (it runs in the current turn's check phase).
 */
async function pollOnce(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Options of one `PlaneNode.execute` call. */
export interface ExecuteOptions {
  /**
   * Aborting it cancels the execution: before dispatch (an abort during admission or its
   * evidence, e.g. a store lock wait) nothing is dispatched and the execution ends failed /
   * `cancellation`; once dispatched, as `cancel(ref)`.
   */
  readonly signal?: AbortSignal;
}

/** The keys of `execute`'s options (any other is refused, E_USAGE with a did-you-mean). */
export const EXECUTE_OPTION_KEYS: readonly string[] = Object.freeze(["signal"]);

function checkExecuteOptions(opts: unknown): asserts opts is ExecuteOptions {
  if (!isOptionsObject(opts)) throw new UsageError(`PlaneNode.execute: options must be an object {signal?}, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, EXECUTE_OPTION_KEYS, "PlaneNode.execute option", "PlaneNode.execute options");
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw new UsageError(`PlaneNode.execute: signal must be an AbortSignal, got ${describeArgument(opts.signal)}`, { field: "signal" });
  }
}

/** The keys of PlaneNode's options (any other is refused, E_USAGE with a did-you-mean). */
export const PLANE_NODE_OPTION_KEYS: readonly string[] = Object.freeze(["nodeId", "clock", "ids", "metadata"]);

/**
 * PlaneNode's options, checked at construction (never a TypeError at the first request): an
 * object with only PLANE_NODE_OPTION_KEYS, a non-empty `nodeId`, a Clock, an IdSource, and
 * `metadata` (if given) a JSON object — E_USAGE naming the option otherwise.
 */
function checkPlaneNodeOptions(opts: unknown): asserts opts is PlaneNodeOptions {
  if (!isOptionsObject(opts)) throw new UsageError(`PlaneNode: options must be an object {nodeId, clock, ids, metadata?}, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, PLANE_NODE_OPTION_KEYS, "PlaneNode option", "PlaneNode options");
  // the node id's message as before this check was added
  if (typeof opts.nodeId !== "string" || opts.nodeId.length === 0) throw new UsageError("node id must be a non-empty string", { field: "nodeId" });
  checkClockOption(opts.clock, "PlaneNode");
  checkIdsOption(opts.ids, "PlaneNode");
  if (opts.metadata !== undefined && !isJsonObject(opts.metadata)) throw new UsageError("PlaneNode: metadata must be a JSON object (JSON values only)", { field: "metadata" });
}

export class PlaneNode {
  readonly nodeId: string;
  private readonly clock: Clock;
  private readonly ids: IdSource;
  private readonly metadata: Record<string, JsonValue>;
  private readonly lanes = new Map<string, { lane: Lane; allowDirect: boolean }>();
  private readonly verifiers = new Map<string, TargetVerifier>();
  private readonly sinks = new Map<string, EvidenceSink>();
  private authority: AuthorityVerifier | null = null;
  private complete = false;
  private readonly targets = new Map<string, RoutedTarget>();
  private readonly running = new Map<string, Running>();

  constructor(opts: PlaneNodeOptions) {
    checkPlaneNodeOptions(opts);
    this.nodeId = opts.nodeId;
    this.clock = opts.clock;
    this.ids = opts.ids;
    this.metadata = { ...(opts.metadata ?? {}) };
  }

  // ---------------------------------------------------------------- registration

  private requireOpen(what: string): void {
    if (this.complete) throw new UsageError(`cannot register ${what}: registration is complete`);
  }

  registerLane(lane: Lane, opts: RegisterLaneOptions = {}): this {
    this.requireOpen(`lane ${lane.id}`);
    if (!isSafeId(lane.id)) throw new UsageError(`lane id must match ${SAFE_ID_RE.source}`);
    if (this.lanes.has(lane.id)) throw new UsageError(`lane ${JSON.stringify(lane.id)} is already registered`, { lane_id: lane.id });
    this.lanes.set(lane.id, { lane, allowDirect: opts.allowDirect === true });
    return this;
  }

  registerTargetVerifier(v: TargetVerifier): this {
    this.requireOpen(`target verifier ${v.verifier_id}`);
    if (this.verifiers.has(v.verifier_id)) throw new UsageError(`target verifier ${JSON.stringify(v.verifier_id)} is already registered`);
    this.verifiers.set(v.verifier_id, v);
    return this;
  }

  /** Exactly one authority verifier: a second registration throws. */
  registerAuthorityVerifier(v: AuthorityVerifier): this {
    this.requireOpen(`authority verifier ${v.verifier_id}`);
    if (this.authority !== null) throw new UsageError(`an authority verifier (${this.authority.verifier_id}) is already registered`);
    this.authority = v;
    return this;
  }

  registerEvidenceSink(s: EvidenceSink): this {
    this.requireOpen(`evidence sink ${s.sink_id}`);
    if (this.sinks.has(s.sink_id)) throw new UsageError(`evidence sink ${JSON.stringify(s.sink_id)} is already registered`);
    this.sinks.set(s.sink_id, s);
    return this;
  }

  /** Passes the gate: governed traffic is admitted from now on, and registration is frozen. */
  completeRegistration(): this {
    this.complete = true;
    return this;
  }

  get registrationComplete(): boolean {
    return this.complete;
  }

  // ---------------------------------------------------------------- targets

  private reject(reason: string, message: string, details: Record<string, JsonValue> = {}, requestId: string | null = null): AdmissionRejection {
    return makeAdmissionRejection({ contract_version: CONTRACT_VERSION, request_id: requestId, reason, message, details });
  }

  /** Verifies an attestation; on success the minted descriptor enters routing with `client`. */
  connectTarget(attestation: unknown, client: TargetClient = localTargetClient): ConnectResult {
    let att;
    try {
      att = makeTargetAttestation(attestation);
    } catch (err) {
      const path = err instanceof CairnError ? String(err.details.path ?? "$") : "$";
      return { ok: false, rejection: this.reject("target_attestation_unverifiable", `invalid TargetAttestation at ${path}`, { reason: "invalid_attestation", path }) };
    }
    let verifier: TargetVerifier | undefined;
    try {
      verifier = [...this.verifiers.values()].find((v) => v.handles(att) === true);
    } catch (err) {
      return {
        ok: false,
        rejection: this.reject("target_attestation_unverifiable", "a target verifier failed to inspect the attestation", {
          reason: "verifier_error",
          error: err instanceof Error ? err.message : String(err),
        }),
      };
    }
    if (verifier === undefined) {
      return {
        ok: false,
        rejection: this.reject("target_attestation_unverifiable", `no registered verifier handles attestation type ${att.attestation_type}`, {
          reason: "no_verifier",
          attestation_type: att.attestation_type,
        }),
      };
    }
    const now = this.clock.now();
    let verdict: unknown;
    try {
      verdict = verifier.verify(att, { now });
    } catch (err) {
      return {
        ok: false,
        rejection: this.reject("target_attestation_unverifiable", `verifier ${verifier.verifier_id} failed`, {
          reason: "verifier_error",
          verifier_id: verifier.verifier_id,
          error: err instanceof Error ? err.message : String(err),
        }),
      };
    }
    // A verifier's verdict is validated like any input: a malformed one is a verifier error.
    const vd = verdict as { ok?: unknown; message?: unknown; details?: unknown; descriptor?: unknown } | null;
    const refused = isPlainObject(vd) && vd.ok === false && typeof vd.message === "string" && isJsonObject(vd.details);
    if (!refused && !(isPlainObject(vd) && vd.ok === true)) {
      return {
        ok: false,
        rejection: this.reject("target_attestation_unverifiable", `verifier ${verifier.verifier_id} returned an invalid verdict`, {
          reason: "verifier_error",
          problem: "invalid_verdict",
          verifier_id: verifier.verifier_id,
        }),
      };
    }
    if (refused) {
      const details = vd.details as Record<string, JsonValue>;
      const cause = typeof details.reason === "string" && CAUSE_RE.test(details.reason) ? details.reason : "verifier_refused";
      return { ok: false, rejection: this.reject("target_attestation_unverifiable", vd.message as string, { ...details, reason: cause, verifier_id: verifier.verifier_id }) };
    }
    let d: TargetDescriptor;
    try {
      d = makeTargetDescriptor((vd as { descriptor?: unknown }).descriptor); // a verifier's output is validated like any input
    } catch (err) {
      const path = err instanceof CairnError ? String(err.details.path ?? "$") : "$";
      return { ok: false, rejection: this.reject("target_attestation_unverifiable", `verifier minted an invalid descriptor at ${path}`, { reason: "invalid_descriptor", path, verifier_id: verifier.verifier_id }) };
    }
    if (d.verifier_id !== verifier.verifier_id) {
      return { ok: false, rejection: this.reject("target_attestation_unverifiable", "descriptor names another verifier", { reason: "verifier_id_mismatch", verifier_id: verifier.verifier_id }) };
    }
    const foreign = d.attested_capability_classes.filter((c) => !verifier.capability_classes.includes(c));
    if (foreign.length > 0) {
      return {
        ok: false,
        rejection: this.reject("target_attestation_unverifiable", "descriptor attests classes its verifier does not declare", {
          reason: "undeclared_class",
          classes: foreign,
          verifier_id: verifier.verifier_id,
        }),
      };
    }
    if (d.expires_at !== undefined && now >= d.expires_at) {
      return { ok: false, rejection: this.reject("target_descriptor_expired", `descriptor of target ${d.target_id} has expired`, { target_id: d.target_id, expires_at: d.expires_at, now }) };
    }
    this.targets.set(d.target_id, { descriptor: d, client });
    return { ok: true, descriptor: d };
  }

  // ---------------------------------------------------------------- evidence

  private async emit(type: EvidenceType, s: Stamps, payload: JsonValue, governed: boolean, id?: string): Promise<Evidence> {
    const auth = governed ? this.authority : null;
    const e = makeEvidence({
      contract_version: CONTRACT_VERSION,
      evidence_id: id ?? this.ids.next("ev"),
      evidence_type: type,
      execution_ref: s.execution_ref,
      request_id: s.request_id,
      lane_id: s.lane_id,
      policy_bundle_hash: auth?.policy_bundle_hash ?? null,
      target_id: s.target_id,
      target_verifier_id: s.target_verifier_id,
      attestation_class: s.attestation_class,
      authority_verifier_id: auth?.verifier_id ?? null,
      provenance_kind: s.provenance_kind,
      payload,
      emitted_at: this.clock.now(),
    });
    // Every sink ready first (sinks.ts): one that cannot open fails before any sink has the record.
    // Awaited only when it returns a promise or other thenable: a synchronous open adds no turn
    // before the first emit.
    for (const sink of this.sinks.values()) {
      const ready: unknown = sink.open?.();
      if (typeof (ready as { then?: unknown } | null | undefined)?.then === "function") await ready;
    }
    for (const sink of this.sinks.values()) await sink.emit(e);
    return e;
  }

  // ---------------------------------------------------------------- admission

  /** Runs the ordered admission checks and emits the admission evidence. Never throws on bad input. */
  async admit(input: unknown): Promise<AdmitResult> {
    const checked = this.check(input);
    if (!checked.ok) {
      const { rejection, request } = checked;
      const stamps: Stamps = {
        execution_ref: null,
        request_id: isSafeId(rejection.request_id) ? rejection.request_id : null,
        // only a REGISTERED lane id is stamped: anything else is caller-supplied (maybe a secret)
        lane_id: request !== null && this.lanes.has(request.lane_id) ? request.lane_id : null,
        target_id: null,
        target_verifier_id: null,
        attestation_class: null,
        provenance_kind: request?.provenance.kind ?? "node_admitted",
      };
      const payload: JsonValue = {
        rejection: this.redactRejection(rejection),
        request:
          request === null
            ? redactInvalid(input)
            : redactRequest(request, { laneRegistered: this.lanes.has(request.lane_id), authorityVerified: checked.authorityVerified === true }),
      };
      const ev = await this.emit("admission.rejected", stamps, payload, request?.provenance.kind !== "direct_lower_lane_owner");
      return { ok: false, rejection, request, evidence: [ev] };
    }
    const { request, target, attestationClass } = checked;
    const direct = target === null;
    const executionRef = this.ids.next("exec");
    const acceptedId = this.ids.next("ev");
    const selectedId = direct ? null : this.ids.next("ev");
    const decision = makeAdmissionDecision({
      contract_version: CONTRACT_VERSION,
      request_id: request.request_id,
      status: "accepted",
      execution_ref: executionRef,
      target_id: target?.descriptor.target_id ?? null,
      lane_id: request.lane_id,
      attestation_class: attestationClass,
      reason: direct ? DIRECT_REASON : GOVERNED_REASON,
      provenance_kind: request.provenance.kind,
      evidence: selectedId === null ? [acceptedId] : [acceptedId, selectedId],
    });
    const stamps = this.stampsOf(decision, target);
    const evidence = [await this.emit("admission.accepted", stamps, { decision: decision as unknown as JsonValue, request: redactRequest(request, { authorityVerified: !direct }) }, !direct, acceptedId)];
    if (target !== null && selectedId !== null) {
      evidence.push(await this.emit("target.selected", stamps, { descriptor: target.descriptor as unknown as JsonValue }, true, selectedId));
    }
    return { ok: true, decision, request, target, evidence };
  }

  /**
   * The evidence copy of a rejection. The message is never repeated: it may quote the request
   * (a subject, audience, lane or operation) or whatever a custom verifier wrote, so evidence
   * carries the fixed message of its reason (REJECTION_EVIDENCE_MESSAGES) and the fingerprint
   * of the original; schema paths lose segments that are not contract fields; every string in
   * the details that is not a safe identifier becomes a fingerprint. The rejection returned to
   * the caller keeps the full message.
   */
  private redactRejection(r: AdmissionRejection): JsonValue {
    const message_fingerprint = fingerprint(r.message);
    if (r.reason !== "invalid_request") return { reason: r.reason, message: rejectionEvidenceMessage(r.reason), message_fingerprint, details: redactDetails(r.details) };
    const path = redactPath(String(r.details.path ?? "$"));
    return { reason: r.reason, message: `invalid AdmissionRequest at ${path}`, message_fingerprint, details: { path } };
  }

  private stampsOf(decision: AdmissionDecision, target: RoutedTarget | null): Stamps {
    return {
      execution_ref: decision.execution_ref,
      request_id: decision.request_id,
      lane_id: decision.lane_id,
      target_id: decision.target_id,
      target_verifier_id: target?.descriptor.verifier_id ?? null,
      attestation_class: decision.attestation_class,
      provenance_kind: decision.provenance_kind,
    };
  }

  private check(input: unknown): CheckResult {
    const no = (reason: string, message: string, details: Record<string, JsonValue> = {}, request: AdmissionRequest | null = null, rid: string | null = null) => ({
      ok: false as const,
      rejection: this.reject(reason, message, details, request?.request_id ?? rid),
      request,
    });
    // 1. shape
    if (!isPlainObject(input)) return no("invalid_request", "admission request must be a JSON object", { path: "$" });
    // An unvalidated request_id is echoed (rejection, evidence) only if it is a safe identifier.
    const rawId = isSafeId(input.request_id) ? input.request_id : null;
    const idNote: Record<string, JsonValue> = input.request_id === undefined || rawId !== null ? {} : { request_id_fingerprint: fingerprint(input.request_id) };
    // 2. version
    const v = input.contract_version;
    if (v !== CONTRACT_VERSION) {
      return no(
        "contract_version_mismatch",
        `unsupported contract_version (supported: ${CONTRACT_VERSION_RANGE.min}..${CONTRACT_VERSION_RANGE.max})`,
        { got: typeof v === "number" && Number.isFinite(v) ? v : typeof v, supported: { min: CONTRACT_VERSION_RANGE.min, max: CONTRACT_VERSION_RANGE.max }, ...idNote },
        null,
        rawId,
      );
    }
    // 3. schema (a missing request_id is minted)
    let req: AdmissionRequest;
    try {
      req = makeAdmissionRequest(inheritVersion(input.request_id === undefined ? { ...input, request_id: this.ids.next("adm") } : input));
    } catch (err) {
      const path = err instanceof CairnError ? String(err.details.path ?? "$") : "$";
      return no("invalid_request", `invalid AdmissionRequest at ${path}`, { path, ...idNote }, null, rawId);
    }
    if (!isSafeId(req.request_id)) {
      return no("invalid_request", `invalid AdmissionRequest at $.request_id: must match ${SAFE_ID_RE.source}`, { path: "$.request_id", ...idNote }, null, null);
    }
    // A string RFC 8785 cannot encode is refused here, in any field (payload, metadata,
    // idempotency_key, a member name…): evidence could not fingerprint it, nor a signer sign it.
    const lone = loneSurrogatePath(req);
    if (lone !== null) {
      const path = jsonPath(lone);
      return no("invalid_request", `invalid AdmissionRequest at ${path}: ${LONE_SURROGATE_MESSAGE}`, { path, reason: LONE_SURROGATE_REASON, ...idNote }, null, rawId);
    }
    // an unregistered lane id is never repeated (it may be anything, a secret included)
    const laneShown = fingerprint(req.lane_id);
    const laneText = "the requested lane";
    // 4. direct lower-lane-owner provenance
    if (req.provenance.kind === "direct_lower_lane_owner") {
      const reg = this.lanes.get(req.lane_id);
      if (reg === undefined) return no("lane_not_registered", `${laneText} is not registered`, { lane_id: laneShown }, req);
      if (!reg.allowDirect) {
        return no("direct_provenance_not_allowed", `lane ${req.lane_id} does not admit direct lower-lane-owner execution`, { lane_id: req.lane_id }, req);
      }
      return { ok: true, request: req, target: null, attestationClass: null };
    }
    // 5–7. gate, authority verifier, lane
    if (!this.complete) return no("registration_incomplete", "node registration is not complete", {}, req);
    const auth = this.authority;
    if (auth === null) return no("authority_verifier_missing", "no authority verifier is registered", {}, req);
    if (!this.lanes.has(req.lane_id)) return no("lane_not_registered", `${laneText} is not registered`, { lane_id: laneShown }, req);
    // 8–9. authority
    if (req.authority_ref === undefined) return no("authority_ref_missing", "governed requests must carry an authority_ref", {}, req);
    const now = this.clock.now();
    let verdict: unknown;
    try {
      verdict = auth.verify(req.authority_ref, { request: req, now });
    } catch {
      return no("authority_rejected", "authority verifier failed", { reason: "verifier_error", verifier_id: auth.verifier_id }, req);
    }
    // The verdict is validated like any input: anything malformed is a verifier error.
    const av = verdict as { ok?: unknown; reason?: unknown; message?: unknown; details?: unknown; claims?: unknown } | null;
    if (isPlainObject(av) && av.ok === true && isPlainObject(av.claims)) {
      // accepted: fall through to target selection
    } else if (isPlainObject(av) && av.ok === false && typeof av.reason === "string" && AUTHORITY_REASONS.has(av.reason) && typeof av.message === "string" && isJsonObject(av.details)) {
      // details.reason always carries the specific cause (the top-level reason if the verifier named none)
      const cause = typeof av.details.reason === "string" && CAUSE_RE.test(av.details.reason) ? av.details.reason : av.reason === "authority_expired" ? "expired" : av.reason;
      return no(av.reason, av.message, { ...av.details, reason: cause, verifier_id: auth.verifier_id }, req);
    } else {
      return no("authority_rejected", `authority verifier ${auth.verifier_id} returned an invalid verdict`, { reason: "verifier_error", problem: "invalid_verdict", verifier_id: auth.verifier_id }, req);
    }
    // 10. target
    const selected = this.select(req, now);
    return selected.ok ? selected : { ...selected, authorityVerified: true };
  }

  private select(req: AdmissionRequest, now: number): CheckResult {
    const acc = req.acceptable_attestation;
    const fail = (reason: string, message: string, details: Record<string, JsonValue>) => ({
      ok: false as const,
      rejection: this.reject(reason, message, details, req.request_id),
      request: req,
    });
    if (acc === undefined || acc.classes.length === 0) {
      return fail("no_satisfying_attested_target", "the request accepts no attestation class", { reason: "no_acceptable_classes", lane_id: req.lane_id });
    }
    const ranked = [...acc.priority_order, ...acc.classes.filter((c) => !acc.priority_order.includes(c))];
    const onLane = [...this.targets.values()].filter((t) => t.descriptor.lane_id === req.lane_id).sort(byId);
    const remote = wantsRemotePlacement(req);
    const origin = onLane.some((t) => t.descriptor.metadata.endpoint_origin !== undefined) ? this.requestOrigin(req) : null;
    let expired = false;
    let offEndpoint = false;
    let offPlacement = false;
    for (const cls of ranked) {
      for (const t of onLane) {
        const d = t.descriptor;
        if (!d.attested_capability_classes.includes(cls)) continue;
        if (remote && d.metadata.placement === "local") {
          offPlacement = true;
          continue;
        }
        if (d.metadata.endpoint_origin !== undefined && (typeof d.metadata.endpoint_origin !== "string" || d.metadata.endpoint_origin !== origin)) {
          offEndpoint = true;
          continue;
        }
        if (d.expires_at !== undefined && now >= d.expires_at) {
          expired = true;
          continue;
        }
        return { ok: true, request: req, target: t, attestationClass: cls };
      }
    }
    if (expired) {
      return fail("target_descriptor_expired", "every target that satisfies the request has an expired descriptor", { lane_id: req.lane_id, classes: ranked });
    }
    if (offEndpoint) {
      return fail("no_satisfying_attested_target", `no verified target on lane ${req.lane_id} is attested for the origin the request would contact`, {
        reason: "endpoint_not_attested",
        lane_id: req.lane_id,
        classes: ranked,
        origin,
      });
    }
    if (offPlacement) {
      // Only the requested placement stood in the way: every target attesting an acceptable class runs local.
      const requested = req.placement?.kind ?? null;
      return fail("placement_unavailable", `lane ${req.lane_id} runs local, not ${JSON.stringify(requested)}: no verified target on it runs on the requested placement`, {
        lane_id: req.lane_id,
        classes: ranked,
        requested,
        placement: "local",
      });
    }
    return fail("no_satisfying_attested_target", `no verified target on lane ${req.lane_id} attests an acceptable class`, { lane_id: req.lane_id, classes: ranked });
  }

  /** The origin the request's lane would contact (`Lane.requestOrigin`); null if it cannot say or throws. */
  private requestOrigin(req: AdmissionRequest): string | null {
    const lane = this.lanes.get(req.lane_id)?.lane;
    try {
      const o = lane?.requestOrigin?.(req.payload);
      return typeof o === "string" ? o : null;
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------- execution

  /**
   * Admits and, if admitted, dispatches to exactly one target. Never throws on bad input (bad
   * `opts` are E_USAGE). `opts.signal` cancels the execution when aborted: before dispatch
   * nothing is dispatched (module comment, DISPATCH GATE), after it as `cancel(ref)`.
   */
  async execute(input: unknown, opts: ExecuteOptions = {}): Promise<ExecutionResult> {
    checkExecuteOptions(opts);
    const signal = opts.signal;
    const adm = await this.admit(input);
    if (!adm.ok) {
      return makeExecutionResult({
        contract_version: CONTRACT_VERSION,
        execution_ref: null,
        status: "rejected",
        evidence: adm.evidence.map((e) => e.evidence_id),
        rejection: adm.rejection,
        error: adm.rejection,
        provenance: { kind: adm.request?.provenance.kind ?? "node_admitted", ...(adm.request === null ? {} : { admission_ref: adm.request.request_id }) },
      });
    }
    const { decision, request, target } = adm;
    const lane = (this.lanes.get(request.lane_id) as { lane: Lane }).lane;
    const client = target?.client ?? localTargetClient;
    const provenance = { kind: request.provenance.kind, admission_ref: request.request_id, ...(request.provenance.owner === undefined ? {} : { owner: request.provenance.owner }) };
    const execRequest = makeExecutionRequest({
      contract_version: CONTRACT_VERSION,
      execution_ref: decision.execution_ref,
      admission_request: request,
      target_descriptor: target?.descriptor ?? null,
      lane_id: request.lane_id,
      operation: request.operation,
      payload: request.payload,
      provenance,
    });
    const stamps = this.stampsOf(decision, target);
    const governed = target !== null;
    const evidenceIds = adm.evidence.map((e) => e.evidence_id);
    const controller = new AbortController();
    const running: Running = { controller, stamps, cancelEvidence: [], cancelling: [], cancelled: null };
    const events: ExecutionEvent[] = [];
    let outcome: LaneOutcome;
    // `execution.started` is on every sink before the execution becomes cancellable or runs.
    evidenceIds.push((await this.emit("execution.started", stamps, { operation: request.operation }, governed)).evidence_id);
    this.running.set(decision.execution_ref, running);
    const ref = decision.execution_ref;
    // The caller's signal cancels the execution (`cancel(ref)`) from now on, also before dispatch.
    const onAbort = (): void => void this.cancel(ref).catch(() => undefined);
    let dispatched = true;
    try {
      if (signal !== undefined) {
        signal.addEventListener("abort", onAbort, { once: true });
        // The event loop polls once first, so an abort pending behind a wait that blocked the
        // thread (a store's lock: a signal handler not yet run) is seen before any dispatch.
        await pollOnce();
        if (signal.aborted) onAbort();
      }
      const ctx: LaneContext = { clock: this.clock, ids: this.ids, signal: controller.signal, emit: (e) => void events.push(e) };
      const started = this.clock.now();
      // The dispatch gate: the evidence emits above may have waited (a store's writer lock), so
      // cancellation and the expiry of the authority ref and target descriptor are checked again.
      const refused = controller.signal.aborted ? this.cancelledBeforeDispatch(started) : this.expiredBeforeDispatch(request, target, started);
      try {
        if (refused !== null) {
          dispatched = false;
          outcome = refused;
        } else outcome = await client.execute(execRequest, lane, ctx);
      } catch (err) {
        const finished = this.clock.now();
        const cancelled = controller.signal.aborted;
        outcome = {
          status: "failed",
          output: null,
          failure: {
            class: cancelled ? "cancellation" : "semantic_runtime_failed",
            message: cancelled ? "execution cancelled" : `lane ${lane.id} threw: ${err instanceof Error ? err.message : String(err)}`,
            details: { thrown: true },
          },
          metrics: { started_at: started, finished_at: Math.max(finished, started), timeout_ms: 0 },
        };
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.running.delete(decision.execution_ref);
    }
    outcome = this.checkOutcome(outcome as unknown, lane.id, events);
    const failure = outcome.status === "failed" && outcome.failure !== undefined ? { class: outcome.failure.class, message: outcome.failure.message, details: outcome.failure.details ?? {} } : undefined;
    const metrics: Record<string, JsonValue> = { started_at: outcome.metrics.started_at, finished_at: outcome.metrics.finished_at, timeout_ms: outcome.metrics.timeout_ms };
    if (outcome.metrics.output_bytes !== undefined) metrics.output_bytes = outcome.metrics.output_bytes;
    if (outcome.metrics.output_truncated !== undefined) metrics.output_truncated = outcome.metrics.output_truncated;
    await Promise.all(running.cancelling);
    const completed = await this.emit(
      "execution.completed",
      stamps,
      {
        status: outcome.status,
        failure_class: failure?.class ?? null,
        failure_message: failure === undefined ? null : fingerprint(failure.message),
        metrics,
        events: events.length,
        output: redactOutput(outcome.output, this.protocolOf(lane)),
        ...(dispatched ? {} : { dispatched: false }),
      },
      governed,
    );
    evidenceIds.push(...running.cancelEvidence, completed.evidence_id);
    return makeExecutionResult({
      contract_version: CONTRACT_VERSION,
      execution_ref: decision.execution_ref,
      status: outcome.status,
      output: outcome.output,
      events,
      evidence: evidenceIds,
      ...(failure === undefined ? {} : { failure }),
      provenance,
    });
  }

  /** The outcome of an execution cancelled before its dispatch: the lane is never called. */
  private cancelledBeforeDispatch(now: number): LaneOutcome {
    return {
      status: "failed",
      output: null,
      failure: { class: "cancellation", message: "execution cancelled before dispatch: nothing was dispatched", details: { dispatched: false } },
      metrics: { started_at: now, finished_at: now, timeout_ms: 0 },
    };
  }

  /**
   * The outcome of an execution whose authority ref (governed requests) or target descriptor has
   * expired since admission (`now >= expires_at`), or null: checked right before dispatch.
   */
  private expiredBeforeDispatch(req: AdmissionRequest, target: RoutedTarget | null, now: number): LaneOutcome | null {
    const at = (ms: number) => `${new Date(ms).toISOString()} (${ms})`;
    const fail = (cls: "approval_expired" | "lease_expired", message: string, details: Record<string, JsonValue>): LaneOutcome => ({
      status: "failed",
      output: null,
      failure: { class: cls, message, details: { ...details, now, dispatched: false } },
      metrics: { started_at: now, finished_at: now, timeout_ms: 0 },
    });
    if (target === null) return null; // direct provenance: no authority ref, no target
    const ref = req.authority_ref;
    if (ref !== undefined && now >= ref.expires_at) {
      return fail("approval_expired", `the authority ref expired at ${at(ref.expires_at)}, before dispatch (now ${at(now)}): nothing was dispatched`, {
        reason: "authority_ref_expired",
        expires_at: ref.expires_at,
      });
    }
    const d = target.descriptor;
    if (d.expires_at !== undefined && now >= d.expires_at) {
      return fail("lease_expired", `the descriptor of target ${d.target_id} expired at ${at(d.expires_at)}, before dispatch (now ${at(now)}): nothing was dispatched`, {
        reason: "target_descriptor_expired",
        target_id: d.target_id,
        expires_at: d.expires_at,
      });
    }
    return null;
  }

  /** The lane's first capability protocol (selects the raw facts evidence keeps); none if it cannot say. */
  private protocolOf(lane: Lane): string {
    try {
      const p = lane.capabilities().protocols[0];
      return typeof p === "string" ? p : "";
    } catch {
      return "";
    }
  }

  /**
   * A lane outcome that would not make a valid ExecutionResult (not an object — e.g. a lane or
   * client resolving `undefined` —, bad status, non-JSON output, unknown failure class, invalid
   * events or metrics, a `succeeded` outcome carrying a `failure`, or an output, failure or
   * event that RFC 8785 cannot canonically encode — a lone surrogate) becomes `failed` /
   * `semantic_runtime_failed` with details `{invalid_outcome: true}`: a buggy lane never crashes
   * the node or corrupts evidence, and `execution.completed` is always emitted.
   */
  private checkOutcome(o: unknown, laneId: string, events: ExecutionEvent[]): LaneOutcome {
    let problem: string | null = null;
    try {
      problem = this.outcomeProblem(o, events);
    } catch {
      problem = "invalid outcome";
    }
    if (problem === null) return o as LaneOutcome;
    events.length = 0;
    const now = this.clock.now();
    return {
      status: "failed",
      output: null,
      failure: { class: "semantic_runtime_failed", message: `lane ${laneId} returned an invalid outcome: ${problem}`, details: { invalid_outcome: true } },
      metrics: { started_at: now, finished_at: now, timeout_ms: 0 },
    };
  }

  private outcomeProblem(raw: unknown, events: ExecutionEvent[]): string | null {
    if (!isPlainObject(raw)) return "not an object";
    const o = raw as Partial<LaneOutcome>;
    if (o.status !== "succeeded" && o.status !== "failed") return "invalid status";
    if (o.status === "succeeded" && o.failure !== undefined) return "a succeeded outcome carries a failure";
    if (o.failure !== undefined && !isPlainObject(o.failure)) return "invalid failure";
    const m = o.metrics;
    if (!isPlainObject(m) || ![m.started_at, m.finished_at, m.timeout_ms].every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) return "invalid metrics";
    if (m.output_bytes !== undefined && !(Number.isSafeInteger(m.output_bytes) && m.output_bytes >= 0)) return "invalid metrics.output_bytes";
    if (m.output_truncated !== undefined && typeof m.output_truncated !== "boolean") return "invalid metrics.output_truncated";
    let checked: ExecutionResult;
    try {
      checked = makeExecutionResult({
        contract_version: CONTRACT_VERSION,
        execution_ref: "check",
        status: o.status,
        output: o.output,
        events,
        ...(o.status === "failed" && o.failure !== undefined ? { failure: { class: o.failure.class, message: o.failure.message, details: o.failure.details ?? {} } } : {}),
      });
    } catch (err) {
      return err instanceof CairnError ? err.message : "invalid outcome";
    }
    // Evidence binds the output by its canonical fingerprint, and the result must print as
    // canonical JSON: a value RFC 8785 cannot encode (a lone surrogate) is never accepted.
    if (fingerprint(checked.output ?? null) === null) return "output cannot be canonically encoded (RFC 8785)";
    if (fingerprint(checked) === null) return "failure or events cannot be canonically encoded (RFC 8785)";
    return null;
  }

  /**
   * Aborts a running execution's signal and emits `execution.cancelled`; unknown refs are
   * rejected. An execution is cancelled once: a later call while it is still running emits
   * nothing and resolves the first call's record, with `already_cancelled: true`.
   */
  async cancel(ref: string | { ref: string }): Promise<CancelResult> {
    const key = typeof ref === "string" ? ref : ref?.ref;
    const run = typeof key === "string" ? this.running.get(key) : undefined;
    if (run === undefined || typeof key !== "string") {
      return { ok: false, rejection: this.reject("unknown_execution_ref", "no running execution has this ref", { execution_ref: typeof key === "string" ? key : null }) };
    }
    if (run.cancelled !== null) return { ok: true, execution_ref: key, evidence: await run.cancelled, already_cancelled: true };
    const id = this.ids.next("ev");
    run.cancelEvidence.push(id);
    const emitting = this.emit("execution.cancelled", run.stamps, { reason: "cancel requested" }, run.stamps.provenance_kind === "node_admitted", id);
    run.cancelled = emitting;
    run.cancelling.push(emitting.catch(() => undefined));
    run.controller.abort();
    const evidence = await emitting;
    return { ok: true, execution_ref: key, evidence };
  }

  /** Refs of executions in flight (dispatched, not yet completed), sorted. */
  runningRefs(): string[] {
    return [...this.running.keys()].sort();
  }

  // ---------------------------------------------------------------- describe / close

  describe(): NodeDescriptor {
    const sortedKeys = <T>(m: Map<string, T>) => [...m.keys()].sort();
    return makeNodeDescriptor({
      contract_version: CONTRACT_VERSION,
      node_id: this.nodeId,
      contract_version_range: { min: CONTRACT_VERSION_RANGE.min, max: CONTRACT_VERSION_RANGE.max },
      registered_lanes: sortedKeys(this.lanes).map((id) => (this.lanes.get(id) as { lane: Lane }).lane.capabilities()),
      registered_target_verifiers: sortedKeys(this.verifiers).map((id) => {
        const v = this.verifiers.get(id) as TargetVerifier;
        return { verifier_id: v.verifier_id, attestation_types: [...v.attestation_types], capability_classes: [...v.capability_classes] };
      }),
      verified_targets: [...this.targets.values()].sort(byId).map((t) => t.descriptor),
      authority_verifier: this.authority?.verifier_id ?? null,
      registration_complete: this.complete,
      metadata: {
        ...this.metadata,
        policy_bundle_hash: this.authority?.policy_bundle_hash ?? null,
        evidence_sinks: sortedKeys(this.sinks),
      },
    });
  }

  /** Closes every lane (pooled workers, sockets) and flushes sinks. */
  async close(): Promise<void> {
    for (const { lane } of this.lanes.values()) await lane.close?.();
    for (const s of this.sinks.values()) await s.flush?.();
  }
}

