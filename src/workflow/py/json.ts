/**
 * The four JSON serialisations of PGS v0.3 (SEMANTICS 0.1), i.e. Python `json.dumps` variants —
 * the only JSON encoder of src/workflow (atoms, CS runtimes, PGS runtime):
 *
 * | function        | Python equivalent                                 | used for                                      |
 * |-----------------|---------------------------------------------------|-----------------------------------------------|
 * | `canonicalJson` | `dumps(v, sort_keys=True, separators=(",", ":"))` | generate_id, trace-id suffix, registry address |
 * | `compactJson`   | `dumps(v, separators=(",", ":"))`                 | trace lines, CLI output                       |
 * | `spacedJson`    | `dumps(v)`                                        | registry / append-only lines (CS files)       |
 * | `prettyJson`    | `dumps(v, indent=2, ensure_ascii=False)`          | mutable-JSON storage file (CS file), summaries |
 *
 * The first three escape like `ensure_ascii=True`: U+0020..U+007E as-is except `"` and `\`;
 * `\b \f \n \r \t` short; every other UTF-16 code unit (other controls, DEL, all non-ASCII,
 * each half of a surrogate pair) as lowercase `\uXXXX`; `/` is not escaped. The pretty form
 * escapes only `"`, `\` and C0 controls (like `JSON.stringify`) and keeps the rest raw; it
 * refuses lone surrogates, which cannot be written as UTF-8 (Python raises when writing), unless
 * asked to write them as `\uXXXX` (`escapeLoneSurrogates`: CLI output and summaries, which must
 * show any value a run produced).
 *
 * Numbers: ints (`bigint`) as decimal digits (at most `PY_INT_MAX_STR_DIGITS`, as Python
 * refuses longer ones), floats as Python `repr` (`1.0`, `1e+16`, `NaN`). Canonical key order is
 * by Unicode code point.
 *
 * Values outside the model (undefined, functions, plain objects, …), lone surrogates in the
 * pretty form, too-long ints and nesting deeper than `PYJSON_MAX_DEPTH` (which also stops a
 * cyclic value) are refused with a `CairnError` whose `details.reason` is
 * `"unserialisable_value"` (`E_INVALID_INPUT`, or `E_LIMIT_EXCEEDED` for the limits). A lone
 * surrogate is reported with its path (`$["k"][0]`, in `details.path` too): the first one in
 * document order, a member's name before its value.
 * Parsing (lossless, Python `json.loads` semantics) lives in json-parse.ts and is re-exported.
 */
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import { pyFloatRepr, pyIntStr } from "./numbers.js";
import { compareCodePoints, type PyValue } from "./value.js";

export { parsePyJson, PYJSON_PARSE_MAX_DEPTH, type PyJsonParseOptions } from "./json-parse.js";

/** Deepest nesting the serialisers accept (also stops a cyclic `Map`/array from looping). */
export const PYJSON_MAX_DEPTH = 512;

/**
 * Deepest payload a workflow run accepts (the payload object is depth 1): half the serialisers'
 * limit, so payload values wrapped in CS records, audit entries and trace details stay
 * serialisable. Without it a payload the parser accepted (up to 512) could fail to serialise
 * mid-run, after an effect was applied and before the next one (a registry DEREGISTER without
 * its audit record).
 */
export const MAX_PAYLOAD_DEPTH = 256;

/** The nesting depth of `v` (a scalar is 0, `{}` and `[]` are 1), counted up to `limit + 1`. */
export function nestingDepth(v: PyValue, limit: number): number {
  if (!(v instanceof Map) && !Array.isArray(v)) return 0;
  if (limit <= 0) return 1;
  let deepest = 0;
  for (const x of v instanceof Map ? v.values() : v) {
    const d = nestingDepth(x, limit - 1);
    if (d > deepest) deepest = d;
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

/** E_INVALID_INPUT when a run's payload is nested deeper than `MAX_PAYLOAD_DEPTH`. */
export function checkPayloadDepth(payload: PyValue): void {
  if (nestingDepth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`, { reason: "payload_too_deep", limit: MAX_PAYLOAD_DEPTH });
  }
}
/** Indentation of the pretty form. */
const PRETTY_INDENT = "  ";
/** `details.reason` of every serialisation refusal. */
export const UNSERIALISABLE_REASON = "unserialisable_value";

function unserialisable(code: ErrorCodeValue, message: string, details: Record<string, unknown> = {}): CairnError {
  return new CairnError(code, message, { reason: UNSERIALISABLE_REASON, ...details });
}

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

/** Printable ASCII other than the quote and the backslash: such a string is its own JSON body under every escaping rule. */
const PLAIN_ASCII_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Recent `asciiJsonString` results (a pure function of the string): a run encodes the same member
 * names, FQDNs and statuses hundreds of times, and so does the next run. Bounded: strings up to
 * ASCII_MEMO_MAX_CHARS only, emptied when full.
 */
const ASCII_MEMO_MAX = 4096;
const ASCII_MEMO_MAX_CHARS = 256;
const asciiMemo = new Map<string, string>();

/** A JSON string literal with `ensure_ascii=True` escaping. */
export function asciiJsonString(s: string): string {
  if (s.length > ASCII_MEMO_MAX_CHARS) return encodeAscii(s);
  const known = asciiMemo.get(s);
  if (known !== undefined) return known;
  const out = encodeAscii(s);
  if (asciiMemo.size >= ASCII_MEMO_MAX) asciiMemo.clear();
  asciiMemo.set(s, out);
  return out;
}

function encodeAscii(s: string): string {
  if (PLAIN_ASCII_RE.test(s)) return `"${s}"`;
  return `"${escapeRuns(s, 0x7e)}"`;
}

/** Escaped pieces joined into one string at a time (bounds the list of pieces `escapeRuns` holds). */
const ESCAPE_JOIN_PIECES = 4096;

/**
 * The JSON string body of `s` where every code unit below U+0020 or above `maxPlain`, `"` and
 * `\` is escaped (short where JSON has a short escape, else lowercase `\uXXXX`, each half of a
 * surrogate pair alone) and every other is kept. Linear in `s`: the runs between escapes are
 * copied as slices and the pieces joined a block at a time. (A character-by-character `+=`, one
 * rope node per character, made a 50 MB user-CT result cost 2.9 GB and ~1 min of GC; UAT-2 F1.)
 */
function escapeRuns(s: string, maxPlain: number): string {
  const blocks: string[] = [];
  let pieces: string[] = [];
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= maxPlain && c !== 0x22 && c !== 0x5c) continue;
    if (i > from) pieces.push(s.slice(from, i));
    pieces.push(SHORT_ESCAPES[c] ?? hex4(c));
    from = i + 1;
    if (pieces.length >= ESCAPE_JOIN_PIECES) {
      blocks.push(pieces.join(""));
      pieces = [];
    }
  }
  if (from < s.length) pieces.push(from === 0 ? s : s.slice(from));
  blocks.push(pieces.join(""));
  return blocks.length === 1 ? (blocks[0] as string) : blocks.join("");
}

/** A path (array indices, member names) as the refusals write it: `$[0]["k"]`. */
function pathText(path: readonly (number | string)[]): string {
  return `$${path.map((seg) => `[${typeof seg === "number" ? seg : JSON.stringify(seg)}]`).join("")}`;
}

/** A code unit `ensure_ascii=False` escapes: `"`, `\` or a C0 control (Python's `ESCAPE`). */
// eslint-disable-next-line no-control-regex -- control characters are what is escaped
const RAW_NEEDS_ESCAPE_RE = /["\\\x00-\x1f]/;

/**
 * A JSON string literal with `ensure_ascii=False` escaping (only `"`, `\`, C0 controls).
 * `path` (array indices, member names) only names the string in the refusal of a lone surrogate.
 */
export function rawJsonString(s: string, path: readonly (number | string)[] = [], escapeLone = false): string {
  if (LONE_SURROGATE_RE.test(s)) {
    if (escapeLone) return withLoneSurrogatesEscaped(s, path);
    const at = pathText(path);
    throw unserialisable(ErrorCode.INVALID_INPUT, `cannot serialise a string with a lone surrogate (not encodable as UTF-8) at ${at} as JSON`, { path: at });
  }
  return RAW_NEEDS_ESCAPE_RE.test(s) ? `"${escapeRuns(s, 0xffff)}"` : `"${s}"`;
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
    throw unserialisable(ErrorCode.LIMIT_EXCEEDED, (err as Error).message);
  }
}

function tooDeep(): never {
  throw unserialisable(ErrorCode.LIMIT_EXCEEDED, `JSON nesting deeper than ${PYJSON_MAX_DEPTH} (or a cyclic value)`);
}

/** The `Map` of a container that is not an array; anything else is not a Python value. */
function dictOf(v: unknown): Map<string, PyValue> {
  if (v instanceof Map) return v;
  const what = v === undefined ? "undefined" : typeof v === "object" ? `an object (${Object.prototype.toString.call(v).slice(8, -1)})` : `a ${typeof v}`;
  throw unserialisable(ErrorCode.INVALID_INPUT, `cannot serialise ${what} as JSON: not a Python value`);
}

interface LineStyle {
  readonly item: string;
  readonly key: string;
  readonly sortKeys: boolean;
}

/**
 * Thrown inside `encodeLine` when the text would pass its budget (`compactJsonWithin`); never
 * escapes this module.
 */
class OverBudget {}
const OVER_BUDGET = new OverBudget();

/** `asciiJsonString(s)` when it fits in `budget` characters (checked before encoding a long string). */
function stringWithin(s: string, budget: number): string {
  if (s.length + 2 > budget) throw OVER_BUDGET; // the literal is at least the string and its quotes
  const out = asciiJsonString(s);
  if (out.length > budget) throw OVER_BUDGET;
  return out;
}

/**
 * One value in a line style. `budget` bounds the text's length (`Infinity`: unbounded): each
 * member or item is encoded within what is left of it, so the text being built never passes it
 * and a value too long for it is abandoned (`OVER_BUDGET`) before its text exists.
 */
function encodeLine(v: PyValue, style: LineStyle, depth: number, budget: number): string {
  if (typeof v === "string") return budget === Infinity ? asciiJsonString(v) : stringWithin(v, budget);
  const s = scalar(v);
  if (s !== undefined) {
    if (s.length > budget) throw OVER_BUDGET;
    return s;
  }
  if (depth >= PYJSON_MAX_DEPTH) tooDeep();
  if (budget < 2) throw OVER_BUDGET; // `[]` / `{}`
  let out: string;
  if (Array.isArray(v)) {
    out = "[";
    for (let i = 0; i < v.length; i++) {
      const sep = i === 0 ? "" : style.item;
      out += sep + encodeLine(v[i] as PyValue, style, depth + 1, budget - out.length - sep.length - 1);
    }
    return `${out}]`;
  }
  const m = dictOf(v);
  out = "{";
  if (style.sortKeys) {
    const keys = [...m.keys()].sort(compareCodePoints);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      out += member(i === 0 ? "" : style.item, k, m.get(k) as PyValue, style, depth, budget - out.length - 1);
    }
  } else {
    let first = true;
    for (const [k, x] of m) {
      out += member(first ? "" : style.item, k, x, style, depth, budget - out.length - 1);
      first = false;
    }
  }
  return `${out}}`;
}

/** `<sep><name><key separator><value>` of one dict member, within `budget` characters. */
function member(sep: string, k: string, x: PyValue, style: LineStyle, depth: number, budget: number): string {
  if (budget === Infinity) return `${sep}${asciiJsonString(k)}${style.key}${encodeLine(x, style, depth + 1, Infinity)}`;
  const name = stringWithin(k, budget - sep.length - style.key.length);
  return `${sep}${name}${style.key}${encodeLine(x, style, depth + 1, budget - sep.length - name.length - style.key.length)}`;
}

const CANONICAL: LineStyle = { item: ",", key: ":", sortKeys: true };
const COMPACT: LineStyle = { item: ",", key: ":", sortKeys: false };
const SPACED: LineStyle = { item: ", ", key: ": ", sortKeys: false };

/** Python `json.dumps(v, sort_keys=True, separators=(",", ":"))`. */
export function canonicalJson(v: PyValue): string {
  return encodeLine(v, CANONICAL, 0, Infinity);
}

/** Python `json.dumps(v, separators=(",", ":"))`: insertion order, ASCII-escaped. */
export function compactJson(v: PyValue): string {
  return encodeLine(v, COMPACT, 0, Infinity);
}

/**
 * `compactJson(v)` when it is at most `maxChars` characters long (= bytes: the text is ASCII),
 * else `undefined` — found out without building more than `maxChars` characters of it (the
 * trace writer's size limit, pgs/trace.ts). A value the serialiser refuses is refused as by
 * `compactJson` when the refusal comes first in document order, within the budget.
 */
export function compactJsonWithin(v: PyValue, maxChars: number): string | undefined {
  try {
    return encodeLine(v, COMPACT, 0, maxChars);
  } catch (err) {
    if (err === OVER_BUDGET) return undefined;
    throw err;
  }
}

/** Python `json.dumps(v)`: `", "` and `": "` separators, insertion order, ASCII-escaped. */
export function spacedJson(v: PyValue): string {
  return encodeLine(v, SPACED, 0, Infinity);
}

/** Python `json.dumps(v, indent=2, ensure_ascii=False)` (no trailing newline). */
export function prettyJson(v: PyValue, opts: { escapeLoneSurrogates?: boolean } = {}): string {
  return encodePretty(v, "", 0, [], opts.escapeLoneSurrogates === true);
}

/** `rawJsonString` of a string holding a lone surrogate, written as `\uXXXX` (valid JSON, not UTF-8 encodable raw). */
function withLoneSurrogatesEscaped(s: string, path: readonly (number | string)[]): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (pair) {
      i++;
      continue;
    }
    out += rawJsonString(s.slice(from, i), path).slice(1, -1) + hex4(c);
    from = i + 1;
  }
  return `"${out}${rawJsonString(s.slice(from), path).slice(1, -1)}"`;
}

/** `path` is the stack of segments leading to `v`, for the lone-surrogate refusal only. */
function encodePretty(v: PyValue, indent: string, depth: number, path: (number | string)[], escapeLone: boolean): string {
  const s = scalar(v);
  if (s !== undefined) return s;
  if (typeof v === "string") return rawJsonString(v, path, escapeLone);
  if (depth >= PYJSON_MAX_DEPTH) tooDeep();
  const inner = indent + PRETTY_INDENT;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    const items = v.map((x, i) => {
      path.push(i);
      const item = inner + encodePretty(x, inner, depth + 1, path, escapeLone);
      path.pop();
      return item;
    });
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  const m = dictOf(v);
  if (m.size === 0) return "{}";
  const items = [...m].map(([k, x]) => {
    path.push(k);
    const item = `${inner}${rawJsonString(k, path, escapeLone)}: ${encodePretty(x, inner, depth + 1, path, escapeLone)}`;
    path.pop();
    return item;
  });
  return `{\n${items.join(",\n")}\n${indent}}`;
}
