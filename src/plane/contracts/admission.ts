/**
 * Admission boundary values: Provenance, AdmissionRequest (request_id minted from an injected
 * IdSource), AdmissionDecision and AdmissionRejection (with a stable reason code).
 */
import { z } from "zod";
import { acceptableAttestationSchema, authorityRefSchema, sandboxProfileSchema } from "./authority.js";
import { CONTRACT_VERSION, contract, contractVersion, jsonObject, jsonValue, metadata, nonEmpty } from "./base.js";
import type { IdSource } from "./ids.js";

export const provenanceSchema = z
  .object({
    kind: z.enum(["node_admitted", "direct_lower_lane_owner"]).default("node_admitted"),
    owner: nonEmpty.optional(),
    admission_ref: nonEmpty.optional(),
    details: metadata,
  })
  .strict();
export type Provenance = z.output<typeof provenanceSchema>;

export const admissionRequestSchema = z
  .object({
    contract_version: contractVersion,
    request_id: nonEmpty,
    lane_id: nonEmpty,
    operation: nonEmpty,
    idempotency_key: nonEmpty,
    payload: jsonObject.default({}),
    authority_ref: authorityRefSchema.optional(),
    sandbox_profile: sandboxProfileSchema.optional(),
    acceptable_attestation: acceptableAttestationSchema.optional(),
    placement: jsonObject.optional(),
    constraints: z.array(jsonValue).default([]),
    provenance: provenanceSchema.default({}),
    metadata,
  })
  .strict();
export const AdmissionRequest = contract("AdmissionRequest", admissionRequestSchema);
export type AdmissionRequest = z.output<typeof admissionRequestSchema>;
export const makeAdmissionRequest = AdmissionRequest.make;
export const parseAdmissionRequest = AdmissionRequest.parse;

/** Builds an AdmissionRequest, minting `request_id` (prefix `adm`) from `ids` unless one is given. */
export function newAdmissionRequest(ids: IdSource, fields: Record<string, unknown>): AdmissionRequest {
  return makeAdmissionRequest({ contract_version: CONTRACT_VERSION, request_id: ids.next("adm"), ...fields });
}

export const admissionDecisionSchema = z
  .object({
    contract_version: contractVersion,
    request_id: nonEmpty,
    status: z.literal("accepted"),
    execution_ref: nonEmpty,
    target_id: nonEmpty.nullable(),
    lane_id: nonEmpty,
    attestation_class: nonEmpty.nullable(),
    reason: z.string(),
    provenance_kind: z.enum(["node_admitted", "direct_lower_lane_owner"]).default("node_admitted"),
    evidence: z.array(nonEmpty).default([]),
  })
  .strict();
export const AdmissionDecision = contract("AdmissionDecision", admissionDecisionSchema);
export type AdmissionDecision = z.output<typeof admissionDecisionSchema>;
export const makeAdmissionDecision = AdmissionDecision.make;
export const parseAdmissionDecision = AdmissionDecision.parse;

/** Stable rejection reason codes (the reference's, plus the expiry checks it never enforced). */
export const REJECTION_REASONS = Object.freeze([
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
  "placement_unavailable",
  "target_attestation_unverifiable",
  "unknown_execution_ref",
] as const);

export const admissionRejectionSchema = z
  .object({
    contract_version: contractVersion,
    /** Null when the request was too malformed to carry one. */
    request_id: nonEmpty.nullable(),
    reason: z.string().regex(/^[a-z][a-z0-9_]*$/, { message: "must be a snake_case reason code" }),
    message: z.string().default(""),
    details: metadata,
  })
  .strict();
export const AdmissionRejection = contract("AdmissionRejection", admissionRejectionSchema);
export type AdmissionRejection = z.output<typeof admissionRejectionSchema>;
export const makeAdmissionRejection = AdmissionRejection.make;
export const parseAdmissionRejection = AdmissionRejection.parse;
