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
 * Iterates `source` (an async or sync iterable, as `for await` does: a sync iterable's values
 * are awaited), ending with throwIfAborted's E_INTERRUPTED as soon as `signal` aborts — also
 * while a `next()` is pending, which is raced against the abort: a source that yields every
 * few seconds, or never again (a stalled stdin, a generator awaiting forever), no longer holds
 * the run past the abort (before 2026-11-28 it was seen only at the next element). The source
 * is then closed: `onAbort` first (a stream given is destroyed there, which ends its pending
 * read), then its iterator's `return()`, which is called but not awaited when a `next()` is
 * pending — an async generator suspended in an `await` queues `return()` until that await
 * settles, which may be never. Between elements, and on any other end, `return()` is awaited
 * as `for await` does.
 */
export async function* abortable<T>(
  source: AsyncIterable<T> | Iterable<T>,
  signal: AbortSignal | undefined,
  runId: string | undefined,
  onAbort?: () => void,
): AsyncGenerator<Awaited<T>, void, undefined> {
  const it = asyncIteratorOf(source);
  /** How the last next() went: still pending (an abort won the race), threw, or gave a step. */
  const last: { state: "pending" | "threw" | "stepped" } = { state: "stepped" };
  let done = false;
  try {
    for (;;) {
      throwIfAborted(signal, runId);
      const r = await nextOrAbort(it, signal, runId, last);
      if (r.done === true) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // As `for await`: an iterator that ended or threw is not closed; one left early is.
    if (!done && last.state !== "threw") {
      if (signal?.aborted === true) onAbort?.();
      if (last.state === "pending") {
        // Queued behind the pending next(): never awaited (it may never settle), never unhandled.
        void Promise.resolve()
          .then(() => it.return?.())
          .catch(() => {});
      } else if (it.return !== undefined) {
        await it.return();
      }
    }
  }
}

/** The iterator `for await` would use: the async one, or the sync one with its values awaited. */
function asyncIteratorOf<T>(source: AsyncIterable<T> | Iterable<T>): AsyncIterator<Awaited<T>> {
  const asyncIt = (source as Partial<AsyncIterable<T>>)[Symbol.asyncIterator];
  if (typeof asyncIt === "function") return asyncIt.call(source) as AsyncIterator<Awaited<T>>;
  // An async generator delegating to the sync iterable: the async-from-sync iterator of `for await`.
  return (async function* () {
    yield* source as Iterable<T>;
  })();
}

/**
 * `it.next()`, or throwIfAborted's error as soon as `signal` aborts first (no listener left
 * behind); `last.state` says whether the next() is still pending, threw, or gave its step.
 */
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal | undefined, runId: string | undefined, last: { state: "pending" | "threw" | "stepped" }): Promise<IteratorResult<T>> {
  last.state = "pending";
  return new Promise<IteratorResult<T>>((resolve, reject) => {
    const onAbort = (): void => {
      try {
        throwIfAborted(signal, runId);
      } catch (err) {
        reject(err);
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const settle = (state: "threw" | "stepped"): void => {
      signal?.removeEventListener("abort", onAbort);
      // Only when the step won the race: a step that comes after the abort is the abandoned one's.
      if (last.state === "pending") last.state = state;
    };
    let step: Promise<IteratorResult<T>>;
    try {
      step = Promise.resolve(it.next());
    } catch (err) {
      settle("threw");
      reject(err);
      return;
    }
    step.then(
      (r) => {
        settle("stepped");
        resolve(r);
      },
      (err: unknown) => {
        settle("threw");
        reject(err);
      },
    );
  });
}
