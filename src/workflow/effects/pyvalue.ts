/**
 * The PGS value model (SEMANTICS Part 0) as the CS runtimes see it.
 *
 * The reference manipulates parsed JSON as Python values, and two Python properties are
 * observable in the files the CS runtimes write:
 *
 *  1. Object member order is insertion order for every key. A JavaScript object would move
 *     array-index-like keys ("1", "27") to the front, so objects this module *produces* are
 *     always `Map<string, PgsValue>`. As *input* both `Map`s (insertion order) and plain
 *     objects (own-key order, i.e. JS order) are accepted.
 *  2. Integers and floats are distinct. The rule here: a JS `number` that is an integer is a
 *     Python `int`, a non-integral `number` is a Python `float`; `bigint` is an `int` of any
 *     size; `PyFloat` marks a float whose value happens to be integral or non-finite (`2.0`,
 *     `1e400`, `NaN`) so it keeps printing as a float. The parser (pyparse.ts) produces exactly
 *     this representation, so a load/save round trip is lossless.
 *
 * Equality (`pyEquals`) is Python `==`: deep for arrays/objects, `1 == 1.0`, `true == 1`,
 * `"1" != 1`, `null` equals only `null`, NaN equals nothing.
 */

/** A Python float whose value must print as a float even when integral (`2.0`) or non-finite. */
export class PyFloat {
  constructor(readonly value: number) {
    Object.freeze(this);
  }
}

export type PgsScalar = null | boolean | string | number | bigint | PyFloat;
/** A JSON object in the PGS value model: a `Map` (insertion order) or a plain object. */
export type PgsObject = ReadonlyMap<string, PgsValue> | { readonly [key: string]: PgsValue };
export type PgsValue = PgsScalar | readonly PgsValue[] | PgsObject;

/** A plain object: prototype `Object.prototype` or `null`. */
export function isPlainObject(v: unknown): v is { readonly [key: string]: PgsValue } {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** True for a JSON object in either representation. */
export function isPgsObject(v: unknown): v is PgsObject {
  return v instanceof Map || isPlainObject(v);
}

/** The members of an object in its order (Map: insertion; plain object: own enumerable keys). */
export function objectEntries(o: PgsObject): Array<[string, PgsValue]> {
  return o instanceof Map ? [...(o as ReadonlyMap<string, PgsValue>).entries()] : Object.entries(o);
}

/** True when the object has member `key` (Python `key in d`). */
export function hasMember(o: PgsObject, key: string): boolean {
  return o instanceof Map ? o.has(key) : Object.prototype.hasOwnProperty.call(o, key);
}

/** Member `key`, or `null` when absent (Python `d.get(key)`). */
export function getMember(o: PgsObject, key: string): PgsValue {
  if (o instanceof Map) return (o as ReadonlyMap<string, PgsValue>).get(key) ?? null;
  const plain = o as { readonly [key: string]: PgsValue };
  return Object.prototype.hasOwnProperty.call(plain, key) ? (plain[key] ?? null) : null;
}

/** Python truthiness of a value (`""`, `0`, `0.0`, `[]`, `{}`, `null`, `false` are falsy). */
export function isTruthy(v: PgsValue): boolean {
  if (v === null || v === false) return false;
  if (v === true) return true;
  if (typeof v === "string") return v.length > 0;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "bigint") return v !== 0n;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  return objectEntries(v as PgsObject).length > 0;
}

/** Python `str.isspace()` characters (used wherever the reference calls `strip()`). */
const PY_WHITESPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const PY_BLANK_RE = new RegExp(`^[${PY_WHITESPACE}]*$`, "u");

/** True when `s.strip()` would be empty in Python. */
export function isPyBlank(s: string): boolean {
  return PY_BLANK_RE.test(s);
}

/** A numeric view of a scalar for Python comparisons: bool → 0/1; `undefined` if not numeric. */
function numericOf(v: PgsValue): { int: bigint } | { float: number } | undefined {
  if (typeof v === "boolean") return { int: v ? 1n : 0n };
  if (typeof v === "bigint") return { int: v };
  if (typeof v === "number") return Number.isInteger(v) ? { int: BigInt(v) } : { float: v };
  if (v instanceof PyFloat) return { float: v.value };
  return undefined;
}

function numericEquals(a: { int: bigint } | { float: number }, b: { int: bigint } | { float: number }): boolean {
  if ("int" in a && "int" in b) return a.int === b.int;
  if ("float" in a && "float" in b) return a.float === b.float;
  const i = "int" in a ? a.int : (b as { int: bigint }).int;
  const f = "float" in a ? a.float : (b as { float: number }).float;
  return Number.isInteger(f) && BigInt(f) === i;
}

/** Python `a == b` over PGS values. */
export function pyEquals(a: PgsValue, b: PgsValue): boolean {
  if (a === null || b === null) return a === b;
  const na = numericOf(a);
  const nb = numericOf(b);
  if (na !== undefined || nb !== undefined) return na !== undefined && nb !== undefined && numericEquals(na, nb);
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    const xs = a as readonly PgsValue[];
    const ys = b as readonly PgsValue[];
    return xs.every((x, i) => pyEquals(x, ys[i] as PgsValue));
  }
  const ea = objectEntries(a as PgsObject);
  const ob = b as PgsObject;
  if (ea.length !== objectEntries(ob).length) return false;
  return ea.every(([k, v]) => hasMember(ob, k) && pyEquals(v, getMember(ob, k)));
}

/**
 * A string that is equal for two scalars exactly when Python would treat them as the same
 * dict key (`hash` + `==`): `1`, `1.0` and `true` share a key. Returns `null` for NaN (a
 * valid key that equals nothing, not even another NaN read from JSON) and `undefined` for
 * arrays and objects, which are unhashable in Python.
 */
export function pyDictKey(v: PgsValue): string | null | undefined {
  if (v === null) return "none";
  if (typeof v === "string") return `s:${v}`;
  const n = numericOf(v);
  if (n === undefined) return undefined;
  if ("int" in n) return `i:${n.int}`;
  if (Number.isNaN(n.float)) return null;
  if (Number.isInteger(n.float)) return `i:${BigInt(n.float)}`;
  return `f:${n.float}`;
}
