import { describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import { makeAdmissionRequest, type AdmissionRequest } from "../../src/plane/contracts/admission.js";
import { makeAuthorityRef, type AuthorityRef } from "../../src/plane/contracts/authority.js";
import {
  Ed25519AuthorityVerifier,
  defaultKeyId,
  generateAuthorityKeyPair,
  payloadHash,
  policyAllows,
  policyBundleHash,
  rawPublicKey,
  signAuthorityRef,
} from "../../src/plane/authority/ed25519.js";
import { REQUEST_HASH_EXCLUDED, requestHash, requestHashOf } from "../../src/plane/authority/request-hash.js";
import { keys } from "./node-helpers.js";

const NOW = 1_700_000_000_000;
const PAYLOAD = { command: "echo", argv: ["ok"], n: 1 };
const k1 = keys(1);
const k2 = keys(2);

const RAW: Record<string, unknown> = { contract_version: 1, request_id: "r1", lane_id: "process", operation: "run", idempotency_key: "k", payload: PAYLOAD };

function req(over: Record<string, unknown> = {}): AdmissionRequest {
  return makeAdmissionRequest({ ...RAW, ...over });
}

/** A ref bound (request_hash) to `bindTo` (default: the request `req()` builds). */
function ref(over: Partial<Parameters<typeof signAuthorityRef>[0]> = {}, bindTo: Record<string, unknown> = RAW): AuthorityRef {
  return signAuthorityRef({
    privateKey: k1.privateKey,
    keyId: "ops",
    subject: "alice",
    audience: "cairn-local",
    request: bindTo,
    issuedAt: NOW - 1000,
    expiresAt: NOW + 60_000,
    ...over,
  });
}

const verifier = new Ed25519AuthorityVerifier({
  audience: "cairn-local",
  trustedKeys: [
    { id: "ops", key: k1.publicKey },
    { id: "other", key: k2.publicKey },
  ],
  policy: [
    { subject: "alice", lanes: ["process", "http"], operations: ["*"] },
    { subject: "*", lanes: ["inline"], operations: ["ping"] },
  ],
});

function verify(r: AuthorityRef, request = req(), now = NOW) {
  return verifier.verify(r, { request, now });
}

describe("Ed25519 authority verifier", () => {
  it("accepts a correctly signed, in-date, in-policy ref", () => {
    const r = ref();
    expect(r.payload_hash).toBe(canonicalDigest(PAYLOAD));
    expect(r.ref).toMatch(/^auth-[0-9a-f]{16}$/);
    expect(verify(r)).toEqual({ ok: true, claims: { ref: r.ref, subject: "alice", key_id: "ops" } });
  });

  it("payload hash is over the canonical payload (key order does not matter)", () => {
    expect(payloadHash({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe(payloadHash({ a: [2, { c: 2, d: 1 }], b: 1 }));
    expect(verify(ref(), req({ payload: { n: 1, argv: ["ok"], command: "echo" } })).ok).toBe(true);
  });

  const cases: Array<[string, () => ReturnType<typeof verify>, string, string]> = [
    ["unsigned", () => verify(makeAuthorityRef({ ...stripSig(ref()) })), "authority_rejected", "signature_missing"],
    ["unknown key id", () => verify(ref({ keyId: "ghost" })), "authority_rejected", "unknown_key"],
    ["signed by another trusted key than named", () => verify(ref({ privateKey: k2.privateKey })), "authority_rejected", "bad_signature"],
    ["a tampered subject", () => verify(makeAuthorityRef({ ...ref(), subject: "mallory" })), "authority_rejected", "bad_signature"],
    ["a tampered expiry", () => verify(makeAuthorityRef({ ...ref(), expires_at: NOW + 10 ** 9 })), "authority_rejected", "bad_signature"],
    ["garbage signature", () => verify(makeAuthorityRef({ ...ref(), signature: "!!!" })), "authority_rejected", "bad_signature"],
    // Buffer.from(…, "base64url") skips invalid characters: a valid signature plus junk must not verify
    ["a valid signature with junk appended", () => verify(makeAuthorityRef({ ...ref(), signature: `${ref().signature}!!` })), "authority_rejected", "bad_signature"],
    ["a valid signature with junk inside", () => verify(makeAuthorityRef({ ...ref(), signature: `${ref().signature?.slice(0, 40)}.${ref().signature?.slice(40)}` })), "authority_rejected", "bad_signature"],
    ["a valid signature padded with =", () => verify(makeAuthorityRef({ ...ref(), signature: `${ref().signature}==` })), "authority_rejected", "bad_signature"],
    ["wrong audience", () => verify(ref({ audience: "elsewhere" })), "authority_rejected", "audience_mismatch"],
    ["not yet valid", () => verify(ref({ issuedAt: NOW + 1, expiresAt: NOW + 100 })), "authority_rejected", "not_yet_valid"],
    ["expired (boundary: now == expires_at)", () => verify(ref({ expiresAt: NOW })), "authority_expired", "expired"],
    ["payload hash mismatch", () => verify(ref(), req({ payload: { ...PAYLOAD, argv: ["rm", "-rf"] } })), "authority_rejected", "payload_hash_mismatch"],
    ["bound lane differs", () => verify(ref({ laneId: "http" })), "authority_rejected", "lane_mismatch"],
    ["bound operation differs", () => verify(ref({ operation: "delete" })), "authority_rejected", "operation_mismatch"],
    ["policy: subject not allowed on the lane", () => verify(ref({ subject: "bob" })), "policy_denied", "policy_denied"],
    ["policy: operation not allowed", () => verify(ref({ subject: "bob" }, { ...RAW, lane_id: "inline" }), req({ lane_id: "inline" })), "policy_denied", "policy_denied"],
    ["a ref that binds only the payload (no request_hash)", () => verify(ref({ request: undefined, payload: PAYLOAD, laneId: "process", operation: "run" })), "authority_rejected", "request_hash_missing"],
  ];
  for (const [name, run, reason, detail] of cases) {
    it(`rejects ${name}: ${reason} / ${detail}`, () => {
      const v = run();
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.reason).toBe(reason);
        expect(v.details.reason).toBe(detail);
      }
    });
  }

  it("binds the whole request: rewriting any field but request_id is request_hash_mismatch", () => {
    const full: Record<string, unknown> = {
      ...RAW,
      acceptable_attestation: { classes: ["local-process-weak"] },
      placement: { kind: "local" },
      sandbox_profile: { profile_ref: "p1", bundle_hash: "sha256:00" },
      constraints: [{ max_ms: 10 }],
      provenance: { kind: "node_admitted", details: { via: "ci" } },
      metadata: { ticket: "T-1" },
    };
    const r = ref({}, full);
    expect(r.metadata.request_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const norm = (o: Record<string, unknown>) => req(JSON.parse(JSON.stringify({ ...o, acceptable_attestation: { contract_version: 1, ...(o.acceptable_attestation as object) }, sandbox_profile: { contract_version: 1, ...(o.sandbox_profile as object) } })));
    expect(verify(r, norm(full))).toMatchObject({ ok: true });
    // request_id is not bound (the node mints one when missing)
    expect(verify(r, norm({ ...full, request_id: "other" }))).toMatchObject({ ok: true });
    const rewrites: Record<string, unknown> = {
      acceptable_attestation: { classes: ["local-process-weak", "anything"] },
      placement: { kind: "ssh", host: "evil" },
      sandbox_profile: { profile_ref: "p2", bundle_hash: "sha256:00" },
      idempotency_key: "k-other",
      provenance: { kind: "node_admitted", details: { via: "mallory" } },
      constraints: [],
      metadata: { ticket: "T-2" },
    };
    for (const [field, value] of Object.entries(rewrites)) {
      const v = verify(r, norm({ ...full, [field]: value }));
      expect(v, field).toMatchObject({ ok: false, reason: "authority_rejected", details: { reason: "request_hash_mismatch" } });
    }
    // dropping an optional field is a rewrite too
    const { placement: _p, ...noPlacement } = full;
    expect(verify(r, norm(noPlacement))).toMatchObject({ details: { reason: "request_hash_mismatch" } });
  });

  it("request_hash is over the normalized request: defaults and inherited nested versions hash alike", () => {
    const short = { lane_id: "process", operation: "run", idempotency_key: "k", acceptable_attestation: { classes: ["c"] } };
    const long = { contract_version: 1, request_id: "zz", ...short, payload: {}, constraints: [], metadata: {}, provenance: { kind: "node_admitted" }, acceptable_attestation: { contract_version: 1, classes: ["c"], priority_order: ["c"] } };
    expect(requestHash(short)).toBe(requestHash(long));
    expect(requestHash({ ...long, authority_ref: { anything: true } })).toBe(requestHash(long));
    expect(requestHash(short)).toBe(requestHashOf(makeAdmissionRequest(long)));
    expect(() => requestHash({ ...short, bogus: 1 })).toThrow(/bogus/);
    expect(REQUEST_HASH_EXCLUDED).toEqual(["authority_ref", "request_id"]);
  });

  it("checks in order: signature before audience before expiry before payload before policy", () => {
    // forged AND wrong audience AND expired → bad_signature
    const forged = makeAuthorityRef({ ...ref({ audience: "x", expiresAt: NOW }), subject: "eve" });
    expect(verify(forged)).toMatchObject({ details: { reason: "bad_signature" } });
    // wrong audience AND expired AND payload mismatch → audience_mismatch
    expect(verify(ref({ audience: "x", expiresAt: NOW }), req({ payload: {} }))).toMatchObject({ details: { reason: "audience_mismatch" } });
    // expired AND payload mismatch AND policy denial → expired
    expect(verify(ref({ subject: "bob", expiresAt: NOW }), req({ payload: {} }))).toMatchObject({ reason: "authority_expired" });
    // payload mismatch AND policy denial → payload_hash_mismatch
    expect(verify(ref({ subject: "bob" }), req({ payload: {} }))).toMatchObject({ details: { reason: "payload_hash_mismatch" } });
    // request rewrite AND policy denial → request_hash_mismatch (binding before policy)
    expect(verify(ref({ subject: "bob" }), req({ metadata: { x: 1 } }))).toMatchObject({ details: { reason: "request_hash_mismatch" } });
  });

  it("policy wildcards", () => {
    const rules = [
      { subject: "alice", lanes: ["process"], operations: ["*"] },
      { subject: "*", lanes: ["*"], operations: ["read"] },
    ];
    expect(policyAllows(rules, "alice", "process", "anything")).toBe(true);
    expect(policyAllows(rules, "alice", "http", "write")).toBe(false);
    expect(policyAllows(rules, "zed", "http", "read")).toBe(true);
    expect(policyAllows([], "alice", "process", "run")).toBe(false);
  });

  it("policy bundle hash is stable under key order and PEM layout, and changes with policy or keys", () => {
    const a = policyBundleHash("aud", [{ id: "b", key: k2.publicKey }, { id: "a", key: k1.publicKey }], []);
    const pem = k1.publicKey.export({ format: "pem", type: "spki" }).toString();
    const b = policyBundleHash("aud", [{ id: "a", key: pem }, { id: "b", key: k2.publicKey }], []);
    expect(a).toBe(b);
    expect(policyBundleHash("aud", [{ id: "a", key: k1.publicKey }], [])).not.toBe(a);
    expect(policyBundleHash("aud", [{ id: "b", key: k2.publicKey }, { id: "a", key: k1.publicKey }], [{ subject: "x", lanes: ["*"], operations: ["*"] }])).not.toBe(a);
    expect(policyBundleHash("aud2", [{ id: "b", key: k2.publicKey }, { id: "a", key: k1.publicKey }], [])).not.toBe(a);
  });

  it("keygen produces PEM keys usable for signing; default key ids derive from the public key", () => {
    const kp = generateAuthorityKeyPair();
    expect(kp.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(kp.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(rawPublicKey(kp.publicKeyPem)).toHaveLength(43);
    expect(defaultKeyId(kp.publicKeyPem)).toMatch(/^key-[0-9a-f]{16}$/);
    const v = new Ed25519AuthorityVerifier({ audience: "a", trustedKeys: [{ id: "x", key: kp.publicKeyPem }], policy: [{ subject: "s", lanes: ["*"], operations: ["*"] }] });
    const r = signAuthorityRef({ privateKey: kp.privateKeyPem, keyId: "x", subject: "s", audience: "a", request: { ...RAW, payload: {} }, issuedAt: 0, expiresAt: 10 });
    expect(v.verify(r, { request: req({ payload: {} }), now: 5 }).ok).toBe(true);
    expect(() => new Ed25519AuthorityVerifier({ audience: "a", trustedKeys: [{ id: "x", key: kp.privateKeyPem.replace("PRIVATE", "PUBLIC") }], policy: [] })).toThrow(/public key/);
    // a PRIVATE key configured as a trusted (public) key is refused, PEM text or KeyObject
    expect(() => new Ed25519AuthorityVerifier({ audience: "a", trustedKeys: [{ id: "x", key: kp.privateKeyPem }], policy: [] })).toThrow(/PRIVATE key/);
    expect(() => new Ed25519AuthorityVerifier({ audience: "a", trustedKeys: [{ id: "x", key: k1.privateKey }], policy: [] })).toThrow(/PRIVATE key/);
    expect(() => new Ed25519AuthorityVerifier({ audience: "a", trustedKeys: [{ id: "x", key: k1.publicKey }, { id: "x", key: k2.publicKey }], policy: [] })).toThrow(/duplicate/);
  });

  it("signatures are deterministic (Ed25519) and the ref id is content-derived", () => {
    expect(ref()).toEqual(ref());
    expect(ref().ref).not.toBe(ref({ subject: "bob" }).ref);
  });
});

function stripSig(r: AuthorityRef): Record<string, unknown> {
  const { signature: _s, key_id: _k, ...rest } = r;
  return rest;
}
