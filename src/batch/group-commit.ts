/**
 * Group commit: the pulses that finish in the same turn of the event loop are committed in
 * ONE store transaction, each inside its own savepoint. A pulse is still all-or-nothing: a
 * pulse whose commit throws rolls back its savepoint alone (its promise rejects, the others
 * commit); a crash before the outer commit leaves every pulse of the group absent, which
 * resume handles like any uncommitted pulse. What is committed never depends on the
 * grouping, only how many SQLite transactions (and, with full durability, fsyncs) it takes.
 *
 * A commit is queued and flushed on the next `setImmediate`, so a lone pulse waits one tick.
 * At most GROUP_COMMIT_MAX pulses go into one transaction.
 */
import type { Store } from "../store/store.js";

/** Most pulse commits in one store transaction. */
export const GROUP_COMMIT_MAX = 64;

interface Pending {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly store: Store) {}

  /** Runs `fn` (store writes, synchronous) inside the next group transaction. */
  commit<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.queue.splice(0, GROUP_COMMIT_MAX);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.store.transaction(() => {
        for (const c of group) {
          try {
            results.push({ ok: true, value: this.store.transaction(c.fn) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
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
