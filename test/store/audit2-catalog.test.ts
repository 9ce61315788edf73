/**
 * Audit 2, the catalog:
 * - a store whose catalog.sqlite was emptied or deleted is E_STORE_CORRUPT for every opener
 *   (writers, fsck, readers), naming the file, and nothing creates it again; only creating a store
 *   (no FORMAT file yet) creates a catalog, and FORMAT is written last, so a killed init is
 *   finished by the next writer;
 * - one damaged catalog page is E_STORE_CORRUPT (never E_INTERNAL) for readers and writers, and
 *   fsck still runs and reports it as sqlite_integrity, even when it stopped crash recovery.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore } from "../../src/index.js";
import { SCHEMA_V1 } from "../../src/store/schema.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn, expectCairnAsync } from "./helpers.js";
import { cairn } from "../cli/helpers.js";

afterEach(() => removeTempDirs());



/** A store with small and large artifacts and a snapshot, closed. */
function usedStore(): { dir: string; catalog: string } {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  for (let i = 0; i < 3; i++) s.putBytes(Buffer.from(`artifact ${i}`));
  s.putBytes(Buffer.alloc(100_000, 7));
  s.createSnapshot("before");
  s.close();
  return { dir, catalog: join(dir, "catalog.sqlite") };
}

const FORMAT_TEXT = '{"format":"cairn-store","version":1}\n';

describe("a store whose catalog was emptied or deleted", () => {
  it("emptied (0 bytes): every opener is E_STORE_CORRUPT naming it, and it stays empty (fsck never repairs)", async () => {
    const { dir, catalog } = usedStore();
    truncateSync(catalog, 0);
    const message = `catalog ${catalog} is empty: it holds no tables (emptied or replaced?); a store's catalog is created only with the store, never again (restore it from a backup; a store that never held anything, such as one an older Cairn's init left when killed before its catalog, can be removed and made again with cairn init)`;
    for (const opts of [{ dir }, { dir, readOnly: true }, { dir, create: false }, { dir }]) {
      const e = expectCairn(() => openStore(opts), ErrorCode.STORE_CORRUPT);
      expect(e.message).toBe(message);
      expect(e.details).toEqual({ path: catalog });
    }
    expect(statSync(catalog).size).toBe(0);
  });

  it("deleted (with its -wal and -shm): every opener is E_STORE_CORRUPT naming it, and no catalog appears", () => {
    const { dir, catalog } = usedStore();
    for (const f of readdirSync(dir)) if (f.startsWith("catalog.sqlite")) rmSync(join(dir, f));
    const message = `catalog ${catalog} is missing (deleted?); a store's catalog is created only with the store, never again (restore it from a backup; a store that never held anything, such as one an older Cairn's init left when killed before its catalog, can be removed and made again with cairn init)`;
    for (const opts of [{ dir }, { dir, readOnly: true }, { dir, lockTimeoutMs: 0 }]) {
      const e = expectCairn(() => openStore(opts), ErrorCode.STORE_CORRUPT);
      expect(e.message).toBe(message);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith("catalog.sqlite"))).toEqual([]);
  });

  it("CLI: fsck, init, put and ls exit 1 with E_STORE_CORRUPT, and a reader still finds it empty afterwards", () => {
    const { dir, catalog } = usedStore();
    truncateSync(catalog, 0);
    for (const args of [["fsck"], ["init"], ["store", "put", "-"], ["store", "ls"], ["fsck"]]) {
      const r = cairn(["--store", dir, ...args], { cwd: dir, input: "x" });
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.out).toBe("");
      expect(r.err).toBe(
        `cairn: catalog ${catalog} is empty: it holds no tables (emptied or replaced?); a store's catalog is created only with the store, never again (restore it from a backup; a store that never held anything, such as one an older Cairn's init left when killed before its catalog, can be removed and made again with cairn init) [E_STORE_CORRUPT]\n`,
      );
    }
    expect(statSync(catalog).size).toBe(0);
  });
});

describe("creating a store: FORMAT comes last, so a killed init is finished by the next writer", () => {
  function partialStore(): string {
    const dir = join(makeTempDir(), "store");
    mkdirSync(join(dir, "objects"), { recursive: true });
    mkdirSync(join(dir, "tmp"));
    return dir;
  }

  it("FORMAT is not written when the catalog cannot be created, and init succeeds once it can", () => {
    const dir = partialStore();
    const catalog = join(dir, "catalog.sqlite");
    mkdirSync(catalog); // SQLite cannot open a directory
    expectCairn(() => openStore({ dir }), ErrorCode.STORE_IO);
    expect(existsSync(join(dir, "FORMAT"))).toBe(false);
    // No FORMAT: still "no store" for a reader, not a store with a missing catalog.
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_MISSING);
    rmSync(catalog, { recursive: true });
    const s = openStore({ dir });
    s.close();
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
  });

  it("killed after the directories (and lock) were made: the next writer creates the store", () => {
    const dir = partialStore();
    writeFileSync(join(dir, "writer.lock"), "");
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_MISSING);
    const s = openStore({ dir });
    const d = s.putBytes(Buffer.from("after a killed init")).digest;
    s.close();
    const r = openStore({ dir, readOnly: true });
    expect(r.get(d).toString()).toBe("after a killed init");
    r.close();
  });

  it("killed with the catalog file created but empty, or with its schema committed: the next writer adopts it and writes FORMAT", async () => {
    for (const state of ["empty file", "schema and version"] as const) {
      const dir = partialStore();
      const catalog = join(dir, "catalog.sqlite");
      if (state === "empty file") writeFileSync(catalog, "");
      else {
        const db = new Database(catalog);
        db.pragma("journal_mode = WAL");
        db.exec(SCHEMA_V1);
        db.prepare("INSERT INTO meta(key, value) VALUES ('format_version', '1')").run();
        db.close();
      }
      expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_MISSING);
      const s = openStore({ dir });
      s.putBytes(Buffer.from(state));
      expect((await s.fsck()).problems).toEqual([]);
      s.close();
      expect(existsSync(join(dir, "FORMAT"))).toBe(true);
    }
  });

  it("a catalog that holds records but has no FORMAT file is refused, not adopted", () => {
    const { dir, catalog } = usedStore();
    rmSync(join(dir, "FORMAT"));
    const e = expectCairn(() => openStore({ dir }), ErrorCode.STORE_CORRUPT);
    expect(e.message).toBe(`catalog ${catalog} holds records but its store has no FORMAT file; refusing to adopt it`);
    expect(existsSync(join(dir, "FORMAT"))).toBe(false);
  });

  it("a killed init's FORMAT temp is not FORMAT: the next writer finishes the store", () => {
    const dir = partialStore();
    const db = new Database(join(dir, "catalog.sqlite"));
    db.exec(SCHEMA_V1);
    db.prepare("INSERT INTO meta(key, value) VALUES ('format_version', '1')").run();
    db.close();
    writeFileSync(join(dir, "FORMAT.999999999.0a0b0c0d0e0f.tmp"), FORMAT_TEXT.slice(0, 5));
    const s = openStore({ dir });
    expect(s.recovery).toEqual({ removed: 1, placed: 0, finishedSweeps: 0 });
    s.close();
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
  });
});

/** The page number (1-based) of an index or table's b-tree root. */
function rootPage(catalog: string, name: string): number {
  const db = new Database(catalog, { readonly: true });
  try {
    return (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = ?").get(name) as { rootpage: number }).rootpage;
  } finally {
    db.close();
  }
}

/** Overwrites one page of the catalog with garbage (the store must be closed: WAL checkpointed). */
function damagePage(catalog: string, page: number): void {
  const pageSize = 4096;
  const fd = openSync(catalog, "r+");
  try {
    writeSync(fd, Buffer.alloc(pageSize, 0xab), 0, pageSize, (page - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

function storeWithMany(): { dir: string; catalog: string; digests: string[] } {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  const digests: string[] = [];
  s.transaction(() => {
    for (let i = 0; i < 2000; i++) digests.push(s.putBytes(Buffer.from(`artifact number ${i} ${"z".repeat(i % 300)}`)).digest);
  });
  s.close();
  const catalog = join(dir, "catalog.sqlite");
  expect(existsSync(`${catalog}-wal`) ? statSync(`${catalog}-wal`).size : 0).toBe(0);
  return { dir, catalog, digests };
}

describe("a damaged catalog page", () => {
  it("that stops crash recovery: the writer opens, every operation but fsck is E_STORE_CORRUPT, fsck reports sqlite_integrity", async () => {
    const { dir, catalog } = storeWithMany();
    damagePage(catalog, rootPage(catalog, "artifacts_state")); // recovery's query for interrupted sweeps reads it
    const w = openStore({ dir });
    try {
      expect(w.recovery).toBeUndefined();
      const message = `catalog ${catalog} is corrupt: database disk image is malformed; run cairn fsck`;
      const e = expectCairn(() => w.putBytes(Buffer.from("new")), ErrorCode.STORE_CORRUPT);
      expect(e.message).toBe(message);
      expect(e.details).toEqual({ path: catalog, sqliteCode: "SQLITE_CORRUPT" });
      expect(expectCairn(() => w.headLogseq(), ErrorCode.STORE_CORRUPT).message).toBe(message);
      expect(expectCairn(() => w.gc({ graceMs: 0 }), ErrorCode.STORE_CORRUPT).message).toBe(message);
      expect((await expectCairnAsync(w.put(Buffer.alloc(100_000, 1)))).message).toBe(message);
      const report = await w.fsck();
      expect(report.ok).toBe(false);
      expect(report.problems[0]).toEqual({
        code: "sqlite_integrity",
        subject: "catalog",
        message: "opening the store as the writer could not read the catalog (database disk image is malformed): crash recovery did not run",
      });
      expect(report.problems.length).toBeGreaterThan(1); // quick_check's own findings follow
      expect(report.problems.every((p) => p.code === "sqlite_integrity")).toBe(true);
    } finally {
      w.close();
    }
  });

  it("read for the highest logseq when a writer opens: the same (fsck still reports)", async () => {
    const { dir, catalog } = storeWithMany();
    damagePage(catalog, rootPage(catalog, "artifacts")); // MAX(logseq) walks down from it
    const w = openStore({ dir });
    try {
      expect(expectCairn(() => w.putBytes(Buffer.from("new")), ErrorCode.STORE_CORRUPT).message).toBe(
        `catalog ${catalog} is corrupt: database disk image is malformed; run cairn fsck`,
      );
      const report = await w.fsck();
      expect(report.ok).toBe(false);
      expect(report.problems[0]?.code).toBe("sqlite_integrity");
      expect(report.problems[0]?.message).toContain("crash recovery did not run");
    } finally {
      w.close();
    }
  });

  it("readers get E_STORE_CORRUPT naming the catalog from every query that meets it, never a raw SQLite error", () => {
    const { dir, catalog, digests } = storeWithMany();
    damagePage(catalog, rootPage(catalog, "artifacts"));
    const r = openStore({ dir, readOnly: true });
    try {
      const message = `catalog ${catalog} is corrupt: database disk image is malformed; run cairn fsck`;
      for (const f of [() => r.get(digests[0] as never), () => r.stat(digests[5] as never), () => r.has(digests[9] as never), () => [...r.list()]]) {
        expect(expectCairn(f, ErrorCode.STORE_CORRUPT).message).toBe(message);
      }
    } finally {
      r.close();
    }
  });

  it("CLI: fsck exits 1 listing sqlite_integrity; put and ls exit 1 with E_STORE_CORRUPT (not E_INTERNAL)", () => {
    const { dir, catalog } = storeWithMany();
    damagePage(catalog, rootPage(catalog, "artifacts"));
    const f = cairn(["--store", dir, "fsck"], { cwd: dir });
    expect(f.status).toBe(1);
    expect(f.out.split("\n")[0]).toBe(
      "sqlite_integrity  catalog  opening the store as the writer could not read the catalog (database disk image is malformed): crash recovery did not run",
    );
    for (const args of [["store", "put", "-"], ["store", "ls"]]) {
      const r = cairn(["--store", dir, ...args], { cwd: dir, input: "x" });
      expect(r.status).toBe(1);
      expect(r.err).toBe(`cairn: catalog ${catalog} is corrupt: database disk image is malformed; run cairn fsck [E_STORE_CORRUPT]\n`);
    }
  });
});
