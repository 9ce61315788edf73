/**
 * Lane defects found by exploratory testing (uat3, /tmp/u1/findings.md F1, F2, F5, F6, F7, F9,
 * F10), each against a real local peer: raw TCP servers (node:net) answer exactly the bytes a
 * test needs, whatever node:http would refuse to send.
 */
import { createHash } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { buildLaneFromSpec } from "../../src/plane/lanes/index.js";
import { HttpLane } from "../../src/plane/lanes/http.js";
import { readCapped } from "../../src/plane/lanes/http-common.js";
import { InlineLane } from "../../src/plane/lanes/inline.js";
import { decodeFrame } from "../../src/plane/lanes/jsonrpc-frame.js";
import { JsonRpcLane } from "../../src/plane/lanes/jsonrpc.js";
import { ProcessLane } from "../../src/plane/lanes/process.js";
import { SseLane } from "../../src/plane/lanes/sse.js";
import { WebSocketLane } from "../../src/plane/lanes/websocket.js";
import { WorkerLane } from "../../src/plane/lanes/worker.js";
import { exec } from "./fixtures/lanes/harness.js";

/** Generous on a loaded 2-core machine: a hang fails the test at this bound, never a timing race. */
const TEST_MS = 30_000;

interface RawRequest {
  readonly head: string;
  readonly body: Buffer;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/**
 * A raw HTTP/1.1 peer: reads one request (head and a Content-Length body), then hands the
 * socket to `answer`. Returns its base URL and the requests it saw.
 */
async function rawPeer(answer: (socket: Socket, req: RawRequest) => void): Promise<{ url: string; seen: RawRequest[] }> {
  const seen: RawRequest[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    let done = false;
    socket.on("data", (chunk: Buffer) => {
      if (done) return;
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = buf.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
      if (buf.length < end + 4 + length) return;
      done = true;
      const req = { head, body: buf.subarray(end + 4, end + 4 + length) };
      seen.push(req);
      answer(socket, req);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen };
}

const head = (status: string, headers: string[]): string => `HTTP/1.1 ${status}\r\n${[...headers, "Connection: close"].join("\r\n")}\r\n\r\n`;

describe("F9: a compressed body never hangs an execution", () => {
  // Headers first, then a body that is not gzip, then close: undici's reader never settles,
  // even after fetch's signal aborts (deterministic with this split).
  const splitBadGzip = (extra: string[] = [], status = "200 OK") => (s: Socket): void => {
    s.write(head(status, ["Content-Encoding: gzip", ...extra]));
    setTimeout(() => s.end("notgzip"), 200);
  };

  it("http: the lane asks for identity; a gzip answer all the same is protocol_framing_failed, body unread", async () => {
    const peer = await rawPeer(splitBadGzip());
    const lane = new HttpLane({ default_timeout_ms: 5000 });
    const { outcome } = await exec(lane, "request", { url: `${peer.url}/` });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "unexpected_content_coding", content_encoding: "gzip" } });
    expect(outcome.output).toMatchObject({ status_code: 200, headers: { "content-encoding": "gzip" } });
    expect(peer.seen[0]?.head).toMatch(/\r\naccept-encoding: identity(\r\n|$)/i);
  }, TEST_MS);

  it("http: also a 500, br and deflate, and a body sent at once", async () => {
    const lane = new HttpLane({ default_timeout_ms: 5000 });
    const five = await rawPeer(splitBadGzip([], "500 Internal Server Error"));
    expect((await exec(lane, "request", { url: five.url })).outcome.failure).toMatchObject({ class: "protocol_framing_failed" });
    for (const coding of ["br", "deflate", "x-gzip", "identity, gzip"]) {
      const p = await rawPeer((s) => s.end(head("200 OK", [`Content-Encoding: ${coding}`]) + "junk"));
      const { outcome } = await exec(lane, "request", { url: p.url });
      expect(outcome.failure?.details).toMatchObject({ reason: "unexpected_content_coding", content_encoding: coding });
    }
  }, TEST_MS);

  it("http: a truncated gzip body is not a silent success", async () => {
    const gz = gzipSync(Buffer.from("hello world, hello world"));
    const p = await rawPeer((s) => s.end(Buffer.concat([Buffer.from(head("200 OK", ["Content-Encoding: gzip"])), gz.subarray(0, gz.length - 6)])));
    const { outcome } = await exec(new HttpLane({ default_timeout_ms: 5000 }), "request", { url: p.url });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure?.class).toBe("protocol_framing_failed");
  }, TEST_MS);

  it("http: a body-less answer (HEAD, 204, 304) may name a coding; an unknown coding passes through as sent", async () => {
    const lane = new HttpLane({ default_timeout_ms: 5000 });
    const headPeer = await rawPeer((s) => s.end(head("200 OK", ["Content-Encoding: gzip", "Content-Length: 20"])));
    expect((await exec(lane, "request", { url: headPeer.url, method: "HEAD" })).outcome).toMatchObject({ status: "succeeded", output: { status_code: 200, body: "" } });
    const noContent = await rawPeer((s) => s.end(head("204 No Content", ["Content-Encoding: gzip"])));
    expect((await exec(lane, "request", { url: noContent.url })).outcome).toMatchObject({ status: "succeeded", output: { status_code: 204 } });
    const other = await rawPeer((s) => s.end(head("200 OK", ["Content-Encoding: x-custom", "Content-Length: 3"]) + "abc"));
    expect((await exec(lane, "request", { url: other.url })).outcome).toMatchObject({ status: "succeeded", output: { body: "abc" } });
  }, TEST_MS);

  it("accept-encoding is managed by the lane: a request setting it is an invalid lane request", async () => {
    const { outcome } = await exec(new HttpLane(), "request", { url: "http://127.0.0.1:9/", headers: { "Accept-Encoding": "gzip" } });
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: "$.payload.headers[\"Accept-Encoding\"]" } });
  });

  it("sse: a gzip event stream and a gzip error body are protocol_framing_failed", async () => {
    const lane = new SseLane({ default_timeout_ms: 5000 });
    const stream = await rawPeer(splitBadGzip(["Content-Type: text/event-stream"]));
    const a = await exec(lane, "subscribe", { url: stream.url });
    expect(a.outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "unexpected_content_coding" } });
    expect(stream.seen[0]?.head).toMatch(/\r\naccept-encoding: identity(\r\n|$)/i);
    const error = await rawPeer(splitBadGzip([], "500 Internal Server Error"));
    const b = await exec(lane, "subscribe", { url: error.url });
    expect(b.outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "unexpected_content_coding" } });
    expect(b.outcome.output).toMatchObject({ status_code: 500 });
  }, TEST_MS);

  it("jsonrpc over HTTP: a gzip answer (2xx or 500) is protocol_framing_failed", async () => {
    for (const status of ["200 OK", "500 Internal Server Error"]) {
      const p = await rawPeer(splitBadGzip(["Content-Type: application/json"], status));
      const lane = new JsonRpcLane({ transport: { kind: "http", url: p.url }, default_timeout_ms: 5000 });
      const { outcome } = await exec(lane, "call", { method: "m" });
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "unexpected_content_coding" } });
      expect(outcome.output).toEqual({ http_status: Number(status.slice(0, 3)) });
      expect(p.seen[0]?.head).toMatch(/\r\naccept-encoding: identity(\r\n|$)/i);
    }
  }, TEST_MS);

  it("readCapped settles when its signal aborts, even on a stream whose reads and cancel never settle", async () => {
    let pulls = 0;
    const stuck = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(new Uint8Array([104, 105]));
        else return new Promise<void>(() => undefined);
      },
      cancel: () => new Promise<void>(() => undefined),
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const err = await readCapped(stuck, 1024, controller.signal).then(
      () => null,
      (e: unknown) => e as { partial?: Buffer },
    );
    expect(err?.partial?.toString()).toBe("hi");
  }, TEST_MS);
});

describe("F1: a JSON-RPC result the lane cannot keep exactly is refused, never altered", () => {
  it("decodeFrame refuses an integer beyond ±(2^53−1), an inexact number and a duplicate member; safe values pass", () => {
    const big = decodeFrame('{"jsonrpc":"2.0","id":"x","result":12345678901234567890}');
    expect(big).toMatchObject({ kind: "malformed", reason: "invalid_json" });
    expect((big as { message: string }).message).toContain("$.result");
    const dup = decodeFrame('{"jsonrpc":"2.0","id":"x","result":1,"result":2}');
    expect(dup).toMatchObject({ kind: "malformed", reason: "invalid_json" });
    expect((dup as { message: string }).message).toMatch(/"result" written twice/);
    expect(decodeFrame('{"jsonrpc":"2.0","id":"x","result":0.1000000000000000055511151231257827}')).toMatchObject({ reason: "invalid_json" });
    expect(decodeFrame('{"jsonrpc":"2.0","method":"n","params":{"a":1,"a":1}}')).toMatchObject({ reason: "invalid_json" });
    expect(decodeFrame('{"jsonrpc":"2.0","id":"x","result":[9007199254740991,-9007199254740991,0.1,1e3,2.0]}')).toEqual({ kind: "response", id: "x", result: [9007199254740991, -9007199254740991, 0.1, 1000, 2] });
  });

  const stdioPeer = (frame: string): JsonRpcLane =>
    new JsonRpcLane({
      transport: { kind: "stdio", command: process.execPath, argv: ["-e", `process.stdin.once("data",()=>process.stdout.write(${JSON.stringify(frame + "\n")}))`] },
      default_timeout_ms: 10_000,
    });

  it("over stdio", async () => {
    for (const frame of ['{"jsonrpc":"2.0","id":"exec-1","result":12345678901234567890}', '{"jsonrpc":"2.0","id":"exec-1","result":1,"result":2}']) {
      const { outcome } = await exec(stdioPeer(frame), "call", { method: "m" });
      expect(outcome.status).toBe("failed");
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_json" } });
    }
    const ok = await exec(stdioPeer('{"jsonrpc":"2.0","id":"exec-1","result":9007199254740991}'), "call", { method: "m" });
    expect(ok.outcome).toMatchObject({ status: "succeeded", output: { result: 9007199254740991 } });
  }, TEST_MS);

  it("over HTTP", async () => {
    for (const frame of ['{"jsonrpc":"2.0","id":"exec-1","result":12345678901234567890}', '{"jsonrpc":"2.0","id":"exec-1","result":1,"result":2}']) {
      const p = await rawPeer((s) => s.end(head("200 OK", ["Content-Type: application/json", `Content-Length: ${frame.length}`]) + frame));
      const { outcome } = await exec(new JsonRpcLane({ transport: { kind: "http", url: p.url }, default_timeout_ms: 10_000 }), "call", { method: "m" });
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_json" } });
    }
  }, TEST_MS);
});

describe("F6: every Set-Cookie header is kept", () => {
  const cookies = (status: string) => (s: Socket): void => {
    s.end(head(status, ["Set-Cookie: a=1; Path=/", "Set-Cookie: b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "X-Dup: one", "X-Dup: two", "Content-Length: 2"]) + "ok");
  };

  it("http: set-cookie is an array of every value in order; other repeated headers stay joined", async () => {
    const p = await rawPeer(cookies("200 OK"));
    const { outcome } = await exec(new HttpLane({ default_timeout_ms: 5000 }), "request", { url: p.url });
    const headers = (outcome.output as { headers: Record<string, unknown> }).headers;
    expect(headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]);
    expect(headers["x-dup"]).toBe("one, two");
    const one = await rawPeer((s) => s.end(head("200 OK", ["Set-Cookie: only=1", "Content-Length: 0"])));
    expect(((await exec(new HttpLane(), "request", { url: one.url })).outcome.output as { headers: Record<string, unknown> }).headers["set-cookie"]).toEqual(["only=1"]);
  }, TEST_MS);

  it("sse: a non-2xx raw fact keeps them too", async () => {
    const p = await rawPeer(cookies("403 Forbidden"));
    const { outcome } = await exec(new SseLane({ default_timeout_ms: 5000 }), "subscribe", { url: p.url });
    expect(outcome.status).toBe("failed");
    expect((outcome.output as { headers: Record<string, unknown> }).headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT"]);
  }, TEST_MS);
});

describe("F7: process output is never decoded lossily", () => {
  const lane = new ProcessLane({ default_timeout_ms: 10_000 });
  const printf = (text: string, to: "out" | "err" = "out") => ({ command: "/bin/sh", argv: ["-c", to === "out" ? 'printf "$1"' : 'printf "$1" >&2', "sh", text] });

  it("bytes that are not UTF-8 are base64, flagged per stream", async () => {
    const { outcome } = await exec(lane, "run", printf("a\\377b\\300\\200c"));
    expect(outcome.status).toBe("succeeded");
    expect(outcome.output).toMatchObject({ stdout: Buffer.from([0x61, 0xff, 0x62, 0xc0, 0x80, 0x63]).toString("base64"), stdout_encoding: "base64", stderr: "" });
    expect(outcome.output).not.toHaveProperty("stderr_encoding");
    const err = await exec(lane, "run", printf("x\\377", "err"));
    expect(err.outcome.output).toMatchObject({ stdout: "", stderr: Buffer.from([0x78, 0xff]).toString("base64"), stderr_encoding: "base64" });
    expect(err.outcome.output).not.toHaveProperty("stdout_encoding");
  }, TEST_MS);

  it("valid UTF-8 output is unchanged (no encoding member); a character cut by the cap is still U+FFFD", async () => {
    const { outcome } = await exec(lane, "run", printf("h\\303\\251llo"));
    expect(outcome.output).toEqual({ exit_code: 0, signal: null, stdout: "héllo", stderr: "", stdout_truncated: false, stderr_truncated: false });
    const capped = new ProcessLane({ default_timeout_ms: 10_000, max_output_bytes: 2 });
    const cut = await exec(capped, "run", printf("a\\303\\251"));
    expect(cut.outcome.output).toEqual({ exit_code: 0, signal: null, stdout: "a\ufffd", stderr: "", stdout_truncated: true, stderr_truncated: false });
    // A cap that cuts after an invalid byte is not a cut character: base64.
    const bad = await exec(capped, "run", printf("\\377\\303\\251"));
    expect(bad.outcome.output).toMatchObject({ stdout: Buffer.from([0xff, 0xc3]).toString("base64"), stdout_encoding: "base64", stdout_truncated: true });
  }, TEST_MS);

  it("a JSON-RPC peer's stderr is kept the same way", async () => {
    const lane = new JsonRpcLane({ transport: { kind: "stdio", command: process.execPath, argv: ["-e", 'process.stderr.write(Buffer.from([0x61,0xff]),()=>process.exit(3))'] }, default_timeout_ms: 10_000 });
    const { outcome } = await exec(lane, "call", { method: "m" });
    expect(outcome.failure?.class).toBe("remote_disconnect");
    expect(outcome.output).toMatchObject({ exit_code: 3, stderr: Buffer.from([0x61, 0xff]).toString("base64"), stderr_encoding: "base64" });
  }, TEST_MS);
});

describe("F5: an opening handshake ws refuses is protocol_framing_failed, not transport_failed", () => {
  const accept = (req: RawRequest): string =>
    createHash("sha1")
      .update(`${/\r\nsec-websocket-key:\s*(\S+)/i.exec(req.head)?.[1] ?? ""}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
  const upgrade = (extra: (req: RawRequest) => string[]) => (s: Socket, req: RawRequest): void => {
    s.write(`HTTP/1.1 101 Switching Protocols\r\n${["Upgrade: websocket", "Connection: Upgrade", ...extra(req)].join("\r\n")}\r\n\r\n`);
  };
  const wsUrl = (url: string): string => url.replace(/^http:/, "ws:");

  it("a bad Sec-WebSocket-Accept, an unrequested extension or subprotocol", async () => {
    const lane = new WebSocketLane({ default_timeout_ms: 5000 });
    const cases: Array<(req: RawRequest) => string[]> = [
      () => ["Sec-WebSocket-Accept: AAAA"],
      (req) => [`Sec-WebSocket-Accept: ${accept(req)}`, "Sec-WebSocket-Extensions: permessage-deflate"],
      (req) => [`Sec-WebSocket-Accept: ${accept(req)}`, "Sec-WebSocket-Protocol: chat"],
    ];
    for (const extra of cases) {
      const p = await rawPeer(upgrade(extra));
      const { outcome } = await exec(lane, "session", { url: wsUrl(p.url) });
      expect(outcome.status).toBe("failed");
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_handshake" } });
    }
  }, TEST_MS);

  it("no connection at all is still transport_failed", async () => {
    const p = await rawPeer((s) => s.destroy());
    const { outcome } = await exec(new WebSocketLane({ default_timeout_ms: 5000 }), "session", { url: wsUrl(p.url) });
    expect(outcome.failure?.class).toBe("transport_failed");
  }, TEST_MS);

  it("a websocket handshake may carry accept-encoding (only the fetch-based lanes reserve it: review 2026-11-27)", async () => {
    const p = await rawPeer((s) => s.destroy());
    const { outcome } = await exec(new WebSocketLane({ default_timeout_ms: 5000 }), "session", { url: wsUrl(p.url), headers: { "Accept-Encoding": "gzip" } });
    // Not an invalid lane request: it was sent (and the peer hung up).
    expect(outcome.failure?.class).toBe("transport_failed");
    expect(p.seen[0]?.head).toMatch(/\r\naccept-encoding: gzip(\r\n|$)/i);
  }, TEST_MS);
});

describe("F10: jsonrpc over HTTP keeps a non-2xx answer's raw fact when its body exceeds max_frame_bytes", () => {
  it("status and the body up to the cap, body_truncated; a 2xx over the cap is still frame_too_large", async () => {
    const big = "E".repeat(5000);
    const five = await rawPeer((s) => s.end(head("500 Internal Server Error", [`Content-Length: ${big.length}`]) + big));
    const lane = (url: string): JsonRpcLane => new JsonRpcLane({ transport: { kind: "http", url }, max_frame_bytes: 1024, default_timeout_ms: 10_000 });
    const { outcome } = await exec(lane(five.url), "call", { method: "m" });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toBeUndefined();
    expect(outcome.output).toEqual({ http_status: 500, body: "E".repeat(1024), body_encoding: "utf8", body_truncated: true });
    expect(outcome.metrics).toMatchObject({ output_bytes: 1024, output_truncated: true });
    const ok = await rawPeer((s) => s.end(head("200 OK", [`Content-Length: ${big.length}`]) + big));
    expect((await exec(lane(ok.url), "call", { method: "m" })).outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "frame_too_large" } });
  }, TEST_MS);
});

describe("F2: lane constructors fail with the coded error of config-driven construction", () => {
  const cases: Array<[string, () => unknown, unknown]> = [
    ["http", () => new HttpLane({ max_response_bytes: -1 }), { kind: "http", max_response_bytes: -1 }],
    ["process", () => new ProcessLane({ max_output_bytes: 0 }), { kind: "process", max_output_bytes: 0 }],
    ["inline", () => new InlineLane({ functions: { f: 5 as never } }), { kind: "inline", functions: { f: 5 } }],
    ["jsonrpc", () => new JsonRpcLane({ transport: { kind: "http", url: "http://127.0.0.1:1" }, max_notifications: 100_001 }), { kind: "jsonrpc", transport: { kind: "http", url: "http://127.0.0.1:1" }, max_notifications: 100_001 }],
    ["sse", () => new SseLane({ max_stream_bytes: 1e12 }), { kind: "sse", max_stream_bytes: 1e12 }],
    ["websocket", () => new WebSocketLane({ bogus: 1 } as never), { kind: "websocket", bogus: 1 }],
    ["worker", () => new WorkerLane({ max_old_generation_mb: 1 } as never), { kind: "worker", max_old_generation_mb: 1 }],
  ];
  for (const [kind, build, spec] of cases) {
    it(kind, () => {
      const caught = (f: () => unknown): CairnError => {
        try {
          f();
        } catch (e) {
          return e as CairnError;
        }
        throw new Error("did not throw");
      };
      const fromCtor = caught(build);
      const fromSpec = caught(() => buildLaneFromSpec(spec));
      expect(fromCtor).toBeInstanceOf(CairnError);
      expect(fromCtor.code).toBe("E_INVALID_INPUT");
      expect(fromCtor.message).toMatch(new RegExp(`^lane ${kind}: \\$\\.`));
      expect(fromCtor.message).not.toContain("\n");
      expect(fromCtor.message).toBe(fromSpec.message);
      expect(fromCtor.details).toEqual(fromSpec.details);
    });
  }
});
