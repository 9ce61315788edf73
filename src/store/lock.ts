/**
 * The single-writer lock. A writer opens `writer.lock` (a tiny SQLite database) and holds an
 * EXCLUSIVE transaction on it for as long as it is open. SQLite takes POSIX advisory locks,
 * which the kernel releases when the process dies, so a SIGKILLed writer never leaves a stale
 * lock behind. A second writer waits up to `timeoutMs` and then fails with E_STORE_LOCKED.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { LOCK_FILE } from "./layout.js";

export class WriterLock {
  private db: Database.Database | undefined;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  static acquire(root: string, timeoutMs: number): WriterLock {
    const path = join(root, LOCK_FILE);
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: Math.max(0, timeoutMs) });
    } catch (err) {
      throw new CairnError(ErrorCode.STORE_IO, `cannot open writer lock ${path}: ${(err as Error).message}`, { path }, { cause: err });
    }
    try {
      db.pragma("journal_mode = DELETE");
      db.exec("BEGIN EXCLUSIVE");
    } catch (err) {
      db.close();
      const code = (err as { code?: string }).code;
      if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
        throw new CairnError(
          ErrorCode.STORE_LOCKED,
          `store ${root} is locked by another writer (waited ${timeoutMs} ms); retry when it finishes`,
          { path: root, waitedMs: timeoutMs },
        );
      }
      throw new CairnError(ErrorCode.STORE_IO, `cannot lock store ${root}: ${(err as Error).message}`, { path: root }, { cause: err });
    }
    return new WriterLock(db);
  }

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
