import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { fixedClock, steppingClock } from "../../src/core/clock.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import {
  AcceptableAttestation,
  AdmissionDecision,
  AdmissionRejection,
  AdmissionRequest,
  AuthorityRef,
  Evidence,
  ExecutionEvent,
  ExecutionOutcome,
  ExecutionRef,
  ExecutionRequest,
  ExecutionResult,
  FAILURE_CLASSES,
  FAILURE_TAXONOMY,
  Failure,
  LaneCapabilities,
  Lineage,
  NodeDescriptor,
  SandboxProfile,
  TargetAttestation,
  TargetDescriptor,
  failureTraits,
  intersect,
  makeAcceptableAttestation,
  makeLineage,
  newAdmissionRequest,
  newEvidence,
  newExecutionEvent,
  newExecutionRef,
  parseAdmissionRequest,
  parseLineage,
  sequentialIds,
  toCanonical,
  type Contract,
} from "../../src/plane/contracts/index.js";

const authorityRef = {
  contract_version: 1,
  ref: "auth-1",
  subject: "alice",
  audience: "cairn-local",
  payload_hash: "sha256:" + "a".repeat(64),
  issued_at: 1000,
  expires_at: 61000,
  key_id: "ops",
  signature: "c2ln",
  metadata: {},
};
const sandbox = { contract_version: 1, profile_ref: "p1", bundle_hash: "sha256:" + "b".repeat(64), opaque_bundle: { x: 1 }, metadata: {} };
const acceptable = { contract_version: 1, classes: ["local-process-weak", "vm"], priority_order: ["vm", "local-process-weak"] };
const descriptor = {
  contract_version: 1,
  target_id: "local",
  lane_id: "process",
  attested_capability_classes: ["local-process-weak"],
  verifier_id: "cairn:local-weak-verifier:v1",
  attestation_id: "att-1",
  attested_at: 1000,
  expires_at: 90000,
  metadata: {},
};
const admission = {
  contract_version: 1,
  request_id: "adm-1000-1",
  lane_id: "process",
  operation: "run",
  idempotency_key: "k1",
  payload: { command: "echo", argv: ["ok"], timeout_ms: 5000 },
  authority_ref: authorityRef,
  sandbox_profile: sandbox,
  acceptable_attestation: acceptable,
  constraints: [],
  provenance: { kind: "node_admitted", details: {} },
  metadata: { "ünïcode": "é\u2028" },
};
const rejection = { contract_version: 1, request_id: "adm-1", reason: "authority_rejected", message: "bad signature", details: { why: "signature" } };
const lineage = { contract_version: 1, request_id: "adm-1", idempotency_key: "k1", route_id: "r1", extensions: {} };
const event = { contract_version: 1, event_id: "event-1-1", execution_ref: "exec-1-1", event_type: "stdout", payload: { chunk: "hi" }, emitted_at: 5, lineage, evidence: [] };
const lane = { contract_version: 1, lane_id: "process", protocols: ["process"], surfaces: ["local_subprocess"], supports_execute: true, supports_stream: false };

/** One valid sample (input form) of each contract. */
const samples: [Contract<unknown>, unknown][] = [
  [AuthorityRef, authorityRef],
  [SandboxProfile, sandbox],
  [AcceptableAttestation, acceptable],
  [TargetAttestation, { contract_version: 1, attestation_id: "att-1", attestation_type: "local-process-weak", evidence: { signature: "s" }, presented_at: 1, claimed_capability_classes: ["vm"], metadata: {} }],
  [TargetDescriptor, descriptor],
  [LaneCapabilities, lane],
  [
    NodeDescriptor,
    {
      contract_version: 1,
      node_id: "local-1",
      registered_lanes: [lane],
      registered_target_verifiers: [{ verifier_id: "v", attestation_types: ["local-process-weak"], capability_classes: ["local-process-weak"] }],
      verified_targets: [descriptor],
      authority_verifier: "ed25519",
      registration_complete: true,
      metadata: {},
    },
  ],
  [Lineage, lineage],
  [AdmissionRequest, admission],
  [AdmissionDecision, { contract_version: 1, request_id: "adm-1", status: "accepted", execution_ref: "exec-1", target_id: "local", lane_id: "process", attestation_class: "local-process-weak", reason: "admitted", evidence: ["ev-1"] }],
  [AdmissionRejection, rejection],
  [ExecutionRef, { contract_version: 1, ref: "exec-1" }],
  [ExecutionRequest, { contract_version: 1, execution_ref: "exec-1", admission_request: admission, target_descriptor: descriptor, lane_id: "process", operation: "run", payload: admission.payload, metadata: {} }],
  [ExecutionEvent, event],
  [
    Evidence,
    {
      contract_version: 1,
      evidence_id: "ev-1",
      evidence_type: "admission.accepted",
      execution_ref: "exec-1",
      request_id: "adm-1",
      lane_id: "process",
      policy_bundle_hash: null,
      target_id: "local",
      target_verifier_id: "v",
      attestation_class: "local-process-weak",
      authority_verifier_id: "ed25519",
      provenance_kind: "node_admitted",
      payload: { n: -0.5, big: 1e21 },
      emitted_at: 7,
    },
  ],
  [ExecutionResult, { contract_version: 1, execution_ref: "exec-1", status: "succeeded", output: { exit_code: 0 }, events: [event], evidence: ["ev-1"] }],
  [ExecutionResult, { contract_version: 1, execution_ref: null, status: "rejected", rejection }],
  [ExecutionResult, { contract_version: 1, execution_ref: "exec-2", status: "failed", failure: { class: "timeout", message: "killed" } }],
  [
    ExecutionOutcome,
    {
      contract_version: 1,
      execution_ref: "exec-1",
      lane_id: "process",
      status: "failed",
      raw_payload: { exit_code: 3, stdout: "partial" },
      metrics: { started_at: 10, finished_at: 25, duration_ms: 15, timeout_ms: 5000, output_bytes: 7 },
      lineage,
    },
  ],
  [Failure, { class: "launch_failed", message: "no such command" }],
];

function expectInvalid(fn: () => unknown, pathFragment: string): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code).toBe(ErrorCode.INVALID_INPUT);
    expect(e.message).toContain(pathFragment);
    return e;
  }
  throw new Error("expected a CairnError");
}

describe("plane contracts: canonical round trip", () => {
  it.each(samples.map(([c, v], i) => [`${c.name} #${i}`, c, v] as const))("%s round-trips", (_label, c, input) => {
    const x = c.make(input);
    const text = toCanonical(x);
    const back = c.parse(text);
    expect(back).toEqual(x);
    expect(toCanonical(back)).toBe(text);
    expect(c.parse(JSON.stringify(input, null, 2))).toEqual(x);
    expect(Object.isFrozen(x)).toBe(true);
  });

  it("pins canonical bytes (RFC 8785 key order, no whitespace, defaults filled)", () => {
    expect(toCanonical(ExecutionRef.make({ ref: "exec-1", contract_version: 1 }))).toBe('{"contract_version":1,"ref":"exec-1"}');
    expect(toCanonical(makeAcceptableAttestation({ contract_version: 1, classes: ["b", "a", "b"] }))).toBe(
      '{"classes":["b","a"],"contract_version":1,"priority_order":["b","a"]}',
    );
    expect(toCanonical(Failure.make({ class: "timeout" }))).toBe('{"class":"timeout","details":{},"message":""}');
  });

  it("fast-check: AdmissionRequest round trip is exact and stable", () => {
    const str = fc.string({ minLength: 1, maxLength: 12 });
    const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(
      fc.property(str, str, str, str, fc.dictionary(str, json, { maxKeys: 4 }), fc.array(json, { maxLength: 3 }), (rid, laneId, op, key, payload, constraints) => {
        const x = AdmissionRequest.make({ contract_version: 1, request_id: rid, lane_id: laneId, operation: op, idempotency_key: key, payload, constraints });
        const text = toCanonical(x);
        expect(parseAdmissionRequest(text)).toEqual(x);
        expect(toCanonical(parseAdmissionRequest(text))).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});

describe("plane contracts: rejection names the field", () => {
  it("rejects an unknown key at the top level and nested, naming the path", () => {
    expectInvalid(() => AdmissionRequest.make({ ...admission, surprise: 1 }), "$.surprise: unknown key");
    expectInvalid(() => parseLineage(JSON.stringify({ ...lineage, tenant: "x" })), "$.tenant");
    expectInvalid(
      () => ExecutionOutcome.make({ ...(samples[18]![1] as object), lineage: { ...lineage, bogus: true } }),
      "$.lineage.bogus: unknown key",
    );
    expectInvalid(() => AdmissionRequest.make({ ...admission, authority_ref: { ...authorityRef, extra: 1 } }), "$.authority_ref.extra");
  });

  it("requires the lineage idempotency key, naming $.lineage.idempotency_key", () => {
    const { idempotency_key: _k, ...noKey } = lineage;
    expectInvalid(() => makeLineage(noKey), "$.idempotency_key");
    expectInvalid(() => makeLineage({ ...lineage, idempotency_key: "" }), "$.idempotency_key: must be a non-empty string");
    expectInvalid(
      () => ExecutionOutcome.make({ ...(samples[18]![1] as object), lineage: noKey }),
      "$.lineage.idempotency_key",
    );
  });

  it("rejects a wrong or missing contract_version", () => {
    for (const [c, v] of samples) {
      if (c === Failure) continue;
      const e = expectInvalid(() => c.make({ ...(v as object), contract_version: 2 }), "$.contract_version");
      expect(e.message).toContain("unsupported contract_version 2");
      expectInvalid(() => c.make({ ...(v as object), contract_version: "1" }), "$.contract_version");
    }
    const { contract_version: _v, ...noVersion } = admission;
    expectInvalid(() => AdmissionRequest.make(noVersion), "$.contract_version");
    expectInvalid(() => ExecutionRequest.make({ ...(samples[12]![1] as object), admission_request: { ...admission, contract_version: 9 } }), "$.admission_request.contract_version");
  });

  it("rejects invalid JSON text and non-JSON values", () => {
    expectInvalid(() => parseAdmissionRequest("{"), "invalid JSON");
    expectInvalid(() => AdmissionRequest.make({ ...admission, payload: { n: Number.NaN } }), "$.payload.n");
    expectInvalid(() => AdmissionRequest.make({ ...admission, payload: { d: new Date(0) } }), "$.payload.d");
  });

  it("enforces cross-field invariants", () => {
    expectInvalid(() => AuthorityRef.make({ ...authorityRef, expires_at: 1000 }), "$.expires_at");
    expectInvalid(() => makeAcceptableAttestation({ contract_version: 1, classes: ["a"], priority_order: ["a", "z"] }), "$.priority_order[1]");
    expectInvalid(() => ExecutionResult.make({ contract_version: 1, execution_ref: null, status: "rejected" }), "$.rejection");
    expectInvalid(() => ExecutionResult.make({ contract_version: 1, execution_ref: "e", status: "succeeded", failure: { class: "timeout" } }), "$.failure");
    const outcome = samples[18]![1] as Record<string, unknown>;
    expectInvalid(() => ExecutionOutcome.make({ ...outcome, status: "succeeded", failure: { class: "timeout" } }), "$.failure");
    expectInvalid(() => ExecutionOutcome.make({ ...outcome, metrics: { started_at: 10, finished_at: 5, duration_ms: 0, timeout_ms: 1 } }), "$.metrics.finished_at");
    expectInvalid(() => AdmissionRejection.make({ ...rejection, reason: "Not A Code" }), "$.reason");
  });

  it("backfills a missing lineage trace_id from request_id", () => {
    expect(makeLineage(lineage).trace_id).toBe("adm-1");
    expect(makeLineage({ contract_version: 1, idempotency_key: "k" }).trace_id).toBeUndefined();
  });
});

describe("plane contracts: failure taxonomy", () => {
  it("pins all 13 classes and their derived owner / retryable / relevance", () => {
    expect(FAILURE_TAXONOMY).toEqual({
      policy_denied: { owner: "spine", retryable: false, relevance: "durable" },
      route_unresolved: { owner: "spine", retryable: true, relevance: "durable" },
      placement_unavailable: { owner: "execution_plane", retryable: true, relevance: "durable" },
      launch_failed: { owner: "execution_plane", retryable: true, relevance: "durable" },
      transport_failed: { owner: "execution_plane", retryable: true, relevance: "durable" },
      protocol_framing_failed: { owner: "execution_plane", retryable: false, relevance: "durable" },
      semantic_runtime_failed: { owner: "family_kit", retryable: false, relevance: "durable" },
      approval_expired: { owner: "spine", retryable: false, relevance: "durable" },
      lease_expired: { owner: "spine", retryable: true, relevance: "durable" },
      attach_mismatch: { owner: "spine", retryable: false, relevance: "durable" },
      remote_disconnect: { owner: "execution_plane", retryable: true, relevance: "raw_fact_only" },
      cancellation: { owner: "spine", retryable: false, relevance: "durable" },
      timeout: { owner: "execution_plane", retryable: true, relevance: "raw_fact_only" },
    });
    expect(FAILURE_CLASSES).toHaveLength(13);
    expect(Object.keys(FAILURE_TAXONOMY)).toEqual([...FAILURE_CLASSES]);
    expect(Object.isFrozen(FAILURE_TAXONOMY)).toBe(true);
    expect(Object.isFrozen(FAILURE_TAXONOMY.timeout)).toBe(true);
    expect(failureTraits("timeout").relevance).toBe("raw_fact_only");
  });

  it("rejects caller-supplied owner / retryable / relevance and unknown classes", () => {
    for (const key of ["owner", "retryable", "relevance"]) {
      const e = expectInvalid(() => Failure.make({ class: "timeout", [key]: "x" }), `$.${key}`);
      expect(e.message).toContain("derived from the failure class");
    }
    expectInvalid(
      () => ExecutionResult.make({ contract_version: 1, execution_ref: "e", status: "failed", failure: { class: "timeout", retryable: false } }),
      "$.failure.retryable",
    );
    expectInvalid(() => Failure.make({ class: "exploded" }), "$.class");
  });
});

describe("plane contracts: AcceptableAttestation.intersect", () => {
  const acc = (classes: string[], priority_order?: string[]) =>
    makeAcceptableAttestation({ contract_version: 1, classes, ...(priority_order ? { priority_order } : {}) });

  it("orders by priority_order", () => {
    expect(AcceptableAttestation.intersect(acc(["a", "b", "c"], ["c", "a", "b"]), ["a", "c"])).toEqual(["c", "a"]);
  });
  it("priority_order defaults to classes (deduplicated)", () => {
    const a = acc(["b", "a", "b"]);
    expect(a.priority_order).toEqual(["b", "a"]);
    expect(intersect(a, ["a", "b", "z"])).toEqual(["b", "a"]);
  });
  it("falls back to classes order when the priority list has no match", () => {
    expect(intersect(acc(["a", "b", "c"], ["c"]), ["b", "a"])).toEqual(["a", "b"]);
  });
  it("matches nothing when either side is empty or disjoint", () => {
    expect(intersect(acc([]), ["a"])).toEqual([]);
    expect(intersect(acc(["a"]), [])).toEqual([]);
    expect(intersect(acc(["a"]), ["b"])).toEqual([]);
  });
});

describe("plane contracts: injected ids and clocks", () => {
  it("mints <prefix>-<ms>-<seq> from the injected clock and pins every byte", () => {
    const ids = sequentialIds(fixedClock(1700));
    const req = newAdmissionRequest(ids, { lane_id: "inline", operation: "call", idempotency_key: "k" });
    expect(req.request_id).toBe("adm-1700-1");
    expect(newExecutionRef(ids).ref).toBe("exec-1700-2");
    const clock = steppingClock(5000, 10);
    const ev = newEvidence(ids, clock, {
      evidence_type: "admission.rejected",
      execution_ref: null,
      request_id: req.request_id,
      lane_id: "inline",
      policy_bundle_hash: null,
      target_id: null,
      target_verifier_id: null,
      attestation_class: null,
      authority_verifier_id: null,
      provenance_kind: "node_admitted",
      payload: { reason: "registration_incomplete" },
    });
    expect(toCanonical(ev)).toBe(
      '{"attestation_class":null,"authority_verifier_id":null,"contract_version":1,"emitted_at":5000,"evidence_id":"ev-1700-3",' +
        '"evidence_type":"admission.rejected","execution_ref":null,"lane_id":"inline","payload":{"reason":"registration_incomplete"},' +
        '"policy_bundle_hash":null,"provenance_kind":"node_admitted","request_id":"adm-1700-1","target_id":null,"target_verifier_id":null}',
    );
    const e = newExecutionEvent(ids, clock, { execution_ref: "exec-1700-2", event_type: "stdout", payload: "x" });
    expect([e.event_id, e.emitted_at]).toEqual(["event-1700-4", 5010]);
  });
});
