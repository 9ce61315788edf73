/**
 * A damaged catalog through the CLI: no `meta` table, a truncated file. Every command — a
 * reader, `fsck` (a writer) — refuses it with E_STORE_CORRUPT and exit 1, and nothing
 * "repairs" it on the way.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { cairn, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;
let catalog: string;

function run(args: string[], input?: string): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
  catalog = join(store, "catalog.sqlite");
  expect(run(["init"]).status).toBe(0);
});
afterEach(() => temps.cleanup());

describe("a catalog whose meta table is gone", () => {
  it("fsck and readers exit 1 with E_STORE_CORRUPT, every time (fsck never repairs it)", () => {
    expect(run(["store", "put", "-"], "hi\n").status).toBe(0);
    const db = new Database(catalog);
    db.exec("DROP TABLE meta");
    db.close();
    for (let round = 0; round < 2; round++) {
      const fsck = run(["fsck"]);
      expect(fsck.status).toBe(1);
      expect(fsck.err).toMatch(new RegExp(`^cairn: catalog ${catalog} has no meta table[^\\n]*\\[E_STORE_CORRUPT\\]\\n$`));
      const fsckJson = run(["--json", "fsck"]);
      expect(fsckJson.status).toBe(1);
      expect((JSON.parse(fsckJson.err) as { error: { code: string } }).error.code).toBe("E_STORE_CORRUPT");
      const ls = run(["store", "ls"]);
      expect(ls.status).toBe(1);
      expect(ls.err).toContain("[E_STORE_CORRUPT]");
      expect(run(["store", "put", "-"], "more\n").status).toBe(1);
    }
  });
});

describe("a truncated catalog", () => {
  it("is E_STORE_CORRUPT naming the catalog (not E_STORE_IO), for fsck and readers", () => {
    for (let i = 0; i < 6; i++) expect(run(["store", "put", "-"], `artifact ${i} ${"x".repeat(20000 + i)}\n`).status).toBe(0);
    expect(statSync(catalog).size).toBeGreaterThan(8192);
    truncateSync(catalog, 4096);
    for (const args of [["fsck"], ["store", "ls"]]) {
      const r = run(args);
      expect(r.status).toBe(1);
      expect(r.err).toMatch(new RegExp(`^cairn: catalog ${catalog} is corrupt: [^\\n]*\\[E_STORE_CORRUPT\\]\\n$`));
    }
  });
});
