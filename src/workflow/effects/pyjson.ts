/**
 * The four JSON serialisations of SEMANTICS Part 0.1, byte-compatible with the reference
 * (Python's `json` module):
 *
 * | name      | separators          | key order  | non-ASCII            | used for                       |
 * |-----------|---------------------|------------|----------------------|--------------------------------|
 * | canonical | `,` `:`             | code point | `\uXXXX` (lowercase) | registry address derivation    |
 * | compact   | `,` `:`             | insertion  | `\uXXXX`             | (trace lines; not used here)   |
 * | spaced    | `, ` `: `           | insertion  | `\uXXXX`             | registry and append-only lines |
 * | pretty    | indent 2, `,` `: `  | insertion  | raw UTF-8            | mutable-JSON storage file      |
 *
 * Numbers: integers as plain decimal digits of any length; floats as Python `repr` (shortest
 * round trip, `.0` when integral, exponent form when the exponent is < -4 or >= 16, with a
 * sign and at least two exponent digits); `NaN`, `Infinity`, `-Infinity` for non-finite floats.
 * See pyvalue.ts for how ints and floats are told apart.
 */
import { ErrorCode } from "../../core/errors.js";
import { EffectErrorReason, effectError } from "./errors.js";
import { PyFloat, isPgsObject, objectEntries, type PgsObject, type PgsValue } from "./pyvalue.js";

/** Deepest nesting the serialiser and the parser accept (Python's default recursion limit is ~1000). */
export const PGS_JSON_MAX_DEPTH = 512;

export type PgsJsonStyle = "canonical" | "compact" | "spaced" | "pretty";

interface StyleSpec {
  readonly itemSep: string;
  readonly keySep: string;
  readonly indent: number | undefined;
  readonly sortKeys: boolean;
  readonly ensureAscii: boolean;
}

const STYLES: Readonly<Record<PgsJsonStyle, StyleSpec>> = Object.freeze({
  canonical: { itemSep: ",", keySep: ":", indent: undefined, sortKeys: true, ensureAscii: true },
  compact: { itemSep: ",", keySep: ":", indent: undefined, sortKeys: false, ensureAscii: true },
  spaced: { itemSep: ", ", keySep: ": ", indent: undefined, sortKeys: false, ensureAscii: true },
  pretty: { itemSep: ",", keySep: ": ", indent: 2, sortKeys: false, ensureAscii: false },
});

const SHORT_ESCAPES: Readonly<Record<number, string>> = Object.freeze({
  0x22: '\\"',
  0x5c: "\\\\",
  0x08: "\\b",
  0x0c: "\\f",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
});

function hex4(code: number): string {
  return `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Python `repr(float)`. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // toExponential() without an argument yields the shortest round-trip digits (like repr).
  const [mantissa = "", expText = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const e = Number(expText);
  if (e < -4 || e >= 16) {
    const m = digits.length === 1 ? digits : `${digits[0] ?? ""}.${digits.slice(1)}`;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  if (digits.length <= e + 1) return `${sign}${digits}${"0".repeat(e + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
}

/** An integer as decimal digits (never exponent form, `-0` as `0`). */
function intText(n: number | bigint): string {
  if (typeof n === "bigint") return n.toString();
  return Number.isSafeInteger(n) ? String(n === 0 ? 0 : n) : BigInt(n).toString();
}

/** Python's encoding of a number in the PGS value model. */
export function pyNumberText(v: number | bigint | PyFloat): string {
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (typeof v === "bigint" || Number.isInteger(v)) return intText(v);
  return pyFloatRepr(v);
}

function fail(what: string, path: string): never {
  throw effectError(ErrorCode.INVALID_INPUT, EffectErrorReason.UNSERIALISABLE, `cannot serialise ${what} at ${path} as JSON`, { path });
}

/** Encodes a string. ASCII styles escape every code unit outside U+0020..U+007E. */
function stringText(s: string, ensureAscii: boolean, path: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += hex4(c);
    else if (!ensureAscii) {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = s.charCodeAt(i + 1);
        const pair = c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
        if (!pair) fail("a string with a lone surrogate (not encodable as UTF-8)", path);
        out += s[i] + (s[i + 1] ?? "");
        i++;
      } else out += s[i];
    } else if (c > 0x7e) out += hex4(c);
    else out += s[i];
  }
  return `${out}"`;
}

/** Compares strings by Unicode code point (Python `str` ordering). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** Serialises `value` in one of the four PGS styles. Throws E_INVALID_INPUT for values JSON cannot hold. */
export function pgsStringify(value: PgsValue, style: PgsJsonStyle): string {
  const spec = STYLES[style];
  const open = new Set<object>();

  const enc = (v: unknown, path: string, depth: number): string => {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "string") return stringText(v, spec.ensureAscii, path);
    if (typeof v === "number" || typeof v === "bigint" || v instanceof PyFloat) return pyNumberText(v);
    if (typeof v !== "object") fail(`a value of type ${typeof v}`, path);
    if (!Array.isArray(v) && !isPgsObject(v)) fail("a non-plain object", path);
    if (depth >= PGS_JSON_MAX_DEPTH) {
      throw effectError(ErrorCode.LIMIT_EXCEEDED, EffectErrorReason.UNSERIALISABLE, `JSON nesting deeper than ${PGS_JSON_MAX_DEPTH} at ${path}`, { path });
    }
    if (open.has(v)) fail("a circular reference", path);
    open.add(v);
    const inner = spec.indent === undefined ? "" : `\n${" ".repeat(spec.indent * (depth + 1))}`;
    const outer = spec.indent === undefined ? "" : `\n${" ".repeat(spec.indent * depth)}`;
    let parts: string[];
    let brackets: [string, string];
    if (Array.isArray(v)) {
      parts = (v as readonly unknown[]).map((x, i) => enc(x, `${path}[${i}]`, depth + 1));
      brackets = ["[", "]"];
    } else {
      const entries = objectEntries(v as PgsObject);
      if (spec.sortKeys) entries.sort((a, b) => compareCodePoints(a[0], b[0]));
      parts = entries.map(([k, x]) => {
        const sub = `${path}[${JSON.stringify(k)}]`;
        return `${stringText(k, spec.ensureAscii, sub)}${spec.keySep}${enc(x, sub, depth + 1)}`;
      });
      brackets = ["{", "}"];
    }
    open.delete(v);
    if (parts.length === 0) return brackets.join("");
    return `${brackets[0]}${inner}${parts.join(spec.itemSep + inner)}${outer}${brackets[1]}`;
  };

  return enc(value, "$", 0);
}
