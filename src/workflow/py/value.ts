/**
 * The Python value model of PGS v0.3 (SEMANTICS Part 0), the one value model of src/workflow:
 * the CT atoms compute on it, the CS runtimes read and write it, the PGS runtime moves it
 * between steps and serialises it (json.ts) — no conversion anywhere.
 *
 *  - `bigint` is a Python `int` (unbounded); `number` is a Python `float` (NaN/±Infinity allowed,
 *    `2.0` is the number 2 and still prints as `2.0`); `boolean` is a Python `bool` (equal to
 *    0/1 in comparisons, but a distinct type for checks);
 *  - objects are `Map<string, PyValue>`, so member order is insertion order for every key
 *    (a plain JS object would move `"27"` before `"3"`);
 *  - arrays, strings and `null` as usual.
 *
 * Equality (`pyEquals`) and ordering (`pyCompare`) follow Python: `1 == 1.0`, `true == 1`,
 * `"1" != 1`, `null` equals only `null`, NaN equals nothing (the reference's identity shortcut
 * for one and the same NaN object is not modelled), dicts compare order-insensitively, lists
 * lexicographically. `pyHashKey` gives the dict-key identity (`hash` + `==`) of a scalar.
 */

export type PyDict = Map<string, PyValue>;
export type PyValue = null | boolean | string | bigint | number | PyValue[] | PyDict;

export function isDict(v: PyValue | undefined): v is PyDict {
  return v instanceof Map;
}

export function isList(v: PyValue | undefined): v is PyValue[] {
  return Array.isArray(v);
}

/** A Python `int` that is not a `bool`. */
export function isInt(v: PyValue | undefined): v is bigint {
  return typeof v === "bigint";
}

/** A Python `float`. */
export function isFloat(v: PyValue | undefined): v is number {
  return typeof v === "number";
}

/** A Python number: int, float or bool. */
export function isPyNumber(v: PyValue | undefined): v is bigint | number | boolean {
  return typeof v === "bigint" || typeof v === "number" || typeof v === "boolean";
}

/** Python truthiness (`bool(v)`): NaN is truthy, `-0.0` falsy. */
export function pyTruthy(v: PyValue): boolean {
  if (v === null || v === false) return false;
  if (v === true) return true;
  if (typeof v === "string") return v.length > 0;
  if (typeof v === "bigint") return v !== 0n;
  if (typeof v === "number") return v !== 0;
  if (Array.isArray(v)) return v.length > 0;
  return v.size > 0;
}

/** Python type name, for messages (`int`, `float`, `str`, `list`, `dict`, `NoneType`, `bool`). */
export function pyTypeName(v: PyValue): string {
  if (v === null) return "NoneType";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "bigint") return "int";
  if (typeof v === "number") return "float";
  if (typeof v === "string") return "str";
  return Array.isArray(v) ? "list" : "dict";
}

/** The member `key` of `d`, `null` when absent ("missing means null"). */
export function getOrNull(d: PyDict, key: string): PyValue {
  const v = d.get(key);
  return v === undefined ? null : v;
}

/** Dotted-path lookup: walks objects only; a miss or a non-object on the way yields `null`. */
export function dottedGet(root: PyValue, path: string): PyValue {
  let cur: PyValue = root;
  // The segments of `path.split(".")`, walked without building the array.
  for (let start = 0; ; ) {
    if (!(cur instanceof Map)) return null;
    const dot = path.indexOf(".", start);
    cur = getOrNull(cur, dot < 0 ? path.slice(start) : path.slice(start, dot));
    if (dot < 0) return cur;
    start = dot + 1;
  }
}

/**
 * Compares two Python numbers exactly (an int and a float are compared mathematically, as
 * Python does, never through a lossy conversion). `undefined` when unordered (a NaN is involved).
 */
export function compareNumbers(a: bigint | number | boolean, b: bigint | number | boolean): -1 | 0 | 1 | undefined {
  const x = typeof a === "boolean" ? (a ? 1n : 0n) : a;
  const y = typeof b === "boolean" ? (b ? 1n : 0n) : b;
  if (typeof x === "bigint" && typeof y === "bigint") return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === "number" && typeof y === "number") {
    if (Number.isNaN(x) || Number.isNaN(y)) return undefined;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof x === "bigint") return negate(compareIntFloat(x, y as number));
  return compareIntFloat(y as bigint, x);
}

/** Sign of (f - i) for an int `i` and a float `f`. */
function compareIntFloat(i: bigint, f: number): -1 | 0 | 1 | undefined {
  if (Number.isNaN(f)) return undefined;
  if (f === Number.POSITIVE_INFINITY) return 1;
  if (f === Number.NEGATIVE_INFINITY) return -1;
  const fl = Math.floor(f);
  const bf = BigInt(fl);
  if (fl === f) return bf > i ? 1 : bf < i ? -1 : 0;
  // f lies strictly between fl and fl + 1.
  return bf >= i ? 1 : -1;
}

function negate(c: -1 | 0 | 1 | undefined): -1 | 0 | 1 | undefined {
  return c === undefined ? undefined : c === 0 ? 0 : c === 1 ? -1 : 1;
}

/** Python `a == b`. */
export function pyEquals(a: PyValue, b: PyValue): boolean {
  if (a === null || b === null) return a === b;
  if (isPyNumber(a) && isPyNumber(b)) return compareNumbers(a, b) === 0;
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!pyEquals(a[i] as PyValue, b[i] as PyValue)) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      const w = b.get(k);
      if (w === undefined || !pyEquals(v, w)) return false;
    }
    return true;
  }
  return false;
}

/** Python `needle in haystack` for a list haystack. */
export function pyListContains(haystack: readonly PyValue[], needle: PyValue): boolean {
  return haystack.some((e) => pyEquals(e, needle));
}

/** Compares strings by Unicode code point (Python `str` ordering; lone surrogates are code points too). */
export function compareCodePoints(a: string, b: string): -1 | 0 | 1 {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(j) as number;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  const ra = a.length - i;
  const rb = b.length - j;
  return ra === rb ? 0 : ra < rb ? -1 : 1;
}

export type PyOrderOp = "<" | "<=" | ">" | ">=";

/**
 * Python `a <op> b`. Numbers (bool/int/float) compare numerically (NaN: always false), strings
 * by code point, lists lexicographically (first unequal element decides, else the length).
 * Any other pairing (dicts, `None`, str vs number, …) is a Python TypeError: `"incomparable"`.
 */
export function pyCompare(a: PyValue, b: PyValue, op: PyOrderOp): boolean | "incomparable" {
  if (isPyNumber(a) && isPyNumber(b)) {
    const c = compareNumbers(a, b);
    return c === undefined ? false : applyOrder(c, op);
  }
  if (typeof a === "string" && typeof b === "string") return applyOrder(compareCodePoints(a, b), op);
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const x = a[i] as PyValue;
      const y = b[i] as PyValue;
      if (!pyEquals(x, y)) return pyCompare(x, y, op);
    }
    return applyOrder(a.length < b.length ? -1 : a.length > b.length ? 1 : 0, op);
  }
  return "incomparable";
}

function applyOrder(c: -1 | 0 | 1, op: PyOrderOp): boolean {
  switch (op) {
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    case ">=":
      return c >= 0;
  }
}

/** True for values Python can hash (usable as a dict key or in a set): not lists or dicts. */
export function pyHashable(v: PyValue): boolean {
  return !(Array.isArray(v) || v instanceof Map);
}

/**
 * A string that is equal for two values exactly when Python would treat them as the same dict
 * key (`hash` + `==`): `1`, `1.0` and `true` share a key, `"1"` does not. `null` for NaN (a valid
 * key that equals nothing, not even another NaN read from JSON) and `undefined` for lists and
 * dicts, which are unhashable.
 */
export function pyHashKey(v: PyValue): string | null | undefined {
  if (v === null) return "none";
  if (typeof v === "string") return `s:${v}`;
  if (typeof v === "boolean") return v ? "i:1" : "i:0";
  if (typeof v === "bigint") return `i:${v}`;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return null;
    return Number.isInteger(v) ? `i:${BigInt(v)}` : `f:${v}`;
  }
  return undefined;
}

/** Python `str.isspace()` characters (used wherever the reference calls `strip()`). */
const PY_WHITESPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const PY_BLANK_RE = new RegExp(`^[${PY_WHITESPACE}]*$`, "u");

/** True when `s.strip()` would be empty in Python. */
export function isPyBlank(s: string): boolean {
  return PY_BLANK_RE.test(s);
}
