/**
 * A fixed-size pool of sandbox workers (worker.ts) for the batch engine.
 *
 *  - At most `size` worker threads exist and at most `size` requests (pulses or reduce
 *    chunks) run at once; further requests wait in a FIFO bounded by MAX_QUEUED_REQUESTS
 *    (exceeding it is a programming error: the request rejects with E_INTERNAL).
 *  - A worker that exits (process.exit), throws an uncaught error, runs out of memory
 *    (resourceLimits) or exceeds `euTimeoutMs` is terminated and replaced by a fresh one; the
 *    in-flight pulse resolves `{ kind: "crashed" }` with the index of the EU that was running
 *    and `completed`: the results of the EUs before it that the worker had already sent
 *    (it sends them in chunks of PARTIAL_RESULTS_CHUNK, cut earlier by PARTIAL_RESULTS_BYTES
 *    of record text; messages a dying worker posted are
 *    delivered before its 'exit' event, which is where a crash is settled). For an uncaught
 *    exception that index is the one the worker itself reports (an `uncaught` message, posted
 *    when the error is thrown), and nothing the worker posts after that report counts: Node
 *    does not stop a worker's microtasks on an uncaught error, so it used to run on, and the EU
 *    charged was whichever ran when the termination landed.
 *    A pulse never hangs unless an EU never settles and no `euTimeoutMs` is given.
 *  - Results never depend on which worker ran a pulse: every EU is re-seeded from
 *    (run seed, EU id) and the clocks are fixed (see worker.ts for the exact guarantees).
 *  - Idle workers are unref'd: a forgotten `close()` does not keep the process alive.
 *  - Only the first worker starts with the pool (it imports the module, so a module that cannot
 *    be imported fails `create`); each other slot starts its worker the first time a request is
 *    given it (a request takes the first free slot in order, so the second worker starts only
 *    when the first is busy). A run with fewer pulses at once than `size` starts only the
 *    threads it uses (`--workers 8` over a one-pulse input started 8 threads before). A slot's
 *    first start that fails fails the request (`onSlot`), as `create` did. `create`'s `signal`
 *    ends that first start at once (the importing worker terminated, E_INTERRUPTED).
 */
import type { ResourceLimits } from "node:worker_threads";
import { LEAF_HASH_BYTES } from "../leaves.js";
import { abortedError } from "../abort.js";
import { isDigest, sha256 } from "../../core/digest.js";
import { CairnError, ErrorCode, UsageError } from "../../core/errors.js";
import { SandboxCode, type EUTask, type EuId, type PulsePartialMessage, type ReduceItem, type SandboxWorkerData, type ToWorker } from "./protocol.js";
import type { BundleLocator } from "./bundle.js";
import { wellFormed } from "../records.js";
import { isResourceStartError, startError } from "./start-error.js";
import { PoolWorker, type JobResult } from "./pool-worker.js";
import { canonicalId, packIds, requestInputs, workerResults } from "./pool-messages.js";
import { foldOrdered, REDUCE_PART_BYTES, type ReduceSession } from "./reduce-session.js";
import type { PulseOutcome, RunPulseOptions, WorkerPoolOptions } from "./pool-types.js";

/** Largest pool. */
export const MAX_POOL_SIZE = 256;
/** Most requests that may wait for a worker at once; more is a bug in the caller. */
export const MAX_QUEUED_REQUESTS = 1024;
/** How long a worker may take to start and import the module. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;

export type { EUResult, EUTask, EuId, ReduceItem } from "./protocol.js";
export { PARTIAL_RESULTS_BYTES, PARTIAL_RESULTS_CHUNK, SandboxCode } from "./protocol.js";
export { foldOrdered, REDUCE_CHUNK_SIZE, REDUCE_PART_BYTES, type ReduceSession } from "./reduce-session.js";
export type { PulseOutcome, RunPulseOptions, WorkerPoolOptions } from "./pool-types.js";
export { heldBytes, resultsHeldBytes } from "./pool-messages.js";
export { builtWorker, bundleInputsDigest, bundleIsCurrent, WORKER_BUNDLE_FILE, WORKER_BUNDLE_HEADER } from "./worker-entry.js";

interface Slot {
  busy: boolean;
  worker: PoolWorker | undefined;
  /** A replacement being started. */
  starting: Promise<PoolWorker> | undefined;
  /** A worker of this slot has been ready once (its first start, lazy for all but the first slot, succeeded). */
  ready: boolean;
}

/** `create`'s rejection when its `signal` aborts the start (the reason is the cause). */
function startAborted(signal: AbortSignal): CairnError {
  return abortedError(signal, "worker pool start aborted");
}

function checkTimeout(ms: number | undefined, what: string): void {
  if (ms !== undefined && (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0)) {
    throw new UsageError(`${what} must be a positive number of milliseconds, got ${String(ms)}`);
  }
}

export class WorkerPool {
  private readonly slots: Slot[];
  private readonly waiters: Array<{ resolve: (s: Slot) => void; reject: (e: Error) => void }> = [];
  private closed = false;
  private nextReqId = 1;
  private reducerInfo: { initial: string } | undefined;
  /** Workers not yet ready (so close() can stop them at once). */
  private readonly spawning = new Set<PoolWorker>();

  private constructor(
    private readonly data: Omit<SandboxWorkerData, "progress">,
    private readonly limits: ResourceLimits | undefined,
    private readonly startupTimeoutMs: number,
    private readonly locate: BundleLocator | undefined,
    size: number,
  ) {
    this.slots = Array.from({ length: size }, () => ({ busy: false, worker: undefined, starting: undefined, ready: false }));
  }

  /**
   * Starts the first slot's worker and waits until it has imported the module (the other
   * slots start theirs on first use: `workerOf`). Rejects with
   * E_INVALID_INPUT when the module has no default export function ("module <name> has no
   * default export function"), throws at import ("module <name> threw at import: <message>"),
   * or exports a non-function `reduce` or a non-canonical `initial`; with E_INTERRUPTED at once
   * when `opts.signal` aborts before the first worker is ready (the worker is terminated first).
   */
  static async create(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const { size, bundle, seed } = opts;
    if (!Number.isInteger(size) || size < 1 || size > MAX_POOL_SIZE) {
      throw new UsageError(`pool size must be an integer in [1, ${MAX_POOL_SIZE}], got ${String(size)}`);
    }
    if (typeof seed !== "string") throw new UsageError("the run seed must be a string");
    const logicalTime = opts.logicalTime ?? 0;
    if (!Number.isSafeInteger(logicalTime) || Math.abs(logicalTime) > 8.64e15) {
      throw new UsageError(`logical time must be an integer number of ms within the Date range, got ${String(logicalTime)}`);
    }
    const startupTimeoutMs = opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
    checkTimeout(startupTimeoutMs, "startupTimeoutMs");
    if (typeof bundle?.code !== "string" || sha256(bundle.code) !== bundle.digest) {
      throw new UsageError("bundle.digest is not the sha256 of bundle.code");
    }
    const data: Omit<SandboxWorkerData, "progress"> = {
      cairnSandbox: 1,
      code: bundle.code,
      digest: bundle.digest,
      seed,
      logicalTime,
      moduleName: opts.moduleName ?? bundle.digest,
      ...(opts.maxOutputBytes === undefined ? {} : { maxOutputBytes: opts.maxOutputBytes }),
    };
    const { signal } = opts;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new UsageError("signal must be an AbortSignal");
    if (signal?.aborted === true) throw startAborted(signal);
    const limits = opts.resourceLimits === undefined ? undefined : { ...opts.resourceLimits };
    const pool = new WorkerPool(data, limits, startupTimeoutMs, opts.locate, size);
    // An abort while the first worker imports the module closes the pool, which terminates the
    // worker (even in the middle of synchronous code): the start rejects now, not when the import
    // ends or the start-up timeout fires (before 2026-11-28, up to 60 s after a ^C).
    let aborted = false;
    const onAbort = (): void => {
      aborted = true;
      void pool.close();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let first: PoolWorker;
    try {
      first = await pool.start(pool.slots[0] as Slot);
      if (aborted) throw startAborted(signal as AbortSignal); // the abort came after the worker was ready
    } catch (err) {
      await pool.close();
      // The worker's own failure (import error, start-up timeout) is reported as it is unless the
      // abort came first and ended the start.
      throw aborted ? startAborted(signal as AbortSignal) : err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    pool.reducerInfo = first.reducer;
    return pool;
  }

  /** Present when the module exports `reduce`: `initial` is the canonical JSON of its `initial` export ("null" when absent). */
  get reducer(): { initial: string } | undefined {
    return this.reducerInfo;
  }

  /** Most worker threads (slots); `started` is how many have a worker now. */
  get size(): number {
    return this.slots.length;
  }

  /** Slots whose worker is running or starting. */
  get started(): number {
    return this.slots.filter((s) => (s.worker !== undefined && s.worker.alive) || s.starting !== undefined).length;
  }

  /**
   * Runs `eus` in order on one worker. Resolves "ok" with one result per EU (in order), or
   * "crashed" when the worker died or an EU exceeded `euTimeoutMs` (the worker is replaced),
   * with the results of the EUs the worker had already delivered (`completed`).
   * Rejects only on misuse: bad arguments, a closed pool, or a full queue (E_INTERNAL).
   */
  runPulse(pulseId: number, eus: readonly EUTask[], opts: RunPulseOptions): Promise<PulseOutcome> {
    return this.runPulseOn("pool", pulseId, eus, opts);
  }

  /**
   * The same on a brand-new worker that has run nothing before (for audits). The fresh worker
   * takes the place of the slot's previous worker, which is terminated, so the thread count
   * never exceeds `size`.
   */
  runOnFreshWorker(pulseId: number, eus: readonly EUTask[], opts: RunPulseOptions): Promise<PulseOutcome> {
    return this.runPulseOn("fresh", pulseId, eus, opts);
  }

  private async runPulseOn(where: "pool" | "fresh", pulseId: number, eus: readonly EUTask[], opts: RunPulseOptions): Promise<PulseOutcome> {
    if (!Number.isSafeInteger(pulseId) || pulseId < 0) throw new UsageError(`pulseId must be a non-negative integer, got ${String(pulseId)}`);
    if (!Array.isArray(eus)) throw new UsageError("eus must be an array");
    checkTimeout(opts.euTimeoutMs, "euTimeoutMs");
    const attempts = typeof opts.attempt === "number" ? new Array<number>(eus.length).fill(opts.attempt) : [...opts.attempt];
    if (attempts.length !== eus.length || !attempts.every((a) => Number.isSafeInteger(a) && a >= 0)) {
      throw new UsageError("attempt must be a non-negative integer or one per EU");
    }
    if (eus.length === 0) return { kind: "ok", results: [], leaves: Buffer.alloc(0) };
    const ids = eus.map((e) => e.id);
    const inputs = requestInputs(eus);
    const msg: ToWorker = { type: "run", pulseId, ids: packIds(ids), inputs, attempts: Float64Array.from(attempts) };
    const r = await this.onSlot(where, (w) =>
      w.request(
        msg,
        ids,
        opts.euTimeoutMs,
        (m) => m.type === "pulse" && m.pulseId === pulseId,
        (m): m is PulsePartialMessage => m.type === "partial" && m.pulseId === pulseId,
        opts.onResults,
      ),
    );
    if (r.kind === "crashed") {
      // Only EUs before the one that was running can have completed.
      const completed = r.completed.slice(0, r.euIndex ?? 0);
      return r.euIndex === undefined ? { kind: "crashed", error: r.error, completed } : { kind: "crashed", error: r.error, euIndex: r.euIndex, completed };
    }
    const { msg: done, partial } = r;
    const results = done.type === "pulse" ? workerResults(done.results, ids, done.from) : undefined;
    if (done.type !== "pulse" || results === undefined || done.from !== partial.length || partial.length + results.length !== eus.length || !(done.leaves instanceof Uint8Array)) {
      throw new CairnError(ErrorCode.INTERNAL, `sandbox worker answered pulse ${pulseId} with a malformed reply`);
    }
    const leaves = Buffer.from(done.leaves.buffer, done.leaves.byteOffset, done.leaves.byteLength);
    if (leaves.length !== eus.length * LEAF_HASH_BYTES) {
      throw new CairnError(ErrorCode.INTERNAL, `sandbox worker answered pulse ${pulseId} with ${leaves.length} bytes of leaf hashes for ${eus.length} EUs`);
    }
    if (!isDigest(done.root)) throw new CairnError(ErrorCode.INTERNAL, `sandbox worker answered pulse ${pulseId} without a Merkle root`);
    opts.onResults?.(results);
    if (partial.length === 0) return { kind: "ok", results, leaves, root: done.root };
    for (const res of results) partial.push(res);
    return { kind: "ok", results: partial, leaves, root: done.root };
  }

  /**
   * Folds `outputs` (completed EU outputs, in EU-id order) into `acc` (canonical JSON text,
   * normally `pool.reducer.initial`) with the module's `reduce`, and returns the result's
   * canonical JSON text: a reduce session (`openReduce`) over the whole ordered output, in
   * chunks of REDUCE_CHUNK_SIZE, so call it ONCE over the whole output for a config-independent
   * result. Rejects as `ReduceSession.chunk` does.
   */
  async reduce(acc: string, outputs: Iterable<ReduceItem> | AsyncIterable<ReduceItem>, opts: { timeoutMs?: number } = {}): Promise<string> {
    const session = this.openReduce(opts);
    try {
      return await foldOrdered(session, acc, outputs);
    } finally {
      await session.close();
    }
  }

  /**
   * A reduce over one ordered output. It runs on ONE worker that is fresh when the session's
   * first chunk starts (module state left by pulses cannot reach the reduce, and every chunk
   * sees the state the previous ones left), holding its pool slot until `close()`, which also
   * retires the worker (no pulse runs on the state the reduce left). `chunk(acc, items)` folds
   * one chunk (the caller cuts chunks of REDUCE_CHUNK_SIZE by output position, so the points
   * where the accumulator is canonicalised do not depend on the config), sent in parts of
   * about REDUCE_PART_BYTES. Each step is seeded from (run seed, "reduce", EU id). Rejects with
   * E_INVALID_INPUT when `reduce` throws ("reduce threw at EU <id>: <message>") or leaves an
   * accumulator that is not canonical JSON; with E_EU_TIMEOUT or E_WORKER_CRASHED when it times
   * out (`timeoutMs` applies per step) or crashes its worker; with E_USAGE when the module has
   * no `reduce`.
   */
  openReduce(opts: { timeoutMs?: number } = {}): ReduceSession {
    if (this.reducer === undefined) throw new UsageError(`module ${this.data.moduleName} does not export reduce`);
    checkTimeout(opts.timeoutMs, "timeoutMs");
    const timeoutMs = opts.timeoutMs;
    const name = this.data.moduleName;
    let held: { slot: Slot; worker: PoolWorker | undefined } | undefined;
    let closed = false;
    const failed = (error: { code: string; message: string }): CairnError => {
      // A timeout or a crash (out of memory, exit) depends on the machine and the limits, not
      // only on the module: its own code, so the run stays resumable (a throw is INVALID_INPUT).
      const code = error.code === ErrorCode.EU_TIMEOUT ? ErrorCode.EU_TIMEOUT : ErrorCode.WORKER_CRASHED;
      return new CairnError(code, `reduce of module ${name} failed: ${error.message}`, { code: error.code });
    };
    const workerFor = async (): Promise<PoolWorker> => {
      if (closed) throw new UsageError("reduce session is closed");
      if (held === undefined) {
        const slot = await this.acquire();
        if (closed) {
          // close() ran while this chunk waited for the slot: give it back.
          this.release(slot);
          throw new UsageError("reduce session is closed");
        }
        held = { slot, worker: undefined };
      }
      if (held.worker === undefined) {
        try {
          held.worker = await this.freshWorker(held.slot);
        } catch (err) {
          if (isResourceStartError(err)) throw err;
          throw failed({ code: SandboxCode.WORKER_CRASHED, message: wellFormed(`worker failed to start: ${(err as Error).message}`) });
        }
      } else if (!held.worker.alive) {
        throw failed({ code: SandboxCode.WORKER_CRASHED, message: "the reduce worker is gone" });
      }
      return held.worker;
    };
    const part = async (w: PoolWorker, acc: string | null, items: ReduceItem[], more: boolean): Promise<string | null> => {
      const reqId = this.nextReqId++;
      const ids = items.map((c) => c.id);
      const sent = items.map((c): ReduceItem => (c.bytes ? { id: c.id, bytes: true, output: c.output } : { id: c.id, bytes: false, json: c.json }));
      const r = await w.request({ type: "reduce", reqId, acc, items: sent, more }, ids, timeoutMs, (m) => (m.type === "reduced" || m.type === "reduce-failed") && m.reqId === reqId);
      if (r.kind === "crashed") throw failed(r.error);
      if (r.msg.type === "reduced" && (r.msg.acc === null) === more) return r.msg.acc;
      if (r.msg.type === "reduce-failed") {
        const { index, error } = r.msg;
        const at = index >= 0 ? ` at EU ${canonicalId(ids[index] as EuId)}` : "";
        throw new CairnError(ErrorCode.INVALID_INPUT, `reduce of module ${name} threw${at}: ${error.message}`, {
          code: error.code,
          name: error.name,
          ...(index >= 0 ? { euId: ids[index] } : {}),
        });
      }
      throw new CairnError(ErrorCode.INTERNAL, "sandbox worker answered a reduce request with a malformed reply");
    };
    return {
      chunk: async (acc, items) => {
        const w = await workerFor();
        let start = 0;
        let first = true;
        while (start < items.length) {
          let end = start;
          let bytes = 0;
          do {
            const c = items[end] as ReduceItem;
            bytes += c.bytes ? c.output.byteLength : c.json.length;
            end++;
          } while (end < items.length && bytes < REDUCE_PART_BYTES);
          const more = end < items.length;
          const out = await part(w, first ? acc : null, items.slice(start, end), more);
          first = false;
          if (!more) return out as string;
          start = end;
        }
        return acc; // an empty chunk
      },
      close: async () => {
        if (closed) return;
        closed = true;
        const h = held;
        held = undefined;
        if (h === undefined) return;
        try {
          if (h.worker !== undefined && h.slot.worker === h.worker) {
            h.slot.worker = undefined;
            await h.worker.retire("the reduce is done");
          }
        } finally {
          this.release(h.slot);
        }
      },
    };
  }

  /** Terminates every worker. In-flight requests settle as crashed; waiting ones reject. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new UsageError("worker pool is closed"));
    const stops: Promise<void>[] = [...this.spawning].map((w) => w.retire("pool closed"));
    for (const s of this.slots) {
      if (s.worker !== undefined) stops.push(s.worker.retire("pool closed"));
      s.worker = undefined;
      if (s.starting !== undefined) stops.push(s.starting.then((w) => w.retire("pool closed"), () => {}));
    }
    await Promise.all(stops);
  }

  // ---- slots --------------------------------------------------------------------------

  private acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(new UsageError("worker pool is closed"));
    const free = this.slots.find((s) => !s.busy);
    if (free !== undefined) {
      free.busy = true;
      return Promise.resolve(free);
    }
    if (this.waiters.length >= MAX_QUEUED_REQUESTS) {
      return Promise.reject(
        new CairnError(ErrorCode.INTERNAL, `more than ${MAX_QUEUED_REQUESTS} requests are waiting for the worker pool; the caller must bound what it submits`),
      );
    }
    return new Promise<Slot>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve(slot);
    else slot.busy = false;
  }

  /**
   * Runs `fn` on the slot's worker (a fresh one for "fresh"); a worker that cannot start yields a
   * crash — unless it could not start for want of an OS resource (start-error.ts: E_STORE_IO),
   * which is thrown: the machine's state, not the module's, so never recorded as the EUs' failure
   * (the run fails and can be resumed). A slot's first start failing is thrown too, as it was when
   * `create` started every slot: whether a lazy start times out depends on the machine's load at
   * that moment, which must not decide what the pulse's EUs record.
   */
  private async onSlot(where: "pool" | "fresh", fn: (w: PoolWorker) => Promise<JobResult>): Promise<JobResult> {
    const slot = await this.acquire();
    try {
      let w: PoolWorker;
      try {
        w = where === "fresh" ? await this.freshWorker(slot) : await this.workerOf(slot);
            } catch (err) {
        if (isResourceStartError(err) || !slot.ready) throw err;
        return { kind: "crashed", error: { code: SandboxCode.WORKER_CRASHED, message: wellFormed(`worker failed to start: ${(err as Error).message}`) }, euIndex: undefined, completed: [] };
      }
      return await fn(w);
    } finally {
      this.release(slot);
    }
  }

  private workerOf(slot: Slot): Promise<PoolWorker> {
    if (slot.worker !== undefined && slot.worker.alive) return Promise.resolve(slot.worker);
    return slot.starting ?? this.start(slot);
  }

  private async freshWorker(slot: Slot): Promise<PoolWorker> {
    const current = slot.worker !== undefined && slot.worker.alive ? slot.worker : await (slot.starting ?? this.start(slot));
    if (current.jobsRun === 0) return current;
    slot.worker = undefined;
    await current.retire("replaced by a fresh worker");
    return this.start(slot);
  }

  /** Starts the slot's next worker; at most one start per slot is ever in progress. */
  private start(slot: Slot): Promise<PoolWorker> {
    if (slot.starting !== undefined) return slot.starting;
    // After close(): no thread may start that close() did not see (it resolves with none running).
    if (this.closed) return Promise.reject(new UsageError("worker pool is closed"));
    let w: PoolWorker;
    try {
      w = new PoolWorker(this.data, this.limits, this.startupTimeoutMs, this.locate, (dead) => this.replace(slot, dead));
    } catch (err) {
      return Promise.reject(startError(this.data.moduleName, err) ?? err); // new Worker: ERR_WORKER_INIT_FAILED
    }
    this.spawning.add(w);
    const p: Promise<PoolWorker> = w.ready.then(
      async () => {
        this.spawning.delete(w);
        if (slot.starting === p) slot.starting = undefined;
        if (this.closed) {
          await w.retire("pool closed");
          throw new UsageError("worker pool is closed");
        }
        slot.worker = w;
        slot.ready = true;
        return w;
      },
      (err: unknown) => {
        this.spawning.delete(w);
        if (slot.starting === p) slot.starting = undefined;
        throw err;
      },
    );
    slot.starting = p;
    p.catch(() => {});
    return p;
  }

  /** A worker died on its own (crash, timeout, or while idle): start its replacement now. */
  private replace(slot: Slot, dead: PoolWorker): void {
    if (slot.worker === dead) slot.worker = undefined;
    if (!this.closed && slot.worker === undefined) void this.start(slot);
  }
}
