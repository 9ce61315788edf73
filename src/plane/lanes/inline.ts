/**
 * The inline lane: a registered in-process function per operation,
 * `(payload, ctx) => JsonValue | Promise<JsonValue>`.
 *
 * The returned value is the output (`succeeded`). A throw (or rejection) is
 * `semantic_runtime_failed`, as is a result that is not a JSON value. The timeout
 * (`default_timeout_ms`, capped by `max_timeout_ms`) and cancellation abort `ctx.signal` and
 * the lane stops waiting; an in-process function cannot be pre-empted, so work that ignores the
 * signal keeps running in the node's process (use the worker or process lane for untrusted or
 * unbounded work). Events beyond the shared per-execution cap (MAX_EVENTS_PER_EXECUTION /
 * MAX_EVENT_BYTES_PER_EXECUTION) are dropped, `ctx.signal` aborts and the execution fails
 * `protocol_framing_failed` (`event_cap_exceeded`). An event that is not a valid ExecutionEvent
 * (an empty type, a payload that is not JSON or nests deeper than JSON_VALUE_MAX_DEPTH) is not
 * thrown back into the function: it is dropped, `ctx.signal` aborts and the execution fails
 * `semantic_runtime_failed` (`invalid_event`).
 */
import { z } from "zod";
import type { Clock } from "../../core/clock.js";
import type { JsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { checkPlacement, PLACEMENT_SURFACES, LOCAL_PLACEMENT } from "../placements/placement.js";
import { capabilities, checkLaneId, Deadline, deadlineFailure, effectiveTimeout, errorMessage, invalidRequest, isJsonValue, laneIdOption, parseLaneOptions, Run, timeoutOptions } from "./common.js";
import type { Lane, LaneContext, LaneOutcome } from "./lane.js";

/** What an inline function sees. */
export interface InlineContext {
  readonly operation: string;
  readonly execution_ref: string;
  readonly idempotency_key: string;
  /** Aborted on timeout or cancellation. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Emits an ExecutionEvent of `event_type` for this execution. */
  emit(eventType: string, payload: JsonValue): void;
}

export type InlineFunction = (payload: JsonValue, ctx: InlineContext) => JsonValue | Promise<JsonValue>;

export const inlineLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("inline"),
    functions: z.record(z.string().min(1), z.custom<InlineFunction>((f) => typeof f === "function", { message: "must be a function" })).default({}),
    ...timeoutOptions,
  })
  .strict();
export type InlineLaneOptions = z.input<typeof inlineLaneOptionsSchema>;

export class InlineLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof inlineLaneOptionsSchema>;
  private readonly functions = new Map<string, InlineFunction>();

  constructor(options: InlineLaneOptions = {}) {
    this.opts = parseLaneOptions("inline", inlineLaneOptionsSchema, options);
    this.id = this.opts.id;
    for (const [op, fn] of Object.entries(this.opts.functions)) this.functions.set(op, fn);
  }

  /** Registers (or replaces) the function for `operation`. */
  register(operation: string, fn: InlineFunction): this {
    this.functions.set(operation, fn);
    return this;
  }

  /** The registered operations, sorted. */
  operations(): string[] {
    return [...this.functions.keys()].sort();
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["inline"], [PLACEMENT_SURFACES.local], false);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request, "semantic_runtime_failed");
    const fn = this.functions.get(request.operation);
    const bad =
      checkLaneId(this.id, request) ??
      (fn === undefined ? invalidRequest("$.operation", `no function is registered for ${JSON.stringify(request.operation)}`, { registered: this.operations() }) : null) ??
      checkPlacement(this.id, ["local"], LOCAL_PLACEMENT, request.admission_request.placement);
    if (bad !== null || fn === undefined) return run.failWith(bad ?? invalidRequest("$.operation", "unknown"));
    run.timeoutMs = effectiveTimeout(undefined, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before start");

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    const eventsStopped = new AbortController();
    const fctx: InlineContext = Object.freeze({
      operation: request.operation,
      execution_ref: request.execution_ref,
      idempotency_key: request.admission_request.idempotency_key,
      signal: AbortSignal.any([deadline.signal, eventsStopped.signal]),
      clock: ctx.clock,
      emit: (eventType: string, payload: JsonValue) => {
        if (deadline.reason === null && !run.emit(eventType, payload) && !eventsStopped.signal.aborted) eventsStopped.abort(run.eventFailure?.details?.reason ?? "event_cap_exceeded");
      },
    });
    type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };
    const call: Promise<Settled> = (async () => fn(request.payload, fctx))().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const settled = await Promise.race([call, deadline.fired, run.eventsFailed]);
    deadline.dispose();
    if (typeof settled === "string") return deadlineFailure(run, settled, null);
    if ("class" in settled) return run.failWith(settled);
    if (run.eventFailure !== null) return run.failWith(run.eventFailure);
    if (!settled.ok) {
      const name = settled.error instanceof Error ? settled.error.name : typeof settled.error;
      return run.fail("semantic_runtime_failed", errorMessage(settled.error), null, { reason: "threw", error_name: name });
    }
    if (!isJsonValue(settled.value)) {
      return run.fail("semantic_runtime_failed", "the function returned a value that is not JSON", null, { reason: "non_json_result" });
    }
    return run.fact("succeeded", settled.value);
  }
}
