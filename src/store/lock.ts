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
 *   up to `timeoutMs` and then fails with E_STORE_LOCKED.
 * - the data-root lock of governed workflows (src/workflow/effects/data-root-lock.ts,
 *   E_DATA_ROOT_LOCKED).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { LOCK_FILE } from "./layout.js";

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

/** A lock wait must be a number of ms in 0..MAX_LOCK_WAIT_MS (negative waits count as 0); E_USAGE naming `what` otherwise. */
export function checkLockWait(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms > MAX_LOCK_WAIT_MS) {
    throw new CairnError(ErrorCode.USAGE, `${what} must be at most ${MAX_LOCK_WAIT_MS} ms (about 24.8 days), got ${String(ms)}`, { field: what, value: ms });
  }
  return ms;
}

/** The store's single-writer lock: a `FileLock` on `<root>/writer.lock`. */
export class WriterLock {
  private readonly lock: FileLock;

  private constructor(lock: FileLock) {
    this.lock = lock;
  }

  static acquire(root: string, timeoutMs: number): WriterLock {
    checkLockWait(timeoutMs, "the writer-lock wait");
    const path = join(root, LOCK_FILE);
    return new WriterLock(
      FileLock.acquire(path, Math.max(0, timeoutMs), {
        locked: () =>
          new CairnError(
            ErrorCode.STORE_LOCKED,
            `store ${root} is locked by another writer (waited ${timeoutMs} ms); retry when it finishes`,
            { path: root, waitedMs: timeoutMs },
          ),
        openFailed: (err) => new CairnError(ErrorCode.STORE_IO, `cannot open writer lock ${path}: ${(err as Error).message}`, { path }, { cause: err }),
        lockFailed: (err) => new CairnError(ErrorCode.STORE_IO, `cannot lock store ${root}: ${(err as Error).message}`, { path: root }, { cause: err }),
      }),
    );
  }

  release(): void {
    this.lock.release();
  }
}
