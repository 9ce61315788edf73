/**
 * The lane interface: what the node dispatches an admitted ExecutionRequest to.
 *
 * A lane turns one ExecutionRequest into one raw LaneOutcome. It never admits, never selects a
 * target and never writes evidence (the node does those); it only executes, reports raw facts
 * (exit codes, HTTP statuses, JSON-RPC error objects) and classifies its own infrastructure
 * failures with the taxonomy (`launch_failed`, `transport_failed`, `protocol_framing_failed`,
 * `timeout`, `cancellation`, `placement_unavailable`). A non-zero exit or an HTTP 500 is a raw
 * fact: status `failed` with no failure class.
 *
 * Clocks and ids are injected through LaneContext so that a test can pin every byte.
 */
import type { Clock } from "../../core/clock.js";
import type { JsonValue } from "../contracts/base.js";
import type { ExecutionEvent, ExecutionRequest } from "../contracts/execution.js";
import type { FailureClass } from "../contracts/failure.js";
import type { IdSource } from "../contracts/ids.js";
import type { LaneCapabilities } from "../contracts/target.js";

/** What a lane may use while executing one request. */
export interface LaneContext {
  readonly clock: Clock;
  readonly ids: IdSource;
  /** Aborted by `cancel(ref)` on the node; a lane stops and reports `cancellation`. */
  readonly signal: AbortSignal;
  /** Stream lanes (sse, websocket, jsonrpc notifications) emit events in order through this. */
  emit(event: ExecutionEvent): void;
}

/** A lane's own classification of an infrastructure failure (never supplied for raw facts). */
export interface LaneFailure {
  readonly class: FailureClass;
  readonly message: string;
  readonly details?: Record<string, JsonValue>;
}

/** The raw result of one execution on one lane. */
export interface LaneOutcome {
  readonly status: "succeeded" | "failed";
  /** Raw facts: exit code, (bounded) stdout/stderr, HTTP status + body, JSON-RPC result or error. */
  readonly output: JsonValue;
  /** Present only for infrastructure failures the lane classifies; absent for raw-fact failures. */
  readonly failure?: LaneFailure;
  readonly metrics: {
    readonly started_at: number;
    readonly finished_at: number;
    readonly timeout_ms: number;
    readonly output_bytes?: number;
    readonly output_truncated?: boolean;
  };
}

/** A registered lane. `id` is the lane_id requests name (e.g. `process`, `http`). */
export interface Lane {
  readonly id: string;
  capabilities(): LaneCapabilities;
  execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome>;
  /**
   * Network lanes: the origin (`scheme://host[:port]`) a request with this payload would contact,
   * or null when the lane cannot say (an invalid payload). The node matches it against an
   * endpoint-bound target descriptor (`metadata.endpoint_origin`, e.g. `declared-endpoint-weak`):
   * a lane without this method can never be routed to such a target (fail closed).
   */
  requestOrigin?(payload: JsonValue): string | null;
  /** Releases pooled resources (workers, sockets). Idempotent. */
  close?(): Promise<void>;
}
