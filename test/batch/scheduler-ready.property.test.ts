/**
 * The scheduler walks only the partitions with a queued pulse (`ready`, ascending), not all N at
 * every settle (a run under `--partitions 65536` spent 14% of its CPU in that scan). For random
 * partition counts, pulse sizes, bounds, records and settle orders (fast-check), against a model
 * of the rule in ARCHITECTURE §10.6: every cut pulse starts exactly once, a partition's pulses
 * start in index order and one at a time, at most `maxPulsesInFlight` run, and whenever pulses
 * start they are — in start order — the oldest queued pulses of the idle partitions in
 * ascending partition order, as many as the free slots allow (outputs fit the budget here, so
 * only the first pulse of the run waits alone, for a settle or for its first results). A pulse
 * may report results from inside its start, as a reused pulse does (engine.ts): the scheduler
 * then starts more pulses from within that start (a nested walk), with the same outcome.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PulseScheduler, type ScheduledPulse } from "../../src/batch/scheduler.js";
import { partitionOf } from "../../src/batch/partition.js";
import type { EURecord } from "../../src/batch/input/types.js";

const record = (id: number): EURecord => ({ id, input: id, inputSize: 1, index: id, source: { file: "t", line: id + 1 } }) as EURecord;

describe("PulseScheduler walks the queued partitions in order", () => {
  it("starts what a walk over every partition would start, for any layout and settle order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 60 }).map((ids) => [...new Set(ids)]),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        async (partitions, pulseSize, maxInFlight, ids, picks, reportOnStart) => {
          const running: ScheduledPulse[] = [];
          const settlers = new Map<ScheduledPulse, () => void>();
          const started: ScheduledPulse[] = [];
          const s = new PulseScheduler(
            { partitions, pulseSize, maxPulsesInFlight: maxInFlight, bufferBudgetBytes: 1e12, pulseBudgetBytes: 1e12, inFlightBudgetBytes: 1e12, outputBudgetBytes: 1e12 },
            (p) => {
              started.push(p);
              running.push(p);
              const settled = new Promise<void>((res) => settlers.set(p, res));
              // A reused pulse reports its records at once, before its start returns.
              if (reportOnStart) s.addOutput(p, 1, p.records.length);
              return settled;
            },
          );
          // The model: per partition, the cut pulses not yet started (FIFO), and which run.
          const queued = new Map<number, number[]>();
          const busy = new Set<number>();
          const cut: Array<{ partition: number; index: number }> = [];
          let seen = false; // a pulse settled, or results were reported
          const counts = new Map<number, number>();
          const expectStarts = (before: number): void => {
            // What the rule starts now: walking partitions in order, the idle ones' oldest pulses.
            const want: string[] = [];
            const free = (): number => maxInFlight - busy.size;
            for (const p of [...queued.keys()].sort((a, b) => a - b)) {
              if (free() <= 0 || (!seen && busy.size > 0)) break;
              const q = queued.get(p) as number[];
              if (busy.has(p) || q.length === 0) continue;
              want.push(`${p}/${q.shift() as number}`);
              busy.add(p);
              if (reportOnStart) seen = true;
              if (q.length === 0) queued.delete(p);
            }
            expect(started.slice(before).map((x) => `${x.partition}/${x.index}`)).toEqual(want);
          };
          const onCut = (p: number): void => {
            const k = counts.get(p) ?? 0;
            counts.set(p, k + 1);
            cut.push({ partition: p, index: k });
            const q = queued.get(p) ?? [];
            q.push(k);
            queued.set(p, q);
          };
          const buffered = new Map<number, number>();
          let pick = 0;
          const settleOne = async (): Promise<void> => {
            const i = (picks[pick++ % picks.length] as number) % running.length;
            const p = running.splice(i, 1)[0] as ScheduledPulse;
            const before = started.length;
            busy.delete(p.partition);
            seen = true;
            (settlers.get(p) as () => void)();
            await new Promise((r) => setImmediate(r));
            expectStarts(before);
          };
          for (const id of ids) {
            const p = partitionOf(id, partitions);
            const n = (buffered.get(p) ?? 0) + 1;
            const before = started.length;
            const full = !s.push(record(id));
            if (n === pulseSize) {
              buffered.set(p, 0);
              onCut(p);
            } else buffered.set(p, n);
            expectStarts(before);
            if (full) {
              // Backpressure: settle running pulses until the scheduler takes records again.
              let roomy = false;
              const room = s.room().then(() => {
                roomy = true;
              });
              await new Promise((r) => setImmediate(r));
              while (!roomy && running.length > 0) await settleOne();
              await room;
            }
          }
          const before = started.length;
          const finished = s.finish();
          for (const [p, n] of [...buffered].sort((a, b) => a[0] - b[0])) if (n > 0) onCut(p);
          expectStarts(before);
          while (running.length > 0) await settleOne();
          await finished;
          expect(started.map((x) => `${x.partition}/${x.index}`).sort()).toEqual(cut.map((x) => `${x.partition}/${x.index}`).sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
