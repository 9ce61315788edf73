/**
 * Exclusive locks on a lock file, crash-safe across processes.
 *
 * `FileLock` opens a lock file (a tiny SQLite database, created if missing) and holds an
 * EXCLUSIVE transaction on it for as long as it is held. SQLite takes POSIX advisory locks,
 * which the kernel releases when the process dies, so a SIGKILLed holder never leaves a stale
 * lock behind. A second holder — in another process, or on another connection in this one —
 * waits up to `timeoutMs` (SQLite's busy handler, which blocks the calling thread) and then
 * fails with the error its caller supplies. The lock file is never removed (removing it safely
 * would need the holder's file descriptor, which SQLite does not expose), and nothing else may
 * open and close it: closing any descriptor of a file drops every POSIX lock this process holds
 * on it.
 *
 * Two locks are built on it:
 * - `WriterLock`, the store's single-writer lock on `<store>/writer.lock`: a second writer waits
 *   up to `timeoutMs` and then fails with E_STORE_LOCKED (at once, without waiting, when this
 *   thread already holds the lock of that store).
 * - the data-root lock of governed workflows (src/workflow/effects/data-root-lock.ts,
 *   E_DATA_ROOT_LOCKED).
 */
import Database from "better-sqlite3";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { LOCK_FILE } from "./layout.js";
import { isVolumeFull, volumeFullError } from "./volume-full.js";

/** The errors a `FileLock` reports, built by its caller (so each lock keeps its own code and message). */
export interface FileLockErrors {
  /** Another holder kept the lock for the whole wait (SQLITE_BUSY / SQLITE_LOCKED). */
  locked: () => CairnError;
  /** The lock file cannot be opened or created. */
  openFailed: (err: unknown) => CairnError;
  /** Taking the lock failed for another reason. */
  lockFailed: (err: unknown) => CairnError;
}

/**
 * The lock database's journal mode. The lock database is never written, so the journal only
 * matters as a file: `DELETE` (the store's writer lock) creates `<lock file>-journal` while the
 * lock is held and deletes it on release (a SIGKILLed holder leaves an empty one behind, which
 * is not a hot journal and is reused); `MEMORY` (the data-root lock) never creates one, and
 * costs about half as much per acquire and release.
 */
export type LockJournalMode = "DELETE" | "MEMORY";

/** An exclusive lock held on one lock file (see the module comment). */
export class FileLock {
  private db: Database.Database | undefined;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /**
   * Takes the lock on `path`, waiting up to `timeoutMs` (an integer ≥ 0; SQLite's busy
   * timeout) while another holder has it; throws `errors.locked()` when the wait runs out.
   */
  static acquire(path: string, timeoutMs: number, errors: FileLockErrors, journalMode: LockJournalMode = "DELETE"): FileLock {
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: timeoutMs });
    } catch (err) {
      throw errors.openFailed(err);
    }
    try {
      db.pragma(`journal_mode = ${journalMode}`);
      db.exec("BEGIN EXCLUSIVE");
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code;
      if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") throw errors.locked();
      throw errors.lockFailed(err);
    }
    return new FileLock(db);
  }

  /** Whether the lock is still held (false after `release`). */
  get held(): boolean {
    return this.db !== undefined;
  }

  /** Releases the lock. Idempotent. */
  release(): void {
    if (this.db === undefined) return;
    try {
      this.db.exec("ROLLBACK");
    } finally {
      this.db.close();
      this.db = undefined;
    }
  }
}

/** Longest lock wait (ms): SQLite's busy timeout is a 32-bit signed integer. */
export const MAX_LOCK_WAIT_MS = 2_147_483_647;

/**
 * A lock wait must be an integer number of ms in 0..MAX_LOCK_WAIT_MS (SQLite's busy timeout
 * takes only integers; a negative one is refused, as the CLI refuses `--wait -1`); E_USAGE
 * naming `what` otherwise (message and `details.field`): the option as the caller spelt it —
 * `lockTimeoutMs` for `openStore` (before 2026-11-28 "the writer-lock wait", which no caller
 * writes), `--wait` for the CLI, which checks its flag itself when parsing it.
 */
export function checkLockWait(ms: number, what: string): number {
  if (typeof ms === "number" && ms > MAX_LOCK_WAIT_MS) {
    throw new CairnError(ErrorCode.USAGE, `${what} must be at most ${MAX_LOCK_WAIT_MS} ms (about 24.8 days), got ${String(ms)}`, { field: what, value: ms });
  }
  if (!Number.isInteger(ms)) {
    throw new CairnError(ErrorCode.USAGE, `${what} must be an integer number of milliseconds, got ${typeof ms === "number" ? String(ms) : typeof ms}`, {
      field: what,
      value: typeof ms === "number" ? ms : String(ms),
    });
  }
  if (ms < 0) {
    throw new CairnError(ErrorCode.USAGE, `${what} must not be negative, got ${String(ms)} ms`, { field: what, value: ms });
  }
  return ms;
}

/**
 * The writer locks this thread holds, by the store's real path. Keyed globally (shared by every
 * copy of this module in the thread); the entries are weak, so a store dropped without `close`
 * is no more held here than its (garbage-collected) lock connection is.
 */
const HELD_WRITER_LOCKS = Symbol.for("cairn.store.writerLocks.v1");

function heldWriterLocks(): Map<string, WeakRef<WriterLock>> {
  const g = globalThis as unknown as Record<symbol, Map<string, WeakRef<WriterLock>> | undefined>;
  let held = g[HELD_WRITER_LOCKS];
  if (held === undefined) {
    held = new Map();
    g[HELD_WRITER_LOCKS] = held;
  }
  return held;
}

/** The real path of a store directory (the path itself when it cannot be resolved). */
function storeRealPath(root: string): string {
  try {
    return realpathSync.native(root);
  } catch {
    return root;
  }
}

/**
 * E_STORE_IO `message` of a writer lock that cannot be opened or taken; when the store's volume
 * is full (SQLite writes the lock's journal when taking it: SQLITE_FULL at 0 bytes free), the
 * error says so and that space must be freed outside the store first (volume-full.ts).
 */
function writerLockIoError(root: string, message: string, details: Record<string, unknown>, err: unknown): CairnError {
  if (isVolumeFull(err, root)) return volumeFullError(root, message, details, err);
  return new CairnError(ErrorCode.STORE_IO, message, details, { cause: err });
}

/**
 * The store's single-writer lock: a `FileLock` on `<root>/writer.lock`. A second acquire of a
 * store whose lock this thread already holds (the same real path) fails at once with
 * E_STORE_LOCKED saying so, whatever the wait: waiting blocks this thread, so the holder could
 * never release the lock meanwhile. (Another worker thread of this process does not see that
 * registry: it waits the whole wait, then fails with the same code.)
 */
export class WriterLock {
  private readonly lock: FileLock;
  private readonly realPath: string;

  private constructor(lock: FileLock, realPath: string) {
    this.lock = lock;
    this.realPath = realPath;
  }

  static acquire(root: string, timeoutMs: number): WriterLock {
    checkLockWait(timeoutMs, "lockTimeoutMs");
    const realPath = storeRealPath(root);
    const held = heldWriterLocks();
    const holder = held.get(realPath)?.deref();
    if (holder?.lock.held === true) {
      throw new CairnError(
        ErrorCode.STORE_LOCKED,
        `store ${root} is locked by this process: another open Store handle holds its writer lock, and waiting cannot release it; close that handle first`,
        { path: root, realPath, waitedMs: 0, holder: "this process" },
      );
    }
    const path = join(root, LOCK_FILE);
    const taken = new WriterLock(
      FileLock.acquire(path, Math.max(0, timeoutMs), {
        locked: () =>
          new CairnError(
            ErrorCode.STORE_LOCKED,
            `store ${root} is locked by another writer (waited ${timeoutMs} ms); retry when it finishes`,
            { path: root, waitedMs: timeoutMs },
          ),
        openFailed: (err) => writerLockIoError(root, `cannot open writer lock ${path}: ${(err as Error).message}`, { path }, err),
        lockFailed: (err) => writerLockIoError(root, `cannot lock store ${root}: ${(err as Error).message}`, { path: root }, err),
      }),
      realPath,
    );
    held.set(realPath, new WeakRef(taken));
    return taken;
  }

  release(): void {
    const held = heldWriterLocks();
    if (held.get(this.realPath)?.deref() === this) held.delete(this.realPath);
    this.lock.release();
  }
}
