/**
 * A request waiting in the run queue whose client has gone (src/server/app.ts `execute`,
 * src/server/queue.ts): it leaves the queue as its connection closes (is reset or fails; a client
 * that only half-closes still reads its answer) — its place and its body
 * freed, its workflow never run — while one whose run has started runs to completion. Before,
 * it kept its place (counted against maxQueuedRuns, its body held in memory) until its turn.
 * Also `ServerOptions.maxResponseBytes` is checked like the other bounds.
 */
import { connect } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { ErrorCode, isCairnError } from "../../src/core/errors.js";
import { createServer, QueueFullError, RunQueue } from "../../src/server/index.js";
import { actorBody, gatedRunner, gatewayScratch } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

describe("a queued request whose client has gone", () => {
  it("leaves the queue when its connection closes: never run, its place and body share freed; the running one completes", async () => {
    const gated = gatedRunner();
    const body = actorBody();
    const n = Buffer.byteLength(body);
    const { port, url, server } = await serve(box(), { runner: gated.runner, maxQueuedRuns: 2 });
    const post = (): Promise<Response> => fetch(`${url}/api/run`, { method: "POST", body });
    try {
      const running = post(); // the first run: waits on the gate, holding the queue
      await vi.waitFor(() => expect(gated.calls()).toBe(1)); // started (after the drain)
      expect(server.runsInFlight).toBe(1);

      // A client queues a run behind it, then a second client queues another: the queue is full.
      const gone = track(connect(port, "127.0.0.1"));
      gone.on("error", () => {});
      await new Promise<void>((r) => gone.once("connect", () => r()));
      gone.write(`POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${n}\r\n\r\n${body}`);
      await vi.waitFor(() => expect(server.runsInFlight).toBe(2));
      const queued = post();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(3));
      expect(server.bodyBytesInFlight).toBe(3 * n);
      const full = await post();
      expect(full.status).toBe(503);
      expect(await full.json()).toEqual({ status: "ERROR", error: new QueueFullError(2).message });

      // The first queued client goes away (its connection reset: a FIN alone is a client that
      // has finished sending and still reads, half-close-and-close-drain.test.ts): its request
      // leaves the queue at once.
      gone.resetAndDestroy();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(2));
      expect(server.bodyBytesInFlight).toBe(2 * n);
      expect(gated.calls()).toBe(1); // nothing more has run meanwhile

      // Its place is free: another request is queued, not refused.
      const later = post();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(3));

      gated.release();
      for (const r of [running, queued, later]) {
        const res = await r;
        expect(res.status).toBe(200);
        expect(((await res.json()) as { status: string }).status).toMatch(/^(SUCCESS|ALREADY_EXISTS)$/);
      }
      // The running one, the second queued and the later one ran; the withdrawn one never did.
      expect(gated.calls()).toBe(3);
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
      expect(server.runsInFlight).toBe(0);
    } finally {
      gated.release();
    }
  });

  it("a request whose run has started runs to completion though its client goes", async () => {
    const gated = gatedRunner();
    const body = actorBody();
    const { port, server } = await serve(box(), { runner: gated.runner });
    try {
      const client = track(connect(port, "127.0.0.1"));
      client.on("error", () => {});
      await new Promise<void>((r) => client.once("connect", () => r()));
      client.write(`POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await vi.waitFor(() => expect(gated.calls()).toBe(1)); // started: waits on the gate
      client.resetAndDestroy();
      await vi.waitFor(() => expect(server.bodyBytesInFlight).toBe(0));
      expect(server.runsInFlight).toBe(1); // still running
      gated.release();
      await vi.waitFor(() => expect(server.runsInFlight).toBe(0));
      expect(gated.calls()).toBe(1);
    } finally {
      gated.release();
    }
  });
});

describe("RunQueue: a waiting task withdrawn by its signal", () => {
  it("leaves the queue at once and is never run; the others run in order; a started task ignores its signal", async () => {
    const q = new RunQueue(2);
    const ran: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const first = new AbortController();
    const running = q.run(async () => {
      ran.push("first");
      await gate;
      return "first";
    }, { signal: first.signal });
    const withdrawn = new AbortController();
    const gone = q.run(() => void ran.push("withdrawn"), { signal: withdrawn.signal });
    const next = q.run(() => (ran.push("next"), "next"));
    expect(q.waiting).toBe(2);

    const reason = new Error("client gone");
    withdrawn.abort(reason);
    await expect(gone).rejects.toBe(reason);
    expect(q.waiting).toBe(1);
    // Its place is free: a third task fits (maxWaiting 2).
    const third = q.run(() => (ran.push("third"), "third"));
    expect(q.waiting).toBe(2);

    first.abort(new Error("too late")); // started: runs to completion
    open();
    expect(await Promise.all([running, next, third])).toEqual(["first", "next", "third"]);
    expect(ran).toEqual(["first", "next", "third"]);
    await q.idle();
    expect(q.running).toBe(false);
  });

  it("a signal aborted already: refused at once, idle queue or not", async () => {
    const q = new RunQueue(1);
    const reason = new Error("gone before");
    const fn = vi.fn();
    await expect(q.run(fn, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
    expect(q.running).toBe(false);
  });
});

describe("ServerOptions.maxResponseBytes", () => {
  it("must be a positive integer (E_USAGE): 0 answered every run 500 after running it", () => {
    const b = box();
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      let err: unknown;
      try {
        createServer({ workspace: b.workspace, dataRoot: b.dataRoot, maxResponseBytes: bad }).close();
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, ErrorCode.USAGE)).toBe(true);
      expect((err as Error).message).toBe(`ServerOptions.maxResponseBytes must be a positive integer, got ${String(bad)}`);
    }
  });
});
