/**
 * Redaction: what of a request or an outcome may appear in evidence.
 *
 * Rule: no string taken from a request body or an execution output is ever written to evidence.
 * Raw values are replaced by fingerprints `{sha256: "sha256:<hex>", byte_size}` over their RFC
 * 8785 canonical JSON. What stays:
 *   - identifiers the node itself routes on (request_id, lane_id, operation, idempotency_key),
 *   - the authority ref's signed identity fields (ref, subject, audience, key_id, payload_hash,
 *     issued_at, expires_at; never the signature),
 *   - the acceptable-attestation classes and the sandbox profile's ref and bundle hash,
 *   - the SHAPE of a payload/output (its sorted top-level keys) and, for an output, its top-level
 *     number/boolean/null values (raw facts such as `exit_code`, `status_code`, `timed_out`).
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

function shapeOf(v: unknown): string[] | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? Object.keys(v).sort() : null;
}

/** The evidence projection of a validated AdmissionRequest. */
export function redactRequest(req: AdmissionRequest): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {
    request_id: req.request_id,
    lane_id: req.lane_id,
    operation: req.operation,
    idempotency_key: req.idempotency_key,
    payload: fingerprint(req.payload),
    payload_shape: shapeOf(req.payload),
    metadata: fingerprint(req.metadata),
    constraints: fingerprint(req.constraints),
    placement: req.placement === undefined ? null : fingerprint(req.placement),
    provenance_kind: req.provenance.kind,
    acceptable_attestation:
      req.acceptable_attestation === undefined ? null : { classes: [...req.acceptable_attestation.classes], priority_order: [...req.acceptable_attestation.priority_order] },
    sandbox_profile: req.sandbox_profile === undefined ? null : { profile_ref: req.sandbox_profile.profile_ref, bundle_hash: req.sandbox_profile.bundle_hash },
    authority_ref: null,
  };
  const a = req.authority_ref;
  if (a !== undefined) {
    const ref: Record<string, JsonValue> = {
      ref: a.ref,
      subject: a.subject,
      audience: a.audience,
      payload_hash: a.payload_hash,
      issued_at: a.issued_at,
      expires_at: a.expires_at,
      key_id: a.key_id ?? null,
    };
    if (a.lane_id !== undefined) ref.lane_id = a.lane_id;
    if (a.operation !== undefined) ref.operation = a.operation;
    out.authority_ref = ref;
  }
  return out;
}

/** The evidence projection of a request that failed validation: its fingerprint only. */
export function redactInvalid(input: unknown): Record<string, JsonValue> {
  return { invalid: true, fingerprint: fingerprint(input) };
}

/** The evidence projection of an execution output: fingerprint, shape, top-level scalar facts. */
export function redactOutput(output: unknown): Record<string, JsonValue> {
  const facts: Record<string, JsonValue> = {};
  if (output !== null && typeof output === "object" && !Array.isArray(output)) {
    for (const [k, v] of Object.entries(output as Record<string, unknown>)) {
      if (v === null || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) facts[k] = v;
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
