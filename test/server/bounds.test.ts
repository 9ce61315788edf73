/**
 * What the gateway holds for requests it has not accepted yet, over real HTTP with raw sockets
 * (src/server/app.ts; the boundedness audit of 2026-11-26):
 *  1. connections: at most maxConnections (MAX_CONNECTIONS) open, on every address listened on
 *     together; one more is answered 503 at once and closed (800 uploads held 800 connections);
 *  2. request bodies: at most maxInflightBodyBytes (MAX_INFLIGHT_BODY_BYTES) declared by the
 *     requests arriving, queued or running; one more is answered 503 before its body is read
 *     (each upload was buffered, up to 1 MiB, before the run queue's bound applied);
 *  3. `listen(port, "localhost")`: both loopback addresses, each with the gateway's handling
 *     (fastify's second server for ::1 had Node's bare errors, no connection tracking, and was
 *     left open by close()).
 * The server's event loop is never blocked here (runs are short, or wait on a promise), so the
 * clients are in this process. Asserts statuses, headers, bodies and counts, never durations.
 */
import { connect, type Socket } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { ErrorCode, isCairnError } from "../../src/core/errors.js";
import {
  createServer, type CairnServer, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_INFLIGHT_BODY_BYTES, MAX_QUEUED_RUNS,
} from "../../src/server/index.js";
import { actorBody, gatedRunner, gatewayScratch, hasIpv6Loopback } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw connection: what it received, its first complete answer, and when the server closed it. */
interface Conn {
  sock: Socket;
  write(text: string): Promise<void>;
  /** The first complete answer (head and Content-Length bytes of body), or what arrived before the close. */
  answer(): Promise<RawReply>;
  closed: Promise<void>;
}

function parseFirst(text: string): RawReply | null {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
  const len = Number(headers["content-length"] ?? 0);
  if (text.length < end + 4 + len) return null;
  return { status: Number(statusLine.split(" ")[1]), headers, body: text.slice(end + 4, end + 4 + len) };
}

function open(port: number, host = "127.0.0.1"): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = track(connect(port, host));
    let text = "";
    let isClosed = false;
    const waiters: Array<() => void> = [];
    const wake = (): void => {
      for (const w of waiters.splice(0)) w();
    };
    sock.on("data", (d: Buffer) => {
      text += d.toString("utf8");
      wake();
    });
    sock.on("error", () => {}); // a reset after the answer: what was received counts
    const closed = new Promise<void>((r) => sock.on("close", () => {
      isClosed = true;
      wake();
      r();
    }));
    const conn: Conn = {
      sock,
      write: (t) => new Promise((r) => sock.write(t, () => r())),
      answer: async () => {
        for (;;) {
          const reply = parseFirst(text);
          if (reply !== null) return reply;
          if (isClosed) throw new Error(`connection closed without a complete answer: ${JSON.stringify(text)}`);
          await new Promise<void>((r) => waiters.push(r));
        }
      },
      closed,
    };
    sock.once("connect", () => resolve(conn));
    sock.once("error", reject);
  });
}

const head = (port: number, method: string, path: string, extra: string, host = `127.0.0.1:${port}`): string =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${extra}\r\n`;
const health = (port: number, host?: string): string => head(port, "GET", "/api/health", "", host);
/** The actor run's body padded with trailing white space (still valid JSON) to `n` bytes. */
function padded(n: number): string {
  const b = actorBody();
  if (Buffer.byteLength(b) > n) throw new Error(`the actor body is larger than ${n} bytes`);
  return b + " ".repeat(n - Buffer.byteLength(b));
}
const busyConnections = (open: number, limit: number): string =>
  JSON.stringify({ status: "ERROR", error: `server busy: ${open} connections already open (the ${limit}-connection limit, MAX_CONNECTIONS); retry later` });
const busyBodies = (held: number, bytes: number, limit: number): string =>
  JSON.stringify({
    status: "ERROR",
    error: `server busy: request bodies of ${held} bytes are already arriving or waiting to run, and this one's ${bytes} bytes would exceed the ${limit}-byte limit (MAX_INFLIGHT_BODY_BYTES); retry later`,
  });

describe("1. the connection limit (maxConnections, MAX_CONNECTIONS)", () => {
  it("a connection over the limit is answered 503 (gateway format, Retry-After) and closed, even before it sends anything; once one closes, connections are served again", async () => {
    const { port, url, server } = await serve(box(), { maxConnections: 2 });
    const held = [await open(port), await open(port)];
    for (const c of held) {
      await c.write(health(port)); // kept alive
      expect((await c.answer()).status).toBe(200);
    }
    expect(server.connectionsOpen).toBe(2);

    // A client that sends its request gets the 503, not an answer to it…
    const extra = await open(port);
    await extra.write(health(port));
    const r = await extra.answer();
    expect(r.status).toBe(503);
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.headers.connection).toBe("close");
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r.body).toBe(busyConnections(2, 2));
    await extra.closed;
    // …one that sends nothing gets it too (before any request: Node's HTTP server never sees it)…
    const silent = await open(port);
    expect((await silent.answer()).body).toBe(busyConnections(2, 2));
    await silent.closed;
    // …and a real client sending a body reads it (the refused connection reads and drops what it sends).
    const f = await fetch(`${url}/api/run`, { method: "POST", body: padded(64 * 1024) });
    expect(f.status).toBe(503);
    expect(f.headers.get("retry-after")).toBe("1");
    expect(await f.text()).toBe(busyConnections(2, 2));
    expect(server.connectionsOpen).toBe(2);

    held[0]?.sock.destroy();
    await vi.waitFor(() => expect(server.connectionsOpen).toBe(1));
    const ok = await fetch(`${url}/api/run`, { method: "POST", body: actorBody() });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { status: string }).status).toBe("SUCCESS");
  });

  it("maxConnections and maxBodyBytes must be positive integers (E_USAGE)", () => {
    const b = box();
    for (const option of ["maxConnections", "maxBodyBytes"] as const) {
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        let err: unknown;
        try {
          createServer({ workspace: b.workspace, dataRoot: b.dataRoot, [option]: bad }).close();
        } catch (e) {
          err = e;
        }
        expect(isCairnError(err, ErrorCode.USAGE)).toBe(true);
        expect((err as Error).message).toBe(`ServerOptions.${option} must be a positive integer, got ${String(bad)}`);
      }
    }
  });

  it("MAX_CONNECTIONS leaves a connection to every request the run queue holds", () => {
    expect(MAX_CONNECTIONS).toBeGreaterThanOrEqual(2 * (MAX_QUEUED_RUNS + 1));
  });
});

describe("2. the in-flight body budget (maxInflightBodyBytes, MAX_INFLIGHT_BODY_BYTES)", () => {
  it("a request whose declared body would take the bytes held over the budget is answered 503 before its body is read; the others are served and their shares released", async () => {
    const { port, url, server } = await serve(box(), { maxBodyBytes: 1000, maxInflightBodyBytes: 2500 });
    const body = padded(1000);
    const post = (extra: string): string => head(port, "POST", "/api/run", extra);

    // Two uploads of 1000 declared bytes, 600 sent: 2000 bytes held.
    const uploads: Conn[] = [];
    for (const held of [1000, 2000]) {
      const c = await open(port);
      await c.write(post("Content-Length: 1000\r\n") + body.slice(0, 600));
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(held));
      uploads.push(c);
    }

    // 1000 more would make 3000 > 2500: 503, whether its body came with its head or not at all.
    for (const rest of [body, ""]) {
      const c = await open(port);
      await c.write(post("Content-Length: 1000\r\n") + rest);
      const r = await c.answer();
      expect(r.status).toBe(503);
      expect(r.headers["retry-after"]).toBe("1");
      expect(r.body).toBe(busyBodies(2000, 1000, 2500));
      c.sock.destroy();
    }
    // A chunked body may take maxBodyBytes: refused too.
    const chunked = await open(port);
    await chunked.write(post("Transfer-Encoding: chunked\r\n"));
    expect((await chunked.answer()).body).toBe(busyBodies(2000, 1000, 2500));
    chunked.sock.destroy();
    expect(server.bodyBytesInFlight).toBe(2000);

    // A small one fits (2002 ≤ 2500): served as always (400: it is not a run request).
    const small = await fetch(`${url}/api/run`, { method: "POST", body: "{}" });
    expect(small.status).toBe(400);
    expect(await small.json()).toEqual({ status: "ERROR", error: 'workflow_code is required: "<domain>::<WF_CODE>"' });

    // The two uploads complete: both run; every share is released.
    for (const c of uploads) {
      await c.write(body.slice(600));
      expect((await c.answer()).status).toBe(200);
    }
    await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
    const again = await fetch(`${url}/api/run`, { method: "POST", body });
    expect(again.status).toBe(200);
  });

  it("bodies waiting in the run queue count; a chunked body holds its size once read; a client gone mid-body releases its share", async () => {
    const { runner, release } = gatedRunner();
    const { port, url, server } = await serve(box(), { maxBodyBytes: 1000, maxInflightBodyBytes: 1500, runner });
    try {
      await queuedAndChunked(port, url, server, release);
    } finally {
      release(); // so that the server can close, whatever failed
    }
  });

  async function queuedAndChunked(port: number, url: string, server: CairnServer, release: () => void): Promise<void> {
    const first = actorBody();
    const n1 = Buffer.byteLength(first);
    const running = fetch(`${url}/api/run`, { method: "POST", body: first });
    await vi.waitFor(() => expect(server.runsInFlight).toBe(1));
    expect(server.bodyBytesInFlight).toBe(n1);

    // A chunked request: maxBodyBytes while it arrives, its size once read (it then waits in the queue).
    const second = padded(n1 + 10);
    const chunked = await open(port);
    await chunked.write(head(port, "POST", "/api/run", "Transfer-Encoding: chunked\r\n"));
    await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(n1 + 1000));
    await chunked.write(`${Buffer.byteLength(second).toString(16)}\r\n${second}\r\n0\r\n\r\n`);
    await vi.waitFor(() => expect(server.runsInFlight).toBe(2));
    expect(server.bodyBytesInFlight).toBe(n1 + n1 + 10);

    // So 1000 declared bytes still fit (n1 + n1 + 10 + 1000 ≤ 1500): held while they arrive…
    const partial = await open(port);
    await partial.write(head(port, "POST", "/api/run", "Content-Length: 1000\r\n") + "{".repeat(10));
    await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(2 * n1 + 10 + 1000));
    // …and released when the client goes away.
    partial.sock.destroy();
    await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(2 * n1 + 10));

    release();
    expect((await running).status).toBe(200);
    expect((await chunked.answer()).status).toBe(200);
    await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
    expect(server.runsInFlight).toBe(0);
  }

  // Node queues the response of a request pipelined behind one whose response is still open,
  // without attaching it to the socket: when the client went, that response never closed, and its
  // share (up to maxBodyBytes) stayed held for good — ~130 such connections and every POST was a 503.
  it("a request pipelined behind one still being answered releases its share when its connection closes", async () => {
    const gated = gatedRunner();
    const { runner, release } = gated;
    const body = actorBody();
    const n = Buffer.byteLength(body);
    const { port, url, server } = await serve(box(), { maxBodyBytes: n, maxInflightBodyBytes: 2 * n, runner });
    try {
      const conn = await open(port);
      const run = head(port, "POST", "/api/run", `Content-Length: ${n}\r\n`) + body;
      await conn.write(run + run); // the second is pipelined: its response waits behind the first's
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(2 * n));
      expect(server.runsInFlight).toBe(2);
      conn.sock.resetAndDestroy(); // gone (a FIN alone is a half-close: the client still reads its answers)
      await conn.closed;
      // Both shares are released as the connection closes, while the first run still waits; the
      // pipelined request, queued behind it, leaves the queue (serve-queue-withdraw.test.ts).
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
      expect(server.runsInFlight).toBe(1);
      release();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(0));
      expect(server.bodyBytesInFlight).toBe(0);
      // The whole budget is free again: two bodies of n bytes at once are accepted.
      const [a, b] = await Promise.all([1, 2].map(() => fetch(`${url}/api/run`, { method: "POST", body })));
      expect([a?.status, b?.status]).toEqual([200, 200]);
      expect(gated.calls()).toBe(3); // the pipelined request, whose client had gone, was not run
    } finally {
      release();
    }
  });

  it("many requests pipelined on one connection: one 'close' listener for all their shares (no MaxListeners warning), all released when it closes", async () => {
    const { runner, release } = gatedRunner();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    const body = actorBody();
    const n = Buffer.byteLength(body);
    const pipelined = 15; // past Node's default of 10 listeners per event
    const { port, server } = await serve(box(), { maxBodyBytes: n, maxInflightBodyBytes: pipelined * n, runner });
    try {
      const conn = await open(port);
      const run = head(port, "POST", "/api/run", `Content-Length: ${n}\r\n`) + body;
      await conn.write(run.repeat(pipelined));
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(pipelined * n));
      conn.sock.resetAndDestroy(); // gone (a FIN alone is a half-close)
      await conn.closed;
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
      release();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(0));
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      release();
    }
  });

  it("maxInflightBodyBytes must be an integer of at least maxBodyBytes (E_USAGE); the default holds a full run queue twice", () => {
    const b = box();
    let err: unknown;
    try {
      createServer({ workspace: b.workspace, dataRoot: b.dataRoot, maxBodyBytes: 1000, maxInflightBodyBytes: 999 }).close();
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, ErrorCode.USAGE)).toBe(true);
    expect((err as Error).message).toBe("ServerOptions.maxInflightBodyBytes must be an integer of at least maxBodyBytes (1000), got 999: a body the server accepts must fit in it");
    expect(MAX_INFLIGHT_BODY_BYTES).toBe(2 * (MAX_QUEUED_RUNS + 1) * MAX_BODY_BYTES);
  });
});

const ipv6 = await hasIpv6Loopback();

describe.skipIf(!ipv6)("3. listen(port, 'localhost'): both loopback addresses, the same handling on each", () => {
  it("both addresses are served; a malformed request gets the gateway's 400 on each; the connection limit counts both", async () => {
    const { port, url, server } = await serve(box(), { maxConnections: 2 }, "localhost");
    expect(url).toBe(`http://127.0.0.1:${port}`);
    const v4 = await open(port, "127.0.0.1");
    const v6 = await open(port, "::1");
    await v4.write(health(port));
    await v6.write(health(port, `[::1]:${port}`));
    expect(await v4.answer()).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(await v6.answer()).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(server.connectionsOpen).toBe(2);
    // One connection on each address: a third, on either, is refused.
    for (const host of ["::1", "127.0.0.1"]) {
      const c = await open(port, host);
      expect((await c.answer()).body).toBe(busyConnections(2, 2));
      await c.closed;
    }
    v4.sock.destroy();
    v6.sock.destroy();
    await vi.waitFor(() => expect(server.connectionsOpen).toBe(0));
    for (const host of ["127.0.0.1", "::1"]) {
      const c = await open(port, host);
      await c.write("BOGUS / HTTP/1.1\r\n\r\n");
      const r = await c.answer();
      expect(r.status).toBe(400);
      expect(r.body).toBe(JSON.stringify({ status: "ERROR", error: "Malformed HTTP request: Invalid method encountered" }));
      await c.closed;
    }
  });

  it("close() cuts a stalled connection on each address, then resolves", async () => {
    const { port, server } = await serve(box(), {}, "localhost");
    const stalled: Conn[] = [];
    for (const host of ["127.0.0.1", "::1"]) {
      const c = await open(port, host);
      await c.write(head(port, "POST", "/api/run", "Content-Length: 100\r\n", host === "::1" ? `[::1]:${port}` : undefined) + "{");
      stalled.push(c);
    }
    await vi.waitFor(() => expect(server.connectionsOpen).toBe(2));
    await server.close(); // cuts them (CLOSE_GRACE_MS after the queue went idle)
    await Promise.all(stalled.map((c) => c.closed));
    await vi.waitFor(() => expect(server.connectionsOpen).toBe(0));
  });
});
