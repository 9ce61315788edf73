/**
 * Checks of the batch library's arguments (`run`, `resume`, `streamOutputs`, `verifyRun`,
 * `replay`, `listRuns`), made before any store work: each wrong argument is E_USAGE with
 * `details.field` naming it — the argument (`store`, `dataset`, `fn`, `hooks`, `options`) or the
 * option (`onProgress`, `outFile`, `stdin`, `signal`, `reexecute`, `sample`) — and unknown option
 * keys are refused with the known key they probably meant, as `normalizeConfig` refuses config
 * keys. Nothing a caller passes is coerced or ignored silently: a typo'd `reexecute` used to
 * skip re-execution and still report `ok`.
 */
import { Readable } from "node:stream";
import { CairnError, ErrorCode } from "../core/errors.js";
import { Store } from "../store/store.js";
import { checkSignal } from "./abort.js";
import { describeValue } from "./config.js";
import { codePointsOver } from "../core/echo.js";
import { hasLoneSurrogate } from "../core/lone-surrogate.js";
import { refuseUnknownKeys } from "../core/suggest.js";
import { describeArgument, isOptionsObject, printableJson } from "../core/describe.js";

/** `store` must be an open-able Store handle (made by `openStore`); `fn` names the function in the message. */
export function checkStore(store: unknown, fn: string): asserts store is Store {
  if (!(store instanceof Store)) {
    throw new CairnError(ErrorCode.USAGE, `${fn}: store must be a Store (from openStore), got ${describeArgument(store)}`, { field: "store" });
  }
}

/**
 * `run`'s dataset: a non-empty path (`"-"` for stdin) or an iterable / async iterable of records.
 * A Buffer / Uint8Array is left to `ingest`, which says why it is refused.
 */
export function checkDataset(dataset: unknown): void {
  if (typeof dataset === "string") {
    if (dataset === "") throw new CairnError(ErrorCode.USAGE, 'dataset must not be empty: pass a path, "-" for stdin, or the records', { field: "dataset" });
    return;
  }
  const iterable =
    dataset !== null && (typeof dataset === "object" || typeof dataset === "function") &&
    (typeof (dataset as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function" || typeof (dataset as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === "function");
  if (!iterable) {
    const hint = typeof dataset === "function" ? " (a generator function must be called: pass gen(), not gen)" : "";
    throw new CairnError(
      ErrorCode.USAGE,
      `dataset must be a path (a string; "-" for stdin) or an iterable or async iterable of records, got ${describeArgument(dataset)}${hint}`,
      { field: "dataset" },
    );
  }
}

/**
 * The in-memory dataset's format (`ingest` reads it as jsonl) and the id field each format allows,
 * checked before any store work; E_USAGE naming the config key.
 */
export function checkDatasetConfig(dataset: unknown, format: string, idField: string | null): void {
  if (typeof dataset !== "string" && !(dataset instanceof Uint8Array) && format !== "jsonl") {
    throw new CairnError(ErrorCode.USAGE, `an in-memory dataset is ingested as jsonl; do not set another format (got format ${printableJson(format)})`, { field: "format" });
  }
  if (format === "files" && dataset === "-") {
    throw new CairnError(ErrorCode.USAGE, 'the files format reads a directory, not stdin: pass its path as the dataset, not "-"', { field: "dataset" });
  }
  if (format === "lines" && idField !== null) {
    throw new CairnError(ErrorCode.USAGE, "the lines format has no fields: idField (--id-field) is not allowed with it", { field: "idField" });
  }
  if (format === "files" && idField !== null && idField !== "name") {
    throw new CairnError(ErrorCode.USAGE, `the files format takes idField (--id-field) "name" (the relative path) or none, got ${printableJson(idField)}`, { field: "idField" });
  }
}

/** The keys `run`'s function argument `{ code, name? }` may have. */
export const FUNCTION_SOURCE_KEYS: readonly string[] = Object.freeze(["code", "name"]);

/**
 * Longest `name` of an inline function `{ code, name }`, in characters (Unicode code points):
 * the name is a label — recorded in the plan (so part of the run id), shown by `runs ls` /
 * `runs show` and in module errors — never a path that is opened.
 */
export const MAX_FUNCTION_NAME_CHARS = 256;

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const NAME_CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * `run`'s function argument, checked like the config, hooks and verify options (E_USAGE with
 * `details.field`, before any store work): a module path (a non-empty string; its base name
 * becomes the name, so the CLI's argument is unaffected), or an options object of
 * FUNCTION_SOURCE_KEYS — an unknown key refused with the one it probably meant (`nam` → `name`)
 * — whose `code` is a string (the module text) and whose `name`, when given, is a non-empty
 * string of at most MAX_FUNCTION_NAME_CHARS characters without control characters (C0, DEL,
 * C1, U+2028/2029: `runs ls` shows it on one line) or lone surrogates (the plan records it as
 * canonical JSON). Path separators are allowed: the name is a label (`lib/fn.mjs`), never opened.
 */
export function checkFunctionSource(fn: unknown): void {
  if (typeof fn === "string") {
    if (fn === "") throw new CairnError(ErrorCode.USAGE, "the execution function must be a module path or { code, name? }, got an empty string", { field: "fn" });
    return;
  }
  if (!isOptionsObject(fn)) {
    // the words of runner.ts storeFunction's check, which this one now precedes
    const got = typeof fn === "function" ? "a function value, which can be neither sent to a worker thread nor stored as the function's identity: put it in a module" : describeArgument(fn);
    throw new CairnError(ErrorCode.USAGE, `the execution function must be a module path or { code, name? } (a self-contained ES module text), got ${got}`, { field: "fn" });
  }
  refuseUnknownKeys(fn, FUNCTION_SOURCE_KEYS, "function key", "keys");
  const { code, name } = fn;
  if (typeof code !== "string") {
    throw new CairnError(ErrorCode.USAGE, `the execution function must be a module path or { code, name? }: fn.code must be a string (a self-contained ES module text), got ${describeArgument(code)}`, { field: "code" });
  }
  if (name === undefined) return;
  if (typeof name !== "string" || name === "") {
    throw new CairnError(ErrorCode.USAGE, `fn.name must be a non-empty string (a label for the function), got ${describeArgument(name)}`, { field: "name" });
  }
  if (codePointsOver(name, MAX_FUNCTION_NAME_CHARS)) {
    throw new CairnError(ErrorCode.USAGE, `fn.name must be at most ${MAX_FUNCTION_NAME_CHARS} characters, got ${printableJson(name)}`, { field: "name" });
  }
  if (NAME_CONTROL_RE.test(name) || hasLoneSurrogate(name)) {
    throw new CairnError(ErrorCode.USAGE, `fn.name must not contain control characters or lone surrogates, got ${printableJson(name)}`, { field: "name" });
  }
}

/** The keys a RunHooks may have. */
export const RUN_HOOK_KEYS: readonly string[] = Object.freeze(["onProgress", "signal", "outFile", "stdin"]);

/**
 * `run`'s and `resume`'s hooks: undefined or a plain object of RUN_HOOK_KEYS; `onProgress` a
 * function, `outFile` a non-empty string, `stdin` a Readable stream, `signal` an AbortSignal
 * (each may be absent or undefined). `stdin` is read only for `run`'s dataset `"-"`: given with
 * another dataset, or to `resume` (`dataset` absent: it reads the run's stored input), it would
 * be ignored, so it is refused.
 */
export function checkHooks(hooks: unknown, dataset?: unknown): void {
  if (hooks === undefined) return;
  if (!isOptionsObject(hooks)) throw new CairnError(ErrorCode.USAGE, `hooks must be an object, got ${describeArgument(hooks)}`, { field: "hooks" });
  refuseUnknownKeys(hooks, RUN_HOOK_KEYS, "hook", "hooks");
  const { onProgress, outFile, stdin, signal } = hooks;
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new CairnError(ErrorCode.USAGE, `hooks.onProgress must be a function, got ${describeArgument(onProgress)}`, { field: "onProgress" });
  }
  if (outFile !== undefined && (typeof outFile !== "string" || outFile === "")) {
    throw new CairnError(ErrorCode.USAGE, `hooks.outFile must be a non-empty string (a file path), got ${describeArgument(outFile)}`, { field: "outFile" });
  }
  if (stdin !== undefined && !(stdin instanceof Readable)) {
    throw new CairnError(ErrorCode.USAGE, `hooks.stdin must be a Readable stream (read for the dataset "-"), got ${describeArgument(stdin)}`, { field: "stdin" });
  }
  if (stdin !== undefined && dataset !== "-") {
    const why = dataset === undefined ? "resume reads the run's stored input" : `the dataset is ${describeArgument(dataset)}`;
    throw new CairnError(ErrorCode.USAGE, `hooks.stdin is read only for the dataset "-" (stdin), and ${why}: it would be ignored`, { field: "stdin" });
  }
  checkSignal(signal);
}

export interface VerifyOptions {
  reexecute?: boolean;
  sample?: number;
  /**
   * Stops the verify: once aborted it rejects with E_INTERRUPTED — at once while `reexecute`
   * re-runs a pulse or folds the reduce again (the worker threads it started are terminated,
   * also while one imports the module or runs user code), else at the next pulse or chunk of
   * records it checks. Verify writes nothing to the store, and its scratch databases are removed.
   */
  signal?: AbortSignal;
}

/** The keys `verifyRun`'s options may have. */
export const VERIFY_OPTION_KEYS: readonly string[] = Object.freeze(["reexecute", "sample", "signal"]);

/**
 * `verifyRun`'s options: undefined or a plain object of VERIFY_OPTION_KEYS; `reexecute` a
 * boolean; `sample` a non-negative integer (0: re-execute no pulse, only fold the reduce again),
 * given only with `reexecute: true` (it would be ignored otherwise); `signal` an AbortSignal.
 */
export function checkVerifyOptions(opts: unknown): VerifyOptions {
  if (opts === undefined) return {};
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `verifyRun options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, VERIFY_OPTION_KEYS, "verifyRun option", "options");
  const { reexecute, sample, signal } = opts;
  if (reexecute !== undefined && typeof reexecute !== "boolean") {
    throw new CairnError(ErrorCode.USAGE, `reexecute must be a boolean, got ${describeValue(reexecute)}`, { field: "reexecute" });
  }
  if (sample !== undefined) {
    if (typeof sample !== "number" || !Number.isSafeInteger(sample) || sample < 0) {
      throw new CairnError(ErrorCode.USAGE, `sample must be a non-negative integer, got ${describeValue(sample)}`, { field: "sample" });
    }
    if (reexecute !== true) {
      throw new CairnError(ErrorCode.USAGE, "sample applies only with reexecute: true (the pulses to re-execute)", { field: "sample" });
    }
  }
  checkSignal(signal, "signal");
  return opts as VerifyOptions;
}

export interface ReplayOptions {
  /**
   * Stops the replay: once aborted it rejects with E_INTERRUPTED at once, the worker threads it
   * started terminated (also while one imports the module or runs user code). Replay writes
   * nothing to the store.
   */
  signal?: AbortSignal;
}

/** The keys `replay`'s options may have. */
export const REPLAY_OPTION_KEYS: readonly string[] = Object.freeze(["signal"]);

/** `replay`'s options: undefined or a plain object of REPLAY_OPTION_KEYS; `signal` an AbortSignal. */
export function checkReplayOptions(opts: unknown): ReplayOptions {
  if (opts === undefined) return {};
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `replay options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, REPLAY_OPTION_KEYS, "replay option", "options");
  checkSignal(opts.signal, "signal");
  return opts as ReplayOptions;
}
