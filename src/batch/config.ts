/**
 * Batch run configuration: defaults, validation and the canonical form recorded in the
 * manifest. Every limit is a named constant.
 */
import { availableParallelism } from "node:os";
import { CairnError, ErrorCode } from "../core/errors.js";
import { codePointCount, codePointsOver } from "../core/echo.js";
import { hasLoneSurrogate } from "../core/lone-surrogate.js";
import type { InputFormat } from "./input/types.js";
import { INPUT_FORMATS, MAX_RECORD_BYTES } from "./input/types.js";
import { refuseUnknownKeys } from "../core/suggest.js";
import { describeArgument, isOptionsObject } from "../core/describe.js";

export const DEFAULT_PARTITIONS = 8;
export const MAX_PARTITIONS = 65_536;
/**
 * 1024 EUs: per-pulse costs (the store transaction with its receipt and edges, one message
 * each way, scheduling) are then a small share of a pulse; 256 was 25–40% slower on small
 * records (docs/benchmarks.md). A crash or audit re-executes one pulse, so larger pulses
 * cost more on those rare paths.
 */
export const DEFAULT_PULSE_SIZE = 1024;
export const MAX_PULSE_SIZE = 1_000_000;
export const MAX_WORKERS = 256;
export const DEFAULT_RETRIES = 2;
export const MAX_RETRIES = 100;
export const DEFAULT_SEED = "0";
/**
 * Longest run seed in characters — Unicode code points, so an emoji is one; a seed is at least
 * one (`seedProblem`). Until 2026-11-27 UTF-16 code units were counted (a seed of 129 emoji was
 * refused as "must be 1..256 characters"); every seed accepted then is accepted now and the seed
 * is stored and hashed as its text, never its length, so no run id changed.
 */
export const MAX_SEED_CHARS = 256;
export const DEFAULT_MAX_MEMORY_BYTES = 512 * 1024 * 1024;
/** The smallest --max-memory accepted: below this the engine cannot hold one pulse per worker. */
export const MIN_MAX_MEMORY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_EU_TIMEOUT_MS = 60_000;
/** The longest `euTimeoutMs` (`--eu-timeout`): one day. */
export const MAX_EU_TIMEOUT_MS = 24 * 3600 * 1000;
/** Smallest V8 old-generation heap a worker gets. */
export const MIN_WORKER_HEAP_MB = 32;
/**
 * Share of --max-memory each worker's V8 old generation may use. Per worker, not divided by
 * --workers: which EUs run out of memory must not depend on the worker count (the output is
 * the same whatever the workers), only on --max-memory, which is part of the pulse's identity.
 */
export const WORKER_HEAP_SHARE = 0.125;
/**
 * Share of a worker's heap one record, and one pulse's inputs together, may take (by length
 * and by `estimateSize`): a worker holds a pulse's input text, its parsed values and the outputs
 * at once (~3× the inputs for text-like data). This keeps large inputs from running a worker
 * out of memory in the common case; a compact input that parses into much larger values (a long
 * array of small numbers) can still, which fails that EU as any out-of-memory does. Before, a
 * record near the heap size crashed the whole process: Node aborts when a worker's heap is
 * exhausted while the worker is torn down.
 */
export const WORKER_INPUT_SHARE = 0.25;
/** The logical time (ms since epoch) every EU sees from Date/Date.now/performance.now. */
export const DEFAULT_LOGICAL_TIME_MS = 0;

export interface RunConfigInput {
  format?: InputFormat;
  idField?: string;
  partitions?: number;
  pulseSize?: number;
  workers?: number;
  maxPulsesInFlight?: number;
  retries?: number;
  seed?: string | number;
  maxMemoryBytes?: number;
  allowFailures?: boolean;
  auditRate?: number;
  euTimeoutMs?: number;
}

/** The normalised configuration; recorded whole in the manifest. */
export interface RunConfig {
  format: InputFormat;
  idField: string | null;
  partitions: number;
  pulseSize: number;
  workers: number;
  maxPulsesInFlight: number;
  retries: number;
  seed: string;
  maxMemoryBytes: number;
  allowFailures: boolean;
  auditRate: number;
  euTimeoutMs: number;
  logicalTimeMs: number;
}

/** A value for a message: JSON for strings, objects and null (`"yes"`, `{}`), else its type or `String` (`NaN`, `1.5`, `5n`). */
export function describeValue(v: unknown): string {
  if (typeof v === "function") return "a function";
  if (typeof v !== "object" && typeof v !== "string") return typeof v === "bigint" ? `${v}n` : String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * `c[key]`, an integer in min..max, or `dflt` when absent (undefined). E_USAGE naming the key
 * (`details.field`) otherwise — `null` too: a JSON config's `"partitions": null` is not the default.
 */
function int(c: RunConfigInput, key: keyof RunConfigInput, dflt: number, min: number, max: number): number {
  const v: unknown = c[key];
  const n = v === undefined ? dflt : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw new CairnError(ErrorCode.USAGE, `${key} must be an integer in ${min}..${max}, got ${describeValue(v)}`, { field: key });
  }
  return n;
}


/**
 * Why `seed` cannot be a run seed, as the end of a message (`seed <problem>`, `invalid --seed
 * "…": <problem>`), or undefined when it can: `must be 1..MAX_SEED_CHARS characters (Unicode code
 * points), got N`, N the seed's length in code points, the limit's unit (before 2026-11-27 the
 * length was not stated), or `must not contain a lone surrogate …` — the seed is recorded in the
 * run's config as canonical JSON, which has no form for one (it failed later as E_CANONICAL at
 * `$.config.seed`). The CLI's `--seed` check uses it too.
 */
export function seedProblem(seed: string): string | undefined {
  if (seed.length === 0 || codePointsOver(seed, MAX_SEED_CHARS)) return `must be 1..${MAX_SEED_CHARS} characters (Unicode code points), got ${codePointCount(seed)}`;
  if (hasLoneSurrogate(seed)) return "must not contain a lone surrogate (the seed is recorded as canonical JSON, which has no form for one)";
  return undefined;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 8));
}

/** The keys a `RunConfigInput` may have; normalizeConfig refuses any other. */
export const RUN_CONFIG_KEYS: readonly (keyof RunConfigInput)[] = Object.freeze(
  Object.keys({
    format: true, idField: true, partitions: true, pulseSize: true, workers: true, maxPulsesInFlight: true, retries: true, seed: true,
    maxMemoryBytes: true, allowFailures: true, auditRate: true, euTimeoutMs: true,
  } satisfies Record<keyof RunConfigInput, true>) as (keyof RunConfigInput)[],
);

/**
 * Validates a run configuration and fills in the defaults. Every problem is E_USAGE with
 * `details.field` the `RunConfigInput` key: an unknown key (with the known key it probably
 * meant), a value of the wrong type (`null` included: only an absent or undefined key is the
 * default) or out of range; strings are quoted in messages (`got "8"`). `normalizeConfig()` is
 * `normalizeConfig({})` (all defaults). The config itself must be an options object as every
 * other options object of the library (`isOptionsObject`: not null, an array, a function, a Map,
 * a Set, a Date or another built-in value): E_USAGE `the run config must be an object, got …`
 * (`describeArgument`), `details.field` "config".
 */
export function normalizeConfig(c: RunConfigInput = {}): RunConfig {
  // The check of every options object of the library (core/describe.ts isOptionsObject): a Map
  // (or Set, Date…) has no own keys and was read as "all defaults" until 2026-11-28.
  if (!isOptionsObject(c)) {
    throw new CairnError(ErrorCode.USAGE, `the run config must be an object, got ${describeArgument(c)}`, { field: "config" });
  }
  refuseUnknownKeys(c, RUN_CONFIG_KEYS, "run config key", "keys");
  // Absent (undefined) is the default; any other value, null included, must be of the field's type.
  const format: unknown = c.format === undefined ? "jsonl" : c.format;
  if (!(INPUT_FORMATS as readonly unknown[]).includes(format)) {
    throw new CairnError(ErrorCode.USAGE, `format must be one of ${INPUT_FORMATS.join(", ")}, got ${describeValue(c.format)}`, { field: "format" });
  }
  const workers = int(c, "workers", defaultWorkers(), 1, MAX_WORKERS);
  const auditRate: unknown = c.auditRate === undefined ? 0 : c.auditRate;
  if (typeof auditRate !== "number" || !(auditRate >= 0 && auditRate <= 1)) {
    throw new CairnError(ErrorCode.USAGE, `auditRate must be a number in [0, 1], got ${describeValue(c.auditRate)}`, { field: "auditRate" });
  }
  if (c.idField !== undefined && (typeof c.idField !== "string" || c.idField === "")) {
    throw new CairnError(ErrorCode.USAGE, `idField must be a non-empty string, got ${describeValue(c.idField)}`, { field: "idField" });
  }
  const rawSeed: unknown = c.seed;
  if (rawSeed !== undefined && typeof rawSeed !== "string" && !Number.isSafeInteger(rawSeed)) {
    throw new CairnError(ErrorCode.USAGE, `seed must be a string or a safe integer, got ${describeValue(rawSeed)}`, { field: "seed" });
  }
  const seed = rawSeed === undefined ? DEFAULT_SEED : String(rawSeed);
  const seedRefused = seedProblem(seed);
  if (seedRefused !== undefined) throw new CairnError(ErrorCode.USAGE, `seed ${seedRefused}`, { field: "seed" });
  const allowFailures: unknown = c.allowFailures;
  if (allowFailures !== undefined && typeof allowFailures !== "boolean") {
    throw new CairnError(ErrorCode.USAGE, `allowFailures must be a boolean, got ${describeValue(allowFailures)}`, { field: "allowFailures" });
  }
  return {
    format: format as InputFormat,
    idField: c.idField ?? null,
    partitions: int(c, "partitions", DEFAULT_PARTITIONS, 1, MAX_PARTITIONS),
    pulseSize: int(c, "pulseSize", DEFAULT_PULSE_SIZE, 1, MAX_PULSE_SIZE),
    workers,
    maxPulsesInFlight: int(c, "maxPulsesInFlight", workers * 2, 1, 4 * MAX_WORKERS),
    retries: int(c, "retries", DEFAULT_RETRIES, 0, MAX_RETRIES),
    seed,
    maxMemoryBytes: int(c, "maxMemoryBytes", DEFAULT_MAX_MEMORY_BYTES, MIN_MAX_MEMORY_BYTES, Number.MAX_SAFE_INTEGER),
    allowFailures: allowFailures === true,
    auditRate,
    euTimeoutMs: int(c, "euTimeoutMs", DEFAULT_EU_TIMEOUT_MS, 1, MAX_EU_TIMEOUT_MS),
    logicalTimeMs: DEFAULT_LOGICAL_TIME_MS,
  };
}

/**
 * Parses a size: a byte count (`1048576`, `512B`) or a number with a binary unit letter k, m, g
 * or t, optionally followed by `B`, `iB` or `i` (`256MB`, `1GiB`, `512m`, `1.5G`, `64Ki`; any
 * case, spaces allowed around the unit: `MB` means MiB). Fractions round down to whole bytes.
 * E_USAGE for anything else — a suffix without a unit letter (`1ib`, `5i`) — and for a result
 * that is not a positive safe integer (`0`, `0.0001k`, more than 2^53 - 1 bytes); `details.reason`
 * is `malformed`, `too_small` or `too_large`.
 */
export function parseSize(s: string): number {
  const m = typeof s === "string" ? /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b|i)?|b)?\s*$/i.exec(s) : null;
  if (m === null) throw new CairnError(ErrorCode.USAGE, `invalid size ${JSON.stringify(s)}: use e.g. 256MB, 1GiB or a byte count`, { value: s, reason: "malformed" });
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase()] as number;
  const n = Math.floor(Number(m[1]) * unit);
  if (n > Number.MAX_SAFE_INTEGER) {
    throw new CairnError(ErrorCode.USAGE, `invalid size ${JSON.stringify(s)}: must be at most ${Number.MAX_SAFE_INTEGER} bytes (2^53 - 1)`, { value: s, reason: "too_large" });
  }
  if (n < 1) throw new CairnError(ErrorCode.USAGE, `invalid size ${JSON.stringify(s)}: must be at least 1 byte`, { value: s, reason: "too_small" });
  return n;
}

/** Each worker's V8 old-generation limit in MiB: max(MIN_WORKER_HEAP_MB, M × WORKER_HEAP_SHARE). */
export function workerHeapMb(cfg: Pick<RunConfig, "maxMemoryBytes">): number {
  return Math.max(MIN_WORKER_HEAP_MB, Math.floor((cfg.maxMemoryBytes * WORKER_HEAP_SHARE) / (1024 * 1024)));
}

/**
 * The largest record the run accepts, and the most input one pulse holds (by `estimateSize`):
 * WORKER_INPUT_SHARE of a worker's heap, at most the readers' MAX_RECORD_BYTES.
 */
export function workerInputBytes(cfg: Pick<RunConfig, "maxMemoryBytes">): number {
  return Math.min(MAX_RECORD_BYTES, Math.floor(workerHeapMb(cfg) * 1024 * 1024 * WORKER_INPUT_SHARE));
}

/** Whole MiB as `--max-memory` takes them: `264MiB`, `2GiB`. */
function memoryFlag(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}GiB` : `${mib}MiB`;
}

/** Bytes in MiB for a message (`8 MiB`, `8.25 MiB`: a record limit is a whole number of 256 KiB). */
function mibText(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 1000) / 1000} MiB`;
}

/**
 * Why a run's record size limit is `limit` bytes (`workerInputBytes`), for the errors that refuse
 * a record (engine.ts, `what` "records") or an EU's output (the sandbox worker, "outputs") over
 * it: the rule (a quarter of a worker's heap, which is --max-memory / 8 but at least
 * MIN_WORKER_HEAP_MB, and at most MAX_RECORD_BYTES), and a larger --max-memory advised only where
 * one raises the limit. `size`, when known, is the refused size: the --max-memory that admits it
 * is named (or that none does). Derived from the limit alone, since the worker knows only that:
 * the heap is 4 × limit exactly. Before 2026-11-28 the messages said "--max-memory / 8: a larger
 * --max-memory admits larger records" whatever the limit: wrong below 264MiB, where the heap's
 * floor keeps the limit at 8 MiB, and at the 64 MiB cap. Returned in parentheses.
 */
export function recordLimitExplanation(limit: number, what: "records" | "outputs", size?: number): string {
  const MiB = 1024 * 1024;
  const capMemory = memoryFlag(MAX_RECORD_BYTES / WORKER_INPUT_SHARE / MiB / WORKER_HEAP_SHARE); // 2GiB
  const rule = `a quarter of each worker's heap, which is --max-memory / 8 but at least ${MIN_WORKER_HEAP_MB} MiB`;
  const cap = `at most ${mibText(MAX_RECORD_BYTES)}, reached from --max-memory ${capMemory}`;
  if (size !== undefined && size > MAX_RECORD_BYTES) return `(no --max-memory admits it: the limit is ${rule}, and ${cap})`;
  if (limit >= MAX_RECORD_BYTES) return `(${rule}, and ${cap}: no --max-memory admits larger ${what})`;
  if (size !== undefined && size > limit) {
    // The smallest heap, in whole MiB, whose quarter holds `size`, and the --max-memory giving it.
    const need = memoryFlag(Math.ceil(size / WORKER_INPUT_SHARE / MiB) / WORKER_HEAP_SHARE);
    return `(--max-memory ${need} or more admits it: the limit is ${rule}, and ${cap})`;
  }
  const scale = `about --max-memory / ${Math.round(1 / (WORKER_HEAP_SHARE * WORKER_INPUT_SHARE))}, ${cap}`;
  if (Math.round(limit / WORKER_INPUT_SHARE / MiB) > MIN_WORKER_HEAP_MB) return `(${rule}: ${scale}; a larger --max-memory admits larger ${what})`;
  // The heap's floor: no --max-memory below the first whole MiB of heap above it raises the limit.
  const raised = memoryFlag((MIN_WORKER_HEAP_MB + 1) / WORKER_HEAP_SHARE); // 264MiB
  return `(${rule}: ${mibText(limit)} for every --max-memory below ${raised}; from ${raised} it is ${scale})`;
}
