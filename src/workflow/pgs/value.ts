/**
 * The runtime's view of the shared Python value model of PGS v0.3 (src/workflow/py/value.ts,
 * SEMANTICS Part 0): `bigint` = int, `number` = float, `Map` = dict in insertion order
 * (numeric-looking keys included), plus null, booleans, strings and arrays. Adds the runtime's
 * helpers and the conversions from/to plain JS values. "Missing means null": lookups never throw.
 */
import { dottedGet, type PyDict, type PyValue } from "../py/value.js";

export type { PyValue };
export type PyObject = PyDict;
export { dottedGet };

/** A member of an object, or null when `v` is not an object or lacks `key`. */
export function member(v: PyValue | undefined, key: string): PyValue {
  return v instanceof Map ? (v.get(key) ?? null) : null;
}

/** A shallow copy of an object (Python `dict(d)`). */
export function copyObject(o: PyObject): PyObject {
  return new Map(o);
}

/**
 * A plain JS JSON value (JSON.parse output, a test literal) in the Python model: integral
 * numbers become ints, others floats; object key order is JS order.
 */
export function fromPlain(v: unknown): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(fromPlain);
  if (v instanceof Map) return new Map([...v.entries()].map(([k, x]) => [String(k), fromPlain(x)]));
  if (typeof v === "object") return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, fromPlain(x)]));
  return null;
}

/**
 * Plain JS values for callers that want ordinary objects: safe ints become numbers, larger ones
 * decimal strings; numeric-looking keys may change order.
 */
export function toPlain(v: PyValue): unknown {
  if (typeof v === "bigint") return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[k] = toPlain(x);
    return o;
  }
  return v;
}
