/**
 * A store that cannot write or reach its files fails with E_STORE_IO naming the file, never the
 * raw fs or driver error (E_INTERNAL) — FINDINGS F8 — and a damaged page read when opening the
 * catalog says "is corrupt", not "has no meta table" (F6a):
 *
 * - a large put whose temp `.part` cannot be created (`tmp` replaced by a regular file: ENOTDIR,
 *   real) is E_STORE_IO "cannot write <part>: ENOTDIR: …", for `putBytes` and streamed `put`;
 * - a catalog write SQLite refuses — SQLITE_FULL (a real `max_page_count` bound on the
 *   catalog connection), SQLITE_READONLY (`query_only`), SQLITE_IOERR*, SQLITE_CANTOPEN — is
 *   E_STORE_IO naming the catalog, through the store's one mapping (`storeErrorOf`);
 * - the catalog's `meta` table or its index damaged on disk: E_STORE_CORRUPT "catalog <path> is
 *   corrupt: database disk image is malformed" for readers and writers (§5.2, first paragraph:
 *   a page opening reads; fsck cannot open such a catalog either, so no "run cairn fsck").
 */
import { closeSync, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Store } from "../../src/index.js";
import { storeErrorOf, type Catalog } from "../../src/store/catalog.js";
import { SMALL_ARTIFACT_MAX_BYTES } from "../../src/store/layout.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn, expectCairnAsync } from "./helpers.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function writer(dir: string): Store {
  const s = openStore({ dir });
  open.push(s);
  return s;
}

/** The store's catalog connection (internal: the tests bound or restrict it as a full or read-only disk would). */
function catalogOf(s: Store): Catalog {
  return (s as unknown as { parts: { catalog: Catalog } }).parts.catalog;
}

const large = (fill: number): Buffer => Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1000, fill);

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += 16 * 1024) yield b.subarray(i, i + 16 * 1024);
}

describe("a large put whose temp file cannot be created", () => {
  it("tmp replaced by a regular file: E_STORE_IO naming the .part (ENOTDIR), putBytes and streamed put; nothing recorded", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const tmp = join(dir, "tmp");
    rmSync(tmp, { recursive: true });
    writeFileSync(tmp, "x");
    const partRe = new RegExp(`^cannot write ${tmp}/[0-9]+-[0-9a-f]{16}\\.part: ENOTDIR: not a directory$`);

    const e1 = expectCairn(() => s.putBytes(large(1)), ErrorCode.STORE_IO);
    expect(e1.message).toMatch(partRe);
    expect(e1.details?.path).toMatch(/\.part$/);
    const e2 = await expectCairnAsync(s.put(chunks(large(2))), ErrorCode.STORE_IO);
    expect(e2.message).toMatch(partRe);
    expect([...s.list()]).toEqual([]);
    // Small artifacts need no temp file: unaffected.
    expect(s.putBytes(Buffer.from("small")).created).toBe(true);
  });
});

describe("catalog writes SQLite refuses", () => {
  it("SQLITE_FULL (a full disk): E_STORE_IO naming the catalog, for a put and snapshots; the store stays usable", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const db = catalogOf(s).db;
    const catalog = join(dir, "catalog.sqlite");
    db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);
    // Either file system may be the full one: SQLite writes temporary files in the OS temp directory.
    const message = `cannot write catalog ${catalog}: database or disk is full; the store's file system or the OS temp directory ${tmpdir()} ($TMPDIR), where SQLite writes its temporary files, is full: free space, or set TMPDIR to a directory with room`;
    const e = expectCairn(() => s.putBytes(Buffer.alloc(30_000, 3)), ErrorCode.STORE_IO, message);
    expect(e.details).toEqual({ path: catalog, sqliteCode: "SQLITE_FULL", tmpdir: tmpdir() });
    expect(() => {
      for (let i = 0; i < 5000; i++) s.createSnapshot(`s${i}`); // until the free space of its pages is used up
    }).toThrow(message);
    db.pragma("max_page_count = 1073741823");
    expect(s.putBytes(Buffer.alloc(30_000, 3)).created).toBe(true);
    expect((await s.fsck()).ok).toBe(true);
  });

  it("SQLITE_READONLY: E_STORE_IO naming the catalog and what must be writable", () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const catalog = join(dir, "catalog.sqlite");
    catalogOf(s).db.pragma("query_only = 1");
    expectCairn(
      () => s.putBytes(Buffer.from("hi")),
      ErrorCode.STORE_IO,
      `cannot write catalog ${catalog}: attempt to write a readonly database; this process needs write access to it, to its catalog.sqlite-wal and catalog.sqlite-shm files and to the store directory ${dir}`,
    );
    expectCairn(() => s.pin("p", s.putBytes(Buffer.from("x")).digest), ErrorCode.STORE_IO);
  });

  it("storeErrorOf: SQLITE_IOERR* and SQLITE_CANTOPEN are E_STORE_IO naming the catalog; other driver errors pass unchanged", () => {
    const sqliteError = (message: string, code: string): Error => new Database.SqliteError(message, code);
    const path = "/s/catalog.sqlite";
    const io = storeErrorOf(path, sqliteError("disk I/O error", "SQLITE_IOERR_WRITE"));
    expect(io).toMatchObject({ code: ErrorCode.STORE_IO, message: `cannot write catalog ${path}: disk I/O error`, details: { path, sqliteCode: "SQLITE_IOERR_WRITE" } });
    const read = storeErrorOf(path, sqliteError("disk I/O error", "SQLITE_IOERR_SHORT_READ"));
    expect(read).toMatchObject({ code: ErrorCode.STORE_IO, message: `cannot use catalog ${path}: disk I/O error` });
    const cantOpen = storeErrorOf(path, sqliteError("unable to open database file", "SQLITE_CANTOPEN"));
    expect(cantOpen).toMatchObject({ code: ErrorCode.STORE_IO, message: `cannot use catalog ${path}: unable to open database file` });
    const constraint = sqliteError("UNIQUE constraint failed", "SQLITE_CONSTRAINT_UNIQUE");
    expect(storeErrorOf(path, constraint)).toBe(constraint);
    const busy = sqliteError("database is locked", "SQLITE_BUSY");
    expect(storeErrorOf(path, busy)).toBe(busy);
    const other = new Error("SQLITE_FULL lookalike");
    expect(storeErrorOf(path, other)).toBe(other);
  });
});

/** Overwrites the page holding `name` (a table or index of the catalog) with 0xff bytes. */
function damagePageOf(catalog: string, name: string): void {
  const db = new Database(catalog, { readonly: true });
  const root = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = ?").get(name) as { rootpage: number }).rootpage;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  db.close();
  const fd = openSync(catalog, "r+");
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    expect(header.readUInt16BE(16) === 1 ? 65536 : header.readUInt16BE(16)).toBe(pageSize);
    writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (root - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

describe("a damaged page of the catalog's meta table (read when opening)", () => {
  for (const name of ["meta", "sqlite_autoindex_meta_1"]) {
    it(`${name}: readers and writers get E_STORE_CORRUPT "catalog <path> is corrupt: database disk image is malformed"`, () => {
      const dir = join(makeTempDir(), "store");
      writer(dir).putBytes(Buffer.from("hi"));
      open.splice(0).forEach((s) => s.close());
      const catalog = join(dir, "catalog.sqlite");
      damagePageOf(catalog, name);
      const message = `catalog ${catalog} is corrupt: database disk image is malformed`;
      const r = expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_CORRUPT, message);
      expect(r.details).toEqual({ path: catalog, sqliteCode: "SQLITE_CORRUPT" });
      expectCairn(() => openStore({ dir }), ErrorCode.STORE_CORRUPT, message);
    });
  }
});
