/** Ending a command on a signal the way shells expect, leaving no output temp file or scratch file behind. */
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
