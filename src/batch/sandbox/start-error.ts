/**
 * A worker start or import that failed on an OS resource (file descriptors, memory, threads) is
 * not the module's fault: `startError` makes it E_STORE_IO with what to do (pool.ts uses it on
 * every path of a worker's start; anything else stays the module's E_INVALID_INPUT). The run's
 * plan is kept (E_INVALID_INPUT would unpin it as hopeless), so it can be resumed.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { describeUncaught } from "../records.js";

/** The run config keys a hint names, each with the CLI's flag beside it (as api-checks.ts names idField). */
const WORKERS = "workers (--workers)";
const MAX_MEMORY = "maxMemoryBytes (--max-memory)";
/**
 * What to do about an OS resource error of a worker start or import (Cairn's files, the thread:
 * not the module's fault). Until 2026-11-28 the hints named only the CLI's flags ("use fewer
 * --workers or a lower --max-memory"), which a library caller of `run` never passed.
 */
const RESOURCE_HINTS: Readonly<Record<string, string>> = {
  EMFILE: `too many open files (EMFILE): raise the limit (ulimit -n) or use fewer ${WORKERS}`,
  ENFILE: `too many open files in the system (ENFILE): raise the system's limit or use fewer ${WORKERS}`,
  ENOMEM: `out of memory (ENOMEM): use fewer ${WORKERS} or a lower ${MAX_MEMORY}`,
  EAGAIN: `cannot start another thread (EAGAIN): the system's thread or memory limit was hit; use fewer ${WORKERS}`,
};
/** Node's text of an fs error of each errno (libuv's message), as a worker's report of an import failure carries it. */
const RESOURCE_TEXT = /\b(?:(EMFILE): too many open files|(ENFILE): file table overflow|(ENOMEM): not enough memory),/;
/** Node's ERR_WORKER_INIT_FAILED message: the thread or its event loop could not be created. */
const WORKER_INIT_TEXT = /^Worker initialization failure: (EMFILE|ENFILE|ENOMEM|EAGAIN)$/;

/** `details.reason` of a `startError`. */
export const WORKER_RESOURCE_REASON = "worker_resource";

/** Whether `err` is a `startError` (a worker that could not start for want of an OS resource). */
export function isResourceStartError(err: unknown): err is CairnError {
  return err instanceof CairnError && err.code === ErrorCode.STORE_IO && err.details.reason === WORKER_RESOURCE_REASON;
}

/**
 * E_STORE_IO for a worker start or import that failed on an OS resource: an fs error with `code`
 * EMFILE, ENFILE or ENOMEM ('error' event), Node's ERR_WORKER_INIT_FAILED for one of those or
 * EAGAIN, or a worker's report (text) carrying Node's message of one ("EMFILE: too many open
 * files, open …"). Undefined for anything else (the module's fault: E_INVALID_INPUT).
 */
export function startError(moduleName: string, err: unknown): CairnError | undefined {
  let errno: string | undefined;
  if (typeof err === "string") {
    const m = RESOURCE_TEXT.exec(err);
    errno = m?.[1] ?? m?.[2] ?? m?.[3];
  } else if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ERR_WORKER_INIT_FAILED") errno = WORKER_INIT_TEXT.exec(e.message)?.[1];
    else if (typeof e.syscall === "string" && (e.code === "EMFILE" || e.code === "ENFILE" || e.code === "ENOMEM")) errno = e.code;
  }
  if (errno === undefined) return undefined;
  const what = typeof err === "string" ? err : describeUncaught(err);
  return new CairnError(ErrorCode.STORE_IO, `cannot start a worker for module ${moduleName}: ${RESOURCE_HINTS[errno] as string} (${what})`, {
    module: moduleName,
    errno,
    reason: WORKER_RESOURCE_REASON,
  }, { cause: err });
}
