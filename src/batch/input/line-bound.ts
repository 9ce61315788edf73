/**
 * The record size limit applied to an input's raw bytes while they are stored (ingest.ts), where
 * a line bounds a record: `jsonl` and `lines`; for `csv`, where a record may span lines, the
 * record's own bound (csv-bound.ts CsvRecordBound), which `new LineBound(max, display, "csv")`
 * is. An input whose line passes the limit — an endless stream without a newline included — is
 * refused once about the limit has been copied, not after the whole input; the reader's own
 * check (LineSplitter) stays the authority.
 *
 * The rule, the readers' for a physical line: a line whose bytes, without its LF and a CR right
 * before it, pass the limit is refused as soon as its end is seen, or once more than limit + 1
 * of its bytes have come (the +1: a CR that may turn out to be part of the terminator); an
 * unterminated last line keeps its final CR. A leading BOM is not part of the first line (the
 * readers remove it: utf8.ts BomStrip, used here too). Every such line is refused by the reader
 * too, which measures exactly the line. Lines the reader accepts are never refused here.
 *
 * The error: the reader's (lineTooLongError: the same line number and record index; blank
 * `jsonl` lines, only space, tab and CR, are not records). An error in an earlier line (invalid
 * JSON or UTF-8) is not looked for: the run would report that one first; refused here, the
 * input is reported for its long line instead.
 *
 * Cost: one indexOf per line, for `jsonl` a look at each line's leading whitespace.
 */
import type { CairnError } from "../../core/errors.js";
import { CsvRecordBound } from "./csv-bound.js";
import { lineTooLongError } from "./lines.js";
import { BomStrip } from "./utf8.js";

const LF = 0x0a;
const CR = 0x0d;

export class LineBound {
  /** Lines ended so far (LFs seen). */
  private lines = 0;
  /** Records before the current line. */
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
  /** `csv`: the record bound, which does the work. */
  private readonly csv: CsvRecordBound | undefined;

  constructor(
    private readonly max: number,
    private readonly display: string,
    format: "jsonl" | "lines" | "csv",
  ) {
    this.skipBlank = format === "jsonl";
    this.csv = format === "csv" ? new CsvRecordBound(max, display) : undefined;
  }

  /** The next raw bytes of the input; throws the size error of a line over the limit. */
  push(raw: Buffer): void {
    if (this.csv !== undefined) return this.csv.push(raw);
    const chunk = this.bom.push(raw);
    if (chunk.length === 0) return;
    let from = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, from)) {
      const cr = lf > from ? chunk[lf - 1] === CR : this.len > 0 && this.lastCr;
      const len = this.len + (lf - from) - (cr ? 1 : 0);
      if (len > this.max) throw this.tooLong();
      if (!this.skipBlank || !(this.blank && isBlankBytes(chunk, from, lf))) this.records++;
      this.lines++;
      this.len = 0;
      this.blank = true;
      from = lf + 1;
    }
    this.len += chunk.length - from;
    if (this.skipBlank && this.blank) this.blank = isBlankBytes(chunk, from, chunk.length);
    this.lastCr = chunk[chunk.length - 1] === CR;
    if (this.len > this.max + 1) throw this.tooLong();
  }

  /** The end of the input: its unterminated last line is measured whole. */
  end(): void {
    if (this.csv !== undefined) return this.csv.end();
    const held = this.bom.end(); // an input shorter than a BOM: its bytes are the line's
    this.len += held.length;
    if (this.len > this.max) throw this.tooLong();
  }

  private tooLong(): CairnError {
    return lineTooLongError(this.display, this.lines + 1, this.records, this.max);
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
