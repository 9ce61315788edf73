/**
 * The four JSON serialisations of PGS v0.3 (SEMANTICS 0.1), i.e. Python `json.dumps` variants:
 *
 * | function        | Python equivalent                                               | used for                     |
 * |-----------------|-----------------------------------------------------------------|------------------------------|
 * | `canonicalJson` | `dumps(v, sort_keys=True, separators=(",", ":"))`               | generate_id, trace-id suffix |
 * | `compactJson`   | `dumps(v, separators=(",", ":"))`                               | trace lines, CLI output      |
 * | `spacedJson`    | `dumps(v)`                                                      | registry / append-only lines |
 * | `prettyJson`    | `dumps(v, indent=2, ensure_ascii=False)`                        | mutable-JSON storage file    |
 *
 * The first three escape like `ensure_ascii=True`: U+0020..U+007E as-is except `"` and `\`;
 * `\b \f \n \r \t` short; every other UTF-16 code unit (other controls, DEL, all non-ASCII,
 * each half of a surrogate pair) as lowercase `\uXXXX`; `/` is not escaped. The pretty form
 * escapes only `"`, `\` and C0 controls (like `JSON.stringify`) and keeps the rest raw; it
 * refuses lone surrogates, which cannot be written as UTF-8 (Python raises when writing).
 *
 * Numbers: ints (`bigint`) as decimal digits (at most `PY_INT_MAX_STR_DIGITS`), floats as
 * Python `repr` (`1.0`, `1e+16`, `NaN`). Canonical key order is by Unicode code point.
 * Parsing (lossless, Python `json.loads` semantics) lives in pyjson-parse.ts and is re-exported.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { pyFloatRepr, pyIntStr } from "./pynum.js";
import { compareCodePoints, type PyValue } from "./pyvalue.js";

export { parsePyJson, type PyJsonParseOptions } from "./pyjson-parse.js";

/** Deepest nesting the serialisers accept (also stops a cyclic `Map`/array from looping). */
export const PYJSON_MAX_DEPTH = 512;
/** Indentation of the pretty form. */
const PRETTY_INDENT = "  ";

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x22: '\\"',
  0x5c: "\\\\",
  0x08: "\\b",
  0x0c: "\\f",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
};
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;

function hex4(c: number): string {
  return `\\u${c.toString(16).padStart(4, "0")}`;
}

/** A JSON string literal with `ensure_ascii=True` escaping. */
export function asciiJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += hex4(c);
  }
  return `${out}"`;
}

/** A JSON string literal with `ensure_ascii=False` escaping (only `"`, `\`, C0 controls). */
export function rawJsonString(s: string): string {
  if (LONE_SURROGATE_RE.test(s)) {
    throw new CairnError(ErrorCode.INVALID_INPUT, "string contains a lone surrogate, which cannot be encoded as UTF-8");
  }
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += hex4(c);
    else out += s[i];
  }
  return `${out}"`;
}

function scalar(v: PyValue): string | undefined {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "bigint") return intText(v);
  if (typeof v === "number") return pyFloatRepr(v);
  return undefined;
}

function intText(i: bigint): string {
  try {
    return pyIntStr(i);
  } catch (err) {
    throw new CairnError(ErrorCode.LIMIT_EXCEEDED, (err as Error).message);
  }
}

function tooDeep(): never {
  throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `JSON nesting deeper than ${PYJSON_MAX_DEPTH} (or a cyclic value)`);
}

interface LineStyle {
  readonly item: string;
  readonly key: string;
  readonly sortKeys: boolean;
}

function encodeLine(v: PyValue, style: LineStyle, depth: number): string {
  const s = scalar(v);
  if (s !== undefined) return s;
  if (typeof v === "string") return asciiJsonString(v);
  if (depth >= PYJSON_MAX_DEPTH) tooDeep();
  if (Array.isArray(v)) return `[${v.map((x) => encodeLine(x, style, depth + 1)).join(style.item)}]`;
  const m = v as Map<string, PyValue>;
  const keys = [...m.keys()];
  if (style.sortKeys) keys.sort(compareCodePoints);
  const parts = keys.map((k) => `${asciiJsonString(k)}${style.key}${encodeLine(m.get(k) as PyValue, style, depth + 1)}`);
  return `{${parts.join(style.item)}}`;
}

const CANONICAL: LineStyle = { item: ",", key: ":", sortKeys: true };
const COMPACT: LineStyle = { item: ",", key: ":", sortKeys: false };
const SPACED: LineStyle = { item: ", ", key: ": ", sortKeys: false };

/** Python `json.dumps(v, sort_keys=True, separators=(",", ":"))`. */
export function canonicalJson(v: PyValue): string {
  return encodeLine(v, CANONICAL, 0);
}

/** Python `json.dumps(v, separators=(",", ":"))`: insertion order, ASCII-escaped. */
export function compactJson(v: PyValue): string {
  return encodeLine(v, COMPACT, 0);
}

/** Python `json.dumps(v)`: `", "` and `": "` separators, insertion order, ASCII-escaped. */
export function spacedJson(v: PyValue): string {
  return encodeLine(v, SPACED, 0);
}

/** Python `json.dumps(v, indent=2, ensure_ascii=False)` (no trailing newline). */
export function prettyJson(v: PyValue): string {
  return encodePretty(v, "", 0);
}

function encodePretty(v: PyValue, indent: string, depth: number): string {
  const s = scalar(v);
  if (s !== undefined) return s;
  if (typeof v === "string") return rawJsonString(v);
  if (depth >= PYJSON_MAX_DEPTH) tooDeep();
  const inner = indent + PRETTY_INDENT;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    const items = v.map((x) => inner + encodePretty(x, inner, depth + 1));
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  const m = v as Map<string, PyValue>;
  if (m.size === 0) return "{}";
  const items = [...m].map(([k, x]) => `${inner}${rawJsonString(k)}: ${encodePretty(x, inner, depth + 1)}`);
  return `{\n${items.join(",\n")}\n${indent}}`;
}
