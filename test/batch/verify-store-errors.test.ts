/**
 * verify blames its scratch database (E_STORE_IO naming TMPDIR) only for what the scratch
 * ordering index itself threw: a store read failing with a driver's own error (SQLITE_BUSY once
 * the catalog's busy timeout ran out, which the store passes on as it is) is thrown as it is, not
 * as "verify cannot use its scratch database … set TMPDIR" (as it was before 2026-11-27).
 */
import Database from "better-sqlite3";
import { afterAll, describe, expect, it, vi } from "vitest";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("verify and the store's own driver errors", () => {
  it("a records artifact whose read fails with SQLITE_BUSY: that error, not the scratch database's", async () => {
    const { store } = scratch.store();
    const r = await run(store, [1, 2, 3], { code: "export default (x) => x;\n", name: "f.mjs" }, { partitions: 1, pulseSize: 3 });
    const records = manifestOf(store, r.runId).pulses[0]?.records as Digest;
    const busy = new Database.SqliteError("database is locked", "SQLITE_BUSY");
    const openReader = store.openReader.bind(store);
    vi.spyOn(store, "openReader").mockImplementation((d, o) => {
      if (d === records) throw busy;
      return openReader(d, o);
    });
    await expect(verifyRun(store, r.runId)).rejects.toBe(busy);
  });
});
