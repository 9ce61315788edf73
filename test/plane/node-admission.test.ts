import { describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { REJECTION_REASONS } from "../../src/plane/contracts/admission.js";
import { PlaneNode, REJECTION_EVIDENCE_MESSAGES } from "../../src/plane/node/node.js";
import { fingerprint } from "../../src/plane/evidence/redact.js";
import { LocalWeakVerifier } from "../../src/plane/attestation/local-weak.js";
import { MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { EchoLane, T0, harness, request } from "./node-helpers.js";

async function reasonOf(node: PlaneNode, input: unknown): Promise<string> {
  const r = await node.execute(input);
  expect(r.status).toBe("rejected");
  return r.rejection?.reason as string;
}

describe("admission reason codes", () => {
  it("invalid_request: a non-object input, and a schema failure naming the path; the node keeps working", async () => {
    const h = harness();
    for (const bad of [null, 42, "x", [1], undefined]) expect(await reasonOf(h.node, bad)).toBe("invalid_request");
    const r = await h.node.execute({ ...request(h), lane_id: "" });
    expect(r.rejection).toMatchObject({ reason: "invalid_request", request_id: "req-1", details: { path: "$.lane_id" } });
    const unknownKey = await h.node.execute({ ...request(h), surprise: 1 });
    expect(unknownKey.rejection?.details).toEqual({ path: "$.surprise" });
    // still serving after all of that
    expect((await h.node.execute(request(h))).status).toBe("succeeded");
  });

  it("contract_version_mismatch for a wrong or missing version", async () => {
    const h = harness();
    expect(await reasonOf(h.node, { ...request(h), contract_version: 2 })).toBe("contract_version_mismatch");
    expect(await reasonOf(h.node, { ...request(h), contract_version: "1" })).toBe("contract_version_mismatch");
    expect(await reasonOf(h.node, { ...request(h), contract_version: Number.NaN })).toBe("contract_version_mismatch");
    expect(await reasonOf(h.node, { ...request(h), contract_version: Number.POSITIVE_INFINITY })).toBe("contract_version_mismatch");
    const { contract_version: _v, ...noVersion } = request(h);
    expect(await reasonOf(h.node, noVersion)).toBe("contract_version_mismatch");
  });

  it("registration_incomplete before completeRegistration(), and registration freezes after it", async () => {
    const h = harness({ complete: false });
    expect(await reasonOf(h.node, request(h))).toBe("registration_incomplete");
    h.node.completeRegistration();
    expect((await h.node.execute(request(h))).status).toBe("succeeded");
    expect(() => h.node.registerLane(new EchoLane("late"))).toThrow(/registration is complete/);
  });

  it("authority_verifier_missing", async () => {
    const h = harness({ authority: false });
    expect(await reasonOf(h.node, request(h))).toBe("authority_verifier_missing");
  });

  it("exactly one authority verifier", () => {
    const h = harness({ complete: false });
    expect(() => h.node.registerAuthorityVerifier(h.authority)).toThrow(/already registered/);
  });

  it("lane_not_registered", async () => {
    const h = harness();
    expect(await reasonOf(h.node, request(h, { lane_id: "nope" }))).toBe("lane_not_registered");
  });

  it("authority_ref_missing", async () => {
    const h = harness();
    const { authority_ref: _a, ...req } = request(h);
    expect(await reasonOf(h.node, req)).toBe("authority_ref_missing");
  });

  it("authority_rejected (details.reason names the cause), authority_expired, policy_denied", async () => {
    const h = harness();
    const good = request(h);
    const ref = good.authority_ref as Record<string, unknown>;
    const bad = await h.node.execute({ ...good, authority_ref: { ...ref, subject: "mallory" } });
    expect(bad.rejection).toMatchObject({ reason: "authority_rejected", details: { reason: "bad_signature", key_id: "ops" } });
    const expired = await h.node.execute(request(h, {}, { issuedAt: T0 - 10_000, expiresAt: T0 }));
    expect(expired.rejection).toMatchObject({ reason: "authority_expired", details: { reason: "expired", expires_at: T0, now: T0 } });
    const denied = await h.node.execute(request(h, {}, { subject: "bob" }));
    expect(denied.rejection).toMatchObject({ reason: "policy_denied", details: { reason: "policy_denied", subject: "bob", lane_id: "echo", operation: "run" } });
  });

  it("admission.rejected evidence never repeats a rejection message: a fixed message per reason and the message's fingerprint", async () => {
    const SECRET = "S3CRET-VALUE";
    const h = harness();
    const cases = [
      request(h, {}, { subject: `alice token=${SECRET}` }), // policy_denied quotes the subject
      request(h, {}, { subject: "bob", audience: `aud ${SECRET}` }), // the audience mismatch quotes the audience
    ];
    for (const input of cases) {
      const before = h.sink.records.length;
      const r = await h.node.execute(input);
      expect(r.status).toBe("rejected");
      // the caller's own rejection keeps the full message
      expect(r.rejection?.message).toContain(SECRET);
      const [ev] = h.sink.records.slice(before);
      expect(JSON.stringify(ev)).not.toContain(SECRET);
      const rej = (ev?.payload as { rejection: Record<string, unknown> }).rejection;
      expect(rej.reason).toBe(r.rejection?.reason);
      expect(rej.message).toBe(REJECTION_EVIDENCE_MESSAGES[r.rejection?.reason as string]);
      expect(rej.message_fingerprint).toEqual(fingerprint(r.rejection?.message));
    }
    expect(h.sink.records.map((e) => (e.payload as { rejection: { reason: string } }).rejection.reason)).toEqual(["policy_denied", "authority_rejected"]);
    // a custom verifier's message never reaches evidence either
    const fresh = harness({ authority: false, complete: false });
    fresh.node.registerAuthorityVerifier({ verifier_id: "custom", policy_bundle_hash: null, verify: () => ({ ok: false, reason: "policy_denied", message: `denied: ${SECRET}`, details: {} }) }).completeRegistration();
    const r = await fresh.node.execute(request(fresh));
    expect(r.rejection?.message).toBe(`denied: ${SECRET}`);
    expect(JSON.stringify(fresh.sink.records)).not.toContain(SECRET);
    expect((fresh.sink.records[0]?.payload as { rejection: unknown }).rejection).toEqual({
      reason: "policy_denied",
      message: "the policy denies this request",
      message_fingerprint: fingerprint(`denied: ${SECRET}`),
      details: { reason: "policy_denied", verifier_id: "custom" },
    });
  });

  it("every stable rejection reason has a fixed evidence message", () => {
    expect(Object.keys(REJECTION_EVIDENCE_MESSAGES).sort()).toEqual([...REJECTION_REASONS].sort());
  });

  it("no_satisfying_attested_target: no acceptable class, a class no target attests, no target on the lane", async () => {
    const h = harness();
    const noAcc = request(h, { acceptable_attestation: undefined }); // signed without it (request_hash)
    expect((await h.node.execute(noAcc)).rejection).toMatchObject({ reason: "no_satisfying_attested_target", details: { reason: "no_acceptable_classes" } });
    expect(await reasonOf(h.node, request(h, { acceptable_attestation: { contract_version: 1, classes: ["microvm-strong"] } }))).toBe("no_satisfying_attested_target");
    const h2 = harness({ targets: [] });
    expect(await reasonOf(h2.node, request(h2))).toBe("no_satisfying_attested_target");
  });

  it("target_descriptor_expired when the only satisfying targets expired (enforced, unlike the reference)", async () => {
    let now = T0;
    const clock = { now: () => now };
    const h = harness({ clock, ttlMs: 5000 });
    expect((await h.node.execute(request(h))).status).toBe("succeeded");
    now = T0 + 5000;
    expect(await reasonOf(h.node, request(h))).toBe("target_descriptor_expired");
    // a fresh attestation refreshes the descriptor
    expect(h.node.connectTarget(h.weak.mintAttestation({ targetId: "t-local", laneId: "echo", now })).ok).toBe(true);
    expect((await h.node.execute(request(h))).status).toBe("succeeded");
  });

  it("direct lower-lane-owner provenance: only on a registered lane that allows it; marked in evidence", async () => {
    const clock = fixedClock(T0);
    const node = new PlaneNode({ nodeId: "n", clock, ids: sequentialIds(clock) });
    const open = new EchoLane("open");
    const closed = new EchoLane("closed");
    const sink = new MemoryEvidenceSink();
    node.registerLane(open, { allowDirect: true }).registerLane(closed).registerEvidenceSink(sink);
    // not even complete, no authority verifier: the direct path skips those checks
    const direct = { contract_version: 1, request_id: "d1", lane_id: "open", operation: "run", idempotency_key: "k", provenance: { kind: "direct_lower_lane_owner", owner: "me" } };
    const ok = await node.execute(direct);
    expect(ok).toMatchObject({ status: "succeeded", provenance: { kind: "direct_lower_lane_owner", owner: "me", admission_ref: "d1" } });
    expect(sink.records.map((e) => [e.evidence_type, e.provenance_kind, e.target_id, e.authority_verifier_id])).toEqual([
      ["admission.accepted", "direct_lower_lane_owner", null, null],
      ["execution.started", "direct_lower_lane_owner", null, null],
      ["execution.completed", "direct_lower_lane_owner", null, null],
    ]);
    expect((sink.records[0]?.payload as { decision: { reason: string } }).decision.reason).toBe("direct lower-lane-owner execution");
    expect(await reasonOf(node, { ...direct, lane_id: "closed" })).toBe("direct_provenance_not_allowed");
    expect(await reasonOf(node, { ...direct, lane_id: "ghost" })).toBe("lane_not_registered");
    expect(closed.calls).toHaveLength(0);
  });

  it("a missing request_id is minted from the injected ids", async () => {
    const h = harness();
    const { request_id: _r, ...req } = request(h);
    const r = await h.node.execute(req);
    expect(r.provenance.admission_ref).toBe(`adm-${T0}-1`);
  });

  it("every reason code used by the node is in REJECTION_REASONS", () => {
    for (const r of [
      "invalid_request",
      "contract_version_mismatch",
      "registration_incomplete",
      "authority_verifier_missing",
      "lane_not_registered",
      "authority_ref_missing",
      "authority_rejected",
      "authority_expired",
      "policy_denied",
      "direct_provenance_not_allowed",
      "target_descriptor_expired",
      "no_satisfying_attested_target",
      "target_attestation_unverifiable",
      "unknown_execution_ref",
    ]) {
      expect(REJECTION_REASONS).toContain(r);
    }
  });
});

describe("admission order: a request failing several checks reports the earliest", () => {
  it("walks the documented order by fixing one failure at a time", async () => {
    let now = T0;
    const clock = { now: () => now };
    // A node that is incomplete AND has no authority verifier AND no target on lane "ghost".
    const h = harness({ clock, complete: false, authority: false, ttlMs: 1000 });
    const signedForGhost = request(h, { lane_id: "ghost" }, { issuedAt: T0 - 10, expiresAt: T0 + 10 });
    const base = { ...signedForGhost, contract_version: 7 };
    const steps: Array<[string, () => unknown]> = [
      ["contract_version_mismatch", () => ({ ...base, surprise: true })], // also invalid (unknown key) and everything below
      ["invalid_request", () => ({ ...base, contract_version: 1, surprise: true })],
      ["registration_incomplete", () => ({ ...base, contract_version: 1 })],
    ];
    for (const [want, make] of steps) expect(await reasonOf(h.node, make())).toBe(want);
    h.node.completeRegistration();
    const valid = { ...base, contract_version: 1 };
    expect(await reasonOf(h.node, valid)).toBe("authority_verifier_missing"); // lane also unknown
    // a second node, complete with a verifier, to continue down the order
    const h2 = harness({ clock, ttlMs: 1000 });
    const ghost = request(h2, { lane_id: "ghost" }, { issuedAt: T0 - 10, expiresAt: T0 + 10 });
    const { authority_ref: ghostRef, ...ghostNoRef } = ghost;
    expect(await reasonOf(h2.node, ghostNoRef)).toBe("lane_not_registered"); // also no ref, no target
    const echo = request(h2, {}, { issuedAt: T0 - 10, expiresAt: T0 + 10 });
    const { authority_ref: _e, ...echoNoRef } = echo;
    expect(await reasonOf(h2.node, { ...echoNoRef, acceptable_attestation: { contract_version: 1, classes: ["nothing"] } })).toBe("authority_ref_missing");
    // bad signature AND expired AND unsatisfiable classes → authority_rejected (signature first)
    now = T0 + 5000;
    const tampered = { ...echo, authority_ref: { ...(echo.authority_ref as object), subject: "eve" }, acceptable_attestation: { contract_version: 1, classes: ["nothing"] } };
    expect(await reasonOf(h2.node, tampered)).toBe("authority_rejected");
    // valid signature but expired AND descriptor expired → authority_expired
    expect(await reasonOf(h2.node, echo)).toBe("authority_expired");
    // valid fresh authority, descriptor expired → target_descriptor_expired
    const fresh = request(h2, {}, { issuedAt: now - 10, expiresAt: now + 10 });
    expect(await reasonOf(h2.node, fresh)).toBe("target_descriptor_expired");
    // policy denial comes before target selection
    const bobs = request(h2, {}, { subject: "bob", issuedAt: now - 10, expiresAt: now + 10 });
    expect(await reasonOf(h2.node, bobs)).toBe("policy_denied");
    expect(ghostRef).toBeDefined();
    expect(h2.lane.calls).toHaveLength(0);
  });
});

describe("connectTarget", () => {
  it("only verifier-minted descriptors enter routing; claimed classes are ignored", () => {
    const h = harness({ targets: [] });
    const att = h.weak.mintAttestation({ targetId: "t1", laneId: "echo", now: T0 });
    // claim a strong class: ignored, the descriptor carries only the verifier's own class
    const claimed = { ...att, claimed_capability_classes: ["microvm-strong", "local-process-weak"] };
    const r = h.node.connectTarget(claimed);
    expect(r.ok && r.descriptor.attested_capability_classes).toEqual(["local-process-weak"]);
    // a forged attestation (mac over other fields) is refused
    const forged = h.node.connectTarget({ ...att, target_id: "t2" });
    expect(forged).toMatchObject({ ok: false, rejection: { reason: "target_attestation_unverifiable", details: { reason: "mac_mismatch" } } });
    // another verifier instance (another key) did not mint it
    const other = new LocalWeakVerifier({ key: Buffer.alloc(32, 9), host: "testhost", lanes: ["echo"] });
    expect(h.node.connectTarget(other.mintAttestation({ targetId: "t3", laneId: "echo", now: T0 })).ok).toBe(false);
    // an unknown attestation type has no verifier; garbage is rejected, not thrown
    expect(h.node.connectTarget({ ...att, attestation_type: "tee-quote" })).toMatchObject({ ok: false, rejection: { details: { reason: "no_verifier" } } });
    expect(h.node.connectTarget("garbage")).toMatchObject({ ok: false, rejection: { reason: "target_attestation_unverifiable", details: { reason: "invalid_attestation" } } });
    // a lane the weak class cannot describe
    expect(h.node.connectTarget(h.weak.mintAttestation({ targetId: "t4", laneId: "http", now: T0 }))).toMatchObject({
      ok: false,
      rejection: { details: { reason: "lane_not_same_host" } },
    });
    expect(h.node.describe().verified_targets.map((d) => d.target_id)).toEqual(["t1"]);
  });

  it("rejects a verifier that mints classes it does not declare, or another verifier's id, or an expired descriptor", () => {
    const h = harness({ targets: [], complete: false });
    const base = h.weak.verify(h.weak.mintAttestation({ targetId: "x", laneId: "echo", now: T0 }), { now: T0 });
    if (!base.ok) throw new Error("setup");
    const rogue = (descriptor: object) => ({
      verifier_id: "rogue",
      attestation_types: ["rogue"],
      capability_classes: ["rogue-class"],
      handles: (a: { attestation_type: string }) => a.attestation_type === "rogue",
      verify: () => ({ ok: true as const, descriptor: descriptor as typeof base.descriptor }),
    });
    const att = { contract_version: 1, attestation_id: "a", attestation_type: "rogue", presented_at: T0 };
    const n1 = harness({ targets: [], complete: false });
    n1.node.registerTargetVerifier(rogue({ ...base.descriptor, verifier_id: "rogue" }));
    expect(n1.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { details: { reason: "undeclared_class" } } });
    const n2 = harness({ targets: [], complete: false });
    n2.node.registerTargetVerifier(rogue({ ...base.descriptor, attested_capability_classes: ["rogue-class"] }));
    expect(n2.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { details: { reason: "verifier_id_mismatch" } } });
    const n3 = harness({ targets: [], complete: false, clock: fixedClock(T0 + 10 * 3_600_000) });
    n3.node.registerTargetVerifier(rogue({ ...base.descriptor, verifier_id: "rogue", attested_capability_classes: ["rogue-class"] }));
    expect(n3.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { reason: "target_descriptor_expired" } });
    const n4 = harness({ targets: [], complete: false });
    n4.node.registerTargetVerifier(rogue({ ...base.descriptor, verifier_id: "rogue", attested_capability_classes: ["rogue-class"], lane_id: "" }));
    expect(n4.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { details: { reason: "invalid_descriptor", path: "$.lane_id" } } });
    expect(n4.node.describe().verified_targets).toEqual([]);
    expect(h.node.describe().verified_targets).toEqual([]);
  });

  it("local-process-weak: expiry is fixed at minting (presented_at + ttl); a stale or future attestation is refused", () => {
    let now = T0;
    const clock = { now: () => now };
    const h = harness({ clock, targets: [], ttlMs: 5000 });
    const att = h.weak.mintAttestation({ targetId: "t1", laneId: "echo", now: T0 });
    // connected later, the descriptor still expires at presented_at + ttl (not now + ttl)
    now = T0 + 3000;
    const r = h.node.connectTarget(att);
    expect(r.ok && r.descriptor.expires_at).toBe(T0 + 5000);
    // reconnecting the same (stale) attestation cannot renew it
    now = T0 + 5000;
    expect(h.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { reason: "target_attestation_unverifiable", details: { reason: "attestation_expired" } } });
    now = T0 + 60_000;
    expect(h.node.connectTarget(att)).toMatchObject({ ok: false, rejection: { reason: "target_attestation_unverifiable", details: { reason: "attestation_expired" } } });
    // an attestation presented in the future is refused
    const future = h.weak.mintAttestation({ targetId: "t2", laneId: "echo", now: now + 1 });
    expect(h.node.connectTarget(future)).toMatchObject({ ok: false, rejection: { reason: "target_attestation_unverifiable", details: { reason: "presented_in_future" } } });
    expect(h.node.describe().verified_targets.map((d) => d.target_id)).toEqual(["t1"]);
  });
});

describe("robustness", () => {
  it("arbitrary inputs never throw: each is rejected with one admission.rejected record", async () => {
    const fc = (await import("fast-check")).default;
    const h = harness();
    const valid = request(h);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.anything(),
          // near-misses: the valid request with one field replaced by anything
          fc.tuple(fc.constantFrom(...Object.keys(valid)), fc.anything()).map(([k, v]) => ({ ...valid, [k]: v })),
        ),
        async (input) => {
          const before = h.sink.records.length;
          const r = await h.node.execute(input);
          if (r.status === "rejected") {
            expect(h.sink.records.length).toBe(before + 1);
            expect(h.sink.records.at(-1)?.evidence_type).toBe("admission.rejected");
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("duplicate registrations throw", () => {
    const h = harness({ complete: false });
    expect(() => h.node.registerLane(new EchoLane("echo"))).toThrow(/already registered/);
    expect(() => h.node.registerTargetVerifier(h.weak)).toThrow(/already registered/);
    expect(() => h.node.registerEvidenceSink(h.sink)).toThrow(/already registered/);
  });
});
