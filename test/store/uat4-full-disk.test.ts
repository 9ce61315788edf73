/**
 * UAT4 F4: a store whose volume is full cannot be locked or opened (SQLite needs room for the
 * writer lock's journal, the catalog's -shm and -wal), and SQLite says only "database or disk is
 * full" (SQLITE_FULL) or "disk I/O error" (SQLITE_IOERR_SHMSIZE, growing the -shm). The error
 * is E_STORE_IO saying the store's volume is full and that space must be freed outside the
 * store first (gc cannot run before). The full disk is injected: better-sqlite3 fails the
 * statement SQLite fails there, and `statfsSync` reports the volume's free space.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { join } from "node:path";
import { isVolumeFull, STORE_VOLUME_FULL_REASON, STORE_VOLUME_LOW_BYTES } from "../../src/store/volume-full.js";
import { openStore } from "../../src/store/store.js";
import { tempDir } from "./helpers.js";
import { cairnErrorOf } from "../cairn-error-of.js";

const fault = vi.hoisted(() => ({ lockFull: false, shmIoErr: false, availableBytes: undefined as number | undefined }));

vi.mock("better-sqlite3", async (importOriginal) => {
  const mod = await importOriginal<{ default: typeof import("better-sqlite3") }>();
  const Real = mod.default as unknown as new (...a: unknown[]) => { name: string; exec(sql: string): unknown; pragma(src: string, o?: unknown): unknown };
  const SqliteError = (mod.default as unknown as { SqliteError: new (m: string, c: string) => Error }).SqliteError;
  class Faulty extends Real {
    override exec(sql: string): unknown {
      if (fault.lockFull && this.name.endsWith("writer.lock") && sql === "BEGIN EXCLUSIVE") throw new SqliteError("database or disk is full", "SQLITE_FULL");
      return super.exec(sql);
    }
    override pragma(src: string, o?: unknown): unknown {
      if (fault.shmIoErr && this.name.endsWith("catalog.sqlite") && src === "journal_mode = WAL") throw new SqliteError("disk I/O error", "SQLITE_IOERR_SHMSIZE");
      return super.pragma(src, o);
    }
  }
  Object.assign(Faulty, mod.default);
  return { ...mod, default: Faulty };
});

vi.mock("node:fs", async (importOriginal) => {
  const m = await importOriginal<typeof import("node:fs") & { default: typeof import("node:fs") }>();
  const statfsSync = ((p: string, o?: unknown) => {
    const s = (m.statfsSync as (p: string, o?: unknown) => import("node:fs").StatsFs)(p, o);
    return fault.availableBytes === undefined ? s : { ...s, bavail: Math.floor(fault.availableBytes / s.bsize) };
  }) as typeof m.statfsSync;
  return { ...m, default: { ...m.default, statfsSync }, statfsSync };
});

const dirs: Array<{ cleanup: () => void }> = [];
afterEach(() => {
  Object.assign(fault, { lockFull: false, shmIoErr: false, availableBytes: undefined });
  for (const d of dirs.splice(0)) d.cleanup();
});

/** A store made and closed (the faults are switched on after). */
function madeStore(): string {
  const t = tempDir("cairn-full-");
  dirs.push(t);
  const dir = join(t.dir, "st");
  openStore({ dir }).close();
  return dir;
}


const HINT = "free space on it outside the store, then retry (SQLite needs room there for its lock and catalog files before any command, gc included, can use the store)";

describe("a store on a full volume: E_STORE_IO saying the volume is full", () => {
  it("the writer lock refused with SQLITE_FULL (0 bytes free): 'cannot lock store' says the volume is full", () => {
    const dir = madeStore();
    fault.lockFull = true;
    fault.availableBytes = 0;
    const e = cairnErrorOf(() => openStore({ dir }));
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot lock store ${dir}: database or disk is full; the volume holding the store ${dir} is full (0 bytes available): ${HINT}`);
    expect(e.details).toEqual({ path: dir, reason: STORE_VOLUME_FULL_REASON, availableBytes: 0, sqliteCode: "SQLITE_FULL" });
    fault.lockFull = false;
    openStore({ dir }).close(); // the lock was released: the store opens once space is back
  });

  it("the catalog's -shm not grown (SQLITE_IOERR_SHMSIZE, 'disk I/O error') with a few KiB free: says the volume is full", () => {
    const dir = madeStore();
    const catalog = join(dir, "catalog.sqlite");
    fault.shmIoErr = true;
    fault.availableBytes = 8192;
    const e = cairnErrorOf(() => openStore({ dir }));
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toBe(`cannot use catalog ${catalog}: disk I/O error; the volume holding the store ${dir} is full (8192 bytes available): ${HINT}`);
    expect(e.details).toEqual({ path: catalog, reason: STORE_VOLUME_FULL_REASON, availableBytes: 8192, sqliteCode: "SQLITE_IOERR_SHMSIZE" });
    fault.shmIoErr = false;
    openStore({ dir }).close(); // the lock was released
  });

  it("the same I/O error on a volume with room is not called a full disk", () => {
    const dir = madeStore();
    fault.shmIoErr = true;
    fault.availableBytes = STORE_VOLUME_LOW_BYTES; // not below the bound
    const e = cairnErrorOf(() => openStore({ dir }));
    expect([e.code, e.message]).toEqual(["E_STORE_IO", `cannot use catalog ${join(dir, "catalog.sqlite")}: disk I/O error`]);
    expect(e.details).toEqual({ path: join(dir, "catalog.sqlite") });
  });

  it("isVolumeFull: ENOSPC, EDQUOT and SQLITE_FULL always; I/O and open errors only below STORE_VOLUME_LOW_BYTES or with no free inode", () => {
    const roomy = () => ({ bytes: STORE_VOLUME_LOW_BYTES, inodes: 100 });
    const low = () => ({ bytes: STORE_VOLUME_LOW_BYTES - 1, inodes: 100 });
    const noInode = () => ({ bytes: 10 * STORE_VOLUME_LOW_BYTES, inodes: 0 });
    const unknown = () => undefined;
    const err = (code: string) => Object.assign(new Error(code), { code });
    for (const c of ["ENOSPC", "EDQUOT", "SQLITE_FULL"]) expect(isVolumeFull(err(c), "/x", roomy)).toBe(true);
    for (const c of ["SQLITE_IOERR", "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_WRITE", "SQLITE_CANTOPEN"]) {
      expect([c, isVolumeFull(err(c), "/x", low), isVolumeFull(err(c), "/x", noInode), isVolumeFull(err(c), "/x", roomy), isVolumeFull(err(c), "/x", unknown)]).toEqual([c, true, true, false, false]);
    }
    for (const c of ["SQLITE_BUSY", "SQLITE_CORRUPT", "EACCES", "SQLITE_READONLY"]) expect(isVolumeFull(err(c), "/x", low)).toBe(false);
    expect(isVolumeFull(new Error("no code"), "/x", low)).toBe(false);
  });
});
