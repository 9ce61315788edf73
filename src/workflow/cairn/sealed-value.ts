/**
 * Constants of a sealed snapshot (`{const: …}` bindings, `{const: …}` in lane payload
 * templates) in the runtime's Python value model (pgs/value.ts: `bigint` = int, `number` =
 * float).
 *
 * A sealed snapshot is canonical JSON, whose numbers are IEEE doubles, and the compiler refuses
 * every integer literal beyond ±(2^53−1) (compile.ts, "JSON data only"). So a whole number
 * beyond that range in a sealed content was written as a float (`1e22`, `1.5e300`) and stays a
 * float, exactly as the same literal in a payload (`parsePyJson` keeps `1e22` a float): `hash`,
 * `add`, `equals` and the trace see the same value either way. Only safe integers — what an
 * integer literal of a declaration can be — become ints. (`fromPlain` would make every whole
 * number an int, so `{const: 1e22}` ran as the int 10000000000000000000000.)
 */
import type { PyValue } from "../py/value.js";

/** A sealed constant (plain JSON data) in the Python value model: safe integers are ints, other numbers floats. */
export function sealedConstValue(v: unknown): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(sealedConstValue);
  if (typeof v === "object") return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, sealedConstValue(x)]));
  return null;
}
