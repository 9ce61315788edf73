/**
 * gc's sweep when a swept artifact's file cannot be removed (anything but "not there"): the
 * sweep goes on with the other files, leaves that row `sweeping`, and then throws E_STORE_IO
 * naming the path; a writer opening the store later finishes the sweep once the cause is gone.
 * Before, the raw fs error (EISDIR, EACCES…) escaped gc and the files after it were not
 * removed. The failure is real: a directory where the object file was (unlink(2) gives EISDIR,
 * also as root, where a read-only directory would not stop it).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Digest, type Store } from "../../src/index.js";
import { fixedClock } from "../../src/core/clock.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn, objectFile } from "./helpers.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

/** Large enough to be stored as a file, not packed in the catalog. */
const BIG = 200_000;

describe("gc: a file the sweep cannot remove", () => {
  it("is E_STORE_IO naming the path; the other files are swept; the row stays sweeping until a writer's open finishes it", async () => {
    const dir = join(makeTempDir(), "store");
    const first = openStore({ dir, clock: fixedClock(1_000) });
    const blocked = first.putBytes(Buffer.alloc(BIG, 1)).digest;
    const freed = first.putBytes(Buffer.alloc(BIG, 2)).digest;
    const small = first.putBytes(Buffer.from("small")).digest;
    first.close();
    // The blocked artifact's file replaced by a non-empty directory: unlink fails with EISDIR.
    const path = objectFile(dir, blocked);
    rmSync(path);
    mkdirSync(path);
    writeFileSync(join(path, "x"), "x");

    const store = openStore({ dir, clock: fixedClock(2_000) });
    open.push(store);
    const err = expectCairn(
      () => store.gc({ graceMs: 0 }),
      ErrorCode.STORE_IO,
      `gc cannot remove ${path}: EISDIR: illegal operation on a directory; the artifact stays "sweeping" (fsck reports it) until a writer opening the store removes its file: fix the cause, then reopen the store`,
    );
    expect(err.details).toEqual({ path, failed: 1, errno: "EISDIR" });
    // The rest of the sweep was done: the other file is gone and its artifact swept.
    expect(existsSync(objectFile(dir, freed))).toBe(false);
    for (const d of [freed, small] as Digest[]) expect(() => store.get(d)).toThrow(/its bytes were collected by gc/);
    // The blocked one is `sweeping`: swept for readers, reported by fsck while its file is there.
    expect(() => store.get(blocked)).toThrow(/its bytes were collected by gc/);
    expect((await store.fsck()).problems).toEqual([
      { code: "swept_bytes_present", subject: blocked, message: `artifact ${blocked} was swept but its file is still present` },
    ]);
    // Reopening with the cause still there: recovery cannot finish it either (and does not throw).
    store.close();
    open.pop();
    const again = openStore({ dir, clock: fixedClock(3_000) });
    expect(again.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 0 });
    again.close();

    // The cause fixed: the next writer's open finishes the sweep, and fsck is clean.
    rmSync(path, { recursive: true });
    const fixed = openStore({ dir, clock: fixedClock(4_000) });
    open.push(fixed);
    expect(fixed.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 1 });
    expect((await fixed.fsck()).problems).toEqual([]);
    expect(fixed.gc({ graceMs: 0 }).sweptCount).toBe(0);
  });

  it("several files that cannot be removed: the first is named, the rest counted", () => {
    const dir = join(makeTempDir(), "store");
    const first = openStore({ dir, clock: fixedClock(1_000) });
    const digests = [1, 2, 3].map((b) => first.putBytes(Buffer.alloc(BIG, b)).digest);
    first.close();
    for (const d of digests) {
      const p = objectFile(dir, d);
      rmSync(p);
      mkdirSync(p);
      writeFileSync(join(p, "x"), "x");
    }
    const store = openStore({ dir, clock: fixedClock(2_000) });
    open.push(store);
    const err = expectCairn(() => store.gc({ graceMs: 0 }), ErrorCode.STORE_IO);
    expect(err.message).toMatch(/^gc cannot remove .+: EISDIR: illegal operation on a directory \(and 2 more files\); the artifact stays "sweeping"/);
    expect(err.details).toMatchObject({ failed: 2 + 1, errno: "EISDIR" });
    expect(digests.map((d) => objectFile(dir, d))).toContain(err.details["path"]);
  });
});
