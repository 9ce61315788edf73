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
 *
 * **Whole-valued float literals** (`2.0`, `1e3`, `-4.00` in a declaration): canonical JSON
 * writes `2.0` as `2`, so the value alone cannot say it was a float. The compiler knows (a YAML
 * float scalar is a number where YAML integers are BigInts; a JSON literal with a fraction or
 * an exponent is found by scanning the text) and seals the constant as `{const: <value>,
 * floats: [<JSON Pointer>, …]}`: the RFC 6901 pointers, relative to the constant, of the whole
 * numbers in it that are floats (`""` = the constant itself), sorted, present only when not
 * empty — so a snapshot without such constants is sealed exactly as before (same digest). The
 * runtime makes those numbers floats (`2.0` in the trace, `div(3, 2.0)` = 1.5, as with `2.0` in
 * a payload). `-0.0` is sealed as `0` with its pointer: the float 0.0 (canonical JSON has no
 * negative zero).
 */
import type { PyValue } from "../py/value.js";

/** A sealed `{const}` binding or lane template (model.ts `Binding`; lane-compile.ts `LaneTemplate`). */
export interface SealedConst {
  const: unknown;
  /** JSON Pointers of the whole-valued floats of `const` (module comment); absent when none. */
  floats?: string[];
}

/** An RFC 6901 reference token. */
function token(seg: string | number): string {
  return String(seg).replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A sealed constant (plain JSON data) in the Python value model: safe integers are ints (but those `floats` names), other numbers floats. */
export function sealedConstValue(v: unknown, floats?: readonly string[]): PyValue {
  const marked = floats === undefined || floats.length === 0 ? undefined : new Set(floats);
  const conv = (x: unknown, at: string): PyValue => {
    if (x === null || typeof x === "boolean" || typeof x === "string") return x;
    if (typeof x === "number") return Number.isSafeInteger(x) && marked?.has(at) !== true ? BigInt(x) : x;
    if (Array.isArray(x)) return x.map((y, i) => conv(y, marked === undefined ? "" : `${at}/${i}`));
    if (typeof x === "object") return new Map(Object.entries(x as Record<string, unknown>).map(([k, y]) => [k, conv(y, marked === undefined ? "" : `${at}/${token(k)}`)]));
    return null;
  };
  return conv(v, "");
}

/** The runtime value of a sealed `{const}` binding or template (its `floats`, when a list of strings, applied). */
export function constBindingValue(b: { const: unknown }): PyValue {
  const f = (b as SealedConst).floats;
  return sealedConstValue(b.const, Array.isArray(f) && f.every((x) => typeof x === "string") ? f : undefined);
}

/**
 * The structural problem of a sealed constant's `floats` member, or null (seal.ts): when present
 * it is a non-empty, sorted list of distinct JSON Pointers, each naming a whole number of the
 * constant within ±(2^53−1) — the only numbers it can change.
 */
export function floatsProblem(b: { const: unknown }, at: string): string | null {
  if (!Object.prototype.hasOwnProperty.call(b, "floats")) return null;
  const f = (b as SealedConst).floats;
  if (!Array.isArray(f) || f.length === 0 || !f.every((x) => typeof x === "string")) return `${at}.floats is not a non-empty list of JSON Pointers`;
  for (let i = 0; i < f.length; i++) {
    const p = f[i] as string;
    if (i > 0 && !((f[i - 1] as string) < p)) return `${at}.floats is not sorted without repeats`;
    let x: unknown = b.const;
    if (p !== "") {
      if (!p.startsWith("/")) return `${at}.floats[${i}] is not a JSON Pointer`;
      for (const raw of p.slice(1).split("/")) {
        const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
        if (Array.isArray(x) && /^(0|[1-9][0-9]*)$/.test(seg)) x = x[Number(seg)];
        else if (x !== null && typeof x === "object" && !Array.isArray(x) && Object.prototype.hasOwnProperty.call(x, seg)) x = (x as Record<string, unknown>)[seg];
        else return `${at}.floats[${i}] names nothing in the constant`;
      }
    }
    if (typeof x !== "number" || !Number.isSafeInteger(x)) return `${at}.floats[${i}] does not name a whole number of the constant`;
  }
  return null;
}

/**
 * Compile time: the whole-valued float literals of a parsed declaration, by container and
 * member (array index or object key). Marked by the parser (compile.ts `parseFile`), read when
 * a `{const}` is sealed (`sealConst`); weakly held, so nothing outlives the parsed document.
 */
const WHOLE_FLOATS = new WeakMap<object, Set<string | number>>();

/** Marks `container[key]` (a whole number) as written as a float literal. */
export function markWholeFloat(container: object, key: string | number): void {
  let s = WHOLE_FLOATS.get(container);
  if (s === undefined) WHOLE_FLOATS.set(container, (s = new Set()));
  s.add(key);
}

/**
 * The sealed form of a declaration's `{const: …}` object `o` (a parsed container): `{const}`,
 * or `{const, floats}` when the constant holds whole numbers written as float literals.
 */
export function sealConst(o: Record<string, unknown>): SealedConst {
  const floats: string[] = [];
  // Iterative (a constant's depth is not limited by the call stack, as in jsonDataProblems).
  const todo: Array<[object, string | number, string]> = [[o, "const", ""]];
  while (todo.length > 0) {
    const [holder, key, at] = todo.pop() as [object, string | number, string];
    const x: unknown = (holder as Record<string | number, unknown>)[key];
    if (typeof x === "number") {
      if (Number.isSafeInteger(x) && WHOLE_FLOATS.get(holder)?.has(key) === true) floats.push(at);
    } else if (Array.isArray(x)) x.forEach((_, i) => todo.push([x, i, `${at}/${i}`]));
    else if (x !== null && typeof x === "object") for (const k of Object.keys(x)) todo.push([x, k, `${at}/${token(k)}`]);
  }
  floats.sort();
  return floats.length === 0 ? { const: o.const } : { const: o.const, floats };
}
