/** One sandbox worker thread of the pool and the request it serves: start, per-request timeout, crash. */
import { Worker, type ResourceLimits } from "node:worker_threads";
import { CairnError, ErrorCode, UsageError } from "../../core/errors.js";
import { bundleName, SandboxCode, type CrashCode, type EUResult, type EuId, type FromWorker, type PulsePartialMessage, type SandboxWorkerData, type ToWorker } from "./protocol.js";
import type { BundleLocator } from "./bundle.js";
import { describeUncaught, wellFormed } from "../records.js";
import { startError } from "./start-error.js";
import { workerEntry } from "./worker-entry.js";
import { canonicalId, isUncaught, workerResults } from "./pool-messages.js";

/** With a timeout, how long a worker may take to START a request (deserialise it, finish stray work). */
const REQUEST_START_GRACE_MS = 10_000;
/** Largest progress-poll interval when enforcing a timeout. */
const MAX_POLL_MS = 50;

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

export type JobResult =
  | { kind: "message"; msg: FromWorker; partial: EUResult[] }
  | { kind: "crashed"; error: { code: CrashCode; message: string }; euIndex: number | undefined; completed: EUResult[] };

const notPartial = (_m: FromWorker): _m is PulsePartialMessage => false;

type WorkerState = "starting" | "idle" | "busy" | "dead";

/** One worker thread and the request it is serving. */
export class PoolWorker {
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
