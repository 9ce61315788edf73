/**
 * Line-oriented formats: `lines` (each line a string) and `jsonl` (each non-blank line one
 * JSON value). Lines end with LF or CRLF; a final line without a terminator counts, the empty
 * "line" after a final terminator does not. A lone CR is data, and so is a CR at the very end
 * of an unterminated last line; only a CR right before an LF is part of the terminator.
 */
import { isUtf8 } from "node:buffer";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { canonicalLineSize } from "./canonical-line.js";
import { duplicateKeyMessage, idFromJsonRecord, recordError, recordPlace } from "./ids.js";
import { jsonParseMessage } from "./json-error.js";
import { duplicateJsonKey } from "../../core/json-keys.js";
import type { ReadAccounting } from "./source.js";
import type { EURecord, EUId } from "./types.js";
import { firstInvalidUtf8Line, nthLfEnd } from "./utf8.js";

const LF = 0x0a;
/** Batch readers yield at most this many records at a time (parsed records stay few and young). */
export const READ_BATCH_RECORDS = 1024;
const CR = 0x0d;

/** One line (terminator removed) and its 1-based line number. */
export interface SplitLine {
  text: string;
  line: number;
}

/** A held-back error of the splitter: its kind and the line it is on. */
interface SplitFailure {
  kind: "utf8" | "size";
  line: number;
}

/**
 * Splits a byte stream into UTF-8 lines, holding at most one partial line plus one chunk.
 * Each run of whole lines in a chunk is validated and decoded at once, then cut on '\n'.
 * A line longer than `maxLineBytes` bytes (terminator excluded) is E_LIMIT_EXCEEDED; invalid
 * UTF-8 is E_INVALID_INPUT; both name the line and the record index (given to check()).
 *
 * A line that is both too long and not UTF-8 is the size error whatever the chunking: a
 * partial line is refused as soon as it exceeds the limit, before its bytes are validated, so
 * a whole line with invalid UTF-8 is measured before it is reported as invalid (emit).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partLen = 0;
  /** Lines emitted so far (the next line's number is this + 1). */
  private lines = 0;
  /** The error met so far; raised by check() once the lines before it are consumed. */
  private failure: SplitFailure | undefined;
  /** Any other error met (not expected: the splitter's own errors are `failure`). */
  private other: unknown;

  constructor(
    private readonly maxLineBytes: number,
    private readonly display: string,
  ) {}

  /**
   * Appends the complete lines found in `chunk` to `out`. An error is held back until
   * check(), so the lines before it are still delivered first and the error a reader reports
   * never depends on how the input was chunked.
   */
  push(chunk: Buffer, out: SplitLine[]): void {
    if (this.failed()) return;
    try {
      this.split(chunk, out);
    } catch (err) {
      this.hold(err);
    }
  }

  /** Appends the final unterminated line, if any, to `out`. */
  end(out: SplitLine[]): void {
    if (this.failed() || this.partLen === 0) return;
    const rest = Buffer.concat(this.parts, this.partLen);
    this.parts = [];
    this.partLen = 0;
    try {
      this.emit(rest, out);
    } catch (err) {
      this.hold(err);
    }
  }

  /**
   * Throws the held-back error, if any. `recordIndex`: the index of the record the failing
   * line would be (lines: the lines before it; jsonl: the records before it, blank lines not
   * counted), named in the message as in the reader's other errors (`file:line: record N: …`).
   */
  check(recordIndex: number): void {
    if (this.other !== undefined) throw this.other;
    const f = this.failure;
    if (f === undefined) return;
    const at = recordPlace(this.display, f.line, recordIndex, "record");
    const details: Record<string, unknown> = { file: this.display, line: f.line, index: recordIndex };
    if (f.kind === "utf8") throw new CairnError(ErrorCode.INVALID_INPUT, `${at}: invalid UTF-8`, details);
    throw lineTooLongError(this.display, f.line, recordIndex, this.maxLineBytes);
  }

  private failed(): boolean {
    return this.failure !== undefined || this.other !== undefined;
  }

  private hold(err: unknown): void {
    if (err instanceof LineFailure) this.failure = err.failure;
    else this.other = err;
  }

  private split(chunk: Buffer, out: SplitLine[]): void {
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf === -1) {
      this.parts.push(chunk);
      this.partLen += chunk.length;
      // +1: the line may still end with CR LF, and the CR is not content.
      if (this.partLen > this.maxLineBytes + 1) throw this.tooLong(this.lines + 1);
      return;
    }
    const head = chunk.subarray(0, lastLf + 1);
    const region = this.partLen === 0 ? head : Buffer.concat([...this.parts, head], this.partLen + head.length);
    this.parts = lastLf + 1 < chunk.length ? [chunk.subarray(lastLf + 1)] : [];
    this.partLen = chunk.length - lastLf - 1;
    this.emit(region, out);
  }

  /**
   * Emits the lines of `region`: whole lines, the last one LF-terminated except at the end of
   * the input. On invalid UTF-8, the lines before the bad one, then the error — the size
   * error if the bad line is also over the limit (as a partial line it would have been
   * refused for its size before its bytes were looked at).
   */
  private emit(region: Buffer, out: SplitLine[]): void {
    let valid = region;
    let badLine = -1;
    if (!isUtf8(region)) {
      badLine = firstInvalidUtf8Line(region);
      valid = region.subarray(0, nthLfEnd(region, badLine));
    }
    const text = valid.toString("utf8");
    const max = this.maxLineBytes;
    let start = 0;
    while (start < text.length) {
      let nl = text.indexOf("\n", start);
      let end: number;
      if (nl === -1) {
        nl = text.length; // the unterminated last line: keeps a final CR
        end = nl;
      } else {
        end = nl > start && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      }
      const s = text.slice(start, end);
      const line = ++this.lines;
      // Bytes ≥ UTF-16 units, and ≤ 3 per unit: count bytes only when it can matter.
      if (s.length > max || (s.length * 3 > max && Buffer.byteLength(s, "utf8") > max)) throw this.tooLong(line);
      out.push({ text: s, line });
      start = nl + 1;
    }
    if (badLine !== -1) {
      const line = this.lines + 1;
      // The bad line's content: up to its LF (a CR right before it excluded), or to the end.
      const from = valid.length;
      const lf = region.indexOf(LF, from);
      const to = lf === -1 ? region.length : lf > from && region[lf - 1] === CR ? lf - 1 : lf;
      throw to - from > max ? this.tooLong(line) : new LineFailure({ kind: "utf8", line });
    }
  }

  private tooLong(line: number): LineFailure {
    return new LineFailure({ kind: "size", line });
  }
}

/**
 * The size error of a `jsonl`/`lines` line: `file:line: record N: line is longer than the record
 * size limit of M bytes`, with file, line, index and limit in the details. The readers'
 * (LineSplitter.check) and the ingest's (LineBound) — one message for the one rule.
 */
export function lineTooLongError(display: string, line: number, index: number, limit: number): CairnError {
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${recordPlace(display, line, index, "record")}: line is longer than the record size limit of ${limit} bytes`, {
    file: display,
    line,
    index,
    limit,
  });
}

/** Carries a SplitFailure out of split()/emit() to push()/end(). */
class LineFailure extends Error {
  constructor(readonly failure: SplitFailure) {
    super(failure.kind);
  }
}

/**
 * A line kept in a record (a `lines` input, a canonical JSONL line's text) must not keep the
 * decoded chunk it was sliced from alive: V8 represents `text.slice(…)` as a view of the whole
 * chunk (up to STREAM_CHUNK_BYTES), which the scheduler's size estimates do not count. Slicing a
 * concatenation makes V8 flatten it into a fresh string first, so the result holds only its
 * own characters (tested: input.test.ts "records do not keep their input chunks alive").
 */
function detached(s: string): string {
  return (s + " ").slice(0, -1);
}

/** True when the line holds only JSON whitespace (space, tab, CR). */
function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== CR) return false;
  }
  return true;
}

/**
 * Counts each read chunk's bytes in the stats as its lines are handed out, in proportion to
 * the lines (ReadAccounting.holdBytes): a chunk may hold many batches of records, and the
 * engine's progress estimates the record count from records read and bytes counted.
 */
class ChunkShare {
  private from = 0;
  private to = 0;
  private lines = 0;

  constructor(private readonly acct: ReadAccounting) {
    acct.holdBytes();
  }

  /** The bytes read up to now were split into `lines` lines (not yet handed out). */
  start(lines: number): void {
    this.from = this.acct.bytesCounted;
    this.to = this.acct.bytesRead;
    this.lines = lines;
  }

  /** The first `done` of those lines have been handed out. */
  handedOut(done: number): void {
    const n = this.lines === 0 ? this.to : this.from + Math.floor(((this.to - this.from) * Math.min(done, this.lines)) / this.lines);
    this.acct.consumedTo(n);
  }
}

/** `lines` format: every line is one string record. */
export function readLines(chunks: AsyncIterable<Buffer>, display: string, maxRecordBytes: number, acct: ReadAccounting): AsyncGenerator<EURecord, void, undefined> {
  return flatten(readLinesBatches(chunks, display, maxRecordBytes, acct, false), acct);
}

/**
 * `lines`, one array of records per input chunk (no promise per record). `counted`: records
 * count in the stats when their batch is made (else the caller counts them).
 */
export async function* readLinesBatches(
  chunks: AsyncIterable<Buffer>,
  display: string,
  maxRecordBytes: number,
  acct: ReadAccounting,
  counted = true,
): AsyncGenerator<EURecord[], void, undefined> {
  const splitter = new LineSplitter(maxRecordBytes, display);
  const share = new ChunkShare(acct);
  const batch: SplitLine[] = [];
  let index = 0;
  for await (const chunk of withEnd(chunks)) {
    batch.length = 0;
    if (chunk === undefined) splitter.end(batch);
    else splitter.push(chunk, batch);
    share.start(batch.length);
    let out: EURecord[] = [];
    for (let k = 0; k < batch.length; k++) {
      const l = batch[k] as SplitLine;
      const i = index++;
      if (counted) acct.addRecord();
      out.push({ index: i, id: i, input: detached(l.text), source: { file: display, line: l.line } });
      if (out.length === READ_BATCH_RECORDS) {
        share.handedOut(k + 1);
        yield out;
        out = [];
      }
    }
    share.handedOut(batch.length);
    if (out.length > 0) yield out;
    splitter.check(index); // every line is a record: the failing line is the next one
  }
  acct.finish();
}

/** `jsonl` format: every non-blank line is one JSON value. */
export function readJsonl(
  chunks: AsyncIterable<Buffer>,
  display: string,
  maxRecordBytes: number,
  idField: string | undefined,
  acct: ReadAccounting,
): AsyncGenerator<EURecord, void, undefined> {
  return flatten(readJsonlBatches(chunks, display, maxRecordBytes, idField, acct, false), acct);
}

/**
 * `jsonl`, one array of records per input chunk (no promise per record). On an error, the
 * records before it are yielded first, then the error is thrown. `counted` as in readLinesBatches.
 */
export async function* readJsonlBatches(
  chunks: AsyncIterable<Buffer>,
  display: string,
  maxRecordBytes: number,
  idField: string | undefined,
  acct: ReadAccounting,
  counted = true,
  canonicalJsonLines = false,
  allowDuplicateKeys = false,
  lenientIds = false,
): AsyncGenerator<EURecord[], void, undefined> {
  const asIs = canonicalJsonLines && idField === undefined;
  const splitter = new LineSplitter(maxRecordBytes, display);
  const share = new ChunkShare(acct);
  const batch: SplitLine[] = [];
  let index = 0;
  for await (const chunk of withEnd(chunks)) {
    batch.length = 0;
    if (chunk === undefined) splitter.end(batch);
    else splitter.push(chunk, batch);
    share.start(batch.length);
    let out: EURecord[] = [];
    let failure: unknown;
    for (let k = 0; k < batch.length; k++) {
      const l = batch[k] as SplitLine;
      if (isBlank(l.text)) continue;
      const i = index;
      const source = { file: display, line: l.line };
      // A line that already is its value's canonical text is taken as is (canonical-line.ts).
      const inputSize = asIs ? canonicalLineSize(l.text) : -1;
      let record: EURecord;
      if (inputSize >= 0) record = { index: i, id: i, input: undefined, inputJson: detached(l.text), inputSize, source };
      else {
        let input: unknown;
        try {
          try {
            input = JSON.parse(l.text);
          } catch (err) {
            throw recordError({ file: display, line: l.line, index: i, noun: "record" }, `invalid JSON: ${jsonParseMessage(err)}`);
          }
          const dup = allowDuplicateKeys ? null : duplicateJsonKey(l.text);
          if (dup !== null) throw recordError({ file: display, line: l.line, index: i, noun: "record" }, duplicateKeyMessage(dup), { column: dup.at.column });
          const id: EUId =
            idField === undefined ? i : idFromJsonRecord(input, idField, { file: display, line: l.line, index: i, noun: "record" }, lenientIds ? undefined : l.text);
          record = { index: i, id, input, source, rawBytes: l.text.length };
        } catch (err) {
          failure = err;
          break;
        }
      }
      index++;
      if (counted) acct.addRecord();
      out.push(record);
      if (out.length === READ_BATCH_RECORDS) {
        share.handedOut(k + 1);
        yield out;
        out = [];
      }
    }
    share.handedOut(batch.length);
    if (out.length > 0) yield out;
    if (failure !== undefined) throw failure;
    splitter.check(index); // the failing line is the next record (a blank line over the limit too)
  }
  acct.finish();
}

/** One record at a time, from batches, each counted as it is handed out. */
async function* flatten(batches: AsyncIterable<EURecord[]>, acct: ReadAccounting): AsyncGenerator<EURecord, void, undefined> {
  for await (const b of batches) {
    for (const r of b) {
      acct.addRecord();
      yield r;
    }
  }
}

/** The chunks, then `undefined` to mark the end (one loop handles both). */
async function* withEnd(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer | undefined, void, undefined> {
  yield* chunks;
  yield undefined;
}
