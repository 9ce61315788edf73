/** Ending a command on a signal the way shells expect, with Node's exit hooks run. */
import { constants as osConstants } from "node:os";

/** The signals that end a command cleanly (SIGKILL cannot be caught). */
export const INTERRUPT_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** A command ended by a signal exits 128 + the signal's number (SIGINT: 130). */
export const SIGNAL_EXIT_BASE = 128;

/**
 * Runs `body`; a signal meanwhile calls `onSignal` (e.g. a message) and exits 128 + the
 * signal's number through `process.exit`, so exit hooks run (an output file's temp file is
 * removed, store/out-file.ts).
 */
export async function exitOnSignal<T>(onSignal: () => void, body: () => Promise<T>): Promise<T> {
  const handler = (signal: NodeJS.Signals): void => {
    onSignal();
    process.exit(SIGNAL_EXIT_BASE + (osConstants.signals[signal] ?? 0));
  };
  for (const s of INTERRUPT_SIGNALS) process.once(s, handler);
  try {
    return await body();
  } finally {
    for (const s of INTERRUPT_SIGNALS) process.removeListener(s, handler);
  }
}
