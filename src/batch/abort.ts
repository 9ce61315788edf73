/**
 * Stopping a batch call from outside with an AbortSignal: `run`/`resume` (`RunHooks.signal`),
 * `verifyRun` (`VerifyOptions.signal`) and `replay` (`ReplayOptions.signal`). The engine checks it
 * between input chunks, pulses and merge chunks, races ingest's reads of the dataset source
 * against it (`abortable`), and ends the run with E_INTERRUPTED, the code
 * of a run the CLI ends on SIGINT/SIGTERM/SIGHUP (ARCHITECTURE §10.1, §10.16). Verify and replay
 * check it between pulses and race the re-execution of user code against it (`untilAborted`):
 * an abort terminates their worker threads at once (they commit nothing, so nothing is kept).
 */
import { CairnError, ErrorCode } from "../core/errors.js";

/**
 * `signal` must be an AbortSignal when given (a typo'd option would otherwise never stop
 * anything): E_USAGE naming it as `name` says it (`hooks.signal`, `signal`), field `signal`.
 */
export function checkSignal(signal: unknown, name = "hooks.signal"): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new CairnError(ErrorCode.USAGE, `${name} must be an AbortSignal, got ${signal === null ? "null" : typeof signal}`, { field: "signal" });
  }
}

/**
 * The E_INTERRUPTED of an aborted `signal`: `<what>: <reason>` (the reason's message when it is
 * an Error), the reason as its `cause`.
 */
export function abortedError(signal: AbortSignal, what: string, details: Record<string, unknown> = {}): CairnError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return new CairnError(ErrorCode.INTERRUPTED, `${what}: ${why}`, details, { cause: reason });
}

/** E_INTERRUPTED once `signal` is aborted, naming the run to resume when its id is known. */
export function throwIfAborted(signal: AbortSignal | undefined, runId: string | undefined): void {
  if (signal?.aborted !== true) return;
  const where = runId === undefined ? "before its plan was recorded" : `run ${runId}: committed pulses are kept, resume it`;
  throw abortedError(signal, `run aborted (${where})`, runId === undefined ? {} : { runId });
}

/**
 * `work` (a promise of worker threads running user code), or — as soon as `signal` aborts
 * first, also when it already has — `stop()` awaited (which terminates those threads: a pool's
 * `close()`) and then the rejection `error()` gives. `work`'s own later settling is then ignored
 * (never an unhandled rejection). Without a signal it is `work`. The abort listener is removed
 * once either settles. For work that must not be left running on an abort (verify's and
 * replay's re-executions); a run's pulses instead finish and commit (the engine).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, stop: () => Promise<void>, error: () => unknown): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = (): void => {
      if (done) return;
      done = true;
      const fail = (): void => reject(error());
      stop().then(fail, fail);
    };
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        if (done) return;
        done = true;
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (done) return;
        done = true;
        reject(err);
      },
    );
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** How long synchronous checks may run between two turns of the event loop while a signal is given (`AbortPoint.pause`). */
export const ABORT_PAUSE_MS = 20;

/**
 * Where a call that only reads (verify, replay) stops on its signal: `check()` throws `error()`
 * once aborted; `pause()` also lets the event loop turn (a `setImmediate`, at most every
 * ABORT_PAUSE_MS) so that an abort from a timer or a signal handler is seen between pulses of
 * checks that are otherwise synchronous; `race(work, stop)` is `untilAborted`. Without a signal
 * every one is a no-op. `what` and `details` word the E_INTERRUPTED (`abortedError`).
 */
export class AbortPoint {
  private last = performance.now();

  constructor(
    readonly signal: AbortSignal | undefined,
    private readonly what: string,
    private readonly details: Record<string, unknown>,
  ) {}

  error(): CairnError {
    return abortedError(this.signal as AbortSignal, this.what, this.details);
  }

  check(): void {
    if (this.signal?.aborted === true) throw this.error();
  }

  /**
   * Whether `pause()` has anything to do: a signal is given and it is aborted or ABORT_PAUSE_MS
   * have passed. A loop over many records asks this first (`if (p.due()) await p.pause()`), so
   * that without a signal it pays no `await` per record.
   */
  due(): boolean {
    return this.signal !== undefined && (this.signal.aborted || performance.now() - this.last >= ABORT_PAUSE_MS);
  }

  async pause(): Promise<void> {
    if (this.signal === undefined) return;
    const now = performance.now();
    if (now - this.last >= ABORT_PAUSE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.last = performance.now();
    }
    this.check();
  }

  race<T>(work: Promise<T>, stop: () => Promise<void>): Promise<T> {
    return untilAborted(work, this.signal, stop, () => this.error());
  }
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
