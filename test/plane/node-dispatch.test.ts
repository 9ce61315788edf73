import { describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import { toCanonical } from "../../src/plane/contracts/base.js";
import { makeExecutionResult, parseEvidence } from "../../src/plane/contracts/execution.js";
import { parseNodeDescriptor } from "../../src/plane/contracts/target.js";
import { LOCAL_WEAK_VERIFIER_ID } from "../../src/plane/attestation/local-weak.js";
import { ED25519_VERIFIER_ID, policyBundleHash } from "../../src/plane/authority/ed25519.js";
import { fingerprint } from "../../src/plane/evidence/redact.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { fixedClock } from "../../src/core/clock.js";
import type { AuthorityVerifier } from "../../src/plane/authority/verifier.js";
import type { TargetVerifier } from "../../src/plane/attestation/verifier.js";
import { AUDIENCE, CountingClient, EchoLane, PAYLOAD, POLICY, T0, harness, request } from "./node-helpers.js";

const PBH = "sha256:eeded21e89e751955171e4f265748c9a2b5a9dd419d2303d3b49ed0bb2a04bc5";

describe("dispatch", () => {
  it("no fallback: two eligible targets, exactly one dispatch, to the smallest target id, even when it fails", async () => {
    const failing = new EchoLane("echo", (_req, ctx) => ({
      status: "failed",
      output: { exit_code: 3 },
      metrics: { started_at: ctx.clock.now(), finished_at: ctx.clock.now(), timeout_ms: 1000 },
    }));
    const h = harness({ lane: failing, targets: [] });
    const zeta = new CountingClient("zeta");
    const alpha = new CountingClient("alpha");
    // connect in reverse order: selection must not depend on insertion order
    for (const [id, c] of [["t-zeta", zeta], ["t-alpha", alpha]] as const) {
      expect(h.node.connectTarget(h.weak.mintAttestation({ targetId: id, laneId: "echo", now: T0 }), c).ok).toBe(true);
    }
    const r = await h.node.execute(request(h));
    expect(r.status).toBe("failed");
    expect(r.failure).toBeUndefined(); // a non-zero exit is a raw fact, not a failure class
    expect([alpha.count, zeta.count]).toEqual([1, 0]);
    expect(failing.calls).toHaveLength(1);
    expect(h.sink.records.filter((e) => e.evidence_type === "target.selected").map((e) => e.target_id)).toEqual(["t-alpha"]);
  });

  it("priority order is honoured across targets (not only within one)", async () => {
    const h = harness({ targets: ["a-weak"] });
    const strong = {
      verifier_id: "test-strong",
      attestation_types: ["strong"],
      capability_classes: ["strong-class"],
      handles: (a: { attestation_type: string }) => a.attestation_type === "strong",
      verify: (a: { attestation_id: string }, ctx: { now: number }) => ({
        ok: true as const,
        descriptor: {
          contract_version: 1 as const,
          target_id: "b-strong",
          lane_id: "echo",
          attested_capability_classes: ["strong-class"],
          verifier_id: "test-strong",
          attestation_id: a.attestation_id,
          attested_at: ctx.now,
          metadata: {},
        },
      }),
    };
    const h2 = harness({ complete: false, targets: ["a-weak"] });
    h2.node.registerTargetVerifier(strong);
    h2.node.completeRegistration();
    expect(h2.node.connectTarget({ contract_version: 1, attestation_id: "s1", attestation_type: "strong", presented_at: T0 }).ok).toBe(true);
    const acc = { contract_version: 1, classes: ["local-process-weak", "strong-class"], priority_order: ["strong-class", "local-process-weak"] };
    const r = await h2.node.execute(request(h2, { acceptable_attestation: acc }));
    expect(r.status).toBe("succeeded");
    const sel = h2.sink.records.find((e) => e.evidence_type === "target.selected");
    expect([sel?.target_id, sel?.attestation_class, sel?.target_verifier_id]).toEqual(["b-strong", "strong-class", "test-strong"]);
    expect(h.node.describe().verified_targets).toHaveLength(1);
  });

  it("emits the full, stamped evidence sequence (every byte pinned)", async () => {
    const h = harness();
    expect(h.authority.policy_bundle_hash).toBe(PBH);
    expect(PBH).toBe(policyBundleHash(AUDIENCE, [{ id: "ops", key: h.key.publicKey }], POLICY));
    const req = request(h);
    const r = await h.node.execute(req);
    const ref = req.authority_ref as Record<string, unknown>;
    const stamps = {
      contract_version: 1,
      execution_ref: `exec-${T0}-1`,
      request_id: "req-1",
      lane_id: "echo",
      policy_bundle_hash: PBH,
      target_id: "t-local",
      target_verifier_id: LOCAL_WEAK_VERIFIER_ID,
      attestation_class: "local-process-weak",
      authority_verifier_id: ED25519_VERIFIER_ID,
      provenance_kind: "node_admitted",
      emitted_at: T0,
    };
    const fp = (v: unknown) => ({ sha256: sha256(canonicalBytes(v)), byte_size: canonicalBytes(v).length });
    const decision = {
      contract_version: 1,
      request_id: "req-1",
      status: "accepted",
      execution_ref: `exec-${T0}-1`,
      target_id: "t-local",
      lane_id: "echo",
      attestation_class: "local-process-weak",
      reason: "admitted",
      provenance_kind: "node_admitted",
      evidence: [`ev-${T0}-2`, `ev-${T0}-3`],
    };
    const redactedRequest = {
      request_id: "req-1",
      lane_id: "echo",
      operation: "run",
      idempotency_key: "k1",
      payload: fp(PAYLOAD),
      payload_shape: { ...fp(["argv", "command"]), key_count: 2 },
      metadata: fp({}),
      constraints: fp([]),
      placement: null,
      provenance_kind: "node_admitted",
      acceptable_attestation: { classes: ["local-process-weak"], priority_order: ["local-process-weak"] },
      sandbox_profile: null,
      authority_ref: {
        ref: ref.ref,
        subject: "alice",
        audience: AUDIENCE,
        payload_hash: canonicalDigest(PAYLOAD),
        request_hash: (ref.metadata as Record<string, unknown>).request_hash,
        issued_at: T0 - 1000,
        expires_at: T0 + 60_000,
        key_id: "ops",
        metadata: fp(ref.metadata as unknown),
        lane_id: "echo",
        operation: "run",
      },
    };
    const descriptor = h.node.describe().verified_targets[0];
    const output = { echo: PAYLOAD, exit_code: 0 };
    expect(h.sink.records).toEqual([
      { ...stamps, evidence_id: `ev-${T0}-2`, evidence_type: "admission.accepted", payload: { decision, request: redactedRequest } },
      { ...stamps, evidence_id: `ev-${T0}-3`, evidence_type: "target.selected", payload: { descriptor } },
      { ...stamps, evidence_id: `ev-${T0}-4`, evidence_type: "execution.started", payload: { operation: "run" } },
      {
        ...stamps,
        evidence_id: `ev-${T0}-5`,
        evidence_type: "execution.completed",
        payload: {
          status: "succeeded",
          failure_class: null,
          failure_message: null,
          metrics: { started_at: T0, finished_at: T0, timeout_ms: 1000 },
          events: 0,
          // the echo lane's protocol ("test") declares no facts: exit_code is only in the fingerprint
          output: { fingerprint: fp(output), shape: { ...fp(["echo", "exit_code"]), key_count: 2 }, facts: {} },
        },
      },
    ]);
    // every record survives the canonical round trip
    for (const e of h.sink.records) expect(parseEvidence(toCanonical(e))).toEqual(e);
    expect(r).toEqual({
      contract_version: 1,
      execution_ref: `exec-${T0}-1`,
      status: "succeeded",
      output,
      events: [],
      evidence: [`ev-${T0}-2`, `ev-${T0}-3`, `ev-${T0}-4`, `ev-${T0}-5`],
      provenance: { kind: "node_admitted", admission_ref: "req-1", details: {} },
    });
    // the lane received a node-built ExecutionRequest carrying the verified descriptor
    expect(h.lane.calls[0]).toMatchObject({ execution_ref: `exec-${T0}-1`, target_descriptor: descriptor, lane_id: "echo", operation: "run", payload: PAYLOAD });
  });

  it("a top-level \"__proto__\" member of payload and metadata is kept (never silently dropped): what is signed is what is verified and dispatched", async () => {
    const h = harness();
    const payload = JSON.parse('{"__proto__":{"x":1},"b":2}') as Record<string, unknown>;
    const metadata = JSON.parse('{"__proto__":"m"}') as Record<string, unknown>;
    const r = await h.node.execute(request(h, { payload, metadata }));
    expect(r.status).toBe("succeeded");
    const got = h.lane.calls[0]?.payload as Record<string, unknown>;
    expect(Object.keys(got)).toEqual(["__proto__", "b"]);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(got, "__proto__")?.value).toEqual({ x: 1 });
    expect(Object.keys(h.lane.calls[0]?.admission_request.metadata ?? {})).toEqual(["__proto__"]);
    expect(toCanonical((r.output as { echo: unknown }).echo)).toBe('{"__proto__":{"x":1},"b":2}');
  });

  it("a rejection returns status rejected and emits exactly one admission.rejected", async () => {
    const h = harness();
    const r = await h.node.execute(request(h, { lane_id: "ghost" }));
    expect(r).toEqual({
      contract_version: 1,
      execution_ref: null,
      status: "rejected",
      events: [],
      evidence: [`ev-${T0}-1`],
      // an unregistered lane id is caller-supplied: it is fingerprinted, never repeated
      rejection: { contract_version: 1, request_id: "req-1", reason: "lane_not_registered", message: "the requested lane is not registered", details: { lane_id: fingerprint("ghost") } },
      error: { contract_version: 1, request_id: "req-1", reason: "lane_not_registered", message: "the requested lane is not registered", details: { lane_id: fingerprint("ghost") } },
      provenance: { kind: "node_admitted", admission_ref: "req-1", details: {} },
    });
    expect(h.sink.records.map((e) => [e.evidence_type, e.request_id, e.lane_id, e.target_id, e.policy_bundle_hash, e.authority_verifier_id])).toEqual([
      ["admission.rejected", "req-1", null, null, PBH, ED25519_VERIFIER_ID],
    ]);
    // `error` (the reference's name, read by the CLI contract as error.reason) must mirror `rejection`
    expect(() => makeExecutionResult({ ...r, error: { ...r.rejection, reason: "other" } })).toThrow(/\$\.error: must equal rejection/);
  });

  it("a lane that throws yields failed/semantic_runtime_failed; the node keeps serving", async () => {
    const lane = new EchoLane("echo", () => {
      throw new Error("boom");
    });
    const h = harness({ lane });
    const r = await h.node.execute(request(h));
    expect(r.status).toBe("failed");
    expect(r.failure).toEqual({ class: "semantic_runtime_failed", message: "lane echo threw: boom", details: { thrown: true } });
    expect(h.sink.records.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
  });
});

describe("cancel", () => {
  it("unknown refs are rejected with unknown_execution_ref", async () => {
    const h = harness();
    expect(await h.node.cancel("exec-nope")).toMatchObject({ ok: false, rejection: { reason: "unknown_execution_ref", details: { execution_ref: "exec-nope" } } });
    expect(await h.node.cancel({ ref: 5 } as unknown as { ref: string })).toMatchObject({ ok: false, rejection: { reason: "unknown_execution_ref" } });
  });

  it("aborts the running lane's signal and emits execution.cancelled before execution.completed", async () => {
    let started!: () => void;
    const running = new Promise<void>((res) => (started = res));
    const lane = new EchoLane("echo", (_req, ctx) => {
      started();
      return new Promise((resolve) => {
        ctx.signal.addEventListener("abort", () =>
          resolve({
            status: "failed",
            output: { partial: "x" },
            failure: { class: "cancellation", message: "cancelled" },
            metrics: { started_at: ctx.clock.now(), finished_at: ctx.clock.now(), timeout_ms: 1000 },
          }),
        );
      });
    });
    const h = harness({ lane });
    const pending = h.node.execute(request(h));
    await running;
    expect(h.node.runningRefs()).toEqual([`exec-${T0}-1`]);
    const c = await h.node.cancel({ ref: `exec-${T0}-1` });
    expect(c.ok).toBe(true);
    const r = await pending;
    expect(r.status).toBe("failed");
    expect(r.failure?.class).toBe("cancellation");
    expect(h.sink.records.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
    expect(h.sink.records[3]).toMatchObject({ execution_ref: `exec-${T0}-1`, target_id: "t-local", payload: { reason: "cancel requested" } });
    expect(c.ok && c.evidence.evidence_id).toBe(h.sink.records[3]?.evidence_id);
    expect(r.evidence).toEqual(h.sink.records.map((e) => e.evidence_id));
    // finished: no longer cancellable
    expect(await h.node.cancel(`exec-${T0}-1`)).toMatchObject({ ok: false, rejection: { reason: "unknown_execution_ref" } });
  });
});

describe("describe", () => {
  it("returns the NodeDescriptor with lanes, verifiers, targets, authority and the gate", () => {
    const h = harness({ complete: false });
    const before = h.node.describe();
    expect(before.registration_complete).toBe(false);
    h.node.completeRegistration();
    const d = h.node.describe();
    expect(parseNodeDescriptor(toCanonical(d))).toEqual(d);
    expect(d).toEqual({
      contract_version: 1,
      node_id: "node-1",
      contract_version_range: { min: 1, max: 1 },
      registered_lanes: [{ contract_version: 1, lane_id: "echo", protocols: ["test"], surfaces: ["local_subprocess"], supports_execute: true, supports_stream: false }],
      registered_target_verifiers: [{ verifier_id: LOCAL_WEAK_VERIFIER_ID, attestation_types: ["local-process-weak"], capability_classes: ["local-process-weak"] }],
      verified_targets: [
        {
          contract_version: 1,
          target_id: "t-local",
          lane_id: "echo",
          attested_capability_classes: ["local-process-weak"],
          verifier_id: LOCAL_WEAK_VERIFIER_ID,
          attestation_id: `att-t-local-${T0}`,
          attested_at: T0,
          expires_at: T0 + 60_000,
          metadata: { isolation: "none", placement: "local", sandbox: false, host: "testhost" },
          signature: d.verified_targets[0]?.signature,
        },
      ],
      authority_verifier: ED25519_VERIFIER_ID,
      registration_complete: true,
      metadata: { policy_bundle_hash: PBH, evidence_sinks: ["memory"] },
    });
    expect(d.verified_targets[0]?.signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe("a buggy lane", () => {
  it("an outcome that is not a valid result becomes failed/semantic_runtime_failed; evidence stays valid", async () => {
    const bad: Array<() => unknown> = [
      () => ({ status: "weird", output: 1, metrics: { started_at: 1, finished_at: 1, timeout_ms: 1 } }),
      () => ({ status: "succeeded", output: { n: Number.NaN }, metrics: { started_at: 1, finished_at: 1, timeout_ms: 1 } }),
      () => ({ status: "failed", output: null, failure: { class: "made_up", message: "x" }, metrics: { started_at: 1, finished_at: 1, timeout_ms: 1 } }),
      () => ({ status: "succeeded", output: null, metrics: { started_at: -1, finished_at: 1, timeout_ms: 1 } }),
      () => ({ status: "succeeded", output: null }),
    ];
    for (const make of bad) {
      const lane = new EchoLane("echo", () => make() as never);
      const h = harness({ lane });
      const r = await h.node.execute(request(h));
      expect(r.status).toBe("failed");
      expect(r.failure?.class).toBe("semantic_runtime_failed");
      expect(r.failure?.details).toEqual({ invalid_outcome: true });
      expect(h.sink.records.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    }
  });

  it("an output, failure or event holding a lone surrogate is an invalid outcome: evidence never carries a null output fingerprint", async () => {
    const m = { started_at: T0, finished_at: T0, timeout_ms: 1 };
    const cases: Array<[unknown, string]> = [
      [{ status: "succeeded", output: { text: "\ud800" }, metrics: m }, "lane echo returned an invalid outcome: output cannot be canonically encoded (RFC 8785)"],
      [{ status: "succeeded", output: "\udc00", metrics: m }, "lane echo returned an invalid outcome: output cannot be canonically encoded (RFC 8785)"],
      [{ status: "failed", output: null, failure: { class: "timeout", message: "x\ud800" }, metrics: m }, "lane echo returned an invalid outcome: failure or events cannot be canonically encoded (RFC 8785)"],
    ];
    for (const [outcome, message] of cases) {
      const h = harness({ lane: new EchoLane("echo", () => outcome as never) });
      const r = await h.node.execute(request(h));
      expect(r.status).toBe("failed");
      expect(r.output).toBeNull();
      expect(r.failure).toEqual({ class: "semantic_runtime_failed", message, details: { invalid_outcome: true } });
      expect(() => toCanonical(r)).not.toThrow();
      const completed = h.sink.records.at(-1);
      expect(completed?.evidence_type).toBe("execution.completed");
      const out = (completed?.payload as { output: { fingerprint: unknown } }).output;
      expect(out.fingerprint).toEqual(fingerprint(null));
      expect(out.fingerprint).not.toBeNull();
    }
  });

  it("a lane or client resolving a non-outcome (undefined, a succeeded outcome with a failure) is failed/semantic_runtime_failed, with execution.completed", async () => {
    const bad: unknown[] = [
      undefined,
      null,
      "done",
      { status: "succeeded", output: { ok: true }, failure: { class: "timeout", message: "hidden" }, metrics: { started_at: T0, finished_at: T0, timeout_ms: 1 } },
      { status: "succeeded", output: 1n, metrics: { started_at: T0, finished_at: T0, timeout_ms: 1 } },
      { status: "succeeded", output: {}, metrics: null },
    ];
    for (const outcome of bad) {
      const h = harness({ lane: new EchoLane("echo", () => outcome as never) });
      const r = await h.node.execute(request(h));
      expect(r.status).toBe("failed");
      expect(r.failure).toMatchObject({ class: "semantic_runtime_failed", details: { invalid_outcome: true } });
      expect(h.sink.records.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
      expect(h.node.runningRefs()).toEqual([]);
    }
    // a target client resolving undefined, likewise
    const h = harness({ targets: [] });
    const client = { execute: async () => undefined as never };
    expect(h.node.connectTarget(h.weak.mintAttestation({ targetId: "t-c", laneId: "echo", now: T0 }), client).ok).toBe(true);
    const r = await h.node.execute(request(h));
    expect(r.failure?.class).toBe("semantic_runtime_failed");
    expect(h.sink.records.at(-1)?.evidence_type).toBe("execution.completed");
  });

  it("an authority verifier verdict is validated: malformed → authority_rejected/verifier_error; details.reason always names the cause", async () => {
    const verdicts: unknown[] = [
      undefined,
      { ok: false, reason: "bogus_reason", message: "x", details: {} },
      { ok: false, reason: "authority_rejected", message: "x", details: { n: 1n } },
      { ok: false, reason: "authority_rejected", message: 5, details: {} },
      { ok: true },
      "yes",
    ];
    for (const verdict of verdicts) {
      const v: AuthorityVerifier = { verifier_id: "custom", policy_bundle_hash: null, verify: () => verdict as never };
      const fresh = harness({ authority: false, complete: false });
      fresh.node.registerAuthorityVerifier(v).completeRegistration();
      const r = await fresh.node.execute(request(fresh));
      expect(r.rejection).toMatchObject({ reason: "authority_rejected", details: { reason: "verifier_error", verifier_id: "custom" } });
      expect(fresh.sink.records.map((e) => e.evidence_type)).toEqual(["admission.rejected"]);
    }
    // a refusal without details.reason gets the specific cause from the top-level reason
    for (const [reason, cause] of [["authority_expired", "expired"], ["policy_denied", "policy_denied"], ["authority_rejected", "authority_rejected"]] as const) {
      const fresh = harness({ authority: false, complete: false });
      fresh.node.registerAuthorityVerifier({ verifier_id: "custom", policy_bundle_hash: null, verify: () => ({ ok: false, reason, message: "no", details: {} }) }).completeRegistration();
      expect((await fresh.node.execute(request(fresh))).rejection).toMatchObject({ reason, details: { reason: cause } });
    }
  });

  it("the Ed25519 verifier's authority_expired and policy_denied carry details.reason", async () => {
    const h = harness();
    expect((await h.node.execute(request(h, {}, { subject: "carol" }))).rejection).toMatchObject({ reason: "policy_denied", details: { reason: "policy_denied" } });
    expect((await h.node.execute(request(h, {}, { expiresAt: T0 }))).rejection).toMatchObject({ reason: "authority_expired", details: { reason: "expired" } });
  });

  it("a target verifier's verdict is validated; a throwing handles() or verify() never crashes connectTarget", () => {
    const base = { attestation_types: ["x"], capability_classes: ["x"] };
    const att = { contract_version: 1, attestation_id: "a1", attestation_type: "x", target_id: "t", lane_id: "echo", presented_at: T0, evidence: {}, claimed_capability_classes: [] };
    const cases: Array<[Partial<TargetVerifier>, string]> = [
      [{ handles: () => true, verify: () => undefined as never }, "verifier_error"],
      [{ handles: () => true, verify: () => ({ ok: false, message: 1, details: {} }) as never }, "verifier_error"],
      [{ handles: () => true, verify: () => ({ ok: false, message: "m", details: { x: 1n } }) as never }, "verifier_error"],
      [{ handles: () => true, verify: () => ({ ok: false, message: "m", details: {} }) }, "verifier_refused"],
      [
        {
          handles: () => {
            throw new Error("nope");
          },
          verify: () => undefined as never,
        },
        "verifier_error",
      ],
    ];
    for (const [impl, cause] of cases) {
      const clock = fixedClock(T0);
      const node = new PlaneNode({ nodeId: "n", clock, ids: sequentialIds(clock) });
      node.registerTargetVerifier({ verifier_id: "v", ...base, ...impl } as TargetVerifier);
      const r = node.connectTarget(att);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.rejection).toMatchObject({ reason: "target_attestation_unverifiable", details: { reason: cause } });
    }
  });
});
