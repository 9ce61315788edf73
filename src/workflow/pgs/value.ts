/**
 * The runtime's view of the shared Python value model of PGS v0.3 (src/workflow/py/value.ts,
 * SEMANTICS Part 0): `bigint` = int, `number` = float, `Map` = dict in insertion order
 * (numeric-looking keys included), plus null, booleans, strings and arrays. Adds the runtime's
 * helpers and the conversions from/to plain JS values. "Missing means null": lookups never throw.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { jsonPath } from "../../plane/contracts/base.js";
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

/** `details.reason` of `fromPlain`'s refusal of a value that is not JSON data. */
export const NOT_JSON_DATA_REASON = "not_json_data";

/**
 * A plain JS JSON value (JSON.parse output, a test literal) in the Python model: integral
 * numbers become ints, others floats (NaN and ±Infinity stay floats: the Python value model has
 * them, as Python's `json.loads` does); bigints stay ints; a Map becomes a dict (its keys as
 * strings); object key order is JS order. Anything that is not JSON data is refused, never
 * converted — `undefined`, a function, a symbol, a symbol key, a hole in an array, an object that
 * is not a plain object or Map (a Date, a class instance, a Set), a cycle — with E_INVALID_INPUT
 * naming its path (`$.a[2]`, `details.path`; `details.reason` NOT_JSON_DATA_REASON).
 */
export function fromPlain(v: unknown): PyValue {
  try {
    return convert(v, [], new Set());
  } catch (err) {
    if (err instanceof RangeError) throw notJson([], "nested too deeply to convert");
    throw err;
  }
}

function notJson(path: readonly (string | number)[], what: string): CairnError {
  const at = jsonPath(path);
  return new CairnError(ErrorCode.INVALID_INPUT, `fromPlain: ${at}: ${what} is not JSON data`, { path: at, reason: NOT_JSON_DATA_REASON });
}

function isPlainRecord(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function convert(v: unknown, path: (string | number)[], open: Set<object>): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
  if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : v;
  if (typeof v !== "object") throw notJson(path, typeof v === "undefined" ? "undefined" : `a ${typeof v}`);
  if (open.has(v)) throw notJson(path, "a cycle (a value containing itself)");
  const isArray = Array.isArray(v);
  if (!isArray && !(v instanceof Map) && !isPlainRecord(v)) {
    const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
    throw notJson(path, typeof name === "string" && name !== "" ? `a ${name}` : "an object that is not a plain object");
  }
  if (!isArray && !(v instanceof Map) && Object.getOwnPropertySymbols(v).length > 0) throw notJson(path, "an object with a symbol key");
  open.add(v);
  const at = <T>(seg: string | number, f: () => T): T => {
    path.push(seg);
    const r = f();
    path.pop();
    return r;
  };
  let out: PyValue;
  if (isArray) {
    const xs = v as unknown[];
    out = [];
    for (let i = 0; i < xs.length; i++) {
      if (!(i in xs)) throw notJson([...path, i], "a hole in a sparse array");
      out.push(at(i, () => convert(xs[i], path, open)));
    }
  } else if (v instanceof Map) {
    out = new Map([...v.entries()].map(([k, x]) => [String(k), at(String(k), () => convert(x, path, open))]));
  } else {
    out = new Map(Object.entries(v).map(([k, x]) => [k, at(k, () => convert(x, path, open))]));
  }
  open.delete(v);
  return out;
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
