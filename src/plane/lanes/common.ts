/**
 * Shared lane machinery: payload validation (fail closed, errors name the JSONPath), the outcome
 * builder with metrics from the injected clock, a timeout/cancellation deadline, bounded byte
 * buffers and ExecutionEvent emission.
 *
 * Invalid lane requests (wrong lane_id, unknown operation, a payload that does not match the
 * lane's shape, a disallowed HTTP method) are classified `protocol_framing_failed` with
 * `details.reason = "invalid_lane_request"` and `details.path`: the request cannot be framed for
 * this lane, and retrying it cannot help (the class is non-retryable).
 */
import { isUtf8 } from "node:buffer";
import { z } from "zod";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { CONTRACT_VERSION, type JsonValue, jsonPath, jsonValue } from "../contracts/base.js";
import { newExecutionEvent, type ExecutionEvent, type ExecutionRequest } from "../contracts/execution.js";
import type { FailureClass } from "../contracts/failure.js";
import { makeLaneCapabilities, type LaneCapabilities } from "../contracts/target.js";
import { checkPlacement, type Placement, type PlacementKind } from "../placements/placement.js";
import type { LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import { DEFAULT_TIMEOUT_MS, EVENT_ERROR_QUOTE_CHARS, MAX_EVENT_BYTES_PER_EXECUTION, MAX_EVENTS_PER_EXECUTION, MAX_TIMEOUT_MS } from "./limits.js";

export { jsonPath };

/** The first zod issue as `{ path, message }`, naming unknown keys. */
export function describeIssue(error: z.ZodError, root: readonly (string | number)[] = []): { path: string; message: string } {
  const issue = error.issues[0] as z.ZodIssue;
  let path = [...root, ...issue.path];
  let message = issue.message;
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    path = [...path, [...issue.keys].sort()[0] as string];
    message = "unknown key";
  }
  return { path: jsonPath(path), message };
}

/** The construction error of a lane of `kind`: E_INVALID_INPUT naming the option (`lane http: $.max_response_bytes: …`). */
export function invalidLaneOption(kind: string, path: string, message: string): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `lane ${kind}: ${path}: ${message}`, { lane_kind: kind, path });
}

/**
 * Lane options validated by `schema` — the one validation path of the lane constructors and of
 * config-driven construction (index.ts `buildLane`): the first problem is a CairnError
 * E_INVALID_INPUT naming the option (`invalidLaneOption`), never a raw ZodError.
 */
export function parseLaneOptions<S extends z.ZodTypeAny>(kind: string, schema: S, options: unknown): z.output<S> {
  const r = schema.safeParse(options);
  if (r.success) return r.data as z.output<S>;
  const { path, message } = describeIssue(r.error);
  throw invalidLaneOption(kind, path, message);
}

/** A lane failure for a request this lane cannot accept. */
export function invalidRequest(path: string, message: string, extra: Record<string, JsonValue> = {}): LaneFailure {
  return {
    class: "protocol_framing_failed",
    message: `invalid lane request: ${path}: ${message}`,
    details: { reason: "invalid_lane_request", path, ...extra },
  };
}

/** Validates `request.payload` against `schema`; a failure names `$.payload.<field>`. */
export function parsePayload<S extends z.ZodTypeAny>(
  schema: S,
  request: ExecutionRequest,
): { ok: true; value: z.output<S> } | { ok: false; failure: LaneFailure } {
  const r = schema.safeParse(request.payload);
  if (r.success) return { ok: true, value: r.data as z.output<S> };
  const { path, message } = describeIssue(r.error, ["payload"]);
  return { ok: false, failure: invalidRequest(path, message) };
}

/** A timeout field for payloads: a positive integer number of milliseconds. */
export const timeoutField = z.number().int().positive().max(MAX_TIMEOUT_MS);

/** Lane-option timeouts bounded by `max` (which is also the default maximum). */
export function timeoutOptionsUpTo(max: number): { default_timeout_ms: z.ZodDefault<z.ZodNumber>; max_timeout_ms: z.ZodDefault<z.ZodNumber> } {
  const field = z.number().int().positive().max(max);
  return { default_timeout_ms: field.default(Math.min(DEFAULT_TIMEOUT_MS, max)), max_timeout_ms: field.default(max) };
}

/** Lane-option timeouts shared by every lane. */
export const timeoutOptions = timeoutOptionsUpTo(MAX_TIMEOUT_MS);

/** The effective timeout: the payload's (else the lane default), never above the lane maximum. */
export function effectiveTimeout(requested: number | undefined, opts: { default_timeout_ms: number; max_timeout_ms: number }): number {
  return Math.min(requested ?? opts.default_timeout_ms, opts.max_timeout_ms);
}

/** The failure for an execution that exceeded the shared event cap. */
export function eventCapFailure(events: number, bytes: number): LaneFailure {
  return {
    class: "protocol_framing_failed",
    message: `the execution exceeded the event cap (${MAX_EVENTS_PER_EXECUTION} events, ${MAX_EVENT_BYTES_PER_EXECUTION} bytes)`,
    details: { reason: "event_cap_exceeded", events, event_bytes: bytes, max_events: MAX_EVENTS_PER_EXECUTION, max_event_bytes: MAX_EVENT_BYTES_PER_EXECUTION },
  };
}

/** At most `max` UTF-16 units of `text` (plus "…" when cut), never splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return `${text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)}…`;
}

/** The failure for an event that could not be built as an ExecutionEvent or delivered to `ctx.emit`. */
export function invalidEventFailure(cls: FailureClass, eventType: string, err: unknown): LaneFailure {
  const why = err instanceof Error ? err.message : String(err);
  return { class: cls, message: `the event ${JSON.stringify(clip(eventType, EVENT_ERROR_QUOTE_CHARS))} could not be emitted: ${clip(why, EVENT_ERROR_QUOTE_CHARS)}`, details: { reason: "invalid_event" } };
}

/** One execution on one lane: timing, outcome construction and event emission. */
export class Run {
  readonly startedAt: number;
  timeoutMs = 0;
  private eventCount = 0;
  private eventBytes = 0;
  /**
   * Set once an event could not be emitted (that event was dropped, and every later one is):
   * the shared event cap would have been exceeded (`event_cap_exceeded`), or the event was not a
   * valid ExecutionEvent or `ctx.emit` threw (`invalid_event`). The lane ends with this failure.
   */
  eventFailure: LaneFailure | null = null;
  private resolveEventFailure!: (f: LaneFailure) => void;
  /** Resolves with `eventFailure` once it is set (never rejects). */
  readonly eventsFailed: Promise<LaneFailure> = new Promise((resolve) => (this.resolveEventFailure = resolve));

  /**
   * `invalidEventClass`: the class of an `invalid_event` failure — `protocol_framing_failed` for
   * lanes whose events carry a peer's traffic (the default), `semantic_runtime_failed` for the
   * inline and worker lanes, whose events come from the function.
   */
  constructor(
    readonly ctx: LaneContext,
    readonly request: ExecutionRequest,
    private readonly invalidEventClass: FailureClass = "protocol_framing_failed",
  ) {
    this.startedAt = ctx.clock.now();
  }

  /** A raw-fact outcome: `succeeded`, or `failed` without a failure class. */
  fact(status: "succeeded" | "failed", output: JsonValue, io: { bytes?: number; truncated?: boolean } = {}): LaneOutcome {
    return this.build(status, output, undefined, io);
  }

  /** An infrastructure failure the lane classifies. */
  fail(cls: FailureClass, message: string, output: JsonValue = null, details?: Record<string, JsonValue>, io: { bytes?: number; truncated?: boolean } = {}): LaneOutcome {
    return this.build("failed", output, details === undefined ? { class: cls, message } : { class: cls, message, details }, io);
  }

  /** A failure already shaped as a LaneFailure (e.g. from parsePayload). */
  failWith(failure: LaneFailure, output: JsonValue = null, io: { bytes?: number; truncated?: boolean } = {}): LaneOutcome {
    return this.build("failed", output, failure, io);
  }

  private build(status: "succeeded" | "failed", output: JsonValue, failure: LaneFailure | undefined, io: { bytes?: number; truncated?: boolean }): LaneOutcome {
    const metrics: LaneOutcome["metrics"] = {
      started_at: this.startedAt,
      finished_at: Math.max(this.startedAt, this.ctx.clock.now()),
      timeout_ms: this.timeoutMs,
      ...(io.bytes === undefined ? {} : { output_bytes: io.bytes }),
      ...(io.truncated === undefined ? {} : { output_truncated: io.truncated }),
    };
    return failure === undefined ? { status, output, metrics } : { status, output, failure, metrics };
  }

  /**
   * Emits one ExecutionEvent for this execution (ids and time from the context). **Never
   * throws** (lanes emit from stream and socket handlers, where a throw would crash the node's
   * process): returns false, emitting nothing, once the shared cap (MAX_EVENTS_PER_EXECUTION
   * events or MAX_EVENT_BYTES_PER_EXECUTION payload bytes) would be exceeded, or when the event
   * cannot be built (an empty type, a payload that is not JSON or nests too deep) or `ctx.emit`
   * throws; `eventFailure` is then set and `eventsFailed` resolves, and the lane ends the
   * execution with that failure.
   */
  emit(eventType: string, payload: JsonValue): boolean {
    if (this.eventFailure !== null) return false;
    let event: ExecutionEvent;
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(payload) ?? "null") + Buffer.byteLength(eventType);
      if (this.eventCount + 1 > MAX_EVENTS_PER_EXECUTION || this.eventBytes + size > MAX_EVENT_BYTES_PER_EXECUTION) {
        return this.stopEvents(eventCapFailure(this.eventCount, this.eventBytes));
      }
      event = newExecutionEvent(this.ctx.ids, this.ctx.clock, { execution_ref: this.request.execution_ref, event_type: eventType, payload });
    } catch (err) {
      // String() of a hostile value can throw too (no prototype, a throwing toString): never here.
      return this.stopEvents(invalidEventFailure(this.invalidEventClass, typeof eventType === "string" ? eventType : `(a ${typeof eventType})`, err));
    }
    this.eventCount++;
    this.eventBytes += size;
    try {
      this.ctx.emit(event);
    } catch (err) {
      return this.stopEvents(invalidEventFailure(this.invalidEventClass, eventType, err));
    }
    return true;
  }

  private stopEvents(failure: LaneFailure): false {
    this.eventFailure = failure;
    this.resolveEventFailure(failure);
    return false;
  }
}

/** Checks the request names this lane; otherwise an invalid-request failure. */
export function checkLaneId(laneId: string, request: ExecutionRequest): LaneFailure | null {
  return request.lane_id === laneId ? null : invalidRequest("$.lane_id", `names lane ${JSON.stringify(request.lane_id)}, not ${JSON.stringify(laneId)}`);
}

/**
 * The checks a lane with a fixed operation set and a payload schema runs before any I/O, in
 * order: the request names this lane, one of its operations, a placement it runs on, then a
 * payload matching `schema`. The first failure is returned (`invalid_lane_request` or
 * `placement_unavailable`).
 */
export function checkLaneRequest<S extends z.ZodTypeAny>(
  laneId: string,
  operations: readonly string[],
  placements: readonly PlacementKind[],
  configured: Placement,
  request: ExecutionRequest,
  schema: S,
): { ok: true; value: z.output<S> } | { ok: false; failure: LaneFailure } {
  const bad =
    checkLaneId(laneId, request) ??
    (operations.includes(request.operation) ? null : invalidRequest("$.operation", `must be one of ${operations.join(", ")}`)) ??
    checkPlacement(laneId, placements, configured, request.admission_request.placement);
  return bad !== null ? { ok: false, failure: bad } : parsePayload(schema, request);
}

/** Why a deadline fired. */
export type StopReason = "timeout" | "cancellation";

/**
 * A deadline combining the execution timeout (a real timer; time is not read from the injected
 * clock, which only stamps metrics) with the context's cancellation signal.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = (): void => this.stop("cancellation");
  reason: StopReason | null = null;

  constructor(
    timeoutMs: number,
    private readonly cancel: AbortSignal,
  ) {
    if (cancel.aborted) this.stop("cancellation");
    else {
      cancel.addEventListener("abort", this.onAbort, { once: true });
      this.timer = setTimeout(() => this.stop("timeout"), timeoutMs);
    }
  }

  /** Aborted when the deadline fires (timeout or cancellation). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Resolves with the reason when the deadline fires (never rejects). */
  readonly fired: Promise<StopReason> = new Promise((resolve) => {
    this.controller.signal.addEventListener("abort", () => resolve(this.reason as StopReason), { once: true });
  });

  private stop(reason: StopReason): void {
    if (this.reason !== null) return;
    this.reason = reason;
    this.controller.abort(reason);
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.cancel.removeEventListener("abort", this.onAbort);
  }
}

/** The failure for a fired deadline. */
export function deadlineFailure(run: Run, reason: StopReason, output: JsonValue, io: { bytes?: number; truncated?: boolean } = {}): LaneOutcome {
  return reason === "timeout"
    ? run.fail("timeout", `no result within ${run.timeoutMs} ms`, output, { timeout_ms: run.timeoutMs }, io)
    : run.fail("cancellation", "cancelled", output, undefined, io);
}

/** Collects up to `cap` bytes, counting (and dropping) the rest. */
export class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  kept = 0;
  seen = 0;

  constructor(readonly cap: number) {}

  /** Appends `chunk`; returns false once the cap has been reached (some bytes dropped). */
  push(chunk: Buffer): boolean {
    this.seen += chunk.length;
    const room = this.cap - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    return this.seen <= this.cap;
  }

  get truncated(): boolean {
    return this.seen > this.kept;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/** Strict (invalid UTF-8 throws) and BOM-preserving: a leading U+FEFF is part of the raw fact. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A body as a raw fact: UTF-8 text when the bytes are valid UTF-8, else base64. The text is
 * exactly the bytes: a leading UTF-8 BOM is kept as U+FEFF (TextDecoder would strip it).
 */
export function encodeBody(bytes: Buffer): { body: string; body_encoding: "utf8" | "base64" } {
  try {
    return { body: strictUtf8.decode(bytes), body_encoding: "utf8" };
  } catch {
    return { body: bytes.toString("base64"), body_encoding: "base64" };
  }
}

/** Length of the UTF-8 sequence a lead byte starts (0 for a byte that cannot lead one). */
function utf8SequenceLength(b: number): number {
  return b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
}

/**
 * True when `bytes` are valid UTF-8 except for their last character, cut short: a lead byte
 * followed by fewer continuation bytes than it needs (what a byte cap does to valid UTF-8).
 */
function utf8CutShort(bytes: Buffer): boolean {
  for (let k = 1; k <= 3 && k <= bytes.length; k++) {
    const lead = bytes[bytes.length - k] as number;
    if (lead >= 0x80 && lead <= 0xbf) continue; // a continuation byte: look one further back
    const need = utf8SequenceLength(lead);
    return need > k && isUtf8(bytes.subarray(0, bytes.length - k)) && strictUtf8Prefix(bytes.subarray(bytes.length - k));
  }
  return false;
}

/** True when `tail` (a lead byte and continuation bytes) can begin a valid UTF-8 sequence. */
function strictUtf8Prefix(tail: Buffer): boolean {
  const lead = tail[0] as number;
  const second = tail[1];
  if (second === undefined) return true;
  // The second byte's range depends on the lead (no overlongs, no surrogates, nothing past U+10FFFF).
  if (lead === 0xe0) return second >= 0xa0 && second <= 0xbf;
  if (lead === 0xed) return second >= 0x80 && second <= 0x9f;
  if (lead === 0xf0) return second >= 0x90 && second <= 0xbf;
  if (lead === 0xf4) return second >= 0x80 && second <= 0x8f;
  return true;
}

/**
 * A captured output stream (process stdout/stderr, a JSON-RPC peer's stderr) as a raw fact:
 * UTF-8 text when the kept bytes are valid UTF-8 — or would be but for a last character the cap
 * cut short, which becomes U+FFFD (`truncated` only) — else base64, flagged `base64: true` (the
 * lane then adds `<stream>_encoding: "base64"`). Never decoded lossily otherwise.
 */
export function encodeStream(bytes: Buffer, truncated: boolean): { text: string; base64: boolean } {
  if (isUtf8(bytes) || (truncated && utf8CutShort(bytes))) return { text: bytes.toString("utf8"), base64: false };
  return { text: bytes.toString("base64"), base64: true };
}

/** True when `v` is a JSON value (no undefined, functions, NaN, Dates, Maps…). */
export function isJsonValue(v: unknown): v is JsonValue {
  return jsonValue.safeParse(v).success && plainDeep(v);
}

function plainDeep(v: unknown): boolean {
  if (v === null || typeof v !== "object") return true;
  if (Array.isArray(v)) return v.every(plainDeep);
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(v as Record<string, unknown>).every(plainDeep);
}

/** Lane capabilities with the contract version filled in. */
export function capabilities(laneId: string, protocols: string[], surfaces: string[], stream: boolean): LaneCapabilities {
  return makeLaneCapabilities({ contract_version: CONTRACT_VERSION, lane_id: laneId, protocols, surfaces, supports_execute: true, supports_stream: stream });
}

/** A node:errno code from an error or its cause chain (fetch wraps it in `cause`). */
export function errnoCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === "object"; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A one-line message from anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** A lane id option: defaults to the lane kind; lets two lanes of one kind coexist. */
export const laneIdOption = z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, { message: "must match ^[a-z][a-z0-9_.-]{0,63}$" });
