/**
 * UAT 8 of 2026-11-28, the engine side (the CLI side: test/cli/uat8-batch-ux.test.ts):
 * - 2: the record-limit errors (a record refused by the engine, an output refused by the worker)
 *   state the real rule — a quarter of a worker's heap, which is --max-memory / 8 but at least
 *   32 MiB, at most 64 MiB — and advise a larger --max-memory only where it raises the limit
 *   (from 264MiB; for an output, the --max-memory that admits it). They said "--max-memory / 8: a
 *   larger --max-memory admits larger records" below 256 MiB too, where the limit stays 8 MiB.
 * - 4: an audit's E_NONDETERMINISTIC names the run (`run <id>: …`, details.runId) and says what a
 *   resume does; the plan is kept (E_NONDETERMINISTIC is not hopeless: a resume can pass).
 * - 6: a module exporting `initial` without `reduce` is refused at import (it was ignored).
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode } from "../../src/index.js";
import { resume, run } from "../../src/batch/engine.js";
import { listRuns } from "../../src/batch/runs.js";
import { recordLimitExplanation, workerInputBytes } from "../../src/batch/config.js";
import { Scratch, expectCairnError, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const MiB = 1024 * 1024;
const RULE = "a quarter of each worker's heap, which is --max-memory / 8 but at least 32 MiB";
const FLOOR = `(${RULE}: 8 MiB for every --max-memory below 264MiB; from 264MiB it is about --max-memory / 32, at most 64 MiB, reached from --max-memory 2GiB)`;

describe("the record size limit's explanation (item 2)", () => {
  it("is the heap's floor from 32MB to 263MiB, with no advice that does nothing there", () => {
    for (const mm of [32, 200, 256, 263]) {
      const limit = workerInputBytes({ maxMemoryBytes: mm * MiB });
      expect(limit).toBe(8 * MiB);
      expect(recordLimitExplanation(limit, "records")).toBe(FLOOR);
    }
  });

  it("above the floor a larger --max-memory raises it, up to the 64 MiB cap", () => {
    expect(workerInputBytes({ maxMemoryBytes: 264 * MiB })).toBe(8.25 * MiB);
    expect(recordLimitExplanation(workerInputBytes({ maxMemoryBytes: 300 * MiB }), "records")).toBe(
      `(${RULE}: about --max-memory / 32, at most 64 MiB, reached from --max-memory 2GiB; a larger --max-memory admits larger records)`,
    );
    for (const mm of [2048, 4096]) {
      expect(recordLimitExplanation(workerInputBytes({ maxMemoryBytes: mm * MiB }), "outputs")).toBe(
        `(${RULE}, and at most 64 MiB, reached from --max-memory 2GiB: no --max-memory admits larger outputs)`,
      );
    }
  });

  it("with the refused size, names the --max-memory that admits it, or says none does", () => {
    // 9 MiB + 2 needs a 37 MiB heap (its quarter 9.25 MiB): --max-memory 296MiB.
    expect(recordLimitExplanation(8 * MiB, "outputs", 9 * MiB + 2)).toBe(`(--max-memory 296MiB or more admits it: the limit is ${RULE}, and at most 64 MiB, reached from --max-memory 2GiB)`);
    expect(workerInputBytes({ maxMemoryBytes: 296 * MiB })).toBeGreaterThanOrEqual(9 * MiB + 2);
    expect(workerInputBytes({ maxMemoryBytes: 295 * MiB })).toBeLessThan(9 * MiB + 2);
    expect(recordLimitExplanation(8 * MiB, "outputs", 70 * MiB)).toBe(`(no --max-memory admits it: the limit is ${RULE}, and at most 64 MiB, reached from --max-memory 2GiB)`);
  });

  it("a record over the limit under --max-memory 200MB: the engine's error", async () => {
    const { store, dir } = scratch.store();
    const input = join(dir, "big.lines");
    writeFileSync(input, `a\n${"y".repeat(9 * MiB)}\n`);
    await expectCairnError(
      run(store, input, { code: "export default (x) => x.length;\n", name: "len.mjs" }, { format: "lines", maxMemoryBytes: 200 * MiB }),
      ErrorCode.LIMIT_EXCEEDED,
      `${input}:2: record 1: line is longer than the record size limit of 8388608 bytes ${FLOOR}`,
    );
  });

  it("an output over the limit under --max-memory 200MB: the worker's failure names the --max-memory that admits it", async () => {
    const { store } = scratch.store();
    const r = await run(store, [0], { code: `export default () => "x".repeat(${9 * MiB});\n`, name: "big-out.mjs" }, { workers: 1, retries: 0, allowFailures: true, maxMemoryBytes: 200 * MiB });
    expect(r.failures).toEqual([
      {
        id: 0,
        code: ErrorCode.LIMIT_EXCEEDED,
        message: `output is ${9 * MiB + 2} bytes (its JSON text), more than the 8388608-byte limit of a record (--max-memory 296MiB or more admits it: the limit is ${RULE}, and at most 64 MiB, reached from --max-memory 2GiB)`,
      },
    ]);
    // And it does.
    const ok = await run(store, [0], { code: `export default () => "x".repeat(${9 * MiB});\n`, name: "big-out.mjs" }, { workers: 1, retries: 0, maxMemoryBytes: 296 * MiB });
    expect(ok.counts).toMatchObject({ completed: 1, failed: 0 });
  }, 60_000);
});

describe("an audit's E_NONDETERMINISTIC names the run (item 4)", () => {
  it("run <id>: …, details.runId, what a resume does; the plan is kept and a resume says the same", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 40 }, (_, i) => i);
    const layout = { partitions: 1, pulseSize: 10, workers: 1, auditRate: 1 };
    const err = await expectCairnError(run(store, data, fixture("engine-counter.mjs"), layout), ErrorCode.NONDETERMINISTIC, /found a nondeterministic result at EU \d+/);
    const runs = listRuns(store);
    expect(runs).toHaveLength(1);
    const runId = runs[0]?.runId as string;
    expect(runs[0]?.state).toBe("incomplete"); // kept: not hopeless
    expect(err.message.startsWith(`run ${runId}: audit of pulse 0/`)).toBe(true);
    expect(err.message.endsWith(
      `\nThe function gave different results for the same input (state kept between calls, such as a module-level counter, or a race). Fix it, which makes another run; cairn resume ${runId} executes the pulse again and fails the same way unless the difference does not repeat`,
    )).toBe(true);
    expect(err.details).toMatchObject({ runId, partition: 0 });
    // The diff's lines are kept as they were.
    expect(err.message).toMatch(/\n {2}run: +\{.*\}\n {2}audit: +\{.*\}\n/);

    const again = await expectCairnError(resume(store, runId), ErrorCode.NONDETERMINISTIC, `run ${runId}: audit of pulse 0/`);
    expect(again.details.runId).toBe(runId);
    expect(again.message.split(`run ${runId}:`)).toHaveLength(2); // named once
  }, 60_000);
});

describe("initial without reduce is refused at import (item 6)", () => {
  const refused = (name: string, hint = ""): string =>
    `module ${name} exports "initial" but no "reduce" function: export function reduce(acc, output) to fold the outputs, or remove "initial"${hint}`;

  it("a BigInt initial and no reduce", async () => {
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, [1, 2], { code: "export const initial = 10n;\nexport default (x) => 1;\n", name: "i1.mjs" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(refused("i1.mjs"));
    expect(listRuns(store)).toEqual([]); // unpinned as hopeless, as a module without a default export
  });

  it("a misspelled reducer is named", async () => {
    const { store } = scratch.store();
    const code = "export const initial = 0;\nexport default (x) => 1;\nexport function reducer(a, o) { return a + o; }\n";
    const err = await expectCairnError(run(store, [1, 2], { code, name: "i2.mjs" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(refused("i2.mjs", ' (it exports a function "reducer": did you mean "reduce"?)'));
  });

  it("an undefined initial, or a reduce beside it, is accepted as before", async () => {
    const { store } = scratch.store();
    const a = await run(store, [1, 2], { code: "export let initial;\nexport default (x) => 1;\n", name: "i3.mjs" });
    expect(a.counts).toMatchObject({ completed: 2 });
    expect("reduce" in a).toBe(false);
    const b = await run(store, [1, 2], { code: "export const initial = 5;\nexport default (x) => 1;\nexport function reduce(a, o) { return a + o; }\n", name: "i4.mjs" });
    expect(b.reduce).toBe(7);
  });
});
