/**
 * A reader of a store whose directory it may not write (FINDINGS F2). The catalog is in WAL mode,
 * so SQLite must create `catalog.sqlite-shm` beside it even for a read-only connection; without
 * write access to the directory the reader's first query fails (SQLite: SQLITE_READONLY_DIRECTORY
 * "attempt to write a readonly database"; an existing `-shm` it cannot open: SQLITE_CANTOPEN).
 * Root can write anywhere, so that first-query failure is injected into the driver (a wrapped
 * `better-sqlite3`, failing the first statement of the next read-only connection with the code
 * SQLite gives an unprivileged reader). The store's answer is E_STORE_IO saying what a reader
 * needs, only for that case: a read-only open, a WAL catalog, that code, the first query.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, openStore } from "../../src/index.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn } from "./helpers.js";

const hook = vi.hoisted(() => ({
  /** Fails the first statement of the next catalog connection opened read-only (or of any, with `anyMode`). */
  next: undefined as undefined | { code: string; message: string; anyMode?: boolean },
}));

vi.mock("better-sqlite3", async (importOriginal) => {
  const mod = await importOriginal<{ default: typeof import("better-sqlite3") }>();
  const Real = mod.default;
  const Wrapped = new Proxy(Real, {
    construct(target, args: unknown[]) {
      const db = Reflect.construct(target, args) as import("better-sqlite3").Database;
      const inject = hook.next;
      const readonly = (args[1] as { readonly?: boolean } | undefined)?.readonly === true;
      const isCatalog = String(args[0]).endsWith("catalog.sqlite"); // not the writer lock's database
      if (inject !== undefined && isCatalog && (readonly || inject.anyMode === true)) {
        hook.next = undefined;
        const prepare = db.prepare.bind(db);
        let first = true;
        db.prepare = ((sql: string) => {
          if (first) {
            first = false;
            throw new Real.SqliteError(inject.message, inject.code);
          }
          return prepare(sql);
        }) as typeof db.prepare;
      }
      return db;
    },
  });
  return { ...mod, default: Wrapped };
});

afterEach(() => {
  hook.next = undefined;
  removeTempDirs();
});

function store(): string {
  const dir = join(makeTempDir(), "store");
  const w = openStore({ dir });
  w.putBytes(Buffer.from("hello\n"));
  w.close();
  return dir;
}

const expected = (dir: string, sqlite: string): string =>
  `cannot read store ${dir}: its catalog is in WAL mode, so readers need write access to the store directory (SQLite creates catalog.sqlite-shm there), or read access to its catalog.sqlite-shm and catalog.sqlite-wal files when they exist (SQLite: ${sqlite})`;

describe("a reader that cannot create or open the catalog's -shm", () => {
  it("SQLITE_READONLY_DIRECTORY on the first query: E_STORE_IO saying readers need write access to the store directory", () => {
    const dir = store();
    hook.next = { code: "SQLITE_READONLY_DIRECTORY", message: "attempt to write a readonly database" };
    const e = expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_IO, expected(dir, "attempt to write a readonly database"));
    expect(e.details).toEqual({ path: dir, catalog: join(dir, "catalog.sqlite"), sqliteCode: "SQLITE_READONLY_DIRECTORY" });
    // Nothing else changed: the next reader (no failure injected) reads the store.
    const r = openStore({ dir, readOnly: true });
    expect([...r.list()]).toHaveLength(1);
    r.close();
  });

  it("SQLITE_CANTOPEN on the first query (an existing -shm it cannot open): the same E_STORE_IO", () => {
    const dir = store();
    hook.next = { code: "SQLITE_CANTOPEN", message: "unable to open database file" };
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_IO, expected(dir, "unable to open database file"));
  });

  it("other first-query failures, and a writer's, keep their own message", () => {
    const dir = store();
    const catalog = join(dir, "catalog.sqlite");
    hook.next = { code: "SQLITE_BUSY", message: "database is locked" };
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_IO, `cannot use catalog ${catalog}: database is locked`);
    hook.next = { code: "SQLITE_READONLY_DIRECTORY", message: "attempt to write a readonly database", anyMode: true };
    expectCairn(() => openStore({ dir }), ErrorCode.STORE_IO, `cannot use catalog ${catalog}: attempt to write a readonly database`);
  });
});
