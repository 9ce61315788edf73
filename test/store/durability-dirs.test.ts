/**
 * Directory fsyncs of the store's file-system steps (ARCHITECTURE §5.6, §5.14, §9 Durability),
 * observed by instrumenting `node:fs` (each fsync recorded with the path of its descriptor, read
 * from /proc/self/fd; every call is still performed). Power loss cannot be tested here: these
 * check that the fsync that makes a step durable happens, and happens before the catalog
 * commit that relies on it.
 *
 * - placing a large artifact: a fan-out directory `objects/ab/` made now is fsynced in
 *   `objects/` before the `.ready` file is renamed into it; an existing one is not (no fsync per
 *   file); a writer's open fsyncs `objects/` before recovery places anything;
 * - gc's sweep and recovery's finishing of an interrupted one: each directory files were removed
 *   from is fsynced once, while their rows are still `sweeping`, before they are marked swept; a
 *   directory that cannot be fsynced keeps its rows `sweeping`;
 * - `getToFile`: its temp file follows the shared naming rule (§5.16), dead writers' temps of
 *   the same destination are swept, and the destination's directory is fsynced after the rename.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { fixedClock } from "../../src/core/clock.js";
import { digestToBytes } from "../../src/core/digest.js";
import { SMALL_ARTIFACT_MAX_BYTES } from "../../src/store/layout.js";
import { pidSpace, taggedTempWriter, writerTempName } from "../../src/store/temp-files.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn, expectCairnAsync, objectFile } from "./helpers.js";

type FsEvent = { op: "fsync" | "mkdir" | "rename" | "unlink" | "open"; path: string; to?: string };

const hook = vi.hoisted(() => ({
  onEvent: undefined as undefined | ((e: { op: string; path: string; to?: string }) => void),
  /** Called before an fsync; throwing fails it (the fsync is then not performed). */
  beforeFsync: undefined as undefined | ((path: string) => void),
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const pathOfFd = (fd: number): string => {
    try {
      return real.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return `fd:${fd}`;
    }
  };
  const fsyncSync = (fd: number): void => {
    const path = pathOfFd(fd);
    hook.beforeFsync?.(path);
    real.fsyncSync(fd);
    hook.onEvent?.({ op: "fsync", path });
  };
  const mkdirSync = ((p: import("node:fs").PathLike, o?: unknown) => {
    const r = real.mkdirSync(p, o as never);
    hook.onEvent?.({ op: "mkdir", path: String(p) });
    return r;
  }) as typeof real.mkdirSync;
  const renameSync = (from: import("node:fs").PathLike, to: import("node:fs").PathLike): void => {
    real.renameSync(from, to);
    hook.onEvent?.({ op: "rename", path: String(from), to: String(to) });
  };
  const unlinkSync = (p: import("node:fs").PathLike): void => {
    real.unlinkSync(p);
    hook.onEvent?.({ op: "unlink", path: String(p) });
  };
  const patched = { fsyncSync, mkdirSync, renameSync, unlinkSync };
  return { ...real, ...patched, default: { ...real, ...patched } };
});

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const open = ((p: import("node:fs").PathLike, ...rest: unknown[]) => {
    hook.onEvent?.({ op: "open", path: String(p) });
    return (real.open as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof real.open;
  return { ...real, open, default: { ...real, open } };
});

const open: Array<{ close(): void }> = [];
afterEach(() => {
  hook.onEvent = undefined;
  hook.beforeFsync = undefined;
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

/** Records the instrumented calls made while `fn` runs. */
async function recorded(fn: () => unknown): Promise<FsEvent[]> {
  const events: FsEvent[] = [];
  hook.onEvent = (e) => events.push(e as FsEvent);
  try {
    await fn();
  } finally {
    hook.onEvent = undefined;
  }
  return events;
}

function writer(dir: string, now = 1_000): Store {
  const s = openStore({ dir, clock: fixedClock(now) });
  open.push(s);
  return s;
}

/** A large (file-stored) artifact's bytes whose digest starts with the byte `hex` ("ab"), or any when undefined. */
function largeBytes(seed: string, hex?: string): Buffer {
  for (let i = 0; ; i++) {
    const b = Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 100, 7);
    b.write(`${seed}:${i}`);
    if (hex === undefined || sha256(b).slice("sha256:".length).startsWith(hex)) return b;
  }
}

const fanOut = (d: Digest): string => d.slice("sha256:".length, "sha256:".length + 2);

/** The raw `state` column of an artifact row (0 present, 1 sweeping, 2 swept), read through its own connection. */
function rawStates(dir: string): (d: Digest) => number {
  const db = new Database(join(dir, "catalog.sqlite"), { readonly: true });
  open.push(db);
  const q = db.prepare("SELECT state FROM artifacts WHERE digest = ?");
  return (d) => (q.get(digestToBytes(d)) as { state: number }).state;
}

describe("placing a large artifact", () => {
  it("a new fan-out directory is fsynced in objects/ before the rename into it; an existing one is not fsynced again", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const objects = join(dir, "objects");
    const a = largeBytes("first");
    const hex = fanOut(sha256(a));
    const fanDir = join(objects, hex);
    expect(existsSync(fanDir)).toBe(false);

    const first = await recorded(() => s.putBytes(a));
    const made = first.findIndex((e) => e.op === "mkdir" && e.path === fanDir);
    const synced = first.findIndex((e) => e.op === "fsync" && e.path === objects);
    const placed = first.findIndex((e) => e.op === "rename" && e.to === objectFile(dir, sha256(a)));
    expect(made, JSON.stringify(first)).toBeGreaterThanOrEqual(0);
    expect(synced, JSON.stringify(first)).toBeGreaterThan(made);
    expect(placed, JSON.stringify(first)).toBeGreaterThan(synced);
    // after the rename: the fan-out directory, then tmp/
    expect(first.slice(placed).filter((e) => e.op === "fsync").map((e) => e.path)).toEqual([fanDir, join(dir, "tmp")]);

    // A second artifact in the same fan-out directory: no fsync of objects/ (none per file).
    const b = largeBytes("second", hex);
    const second = await recorded(() => s.putBytes(b));
    expect(second.some((e) => e.op === "rename" && e.to === objectFile(dir, sha256(b)))).toBe(true);
    expect(second.filter((e) => e.op === "mkdir")).toEqual([]);
    expect(second.filter((e) => e.op === "fsync" && e.path === objects)).toEqual([]);
    expect(s.get(sha256(a)).equals(a) && s.get(sha256(b)).equals(b)).toBe(true);
  });

  it("a writer's open fsyncs objects/ before recovery places a committed .ready file into an existing fan-out directory", async () => {
    const dir = join(makeTempDir(), "store");
    const a = largeBytes("recovered");
    const d = sha256(a);
    const s = writer(dir);
    s.putBytes(a);
    s.close();
    open.pop();
    // As a writer killed after its commit leaves it, once it had made objects/ab/ (not yet fsynced).
    renameSync(objectFile(dir, d), join(dir, "tmp", `${d.slice("sha256:".length)}.ready`));
    expect(existsSync(join(dir, "objects", fanOut(d)))).toBe(true);

    let reopened: Store | undefined;
    const events = await recorded(() => (reopened = writer(dir)));
    expect(reopened?.recovery).toEqual({ removed: 0, placed: 1, finishedSweeps: 0 });
    const synced = events.findIndex((e) => e.op === "fsync" && e.path === join(dir, "objects"));
    const placed = events.findIndex((e) => e.op === "rename" && e.to === objectFile(dir, d));
    expect(synced, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
    expect(placed, JSON.stringify(events)).toBeGreaterThan(synced);
    expect(reopened?.get(d).equals(a)).toBe(true);
  });

  it("recovery makes a missing objects/ or tmp/ again, durably (fsync of the store directory)", async () => {
    const dir = join(makeTempDir(), "store");
    writer(dir).close();
    open.pop();
    rmSync(join(dir, "objects"), { recursive: true });
    rmSync(join(dir, "tmp"), { recursive: true });
    const events = await recorded(() => writer(dir));
    for (const sub of ["tmp", "objects"]) {
      const made = events.findIndex((e) => e.op === "mkdir" && e.path === join(dir, sub));
      expect(made, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
      expect(events.findIndex((e, i) => i > made && e.op === "fsync" && e.path === dir), JSON.stringify(events)).toBeGreaterThan(made);
    }
  });
});

/** A store holding large artifacts in at least two fan-out directories (two in the first), closed; reopened later for gc. */
function sweepable(dir: string): Digest[] {
  const s = writer(dir, 1_000);
  const a = largeBytes("sweep-a");
  const hex = fanOut(sha256(a));
  const b = largeBytes("sweep-b", hex);
  let c: Buffer;
  for (let i = 0; ; i++) {
    c = largeBytes(`sweep-c${i}`);
    if (fanOut(sha256(c)) !== hex) break;
  }
  const digests = [a, b, c].map((x) => s.putBytes(x).digest);
  s.close();
  open.pop();
  return digests;
}

describe("creating a store", () => {
  it("the store directory and each parent made for it are fsynced into their parents before FORMAT is written", async () => {
    const base = makeTempDir();
    const dir = join(base, "a", "b", "store");
    const events = await recorded(() => writer(dir));
    const format = events.findIndex((e) => e.op === "rename" && e.to === join(dir, "FORMAT"));
    expect(format, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
    for (const [made, parent] of [[join(base, "a"), base], [join(base, "a", "b"), join(base, "a")], [dir, join(base, "a", "b")]]) {
      const mkdir = events.findIndex((e) => e.op === "mkdir" && e.path === made);
      const synced = events.findIndex((e, i) => i > mkdir && e.op === "fsync" && e.path === parent);
      expect({ made, mkdir: mkdir >= 0 }, JSON.stringify(events)).toEqual({ made, mkdir: true });
      expect({ made, synced: synced > mkdir && synced < format }, JSON.stringify(events)).toEqual({ made, synced: true });
    }
  });

  // A parent this process may write but not read (mode -wx) cannot be opened to fsync. The tests
  // run as root, which no mode stops, so the refusal is injected at the fsync with the same error.
  const denied = (path: string) => Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: "EACCES", syscall: "open" });

  it("an existing parent that cannot be opened to fsync (mode -wx) does not stop init; the directories made are still fsynced", async () => {
    const base = makeTempDir();
    const dir = join(base, "a", "store");
    hook.beforeFsync = (p) => {
      if (p === base) throw denied(p);
    };
    const events = await recorded(() => writer(dir));
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
    const synced = events.filter((e) => e.op === "fsync").map((e) => e.path);
    expect(synced).not.toContain(base);
    expect(synced).toContain(join(base, "a"));
  });

  it("a directory made for the store that cannot be fsynced fails init with E_STORE_IO", () => {
    const base = makeTempDir();
    const dir = join(base, "a", "store");
    hook.beforeFsync = (p) => {
      if (p === join(base, "a")) throw denied(p);
    };
    expectCairn(
      () => writer(dir),
      ErrorCode.STORE_IO,
      `cannot create store directory ${dir}: EACCES: permission denied, open '${join(base, "a")}'`,
    );
    expect(existsSync(join(dir, "FORMAT"))).toBe(false);
  });

  it("an existing empty directory becomes a store without fsyncing its parent", async () => {
    const base = makeTempDir();
    const dir = join(base, "store");
    mkdirSync(dir);
    const events = await recorded(() => writer(dir));
    expect(events.some((e) => e.op === "fsync" && e.path === base), JSON.stringify(events)).toBe(false);
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
  });
});

describe("gc's sweep", () => {
  it("fsyncs each directory it removed files from once, after the unlinks and while the rows are sweeping, then marks them swept", async () => {
    const dir = join(makeTempDir(), "store");
    const digests = sweepable(dir);
    const s = writer(dir, 5_000);
    const state = rawStates(dir);
    const statesAtFsync = new Map<string, number[]>();
    hook.beforeFsync = (p) => {
      if (dirname(p) === join(dir, "objects")) statesAtFsync.set(p, digests.filter((d) => join(dir, "objects", fanOut(d)) === p).map(state));
    };
    const events = await recorded(() => expect(s.gc({ graceMs: 0 }).sweptCount).toBe(3));

    const dirs = [...new Set(digests.map((d) => join(dir, "objects", fanOut(d))))];
    expect(dirs).toHaveLength(2);
    for (const fd of dirs) {
      const fsyncs = events.map((e, i) => ({ e, i })).filter(({ e }) => e.op === "fsync" && e.path === fd);
      expect(fsyncs, `${fd}: ${JSON.stringify(events)}`).toHaveLength(1);
      const lastUnlink = events.findLastIndex((e) => e.op === "unlink" && dirname(e.path) === fd);
      expect(lastUnlink).toBeGreaterThanOrEqual(0);
      expect(fsyncs[0]?.i).toBeGreaterThan(lastUnlink);
      // the rows of its files were still `sweeping` (1) when it was fsynced
      expect(statesAtFsync.get(fd)?.every((st) => st === 1), JSON.stringify([...statesAtFsync])).toBe(true);
    }
    for (const d of digests) {
      expect(state(d)).toBe(2);
      expect(existsSync(objectFile(dir, d))).toBe(false);
    }
    expect((await s.fsck()).problems).toEqual([]);
  });

  it("a directory that cannot be fsynced keeps its rows sweeping (E_STORE_IO naming it); a writer's open finishes them", async () => {
    const dir = join(makeTempDir(), "store");
    const digests = sweepable(dir);
    const [a, b, c] = digests as [Digest, Digest, Digest];
    const failing = join(dir, "objects", fanOut(a));
    const s = writer(dir, 5_000);
    const state = rawStates(dir);
    hook.beforeFsync = (p) => {
      if (p === failing) throw Object.assign(new Error(`EIO: i/o error, fsync`), { code: "EIO", syscall: "fsync" });
    };
    const err = expectCairn(
      () => s.gc({ graceMs: 0 }),
      ErrorCode.STORE_IO,
      `gc cannot fsync ${failing} to make the removal of its swept files durable: EIO: i/o error; their 2 artifacts stay "sweeping" until a writer opening the store finishes the sweep: fix the cause, then reopen the store`,
    );
    expect(err.details).toEqual({ path: failing, failed: 2, errno: "EIO" });
    hook.beforeFsync = undefined;
    expect([a, b, c].map(state)).toEqual([1, 1, 2]);
    for (const d of digests) expect(existsSync(objectFile(dir, d))).toBe(false);
    s.close();
    open.splice(open.indexOf(s), 1);

    const again = writer(dir, 6_000);
    expect(again.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 2 });
    expect([a, b, c].map(state)).toEqual([2, 2, 2]);
    expect((await again.fsck()).problems).toEqual([]);
  });
});

describe("recovery finishing an interrupted sweep", () => {
  /** The store of `sweepable` with its file rows set `sweeping`, as a gc killed after its first commit leaves it. */
  function interrupted(dir: string): Digest[] {
    const digests = sweepable(dir);
    const db = new Database(join(dir, "catalog.sqlite"));
    db.prepare("UPDATE artifacts SET state = 1 WHERE storage = 1").run();
    db.close();
    return digests;
  }

  it("fsyncs each directory once, while the rows are still sweeping, before marking them swept", async () => {
    const dir = join(makeTempDir(), "store");
    const digests = interrupted(dir);
    const state = rawStates(dir);
    const statesAtFsync = new Map<string, number[]>();
    hook.beforeFsync = (p) => {
      if (dirname(p) === join(dir, "objects")) statesAtFsync.set(p, digests.filter((d) => join(dir, "objects", fanOut(d)) === p).map(state));
    };
    let s: Store | undefined;
    const events = await recorded(() => (s = writer(dir, 5_000)));
    expect(s?.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 3 });
    const dirs = [...new Set(digests.map((d) => join(dir, "objects", fanOut(d))))];
    for (const fd of dirs) {
      expect(events.filter((e) => e.op === "fsync" && e.path === fd), JSON.stringify(events)).toHaveLength(1);
      expect(statesAtFsync.get(fd)?.every((st) => st === 1), JSON.stringify([...statesAtFsync])).toBe(true);
    }
    for (const d of digests) expect(state(d)).toBe(2);
    expect((await (s as Store).fsck()).problems).toEqual([]);
  });

  it("a directory that cannot be fsynced keeps its rows sweeping; the next open finishes them", async () => {
    const dir = join(makeTempDir(), "store");
    const [a, b, c] = interrupted(dir) as [Digest, Digest, Digest];
    const state = rawStates(dir);
    const failing = join(dir, "objects", fanOut(a));
    hook.beforeFsync = (p) => {
      if (p === failing) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    };
    const s = writer(dir, 5_000);
    expect(s.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 1 });
    expect([a, b, c].map(state)).toEqual([1, 1, 2]);
    hook.beforeFsync = undefined;
    s.close();
    open.splice(open.indexOf(s), 1);
    const again = writer(dir, 6_000);
    expect(again.recovery).toEqual({ removed: 0, placed: 0, finishedSweeps: 2 });
    expect([a, b, c].map(state)).toEqual([2, 2, 2]);
  });
});

describe("getToFile", () => {
  /** The pid of a process that has exited. */
  const deadPid = (): number => spawnSync(process.execPath, ["-e", "0"]).pid as number;

  it("writes through a temp file named by the shared rule, then fsyncs the destination's directory after the rename", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const outDir = join(makeTempDir(), "out");
    mkdirSync(outDir);
    for (const bytes of [Buffer.from("packed bytes"), largeBytes("to-file")]) {
      const d = s.putBytes(bytes).digest;
      const dest = join(outDir, `copy-${bytes.length}.bin`);
      const events = await recorded(() => s.getToFile(d, dest));
      const tmp = events.find((e) => e.op === "open" && dirname(e.path) === outDir)?.path as string;
      expect(tmp, JSON.stringify(events)).toBeDefined();
      expect(taggedTempWriter(basename(tmp), `${basename(dest)}.`)).toEqual({ pid: process.pid, space: pidSpace() });
      const renamed = events.findIndex((e) => e.op === "rename" && e.path === tmp && e.to === dest);
      expect(renamed, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
      expect(events.findIndex((e, i) => i > renamed && e.op === "fsync" && e.path === outDir), JSON.stringify(events)).toBeGreaterThan(renamed);
    }
    expect(readdirSync(outDir).sort()).toEqual(["copy-12.bin", `copy-${SMALL_ARTIFACT_MAX_BYTES + 100}.bin`]);
  });

  it("removes dead writers' temp files of the same destination, and nothing else", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const d = s.putBytes(Buffer.from("copied")).digest;
    const outDir = join(makeTempDir(), "out");
    mkdirSync(outDir);
    const space = pidSpace() as string;
    const other = space === "00000000" ? "00000001" : "00000000";
    const dead = deadPid();
    const hex = "0123456789abcdef";
    const stale = writerTempName("out.bin.", dead, space, hex);
    const kept = [
      writerTempName("out.bin.", process.pid, space, hex), // this process's own
      writerTempName("out.bin.", dead, other, hex), // another pid space: its pid says nothing here
      `out.bin.${dead}.01234567.tmp`, // the legacy name: a pid alone, never swept (§5.16)
      writerTempName("other.bin.", dead, space, hex), // another destination's
    ];
    for (const n of [stale, ...kept]) writeFileSync(join(outDir, n), "left");
    await s.getToFile(d, join(outDir, "out.bin"));
    expect(readdirSync(outDir).sort()).toEqual(["out.bin", ...kept].sort());
  });

  it("a destination directory that cannot be fsynced is E_STORE_IO naming the destination", async () => {
    const dir = join(makeTempDir(), "store");
    const s = writer(dir);
    const d = s.putBytes(Buffer.from("copied")).digest;
    const outDir = join(makeTempDir(), "out");
    mkdirSync(outDir);
    const dest = join(outDir, "out.bin");
    hook.beforeFsync = (p) => {
      if (p === outDir) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    };
    const err = await expectCairnAsync(s.getToFile(d, dest), ErrorCode.STORE_IO);
    expect(err.message).toBe(`cannot write ${dest}: EIO: i/o error, fsync`);
    expect(err.details).toEqual({ path: dest });
  });
});
