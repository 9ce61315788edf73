/**
 * A bounded async mutex: runs one task at a time, in arrival order, with at most `maxWaiting`
 * tasks waiting behind the running one. A task that would exceed the bound is refused at once
 * with `QueueFullError` (an `E_LIMIT_EXCEEDED` CairnError; the gateway answers 503) instead of
 * piling up.
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

  /** Runs `fn` once every earlier task has settled; throws QueueFullError when the queue is full. */
  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.busy) {
      if (this.waiters.length >= this.maxWaiting) throw new QueueFullError(this.maxWaiting);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
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
