/**
 * Test literals in the shared Python value model (src/workflow/py/value.ts): `dict({...})` and
 * `py(...)` turn plain objects into dicts (`Map`, members in the order written; nested too) and
 * keep everything else as it is — so an int is written `1n` and `1` is the float `1.0`.
 * (Keys that look like array indices are reordered by JS itself: build such dicts with `new Map`.)
 */
import type { PyDict, PyValue } from "../../src/workflow/py/index.js";

export type PyLiteral = PyValue | readonly PyLiteral[] | { readonly [key: string]: PyLiteral };

function isPlain(v: unknown): v is { readonly [key: string]: PyLiteral } {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Map) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A literal as a Python value: plain objects → `Map`s, recursively; Maps and scalars unchanged. */
export function py(v: PyLiteral): PyValue {
  if (Array.isArray(v)) return (v as readonly PyLiteral[]).map(py);
  if (isPlain(v)) return dict(v);
  return v as PyValue;
}

/** A plain object literal as a Python dict (see `py`). */
export function dict(o: { readonly [key: string]: PyLiteral }): PyDict {
  return new Map(Object.entries(o).map(([k, v]) => [k, py(v)]));
}
