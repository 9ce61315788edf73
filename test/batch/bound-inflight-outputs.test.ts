/**
 * The outputs of running pulses count against --max-memory (ARCHITECTURE §10.18): the results
 * a started pulse holds on the main thread (record texts, error messages, as they arrive chunk
 * by chunk, until the pulse has committed) get ENGINE_OUTPUT_SHARE of M, and a pulse starts
 * only while the running pulses' outputs (observed, or projected from the run's bytes per EU)
 * plus its own projection fit it. Before, pulses were admitted by the size of their INPUTS
 * alone: with 16 KB outputs per EU every one of `maxPulsesInFlight` pulses started at once. The
 * cut (and so every output, digest and manifest entry) does not depend on it.
 *
 * The runs use `--id-field` ids chosen so that every partition gets exactly 512 records: every
 * pulse is full, so the projection of each is the same and the admitted count is exact.
 */
import { afterAll, describe, expect, it } from "vitest";
import { run, ENGINE_OUTPUT_SHARE } from "../../src/batch/engine.js";
import { PulseScheduler, type ScheduledPulse } from "../../src/batch/scheduler.js";
import { partitionOf } from "../../src/batch/partition.js";
import { resultsHeldBytes } from "../../src/batch/sandbox/pool.js";
import type { EURecord } from "../../src/batch/input/types.js";
import type { Digest } from "../../src/core/digest.js";
import type { Store } from "../../src/store/store.js";
import { Scratch, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const MIB = 1024 * 1024;
const PARTITIONS = 8;
const PER_PARTITION = 512;
/** Returns a 16 KB string per EU. */
const BIG_OUTPUT = { code: 'const pad = "y".repeat(16 * 1024);\nexport default (x) => pad + x.k;\n', name: "big-output.mjs" };
/** Throws a 16 KB message per EU (the worker keeps its first 4096 characters). */
const BIG_ERROR = { code: 'const pad = "x".repeat(16 * 1024);\nexport default (x) => { throw new Error(pad + x.k); };\n', name: "big-error.mjs" };

/** `{k}` records whose ids fill each of the PARTITIONS partitions with exactly PER_PARTITION records. */
function evenRecords(): Array<{ k: number }> {
  const count = new Array<number>(PARTITIONS).fill(0);
  const out: Array<{ k: number }> = [];
  for (let k = 0; out.length < PARTITIONS * PER_PARTITION; k++) {
    const p = partitionOf(k, PARTITIONS);
    if ((count[p] as number) >= PER_PARTITION) continue;
    count[p] = (count[p] as number) + 1;
    out.push({ k });
  }
  return out;
}

interface Report {
  peakPulsesRunning: number;
  peakOutputBytes: number;
}

function reportOf(store: Store, runId: string): Report {
  const root = store.findRoot(`run:${runId}:report`);
  return JSON.parse(store.get(root?.digest as Digest).toString("utf8")) as Report;
}

const pulsesOf = (store: Store, runId: string): unknown[] =>
  manifestOf(store, runId).pulses.map((p) => ({ partition: p.partition, index: p.index, eus: p.eus, checksum: p.checksum, records: p.records }));

describe("outputs of running pulses are bounded by the output share of --max-memory", () => {
  const input = scratch.jsonl(evenRecords());

  it("16 KB outputs under 64 MiB: pulses run one at a time, holding at most the budget; outputs and pulses as under 512 MiB", async () => {
    const { store } = scratch.store();
    const base = { idField: "k", partitions: PARTITIONS, pulseSize: 256, workers: 2, maxPulsesInFlight: 8 };
    const small = await run(store, input, BIG_OUTPUT, { ...base, maxMemoryBytes: 64 * MIB });
    expect(small.status).toBe("completed");
    expect(small.counts.total).toBe(PARTITIONS * PER_PARTITION);
    const budget = Math.floor(64 * MIB * ENGINE_OUTPUT_SHARE); // 6.4 MiB
    const r = reportOf(store, small.runId);
    // A pulse holds 256 record texts of ~16.4 KB (~4.2 MB): a second one would not fit.
    expect(r.peakOutputBytes).toBeGreaterThanOrEqual(256 * 16 * 1024);
    expect(r.peakOutputBytes).toBeLessThanOrEqual(budget);
    expect(r.peakPulsesRunning).toBe(1);

    // Under 512 MiB the same pulses run up to maxPulsesInFlight at once: admission adapts, the
    // cut does not (same output digest, same pulses with the same checksums and records).
    const large = await run(store, input, BIG_OUTPUT, { ...base, maxMemoryBytes: 512 * MIB });
    expect(reportOf(store, large.runId).peakPulsesRunning).toBeGreaterThan(1);
    expect(large.outputDigest).toBe(small.outputDigest);
    expect(pulsesOf(store, large.runId)).toEqual(pulsesOf(store, small.runId));
  });

  it("16 KB error messages with 2 retries: each failure is projected with its retries, so at most the budget is held", async () => {
    const { store } = scratch.store();
    // Per EU 3 attempts × (record text + message, ~4.1 KB each) ≈ 24.7 KB; a pulse of 128 ≈
    // 3.2 MB: two fit the 6.4 MiB budget, three would not.
    const res = await run(store, input, BIG_ERROR, {
      idField: "k", partitions: PARTITIONS, pulseSize: 128, workers: 2, maxPulsesInFlight: 8, retries: 2, allowFailures: true, maxMemoryBytes: 64 * MIB,
    });
    expect(res.counts).toEqual({ total: PARTITIONS * PER_PARTITION, completed: 0, failed: PARTITIONS * PER_PARTITION, retried: PARTITIONS * PER_PARTITION });
    const r = reportOf(store, res.runId);
    expect(r.peakOutputBytes).toBeGreaterThanOrEqual(128 * 3 * 2 * 4096);
    expect(r.peakOutputBytes).toBeLessThanOrEqual(Math.floor(64 * MIB * ENGINE_OUTPUT_SHARE));
    expect(r.peakPulsesRunning).toBe(2);
  });
});

describe("resultsHeldBytes", () => {
  it("counts record texts, failures' messages besides their texts, and bytes outputs with their base64 text", () => {
    expect(resultsHeldBytes([{ id: 1, ok: true, bytes: false, json: '"ab"', text: '{"id":1,"output":"ab"}' }])).toBe(22);
    expect(resultsHeldBytes([{ id: 1, ok: true, bytes: false, json: '"ab"' }])).toBe(8); // no text yet: the commit makes one
    const failure = { id: 2, ok: false as const, error: { code: "E_EU_THREW", message: "boom", name: "Error" }, text: '{"error":{"code":"E_EU_THREW","message":"boom"},"id":2}' };
    expect(resultsHeldBytes([failure])).toBe(failure.text.length + 4);
    expect(resultsHeldBytes([{ id: 3, ok: true, bytes: true, output: new Uint8Array(10) }])).toBe(10 + 16);
    expect(resultsHeldBytes([failure, { id: 3, ok: true, bytes: true, output: new Uint8Array(10) }], true)).toBe(failure.text.length + 4);
  });
});

describe("PulseScheduler output admission", () => {
  const limits = { partitions: 4, pulseSize: 2, maxPulsesInFlight: 4, bufferBudgetBytes: 1e9, pulseBudgetBytes: 1e9, inFlightBudgetBytes: 1e9, outputBudgetBytes: 1000 };
  const record = (i: number): EURecord => ({ id: i, input: i, inputSize: 1, index: i, source: { file: "t", line: i + 1 } }) as EURecord;

  /** A scheduler whose pulses settle when the test says so; `started` lists them in start order. */
  function harness(l = limits) {
    const started: ScheduledPulse[] = [];
    const settle = new Map<ScheduledPulse, () => void>();
    const s = new PulseScheduler(l, (p) => {
      started.push(p);
      return new Promise<void>((res) => settle.set(p, res));
    });
    const done = async (p: ScheduledPulse): Promise<void> => {
      settle.get(p)?.();
      await new Promise((r) => setImmediate(r));
    };
    /** Settles every pulse, those it lets start included, and finishes. */
    const rest = async (): Promise<void> => {
      for (let i = 0; i < started.length; i++) await done(started[i] as ScheduledPulse);
      await s.finish();
    };
    return { s, started, done, rest };
  }

  /** Records of partitions 0..3, two each: four full pulses, cut in partition order of their second record. */
  function fourPulses(): EURecord[] {
    const byPart: EURecord[][] = [[], [], [], []];
    for (let i = 0; byPart.some((b) => b.length < 2); i++) {
      const b = byPart[partitionOf(i, 4)] as EURecord[];
      if (b.length < 2) b.push(record(i));
    }
    return byPart.flat();
  }

  it("starts one pulse until outputs are seen, then only those whose projection fits, and always one when none runs", async () => {
    const { s, started, done, rest } = harness();
    for (const r of fourPulses()) s.push(r);
    expect(started.length).toBe(1); // nothing is known of the outputs yet
    const first = started[0] as ScheduledPulse;
    s.addOutput(first, 300, 1); // 300 bytes per EU: a pulse of 2 projects 600
    expect(started.length).toBe(1); // 600 (the running one, projected) + 600 > 1000
    await done(first);
    expect(started.length).toBe(2);
    s.addOutput(started[1] as ScheduledPulse, 5000, 2); // alone over the budget: it runs anyway
    await done(started[1] as ScheduledPulse);
    expect(started.length).toBe(3); // nothing runs: one always starts (no deadlock)
    expect(s.stats).toEqual({ peakRunning: 1, peakOutputBytes: 5000 });
    await rest();
    expect(started.length).toBe(4);
  });

  it("with small outputs every pulse starts, up to maxPulsesInFlight", async () => {
    const { s, started, rest } = harness();
    const recs = fourPulses();
    for (const r of recs.slice(0, 2)) s.push(r);
    expect(started.length).toBe(1);
    s.addOutput(started[0] as ScheduledPulse, 20, 2); // 10 bytes per EU
    for (const r of recs.slice(2)) s.push(r);
    expect(started.length).toBe(4);
    expect(s.stats.peakRunning).toBe(4);
    await rest();
  });

  it("projects a failure with its retries, and learns from settled pulses", async () => {
    const { s, started, done, rest } = harness();
    for (const r of fourPulses()) s.push(r);
    const first = started[0] as ScheduledPulse;
    s.addOutput(first, 100, 1, 300); // 100 bytes held, 300 projected (two retries to come)
    expect(started.length).toBe(1); // 2 × 300 + 2 × 300 > 1000
    s.addOutput(first, 100, 1, 300);
    s.addOutput(first, 100, 1, 300);
    s.addOutput(first, 100, 1, 300);
    await done(first); // settled: 400 bytes over 2 EUs
    expect(started.length).toBe(2);
    await rest();
    expect(s.stats.peakRunning).toBe(1);
  });
});
