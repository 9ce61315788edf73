/**
 * Execution values: ExecutionRef, ExecutionRequest (built by the node after admission),
 * ExecutionResult (`succeeded` | `failed` | `rejected`), ExecutionEvent and Evidence.
 * Constructors that mint ids or stamp times take an injected IdSource / Clock.
 */
import { z } from "zod";
import type { Clock } from "../../core/clock.js";
import { admissionRejectionSchema, admissionRequestSchema, provenanceSchema } from "./admission.js";
import { CONTRACT_VERSION, contract, contractVersion, epochMs, jsonValue, metadata, nonEmpty, toCanonical } from "./base.js";
import { failureSchema } from "./failure.js";
import type { IdSource } from "./ids.js";
import { lineageSchema } from "./lineage.js";
import { targetDescriptorSchema } from "./target.js";

export const executionRefSchema = z.object({ contract_version: contractVersion, ref: nonEmpty }).strict();
export const ExecutionRef = contract("ExecutionRef", executionRefSchema);
export type ExecutionRef = z.output<typeof executionRefSchema>;
export const makeExecutionRef = ExecutionRef.make;
export const parseExecutionRef = ExecutionRef.parse;
/** A fresh ExecutionRef (prefix `exec`). */
export function newExecutionRef(ids: IdSource): ExecutionRef {
  return makeExecutionRef({ contract_version: CONTRACT_VERSION, ref: ids.next("exec") });
}

export const executionRequestSchema = z
  .object({
    contract_version: contractVersion,
    execution_ref: nonEmpty,
    admission_request: admissionRequestSchema,
    /** Null on the direct lower-lane-owner path (no target is selected). */
    target_descriptor: targetDescriptorSchema.nullable(),
    lane_id: nonEmpty,
    operation: nonEmpty,
    payload: jsonValue,
    provenance: provenanceSchema.default({}),
    metadata,
  })
  .strict();
export const ExecutionRequest = contract("ExecutionRequest", executionRequestSchema);
export type ExecutionRequest = z.output<typeof executionRequestSchema>;
export const makeExecutionRequest = ExecutionRequest.make;
export const parseExecutionRequest = ExecutionRequest.parse;

export const EVIDENCE_TYPES = [
  "admission.accepted",
  "admission.rejected",
  "target.selected",
  "execution.started",
  "execution.completed",
  "execution.cancelled",
] as const;
export type EvidenceType = (typeof EVIDENCE_TYPES)[number];

const stamp = nonEmpty.nullable();
export const evidenceSchema = z
  .object({
    contract_version: contractVersion,
    evidence_id: nonEmpty,
    evidence_type: z.enum(EVIDENCE_TYPES),
    execution_ref: stamp,
    request_id: stamp,
    lane_id: stamp,
    policy_bundle_hash: stamp,
    target_id: stamp,
    target_verifier_id: stamp,
    attestation_class: stamp,
    authority_verifier_id: stamp,
    provenance_kind: z.enum(["node_admitted", "direct_lower_lane_owner"]),
    payload: jsonValue,
    emitted_at: epochMs,
  })
  .strict();
export const Evidence = contract("Evidence", evidenceSchema);
export type Evidence = z.output<typeof evidenceSchema>;
export const makeEvidence = Evidence.make;
export const parseEvidence = Evidence.parse;
/** Evidence with a minted `evidence_id` (prefix `ev`) and `emitted_at` from `clock`. */
export function newEvidence(ids: IdSource, clock: Clock, fields: Record<string, unknown>): Evidence {
  return makeEvidence({ contract_version: CONTRACT_VERSION, evidence_id: ids.next("ev"), emitted_at: clock.now(), ...fields });
}

export const executionEventSchema = z
  .object({
    contract_version: contractVersion,
    event_id: nonEmpty,
    execution_ref: nonEmpty,
    event_type: nonEmpty,
    payload: jsonValue,
    emitted_at: epochMs,
    lineage: lineageSchema.optional(),
    evidence: z.array(nonEmpty).default([]),
  })
  .strict();
export const ExecutionEvent = contract("ExecutionEvent", executionEventSchema);
export type ExecutionEvent = z.output<typeof executionEventSchema>;
export const makeExecutionEvent = ExecutionEvent.make;
export const parseExecutionEvent = ExecutionEvent.parse;
/** An event with a minted `event_id` (prefix `event`) and `emitted_at` from `clock`. */
export function newExecutionEvent(ids: IdSource, clock: Clock, fields: Record<string, unknown>): ExecutionEvent {
  return makeExecutionEvent({ contract_version: CONTRACT_VERSION, event_id: ids.next("event"), emitted_at: clock.now(), ...fields });
}

export const executionResultSchema = z
  .object({
    contract_version: contractVersion,
    execution_ref: nonEmpty.nullable(),
    status: z.enum(["succeeded", "failed", "rejected"]),
    output: jsonValue.optional(),
    events: z.array(executionEventSchema).default([]),
    evidence: z.array(nonEmpty).default([]),
    failure: failureSchema.optional(),
    rejection: admissionRejectionSchema.optional(),
    /**
     * The reference model's name for the rejection (`ExecutionResult.error`), which the CLI
     * contract reads as `error.reason`. When present it must equal `rejection`.
     */
    error: admissionRejectionSchema.optional(),
    provenance: provenanceSchema.default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.error !== undefined && (r.rejection === undefined || toCanonical(r.error) !== toCanonical(r.rejection))) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["error"], message: "must equal rejection" });
    }
    if (r.status === "rejected" && r.rejection === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["rejection"], message: "is required when status is rejected" });
    }
    if (r.status !== "rejected" && r.rejection !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["rejection"], message: "is only allowed when status is rejected" });
    }
    if (r.status !== "failed" && r.failure !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["failure"], message: "is only allowed when status is failed" });
    }
  });
export const ExecutionResult = contract("ExecutionResult", executionResultSchema);
export type ExecutionResult = z.output<typeof executionResultSchema>;
export const makeExecutionResult = ExecutionResult.make;
export const parseExecutionResult = ExecutionResult.parse;
