/** EU id extraction for `idField` and the shared shape of "this record is bad" errors. */
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { EUId, InputFormat } from "./types.js";
import type { DuplicateJsonKey, TextPosition } from "../../core/json-keys.js";
import { printableJson } from "../../core/describe.js";

/** Where a record sits, for error messages: `${file}:${line}: ${noun} ${index}: …`. */
export interface RecordLocation {
  file: string;
  line: number;
  index: number;
  /** "record" (jsonl, csv) or "element" (json array). */
  noun: "record" | "element";
}

/** How input errors name a record: `element N` for the json format (an array element), `record N` for the others. */
export function recordNoun(format: InputFormat): RecordLocation["noun"] {
  return format === "json" ? "element" : "record";
}

/**
 * Where a record sits, as every input error names it: `${file}:${line}: ${noun} ${index}`, or
 * `${file}: ${noun} ${index}` for a record without lines (the files format: `file` is the file).
 */
export function recordPlace(file: string, line: number | null | undefined, index: number, noun: RecordLocation["noun"]): string {
  return line === null || line === undefined ? `${file}: ${noun} ${index}` : `${file}:${line}: ${noun} ${index}`;
}

/** E_INVALID_INPUT `${file}:${line}: ${noun} ${index}: ${what}` with the location in details. */
export function recordError(loc: RecordLocation, what: string, extra: Record<string, unknown> = {}): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `${recordPlace(loc.file, loc.line, loc.index, loc.noun)}: ${what}`, {
    file: loc.file,
    line: loc.line,
    index: loc.index,
    ...extra,
  });
}

/**
 * The message for a duplicate key in a JSON record: `JSON.parse` would keep the last value
 * silently. A JSONL record is one line, so its keys are named by column; an element of a JSON
 * array by its line in the file (`firstLine`: the line its text starts on). A key longer than
 * MAX_ECHOED_CHARS is quoted cut, with its length, and its control characters escaped (`printableJson`).
 */
export function duplicateKeyMessage(dup: DuplicateJsonKey, firstLine?: number): string {
  const pos = (p: TextPosition): string => (firstLine === undefined ? `column ${p.column}` : `line ${firstLine + p.line - 1}`);
  return `duplicate key ${printableJson(dup.key)} at ${pos(dup.at)} (first at ${pos(dup.first)}): a record's keys must be unique (only the last value would be kept)`;
}

/**
 * A short description of a JSON value's kind, for error messages. `literal`: the number's
 * text as written in the input, quoted instead of the parsed double (which may be rounded).
 */
export function describeJsonValue(v: unknown, literal?: string): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "boolean":
      return `a boolean (${String(v)})`;
    case "number": {
      const text = literal ?? String(v);
      if (!Number.isInteger(v)) return `a non-integer number (${text})`;
      if (literal !== undefined && !INTEGER_LITERAL.test(literal)) {
        return `a number written with a fraction or an exponent (${text}): write an integer id with digits only`;
      }
      if (Number.isSafeInteger(v)) return `an integer (${text})`;
      return `an integer outside the safe range ±(2^53-1) (${text})`;
    }
    case "string":
      return "a string";
    case "object":
      return "an object";
    default:
      return typeof v;
  }
}

/** A JSON number written as an integer: digits only, no fraction or exponent. */
const INTEGER_LITERAL = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * The id held by `value` (a member of a record), or throws naming the record and field.
 * Accepted: well-formed strings (no lone surrogates) and safe integers (-0 becomes 0).
 * `literal`: a number's text as written, when known. A number is an id only when that text is
 * an integer literal: `JSON.parse` rounds to a double, so `1.0000000000000001` and
 * `9007199254740990.9` would otherwise become the ids 1 and 9007199254740991 silently (and
 * `5.0`, `1e3` are refused alike).
 */
export function idFromFieldValue(value: unknown, field: string, loc: RecordLocation, literal?: string): EUId {
  if (typeof value === "string") {
    // An id is hashed and stored as canonical JSON, which a lone surrogate has no form in
    // (a JSON escape such as "\ud800" can produce one).
    if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) {
      throw recordError(loc, `id field ${printableJson(field)} is a string with a lone surrogate (an id must have a canonical JSON form)`, { field });
    }
    return value;
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && (literal === undefined || INTEGER_LITERAL.test(literal))) return value === 0 ? 0 : value;
  throw recordError(loc, `id field ${printableJson(field)} must be a string or an integer, got ${describeJsonValue(value, literal)}`, {
    field,
  });
}

/**
 * The `field` member of a parsed JSON record as an EU id (jsonl and json formats). `text`:
 * the record's JSON text, to read a number id as written (idFromFieldValue); without it (a
 * lenient re-read of a run's stored input, `ReaderOptions.lenientIds`) a number is taken as
 * parsed.
 */
export function idFromJsonRecord(record: unknown, field: string, loc: RecordLocation, text?: string): EUId {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw recordError(loc, `is ${describeJsonValue(record)}, not an object, so it has no id field ${printableJson(field)}`, {
      field,
    });
  }
  if (!Object.prototype.hasOwnProperty.call(record, field)) {
    throw recordError(loc, `missing id field ${printableJson(field)}`, { field });
  }
  const value = (record as Record<string, unknown>)[field];
  // Only a number's text is needed (a string id is exact): found by a scan of the record's
  // top level that stops at the member.
  const literal = typeof value === "number" && text !== undefined ? memberText(text, field) : undefined;
  return idFromFieldValue(value, field, loc, literal);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The next string or bracket (a scalar holds none of these). */
const STRUCTURE_RE = /["[\]{}]/g;
/** The end of a scalar. */
const SCALAR_END_RE = /[\s,\]}]/g;
/** Field names for memberText's fast path: printable ASCII without quotes, backslashes or JSON punctuation. */
const SIMPLE_FIELD_RE = /^[\x20-\x7e]+$/;
const PUNCTUATION_RE = /["\\:,[\]{}]/;
/** The field memberText last saw, and its JSON string when it qualifies for the fast path. */
let quotedFor: string | undefined;
let quoted: string | undefined;

/**
 * The text of the top-level member `field` of `text`, a JSON object already parsed (so well
 * formed) that has that member (the caller checked: `hasOwnProperty` of the parsed value).
 * Keys with escapes are decoded; the first member of that name is returned (a record with a
 * key written twice is refused before its id is read, except in a lenient re-read, which does
 * not call this). Run only for a number id, and mostly native scans: see the fast path.
 */
export function memberText(text: string, field: string): string | undefined {
  // Fast path (native scans only): with no backslash in the text, every '"' delimits a string,
  // and two strings are always separated by ':' or ','; so for a field name without those
  // characters, `"field"` occurring once can only be that member's key.
  if (field !== quotedFor) {
    quotedFor = field;
    quoted = SIMPLE_FIELD_RE.test(field) && !PUNCTUATION_RE.test(field) ? JSON.stringify(field) : undefined;
  }
  if (quoted !== undefined && text.indexOf("\\") === -1) {
    const at = text.indexOf(quoted);
    if (at !== -1 && text.indexOf(quoted, at + 1) === -1) {
      const v = skipWs(text, skipWs(text, at + quoted.length) + 1);
      return text.slice(v, valueEnd(text, v));
    }
  }
  let i = skipWs(text, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(text, i);
    if (text.charCodeAt(i) !== QUOTE) return undefined; // '}' (or not an object)
    const keyEnd = stringEnd(text, i);
    const raw = text.slice(i + 1, keyEnd - 1);
    const key = raw.includes("\\") ? (JSON.parse(`"${raw}"`) as string) : raw;
    i = skipWs(text, keyEnd) + 1; // past ':'
    i = skipWs(text, i);
    const end = valueEnd(text, i);
    if (key === field) return text.slice(i, end);
    i = skipWs(text, end);
    if (text.charCodeAt(i) !== 0x2c /* , */) return undefined;
    i++;
  }
}

function skipWs(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Just past the string that starts at `i` (a '"'). */
function stringEnd(s: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = s.indexOf('"', j);
    if (q === -1) return s.length;
    let k = q - 1;
    while (s.charCodeAt(k) === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1; // an even number of backslashes: not escaped
    j = q + 1;
  }
}

/** Just past the value that starts at `i`. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return stringEnd(s, i);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0;
    STRUCTURE_RE.lastIndex = i;
    for (;;) {
      const m = STRUCTURE_RE.exec(s);
      if (m === null) return s.length;
      const at = m.index;
      const d = s.charCodeAt(at);
      if (d === QUOTE) STRUCTURE_RE.lastIndex = stringEnd(s, at);
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (--depth === 0) return at + 1;
    }
  }
  SCALAR_END_RE.lastIndex = i;
  const m = SCALAR_END_RE.exec(s);
  return m === null ? s.length : m.index;
}
