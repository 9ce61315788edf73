/**
 * The request timeout while a run holds the event loop (src/server/app.ts, requestTimedOut), over
 * real HTTP with a client in ANOTHER process (the server's runs block this one's event loop).
 * Node checks its request timeout in the timers phase, before it reads what arrived while a run
 * held the loop: a request whose bytes all came in time was answered 408 after a run longer than
 * the bound, and a kept-alive connection that sent its next request during such a run was closed
 * unanswered. Asserts statuses and bodies, never durations: the runs last until the client
 * (which sleeps past the bound) says it has sent.
 */
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runPgsWorkflow, type PgsRunResult, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import type { Sandbox } from "../workflow/pgs-fixture.js";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box, serve } = gatewayScratch();

/** The request timeout of these servers (ms), lowered (the head of the request under test must reach the server less than this before the blocking run starts); a blocking run lasts 2.5 × it. */
const TIMEOUT_MS = 1000;
const BLOCK_MS = 2.5 * TIMEOUT_MS;
/** The keepAliveTimeout of the keep-alive case, and what Node 20 adds to it before it closes (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER). */
const KEEP_ALIVE_MS = 100;
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;

/**
 * The client. Connection A carries the request under test; connection B the run that blocks the
 * server's event loop (a runner that waits, synchronously, for the file `sent`). Modes:
 *  - late-body: A sends its head (Expect: 100-continue; the 100 proves the server read it), then
 *    B's run starts, and A sends its whole body while the run blocks the loop, past the bound;
 *  - late-body-kept-alive: as late-body, but A's request does not ask to close the connection
 *    (A stays open, idle, after its answer, until the server's keep-alive close);
 *  - stall: as late-body, but A never sends its body;
 *  - part-then-stall: A sends half its body during the run, never the rest;
 *  - head-then-stall: A sends part of its head (no 100 to wait for: it pauses 300 ms), then more
 *    of it during the run, never the rest;
 *  - keep-alive: A is a kept-alive connection that was answered once (GET /api/health) before the
 *    run; it sends its next request (the run request) while the run blocks the loop, past the
 *    server's keepAliveTimeout.
 * Prints {a: [answers on A…], b: answer on B}; each answer {status, body}; A's list ends with
 * "closed" (the server closed A).
 */
const CLIENT = `
import { connect } from "node:net";
import { existsSync, writeFileSync } from "node:fs";
const [port, started, sent, mode, blockMs, body] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5], Number(process.argv[6]), process.argv[7]];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const head = (len, extra = "") => "POST /api/run HTTP/1.1\\r\\nHost: 127.0.0.1:" + port + "\\r\\nContent-Type: application/json\\r\\nContent-Length: " + len + "\\r\\n" + extra + "\\r\\n";
/** Splits what a connection received into complete answers (100 Continue dropped). */
function answers(text) {
  const out = [];
  for (;;) {
    const end = text.indexOf("\\r\\n\\r\\n");
    if (end < 0) return out;
    const lines = text.slice(0, end).split("\\r\\n");
    const len = Number((lines.find((l) => l.toLowerCase().startsWith("content-length:")) ?? "content-length: 0").split(":")[1]);
    const status = Number(lines[0].split(" ")[1]);
    if (text.length < end + 4 + len) return out;
    if (status !== 100) out.push({ status, body: text.slice(end + 4, end + 4 + len) });
    text = text.slice(end + 4 + len);
  }
}
function open() {
  const sock = connect(port, "127.0.0.1");
  const c = { sock, text: "", closed: false };
  sock.on("data", (d) => (c.text += d.toString("utf8")));
  sock.on("error", () => {});
  c.done = new Promise((r) => sock.on("close", () => { c.closed = true; r(); }));
  c.ready = new Promise((r) => sock.once("connect", r));
  c.until = async (pred) => { while (!pred(c.text) && !c.closed) await sleep(5); };
  c.write = (s) => new Promise((r) => sock.write(s, r));
  return c;
}
const a = open();
await a.ready;
if (mode === "keep-alive") {
  await a.write("GET /api/health HTTP/1.1\\r\\nHost: 127.0.0.1:" + port + "\\r\\n\\r\\n");
  await a.until((t) => answers(t).length === 1);
} else if (mode === "head-then-stall") {
  await a.write("POST /api/run HTTP/1.1\\r\\nHost: 127.0.0.1:" + port + "\\r\\n");
  await sleep(300);
} else {
  await a.write(head(Buffer.byteLength(body), "Expect: 100-continue\\r\\n" + (mode === "late-body-kept-alive" ? "" : "Connection: close\\r\\n")));
  await a.until((t) => t.startsWith("HTTP/1.1 100 Continue\\r\\n\\r\\n"));
}
const b = open();
await b.ready;
await b.write(head(Buffer.byteLength(body), "Connection: close\\r\\n") + body);
while (!existsSync(started)) await sleep(5);
await sleep(blockMs); // the run blocks the server's event loop all along
if (mode === "late-body" || mode === "late-body-kept-alive") await a.write(body);
if (mode === "part-then-stall") await a.write(body.slice(0, body.length >> 1));
if (mode === "head-then-stall") await a.write("Content-Type: application/json\\r\\n");
if (mode === "keep-alive") await a.write(head(Buffer.byteLength(body), "Connection: close\\r\\n") + body);
writeFileSync(sent, "");
await Promise.all([a.done, b.done]);
process.stdout.write(JSON.stringify({ a: [...answers(a.text), "closed"], b: answers(b.text)[0] ?? null }));
`;

type Answer = { status: number; body: string } | "closed";

/**
 * Runs CLIENT in `mode` against a server over `b` whose first run blocks until the client has sent;
 * with `secondRunWaitMs`, the second run (A's request) first waits that long without blocking the loop.
 */
async function scenario(b: Sandbox, mode: string, opts: { keepAliveTimeoutMs?: number; blockMs?: number; secondRunWaitMs?: number } = {}): Promise<{ a: Answer[]; b: Answer | null }> {
  const [started, sent] = [join(b.root, "started"), join(b.root, "sent")];
  let calls = 0;
  const runner = (o: RunPgsOptions) => {
    if (++calls === 1) {
      writeFileSync(started, "");
      // Synchronous, like a real run: the event loop stays blocked until the client has sent.
      const cell = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 6000 && !existsSync(sent); i++) Atomics.wait(cell, 0, 0, 5);
    }
    const wait = opts.secondRunWaitMs;
    if (calls === 2 && wait !== undefined) return new Promise<PgsRunResult>((done) => setTimeout(() => done(runPgsWorkflow(o)), wait));
    return runPgsWorkflow(o);
  };
  const { port, server } = await serve(b, { runner, requestTimeoutMs: TIMEOUT_MS });
  if (opts.keepAliveTimeoutMs !== undefined) server.app.server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  const script = join(b.root, "client.mjs");
  writeFileSync(script, CLIENT);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, String(port), started, sent, mode, String(opts.blockMs ?? BLOCK_MS), actorBody()], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as { a: Answer[]; b: Answer | null }) : reject(new Error(`client exited ${code}: ${err}`))));
  });
}

const status = (a: Answer | null | undefined): number | string | undefined => (a === null || a === undefined || a === "closed" ? a ?? undefined : a.status);
const TIMEOUT_408 = { status: "ERROR", error: `Request timeout: the request did not arrive within ${TIMEOUT_MS} ms` };

describe("a request that arrives while a run holds the event loop past the request timeout", () => {
  it("its body, sent during the run, is read and the request is run: 200, not 408", async () => {
    const r = await scenario(box(), "late-body");
    expect(status(r.b)).toBe(200);
    expect(r.a).toHaveLength(2);
    expect(status(r.a[0])).toBe(200);
    expect((JSON.parse((r.a[0] as { body: string }).body) as { status: string }).status).toBe("SUCCESS");
  });

  it("a client that sends nothing during the run still gets 408 once the run ends", async () => {
    const r = await scenario(box(), "stall");
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([408, "closed"]);
    expect(JSON.parse((r.a[0] as { body: string }).body)).toEqual(TIMEOUT_408);
  });

  it("a client that sends part of its body during the run and then stalls gets 408 after one more bound", async () => {
    const r = await scenario(box(), "part-then-stall");
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([408, "closed"]);
    expect(JSON.parse((r.a[0] as { body: string }).body)).toEqual(TIMEOUT_408);
  });

  it("a client that sends part of its head during the run and then stalls gets 408 after one more bound", async () => {
    const r = await scenario(box(), "head-then-stall");
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([408, "closed"]);
    expect(JSON.parse((r.a[0] as { body: string }).body)).toEqual(TIMEOUT_408);
  });

  it("a kept-alive connection whose next request arrives during the run, past keepAliveTimeout, is answered, not closed", async () => {
    // The run blocks the loop past the moment Node closes the idle connection (its timer fires then).
    const r = await scenario(box(), "keep-alive", { keepAliveTimeoutMs: KEEP_ALIVE_MS, blockMs: KEEP_ALIVE_MS + NODE_KEEP_ALIVE_BUFFER_MS + BLOCK_MS });
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([200, 200, "closed"]);
    expect((JSON.parse((r.a[1] as { body: string }).body) as { status: string }).status).toBe("SUCCESS");
  });

  // A request that had wholly arrived when its reprieve was decided was later treated as one whose
  // head was still arriving: a bound after the reprieve, its connection was cut (its answer lost)
  // or, answered and idle, sent an unsolicited 408 and closed.
  it("its body, sent during the run, and its own run lasting longer than the bound: 200, the connection is not cut meanwhile", async () => {
    const b = box();
    const r = await scenario(b, "late-body", { secondRunWaitMs: 2.5 * TIMEOUT_MS });
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([200, "closed"]);
    expect((JSON.parse((r.a[0] as { body: string }).body) as { status: string }).status).toBe("SUCCESS");
  });

  it("its body, sent during the run, on a kept-alive connection: answered 200, then idle, never sent an unsolicited 408", async () => {
    // The keep-alive close (silent) comes well after the moment the reprieve's bound passes.
    const r = await scenario(box(), "late-body-kept-alive", { keepAliveTimeoutMs: 2 * TIMEOUT_MS });
    expect(status(r.b)).toBe(200);
    expect(r.a.map(status)).toEqual([200, "closed"]);
    expect((JSON.parse((r.a[0] as { body: string }).body) as { status: string }).status).toBe("SUCCESS");
  });
});
