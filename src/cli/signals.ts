/** Ending a command on a signal the way shells expect, leaving no output temp file or scratch file behind. */
import { setTimeout as sleep } from "node:timers/promises";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import { checkLockWait } from "../store/lock.js";
import { openStore, type OpenStoreOptions, type Store } from "../store/store.js";
import { removeExitTemps } from "../store/temp-files.js";

/** The signals that end a command cleanly (SIGKILL cannot be caught). */
export const INTERRUPT_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs `body`; a signal meanwhile calls `onSignal` (e.g. a message), removes the registered
 * temp and scratch files (store/temp-files.ts `trackExitTemp`: `--out` / `-o` temp files,
 * `cairn verify`'s databases, a batch run's ordering index, leaf spill and failures temp file,
 * a streamed put's `.part`) and then ends the process by the same signal with its default
 * action (a shell reports 128 + its number: 130 for ^C). Re-raising rather than
 * `process.exit`: exiting waits for a thread blocked in I/O (a write to a full pipe, opening a
 * FIFO nobody reads), a signal's default action does not.
 */
export async function exitOnSignal<T>(onSignal: () => void, body: () => Promise<T>): Promise<T> {
  const handler = (signal: NodeJS.Signals): void => {
    for (const s of INTERRUPT_SIGNALS) process.removeListener(s, handler);
    onSignal();
    removeExitTemps();
    process.kill(process.pid, signal);
  };
  for (const s of INTERRUPT_SIGNALS) process.once(s, handler);
  try {
    return await body();
  } finally {
    for (const s of INTERRUPT_SIGNALS) process.removeListener(s, handler);
  }
}

/** First and largest pause (ms) between two tries of `openStoreInterruptibly` (it doubles from the first). */
export const STORE_LOCK_POLL_FIRST_MS = 5;
export const STORE_LOCK_POLL_MAX_MS = 100;

/**
 * `openStore` for a writer whose wait for another process's writer lock lets signal handlers
 * run: `openStore` waits in SQLite's busy handler, which blocks the thread, so an
 * `exitOnSignal` handler would run only once the wait is over (up to `--wait` later). This tries
 * without waiting and, while another process holds the lock (E_STORE_LOCKED, not "this
 * process"), tries again after a pause (STORE_LOCK_POLL_FIRST_MS, doubling up to
 * STORE_LOCK_POLL_MAX_MS) until `lockTimeoutMs` has passed; then E_STORE_LOCKED naming that wait,
 * as `openStore` words it. Every other failure is `openStore`'s own, at once.
 */
export async function openStoreInterruptibly(opts: OpenStoreOptions & { readOnly?: false }): Promise<Store> {
  const waitMs = checkLockWait(opts.lockTimeoutMs ?? 0, "lockTimeoutMs");
  const deadline = performance.now() + waitMs;
  let pause = STORE_LOCK_POLL_FIRST_MS;
  for (;;) {
    try {
      return openStore({ ...opts, lockTimeoutMs: 0 });
    } catch (err) {
      const d = isCairnError(err, ErrorCode.STORE_LOCKED) ? (err.details as { path?: unknown; holder?: unknown }) : undefined;
      if (d === undefined || d.holder !== undefined || waitMs === 0) throw err;
      const left = deadline - performance.now();
      if (left <= 0) {
        const root = String(d.path);
        throw new CairnError(ErrorCode.STORE_LOCKED, `store ${root} is locked by another writer (waited ${waitMs} ms); retry when it finishes`, { path: root, waitedMs: waitMs }, { cause: err });
      }
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, STORE_LOCK_POLL_MAX_MS);
    }
  }
}
