/**
 * Duplicate keys in JSON text. `JSON.parse` keeps the last of two equal keys without a word, so
 * a value would be dropped silently: Cairn workflow declarations (YAML is parsed with unique
 * keys, so JSON must refuse them too) and batch JSON/JSONL input (whose records are hashed as
 * RFC 8785 canonical JSON, which I-JSON's unique names underlie) refuse them. The scan runs on
 * text `JSON.parse` has accepted, so it only has to tell keys from values: a string is a key
 * when it opens an object member. Keys are compared after unescaping (`"a"` and `"\u0061"` are
 * the same key, as `JSON.parse` sees them).
 */
/** Where a key is written (1-based line and column, columns in UTF-16 code units). */
export interface TextPosition {
  line: number;
  column: number;
}

export interface DuplicateJsonKey {
  key: string;
  /** The second occurrence. */
  at: TextPosition;
  /** The first occurrence, in the same object. */
  first: TextPosition;
}

/** The first key written twice in one object of `text` (valid JSON), or null. */
export function duplicateJsonKey(text: string): DuplicateJsonKey | null {
  if (!text.includes("{")) return null;
  // One entry per open container: the keys of an object, null for an array.
  const open: Array<Map<string, TextPosition> | null> = [];
  let expectKey = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === NEWLINE) {
      line++;
      lineStart = i + 1;
    } else if (c === OPEN_BRACE) {
      open.push(new Map());
      expectKey = true;
    } else if (c === OPEN_BRACKET) {
      open.push(null);
      expectKey = false;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      open.pop();
      expectKey = false;
    } else if (c === COMMA) {
      expectKey = open[open.length - 1] instanceof Map;
    } else if (c === QUOTE) {
      // Valid JSON: the string ends at the next quote not escaped (preceded by an even number of
      // backslashes), on this line; found with indexOf, not a character at a time.
      let j = text.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return null; // not valid JSON (an unterminated string): nothing to report
        let k = j - 1;
        while (text.charCodeAt(k) === BACKSLASH) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const keys = open[open.length - 1];
      if (expectKey && keys instanceof Map) {
        const raw = text.slice(i + 1, j);
        const key = raw.includes("\\") ? (JSON.parse(text.slice(i, j + 1)) as string) : raw;
        const at = { line, column: i - lineStart + 1 };
        const first = keys.get(key);
        if (first !== undefined) return { key, at, first };
        keys.set(key, at);
        expectKey = false;
      }
      i = j;
    }
  }
  return null;
}

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * `at` (a position in `text` from `duplicateJsonKey`, its column in UTF-16 code units) with its
 * column counted in code points, as the lossless parser's messages count them
 * (core/json-parse.ts `textPosition`).
 */
export function codePointPosition(text: string, at: TextPosition): TextPosition {
  const offset = keyOffset(text, at);
  const start = offset - (at.column - 1);
  return { line: at.line, column: [...text.slice(start, offset)].length + 1 };
}

/** The UTF-16 offset in `text` of a position from `duplicateJsonKey`. */
export function keyOffset(text: string, at: TextPosition): number {
  let start = 0;
  for (let line = 1; line < at.line; line++) start = text.indexOf("\n", start) + 1;
  return start + at.column - 1;
}
