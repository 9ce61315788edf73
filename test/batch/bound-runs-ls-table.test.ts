/**
 * `runs ls` (the table) reads every run once, also past MAX_HELD_RUN_ROWS: the rows it cannot
 * hold go to a spill file in the OS temp directory, and the table is printed from the rows the
 * column widths were taken from. Before, more runs than it held were read twice (widths, then
 * printing), and a run that finished between the two readings was printed wider than its column.
 * Here a run "finishes" (its manifest is pinned) right after the listing has read every run.
 */
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { listRuns, type RunSummary } from "../../src/batch/runs.js";
import { MANIFEST_MEDIA_TYPE } from "../../src/batch/manifest.js";
import { manifestRoot, planRoot } from "../../src/batch/plan.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import type { Digest } from "../../src/core/digest.js";
import { printRunsTable } from "../../src/cli/batch-commands.js";
import { Output } from "../../src/cli/output.js";
import { Scratch, manifestOf, planRun } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());
afterEach(() => vi.restoreAllMocks());

class Sink {
  text = "";
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** The table of `runs` with every column as wide as its widest cell (what `runs ls` prints). */
function table(runs: RunSummary[]): string {
  const rows = [
    ["RUN", "STATE", "STATUS", "TOTAL/FAILED", "INPUT", "FUNCTION"],
    ...runs.map((s) => [s.runId, s.state, s.status ?? "-", s.counts === undefined ? "-" : `${s.counts.total}/${s.counts.failed}`, s.input, s.function]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length))) as number[];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join("  ")).join("\n") + "\n";
}

/** The spill files of this process left in the OS temp directory. */
function spills(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith(`cairn-runs-ls-${process.pid}-`));
}

/**
 * Makes `finish()` happen right after each complete reading of the runs (the end of
 * `iterateRoots` over the `run:` roots), once.
 */
function finishAfterFirstReading(store: Store, finish: () => void): () => number {
  const iterate = store.iterateRoots.bind(store);
  let readings = 0;
  vi.spyOn(store, "iterateRoots").mockImplementation(function* (opts) {
    yield* iterate(opts);
    if (readings++ === 0) finish();
  });
  return () => readings;
}

describe("runs ls reads every run once, also past the rows it holds", () => {
  it("a run finished right after the runs were read is printed as read, aligned; no spill file is left", async () => {
    for (const heldRows of [0, 1, 2, 10_000]) {
      const { store } = scratch.store();
      const done = await run(store, [1, 2, 3], { code: "export default (x) => x;\n", name: "a.mjs" }, { workers: 1, partitions: 1 });
      const planned = planRun(store, "b.mjs");
      planRun(store, "c.mjs", "[]\n");
      const before = listRuns(store);
      expect(before.map((s) => s.state)).toEqual(["completed", "incomplete", "incomplete"]);
      // The planned run "finishes" with counts wider than any cell of its column was.
      // (Its runId and plan are the planned run's: another run's manifest is refused, UAT u3 F3.)
      const plan = store.findRoot(planRoot(planned))?.digest as Digest;
      const m = { ...manifestOf(store, done.runId), runId: planned, plan, counts: { total: 1234567890123, completed: 0, failed: 1234567890123, retried: 0 } };
      const readings = finishAfterFirstReading(store, () => {
        store.pin(manifestRoot(planned), store.putBytes(canonicalBytes(m), { mediaType: MANIFEST_MEDIA_TYPE }).digest, "run");
      });
      const sink = new Sink();
      await printRunsTable(store, new Output({}, sink), heldRows);
      expect([heldRows, sink.text]).toEqual([heldRows, table(before)]);
      expect(readings()).toBe(1);
      expect(spills()).toEqual([]);
      // The next listing shows it finished, aligned too.
      const after = listRuns(store);
      expect(after[1]?.counts?.total).toBe(1234567890123);
      const again = new Sink();
      await printRunsTable(store, new Output({}, again), heldRows);
      expect(again.text).toBe(table(after));
    }
  }, 120_000);

  it("rows spilled past the held ones keep their order and bytes (multi-byte text across read chunks)", async () => {
    const { store } = scratch.store();
    // 40 planned runs with long, non-ASCII function names: 1.2 MB of rows, more than one read chunk (1 MiB).
    for (let i = 0; i < 40; i++) planRun(store, `fn-${i}-${"é😀".repeat(5000)}.mjs`);
    const expected = table(listRuns(store));
    for (const heldRows of [0, 7, 39, 40]) {
      const sink = new Sink();
      await printRunsTable(store, new Output({}, sink), heldRows);
      expect(sink.text).toBe(expected);
    }
    expect(spills()).toEqual([]);
  }, 120_000);
});
