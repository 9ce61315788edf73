/**
 * Trace v0 (SEMANTICS A.11), extended with a logical sequence number and a hash chain.
 *
 * One event per line, compact serialisation (insertion order, ASCII-escaped), `\n`-terminated.
 * Events are buffered and written in batches: the writer's owner calls `flush()` before every
 * side effect (a CS call, a lane-bound step), again right after emitting that step's `CC_STEP`
 * event, and `close()` at the end of the run (also after an error). So no side effect starts
 * before every earlier event is on disk, and a crash of the process leaves on disk every event
 * up to the `CC_STEP` of the last side effect that completed. It loses at most the events emitted
 * after that line (pure CT steps, `CC_START`/`CC_COMPLETE`, the final event) and, when the crash
 * interrupts a side effect, that step's `CC_STEP` (ARCHITECTURE §11.7).
 *
 * A failed write (open, write) is a `CairnError` `E_STORE_IO` naming the trace file by the name
 * given to the writer (the runtimes give the workspace-relative path), details
 * `{reason: "trace_write", path, cause}`. The file is then truncated back to the end of the last
 * complete write (best effort) and closed, and every later `flush()`/`close()` is a no-op; the
 * runtimes let that error end the run by throwing it (no summary, no store record). Members, in
 * order:
 *
 *   trace_schema_version "v0" · trace_id · event_type · domain · wf_addr · cc_addr · step_addr ·
 *   step_op · result_status · detail · ts_ns · seq · prev
 *
 * Cairn's changes to the reference schema (all additive or logical):
 *  - `ts_ns` is a logical tick, equal to `seq` (the reference's monotonic nanoseconds are not
 *    reproducible); there is no wall-clock field anywhere;
 *  - `seq`: 0, 1, 2, … in write order;
 *  - `prev`: `null` on the first event, then the digest (`sha256:<hex>`) of the previous
 *    line's UTF-8 bytes without its `\n`. Changing, dropping, inserting or reordering a line
 *    breaks the chain at the next line (`verifyTraceChain`);
 *  - `CC_STEP.detail` gains `error` (the reason) when a CT step is a VIOLATION.
 * Texts (`CC_STEP.detail.error`, `ERROR.message`) are written as the runtime made them, never
 * rewritten: Cairn's own messages carry no absolute host path (files are named relative to the
 * data root, a configured path's data root as `{{module_data_root}}`: effects/confine.ts), and
 * payload, atom and data-file text is recorded verbatim (pgs/run.ts `runErrorMessage`).
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createHash, type Hash } from "node:crypto";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { writeAllSync, writeFileAtomicSync } from "../../store/fsutil.js";
import { sweepDeadWriterTemps, taggedTempWriter, tempFileName, type TempWriter } from "../../store/temp-files.js";
import { sha256, type Digest } from "../../core/digest.js";
import { asciiJsonString, compactJsonWithin } from "../py/json.js";
import type { PyObject, PyValue } from "./value.js";

export const TRACE_SCHEMA_VERSION = "v0";
export const TRACE_CHAIN_GENESIS = null;

/**
 * Largest trace a run writes, in bytes (every line and its `\n`): 64 MiB, a quarter of what
 * `examine` reads (`MAX_EXAMINE_TRACE_BYTES`) and of what a store `get` buffers
 * (`MAX_BUFFERED_GET_BYTES`, which `wf replay` reads the recorded trace with), so every trace
 * a run writes can be examined and replayed. See `TraceWriter` (the limit).
 */
export const MAX_TRACE_BYTES = 64 * 1024 * 1024;
/**
 * Bytes at the end of the trace limit that only an `ERROR` event may use: a run whose next
 * event does not fit before them still has room to end its trace with the `ERROR` of the limit
 * error (a few hundred bytes).
 */
export const TRACE_ERROR_RESERVE_BYTES = 16 * 1024;
/** `details.reason` of the `E_LIMIT_EXCEEDED` error of an event that does not fit the trace limit. */
export const TRACE_LIMIT_REASON = "trace_limit";

/** A trace's size limit (`TraceWriter`); the defaults are the named constants above. */
export interface TraceLimit {
  /** Largest trace in bytes (default and maximum `MAX_TRACE_BYTES`). */
  maxBytes: number;
  /**
   * Bytes at the end only an `ERROR` event may use (default `TRACE_ERROR_RESERVE_BYTES`, at most
   * half of `maxBytes`; less than `maxBytes`). `runPgsWorkflow` also requires at least
   * `MIN_TRACE_ERROR_RESERVE_BYTES` (run.ts): a smaller reserve may not hold the ERROR event.
   */
  errorReserveBytes: number;
}

/** The default limit, or `E_USAGE` when `limit` is not one (a safe integer reserve below a maximum of at most `MAX_TRACE_BYTES`). */
export function traceLimit(limit: Partial<TraceLimit> = {}): TraceLimit {
  const maxBytes = limit.maxBytes ?? MAX_TRACE_BYTES;
  const errorReserveBytes = limit.errorReserveBytes ?? Math.min(TRACE_ERROR_RESERVE_BYTES, Math.floor(maxBytes / 2));
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_TRACE_BYTES) {
    throw new CairnError(ErrorCode.USAGE, `trace limit maxBytes must be an integer in 1..${MAX_TRACE_BYTES} (MAX_TRACE_BYTES), got ${String(maxBytes)}`, { field: "maxBytes" });
  }
  if (!Number.isSafeInteger(errorReserveBytes) || errorReserveBytes < 0 || errorReserveBytes >= maxBytes) {
    throw new CairnError(ErrorCode.USAGE, `trace limit errorReserveBytes must be an integer in 0..${maxBytes - 1} (below maxBytes), got ${String(errorReserveBytes)}`, { field: "errorReserveBytes" });
  }
  return { maxBytes, errorReserveBytes };
}

/**
 * A step whose side effect was applied (a CS call, a lane-bound step) but whose `CC_STEP` did not
 * fit the trace limit (`TraceWriter.emitEffectStep`): the run's `ERROR` event records it instead,
 * as its `detail` member `UNTRACED_EFFECT_MEMBER` (`emitRunError`), so the chained trace still
 * says the effect happened. `op` is null for a lane-bound CT step.
 */
export interface UntracedEffect {
  /** The CC (node) FQDN. */
  cc: string;
  /** The step id. */
  step: string;
  op: string | null;
  /** The step's outcome (SUCCESS, ALREADY_EXISTS, BACKEND_ERROR, …). */
  status: string;
}
/** The `ERROR.detail` member naming an applied but untraced effect (`UntracedEffect`), only in a run that hit the trace limit there. */
export const UNTRACED_EFFECT_MEMBER = "untraced_effect";

/** The sentence a limit error's message gains for an applied but untraced effect. */
function untracedEffectText(e: UntracedEffect): string {
  return `the side effect of step ${e.step}${e.op === null ? "" : ` (${e.op})`} of ${e.cc} was applied (${e.status}) but its CC_STEP is not in the trace`;
}

/** True for the `E_LIMIT_EXCEEDED` error of an event that does not fit the trace limit. */
export function isTraceLimitError(err: unknown): err is CairnError {
  return err instanceof CairnError && err.code === ErrorCode.LIMIT_EXCEEDED && err.details.reason === TRACE_LIMIT_REASON;
}

export const TRACE_EVENT_TYPES = ["WF_START", "CC_START", "CC_STEP", "CC_COMPLETE", "WF_COMPLETE", "ERROR"] as const;
export type TraceEventType = (typeof TRACE_EVENT_TYPES)[number];

export interface TraceEventFields {
  ccAddr?: number | null;
  stepAddr?: number | null;
  stepOp?: string | null;
  resultStatus?: string | null;
  detail: PyObject;
}

/** A string member as `compactPy` writes it (ASCII-escaped). */
const jsonStr = asciiJsonString;

function strOrNull(s: string | null | undefined): string {
  return s === undefined || s === null ? "null" : jsonStr(s);
}

/**
 * An address as `compactPy` writes the Python int (`BigInt` refuses a non-integer, as before; a
 * safe integer's `String` is the same digits without the BigInt).
 */
function intOrNull(n: number | null | undefined): string {
  return n === undefined || n === null ? "null" : Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/** The `E_STORE_IO` error of a failed trace write (see the module comment); `name` names the trace file. */
export function traceWriteError(name: string, err: unknown): CairnError {
  const e = err as NodeJS.ErrnoException;
  // The errno code and system call only: Node's message would carry the absolute path.
  const cause = typeof e.code === "string" ? e.code : e instanceof Error ? e.message : String(err);
  const how = typeof e.syscall === "string" ? ` (${e.syscall})` : "";
  return new CairnError(ErrorCode.STORE_IO, `cannot write trace file ${name}: ${cause}${how}`, { reason: "trace_write", path: name, cause });
}

/**
 * Writes the run's `<trace_id>.md` summary into `dirAbs` (shown as `dirRel`); a failure is the
 * same `E_STORE_IO` trace-write error as for the `.jsonl`, naming the `.md`.
 */
export function writeTraceSummary(dirAbs: string, dirRel: string, traceId: string, summary: string, freshDir = false): void {
  try {
    // An earlier summary (a re-run of this trace id) is replaced whole (temp + rename, no
    // fsync): a re-run killed here leaves it as it was. A first summary is written in place: a
    // run killed here leaves a torn one beside its complete trace, which `cairn examine`
    // reports as incomplete (exit 1) and never uses as the chain's anchor — it checks that the
    // summary ends as a complete one does (examine/chain.ts `summaryIncomplete`), which also
    // catches a summary cut after the run. Chosen over temp + rename for every first summary,
    // which costs a temp file and a rename more per run (bench
    // `workflow.mjs --only ab` on tmpfs, a loaded 2-core machine: 150-400 µs more wall time
    // per run, 5-22%) and would still not catch a summary cut later.
    const file = join(dirAbs, `${traceId}.md`);
    if (freshDir || statSync(file, { throwIfNoEntry: false }) === undefined) writeFileSync(file, summary);
    else writeFileAtomicSync(file, summary, 0o644, false);
  } catch (err) {
    throw traceWriteError(`${dirRel}/${traceId}.md`, err);
  }
}

/** The prefix of the temp file a re-run writes its trace `file` to (`.<trace file's name>.`; store/temp-files.ts `tempFileName`). */
function traceTempPrefix(file: string): string {
  return `.${basename(file)}.`;
}

/** The trace file's extension; its siblings are `<trace_id>.<ext>` for each of TRACE_SIBLING_EXTS. */
const TRACE_FILE_EXT = ".jsonl";
/** The files written beside a trace by temp + rename (fsutil.ts `writeFileAtomicSync`): the summary and the pictures. */
const TRACE_SIBLING_EXTS = ["md", "svg", "png"] as const;

/**
 * Removes from the trace file's directory (that directory only) the temp files of killed
 * re-runs of the same trace id whose writer is provably gone — the shared rule of
 * store/temp-files.ts (`writerIsGone`, ARCHITECTURE §5.16): `.<id>.jsonl.<pid>-<space>-<hex>.tmp`
 * (the trace a re-run writes beside the earlier one) and `<id>.md|svg|png.<pid>-<space>-<hex>.tmp`
 * (the summary and pictures a re-run replaces). Left alone: a live writer's (this process's
 * included), another pid space's, the legacy pid-only names of older builds (never swept here
 * before; remove them by hand), anything but a regular file and every other name. Best effort.
 */
function sweepTraceTemps(file: string): void {
  const base = basename(file);
  const prefixes = [traceTempPrefix(file)];
  if (base.endsWith(TRACE_FILE_EXT)) {
    const stem = base.slice(0, -TRACE_FILE_EXT.length);
    for (const ext of TRACE_SIBLING_EXTS) prefixes.push(`${stem}.${ext}.`);
  }
  sweepDeadWriterTemps(dirname(file), (name): TempWriter | undefined => {
    for (const prefix of prefixes) {
      const w = taggedTempWriter(name, prefix);
      if (w !== undefined) return w;
    }
    return undefined;
  });
}

/**
 * Where events go. The writer keeps what the chain and the run need, not the trace: the next
 * `seq`, the last line's digest (`head`), a running SHA-256 of every byte emitted (`digest()`,
 * the run's trace digest) and the lines not flushed yet. The flushed bytes themselves are kept
 * only when `keepBytes` (the default, for library callers and tests; the runtimes ask for them
 * only when the run records to a store, whose `putBytes` takes the whole trace): then `bytes()`
 * and `lines` give them back; otherwise both throw `E_INTERNAL`.
 *
 * The limit (`TraceLimit`, default `MAX_TRACE_BYTES`): the writer counts the UTF-8 bytes of
 * every emitted line (flushed or not, with its `\n`). An event that would take the trace past
 * `maxBytes - errorReserveBytes` (an `ERROR` event: past `maxBytes`) is not written: `emit`
 * throws `E_LIMIT_EXCEEDED` (`details.reason` `TRACE_LIMIT_REASON`, `limit`, `path`, `seq`,
 * `event`, `written`) and nothing of the event is kept (no partial line, no `seq` or chain
 * step), and from then on only an `ERROR` event is accepted: the run ends its trace with the
 * `ERROR` of that error (`emitRunError`), in the reserved bytes. A line's `detail` is encoded
 * within the bytes left (`compactJsonWithin`), so neither a line nor the unflushed lines
 * (`pending`) grow past the limit first. A trace under the limit is byte for byte what it was
 * without one.
 */
export class TraceWriter {
  private fd: number | undefined;
  /** Emitted lines (each with its `\n`) not flushed yet. */
  private pending = "";
  /** Bytes written to the file by complete flushes. */
  private written = 0;
  /** SHA-256 over every flushed byte, in order (`digest()` adds what is pending). */
  private readonly hash: Hash = createHash("sha256");
  /** The buffers of the complete flushes, in order, when `keepBytes`; else undefined. */
  private readonly chunks: Buffer[] | undefined;
  /** The error of the write that failed, once one did (nothing more is written then). */
  private failed: CairnError | undefined;
  /** How errors name the file. */
  private readonly name: string;
  private seq = 0;
  private prev: Digest | null = TRACE_CHAIN_GENESIS;
  /** Bytes of every emitted line (flushed or pending, each with its `\n`). */
  private size = 0;
  private readonly limit: TraceLimit;
  /** Set once an event did not fit the limit: from then on only an `ERROR` event is accepted. */
  private overLimit = false;
  /** `{"trace_schema_version":"v0","trace_id":<id>,"event_type":` — constant per trace. */
  private readonly head0: string;
  private readonly domainJson: string;
  private readonly wfAddrJson: string;

  constructor(
    readonly traceId: string,
    readonly domain: string,
    readonly wfAddr: number | null,
    file: string | undefined,
    /** The file's name in error messages (default: `file`); the runtimes pass the workspace-relative path. */
    name?: string,
    /** The file's directory was made for this run: no earlier trace can be there (no stat). */
    freshDir = false,
    /** Keep the emitted bytes for `bytes()` / `lines` (see the class comment). */
    keepBytes = true,
    /** The trace's size limit (see the class comment; `traceLimit` checks it, `E_USAGE`). */
    limit: Partial<TraceLimit> = {},
  ) {
    this.limit = traceLimit(limit);
    this.chunks = keepBytes ? [] : undefined;
    this.head0 = `{"trace_schema_version":${jsonStr(TRACE_SCHEMA_VERSION)},"trace_id":${jsonStr(traceId)},"event_type":`;
    this.domainJson = jsonStr(domain);
    this.wfAddrJson = intOrNull(wfAddr);
    this.name = name ?? file ?? "";
    if (file !== undefined) {
      // The same trace id means the same run (snapshot, payload, prior state), so a trace already
      // there is this run's, complete or cut short by a killed process. A first run writes in
      // place (a run killed part-way leaves its events up to the last flush); a re-run over a
      // regular file writes beside it and renames over it at close, so a re-run killed part-way
      // leaves the earlier trace as it was. (Anything else at the path is opened as before.)
      // A directory already there may hold the temp files of killed re-runs: swept first.
      if (!freshDir) sweepTraceTemps(file);
      const earlier = !freshDir && statSync(file, { throwIfNoEntry: false })?.isFile() === true;
      // A fresh, exclusively created name: never follows a symlink planted at the temp path.
      const target = earlier ? join(dirname(file), tempFileName(traceTempPrefix(file))) : file;
      if (target !== file) this.replacing = { tmp: target, final: file };
      try {
        this.fd = openSync(target, target === file ? "w" : "wx");
      } catch (err) {
        this.replacing = undefined;
        this.failed = traceWriteError(this.name, err);
        throw this.failed;
      }
    }
  }

  /**
   * Set while the writer replaces a trace file already there (a re-run of one trace id): it
   * writes to `tmp` and renames it over `final` at close. A failed re-run leaves the earlier
   * trace, and so its summary, in place.
   */
  replacing: { tmp: string; final: string } | undefined;

  /** The error of the trace write that failed, or undefined while every write succeeded. */
  get failure(): CairnError | undefined {
    return this.failed;
  }

  emit(type: TraceEventType, f: TraceEventFields): void {
    // The line is assembled directly instead of through a Map of the 13 members: the same
    // bytes as `compactPy` of that Map (members in the order of the module comment), without
    // building it. `detail` goes through `compactJsonWithin` (`compactPy` within the bytes left).
    const seq = String(this.seq);
    const head =
      `${this.head0}${jsonStr(type)},"domain":${this.domainJson},"wf_addr":${this.wfAddrJson}` +
      `,"cc_addr":${intOrNull(f.ccAddr)},"step_addr":${intOrNull(f.stepAddr)}` +
      `,"step_op":${strOrNull(f.stepOp)},"result_status":${strOrNull(f.resultStatus)},"detail":`;
    const tail = `,"ts_ns":${seq},"seq":${seq},"prev":${this.prev === null ? "null" : `"${this.prev}"`}}`;
    // The bytes this line may take, its `\n` included (only an ERROR event may use the reserve).
    if (this.overLimit && type !== "ERROR") throw this.limitError(type);
    const room = (type === "ERROR" ? this.limit.maxBytes : this.limit.maxBytes - this.limit.errorReserveBytes) - this.size;
    // `head` and `tail` are ASCII (every string member is ASCII-escaped): their length is their byte count.
    const budget = room - head.length - tail.length - 1;
    const detail = budget < 0 ? undefined : compactJsonWithin(f.detail, budget);
    if (detail === undefined) throw this.limitError(type);
    const line = `${head}${detail}${tail}`;
    // The whole line is ASCII (`head`, `tail` and the compact `detail` escape every other
    // character), so its length is its UTF-8 byte count; `flush` checks the sum.
    const bytes = line.length + 1;
    if (bytes > room) throw this.limitError(type);
    this.size += bytes;
    // After a failed write nothing more is written or counted into the digest (the run ends with that error).
    if (this.failed === undefined) this.pending += `${line}\n`;
    this.prev = sha256(line); // `sha256:` + hex: its own JSON body (written as-is on the next line)
    this.seq++;
  }

  /**
   * `emit("CC_STEP", f)` for a step whose side effect was applied (`effect`). When the event does
   * not fit the limit, the limit error also names the effect — its message and
   * `details.untracedEffect` — and `emitRunError` records it in the run's `ERROR` event (in the
   * reserved bytes), so the chained trace says the effect happened. Under the limit it writes
   * exactly what `emit` writes.
   */
  emitEffectStep(f: TraceEventFields, effect: UntracedEffect): void {
    try {
      this.emit("CC_STEP", f);
    } catch (err) {
      if (!isTraceLimitError(err)) throw err;
      throw new CairnError(err.code, `${err.message}: ${untracedEffectText(effect)}`, { ...err.details, untracedEffect: { ...effect } });
    }
  }

  /** The `E_LIMIT_EXCEEDED` error of an event of `type` that does not fit (see the class comment); only an ERROR may follow. */
  private limitError(type: TraceEventType): CairnError {
    this.overLimit = true;
    const { maxBytes, errorReserveBytes } = this.limit;
    const left = Math.max(0, (type === "ERROR" ? maxBytes : maxBytes - errorReserveBytes) - this.size);
    const reserve = type === "ERROR" ? "" : ` before the ${errorReserveBytes} bytes kept for the run's ERROR event`;
    return new CairnError(
      ErrorCode.LIMIT_EXCEEDED,
      `trace ${this.name === "" ? `of run ${this.traceId}` : this.name} would exceed its size limit of ${maxBytes} bytes (MAX_TRACE_BYTES): event ${this.seq} (${type}) does not fit in the ${left} bytes left${reserve} (${this.size} bytes written)`,
      { reason: TRACE_LIMIT_REASON, limit: maxBytes, path: this.name, seq: this.seq, event: type, written: this.size },
    );
  }

  /** Bytes of the lines emitted so far (flushed or not): the trace file's size once the run closed it. */
  get byteLength(): number {
    return this.size;
  }

  /** Digest of the last line (the chain head), or null when empty. */
  get head(): Digest | null {
    return this.prev;
  }

  /** How many events were emitted. */
  get events(): number {
    return this.seq;
  }

  /**
   * SHA-256 of the whole trace's bytes (every emitted line and its `\n`, flushed or not): the
   * trace file's digest once the run closed it.
   */
  digest(): Digest {
    const h = this.hash.copy();
    if (this.pending !== "") h.update(this.pending, "utf8");
    return `sha256:${h.digest("hex")}`;
  }

  /**
   * The whole trace's bytes (every emitted line and its `\n`, flushed or not: the file's bytes
   * once closed). Only with `keepBytes`; `E_INTERNAL` otherwise.
   */
  bytes(): Buffer {
    const chunks = this.keptChunks("bytes()");
    return this.pending === "" ? Buffer.concat(chunks) : Buffer.concat([...chunks, Buffer.from(this.pending, "utf8")]);
  }

  /** The emitted lines (without their `\n`), decoded from `bytes()` on each call. Only with `keepBytes`; `E_INTERNAL` otherwise. */
  get lines(): string[] {
    const text = this.bytes().toString("utf8");
    return text === "" ? [] : text.slice(0, -1).split("\n");
  }

  private keptChunks(what: string): Buffer[] {
    if (this.chunks === undefined) {
      throw new CairnError(ErrorCode.INTERNAL, `TraceWriter.${what}: the trace's bytes were not kept (constructed with keepBytes false)`, { traceId: this.traceId });
    }
    return this.chunks;
  }

  /**
   * Writes the buffered events (one `write` loop). Called before and right after every side
   * effect and by `close()`. A failed write truncates the file back to the end of the last
   * complete flush (best effort), closes it (nothing more is written to it) and throws the
   * `E_STORE_IO` error of the module comment.
   */
  flush(): void {
    if (this.pending === "" || this.failed !== undefined) return;
    const buf = Buffer.from(this.pending, "utf8");
    // Each line was counted as ASCII (`emit`): a line that was not would have miscounted the limit.
    if (buf.length !== this.pending.length) {
      throw new CairnError(ErrorCode.INTERNAL, `trace ${this.name === "" ? `of run ${this.traceId}` : this.name}: an event line is not ASCII`, { traceId: this.traceId });
    }
    this.pending = "";
    if (this.fd !== undefined) this.writeOut(this.fd, buf);
    this.hash.update(buf);
    this.chunks?.push(buf);
  }

  /** One `write` loop of `buf` to the file (see `flush`). */
  private writeOut(fd: number, buf: Buffer): void {
    try {
      writeAllSync(fd, buf);
    } catch (err) {
      this.failed = traceWriteError(this.name, err);
      try {
        ftruncateSync(fd, this.written);
      } catch {
        // best effort: a torn last line fails the chain check (verifyTraceChain)
      }
      try {
        this.closeFile();
      } catch {
        // the write error is the one reported
      }
      this.dropReplacement();
      throw this.failed;
    }
    this.written += buf.length;
  }

  /**
   * Writes what is buffered and closes the file (a replacement is renamed over the earlier
   * trace); throws the `E_STORE_IO` error when any of it fails.
   */
  close(): void {
    this.flush();
    try {
      this.closeFile();
      // (after a failed write the replacement was dropped: the earlier trace stays)
      if (this.replacing !== undefined && this.failed === undefined) renameSync(this.replacing.tmp, this.replacing.final);
    } catch (err) {
      this.failed = traceWriteError(this.name, err);
      this.dropReplacement();
      throw this.failed;
    }
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  /**
   * Ends a run that did not finish (its generator was abandoned part-way): what is buffered is
   * written and the file closed, as by `close()`, but a replacement is dropped, never renamed
   * over the earlier complete trace. Never throws (the caller is already unwinding).
   */
  abandon(): void {
    try {
      this.flush();
    } catch {
      // the failure is recorded; the replacement is dropped below either way
    }
    try {
      this.closeFile();
    } catch {
      // best effort
    }
    this.dropReplacement();
  }

  /** After a failure: the replacement's temp file is removed (best effort); the earlier trace stays. */
  private dropReplacement(): void {
    if (this.replacing === undefined) return;
    try {
      unlinkSync(this.replacing.tmp);
    } catch {
      // best effort: a dot-named temp file, which no reader takes for a trace
    }
  }
}

/**
 * Ends a run's trace with its `ERROR` event: `detailOf(err)` for the error `err` the run ended
 * with. When that event does not fit the trace limit (a long message near the end of the
 * limit), the run ends with the limit error instead — `E_LIMIT_EXCEEDED`, its message naming
 * `err`'s code, `details.runError` that code — whose `ERROR` event fits in the reserved bytes.
 * When `err` is the limit error of the `CC_STEP` of a step whose side effect was applied
 * (`TraceWriter.emitEffectStep`), the `ERROR` event's detail also gets the member
 * `UNTRACED_EFFECT_MEMBER` `{cc, step, op, status}` (after `detailOf`'s members): the chained
 * trace records the effect even though its `CC_STEP` did not fit. Runs that do not hit the limit
 * there write exactly what they wrote before.
 * Returns the error the run ended with (`err`, or that limit error); any other failure of
 * `emit` is thrown, and so is the limit error when even its event does not fit.
 */
export function emitRunError(trace: TraceWriter, err: unknown, detailOf: (err: unknown) => PyObject): unknown {
  const effect = untracedEffectOf(err);
  const detail = (e: unknown): PyObject => {
    const d = detailOf(e);
    if (effect !== undefined) d.set(UNTRACED_EFFECT_MEMBER, new Map<string, PyValue>([["cc", effect.cc], ["step", effect.step], ["op", effect.op], ["status", effect.status]]));
    return d;
  };
  try {
    trace.emit("ERROR", { detail: detail(err) });
    return err;
  } catch (limit) {
    if (!isTraceLimitError(limit) || limit.details.event !== "ERROR") throw limit;
    const code = isCairnError(err) ? err.code : ErrorCode.INTERNAL; // another copy's too, as cairn/run.ts records it
    // The effect goes in as the detail member only (the reserve must hold this event): its
    // sentence is in `err`'s message, which this event replaces.
    const ended = new CairnError(ErrorCode.LIMIT_EXCEEDED, `${limit.message}: the ERROR event of the run's ${code} error (not recorded in the trace)`, { ...limit.details, runError: code, ...(effect === undefined ? {} : { untracedEffect: { ...effect } }) }, { cause: err });
    trace.emit("ERROR", { detail: detail(ended) });
    return ended;
  }
}

/** The applied but untraced effect a trace-limit error names (`TraceWriter.emitEffectStep`), if any. */
function untracedEffectOf(err: unknown): UntracedEffect | undefined {
  if (!isTraceLimitError(err)) return undefined;
  const e = err.details.untracedEffect as Partial<UntracedEffect> | undefined;
  if (e === undefined || e === null || typeof e !== "object") return undefined;
  if (typeof e.cc !== "string" || typeof e.step !== "string" || typeof e.status !== "string" || (e.op !== null && typeof e.op !== "string")) return undefined;
  return { cc: e.cc, step: e.step, op: e.op, status: e.status };
}

export interface TraceChainReport {
  ok: boolean;
  events: number;
  /** Digest of the last line when the chain verifies. */
  head: Digest | null;
  /** The first problem: 1-based line number and what is wrong. */
  problem?: { line: number; reason: string };
}

/** Verifies seq numbering and the hash chain of trace text. */
export function verifyTraceChainText(text: string): TraceChainReport {
  if (text.length > 0 && !text.endsWith("\n")) return { ok: false, events: 0, head: null, problem: { line: text.split("\n").length, reason: "last line is not newline-terminated (torn write?)" } };
  const lines = text.length === 0 ? [] : text.slice(0, -1).split("\n");
  let prev: Digest | null = TRACE_CHAIN_GENESIS;
  let traceId: unknown;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fail = (reason: string): TraceChainReport => ({ ok: false, events: lines.length, head: null, problem: { line: i + 1, reason } });
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return fail("not valid JSON");
    }
    if (ev === null || typeof ev !== "object" || Array.isArray(ev)) return fail("not a JSON object");
    if (ev.seq !== i) return fail(`seq is ${JSON.stringify(ev.seq)}, expected ${i}`);
    if (ev.prev !== prev) return fail(`prev is ${JSON.stringify(ev.prev)}, expected ${JSON.stringify(prev)} (the chain is broken here: this line or the one before was changed, dropped or moved)`);
    if (i === 0) traceId = ev.trace_id;
    else if (ev.trace_id !== traceId) return fail(`trace_id ${JSON.stringify(ev.trace_id)} differs from the first line's`);
    prev = sha256(line);
  }
  return { ok: true, events: lines.length, head: prev };
}

/** The chain head a `<trace_id>.md` summary records, if any. */
export function summaryChainHead(summaryText: string): Digest | undefined {
  const m = SUMMARY_HEAD_RE.exec(summaryText);
  return m === null ? undefined : (m[1] as Digest);
}
const SUMMARY_HEAD_RE = /chain head `(sha256:[0-9a-f]{64})`/;

/**
 * Verifies a trace file (`<trace_id>.jsonl`): seq numbering, the hash chain, and the chain
 * head. The last line has no successor to vouch for it, so the head is compared with
 * `expectedHead` when given, else with the head recorded in the sibling `<trace_id>.md` when
 * that exists (the store's trace artifact digest is the stronger anchor).
 */
export function verifyTraceChain(path: string, opts: { expectedHead?: Digest } = {}): TraceChainReport {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CairnError(ErrorCode.NOT_FOUND, `cannot read trace ${path}: ${(err as Error).message}`, { path });
  }
  const report = verifyTraceChainText(text);
  if (!report.ok) return report;
  let expected = opts.expectedHead;
  if (expected === undefined && path.endsWith(".jsonl")) {
    const md = `${path.slice(0, -".jsonl".length)}.md`;
    if (existsSync(md)) expected = summaryChainHead(readFileSync(md, "utf8"));
  }
  if (expected !== undefined && expected !== report.head) {
    return { ok: false, events: report.events, head: null, problem: { line: report.events, reason: `chain head ${String(report.head)} differs from the recorded ${expected} (the last line was changed or lines were dropped at the end)` } };
  }
  return report;
}
