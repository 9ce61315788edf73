/**
 * The batch engine's scratch databases (the ordering index, verify's input coverage) keep their
 * rollback journal in memory. They asked for `journal_mode = OFF`, which better-sqlite3's
 * defensive mode refuses without an error, so they ran with a `-journal` file on disk (and a
 * killed verify left one in the temp directory) while ARCHITECTURE.md said "journal off".
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OrderIndex, openScratchDatabase } from "../../src/batch/order-index.js";
import { LeafSpill } from "../../src/batch/merge.js";
import { isCairnError } from "../../src/core/errors.js";
import { removeExitTemps } from "../../src/store/temp-files.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-scratchdb-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("scratch databases", () => {
  it("run with the journal in memory: no -journal file while a transaction is open", () => {
    const path = join(dir, "a.sqlite");
    const db = openScratchDatabase(path, 1024);
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("memory");
      db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
      db.exec("BEGIN");
      const ins = db.prepare("INSERT INTO t VALUES (?, ?)");
      for (let i = 0; i < 5000; i++) ins.run(i, "x".repeat(100));
      expect(existsSync(`${path}-journal`)).toBe(false);
      db.exec("ROLLBACK"); // the in-memory journal still rolls back
      expect(db.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });

  it("the ordering index uses it (only its own file in the directory)", () => {
    const path = join(dir, "b.order.sqlite");
    const index = new OrderIndex(path, false);
    try {
      expect(readdirSync(dir).filter((n) => n.startsWith("b.order"))).toEqual(["b.order.sqlite"]);
    } finally {
      index.close();
    }
  });

  it("scratch files whose folder is gone are E_STORE_IO naming them (the ordering index threw the driver's bare TypeError), and are not left registered for removal at exit", () => {
    const gone = join(dir, "no-such-folder");
    for (const [make, path, what] of [
      [() => new OrderIndex(join(gone, "x.order.sqlite"), true), join(gone, "x.order.sqlite"), "ordering index"],
      [() => new LeafSpill(join(gone, "x.leaves")), join(gone, "x.leaves"), "leaf spill"],
    ] as const) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err) && err.code, String(err)).toBe("E_STORE_IO");
      expect((err as Error).message.startsWith(`cannot write the run's ${what} ${path}: `), String(err)).toBe(true);
      // Created afterwards by someone else: the exit hook must not remove it.
      mkdirSync(gone, { recursive: true });
      writeFileSync(path, "someone else's");
      removeExitTemps();
      expect(existsSync(path)).toBe(true);
      rmSync(gone, { recursive: true, force: true });
    }
  });
});
