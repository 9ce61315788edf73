/**
 * `request_hash`: what an authority ref binds besides the payload.
 *
 * The hash is `sha256:<hex>` of the RFC 8785 canonical JSON of the NORMALIZED AdmissionRequest
 * with exactly these fields removed (REQUEST_HASH_EXCLUDED):
 *   - `authority_ref` (the ref cannot sign itself);
 *   - `request_id` (the node mints one when it is missing, so the signer may not know it).
 * Every other field is bound: contract_version, lane_id, operation, idempotency_key, payload,
 * sandbox_profile, acceptable_attestation, placement, constraints, provenance and metadata.
 * Normalization is the node's own admission parsing: nested contracts without a
 * `contract_version` inherit the request's, and schema defaults are filled in (payload `{}`,
 * constraints `[]`, provenance `{kind: "node_admitted", details: {}}`, metadata `{}`,
 * priority_order = classes). So `{"classes": [...]}` and its fully spelled-out form hash alike,
 * and the node fills in nothing that the hash covers.
 */
import { canonicalDigest } from "../../core/canonical.js";
import { CONTRACT_VERSION } from "../contracts/base.js";
import { makeAdmissionRequest, type AdmissionRequest } from "../contracts/admission.js";

/** The request fields a `request_hash` does NOT cover. */
export const REQUEST_HASH_EXCLUDED = Object.freeze(["authority_ref", "request_id"] as const);

/** Nested contract values that may omit `contract_version` and then inherit the request's. */
export const NESTED_CONTRACTS = Object.freeze(["acceptable_attestation", "sandbox_profile", "authority_ref"] as const);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * `{"acceptable_attestation": {"classes": [...]}}` is accepted as written in a request (the
 * issue's shape): a nested contract value without its own `contract_version` inherits the
 * envelope's. A nested value WITH a version is validated as given.
 */
export function inheritNestedVersions(input: Record<string, unknown>): Record<string, unknown> {
  let out = input;
  for (const k of NESTED_CONTRACTS) {
    const v = input[k];
    if (isPlainObject(v) && !("contract_version" in v)) out = { ...out, [k]: { contract_version: CONTRACT_VERSION, ...v } };
  }
  return out;
}

/** The hash of an already validated AdmissionRequest (what the verifier recomputes). */
export function requestHashOf(req: AdmissionRequest): string {
  const bound: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req)) {
    if (v === undefined || (REQUEST_HASH_EXCLUDED as readonly string[]).includes(k)) continue;
    bound[k] = v;
  }
  return canonicalDigest(bound);
}

/**
 * The hash of a raw request (what a signer computes): it is normalized exactly as the node
 * admits it (a missing `contract_version` counts as 1), then hashed. Throws E_INVALID_INPUT,
 * naming the field, if the request is not a valid AdmissionRequest.
 */
export function requestHash(request: Record<string, unknown>): string {
  const { authority_ref: _a, request_id: _r, ...rest } = request;
  const withVersion = rest.contract_version === undefined ? { contract_version: CONTRACT_VERSION, ...rest } : rest;
  return requestHashOf(makeAdmissionRequest(inheritNestedVersions({ ...withVersion, request_id: "unbound" })));
}
