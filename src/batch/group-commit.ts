/**
 * Group commit: the pulses that finish in the same turn of the event loop (or, when they may
 * wait, within GROUP_COMMIT_WAIT_MS: below) are committed in ONE store transaction, each inside
 * its own savepoint. A pulse is still all-or-nothing: a pulse whose commit throws rolls back its
 * savepoint alone (its promise rejects, the others commit); a crash before the outer commit
 * leaves every pulse of the group absent, which resume handles like any uncommitted pulse. What
 * is committed never depends on the grouping, only how many SQLite transactions (and, with full
 * durability, fsyncs) it takes.
 *
 * A commit is queued and flushed on the next `setImmediate`, so a lone pulse waits one tick.
 * At most GROUP_COMMIT_MAX pulses go into one transaction. A committer given `canWait` (the
 * engine's: other pulses still execute and nothing waits on the queued ones, scheduler.ts
 * `commitUrgent`) lets queued commits wait for more to join, at most GROUP_COMMIT_WAIT_MS and
 * until GROUP_COMMIT_MAX are queued; `recheck` makes them due at once when waiting stops being
 * allowed. Many small pulses then share one transaction (and one fsync) instead of one to four
 * each (the pulses in flight): a run of one-EU pulses spent most of its main thread committing.
 * SQLite keeps the group's savepoint journal in memory (catalog.ts `withMemoryJournal`:
 * truncated as each pulse's savepoint is released, so it holds one pulse's pages), not in a file
 * it makes and unlinks in TMPDIR per group.
 *
 * An error of SQLite itself inside a pulse's savepoint (a full disk, an I/O error:
 * `isSqliteFailure`) is not the pulse's alone: SQLite may already have rolled back the whole
 * transaction, after which the next pulses would run outside it and the outer COMMIT fail with
 * "cannot commit - no transaction is active". So it ends the group: the outer transaction is
 * rolled back and every pulse of the group rejects with that error, as the store reports it
 * (`store.transaction` maps every SQLite failure, catalog.ts `storeErrorOf`: a SQLITE_FULL is
 * E_STORE_IO naming the catalog and the OS temp directory).
 */

import { withMemoryJournal } from "../store/catalog.js";
import type { Store } from "../store/store.js";

/** Most pulse commits in one store transaction. */
export const GROUP_COMMIT_MAX = 64;

/** Longest a queued commit waits for more to join its group (when `canWait` allows waiting at all). */
export const GROUP_COMMIT_WAIT_MS = 20;

/** How deep `isSqliteFailure` follows an error's `cause` chain. */
const MAX_CAUSE_DEPTH = 8;

/** `err`, or an error it was made from (`cause`), is the SQLite driver's (better-sqlite3's SqliteError). */
function isSqliteFailure(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < MAX_CAUSE_DEPTH && e instanceof Error; i++) {
    if (e.name === "SqliteError") return true;
    e = e.cause;
  }
  return false;
}

interface Pending {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  /** A flush is due on the next `setImmediate`. */
  private scheduled = false;
  /** The wait of the queued commits for more to join (GROUP_COMMIT_WAIT_MS), when one runs. */
  private timer: NodeJS.Timeout | undefined;
  /** Transactions committed (one per flush; for tests). */
  groups = 0;

  /**
   * `canWait`: whether the queued commits may wait for more to join their group (asked as each
   * is queued and at each `recheck`); without it, every flush is due on the next tick.
   */
  constructor(
    private readonly store: Store,
    private readonly canWait?: () => boolean,
  ) {}

  /** Runs `fn` (store writes, synchronous) inside the next group transaction. */
  commit<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.recheck();
    });
  }

  /**
   * Makes the queued commits' flush due on the next tick, unless they may wait (`canWait`, fewer
   * than GROUP_COMMIT_MAX queued): then at most GROUP_COMMIT_WAIT_MS from now. Called again when
   * waiting may have stopped being allowed; a no-op when nothing is queued or a flush is due.
   */
  recheck(): void {
    if (this.scheduled || this.queue.length === 0) return;
    if (this.queue.length < GROUP_COMMIT_MAX && this.canWait !== undefined && this.canWait()) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.due();
      }, GROUP_COMMIT_WAIT_MS);
      return;
    }
    this.due();
  }

  /** The flush of what is queued, on the next tick. */
  private due(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.queue.splice(0, GROUP_COMMIT_MAX);
    // What is left (queued beyond the group) is due now, or waits as any queued commit does.
    this.recheck();
    this.groups++;
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      withMemoryJournal(() =>
        this.store.transaction(() => {
          for (const c of group) {
            try {
              results.push({ ok: true, value: this.store.transaction(c.fn) });
            } catch (error) {
            if (isSqliteFailure(error)) throw error; // not the pulse's alone: end the group
              results.push({ ok: false, error });
            }
          }
        }),
      );
    } catch (error) {
      for (const c of group) c.reject(error); // the outer commit failed: nothing of the group is committed
      return;
    }
    group.forEach((c, i) => {
      const r = results[i] as (typeof results)[number];
      if (r.ok) c.resolve(r.value);
      else c.reject(r.error);
    });
  }
}
