/**
 * The timer fence (src/batch/sandbox/timers.ts): a timer an EU arms and leaves pending is
 * cancelled when the EU settles, so it can neither fire during later EUs nor crash the worker
 * under them — whatever the partitions, pulse size or worker count. Timers an EU awaits, and
 * timers armed at import time, behave as before.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { run } from "../../src/batch/engine.js";
import type { RunConfigInput } from "../../src/batch/config.js";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";
import { WorkerPool, type EUResult, type EUTask, type PulseOutcome } from "../../src/batch/sandbox/pool.js";
import { Scratch, outputsOf, withoutTexts } from "./fixtures/engine-helpers.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const pools: WorkerPool[] = [];
async function poolOf(name: string): Promise<WorkerPool> {
  const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(fixture(name)), seed: "seed-1", moduleName: name });
  pools.push(pool);
  return pool;
}
const actionsPool = (): Promise<WorkerPool> => poolOf("timers-actions.mjs");
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function okResults(o: PulseOutcome): EUResult[] {
  if (o.kind !== "ok") throw new Error(`pulse crashed: ${o.error.code} ${o.error.message}`);
  return withoutTexts(o.results);
}

/** id → output of every EU (failures as their error code). */
function outputs(o: PulseOutcome): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const r of okResults(o)) {
    if (!r.ok) m[String(r.id)] = r.error.code;
    else if (r.bytes) throw new Error(`EU ${String(r.id)} returned bytes`);
    else m[String(r.id)] = JSON.parse(r.json) as unknown;
  }
  return m;
}

let nextPulse = 0;
const pulse = (pool: WorkerPool, eus: EUTask[]): Promise<PulseOutcome> => pool.runPulse(nextPulse++, eus, { attempt: 1, euTimeoutMs: 30_000 });

describe("the reviewer's repro through the engine (a stray timer that throws after its EU)", () => {
  const RECORDS = Array.from({ length: 16 }, (_, n) => ({ n }));
  const CONFIGS: RunConfigInput[] = [
    { partitions: 1, pulseSize: 100, workers: 1 },
    { partitions: 4, pulseSize: 2, workers: 2 },
    { partitions: 2, pulseSize: 16, workers: 1 },
    { partitions: 1, pulseSize: 1, workers: 1 },
    { partitions: 3, pulseSize: 5, workers: 3, maxPulsesInFlight: 4 },
  ];

  it("completes every EU with the same output digest under every config", async () => {
    const input = scratch.jsonl(RECORDS);
    const digests = new Set<string>();
    for (const config of CONFIGS) {
      const { store } = scratch.store();
      const r = await run(store, input, fixture("timers-stray.mjs"), { ...config, allowFailures: true });
      expect(r.status, JSON.stringify(config)).toBe("completed");
      expect(r.counts, JSON.stringify(config)).toEqual({ total: 16, completed: 16, failed: 0, retried: 0 });
      expect(r.failures).toEqual([]);
      const outs = await outputsOf(store, r.runId);
      expect(outs).toEqual(RECORDS.map(({ n }) => ({ id: n, output: n })));
      digests.add(r.outputDigest);
    }
    expect(digests.size).toBe(1);
  });
});

describe("timers left pending by an EU", () => {
  // Every way of arming a timer the fence covers; each bumps a module-level counter (or throws).
  const HOWS = [
    "global-timeout",
    "global-interval",
    "global-immediate",
    "timers-default-timeout",
    "timers-default-interval",
    "timers-named-timeout",
    "timers-named-immediate",
    "timers-namespace-interval",
    "require-timers-timeout",
    "require-timers-immediate",
    "promisify-timeout",
    "promisify-immediate",
    "refresh",
    "promises-timeout",
    "promises-immediate",
    "promises-interval",
    "promises-interval-signal",
    "promises-from-timers",
    "scheduler-wait",
    "scheduler-yield",
    "abort-timeout",
  ] as const;

  it.each(HOWS)("%s: does not fire during the later EUs of the pulse, nor of the next pulse", async (how) => {
    const pool = await actionsPool();
    const first = await pulse(pool, [
      { id: 0, input: { action: "leave", how } },
      { id: 1, input: { action: "watch", ms: 30 } },
      { id: 2, input: { action: "leave-async", how } },
      { id: 3, input: { action: "watch", ms: 30 } },
      { id: 4, input: { action: "throw", how } },
      { id: 5, input: { action: "watch", ms: 30 } },
    ]);
    expect(outputs(first)).toEqual({ 0: "left", 1: 0, 2: "left", 3: 0, 4: "E_EU_THREW", 5: 0 });
    // A pulse that ends with the stray timer, then another pulse on the same worker.
    expect(outputs(await pulse(pool, [{ id: 6, input: { action: "leave", how } }]))).toEqual({ 6: "left" });
    expect(outputs(await pulse(pool, [{ id: 7, input: { action: "watch", ms: 30 } }]))).toEqual({ 7: 0 });
  });

  it("a setInterval left running does not tick during later EUs (it did tick while its EU ran)", async () => {
    const pool = await actionsPool();
    const out = await pulse(pool, [
      { id: "a", input: { action: "own-interval" } },
      ...Array.from({ length: 5 }, (_, i) => ({ id: `w${i}`, input: { action: "watch", ms: 10 } })),
    ]);
    expect(outputs(out)).toEqual({ a: true, w0: 0, w1: 0, w2: 0, w3: 0, w4: 0 });
  });

  it.each(["throwing-timeout", "throwing-promise"])("%s: a stray timer that would throw or reject no longer crashes the worker under later EUs", async (how) => {
    const pool = await actionsPool();
    const out = await pulse(pool, [
      { id: 0, input: { action: "leave", how } },
      { id: 1, input: { action: "watch", ms: 30 } },
      { id: 2, input: { action: "leave-async", how } },
      { id: 3, input: { action: "watch", ms: 30 } },
    ]);
    expect(out.kind).toBe("ok");
    expect(outputs(out)).toEqual({ 0: "left", 1: 0, 2: "left", 3: 0 });
  });

  it("a timer armed by a continuation that runs after a synchronous pulse is cancelled before the next request", async () => {
    const pool = await actionsPool();
    // EU 0 returns synchronously; its unawaited continuation arms a 60 ms timer after the
    // pulse has returned. Whenever the next pulse starts, that timer cannot fire during it.
    expect(outputs(await pulse(pool, [{ id: 0, input: { action: "leave", how: "stray-microtask" } }]))).toEqual({ 0: "left" });
    expect(outputs(await pulse(pool, [{ id: 1, input: { action: "watch", ms: 100 } }]))).toEqual({ 1: 0 });
  });
});

describe("a cancelled timers/promises interval with the caller's signal", () => {
  it("lets go of the signal: no abort listener is left on it", async () => {
    const pool = await actionsPool();
    const r = await pulse(pool, [
      { id: 0, input: { action: "signal-listeners" } },
      { id: 1, input: { action: "leave-async", how: "promises-interval-signal" } },
      { id: 2, input: { action: "signal-listeners" } },
    ]);
    expect(outputs(r)).toEqual({ 0: 0, 1: "left", 2: 0 });
  });
});

describe("reduce steps", () => {
  it("cancel the timers a step left pending before the next step", async () => {
    const pool = await poolOf("timers-reduce.mjs");
    const outs = okResults(await pulse(pool, Array.from({ length: 5 }, (_, i) => ({ id: i, input: i })))).filter((r) => r.ok);
    expect(await pool.reduce("[]", outs)).toBe('["armed",0,0,0,0]');
  });
});

describe("timers that keep working", () => {
  it("timers an EU awaits behave as in plain Node (arguments, clear, refresh, promises, signals, errors)", async () => {
    const pool = await actionsPool();
    const out = await pulse(pool, [
      { id: 0, input: { action: "awaited" } },
      { id: 1, input: { action: "leave", how: "global-interval" } },
      { id: 2, input: { action: "awaited" } },
    ]);
    // What the same function returns in plain Node, outside the sandbox.
    const expected = [
      "timeout-arg",
      "immediate-arg",
      "timers-arg",
      "promises-timeout",
      "promises-immediate",
      "timers.promises",
      "promisified",
      "promisified-immediate",
      "wait",
      "yield",
      "tick,tick,tick",
      "interval:3",
      "refreshed:2",
      "TimeoutError",
      "AbortError:mine",
      "AbortError:pre",
      "ERR_INVALID_ARG_TYPE",
      "ERR_INVALID_ARG_TYPE",
    ];
    expect(outputs(out)).toEqual({ 0: expected, 1: "left", 2: expected });
  });

  it("timers armed at import time, and the ones their callbacks arm, keep running across EUs", async () => {
    const pool = await actionsPool();
    const out = await pulse(pool, [
      { id: 0, input: { action: "import-ticks" } },
      { id: 1, input: { action: "leave", how: "global-timeout" } },
      { id: 2, input: { action: "import-ticks" } },
    ]);
    expect(outputs(out)).toEqual({ 0: { interval: true, chain: true }, 1: "left", 2: { interval: true, chain: true } });
    expect(outputs(await pulse(pool, [{ id: 3, input: { action: "import-ticks" } }]))).toEqual({ 3: { interval: true, chain: true } });
  });
});
