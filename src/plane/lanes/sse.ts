/**
 * The sse lane: subscribes to a Server-Sent Events stream (operation `subscribe`, GET with
 * `accept: text/event-stream`, parsed by eventsource-parser) and emits one ExecutionEvent
 * `sse.event` per event, in order: `{ event, data, id? }` (`event` defaults to "message").
 *
 * Payload: `{ url, headers?, last_event_id?, timeout_ms?, max_events?, stop_on_event? }`.
 * The execution ends, `succeeded`, when the server ends the stream (`end: "eof"`), when an event
 * of type `stop_on_event` arrived (`"stop_event"`), or at a bound: `max_events` events
 * (`"max_events"`) or `max_stream_bytes` bytes (`"max_bytes"`), which set `output_truncated`.
 * Output: `{ status_code, events, last_event_id, end }`.
 *
 * Raw facts and failures: a non-2xx status is `failed` without a class (`{ status_code,
 * headers, body }`, body capped) — unless the deadline fires (`timeout`/`cancellation`) or the
 * connection breaks (`remote_disconnect`) while its body is read, which keep the partial body in
 * the output, like the http lane; a 2xx that is not `text/event-stream` is
 * `protocol_framing_failed`; no response is `transport_failed`; the stream breaking off is
 * `remote_disconnect`; `timeout` and `cancellation` keep the events already emitted and report
 * the counts in the output. Unknown SSE fields and bad `retry` values are ignored (as the SSE
 * specification says); `retry` is not acted on (no reconnection: no fallback). The timeout is
 * at most HTTP_MAX_TIMEOUT_MS (under undici's 300 s idle body timeout, so the lane decides).
 * The shared per-execution event cap (MAX_EVENTS_PER_EXECUTION / MAX_EVENT_BYTES_PER_EXECUTION)
 * ends the stream with `protocol_framing_failed` (`event_cap_exceeded`). Every body read is
 * raced against the deadline (fetch may never settle some). The request carries
 * `accept-encoding: identity`; a compressed response (gzip, deflate, br) is
 * `protocol_framing_failed` (`unexpected_content_coding`), its body unread (http-common.ts).
 */
import { createParser } from "eventsource-parser";
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { capabilities, checkLaneRequest, Deadline, deadlineFailure, effectiveTimeout, encodeBody, laneIdOption, parseLaneOptions, Run, timeoutField, timeoutOptionsUpTo } from "./common.js";
import { allowedOriginsOption, bodyReadFailure, checkOrigin, CONTENT_CODING_HEADER, DeadlineReader, disconnectFailure, HEADER_VALUE, headerObject, headersField, httpUrl, payloadUrlOrigin, readCapped, transportFailure, unexpectedCoding } from "./http-common.js";
import type { Lane, LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import { DEFAULT_MAX_EVENTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STREAM_BYTES, HTTP_MAX_TIMEOUT_MS, MAX_EVENTS_LIMIT, MAX_STREAM_BYTES_LIMIT, SSE_ERROR_BODY_BYTES } from "./limits.js";

export const SSE_OPERATIONS = ["subscribe"] as const;

export const sseLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("sse"),
    allowed_origins: allowedOriginsOption,
    max_events: z.number().int().positive().max(MAX_EVENTS_LIMIT).default(DEFAULT_MAX_EVENTS),
    max_stream_bytes: z.number().int().positive().max(MAX_STREAM_BYTES_LIMIT).default(DEFAULT_MAX_STREAM_BYTES),
    ...timeoutOptionsUpTo(HTTP_MAX_TIMEOUT_MS),
  })
  .strict();
export type SseLaneOptions = z.input<typeof sseLaneOptionsSchema>;

export const ssePayloadSchema = z
  .object({
    url: httpUrl,
    headers: headersField,
    last_event_id: z.string().regex(HEADER_VALUE, { message: "must contain only tab and printable ASCII" }).optional(),
    timeout_ms: timeoutField.optional(),
    max_events: z.number().int().positive().max(MAX_EVENTS_LIMIT).optional(),
    stop_on_event: z.string().min(1).optional(),
  })
  .strict();

type End = "eof" | "stop_event" | "max_events" | "max_bytes";

export class SseLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof sseLaneOptionsSchema>;

  constructor(options: SseLaneOptions = {}) {
    this.opts = parseLaneOptions("sse", sseLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["sse", "http"], [PLACEMENT_SURFACES.local], true);
  }

  /** The origin of `payload.url` (null if it is not an absolute http(s) URL). */
  requestOrigin(payload: JsonValue): string | null {
    return payloadUrlOrigin(payload, ["http:", "https:"]);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const parsed = checkLaneRequest(this.id, SSE_OPERATIONS, ["local"], LOCAL_PLACEMENT, request, ssePayloadSchema);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const p = parsed.value;
    const denied = checkOrigin(p.url, this.opts.allowed_origins);
    if (denied !== null) return run.failWith(denied);
    run.timeoutMs = effectiveTimeout(p.timeout_ms, this.opts);
    const maxEvents = Math.min(p.max_events ?? this.opts.max_events, this.opts.max_events);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before subscribing");

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    try {
      let res: Response;
      try {
        const headers: Record<string, string> = { ...p.headers, ...CONTENT_CODING_HEADER, accept: "text/event-stream", "cache-control": "no-cache" };
        if (p.last_event_id !== undefined) headers["last-event-id"] = p.last_event_id;
        res = await fetch(p.url, { method: "GET", headers, redirect: "manual", signal: deadline.signal });
      } catch (err) {
        if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, null);
        return run.failWith(transportFailure(err, p.url));
      }
      const compressed = unexpectedCoding(res, "GET", { status_code: res.status, headers: headerObject(res.headers) }, run);
      if (compressed !== null) return compressed;
      if (!res.ok) {
        // Like the http lane: the status is a raw fact; a deadline or a break-off while reading
        // the (capped) error body is classified, keeping the bytes read so far.
        const head = { status_code: res.status, headers: headerObject(res.headers) };
        try {
          const body = await readCapped(res.body, Math.min(SSE_ERROR_BODY_BYTES, DEFAULT_MAX_RESPONSE_BYTES), deadline.signal);
          return run.fact("failed", { ...head, ...encodeBody(body.bytes), body_truncated: body.truncated });
        } catch (err) {
          return bodyReadFailure(run, deadline, head, err);
        }
      }
      const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
      if (type !== "text/event-stream") {
        if (res.body !== null) void res.body.cancel().catch(() => undefined); // not awaited: it may never settle
        return run.fail("protocol_framing_failed", `expected text/event-stream, got ${JSON.stringify(type)}`, null, { reason: "not_event_stream", status_code: res.status });
      }
      return await this.consume(run, res, p.stop_on_event, maxEvents, deadline);
    } finally {
      deadline.dispose();
    }
  }

  private async consume(run: Run, res: Response, stopOn: string | undefined, maxEvents: number, deadline: Deadline): Promise<LaneOutcome> {
    let events = 0;
    let bytes = 0;
    let lastEventId: string | null = null;
    let end = null as End | null;
    let overflow = false;
    let capped = null as LaneFailure | null;
    const parser = createParser({
      onEvent: (ev) => {
        if (end !== null || capped !== null || deadline.reason !== null) return;
        const payload: Record<string, JsonValue> = { event: ev.event ?? "message", data: ev.data };
        if (ev.id !== undefined) payload.id = ev.id;
        if (!run.emit("sse.event", payload)) {
          capped = run.eventFailure;
          return;
        }
        events++;
        if (ev.id !== undefined) lastEventId = ev.id;
        if (stopOn !== undefined && (ev.event ?? "message") === stopOn) end = "stop_event";
        else if (events >= maxEvents) end = "max_events";
      },
      onError: (err) => {
        if (err.type === "max-buffer-size-exceeded") overflow = true;
      },
      maxBufferSize: this.opts.max_stream_bytes,
    });
    const output = (): Record<string, JsonValue> => ({ status_code: res.status, events, last_event_id: lastEventId, ...(end === null ? {} : { end }) });
    // A 2xx without a body (204, 205) is an empty stream: it ends at once, `eof`, no events.
    if (res.body === null) {
      end = "eof";
      return run.fact("succeeded", output(), { bytes: 0, truncated: false });
    }
    // Every read is raced against the deadline: fetch may never settle some (DeadlineReader).
    const reader = new DeadlineReader(res.body, deadline.signal);
    // The SSE spec's UTF-8 decode strips one leading BOM from the stream (TextDecoder's default,
    // kept on purpose here; raw bodies — encodeBody — keep theirs).
    const decoder = new TextDecoder("utf-8");
    try {
      while (end === null) {
        const r = await reader.read();
        if (r === null) return deadlineFailure(run, deadline.reason ?? "timeout", output(), { bytes, truncated: false });
        const { done, value } = r;
        if (done) {
          parser.feed(decoder.decode());
          if (end === null) end = "eof";
          break;
        }
        const room = this.opts.max_stream_bytes - bytes;
        const part = value.length > room ? value.subarray(0, room) : value;
        bytes += part.length;
        parser.feed(decoder.decode(part, { stream: true }));
        if (overflow) {
          reader.cancel();
          return run.fail("protocol_framing_failed", "an event exceeds the stream byte cap", output(), { reason: "event_too_large" }, { bytes, truncated: true });
        }
        if (capped !== null) {
          reader.cancel();
          return run.failWith(capped, output(), { bytes, truncated: true });
        }
        if (end === null && value.length > room) end = "max_bytes";
      }
    } catch (err) {
      if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, output(), { bytes, truncated: false });
      return run.failWith(disconnectFailure(err), output(), { bytes, truncated: false });
    } finally {
      reader.dispose();
    }
    reader.cancel();
    if (capped !== null) return run.failWith(capped, output(), { bytes, truncated: true });
    return run.fact("succeeded", output(), { bytes, truncated: end === "max_events" || end === "max_bytes" });
  }
}
