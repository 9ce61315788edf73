/**
 * One execution of a run id at a time per store handle. `run` and `resume` claim the run id
 * before they execute it; a second call for the same run id on the same handle (in this
 * process: another process cannot write the store while one does, the writer lock) waits for
 * the first to end — completed, failed or interrupted — and then does what a call made after it
 * does: reports the finished run (`reused: true`) or continues from the pulses the first
 * committed. Before, both executed every pulse (ARCHITECTURE §10.16).
 */
import type { Store } from "../store/store.js";
import { throwIfAborted } from "./abort.js";

/** Per store handle: the run ids being executed, each with a promise settled when its execution ends. */
const executing = new WeakMap<Store, Map<string, Promise<void>>>();

export interface RunClaim {
  /** Whether this call had to wait for another execution of the run id. */
  waited: boolean;
  /** Ends the claim (idempotent): a call waiting for it goes on. */
  release(): void;
}

/**
 * Claims `runId` on `store` for this call. While another call holds it, waits for that one to
 * release it, calling `beforeWait` (awaited) once before the first wait — e.g. to close a worker
 * pool that would sit idle meanwhile. An abort of `signal` while waiting is E_INTERRUPTED naming
 * the run (throwIfAborted); nothing is claimed then.
 */
export async function claimRun(store: Store, runId: string, signal: AbortSignal | undefined, beforeWait: () => Promise<void> = async () => {}): Promise<RunClaim> {
  let runs = executing.get(store);
  if (runs === undefined) {
    runs = new Map();
    executing.set(store, runs);
  }
  let waited = false;
  for (let other = runs.get(runId); other !== undefined; other = runs.get(runId)) {
    if (!waited) {
      waited = true;
      await beforeWait();
      throwIfAborted(signal, runId);
      continue; // the other may have ended meanwhile
    }
    await settledOrAborted(other, signal);
    throwIfAborted(signal, runId);
  }
  let end!: () => void;
  const mine = new Promise<void>((resolve) => (end = resolve));
  const held = runs;
  held.set(runId, mine);
  let released = false;
  return {
    waited,
    release: () => {
      if (released) return;
      released = true;
      if (held.get(runId) === mine) held.delete(runId);
      end();
    },
  };
}

/** Resolves when `p` settles or `signal` aborts, whichever comes first (no listener is left behind). */
function settledOrAborted(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onAbort = (): void => resolve();
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
