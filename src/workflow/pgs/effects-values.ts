/**
 * Value conversion between the runtime's Python model (value.ts: `bigint` = int, `number` =
 * float, `Map` = dict) and the CS layer's (effects/pyvalue.ts: integral `number` or `bigint` =
 * int, non-integral `number` = float, `PyFloat` = a float that must stay a float, `Map` or
 * plain object = dict). Lossless both ways; member order is kept.
 */
import { isPgsObject, objectEntries, PyFloat, type PgsObject, type PgsValue } from "../effects/pyvalue.js";
import type { PyObject, PyValue } from "./value.js";

/** Runtime value → CS value. */
export function toEffectsValue(v: PyValue): PgsValue {
  if (typeof v === "number") return Number.isInteger(v) || !Number.isFinite(v) ? new PyFloat(v) : v;
  if (Array.isArray(v)) return v.map(toEffectsValue);
  if (v instanceof Map) return toEffectsObject(v);
  return v;
}

export function toEffectsObject(o: PyObject): PgsObject {
  const m = new Map<string, PgsValue>();
  for (const [k, x] of o) m.set(k, toEffectsValue(x));
  return m;
}

/** CS value → runtime value. */
export function fromEffectsValue(v: PgsValue): PyValue {
  if (v instanceof PyFloat) return v.value;
  if (typeof v === "number") return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return (v as readonly PgsValue[]).map(fromEffectsValue);
  if (isPgsObject(v)) {
    const m: PyObject = new Map();
    for (const [k, x] of objectEntries(v)) m.set(k, fromEffectsValue(x));
    return m;
  }
  return v as PyValue;
}
