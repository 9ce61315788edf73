/**
 * One error hierarchy for all of Cairn. Every error carries a stable string code;
 * the CLI maps codes to exit codes (2 for usage errors, 1 for everything else).
 */

/** Stable error codes. Never renumber or rename: scripts and tests match on them. */
export const ErrorCode = {
  /** Bad command line or bad API argument shape. Exit 2. */
  USAGE: "E_USAGE",
  /** A digest string that does not parse. Exit 2 (it is a usage error). */
  DIGEST_INVALID: "E_DIGEST_INVALID",
  /** The named thing (artifact, snapshot, receipt…) does not exist or is tombstoned. */
  NOT_FOUND: "E_NOT_FOUND",
  /** Stored bytes or catalog records fail verification. */
  STORE_CORRUPT: "E_STORE_CORRUPT",
  /** Another process holds the store's writer lock. */
  STORE_LOCKED: "E_STORE_LOCKED",
  /**
   * Another process (or another holder in this one) is running workflows on the same data root:
   * its data-root lock was not free within the wait. The message names the data root and the wait.
   */
  DATA_ROOT_LOCKED: "E_DATA_ROOT_LOCKED",
  /** The store was written by an unknown (newer) on-disk format version. */
  STORE_VERSION: "E_STORE_VERSION",
  /** The store directory cannot be created, read or written. */
  STORE_IO: "E_STORE_IO",
  /** No store exists where one was expected. */
  STORE_MISSING: "E_STORE_MISSING",
  /** A value cannot be canonically encoded (NaN, undefined, cycles, lone surrogates…). */
  CANONICAL: "E_CANONICAL",
  /** Input data is malformed (names file, line or field). */
  INVALID_INPUT: "E_INVALID_INPUT",
  /** A write contradicts what is already recorded (e.g. a receipt with other outputs). */
  CONFLICT: "E_CONFLICT",
  /** A referenced record is missing when writing (referential integrity). */
  DANGLING_REFERENCE: "E_DANGLING_REFERENCE",
  /** Re-executing work gave different bytes (an audit or verification mismatch). */
  NONDETERMINISTIC: "E_NONDETERMINISTIC",
  /** A stored run, artifact or checksum does not verify. */
  VERIFY_MISMATCH: "E_VERIFY_MISMATCH",
  /** One or more EUs of a batch run failed. */
  EU_FAILED: "E_EU_FAILED",
  /** An execution function threw (or rejected) with a non-Cairn error. */
  EU_THREW: "E_EU_THREW",
  /** An EU did not settle within --eu-timeout; its worker was replaced. */
  EU_TIMEOUT: "E_EU_TIMEOUT",
  /** A worker died (process.exit, out of memory, uncaught error) while running an EU. */
  WORKER_CRASHED: "E_WORKER_CRASHED",
  /** A size or count limit was exceeded. */
  LIMIT_EXCEEDED: "E_LIMIT_EXCEEDED",
  /**
   * A batch run ended by SIGINT, SIGTERM or SIGHUP (committed pulses are kept; `details.runId`
   * names the run to resume). The CLI reports it, then ends by that signal (exit 130/143/129).
   */
  INTERRUPTED: "E_INTERRUPTED",
  /**
   * A workflow snapshot whose content does not match its recorded hash (e.g. a PGS
   * `projection_hash` that differs from the attestation or from the recomputed topology hash).
   * Messages contain "integrity".
   */
  SNAPSHOT_INTEGRITY: "E_SNAPSHOT_INTEGRITY",
  /** A path that escapes the data root (`..`, outside the root, a symlink leading out, NUL…). */
  PATH_CONFINEMENT: "E_PATH_CONFINEMENT",
  /** A snapshot names a handler (`module:callable`) that the sealed handler tables lack. */
  HANDLER_UNMAPPED: "E_HANDLER_UNMAPPED",
  /** The execution plane refused to admit a workflow's lane-bound step (details.reason `plane_admission_rejected`). */
  PLANE_REJECTED: "E_PLANE_REJECTED",
  /**
   * `cairn wf compile` found errors in Cairn workflow declarations (thrown once per compile;
   * `details.errors` lists the diagnostics, each with one of the `E_COMPILE_*` codes below).
   */
  COMPILE_FAILED: "E_COMPILE_FAILED",
  /** Compile diagnostic: a file that is not YAML/JSON or does not match the published JSON Schema. */
  COMPILE_SCHEMA: "E_COMPILE_SCHEMA",
  /** Compile diagnostic: a step names an atom, user CT, module or store that does not exist. */
  COMPILE_UNKNOWN_CAPABILITY: "E_COMPILE_UNKNOWN_CAPABILITY",
  /** Compile diagnostic: a CS step names an operation its store kind does not have. */
  COMPILE_UNKNOWN_OPERATION: "E_COMPILE_UNKNOWN_OPERATION",
  /** Compile diagnostic: an input binding that resolves to nothing (unknown node, step or field). */
  COMPILE_UNBOUND_INPUT: "E_COMPILE_UNBOUND_INPUT",
  /** Compile diagnostic: a route (or the entry) names a node that is not declared. */
  COMPILE_MISSING_NODE: "E_COMPILE_MISSING_NODE",
  /** Compile diagnostic: an outcome a node can end with that no route handles (and no default route). */
  COMPILE_UNHANDLED_OUTCOME: "E_COMPILE_UNHANDLED_OUTCOME",
  /** Compile diagnostic: a route for an outcome the node can never end with (Cairn workflows). */
  COMPILE_IMPOSSIBLE_ROUTE: "E_COMPILE_IMPOSSIBLE_ROUTE",
  /** Compile diagnostic: a node no route from the entry reaches. */
  COMPILE_UNREACHABLE_NODE: "E_COMPILE_UNREACHABLE_NODE",
  /** Compile diagnostic: a step that never runs, after one exiting the node with every outcome it can end with (Cairn workflows). */
  COMPILE_UNREACHABLE_STEP: "E_COMPILE_UNREACHABLE_STEP",
  /** Compile diagnostic: no route from the entry reaches an exit within the hop limit (Cairn workflows). */
  COMPILE_HOP_LIMIT: "E_COMPILE_HOP_LIMIT",
  /** Compile diagnostic: a routing cycle none of whose nodes declares `max_visits`. */
  COMPILE_UNBOUNDED_CYCLE: "E_COMPILE_UNBOUNDED_CYCLE",
  /** Compile diagnostic: a declared feature this build does not support yet (e.g. `lane`). */
  COMPILE_UNSUPPORTED: "E_COMPILE_UNSUPPORTED",
  /** Compile diagnostic: the same name declared twice (workflow, step id). */
  COMPILE_DUPLICATE: "E_COMPILE_DUPLICATE",
  /** Compile diagnostic: a capability module that cannot be bundled or loaded. */
  COMPILE_MODULE: "E_COMPILE_MODULE",
  /** Compile diagnostic: a step input its capability does not declare (a misspelt or unknown input name). */
  COMPILE_UNKNOWN_INPUT: "E_COMPILE_UNKNOWN_INPUT",
  /** Compile diagnostic: a store path naming no file, or the file (or a directory of the file) of another store. */
  COMPILE_STORE_PATH: "E_COMPILE_STORE_PATH",
  /** Something Cairn did not expect; a bug. */
  INTERNAL: "E_INTERNAL",
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The brand of a CairnError (`isCairnError`): a registered symbol, the same in every copy of
 * this module in a process (a user's plane verifier or capability module importing its own
 * installed `cairn`), where `instanceof` tells only this copy's class. Carried by the class's
 * prototype: not an own property, so an error's JSON, inspection and structured clone are as
 * they were.
 */
export const CAIRN_ERROR_BRAND: unique symbol = Symbol.for("cairn.CairnError");

/** The base of every error Cairn throws on purpose. */
export class CairnError extends Error {
  declare readonly [CAIRN_ERROR_BRAND]: true;

  readonly code: ErrorCodeValue;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCodeValue, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CairnError";
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

Object.defineProperty(CairnError.prototype, CAIRN_ERROR_BRAND, { value: true });

/** A usage error: the caller asked for something malformed. */
export class UsageError extends CairnError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.USAGE, message, details);
    this.name = "UsageError";
  }
}

/** The codes that mean "the caller used Cairn wrongly" and therefore exit 2. */
const USAGE_CODES: ReadonlySet<string> = new Set([ErrorCode.USAGE, ErrorCode.DIGEST_INVALID]);

/**
 * An fs error's text without the host path Node appends (`, <syscall> '<path>'`, and
 * ` -> '<dest>'`): for messages that name the file themselves, by a path the user gave or a
 * path relative to a root (a trace must not depend on the machine). Other errors keep their
 * message.
 */
export function osErrorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  if (typeof e.syscall === "string" && typeof e.code === "string") {
    const at = e.message.indexOf(`, ${e.syscall}`);
    if (at > 0) return e.message.slice(0, at);
  }
  return e.message;
}

/** Process exit code for an error: 2 for usage errors (a CairnError of any copy, `isCairnError`), 1 for every other failure. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (isCairnError(err) && USAGE_CODES.has(err.code)) return 2;
  return 1;
}

/**
 * Whether `err` is a CairnError (with `code`, when given) — of this copy of Cairn or of another
 * one in the same process: an Error (of any realm) that carries the brand (`CAIRN_ERROR_BRAND`,
 * on the class's prototype), a string `code`, a string `message` and an object `details`. Never throws (a
 * proxy's trap that throws reads as "not one").
 */
export function isCairnError(err: unknown, code?: ErrorCodeValue): err is CairnError {
  try {
    if (err instanceof CairnError) return code === undefined || err.code === code;
    if (typeof err !== "object" || err === null || (err as { [CAIRN_ERROR_BRAND]?: unknown })[CAIRN_ERROR_BRAND] !== true) return false;
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    if (Object.prototype.toString.call(err) !== "[object Error]") return false; // an Error of any realm, not a look-alike object
    return typeof e.code === "string" && typeof e.message === "string" && typeof e.details === "object" && e.details !== null && (code === undefined || e.code === code);
  } catch {
    return false;
  }
}
