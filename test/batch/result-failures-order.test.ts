/**
 * A run's `failures` list has one key order — `{id, code, message}` — whether the run executed
 * or had already completed (`reused`): before 2026-11-28 a reused run's list came from the
 * manifest's canonical JSON, `{code, id, message}`, so `cairn run --json` printed the same
 * failures with another key order the second time (a crash-and-resume stress test's finding).
 */
import { afterAll, describe, expect, it } from "vitest";
import { run, resume } from "../../src/batch/engine.js";
import { Scratch } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("the failures of a run's result", () => {
  it("keep the key order id, code, message on a fresh run, a reused run and a resume of a finished run", async () => {
    const { store } = scratch.store();
    const code = 'export default (x) => { if (x % 2 === 1) throw new Error("odd " + x); return x; };';
    const config = { workers: 1, partitions: 2, retries: 0, allowFailures: true };
    const first = await run(store, [0, 1, 2, 3], { code, name: "odd.mjs" }, config);
    const again = await run(store, [0, 1, 2, 3], { code, name: "odd.mjs" }, config);
    const resumed = await resume(store, first.runId);
    expect(first.reused).toBe(false);
    expect(again.reused).toBe(true);
    const text = '[{"id":1,"code":"E_EU_THREW","message":"odd 1"},{"id":3,"code":"E_EU_THREW","message":"odd 3"}]';
    expect(JSON.stringify(first.failures)).toBe(text);
    expect(JSON.stringify(again.failures)).toBe(text);
    expect(JSON.stringify(resumed.failures)).toBe(text);
  });
});
