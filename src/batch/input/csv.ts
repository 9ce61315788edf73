/**
 * CSV with a header row (RFC 4180): each record becomes an object of strings keyed by the
 * header's column names. Parsing is csv-parse's; this module adds exact line numbers, UTF-8
 * validation, header checks and Cairn error messages.
 *
 * Rules: records end with CRLF or LF (mixed is fine; a lone CR is data); fields may be quoted
 * with `"` and a quote inside a quoted field is doubled; quoted fields may span lines; every
 * record must have exactly as many fields as the header; empty lines are skipped (so a
 * single-column file cannot hold an empty unquoted value: write `""`); values are never
 * trimmed or converted (leading zeros stay). Column names must be non-empty, distinct and free
 * of CR and LF: a file with lone-CR line endings would otherwise be one long header line and
 * zero records, so it is refused.
 *
 * Line numbers: csv-parse counts every CR and LF inside quoted fields as a line, so it is
 * wrong for CRLF files with multi-line fields. Instead the reader keeps an index of the LF
 * bytes it fed the parser and maps each record's end offset (`info.bytes`) to a line: a
 * record starts on the line after the previous record's end, plus the empty lines skipped.
 * Every error names the line where the failing record starts and, for a parse error, the
 * record's 0-based index (`data.csv:4: record 2: …`; `header:` for the header, not a record).
 *
 * The parser is driven by hand (write, then read what it produced) and only ever gets whole
 * lines, each checked to be UTF-8 first, so the records delivered before an error, and the
 * error itself, never depend on how the input was chunked. Invalid UTF-8 and records over the
 * size limit are named by the record they are in, at the line where it starts (`record N:`,
 * or `header:`).
 *
 * Size: a record's bytes (the header's too) are its raw bytes in the input, without its
 * terminator and the empty lines before it (csv-span.ts); over `maxRecordBytes` it is
 * E_LIMIT_EXCEEDED, refused at the first line where its bytes pass the limit, before that line
 * is checked for UTF-8 or parsed (whether the line arrives whole or in pieces), so a record is
 * never held whole, and the size error wins over any error in that line or at the record's
 * end. csv-parse's max_record_size (on the fields' text, never more than the raw bytes) stays
 * as a second bound.
 */
import type { Transform } from "node:stream";
import { isUtf8 } from "node:buffer";
import { CsvError, parse } from "csv-parse";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import { echoed } from "../../core/echo.js";
import { escapeControls, printableJson } from "../../core/describe.js";
import type { RecordLocation } from "./ids.js";
import type { ReadAccounting } from "./source.js";
import type { EURecord } from "./types.js";
import { CsvSpan } from "./csv-span.js";
import { countLf, firstInvalidUtf8Line, nthLfEnd } from "./utf8.js";

/** What csv-parse yields with `info: true` (the parts we use). */
interface CsvItem {
  record: string[];
  info: { bytes: number; empty_lines: number };
}

/**
 * The LF bytes of a stream, for mapping offsets that only move forward to line numbers.
 * Holds only the chunks not yet passed (at most one record plus the parser's read-ahead).
 */
class LineIndex {
  private chunks: Buffer[] = [];
  /** Offset of chunks[0][0] in the stream. */
  private chunkStart = 0;
  /** Position (absolute) up to which LFs are counted, within chunks[0]. */
  private pos = 0;
  private lfs = 0;
  /** Bytes added so far. */
  size = 0;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Number of LF bytes in the stream before `offset` (offsets must not decrease). */
  lfBefore(offset: number): number {
    while (this.pos < offset) {
      const c = this.chunks[0];
      if (c === undefined) break;
      const end = Math.min(offset - this.chunkStart, c.length);
      this.lfs += countLf(c, this.pos - this.chunkStart, end);
      this.pos = this.chunkStart + end;
      if (end === c.length) {
        this.chunks.shift();
        this.chunkStart += c.length;
      }
    }
    return this.lfs;
  }

  /** The bytes held from `offset` (at or after the offset last given to lfBefore) to `size`. */
  *held(offset: number): Generator<Buffer, void, undefined> {
    let start = this.chunkStart;
    for (const c of this.chunks) {
      if (offset < start + c.length) yield c.subarray(Math.max(0, offset - start));
      start += c.length;
    }
  }
}

/**
 * Feeds `parser` one chunk (or, with `chunk` undefined, the end of input) and yields what it
 * produces. csv-parse's Transform parses synchronously inside write()/end(), so records that
 * precede a parse error are still delivered before the error, whatever the chunking; the
 * wait below only covers a parser that defers its callback.
 */
async function* feedParser(parser: Transform, chunk: Buffer | undefined): AsyncGenerator<CsvItem, void, undefined> {
  if (chunk === undefined) parser.end();
  else parser.write(chunk);
  for (;;) {
    for (let item: unknown = parser.read(); item !== null; item = parser.read()) yield item as CsvItem;
    if (parser.errored) throw parser.errored;
    if (chunk === undefined ? parser.readableEnded : parser.writableLength === 0) return;
    await progress(parser);
  }
}

/** Resolves on the parser's next sign of progress. */
function progress(parser: Transform): Promise<void> {
  return new Promise((resolve) => {
    const events = ["readable", "drain", "end", "error", "close"] as const;
    const done = (): void => {
      for (const e of events) parser.off(e, done);
      resolve();
    };
    for (const e of events) parser.on(e, done);
  });
}

/** `csv` format. */
export async function* readCsv(
  chunks: AsyncIterable<Buffer>,
  display: string,
  maxRecordBytes: number,
  idField: string | undefined,
  acct: ReadAccounting,
): AsyncGenerator<EURecord, void, undefined> {
  const lines = new LineIndex();
  acct.holdBytes(); // counted as records are handed out (csv-parse's offsets), for progress
  const parser = parse({
    columns: false,
    bom: false, // the source layer already removed a leading BOM
    record_delimiter: ["\r\n", "\n"],
    relax_column_count: false,
    relax_quotes: false,
    skip_empty_lines: true,
    info: true,
    max_record_size: maxRecordBytes,
  });
  parser.on("error", () => {}); // read through `parser.errored` instead

  /** Where records start, scanned only where a record may pass the limit (feedLines). */
  const span = new CsvSpan();
  let header: string[] | undefined;
  let keys: string[] = [];
  let hasProtoKey = false;
  let idCol = -1;
  let index = 0;
  /** End offset and empty-line count after the last record (header included). */
  let prevEnd = 0;
  let prevEmpty = 0;
  const startLine = (emptyLines: number): number => lines.lfBefore(prevEnd) + 1 + (emptyLines - prevEmpty);

  /** Turns parser output into records (the first one is the header). */
  async function* records(items: AsyncGenerator<CsvItem, void, undefined>): AsyncGenerator<EURecord, void, undefined> {
    try {
      for await (const { record, info } of items) {
        const line = startLine(info.empty_lines);
        prevEnd = info.bytes;
        prevEmpty = info.empty_lines;
        if (header === undefined) {
          header = checkHeader(record, display, line);
          keys = header;
          hasProtoKey = header.includes("__proto__");
          if (idField !== undefined) {
            idCol = header.indexOf(idField);
            if (idCol === -1) {
              throw new CairnError(
                ErrorCode.INVALID_INPUT,
                `${display}:${line}: id field ${printableJson(idField)} is not a column of the header (columns: ${describeColumns(header)})`,
                { file: display, line, field: idField },
              );
            }
          }
          continue;
        }
        const input: Record<string, string> = {};
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i] as string;
          const v = record[i] as string;
          if (hasProtoKey && k === "__proto__") Object.defineProperty(input, k, { value: v, enumerable: true, writable: true, configurable: true });
          else input[k] = v;
        }
        const i = index++;
        acct.addRecord();
        acct.consumedTo(info.bytes);
        yield { index: i, id: idCol === -1 ? i : (record[idCol] as string), input, source: { file: display, line } };
      }
    } catch (err) {
      if (!(err instanceof CsvError)) throw err;
      const emptyLines = typeof err["empty_lines"] === "number" ? err["empty_lines"] : prevEmpty;
      // Before the header is read the error is in the header, which is not a record.
      const loc = { file: display, line: startLine(emptyLines), index, noun: "record" as const };
      throw csvError(err, header === undefined ? { ...loc, inHeader: true } : loc, header, maxRecordBytes);
    }
  }

  /**
   * Checks `body` (whole lines) is UTF-8 and has no line where a record passes the limit, and
   * parses it. On a bad line, the lines before it are parsed first (their records come out and
   * their errors win), then the bad line's error, naming the record it is in. A line that is
   * both over the limit and not UTF-8 is the size error, as it is when it arrives in pieces (a
   * partial line is refused for its size before its bytes are looked at).
   */
  async function* feedLines(body: Buffer): AsyncGenerator<EURecord, void, undefined> {
    const long = firstLongLine(body);
    const utf8 = isUtf8(body);
    if (long === -1 && utf8) {
      lines.add(body);
      yield* records(feedParser(parser, body));
      return;
    }
    const bad = utf8 ? -1 : firstInvalidUtf8Line(body);
    const tooLong = long !== -1 && (bad === -1 || long <= bad);
    const prefix = body.subarray(0, nthLfEnd(body, tooLong ? long : bad));
    if (prefix.length > 0) {
      lines.add(prefix);
      yield* records(feedParser(parser, prefix));
    }
    const where = yield* endEarly();
    throw tooLong ? tooLongError(where) : lineError(where, ErrorCode.INVALID_INPUT, "invalid UTF-8", {});
  }

  /**
   * Ends the parser's input where it is (before a bad line), yielding the records it still
   * held, and returns where the record holding the bad line starts: a quoted field left open
   * there (cut by this early end, so that "unterminated quote" error is dropped: the caller
   * reports the real one) means the record started on an earlier line; else the bad line
   * starts a record (or is the header).
   */
  async function* endEarly(): AsyncGenerator<EURecord, RecordLocation & { inHeader: boolean }, undefined> {
    try {
      yield* records(feedParser(parser, undefined));
    } catch (err) {
      if (!(err instanceof CairnError && err.details["csvCode"] === "CSV_QUOTE_NOT_CLOSED")) throw err;
      const index = err.details["index"];
      return { file: display, line: err.details["line"] as number, index: typeof index === "number" ? index : 0, noun: "record", inHeader: index === undefined };
    }
    return { file: display, line: lines.lfBefore(lines.size) + 1, index, noun: "record", inHeader: header === undefined };
  }

  /**
   * The number of LFs before the first line of `body` where the record holding it passes the
   * limit, or -1. Every record in the body starts at or after the end of the last record the
   * parser gave (`prevEnd`): when the bytes from there to the body's end are within the limit,
   * no record can pass it and nothing is scanned; else the scan catches up from there.
   */
  function firstLongLine(body: Buffer): number {
    if (lines.size + body.length - prevEnd <= maxRecordBytes) return -1;
    span.sync(prevEnd);
    for (const held of lines.held(span.pos)) span.scan(held, Infinity);
    return span.scan(body, maxRecordBytes);
  }

  /** An error about the record at `where` (`file:line: record N: …`, or `header: …`). */
  function lineError(where: RecordLocation & { inHeader: boolean }, code: ErrorCodeValue, what: string, extra: Record<string, unknown>): CairnError {
    const details: Record<string, unknown> = { file: display, line: where.line, ...extra };
    if (!where.inHeader) details["index"] = where.index;
    return new CairnError(code, `${display}:${where.line}: ${where.inHeader ? "header" : `record ${where.index}`}: ${what}`, details);
  }

  /** A line over the limit: the record (or header) holding it is over the limit. */
  function tooLongError(where: RecordLocation & { inHeader: boolean }): CairnError {
    if (where.inHeader) return csvHeaderTooLargeError(display, where.line, maxRecordBytes);
    return csvRecordTooLargeError(display, where.line, where.index, maxRecordBytes);
  }

  try {
    // The parser only ever gets whole lines (up to an LF), so what it has seen never depends
    // on the chunking: the records before an error, and the error, are the same for any
    // chunk size. The partial last line waits in `pending`.
    let pending: Buffer[] = [];
    let pendingLen = 0;
    for await (const chunk of chunks) {
      const lastLf = chunk.lastIndexOf(0x0a);
      if (lastLf === -1) {
        pending.push(chunk);
        pendingLen += chunk.length;
        // A line longer than the limit holds (part of) a record longer than the limit (+1: the
        // line may still end with CR LF, and the CR would then be the record's terminator).
        if (pendingLen > maxRecordBytes + 1) throw tooLongError(yield* endEarly());
        continue;
      }
      const head = chunk.subarray(0, lastLf + 1);
      const body = pendingLen === 0 ? head : Buffer.concat([...pending, head], pendingLen + head.length);
      pending = lastLf + 1 < chunk.length ? [chunk.subarray(lastLf + 1)] : [];
      pendingLen = chunk.length - lastLf - 1;
      yield* feedLines(body);
    }
    if (pendingLen > 0) yield* feedLines(Buffer.concat(pending, pendingLen));
    yield* records(feedParser(parser, undefined));
  } finally {
    parser.destroy();
  }
  acct.finish();
}

/**
 * The record with 0-based `index`, starting at `line`, is over the limit: the reader's error
 * (tooLongError), which csv-bound.ts gives too while the input is stored.
 */
export function csvRecordTooLargeError(display: string, line: number, index: number, limit: number): CairnError {
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${display}:${line}: record ${index}: ${tooLargeText("record", limit)}`, {
    file: display,
    line,
    limit,
    index,
  });
}

/**
 * The header, starting at `line`, is over the limit: the reader's error (tooLongError), which
 * csv-bound.ts gives too while the input is stored (the header is not a record: no index).
 */
export function csvHeaderTooLargeError(display: string, line: number, limit: number): CairnError {
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${display}:${line}: header: ${tooLargeText("header", limit)}`, {
    file: display,
    line,
    limit,
  });
}

/** The words of a header or record over the size limit (every csv size error says them). */
function tooLargeText(unit: "header" | "record", limit: number): string {
  return `the ${unit} is larger than the record size limit of ${limit} bytes`;
}

function checkHeader(record: string[], display: string, line: number): string[] {
  const seen = new Map<string, number>();
  for (let i = 0; i < record.length; i++) {
    const name = record[i] as string;
    if (name.includes("\n")) {
      throw new CairnError(
        ErrorCode.INVALID_INPUT,
        `${display}:${line}: line break in a column name of the header (column ${i + 1}): column names must be on one line`,
        { file: display, line, column: i + 1 },
      );
    }
    if (name.includes("\r")) {
      // With lone-CR line endings the whole file is one line, read as a header of odd names.
      throw new CairnError(
        ErrorCode.INVALID_INPUT,
        `${display}:${line}: carriage return in a column name of the header (column ${i + 1}): lines must end with LF or CRLF (lone-CR line endings are not supported)`,
        { file: display, line, column: i + 1 },
      );
    }
    if (name === "") {
      throw new CairnError(ErrorCode.INVALID_INPUT, `${display}:${line}: empty column name in the header (column ${i + 1})`, {
        file: display,
        line,
        column: i + 1,
      });
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw new CairnError(
        ErrorCode.INVALID_INPUT,
        `${display}:${line}: duplicate column name ${printableJson(name)} in the header (columns ${first + 1} and ${i + 1})`,
        { file: display, line, column: i + 1, name: echoed(name) },
      );
    }
    seen.set(name, i);
  }
  return record;
}

function describeColumns(header: readonly string[]): string {
  const shown = header.slice(0, 20).map((h) => printableJson(h));
  if (header.length > 20) shown.push(`… ${header.length - 20} more`);
  return shown.join(", ");
}

/**
 * Maps a csv-parse error to a Cairn error naming the line where the failing record starts and
 * the record's 0-based index (`record N:`), or `header:` when the header itself is bad.
 */
function csvError(
  err: CsvError,
  loc: RecordLocation & { inHeader?: boolean },
  header: string[] | undefined,
  maxRecordBytes: number,
): CairnError {
  const inHeader = loc.inHeader === true;
  const at = `${loc.file}:${loc.line}: ${inHeader ? "header" : `${loc.noun} ${loc.index}`}`;
  const unit = inHeader ? "the header" : `the record starting at line ${loc.line}`;
  const details: Record<string, unknown> = { file: loc.file, line: loc.line, csvCode: err.code };
  if (!inHeader) details["index"] = loc.index;
  switch (err.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return new CairnError(ErrorCode.INVALID_INPUT, `${at}: unterminated quote: a quoted field in ${unit} is never closed`, details, { cause: err });
    case "CSV_RECORD_INCONSISTENT_FIELDS_LENGTH":
    case "CSV_RECORD_INCONSISTENT_COLUMNS": {
      const got = Array.isArray(err["record"]) ? (err["record"] as unknown[]).length : undefined;
      const expected = header?.length;
      return new CairnError(ErrorCode.INVALID_INPUT, `${at}: expected ${expected ?? "?"} fields, got ${got ?? "?"}`, { ...details, expected, got }, { cause: err });
    }
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return new CairnError(
        ErrorCode.INVALID_INPUT,
        `${at}: invalid closing quote in ${unit}: a quoted field must be followed by a comma or the end of the record (write "" for a quote inside a quoted field)`,
        details,
        { cause: err },
      );
    case "INVALID_OPENING_QUOTE":
      return new CairnError(
        ErrorCode.INVALID_INPUT,
        `${at}: quote inside an unquoted field in ${unit} (quote the whole field and double the quotes inside it)`,
        details,
        { cause: err },
      );
    case "CSV_MAX_RECORD_SIZE":
      return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${at}: ${tooLargeText(inHeader ? "header" : "record", maxRecordBytes)}`, { ...details, limit: maxRecordBytes }, { cause: err });
    default:
      return new CairnError(ErrorCode.INVALID_INPUT, `${at}: invalid CSV: ${escapeControls(echoed(err.message))}`, details, { cause: err });
  }
}
