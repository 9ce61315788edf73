/**
 * `json` format: a top-level JSON array read element by element, never whole.
 *
 * A small byte-level scanner finds element boundaries: it tracks string/escape state and the
 * bracket depth inside the current element, and cuts at a `,` or `]` met outside strings at
 * depth 0. Each element's text is then validated as UTF-8 and handed to JSON.parse, which
 * does the real validation (so the whole input is valid JSON exactly when the scanner's
 * structure checks pass and every element parses). Structural bytes are all ASCII, and UTF-8
 * multi-byte sequences never contain ASCII bytes, so scanning bytes is safe.
 *
 * The input must be one array, optionally surrounded by whitespace: `[]` is zero records, and
 * an empty input (nothing but whitespace) is an error like any other non-array (it is more
 * likely a truncated or wrong file than a deliberate empty dataset).
 *
 * Size: an element's bytes are its own text, from its first to its last non-whitespace byte
 * (the whitespace and the `,` or `]` around it are not counted); over `maxRecordBytes` it is
 * E_LIMIT_EXCEEDED. An element is refused as soon as its bytes so far pass the limit, before it
 * is held whole; whitespace after an element is not held once the held bytes would pass the
 * limit (any text after it would make the element larger than the limit).
 *
 * The same scanner, in its measuring mode (nothing held, no element handed out), bounds a `json`
 * input while it is stored (JsonArrayBound, ingest.ts).
 */
import { isUtf8 } from "node:buffer";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { duplicateKeyMessage, idFromJsonRecord, recordPlace } from "./ids.js";
import { jsonParseMessage } from "./json-error.js";
import type { ReadAccounting } from "./source.js";
import type { EURecord, EUId } from "./types.js";
import { BomStrip } from "./utf8.js";
import { duplicateJsonKey } from "../../core/json-keys.js";

/** One element's raw text, its 0-based index, the line where it starts and where it ends. */
export interface JsonElement {
  /** Its bytes up to the `,` or `]` after it (whitespace after its text may be left out). */
  bytes: Buffer;
  index: number;
  line: number;
  /** Offset in the stream just past the element's last byte. */
  end: number;
  /** Its length up to the `,` or `]` after it, whatever `bytes` holds (its record's `rawBytes`). */
  span: number;
}

// Scanner phases.
/** Before the opening `[`. */
const START = 0;
/** After `[`: an element or `]`. */
const FIRST = 1;
/** After `,`: an element. */
const NEXT = 2;
/** Inside an element. */
const ELEMENT = 3;
/** After the closing `]`: whitespace only. */
const AFTER = 4;

const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

function isWs(c: number): boolean {
  return c === 0x20 || c === LF || c === 0x0d || c === 0x09;
}

/** The number of whitespace bytes at the end of `b[from, to)`. */
function trailingWs(b: Buffer, from: number, to: number): number {
  let j = to;
  while (j > from && isWs(b[j - 1] as number)) j--;
  return to - j;
}

function showByte(c: number): string {
  return c >= 0x21 && c <= 0x7e ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, "0")}`;
}

/** measure()'s output: the measuring mode hands out no element. */
const NO_ELEMENTS: JsonElement[] = [];

/** Splits a byte stream holding one JSON array into its elements' texts. */
export class JsonArraySplitter {
  private phase = START;
  /** Current line (1-based). */
  private line = 1;
  /** Index of the next element. */
  private index = 0;
  /** Nesting depth inside the current element, and the opening bracket of each level. */
  private depth = 0;
  private openers = new Uint8Array(64);
  private inString = false;
  private escaped = false;
  private parts: Buffer[] = [];
  /** The current element's bytes so far (those in `parts`, when held). */
  private partLen = 0;
  /** How many of the last of those bytes are whitespace. */
  private tailWs = 0;
  /**
   * The current element's text is complete (depth 0, outside strings) and the whitespace
   * after it was dropped from `parts` (trimTrailingWs): only whitespace, `,` or `]` may follow.
   */
  private wsDropped = false;
  private elemLine = 0;
  /** Stream offset of the current element's first byte. */
  private elemOffset = 0;
  /** Bytes scanned in earlier chunks (the offset of the current chunk's first byte). */
  private offset = 0;

  /**
   * `hold` false: the measuring mode (JsonArrayBound), fed by measure(): the same scan, with the
   * same errors at the same bytes, but no element's bytes held and none handed out.
   */
  constructor(
    private readonly maxElementBytes: number,
    private readonly display: string,
    private readonly hold = true,
  ) {}

  /** The error met so far; raised by check() once the elements before it are consumed. */
  private failure: unknown;

  /**
   * Appends the elements completed in `chunk` to `out`. An error is held back until check(),
   * so the elements before it are still delivered first and the error a reader reports never
   * depends on how the input was chunked.
   */
  push(chunk: Buffer, out: JsonElement[]): void {
    if (this.failure !== undefined) return;
    try {
      this.scan(chunk, out);
    } catch (err) {
      this.failure = err;
    }
  }

  /** Throws the held-back error, if any. */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Whether an error was met (and held back). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * The measuring mode's push(): scans `chunk`, throwing an element's size error at once; any
   * other error is held back (check()) and the scan stops there, as in push().
   */
  measure(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    try {
      this.scan(chunk, NO_ELEMENTS);
    } catch (err) {
      if (err instanceof CairnError && err.code === ErrorCode.LIMIT_EXCEEDED) throw err;
      this.failure = err;
    }
  }

  private scan(chunk: Buffer, out: JsonElement[]): void {
    const n = chunk.length;
    let { phase, line, depth, inString, escaped } = this;
    let i = 0;
    /** Start of the current element's bytes in this chunk (when phase is ELEMENT). */
    let elemStart = 0;
    const base = this.offset;
    const endElement = (end: number): void => {
      const len = this.partLen + (end - elemStart);
      if (len > this.maxElementBytes) {
        // Without the whitespace at its end (in the held bytes too when the tail is all whitespace).
        const ws = trailingWs(chunk, elemStart, end);
        if (len - (ws === end - elemStart ? ws + this.tailWs : ws) > this.maxElementBytes) this.tooBig();
      }
      if (this.hold) {
        const tail = chunk.subarray(elemStart, end);
        const bytes = this.partLen === 0 ? tail : Buffer.concat([...this.parts, tail], len);
        out.push({ bytes, index: this.index, line: this.elemLine, end: base + end, span: base + end - this.elemOffset });
      }
      if (this.parts.length > 0) this.parts = [];
      this.partLen = 0;
      this.tailWs = 0;
      this.index++;
      this.wsDropped = false;
    };
    if (phase === ELEMENT && this.wsDropped) {
      while (i < n && isWs(chunk[i] as number)) {
        if (chunk[i] === LF) line++;
        i++;
      }
      // Text after the dropped whitespace would be part of the element, over the limit then.
      if (i < n && chunk[i] !== COMMA && chunk[i] !== CLOSE_BRACKET) this.tooBig();
      elemStart = i; // nothing more of the element is held: the loop ends it at this byte
    }
    while (i < n) {
      if (phase === ELEMENT) {
        if (inString) {
          if (escaped) {
            escaped = false;
            if (chunk[i] === LF) line++;
            i++;
          }
          while (i < n) {
            const c = chunk[i] as number;
            i++;
            if (c === QUOTE) {
              inString = false;
              break;
            }
            if (c === BACKSLASH) {
              if (i < n) {
                if (chunk[i] === LF) line++;
                i++;
              } else escaped = true;
            } else if (c === LF) line++;
          }
          continue;
        }
        const c = chunk[i] as number;
        if (c === QUOTE) inString = true;
        else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
          if (depth === this.openers.length) {
            const grown = new Uint8Array(this.openers.length * 2);
            grown.set(this.openers);
            this.openers = grown;
          }
          this.openers[depth++] = c;
        } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
          if (depth > 0) {
            const opener = this.openers[--depth];
            if (opener !== c - 2) {
              // ']' is '[' + 2 and '}' is '{' + 2 in ASCII.
              throw this.brokenElement(i - elemStart, `invalid JSON: expected '${opener === OPEN_BRACKET ? "]" : "}"}' but found '${String.fromCharCode(c)}'`);
            }
          } else if (c === CLOSE_BRACKET) {
            endElement(i);
            phase = AFTER;
          } else {
            throw this.brokenElement(i - elemStart, `invalid JSON: unexpected '}'`);
          }
        } else if (c === COMMA) {
          if (depth === 0) {
            endElement(i);
            phase = NEXT;
          }
        } else if (c === LF) line++;
        i++;
        continue;
      }
      const c = chunk[i] as number;
      if (isWs(c)) {
        if (c === LF) line++;
        i++;
        continue;
      }
      switch (phase) {
        case START:
          if (c !== OPEN_BRACKET) throw this.fail(line, `not a JSON array: the input starts with ${showByte(c)}`);
          phase = FIRST;
          i++;
          break;
        case FIRST:
        case NEXT:
          if (c === CLOSE_BRACKET) {
            if (phase === NEXT) throw this.fail(line, `invalid JSON: trailing comma after element ${this.index - 1}`);
            phase = AFTER;
            i++;
          } else if (c === COMMA) {
            throw this.fail(line, `element ${this.index}: invalid JSON: missing value before ','`);
          } else {
            // The element starts here; the ELEMENT branch re-reads this byte.
            phase = ELEMENT;
            depth = 0;
            inString = false;
            escaped = false;
            elemStart = i;
            this.elemLine = line;
            this.elemOffset = base + i;
          }
          break;
        default: // AFTER
          throw this.fail(line, `invalid JSON: unexpected ${showByte(c)} after the end of the array`);
      }
    }
    if (phase === ELEMENT) {
      const rest = n - elemStart;
      if (rest > 0) {
        if (this.hold) this.parts.push(chunk.subarray(elemStart));
        this.partLen += rest;
        const ws = trailingWs(chunk, elemStart, n);
        this.tailWs = ws === rest ? this.tailWs + ws : ws;
        if (this.partLen > this.maxElementBytes) {
          // Whitespace after the element's text (depth 0, outside strings) is not its bytes.
          if (depth > 0 || inString || !this.trimTrailingWs()) this.tooBig();
        }
      }
    }
    this.offset = base + n;
    this.phase = phase;
    this.line = line;
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
  }

  /**
   * Drops the whitespace at the end of the held bytes (after a complete element text) when the
   * text before it is within the limit; returns false when it is not (the element is too big).
   */
  private trimTrailingWs(): boolean {
    let ws = this.tailWs;
    if (this.partLen - ws > this.maxElementBytes) return false;
    this.partLen -= ws;
    this.tailWs = 0;
    while (this.hold && ws > 0) {
      const b = this.parts.pop() as Buffer;
      if (b.length > ws) this.parts.push(b.subarray(0, b.length - ws));
      ws -= Math.min(ws, b.length);
    }
    this.wsDropped = true;
    return true;
  }

  /** Checks the input ended at a proper place. */
  end(): void {
    this.check();
    switch (this.phase) {
      case AFTER:
        return;
      case START: // nothing but whitespace (a BOM removed)
        throw this.fail(1, "input is empty: expected a JSON array (`[]` for no records)");
      case ELEMENT:
        throw this.elementError(`unexpected end of input inside the element (the JSON array is not closed)`);
      case NEXT:
        throw this.fail(this.line, `unexpected end of input after element ${this.index - 1}: the JSON array is not closed`);
      default:
        throw this.fail(this.line, `unexpected end of input: the JSON array is not closed`);
    }
  }

  private fail(line: number, what: string): CairnError {
    return new CairnError(ErrorCode.INVALID_INPUT, `${this.display}:${line}: ${what}`, { file: this.display, line });
  }

  /**
   * A structural error inside the current element, `here` bytes into this chunk's part of it:
   * the size error instead when the element's bytes before the error already exceed the limit.
   * Read in pieces, such an element is refused for its size at the end of a piece, before the
   * scan reaches the error; so the size error wins whatever the chunking.
   */
  private brokenElement(here: number, what: string): CairnError {
    if (this.partLen + here > this.maxElementBytes) return this.tooBigError();
    return this.elementError(what);
  }

  /** An error about the current element: names its index and the line where it starts. */
  private elementError(what: string): CairnError {
    const line = this.elemLine;
    return new CairnError(ErrorCode.INVALID_INPUT, `${recordPlace(this.display, line, this.index, "element")}: ${what}`, {
      file: this.display,
      line,
      index: this.index,
    });
  }

  private tooBig(): never {
    throw this.tooBigError();
  }

  private tooBigError(): CairnError {
    const line = this.elemLine;
    return new CairnError(
      ErrorCode.LIMIT_EXCEEDED,
      `${recordPlace(this.display, line, this.index, "element")}: the element is larger than the record size limit of ${this.maxElementBytes} bytes`,
      { file: this.display, line, index: this.index, limit: this.maxElementBytes },
    );
  }
}

/**
 * The `json` reader's size rule applied to the raw bytes while the input is stored (ingest.ts):
 * the reader's scanner in its measuring mode, after the readers' BOM rule (utf8.ts BomStrip),
 * so an element is refused at the same byte and with the same error (E_LIMIT_EXCEEDED, its
 * index and the line where it starts) as when the run reads it, once about the limit of it has
 * been copied: one huge element, a minified array's element, an endless stream inside one.
 *
 * Any other error the scanner meets (the input does not start with `[` — `/dev/zero`'s NUL
 * bytes —, bytes after the closing `]`, a stray `,` or `}`) is the reader's too, met at the same
 * byte; it is raised here only once more than the limit has come after the chunk where it was
 * met (the copy of an endless stream stops at about the limit), else the reader reports it, after
 * the elements before it, as it did. Whitespace (where the reader skips it: around elements,
 * before `[`, after `]`) is valid JSON of any length: never refused here, nor by the reader.
 *
 * Every input refused here is refused by the reader with the same error, unless an element
 * before that byte is refused first (invalid JSON or UTF-8, a duplicate key or id: elements are
 * not parsed here, as line-bound.ts does not parse lines). Cost: the reader's byte loop once more.
 */
export class JsonArrayBound {
  private readonly bom = new BomStrip();
  private readonly scanner: JsonArraySplitter;
  /** Bytes come after the chunk where the scanner met an error other than a size error. */
  private after = 0;

  constructor(
    private readonly max: number,
    display: string,
  ) {
    this.scanner = new JsonArraySplitter(max, display, false);
  }

  /** The next raw bytes of the input; throws the size error of an element over the limit. */
  push(raw: Buffer): void {
    const chunk = this.bom.push(raw);
    if (!this.scanner.failed) this.scanner.measure(chunk);
    else if ((this.after += chunk.length) > this.max) this.scanner.check();
  }

  /** The end of the input (an unclosed array and the like: the reader reports those). */
  end(): void {
    this.scanner.measure(this.bom.end());
  }
}

/** Parses one element's text (UTF-8 checked), naming the element and its line on failure; returns the value and the text. */
export function parseElement(el: JsonElement, display: string, allowDuplicateKeys = false): { value: unknown; text: string } {
  const fail = (what: string): CairnError =>
    new CairnError(ErrorCode.INVALID_INPUT, `${recordPlace(display, el.line, el.index, "element")}: ${what}`, {
      file: display,
      line: el.line,
      index: el.index,
    });
  if (!isUtf8(el.bytes)) throw fail("invalid UTF-8");
  const text = el.bytes.toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(`invalid JSON: ${jsonParseMessage(err)}`);
  }
  const dup = allowDuplicateKeys ? null : duplicateJsonKey(text);
  // Named where the element starts, as every reader error is (before 2026-11-28: at the line of
  // the repeated key); the message gives both keys' lines in the file.
  if (dup !== null) throw fail(duplicateKeyMessage(dup, el.line));
  return { value, text };
}

/** `json` format. */
export async function* readJsonArray(
  chunks: AsyncIterable<Buffer>,
  display: string,
  maxRecordBytes: number,
  idField: string | undefined,
  acct: ReadAccounting,
  allowDuplicateKeys = false,
  lenientIds = false,
): AsyncGenerator<EURecord, void, undefined> {
  const splitter = new JsonArraySplitter(maxRecordBytes, display);
  acct.holdBytes(); // counted as elements are handed out, for progress
  const batch: JsonElement[] = [];
  for await (const chunk of chunks) {
    batch.length = 0;
    splitter.push(chunk, batch);
    for (const el of batch) {
      const { value: input, text } = parseElement(el, display, allowDuplicateKeys);
      const id: EUId =
        idField === undefined
          ? el.index
          : idFromJsonRecord(input, idField, { file: display, line: el.line, index: el.index, noun: "element" }, lenientIds ? undefined : text);
      acct.addRecord();
      acct.consumedTo(el.end);
      yield { index: el.index, id, input, source: { file: display, line: el.line }, rawBytes: el.span };
    }
    splitter.check();
  }
  splitter.end();
  acct.finish();
}
