/**
 * Retries, failures, worker crashes and EU timeouts through the engine: every EU ends
 * completed or failed, attempts are logged in the manifest, and a crash or a hang costs only
 * the EU that caused it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { listRuns } from "../../src/batch/runs.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { Scratch, fixture, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FAILING = new Set([3, 10, 25, 100, 256]);
const FLAKY = new Set([1, 11, 99, 200]);
const DATA = Array.from({ length: 300 }, (_, i) => ({ v: i, fail: FAILING.has(i), flaky: FLAKY.has(i) }));
const LAYOUT = { partitions: 3, pulseSize: 16, workers: 2 };

function attemptLogs(m: Manifest): Map<unknown, Manifest["pulses"][number]["attempts"][number]> {
  const logs = new Map<unknown, Manifest["pulses"][number]["attempts"][number]>();
  for (const p of m.pulses) for (const a of p.attempts) logs.set(a.id, a);
  return logs;
}

describe("retries and failures", () => {
  it("an EU that always throws fails with E_EU_THREW after retries+1 attempts, each logged", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-throws.mjs"), { ...LAYOUT, retries: 2 });
    expect(r.status).toBe("failed");
    expect(r.reused).toBe(false);
    expect(r.counts).toEqual({ total: 300, completed: 295, failed: 5, retried: 9 });
    expect(r.counts.completed + r.counts.failed).toBe(r.counts.total);
    // Failures in EU-id (numeric) order, with the last attempt's error.
    expect(r.failures.map((f) => f.id)).toEqual([3, 10, 25, 100, 256]);
    for (const f of r.failures) {
      expect(f.code).toBe(ErrorCode.EU_THREW);
      expect(f.message).toBe(`boom at ${String(f.id)} (attempt 3)`);
    }
    const m = manifestOf(store, r.runId);
    expect(m.failures).toEqual(r.failures);
    const logs = attemptLogs(m);
    expect([...logs.keys()].sort((a, b) => Number(a) - Number(b))).toEqual([1, 3, 10, 11, 25, 99, 100, 200, 256]);
    for (const id of FAILING) {
      expect(logs.get(id)).toEqual({
        id,
        attempts: 3,
        errors: [1, 2, 3].map((a) => ({ code: ErrorCode.EU_THREW, message: `boom at ${id} (attempt ${a})` })),
      });
    }
    for (const id of FLAKY) expect(logs.get(id)).toEqual({ id, attempts: 2, errors: [{ code: ErrorCode.EU_THREW, message: `flaky at ${id}` }] });
    // Per-pulse figures add up to the counts.
    const sum = (k: "eus" | "completed" | "failed"): number => m.pulses.reduce((s, p) => s + p[k], 0);
    expect([sum("eus"), sum("completed"), sum("failed")]).toEqual([300, 295, 5]);
    // The failed EUs are in the output with their error, the flaky ones with their retry's output.
    const outs = await outputsOf(store, r.runId);
    expect(outs.length).toBe(300);
    expect(outs[3]).toEqual({ id: 3, error: { code: ErrorCode.EU_THREW, message: "boom at 3 (attempt 3)" } });
    expect(outs[11]).toEqual({ id: 11, output: { v: 22, attempt: 2 } });
    expect(outs[12]).toEqual({ id: 12, output: { v: 24, attempt: 1 } });
  });

  it("--allow-failures makes the same run completed, with the same failures", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-throws.mjs"), { ...LAYOUT, retries: 2, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 300, completed: 295, failed: 5, retried: 9 });
    expect(r.failures.map((f) => f.id)).toEqual([3, 10, 25, 100, 256]);
  });

  it("an EU that succeeds on attempt 2 completes and counts as retried", async () => {
    const { store } = scratch.store();
    const data = DATA.map((d) => ({ ...d, fail: false }));
    const r = await run(store, data, fixture("engine-throws.mjs"), { ...LAYOUT, retries: 1 });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 300, completed: 300, failed: 0, retried: FLAKY.size });
    expect(r.failures).toEqual([]);
    const outs = await outputsOf(store, r.runId);
    for (const id of FLAKY) expect(outs[id]?.output).toEqual({ v: id * 2, attempt: 2 });
  });

  it("retries: 0 fails a throwing EU at once (no retry, no attempt log)", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-throws.mjs"), { ...LAYOUT, retries: 0 });
    expect(r.status).toBe("failed");
    expect(r.counts).toEqual({ total: 300, completed: 291, failed: 9, retried: 0 });
    expect(r.failures.map((f) => f.id)).toEqual([1, 3, 10, 11, 25, 99, 100, 200, 256]);
    expect(r.failures.find((f) => f.id === 3)?.message).toBe("boom at 3 (attempt 1)");
    expect(r.failures.find((f) => f.id === 1)?.message).toBe("flaky at 1");
    expect(manifestOf(store, r.runId).pulses.every((p) => p.attempts.length === 0)).toBe(true);
  });

  it("the result and the manifest list the first 100 failures in id order; the counts and the output hold them all", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 150 }, (_, i) => ({ v: i, fail: true }));
    const r = await run(store, data, fixture("engine-throws.mjs"), { partitions: 4, pulseSize: 10, workers: 2, retries: 0 });
    expect(r.status).toBe("failed");
    expect(r.counts).toEqual({ total: 150, completed: 0, failed: 150, retried: 0 });
    expect(r.failures.map((f) => f.id)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const m = manifestOf(store, r.runId);
    expect(m.failures).toEqual(r.failures);
    expect(m.counts.failed).toBe(150);
    expect((await outputsOf(store, r.runId)).filter((o) => o.error !== undefined).map((o) => o.id)).toEqual(Array.from({ length: 150 }, (_, i) => i));
  });

  it("retried EUs give the same output digest on every layout", async () => {
    const a = scratch.store().store;
    const b = scratch.store().store;
    const ra = await run(a, DATA, fixture("engine-throws.mjs"), { partitions: 1, pulseSize: 1000, workers: 1, allowFailures: true });
    const rb = await run(b, DATA, fixture("engine-throws.mjs"), { partitions: 7, pulseSize: 3, workers: 2, allowFailures: true });
    expect(rb.outputDigest).toBe(ra.outputDigest);
    expect(rb.counts).toEqual(ra.counts);
    expect(rb.failures).toEqual(ra.failures);
  });
});

describe("worker crashes and timeouts", () => {
  it("process.exit in one EU fails only that EU with E_WORKER_CRASHED; the rest of its pulse completes", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 40 }, (_, i) => ({ v: i, exit: i === 17 }));
    const r = await run(store, data, fixture("engine-crash.mjs"), { partitions: 1, pulseSize: 40, workers: 1, retries: 2 });
    expect(r.status).toBe("failed");
    expect(r.counts).toEqual({ total: 40, completed: 39, failed: 1, retried: 1 });
    expect(r.failures).toEqual([{ id: 17, code: ErrorCode.WORKER_CRASHED, message: expect.stringContaining("EU 17") as unknown as string }]);
    const m = manifestOf(store, r.runId);
    expect(m.pulses.length).toBe(1);
    expect(m.pulses[0]).toMatchObject({ eus: 40, completed: 39, failed: 1 });
    expect(m.pulses[0]?.attempts).toEqual([
      { id: 17, attempts: 3, errors: [1, 2, 3].map(() => ({ code: ErrorCode.WORKER_CRASHED, message: expect.stringContaining("code 3") as unknown as string })) },
    ]);
    const outs = await outputsOf(store, r.runId);
    expect(outs.length).toBe(40);
    for (const o of outs) {
      if (o.id === 17) expect(o.error?.code).toBe(ErrorCode.WORKER_CRASHED);
      else expect(o.output).toBe((o.id as number) + 1);
    }
  });

  it.each([
    ["reject", false],
    ["exit", false],
    ["reject", true],
  ])("a stray %s left by an EU (async: %s) charges no EU: same outcome on every pulse size", async (stray, async) => {
    const data = Array.from({ length: 12 }, (_, i) => ({ v: i, stray: i === 3 ? stray : null, async }));
    const digests = new Set<string>();
    for (const pulseSize of [4, 6, 12]) {
      const { store } = scratch.store();
      const r = await run(store, data, fixture("engine-stray.mjs"), { partitions: 1, pulseSize, workers: 1, retries: 0, allowFailures: true });
      // Before: the next request's first EU (4, 6) was charged with the crash and failed.
      expect([pulseSize, r.status, r.counts, r.failures]).toEqual([pulseSize, "completed", { total: 12, completed: 12, failed: 0, retried: 0 }, []]);
      digests.add(r.outputDigest);
    }
    expect(digests.size).toBe(1);
  });

  it("a crash with allowFailures completes the run; later pulses run on the replacement worker", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 60 }, (_, i) => ({ v: i, exit: i === 5 || i === 33 }));
    const r = await run(store, data, fixture("engine-crash.mjs"), { partitions: 2, pulseSize: 8, workers: 2, retries: 0, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 60, completed: 58, failed: 2, retried: 0 });
    expect(r.failures.map((f) => [f.id, f.code])).toEqual([
      [5, ErrorCode.WORKER_CRASHED],
      [33, ErrorCode.WORKER_CRASHED],
    ]);
  });

  it("an EU that runs its worker out of memory fails with E_WORKER_CRASHED; the others complete", async () => {
    const { store } = scratch.store();
    const code = "export default (x) => { if (x.oom) { const a = []; for (;;) a.push(new Array(100000).fill(x.v)); } return x.v; };\n";
    const data = Array.from({ length: 10 }, (_, i) => ({ v: i, oom: i === 3 }));
    const r = await run(store, data, { code, name: "oom.mjs" }, { partitions: 1, pulseSize: 10, workers: 1, retries: 1, maxMemoryBytes: 32 * 1024 * 1024 });
    expect(r.counts).toEqual({ total: 10, completed: 9, failed: 1, retried: 1 });
    expect(r.failures).toEqual([{ id: 3, code: ErrorCode.WORKER_CRASHED, message: expect.stringContaining("out of memory") as unknown as string }]);
  });

  it("out of memory depends on --max-memory alone: not on --workers, not reused under another limit, re-executed alike", async () => {
    // Each worker's heap limit is max(32 MiB, M / 8) whatever the worker count; EU 3 needs ~100 MiB.
    const code = "export default (x) => { if (x.big) { const a = []; for (let i = 0; i < 100; i++) a.push(new Array(131072).fill(i)); return a.length; } return x.v; };\n";
    const data = Array.from({ length: 8 }, (_, i) => ({ v: i, big: i === 3 }));
    const fn = { code, name: "big.mjs" };
    const small = { partitions: 1, pulseSize: 8, retries: 0, allowFailures: true, maxMemoryBytes: 256 * 1024 * 1024 };
    const { store } = scratch.store();
    const one = await run(store, data, fn, { ...small, workers: 1 });
    const four = await run(scratch.store().store, data, fn, { ...small, workers: 4 });
    expect(one.failures.map((f) => [f.id, f.code])).toEqual([[3, ErrorCode.WORKER_CRASHED]]);
    expect(four.outputDigest).toBe(one.outputDigest);
    // The same store under a larger limit re-executes the pulse (not the failure committed above).
    const big = await run(store, data, fn, { ...small, workers: 1, maxMemoryBytes: 2048 * 1024 * 1024 });
    expect(big.counts).toEqual({ total: 8, completed: 8, failed: 0, retried: 0 });
    expect(big.outputDigest).not.toBe(one.outputDigest);
    // Re-execution by verify uses the run's own limit: the failure is reproduced, not a mismatch.
    const v = await verifyRun(store, one.runId, { reexecute: true });
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ ok: true, pulsesReexecuted: 1 });
  });

  it("records above a quarter of a worker's heap are refused (E_LIMIT_EXCEEDED, with how to raise it), never crash the process", async () => {
    const { store, dir } = scratch.store();
    const input = join(dir, "big.lines");
    writeFileSync(input, `a\n${"y".repeat(9 * 1024 * 1024)}\n`); // 9 MiB; the limit at 256 MiB is 32 MiB / 4 = 8 MiB
    const code = "export default (x) => x.length;\n";
    await expect(run(store, input, { code, name: "len.mjs" }, { format: "lines", maxMemoryBytes: 256 * 1024 * 1024 })).rejects.toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: `${input}:2: record 1: line is longer than the record size limit of 8388608 bytes (a quarter of each worker's heap, which is --max-memory / 8 but at least 32 MiB: 8 MiB for every --max-memory below 264MiB; from 264MiB it is about --max-memory / 32, at most 64 MiB, reached from --max-memory 2GiB)`,
    });
    // Under a larger --max-memory the same record runs.
    const ok = await run(store, input, { code, name: "len.mjs" }, { format: "lines", maxMemoryBytes: 1024 * 1024 * 1024 });
    expect(ok.counts).toEqual({ total: 2, completed: 2, failed: 0, retried: 0 });
  });

  it("many large records are cut into pulses that fit a worker's heap: no out-of-memory, the same output as with room to spare", async () => {
    const data = Array.from({ length: 12 }, (_, i) => ({ i, s: "z".repeat(3 * 1024 * 1024) })); // 12 × 3 MiB (6 MiB estimated each)
    const code = "export default (x) => ({ i: x.i, n: x.s.length });\n";
    const tight = await run(scratch.store().store, data, { code, name: "big.mjs" }, { partitions: 1, pulseSize: 1024, workers: 1, retries: 0, allowFailures: true, maxMemoryBytes: 256 * 1024 * 1024 });
    const roomy = await run(scratch.store().store, data, { code, name: "big.mjs" }, { partitions: 1, pulseSize: 1024, workers: 1, retries: 0, allowFailures: true, maxMemoryBytes: 4096 * 1024 * 1024 });
    expect(tight.counts).toEqual({ total: 12, completed: 12, failed: 0, retried: 0 });
    expect(tight.outputDigest).toBe(roomy.outputDigest);
  });

  it("records with many values (which estimateSize undercounts) are still cut into pulses that fit a worker's heap", async () => {
    // 12 lines, each an array of 20,000 strings of 100 characters (~2 MB; estimateSize walks
    // only 1024 values), written non-canonically (", ") so each is parsed: at 256 MiB (a 32 MiB
    // heap, 8 MiB per pulse) they went into one ~24 MB pulse and ran its worker out of memory.
    const { store, dir } = scratch.store();
    const input = join(dir, "wide.jsonl");
    const line = `[${Array.from({ length: 20_000 }, () => `"${"w".repeat(100)}"`).join(", ")}]\n`;
    writeFileSync(input, line.repeat(12));
    const code = "export default (x) => x.length;\n";
    const r = await run(store, input, { code, name: "len.mjs" }, { partitions: 1, pulseSize: 1024, workers: 1, retries: 0, allowFailures: true, maxMemoryBytes: 256 * 1024 * 1024 });
    expect(r.counts).toEqual({ total: 12, completed: 12, failed: 0, retried: 0 });
    expect(manifestOf(store, r.runId).pulses.length).toBeGreaterThan(1);
  });

  it("an output larger than a quarter of a worker's heap fails its EU with E_LIMIT_EXCEEDED (JSON text in UTF-8 bytes, bytes as base64)", async () => {
    const MiB = 1024 * 1024;
    const code = [
      "export default (x) => {",
      `  if (x === 0) return "x".repeat(9 * ${MiB});`,
      `  if (x === 1) return Buffer.alloc(7 * ${MiB});`,
      `  if (x === 2) return "\u00e9".repeat(4.5 * ${MiB});`,
      `  if (x === 3) return "\u00e9".repeat(3 * ${MiB});`,
      "  return x;",
      "};",
      "",
    ].join("\n");
    const { store } = scratch.store();
    // --max-memory 32 MiB: 32 MiB worker heaps, so the limit is 8 MiB.
    const r = await run(store, [0, 1, 2, 3, 4], { code, name: "big-out.mjs" }, { workers: 1, retries: 0, allowFailures: true, maxMemoryBytes: 32 * MiB });
    const limit = 8 * MiB;
    // The --max-memory that admits the output: a heap, in whole MiB, of 4 × its size (config.ts recordLimitExplanation).
    const why = (size: number, what: string, needs: string): string =>
      `output is ${size} bytes (${what}), more than the ${limit}-byte limit of a record (--max-memory ${needs} or more admits it: the limit is a quarter of each worker's heap, which is --max-memory / 8 but at least 32 MiB, and at most 64 MiB, reached from --max-memory 2GiB)`;
    expect(r.failures).toEqual([
      { id: 0, code: ErrorCode.LIMIT_EXCEEDED, message: why(9 * MiB + 2, "its JSON text", "296MiB") },
      { id: 1, code: ErrorCode.LIMIT_EXCEEDED, message: why(Math.ceil((7 * MiB) / 3) * 4, "its base64 record", "304MiB") },
      { id: 2, code: ErrorCode.LIMIT_EXCEEDED, message: why(9 * MiB + 2, "its JSON text", "296MiB") },
    ]);
    expect(r.counts).toMatchObject({ completed: 2, failed: 3 });
  });

  it("reduce runs on one fresh worker: module state left by the pulses never reaches it, and every chunk sees the previous ones' state", async () => {
    const code = [
      "let seen = 0;",
      "let steps = 0;",
      "export default (x) => { seen++; return x; };",
      "export const initial = null;",
      "export function reduce(acc) { steps++; return { seen, steps }; }",
      "",
    ].join("\n");
    const data = Array.from({ length: 2 * 1024 + 5 }, (_, i) => i);
    const store = scratch.store().store;
    for (const workers of [1, 2]) {
      const r = await run(store, data, { code, name: "state.mjs" }, { workers, pulseSize: 128 });
      // Before: the pulses' counter (e.g. 2053 with one worker), and steps counted per worker.
      expect([workers, r.reduce]).toEqual([workers, { seen: 0, steps: data.length }]);
    }
  });

  it("a reduce over large outputs sends each chunk in parts: no worker runs out of memory", async () => {
    const code = 'export default (x) => "q".repeat(40 * 1024) + x;\nexport const initial = 0;\nexport function reduce(a, o) { return a + o.length; }\n';
    const data = Array.from({ length: 1100 }, (_, i) => i % 10);
    const { store } = scratch.store();
    // A 32 MiB worker heap: a chunk of 1024 outputs of 40 KiB in one message ran it out of memory.
    const r = await run(store, data, { code, name: "big.mjs" }, { workers: 1, maxMemoryBytes: 32 * 1024 * 1024 });
    expect(r.status).toBe("completed");
    expect(r.reduce).toBe(1100 * (40 * 1024 + 1));
  });

  it("a reduce that throws fails the run with E_INVALID_INPUT and leaves no run to resume (it would throw again)", async () => {
    const { store } = scratch.store();
    const code = 'export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(acc, v) { if (v === 3) throw new Error("reduce boom"); return acc + v; }\n';
    const data = Array.from({ length: 6 }, (_, i) => ({ v: i }));
    await expect(run(store, data, { code, name: "r.mjs" }, { partitions: 2, pulseSize: 2, workers: 1 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_INPUT,
      message: expect.stringContaining("reduce of module r.mjs threw at EU 3: reduce boom") as unknown as string,
    });
    expect(listRuns(store)).toEqual([]);
  });

  it("a reduce that times out fails the run with E_EU_TIMEOUT and keeps it resumable", async () => {
    const { store } = scratch.store();
    const code = "export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(acc, v) { if (v === 3) for (;;); return acc + v; }\n";
    const data = Array.from({ length: 6 }, (_, i) => ({ v: i }));
    await expect(run(store, data, { code, name: "r.mjs" }, { partitions: 2, pulseSize: 2, workers: 1, euTimeoutMs: 1000 })).rejects.toMatchObject({
      code: ErrorCode.EU_TIMEOUT,
      message: expect.stringContaining("reduce of module r.mjs failed: ") as unknown as string,
    });
    expect(listRuns(store).map((r) => r.state)).toEqual(["incomplete"]);
  });

  it("a promise that never settles is failed with E_EU_TIMEOUT, never left hanging", async () => {
    const { store } = scratch.store();
    const code = "export default (x) => (x.hang ? new Promise(() => {}) : Promise.resolve(x.v * 3));\n";
    const data = Array.from({ length: 8 }, (_, i) => ({ v: i, hang: i === 2 }));
    const r = await run(store, data, { code, name: "hang.mjs" }, { partitions: 1, pulseSize: 8, workers: 1, retries: 0, euTimeoutMs: 1000, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 8, completed: 7, failed: 1, retried: 0 });
    expect(r.failures.map((f) => [f.id, f.code])).toEqual([[2, ErrorCode.EU_TIMEOUT]]);
  });

  it("an infinite loop is failed with E_EU_TIMEOUT after euTimeoutMs; the others complete", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 12 }, (_, i) => ({ v: i, loop: i === 6 }));
    const t0 = Date.now();
    const r = await run(store, data, fixture("engine-crash.mjs"), { partitions: 1, pulseSize: 12, workers: 1, retries: 1, euTimeoutMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.status).toBe("failed");
    expect(r.counts).toEqual({ total: 12, completed: 11, failed: 1, retried: 1 });
    expect(r.failures).toEqual([{ id: 6, code: ErrorCode.EU_TIMEOUT, message: expect.stringContaining("1000 ms") as unknown as string }]);
    const m = manifestOf(store, r.runId);
    expect(m.pulses[0]?.attempts).toEqual([
      { id: 6, attempts: 2, errors: [1, 2].map(() => ({ code: ErrorCode.EU_TIMEOUT, message: expect.stringContaining("EU 6") as unknown as string })) },
    ]);
    const outs = await outputsOf(store, r.runId);
    expect(outs.filter((o) => o.output !== undefined).map((o) => o.id)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
  });
});
