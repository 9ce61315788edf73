/**
 * Redaction: what of a request or an outcome may appear in evidence.
 *
 * Rule: no string taken from a request body or an execution output is ever written to evidence.
 * Raw values are replaced by fingerprints `{sha256: "sha256:<hex>", byte_size}` over their RFC
 * 8785 canonical JSON. What stays:
 *   - identifiers the node itself routes on (request_id, lane_id, operation, idempotency_key),
 *     and the authority ref's identity fields (ref, subject, audience, key_id, payload_hash,
 *     request_hash, issued_at, expires_at; never the signature), the acceptable-attestation
 *     classes and the sandbox profile's ref and bundle hash — each ONLY if it matches the bounded
 *     safe-identifier pattern SAFE_ID_RE (`/^[A-Za-z0-9._:-]{1,128}$/`); any other string in
 *     those places is replaced by its fingerprint (`safeIdOrFingerprint`);
 *   - the SHAPE of a payload/output only as a fingerprint of its sorted top-level key list plus
 *     the key count (`{sha256, byte_size, key_count}`): a key may itself be a secret;
 *   - for an output, the raw FACTS its lane's protocol declares (LANE_FACTS: e.g. process
 *     `exit_code` / `signal` / `stdout_truncated`, http `status_code` / `body_truncated`), each
 *     only if it has the declared type/range. Any other top-level value — even a number from an
 *     inline lane (`{pin: 4321}`) — appears only inside the output fingerprint.
 * Everything else (payload values, env, headers, bodies, stdout/stderr, metadata, constraints,
 * placement, failure messages) appears only as a fingerprint.
 */
import { canonicalBytes } from "../../core/canonical.js";
import { sha256 } from "../../core/digest.js";
import type { JsonValue } from "../contracts/base.js";
import type { AdmissionRequest } from "../contracts/admission.js";

export interface Fingerprint {
  readonly sha256: string;
  readonly byte_size: number;
  readonly [k: string]: JsonValue;
}

/** Fingerprint of a JSON value's canonical form; null if it cannot be canonically encoded. */
export function fingerprint(value: unknown): Fingerprint | null {
  try {
    const bytes = canonicalBytes(value);
    return { sha256: sha256(bytes), byte_size: bytes.length };
  } catch {
    return null;
  }
}

/** The bounded pattern an identifier must match to be repeated verbatim in evidence or a rejection. */
export const SAFE_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Whether `v` is a string evidence may repeat verbatim (see SAFE_ID_RE). */
export function isSafeId(v: unknown): v is string {
  return typeof v === "string" && SAFE_ID_RE.test(v);
}

/** `v` itself when it is a safe identifier, else its fingerprint (never the raw string). */
export function safeIdOrFingerprint(v: unknown): JsonValue {
  return isSafeId(v) ? v : fingerprint(v);
}

/**
 * A JSON value for evidence from verifier/node-built rejection details: every string that is not
 * a safe identifier becomes its fingerprint, every object key that is not one is replaced by
 * `*<n>` (its position), numbers/booleans/null stay. Defence in depth for pluggable verifiers.
 */
export function redactDetails(v: unknown): JsonValue {
  if (v === null || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) return v;
  if (typeof v === "string") return safeIdOrFingerprint(v);
  if (Array.isArray(v)) return v.map((x) => redactDetails(x));
  if (typeof v === "object") {
    const out: Record<string, JsonValue> = {};
    Object.keys(v as object)
      .sort()
      .forEach((k, i) => {
        out[isSafeId(k) ? k : `*${i}`] = redactDetails((v as Record<string, unknown>)[k]);
      });
    return out;
  }
  return fingerprint(v);
}

/** The shape of an object as a fingerprint of its sorted key list (keys may be secrets), with the key count. */
function shapeOf(v: unknown): JsonValue {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const keys = Object.keys(v).sort();
  const fp = fingerprint(keys);
  return fp === null ? null : { ...fp, key_count: keys.length };
}

/**
 * The evidence projection of a validated AdmissionRequest. With `laneRegistered: false` (the
 * node's lane_not_registered path) the lane id is fingerprinted even if it looks like an id.
 * With `authorityVerified: false` (the request was rejected before or by authority
 * verification) every string of the authority ref — unsigned or signed by an unknown key — is
 * fingerprinted; only refs that passed verification have their identity fields repeated.
 */
export function redactRequest(req: AdmissionRequest, opts: { readonly laneRegistered?: boolean; readonly authorityVerified?: boolean } = {}): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {
    request_id: safeIdOrFingerprint(req.request_id),
    lane_id: opts.laneRegistered === false ? fingerprint(req.lane_id) : safeIdOrFingerprint(req.lane_id),
    operation: safeIdOrFingerprint(req.operation),
    idempotency_key: safeIdOrFingerprint(req.idempotency_key),
    payload: fingerprint(req.payload),
    payload_shape: shapeOf(req.payload),
    metadata: fingerprint(req.metadata),
    constraints: fingerprint(req.constraints),
    placement: req.placement === undefined ? null : fingerprint(req.placement),
    provenance_kind: req.provenance.kind,
    acceptable_attestation:
      req.acceptable_attestation === undefined
        ? null
        : { classes: req.acceptable_attestation.classes.map(safeIdOrFingerprint), priority_order: req.acceptable_attestation.priority_order.map(safeIdOrFingerprint) },
    sandbox_profile:
      req.sandbox_profile === undefined ? null : { profile_ref: safeIdOrFingerprint(req.sandbox_profile.profile_ref), bundle_hash: safeIdOrFingerprint(req.sandbox_profile.bundle_hash) },
    authority_ref: null,
  };
  const a = req.authority_ref;
  if (a !== undefined && opts.authorityVerified === false) {
    const ref: Record<string, JsonValue> = {
      verified: false,
      ref: fingerprint(a.ref),
      subject: fingerprint(a.subject),
      audience: fingerprint(a.audience),
      payload_hash: fingerprint(a.payload_hash),
      request_hash: a.metadata.request_hash === undefined ? null : fingerprint(a.metadata.request_hash),
      issued_at: a.issued_at,
      expires_at: a.expires_at,
      key_id: a.key_id === undefined ? null : fingerprint(a.key_id),
      metadata: fingerprint(a.metadata),
    };
    if (a.lane_id !== undefined) ref.lane_id = fingerprint(a.lane_id);
    if (a.operation !== undefined) ref.operation = fingerprint(a.operation);
    out.authority_ref = ref;
  } else if (a !== undefined) {
    const ref: Record<string, JsonValue> = {
      ref: safeIdOrFingerprint(a.ref),
      subject: safeIdOrFingerprint(a.subject),
      audience: safeIdOrFingerprint(a.audience),
      payload_hash: safeIdOrFingerprint(a.payload_hash),
      request_hash: a.metadata.request_hash === undefined ? null : safeIdOrFingerprint(a.metadata.request_hash),
      issued_at: a.issued_at,
      expires_at: a.expires_at,
      key_id: a.key_id === undefined ? null : safeIdOrFingerprint(a.key_id),
      metadata: fingerprint(a.metadata),
    };
    if (a.lane_id !== undefined) ref.lane_id = opts.laneRegistered === false ? fingerprint(a.lane_id) : safeIdOrFingerprint(a.lane_id);
    if (a.operation !== undefined) ref.operation = safeIdOrFingerprint(a.operation);
    out.authority_ref = ref;
  }
  return out;
}

/** The evidence projection of a request that failed validation: its fingerprint only. */
export function redactInvalid(input: unknown): Record<string, JsonValue> {
  return { invalid: true, fingerprint: fingerprint(input) };
}

/** Whether a raw lane fact has the type/range `LANE_FACTS` declares for it. */
export type FactCheck = (v: unknown) => boolean;
const intIn = (lo: number, hi: number): FactCheck => (v) => Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi;
const orNull = (c: FactCheck): FactCheck => (v) => v === null || c(v);
const isBool: FactCheck = (v) => typeof v === "boolean";
const oneOf = (...xs: string[]): FactCheck => (v) => typeof v === "string" && xs.includes(v);
const count = intIn(0, Number.MAX_SAFE_INTEGER);
const exitCode = orNull(intIn(0, 255));
const signalName = orNull((v) => typeof v === "string" && /^SIG[A-Z0-9]{1,12}$/.test(v));
const httpStatus = intIn(100, 599);

/**
 * The raw facts each lane protocol declares (by the lane's first capability protocol), with the
 * type/range a value must have to be recorded. These are the top-level output fields the lanes in
 * src/plane/lanes return as raw facts; nothing else from an output is ever copied into evidence.
 * `inline` and `worker_thread` outputs are arbitrary function results: they declare no facts.
 */
export const LANE_FACTS: Readonly<Record<string, Readonly<Record<string, FactCheck>>>> = Object.freeze({
  process: { exit_code: exitCode, signal: signalName, stdout_truncated: isBool, stderr_truncated: isBool },
  http: { status_code: httpStatus, body_truncated: isBool, body_encoding: oneOf("utf8", "base64") },
  jsonrpc: { exit_code: exitCode, signal: signalName },
  sse: { status_code: httpStatus, events: count, end: oneOf("eof", "stop_event", "max_events", "max_bytes") },
  websocket: {
    status_code: httpStatus,
    messages: count,
    end: oneOf("close_after", "max_messages", "max_bytes"),
    close_code: intIn(1000, 4999),
    closed_by: oneOf("server", "lane"),
  },
  inline: {},
  worker_thread: {},
});

/** Every declared fact (used when the caller does not name a protocol). */
const ALL_FACTS: Readonly<Record<string, FactCheck>> = Object.freeze(
  Object.values(LANE_FACTS).reduce<Record<string, FactCheck>>((acc, t) => {
    for (const [k, c] of Object.entries(t)) {
      const prev = acc[k];
      acc[k] = prev === undefined ? c : (v) => prev(v) || c(v);
    }
    return acc;
  }, {}),
);

/**
 * The evidence projection of an execution output: its fingerprint, its shape (a fingerprint of
 * its sorted key list, with the key count) and the raw facts `protocol` declares (LANE_FACTS;
 * an unknown protocol declares none; no protocol = the union of every protocol's facts).
 */
export function redactOutput(output: unknown, protocol?: string): Record<string, JsonValue> {
  const facts: Record<string, JsonValue> = {};
  const table = protocol === undefined ? ALL_FACTS : (LANE_FACTS[protocol] ?? {});
  if (output !== null && typeof output === "object" && !Array.isArray(output)) {
    for (const [k, check] of Object.entries(table)) {
      if (!Object.prototype.hasOwnProperty.call(output, k)) continue;
      const v = (output as Record<string, unknown>)[k];
      if (check(v)) facts[k] = v as JsonValue;
    }
  }
  return { fingerprint: output === undefined ? null : fingerprint(output), shape: shapeOf(output), facts };
}

/** Field names of the admission-request contracts: the only path segments evidence repeats verbatim. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  // AdmissionRequest
  "contract_version", "request_id", "lane_id", "operation", "idempotency_key", "payload", "authority_ref", "sandbox_profile",
  "acceptable_attestation", "placement", "constraints", "provenance", "metadata",
  // AuthorityRef
  "ref", "subject", "audience", "payload_hash", "issued_at", "expires_at", "key_id", "signature",
  // SandboxProfile, AcceptableAttestation, Provenance
  "profile_ref", "bundle_hash", "opaque_bundle", "classes", "priority_order", "kind", "owner", "admission_ref", "details",
]);

/**
 * A JSONPath (as the contracts format it) with every segment that is not a known contract field
 * or an array index replaced by `*`: an unknown key, or a key inside a payload, may itself be a
 * secret (`{"sk-live-…": 1}`), so evidence never repeats it.
 */
export function redactPath(path: string): string {
  const segs = path.match(/\.[A-Za-z_$][A-Za-z0-9_$]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]/g) ?? [];
  let out = "$";
  for (const s of segs) {
    if (s.startsWith("[") && !s.startsWith('["')) out += s;
    else if (s.startsWith(".") && KNOWN_FIELDS.has(s.slice(1))) out += s;
    else out += ".*";
  }
  return out;
}
