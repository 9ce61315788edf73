/**
 * The batch engine's scratch databases (the ordering index, verify's input coverage) keep their
 * rollback journal in memory. They asked for `journal_mode = OFF`, which better-sqlite3's
 * defensive mode refuses without an error, so they ran with a `-journal` file on disk (and a
 * killed verify left one in the temp directory) while ARCHITECTURE.md said "journal off".
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OrderIndex, openScratchDatabase } from "../../src/batch/order-index.js";

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
});
