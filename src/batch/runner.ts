/**
 * The execution function: bundled once (esbuild) into one ESM text, stored as an artifact
 * whose digest is the function's identity in plans, receipts and manifests, and loaded back
 * from the store into a fixed-size worker pool. A resumed, verified or replayed run therefore
 * runs exactly the stored bundle, never the (possibly edited) source file.
 */
import { basename } from "node:path";
import { CairnError, ErrorCode, UsageError } from "../core/errors.js";
import { sha256, type Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { bundleModule, type BundleLocator } from "./sandbox/bundle.js";
import { foldOrdered, REDUCE_CHUNK_SIZE, WorkerPool, type EUResult, type PulseOutcome, type ReduceItem, type ReduceSession } from "./sandbox/pool.js";
import type { EUId } from "./input/types.js";
import type { PulseRunner, RunnerOutcome } from "./pulse.js";
import { workerHeapMb, workerInputBytes, type RunConfig } from "./config.js";

export const FUNCTION_MEDIA_TYPE = "text/javascript";
/** V8 young generation per worker (semi-spaces are part of RSS; small keeps it bounded). */
export const WORKER_YOUNG_GEN_MB = 4;

/** A module path (.ts/.mts/.js/.mjs), or an already bundled self-contained ESM text. */
export type FunctionSource = string | { code: string; name?: string };

export interface Reducer {
  /** Canonical JSON of the module's `initial` export. */
  initial: string;
  /**
   * Opens one reduce over the ordered output, on one fresh worker: `chunk` folds completed
   * outputs (in EU-id order, chunks of REDUCE_CHUNK_SIZE) into `acc`; `close` when done.
   */
  open(): ReduceSession;
}

/** Told of each chunk of results a request returns, as it arrives (WorkerPool RunPulseOptions.onResults). */
export type ResultsListener = (results: readonly EUResult[]) => void;

export interface RunnerHandle {
  /** Pulses on the pool's long-lived workers. */
  pulses: PulseRunner;
  /** The same, telling `onResults` of every chunk of results its requests return (the engine's output accounting). */
  pulsesTelling(onResults: ResultsListener): PulseRunner;
  /** Every call on a brand-new worker (audits, verify --reexecute, replay). */
  fresh: PulseRunner;
  reducer: Reducer | undefined;
  close(): Promise<void>;
}

export { foldOrdered, REDUCE_CHUNK_SIZE };

/** A completed record (parsed, without an error) as what `reduce` folds: its id and output. */
export function reduceItemOf(rec: { id: EUId; json?: string; bytes?: Buffer }): ReduceItem {
  return rec.bytes !== undefined ? { id: rec.id as ReduceItem["id"], bytes: true, output: rec.bytes } : { id: rec.id as ReduceItem["id"], bytes: false, json: rec.json as string };
}

/** A stored function: its artifact, how messages name it, and (when just bundled from a file) its source locator and files. */
export interface StoredFunction {
  artifact: Digest;
  name: string;
  locate?: BundleLocator;
  /** The files the bundle was built from (ModuleBundle.sources), when bundled from a file. */
  sources?: string[];
}

export async function storeFunction(store: Store, fn: FunctionSource): Promise<StoredFunction> {
  if (typeof fn !== "string" && (fn === null || typeof fn !== "object" || typeof (fn as { code?: unknown }).code !== "string")) {
    throw new UsageError(
      `the execution function must be a module path or { code, name? } (a self-contained ES module text), got ${typeof fn === "function" ? "a function value, which can be neither sent to a worker thread nor stored as the function's identity: put it in a module" : fn === null ? "null" : typeof fn}`,
    );
  }
  const bundled = typeof fn === "string" ? await bundleModule(fn) : undefined;
  const code = bundled?.code ?? (fn as { code: string }).code;
  const name = typeof fn === "string" ? basename(fn) : (fn.name ?? "<inline>");
  const art = store.putBytes(Buffer.from(code, "utf8"), { mediaType: FUNCTION_MEDIA_TYPE });
  if (art.digest !== sha256(code)) throw new CairnError(ErrorCode.INTERNAL, "function artifact digest differs from the bundle digest");
  return { artifact: art.digest, name, ...(bundled === undefined ? {} : { locate: bundled.locate, sources: bundled.sources }) };
}

/**
 * `locate` names source positions in import errors (StoredFunction.locate); without it they are
 * bundle positions. `signal` ends the pool's start (WorkerPoolOptions.signal: E_INTERRUPTED at
 * once, the importing worker terminated).
 */
export async function loadFunction(store: Store, artifact: Digest, cfg: RunConfig, name?: string, locate?: BundleLocator, signal?: AbortSignal): Promise<RunnerHandle> {
  const code = store.get(artifact).toString("utf8");
  const pool = await WorkerPool.create({
    size: cfg.workers,
    bundle: { code, digest: artifact },
    seed: cfg.seed,
    logicalTime: cfg.logicalTimeMs,
    moduleName: name ?? artifact,
    maxOutputBytes: workerInputBytes(cfg),
    ...(locate === undefined ? {} : { locate }),
    resourceLimits: { maxOldGenerationSizeMb: workerHeapMb(cfg), maxYoungGenerationSizeMb: WORKER_YOUNG_GEN_MB },
    ...(signal === undefined ? {} : { signal }),
  });
  let seq = 0;
  const convert = (o: PulseOutcome): RunnerOutcome =>
    o.kind === "ok" ? o : { kind: "crashed", error: { code: o.error.code, message: o.error.message }, euIndex: o.euIndex, completed: o.completed };
  const telling = (onResults?: ResultsListener): PulseRunner => {
    const opts = (attempts: number[]) => ({ euTimeoutMs: cfg.euTimeoutMs, attempt: attempts, ...(onResults === undefined ? {} : { onResults }) });
    return {
      run: async (eus, attempts) => convert(await pool.runPulse(seq++, eus, opts(attempts))),
      runFresh: async (eus, attempts) => convert(await pool.runOnFreshWorker(seq++, eus, opts(attempts))),
    };
  };
  const { runFresh } = telling();
  const info = pool.reducer;
  return {
    pulses: telling(),
    pulsesTelling: telling,
    fresh: { run: runFresh, runFresh },
    reducer: info === undefined ? undefined : { initial: info.initial, open: () => pool.openReduce({ timeoutMs: cfg.euTimeoutMs }) },
    close: () => pool.close(),
  };
}
