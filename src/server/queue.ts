/**
 * A bounded async mutex: runs one task at a time, in arrival order, with at most `maxWaiting`
 * tasks waiting behind the running one. A task that would exceed the bound is refused at once
 * with `QueueFullError` (an `E_LIMIT_EXCEEDED` CairnError; the gateway answers 503) instead of
 * piling up. A waiting task is withdrawn when its `signal` aborts: it leaves the queue at once
 * (its place is free for another), `fn` is never called, and `run` rejects with the signal's
 * reason; a task that has started is not affected by its signal (it runs to completion).
 */
import { CairnError, ErrorCode, UsageError } from "../core/errors.js";
export class QueueFullError extends CairnError {
  constructor(readonly maxWaiting: number) {
    super(ErrorCode.LIMIT_EXCEEDED, `server busy: ${maxWaiting} run(s) already waiting; retry later`, { maxWaiting });
    this.name = "QueueFullError";
  }
}

export class RunQueue {
  private busy = false;
  private readonly waiters: Array<() => void> = [];
  private idlers: Array<() => void> = [];

  constructor(readonly maxWaiting: number) {
    if (!Number.isSafeInteger(maxWaiting) || maxWaiting < 0) throw new UsageError(`maxWaiting must be a non-negative integer, got ${maxWaiting}`, { maxWaiting });
  }

  /** Tasks waiting (not counting the running one). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Whether a task is running. */
  get running(): boolean {
    return this.busy;
  }

  /** Resolves once no task is running or waiting (at once if none is). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise<void>((resolve) => this.idlers.push(resolve));
  }

  /**
   * Runs `fn` once every earlier task has settled; throws QueueFullError when the queue is full,
   * and `signal.reason` if `signal` aborts before `fn` starts (withdrawn: never run).
   */
  async run<T>(fn: () => T | Promise<T>, opts: { signal?: AbortSignal } = {}): Promise<T> {
    const { signal } = opts;
    signal?.throwIfAborted();
    if (this.busy) {
      if (this.waiters.length >= this.maxWaiting) throw new QueueFullError(this.maxWaiting);
      await new Promise<void>((resolve, reject) => {
        const turn = (): void => {
          signal?.removeEventListener("abort", withdraw);
          resolve();
        };
        const withdraw = (): void => {
          const at = this.waiters.indexOf(turn);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(signal?.reason);
        };
        this.waiters.push(turn);
        signal?.addEventListener("abort", withdraw, { once: true });
      });
    } else {
      this.busy = true;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next === undefined) {
        this.busy = false;
        for (const resolve of this.idlers.splice(0)) resolve();
      } else next(); // hand the lock over: `busy` stays true
    }
  }
}
