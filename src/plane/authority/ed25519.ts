/**
 * The Ed25519 authority verifier (node:crypto) and its helpers: key generation, signing and the
 * subject → lanes × operations policy.
 *
 * An AuthorityRef is a signed statement. The signature covers the domain-separation line
 * `cairn.plane.authority-ref.v1\n` followed by the RFC 8785 canonical JSON of every field of the
 * ref except `signature` (contract_version, ref, subject, audience, payload_hash, issued_at,
 * expires_at, key_id, the optional lane_id / operation bindings, metadata). The signature is
 * base64url without padding: exactly 86 characters of [A-Za-z0-9_-] that decode to 64 bytes and
 * re-encode to the same text (anything else is `bad_signature`). `payload_hash` is
 * `sha256:<hex>` of the canonical JSON of the request's `payload`. `metadata.request_hash` is the
 * hash of the WHOLE normalized request minus `authority_ref` and `request_id` (see
 * request-hash.ts): rewriting acceptable_attestation, placement, sandbox_profile,
 * idempotency_key, provenance, constraints or metadata breaks it. It lives in the signed
 * `metadata` because the AuthorityRef contract has no dedicated field; it is REQUIRED.
 *
 * Verification order (the first failure wins; `details.reason` always names the cause, also for
 * the top-level reasons `authority_expired` and `policy_denied`):
 *   1. `signature_missing`      no key_id or no signature              → authority_rejected
 *   2. `unknown_key`            key_id not among the trusted keys      → authority_rejected
 *   3. `bad_signature`          malformed signature, or Ed25519 verification fails → authority_rejected
 *   4. `audience_mismatch`      audience ≠ the node's audience         → authority_rejected
 *   5. `not_yet_valid`          issued_at > now                        → authority_rejected
 *   6. `expired`                now ≥ expires_at                       → authority_expired
 *   7. `payload_hash_mismatch`  payload_hash ≠ sha256(canonical payload) → authority_rejected
 *   8. `lane_mismatch` / `operation_mismatch`  a bound lane/operation differs → authority_rejected
 *   9. `request_hash_missing`   the signed metadata has no request_hash  → authority_rejected
 *  10. `request_hash_mismatch`  request_hash ≠ the hash of this request  → authority_rejected
 *  11. `policy_denied`          no policy rule lets subject use lane × operation → policy_denied
 * Nothing in a ref is believed before its signature verifies (steps 4–11 read signed fields only).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign as edSign, verify as edVerify } from "node:crypto";
import { canonicalBytes, canonicalDigest } from "../../core/canonical.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";
import { CONTRACT_VERSION, type JsonValue } from "../contracts/base.js";
import { makeAuthorityRef, type AuthorityRef } from "../contracts/authority.js";
import { fingerprint, safeIdOrFingerprint } from "../evidence/redact.js";
import { requestHash, requestHashOf } from "./request-hash.js";
import type { AuthorityContext, AuthorityVerdict, AuthorityVerifier } from "./verifier.js";

export const ED25519_VERIFIER_ID = "cairn.plane:ed25519-authority:v1";
/** The domain-separation prefix of the signed bytes. */
export const AUTHORITY_SIGNING_DOMAIN = "cairn.plane.authority-ref.v1\n";
export const POLICY_BUNDLE_KIND = "cairn.plane.policy-bundle";
export const WILDCARD = "*";

/** One policy rule: `subject` may use `lanes` × `operations` ("*" matches anything). */
export interface PolicyRule {
  readonly subject: string;
  readonly lanes: readonly string[];
  readonly operations: readonly string[];
}

export interface TrustedKey {
  readonly id: string;
  /** An Ed25519 public key (KeyObject, or PEM/SPKI text). */
  readonly key: KeyObject | string;
}

export interface Ed25519VerifierOptions {
  /** The audience this node accepts (refs for any other audience are rejected). */
  readonly audience: string;
  readonly trustedKeys: readonly TrustedKey[];
  readonly policy: readonly PolicyRule[];
  readonly verifierId?: string;
}

/** A base64url Ed25519 signature: 64 bytes, no padding. */
const SIGNATURE_RE = /^[A-Za-z0-9_-]{86}$/;
const PRIVATE_PEM_RE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Parses an Ed25519 public key from a KeyObject or PEM (SPKI) text; E_INVALID_INPUT otherwise.
 * Private key material (a private KeyObject, or PEM text holding a private key, from which
 * node:crypto would silently derive the public key) is REJECTED: a trusted key file must never
 * be a private key.
 */
export function ed25519PublicKey(key: KeyObject | string, what = "public key"): KeyObject {
  let k: KeyObject;
  if ((typeof key === "string" && PRIVATE_PEM_RE.test(key)) || (typeof key !== "string" && key.type === "private")) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what}: is a PRIVATE key; configure the public key (.pub) instead`, { what });
  }
  try {
    k = typeof key === "string" ? createPublicKey(key) : key;
  } catch (err) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what}: not a PEM public key`, { what }, { cause: err });
  }
  if (k.asymmetricKeyType !== "ed25519") throw new CairnError(ErrorCode.INVALID_INPUT, `${what}: not an Ed25519 key`, { what });
  return k;
}

/** Parses an Ed25519 private key from a KeyObject or PEM (PKCS#8) text. */
export function ed25519PrivateKey(key: KeyObject | string, what = "private key"): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === "string" ? createPrivateKey(key) : key;
  } catch (err) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what}: not a PEM private key`, { what }, { cause: err });
  }
  if (k.type !== "private" || k.asymmetricKeyType !== "ed25519") {
    throw new CairnError(ErrorCode.INVALID_INPUT, `${what}: not an Ed25519 private key`, { what });
  }
  return k;
}

/** The raw 32-byte public key, base64url: the stable identity of a key (independent of PEM layout). */
export function rawPublicKey(key: KeyObject | string): string {
  const jwk = ed25519PublicKey(key).export({ format: "jwk" }) as { x?: string };
  return jwk.x as string;
}

/** Default key id: `key-` + the first 16 hex digits of sha256(raw public key). */
export function defaultKeyId(publicKey: KeyObject | string): string {
  return `key-${createHash("sha256").update(Buffer.from(rawPublicKey(publicKey), "base64url")).digest("hex").slice(0, 16)}`;
}

export interface Ed25519KeyPair {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM. */
  readonly publicKeyPem: string;
}

/** A fresh Ed25519 key pair (PEM texts). */
export function generateAuthorityKeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

/** `sha256:<hex>` of the canonical JSON of a request payload (what `payload_hash` binds). */
export function payloadHash(payload: unknown): string {
  return canonicalDigest(payload ?? {});
}

function signingBytes(ref: Record<string, unknown>): Buffer {
  const { signature: _omit, ...statement } = ref;
  return Buffer.concat([Buffer.from(AUTHORITY_SIGNING_DOMAIN, "utf8"), canonicalBytes(statement)]);
}

export interface SignAuthorityInput {
  readonly privateKey: KeyObject | string;
  readonly keyId: string;
  readonly subject: string;
  readonly audience: string;
  /**
   * The admission request the ref authorises (`authority_ref` and `request_id` are ignored).
   * Its `request_hash` (request-hash.ts) is signed into `metadata.request_hash`; `payload`,
   * `laneId` and `operation` default to the request's. REQUIRED for a ref the Ed25519 verifier
   * accepts (without it the ref has no request_hash and is rejected `request_hash_missing`).
   */
  readonly request?: Record<string, unknown>;
  /** The request payload (its canonical hash is signed); default: `request.payload`. */
  readonly payload?: unknown;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Bind the ref to this lane / operation too (default: the request's; `cairn plane sign` always does). */
  readonly laneId?: string;
  readonly operation?: string;
  readonly metadata?: Record<string, JsonValue>;
  /** Default: `auth-` + 16 hex digits of the digest of the unsigned statement (deterministic). */
  readonly ref?: string;
}

/** The keys of `signAuthorityRef`'s input (any other is refused, E_USAGE with a did-you-mean). */
export const SIGN_AUTHORITY_INPUT_KEYS: readonly string[] = Object.freeze([
  "privateKey", "keyId", "subject", "audience", "request", "payload", "issuedAt", "expiresAt", "laneId", "operation", "metadata", "ref",
]);

/** The keys of `Ed25519AuthorityVerifier`'s options. */
export const VERIFIER_OPTION_KEYS: readonly string[] = Object.freeze(["audience", "trustedKeys", "policy", "verifierId"]);

/**
 * `signAuthorityRef`'s input shape: an object with only SIGN_AUTHORITY_INPUT_KEYS and a
 * `privateKey` (E_USAGE naming the option). The field values are checked by `makeAuthorityRef`
 * (E_INVALID_INPUT) and the key by `ed25519PrivateKey`, as before.
 */
function checkSignInput(input: unknown): asserts input is SignAuthorityInput {
  if (!isOptionsObject(input)) {
    throw new CairnError(ErrorCode.USAGE, `signAuthorityRef: options must be an object {privateKey, keyId, subject, audience, request, issuedAt, expiresAt, …}, got ${describeArgument(input)}`, { field: "options" });
  }
  refuseUnknownKeys(input, SIGN_AUTHORITY_INPUT_KEYS, "signAuthorityRef option", "signAuthorityRef options");
  if (typeof input.privateKey !== "string" && !(input.privateKey instanceof KeyObject)) {
    throw new CairnError(ErrorCode.USAGE, `signAuthorityRef: privateKey must be an Ed25519 private key (KeyObject or PEM text), got ${describeArgument(input.privateKey)}`, { field: "privateKey" });
  }
}

/** Builds and signs an AuthorityRef. */
export function signAuthorityRef(input: SignAuthorityInput): AuthorityRef {
  checkSignInput(input);
  const key = ed25519PrivateKey(input.privateKey);
  const req = input.request;
  const metadata: Record<string, unknown> = { ...(input.metadata ?? {}) };
  if (req !== undefined) metadata.request_hash = requestHash(req);
  const statement: Record<string, unknown> = {
    contract_version: CONTRACT_VERSION,
    subject: input.subject,
    audience: input.audience,
    payload_hash: payloadHash(input.payload !== undefined ? input.payload : req?.payload),
    issued_at: input.issuedAt,
    expires_at: input.expiresAt,
    key_id: input.keyId,
    metadata,
  };
  const laneId = input.laneId ?? (typeof req?.lane_id === "string" ? req.lane_id : undefined);
  const operation = input.operation ?? (typeof req?.operation === "string" ? req.operation : undefined);
  if (laneId !== undefined) statement.lane_id = laneId;
  if (operation !== undefined) statement.operation = operation;
  statement.ref = input.ref ?? `auth-${canonicalDigest(statement).slice("sha256:".length, "sha256:".length + 16)}`;
  const unsigned = makeAuthorityRef(statement); // validates (expires_at > issued_at, non-empty fields)
  const signature = edSign(null, signingBytes(unsigned as unknown as Record<string, unknown>), key).toString("base64url");
  return makeAuthorityRef({ ...unsigned, signature });
}

/** Whether `rules` let `subject` use `lane` × `operation`. */
export function policyAllows(rules: readonly PolicyRule[], subject: string, lane: string, operation: string): boolean {
  const m = (xs: readonly string[], v: string) => xs.includes(WILDCARD) || xs.includes(v);
  return rules.some((r) => (r.subject === WILDCARD || r.subject === subject) && m(r.lanes, lane) && m(r.operations, operation));
}

/**
 * The policy bundle hash: the digest of the canonical JSON of
 * `{kind, version, audience, trusted_keys: [{id, ed25519: <raw key base64url>}] sorted by id, policy}`.
 * Policy rules keep their declared order (they are any-match, but the bundle is what was configured).
 */
export function policyBundleHash(audience: string, trustedKeys: readonly TrustedKey[], policy: readonly PolicyRule[]): string {
  const keys = trustedKeys.map((k) => ({ id: k.id, ed25519: rawPublicKey(k.key) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return canonicalDigest({
    kind: POLICY_BUNDLE_KIND,
    version: 1,
    audience,
    trusted_keys: keys,
    policy: policy.map((r) => ({ subject: r.subject, lanes: [...r.lanes], operations: [...r.operations] })),
  });
}

function refuse(reason: "authority_rejected" | "authority_expired" | "policy_denied", cause: string, message: string, details: Record<string, JsonValue> = {}): AuthorityVerdict {
  return { ok: false, reason, message, details: { reason: cause, ...details } };
}

function optionError(option: string, message: string): CairnError {
  return new CairnError(ErrorCode.USAGE, `Ed25519AuthorityVerifier: ${option}: ${message}`, { field: option });
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isNonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/**
 * The constructor's options, checked before use: a wrong shape is a CairnError `E_USAGE` naming
 * the option (`trustedKeys[1].id`), never a TypeError from deep inside. Key material is parsed
 * afterwards (`ed25519PublicKey`: `E_INVALID_INPUT`).
 */
function checkVerifierOptions(opts: unknown): asserts opts is Ed25519VerifierOptions {
  if (!isObject(opts)) throw optionError("options", "must be an object {audience, trustedKeys, policy, verifierId?}");
  refuseUnknownKeys(opts, VERIFIER_OPTION_KEYS, "Ed25519AuthorityVerifier option", "Ed25519AuthorityVerifier options");
  // the audience's message as before this check was added
  if (!isNonEmpty(opts.audience)) throw new CairnError(ErrorCode.USAGE, "authority audience must be a non-empty string", { field: "audience" });
  if (!Array.isArray(opts.trustedKeys)) throw optionError("trustedKeys", "must be an array of {id, key}");
  opts.trustedKeys.forEach((k: unknown, i) => {
    if (!isObject(k)) throw optionError(`trustedKeys[${i}]`, "must be an object {id, key}");
    if (!isNonEmpty(k.id)) throw optionError(`trustedKeys[${i}].id`, "must be a non-empty string");
    if (typeof k.key !== "string" && !(k.key instanceof KeyObject)) throw optionError(`trustedKeys[${i}].key`, "must be an Ed25519 public key (KeyObject or PEM text)");
  });
  if (!Array.isArray(opts.policy)) throw optionError("policy", "must be an array of {subject, lanes, operations}");
  opts.policy.forEach((r: unknown, i) => {
    if (!isObject(r)) throw optionError(`policy[${i}]`, "must be an object {subject, lanes, operations}");
    if (!isNonEmpty(r.subject)) throw optionError(`policy[${i}].subject`, "must be a non-empty string");
    for (const f of ["lanes", "operations"] as const) {
      const xs = r[f];
      if (!Array.isArray(xs) || !xs.every(isNonEmpty)) throw optionError(`policy[${i}].${f}`, `must be an array of non-empty strings ("*" for any)`);
    }
  });
  if (opts.verifierId !== undefined && !isNonEmpty(opts.verifierId)) throw optionError("verifierId", "must be a non-empty string");
}

/** The Ed25519 authority verifier (see the module comment for the check order). */
export class Ed25519AuthorityVerifier implements AuthorityVerifier {
  readonly verifier_id: string;
  readonly policy_bundle_hash: string;
  readonly audience: string;
  private readonly keys: ReadonlyMap<string, KeyObject>;
  private readonly policy: readonly PolicyRule[];

  constructor(opts: Ed25519VerifierOptions) {
    checkVerifierOptions(opts);
    const keys = new Map<string, KeyObject>();
    for (const k of opts.trustedKeys) {
      if (keys.has(k.id)) throw new CairnError(ErrorCode.USAGE, `duplicate trusted key id ${JSON.stringify(k.id)}`, { key_id: k.id });
      keys.set(k.id, ed25519PublicKey(k.key, `trusted key ${k.id}`));
    }
    this.verifier_id = opts.verifierId ?? ED25519_VERIFIER_ID;
    this.audience = opts.audience;
    this.keys = keys;
    this.policy = opts.policy.map((r) => Object.freeze({ subject: r.subject, lanes: [...r.lanes], operations: [...r.operations] }));
    this.policy_bundle_hash = policyBundleHash(opts.audience, opts.trustedKeys, this.policy);
  }

  verify(ref: AuthorityRef, ctx: AuthorityContext): AuthorityVerdict {
    const req = ctx.request;
    if (ref.key_id === undefined || ref.signature === undefined) {
      return refuse("authority_rejected", "signature_missing", "authority ref is not signed (key_id and signature are required)");
    }
    const key = this.keys.get(ref.key_id);
    if (key === undefined) {
      // key_id is unsigned and unknown: it is never repeated, only fingerprinted
      return refuse("authority_rejected", "unknown_key", "authority ref key_id is not trusted by this node", { key_id: fingerprint(ref.key_id) });
    }
    let sigOk = false;
    try {
      // strict base64url: Buffer.from skips invalid characters, so check the text and its round trip
      if (SIGNATURE_RE.test(ref.signature)) {
        const sig = Buffer.from(ref.signature, "base64url");
        sigOk = sig.length === 64 && sig.toString("base64url") === ref.signature && edVerify(null, signingBytes(ref as unknown as Record<string, unknown>), key, sig);
      }
    } catch {
      sigOk = false;
    }
    if (!sigOk) return refuse("authority_rejected", "bad_signature", "authority ref signature does not verify", { key_id: ref.key_id });
    if (ref.audience !== this.audience) {
      return refuse("authority_rejected", "audience_mismatch", `authority ref is for audience ${JSON.stringify(ref.audience)}, not ${JSON.stringify(this.audience)}`, {
        audience: ref.audience,
        expected_audience: this.audience,
      });
    }
    if (ref.issued_at > ctx.now) return refuse("authority_rejected", "not_yet_valid", "authority ref is not yet valid", { issued_at: ref.issued_at, now: ctx.now });
    if (ctx.now >= ref.expires_at) return refuse("authority_expired", "expired", "authority ref has expired", { expires_at: ref.expires_at, now: ctx.now });
    const actual = payloadHash(req.payload);
    if (ref.payload_hash !== actual) {
      return refuse("authority_rejected", "payload_hash_mismatch", "authority ref does not cover this payload", { payload_hash: ref.payload_hash, actual_payload_hash: actual });
    }
    if (ref.lane_id !== undefined && ref.lane_id !== req.lane_id) {
      return refuse("authority_rejected", "lane_mismatch", `authority ref is bound to lane ${JSON.stringify(ref.lane_id)}`, { bound_lane_id: ref.lane_id, lane_id: req.lane_id });
    }
    if (ref.operation !== undefined && ref.operation !== req.operation) {
      return refuse("authority_rejected", "operation_mismatch", `authority ref is bound to operation ${JSON.stringify(ref.operation)}`, {
        bound_operation: ref.operation,
        operation: req.operation,
      });
    }
    const bound = ref.metadata.request_hash;
    if (bound === undefined) {
      return refuse("authority_rejected", "request_hash_missing", "authority ref does not bind the request (no metadata.request_hash; sign the whole request)");
    }
    const actualRequest = requestHashOf(req);
    if (bound !== actualRequest) {
      return refuse("authority_rejected", "request_hash_mismatch", "authority ref does not cover this request (a bound field differs)", {
        request_hash: safeIdOrFingerprint(bound),
        actual_request_hash: actualRequest,
      });
    }
    if (!policyAllows(this.policy, ref.subject, req.lane_id, req.operation)) {
      return refuse("policy_denied", "policy_denied", `policy does not let ${JSON.stringify(ref.subject)} use ${req.lane_id}/${req.operation}`, {
        subject: ref.subject,
        lane_id: req.lane_id,
        operation: req.operation,
      });
    }
    return { ok: true, claims: { ref: ref.ref, subject: ref.subject, key_id: ref.key_id } };
  }
}
