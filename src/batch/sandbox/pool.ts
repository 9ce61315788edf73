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
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { canonicalize } from "../../core/canonical.js";
import { LEAF_HASH_BYTES } from "../leaves.js";
import { isDigest, sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, UsageError } from "../../core/errors.js";
import {
  bundleName,
  SandboxCode,
  type CrashCode,
  type EUResult,
  type EUTask,
  type EuId,
  type FromWorker,
  type PulsePartialMessage,
  type ReduceItem,
  type SandboxWorkerData,
  type RunRequest,
  type ToWorker,
  type UncaughtMessage,
} from "./protocol.js";
import { unpackResults } from "./wire.js";
import type { BundleLocator } from "./bundle.js";
import { describeUncaught, wellFormed } from "../records.js";
import { isResourceStartError, startError } from "./start-error.js";

/**
 * The codes only the pool gives an EU: it saw the EU not settle in time, or its worker die. They
 * are machine facts (verify does not compare a record that holds one), so a worker's results
 * never carry them — the worker gives a thrown value E_EU_THREW whatever its `code` — and a
 * chunk that does (a module posting its own messages on `parentPort`) is not taken.
 */
const POOL_ONLY_CODES: ReadonlySet<string> = new Set<string>([SandboxCode.EU_TIMEOUT, SandboxCode.WORKER_CRASHED]);

/** `unpackResults` of a worker's chunk, or undefined (a malformed chunk) when a failure in it carries a pool-only code. */
function workerResults(wire: unknown, ids: readonly EuId[], from: number): EUResult[] | undefined {
  const rs = unpackResults(wire, ids, from);
  if (rs === undefined) return undefined;
  for (const r of rs) {
    if (!r.ok && (typeof r.error !== "object" || r.error === null || POOL_ONLY_CODES.has(r.error.code))) return undefined;
  }
  return rs;
}

/** One reduce over an ordered output, on one worker (`WorkerPool.openReduce`). */
export interface ReduceSession {
  /** Folds one chunk (at most REDUCE_CHUNK_SIZE outputs, cut by output position) into `acc`; returns the canonical JSON text. */
  chunk(acc: string, items: ReduceItem[]): Promise<string>;
  /** Releases the worker's slot and retires the worker. Idempotent. */
  close(): Promise<void>;
}

/** Largest pool. */
export const MAX_POOL_SIZE = 256;
/** Most requests that may wait for a worker at once; more is a bug in the caller. */
export const MAX_QUEUED_REQUESTS = 1024;
/**
 * `reduce` sends outputs to a worker in chunks of this many. The accumulator crosses a
 * thread boundary (as canonical JSON) only between chunks, at positions that depend on
 * nothing but the output order, so the result is the same on every config.
 */
export const REDUCE_CHUNK_SIZE = 1024;

/**
 * Folds `outputs` (completed EU outputs, in EU-id order) into `acc` through an open reduce
 * session, in chunks of REDUCE_CHUNK_SIZE cut by output position; returns the canonical JSON
 * text. Rejects as `ReduceSession.chunk` does, or with what reading `outputs` throws.
 */
export async function foldOrdered(session: ReduceSession, acc: string, outputs: Iterable<ReduceItem> | AsyncIterable<ReduceItem>): Promise<string> {
  let chunk: ReduceItem[] = [];
  for await (const item of outputs) {
    chunk.push(item);
    if (chunk.length === REDUCE_CHUNK_SIZE) {
      acc = await session.chunk(acc, chunk);
      chunk = [];
    }
  }
  return chunk.length > 0 ? session.chunk(acc, chunk) : acc;
}
/**
 * A chunk is sent in parts of about this many bytes of outputs (at least one output each),
 * the accumulator staying live in the worker between the parts of a chunk: so outputs of any
 * size never make one message larger than a worker's heap, and the result is the same as one
 * message per chunk.
 */
export const REDUCE_PART_BYTES = 4 * 1024 * 1024;
/** How long a worker may take to start and import the module. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;
/** With a timeout, how long a worker may take to START a request (deserialise it, finish stray work). */
const REQUEST_START_GRACE_MS = 10_000;
/** Largest progress-poll interval when enforcing a timeout. */
const MAX_POLL_MS = 50;

export type { EUResult, EUTask, EuId, ReduceItem } from "./protocol.js";
export { PARTIAL_RESULTS_BYTES, PARTIAL_RESULTS_CHUNK, SandboxCode } from "./protocol.js";

export type PulseOutcome =
  | {
      kind: "ok";
      results: EUResult[];
      /** The results' Merkle leaf hashes, 32 bytes each, in order, computed by the worker (../leaves.ts). */
      leaves: Buffer;
      /** Their Merkle root, computed by the worker (absent for an empty request). */
      root?: Digest;
    }
  | {
      kind: "crashed";
      error: { code: CrashCode; message: string };
      /** Index (in the pulse's `eus`) of the EU that was running; absent when none had started. */
      euIndex?: number;
      /**
       * Results of EUs 0..k-1 of the pulse, in order, that the worker delivered before it died
       * (whole chunks, so k ≤ euIndex; empty when euIndex is absent).
       */
      completed: EUResult[];
    };

export interface RunPulseOptions {
  /** Per-EU wall-clock limit. Without it an EU that never settles hangs its pulse. */
  euTimeoutMs?: number;
  /** ctx.attempt: one number for every EU, or one per EU (same length as `eus`). */
  attempt: number | readonly number[];
  /**
   * Called with each chunk of results as it reaches this thread (every `partial` chunk and the
   * final reply; not for a crashed request's missing rest), for the caller's memory accounting
   * (`resultsHeldBytes`). It must not throw.
   */
  onResults?: (results: readonly EUResult[]) => void;
}

/**
 * Bytes a chunk of results holds on the main thread (UTF-16 code units of its strings, which
 * is their size for the usual one-byte strings): each record text (a JSON output without one,
 * from an object-form chunk, counts twice its output, for the text its commit makes), each
 * failure's message besides its text, each bytes output plus its base64 record text.
 * `failuresOnly`: the failures' part alone.
 */
export function resultsHeldBytes(results: readonly EUResult[], failuresOnly = false): number {
  const held = heldBytes(results);
  return failuresOnly ? held.failures : held.all;
}

/** `resultsHeldBytes` of a chunk, all of it and its failures' part, in one pass (once per chunk, on the main thread). */
export function heldBytes(results: readonly EUResult[]): { all: number; failures: number } {
  let all = 0;
  let failures = 0;
  for (const r of results) {
    if (!r.ok) failures += (r.text?.length ?? r.error.message.length) + r.error.message.length;
    else if (r.bytes) all += r.output.byteLength + 4 * Math.ceil(r.output.byteLength / 3);
    else all += r.text?.length ?? 2 * r.json.length;
  }
  return { all: all + failures, failures };
}

export interface WorkerPoolOptions {
  /** Number of worker threads, 1..MAX_POOL_SIZE. */
  size: number;
  bundle: { code: string; digest: Digest };
  /** The run seed. */
  seed: string;
  /** Fixed logical time in ms since the epoch (default 0). */
  logicalTime?: number;
  /** How error messages name the module (default: the bundle digest). */
  moduleName?: string;
  /** Per-worker V8 limits; exceeding maxOldGenerationSizeMb crashes the pulse (ERR_WORKER_OUT_OF_MEMORY). */
  resourceLimits?: Pick<ResourceLimits, "maxOldGenerationSizeMb" | "maxYoungGenerationSizeMb" | "stackSizeMb">;
  /** Default DEFAULT_STARTUP_TIMEOUT_MS. */
  startupTimeoutMs?: number;
  /** The largest output record in bytes (SandboxWorkerData.maxOutputBytes); default: no limit. */
  maxOutputBytes?: number;
  /**
   * Names the source `file:line:column` of a bundle position (the bundle's source map,
   * `ModuleBundle.locate`). Without it, an import error is located in the bundle itself
   * (`cairn-bundle/<hex16>.mjs:line:column`, the stored function artifact's text).
   */
  locate?: BundleLocator;
}

/** How the parent starts a worker: the compiled worker.js, or worker.ts through tsx when running from sources. */
function workerEntry(): { filename: string | URL; eval: boolean } {
  if (import.meta.url.endsWith(".ts")) {
    // Running TypeScript sources (vitest, tsx). On Node 20, `execArgv: ["--import", "tsx"]` does
    // not apply tsx's ESM hooks to a worker's main module, so the worker starts from a CommonJS
    // bootstrap that installs tsx's require hook and requires worker.ts (tsx compiles it to CJS).
    let tsx: string;
    try {
      tsx = createRequire(import.meta.url).resolve("tsx/cjs");
    } catch (err) {
      throw new CairnError(ErrorCode.INTERNAL, "running the sandbox from TypeScript sources needs the tsx package", {}, { cause: err });
    }
    const worker = fileURLToPath(new URL("./worker.ts", import.meta.url));
    return { filename: `require(${JSON.stringify(tsx)});\nrequire(${JSON.stringify(worker)});\n`, eval: true };
  }
  return { filename: builtWorker(), eval: false };
}

/** The one-file worker `npm run build` writes (scripts/bundle-worker.mjs). */
export const WORKER_BUNDLE_FILE = "worker.bundle.js";
let builtWorkerUrl: URL | undefined;

/** First-line prefix of the bundle, followed by `{"inputs": [paths], "sha256": hex}`. */
export const WORKER_BUNDLE_HEADER = "// cairn-worker-bundle ";

/**
 * The built worker: `worker.bundle.js` (worker.js with its imports in one file, which starts
 * ~15–20 ms faster) when it is current — its first line lists its input modules and one SHA-256
 * over them, and they must still hash to it — else `worker.js` itself (a build without the
 * bundle, or one rebuilt by a bare `tsc` since): the same code either way. Looked up once per
 * process.
 */
export function builtWorker(): URL {
  if (builtWorkerUrl === undefined) {
    const bundled = new URL(`./${WORKER_BUNDLE_FILE}`, import.meta.url);
    builtWorkerUrl = bundleIsCurrent(bundled) ? bundled : new URL("./worker.js", import.meta.url);
  }
  return builtWorkerUrl;
}

/** Whether the bundle at `where` exists and its recorded inputs still hash to its recorded digest. */
export function bundleIsCurrent(where: string | URL): boolean {
  try {
    const path = typeof where === "string" ? where : fileURLToPath(where);
    const text = readFileSync(path, "utf8");
    const end = text.indexOf("\n");
    if (!text.startsWith(WORKER_BUNDLE_HEADER) || end < 0) return false;
    const head = JSON.parse(text.slice(WORKER_BUNDLE_HEADER.length, end)) as { inputs?: unknown; sha256?: unknown };
    if (!Array.isArray(head.inputs) || head.inputs.length === 0 || typeof head.sha256 !== "string") return false;
    if (!head.inputs.every((p): p is string => typeof p === "string")) return false;
    return bundleInputsDigest(dirname(path), head.inputs) === head.sha256;
  } catch {
    return false; // missing, unreadable or malformed: worker.js
  }
}

/**
 * One SHA-256 (hex) over a bundle's input modules: for each path (relative to `dir`, in the
 * given order) `path \0 sha256(bytes) \n`. scripts/bundle-worker.mjs records it; `bundleIsCurrent`
 * recomputes it.
 */
export function bundleInputsDigest(dir: string, inputs: readonly string[]): string {
  const h = createHash("sha256");
  for (const p of inputs) h.update(`${p}\0${createHash("sha256").update(readFileSync(resolve(dir, p))).digest("hex")}\n`);
  return h.digest("hex");
}

/**
 * The request's inputs: one JSON array text when every EU has its canonical text, else the
 * values (an EU that has only its text is parsed here: never sent as `undefined`).
 */
function requestInputs(eus: readonly EUTask[]): RunRequest["inputs"] {
  const texts = new Array<string>(eus.length);
  for (let i = 0; i < eus.length; i++) {
    const t = (eus[i] as EUTask).inputJson;
    if (t === undefined) return eus.map((e) => (e.inputJson !== undefined ? JSON.parse(e.inputJson) : e.input));
    texts[i] = t;
  }
  return { json: `[${texts.join(",")}]` };
}

/** Ids as a Float64Array when all are numbers (copied as one block), else as they are. */

function packIds(ids: EuId[]): EuId[] | Float64Array {
  for (const id of ids) if (typeof id !== "number") return ids;
  return Float64Array.from(ids as number[]);
}

function canonicalId(id: EuId): string {
  try {
    return canonicalize(id);
  } catch {
    return String(id);
  }
}

interface Job {
  /** The request's EU ids (for messages); reduce chunks use the items' ids. */
  ids: readonly EuId[];
  what: "pulse" | "reduce";
  settle: (r: JobResult) => void;
  /** Whether a message is the request's final reply. */
  matches: (m: FromWorker) => boolean;
  /** Whether a message is a `partial` chunk of the request (pulses only). */
  isPartial: (m: FromWorker) => m is PulsePartialMessage;
  /** Results of the `partial` chunks received so far (EUs 0..partial.length-1). */
  partial: EUResult[];
  /** Told of each `partial` chunk as it arrives (RunPulseOptions.onResults). */
  onPartial: ((results: readonly EUResult[]) => void) | undefined;
  timer: ReturnType<typeof setInterval> | undefined;
}

type JobResult =
  | { kind: "message"; msg: FromWorker; partial: EUResult[] }
  | { kind: "crashed"; error: { code: CrashCode; message: string }; euIndex: number | undefined; completed: EUResult[] };

const notPartial = (_m: FromWorker): _m is PulsePartialMessage => false;

type WorkerState = "starting" | "idle" | "busy" | "dead";

/** One worker thread and the request it is serving. */
class PoolWorker {
  private state: WorkerState = "starting";
  private job: Job | undefined;
  /** The first uncaught error the worker reported (boxed: a thrown value may be anything). */
  private uncaught: { value: unknown } | undefined;
  /**
   * The worker's own report of an uncaught exception (an `uncaught` message): its description
   * and the index of the EU it charges (undefined: none). Everything the worker posts after it
   * is ignored, and the crash is settled with this index, not the progress counter's value when
   * the termination lands.
   */
  private fault: { error: string; euIndex: number | undefined } | undefined;
  /** Set by the pool when it terminates the worker on purpose (close, fresh-worker swap). */
  private retired = false;
  /** Requests served so far (0 = fresh). */
  jobsRun = 0;
  reducer: { initial: string } | undefined;
  private readonly progress: Int32Array;
  private readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Rejects `ready` (used when the worker is retired before it is ready). */
  private failStart: (err: Error) => void = () => {};

  constructor(
    data: Omit<SandboxWorkerData, "progress">,
    limits: ResourceLimits | undefined,
    startupTimeoutMs: number,
    locate: BundleLocator | undefined,
    private readonly onDeath: (w: PoolWorker) => void,
  ) {
    const sab = new SharedArrayBuffer(4);
    this.progress = new Int32Array(sab);
    const entry = workerEntry();
    const workerData: SandboxWorkerData = { ...data, progress: sab };
    this.worker = new Worker(entry.filename, {
      eval: entry.eval,
      workerData,
      env: {},
      execArgv: [],
      stdout: true,
      ...(limits === undefined ? {} : { resourceLimits: limits }),
    });
    // User console.log output goes to stderr, keeping the parent's stdout machine-readable.
    this.worker.stdout.on("data", (chunk: Buffer) => process.stderr.write(chunk));

    this.ready = new Promise<void>((resolve, reject) => {
      const startTimer = setTimeout(() => {
        fail(new CairnError(ErrorCode.INVALID_INPUT, `module ${data.moduleName} did not finish importing within ${startupTimeoutMs} ms`));
      }, startupTimeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(startTimer);
        if (this.state !== "starting") return;
        this.state = "dead";
        void this.worker.terminate();
        reject(err);
      };
      this.failStart = fail;
      this.worker.on("message", (msg: FromWorker) => {
        if (this.state === "starting") {
          if (msg.type === "ready") {
            clearTimeout(startTimer);
            this.reducer = msg.reducer;
            this.state = "idle";
            this.worker.unref();
            resolve();
          } else if (isUncaught(msg)) {
            fail(startError(data.moduleName, msg.error) ?? new CairnError(ErrorCode.INVALID_INPUT, `module ${data.moduleName} crashed its worker while importing: ${msg.error}`));
          } else if (msg.type === "fatal") {
            const at = msg.error.at;
            const where = at === undefined ? undefined : (locate?.(at.line, at.column) ?? `${bundleName(data.digest)}:${at.line}:${at.column}`);
            const message = where === undefined ? msg.error.message : `${where}: ${msg.error.message}`;
            // The worker's own report is E_INVALID_INPUT (a bad module); the code is not taken
            // from the message, which the module's top level could have posted itself. Only an
            // OS resource error its text carries (startError) is E_STORE_IO instead: a module
            // that posts such text itself gets E_STORE_IO for its own failure (its run stays
            // resumable; nothing else changes).
            fail(startError(data.moduleName, msg.error.message) ?? new CairnError(ErrorCode.INVALID_INPUT, message, { module: data.moduleName, ...(where === undefined ? {} : { at: where }) }));
          }
          return;
        }
        // Nothing a worker posts after its report of an uncaught exception counts: it ran on
        // after the error (Node does not stop a worker's microtasks) and is being terminated.
        if (this.fault !== undefined) return;
        if (isUncaught(msg)) {
          const inJob = this.job !== undefined && msg.eu >= 0 && msg.eu < this.job.ids.length;
          this.fault = { error: msg.error, euIndex: inJob ? msg.eu : undefined };
          this.die();
          return;
        }
        const job = this.job;
        if (job === undefined) return;
        if (job.isPartial(msg)) {
          // Chunks arrive in order; one that does not continue the results is not ours (the
          // user's own parentPort.postMessage) and is ignored.
          if (msg.from === job.partial.length) {
            const rs = workerResults(msg.results, job.ids, msg.from);
            if (rs !== undefined) {
              for (const r of rs) job.partial.push(r);
              job.onPartial?.(rs);
            }
          }
        } else if (job.matches(msg) && this.state !== "dead") {
          // (A worker that reported an uncaught error through Node — the 'error' event, below
          // — is dead: a final reply it sends after that ran past the error and is ignored.)
          this.finish({ kind: "message", msg, partial: job.partial });
        }
        // Anything else (e.g. the user's own parentPort.postMessage) is ignored.
      });
      this.worker.on("error", (err: unknown) => {
        this.uncaught ??= { value: err };
        if (this.state === "starting") {
          fail(startError(data.moduleName, err) ?? new CairnError(ErrorCode.INVALID_INPUT, `module ${data.moduleName} crashed its worker while importing: ${describeUncaught(err)}`));
        } else if (this.fault !== undefined) {
          // The worker reported its uncaught exception itself; the job settles on 'exit'.
        } else if (this.job !== undefined && this.state !== "dead") {
          // An uncaught error arrives on the worker's internal port, possibly before results it
          // posted earlier on the public one. The job is settled on 'exit' (crash()), which
          // Node emits only after delivering every message the worker posted; terminate()
          // makes sure it comes. (The worker reports uncaught exceptions itself — an
          // `uncaught` message — so this is out of memory, or a module that took the worker's
          // listener away.)
          this.die();
        } else {
          this.crash(crashMessage(this.uncaught, undefined));
        }
      });
      // The pool starts a replacement only once the thread is gone, so at most `size` exist.
      this.worker.on("exit", (exitCode: number) => {
        if (this.state === "starting") {
          // The import neither finished nor threw: a top-level await with nothing left to run
          // (the thread then exits with 0), or process.exit during import.
          const why =
            this.uncaught !== undefined
              ? `crashed its worker while importing: ${describeUncaught(this.uncaught.value)}`
              : exitCode === 0
                ? "never finished importing (a top-level await that can never settle, or process.exit(0) at import)"
                : `exited its worker with code ${exitCode} while importing`;
          const resource = this.uncaught === undefined ? undefined : startError(data.moduleName, this.uncaught.value);
          fail(resource ?? new CairnError(ErrorCode.INVALID_INPUT, `module ${data.moduleName} ${why}`));
          return;
        }
        this.crash(this.fault !== undefined ? `worker crashed with an uncaught ${this.fault.error}` : crashMessage(this.uncaught, exitCode));
        if (!this.retired) this.onDeath(this);
      });
    });
    this.ready.catch(() => {});
  }

  get alive(): boolean {
    return this.state === "idle" || this.state === "busy";
  }

  /** Sends one request and resolves with its reply, or with "crashed" (never rejects, never hangs unless untimed). */
  request(
    msg: ToWorker,
    ids: readonly EuId[],
    timeoutMs: number | undefined,
    matches: (m: FromWorker) => boolean,
    isPartial: (m: FromWorker) => m is PulsePartialMessage = notPartial,
    onPartial?: (results: readonly EUResult[]) => void,
  ): Promise<JobResult> {
    if (this.state !== "idle") {
      return Promise.resolve({ kind: "crashed", error: { code: SandboxCode.WORKER_CRASHED, message: "worker is not available" }, euIndex: undefined, completed: [] });
    }
    return new Promise<JobResult>((resolve) => {
      this.state = "busy";
      this.jobsRun++;
      Atomics.store(this.progress, 0, 0);
      const job: Job = { ids, what: msg.type === "run" ? "pulse" : "reduce", settle: resolve, matches, isPartial, partial: [], onPartial, timer: undefined };
      this.job = job;
      this.worker.ref();
      if (timeoutMs !== undefined) job.timer = this.watch(timeoutMs);
      this.worker.postMessage(msg);
    });
  }

  /** Polls the progress counter: an EU (or the request's start) exceeding its time terminates the worker. */
  private watch(timeoutMs: number): ReturnType<typeof setInterval> {
    const pollMs = Math.max(1, Math.min(MAX_POLL_MS, Math.floor(timeoutMs / 10)));
    let seen = 0;
    let since = performance.now();
    return setInterval(() => {
      const job = this.job;
      if (job === undefined) return;
      const p = Atomics.load(this.progress, 0);
      const now = performance.now();
      if (p !== seen) {
        seen = p;
        since = now;
        return;
      }
      const limit = p === 0 ? Math.max(timeoutMs, REQUEST_START_GRACE_MS) : timeoutMs;
      if (now - since < limit) return;
      const message =
        p === 0
          ? `worker did not start the ${job.what} within ${limit} ms`
          : `EU ${canonicalId(job.ids[p - 1] as EuId)} did not settle within ${timeoutMs} ms`;
      this.finish({ kind: "crashed", error: { code: SandboxCode.EU_TIMEOUT, message }, euIndex: p === 0 ? undefined : p - 1, completed: job.partial });
      this.kill();
    }, pollMs);
  }

  private finish(r: JobResult): void {
    const job = this.job;
    if (job === undefined) return;
    this.job = undefined;
    if (job.timer !== undefined) clearInterval(job.timer);
    if (this.state === "busy") {
      this.state = "idle";
      this.worker.unref();
    }
    job.settle(r);
  }

  /** The worker is dying: stop its job's timeout and terminate it; the job settles on 'exit' (crash()). */
  private die(): void {
    if (this.state === "dead") return;
    this.state = "dead";
    const job = this.job;
    if (job?.timer !== undefined) {
      clearInterval(job.timer);
      job.timer = undefined;
    }
    void this.worker.terminate();
  }

  /** The worker died or is dying: settle the running job (if any) as crashed. */
  private crash(message: string): void {
    const job = this.job;
    if (job !== undefined) {
      const p = Atomics.load(this.progress, 0);
      const euIndex = this.fault !== undefined ? this.fault.euIndex : p === 0 ? undefined : p - 1;
      const where = euIndex === undefined ? "" : ` while running EU ${canonicalId(job.ids[euIndex] as EuId)}`;
      this.finish({ kind: "crashed", error: { code: SandboxCode.WORKER_CRASHED, message: wellFormed(`${message}${where}`) }, euIndex, completed: job.partial });
    }
    this.state = "dead";
  }

  /** Terminates after a timeout; the 'exit' event then tells the pool. */
  private kill(): void {
    this.state = "dead";
    void this.worker.terminate();
  }

  /** Terminates on purpose: a running job settles as crashed ("terminated"), the pool is not told. */
  async retire(reason: string): Promise<void> {
    this.retired = true;
    if (this.state === "starting") this.failStart(new UsageError(`worker terminated before it was ready: ${reason}`));
    this.crash(`worker terminated: ${reason}`);
    await this.worker.terminate();
  }
}

function isUncaught(m: FromWorker): m is UncaughtMessage {
  const u = m as Partial<UncaughtMessage> | null;
  return typeof u === "object" && u !== null && u.type === "uncaught" && typeof u.eu === "number" && Number.isSafeInteger(u.eu) && typeof u.error === "string";
}

/** A deterministic description of how a worker died (no timings, no paths). */
function crashMessage(uncaught: { value: unknown } | undefined, exitCode: number | undefined): string {
  if (uncaught !== undefined) {
    const err = uncaught.value;
    if (err instanceof Error && (err as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY") {
      return "worker ran out of memory (ERR_WORKER_OUT_OF_MEMORY)";
    }
    return `worker crashed with an uncaught ${describeUncaught(err)}`;
  }
  return exitCode === undefined ? "worker exited" : `worker exited with code ${exitCode}`;
}

interface Slot {
  busy: boolean;
  worker: PoolWorker | undefined;
  /** A replacement being started. */
  starting: Promise<PoolWorker> | undefined;
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
    this.slots = Array.from({ length: size }, () => ({ busy: false, worker: undefined, starting: undefined }));
  }

  /**
   * Starts `size` workers and waits until each has imported the module. Rejects with
   * E_INVALID_INPUT when the module has no default export function ("module <name> has no
   * default export function"), throws at import ("module <name> threw at import: <message>"),
   * or exports a non-function `reduce` or a non-canonical `initial`.
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
    const limits = opts.resourceLimits === undefined ? undefined : { ...opts.resourceLimits };
    const pool = new WorkerPool(data, limits, startupTimeoutMs, opts.locate, size);
    const settled = await Promise.allSettled(pool.slots.map((s) => pool.start(s)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) {
      await pool.close();
      throw failed.reason;
    }
    pool.reducerInfo = (settled[0] as PromiseFulfilledResult<PoolWorker>).value.reducer;
    return pool;
  }

  /** Present when the module exports `reduce`: `initial` is the canonical JSON of its `initial` export ("null" when absent). */
  get reducer(): { initial: string } | undefined {
    return this.reducerInfo;
  }

  /** Number of worker threads. */
  get size(): number {
    return this.slots.length;
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
   * (the run fails and can be resumed).
   */
  private async onSlot(where: "pool" | "fresh", fn: (w: PoolWorker) => Promise<JobResult>): Promise<JobResult> {
    const slot = await this.acquire();
    try {
      let w: PoolWorker;
      try {
        w = where === "fresh" ? await this.freshWorker(slot) : await this.workerOf(slot);
            } catch (err) {
        if (isResourceStartError(err)) throw err;
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
