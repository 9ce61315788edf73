/**
 * Python `repr` of values of the Python value model (value.ts), for messages that show a value
 * the way the reference (a Python program) would: `None`, `True`, `1`, `1.5`, `inf`, `'text'`,
 * `['X']`, `{'a': 1}`. Bounded: a message never carries more than `PY_REPR_MAX_CHARS` of a
 * value (a longer repr is cut and ends with `...`), and a value is walked only as far as shown.
 */
import { pyFloatRepr, PY_INT_MAX_STR_DIGITS } from "./numbers.js";
import { pyIsPrintable } from "./unicode.js";
import type { PyValue } from "./value.js";

/** Most characters of a value's repr a message shows (`pyValueRepr`). */
export const PY_REPR_MAX_CHARS = 200;

/** `\xNN`, `\uNNNN` or `\UNNNNNNNN` (lowercase hex), as Python's repr escapes a code point. */
function pyHexEscape(cp: number): string {
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, "0")}`;
  return `\\U${cp.toString(16).padStart(8, "0")}`;
}

/**
 * Python `repr(str)` (CPython `unicode_repr`): single quotes unless the text holds `'` and no
 * `"`; the chosen quote and `\` backslash-escaped; `\t`, `\n`, `\r`; any other character
 * `str.isprintable()` rejects hex-escaped (`pyIsPrintable`: CPython 3.11's Unicode 14, so a
 * character assigned since, unassigned there, is escaped as the reference escapes it);
 * everything else (non-ASCII included) as is. Iterates code points, so a lone surrogate
 * (category Cs) is escaped as Python escapes it (`\ud800`).
 */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else {
      const cp = ch.codePointAt(0) as number;
      out += pyIsPrintable(cp) ? ch : pyHexEscape(cp);
    }
  }
  return out + quote;
}

/** Python `repr(float)`: `inf`, `-inf`, `nan` for the non-finite ones (pyFloatRepr writes JSON's names). */
function floatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Number.POSITIVE_INFINITY) return "inf";
  if (x === Number.NEGATIVE_INFINITY) return "-inf";
  return pyFloatRepr(x);
}

/** Thrown inside `pyValueRepr` once the budget is spent. */
class Full extends Error {}

/**
 * Python `repr(v)` (module comment), cut to `maxChars` characters (then `...` appended). An int
 * longer than Python converts to text (`PY_INT_MAX_STR_DIGITS`) is shown as `<int of N digits>`.
 */
export function pyValueRepr(v: PyValue, maxChars: number = PY_REPR_MAX_CHARS): string {
  let out = "";
  const put = (s: string): void => {
    out += s;
    if (out.length > maxChars) throw new Full();
  };
  const walk = (x: PyValue): void => {
    if (x === null) put("None");
    else if (x === true) put("True");
    else if (x === false) put("False");
    else if (typeof x === "bigint") {
      const s = x.toString();
      put(s.length - (x < 0n ? 1 : 0) > PY_INT_MAX_STR_DIGITS ? `<int of ${s.length - (x < 0n ? 1 : 0)} digits>` : s);
    } else if (typeof x === "number") put(floatRepr(x));
    else if (typeof x === "string") put(pyStrRepr(x.length > maxChars + 2 ? x.slice(0, maxChars + 2) : x));
    else if (Array.isArray(x)) {
      put("[");
      x.forEach((e, i) => {
        if (i > 0) put(", ");
        walk(e);
      });
      put("]");
    } else {
      put("{");
      let first = true;
      for (const [k, e] of x) {
        if (!first) put(", ");
        first = false;
        put(pyStrRepr(k.length > maxChars + 2 ? k.slice(0, maxChars + 2) : k));
        put(": ");
        walk(e);
      }
      put("}");
    }
  };
  try {
    walk(v);
    return out;
  } catch (err) {
    if (err instanceof Full) return `${out.slice(0, maxChars)}...`;
    throw err;
  }
}
