/**
 * The websocket lane (ws): opens one WebSocket per execution (operation `session`), sends the
 * payload's messages in order once open, and emits one ExecutionEvent `websocket.message` per
 * received message, in order: `{ data, binary }` (binary data is base64).
 *
 * Payload: `{ url, headers?, protocols?, send?, timeout_ms?, max_messages?, close_after_messages? }`.
 * `send` items are strings (sent as text) or `{ json }` (sent as JSON text).
 *
 * The execution ends when the socket closes. Output: `{ messages, close_code, close_reason,
 * closed_by, end? }`.
 * - The lane closes (1000) after `close_after_messages` messages (`end: "close_after"`,
 *   `succeeded`) or at the `max_messages` bound (`end: "max_messages"`, `succeeded`,
 *   `output_truncated`).
 * - The server closing with 1000, 1001 or 1005 (no code) is `succeeded`; any other close code
 *   is a raw fact: `failed` WITHOUT a class. A connection lost without a close frame (1006)
 *   is `remote_disconnect`.
 * - A handshake answered with an HTTP status is a raw fact (`failed`, no class,
 *   `{ status_code }`); no connection at all is `transport_failed`; a 101 answer ws refuses
 *   (bad Sec-WebSocket-Accept, an unrequested extension or subprotocol: `invalid_handshake`),
 *   an invalid frame or a message over `max_message_bytes` is `protocol_framing_failed`;
 *   `timeout` and `cancellation`
 *   terminate the socket and keep the events already emitted.
 * Redirects are not followed. Subprotocols must be unique and header values tab/printable ASCII:
 * the ws constructor throws otherwise, and anything it still throws synchronously is reported
 * as an invalid lane request (the deadline is released first). The shared per-execution event
 * cap closes the socket and fails with `protocol_framing_failed` (`event_cap_exceeded`).
 */
import WebSocket from "ws";
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import { jsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { capabilities, checkLaneRequest, Deadline, deadlineFailure, effectiveTimeout, errnoCode, errorMessage, invalidRequest, laneIdOption, parseLaneOptions, Run, timeoutField, timeoutOptions } from "./common.js";
import { checkOrigin, payloadUrlOrigin, redactUrls, urlOf, websocketHeadersField } from "./http-common.js";
import type { Lane, LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import { CLOSE_AFTER_KILL_MS, DEFAULT_MAX_EVENTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STREAM_BYTES, MAX_EVENTS_LIMIT, MAX_RESPONSE_BYTES_LIMIT, MAX_STREAM_BYTES_LIMIT } from "./limits.js";

export const WEBSOCKET_OPERATIONS = ["session"] as const;
/** Close codes that end a session normally. */
export const WS_NORMAL_CLOSE_CODES: readonly number[] = [1000, 1001, 1005];
/** The close code ws reports when the connection dropped without a close frame. */
export const WS_ABNORMAL_CLOSE = 1006;
/** The close code the lane sends when it ends a session. */
export const WS_LANE_CLOSE_CODE = 1000;

const wsUrl = urlOf(["ws:", "wss:"], "ws: or wss:");

export const websocketLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("websocket"),
    allowed_origins: z.array(wsUrl.transform((s) => new URL(s).origin)).optional(),
    max_messages: z.number().int().positive().max(MAX_EVENTS_LIMIT).default(DEFAULT_MAX_EVENTS),
    max_message_bytes: z.number().int().positive().max(MAX_RESPONSE_BYTES_LIMIT).default(DEFAULT_MAX_RESPONSE_BYTES),
    max_stream_bytes: z.number().int().positive().max(MAX_STREAM_BYTES_LIMIT).default(DEFAULT_MAX_STREAM_BYTES),
    ...timeoutOptions,
  })
  .strict();
export type WebSocketLaneOptions = z.input<typeof websocketLaneOptionsSchema>;

export const websocketPayloadSchema = z
  .object({
    url: wsUrl,
    headers: websocketHeadersField,
    protocols: z
      .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "must be an HTTP token" }))
      .refine((a) => new Set(a).size === a.length, { message: "must not repeat a protocol" })
      .default([]),
    send: z.array(z.union([z.string(), z.object({ json: jsonValue }).strict()])).default([]),
    timeout_ms: timeoutField.optional(),
    max_messages: z.number().int().positive().max(MAX_EVENTS_LIMIT).optional(),
    close_after_messages: z.number().int().positive().max(MAX_EVENTS_LIMIT).optional(),
  })
  .strict();

type Ending =
  | { t: "closed"; code: number; reason: string }
  | { t: "http_status"; status: number }
  | { t: "transport"; err: Error }
  | { t: "framing"; err: Error }
  | { t: "handshake"; err: Error }
  | { t: "disconnect"; err: Error };

export class WebSocketLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof websocketLaneOptionsSchema>;

  constructor(options: WebSocketLaneOptions = {}) {
    this.opts = parseLaneOptions("websocket", websocketLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["websocket"], [PLACEMENT_SURFACES.local], true);
  }

  /** The origin of `payload.url` (null if it is not an absolute ws(s) URL). */
  requestOrigin(payload: JsonValue): string | null {
    return payloadUrlOrigin(payload, ["ws:", "wss:"]);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const parsed = checkLaneRequest(this.id, WEBSOCKET_OPERATIONS, ["local"], LOCAL_PLACEMENT, request, websocketPayloadSchema);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const p = parsed.value;
    const denied = checkOrigin(p.url, this.opts.allowed_origins);
    if (denied !== null) return run.failWith(denied);
    run.timeoutMs = effectiveTimeout(p.timeout_ms, this.opts);
    const maxMessages = Math.min(p.max_messages ?? this.opts.max_messages, this.opts.max_messages);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before connecting");

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    let ws: WebSocket;
    try {
      ws = new WebSocket(p.url, p.protocols, { headers: p.headers, maxPayload: this.opts.max_message_bytes, followRedirects: false, perMessageDeflate: false });
    } catch (err) {
      deadline.dispose();
      return run.failWith(invalidRequest("$.payload", `the WebSocket client rejected the request: ${redactUrls(errorMessage(err))}`));
    }
    let capped = null as LaneFailure | null;
    let messages = 0;
    let bytes = 0;
    let opened = false;
    // The peer answered the opening handshake with 101: a handshake ws then refuses (a bad
    // Sec-WebSocket-Accept, an unrequested extension or subprotocol, a wrong Upgrade) is invalid
    // WebSocket traffic from a peer that did respond, not a missing connection.
    let upgraded = false;
    let end = null as "close_after" | "max_messages" | "max_bytes" | null;
    // The lane's close handshake is bounded: a peer that never answers the close frame is cut off.
    const closeByLane = (): void => {
      ws.close(WS_LANE_CLOSE_CODE);
      setTimeout(() => ws.terminate(), CLOSE_AFTER_KILL_MS).unref();
    };
    const ending = new Promise<Ending>((resolve) => {
      ws.on("unexpected-response", (req, res) => {
        resolve({ t: "http_status", status: res.statusCode ?? 0 });
        req.destroy();
        res.destroy();
      });
      ws.on("upgrade", () => {
        upgraded = true;
      });
      ws.on("open", () => {
        opened = true;
        for (const m of p.send) ws.send(typeof m === "string" ? m : JSON.stringify(m.json));
      });
      ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
        if (end !== null || capped !== null || deadline.reason !== null) return;
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        if (bytes + buf.length > this.opts.max_stream_bytes) {
          end = "max_bytes";
          closeByLane();
          return;
        }
        if (!run.emit("websocket.message", { data: isBinary ? buf.toString("base64") : buf.toString("utf8"), binary: isBinary })) {
          capped = run.eventFailure;
          closeByLane();
          return;
        }
        bytes += buf.length;
        messages++;
        if (p.close_after_messages !== undefined && messages >= p.close_after_messages) end = "close_after";
        else if (messages >= maxMessages) end = "max_messages";
        if (end !== null) closeByLane();
      });
      ws.on("error", (err) => {
        if (errnoCode(err)?.startsWith("WS_ERR_")) resolve({ t: "framing", err });
        else if (!opened && upgraded) resolve({ t: "handshake", err });
        else resolve(opened ? { t: "disconnect", err } : { t: "transport", err });
      });
      ws.on("close", (code, reason) => resolve({ t: "closed", code, reason: reason.toString("utf8") }));
    });
    const fin = await Promise.race([ending, deadline.fired]);
    deadline.dispose();
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();

    const io = { bytes, truncated: end === "max_messages" || end === "max_bytes" };
    const counts = (): Record<string, JsonValue> => ({ messages, ...(end === null ? {} : { end }) });
    if (typeof fin === "string") return deadlineFailure(run, fin, counts(), io);
    if (capped !== null) return run.failWith(capped, counts(), { bytes, truncated: true });
    switch (fin.t) {
      case "http_status":
        return run.fact("failed", { status_code: fin.status });
      case "transport":
        return run.fail("transport_failed", `cannot connect to ${new URL(p.url).origin}: ${redactUrls(errorMessage(fin.err))}`, null, { reason: "no_connection", code: errnoCode(fin.err) ?? "unknown" });
      case "handshake":
        return run.fail("protocol_framing_failed", `invalid WebSocket opening handshake: ${redactUrls(errorMessage(fin.err))}`, counts(), { reason: "invalid_handshake" }, io);
      case "framing":
        return run.fail("protocol_framing_failed", `invalid WebSocket traffic: ${redactUrls(errorMessage(fin.err))}`, counts(), { reason: "invalid_frame", code: errnoCode(fin.err) ?? "unknown" }, io);
      case "disconnect":
        return run.fail("remote_disconnect", `the connection broke: ${redactUrls(errorMessage(fin.err))}`, counts(), { reason: "connection_error", code: errnoCode(fin.err) ?? "unknown" }, io);
      case "closed": {
        const output = { ...counts(), close_code: fin.code, close_reason: fin.reason, closed_by: end === null ? "server" : "lane" };
        if (end !== null || WS_NORMAL_CLOSE_CODES.includes(fin.code)) return run.fact("succeeded", output, io);
        if (fin.code === WS_ABNORMAL_CLOSE) return run.fail("remote_disconnect", "the connection dropped without a close frame", output, { reason: "abnormal_closure" }, io);
        return run.fact("failed", output, io);
      }
    }
  }
}
