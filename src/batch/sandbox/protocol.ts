/**
 * The messages exchanged between a `WorkerPool` (main thread) and a sandbox worker
 * (`worker.ts`), and the result types the pool hands to the batch engine.
 *
 * Results carry canonical JSON *text*, not values: the worker canonicalizes each output
 * (which also validates it), the text is cheap to send across threads, and the engine can
 * hash or embed it without parsing and re-encoding it on the main thread.
 */

/**
 * During a pulse the worker sends the results of completed EUs in chunks: a `partial` message
 * after every PARTIAL_RESULTS_CHUNK EUs, or earlier when the chunk's record texts reach
 * PARTIAL_RESULTS_BYTES; the rest with the final `pulse` message. If the worker dies mid-pulse
 * the pool still knows the results of every EU in the chunks it received, so a re-execution can
 * be checked against them (see pulse.ts). One message per chunk, not per EU, keeps the per-EU
 * cost a comparison and an array push.
 */
export const PARTIAL_RESULTS_CHUNK = 64;
/**
 * The most record text (UTF-16 code units, = bytes for the usual one-byte strings) a chunk of
 * several results holds: before a record would take the chunk past it, the chunk is sent
 * without it, and a chunk that reaches it is sent at once, so a record larger than this travels
 * alone. The worker holds the chunk's texts until it sends them, and a packed chunk is joined
 * into one more string of that size; without this bound, 64 outputs of 700 KB held ~90 MB in a
 * 64 MiB worker heap, and Node's out-of-memory containment of a worker is best-effort (it gives
 * the heap 16 MiB of grace, then V8 aborts the whole process). Cut points depend only on the
 * record texts, so they are the same on every run of the same pulse.
 */
export const PARTIAL_RESULTS_BYTES = 1024 * 1024;

/** An EU id: a 0-based record index or an `--id-field` value (string or safe integer). */
export type EuId = string | number;

/** One EU as handed to a worker. Buffers arrive in the worker as Uint8Array and are passed on as Buffer. */
export interface EUTask {
  id: EuId;
  input: unknown;
  /**
   * The input's canonical JSON text, when the caller has it. If every EU of a request has
   * one, the request carries them as one JSON array text instead of cloning each value, and
   * the function receives `JSON.parse` of it: the same value a replay from the stored slice
   * gets (the value `JSON.parse` makes of the canonical text: -0 as 0, keys in canonical order
   * except that JavaScript puts integer-like keys first).
   */
  inputJson?: string;
}

/** Why an EU failed (or a pulse crashed). `name` is the thrown error's name ("Error", "TypeError"…). */
export interface EUError {
  code: string;
  message: string;
  name: string;
}

/** A completed EU whose output is JSON: `json` is its RFC 8785 canonical text. */
export interface EUJsonOutput {
  id: EuId;
  ok: true;
  bytes: false;
  json: string;
  /** Its record text, when the pool decoded it from a packed reply (see PackedResults). */
  text?: string;
}

/** A completed EU whose function returned a Buffer / Uint8Array (a private copy). */
export interface EUBytesOutput {
  id: EuId;
  ok: true;
  bytes: true;
  output: Uint8Array;
}

export interface EUFailure {
  id: EuId;
  ok: false;
  error: EUError;
  /** Its record text, when the pool decoded it from a packed reply (see PackedResults). */
  text?: string;
}

export type EUResult = EUJsonOutput | EUBytesOutput | EUFailure;

/**
 * A chunk of results as the worker sends it when none is a bytes output: the EU record texts
 * it made anyway (to hash them), joined by "\n" (canonical JSON has no raw newline), and the
 * failures' errors by position. One string clones far cheaper than an object per EU, and the
 * pool gets the record texts without rebuilding them (`wire.ts`).
 */
export interface PackedResults {
  texts: string;
  errors: Array<{ at: number; error: EUError }>;
}

/** A chunk of results on the wire: objects (any bytes output) or packed. */
export type WireResults = EUResult[] | PackedResults;

/** A completed EU output, as fed to `reduce`. */
export type ReduceItem = EUJsonOutput | EUBytesOutput | Omit<EUJsonOutput, "ok"> | Omit<EUBytesOutput, "ok">;

/**
 * Codes the sandbox puts in EU failures and crashed pulses. A thrown value is always E_EU_THREW
 * (its `code` is never taken); the worker also gives E_CANONICAL and E_LIMIT_EXCEEDED, the pool
 * alone E_EU_TIMEOUT and E_WORKER_CRASHED.
 */
export const SandboxCode = {
  /** The function threw (or rejected) with something that is not a Cairn error. */
  EU_THREW: "E_EU_THREW",
  /** An EU did not settle within the pool's `euTimeoutMs`; its worker was terminated. */
  EU_TIMEOUT: "E_EU_TIMEOUT",
  /** The worker died: process.exit, an uncaught error, out of memory, or failure to start. */
  WORKER_CRASHED: "E_WORKER_CRASHED",
} as const;

export type CrashCode = typeof SandboxCode.EU_TIMEOUT | typeof SandboxCode.WORKER_CRASHED;

/** How stack traces name the bundle (its `sourceURL`): short, and the same on every machine. */
export function bundleName(digest: string): string {
  return `cairn-bundle/${digest.replace(/^sha256:/, "").slice(0, 16)}.mjs`;
}

/** What the worker receives in `workerData`. */
export interface SandboxWorkerData {
  /** Marks the data as ours, so importing worker.js anywhere else does nothing. */
  cairnSandbox: 1;
  /** The bundle text (ESM, self-contained; only `node:` builtins are imported). */
  code: string;
  /** sha256 of `code`; names the module in stack traces (`cairn-bundle/<hex16>.mjs`). */
  digest: string;
  /** The run seed. */
  seed: string;
  /** Milliseconds since the epoch that Date, Date.now() and performance.timeOrigin report. */
  logicalTime: number;
  /** How error messages name the module ("module <name> has no default export function"). */
  moduleName: string;
  /**
   * The largest output record, in bytes (its JSON text, or the base64 record of a bytes
   * output); a larger output fails its EU with E_LIMIT_EXCEEDED. Absent: no limit.
   */
  maxOutputBytes?: number;
  /**
   * Int32Array(1) over this buffer: the worker stores `index + 1` when it starts the EU (or
   * reduce step) at `index` of the current request; the parent resets it to 0 before each
   * request. Lets the parent enforce per-EU timeouts and name the EU a crash interrupted
   * without a message per EU.
   */
  progress: SharedArrayBuffer;
}

export interface RunRequest {
  type: "run";
  pulseId: number;
  /**
   * The EUs as two parallel lists (no object per EU to clone): their ids (a Float64Array
   * when every id is a number) and their inputs.
   */
  ids: EuId[] | Float64Array;
  /** The inputs as values, or (`{ json }`) as one canonical JSON array text. */
  inputs: unknown[] | { json: string };
  /** ctx.attempt for each EU, in order. */
  attempts: Float64Array;
}

export interface ReduceRequest {
  type: "reduce";
  reqId: number;
  /**
   * The accumulator's canonical JSON text, or null to go on with the accumulator the worker
   * kept from the previous request (which had `more`).
   */
  acc: string | null;
  items: ReduceItem[];
  /**
   * The chunk continues in the next request (one chunk of REDUCE_CHUNK_SIZE outputs is sent
   * in parts of about REDUCE_PART_BYTES): keep the accumulator as it is, do not canonicalise
   * it, and answer `reduced` with `acc: null`.
   */
  more: boolean;
}

export type ToWorker = RunRequest | ReduceRequest;

export interface ReadyMessage {
  type: "ready";
  /** Present when the module exports a `reduce` function. */
  reducer?: { initial: string };
}

export interface FatalMessage {
  type: "fatal";
  /**
   * `at`: the 1-based line and column in the bundle of the innermost stack frame that is
   * bundle code, when the module threw at import with a stack (the parent maps it to the
   * source file through the bundle's source map, when it has one).
   */
  error: { code: string; message: string; at?: { line: number; column: number } };
}

/**
 * The results of EUs `from` .. `from + results.length - 1` of a running pulse (at most
 * PARTIAL_RESULTS_CHUNK of them, fewer when cut by PARTIAL_RESULTS_BYTES; in order). Sent only
 * while more EUs follow; chunks arrive in order and without gaps.
 */
export interface PulsePartialMessage {
  type: "partial";
  pulseId: number;
  from: number;
  results: WireResults;
}

/** The end of a pulse: the results of EUs `from` .. the last (those not sent in `partial` chunks). */
export interface PulseDoneMessage {
  type: "pulse";
  pulseId: number;
  from: number;
  results: WireResults;
  /** The Merkle leaf hashes of the WHOLE request's results (every chunk), 32 bytes each, in order (see ../leaves.ts). */
  leaves: Uint8Array;
  /** Their Merkle root, as a digest. */
  root: string;
}

export interface ReducedMessage {
  type: "reduced";
  reqId: number;
  /** The accumulator's canonical JSON text at the end of a chunk; null after a part with `more`. */
  acc: string | null;
}

export interface ReduceFailedMessage {
  type: "reduce-failed";
  reqId: number;
  /** Index in the request's items of the step that threw, or of the last step when the chunk's final accumulator was not canonical JSON (-1: no step to name). */
  index: number;
  error: EUError;
}

/**
 * An uncaught exception in the worker (a throwing timer, `process.nextTick` or I/O callback, or
 * a microtask nobody awaits), posted by the worker's own `uncaughtException` listener at the
 * moment it is thrown, after every result the worker posted before and before anything it would
 * post after (which the parent ignores: it terminates the worker). `eu`: the index in the
 * current request of the EU (or reduce step) that was running, -1 when none was (before the
 * first EU, after the request's last one settled, between requests, during the import).
 */
export interface UncaughtMessage {
  type: "uncaught";
  eu: number;
  /** "Name: message" of a thrown Error, "value: String(v)" of anything else (well-formed). */
  error: string;
}

export type FromWorker = ReadyMessage | FatalMessage | PulsePartialMessage | PulseDoneMessage | ReducedMessage | ReduceFailedMessage | UncaughtMessage;
