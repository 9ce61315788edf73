/**
 * Many tiny pulses (2026-11-28): a run of 100 000 records under `--partitions 65536` makes about
 * 51 000 pulses of one or two EUs, and each paid a store transaction of its own or shared it
 * with the one to three others in flight (the group commit took only the pulses that finished
 * in one event-loop turn, and a pulse held its `maxPulsesInFlight` slot until its commit): the
 * commit (and, with full durability, its fsync) was most of the main thread's work per pulse.
 * Now a pulse that has executed frees its slot while it awaits its commit (scheduler.ts
 * `executed`), and queued commits wait for more to join while every slot executes
 * (group-commit.ts `canWait`, `commitUrgent`), so up to GROUP_COMMIT_MAX pulses share one.
 *
 * Counted, never timed: the transactions of a scheduler and committer driving 200 one-EU pulses
 * (each "executes" in one tick), and, through the engine, that a transaction holds more than one
 * pulse even with one pulse in flight. What is stored never depends on it: the same output
 * digest, records and pulse checksums for any partition count, pulse size and grouping.
 */
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/batch/engine.js";
import { GroupCommitter, GROUP_COMMIT_MAX } from "../../src/batch/group-commit.js";
import { PulseScheduler, type ScheduledPulse } from "../../src/batch/scheduler.js";
import { verifyRun } from "../../src/batch/verify.js";
import type { EURecord } from "../../src/batch/input/types.js";
import type { Store } from "../../src/store/store.js";
import { Scratch, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const record = (id: number): EURecord => ({ id, input: id, inputSize: 1, index: id, source: { file: "t", line: id + 1 } }) as EURecord;

/** A store whose only operation is `transaction`, counting the outermost ones and the pulses each holds. */
function countingStore(): { store: Store; groups: number[] } {
  const groups: number[] = [];
  let depth = 0;
  const store = {
    transaction<T>(fn: () => T): T {
      if (depth === 0) groups.push(0);
      else if (depth === 1) groups[groups.length - 1] = (groups[groups.length - 1] as number) + 1;
      depth++;
      try {
        return fn();
      } finally {
        depth--;
      }
    },
  };
  return { store: store as unknown as Store, groups };
}

interface Drive {
  groups: number[];
  committed: ScheduledPulse[];
  peakExecuting: number;
  starts: Array<{ pulse: ScheduledPulse; committedBefore: number }>;
}

/**
 * Runs `ids` through a scheduler and a group committer wired as engine.ts wires them: a pulse
 * executes for one tick, queues its commit, says `executed`, then awaits the commit.
 */
async function drive(ids: number[], partitions: number, maxPulsesInFlight: number, awaiting: number): Promise<Drive> {
  const { store, groups } = countingStore();
  const committed: ScheduledPulse[] = [];
  const starts: Drive["starts"] = [];
  let executing = 0;
  let peakExecuting = 0;
  // eslint-disable-next-line prefer-const -- assigned after the committer that reads it
  let scheduler: PulseScheduler;
  const committer = new GroupCommitter(store, () => !scheduler.commitUrgent());
  scheduler = new PulseScheduler(
    { partitions, pulseSize: 1000, maxPulsesInFlight, bufferBudgetBytes: 1e12, pulseBudgetBytes: 1e12, inFlightBudgetBytes: 1e12, outputBudgetBytes: 1e12, maxPulsesAwaitingCommit: awaiting },
    async (p) => {
      starts.push({ pulse: p, committedBefore: committed.length });
      executing++;
      peakExecuting = Math.max(peakExecuting, executing);
      scheduler.addOutput(p, 1, p.records.length);
      await new Promise<void>((res) => setImmediate(res)); // the worker
      executing--;
      const commit = committer.commit(() => {
        committed.push(p);
      });
      scheduler.executed(p);
      await commit;
    },
    () => committer.recheck(),
  );
  for (const id of ids) if (!scheduler.push(record(id))) await scheduler.room();
  await scheduler.finish();
  return { groups, committed, peakExecuting, starts };
}

describe("pulses awaiting their commit share a transaction", () => {
  // 200 ids in 200 distinct partitions of 65536: 200 one-EU pulses, cut at the end of the input.
  const ids = Array.from({ length: 200 }, (_, i) => i);

  it("200 one-EU pulses, 2 in flight: at most a handful of transactions, each pulse committed once, at most 2 executing", async () => {
    const d = await drive(ids, 65536, 2, GROUP_COMMIT_MAX);
    expect(d.committed).toHaveLength(200);
    expect(new Set(d.committed).size).toBe(200);
    expect(d.groups.reduce((a, b) => a + b, 0)).toBe(200);
    expect(d.peakExecuting).toBeLessThanOrEqual(2);
    expect(Math.max(...d.groups)).toBeLessThanOrEqual(GROUP_COMMIT_MAX);
    // Before: a pulse held its slot until committed, so a transaction held at most 2 (≥ 100 of them).
    expect(d.groups.length).toBeLessThanOrEqual(10);
  });

  it("without pulses awaiting their commit (maxPulsesAwaitingCommit 0) a transaction holds at most the pulses in flight", async () => {
    const d = await drive(ids, 65536, 2, 0);
    expect(d.committed).toHaveLength(200);
    expect(Math.max(...d.groups)).toBeLessThanOrEqual(2);
    expect(d.groups.length).toBeGreaterThanOrEqual(100);
  });

  it("a partition's next pulse starts only after its previous one has committed", async () => {
    // 60 one-EU pulses (pulseSize 1) over 3 partitions: each partition's pulses run one after another.
    const { store, groups } = countingStore();
    const committedAt = new Map<ScheduledPulse, number>();
    let commits = 0;
    const order: Array<{ partition: number; index: number; commitsBefore: number }> = [];
    // eslint-disable-next-line prefer-const -- assigned after the committer that reads it
    let scheduler: PulseScheduler;
    const committer = new GroupCommitter(store, () => !scheduler.commitUrgent());
    scheduler = new PulseScheduler(
      { partitions: 3, pulseSize: 1, maxPulsesInFlight: 2, bufferBudgetBytes: 1e12, pulseBudgetBytes: 1e12, inFlightBudgetBytes: 1e12, outputBudgetBytes: 1e12, maxPulsesAwaitingCommit: GROUP_COMMIT_MAX },
      async (p) => {
        order.push({ partition: p.partition, index: p.index, commitsBefore: commits });
        scheduler.addOutput(p, 1, 1);
        await new Promise<void>((res) => setImmediate(res));
        const commit = committer.commit(() => {
          commits++;
          committedAt.set(p, commits);
        });
        scheduler.executed(p);
        await commit;
      },
      () => committer.recheck(),
    );
    for (let id = 0; id < 60; id++) if (!scheduler.push(record(id))) await scheduler.room();
    await scheduler.finish();
    expect(commits).toBe(60);
    expect(groups.reduce((a, b) => a + b, 0)).toBe(60);
    for (const p of [0, 1, 2]) {
      const mine = order.filter((o) => o.partition === p);
      expect(mine.map((o) => o.index)).toEqual(mine.map((_, i) => i));
      // pulse k+1 of a partition starts after pulse k's commit: at least k+1 commits before it
      const pulsesOf = [...committedAt.entries()].filter(([q]) => q.partition === p).sort((a, b) => a[0].index - b[0].index);
      mine.forEach((o, k) => {
        if (k > 0) expect(o.commitsBefore).toBeGreaterThanOrEqual(pulsesOf[k - 1]?.[1] as number);
      });
    }
  });
});

describe("the engine: one-EU pulses share transactions, and what is stored does not change", () => {
  const input = scratch.jsonl(Array.from({ length: 300 }, (_, i) => ({ i })));
  const FN = { code: 'export default (x, ctx) => { if (x.i % 7 === 3) throw new Error("bad " + x.i); if (x.i % 11 === 5 && ctx.attempt === 1) throw new Error("flaky"); return x.i * 2; };\n', name: "f.mjs" };

  it("with one pulse in flight a transaction still holds several pulses; outputs identical across partitions and pulse sizes; verify passes", async () => {
    const { store } = scratch.store();
    // Count the pulses per outermost transaction (the group commit's savepoints are its direct children).
    const groups: number[] = [];
    let depth = 0;
    const transaction = store.transaction.bind(store);
    (store as unknown as { transaction: typeof transaction }).transaction = <T>(fn: () => T): T => {
      if (depth === 0) groups.push(0);
      else if (depth === 1) groups[groups.length - 1] = (groups[groups.length - 1] as number) + 1;
      depth++;
      try {
        return transaction(fn);
      } finally {
        depth--;
      }
    };
    const common = { retries: 1, allowFailures: true, workers: 1 };
    const many = await run(store, input, FN, { ...common, partitions: 4096, maxPulsesInFlight: 1 });
    const pulses = manifestOf(store, many.runId).pulses.length;
    expect(pulses).toBeGreaterThan(250);
    // Before: one pulse in flight held its slot until its commit, so every transaction held one.
    expect(Math.max(...groups)).toBeGreaterThan(1);
    expect(many.counts).toEqual({ total: 300, completed: 257, failed: 43, retried: 66 });
    const few = await run(store, input, FN, { ...common, partitions: 8 });
    const single = await run(store, input, FN, { ...common, partitions: 8, pulseSize: 1 });
    expect(few.outputDigest).toBe(many.outputDigest);
    expect(single.outputDigest).toBe(many.outputDigest);
    expect((await verifyRun(store, many.runId)).ok).toBe(true);
  });
});
