/**
 * Stopping a batch run from outside: `RunHooks.signal` (an AbortSignal). The engine checks it
 * between input chunks, pulses and merge chunks, races ingest's reads of the dataset source
 * against it (`abortable`), and ends the run with E_INTERRUPTED, the code
 * of a run the CLI ends on SIGINT/SIGTERM/SIGHUP (ARCHITECTURE §10.1, §10.16).
 */
import { CairnError, ErrorCode } from "../core/errors.js";

/** `hooks.signal` must be an AbortSignal when given (a typo'd option would otherwise never stop anything). */
export function checkSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new CairnError(ErrorCode.USAGE, `hooks.signal must be an AbortSignal, got ${signal === null ? "null" : typeof signal}`, { field: "signal" });
  }
}

/** E_INTERRUPTED once `signal` is aborted, naming the run to resume when its id is known. */
export function throwIfAborted(signal: AbortSignal | undefined, runId: string | undefined): void {
  if (signal?.aborted !== true) return;
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  const where = runId === undefined ? "before its plan was recorded" : `run ${runId}: committed pulses are kept, resume it`;
  throw new CairnError(ErrorCode.INTERRUPTED, `run aborted (${where}): ${why}`, runId === undefined ? {} : { runId }, { cause: reason });
}

/**
 * `source` for a `for await` loop, ending with throwIfAborted's E_INTERRUPTED as soon as
 * `signal` aborts — also while a `next()` of an async source (or a promise a sync source gave)
 * is pending, which is raced against the abort: a source that yields every few seconds, or never
 * again (a stalled stdin, a generator awaiting forever), no longer holds the run past the abort
 * (before 2026-11-28 it was seen only at the next element). Without a signal it is `source`
 * itself. Otherwise every step is what `for await` over `source` gives: an async source's values
 * as they come (a promise value is not awaited), a sync source's awaited; a step that is not an
 * object is the TypeError `for await` throws. On an abort the source is closed: `onAbort` first
 * (a stream given is destroyed there, which ends its pending read), then its iterator's
 * `return()`, which is called but not awaited when a step is pending — an async generator
 * suspended in an `await` queues `return()` until that await settles, which may be never —
 * and awaited otherwise. One abort listener serves the whole iteration (removed when it ends).
 */
export function abortable<T>(
  source: AsyncIterable<T> | Iterable<T>,
  signal: AbortSignal | undefined,
  runId: string | undefined,
  onAbort?: () => void,
): AsyncIterable<T> | Iterable<T> {
  if (signal === undefined) return source;
  return { [Symbol.asyncIterator]: () => new AbortableIterator(source, signal, runId, onAbort) };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === "object" || typeof v === "function") && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** The TypeError `for await` throws for a step that is not an object. */
function notAnObject(r: unknown): TypeError {
  return new TypeError(`Iterator result ${String(r)} is not an object`);
}

class AbortableIterator<T> implements AsyncIterator<T> {
  private readonly sync: Iterator<T> | undefined;
  private readonly async: AsyncIterator<T> | undefined;
  /** The pending step's reject, while one is raced against the abort. */
  private pending: ((err: unknown) => void) | undefined;
  private ended = false;
  private readonly onAbortEvent = (): void => {
    const reject = this.pending;
    if (reject === undefined) return; // seen by the next call of next()
    this.pending = undefined;
    reject(this.abortError());
    void this.closeSource(false);
  };

  constructor(
    source: AsyncIterable<T> | Iterable<T>,
    private readonly signal: AbortSignal,
    private readonly runId: string | undefined,
    private readonly onAbort: (() => void) | undefined,
  ) {
    const asyncIt = (source as Partial<AsyncIterable<T>>)[Symbol.asyncIterator];
    if (typeof asyncIt === "function") this.async = asyncIt.call(source);
    else this.sync = (source as Iterable<T>)[Symbol.iterator]();
    signal.addEventListener("abort", this.onAbortEvent, { once: true });
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.signal.aborted) {
      await this.closeSource(true);
      throw this.abortError();
    }
    try {
      let r: IteratorResult<T>;
      if (this.async !== undefined) {
        r = await this.race(this.async.next());
        if (r === null || typeof r !== "object") throw notAnObject(r);
      } else {
        r = (this.sync as Iterator<T>).next();
        if (r === null || typeof r !== "object") throw notAnObject(r);
        // As `for await` over a sync iterable: its values are awaited (only a thenable is raced).
        if (r.done !== true && isThenable(r.value)) r = { done: false, value: (await this.race(r.value)) as T };
      }
      if (r.done === true) this.end();
      return r;
    } catch (err) {
      // A source that threw (or gave a non-object) is not closed, as `for await` leaves it.
      this.end();
      throw err;
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.end();
    const it = this.async ?? this.sync;
    if (it?.return === undefined) return { done: true, value: value as T };
    const r = await it.return(value as T);
    if (r === null || typeof r !== "object") throw notAnObject(r);
    return r;
  }

  /** `step`, or the abort's error as soon as the signal aborts first. */
  private race<V>(step: PromiseLike<V> | V): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.pending = reject;
      Promise.resolve(step).then(
        (v) => {
          if (this.pending !== reject) return; // the abort won: this step is abandoned
          this.pending = undefined;
          resolve(v);
        },
        (err: unknown) => {
          if (this.pending !== reject) return; // abandoned, and never unhandled
          this.pending = undefined;
          reject(err);
        },
      );
      // An abort while the step was being asked for (a generator that aborts before it awaits)
      // fired before this race existed: act on it now.
      if (this.signal.aborted) this.onAbortEvent();
    });
  }

  private abortError(): unknown {
    try {
      throwIfAborted(this.signal, this.runId);
    } catch (err) {
      return err;
    }
    return new Error("aborted");
  }

  /**
   * On an abort: `onAbort`, then the source's `return()`, awaited between steps (`betweenSteps`:
   * as `for await` closes a source it leaves) and only called while a step is pending (which may
   * hold it back for ever); its failure is not the run's (the abort is).
   */
  private async closeSource(betweenSteps: boolean): Promise<void> {
    if (this.ended) return;
    this.end();
    this.onAbort?.();
    const it = this.async ?? this.sync;
    if (it?.return === undefined) return;
    const closing = Promise.resolve()
      .then(() => it.return?.())
      .catch(() => {});
    if (betweenSteps) await closing;
  }

  private end(): void {
    this.ended = true;
    this.signal.removeEventListener("abort", this.onAbortEvent);
  }
}
