/**
 * Stopping a batch run from outside: `RunHooks.signal` (an AbortSignal). The engine checks it
 * between input chunks, pulses and merge chunks and ends the run with E_INTERRUPTED, the code
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
