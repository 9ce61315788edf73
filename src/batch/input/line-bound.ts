/**
 * The record size limit applied to an input's raw bytes while they are stored (ingest.ts), where
 * a line bounds a record: `jsonl`, `lines` and `csv`. An input whose line passes the limit — an
 * endless stream without a newline included — is refused once about the limit has been copied,
 * not after the whole input; the reader's own check (LineSplitter, readCsv) stays the authority.
 *
 * The rule, the readers' for a physical line: a line whose bytes, without its LF and a CR right
 * before it, pass the limit is refused as soon as its end is seen, or once more than limit + 1
 * of its bytes have come (the +1: a CR that may turn out to be part of the terminator); an
 * unterminated last line keeps its final CR. A leading BOM is not part of the first line (the
 * readers remove it: utf8.ts BomStrip, used here too). Every such line is refused by the reader
 * too: `jsonl`/`lines` measure exactly the line; a CSV record's bytes run from its first byte
 * to its last, line breaks inside quoted fields included (csv-span.ts), so a record holding a
 * line over the limit is over it. Lines the reader accepts are never refused here.
 *
 * The error: `jsonl`/`lines`, the reader's (lineTooLongError: the same line number and record
 * index; blank `jsonl` lines, only space, tab and CR, are not records); `csv`, for a line inside
 * the header the reader's (csvHeaderTooLargeError: `header:` at the line where the header
 * starts), after it which line it is (csvLineTooLongError): the record holding it and its index
 * depend on the quoting before it, known only to the parser. The header is the first line that
 * is not empty (the reader skips empty lines: nothing before their LF or CR LF) and, should
 * a quoted column name hold a line break (which the reader refuses too, after the size), the
 * lines up to the first LF after it met with an even number of `"` (RFC 4180, csv-span.ts);
 * quotes are counted only until the header ends. An error in an earlier line (invalid JSON or
 * UTF-8, a CSV parse error) is not looked for: the run would report that one first; refused
 * here, the input is reported for its long line instead.
 *
 * Cost: one indexOf per line, for `jsonl` a look at each line's leading whitespace, for `csv`
 * a look at each byte of the header.
 */
import type { CairnError } from "../../core/errors.js";
import { csvHeaderTooLargeError, csvLineTooLongError } from "./csv.js";
import { lineTooLongError } from "./lines.js";
import { BomStrip } from "./utf8.js";

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

export class LineBound {
  /** Lines ended so far (LFs seen). */
  private lines = 0;
  /** Records before the current line (`jsonl`/`lines`). */
  private records = 0;
  /** Bytes of the current line so far (a BOM not counted). */
  private len = 0;
  /** The current line holds only blank bytes so far (`jsonl`). */
  private blank = true;
  /** The last byte seen is a CR. */
  private lastCr = false;
  /** A leading BOM is not part of the first line. */
  private readonly bom = new BomStrip();
  private readonly skipBlank: boolean;
  /** `csv`: the current line is in the header (or in the empty lines before it). */
  private inHeader: boolean;
  /** `csv`: the line where the header starts, once a line that is not empty has been met; else 0. */
  private headerLine = 0;
  /** `csv`: an odd number of quotes in the header so far (a quoted field is open). */
  private quoted = false;

  constructor(
    private readonly max: number,
    private readonly display: string,
    private readonly format: "jsonl" | "lines" | "csv",
  ) {
    this.skipBlank = format === "jsonl";
    this.inHeader = format === "csv";
  }

  /** The next raw bytes of the input; throws the size error of a line over the limit. */
  push(raw: Buffer): void {
    const chunk = this.bom.push(raw);
    if (chunk.length === 0) return;
    let from = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, from)) {
      const cr = lf > from ? chunk[lf - 1] === CR : this.len > 0 && this.lastCr;
      const len = this.len + (lf - from) - (cr ? 1 : 0);
      if (len > this.max) throw this.tooLong();
      if (this.inHeader) this.headerLineEnds(chunk, from, lf, len);
      if (!this.skipBlank || !(this.blank && isBlankBytes(chunk, from, lf))) this.records++;
      this.lines++;
      this.len = 0;
      this.blank = true;
      from = lf + 1;
    }
    this.len += chunk.length - from;
    if (this.skipBlank && this.blank) this.blank = isBlankBytes(chunk, from, chunk.length);
    if (this.inHeader) this.countQuotes(chunk, from, chunk.length);
    this.lastCr = chunk[chunk.length - 1] === CR;
    if (this.len > this.max + 1) throw this.tooLong();
  }

  /** The end of the input: its unterminated last line is measured whole. */
  end(): void {
    const held = this.bom.end(); // an input shorter than a BOM: its bytes are the line's
    this.len += held.length;
    if (this.len > this.max) throw this.tooLong();
  }

  private tooLong(): CairnError {
    const line = this.lines + 1;
    if (this.format !== "csv") return lineTooLongError(this.display, line, this.records, this.max);
    // A line over the limit is not empty: when no header line came before it, the header starts here.
    if (this.inHeader) return csvHeaderTooLargeError(this.display, this.headerLine === 0 ? line : this.headerLine, this.max);
    return csvLineTooLongError(this.display, line, this.max);
  }

  /** `csv`, in the header: the line whose last bytes are `chunk[from, lf)` ends; `len` is its length without its terminator. */
  private headerLineEnds(chunk: Buffer, from: number, lf: number, len: number): void {
    this.countQuotes(chunk, from, lf);
    if (this.headerLine === 0 && len > 0) this.headerLine = this.lines + 1;
    if (this.headerLine !== 0 && !this.quoted) this.inHeader = false;
  }

  /** `csv`, in the header: the quotes in `chunk[from, to)` (a byte loop: each header byte is looked at once, empty lines cost nothing). */
  private countQuotes(chunk: Buffer, from: number, to: number): void {
    for (let i = from; i < to; i++) if (chunk[i] === QUOTE) this.quoted = !this.quoted;
  }
}

/** Whether `buf[from, to)` holds only blank bytes (space, tab, CR: the jsonl reader's isBlank). */
function isBlankBytes(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== CR) return false;
  }
  return true;
}
