/**
 * Where CSV records start, found from the bytes alone, so that a record over the size limit is
 * refused at the first line where its bytes pass the limit, before that line is parsed (csv.ts).
 *
 * A record's bytes are its raw bytes from its first byte to its last — quotes, commas and the
 * line breaks inside quoted fields included — without its terminator (LF or CR LF) and without
 * the empty lines before it. Every physical line lies inside one record (or is empty), and in
 * RFC 4180 CSV every `"` toggles quoting (an opening or closing quote, or one of a doubled `""`
 * inside a quoted field, which toggles twice), so an LF met with an even number of quotes since
 * the last record boundary ends a record or an empty line. Input where the quotes are not
 * RFC 4180 is an error of the parser anyway, met no later than the line the scan stops at.
 */

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

export class CsvSpan {
  /** Stream offset scanned up to (always at a line start). */
  pos = 0;
  /** Whether a quoted field is open at `pos`. */
  private quoted = false;
  /** Stream offset where the record holding `pos` starts (`pos` itself between records). */
  private start = 0;

  /** Restarts at `boundary`, a record boundary at a line start, unless already scanned past it. */
  sync(boundary: number): void {
    if (this.pos >= boundary) return;
    this.pos = boundary;
    this.quoted = false;
    this.start = boundary;
  }

  /**
   * Scans `body` (whole lines; the last one without an LF only at the end of the input), which
   * starts at stream offset `pos`. Returns the number of LFs before the first line at which the
   * record holding it passes `max` bytes, or -1 (then the whole body is scanned). A line's own
   * bytes exclude its LF and a CR right before it: they are the terminator when the line ends
   * its record, and counted with the next line when they lie inside a quoted field.
   */
  scan(body: Buffer, max: number): number {
    const base = this.pos;
    let lines = 0;
    let ls = 0;
    let q = body.indexOf(QUOTE);
    while (ls < body.length) {
      let lf = body.indexOf(LF, ls);
      const hasLf = lf !== -1;
      if (!hasLf) lf = body.length;
      const contentEnd = hasLf && lf > ls && body[lf - 1] === CR ? lf - 1 : lf;
      if (base + contentEnd - this.start > max) return lines;
      while (q !== -1 && q < lf) {
        this.quoted = !this.quoted;
        q = body.indexOf(QUOTE, q + 1);
      }
      if (hasLf && !this.quoted) this.start = base + lf + 1;
      lines++;
      ls = lf + 1;
    }
    this.pos = base + body.length;
    return -1;
  }
}
