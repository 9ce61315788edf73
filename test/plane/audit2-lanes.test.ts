/**
 * Audit 2 of the execution plane, lane side: a worker blocked in a synchronous native call no
 * longer holds the lane past its deadline; a peer can no longer crash the node's process through
 * an event (JSON-RPC depth accounting, Run.emit never throws); an SSE 2xx without a body is an
 * empty stream; raw bodies keep a leading UTF-8 BOM; every lane limit lives in limits.ts.
 */
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { fixedClock } from "../../src/core/clock.js";
import type { JsonValue } from "../../src/plane/contracts/base.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { encodeBody, Run } from "../../src/plane/lanes/common.js";
import { HttpLane } from "../../src/plane/lanes/http.js";
import { InlineLane } from "../../src/plane/lanes/inline.js";
import { JsonRpcLane } from "../../src/plane/lanes/jsonrpc.js";
import type { LaneContext } from "../../src/plane/lanes/lane.js";
import * as limits from "../../src/plane/lanes/limits.js";
import { MAX_ABANDONED_WORKERS } from "../../src/plane/lanes/limits.js";
import { ProcessLane } from "../../src/plane/lanes/process.js";
import { SseLane } from "../../src/plane/lanes/sse.js";
import { WebSocketLane } from "../../src/plane/lanes/websocket.js";
import { abandonedWorkers, WorkerLane } from "../../src/plane/lanes/worker.js";
import { MemoryEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { exec, harness, request, T0 } from "./fixtures/lanes/harness.js";
import { scratchDir } from "./node-helpers.js";

const tempDir = scratchDir;

/** `n` nested objects: deep(1) = {}, deep(2) = {a: {}}. */
function deep(n: number): JsonValue {
  let v: JsonValue = {};
  for (let i = 1; i < n; i++) v = { a: v };
  return v;
}

/** A lane context whose `emit` throws (a buggy caller). */
function throwingCtx(): LaneContext {
  const clock = fixedClock(T0);
  return {
    clock,
    ids: sequentialIds(clock),
    signal: new AbortController().signal,
    emit: () => {
      throw new Error("sink exploded");
    },
  };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}

describe("worker lane: a worker blocked in a synchronous native call (audit2 #1)", () => {
  const dir = tempDir();
  const mod = join(dir, "block.mjs");
  writeFileSync(mod, `import { execSync } from "node:child_process";\nexport function block() { execSync("sleep 6"); return 1; }\n`);
  // The deadline must find the worker inside the blocking call (a worker still starting is
  // terminated normally): 1.5 s leaves a loaded machine time to start it.
  const lane = new WorkerLane({ modules: { block: { module: mod, export: "block" } }, default_timeout_ms: 1500 });

  it("the timeout returns at the deadline (bounded terminate wait), the worker is abandoned and ends when its call returns", async () => {
    const t0 = Date.now();
    const { outcome } = await exec(lane, "block", {});
    const elapsed = Date.now() - t0;
    expect(outcome).toEqual({ status: "failed", output: null, failure: { class: "timeout", message: "no result within 1500 ms", details: { timeout_ms: 1500 } }, metrics: { started_at: T0, finished_at: T0, timeout_ms: 1500 } });
    // deadline 1.5 s + WORKER_TERMINATE_WAIT_MS 250 ms; it used to wait for the sleep (6 s).
    expect(elapsed).toBeLessThan(4500);
    expect(abandonedWorkers()).toBe(1);
    expect(await waitFor(() => abandonedWorkers() === 0, 10_000)).toBe(true);
  });

  it("cancellation returns at once too", async () => {
    const h = harness();
    const t0 = Date.now();
    const pending = lane.execute(request("worker", "block", {}), h.ctx);
    setTimeout(() => h.controller.abort(), 100);
    const outcome = await pending;
    expect(outcome.failure).toEqual({ class: "cancellation", message: "cancelled" });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(await waitFor(() => abandonedWorkers() === 0, 10_000)).toBe(true);
  });

  it(`at most MAX_ABANDONED_WORKERS (${MAX_ABANDONED_WORKERS}) abandoned at once: the next execution is launch_failed, and runs again once they end`, async () => {
    // A worker is abandoned only when its deadline finds it inside the blocking call: four
    // workers starting at once on a loaded machine can take longer than 300 ms to get there
    // (then they terminate normally and none is abandoned; CI saw 0 instead of 4). So here the
    // deadline is 2 s and the call blocks for 8 s.
    const slow = join(dir, "block-long.mjs");
    writeFileSync(slow, `import { execSync } from "node:child_process";\nexport function block() { execSync("sleep 8"); return 1; }\n`);
    const longLane = new WorkerLane({ modules: { block: { module: slow, export: "block" } }, default_timeout_ms: 2000 });
    const outcomes = await Promise.all(Array.from({ length: MAX_ABANDONED_WORKERS }, () => exec(longLane, "block", {})));
    expect(outcomes.map((o) => o.outcome.failure?.class)).toEqual(Array(MAX_ABANDONED_WORKERS).fill("timeout"));
    expect(abandonedWorkers()).toBe(MAX_ABANDONED_WORKERS);
    const refused = await exec(longLane, "block", {});
    expect(refused.outcome.failure).toMatchObject({ class: "launch_failed", details: { reason: "too_many_abandoned_workers", abandoned: MAX_ABANDONED_WORKERS } });
    expect(await waitFor(() => abandonedWorkers() === 0, 20_000)).toBe(true);
    expect((await exec(longLane, "block", {})).outcome.failure?.class).toBe("timeout"); // started again
    expect(await waitFor(() => abandonedWorkers() === 0, 20_000)).toBe(true);
  }, 60_000);
});

/** A stdio JSON-RPC peer: answers the request with what KIND says, with a value of N nested objects. */
const PEER = `
let buf = "";
const deep = (n) => { let v = {}; for (let i = 1; i < n; i++) v = { a: v }; return v; };
const send = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
process.stdin.on("data", (c) => {
  buf += c;
  const i = buf.indexOf("\\n");
  if (i < 0) return;
  const id = JSON.parse(buf.slice(0, i)).id;
  buf = buf.slice(i + 1);
  const n = Number(process.env.N), kind = process.env.KIND;
  if (kind === "notification") send({ jsonrpc: "2.0", method: "deep", params: deep(n) });
  if (kind === "peer_request") send({ jsonrpc: "2.0", id: "p1", method: "deep", params: deep(n) });
  if (kind === "result") send({ jsonrpc: "2.0", id, result: deep(n) });
  else if (kind === "error") send({ jsonrpc: "2.0", id, error: { code: 1, message: "m", data: deep(n) } });
  else send({ jsonrpc: "2.0", id, result: 1 });
});
`;

function rpcLane(kind: string, n: number): JsonRpcLane {
  return new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: ["-e", PEER], env: { KIND: kind, N: String(n) } } });
}

describe("jsonrpc lane: depth accounting matches where the lane nests peer values (audit2 #2)", () => {
  it("a notification whose params nest 256 levels is protocol_framing_failed (invalid_params), not a crash; 255 levels is an event", async () => {
    const bad = await exec(rpcLane("notification", 256), "call", { method: "m", timeout_ms: 10_000 });
    expect(bad.outcome.status).toBe("failed");
    expect(bad.outcome.failure).toMatchObject({
      class: "protocol_framing_failed",
      message: "params nests deeper than 255 levels (the lane nests it 1 deeper; JSON values nest at most 256)",
      details: { reason: "invalid_params" },
    });
    expect(bad.events).toEqual([]);
    const ok = await exec(rpcLane("notification", 255), "call", { method: "m", timeout_ms: 10_000 });
    expect(ok.outcome).toMatchObject({ status: "succeeded", output: { result: 1 } });
    expect(ok.events.map((e) => e.event_type)).toEqual(["jsonrpc.notification"]);
    expect(ok.events[0]?.payload).toEqual({ method: "deep", params: deep(255) });
  });

  it("a peer request whose params nest 256 levels is invalid_params too", async () => {
    const { outcome, events } = await exec(rpcLane("peer_request", 256), "call", { method: "m", timeout_ms: 10_000 });
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_params" } });
    expect(events).toEqual([]);
  });

  it("a result nesting 256 levels is invalid_response at the lane (it used to become invalid_outcome at the node); 255 succeeds", async () => {
    const bad = await exec(rpcLane("result", 256), "call", { method: "m", timeout_ms: 10_000 });
    expect(bad.outcome.failure).toMatchObject({
      class: "protocol_framing_failed",
      message: "result nests deeper than 255 levels (the lane nests it 1 deeper; JSON values nest at most 256)",
      details: { reason: "invalid_response" },
    });
    const ok = await exec(rpcLane("result", 255), "call", { method: "m", timeout_ms: 10_000 });
    expect(ok.outcome).toMatchObject({ status: "succeeded", output: { result: deep(255) } });
  });

  it("error data is nested two levels down ({error: {data}}): 255 is invalid_error_object, 254 a raw fact", async () => {
    const bad = await exec(rpcLane("error", 255), "call", { method: "m", timeout_ms: 10_000 });
    expect(bad.outcome.failure).toMatchObject({
      class: "protocol_framing_failed",
      message: "error.data nests deeper than 254 levels (the lane nests it 2 deeper; JSON values nest at most 256)",
      details: { reason: "invalid_error_object" },
    });
    const ok = await exec(rpcLane("error", 254), "call", { method: "m", timeout_ms: 10_000 });
    expect(ok.outcome).toMatchObject({ status: "failed", output: { error: { code: 1, message: "m", data: deep(254) } } });
    expect(ok.outcome.failure).toBeUndefined();
  });

  it("through a node: the deep notification ends protocol_framing_failed with execution.completed recorded; the deepest accepted result is no invalid_outcome", async () => {
    const run = async (kind: string, n: number) => {
      const clock = fixedClock(T0);
      const sink = new MemoryEvidenceSink();
      const node = new PlaneNode({ nodeId: "n", clock, ids: sequentialIds(clock) });
      node.registerLane(rpcLane(kind, n), { allowDirect: true }).registerEvidenceSink(sink).completeRegistration();
      const result = await node.execute({ contract_version: 1, lane_id: "jsonrpc", operation: "call", idempotency_key: "k", payload: { method: "m", timeout_ms: 10_000 }, provenance: { kind: "direct_lower_lane_owner" } });
      await node.close();
      return { result, types: sink.records.map((r) => r.evidence_type) };
    };
    const crash = await run("notification", 256);
    expect(crash.result.status).toBe("failed");
    expect(crash.result.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_params" } });
    expect(crash.types).toEqual(["admission.accepted", "execution.started", "execution.completed"]);
    const edge = await run("result", 255);
    expect(edge.result.status).toBe("succeeded");
    expect(edge.result.output).toEqual({ result: deep(255) });
  });
});

describe("Run.emit never throws: a refused event ends the execution, it never escapes a handler (audit2 #2)", () => {
  let server: Server;
  let wss: WebSocketServer;
  let base: string;
  beforeAll(async () => {
    wss = new WebSocketServer({ noServer: true });
    server = createServer((req, res) => {
      const path = req.url ?? "/";
      if (path === "/sse") res.writeHead(200, { "content-type": "text/event-stream" }).end("data: one\n\ndata: two\n\n");
      else if (path === "/sse-bom") res.writeHead(200, { "content-type": "text/event-stream" }).end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("data: one\n\n")]));
      else if (path === "/sse-204") res.writeHead(204, { "content-type": "text/event-stream" }).end();
      else if (path === "/sse-205") res.writeHead(205, { "content-type": "text/event-stream" }).end();
      else if (path === "/bom") res.writeHead(200).end(Buffer.from("efbbbf6869", "hex"));
      else if (path === "/bom-500") res.writeHead(500).end(Buffer.from("efbbbf6869", "hex"));
      else res.writeHead(404).end();
    });
    server.on("upgrade", (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send("hello");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const refused = (cls: string, type: string) => ({
    class: cls,
    message: `the event ${JSON.stringify(type)} could not be emitted: sink exploded`,
    details: { reason: "invalid_event" },
  });

  it("Run.emit returns false and records invalid_event when the event cannot be built or delivered", () => {
    const run = new Run(throwingCtx(), request("x", "op", {}));
    expect(run.emit("t", { a: 1 })).toBe(false);
    expect(run.eventFailure).toEqual(refused("protocol_framing_failed", "t"));
    const h = harness();
    const built = new Run(h.ctx, request("x", "op", {}), "semantic_runtime_failed");
    expect(built.emit("", {})).toBe(false);
    expect(built.eventFailure).toMatchObject({ class: "semantic_runtime_failed", details: { reason: "invalid_event" } });
    expect(built.emit("later", {})).toBe(false); // every later event is dropped
    expect(h.events).toEqual([]);
    // An event type that is not a string, even one String() throws on, is refused, never thrown.
    for (const hostile of [Object.create(null) as unknown, { toString: (): string => { throw new Error("no"); } }, 7]) {
      const r = new Run(harness().ctx, request("x", "op", {}), "semantic_runtime_failed");
      expect(r.emit(hostile as string, {})).toBe(false);
      expect(r.eventFailure?.message).toMatch(/^the event "\(a (object|number)\)" could not be emitted: /);
    }
  });

  it("jsonrpc: an emit that throws (stdout data handler) is protocol_framing_failed, not an uncaught exception", async () => {
    const outcome = await rpcLane("notification", 1).execute(request("jsonrpc", "call", { method: "m", timeout_ms: 10_000 }), throwingCtx());
    expect(outcome.failure).toEqual(refused("protocol_framing_failed", "jsonrpc.notification"));
  });

  it("websocket: an emit that throws (message handler) is protocol_framing_failed, not an uncaught exception", async () => {
    const lane = new WebSocketLane({});
    const outcome = await lane.execute(request("websocket", "session", { url: `ws://${base}/ws`, timeout_ms: 5000 }), throwingCtx());
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toEqual(refused("protocol_framing_failed", "websocket.message"));
  });

  it("sse: an emit that throws is protocol_framing_failed (it was misread as remote_disconnect)", async () => {
    const outcome = await new SseLane({}).execute(request("sse", "subscribe", { url: `http://${base}/sse`, timeout_ms: 5000 }), throwingCtx());
    expect(outcome.failure).toEqual(refused("protocol_framing_failed", "sse.event"));
  });

  it("inline: an invalid event is semantic_runtime_failed (invalid_event) even when the function goes on", async () => {
    const lane = new InlineLane({
      functions: {
        f: (_p, ctx) => {
          ctx.emit("", { x: 1 });
          return "done";
        },
      },
    });
    const { outcome, events } = await exec(lane, "f", {});
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toMatchObject({ class: "semantic_runtime_failed", details: { reason: "invalid_event" } });
    expect(events).toEqual([]);
  });

  it("sse: a 2xx without a body (204, 205) is an empty stream: succeeded, eof, no events (audit2 #4)", async () => {
    for (const code of [204, 205]) {
      const { outcome, events } = await exec(new SseLane({}), "subscribe", { url: `http://${base}/sse-${code}`, timeout_ms: 5000 });
      expect(outcome).toEqual({
        status: "succeeded",
        output: { status_code: code, events: 0, last_event_id: null, end: "eof" },
        metrics: { started_at: T0, finished_at: T0, timeout_ms: 5000, output_bytes: 0, output_truncated: false },
      });
      expect(events).toEqual([]);
    }
  });

  it("raw bodies keep a leading UTF-8 BOM (http 2xx and non-2xx); the SSE stream strips it as the SSE spec says (audit2 #5)", async () => {
    expect(encodeBody(Buffer.from("efbbbf6869", "hex"))).toEqual({ body: "\ufeffhi", body_encoding: "utf8" });
    const http = new HttpLane({});
    const ok = await exec(http, "request", { url: `http://${base}/bom` });
    expect(ok.outcome.output).toMatchObject({ status_code: 200, body: "\ufeffhi", body_encoding: "utf8", body_truncated: false });
    expect(ok.outcome.metrics.output_bytes).toBe(5);
    const err = await exec(http, "request", { url: `http://${base}/bom-500` });
    expect(err.outcome.output).toMatchObject({ status_code: 500, body: "\ufeffhi", body_encoding: "utf8" });
    const sseErr = await exec(new SseLane({}), "subscribe", { url: `http://${base}/bom-500`, timeout_ms: 5000 });
    expect(sseErr.outcome.output).toMatchObject({ status_code: 500, body: "\ufeffhi", body_encoding: "utf8" });
    const stream = await exec(new SseLane({}), "subscribe", { url: `http://${base}/sse-bom`, timeout_ms: 5000 });
    expect(stream.events.map((e) => e.payload)).toEqual([{ event: "message", data: "one" }]);
  });
});

describe("every lane limit is a named constant in limits.ts (audit2 #7)", () => {
  it("exports the limits that used to live in the lane files", () => {
    expect({
      SSE_ERROR_BODY_BYTES: limits.SSE_ERROR_BODY_BYTES,
      MAX_KILL_GRACE_MS: limits.MAX_KILL_GRACE_MS,
      MIN_WORKER_HEAP_MB: limits.MIN_WORKER_HEAP_MB,
      MAX_WORKER_HEAP_MB: limits.MAX_WORKER_HEAP_MB,
      FRAME_EXCERPT_CHARS: limits.FRAME_EXCERPT_CHARS,
      WORKER_TERMINATE_WAIT_MS: limits.WORKER_TERMINATE_WAIT_MS,
      MAX_SSH_CONNECT_TIMEOUT_S: limits.MAX_SSH_CONNECT_TIMEOUT_S,
      EVENT_ERROR_QUOTE_CHARS: limits.EVENT_ERROR_QUOTE_CHARS,
    }).toEqual({
      SSE_ERROR_BODY_BYTES: 65536,
      MAX_KILL_GRACE_MS: 10_000,
      MIN_WORKER_HEAP_MB: 16,
      MAX_WORKER_HEAP_MB: 8192,
      FRAME_EXCERPT_CHARS: 256,
      WORKER_TERMINATE_WAIT_MS: 250,
      MAX_SSH_CONNECT_TIMEOUT_S: 600,
      EVENT_ERROR_QUOTE_CHARS: 256,
    });
  });

  it("the lanes use them: option bounds come from limits.ts", () => {
    expect(() => new WorkerLane({ max_old_generation_mb: limits.MAX_WORKER_HEAP_MB + 1 })).toThrow();
    expect(() => new WorkerLane({ max_old_generation_mb: limits.MIN_WORKER_HEAP_MB - 1 })).toThrow();
    expect(() => new WorkerLane({ max_old_generation_mb: limits.MAX_WORKER_HEAP_MB })).not.toThrow();
    expect(() => new ProcessLane({ kill_grace_ms: limits.MAX_KILL_GRACE_MS + 1 })).toThrow();
    expect(() => new ProcessLane({ placement: { kind: "ssh", destination: "h", connect_timeout_s: limits.MAX_SSH_CONNECT_TIMEOUT_S + 1 } })).toThrow();
  });
});
