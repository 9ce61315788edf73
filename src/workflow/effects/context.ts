/**
 * The effect context: where the CS runtimes get time and ids from.
 *
 * The reference reads the wall clock (append-only `timestamp`, hence `record_id`) and uuid4
 * (registry addresses). Cairn never does. The rules:
 *
 *  - **Timestamps** (CS_APPENDONLY_JSONL_V0): `clock.now()` milliseconds — the run's logical
 *    time, injected — plus `sequence_number` microseconds, rendered in UTC as
 *    `YYYY-MM-DDTHH:MM:SS.ffffff`, always with six fraction digits. With the default clock
 *    (fixed at 2025-01-01T00:00:00Z) this is exactly the test clock SEMANTICS C.3 recommends
 *    (`2025-01-01T00:00:00.000001` for the first line of a file). Within one file timestamps
 *    strictly increase as long as the logical clock does not go backwards between runs.
 *  - **Registry addresses**: derived from the inputs and the prior state, not from the
 *    context — `ADDR_` + the first 32 hex digits of SHA-256 over the canonical JSON of
 *    `{"key": <key>, "seq": <non-blank lines already in the file>}` (SEMANTICS C.2's
 *    recommended scheme; matches the capability's "deterministic_address_generation").
 *  - **Effect ids** (`nextId`): `<traceId>:E<n>` with a 1-based counter, zero-padded to
 *    EFFECT_ID_COUNTER_WIDTH digits — the same run (same trace id) yields the same ids.
 */
import { fixedClock, type Clock } from "../../core/clock.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { newCheckedDirs, normalizeDataRoot, type CheckedDirs } from "./confine.js";
import type { EffectContext, EffectDurability, LogReadLimit, OperationDialect } from "./types.js";

/** 2025-01-01T00:00:00Z: the default logical epoch (SEMANTICS C.3's recommended test clock). */
export const DEFAULT_LOGICAL_EPOCH_MS = Date.UTC(2025, 0, 1);
/** Minimum digits of the effect-id counter. */
export const EFFECT_ID_COUNTER_WIDTH = 6;
/** Earliest / latest instant a PGS timestamp can express (Python `datetime`: years 1..9999). */
const YEAR_ONE_MS = new Date("0001-01-01T00:00:00.000Z").getTime();
const YEAR_10000_MS = new Date("+010000-01-01T00:00:00.000Z").getTime();
const MICROS_PER_MS = 1000n;
const MICROS_PER_SECOND = 1_000_000n;

export interface EffectContextOptions {
  readonly dataRoot: string;
  /** The run's trace id; seeds effect ids. */
  readonly traceId: string;
  /** The run's logical clock; default: fixed at DEFAULT_LOGICAL_EPOCH_MS. */
  readonly clock?: Clock;
  readonly operationDialect?: OperationDialect;
  /** Whether the CS runtimes fsync their writes; default `"fsync"` (see EffectDurability). */
  readonly durability?: EffectDurability;
  /** The bound on one append-only read (see `EffectContext.logReadLimit`); default the named constants. */
  readonly logReadLimit?: Partial<LogReadLimit>;
  /** See `EffectContext.refuseDirectoryPaths`; default false. */
  readonly refuseDirectoryPaths?: boolean;
  /**
   * The run's memo of the real data root (`EffectContext.checkedDirs`), when the run made it
   * before the context (its prior state capture shares it: pgs/state.ts `captureState`); default a new one.
   */
  readonly checkedDirs?: CheckedDirs;
}

/** Builds the context of one run. */
export function createEffectContext(opts: EffectContextOptions): EffectContext {
  if (typeof opts.traceId !== "string" || opts.traceId.length === 0) {
    throw new CairnError(ErrorCode.USAGE, "createEffectContext: traceId must be a non-empty string");
  }
  const dataRoot = normalizeDataRoot(opts.dataRoot);
  const traceId = opts.traceId;
  let counter = 0;
  return Object.freeze({
    dataRoot,
    clock: opts.clock ?? fixedClock(DEFAULT_LOGICAL_EPOCH_MS),
    operationDialect: opts.operationDialect ?? "reference",
    durability: opts.durability ?? "fsync",
    checkedDirs: opts.checkedDirs ?? newCheckedDirs(),
    ...(opts.logReadLimit === undefined ? {} : { logReadLimit: opts.logReadLimit }),
    ...(opts.refuseDirectoryPaths === true ? { refuseDirectoryPaths: true } : {}),
    nextId: () => `${traceId}:E${String(++counter).padStart(EFFECT_ID_COUNTER_WIDTH, "0")}`,
  });
}

/** The APPEND timestamp for `sequenceNumber` at logical time `clockMs` (see the module comment). */
export function appendTimestamp(clockMs: number, sequenceNumber: number): string {
  if (!Number.isSafeInteger(clockMs)) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `effect clock returned ${String(clockMs)}: expected an integer number of milliseconds`, { reason: "cs_clock" });
  }
  const micros = BigInt(clockMs) * MICROS_PER_MS + BigInt(sequenceNumber);
  let seconds = micros / MICROS_PER_SECOND;
  let frac = micros % MICROS_PER_SECOND;
  if (frac < 0n) {
    frac += MICROS_PER_SECOND;
    seconds -= 1n;
  }
  const ms = Number(seconds) * 1000;
  if (ms < YEAR_ONE_MS || ms >= YEAR_10000_MS) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `effect clock time ${clockMs} ms is outside the years 1..9999 a PGS timestamp can express`, { reason: "cs_clock" });
  }
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z for years 1..9999
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, "0")}`;
}
