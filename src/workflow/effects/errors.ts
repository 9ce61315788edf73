/**
 * Error helpers of the CS runtimes. Every failure is a `CairnError` with a stable code and a
 * `details.reason` naming the failure class, so callers and tests match on data, not text.
 *
 * "Hard errors" (SEMANTICS A.10 step 7, C.1) are thrown; they abort the workflow run. Status
 * outcomes (`VIOLATION`, `BACKEND_ERROR`, …) are returned, never thrown.
 */
import { CairnError, ErrorCode, osErrorText, type ErrorCodeValue } from "../../core/errors.js";

export { osErrorText };
import { UNSERIALISABLE_REASON } from "../py/json.js";

/** `details.reason` values used by this module. */
export const EffectErrorReason = {
  /** A path leaves the data root (`..`, absolute, NUL, symlink out, symlinked final component). */
  PATH_CONFINEMENT: "path_confinement",
  /** The CS configuration (expanded RB policy) or metadata is unusable. */
  CS_CONFIG: "cs_config",
  /** A step input the reference rejects with an exception (unhashable key, non-object value…). */
  CS_INPUT: "cs_input",
  /**
   * A value cannot be written as JSON (not a Python value, lone surrogate in UTF-8, too deep…).
   * Set by the shared serialisers (src/workflow/py/json.ts, `UNSERIALISABLE_REASON`).
   */
  UNSERIALISABLE: UNSERIALISABLE_REASON,
  /** One append-only read would return more than its limit (`E_LIMIT_EXCEEDED`, appendonly.ts `LogReadLimit`). */
  READ_LIMIT: "read_limit",
  /** A JSON-lines file ends in a torn (unterminated) last line. */
  TORN_TAIL: "torn_jsonl_tail",
  /** The data root could not be read or written. */
  IO: "data_root_io",
  /** A data file is not a regular file (FIFO, socket, device). */
  NOT_REGULAR: "not_regular_file",
  /** The data root's lock is held elsewhere (`E_DATA_ROOT_LOCKED`, data-root-lock.ts). */
  LOCKED: "data_root_locked",
  /** The data root's lock directory or lock file cannot be created, checked or opened (`E_STORE_IO`). */
  LOCK_IO: "data_root_lock_io",
} as const;

export type EffectErrorReasonValue = (typeof EffectErrorReason)[keyof typeof EffectErrorReason];

/** A hard error of the CS layer. */
export function effectError(
  code: ErrorCodeValue,
  reason: EffectErrorReasonValue,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): CairnError {
  return new CairnError(code, message, { reason, ...details }, cause === undefined ? undefined : { cause });
}

/** A path confinement refusal naming the offending path (`E_PATH_CONFINEMENT`). */
export function confinementError(offending: string, why: string, details: Record<string, unknown> = {}): CairnError {
  return effectError(ErrorCode.PATH_CONFINEMENT, EffectErrorReason.PATH_CONFINEMENT, `path confinement: ${JSON.stringify(offending)} ${why}`, {
    path: offending,
    ...details,
  });
}

/** A configuration error (missing `path`, malformed policy or metadata). */
export function configError(message: string, details: Record<string, unknown> = {}): CairnError {
  return effectError(ErrorCode.INVALID_INPUT, EffectErrorReason.CS_CONFIG, message, details);
}

/** A step-input error the reference raises on (it aborts the run rather than returning a status). */
export function inputError(message: string, details: Record<string, unknown> = {}): CairnError {
  return effectError(ErrorCode.INVALID_INPUT, EffectErrorReason.CS_INPUT, message, details);
}

/** Wraps an fs error as a hard I/O error naming the path relative to the data root. */
export function ioError(op: string, relPath: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const code = (err as { code?: string } | null)?.code;
  return effectError(
    ErrorCode.STORE_IO,
    EffectErrorReason.IO,
    `cannot ${op} ${JSON.stringify(relPath)} under the data root: ${osErrorText(err)}`,
    { path: relPath, errno: code ?? null },
    err,
  );
}
