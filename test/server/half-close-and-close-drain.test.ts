/**
 * The gateway under UAT u2 (/tmp/u2/findings.md), over real HTTP with raw sockets
 * (src/server/app.ts). Asserts status codes, bodies and counts of runs, never timings.
 *  F5. A client that half-closes its sending side once its request is sent (shutdown(SHUT_WR):
 *      `nc -N`, socat) still reads: its run is performed once and answered 200 — on an idle
 *      server and when it waits in the queue. It was withdrawn as a gone client (0 bytes, never run).
 *  F2. close() (SIGINT/SIGTERM) while a run holds the event loop: requests that wholly reached
 *      the kernel meanwhile are read and refused 503 `server is closing` (Retry-After), not reset.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { acquireDataRootLock, runPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import type { Sandbox } from "../workflow/pgs-fixture.js";
import { actorBody, gatedRunner, gatewayScratch } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

function rawPost(port: number, body: string): string {
  return `POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

interface Answer {
  status: number;
  body: string;
  headers: string;
}

/** Sends one request, then ends the sending side (FIN) at once; resolves with all received until the server closes. */
function halfClosed(port: number, text: string): { answer: Promise<Answer>; sent: Promise<void> } {
  const sock = track(connect(port, "127.0.0.1"));
  const chunks: Buffer[] = [];
  sock.on("data", (d: Buffer) => chunks.push(d));
  sock.on("error", () => {});
  const sent = new Promise<void>((r) => sock.once("connect", () => sock.end(text, () => r())));
  const answer = new Promise<Answer>((r) =>
    sock.on("close", () => {
      const all = Buffer.concat(chunks).toString("utf8");
      const end = all.indexOf("\r\n\r\n");
      r({ status: Number(all.split(" ")[1]), headers: all.slice(0, Math.max(0, end)), body: end < 0 ? "" : all.slice(end + 4) });
    }),
  );
  return { answer, sent };
}

/** The trace files written under `b`'s workspace. */
function traces(b: Sandbox): string[] {
  const root = join(b.workspace, "traces");
  return existsSync(root) ? (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith(".jsonl")) : [];
}

describe("F5. a client that half-closes after its request", () => {
  it("on an idle server: the run is performed once and answered 200", async () => {
    const b = box();
    let calls = 0;
    const runner = (o: RunPgsOptions) => (calls++, runPgsWorkflow(o));
    const { port } = await serve(b, { runner });
    const { answer } = halfClosed(port, rawPost(port, actorBody()));
    const a = await answer;
    expect(a.status).toBe(200);
    const doc = JSON.parse(a.body) as { status: string; trace_id: string };
    expect(doc.status).toMatch(/^(SUCCESS|ALREADY_EXISTS)$/);
    expect(calls).toBe(1);
    expect(traces(b).length).toBe(1);
    expect(traces(b)[0]).toContain(doc.trace_id);
  });

  it("waiting in the queue behind a run: performed once when its turn comes, answered 200", async () => {
    const b = box();
    const gated = gatedRunner();
    const { port, url, server } = await serve(b, { runner: gated.runner });
    try {
      const running = fetch(`${url}/api/run`, { method: "POST", body: actorBody() });
      await vi.waitFor(() => expect(gated.calls()).toBe(1), { timeout: 30_000 });
      const { answer, sent } = halfClosed(port, rawPost(port, actorBody()));
      await sent;
      await vi.waitFor(() => expect(server.runsInFlight).toBe(2), { timeout: 30_000 });
      // Give the server every chance to see the FIN before the queue moves on.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(server.runsInFlight).toBe(2);
      gated.release();
      expect((await running).status).toBe(200);
      const a = await answer;
      expect(a.status).toBe(200);
      expect((JSON.parse(a.body) as { status: string }).status).toMatch(/^(SUCCESS|ALREADY_EXISTS)$/);
      expect(gated.calls()).toBe(2);
      await vi.waitFor(() => expect(server.runsInFlight).toBe(0));
    } finally {
      gated.release();
    }
  });

  it("a queued client whose connection is reset is still withdrawn (never run)", async () => {
    const gated = gatedRunner();
    const { port, url, server } = await serve(box(), { runner: gated.runner });
    try {
      const running = fetch(`${url}/api/run`, { method: "POST", body: actorBody() });
      await vi.waitFor(() => expect(gated.calls()).toBe(1), { timeout: 30_000 });
      const gone = track(connect(port, "127.0.0.1"));
      gone.on("error", () => {});
      await new Promise<void>((r) => gone.once("connect", () => gone.write(rawPost(port, actorBody()), () => r())));
      await vi.waitFor(() => expect(server.runsInFlight).toBe(2), { timeout: 30_000 });
      gone.resetAndDestroy();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(1), { timeout: 30_000 });
      gated.release();
      expect((await running).status).toBe(200);
      await vi.waitFor(() => expect(server.runsInFlight).toBe(0));
      expect(gated.calls()).toBe(1);
    } finally {
      gated.release();
    }
  });
});

/**
 * A client in ANOTHER process (its event loop is not blocked by the server's run): sends `first`
 * on a connection, waits for `started` to exist, then sends each of `more` on a new connection
 * (whole, once the kernel has taken the previous one), creates `flag`, and prints, per request,
 * its status (0: no answer) and body once every connection has closed.
 */
const CLIENT = `
import { connect } from "node:net";
import { existsSync, writeFileSync } from "node:fs";
const [port, started, flag, first, more] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5], JSON.parse(process.argv[6])];
const answers = [];
async function send(text) {
  const chunks = [];
  const sock = connect(port, "127.0.0.1");
  sock.on("data", (d) => chunks.push(d));
  sock.on("error", () => {});
  answers.push(new Promise((r) => sock.on("close", () => r(Buffer.concat(chunks).toString("utf8")))));
  await new Promise((sent) => sock.once("connect", () => sock.write(text, () => sent())));
}
await send(first);
while (!existsSync(started)) await new Promise((r) => setTimeout(r, 5));
for (const text of more) await send(text);
writeFileSync(flag, "");
const texts = await Promise.all(answers);
process.stdout.write(JSON.stringify(texts.map((t) => ({ status: Number(t.split(" ")[1] ?? 0) || 0, head: t.slice(0, Math.max(0, t.indexOf("\\r\\n\\r\\n"))), body: t.slice(t.indexOf("\\r\\n\\r\\n") + 4) }))));
`;

function runClient(b: Sandbox, args: string[]): Promise<Answer[]> {
  const script = join(b.root, "client.mjs");
  writeFileSync(script, CLIENT);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("exit", (code) => (code === 0 ? resolve((JSON.parse(out) as Array<{ status: number; head: string; body: string }>).map((a) => ({ status: a.status, headers: a.head, body: a.body }))) : reject(new Error(`client exited ${code}: ${err}`))));
  });
}

/** Sleeps synchronously (the event loop stays blocked, as during a real run) until `flag` exists. */
function blockUntil(flag: string): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 12_000 && !existsSync(flag); i++) Atomics.wait(cell, 0, 0, 5);
}

describe("F2. close() while a run holds the event loop", () => {
  it("requests sent meanwhile (accept queue) are answered 503 `server is closing`, not reset; the running one 200", async () => {
    const b = box();
    const [started, allSent] = [join(b.root, "run-started"), join(b.root, "all-sent")];
    const signal = "SIGUSR2";
    let calls = 0;
    let closing: Promise<void> | undefined;
    // Synchronous, like runPgsWorkflow: holds the event loop until the client has sent every
    // request, and a real signal arrives meanwhile (handled once the run has ended, as
    // `cairn serve`'s SIGTERM handler is).
    const runner = (o: RunPgsOptions) => {
      if (++calls === 1) {
        writeFileSync(started, "");
        blockUntil(allSent);
        process.kill(process.pid, signal);
      }
      return runPgsWorkflow(o);
    };
    const { port, server } = await serve(b, { runner });
    const onSignal = (): void => void (closing = server.close());
    process.once(signal, onSignal);
    try {
      const N = 4;
      const results = await runClient(b, [String(port), started, allSent, rawPost(port, actorBody()), JSON.stringify(Array.from({ length: N }, () => rawPost(port, actorBody())))]);
      expect(results[0]?.status).toBe(200);
      for (const r of results.slice(1)) {
        expect(r.status).toBe(503);
        expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: "server is closing" });
        expect(r.headers.toLowerCase()).toContain("retry-after: 1");
      }
      expect(calls).toBe(1); // nothing ran for the refused ones: a retry is safe
      expect(closing).toBeDefined();
      await closing;
      acquireDataRootLock(b.dataRoot).release();
    } finally {
      process.off(signal, onSignal);
    }
  });
});
