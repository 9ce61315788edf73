/**
 * Audit 2, object files:
 * - reads and fsck are bounded by the recorded size: an object that is a symlink to /dev/zero, a
 *   3 GiB sparse file or a FIFO fails at once with E_STORE_CORRUPT (no hang, no raw
 *   ERR_FS_FILE_TOO_LARGE); a descriptor that never ends is read one byte past the size at most;
 * - something other than a regular file where an object file goes (a directory) is
 *   E_STORE_CORRUPT for every read and an fsck finding, not a raw EISDIR;
 * - a stray regular file at objects/<2 hex>: the large put that committed reports success, and
 *   recovery never refuses a writer over it: it is left for fsck to report.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { verifyFd } from "../../src/store/artifact-reads.js";
import type { ArtifactRow } from "../../src/store/artifact-rows.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { drain, objectFile } from "./helpers.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function newStore(dir = join(makeTempDir(), "store")): Store {
  const s = openStore({ dir });
  open.push(s);
  return s;
}

/** Every read path refuses `d` with exactly this E_STORE_CORRUPT message, nothing delivered or written. */
async function expectEveryReadRefuses(store: Store, d: Digest, message: string): Promise<void> {
  let thrown: unknown;
  try {
    store.get(d);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(CairnError);
  expect((thrown as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
  expect((thrown as CairnError).message).toBe(message);

  let streamed: { bytes: number; err: unknown } | undefined;
  try {
    streamed = await drain(() => store.openReadStream(d));
  } catch (err) {
    streamed = { bytes: 0, err };
  }
  expect(streamed.bytes).toBe(0);
  expect((streamed.err as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
  expect((streamed.err as CairnError).message).toBe(message);

  const out = makeTempDir();
  await expect(store.getToFile(d, join(out, "o.bin"))).rejects.toMatchObject({ code: ErrorCode.STORE_CORRUPT, message });
  expect(readdirSync(out)).toEqual([]);
}

/** A store holding one 100 000-byte file artifact whose object file `replace` then swaps for something else. */
async function replaced(replace: (path: string) => void): Promise<{ store: Store; d: Digest; rel: string }> {
  const store = newStore();
  const d = (await store.put(Buffer.alloc(100_000, 3))).digest;
  const p = objectFile(store.root, d);
  chmodSync(p, 0o644);
  unlinkSync(p);
  replace(p);
  const hex = d.slice(7);
  return { store, d, rel: join("objects", hex.slice(0, 2), hex.slice(2)) };
}

describe("reads and fsck are bounded by the recorded size", () => {
  it("an object symlinked to /dev/zero: every read and fsck fail at once (a device is not a regular file)", async () => {
    const { store, d, rel } = await replaced((p) => symlinkSync("/dev/zero", p));
    const message = `artifact ${d} is corrupt: its file ${rel} is not a regular file (a device)`;
    await expectEveryReadRefuses(store, d, message);
    const report = await store.fsck();
    expect(report.problems).toEqual([{ code: "artifact_corrupt", subject: d, message }]);
  }, 20_000);

  it("a 3 GiB sparse object: E_STORE_CORRUPT from its size, nothing read (no ERR_FS_FILE_TOO_LARGE)", async () => {
    const { store, d } = await replaced((p) => {
      writeFileSync(p, "");
      truncateSync(p, 3 * 1024 ** 3);
    });
    const message = `artifact ${d} is corrupt: stored size 3221225472 differs from recorded size 100000`;
    await expectEveryReadRefuses(store, d, message);
    const report = await store.fsck();
    expect(report.problems).toEqual([{ code: "artifact_corrupt", subject: d, message }]);
    expect(report.checked.bytes).toBe(0);
  }, 20_000);

  it("a FIFO where the object goes: refused without waiting for a writer", async () => {
    const probe = spawnSync("mkfifo", ["--version"]);
    if (probe.error !== undefined) return; // no mkfifo on this system
    const { store, d, rel } = await replaced((p) => {
      expect(spawnSync("mkfifo", [p]).status).toBe(0);
    });
    const message = `artifact ${d} is corrupt: its file ${rel} is not a regular file (a FIFO)`;
    await expectEveryReadRefuses(store, d, message);
    expect((await store.fsck()).problems).toEqual([{ code: "artifact_corrupt", subject: d, message }]);
  }, 20_000);

  it("a descriptor that never ends (the size checked at open no longer holds) is read one byte past the recorded size, no further", async () => {
    const bytes = Buffer.alloc(70_000, 0);
    const d = sha256(bytes);
    const row = { logseq: 1, digest: Buffer.from(d.slice(7), "hex"), size: bytes.length, type_tag: null } as unknown as ArtifactRow;
    const fd = openSync("/dev/zero", "r");
    try {
      await expect(verifyFd(d, row, { fd, size: bytes.length })).rejects.toMatchObject({
        code: ErrorCode.STORE_CORRUPT,
        message: `artifact ${d} is corrupt: its file holds more than the recorded 70000 bytes`,
      });
    } finally {
      closeSync(fd);
    }
  }, 20_000);
});

describe("something other than a regular file where an object file goes", () => {
  it("a directory: E_STORE_CORRUPT for get, stream and getToFile (not EISDIR); fsck reports artifact_corrupt", async () => {
    const { store, d, rel } = await replaced((p) => mkdirSync(p));
    const message = `artifact ${d} is corrupt: its file ${rel} is not a regular file (a directory)`;
    await expectEveryReadRefuses(store, d, message);
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([{ code: "artifact_corrupt", subject: d, message }]);
  });

  it("CLI: store get and fsck exit 1 with E_STORE_CORRUPT (not E_INTERNAL)", async () => {
    const { cairn } = await import("../cli/helpers.js");
    const { store, d, rel } = await replaced((p) => mkdirSync(p));
    store.close();
    const message = `artifact ${d} is corrupt: its file ${rel} is not a regular file (a directory)`;
    const g = cairn(["--store", store.root, "store", "get", d], { cwd: store.root });
    expect(g.status).toBe(1);
    expect(g.stdout.length).toBe(0);
    expect(g.err).toBe(`cairn: ${message} [E_STORE_CORRUPT]\n`);
    const f = cairn(["--store", store.root, "fsck"], { cwd: store.root });
    expect(f.status).toBe(1);
    expect(f.out.split("\n")[0]).toBe(`artifact_corrupt  ${d}  ${message}`);
  });
});

describe("a stray regular file at objects/<2 hex>", () => {
  it("the large put that committed reports success; reads use tmp/<hex>.ready; writers (fsck too) still open; fsck reports it", async () => {
    const dir = join(makeTempDir(), "store");
    const bytes = Buffer.alloc(100_000, 0);
    const d = sha256(bytes);
    const hex = d.slice(7);
    const first = newStore(dir);
    writeFileSync(join(dir, "objects", hex.slice(0, 2)), "junk");
    const put = await first.put(bytes);
    expect(put).toMatchObject({ digest: d, created: true, storage: "file", state: "present" });
    expect(readdirSync(join(dir, "tmp"))).toEqual([`${hex}.ready`]);
    expect(first.get(d).equals(bytes)).toBe(true);
    // a synchronous put too
    const other = Buffer.alloc(90_000, 0);
    const d2 = sha256(other);
    if (d2.slice(7, 9) !== hex.slice(0, 2)) writeFileSync(join(dir, "objects", d2.slice(7, 9)), "junk");
    expect(first.putBytes(other)).toMatchObject({ digest: d2, created: true });
    first.close();
    open.splice(open.indexOf(first), 1);

    const second = newStore(dir); // recovery cannot place them: it leaves them
    expect(second.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 0 });
    expect(second.get(d).equals(bytes)).toBe(true);
    expect(second.putBytes(Buffer.from("another put")).created).toBe(true);
    const report = await second.fsck();
    const orphans = [...new Set([hex.slice(0, 2), d2.slice(7, 9)])].sort().map((n) => ["orphan_file", join("objects", n)]);
    const strays = [`${hex}.ready`, `${d2.slice(7)}.ready`].sort().map((n) => ["stray_file", join("tmp", n)]);
    expect(report.problems.map((p) => [p.code, p.subject])).toEqual([...orphans, ...strays]);
    const stray = report.problems.find((p) => p.subject === join("tmp", `${hex}.ready`));
    expect(stray?.message).toBe(
      `file tmp/${hex}.ready of artifact ${d} was never moved into objects/ (crash recovery could not place it; reads use it where it is)`,
    );
    second.close();
    open.splice(open.indexOf(second), 1);

    // Once the blockers are gone, the next writer places the files and fsck is clean.
    rmSync(join(dir, "objects", hex.slice(0, 2)));
    rmSync(join(dir, "objects", d2.slice(7, 9)), { force: true });
    const third = newStore(dir);
    expect(third.recovery).toEqual({ removed: 0, placed: 2, finishedSweeps: 0 });
    expect(existsSync(objectFile(dir, d))).toBe(true);
    expect((await third.fsck()).problems).toEqual([]);
  });

  it("an interrupted sweep whose file cannot be removed is left sweeping: the writer opens, fsck reports it, a later writer finishes it", async () => {
    const dir = join(makeTempDir(), "store");
    const s = newStore(dir);
    const d = s.putBytes(Buffer.alloc(100_000, 5)).digest;
    s.close();
    open.splice(open.indexOf(s), 1);
    const db = new Database(join(dir, "catalog.sqlite"));
    db.prepare("UPDATE artifacts SET state = 1").run(); // as if gc died after committing "sweeping"
    db.close();
    const p = objectFile(dir, d);
    chmodSync(p, 0o644);
    unlinkSync(p);
    mkdirSync(p); // unlink fails (EISDIR)
    writeFileSync(join(p, "x"), "x");

    const w = newStore(dir);
    expect(w.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 0 });
    expect(() => w.get(d)).toThrow(/its bytes were collected by gc/);
    expect((await w.fsck()).problems).toEqual([
      { code: "swept_bytes_present", subject: d, message: `artifact ${d} was swept but its file is still present` },
    ]);
    w.close();
    open.splice(open.indexOf(w), 1);
    rmSync(p, { recursive: true });
    const later = newStore(dir);
    expect(later.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 1 });
    expect(later.stat(d).state).toBe("swept");
  });
});
