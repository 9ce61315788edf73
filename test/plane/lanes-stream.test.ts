import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SseLane } from "../../src/plane/lanes/sse.js";
import { WebSocketLane } from "../../src/plane/lanes/websocket.js";
import { MAX_TIMEOUT_MS } from "../../src/plane/lanes/limits.js";
import { exec, harness, metrics, request, T0 } from "./fixtures/lanes/harness.js";
import { freePort, startServer, type TestServer } from "./fixtures/lanes/servers.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv.close();
});

describe("sse lane", () => {
  it("caps timeouts under undici's 300 s limits", () => {
    expect(() => new SseLane({ max_timeout_ms: MAX_TIMEOUT_MS })).toThrow();
    expect(new SseLane().capabilities().supports_execute).toBe(true);
  });

  const lane = new SseLane({ default_timeout_ms: 2000 });

  it("emits one event per SSE event, in order, and succeeds at end of stream", async () => {
    const { outcome, events } = await exec(lane, "subscribe", { url: `${srv.url}/sse` });
    expect(events).toEqual([
      { contract_version: 1, event_id: `event-${T0}-1`, execution_ref: "exec-1", event_type: "sse.event", payload: { event: "message", data: "one" }, emitted_at: T0, evidence: [] },
      { contract_version: 1, event_id: `event-${T0}-2`, execution_ref: "exec-1", event_type: "sse.event", payload: { event: "tick", data: "two", id: "7" }, emitted_at: T0, evidence: [] },
      { contract_version: 1, event_id: `event-${T0}-3`, execution_ref: "exec-1", event_type: "sse.event", payload: { event: "message", data: "line1\nline2" }, emitted_at: T0, evidence: [] },
    ]);
    const bytes = "data: one\n\nevent: tick\ndata: two\nid: 7\n\n: a comment\n\ndata: line1\ndata: line2\n\n".length;
    expect(outcome).toEqual({
      status: "succeeded",
      output: { status_code: 200, events: 3, last_event_id: "7", end: "eof" },
      metrics: metrics(2000, { output_bytes: bytes, output_truncated: false }),
    });
  });

  it("stops at stop_on_event on an endless stream", async () => {
    const { outcome, events } = await exec(lane, "subscribe", { url: `${srv.url}/sse-forever`, stop_on_event: "done" });
    expect(events.map((e) => e.payload)).toEqual([
      { event: "message", data: "n0" },
      { event: "message", data: "n1" },
      { event: "message", data: "n2" },
      { event: "done", data: "bye" },
    ]);
    expect(outcome.output).toEqual({ status_code: 200, events: 4, last_event_id: null, end: "stop_event" });
    expect(outcome.metrics.output_truncated).toBe(false);
  });

  it("is bounded by max_events (truncated) and by max_stream_bytes", async () => {
    const { outcome, events } = await exec(lane, "subscribe", { url: `${srv.url}/sse-forever`, max_events: 2 });
    expect(events).toHaveLength(2);
    expect(outcome).toMatchObject({ status: "succeeded", output: { events: 2, end: "max_events" }, metrics: { output_truncated: true } });
    const tiny = new SseLane({ max_stream_bytes: 20 });
    const bounded = await exec(tiny, "subscribe", { url: `${srv.url}/sse-forever` });
    expect(bounded.outcome).toMatchObject({ status: "succeeded", output: { events: 2, end: "max_bytes" }, metrics: { output_bytes: 20, output_truncated: true } });
  });

  it("times out on an endless stream, keeping the events emitted so far", async () => {
    // The server sends an event every 10 ms from the start; 1.5 s leaves room for a busy machine.
    const { outcome, events } = await exec(lane, "subscribe", { url: `${srv.url}/sse-forever`, timeout_ms: 1500 });
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 1500 ms", details: { timeout_ms: 1500 } });
    expect(events.length).toBeGreaterThan(0);
    expect((outcome.output as { events: number }).events).toBe(events.length);
  });

  it("a non-2xx is a raw fact; a non-event-stream 2xx is protocol_framing_failed", async () => {
    const nf = await exec(lane, "subscribe", { url: `${srv.url}/status/404` });
    expect(nf.outcome.status).toBe("failed");
    expect(nf.outcome.failure).toBeUndefined();
    expect(nf.outcome.output).toMatchObject({ status_code: 404, body: "status 404" });
    const json = await exec(lane, "subscribe", { url: `${srv.url}/sse-json` });
    expect(json.outcome.failure).toEqual({ class: "protocol_framing_failed", message: 'expected text/event-stream, got "application/json"', details: { reason: "not_event_stream", status_code: 200 } });
  });

  it("a deadline or a break-off while reading a non-2xx body is classified, keeping the partial body (like the http lane)", async () => {
    const hang = await exec(lane, "subscribe", { url: `${srv.url}/status-hang`, timeout_ms: 300 });
    expect(hang.outcome.failure).toEqual({ class: "timeout", message: "no result within 300 ms", details: { timeout_ms: 300 } });
    expect(hang.outcome.output).toMatchObject({ status_code: 500, body: "partial error body", body_encoding: "utf8", body_truncated: false });
    expect(hang.outcome.metrics).toMatchObject({ output_bytes: 18, output_truncated: false });
    const h = harness();
    const pending = lane.execute(request("sse", "subscribe", { url: `${srv.url}/status-hang` }), h.ctx);
    setTimeout(() => h.controller.abort(), 200);
    const cancelled = await pending;
    expect(cancelled.failure).toEqual({ class: "cancellation", message: "cancelled" });
    expect(cancelled.output).toMatchObject({ status_code: 500, body: "partial error body" });
    const broke = await exec(lane, "subscribe", { url: `${srv.url}/status-break` });
    expect(broke.outcome.failure).toMatchObject({ class: "remote_disconnect", details: { reason: "body_interrupted" } });
    expect(broke.outcome.output).toMatchObject({ status_code: 500, body: "partial error body" });
  });

  it("no server is transport_failed; a broken stream is remote_disconnect", async () => {
    expect((await exec(lane, "subscribe", { url: `http://127.0.0.1:${await freePort()}/sse` })).outcome.failure?.class).toBe("transport_failed");
    const broken = await exec(lane, "subscribe", { url: `${srv.url}/sse-break` });
    expect(broken.outcome.failure?.class).toBe("remote_disconnect");
    expect(broken.events.map((e) => e.payload)).toEqual([{ event: "message", data: "first" }]);
  });

  it("rejects header values fetch would throw on, before any I/O", async () => {
    const { outcome } = await exec(lane, "subscribe", { url: "http://127.0.0.1:1/never", headers: { authorization: "Bearer \u0100" } });
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: "$.payload.headers.authorization" } });
    const id = await exec(lane, "subscribe", { url: "http://127.0.0.1:1/never", last_event_id: "\u00e9" });
    expect(id.outcome.failure?.details).toMatchObject({ path: "$.payload.last_event_id" });
  });

  it("a URL with credentials is an invalid lane request before any I/O", async () => {
    const { outcome } = await exec(lane, "subscribe", { url: srv.url.replace("http://", "http://u:PW@") + "/sse" });
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: "invalid lane request: $.payload.url: must not contain credentials (user:password@)",
      details: { reason: "invalid_lane_request", path: "$.payload.url" },
    });
  });

  it("cancellation", async () => {
    const h = harness();
    const pending = lane.execute(request("sse", "subscribe", { url: `${srv.url}/sse-forever` }), h.ctx);
    setTimeout(() => h.controller.abort(), 60);
    expect((await pending).failure?.class).toBe("cancellation");
  });
});

describe("websocket lane", () => {
  const lane = new WebSocketLane({ default_timeout_ms: 2000 });

  it("sends, receives in order, and succeeds on a normal server close", async () => {
    const { outcome, events } = await exec(lane, "session", { url: `${srv.wsUrl}/ws/echo`, send: ["a", { json: { b: 1 } }, "close"] });
    expect(events).toEqual([
      { contract_version: 1, event_id: `event-${T0}-1`, execution_ref: "exec-1", event_type: "websocket.message", payload: { data: "hello", binary: false }, emitted_at: T0, evidence: [] },
      { contract_version: 1, event_id: `event-${T0}-2`, execution_ref: "exec-1", event_type: "websocket.message", payload: { data: "a", binary: false }, emitted_at: T0, evidence: [] },
      { contract_version: 1, event_id: `event-${T0}-3`, execution_ref: "exec-1", event_type: "websocket.message", payload: { data: '{"b":1}', binary: false }, emitted_at: T0, evidence: [] },
    ]);
    expect(outcome).toEqual({
      status: "succeeded",
      output: { messages: 3, close_code: 1000, close_reason: "bye", closed_by: "server" },
      metrics: metrics(2000, { output_bytes: 13, output_truncated: false }),
    });
  });

  it("binary messages are base64", async () => {
    const { outcome, events } = await exec(lane, "session", { url: `${srv.wsUrl}/ws/stream` });
    expect(events.map((e) => e.payload)).toEqual([
      { data: "m0", binary: false },
      { data: "m1", binary: false },
      { data: "m2", binary: false },
      { data: "m3", binary: false },
      { data: "m4", binary: false },
      { data: "AQID", binary: true },
    ]);
    expect(outcome.output).toEqual({ messages: 6, close_code: 1000, close_reason: "done", closed_by: "server" });
  });

  it("the lane closes after close_after_messages, and at the max_messages bound (truncated)", async () => {
    const after = await exec(lane, "session", { url: `${srv.wsUrl}/ws/forever`, close_after_messages: 3 });
    expect(after.outcome).toMatchObject({ status: "succeeded", output: { messages: 3, end: "close_after", close_code: 1000, closed_by: "lane" }, metrics: { output_truncated: false } });
    expect(after.events).toHaveLength(3);
    const bounded = await exec(new WebSocketLane({ max_messages: 2 }), "session", { url: `${srv.wsUrl}/ws/forever` });
    expect(bounded.outcome).toMatchObject({ status: "succeeded", output: { messages: 2, end: "max_messages" }, metrics: { output_truncated: true } });
  });

  it("a peer that never answers the lane's close frame is cut off after the close grace", async () => {
    const started = Date.now();
    const { outcome } = await exec(lane, "session", { url: `${srv.wsUrl}/ws/deaf`, close_after_messages: 2 });
    expect(outcome).toMatchObject({ status: "succeeded", output: { messages: 2, end: "close_after", close_code: 1006, closed_by: "lane" } });
    expect(Date.now() - started).toBeLessThan(10_000); // the close grace is 500 ms; generous for a busy machine
  });

  it("another close code is a raw fact; a dropped connection is remote_disconnect", async () => {
    const coded = await exec(lane, "session", { url: `${srv.wsUrl}/ws/code` });
    expect(coded.outcome.status).toBe("failed");
    expect(coded.outcome.failure).toBeUndefined();
    expect(coded.outcome.output).toEqual({ messages: 0, close_code: 4001, close_reason: "custom", closed_by: "server" });
    const dropped = await exec(lane, "session", { url: `${srv.wsUrl}/ws/drop` });
    expect(dropped.outcome.failure?.class).toBe("remote_disconnect");
    expect(dropped.outcome.output).toMatchObject({ messages: 1, close_code: 1006 });
  });

  it("a rejected handshake is a raw fact; no server is transport_failed", async () => {
    const rejected = await exec(lane, "session", { url: `${srv.wsUrl}/ws/reject` });
    expect(rejected.outcome).toEqual({ status: "failed", output: { status_code: 403 }, metrics: metrics(2000) });
    const none = await exec(lane, "session", { url: `ws://127.0.0.1:${await freePort()}/` });
    expect(none.outcome.failure).toMatchObject({ class: "transport_failed", details: { reason: "no_connection", code: "ECONNREFUSED" } });
  });

  it("a message over max_message_bytes is protocol_framing_failed", async () => {
    const { outcome } = await exec(new WebSocketLane({ max_message_bytes: 100 }), "session", { url: `${srv.wsUrl}/ws/big` });
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_frame", code: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" } });
  });

  it("times out on a silent server; cancellation terminates", async () => {
    const { outcome } = await exec(lane, "session", { url: `${srv.wsUrl}/ws/silent`, timeout_ms: 150 });
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 150 ms", details: { timeout_ms: 150 } });
    expect(outcome.output).toEqual({ messages: 0 });
    const h = harness();
    const pending = lane.execute(request("websocket", "session", { url: `${srv.wsUrl}/ws/silent` }), h.ctx);
    setTimeout(() => h.controller.abort(), 60);
    expect((await pending).failure?.class).toBe("cancellation");
  });

  it("rejects what the ws constructor would throw on (repeated protocols, bad header characters), releasing the deadline", async () => {
    const dup = await exec(lane, "session", { url: `${srv.wsUrl}/ws/echo`, protocols: ["a", "a"] });
    expect(dup.outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: "$.payload.protocols" } });
    const ctl = await exec(lane, "session", { url: `${srv.wsUrl}/ws/echo`, headers: { "x-v": "a\u0001b" } });
    expect(ctl.outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: '$.payload.headers["x-v"]' } });
    const wide = await exec(lane, "session", { url: `${srv.wsUrl}/ws/echo`, headers: { "x-v": "\u20ac" } });
    expect(wide.outcome.failure?.details).toMatchObject({ path: '$.payload.headers["x-v"]' });
  });

  it("rejects a ws URL with credentials before any I/O", async () => {
    const { outcome } = await exec(lane, "session", { url: srv.wsUrl.replace("ws://", "ws://u:PW@") + "/ws/echo" });
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: "invalid lane request: $.payload.url: must not contain credentials (user:password@)",
      details: { reason: "invalid_lane_request", path: "$.payload.url" },
    });
  });

  it("rejects a non-ws URL naming the field", async () => {
    expect((await exec(lane, "session", { url: "http://x/" })).outcome.failure?.details).toEqual({ reason: "invalid_lane_request", path: "$.payload.url" });
  });
});
