/**
 * Where CSV records start, found from the bytes alone, so that a record over the size limit is
 * refused at the first line where its bytes pass the limit, before that line is parsed (csv.ts),
 * and while the input is stored, before it has all come (csv-bound.ts).
 *
 * A record's bytes are its raw bytes from its first byte to its last — quotes, commas and the
 * line breaks inside quoted fields included — without its terminator (LF or CR LF) and without
 * the empty lines before it. Every physical line lies inside one record (or is empty), and in
 * RFC 4180 CSV every `"` toggles quoting (an opening or closing quote, or one of a doubled `""`
 * inside a quoted field, which toggles twice), so an LF met with an even number of quotes since
 * the last record boundary ends a record or an empty line. Input where the quotes are not
 * RFC 4180 is an error of the parser anyway, met no later than the line the scan stops at.
 *
 * From the start of the stream (no `sync`), the scan also counts the records ended (empty lines
 * are not records: the parser skips them) and the line where the current one starts, which is
 * what the reader reports for a record over the limit: the first record is the header.
 */

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

export class CsvSpan {
  /** Stream offset scanned up to (at a line start, except after a scan with `more`). */
  pos = 0;
  /** Records (not empty lines) ended so far, counted from the stream's start (not after a `sync`). */
  records = 0;
  /** The 1-based line where the record holding `pos` starts (counted as `records`). */
  recordLine = 1;
  /** Whether a quoted field is open at `pos`. */
  private quoted = false;
  /** Stream offset where the record holding `pos` starts (`pos` itself between records). */
  private start = 0;
  /** LFs scanned so far (counted as `records`). */
  private lfs = 0;
  /** The byte before `pos` is a CR that may still be the start of a CR LF (a scan with `more` ended on it). */
  private heldCr = false;

  /** Restarts at `boundary`, a record boundary at a line start, unless already scanned past it. */
  sync(boundary: number): void {
    if (this.pos >= boundary) return;
    this.pos = boundary;
    this.quoted = false;
    this.start = boundary;
    this.heldCr = false;
  }

  /**
   * Scans `body` (whole lines; the last one without an LF only at the end of the input, or with
   * `more` when its line goes on in the next body), which starts at stream offset `pos`. Returns
   * the number of LFs before the first line at which the record holding it passes `max` bytes,
   * or -1 (then the whole body is scanned). A line's own bytes exclude its LF and a CR right
   * before it: they are the terminator when the line ends its record, and counted with the next
   * line when they lie inside a quoted field. With `more`, a CR ending the body is not counted
   * yet (an LF may follow); `endsOver` checks it at the end of the input.
   */
  scan(body: Buffer, max: number, more = false): number {
    const base = this.pos;
    let lines = 0;
    let ls = 0;
    let q = body.indexOf(QUOTE);
    while (ls < body.length) {
      let lf = body.indexOf(LF, ls);
      const hasLf = lf !== -1;
      if (!hasLf) lf = body.length;
      let contentEnd = lf;
      if (hasLf ? (lf > ls ? body[lf - 1] === CR : lf === 0 && this.heldCr) : more && body[lf - 1] === CR) contentEnd--;
      if (base + contentEnd - this.start > max) return lines;
      if (q !== -1 && q < lf) {
        // The line's quotes from its first one (a byte loop: quoted CSV has many quotes a line).
        let odd = false;
        for (let i = q; i < lf; i++) if (body[i] === QUOTE) odd = !odd;
        if (odd) this.quoted = !this.quoted;
        q = body.indexOf(QUOTE, lf + 1);
      }
      if (hasLf) {
        this.lfs++;
        if (!this.quoted) {
          if (base + contentEnd > this.start) this.records++;
          this.start = base + lf + 1;
          this.recordLine = this.lfs + 1;
        }
      }
      lines++;
      ls = lf + 1;
    }
    this.pos = base + body.length;
    if (body.length > 0) this.heldCr = more && body[body.length - 1] === CR;
    return -1;
  }

  /** At the end of the input, after scans with `more`: whether a CR held back at the end is what puts the last record over `max`. */
  endsOver(max: number): boolean {
    return this.heldCr && this.pos - this.start > max;
  }
}
