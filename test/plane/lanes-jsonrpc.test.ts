import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JsonRpcLane } from "../../src/plane/lanes/jsonrpc.js";
import { decodeFrame, LineFramer } from "../../src/plane/lanes/jsonrpc-frame.js";
import { HTTP_MAX_TIMEOUT_MS, MAX_TIMEOUT_MS, UNDICI_DEFAULT_TIMEOUT_MS } from "../../src/plane/lanes/limits.js";
import { exec, harness, metrics, request, T0 } from "./fixtures/lanes/harness.js";
import { startServer, type TestServer } from "./fixtures/lanes/servers.js";

const PEER = fileURLToPath(new URL("./fixtures/lanes/peer.mjs", import.meta.url));
const stdio = new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: [PEER] }, default_timeout_ms: 3000 });

describe("jsonrpc lane over stdio (newline-delimited JSON)", () => {
  it("correlates the response and emits peer notifications as events, in order", async () => {
    const { outcome, events } = await exec(stdio, "call", { method: "add", params: { a: 2, b: 40 } });
    expect(outcome).toEqual({ status: "succeeded", output: { result: { sum: 42 } }, metrics: metrics(3000) });
    expect(events).toEqual([
      { contract_version: 1, event_id: `event-${T0}-1`, execution_ref: "exec-1", event_type: "jsonrpc.notification", payload: { method: "progress", params: { done: 1 } }, emitted_at: T0, evidence: [] },
      { contract_version: 1, event_id: `event-${T0}-2`, execution_ref: "exec-1", event_type: "jsonrpc.notification", payload: { method: "progress", params: { done: 2 } }, emitted_at: T0, evidence: [] },
    ]);
  });

  it("an error object is a raw fact: failed without a class", async () => {
    const { outcome } = await exec(stdio, "call", { method: "fail" });
    expect(outcome).toEqual({ status: "failed", output: { error: { code: -32000, message: "nope", data: { why: "because" } } }, metrics: metrics(3000) });
  });

  it("answers a peer request with method-not-found and emits it", async () => {
    const { outcome, events } = await exec(stdio, "call", { method: "ask" });
    expect(outcome.output).toEqual({ result: { reply: { jsonrpc: "2.0", id: "p1", error: { code: -32601, message: "method not found: confirm" } } } });
    expect(events.map((e) => [e.event_type, e.payload])).toEqual([["jsonrpc.peer_request", { id: "p1", method: "confirm", params: ["sure?"] }]]);
  });

  it("reassembles frames split across chunks (CRLF tolerated, blank lines ignored)", async () => {
    expect((await exec(stdio, "call", { method: "split" })).outcome.output).toEqual({ result: "joined" });
  });

  it.each([
    ["garbage", "invalid_json", "this is not json"],
    ["wrongversion", "wrong_version", '{"jsonrpc":"1.0","id":"exec-1","result":1}'],
    ["wrongid", "unknown_id", '{"jsonrpc":"2.0","id":"someone-else","result":1}'],
    ["badError", "invalid_error_object", '{"jsonrpc":"2.0","id":"exec-1","error":{"code":"x"}}'],
  ])("a malformed frame (%s) is protocol_framing_failed", async (method, reason, frame) => {
    const { outcome } = await exec(stdio, "call", { method });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason, frame } });
  });

  it("a result holding a lone surrogate is protocol_framing_failed (invalid_json), never accepted", async () => {
    const { outcome } = await exec(stdio, "call", { method: "lonesurrogate" });
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: {
        class: "protocol_framing_failed",
        message: "the frame holds a value JSON cannot carry canonically (a lone surrogate or a number out of range)",
        details: { reason: "invalid_json", frame: '{"jsonrpc":"2.0","id":"exec-1","result":"\\ud800"}' },
      },
      metrics: metrics(3000),
    });
  });

  it("a frame that is not well-formed UTF-8 is protocol_framing_failed (invalid_json), never decoded with U+FFFD", async () => {
    const { outcome } = await exec(stdio, "call", { method: "badutf8" });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: "the frame is not valid UTF-8",
      details: { reason: "invalid_json", frame: '{"jsonrpc":"2.0","id":"exec-1","result":"a\ufffd\ufffd"}' },
    });
  });

  it("a frame over max_frame_bytes is protocol_framing_failed", async () => {
    const tight = new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: [PEER] }, max_frame_bytes: 1000 });
    const { outcome } = await exec(tight, "call", { method: "big" });
    expect(outcome.failure).toEqual({ class: "protocol_framing_failed", message: "a frame exceeds 1000 bytes", details: { reason: "frame_too_large" } });
  });

  it("the peer exiting before responding is remote_disconnect with its exit status", async () => {
    const { outcome } = await exec(stdio, "call", { method: "exit" });
    expect(outcome).toEqual({
      status: "failed",
      output: { exit_code: 3, signal: null, stderr: "bye\n" },
      failure: { class: "remote_disconnect", message: "the peer closed its output before responding", details: { reason: "peer_exited" } },
      metrics: metrics(3000),
    });
  });

  it("the peer exiting while a process in another session holds its stdout is remote_disconnect, not a timeout", async () => {
    const started = Date.now();
    const { outcome } = await exec(stdio, "call", { method: "orphan", timeout_ms: 20_000 });
    const elapsed = Date.now() - started;
    const stderr = (outcome.output as { stderr: string }).stderr;
    const pid = Number(/orphan (\d+)/.exec(stderr)?.[1]);
    try {
      expect(outcome.failure).toEqual({ class: "remote_disconnect", message: "the peer closed its output before responding", details: { reason: "peer_exited" } });
      expect(outcome.output).toMatchObject({ exit_code: 4, signal: null });
      expect(elapsed).toBeLessThan(15_000);
    } finally {
      if (pid > 0) process.kill(pid, "SIGKILL");
    }
  });

  it("an error response with id null (JSON-RPC §5: the peer could not read the id) is the raw error fact", async () => {
    const { outcome } = await exec(stdio, "call", { method: "nullid" });
    expect(outcome).toEqual({ status: "failed", output: { error: { code: -32600, message: "Invalid Request" } }, metrics: metrics(3000) });
  });

  it("a silent peer times out; cancellation stops it", async () => {
    const { outcome } = await exec(stdio, "call", { method: "hang", timeout_ms: 300 });
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 300 ms", details: { timeout_ms: 300 } });
    const h = harness();
    const pending = stdio.execute(request("jsonrpc", "call", { method: "hang" }), h.ctx);
    setTimeout(() => h.controller.abort(), 200);
    expect((await pending).failure?.class).toBe("cancellation");
  });

  it("a peer that cannot start is launch_failed", async () => {
    const missing = new JsonRpcLane({ transport: { kind: "stdio", command: "cairn-no-such-peer" } });
    expect((await exec(missing, "call", { method: "add" })).outcome.failure).toMatchObject({ class: "launch_failed", details: { reason: "peer_launch_failed", code: "ENOENT" } });
  });

  it("passes the configured env and cwd to the peer", async () => {
    const configured = new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: [PEER], env: { PEER_MODE: "m1" }, cwd: tmpdir() } });
    expect((await exec(configured, "call", { method: "env" })).outcome.output).toEqual({ result: { peer: "m1", cwd: tmpdir() } });
  });

  it("rejects an invalid payload naming the field", async () => {
    const { outcome } = await exec(stdio, "call", { method: "add", params: 3 });
    expect(outcome.failure?.details).toEqual({ reason: "invalid_lane_request", path: "$.payload.params" });
  });
});

describe("jsonrpc lane over HTTP", () => {
  let srv: TestServer;
  let lane: JsonRpcLane;
  beforeAll(async () => {
    srv = await startServer();
    lane = new JsonRpcLane({ transport: { kind: "http", url: `${srv.url}/rpc` }, default_timeout_ms: 2000 });
  });
  afterAll(async () => {
    await srv.close();
  });

  it("correlates the response by id", async () => {
    expect((await exec(lane, "call", { method: "add", params: { a: 1, b: 2 } })).outcome).toEqual({
      status: "succeeded",
      output: { result: { sum: 3 }, http_status: 200 },
      metrics: metrics(2000),
    });
  });

  it("an error object is a raw fact (with any HTTP status)", async () => {
    expect((await exec(lane, "call", { method: "fail" })).outcome).toEqual({
      status: "failed",
      output: { error: { code: -32000, message: "nope", data: { why: "because" } }, http_status: 200 },
      metrics: metrics(2000),
    });
    const five = await exec(lane, "call", { method: "failWith500" });
    expect(five.outcome.output).toEqual({ error: { code: -32603, message: "internal" }, http_status: 500 });
    expect(five.outcome.failure).toBeUndefined();
  });

  it("an error response with id null is the raw error fact, with its HTTP status", async () => {
    expect((await exec(lane, "call", { method: "nullid" })).outcome).toEqual({
      status: "failed",
      output: { error: { code: -32700, message: "Parse error" }, http_status: 400 },
      metrics: metrics(2000),
    });
  });

  it("the timeout over HTTP never exceeds HTTP_MAX_TIMEOUT_MS (undici's own 300 s limits never fire first)", async () => {
    const long = new JsonRpcLane({ transport: { kind: "http", url: `${srv.url}/rpc` }, max_timeout_ms: MAX_TIMEOUT_MS });
    const { outcome } = await exec(long, "call", { method: "add", params: { a: 1, b: 1 }, timeout_ms: MAX_TIMEOUT_MS });
    expect(outcome.metrics.timeout_ms).toBe(HTTP_MAX_TIMEOUT_MS);
    expect(HTTP_MAX_TIMEOUT_MS).toBeLessThan(UNDICI_DEFAULT_TIMEOUT_MS);
    // stdio is not fetch: it keeps the full range.
    expect((await exec(new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: [PEER] } }), "call", { method: "add", params: { a: 1, b: 1 }, timeout_ms: MAX_TIMEOUT_MS })).outcome.metrics.timeout_ms).toBe(MAX_TIMEOUT_MS);
  });

  it("a 2xx body holding a lone surrogate or invalid UTF-8 is protocol_framing_failed (invalid_json)", async () => {
    const lone = (await exec(lane, "call", { method: "lonesurrogate" })).outcome;
    expect(lone.status).toBe("failed");
    expect(lone.failure).toMatchObject({ class: "protocol_framing_failed", message: "the frame holds a value JSON cannot carry canonically (a lone surrogate or a number out of range)", details: { reason: "invalid_json" } });
    const bad = (await exec(lane, "call", { method: "badutf8" })).outcome;
    expect(bad.failure).toMatchObject({ class: "protocol_framing_failed", message: "the frame is not valid UTF-8", details: { reason: "invalid_json" } });
  });

  it("a non-2xx without a JSON-RPC body is a raw fact", async () => {
    const { outcome } = await exec(lane, "call", { method: "upstream" });
    expect(outcome).toEqual({ status: "failed", output: { http_status: 502, body: "upstream broke", body_encoding: "utf8" }, metrics: metrics(2000) });
  });

  it.each([
    ["garbage", "invalid_json"],
    ["v1", "wrong_version"],
    ["wrongid", "unknown_id"],
  ])("a malformed 2xx body (%s) is protocol_framing_failed", async (method, reason) => {
    expect((await exec(lane, "call", { method })).outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason } });
  });

  it("no server is transport_failed", async () => {
    const { freePort } = await import("./fixtures/lanes/servers.js");
    const dead = new JsonRpcLane({ transport: { kind: "http", url: `http://127.0.0.1:${await freePort()}/rpc` } });
    expect((await exec(dead, "call", { method: "add" })).outcome.failure).toMatchObject({ class: "transport_failed", details: { code: "ECONNREFUSED" } });
  });
});

describe("jsonrpc framing", () => {
  it("classifies messages", () => {
    expect(decodeFrame('{"jsonrpc":"2.0","method":"n"}')).toEqual({ kind: "notification", method: "n" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"method":"r","params":[1]}')).toEqual({ kind: "peer_request", id: 1, method: "r", params: [1] });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"result":null}')).toEqual({ kind: "response", id: 1, result: null });
    expect(decodeFrame("[]")).toMatchObject({ kind: "malformed", reason: "batch_not_supported" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"result":{"\\udc00":1}}')).toMatchObject({ kind: "malformed", reason: "invalid_json" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"result":1e400}')).toMatchObject({ kind: "malformed", reason: "invalid_json" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"result":"\\ud83d\\ude00"}')).toEqual({ kind: "response", id: 1, result: "\u{1F600}" });
    expect(decodeFrame(Buffer.from([0x22, 0xc3, 0x28, 0x22]))).toEqual({ kind: "malformed", reason: "invalid_json", message: "the frame is not valid UTF-8" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}')).toMatchObject({ kind: "malformed", reason: "invalid_response" });
    expect(decodeFrame('{"jsonrpc":"2.0","method":"n","params":5}')).toMatchObject({ kind: "malformed", reason: "invalid_params" });
  });

  it("splits lines and enforces the frame cap across chunks", () => {
    const f = new LineFramer(8);
    expect(f.push(Buffer.from('{"a"'))).toEqual({ frames: [], tooLarge: false });
    expect(f.push(Buffer.from(':1}\n\n{"b":2}\r\n'))).toEqual({ frames: [Buffer.from('{"a":1}'), Buffer.from('{"b":2}')], tooLarge: false });
    expect(f.push(Buffer.from("123456789"))).toEqual({ frames: [], tooLarge: true });
  });
});
