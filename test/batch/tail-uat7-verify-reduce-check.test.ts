/**
 * The verify report says whether the manifest's reduce value was checked (`reduceCheck`): plain
 * verify never folds the reduce again, and before, its report could not tell that from a run
 * without a reduce (`reduceRefolded` false in both).
 */
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { Scratch } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const DATA = Array.from({ length: 6 }, (_, v) => ({ v }));
const REDUCER = { code: "export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(acc, o) { return acc + o; }\n", name: "sum.mjs" };
const PLAIN = { code: "export default (x) => x.v;\n", name: "id.mjs" };

describe("verify's reduceCheck", () => {
  it("not_checked without --reexecute, refolded with it, none for a run without a reduce", async () => {
    const { store } = scratch.store();
    const withReduce = await run(store, DATA, REDUCER, { workers: 1 });
    expect(withReduce.reduce).toBe(15);
    const plain = await verifyRun(store, withReduce.runId);
    expect([plain.ok, plain.reduceRefolded, plain.reduceCheck]).toEqual([true, false, "not_checked"]);
    const rex = await verifyRun(store, withReduce.runId, { reexecute: true });
    expect([rex.ok, rex.reduceRefolded, rex.reduceCheck]).toEqual([true, true, "refolded"]);

    const without = await run(store, DATA, PLAIN, { workers: 1 });
    for (const reexecute of [false, true]) {
      const r = await verifyRun(store, without.runId, { reexecute });
      expect([r.ok, r.reduceRefolded, r.reduceCheck]).toEqual([true, false, "none"]);
    }
  });
});
