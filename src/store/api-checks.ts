/**
 * Checks of the Store's method arguments (store.ts), made before any catalog work, as
 * `openStore` checks its options: an options object that is not one (core/describe.ts
 * `isOptionsObject`), an unknown option key (refused with the key it probably meant,
 * core/suggest.ts `refuseUnknownKeys`) or a value of the wrong type is E_USAGE with
 * `details.field` naming it — never dropped or coerced silently (a misspelt `dryRun` made gc
 * sweep), never the driver's TypeError, RangeError or SqliteError.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { refuseUnknownKeys } from "../core/suggest.js";
import { describeArgument, isOptionsObject } from "../core/describe.js";

/** The option keys of each Store method that takes an options object (or a record it stores). */
export const STORE_OPTION_KEYS = Object.freeze({
  read: Object.freeze(["asOf"]),
  reader: Object.freeze(["asOf", "onVerify"]),
  /** A StoreView's openReader: its view fixes `asOf`. */
  viewReader: Object.freeze(["onVerify"]),
  list: Object.freeze(["asOf", "mediaType", "typeTag", "afterLogseq", "limit"]),
  /** A StoreView's list: its view fixes `asOf`. */
  viewList: Object.freeze(["mediaType", "typeTag", "afterLogseq", "limit"]),
  put: Object.freeze(["mediaType", "typeTag"]),
  lineage: Object.freeze(["direction", "depth", "asOf"]),
  /** A StoreView's lineage: its view fixes `asOf`. */
  viewLineage: Object.freeze(["direction", "depth"]),
  gc: Object.freeze(["dryRun", "graceMs"]),
  iterateRoots: Object.freeze(["prefix"]),
  edge: Object.freeze(["from", "to", "type", "role"]),
  receipt: Object.freeze(["program", "inputs", "params", "outputs", "status", "resources", "timing"]),
} satisfies Record<string, readonly string[]>);

/**
 * `opts` (undefined: `{}`) if it is an options object whose own keys are all `keys`; E_USAGE
 * otherwise: "<method> options must be an object, got …", or the unknown key (`details.field`)
 * with the key it probably meant (`details.suggestion`).
 */
export function checkOptions<T extends object>(opts: unknown, keys: readonly string[], method: string): T {
  if (opts === undefined) return {} as T;
  if (!isOptionsObject(opts)) throw new CairnError(ErrorCode.USAGE, `${method} options must be an object, got ${describeArgument(opts)}`, { field: "options" });
  refuseUnknownKeys(opts, keys, `${method} option`, `${method} options`);
  return opts as T;
}

/**
 * A record argument (`addEdge`'s edge, `recordReceipt`'s receipt): an object whose own keys are
 * all `keys`; E_USAGE naming the argument (`field`) or the unknown key otherwise.
 */
export function checkRecord<T extends object>(v: unknown, keys: readonly string[], method: string, field: string): T {
  if (!isOptionsObject(v)) throw new CairnError(ErrorCode.USAGE, `${method} takes the ${field} as an object, got ${describeArgument(v)}`, { field });
  refuseUnknownKeys(v, keys, `${field} field`, `${field} fields`);
  return v as T;
}

/** `gc`'s options: `dryRun` a boolean, `graceMs` a non-negative finite number of milliseconds (each may be absent). */
export function checkGcOptions(opts: unknown): { dryRun?: boolean; graceMs?: number } {
  const o = checkOptions<{ dryRun?: unknown; graceMs?: unknown }>(opts, STORE_OPTION_KEYS.gc, "gc");
  if (o.dryRun !== undefined && typeof o.dryRun !== "boolean") {
    throw new CairnError(ErrorCode.USAGE, `gc dryRun must be a boolean, got ${describeArgument(o.dryRun)}`, { field: "dryRun" });
  }
  if (o.graceMs !== undefined && (typeof o.graceMs !== "number" || !Number.isFinite(o.graceMs) || o.graceMs < 0)) {
    throw new CairnError(ErrorCode.USAGE, `gc graceMs must be a non-negative number of milliseconds, got ${describeArgument(o.graceMs)}`, { field: "graceMs" });
  }
  return o as { dryRun?: boolean; graceMs?: number };
}

/** `lineage`'s `direction`: absent, "up" or "down" (as `edgesOfType` requires). */
export function checkDirection(direction: unknown): void {
  if (direction !== undefined && direction !== "up" && direction !== "down") {
    throw new CairnError(ErrorCode.USAGE, `lineage direction must be "up" or "down", got ${describeArgument(direction)}`, { field: "direction" });
  }
}

/** `transaction`'s argument: a synchronous function (an async one would commit before its awaited writes ran). */
export function checkTransactionFunction(fn: unknown): void {
  if (typeof fn !== "function") {
    throw new CairnError(ErrorCode.USAGE, `transaction takes a synchronous function, got ${describeArgument(fn)}`, { field: "fn" });
  }
  if (isAsyncFunction(fn)) throw asyncTransaction("an async function");
}

/**
 * E_USAGE for a transaction function that is async (refused before it runs) or returned a
 * promise (`ran`: what it wrote before returning is rolled back; its writes after an await
 * would have run outside the transaction).
 */
export function asyncTransaction(what: string, ran = false): CairnError {
  return new CairnError(
    ErrorCode.USAGE,
    `transaction takes a synchronous function, got ${what}: its writes after an await would run outside the transaction${ran ? " (what it wrote before returning was rolled back)" : ""}`,
    { field: "fn" },
  );
}

function isAsyncFunction(fn: unknown): boolean {
  const name = (fn as { constructor?: { name?: unknown } }).constructor?.name;
  return name === "AsyncFunction" || name === "AsyncGeneratorFunction";
}

/** Whether `v` is a promise or another thenable. */
export function isThenable(v: unknown): boolean {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/** `setCacheBytes`'s argument: a non-negative safe integer (it becomes PRAGMA text). */
export function checkCacheBytes(bytes: unknown): number {
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw new CairnError(ErrorCode.USAGE, `setCacheBytes takes a non-negative integer number of bytes, got ${describeArgument(bytes)}`, { field: "bytes" });
  }
  return bytes;
}

/** `at`'s argument: a snapshot name (a string) or a logseq (a number, checked as an `asOf`). */
export function checkAtArgument(v: unknown): void {
  if (typeof v !== "string" && typeof v !== "number") {
    throw new CairnError(ErrorCode.USAGE, `at takes a snapshot name (a string) or a logseq (a non-negative integer), got ${describeArgument(v)}`, { field: "snapshotOrLogseq" });
  }
}

/** `getToFile`'s destination: a non-empty path. */
export function checkDest(dest: unknown): asserts dest is string {
  if (typeof dest !== "string" || dest === "") {
    throw new CairnError(ErrorCode.USAGE, `getToFile dest must be a non-empty string (a file path), got ${describeArgument(dest)}`, { field: "dest" });
  }
}
