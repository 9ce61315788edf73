/**
 * UAT of 2026-11-28: a writer opening the store (`cairn init`, `store put`, any writer) deleted
 * everything under `<store>/tmp/`, followed a `tmp` that is a symlink, and wiped a store made
 * inside another store's tmp/. Now crash recovery (artifact-recovery.ts `recoverArtifacts`)
 * removes only Cairn's own temp and scratch files there (layout.ts `isCairnTmpName`, regular
 * files only); anything else is left and reported by fsck as `tmp_foreign`. A `tmp` that is not
 * a real directory (lstat) is never followed: creating a store there is E_STORE_IO, a writer of
 * an existing store is refused E_STORE_CORRUPT (every operation but fsck and close), and fsck
 * reports it. ARCHITECTURE §5.6.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { openStore, type Store } from "../../src/store/store.js";
import { expectCairn, tempDir } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});
function scratch(): string {
  const t = tempDir("cairn-uat-tmp-sweep-");
  cleanups.push(t.cleanup);
  return t.dir;
}
function writer(dir: string): Store {
  const s = openStore({ dir, durability: "normal" });
  cleanups.push(() => s.close());
  return s;
}

describe("crash recovery removes only Cairn's own files in tmp/", () => {
  it("a user's files and subdirectory in tmp/ survive store creation and every later writer", async () => {
    const proj = join(scratch(), "proj");
    mkdirSync(join(proj, "tmp", "sub"), { recursive: true });
    writeFileSync(join(proj, "tmp", "notes.txt"), "important\n");
    writeFileSync(join(proj, "tmp", "sub", "x"), "x\n");

    const s = writer(proj); // creates the store beside the user's files (init)
    s.putBytes(Buffer.alloc(100_000, 1)); // a large put: through tmp/
    s.close();
    writer(proj).close();
    const s2 = writer(proj);
    expect(readFileSync(join(proj, "tmp", "notes.txt"), "utf8")).toBe("important\n");
    expect(readFileSync(join(proj, "tmp", "sub", "x"), "utf8")).toBe("x\n");
    expect(s2.recovery?.removed).toBe(0);
    const report = await s2.fsck();
    expect(report.problems).toEqual([
      { code: "tmp_foreign", subject: join("tmp", "notes.txt"), message: `${join("tmp", "notes.txt")} is not a temporary file of Cairn's: crash recovery leaves it (move it out of the store)` },
      { code: "tmp_foreign", subject: join("tmp", "sub"), message: `${join("tmp", "sub")} is not a temporary file of Cairn's: crash recovery leaves it (move it out of the store)` },
    ]);
  });

  it("a store made inside another store's tmp/ survives a writer of the outer store", () => {
    const s = join(scratch(), "s");
    writer(s).close();
    const inner = writer(join(s, "tmp", "inner"));
    const d = inner.putBytes(Buffer.from("inner data")).digest;
    inner.close();
    writer(s).close();
    const again = writer(join(s, "tmp", "inner"));
    expect(again.get(d).toString()).toBe("inner data");
  });

  it("Cairn's own leftovers are still removed: a dead writer's .part, a run's scratch files, a .ready without a row", () => {
    const dir = join(scratch(), "store");
    writer(dir).close();
    const tmp = join(dir, "tmp");
    const own = [
      "4194303-0123456789abcdef.part",
      `${"ab".repeat(32)}.ready`,
      "run-0123456789abcdef-01234567.order.sqlite",
      "run-0123456789abcdef-01234567.order.sqlite-journal",
      "run-0123456789abcdef-01234567.leaves",
      "run-0123456789abcdef-01234567.failures.jsonl",
      // verify's scratch of builds of 2026-11-25/26 (review: they were left as tmp_foreign)
      "verify-0123456789abcdef-01234567.order.sqlite",
      "verify-0123456789abcdef-01234567.order.sqlite-journal",
    ];
    for (const n of own) writeFileSync(join(tmp, n), "scratch");
    // Cairn-like names that are not Cairn's files: a directory, and names Cairn never writes.
    mkdirSync(join(tmp, "4194303-fedcba9876543210.part"));
    writeFileSync(join(tmp, "movie.part"), "user");
    writeFileSync(join(tmp, "run-notes.leaves"), "user");
    const s = writer(dir);
    expect(s.recovery?.removed).toBe(own.length);
    expect(readdirSync(tmp).sort()).toEqual(["4194303-fedcba9876543210.part", "movie.part", "run-notes.leaves"]);
  });
});

describe("a tmp that is not a real directory is never followed", () => {
  it("creating a store whose tmp is a symlink to a user's directory is refused; the target is untouched", () => {
    const root = scratch();
    const shared = join(root, "shared");
    mkdirSync(join(shared, "keep"), { recursive: true });
    writeFileSync(join(shared, "a.txt"), "precious\n");
    const proj2 = join(root, "proj2");
    mkdirSync(proj2);
    symlinkSync(shared, join(proj2, "tmp"));

    const err = expectCairn(() => openStore({ dir: proj2 }), ErrorCode.STORE_IO);
    expect(err.message).toBe(`cannot create store directory ${join(proj2, "tmp")}: it is a symbolic link to ${shared}, not a directory`);
    expect(err.details).toEqual({ path: join(proj2, "tmp") });
    expect(existsSync(join(proj2, "FORMAT"))).toBe(false);
    expect(readdirSync(shared).sort()).toEqual(["a.txt", "keep"]);
    expect(readFileSync(join(shared, "a.txt"), "utf8")).toBe("precious\n");
  });

  it("a writer of a store whose tmp became a symlink is refused E_STORE_CORRUPT; fsck reports it; nothing swept", async () => {
    const root = scratch();
    const dir = join(root, "store");
    writer(dir).close();
    const shared = join(root, "shared");
    mkdirSync(join(shared, "keep"), { recursive: true });
    writeFileSync(join(shared, "a.txt"), "precious\n");
    writeFileSync(join(shared, "4194303-0123456789abcdef.part"), "a user's file with a Cairn name");
    rmSync(join(dir, "tmp"), { recursive: true });
    symlinkSync(shared, join(dir, "tmp"));

    const s = writer(dir);
    expect(s.recovery).toBeUndefined();
    const tmp = join(dir, "tmp");
    const err = expectCairn(() => s.putBytes(Buffer.alloc(100_000, 2)), ErrorCode.STORE_CORRUPT);
    expect(err.message).toBe(
      `store directory ${tmp} is a symbolic link to ${shared}, not a directory: the store will not write through it (move it out of the store; the next writer makes tmp/ again)`,
    );
    expect(err.details).toEqual({ path: tmp });
    const report = await s.fsck();
    expect(report.problems).toEqual([
      { code: "stray_file", subject: "tmp", message: `tmp is a symbolic link to ${shared}, not a directory: writers refuse the store (E_STORE_CORRUPT) until it is moved out of the store` },
    ]);
    s.close();
    expect(readdirSync(shared).sort()).toEqual(["4194303-0123456789abcdef.part", "a.txt", "keep"]);

    // Moved aside: the next writer makes tmp/ again and works.
    rmSync(tmp);
    const ok = writer(dir);
    expect(ok.putBytes(Buffer.alloc(100_000, 3)).created).toBe(true);
    expect((await ok.fsck()).ok).toBe(true);
  });
});
