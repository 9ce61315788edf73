/**
 * What `openStore` checks before it opens anything, and how opening maps catalog failures:
 *
 * - its options: undefined or a plain object of known options with values of their types; a
 *   JavaScript caller's `openStore("/some/dir")`, `openStore({ directory })` or
 *   `{ readOnly: "true" }` is E_USAGE naming the field, and neither that directory nor the default
 *   store ($CAIRN_STORE) is opened or created (before, the default store was opened);
 * - a writer that may not write the catalog (its file, `-wal`, `-shm`, or the store directory)
 *   fails at the open with E_STORE_IO naming the catalog and pointing at `readOnly: true`, not at
 *   its first write. The tests run as root, so the denial is injected into `accessSync` (the probe
 *   SQLite's own writes do not go through: without the check the writer opens and writes);
 * - the format-version read (`SELECT value FROM meta …`) failing for any reason but a missing
 *   table (SQLITE_BUSY, SQLITE_IOERR_READ, injected into the driver's `prepare`) is E_STORE_IO
 *   with SQLite's message, not E_STORE_CORRUPT "has no meta table".
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, openStore, type CairnError, type Digest, type Store } from "../../src/index.js";
import { checkCatalogWritable } from "../../src/store/catalog.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn } from "./helpers.js";

const hook = vi.hoisted(() => ({
  /** The error `accessSync(path)` fails with, or undefined to perform it. */
  denied: undefined as undefined | ((path: string) => Error | undefined),
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const accessSync = ((p: import("node:fs").PathLike, mode?: number) => {
    const err = hook.denied?.(String(p));
    if (err !== undefined) throw err;
    real.accessSync(p, mode);
  }) as typeof real.accessSync;
  return { ...real, accessSync, default: { ...real, accessSync } };
});

/** An fs error as Node makes it: "<CODE>: <text>, access '<path>'". */
function accessError(code: string, text: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${text}, access '${path}'`), { code, syscall: "access", path, errno: -13 });
}

const opened: Store[] = [];
afterEach(() => {
  hook.denied = undefined;
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  for (const s of opened.splice(0)) s.close();
  removeTempDirs();
});

/** `openStore(...args)` expected to fail with `code`; a store it opened instead is closed after the test. */
function refused(code: string, ...args: unknown[]): CairnError {
  return expectCairn(() => {
    const s = (openStore as (...a: unknown[]) => Store)(...args);
    opened.push(s);
  }, code as never);
}

/** A store with one artifact ("one"), closed: its directory and the artifact's digest. */
function storeWithOne(): { dir: string; one: Digest } {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  const { digest } = s.putBytes(Buffer.from("one"));
  s.close();
  return { dir, one: digest };
}

/** A store with one artifact, closed; its directory. */
function madeStore(): string {
  return storeWithOne().dir;
}

describe("openStore's options", () => {
  /** $CAIRN_STORE pointed at a path that must stay absent: the default store is never opened. */
  function stubDefaultStore(): string {
    const dflt = join(makeTempDir(), "default-store");
    vi.stubEnv("CAIRN_STORE", dflt);
    return dflt;
  }

  it("a string instead of { dir }: E_USAGE saying to pass { dir }; neither it nor the default store is opened", () => {
    const dflt = stubDefaultStore();
    const dir = join(makeTempDir(), "wanted");
    const e = refused(ErrorCode.USAGE, dir);
    expect(e.message).toBe(`the openStore options must be an object, got a string ${JSON.stringify(dir)}; pass the store directory as { dir: ${JSON.stringify(dir)} }`);
    expect(e.details).toEqual({ field: "options" });
    expect(existsSync(dflt)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("null, a number, an array, a function, a Map, a Date: E_USAGE, nothing created; an instance of the caller's own class is options (review 2026-11-27)", () => {
    const dflt = stubDefaultStore();
    const dir = join(makeTempDir(), "wanted");
    class Options {
      dir = dir;
    }
    const cases: Array<[unknown, string]> = [
      [null, "null"],
      [5, "5"],
      [[dir], "an array"],
      [() => dir, "a function"],
      [new Map([["dir", dir]]), "an instance of Map"],
      [new Date(0), "an instance of Date"],
    ];
    for (const [arg, what] of cases) {
      const e = refused(ErrorCode.USAGE, arg);
      expect(e.message).toBe(`the openStore options must be an object, got ${what}; pass { dir } (the store directory)`);
    }
    expect(existsSync(dflt)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    // Read by property access, as TypeScript's OpenStoreOptions type allows: the wanted store, not the default.
    const s = openStore(new Options());
    opened.push(s);
    expect([existsSync(join(dir, "FORMAT")), existsSync(dflt)]).toEqual([true, false]);
  });

  it("an unknown option: E_USAGE naming it and the option it probably meant; nothing created", () => {
    const dflt = stubDefaultStore();
    const dir = join(makeTempDir(), "wanted");
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [{ directory: dir }, "directory", "dir"],
      [{ path: dir }, "path", undefined],
      [{ dir, readonly: true }, "readonly", "readOnly"],
      [{ dir, lockTimeout: 5 }, "lockTimeout", "lockTimeoutMs"],
      [{ dir, directory: undefined }, "directory", "dir"],
    ];
    for (const [opts, key, suggestion] of cases) {
      const e = refused(ErrorCode.USAGE, opts);
      expect(e.message).toBe(
        `unknown openStore option ${JSON.stringify(key)}${suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`}; the options are dir, readOnly, create, lockTimeoutMs, durability, clock`,
      );
      expect(e.details).toEqual(suggestion === undefined ? { field: key } : { field: key, suggestion });
    }
    expect(existsSync(dflt)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it("a value of the wrong type: E_USAGE naming the field (readOnly \"true\" does not open a writer)", () => {
    const dir = madeStore();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ dir: 5 }, "dir", "dir must be a string (the store directory), got 5"],
      [{ dir: { dir } }, "dir", "dir must be a string (the store directory), got an object"],
      [{ dir, readOnly: "true" }, "readOnly", `readOnly must be a boolean, got a string "true"`],
      [{ dir, create: "false" }, "create", `create must be a boolean, got a string "false"`],
      [{ dir, clock: {} }, "clock", "clock must be an object with a now() method, got an object"],
      [{ dir, clock: null }, "clock", "clock must be an object with a now() method, got null"],
    ];
    for (const [opts, field, message] of cases) {
      const e = refused(ErrorCode.USAGE, opts);
      expect(e.message).toBe(message);
      expect(e.details).toEqual({ field });
    }
    // The store is not held by a writer: another one opens it at once.
    openStore({ dir }).close();
  });

  it("accepted: undefined (the default store), a plain object, one without a prototype, known options set to undefined", () => {
    const dflt = stubDefaultStore();
    const a = openStore();
    opened.push(a);
    expect(a.root).toBe(dflt);
    a.close();
    const dir = madeStore();
    const b = openStore(Object.assign(Object.create(null) as object, { dir, readOnly: true }));
    opened.push(b);
    expect(b.readOnly).toBe(true);
    expect(b.root).toBe(dir);
    const c = openStore({ dir, readOnly: undefined, create: undefined, clock: undefined, durability: undefined, lockTimeoutMs: undefined });
    opened.push(c);
    expect(c.readOnly).toBe(false);
  });
});

describe("a writer that may not write the catalog", () => {
  const files = (dir: string): { catalog: string; wal: string; shm: string } => {
    const catalog = join(dir, "catalog.sqlite");
    return { catalog, wal: `${catalog}-wal`, shm: `${catalog}-shm` };
  };
  const expectedMessage = (catalog: string, dir: string, denied: string): string =>
    `cannot open catalog ${catalog} for writing: EACCES: permission denied, access '${denied}'; a writer needs write access to the catalog, to its catalog.sqlite-wal and catalog.sqlite-shm files and to the store directory ${dir} (to read the store only, open it read-only: openStore({ dir, readOnly: true }))`;

  it("each probed file: E_STORE_IO at the open, not at the first write; the store stays usable", () => {
    const { dir, one } = storeWithOne();
    const { catalog, wal, shm } = files(dir);
    for (const denied of [catalog, dir, wal, shm]) {
      hook.denied = (p) => (p === denied ? accessError("EACCES", "permission denied", p) : undefined);
      const e = refused(ErrorCode.STORE_IO, { dir });
      expect(e.message).toBe(expectedMessage(catalog, dir, denied));
      expect(e.details).toEqual({ path: catalog, denied, errno: "EACCES" });
      // Readers do not probe: reading works.
      const r = openStore({ dir, readOnly: true });
      opened.push(r);
      expect(r.get(one).toString()).toBe("one");
      r.close();
      hook.denied = undefined;
      // No writer lock was left held: a writer opens at once and writes.
      const w = openStore({ dir });
      opened.push(w);
      w.putBytes(Buffer.from(`after ${denied}`));
      w.close();
    }
  });

  it("the probe runs once per writer open (the catalog, the directory, -wal, -shm), never for a reader", () => {
    const dir = madeStore();
    const { catalog, wal, shm } = files(dir);
    const probed: string[] = [];
    hook.denied = (p) => {
      probed.push(p);
      return undefined;
    };
    const r = openStore({ dir, readOnly: true });
    opened.push(r);
    r.close();
    expect(probed).toEqual([]);
    const w = openStore({ dir });
    opened.push(w);
    w.putBytes(Buffer.from("two"));
    w.putBytes(Buffer.from("three"));
    expect(probed).toEqual([catalog, dir, wal, shm]); // no probe per write
  });

  it("checkCatalogWritable: a missing catalog, -wal or -shm is no denial (SQLite creates them); a missing directory, EROFS or EPERM is", () => {
    const catalog = "/s/catalog.sqlite";
    const seen: string[] = [];
    checkCatalogWritable(catalog, (p) => {
      seen.push(p);
      if (p !== "/s") throw accessError("ENOENT", "no such file or directory", p);
    });
    expect(seen).toEqual([catalog, "/s", `${catalog}-wal`, `${catalog}-shm`]);
    const dirMissing = expectCairn(() => checkCatalogWritable(catalog, (p) => {
      throw accessError("ENOENT", "no such file or directory", p);
    }), ErrorCode.STORE_IO);
    expect(dirMissing.details).toEqual({ path: catalog, denied: "/s", errno: "ENOENT" });
    for (const code of ["EROFS", "EPERM"]) {
      const e = expectCairn(() => checkCatalogWritable(catalog, (p) => {
        if (p === `${catalog}-shm`) throw accessError(code, "refused", p);
      }), ErrorCode.STORE_IO);
      expect(e.message).toMatch(new RegExp(`^cannot open catalog ${catalog} for writing: ${code}: refused, access '${catalog}-shm'; `));
    }
  });
});

describe("reading the catalog's format version", () => {
  const VERSION_SQL = "SELECT value FROM meta WHERE key = 'format_version'";

  /** The driver's `prepare` of the version query fails with SQLite's `code` and `message`. */
  function failVersionRead(code: string, message: string): void {
    const real = Database.prototype.prepare;
    vi.spyOn(Database.prototype, "prepare").mockImplementation(function (this: Database.Database, sql: string) {
      if (sql === VERSION_SQL) throw new Database.SqliteError(message, code);
      return real.call(this, sql);
    } as typeof real);
  }

  for (const [code, message] of [["SQLITE_BUSY", "database is locked"], ["SQLITE_IOERR_READ", "disk I/O error"]] as const) {
    it(`${code}: E_STORE_IO "cannot use catalog <path>: ${message}", for readers and writers (not "has no meta table")`, () => {
      const dir = madeStore();
      const catalog = join(dir, "catalog.sqlite");
      failVersionRead(code, message);
      for (const readOnly of [true, false]) {
        const e = refused(ErrorCode.STORE_IO, { dir, readOnly });
        expect(e.message).toBe(`cannot use catalog ${catalog}: ${message}`);
        expect(e.details).toEqual({ path: catalog });
      }
      vi.restoreAllMocks();
      openStore({ dir }).close(); // nothing was held or changed
    });
  }

  it("a catalog without a meta table is still E_STORE_CORRUPT \"has no meta table\" (reader)", () => {
    const dir = madeStore();
    const catalog = join(dir, "catalog.sqlite");
    const db = new Database(catalog);
    db.exec("DROP TABLE meta");
    db.close();
    const e = refused(ErrorCode.STORE_CORRUPT, { dir, readOnly: true });
    expect(e.message).toBe(`catalog ${catalog} has no meta table: no such table: meta`);
  });
});
