/**
 * Batch run configuration: defaults, validation and the canonical form recorded in the
 * manifest. Every limit is a named constant.
 */
import { availableParallelism } from "node:os";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { InputFormat } from "./input/types.js";
import { INPUT_FORMATS, MAX_RECORD_BYTES } from "./input/types.js";

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
export const DEFAULT_MAX_MEMORY_BYTES = 512 * 1024 * 1024;
/** The smallest --max-memory accepted: below this the engine cannot hold one pulse per worker. */
export const MIN_MAX_MEMORY_BYTES = 32 * 1024 * 1024;
export const DEFAULT_EU_TIMEOUT_MS = 60_000;
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

function int(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CairnError(ErrorCode.USAGE, `${name} must be an integer in ${min}..${max}, got ${String(v)}`, { field: name });
  }
  return n;
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 8));
}

export function normalizeConfig(c: RunConfigInput): RunConfig {
  const format = c.format ?? "jsonl";
  if (!INPUT_FORMATS.includes(format)) {
    throw new CairnError(ErrorCode.USAGE, `format must be one of ${INPUT_FORMATS.join(", ")}, got ${JSON.stringify(format)}`, { field: "format" });
  }
  const workers = int("workers", c.workers, defaultWorkers(), 1, MAX_WORKERS);
  const auditRate = c.auditRate ?? 0;
  if (typeof auditRate !== "number" || !(auditRate >= 0 && auditRate <= 1)) {
    throw new CairnError(ErrorCode.USAGE, `audit rate must be a number in [0, 1], got ${String(c.auditRate)}`, { field: "auditRate" });
  }
  if (c.idField !== undefined && (typeof c.idField !== "string" || c.idField === "")) {
    throw new CairnError(ErrorCode.USAGE, "id field must be a non-empty string", { field: "idField" });
  }
  const seed = c.seed === undefined ? DEFAULT_SEED : String(c.seed);
  if (seed.length === 0 || seed.length > 256) throw new CairnError(ErrorCode.USAGE, "seed must be 1..256 characters", { field: "seed" });
  return {
    format,
    idField: c.idField ?? null,
    partitions: int("partitions", c.partitions, DEFAULT_PARTITIONS, 1, MAX_PARTITIONS),
    pulseSize: int("pulse size", c.pulseSize, DEFAULT_PULSE_SIZE, 1, MAX_PULSE_SIZE),
    workers,
    maxPulsesInFlight: int("max pulses in flight", c.maxPulsesInFlight, workers * 2, 1, 4 * MAX_WORKERS),
    retries: int("retries", c.retries, DEFAULT_RETRIES, 0, MAX_RETRIES),
    seed,
    maxMemoryBytes: int("max memory", c.maxMemoryBytes, DEFAULT_MAX_MEMORY_BYTES, MIN_MAX_MEMORY_BYTES, Number.MAX_SAFE_INTEGER),
    allowFailures: c.allowFailures === true,
    auditRate,
    euTimeoutMs: int("EU timeout", c.euTimeoutMs, DEFAULT_EU_TIMEOUT_MS, 1, 24 * 3600 * 1000),
    logicalTimeMs: DEFAULT_LOGICAL_TIME_MS,
  };
}

/** Parses sizes like `256MB`, `1GiB`, `512m`, or plain bytes. */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(s);
  if (m === null) throw new CairnError(ErrorCode.USAGE, `invalid size ${JSON.stringify(s)}: use e.g. 256MB, 1GiB or a byte count`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase()] as number;
  return Math.floor(Number(m[1]) * unit);
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
