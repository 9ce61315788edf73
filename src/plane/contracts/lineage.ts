/**
 * Lineage (correlation keys with a REQUIRED idempotency key, never minted) and the
 * ExecutionOutcome a lane returns, with its timing metrics.
 */
import { z } from "zod";
import { contract, contractVersion, count, epochMs, jsonValue, metadata, nonEmpty } from "./base.js";
import { failureSchema } from "./failure.js";

export const lineageSchema = z
  .object({
    contract_version: contractVersion,
    tenant_id: nonEmpty.optional(),
    trace_id: nonEmpty.optional(),
    request_id: nonEmpty.optional(),
    decision_id: nonEmpty.optional(),
    boundary_session_id: nonEmpty.optional(),
    attempt_ref: nonEmpty.optional(),
    route_id: nonEmpty.optional(),
    event_id: nonEmpty.optional(),
    idempotency_key: z.string({ required_error: "is required" }).min(1, { message: "must be a non-empty string" }),
    extensions: metadata,
  })
  .strict()
  // A missing trace_id is backfilled from request_id (reference behaviour).
  .transform((l) => (l.trace_id === undefined && l.request_id !== undefined ? { ...l, trace_id: l.request_id } : l));
export const Lineage = contract("Lineage", lineageSchema);
export type Lineage = z.output<typeof lineageSchema>;
export const makeLineage = Lineage.make;
export const parseLineage = Lineage.parse;

export const outcomeMetricsSchema = z
  .object({
    started_at: epochMs,
    finished_at: epochMs,
    duration_ms: count,
    timeout_ms: count,
    output_bytes: count.optional(),
    output_truncated: z.boolean().optional(),
  })
  .strict()
  .refine((m) => m.finished_at >= m.started_at, { message: "must not be before started_at", path: ["finished_at"] })
  .refine((m) => m.duration_ms === m.finished_at - m.started_at, {
    message: "must equal finished_at - started_at",
    path: ["duration_ms"],
  });
export type OutcomeMetrics = z.output<typeof outcomeMetricsSchema>;

export const executionOutcomeSchema = z
  .object({
    contract_version: contractVersion,
    execution_ref: nonEmpty,
    lane_id: nonEmpty,
    status: z.enum(["succeeded", "failed"]),
    raw_payload: jsonValue,
    artifacts: z.array(nonEmpty).default([]),
    metrics: outcomeMetricsSchema,
    failure: failureSchema.optional(),
    lineage: lineageSchema,
  })
  .strict()
  .refine((o) => o.status === "failed" || o.failure === undefined, {
    message: "must be absent when status is succeeded",
    path: ["failure"],
  });
export const ExecutionOutcome = contract("ExecutionOutcome", executionOutcomeSchema);
export type ExecutionOutcome = z.output<typeof executionOutcomeSchema>;
export const makeExecutionOutcome = ExecutionOutcome.make;
export const parseExecutionOutcome = ExecutionOutcome.parse;
