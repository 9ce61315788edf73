/**
 * `createServer`'s checks of its options, made before anything else (before the data root's lock
 * is taken): an options object that is not one, an unknown key (refused with the key it probably
 * meant, core/suggest.ts), or a member of the wrong type or out of range is E_USAGE naming it
 * (`ServerOptions.<name> …`, `details.field`). A server that started with such an option used to
 * answer every run 500 (a `store` that is not a Store, an `effectDurability` typo), throw Node's
 * or fastify's raw TypeError, or silently drop it (a misspelt key; a negative
 * `requestTimeoutMs` turned the slow-request protection off). `snapshot`, `allowOrigins` and
 * `dataRootLock` are checked where they are used (cairn-target.ts, origin.ts, `lockForRun`),
 * also before the lock.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { checkPathValue, describeArgument, isOptionsObject } from "../core/describe.js";
import { refuseUnknownKeys } from "../core/suggest.js";
import { Store } from "../store/store.js";
import { MAX_DATA_ROOT_LOCK_WAIT_MS } from "../workflow/effects/index.js";
import { MAX_BODY_BYTES, MAX_INFLIGHT_BODY_BYTES } from "./constants.js";
import { originPolicy } from "./origin.js";
import type { ServerOptions } from "./options.js";

/** Every member of ServerOptions (options.ts). */
export const SERVER_OPTION_KEYS = Object.freeze([
  "workspace", "snapshot", "dataRoot", "store", "maxBodyBytes", "maxResponseBytes", "allowOrigins", "maxQueuedRuns", "maxConnections",
  "maxInflightBodyBytes", "requestTimeoutMs", "closeResponseDeadlineMs", "onTornFile", "cacheSnapshots", "runner", "effectDurability",
  "dataRootLock", "dataRootLockWaitMs",
] as const satisfies ReadonlyArray<keyof ServerOptions>);

/** Longest duration option in ms (`requestTimeoutMs`, `closeResponseDeadlineMs`): Node's timers fire at once (after 1 ms) for a longer delay. */
export const MAX_SERVER_TIMEOUT_MS = 2_147_483_647;

function usage(field: string, message: string): CairnError {
  return new CairnError(ErrorCode.USAGE, `ServerOptions.${field} ${message}`, { field });
}

/** An integer option in `min..max` (absent: fine); `what` says what it must be. */
function checkInteger(o: Record<string, unknown>, field: string, min: number, max: number, what: string): void {
  const v = o[field];
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) throw usage(field, `must be ${what}, got ${describeArgument(v)}`);
}

/** A path option: a non-empty string (an empty one would name the working directory), core/describe.ts `checkPathValue`. */
function checkPath(o: Record<string, unknown>, field: string, required: boolean): void {
  const v = o[field];
  if (v === undefined && !required) return;
  checkPathValue(`ServerOptions.${field}`, field, v, "a directory path");
}

function checkFunction(o: Record<string, unknown>, field: string): void {
  if (o[field] !== undefined && typeof o[field] !== "function") throw usage(field, `must be a function, got ${describeArgument(o[field])}`);
}

/** `store`: an open Store (one closed by its owner made every run 500 "store is closed"), or a factory of them. */
function checkStoreOption(store: unknown): void {
  if (store === undefined || typeof store === "function") return;
  if (!(store instanceof Store)) throw usage("store", `must be a Store (from openStore) or a function that opens one, got ${describeArgument(store)}`);
  try {
    store.headLogseq(); // the closed-store guard (E_USAGE "store is closed")
  } catch (err) {
    throw usage("store", `must be an open Store: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Checks `opts` as `createServer` takes them (see the module comment); returns them typed. */
export function checkServerOptions(opts: unknown): ServerOptions {
  if (!isOptionsObject(opts)) {
    throw new CairnError(ErrorCode.USAGE, `createServer takes its options as an object (ServerOptions, with at least workspace), got ${describeArgument(opts)}`, { field: "options" });
  }
  refuseUnknownKeys(opts, SERVER_OPTION_KEYS, "ServerOptions member", "ServerOptions members");
  checkPath(opts, "workspace", true);
  checkPath(opts, "dataRoot", false);
  checkStoreOption(opts.store);
  const positive = "a positive integer"; // safe: at most Number.MAX_SAFE_INTEGER
  checkInteger(opts, "maxBodyBytes", 1, Number.MAX_SAFE_INTEGER, positive);
  checkInteger(opts, "maxResponseBytes", 1, Number.MAX_SAFE_INTEGER, positive);
  checkInteger(opts, "maxConnections", 1, Number.MAX_SAFE_INTEGER, positive);
  checkInteger(opts, "maxQueuedRuns", 0, Number.MAX_SAFE_INTEGER, "a non-negative integer");
  checkInteger(opts, "maxInflightBodyBytes", 1, Number.MAX_SAFE_INTEGER, positive);
  const maxBodyBytes = (opts.maxBodyBytes as number | undefined) ?? MAX_BODY_BYTES;
  if (opts.maxInflightBodyBytes === undefined) {
    // Named as the caller set it: the default in-flight bound was not their choice.
    if (maxBodyBytes > MAX_INFLIGHT_BODY_BYTES) {
      throw usage(
        "maxBodyBytes",
        `must be at most maxInflightBodyBytes (default MAX_INFLIGHT_BODY_BYTES = ${MAX_INFLIGHT_BODY_BYTES}) unless that is raised too, got ${maxBodyBytes}: a body the server accepts must fit in it`,
      );
    }
  } else if ((opts.maxInflightBodyBytes as number) < maxBodyBytes) {
    throw usage("maxInflightBodyBytes", `must be an integer of at least maxBodyBytes (${maxBodyBytes}), got ${String(opts.maxInflightBodyBytes)}: a body the server accepts must fit in it`);
  }
  // 0 or less is refused: Node reads a request timeout of 0 as "none", and a stalled client would then hold its connection for good.
  checkInteger(opts, "requestTimeoutMs", 1, MAX_SERVER_TIMEOUT_MS, `an integer number of milliseconds in 1..${MAX_SERVER_TIMEOUT_MS}`);
  checkInteger(opts, "closeResponseDeadlineMs", 0, MAX_SERVER_TIMEOUT_MS, `an integer number of milliseconds in 0..${MAX_SERVER_TIMEOUT_MS}`);
  checkInteger(opts, "dataRootLockWaitMs", 0, MAX_DATA_ROOT_LOCK_WAIT_MS, `an integer number of milliseconds in 0..${MAX_DATA_ROOT_LOCK_WAIT_MS}`); // as lockForRun checks it
  checkFunction(opts, "onTornFile");
  checkFunction(opts, "runner");
  if (opts.cacheSnapshots !== undefined && typeof opts.cacheSnapshots !== "boolean") throw usage("cacheSnapshots", `must be a boolean, got ${describeArgument(opts.cacheSnapshots)}`);
  if (opts.effectDurability !== undefined && opts.effectDurability !== "fsync" && opts.effectDurability !== "no-fsync") {
    throw usage("effectDurability", `must be "fsync" or "no-fsync", got ${describeArgument(opts.effectDurability)}`);
  }
  originPolicy(opts.allowOrigins as readonly string[] | undefined); // E_USAGE ServerOptions.allowOrigins …
  return opts as unknown as ServerOptions;
}
