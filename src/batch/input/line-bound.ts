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
 * readers remove it, source.ts). Every such line is refused by the reader too: `jsonl`/`lines`
 * measure exactly the line; a CSV record's bytes run from its first byte to its last, line
 * breaks inside quoted fields included (csv-span.ts), so a record holding a line over the limit
 * is over it. Lines the reader accepts are never refused here.
 *
 * The error: `jsonl`/`lines`, the reader's (lineTooLongError: the same line number and record
 * index; blank `jsonl` lines, only space, tab and CR, are not records); `csv`, which line it is
 * (csvLineTooLongError): the record holding it and its index depend on the quoting before it,
 * known only to the parser. An error in an earlier line (invalid JSON or UTF-8, a CSV parse
 * error) is not looked for: the run would report that one first; refused here, the input is
 * reported for its long line instead.
 *
 * Cost: one indexOf per line, and for `jsonl` a look at each line's leading whitespace.
 */
import type { CairnError } from "../../core/errors.js";
import { csvLineTooLongError } from "./csv.js";
import { lineTooLongError } from "./lines.js";

const LF = 0x0a;
const CR = 0x0d;
const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

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
  /** The first bytes of the input while a BOM is not yet ruled in or out. */
  private head: number[] | undefined = [];
  private readonly skipBlank: boolean;

  constructor(
    private readonly max: number,
    private readonly display: string,
    private readonly format: "jsonl" | "lines" | "csv",
  ) {
    this.skipBlank = format === "jsonl";
  }

  /** The next raw bytes of the input; throws the size error of a line over the limit. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    let from = this.head === undefined ? 0 : this.skipBom(chunk);
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, from)) {
      const cr = lf > from ? chunk[lf - 1] === CR : this.len > 0 && this.lastCr;
      if (this.len + (lf - from) - (cr ? 1 : 0) > this.max) throw this.tooLong();
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
    if (this.len > this.max) throw this.tooLong();
  }

  private tooLong(): CairnError {
    const line = this.lines + 1;
    return this.format === "csv" ? csvLineTooLongError(this.display, line, this.max) : lineTooLongError(this.display, line, this.records, this.max);
  }

  /**
   * While the first 3 bytes are not all known: once they are, a BOM is not part of the first line
   * (the bytes before `chunk` were all of it: the line starts afresh). Returns where the line's
   * bytes start in `chunk`: past the BOM's bytes in it, or 0.
   */
  private skipBom(chunk: Buffer): number {
    const head = this.head as number[];
    const before = head.length;
    for (let i = 0; i < chunk.length && head.length < UTF8_BOM.length; i++) head.push(chunk[i] as number);
    if (head.length < UTF8_BOM.length) return 0;
    this.head = undefined;
    if (!head.every((b, i) => b === UTF8_BOM[i])) return 0;
    this.len = 0;
    this.blank = true;
    this.lastCr = false;
    return UTF8_BOM.length - before;
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
