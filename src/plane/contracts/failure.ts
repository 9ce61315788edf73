/**
 * The failure taxonomy: 13 classes. Owner, retryable and relevance are DERIVED from the class by
 * a frozen table; callers supply only the class (a Failure carrying them is rejected).
 */
import { z } from "zod";
import { contract, metadata } from "./base.js";

export const FAILURE_CLASSES = [
  "policy_denied",
  "route_unresolved",
  "placement_unavailable",
  "launch_failed",
  "transport_failed",
  "protocol_framing_failed",
  "semantic_runtime_failed",
  "approval_expired",
  "lease_expired",
  "attach_mismatch",
  "remote_disconnect",
  "cancellation",
  "timeout",
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export type FailureOwner = "spine" | "execution_plane" | "family_kit";
export type FailureRelevance = "durable" | "raw_fact_only";
export interface FailureTraits {
  readonly owner: FailureOwner;
  readonly retryable: boolean;
  readonly relevance: FailureRelevance;
}

const t = (owner: FailureOwner, retryable: boolean, relevance: FailureRelevance): FailureTraits =>
  Object.freeze({ owner, retryable, relevance });

/** The frozen derivation table (reference `failure_class.ex`). */
export const FAILURE_TAXONOMY: Readonly<Record<FailureClass, FailureTraits>> = Object.freeze({
  policy_denied: t("spine", false, "durable"),
  route_unresolved: t("spine", true, "durable"),
  placement_unavailable: t("execution_plane", true, "durable"),
  launch_failed: t("execution_plane", true, "durable"),
  transport_failed: t("execution_plane", true, "durable"),
  protocol_framing_failed: t("execution_plane", false, "durable"),
  semantic_runtime_failed: t("family_kit", false, "durable"),
  approval_expired: t("spine", false, "durable"),
  lease_expired: t("spine", true, "durable"),
  attach_mismatch: t("spine", false, "durable"),
  remote_disconnect: t("execution_plane", true, "raw_fact_only"),
  cancellation: t("spine", false, "durable"),
  timeout: t("execution_plane", true, "raw_fact_only"),
});

/** The derived traits of a failure class. */
export function failureTraits(cls: FailureClass): FailureTraits {
  return FAILURE_TAXONOMY[cls];
}

const derived = z.undefined({
  errorMap: () => ({ message: "is derived from the failure class and must not be supplied" }),
});

export const failureSchema = z
  .object({
    class: z.enum(FAILURE_CLASSES),
    message: z.string().default(""),
    details: metadata,
    owner: derived.optional(),
    retryable: derived.optional(),
    relevance: derived.optional(),
  })
  .strict()
  .transform(({ class: cls, message, details }) => ({ class: cls, message, details }));

export const Failure = contract("Failure", failureSchema);
export type Failure = z.output<typeof failureSchema>;
export const makeFailure = Failure.make;
export const parseFailure = Failure.parse;
