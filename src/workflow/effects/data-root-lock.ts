/**
 * The data-root lock: at most one holder at a time runs workflows on a data root, across
 * processes (ARCHITECTURE §11.6 "One writer per data root").
 *
 * The CS runtimes (registry, append-only log, mutable documents) assume a single writer: two
 * processes interleaving on one data root could both REGISTER the same key, or tear a document.
 * So every run holds the data root's lock: `runPgsWorkflow` and the Cairn runtime take it for
 * the run (or use one the caller holds, `dataRootLock`), and `cairn serve` holds it for its
 * whole life.
 *
 * Mechanism: the store's `FileLock` (src/store/lock.ts) — an EXCLUSIVE SQLite transaction on a
 * small lock file, i.e. POSIX advisory locks that the kernel releases when the process dies, so
 * a SIGKILLed holder never leaves a stale lock. A second holder waits up to its wait
 * (`DEFAULT_DATA_ROOT_LOCK_WAIT_MS` unless told otherwise) and then fails with
 * `E_DATA_ROOT_LOCKED` naming the data root and the wait.
 *
 * Where the lock file lives: **not** in the data root (its files, and so the state digests
 * and the files tests and benchmarks compare, must not change), but in a per-user directory of
 * the temp directory, keyed by the data root's real path:
 *
 *   <os.tmpdir()>/cairn-data-root-locks-<uid>/<first 32 hex of SHA-256(real path)>.lock
 *
 * The directory is created with mode 0700 and, before every use, must be a real directory (not a
 * symlink) owned by this user and writable by nobody else; anything else is `E_STORE_IO`
 * (`details.reason` `data_root_lock_io`) naming it. The real path is the `realpath` of the data
 * root, or, when it does not exist yet, resolved like `realpath -m` (dangling symbolic links
 * followed, missing components appended; the CS runtimes create the missing directories, which
 * then resolve to the same path). `$CAIRN_DATA_ROOT_LOCK_DIR` replaces the directory (same
 * checks), e.g. for a service whose `/tmp` is private (systemd `PrivateTmp=yes`): without it
 * such a service and a user's shell do not exclude each other. Lock files are never removed
 * (see src/store/lock.ts), except a replay's private temp root's; each is an empty file
 * (journal mode `MEMORY`: no `-journal` file is ever created next to it). A held lock sets its
 * file's access and modification times every `DATA_ROOT_LOCK_REFRESH_MS` (one hour, best
 * effort), so temp cleaners that remove files by age (systemd-tmpfiles: 10 days on /tmp) leave a
 * long-lived server's lock file alone.
 *
 * What is excluded: two holders on one host, in any processes of the same user with the same
 * temp directory, whose data roots have the same real path. What is **not** excluded: another
 * host (NFS or other network file systems are not covered), another user, a process with
 * another `TMPDIR`, a data root reached through different real paths (bind mounts, a symlinked
 * component re-pointed after the lock was taken), a lock file deleted while held,
 * and writers that do not take the lock (other tools, editors, a library caller that passes the
 * CS runtimes a data root directly).
 *
 * Re-entrancy: the lock is not re-entrant. A second acquire of the same data root in the same
 * process — e.g. a library call running `runPgsWorkflow` without `dataRootLock` while a server
 * in this process holds the lock — fails at once, without waiting, with `E_DATA_ROOT_LOCKED`
 * saying that this process holds it (a process-wide registry of held locks, shared by every copy
 * of this module in the thread). Another worker thread of the same process does not see that
 * registry: SQLite makes it wait the whole wait and then fail with the same code (and the
 * "another process" message).
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, utimesSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { FileLock } from "../../store/lock.js";
import { normalizeDataRoot } from "./confine.js";
import { EffectErrorReason } from "./errors.js";
import { describeArgument, isOptionsObject } from "../../core/describe.js";
import { refuseUnknownKeys } from "../../core/suggest.js";

/**
 * How long a run (and `cairn wf run`, `cairn serve` at start) waits for a data root's lock held
 * elsewhere before failing with E_DATA_ROOT_LOCKED: 5 s, long enough to queue behind another
 * one-shot run (milliseconds) and short enough to fail promptly behind a server, which holds its
 * data root's lock until it stops. The wait blocks the calling thread (SQLite's busy handler).
 */
export const DEFAULT_DATA_ROOT_LOCK_WAIT_MS = 5_000;
/** The largest wait accepted: SQLite's busy timeout is a signed 32-bit number of milliseconds. */
export const MAX_DATA_ROOT_LOCK_WAIT_MS = 2_147_483_647;
/** Name prefix of the per-user lock directory under `os.tmpdir()` (suffixed with the uid). */
export const DATA_ROOT_LOCK_DIR_PREFIX = "cairn-data-root-locks-";
/** Mode the lock directory is created with. */
export const DATA_ROOT_LOCK_DIR_MODE = 0o700;
/** Hex digits of SHA-256(real path) in a lock file's name. */
export const DATA_ROOT_LOCK_HASH_HEX = 32;
/** Suffix of a lock file's name. */
export const DATA_ROOT_LOCK_SUFFIX = ".lock";
/** How often a held lock refreshes its lock file's times (against temp cleaners that age files). */
export const DATA_ROOT_LOCK_REFRESH_MS = 60 * 60 * 1000;

/**
 * The process-wide registry of held data-root locks (real path → the lock). It keeps the lock
 * object itself: a lock dropped without `release()` stays referenced, so its SQLite connection
 * is never garbage-collected and closed (which would drop the POSIX lock while this process
 * still refuses to take it again); it stays held until the process exits.
 */
const HELD_REGISTRY = Symbol.for("cairn.workflow.dataRootLocks.v2");

function heldLocks(): Map<string, DataRootLock> {
  const g = globalThis as unknown as Record<symbol, Map<string, DataRootLock> | undefined>;
  let held = g[HELD_REGISTRY];
  if (held === undefined) {
    held = new Map();
    g[HELD_REGISTRY] = held;
  }
  return held;
}

/**
 * Environment variable naming the lock directory instead of the default (e.g. a directory shared
 * by a service with `PrivateTmp=yes` and its users' shells). It gets the same checks.
 */
export const DATA_ROOT_LOCK_DIR_ENV = "CAIRN_DATA_ROOT_LOCK_DIR";

/** The lock directory: `$CAIRN_DATA_ROOT_LOCK_DIR`, else `<os.tmpdir()>/cairn-data-root-locks-<uid>`. */
export function dataRootLockDir(): string {
  const set = process.env[DATA_ROOT_LOCK_DIR_ENV];
  if (set !== undefined && set !== "") return resolve(set);
  return join(tmpdir(), `${DATA_ROOT_LOCK_DIR_PREFIX}${process.getuid?.() ?? "user"}`);
}

/**
 * The real path that keys a data root's lock: `realpath(dataRoot)` when it exists; otherwise
 * resolved like `realpath -m`: the longest existing ancestor's real path, then each further
 * component — a **dangling symbolic link** is followed to its target (so `data -> vol` keys as
 * `…/vol` before and after `vol` is created), a missing component is appended as written.
 * More than MAX_LOCK_SYMLINK_HOPS links (a loop) leave the path as reached.
 */
export function dataRootRealPath(dataRoot: string): string {
  return loosePath(normalizeDataRoot(resolve(dataRoot)), 0);
}

/** Most symbolic links `dataRootRealPath` follows through missing targets (Linux's own limit is 40). */
export const MAX_LOCK_SYMLINK_HOPS = 40;

function loosePath(path: string, hops: number): string {
  try {
    return realpathSync.native(path);
  } catch {
    // Missing (or not resolvable by this process: a run then cannot write there either).
  }
  const parent = posix.dirname(path);
  if (parent === path) return path;
  const head = loosePath(parent, hops);
  const here = posix.join(head, posix.basename(path));
  if (hops < MAX_LOCK_SYMLINK_HOPS) {
    try {
      if (lstatSync(here).isSymbolicLink()) {
        // The target as the kernel would walk it: a relative one from the link's directory, its
        // `..` applied after the components before it are resolved (not textually).
        const target = readlinkSync(here);
        return loosePath(posix.isAbsolute(target) ? target : `${head}/${target}`, hops + 1);
      }
    } catch {
      // Absent: appended as written.
    }
  }
  return here;
}

/** The lock file of a data root whose real path is `realPath`. */
export function dataRootLockFile(realPath: string): string {
  const hex = createHash("sha256").update(realPath, "utf8").digest("hex").slice(0, DATA_ROOT_LOCK_HASH_HEX);
  return join(dataRootLockDir(), `${hex}${DATA_ROOT_LOCK_SUFFIX}`);
}

function lockIoError(message: string, details: Record<string, unknown>, cause?: unknown): CairnError {
  return new CairnError(ErrorCode.STORE_IO, message, { reason: EffectErrorReason.LOCK_IO, ...details }, cause === undefined ? undefined : { cause });
}

/** The lock directory's `lstat`, creating it (mode 0700) when missing. */
function lockDirStat(dir: string, dataRoot: string): Stats {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (st !== undefined) return st;
  try {
    mkdirSync(dir, { mode: DATA_ROOT_LOCK_DIR_MODE });
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") {
      throw lockIoError(`cannot create the data-root lock directory ${dir} (for data root ${dataRoot}): ${(err as Error).message}`, { path: dir, dataRoot }, err);
    }
  }
  return lstatSync(dir);
}

/** Creates the lock directory if missing and checks it is this user's private directory. */
function ensureLockDir(dir: string, dataRoot: string): void {
  let why: string | undefined;
  try {
    const st = lockDirStat(dir, dataRoot);
    const uid = process.getuid?.();
    if (st.isSymbolicLink()) why = "it is a symbolic link";
    else if (!st.isDirectory()) why = "it is not a directory";
    else if (uid !== undefined && st.uid !== uid) why = `it is owned by uid ${st.uid}, not by this user (uid ${uid})`;
    else if ((st.mode & 0o022) !== 0) why = `it is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")})`;
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw lockIoError(`cannot check the data-root lock directory ${dir} (for data root ${dataRoot}): ${(err as Error).message}`, { path: dir, dataRoot }, err);
  }
  if (why !== undefined) {
    throw lockIoError(`the data-root lock directory ${dir} (for data root ${dataRoot}) is not safe to use: ${why}; remove it, or set TMPDIR to another directory`, { path: dir, dataRoot });
  }
}

/** E_DATA_ROOT_LOCKED: another process kept the lock for the whole wait. */
function lockedElsewhere(root: string, realPath: string, lockFile: string, waitMs: number): CairnError {
  return new CairnError(
    ErrorCode.DATA_ROOT_LOCKED,
    `data root ${root} is locked: another process is running workflows on it (waited ${waitMs} ms); retry when it finishes (a \`cairn serve\` holds its data root's lock until it stops)`,
    { reason: EffectErrorReason.LOCKED, path: root, realPath, lockFile, waitedMs: waitMs, holder: "another process" },
  );
}

/** The keys of the lock functions' options. */
const LOCK_OPTION_KEYS: readonly string[] = ["waitMs"];

/**
 * The arguments of `DataRootLock.acquire` / `acquireDataRootLock(Async)`: a non-empty path (an
 * empty one is never read as the current directory) and an options object of known keys;
 * E_USAGE naming the argument otherwise.
 */
function checkLockArguments(dataRoot: unknown, opts: unknown): void {
  if (typeof dataRoot !== "string" || dataRoot === "") {
    throw new CairnError(ErrorCode.USAGE, `acquireDataRootLock: dataRoot must be a non-empty path${dataRoot === "" ? " (an empty path is not read as the current directory)" : `, got ${describeArgument(dataRoot)}`}`, { field: "dataRoot" });
  }
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `acquireDataRootLock: options must be an object { waitMs? }, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, LOCK_OPTION_KEYS, "acquireDataRootLock option", "acquireDataRootLock options");
}

/** Checks a lock wait (ms): an integer in 0..MAX_DATA_ROOT_LOCK_WAIT_MS; `E_USAGE` otherwise. */
export function checkDataRootLockWait(waitMs: unknown, what: string): number {
  if (typeof waitMs !== "number" || !Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_DATA_ROOT_LOCK_WAIT_MS) {
    throw new CairnError(ErrorCode.USAGE, `${what} must be an integer number of milliseconds in 0..${MAX_DATA_ROOT_LOCK_WAIT_MS}, got ${String(waitMs)}`, { field: what });
  }
  return waitMs;
}

/** A held lock on one data root (see the module comment). Obtain one with `acquireDataRootLock`. */
export class DataRootLock {
  /** The data root as given (absolute, normalised). */
  readonly dataRoot: string;
  /** The real path that keys the lock. */
  readonly realPath: string;
  /** The lock file. */
  readonly lockFile: string;
  private lock: FileLock | undefined;
  private readonly refresh: ReturnType<typeof setInterval>;

  private constructor(dataRoot: string, realPath: string, lockFile: string, lock: FileLock) {
    this.dataRoot = dataRoot;
    this.realPath = realPath;
    this.lockFile = lockFile;
    this.lock = lock;
    this.refresh = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(lockFile, now, now);
      } catch {
        // Best effort: the lock itself does not depend on the file's times.
      }
    }, DATA_ROOT_LOCK_REFRESH_MS);
    this.refresh.unref();
  }

  /**
   * Takes the lock of `dataRoot`, waiting up to `waitMs` (default DEFAULT_DATA_ROOT_LOCK_WAIT_MS)
   * while another process holds it; throws E_DATA_ROOT_LOCKED when the wait runs out, and at once
   * when this process already holds it.
   */
  static acquire(dataRoot: string, opts: { waitMs?: number } = {}): DataRootLock {
    checkLockArguments(dataRoot, opts);
    const waitMs = opts.waitMs === undefined ? DEFAULT_DATA_ROOT_LOCK_WAIT_MS : checkDataRootLockWait(opts.waitMs, "waitMs");
    const root = normalizeDataRoot(resolve(dataRoot));
    const realPath = dataRootRealPath(root);
    const lockFile = dataRootLockFile(realPath);
    const held = heldLocks();
    const holder = held.get(realPath)?.dataRoot;
    if (holder !== undefined) {
      throw new CairnError(
        ErrorCode.DATA_ROOT_LOCKED,
        `data root ${root} is already locked by this process (a run or a server in it holds the lock${holder === root ? "" : `, taken for ${holder}`}); pass that lock as \`dataRootLock\` instead of taking it again`,
        { reason: EffectErrorReason.LOCKED, path: root, realPath, lockFile, waitedMs: 0, holder: "this process" },
      );
    }
    ensureLockDir(posix.dirname(lockFile), root);
    const lock = FileLock.acquire(lockFile, waitMs, {
      locked: () => lockedElsewhere(root, realPath, lockFile, waitMs),
      openFailed: (err) => lockIoError(`cannot open the lock file ${lockFile} of data root ${root}: ${(err as Error).message}`, { path: lockFile, dataRoot: root }, err),
      lockFailed: (err) => lockIoError(`cannot lock data root ${root} (lock file ${lockFile}): ${(err as Error).message}`, { path: lockFile, dataRoot: root }, err),
    }, "MEMORY");
    const taken = new DataRootLock(root, realPath, lockFile, lock);
    held.set(realPath, taken);
    return taken;
  }

  /** Whether the lock is still held (false after `release`). */
  get held(): boolean {
    return this.lock !== undefined;
  }

  /**
   * Checks that this lock, still held, covers `dataRoot` (the same path, or the same real path);
   * `E_USAGE` otherwise. A run given a lock calls this instead of locking.
   */
  assertCovers(dataRoot: string): void {
    if (this.lock === undefined) {
      throw new CairnError(ErrorCode.USAGE, `the data-root lock of ${this.dataRoot} given as dataRootLock was released`, { field: "dataRootLock", path: this.dataRoot });
    }
    const root = normalizeDataRoot(resolve(dataRoot));
    if (root === this.dataRoot || dataRootRealPath(root) === this.realPath) return;
    throw new CairnError(ErrorCode.USAGE, `the data-root lock given as dataRootLock is for ${this.dataRoot}, not for data root ${root}`, {
      field: "dataRootLock", path: root, lockedPath: this.dataRoot,
    });
  }

  /** Releases the lock. Idempotent. */
  release(): void {
    if (this.lock === undefined) return;
    clearInterval(this.refresh);
    const held = heldLocks();
    if (held.get(this.realPath) === this) held.delete(this.realPath);
    const lock = this.lock;
    this.lock = undefined;
    lock.release();
  }
}

/**
 * Runs `fn` holding the lock of a **private** data root — one no other process can know, such as
 * a fresh temp directory of a replay — then releases it and deletes its lock file, so throwaway
 * data roots leave no lock files behind. Internal (not in the package's API): on a data root
 * others can reach, deleting the file would let a process already waiting on the old file and
 * one opening a new file both hold the lock.
 */
export function withPrivateDataRootLock<T>(dataRoot: string, fn: (lock: DataRootLock) => T): T {
  const lock = DataRootLock.acquire(dataRoot, { waitMs: 0 });
  try {
    return fn(lock);
  } finally {
    lock.release();
    rmSync(lock.lockFile, { force: true });
  }
}

/** First and largest pause between two tries of `acquireDataRootLockAsync` (it doubles from the first). */
export const DATA_ROOT_LOCK_POLL_FIRST_MS = 5;
export const DATA_ROOT_LOCK_POLL_MAX_MS = 100;

/**
 * `acquireDataRootLock` without blocking the thread: tries without waiting, and while another
 * process holds the lock, tries again after a pause (5 ms, doubling up to 100 ms) until `waitMs`
 * (default DEFAULT_DATA_ROOT_LOCK_WAIT_MS) has passed; then E_DATA_ROOT_LOCKED naming that wait.
 * For async callers (the plane driver; an embedder of `createServer`, which itself takes the
 * lock synchronously, can take it this way first and pass it as `dataRootLock`): the
 * synchronous acquire waits in SQLite's busy handler, which blocks the event loop.
 */
export async function acquireDataRootLockAsync(dataRoot: string, opts: { waitMs?: number } = {}): Promise<DataRootLock> {
  checkLockArguments(dataRoot, opts);
  const waitMs = opts.waitMs === undefined ? DEFAULT_DATA_ROOT_LOCK_WAIT_MS : checkDataRootLockWait(opts.waitMs, "waitMs");
  const deadline = performance.now() + waitMs;
  let pause = DATA_ROOT_LOCK_POLL_FIRST_MS;
  for (;;) {
    try {
      return DataRootLock.acquire(dataRoot, { waitMs: 0 });
    } catch (err) {
      const d = (err as CairnError).details as { holder?: unknown; path?: string; realPath?: string; lockFile?: string } | undefined;
      if (!(err instanceof CairnError) || err.code !== ErrorCode.DATA_ROOT_LOCKED || d?.holder !== "another process") throw err;
      const left = deadline - performance.now();
      if (left <= 0) throw lockedElsewhere(d.path as string, d.realPath as string, d.lockFile as string, waitMs);
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, DATA_ROOT_LOCK_POLL_MAX_MS);
    }
  }
}

/** Takes the lock of `dataRoot` (see `DataRootLock.acquire`). */
export function acquireDataRootLock(dataRoot: string, opts: { waitMs?: number } = {}): DataRootLock {
  return DataRootLock.acquire(dataRoot, opts);
}

/**
 * The lock a run takes: none when the caller gives one (`given`, checked to be a held lock
 * covering `dataRoot`; `E_USAGE` otherwise), else the data root's lock, waiting up to `waitMs`
 * (default DEFAULT_DATA_ROOT_LOCK_WAIT_MS). The run releases what this returns in `finally`.
 */
export function lockForRun(dataRoot: string, given: DataRootLock | undefined, waitMs: number | undefined): DataRootLock | undefined {
  const wait = waitMs === undefined ? DEFAULT_DATA_ROOT_LOCK_WAIT_MS : checkDataRootLockWait(waitMs, "dataRootLockWaitMs");
  if (given === undefined) return DataRootLock.acquire(dataRoot, { waitMs: wait });
  if (typeof (given as { assertCovers?: unknown } | null)?.assertCovers !== "function") {
    throw new CairnError(ErrorCode.USAGE, "dataRootLock must be a DataRootLock (acquireDataRootLock)", { field: "dataRootLock" });
  }
  given.assertCovers(dataRoot);
  return undefined;
}
