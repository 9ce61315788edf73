/**
 * A CSV row reaches the function with its keys in the order every JSON input has: the EU's
 * input is its canonical JSON (RFC 8785: keys sorted by UTF-16 code units) parsed back, so a JS
 * object, whose integer-like keys (array indices, "0".."4294967294" written without leading
 * zeros) come first in numeric order and the others after in insertion — canonical — order.
 * Not header order: with the header `b,a,10,2`, `Object.keys(row)` is `["2","10","a","b"]`.
 * This pins that documented behaviour (ARCHITECTURE.md §10.15, README input formats): changing
 * it would change outputs and digests.
 */
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/batch/engine.js";
import { Scratch, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("CSV rows reach the function with keys in canonical order, integer-like keys first", () => {
  it("keys are not in header order", async () => {
    const fn = scratch.text("export default (row) => Object.keys(row);\n", "keys.mjs");
    const header = ["b", "a", "10", "2", "01", "B", "_", "é", "4294967295", "4294967294", "-1", "1.5", "\u{1F600}", "\uff61"];
    const csv = scratch.text(`${header.join(",")}\n${header.map((_, i) => String(i)).join(",")}\n`, "in.csv");
    const { store } = scratch.store();
    const r = await run(store, csv, fn, { format: "csv", workers: 1 });
    expect(r.status).toBe("completed");
    const [out] = await outputsOf(store, r.runId);
    expect(out?.output).toEqual([
      // array indices, numerically
      "2", "10", "4294967294",
      // then the rest in RFC 8785 order (UTF-16 code units: the emoji's surrogates sort before U+FF61)
      "-1", "01", "1.5", "4294967295", "B", "_", "a", "b", "é", "\u{1F600}", "\uff61",
    ]);
  });

  it("the same row as JSONL reaches the function with the same key order", async () => {
    const fn = scratch.text("export default (row) => Object.keys(row);\n", "keys.mjs");
    const csv = scratch.text("b,a,10,2\n1,2,3,4\n", "in.csv");
    const jsonl = scratch.jsonl([{ b: "1", a: "2", 10: "3", 2: "4" }]);
    const { store } = scratch.store();
    const a = await run(store, csv, fn, { format: "csv", workers: 1 });
    const b = await run(store, jsonl, fn, { workers: 1 });
    expect((await outputsOf(store, a.runId))[0]?.output).toEqual(["2", "10", "a", "b"]);
    expect((await outputsOf(store, b.runId))[0]?.output).toEqual(["2", "10", "a", "b"]);
  });
});
