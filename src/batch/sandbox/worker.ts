/**
 * Sandbox worker: the worker_threads entry that runs a user execution function over EUs.
 * Started only by `WorkerPool` (pool.ts); importing this file anywhere else does nothing.
 *
 * Life cycle: install the determinism shims and the timer fence → import the bundle (a `data:`
 * URL, so the bundle must be self-contained; `node:` builtins are the only imports) → start
 * tracking timers → validate the exports → post `ready` (or `fatal`) → serve `run` and
 * `reduce` requests one at a time.
 *
 * ## What the sandbox GUARANTEES (inside the worker thread, from before the module's first line)
 *
 * Clocks are fixed at the run's logical time T (ms since the epoch, default 0):
 *  - `new Date()` (no arguments) and `Date()` are T; `Date.now()` is T. `new Date(x)`,
 *    `Date.parse`, `Date.UTC` behave normally. `Date` is a callable proxy of the real Date,
 *    so `instanceof Date`, subclasses (`super()` with no arguments is T) and
 *    `d.constructor === Date` keep working.
 *  - `performance.now()` is 0 and `performance.timeOrigin` is T.
 *  - `process.hrtime()` is [0, 0] (`hrtime(prev)` is the difference from that),
 *    `process.hrtime.bigint()` is 0n, `process.uptime()` is 0.
 *  - `Intl.DateTimeFormat#format()` and `#formatToParts()` without a date format T.
 * Entropy comes from ONE xoshiro128** stream per EU, seeded with
 * `deriveSeed(runSeed, canonicalize(euId))` before the EU starts (reduce steps:
 * `deriveSeed(runSeed, "reduce", canonicalize(euId))`; module top level:
 * `deriveSeed(runSeed, "import")`). Every source below draws from that stream in call order:
 *  - `Math.random()`;
 *  - `crypto.getRandomValues()` and `crypto.randomUUID()` on `globalThis.crypto`
 *    (= `node:crypto`'s `webcrypto`) and on `Crypto.prototype` (so also
 *    `Object.getPrototypeOf(crypto).getRandomValues.call(crypto, a)`), and `node:crypto`'s
 *    `getRandomValues`;
 *  - `node:crypto`'s `randomBytes` (and its deprecated aliases `pseudoRandomBytes`, `prng`,
 *    `rng`), `randomFill`, `randomFillSync`, `randomInt` and `randomUUID` — through the
 *    default import, namespace and named imports (`syncBuiltinESMExports`), and through
 *    `require("node:crypto")` in bundled CommonJS code. Async variants draw at call time and
 *    call back on the next tick. `randomUUID()` is a valid RFC 9562 version-4 UUID.
 * Timers do not outlive their EU (timers.ts, the "timer fence"). Once the module's import has
 * settled, every timer armed through
 *  - `setTimeout`, `setInterval`, `setImmediate`: the globals, `node:timers` (default,
 *    namespace and named imports, and `require("node:timers")` in bundled CommonJS), and
 *    `util.promisify` of them;
 *  - `node:timers/promises` (`setTimeout`, `setImmediate`, `setInterval`, `scheduler.wait`,
 *    `scheduler.yield`; also as `require("node:timers").promises`);
 *  - `AbortSignal.timeout`; and `Timeout#refresh()` of a timer armed that way (even one that
 *    already fired)
 * is cancelled when the EU (or reduce step) during which it was armed settles — returns,
 * throws, or its promise settles — before the next EU starts. Timers armed while the worker
 * is between requests (by work an earlier request left behind) are cancelled before the next
 * request's first EU. A cancelled callback never runs; a cancelled `timers/promises` promise
 * never settles (it does not reject: nobody would handle the rejection) and a cancelled
 * `timers/promises` interval never yields again. Timers an EU awaits work exactly as before
 * (arguments, `clear*`, `refresh`, `ref` and `signal` options, errors). Timers armed by the
 * module's top level (during the import) are NOT tracked, nor are the timers their callbacks
 * arm synchronously: a top-level `setInterval` or `setTimeout` chain keeps running across EUs,
 * as before. Cost per EU that armed no timer: one boolean test.
 * So an EU's output depends only on (run seed, logical time, EU id, input, attempt) and the
 * bundle — not on the worker, pool size, pulse layout, or which EUs the worker ran before —
 * PROVIDED the function meets the limits below.
 * Also:
 *  - Outputs are validated in the worker: canonical JSON (RFC 8785) or a Buffer/Uint8Array
 *    (copied); anything else fails the EU with E_CANONICAL naming the JSONPath.
 *  - An EU's failure code states who detected the failure, never what the function claims: a
 *    thrown value is E_EU_THREW whatever `code` it carries (`describeThrown`); this worker gives
 *    E_CANONICAL and E_LIMIT_EXCEEDED (an output it refused), the pool E_EU_TIMEOUT and
 *    E_WORKER_CRASHED (and it refuses a worker's result that carries either).
 *  - `ctx` is frozen: `{ id, attempt, seed (the run seed), logicalTime }`.
 *  - `process.env` is empty (the pool starts workers with `env: {}`), and the worker's stdout
 *    is forwarded to the parent's stderr (so a CLI's stdout stays machine-readable); so are
 *    writes to file descriptor 1 through `node:fs` (stdout-fd.ts).
 *  - `Intl` constructors and the `toLocale*` / `localeCompare` methods default to the `en-US`
 *    locale, and the date ones to the `UTC` time zone (locale.ts); the time-zone name in
 *    `Date#toString` / `#toTimeString` / `Date()` (and so `String(d)`, template literals) is the
 *    en-US one, not the one in the host's LANG / LC_ALL (`pinDateStrings`, core/date-strings.ts).
 *  - A global `require` serves Node builtins only (for esbuild's CommonJS interop); other
 *    specifiers throw.
 *  - `Error.stackTraceLimit` is 10 (Node's default, `SANDBOX_STACK_TRACE_LIMIT` in shims.ts)
 *    when the module is imported, whatever `--stack-trace-limit` the process got (a V8 flag,
 *    process-wide: `NODE_OPTIONS=--stack-trace-limit=2` reached the workers); the module may
 *    set it itself, and the value then persists in that worker like any module-level state.
 *  - An unhandled promise rejection is reported on stderr and ignored, never a worker crash
 *    (when Node notices one depends on timing, so which EU it would fail did too).
 *  - The parent (pool.ts) enforces per-EU timeouts and contains `process.exit`, uncaught
 *    errors and out-of-memory: the worker is terminated and replaced, the pulse is reported
 *    "crashed" with the index of the EU that was running and the results of the EUs before
 *    it that the worker had already sent (in chunks of PARTIAL_RESULTS_CHUNK results, cut
 *    earlier at PARTIAL_RESULTS_BYTES of record text).
 *  - An uncaught exception (a throwing timer, I/O or `process.nextTick` callback, or microtask)
 *    is reported by this worker itself the moment it is thrown, with the index of the EU it is
 *    running (`reportUncaughtExceptions`), and nothing the worker posts afterwards counts: the EU
 *    charged is the one running at the throw, on every run. A continuation EU k left behind
 *    throws where the worker next drains it — a microtask at the first `await` of a later EU of
 *    the same request (which is charged), a nextTick callback when the worker next returns to its
 *    event loop (a later EU awaiting a timer or I/O), else after the request's results were
 *    posted (nobody is charged, the worker is replaced) — so its effect depends on which EUs
 *    share its request (ARCHITECTURE.md §10.7).
 *
 * ## What it does NOT guarantee (not neutralised; the run's audit — re-executing sampled
 * ## pulses on a fresh worker and comparing checksums — is the backstop)
 *  - It is NOT a security boundary. `fs`, `net`/`http`/`fetch`, `child_process`,
 *    `worker_threads`, native addons (`process.dlopen`), `process.kill` and `os` are all
 *    reachable. A native crash or `process.kill(process.pid)` takes the whole process down.
 *  - Module-level mutable state persists across the EUs a worker runs (and differs between
 *    workers): a counter at module scope makes outputs depend on scheduling.
 *  - Timers run on the real clock; races between timers and I/O (e.g. `Promise.race` with a
 *    timeout) are not deterministic.
 *  - Microtasks and unawaited promises CANNOT be cancelled. A continuation an EU leaves
 *    behind (an unawaited async function or `.then`, `queueMicrotask`, `process.nextTick`, an
 *    I/O callback) runs whenever the event loop reaches it — during a later EU's `await`, or
 *    after the pulse — draws from THAT EU's entropy stream, and a timer it arms counts as
 *    armed by whatever runs then (the later EU, or the idle worker). An uncaught error from it
 *    crashes the worker, charged to whichever EU is running then (above); an unhandled
 *    rejection is ignored.
 *  - Import-time timers keep running across EUs (above) and fire during whichever EU is
 *    running. Continuations of an import-time `await` loop (`for (;;) { await sleep(1000); … }`)
 *    run after the import, so the next timer they arm is tracked: the loop stops at the next
 *    EU boundary.
 *  - Not tracked: timers Node arms for I/O (sockets, HTTP, child processes, `fs.watch`…) —
 *    except that Node modules first loaded after the fence (`node:http`, for one) reach the
 *    patched functions, so what they arm during an EU is cancelled with it; `Atomics.waitAsync`
 *    timeouts; the legacy `timers.enroll/active`. A long-lived timer a library creates lazily
 *    during an EU (a cache's cleanup interval) is cancelled with that EU and gone afterwards.
 *  - Other time and machine readings: `performance.mark/measure` entries,
 *    `performance.eventLoopUtilization`, `process.cpuUsage/resourceUsage/memoryUsage`,
 *    `os.uptime/loadavg/freemem/cpus/hostname/networkInterfaces`, `process.pid/ppid`,
 *    `worker_threads.threadId`, file timestamps, `crypto.subtle` key generation,
 *    `generateKeyPair*`, `generatePrime`, `createDiffieHellman` and other OpenSSL-seeded APIs.
 *  - Host time zone: local-time `Date` methods (`getHours`, `toString`…) follow the PROCESS's
 *    TZ, which a worker cannot change (setting `process.env.TZ` in a worker has no effect). The
 *    CLI sets `TZ=UTC`; library callers must, for machine-independent results. (The zone's NAME
 *    in `toString` is pinned to en-US, above; its offset is the zone's.)
 *  - Stack depth: how deep recursion goes before `RangeError: Maximum call stack size exceeded`
 *    depends on which V8 tier runs the frames (optimised frames are smaller), which depends on
 *    how warm the function is in this worker and on background compilation: a recursion near the
 *    limit succeeds in a warm worker and fails in a cold one, or from run to run. No cheap
 *    mitigation (a fixed stack size moves the limit, not the variance). The audit catches it when
 *    it samples such a pulse (its fresh worker is cold).
 *  - The process and the machine: `process.cwd()` (the directory the CLI was started in),
 *    `process.argv`, `execPath`, `version`, `versions`, `title`, `performance.nodeTiming` and
 *    `performance.toJSON()`, `performance.eventLoopUtilization()`; `process.umask()` (the
 *    process's file-mode mask, also what `fs` applies: a fixed answer would misstate the modes
 *    files get, so it is left as is), `os.homedir()` (the process's HOME, although
 *    `process.env` is empty), `os.userInfo()`, `process.getuid()`/`getgid()`/`getgroups()`.
 *    Not caught by the audit (the same in both workers) except the timings.
 *  - Worker history: timer ids (`+setTimeout(…)`), `async_hooks.executionAsyncId()` and other
 *    async ids count what the worker created before; `WeakRef#deref()` and
 *    `FinalizationRegistry` callbacks follow the garbage collector. The audit usually catches
 *    them (a fresh worker), not reliably (GC).
 *  - `node:vm` contexts are new realms with the real `Date`, an unseeded `Math.random` and the
 *    host's locale defaults: nothing of the above applies inside them. The audit catches the
 *    clock and the randomness, not the locale.
 *  - WebAssembly runs unmodified (NaN bit patterns and relaxed SIMD may vary by CPU);
 *    floating-point `Math` functions (`Math.sin`, `Math.exp`…) may differ across V8 versions.
 *  - `SharedArrayBuffer`/`Atomics` and `worker_threads` inside the function.
 *  - Inputs are fresh copies per request (a JSON input parsed from its canonical text, a
 *    `files` input's bytes cloned): mutating one affects only that EU, but they are not frozen.
 *  - Error stacks: frames of Cairn's own worker code name the file it was started from
 *    (`worker.bundle.js` in a built package, `worker.js` without the bundle, `worker.ts` from
 *    sources) with its install path and line numbers, so a function that puts `err.stack` into
 *    its output is not machine- or build-independent.
 *  - The timeout and crash containment live in the parent: without `euTimeoutMs` an EU whose
 *    promise never settles hangs its pulse.
 *  - Out-of-memory containment is Node's, and best-effort: Node terminates a worker whose heap
 *    reaches its limit after granting it 16 MiB of grace, and V8 aborts the WHOLE process
 *    ("FATAL ERROR: Reached heap limit … JavaScript heap out of memory", exit 134) when the
 *    worker's allocations overshoot that grace before the termination lands — one large
 *    allocation, or many large strings in a row (nodejs/node#47224). What the worker itself
 *    holds per request is bounded — one chunk of results (PARTIAL_RESULTS_BYTES of record text,
 *    or one larger record) and the running EU's output in at most three copies (the value, its
 *    JSON text, its record text; an output is at most a quarter of the heap) — so only a
 *    function whose own allocations approach the worker heap can reach it.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from "node:worker_threads";
import { canonicalize } from "../../core/canonical.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { deriveSeed } from "../../core/prng.js";
import { installDeterminismShims, type DeterminismShims } from "./shims.js";
import { installTimerFence, type TimerFence } from "./timers.js";
import { redirectStdoutFd } from "./stdout-fd.js";
import { pinLocale } from "./locale.js";
import { LEAF_HASH_BYTES, LeafHashTree, writeLeafHash } from "../leaves.js";
import { canonicalStringByteLength, canonicalText } from "../canonical-text.js";
import { describeUncaught, MAX_ERROR_MESSAGE_CHARS, recordText, truncate as truncateMessage, wellFormed } from "../records.js";
import { ResultPacker } from "./wire.js";
import { recordLimitExplanation } from "../config.js";
import { suggestKey } from "../../core/suggest.js";
import {
  bundleName,
  PARTIAL_RESULTS_BYTES,
  PARTIAL_RESULTS_CHUNK,
  SandboxCode,
  type EUError,
  type EUResult,
  type EUTask,
  type EuId,
  type FromWorker,
  type ReduceRequest,
  type RunRequest,
  type SandboxWorkerData,
  type ToWorker,
} from "./protocol.js";

/** Error messages are cut to this many UTF-16 code units. */
export const MAX_EU_ERROR_MESSAGE_CHARS = MAX_ERROR_MESSAGE_CHARS;

/**
 * The codes the worker itself gives an EU, read when this module loads — before the user's
 * module is imported, which could reach (and mutate) the shared code tables when it imports
 * Cairn's own files. `describeThrown` never takes a code from a thrown value.
 */
const EU_THREW: string = SandboxCode.EU_THREW;
const CANONICAL: string = ErrorCode.CANONICAL;
const LIMIT_EXCEEDED: string = ErrorCode.LIMIT_EXCEEDED;

/**
 * `JSON.parse` as it is before the user's module is imported: inputs, accumulators and reduce
 * items are parsed with it, so a module that replaces the global (a date-reviving library,
 * say) cannot change what its function receives in the run but not in a replay.
 */
const parseJson: (text: string) => unknown = JSON.parse;

type UserFunction = (input: unknown, ctx: Readonly<EUContext>) => unknown;
type Reducer = (acc: unknown, output: unknown) => unknown;

/** The second argument of the execution function. */
export interface EUContext {
  id: string | number;
  /** 1 on the first attempt, 2 on the first retry… (whatever the engine passes). */
  attempt: number;
  /** The run seed. */
  seed: string;
  /** The fixed logical time, ms since the epoch. */
  logicalTime: number;
}

function isSandboxWorkerData(d: unknown): d is SandboxWorkerData {
  return typeof d === "object" && d !== null && (d as { cairnSandbox?: unknown }).cairnSandbox === 1;
}

/**
 * Cuts a message to MAX_EU_ERROR_MESSAGE_CHARS code units plus `…` without splitting a
 * surrogate pair, lone surrogates replaced by U+FFFD (records.ts): the record that carries it
 * must be canonical JSON.
 */
function truncate(s: string): string {
  return truncateMessage(s);
}

/** The message of anything thrown (well-formed: lone surrogates become U+FFFD), without ever throwing itself. */
function messageOf(err: unknown): string {
  try {
    if (err !== null && typeof err === "object" && typeof (err as { message?: unknown }).message === "string") {
      return wellFormed((err as { message: string }).message);
    }
    return wellFormed(String(err));
  } catch {
    return "(a thrown value that cannot be described)";
  }
}

/**
 * Describes what the user's code threw (the function, `reduce`, a getter or proxy trap of a
 * value being encoded) as an EU error: always E_EU_THREW, with the value's message and name.
 * A `code` on the thrown value is never taken, whatever it is — a plain object, an `Error` with
 * a `.code`, even a `CairnError` (the module can construct one: it may bundle Cairn, or import
 * its files) — so a function cannot give its EU a code that states a fact about the machine or
 * the engine (E_EU_TIMEOUT and E_WORKER_CRASHED, which only the pool gives, and which verify
 * does not compare; E_CANONICAL, E_LIMIT_EXCEEDED…). The codes the worker gives by itself are
 * set where it detects them: `describeEncodingFailure` (E_CANONICAL) and `outputTooLarge`
 * (E_LIMIT_EXCEEDED).
 */
export function describeThrown(err: unknown): EUError {
  let name = "Error";
  try {
    if (err !== null && typeof err === "object") {
      const e = err as { name?: unknown };
      if (typeof e.name === "string") name = wellFormed(e.name);
    }
  } catch {
    // A hostile getter: keep the default.
  }
  return { code: EU_THREW, message: truncate(messageOf(err)), name };
}

/**
 * Describes a failure of the canonical encoder over a value the user's code returned (an EU's
 * output, a reduce accumulator): E_CANONICAL when the encoder itself refused the value — its
 * own `CairnError` (this module's class) with that code — else E_EU_THREW (`describeThrown`):
 * the value ran user code while it was read (a getter, a proxy trap) and that code threw.
 */
function describeEncodingFailure(err: unknown): EUError {
  const error = describeThrown(err);
  return isEncoderRefusal(err) ? { ...error, code: CANONICAL } : error;
}

/**
 * Whether `err` is the canonical encoder's E_CANONICAL (never throws: a proxy's trap may). Not
 * proof against a module that imports this worker's own `core/errors.js` by file URL (possible
 * when the pool runs worker.js, not the bundle) and throws that class from a getter: its EU is
 * then labelled E_CANONICAL — a label only, which verify compares like E_EU_THREW. The machine
 * facts are out of its reach: the pool refuses them from a worker.
 */
function isEncoderRefusal(err: unknown): boolean {
  try {
    return err instanceof CairnError && err.code === CANONICAL;
  } catch {
    return false;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/** A `data:` URL for the bundle; the sourceURL comment keeps stack traces short and stable. */
function bundleUrl(code: string, digest: string): string {
  const text = `${code}\n//# sourceURL=${bundleName(digest)}\n`;
  return `data:text/javascript;base64,${Buffer.from(text, "utf8").toString("base64")}`;
}

/** Line and column (1-based) of the innermost frame of `err`'s stack that is bundle code, if any. */
export function bundlePosition(err: unknown, digest: string): { line: number; column: number } | undefined {
  let stack: unknown;
  try {
    stack = err !== null && typeof err === "object" ? (err as { stack?: unknown }).stack : undefined;
  } catch {
    return undefined; // a throwing getter
  }
  if (typeof stack !== "string") return undefined;
  const name = bundleName(digest);
  // Frames are the lines "    at …" after the message (which may itself span lines).
  for (const line of stack.split("\n")) {
    if (!line.trimStart().startsWith("at ")) continue;
    const at = line.indexOf(name);
    if (at === -1) continue;
    const m = /^:(\d+):(\d+)/.exec(line.slice(at + name.length));
    if (m !== null) return { line: Number(m[1]), column: Number(m[2]) };
  }
  return undefined;
}

class SandboxWorker {
  private readonly progress: Int32Array;
  private readonly fn: UserFunction;
  private readonly reducer: Reducer | undefined;
  /** The accumulator of a chunk whose next part is still to come (a reduce request with `more`). */
  private reduceAcc: { value: unknown } | undefined;

  constructor(
    private readonly port: MessagePort,
    private readonly data: SandboxWorkerData,
    private readonly shims: DeterminismShims,
    private readonly fence: TimerFence,
    mod: { fn: UserFunction; reducer: Reducer | undefined },
  ) {
    this.progress = new Int32Array(data.progress);
    this.fn = mod.fn;
    this.reducer = mod.reducer;
  }

  private post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
    // After an uncaught exception nothing more is sent: the parent is terminating the worker.
    if (!uncaught.faulted) this.port.postMessage(msg, transfer);
  }

  async handle(msg: ToWorker): Promise<void> {
    if (uncaught.faulted) return;
    if (msg.type === "run") await this.run(msg);
    else await this.reduce(msg);
  }

  /**
   * Runs the pulse's EUs in order. Results go to the parent in chunks of at most
   * PARTIAL_RESULTS_CHUNK results and PARTIAL_RESULTS_BYTES of record text (a larger record
   * alone) — `partial` messages, each with the buffers of its bytes outputs transferred — and
   * the rest with the final `pulse` message, so a crash loses at most the results of the chunk
   * in progress, and the worker holds at most one chunk of results besides the running EU. postMessage enqueues on the parent's side at once, so a
   * synchronous pulse still runs without yielding.
   */
  private async run(req: RunRequest): Promise<void> {
    const { seed, logicalTime } = this.data;
    const inputs = Array.isArray(req.inputs) ? req.inputs : (parseJson(req.inputs.json) as unknown[]);
    const n = inputs.length;
    if (n !== req.ids.length) throw new CairnError(ErrorCode.INTERNAL, `run request ${req.pulseId} has ${req.ids.length} ids and ${n} inputs`);
    let from = 0;
    const chunk = new ResultPacker();
    let transfer: ArrayBuffer[] = [];
    // One buffer for the whole request, sent with the final message (one allocation per pulse).
    const leaves = Buffer.from(new ArrayBuffer(n * LEAF_HASH_BYTES)); // its own ArrayBuffer: it is transferred
    const tree = new LeafHashTree();
    this.fence.cancelPending(); // timers armed while the worker was idle
    for (let i = 0; i < n; i++) {
      // An uncaught exception (during the previous EU's await) stops the request: no later EU
      // runs in a worker that is being terminated.
      if (uncaught.faulted) return;
      const eu: EUTask = { id: req.ids[i] as EuId, input: inputs[i] };
      Atomics.store(this.progress, 0, i + 1);
      uncaught.running = i;
      this.shims.reseed(() => deriveSeed(seed, canonicalText(eu.id)));
      const input = eu.input instanceof Uint8Array ? Buffer.from(eu.input.buffer, eu.input.byteOffset, eu.input.byteLength) : eu.input;
      const ctx: Readonly<EUContext> = Object.freeze({ id: eu.id, attempt: req.attempts[i] as number, seed, logicalTime });
      let out: unknown;
      let threw = false;
      try {
        out = this.fn(input, ctx);
        // Only async results pay for an await: a synchronous pulse runs without yielding.
        if (isThenable(out)) out = await out;
      } catch (err) {
        threw = true;
        out = err;
      }
      const mark = transfer.length;
      let result: EUResult | undefined = threw ? { id: eu.id, ok: false as const, error: describeThrown(out) } : encodeOutput(eu.id, out, transfer, this.data.maxOutputBytes);
      out = undefined; // (see the end of the loop)
      // The EU has settled (and describing its result, which may run its getters, is done):
      // the timers it left pending must not fire during the next EU.
      this.fence.cancelPending();
      let text: string | undefined = recordText(result);
      writeLeafHash(text, leaves, i * LEAF_HASH_BYTES);
      tree.add(leaves, i * LEAF_HASH_BYTES);
      if (chunk.bytes + text.length > PARTIAL_RESULTS_BYTES && chunk.length > 0) {
        // This record would take the chunk past its byte bound: the chunk goes first (without
        // this EU's transferred buffer), so a chunk of several records stays within the bound
        // and a large record travels alone (joining one text does not copy it).
        this.post({ type: "partial", pulseId: req.pulseId, from, results: chunk.take() }, transfer.slice(0, mark));
        from = i;
        transfer = transfer.slice(mark);
      }
      chunk.add(result, text);
      if ((chunk.length === PARTIAL_RESULTS_CHUNK || chunk.bytes >= PARTIAL_RESULTS_BYTES) && i + 1 < n) {
        this.post({ type: "partial", pulseId: req.pulseId, from, results: chunk.take() }, transfer);
        from = i + 1;
        transfer = [];
      }
      // This EU's output now lives only in its record text, held by the chunk until it is sent.
      // Without these stores (and `out`'s above) the loop's variables kept the last EU's output,
      // its JSON text and its record text alive while the next EU ran: 3 copies of an output besides the next
      // EU's (a 16 MiB output, the default limit, then exhausted the 64 MiB worker heap).
      result = undefined;
      text = undefined;
    }
    // The request's EUs have all settled: an uncaught exception from here on (a continuation
    // an EU left behind, run once this request's synchronous part returns) charges none of them.
    uncaught.running = -1;
    transfer.push(leaves.buffer);
    this.post({ type: "pulse", pulseId: req.pulseId, from, results: chunk.take(), leaves, root: tree.root() }, transfer);
  }

  private async reduce(req: ReduceRequest): Promise<void> {
    const reducer = this.reducer;
    if (reducer === undefined) throw new CairnError(ErrorCode.INTERNAL, "reduce requested but the module has no reduce export");
    const { seed } = this.data;
    const kept = this.reduceAcc;
    this.reduceAcc = undefined;
    if (req.acc === null && kept === undefined) throw new CairnError(ErrorCode.INTERNAL, "reduce continued without a kept accumulator");
    let acc: unknown = req.acc === null ? (kept as { value: unknown }).value : parseJson(req.acc);
    this.fence.cancelPending();
    for (let i = 0; i < req.items.length; i++) {
      if (uncaught.faulted) return;
      const item = req.items[i] as ReduceRequest["items"][number];
      Atomics.store(this.progress, 0, i + 1);
      uncaught.running = i;
      this.shims.reseed(() => deriveSeed(seed, "reduce", canonicalize(item.id)));
      const output = item.bytes ? Buffer.from(item.output.buffer, item.output.byteOffset, item.output.byteLength) : parseJson(item.json);
      try {
        let next = reducer(acc, output);
        if (isThenable(next)) next = await next;
        acc = next;
      } catch (err) {
        uncaught.running = -1;
        const error = describeThrown(err);
        this.fence.cancelPending();
        this.post({ type: "reduce-failed", reqId: req.reqId, index: i, error });
        return;
      }
      this.fence.cancelPending();
    }
    uncaught.running = -1;
    if (req.more) {
      // The chunk goes on in the next request: the accumulator stays as the last step left it.
      this.reduceAcc = { value: acc };
      this.post({ type: "reduced", reqId: req.reqId, acc: null });
      return;
    }
    let text: string;
    try {
      text = canonicalize(acc);
    } catch (err) {
      const error = describeEncodingFailure(err);
      // The accumulator the chunk's last step returned (chunks are cut by output position
      // only, so which EU that is does not depend on the config).
      const index = req.items.length - 1;
      this.post({ type: "reduce-failed", reqId: req.reqId, index, error: { ...error, message: truncate(`reduce accumulator is not canonical JSON after this step (checked at the end of each chunk of ${req.items.length > 1 || req.acc === null ? "outputs, so an earlier step of the chunk may have made it so" : "outputs"}): ${error.message}`) } });
      return;
    }
    this.post({ type: "reduced", reqId: req.reqId, acc: text });
  }
}

/** Validates an EU's return value into a result (canonical JSON text, or a private copy of the bytes). */
function encodeOutput(id: string | number, out: unknown, transfer: ArrayBuffer[], maxBytes: number | undefined): EUResult {
  if (out instanceof Uint8Array) {
    // The record carries the bytes in base64: 4 characters per 3 bytes.
    const size = Math.ceil(out.byteLength / 3) * 4;
    if (maxBytes !== undefined && size > maxBytes) return outputTooLarge(id, size, maxBytes, "its base64 record");
    const copy = new Uint8Array(out);
    transfer.push(copy.buffer);
    return { id, ok: true, bytes: true, output: copy };
  }
  // A string output is measured before it is encoded (its text would be a second copy: together
  // they could exhaust the heap before the check); a JSON text has at most 6 bytes per code unit.
  if (typeof out === "string" && maxBytes !== undefined && out.length * 6 + 2 > maxBytes) {
    const size = canonicalStringByteLength(out);
    if (size !== undefined && size > maxBytes) return outputTooLarge(id, size, maxBytes, "its JSON text");
  }
  try {
    const json = canonicalText(out);
    // UTF-8 bytes are at least the UTF-16 length and at most 3 times it: measure only between.
    if (maxBytes !== undefined && json.length * 3 > maxBytes) {
      const size = Buffer.byteLength(json, "utf8");
      if (size > maxBytes) return outputTooLarge(id, size, maxBytes, "its JSON text");
    }
    return { id, ok: true, bytes: false, json };
  } catch (err) {
    const error = describeEncodingFailure(err);
    if (error.code === CANONICAL) {
      return { id, ok: false, error: { ...error, message: truncate(`output is not canonical JSON: ${error.message}`) } };
    }
    return { id, ok: false, error };
  }
}

/** Unhandled rejections a worker reports on stderr before it only counts them. */
const MAX_REPORTED_REJECTIONS = 10;

/**
 * An unhandled promise rejection left behind by the function (a promise nobody awaits that
 * rejects) is reported on stderr and ignored, never a worker crash: Node would crash the worker
 * when the rejection is noticed, at the end of the current macrotask, which is after the EU
 * that made it (charging a later EU, or none) depending on timing and on the pulse layout. The
 * EU's own result (returned or awaited) is unaffected. Which EU made it is not known.
 */
function ignoreUnhandledRejections(): void {
  let seen = 0;
  process.on("unhandledRejection", (reason) => {
    seen++;
    if (seen > MAX_REPORTED_REJECTIONS) return;
    const more = seen === MAX_REPORTED_REJECTIONS ? ` (further ones in this worker are ignored silently)` : "";
    process.stderr.write(`cairn: an unhandled promise rejection in the function was ignored: ${truncate(messageOf(reason))}${more}\n`);
  });
}

/**
 * The worker's state as its `uncaughtException` listener sees it: `running` is the index in the
 * current request of the EU (or reduce step) that is running, -1 when none is; `faulted` is set
 * by the first uncaught exception, after which the worker posts nothing and starts no EU.
 */
const uncaught = { running: -1, faulted: false };


/**
 * An uncaught exception — a throwing timer, `process.nextTick` or I/O callback, or a microtask
 * nobody awaits (`queueMicrotask`, an unawaited `.then` or async function) — is reported to the
 * parent AT ONCE, with the index of the EU that is running (`uncaught.running`), and the worker
 * then posts nothing more and starts no further EU; the parent terminates it. Node's own handling
 * does not stop a worker's JavaScript: it reports the error, but the microtask queue keeps
 * draining (later EUs ran, and their results, even the request's final message, were posted)
 * until the termination lands, and the parent charged whichever EU was running then — so the same
 * run failed different EUs from run to run. The report is posted on the same port as the results,
 * so the parent has every result posted before the error and can drop everything after it.
 * (Blocking the thread here instead, with `Atomics.wait`, is worse: a termination that interrupts
 * this listener is lost, and a continuation that never yields then keeps the thread alive.)
 * A module that installs its own `uncaughtException` listener handles its errors itself, as in
 * Node: the worker goes on (this listener, the first, defers to any other).
 */
function reportUncaughtExceptions(port: MessagePort): void {
  process.on("uncaughtException", (err) => {
    if (uncaught.faulted || process.listenerCount("uncaughtException") > 1) return;
    uncaught.faulted = true;
    const msg: FromWorker = { type: "uncaught", eu: uncaught.running, error: describeUncaught(err) };
    port.postMessage(msg);
  });
}

/** ` (it exports a function "reducer": did you mean "reduce"?)` for the one export that looks like a misspelled `reduce`, else "". */
function reduceMisspelling(mod: Record<string, unknown>): string {
  const near = Object.keys(mod).filter((k) => k !== "reduce" && k !== "default" && typeof mod[k] === "function" && suggestKey(k, ["reduce"]) === "reduce");
  return near.length === 1 ? ` (it exports a function ${JSON.stringify(near[0])}: did you mean "reduce"?)` : "";
}

function outputTooLarge(id: string | number, size: number, maxBytes: number, what: string): EUResult {
  // The limit's rule and the --max-memory that admits this output, as the engine's record-limit error states them.
  const message = `output is ${size} bytes (${what}), more than the ${maxBytes}-byte limit of a record ${recordLimitExplanation(maxBytes, "outputs", size)}`;
  return { id, ok: false, error: { code: LIMIT_EXCEEDED, name: "Error", message } };
}

async function main(port: MessagePort, data: SandboxWorkerData): Promise<void> {
  const name = data.moduleName;
  const fatal = (message: string, at?: { line: number; column: number }): void => {
    const msg: FromWorker = { type: "fatal", error: { code: ErrorCode.INVALID_INPUT, message, ...(at === undefined ? {} : { at }) } };
    port.postMessage(msg);
  };

  // The module can import Cairn's own files (by file URL: in a build without the worker bundle,
  // the very modules this worker runs); it must not be able to change the codes they give.
  Object.freeze(ErrorCode);
  Object.freeze(SandboxCode);
  const shims = installDeterminismShims({ logicalTime: data.logicalTime, seed: () => deriveSeed(data.seed, "import") });
  const fence = installTimerFence();
  redirectStdoutFd();
  pinLocale();
  ignoreUnhandledRejections();
  reportUncaughtExceptions(port);

  let mod: Record<string, unknown>;
  try {
    mod = (await import(bundleUrl(data.code, data.digest))) as Record<string, unknown>;
  } catch (err) {
    fatal(`module ${name} threw at import: ${truncate(messageOf(err))}`, bundlePosition(err, data.digest));
    return;
  }
  // Timers armed by the module's top level (and by their own callbacks) are left alone;
  // from here on, timers are tracked and cancelled when the EU that armed them settles.
  fence.startTracking();

  const fn = mod.default;
  if (typeof fn !== "function") {
    fatal(`module ${name} has no default export function`);
    return;
  }
  let reducer: Reducer | undefined;
  let initial = "null";
  if ("reduce" in mod && mod.reduce !== undefined) {
    if (typeof mod.reduce !== "function") {
      fatal(`module ${name} exports "reduce" but it is not a function`);
      return;
    }
    reducer = mod.reduce as Reducer;
    if ("initial" in mod && mod.initial !== undefined) {
      try {
        initial = canonicalize(mod.initial);
      } catch (err) {
        fatal(`module ${name} exports an "initial" that is not canonical JSON: ${messageOf(err)}`);
        return;
      }
    }
  } else if ("initial" in mod && mod.initial !== undefined) {
    // An `initial` without `reduce` folded nothing and was ignored (a misspelled `reducer` too,
    // silently): refused, as the other export errors are (before 2026-11-28 the run completed).
    fatal(`module ${name} exports "initial" but no "reduce" function: export function reduce(acc, output) to fold the outputs, or remove "initial"${reduceMisspelling(mod)}`);
    return;
  }

  const worker = new SandboxWorker(port, data, shims, fence, { fn: fn as UserFunction, reducer });
  // Requests are served strictly one after another, even if the parent sent two.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (msg: ToWorker) => {
    queue = queue.then(() => worker.handle(msg));
  });
  const ready: FromWorker = reducer === undefined ? { type: "ready" } : { type: "ready", reducer: { initial } };
  port.postMessage(ready);
}

if (!isMainThread && parentPort !== null && isSandboxWorkerData(workerData)) {
  void main(parentPort, workerData);
}
