/**
 * How CT atoms fail.
 *
 * In the reference an atom signals a violation by raising; the CT-IR executor (A.9) wraps any
 * raise as a CT execution error (`error_code "CT_EXECUTION_FAILED"`, `node_category "CT"`), and
 * the CT step (A.8) turns every such error into status `VIOLATION` with empty outputs.
 *
 * Here an atom throws `AtomViolation`; ct-ir.ts wraps it (and anything else thrown inside the
 * CT) in `CtExecutionError`; `runCtStep` returns `{ status: "VIOLATION", outputs: {}, error }`.
 * The exception class and message are diagnostics only (never observable through the runtime);
 * `pyException` names the Python exception class the reference raises in the same situation, so
 * the atom test vectors can be checked against it.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { compactJson } from "../py/json.js";
import type { PyValue } from "../py/value.js";

/** Longest rendering of a value inside an error message. */
export const MESSAGE_VALUE_MAX_CHARS = 120;

/**
 * The Python exception class the reference raises. `CTExecutionError` is the atoms' own
 * "violation" error; `CairnLimit` marks a bound that only Cairn enforces (the reference has none).
 */
export type PyExceptionName = "CTExecutionError" | "TypeError" | "ValueError" | "AttributeError" | "KeyError" | "CairnLimit";

/** The PGS error code carried by every CT execution failure (A.9). */
export const CT_EXECUTION_FAILED = "CT_EXECUTION_FAILED";
/** The PGS node category of CT failures (A.9). */
export const CT_NODE_CATEGORY = "CT";

/** Thrown by an atom to signal a violation (the reference's "raise"). */
export class AtomViolation extends CairnError {
  /** The atom code, e.g. `CT_PURE_LOOKUP_V0`. */
  readonly atom: string;
  /** What was violated, without the atom prefix. */
  readonly reason: string;
  readonly pyException: PyExceptionName;

  constructor(atom: string, reason: string, pyException: PyExceptionName = "CTExecutionError", details: Record<string, unknown> = {}) {
    super(pyException === "CairnLimit" ? ErrorCode.LIMIT_EXCEEDED : ErrorCode.INVALID_INPUT, `${atom}: ${reason}`, { atom, pyException, ...details });
    this.name = "AtomViolation";
    this.atom = atom;
    this.reason = reason;
    this.pyException = pyException;
  }
}

/** A failed CT execution (A.9): the atom raised, returned null, or the CT-IR is malformed. */
export class CtExecutionError extends CairnError {
  readonly errorCode = CT_EXECUTION_FAILED;
  readonly nodeCategory = CT_NODE_CATEGORY;
  /** The atom's violation when the failure is an `AtomViolation`. */
  readonly violation: AtomViolation | undefined;

  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(ErrorCode.INVALID_INPUT, message, { error_code: CT_EXECUTION_FAILED, node_category: CT_NODE_CATEGORY, ...details }, cause === undefined ? undefined : { cause });
    this.name = "CtExecutionError";
    this.violation = cause instanceof AtomViolation ? cause : undefined;
  }
}

/** A short rendering of a value for error messages. */
export function show(v: PyValue): string {
  let s: string;
  try {
    s = compactJson(v);
  } catch {
    s = "<unprintable>";
  }
  return s.length > MESSAGE_VALUE_MAX_CHARS ? `${s.slice(0, MESSAGE_VALUE_MAX_CHARS)}…` : s;
}
