/**
 * Authority and sandbox carriage: AuthorityRef (a signed statement, verified by the node's
 * authority verifier, never interpreted here), SandboxProfile (carried, NOT enforced) and
 * AcceptableAttestation (which target attestation classes a request accepts, with `intersect`).
 */
import { z } from "zod";
import { contract, contractVersion, epochMs, metadata, nonEmpty, stringSet } from "./base.js";

export const authorityRefSchema = z
  .object({
    contract_version: contractVersion,
    ref: nonEmpty,
    subject: nonEmpty,
    audience: nonEmpty,
    payload_hash: nonEmpty,
    issued_at: epochMs,
    expires_at: epochMs,
    key_id: nonEmpty.optional(),
    /** Optional bindings: when present, the request's lane_id / operation must equal them. */
    lane_id: nonEmpty.optional(),
    operation: nonEmpty.optional(),
    signature: nonEmpty.optional(),
    metadata,
  })
  .strict()
  .refine((a) => a.expires_at > a.issued_at, { message: "must be after issued_at", path: ["expires_at"] });
export const AuthorityRef = contract("AuthorityRef", authorityRefSchema);
export type AuthorityRef = z.output<typeof authorityRefSchema>;
export const makeAuthorityRef = AuthorityRef.make;
export const parseAuthorityRef = AuthorityRef.parse;

export const sandboxProfileSchema = z
  .object({
    contract_version: contractVersion,
    profile_ref: nonEmpty,
    bundle_hash: nonEmpty,
    opaque_bundle: metadata,
    metadata,
  })
  .strict();
export const SandboxProfile = contract("SandboxProfile", sandboxProfileSchema);
export type SandboxProfile = z.output<typeof sandboxProfileSchema>;
export const makeSandboxProfile = SandboxProfile.make;
export const parseSandboxProfile = SandboxProfile.parse;

export const acceptableAttestationSchema = z
  .object({
    contract_version: contractVersion,
    classes: stringSet,
    priority_order: stringSet.optional(),
  })
  .strict()
  .transform((a) => ({ contract_version: a.contract_version, classes: a.classes, priority_order: a.priority_order ?? a.classes }))
  .superRefine((a, ctx) => {
    a.priority_order.forEach((c, i) => {
      if (!a.classes.includes(c)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["priority_order", i], message: `class ${JSON.stringify(c)} is not in classes` });
      }
    });
  });
/** A validated `AcceptableAttestation` (the same type as `AcceptableAttestation`). */
export type AcceptableAttestationValue = z.output<typeof acceptableAttestationSchema>;
const acceptableAttestationContract = contract("AcceptableAttestation", acceptableAttestationSchema);

/**
 * The accepted classes a target attests, best first: `priority_order ∩ attested` in priority
 * order, or if that is empty `classes ∩ attested` in `classes` order. An empty set matches nothing.
 */
export function intersect(acc: AcceptableAttestationValue, attested: readonly string[]): string[] {
  const have = new Set(attested);
  const byPriority = acc.priority_order.filter((c) => have.has(c));
  return byPriority.length > 0 ? byPriority : acc.classes.filter((c) => have.has(c));
}

export const AcceptableAttestation = Object.freeze({ ...acceptableAttestationContract, intersect });
export type AcceptableAttestation = AcceptableAttestationValue;
export const makeAcceptableAttestation = AcceptableAttestation.make;
export const parseAcceptableAttestation = AcceptableAttestation.parse;
