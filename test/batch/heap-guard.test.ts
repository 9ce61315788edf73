/** The main-thread heap guard (src/batch/heap-guard.ts). */
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import {
  HEAP_GUARD_AVAILABLE, HEAP_GUARD_MAIN_HEAP_SHARE, HEAP_GUARD_MAX_INTERVAL_MS, HEAP_GUARD_MIN_INTERVAL_MS, HEAP_GUARD_SHARE, HeapGuard,
} from "../../src/batch/heap-guard.js";
import { run } from "../../src/batch/engine.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("HeapGuard", () => {
  it("a collector is available in this process", () => {
    expect(HEAP_GUARD_AVAILABLE).toBe(true);
  });

  it("collects only when the RSS and the main heap are both over their lines, at most once per interval", () => {
    let used = 500;
    const g = new HeapGuard(1000, () => used);
    g.check(1000 * HEAP_GUARD_SHARE, 0); // RSS on the line
    expect(g.collections).toBe(0);
    used = 1000 * HEAP_GUARD_MAIN_HEAP_SHARE; // heap on its line: the RSS is elsewhere
    g.check(999, 0);
    expect(g.collections).toBe(0);
    used = 500;
    g.check(999, 0);
    expect(g.collections).toBe(1);
    g.check(999, HEAP_GUARD_MIN_INTERVAL_MS - 1);
    expect(g.collections).toBe(1);
    g.check(999, 10_000);
    expect(g.collections).toBe(2);
  });

  it("backs off while a collection leaves the heap over its line, and resets after one that does not", () => {
    let used = 500; // a heap of live data: the (real) collection cannot bring it down
    const g = new HeapGuard(1000, () => used);
    const times: number[] = [];
    for (let t = 0; t <= 40_000; t += 50) {
      const before = g.collections;
      g.check(999, t);
      if (g.collections > before) times.push(t);
    }
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps.slice(0, 5)).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(Math.max(...gaps)).toBe(HEAP_GUARD_MAX_INTERVAL_MS);
    let calls = 0;
    used = 500;
    const h = new HeapGuard(1000, () => (calls++ % 2 === 0 ? 500 : 100)); // over before, under after each collection
    for (let t = 0; t <= 2000; t += 50) h.check(999, t);
    expect(h.collections).toBe(Math.floor(2000 / HEAP_GUARD_MIN_INTERVAL_MS) + 1);
  });

  it("leaves no gc global behind: the main context, later vm contexts and later workers have none", async () => {
    const hadGc = "gc" in globalThis;
    new HeapGuard(1, () => 1).check(2, 0);
    expect("gc" in globalThis).toBe(hadGc);
    expect(runInNewContext("typeof gc")).toBe("undefined");
    const seen = await new Promise<unknown>((resolve, reject) => {
      const w = new Worker('require("node:worker_threads").parentPort.postMessage(typeof gc)', { eval: true, execArgv: [] });
      w.once("message", resolve);
      w.once("error", reject);
    });
    expect(seen).toBe("undefined");
  });

  it("a run under a tight --max-memory counts its collections in the run report", async () => {
    const { store } = scratch.store();
    const r = await run(store, Array.from({ length: 50 }, (_, i) => ({ n: i })), fixture("engine-pure.mjs"), { partitions: 2, pulseSize: 10, workers: 1, maxMemoryBytes: 32 * 1024 * 1024 });
    expect(r.status).toBe("completed");
    const root = store.findRoot(`run:${r.runId}:report`);
    const report = JSON.parse(store.get(root?.digest as Digest).toString("utf8")) as { heapCollections: number };
    expect(report.heapCollections).toBeGreaterThanOrEqual(1);
  });
});
