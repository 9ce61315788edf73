/**
 * Python number text conventions (SEMANTICS 0.1 and B.4):
 *
 *  - `pyFloatRepr`: Python `repr(float)` — the shortest round-tripping digits (the same digits as
 *    ECMAScript `Number::toString`), always with `.0` when integral, exponent form when the decimal
 *    exponent is < -4 or >= 16 (`1e+16`, `1e-05`), `NaN`/`Infinity`/`-Infinity`, `-0.0`.
 *  - `pyIntStr`: `str(int)`, refusing more than Python's default 4300 digits.
 *  - `pyFloatFromString`: Python `float(str)` (whitespace, `_` separators, inf/nan, any
 *    Unicode decimal digits), or `undefined` where Python raises ValueError.
 *  - `pyIntFromString`: Python `int(str)`, for the safe integers.
 *
 * "Unicode" is CPython 3.11's, version 14.0.0 (py/unicode.ts), not the Node build's: a digit of
 * a script added since (Kawi, Nag Mundari, Garay…) is no digit, as in the reference.
 */
import { pyDecimalValue } from "./unicode.js";

/** Python's default `sys.int_info.default_max_str_digits`: longer ints cannot be converted to/from text. */
export const PY_INT_MAX_STR_DIGITS = 4300;
/** Python `repr(float)` switches to exponent form below 1e-4 … */
const REPR_EXP_MIN = -4;
/** … and from 1e16 upwards. */
const REPR_EXP_MAX = 16;

/** The shortest round-trip decimal digits of a finite, non-zero |x| and its decimal exponent. */
function shortestDigits(x: number): { digits: string; exp: number } {
  const s = String(Math.abs(x));
  const eAt = s.indexOf("e");
  const mant = eAt < 0 ? s : s.slice(0, eAt);
  const e = eAt < 0 ? 0 : Number(s.slice(eAt + 1));
  const dot = mant.indexOf(".");
  const intPart = dot < 0 ? mant : mant.slice(0, dot);
  const all = intPart + (dot < 0 ? "" : mant.slice(dot + 1));
  let lead = 0;
  while (lead < all.length - 1 && all[lead] === "0") lead++;
  const digits = all.slice(lead).replace(/0+$/, "") || "0";
  return { digits, exp: intPart.length + e - lead - 1 };
}

/** Python `repr(x)` for a float. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "Infinity";
  if (x === Number.NEGATIVE_INFINITY) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const { digits, exp } = shortestDigits(x);
  if (exp < REPR_EXP_MIN || exp >= REPR_EXP_MAX) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const absExp = String(Math.abs(exp)).padStart(2, "0");
    return `${sign}${mant}e${exp < 0 ? "-" : "+"}${absExp}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** Python `str(i)`; throws RangeError beyond `PY_INT_MAX_STR_DIGITS` digits, as Python raises ValueError. */
export function pyIntStr(i: bigint): string {
  const s = i.toString();
  const nDigits = s.length - (i < 0n ? 1 : 0);
  if (nDigits > PY_INT_MAX_STR_DIGITS) {
    throw new RangeError(`integer has ${nDigits} digits; more than ${PY_INT_MAX_STR_DIGITS} cannot be converted to text`);
  }
  return s;
}

/** The whitespace Python `float()` strips: C `isspace` for ASCII, Unicode White_Space above (no U+001C..U+001F). */
const PY_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const DIGITS = String.raw`[0-9](?:_?[0-9])*`;
/** Python's float literal grammar (digitpart with single `_` between digits). */
const FLOAT_RE = new RegExp(String.raw`^[+-]?(?:(?:${DIGITS})?\.${DIGITS}|${DIGITS}\.?)(?:[eE][+-]?${DIGITS})?$`);
const SPECIAL_RE = /^([+-]?)(inf|infinity|nan)$/i;

/** A character beyond ASCII (a decimal digit for `asciiDigits` to map can only be one). */
const NON_ASCII_RE = /[^\0-\x7f]/;

/** Maps each decimal digit beyond ASCII (Unicode 14: `pyDecimalValue`) to its ASCII digit; other characters unchanged. */
function asciiDigits(s: string): string {
  if (!NON_ASCII_RE.test(s)) return s;
  let out = "";
  for (const ch of s) {
    const d = pyDecimalValue(ch.codePointAt(0) as number);
    out += d < 0 ? ch : String(d);
  }
  return out;
}

function isPySpace(ch: string): boolean {
  return PY_SPACE.includes(ch);
}

/**
 * The text `float()` and `int()` parse: `s` without the whitespace around it (`PY_SPACE`), its
 * decimal digits as ASCII ones (CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII`).
 */
function pyNumberText(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isPySpace(s[a] as string)) a++;
  while (b > a && isPySpace(s[b - 1] as string)) b--;
  return asciiDigits(s.slice(a, b));
}

/** Python `float(s)` for a string, or `undefined` where Python raises ValueError. */
export function pyFloatFromString(s: string): number | undefined {
  const t = pyNumberText(s);
  const special = SPECIAL_RE.exec(t);
  if (special) {
    if ((special[2] as string).toLowerCase() === "nan") return Number.NaN;
    return special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!FLOAT_RE.test(t)) return undefined;
  // Number() parses decimal text with correct rounding, as Python does (overflow → ±inf).
  return Number(t.replace(/_/g, ""));
}

/**
 * Python's `int(str)` text (CPython 3.11 `PyLong_FromUnicodeObject`) once `pyNumberText` has
 * taken the whitespace around it (the Unicode White_Space property, the same 25 characters as
 * CPython's: C `isspace` for ASCII, so not U+001C..U+001F, and not U+FEFF, which JS `trim()`
 * strips) and made its decimal digits of any script (`８`, `٨`) ASCII: an optional sign, then
 * digits with single `_` between them.
 */
const PY_INT_TEXT_RE = /^[+-]?[0-9](?:_?[0-9])*$/;

/** Plain ASCII decimal digits, at most 15 (always a safe integer): `pyIntFromString`'s fast path. */
const ASCII_DIGITS_RE = /^[0-9]{1,15}$/;

/**
 * Python `int(s)` for a string, or undefined where Python raises ValueError or the value is not
 * a safe integer (no PGS address is that large). The value is `Number` of the ASCII text, which
 * reads every integer below 2^53 exactly (a larger one reads as 2^53 or more, so it is never
 * taken for a safe integer).
 */
export function pyIntFromString(s: string): number | undefined {
  // The common case, plain ASCII digits (every compiled address): the same value, without
  // stripping and mapping the text first (a binding is resolved on every run).
  if (ASCII_DIGITS_RE.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const t = pyNumberText(s);
  if (!PY_INT_TEXT_RE.test(t)) return undefined;
  const n = Number(t.replace(/_/g, ""));
  return Number.isSafeInteger(n) ? n + 0 : undefined; // `+ 0`: int("-0") is 0
}

/** Python's `int(s, 16)` text once `pyNumberText` has run: sign, optional `0x` (then an optional `_`), hex digits with single `_` between them. */
const PY_HEX_TEXT_RE = /^([+-]?)(?:0[xX]_?)?([0-9a-fA-F](?:_?[0-9a-fA-F])*)$/;

/**
 * Python `int(s, 16)` for a string, or undefined where Python raises ValueError or the value is
 * not a safe integer: the same whitespace and Unicode-14 decimal digits as `pyIntFromString`
 * (`int("\u0661f", 16)` is 31, a leading U+FEFF is an error), an optional `0x` prefix and
 * single `_` between digits (`"0x_1f"`, not `"_1f"`).
 */
export function pyIntFromHexString(s: string): number | undefined {
  const m = PY_HEX_TEXT_RE.exec(pyNumberText(s));
  if (m === null) return undefined;
  const n = parseInt((m[2] as string).replace(/_/g, ""), 16);
  if (!Number.isSafeInteger(n)) return undefined;
  return m[1] === "-" ? -n + 0 : n; // `+ 0`: int("-0", 16) is 0
}
