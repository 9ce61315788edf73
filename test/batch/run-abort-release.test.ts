/**
 * What `run` releases on its ways out (UAT of 2026-11-28):
 *
 *  - the worker pool, started beside ingest, is closed on every rejection: the store closed
 *    under an in-memory run while the pool was starting left a worker thread keeping the
 *    process alive (checked in a child process, which must exit on its own);
 *  - `hooks.signal` is honoured while the run waits on its dataset source (an async iterable
 *    that stalls, a stdin that sends nothing more): E_INTERRUPTED at once, the source's
 *    `return()` called, no temp file left in the store; before, the abort was seen only at the
 *    next element, which may never come;
 *  - the store closed during execute rejects with E_USAGE naming the run (`details.runId`) and
 *    how to continue it (resume), which completes it.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, listRuns, openStore, resume, run } from "../../src/index.js";
import { Scratch, expectCairnError, outputsOf } from "./fixtures/engine-helpers.js";
import { runProbe, type ChildEnd } from "./fixtures/probe-child.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const fn = { code: "export default (x) => x + 1;" };
const ABORTED = "run aborted (before its plan was recorded): stop";

/** The store's temp files (a failed put's would be left here). */
const tmpFiles = (dir: string): string[] => readdirSync(join(dir, "tmp"));

/**
 * The child: opens a store, runs one scenario, prints `settled <json>` once `run` has settled,
 * and must then exit by itself (nothing left running). `planned`: the store is closed once the
 * plan is recorded, while the only worker still imports a module that is slow to import (the
 * pool started beside ingest). `stalled`: an in-memory source that never yields again, aborted.
 * `stdin`: `-` from the process's stdin, which the parent keeps open after one chunk, aborted.
 */
const PROBE = `
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { listRuns, openStore, run } from ${JSON.stringify(pathToFileURL(join(REPO, "src/index.ts")).href)};
const [scenario, dir] = process.argv.slice(2);
const s = openStore({ dir });
const ac = new AbortController();
const fn = { code: "export default (x) => x + 1;" };
let p;
if (scenario === "planned") {
  const slow = { code: "let x = 0; for (let i = 0; i < 3e8; i++) x += i; export const spent = x; export default (v) => v + 1;" };
  p = run(s, [1, 2, 3], slow, { workers: 1 });
  const poll = () => (listRuns(s).length === 1 ? s.close() : setTimeout(poll, 1));
  poll();
} else if (scenario === "stalled") {
  const source = (async function* () { yield 1; ac.abort(new Error("stop")); await new Promise(() => {}); })();
  p = run(s, source, fn, { workers: 1 }, { signal: ac.signal });
} else {
  p = run(s, "-", fn, { workers: 1 }, { signal: ac.signal, stdin: process.stdin });
  const poll = () => (process.stdin.bytesRead > 0 ? ac.abort(new Error("stop")) : setTimeout(poll, 1));
  poll();
}
const e = await p.then(() => undefined, (err) => err);
const tmp = scenario === "planned" ? [] : readdirSync(join(dir, "tmp"));
const runs = scenario === "planned" ? 1 : listRuns(s).length;
process.stdout.write("settled " + JSON.stringify({ code: e?.code, runId: typeof e?.details?.runId, tmp, runs }) + "\\n");
if (scenario !== "planned") s.close();
`;

/** Runs PROBE; kills it 10 s after it settled (or after 90 s in all), so a hang fails, not stalls, the test. */
function probe(scenario: "planned" | "stalled" | "stdin"): Promise<ChildEnd> {
  const dir = scratch.dir();
  const file = join(dir, "probe.mts");
  writeFileSync(file, PROBE);
  // "stdin": written and kept open, the source stalls.
  return runProbe(file, [scenario, join(dir, "store")], { exitWithinMs: 10_000, ...(scenario === "stdin" ? { stdinText: "1\n2\n" } : {}) });
}

describe("run releases its worker pool on every rejection (a child process exits by itself)", () => {
  it("the store closed once the plan is recorded, while the early-started pool still imports the module: E_USAGE naming the run, and the process exits", async () => {
    const r = await probe("planned");
    expect({ code: r.code, signal: r.signal, settled: r.settled, stderr: r.stderr }).toEqual({ code: 0, signal: null, settled: { code: "E_USAGE", runId: "string", tmp: [], runs: 1 }, stderr: "" });
    expect(r.exitMs).toBeLessThan(10_000);
  }, 120_000);

  it("an in-memory source stalled in an await, aborted: E_INTERRUPTED at once, nothing stored, and the process exits", async () => {
    const r = await probe("stalled");
    expect({ code: r.code, signal: r.signal, settled: r.settled, stderr: r.stderr }).toEqual({ code: 0, signal: null, settled: { code: "E_INTERRUPTED", runId: "undefined", tmp: [], runs: 0 }, stderr: "" });
    expect(r.exitMs).toBeLessThan(10_000);
  }, 120_000);

  it("stdin kept open after one chunk, aborted: E_INTERRUPTED at once, stdin released, and the process exits", async () => {
    const r = await probe("stdin");
    expect({ code: r.code, signal: r.signal, settled: r.settled, stderr: r.stderr }).toEqual({ code: 0, signal: null, settled: { code: "E_INTERRUPTED", runId: "undefined", tmp: [], runs: 0 }, stderr: "" });
    expect(r.exitMs).toBeLessThan(10_000);
  }, 120_000);
});

describe("hooks.signal while run waits on its dataset source", () => {
  it("an async generator stalled in an await: E_INTERRUPTED as an abort during ingest gives it, its return() called, no temp file, no run", async () => {
    const { store, dir } = scratch.store();
    const ac = new AbortController();
    let returned = 0;
    let release: () => void = () => {};
    const gen = (async function* () {
      yield 1;
      ac.abort(new Error("stop"));
      await new Promise<void>((r) => (release = r)); // pending until the test releases it
      yield 2;
    })();
    const ret = gen.return.bind(gen);
    gen.return = (v) => {
      returned++;
      return ret(v);
    };
    const e = await expectCairnError(run(store, gen, fn, { workers: 1 }, { signal: ac.signal }), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details, returned }).toEqual({ message: ABORTED, details: {}, returned: 1 });
    expect(tmpFiles(dir)).toEqual([]);
    expect(listRuns(store)).toEqual([]);
    release(); // the queued return() then ends the generator without a second element
    expect(await gen.next()).toEqual({ done: true, value: undefined });
  });

  it("a custom async iterator whose next() and return() never settle: E_INTERRUPTED all the same", async () => {
    const { store, dir } = scratch.store();
    const ac = new AbortController();
    const calls: string[] = [];
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          calls.push("next");
          if (calls.length === 1) return Promise.resolve({ done: false, value: 7 });
          queueMicrotask(() => ac.abort(new Error("stop")));
          return new Promise<IteratorResult<number>>(() => {});
        },
        return: () => {
          calls.push("return");
          return new Promise<IteratorResult<number>>(() => {});
        },
      }),
    };
    const e = await expectCairnError(run(store, source, fn, { workers: 1 }, { signal: ac.signal }), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details }).toEqual({ message: ABORTED, details: {} });
    await new Promise((r) => setImmediate(r)); // the return() is called after the rejection is decided
    expect(calls).toEqual(["next", "next", "return"]);
    expect(tmpFiles(dir)).toEqual([]);
  });

  it("a stdin that stalls after its first chunk: E_INTERRUPTED, the stream destroyed, no temp file", async () => {
    const { store, dir } = scratch.store();
    const ac = new AbortController();
    let reads = 0;
    const stdin = new Readable({
      read() {
        reads++;
        if (reads === 1) this.push("1\n2\n");
        else setImmediate(() => ac.abort(new Error("stop"))); // and nothing more is pushed
      },
    });
    const e = await expectCairnError(run(store, "-", fn, { workers: 1 }, { signal: ac.signal, stdin }), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details, destroyed: stdin.destroyed }).toEqual({ message: ABORTED, details: {}, destroyed: true });
    expect(tmpFiles(dir)).toEqual([]);
    expect(listRuns(store)).toEqual([]);
  });

  it("a sync iterable still runs as before (its promise values awaited), with a signal given", async () => {
    const { store } = scratch.store();
    const ac = new AbortController();
    const r = await run(store, [1, Promise.resolve(2), 3], fn, { workers: 1 }, { signal: ac.signal });
    expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([2, 3, 4]);
    const s2 = new PassThrough();
    s2.end("5\n6\n");
    const r2 = await run(store, "-", fn, { workers: 1, format: "jsonl" }, { signal: ac.signal, stdin: s2 });
    expect((await outputsOf(store, r2.runId)).map((o) => o.output)).toEqual([6, 7]);
  });

  it("with a signal, an async source's steps are what for await gives: a promise value is not awaited, a step that is not an object fails", async () => {
    const { store } = scratch.store();
    const ac = new AbortController();
    async function* promises(): AsyncGenerator<unknown> {
      yield 1;
      yield { n: 2 };
      yield* [Promise.resolve(3)]; // yield* of a sync iterable in an async generator awaits: 3
    }
    const ok = await run(store, promises(), { code: "export default (x) => (typeof x === 'object' ? x.n : x);" }, { workers: 1 }, { signal: ac.signal });
    expect((await outputsOf(store, ok.runId)).map((o) => o.output)).toEqual([1, 2, 3]);
    // An async iterator whose value is a promise: refused as without a signal (it was awaited).
    const promiseValue = (): AsyncIterable<unknown> => ({
      [Symbol.asyncIterator]: () => {
        let i = 0;
        return { next: () => Promise.resolve(i++ === 0 ? { done: false, value: Promise.resolve(7) } : { done: true, value: undefined }) };
      },
    });
    const without = await expectCairnError(run(store, promiseValue(), fn, { workers: 1 }), ErrorCode.INVALID_INPUT);
    const withSignal = await expectCairnError(run(store, promiseValue(), fn, { workers: 1 }, { signal: ac.signal }), ErrorCode.INVALID_INPUT);
    expect(withSignal.message).toBe(without.message);
    expect(withSignal.message).toMatch(/^dataset element 0: /);
    // A step that is not an object: the TypeError for await throws (it looped for ever).
    const notObject: AsyncIterable<unknown> = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve(5 as never) }) };
    const errOf = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (err: unknown) => err);
    const a = await errOf(run(store, notObject, fn, { workers: 1 }));
    const b = await errOf(run(store, notObject, fn, { workers: 1 }, { signal: ac.signal }));
    expect([b instanceof TypeError, (b as Error).message]).toEqual([a instanceof TypeError, (a as Error).message]);
  });
});

describe("the store closed during execute", () => {
  it("rejects with E_USAGE naming the run to resume; the run lists incomplete and resume completes it", async () => {
    const { store, dir } = scratch.store();
    const root = store.root;
    const records = Array.from({ length: 300 }, (_, n) => n);
    const config = { workers: 1, partitions: 1, pulseSize: 10, maxPulsesInFlight: 1 };
    const onProgress = (p: { phase: string; pulsesDone: number }): void => {
      if (p.phase === "execute" && p.pulsesDone === 3) store.close();
    };
    const e = await expectCairnError(run(store, records, fn, config, { onProgress }), ErrorCode.USAGE);
    const runId = e.details.runId as string;
    expect(runId).toMatch(/^[0-9a-f]{16}$/);
    expect(e.details).toEqual({ path: root, runId });
    expect(e.message).toMatch(new RegExp(`^run ${runId}: store (is closed|was closed while .+ was in flight): `));
    expect(e.message.endsWith(`; the run is incomplete, its committed pulses are kept: open the store again and resume it (resume(store, "${runId}"))`)).toBe(true);
    const again = openStore({ dir });
    try {
      expect(listRuns(again).map((r) => [r.runId, r.state])).toEqual([[runId, "incomplete"]]);
      const done = await resume(again, runId);
      expect({ runId: done.runId, status: done.status, counts: done.counts }).toEqual({ runId, status: "completed", counts: { total: 300, completed: 300, failed: 0, retried: 0 } });
      expect((await outputsOf(again, runId)).map((o) => o.output)).toEqual(records.map((n) => n + 1));
      expect((await again.fsck()).ok).toBe(true);
      expect(tmpFiles(dir)).toEqual([]);
    } finally {
      again.close();
    }
  });

  it("a finished run answered from its manifest, the store closed while its output is copied to outFile: named finished, not incomplete", async () => {
    const { store } = scratch.store();
    const first = await run(store, [1, 2, 3], fn, { workers: 1 });
    const read = store.openReadStream.bind(store);
    store.openReadStream = ((...args: Parameters<typeof store.openReadStream>) => {
      store.close(); // as the copy starts
      return read(...args);
    }) as typeof store.openReadStream;
    const e = await expectCairnError(run(store, [1, 2, 3], fn, { workers: 1 }, { outFile: join(scratch.dir(), "out.jsonl") }), ErrorCode.USAGE);
    expect(e.details.runId).toBe(first.runId);
    expect(e.message).toMatch(new RegExp(`^run ${first.runId}: store is closed: `));
    expect(e.message.endsWith("; the run is finished: open the store again to read its output")).toBe(true);
  });
});
