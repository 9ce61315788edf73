/**
 * The data-root lock (src/workflow/effects/data-root-lock.ts): one holder at a time runs
 * workflows on a data root, across processes. Other processes are children (fixtures/
 * data-root-lock-holder.mts, run through tsx) that hold or try to take a lock.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, exitCodeFor } from "../../src/core/errors.js";
import { runCairnCore, runCairnWorkflow } from "../../src/workflow/cairn/run.js";
import {
  acquireDataRootLock, acquireDataRootLockAsync, dataRootLockDir, dataRootLockFile, dataRootRealPath, withPrivateDataRootLock, DATA_ROOT_LOCK_DIR_ENV, DATA_ROOT_LOCK_DIR_PREFIX,
  DEFAULT_DATA_ROOT_LOCK_WAIT_MS, MAX_DATA_ROOT_LOCK_WAIT_MS, type DataRootLock,
} from "../../src/workflow/effects/data-root-lock.js";
import { fromPlain, readPayloadFile, runPgsWorkflow, type PyObject, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { baseDecl, laneRegistryDecl, payload as cairnPayload, prepared } from "./cairn-fixture.js";
import { dropLock, holdLock, killLockChildren, tryLockElsewhere } from "./fixtures/lock-child.js";
import { ACTOR_PAYLOAD, cairnErrorOf, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
const locks: DataRootLock[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await killLockChildren();
  for (const l of locks.splice(0)) l.release();
  for (const b of boxes.splice(0)) b.cleanup();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-lock-test-"));
  dirs.push(d);
  return d;
}

function lock(dataRoot: string, waitMs?: number): DataRootLock {
  const l = acquireDataRootLock(dataRoot, waitMs === undefined ? {} : { waitMs });
  locks.push(l);
  return l;
}

/** Options of one REGISTER_ACTOR run on `b`. */
function actorRun(b: Sandbox, extra: Partial<RunPgsOptions> = {}): RunPgsOptions {
  return { workspace: b.workspace, workflow: WF.actor, payload: readPayloadFile(ACTOR_PAYLOAD), dataRoot: b.dataRoot, ...extra };
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

const lockedByOther = (root: string, ms: number): string =>
  `data root ${root} is locked: another process is running workflows on it (waited ${ms} ms); retry when it finishes (a \`cairn serve\` holds its data root's lock until it stops)`;

describe("across processes", () => {
  it("a run fails with E_DATA_ROOT_LOCKED, naming the data root and the wait, while another process holds the lock; nothing is written", async () => {
    const b = box();
    await holdLock(b.dataRoot);
    const t0 = Date.now();
    const e = cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 250 })));
    const waited = Date.now() - t0;
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(lockedByOther(b.dataRoot, 250));
    expect(e.details).toEqual({
      reason: "data_root_locked", path: b.dataRoot, realPath: realpathSync(b.dataRoot), lockFile: dataRootLockFile(realpathSync(b.dataRoot)), waitedMs: 250, holder: "another process",
    });
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(3000);
    expect(filesUnder(b.dataRoot)).toEqual([]);
    expect(readdirSync(b.workspace)).not.toContain("traces");
  });

  it("a SIGKILLed holder leaves no stale lock: the run succeeds at once without waiting", async () => {
    const b = box();
    const child = await holdLock(b.dataRoot);
    expect(cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 0 }))).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect((await child.kill()).signal).toBe("SIGKILL");
    const r = runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 0 }));
    expect(r.status).toBe("SUCCESS");
  });

  it("a run waits for a holder that releases within the wait", async () => {
    const b = box();
    const child = await holdLock(b.dataRoot, 300);
    const r = runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 10_000 }));
    const finished = Date.now();
    expect(r.status).toBe("SUCCESS");
    await child.exited;
    expect(child.lines).toContain("RELEASED");
    // The run got the lock only once the holder let it go (same host, same wall clock).
    const releasing = Number(child.lines.find((l) => l.startsWith("RELEASING "))?.slice("RELEASING ".length));
    expect(finished).toBeGreaterThanOrEqual(releasing);
  });

  it("acquireDataRootLockAsync waits for another process without blocking the event loop", async () => {
    const b = box();
    const child = await holdLock(b.dataRoot, 300);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const l = await acquireDataRootLockAsync(b.dataRoot, { waitMs: 20_000 });
      locks.push(l);
      const acquired = Date.now();
      expect(l.held).toBe(true);
      expect(ticks).toBeGreaterThan(0); // the synchronous acquire would have blocked every tick
      await child.exited;
      const releasing = Number(child.lines.find((x) => x.startsWith("RELEASING "))?.slice("RELEASING ".length));
      expect(acquired).toBeGreaterThanOrEqual(releasing);
    } finally {
      clearInterval(timer);
    }
  });

  it("acquireDataRootLockAsync fails after its wait with the same error, naming the wait; at once when this process holds it", async () => {
    const b = box();
    await holdLock(b.dataRoot);
    const e = await acquireDataRootLockAsync(b.dataRoot, { waitMs: 150 }).then(
      () => undefined,
      (err: unknown) => err as CairnError,
    );
    expect(e?.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e?.message).toBe(lockedByOther(b.dataRoot, 150));
    expect(e?.details).toMatchObject({ holder: "another process", waitedMs: 150, path: b.dataRoot });
    const c = box();
    lock(c.dataRoot);
    const mine = await acquireDataRootLockAsync(c.dataRoot, { waitMs: 60_000 }).then(
      () => undefined,
      (err: unknown) => err as CairnError,
    );
    expect(mine?.details).toMatchObject({ holder: "this process", waitedMs: 0 });
  });

  it("a lock held by this process blocks other processes until it is released", async () => {
    const b = box();
    const l = lock(b.dataRoot);
    const seen = await tryLockElsewhere(b.dataRoot, 0);
    expect(seen).toMatchObject({ ok: false, code: ErrorCode.DATA_ROOT_LOCKED, message: lockedByOther(b.dataRoot, 0), details: { holder: "another process", waitedMs: 0 } });
    // Runs given the lock go ahead, and leave it held.
    const first = runPgsWorkflow(actorRun(b, { dataRootLock: l }));
    const second = runPgsWorkflow(actorRun(b, { dataRootLock: l }));
    expect([first.error, second.error]).toEqual([null, null]);
    expect(second.digests.priorState).toBe(first.digests.posteriorState); // the second saw the first's effects
    expect(l.held).toBe(true);
    expect((await tryLockElsewhere(b.dataRoot, 0)).ok).toBe(false);
    l.release();
    expect(l.held).toBe(false);
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
  });

  it("a run that takes the lock itself releases it when it returns, and when it throws", async () => {
    const b = box();
    expect(runPgsWorkflow(actorRun(b)).status).toBe("SUCCESS");
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
    expect(cairnErrorOf(() => runPgsWorkflow(actorRun(b, { workflow: "blockchain::WF_NOT_THERE_V0" }))).code).toBe(ErrorCode.NOT_FOUND);
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
    // In this process too: a new lock is taken at once.
    lock(b.dataRoot, 0).release();
  });

  it("different data roots do not block each other", async () => {
    const a = box();
    const b = box();
    await holdLock(a.dataRoot);
    expect(runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 0 })).status).toBe("SUCCESS");
    expect((await tryLockElsewhere(b.dataRoot, 0)).ok).toBe(true);
    expect(cairnErrorOf(() => runPgsWorkflow(actorRun(a, { dataRootLockWaitMs: 0 }))).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
  });

  it("one data root reached through a symlink is one lock", async () => {
    const b = box();
    const link = join(tempDir(), "link-to-data");
    symlinkSync(b.dataRoot, link);
    await holdLock(link);
    const e = cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 0 })));
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(lockedByOther(b.dataRoot, 0));
  });

  it("a Cairn snapshot run takes the lock too", async () => {
    const { snap, dir } = await prepared(baseDecl());
    dirs.push(dir);
    const dataRoot = join(dir, "data");
    await holdLock(dataRoot);
    const e = cairnErrorOf(() => runCairnWorkflow({ snapshot: snap, payload: cairnPayload({ x: 1 }), dataRoot, baseDir: dir, dataRootLockWaitMs: 100 }));
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(lockedByOther(dataRoot, 100));
    expect(readdirSync(dir)).not.toContain("traces");
    await killLockChildren();
    const r = runCairnWorkflow({ snapshot: snap, payload: cairnPayload({ x: 1 }), dataRoot, baseDir: dir, dataRootLockWaitMs: 0 });
    expect(r.status).toBe("SUCCESS");
    expect(await tryLockElsewhere(dataRoot, 0)).toEqual({ ok: true });
    // Given a held lock, it runs under it and leaves it held.
    const l = lock(dataRoot);
    expect(runCairnWorkflow({ snapshot: snap, payload: cairnPayload({ x: 2 }), dataRoot, baseDir: dir, dataRootLock: l }).status).toBe("SUCCESS");
    expect(l.held).toBe(true);
    expect((await tryLockElsewhere(dataRoot, 0)).ok).toBe(false);
  });
});

describe("a lane-bound Cairn run (the runCairnCore generator)", () => {
  const laneDecl = () => laneRegistryDecl("http://127.0.0.1:9/x", "loopback");

  it("holds the lock while a lane step is out (across the yield) and releases it when the run finishes", async () => {
    const { snap, dir } = await prepared(laneDecl());
    dirs.push(dir);
    const dataRoot = join(dir, "data");
    const g = runCairnCore({ snapshot: snap, payload: cairnPayload({ name: "x" }), dataRoot, baseDir: dir, planeSession: "n@0:s" });
    const step = g.next();
    expect(step.done).toBe(false);
    expect(await tryLockElsewhere(dataRoot, 0)).toMatchObject({ ok: false, code: ErrorCode.DATA_ROOT_LOCKED });
    const end = g.next({ status: "SUCCESS", fields: fromPlain({ address: "a" }) as PyObject, lane: fromPlain({ lane_id: "http", status: "succeeded" }) as PyObject });
    expect(end.done).toBe(true);
    expect(await tryLockElsewhere(dataRoot, 0)).toEqual({ ok: true });
  });

  it("a driver's return() while a lane step is out releases the lock", async () => {
    const { snap, dir } = await prepared(laneDecl());
    dirs.push(dir);
    const dataRoot = join(dir, "data");
    const g = runCairnCore({ snapshot: snap, payload: cairnPayload({ name: "x" }), dataRoot, baseDir: dir, planeSession: "n@0:s" });
    expect(g.next().done).toBe(false);
    expect(cairnErrorOf(() => acquireDataRootLock(dataRoot, { waitMs: 0 })).details).toMatchObject({ holder: "this process" });
    g.return(undefined as never);
    lock(dataRoot, 0).release();
  });
});

describe("in one process", () => {
  it("a second acquire of a data root this process holds fails at once, saying so (no wait)", () => {
    const b = box();
    lock(b.dataRoot);
    const t0 = Date.now();
    const e = cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: 5000 })));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(`data root ${b.dataRoot} is already locked by this process (a run or a server in it holds the lock); pass that lock as \`dataRootLock\` instead of taking it again`);
    expect(e.details).toMatchObject({ reason: "data_root_locked", path: b.dataRoot, waitedMs: 0, holder: "this process" });
  });

  it("the message names the path the holder locked when it reached the data root another way", () => {
    const b = box();
    const link = join(tempDir(), "link");
    symlinkSync(b.dataRoot, link);
    const l = lock(link);
    const e = cairnErrorOf(() => acquireDataRootLock(b.dataRoot, { waitMs: 0 }));
    expect(e.message).toBe(`data root ${b.dataRoot} is already locked by this process (a run or a server in it holds the lock, taken for ${link}); pass that lock as \`dataRootLock\` instead of taking it again`);
    // The lock taken through the link covers the real path (and the run's data root).
    expect(runPgsWorkflow(actorRun(b, { dataRootLock: l })).status).toBe("SUCCESS");
  });

  it("a lock for another data root, a released lock or something else is a usage error", () => {
    const a = box();
    const b = box();
    const l = lock(a.dataRoot);
    let e = cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLock: l })));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.message).toBe(`the data-root lock given as dataRootLock is for ${a.dataRoot}, not for data root ${b.dataRoot}`);
    l.release();
    e = cairnErrorOf(() => runPgsWorkflow(actorRun(a, { dataRootLock: l })));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.message).toBe(`the data-root lock of ${a.dataRoot} given as dataRootLock was released`);
    e = cairnErrorOf(() => runPgsWorkflow(actorRun(a, { dataRootLock: {} as DataRootLock })));
    expect(e.message).toBe("dataRootLock must be a DataRootLock (acquireDataRootLock)");
    expect(filesUnder(a.dataRoot)).toEqual([]);
    expect(filesUnder(b.dataRoot)).toEqual([]);
  });

  it("waits must be integers in 0..MAX_DATA_ROOT_LOCK_WAIT_MS", () => {
    const b = box();
    for (const bad of [-1, 1.5, Number.NaN, MAX_DATA_ROOT_LOCK_WAIT_MS + 1]) {
      const e = cairnErrorOf(() => runPgsWorkflow(actorRun(b, { dataRootLockWaitMs: bad })));
      expect(e.code).toBe(ErrorCode.USAGE);
      expect(e.message).toBe(`dataRootLockWaitMs must be an integer number of milliseconds in 0..${MAX_DATA_ROOT_LOCK_WAIT_MS}, got ${String(bad)}`);
    }
    expect(cairnErrorOf(() => acquireDataRootLock(b.dataRoot, { waitMs: -5 })).message).toBe(`waitMs must be an integer number of milliseconds in 0..${MAX_DATA_ROOT_LOCK_WAIT_MS}, got -5`);
    expect(DEFAULT_DATA_ROOT_LOCK_WAIT_MS).toBe(5000);
  });

  it("release is idempotent and the lock can be taken again", () => {
    const b = box();
    const l = lock(b.dataRoot);
    l.release();
    l.release();
    lock(b.dataRoot, 0).release();
  });
});

describe("where the lock file lives", () => {
  it("outside the data root: in a private per-user directory of the temp dir, named by the real path's hash", () => {
    const b = box();
    const l = lock(b.dataRoot);
    const uid = process.getuid?.() ?? "user";
    const dir = join(tmpdir(), `${DATA_ROOT_LOCK_DIR_PREFIX}${uid}`);
    expect(dataRootLockDir()).toBe(dir);
    expect(l.realPath).toBe(realpathSync(b.dataRoot));
    expect(l.lockFile).toMatch(new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/[0-9a-f]{32}\\.lock$`));
    expect(l.lockFile).toBe(dataRootLockFile(realpathSync(b.dataRoot)));
    const st = lstatSync(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o077).toBe(0);
    // A run under the lock leaves exactly the workflow's files in the data root.
    runPgsWorkflow(actorRun(b, { dataRootLock: l }));
    expect(filesUnder(b.dataRoot)).toEqual(["blockchain/identity/events/identity_events.jsonl", "blockchain/identity/registry/actors.json"]);
  });

  it("a run gives the same trace and digests whether it takes the lock itself or is given it", () => {
    const a = box();
    const b = box();
    const own = runPgsWorkflow(actorRun(a));
    const given = runPgsWorkflow(actorRun(b, { dataRootLock: lock(b.dataRoot) }));
    expect(given.traceId).toBe(own.traceId);
    expect(given.digests).toEqual(own.digests);
  });

  it("a data root that is a dangling symlink is keyed by its target, before and after the target exists", () => {
    const base = tempDir();
    symlinkSync(join(base, "vol"), join(base, "data")); // data -> vol, vol missing
    const expected = join(realpathSync(base), "vol");
    expect(dataRootRealPath(join(base, "data"))).toBe(expected);
    expect(dataRootRealPath(join(base, "data", "x"))).toBe(join(expected, "x"));
    const l = lock(join(base, "data"));
    expect(l.realPath).toBe(expected);
    mkdirSync(join(base, "vol"));
    expect(dataRootRealPath(join(base, "data"))).toBe(expected);
    expect(cairnErrorOf(() => acquireDataRootLock(join(base, "vol"), { waitMs: 0 })).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    // A relative target whose `..` follows a symlinked component: resolved as the kernel walks
    // it (t/s -> other/x, so t/s/../vol is other/vol), not textually (t/vol).
    mkdirSync(join(base, "t"));
    mkdirSync(join(base, "other", "x"), { recursive: true });
    symlinkSync(join(base, "other", "x"), join(base, "t", "s"));
    symlinkSync("t/s/../vol", join(base, "data2"));
    const kernel = join(realpathSync(base), "other", "vol");
    expect(dataRootRealPath(join(base, "data2"))).toBe(kernel);
    mkdirSync(join(base, "other", "vol"));
    expect(realpathSync.native(join(base, "data2"))).toBe(kernel); // the kernel (node's JS realpathSync would apply `..` textually)
    expect(dataRootRealPath(join(base, "data2"))).toBe(kernel);
    // A symlink loop does not hang: the path is kept as reached.
    symlinkSync(join(base, "loop2"), join(base, "loop1"));
    symlinkSync(join(base, "loop1"), join(base, "loop2"));
    expect(typeof dataRootRealPath(join(base, "loop1"))).toBe("string");
  });

  it("a lock dropped without release stays held (it is never garbage-collected)", async () => {
    const b = box();
    await dropLock(b.dataRoot);
    const seen = await tryLockElsewhere(b.dataRoot, 0);
    expect(seen).toMatchObject({ ok: false, code: ErrorCode.DATA_ROOT_LOCKED, details: { holder: "another process" } });
  });

  it("a private data root's lock is held while its function runs, then released and its file removed", () => {
    const b = box();
    const file = dataRootLockFile(dataRootRealPath(b.dataRoot));
    const out = withPrivateDataRootLock(b.dataRoot, (l) => {
      expect(l.held).toBe(true);
      expect(lstatSync(file).isFile()).toBe(true);
      expect(cairnErrorOf(() => acquireDataRootLock(b.dataRoot, { waitMs: 0 })).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
      return 42;
    });
    expect(out).toBe(42);
    expect(lstatSync(file, { throwIfNoEntry: false })).toBeUndefined();
    lock(b.dataRoot).release(); // free again
    expect(() => withPrivateDataRootLock(b.dataRoot, () => { throw new Error("boom"); })).toThrow("boom");
    lock(b.dataRoot).release(); // released after a throw too
  });

  it(`$${"CAIRN_DATA_ROOT_LOCK_DIR"} replaces the lock directory (same checks)`, () => {
    const saved = process.env[DATA_ROOT_LOCK_DIR_ENV];
    const dir = join(tempDir(), "locks");
    try {
      process.env[DATA_ROOT_LOCK_DIR_ENV] = dir;
      expect(dataRootLockDir()).toBe(dir);
      const b = box();
      const l = lock(b.dataRoot);
      expect(l.lockFile.startsWith(`${dir}/`)).toBe(true);
      expect(lstatSync(dir).mode & 0o777).toBe(0o700);
      l.release();
      chmodSync(dir, 0o777);
      expect(cairnErrorOf(() => acquireDataRootLock(b.dataRoot, { waitMs: 0 })).code).toBe(ErrorCode.STORE_IO);
    } finally {
      if (saved === undefined) delete process.env[DATA_ROOT_LOCK_DIR_ENV];
      else process.env[DATA_ROOT_LOCK_DIR_ENV] = saved;
    }
  });

  it("a data root that does not exist yet is keyed by the real path it will have", () => {
    const base = tempDir();
    mkdirSync(join(base, "real"));
    symlinkSync(join(base, "real"), join(base, "via"));
    const missing = join(base, "via", "a", "b");
    const expected = join(realpathSync(join(base, "real")), "a", "b");
    expect(dataRootRealPath(missing)).toBe(expected);
    const l = lock(missing);
    expect(l.realPath).toBe(expected);
    mkdirSync(join(base, "real", "a", "b"), { recursive: true });
    expect(dataRootRealPath(missing)).toBe(expected);
    expect(cairnErrorOf(() => acquireDataRootLock(join(base, "real", "a", "b"), { waitMs: 0 })).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
  });

  describe("an unsafe lock directory is refused (E_STORE_IO naming it)", () => {
    let saved: string | undefined;
    afterEach(() => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    });
    function withTmp(): string {
      saved = process.env.TMPDIR;
      const t = tempDir();
      process.env.TMPDIR = t;
      return t;
    }

    it("writable by others", () => {
      const t = withTmp();
      const dir = join(t, `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`);
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, 0o777); // chmod, not mkdir's mode: the umask does not apply
      const root = join(t, "data");
      const e = cairnErrorOf(() => acquireDataRootLock(root, { waitMs: 0 }));
      expect(e.code).toBe(ErrorCode.STORE_IO);
      expect(e.message).toBe(`the data-root lock directory ${dir} (for data root ${root}) is not safe to use: it is writable by group or others (mode 0777); remove it, or set TMPDIR to another directory`);
      expect(e.details).toEqual({ reason: "data_root_lock_io", path: dir, dataRoot: root });
    });

    it("a symlink", () => {
      const t = withTmp();
      const dir = join(t, `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`);
      mkdirSync(join(t, "elsewhere"), { mode: 0o700 });
      symlinkSync(join(t, "elsewhere"), dir);
      const e = cairnErrorOf(() => acquireDataRootLock(join(t, "data"), { waitMs: 0 }));
      expect(e.code).toBe(ErrorCode.STORE_IO);
      expect(e.message).toContain(`the data-root lock directory ${dir} (for data root ${join(t, "data")}) is not safe to use: it is a symbolic link;`);
    });

    it("not a directory", () => {
      const t = withTmp();
      const dir = join(t, `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`);
      writeFileSync(dir, "");
      const e = cairnErrorOf(() => acquireDataRootLock(join(t, "data"), { waitMs: 0 }));
      expect(e.code).toBe(ErrorCode.STORE_IO);
      expect(e.message).toContain("is not safe to use: it is not a directory;");
    });

    it("created with mode 0700 when missing", () => {
      const t = withTmp();
      const l = lock(join(t, "data"));
      expect(l.lockFile.startsWith(join(t, `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`))).toBe(true);
      expect(lstatSync(join(t, `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`)).mode & 0o777).toBe(0o700);
    });
  });
});

it("E_DATA_ROOT_LOCKED is a stable code that exits 1", () => {
  expect(ErrorCode.DATA_ROOT_LOCKED).toBe("E_DATA_ROOT_LOCKED");
  expect(exitCodeFor(new CairnError(ErrorCode.DATA_ROOT_LOCKED, "x"))).toBe(1);
});
