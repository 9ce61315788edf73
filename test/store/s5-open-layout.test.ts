/**
 * When `openStore` makes a new store's layout directories (store.ts `openStore`): the store
 * directory itself before the writer lock (the lock file, `writer.lock`, lives in it), and
 * `objects/` and `tmp/` only under the lock, after the catalog, before FORMAT. So:
 *
 * - an open of a new store refused because another process holds the writer lock leaves no
 *   `objects/`, `tmp/`, catalog or FORMAT (before, `objects/` and `tmp/` were made before the
 *   lock was tried, and stayed behind);
 * - an open whose catalog cannot be created leaves no `objects/` or `tmp/` either;
 * - a path that cannot be made a layout directory (a file named `objects`) is E_STORE_IO naming
 *   it (before, the bare EEXIST, which the CLI reported as E_INTERNAL), and the store is not
 *   made (no FORMAT); once the file is gone the next writer finishes the store;
 * - a normal open still creates `objects/` and `tmp/`, and the refused open's directory becomes
 *   a store at the next writer's open once the lock is free.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore } from "../../src/index.js";
import { holdWriterLock, killChildrenAfterEach } from "../cli/helpers.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn } from "./helpers.js";

const children = killChildrenAfterEach();
afterEach(() => removeTempDirs());

describe("openStore makes objects/ and tmp/ only under the writer lock", () => {
  it("an open of a new store refused for the lock leaves no objects/, tmp/, catalog or FORMAT", async () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir);
    const holder = await holdWriterLock(dir, children);
    const err = expectCairn(() => openStore({ dir }), ErrorCode.STORE_LOCKED);
    expect(err.message).toContain("locked by another writer");
    // What the holder made (its lock file and, while it holds it, the journal): nothing of the open's.
    expect(readdirSync(dir).filter((n) => !n.startsWith("writer.lock")).sort()).toEqual([]);

    // Once the lock is free, the next writer makes the store, layout included.
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("exit", r));
    const s = openStore({ dir });
    try {
      for (const sub of ["objects", "tmp", "FORMAT", "catalog.sqlite"]) expect(existsSync(join(dir, sub)), sub).toBe(true);
      expect((await s.fsck()).ok).toBe(true);
    } finally {
      s.close();
    }
  });

  it("a normal open of a new store creates objects/ and tmp/ (and parents of the store directory)", () => {
    const dir = join(makeTempDir(), "a", "b", "store");
    const s = openStore({ dir });
    s.close();
    for (const sub of ["objects", "tmp", "FORMAT", "catalog.sqlite", "writer.lock"]) expect(existsSync(join(dir, sub)), sub).toBe(true);
  });

  it("an open whose catalog cannot be created leaves no objects/ or tmp/", () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(join(dir, "catalog.sqlite"), { recursive: true }); // a directory where the catalog goes
    expect(() => openStore({ dir })).toThrow(expect.objectContaining({ code: "E_STORE_IO", message: `cannot open catalog ${join(dir, "catalog.sqlite")}: unable to open database file` }));
    expect(existsSync(join(dir, "objects"))).toBe(false);
    expect(existsSync(join(dir, "tmp"))).toBe(false);
    expect(existsSync(join(dir, "FORMAT"))).toBe(false);
  });

  it("a file where objects/ goes is E_STORE_IO naming it; no FORMAT; the next writer finishes the store once it is gone", async () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir);
    writeFileSync(join(dir, "objects"), "not a directory");
    const objects = join(dir, "objects");
    const err = expectCairn(() => openStore({ dir }), ErrorCode.STORE_IO);
    expect(err.message).toBe(`cannot create store directory ${objects}: EEXIST: file already exists, mkdir '${objects}'`);
    expect(err.details).toEqual({ path: objects });
    expect(existsSync(join(dir, "FORMAT"))).toBe(false);
    expect(existsSync(join(dir, "tmp"))).toBe(false);

    rmSync(objects);
    const s = openStore({ dir });
    try {
      const d = s.putBytes(Buffer.from("after the failed init")).digest;
      expect(s.get(d).toString()).toBe("after the failed init");
      expect((await s.fsck()).ok).toBe(true);
    } finally {
      s.close();
    }
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
  });
});
