/**
 * Recognises a JSONL line that is already the RFC 8785 canonical text of its value, so the
 * engine can take the line as that text without parsing it and canonicalising the result
 * (`JSON.parse` + `canonicalText` cost ~0.4 µs per small record on the main thread, which is the
 * critical path of a run of cheap functions).
 *
 * Conservative: only a subset of canonical JSON is recognised, and anything else returns -1 so
 * the caller parses the line as before (same record, same bytes). The subset:
 * - no whitespace anywhere;
 * - strings of printable ASCII (U+0020–U+007E) other than `"` and `\`: no escapes at all, no
 *   non-ASCII (canonical JSON writes those literally, but checking well-formed UTF-16 and the
 *   exact escape rules is left to the general path);
 * - numbers that are integers `0` or `-?[1-9][0-9]{0,14}` (below 2^53, so the text is exactly
 *   what `String(n)` prints; no `-0`, fractions or exponents);
 * - `true`, `false`, `null`, arrays, and objects whose keys are strictly increasing in UTF-16
 *   code-unit order (RFC 8785 §3.2.3; for ASCII that is byte order), hence without duplicates;
 * - at most FAST_CANONICAL_MAX_DEPTH levels and SIZE_ESTIMATE_MAX_NODES values.
 * Within it, the line is exactly `canonicalText(JSON.parse(line))`, and the returned size is
 * exactly `estimateSize(JSON.parse(line))` (tested against both on random values), so pulses
 * are cut and slices written exactly as if the line had been parsed.
 */
import { FAST_CANONICAL_MAX_DEPTH } from "../canonical-text.js";
import {
  SIZE_ARRAY_BASE, SIZE_ARRAY_SLOT, SIZE_ESTIMATE_MAX_NODES, SIZE_MEMBER_BASE, SIZE_RECORD_BASE, SIZE_SCALAR, SIZE_STRING_BASE,
} from "./size.js";

/** Most digits of an integer taken as canonical (10^15 − 1 < 2^53). */
export const CANONICAL_LINE_MAX_INT_DIGITS = 15;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Returned when the line leaves the subset. */
const OUT = -1;

class Scan {
  pos = 0;
  size = 0;
  nodes = 0;
  constructor(readonly s: string) {}

  /** Scans one value at `pos`; returns false when the text leaves the subset. */
  value(depth: number): boolean {
    if (++this.nodes > SIZE_ESTIMATE_MAX_NODES) return false;
    const c = this.s.charCodeAt(this.pos);
    if (c === QUOTE) {
      const len = this.string();
      if (len < 0) return false;
      this.size += SIZE_STRING_BASE + 2 * len;
      return true;
    }
    if (c === 0x7b /* { */) return depth < FAST_CANONICAL_MAX_DEPTH && this.object(depth);
    if (c === 0x5b /* [ */) return depth < FAST_CANONICAL_MAX_DEPTH && this.array(depth);
    this.size += SIZE_SCALAR;
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.integer();
    return this.word("true") || this.word("false") || this.word("null");
  }

  /** A string without escapes; returns its length (code units), or OUT. */
  string(): number {
    const start = ++this.pos;
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.pos);
      if (c === QUOTE) break;
      if (!(c >= 0x20 && c <= 0x7e) || c === BACKSLASH) return OUT; // also NaN: the line ended
      this.pos++;
    }
    const len = this.pos - start;
    this.pos++;
    return len;
  }

  integer(): boolean {
    const s = this.s;
    if (s.charCodeAt(this.pos) === MINUS) this.pos++;
    const first = s.charCodeAt(this.pos);
    if (first === ZERO) {
      if (s.charCodeAt(this.pos - 1) === MINUS) return false; // -0
      this.pos++;
    } else {
      const start = this.pos;
      while (this.pos < s.length) {
        const c = s.charCodeAt(this.pos);
        if (c < ZERO || c > NINE) break;
        this.pos++;
      }
      if (this.pos === start || this.pos - start > CANONICAL_LINE_MAX_INT_DIGITS) return false; // no digit, or too many
    }
    const next = s.charCodeAt(this.pos);
    return !(next === 0x2e /* . */ || next === 0x65 /* e */ || next === 0x45 /* E */ || (next >= ZERO && next <= NINE));
  }

  word(w: string): boolean {
    if (!this.s.startsWith(w, this.pos)) return false;
    this.pos += w.length;
    return true;
  }

  array(depth: number): boolean {
    this.pos++;
    let n = 0;
    if (this.s.charCodeAt(this.pos) !== 0x5d /* ] */) {
      for (;;) {
        if (!this.value(depth + 1)) return false;
        n++;
        const c = this.s.charCodeAt(this.pos++);
        if (c === 0x5d) break;
        if (c !== 0x2c /* , */) return false;
      }
    } else this.pos++;
    this.size += SIZE_ARRAY_BASE + SIZE_ARRAY_SLOT * n;
    return true;
  }

  object(depth: number): boolean {
    this.pos++;
    if (this.s.charCodeAt(this.pos) === 0x7d /* } */) {
      this.pos++;
      return true;
    }
    let prev: string | undefined;
    for (;;) {
      if (this.s.charCodeAt(this.pos) !== QUOTE) return false;
      const start = this.pos + 1;
      const len = this.string();
      if (len < 0) return false;
      const key = this.s.slice(start, start + len);
      if (prev !== undefined && !(prev < key)) return false; // not strictly increasing
      prev = key;
      if (this.s.charCodeAt(this.pos++) !== 0x3a /* : */) return false;
      this.size += SIZE_MEMBER_BASE + 2 * len;
      if (!this.value(depth + 1)) return false;
      const c = this.s.charCodeAt(this.pos++);
      if (c === 0x7d) return true;
      if (c !== 0x2c) return false;
    }
  }
}

/**
 * `estimateSize(JSON.parse(line))` when `line` is canonical JSON within the subset above (the
 * line is then exactly its value's canonical text), else -1.
 */
export function canonicalLineSize(line: string): number {
  if (line.length === 0) return OUT;
  const scan = new Scan(line);
  if (!scan.value(0) || scan.pos !== line.length) return OUT;
  return scan.size + SIZE_RECORD_BASE;
}
