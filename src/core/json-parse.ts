/**
 * Lossless JSON parsing with Python `json.loads` semantics, and the position of a place in a text
 * as the parser names it (`line L column C (char N)`). Used by src/workflow for every JSON text
 * it reads (snapshots, payloads, CS data files: `parsePyJson` of src/workflow/py/json-parse.ts,
 * the Python value model's name for it), and by the plane CLI to say where a request file that
 * `JSON.parse` refuses goes wrong (src/cli/plane-commands.ts):
 *
 *  - a number with a fraction or exponent is a float (`number`), otherwise an int (`bigint`,
 *    any size up to `maxIntDigits` digits, default `JSON_MAX_INT_DIGITS`, Python's limit);
 *  - object members keep source order (`Map`); a repeated name keeps its first position and
 *    takes its last value (Python `dict` assignment);
 *  - strict strings: raw control characters are rejected; `\uXXXX` escapes may produce lone
 *    surrogates (Python keeps them too);
 *  - whitespace is space, tab, LF, CR; a leading BOM is rejected; any top-level value is allowed.
 *
 * Python also accepts the non-standard constants `NaN`, `Infinity` and `-Infinity`, and reads a
 * float literal too large for a double (`1e400`) as infinity; here both are refused unless
 * `allowNonFiniteConstants` is set (fail closed by default; the CS runtimes
 * set it when reading their data files, as the reference's `json.loads` accepts them there).
 * Errors are `CairnError(E_INVALID_INPUT)` with Python-style messages
 * (`Expecting value: line 1 column 1 (char 0)`; positions count code points, as Python does)
 * and `details` `{line, column, char}`.
 */
import { CairnError, ErrorCode } from "./errors.js";

/** The lossless value model: `bigint` ints, `number` floats, objects as `Map` in source order. */
export type LosslessJson = null | boolean | string | bigint | number | LosslessJson[] | Map<string, LosslessJson>;

/** Deepest nesting the parser accepts (Python's recursion limit stops it near 1000). */
export const JSON_PARSE_MAX_DEPTH = 512;

/** Most digits of an int by default: Python's `sys.int_info.default_max_str_digits`. */
export const JSON_MAX_INT_DIGITS = 4300;

export interface LosslessJsonParseOptions {
  /** Accept `NaN`, `Infinity`, `-Infinity` like Python's default `json.loads`. Default false. */
  readonly allowNonFiniteConstants?: boolean;
  /** Most digits of an int (a longer one is refused at its position). Default `JSON_MAX_INT_DIGITS`. */
  readonly maxIntDigits?: number;
}

/** Where a place in a text is: 1-based line and column, and the 0-based character offset, counted in code points (as Python counts). */
export interface CodePointPosition {
  line: number;
  column: number;
  char: number;
}

/** The position of the UTF-16 offset `at` of `text` (lines end at LF), in code points. */
export function textPosition(text: string, at: number): CodePointPosition {
  const before = text.slice(0, at);
  const nl = before.lastIndexOf("\n");
  return { line: before.split("\n").length, column: [...before.slice(nl + 1)].length + 1, char: [...before].length };
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const HEX4_RE = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

class Parser {
  private i = 0;

  constructor(
    private readonly s: string,
    private readonly opts: LosslessJsonParseOptions,
  ) {}

  fail(msg: string, at = this.i): never {
    const { line, column, char } = textPosition(this.s, at);
    throw new CairnError(ErrorCode.INVALID_INPUT, `${msg}: line ${line} column ${column} (char ${char})`, { line, column, char });
  }

  private ws(): void {
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  document(): LosslessJson {
    if (this.s.charCodeAt(0) === 0xfeff) this.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0);
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail("Extra data");
    return v;
  }

  private value(depth: number): LosslessJson {
    const s = this.s;
    const c = s[this.i];
    if (c === "{" || c === "[") {
      if (depth >= JSON_PARSE_MAX_DEPTH) this.fail(`Nesting deeper than ${JSON_PARSE_MAX_DEPTH}`);
      return c === "{" ? this.object(depth) : this.array(depth);
    }
    if (c === '"') return this.string();
    if (s.startsWith("null", this.i)) return this.take(4, null);
    if (s.startsWith("true", this.i)) return this.take(4, true);
    if (s.startsWith("false", this.i)) return this.take(5, false);
    if (this.opts.allowNonFiniteConstants === true) {
      if (s.startsWith("NaN", this.i)) return this.take(3, Number.NaN);
      if (s.startsWith("Infinity", this.i)) return this.take(8, Number.POSITIVE_INFINITY);
      if (s.startsWith("-Infinity", this.i)) return this.take(9, Number.NEGATIVE_INFINITY);
    }
    return this.number();
  }

  private take<T extends LosslessJson>(n: number, v: T): T {
    this.i += n;
    return v;
  }

  private number(): LosslessJson {
    NUMBER_RE.lastIndex = this.i;
    const m = NUMBER_RE.exec(this.s);
    if (m === null) this.fail("Expecting value");
    const text = m[0];
    const start = this.i;
    this.i += text.length;
    if (m[1] !== undefined || m[2] !== undefined) {
      const f = Number(text);
      // Python's float() overflows to inf here; without the non-finite constants that is refused too.
      if (!Number.isFinite(f) && this.opts.allowNonFiniteConstants !== true) this.fail(`Number out of range (overflows to ${f < 0 ? "-" : ""}Infinity)`, start);
      return f;
    }
    const nDigits = text.length - (text.startsWith("-") ? 1 : 0);
    const maxIntDigits = this.opts.maxIntDigits ?? JSON_MAX_INT_DIGITS;
    if (nDigits > maxIntDigits) {
      this.fail(`Integer with ${nDigits} digits exceeds the limit of ${maxIntDigits}`, start);
    }
    return BigInt(text);
  }

  private string(): string {
    const s = this.s;
    const start = this.i;
    this.i++;
    let out = "";
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail("Unterminated string starting at", start);
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail("Invalid control character at");
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(run, this.i);
      const e = s[this.i + 1];
      if (e === undefined) this.fail("Unterminated string starting at", start);
      if (e === "u") {
        const hex = s.slice(this.i + 2, this.i + 6);
        // As CPython's scanner (`scanstring_unicode`): the position is the `u`'s, and four hex
        // digits that end the text are refused too (no closing quote can follow them).
        if (this.i + 6 >= s.length || !HEX4_RE.test(hex)) this.fail("Invalid \\uXXXX escape", this.i + 1);
        out += String.fromCharCode(parseInt(hex, 16));
        this.i += 6;
      } else {
        const r = SIMPLE_ESCAPES[e];
        if (r === undefined) this.fail("Invalid \\escape");
        out += r;
        this.i += 2;
      }
      run = this.i;
    }
  }

  /**
   * The members of an array or object, the opening bracket at `this.i`: `close` right away, or
   * `item` (which reads one element or `name: value` pair) repeated with `,` until `close`.
   */
  private items(close: "]" | "}", item: () => void): void {
    this.i++;
    this.ws();
    if (this.s[this.i] === close) {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      item();
      this.ws();
      const c = this.s[this.i];
      this.i++;
      if (c === close) return;
      if (c !== ",") this.fail("Expecting ',' delimiter", this.i - 1);
    }
  }

  private array(depth: number): LosslessJson[] {
    const out: LosslessJson[] = [];
    this.items("]", () => out.push(this.value(depth + 1)));
    return out;
  }

  private object(depth: number): Map<string, LosslessJson> {
    const out = new Map<string, LosslessJson>();
    this.items("}", () => {
      if (this.s[this.i] !== '"') this.fail("Expecting property name enclosed in double quotes");
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail("Expecting ':' delimiter");
      this.i++;
      this.ws();
      out.set(key, this.value(depth + 1));
    });
    return out;
  }
}

/** Parses JSON text into the lossless value model (see the module comment). */
export function parseLosslessJson(text: string, opts: LosslessJsonParseOptions = {}): LosslessJson {
  return new Parser(text, opts).document();
}
