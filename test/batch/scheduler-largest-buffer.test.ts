/**
 * The memory-budget cut takes the largest partial buffer, the lowest partition on ties. The
 * scheduler finds it with an indexed max-heap (`scheduler-heaps.ts`) instead of scanning all N
 * partitions per cut (O(N) per cut: a 100k-record run under `--partitions 65536` took 8.4 s
 * against 4.8 s with 8). Which buffer is cut decides the pulses (run ids, digests, resume), so
 * for random records, sizes, partition counts (up to 65536), budgets and pulse sizes
 * (fast-check) the scheduler's pulses — partition, index, record ids, bytes — must be those of
 * a reference of the cut rule (ARCHITECTURE §10.5) that keeps the old O(N) scan. And the heap
 * alone, under any sequence of updates (ties, decreases, any non-NaN sizes), tops what the
 * scan picks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LargestBufferHeap } from "../../src/batch/scheduler-heaps.js";
import type { EURecord } from "../../src/batch/input/types.js";
import { partitionOf } from "../../src/batch/partition.js";
import { PulseScheduler, type ScheduledPulse, type SchedulerLimits } from "../../src/batch/scheduler.js";

/** The old selection, verbatim: the first partition with strictly the most bytes. */
function scanLargest(bytes: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let p = 1; p < n; p++) if ((bytes[p] as number) > (bytes[best] as number)) best = p;
  return best;
}

interface Layout {
  partition: number;
  index: number;
  ids: unknown[];
  bytes: number;
}

/** The cut rule of `push` and `finish`, with the O(N) scan: every pulse, in cut order. */
function referenceCuts(records: EURecord[], l: SchedulerLimits): Layout[] {
  const n = l.partitions;
  const buffers: EURecord[][] = Array.from({ length: n }, () => []);
  const bytes = new Array<number>(n).fill(0);
  const pulseBytes = new Array<number>(n).fill(0);
  const next = new Array<number>(n).fill(0);
  const out: Layout[] = [];
  let buffered = 0;
  const cut = (p: number): void => {
    out.push({ partition: p, index: next[p] as number, ids: (buffers[p] as EURecord[]).map((r) => r.id), bytes: bytes[p] as number });
    next[p] = (next[p] as number) + 1;
    buffered -= bytes[p] as number;
    buffers[p] = [];
    bytes[p] = 0;
    pulseBytes[p] = 0;
  };
  for (const r of records) {
    const p = partitionOf(r.id, n);
    const size = r.inputSize as number;
    (buffers[p] as EURecord[]).push(r);
    bytes[p] = (bytes[p] as number) + size;
    pulseBytes[p] = (pulseBytes[p] as number) + Math.max(size, r.rawBytes ?? 0, r.inputJson?.length ?? 0);
    buffered += size;
    if ((buffers[p] as EURecord[]).length >= l.pulseSize || (pulseBytes[p] as number) >= l.pulseBudgetBytes) cut(p);
    while (buffered > l.bufferBudgetBytes) cut(scanLargest(bytes, n));
  }
  for (let p = 0; p < n; p++) if ((buffers[p] as EURecord[]).length > 0) cut(p);
  return out;
}

/** Runs the scheduler over `records` (pulses settle a few ticks after they start); returns every pulse it ran. */
async function schedulerPulses(records: EURecord[], l: SchedulerLimits): Promise<Layout[]> {
  const ran: Layout[] = [];
  const s = new PulseScheduler(l, async (p: ScheduledPulse) => {
    ran.push({ partition: p.partition, index: p.index, ids: p.records.map((r) => r.id), bytes: p.bytes });
    for (let k = 0; k < p.records.length % 3; k++) await Promise.resolve();
  });
  for (const r of records) if (!s.push(r)) await s.room();
  await s.finish();
  return ran;
}

const byPulse = (a: Layout, b: Layout): number => a.partition - b.partition || a.index - b.index;

/** Records with unique ids and sizes from a few multiples of 64 (so buffers often tie). */
const recordsArb = fc
  .array(fc.record({ id: fc.nat({ max: 10_000_000 }), unit: fc.integer({ min: 1, max: 4 }), raw: fc.option(fc.nat({ max: 2000 }), { nil: undefined }) }), { maxLength: 400 })
  .map((rs) => {
    const seen = new Set<number>();
    return rs
      .filter((r) => !seen.has(r.id) && seen.add(r.id))
      .map((r, i): EURecord => ({ id: r.id, index: i, input: r.id, inputSize: 64 * r.unit, rawBytes: r.raw, source: { file: "t", line: i + 1 } }) as EURecord);
  });

const limitsArb = fc.record({
  partitions: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 5000 }), fc.constantFrom(4096, 65536)),
  pulseSize: fc.integer({ min: 1, max: 12 }),
  maxPulsesInFlight: fc.integer({ min: 1, max: 8 }),
  bufferBudgetBytes: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 2000, max: 40_000 })),
  pulseBudgetBytes: fc.oneof(fc.integer({ min: 64, max: 3000 }), fc.constant(1e12)),
  inFlightBudgetBytes: fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constant(1e12)),
  outputBudgetBytes: fc.constant(1e12),
});

describe("PulseScheduler's memory-budget cut (largest buffer, lowest partition on ties)", () => {
  it("cuts exactly the pulses of the O(N) scan, for any records, partitions, budgets and pulse sizes", async () => {
    await fc.assert(
      fc.asyncProperty(recordsArb, limitsArb, async (records, limits) => {
        const want = referenceCuts(records, limits);
        const got = await schedulerPulses(records, limits);
        expect(got.length).toBe(want.length);
        expect([...got].sort(byPulse)).toEqual([...want].sort(byPulse));
      }),
      { numRuns: 150 },
    );
  });

  it("cuts by the budget mostly, with many ties, under 65536 partitions", async () => {
    // One-record buffers of equal size: every budget cut is a tie, won by the lowest partition.
    const records = Array.from({ length: 3000 }, (_, i): EURecord => ({ id: i, index: i, input: i, inputSize: 64, source: { file: "t", line: i + 1 } }) as EURecord);
    const limits: SchedulerLimits = { partitions: 65536, pulseSize: 256, maxPulsesInFlight: 4, bufferBudgetBytes: 64 * 50, pulseBudgetBytes: 1e12, inFlightBudgetBytes: 1e12, outputBudgetBytes: 1e12 };
    const want = referenceCuts(records, limits);
    const got = await schedulerPulses(records, limits);
    expect(want.filter((p) => p.ids.length === 1).length).toBeGreaterThan(2000);
    expect([...got].sort(byPulse)).toEqual([...want].sort(byPulse));
  });
});

describe("LargestBufferHeap", () => {
  it("tops what the scan picks after any sequence of updates (ties, decreases, any sizes)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true })), fc.boolean()), { maxLength: 300 }),
        (n, updates) => {
          const heap = new LargestBufferHeap(n);
          const bytes = new Array<number>(n).fill(0);
          expect(heap.top()).toBe(0);
          for (const [pick, v, adds] of updates) {
            const p = pick % n;
            // `add` (the per-record path) or `set` (a cut sets 0).
            if (adds) expect(heap.add(p, v)).toBe((bytes[p] = (bytes[p] as number) + v));
            else heap.set(p, (bytes[p] = v));
            expect(heap.get(p)).toBe(bytes[p]);
            expect(heap.top()).toBe(scanLargest(bytes, n));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
