/**
 * JSON text of values nested deeper than `JSON.stringify` can recurse (a reduce value nested a few
 * thousand levels, which the engine handles: canonicalize and JSON.parse are iterative): the
 * CLI prints a run's result and manifest with `JSON.stringify`, which overflowed the stack on
 * such a value after the run had completed and been recorded (E_INTERNAL, exit 1).
 *
 * `jsonText(v, indent)` is `JSON.stringify(v, null, indent)` when that succeeds; when it overflows
 * the stack, the same value compact (`compactJson`: no indentation, since indenting a value nested
 * n levels takes O(n²) characters), so the text stays one JSON value a consumer can parse.
 */

/** `JSON.stringify` as it was when this module loaded. */
const stringify = JSON.stringify;

/** Whether `err` is V8's stack overflow ("Maximum call stack size exceeded"). */
function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** `JSON.stringify(v, null, indent)`, or `compactJson(v)` where that overflows the stack. */
export function jsonText(v: unknown, indent = 0): string | undefined {
  try {
    return stringify(v, null, indent);
  } catch (err) {
    if (!isStackOverflow(err)) throw err;
    return compactJson(v);
  }
}

/** A value as JSON.stringify serializes it: its toJSON() result when it has one. */
function prepared(v: unknown, key: string): unknown {
  if (typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function") return (v as { toJSON: (k: string) => unknown }).toJSON(key);
  return v;
}

/** The text of a value that is not a container; undefined for what JSON.stringify leaves out. */
function leafText(v: unknown): string | undefined {
  if (typeof v === "object" && v !== null) throw new Error("not a leaf");
  return stringify(v);
}

type Frame = { kind: "array"; v: unknown[]; i: number } | { kind: "object"; v: Record<string, unknown>; keys: string[]; i: number; n: number };

/**
 * `JSON.stringify(v)` (no indentation) with an explicit stack instead of recursion: the same text
 * for the values JSON holds (plain objects in their own key order, arrays, strings, finite
 * numbers, booleans, null; members whose value is undefined, a function or a symbol left out,
 * array elements of those `null`, non-finite numbers `null`, `toJSON` called). A cycle is a
 * TypeError, as for JSON.stringify.
 */
export function compactJson(value: unknown): string | undefined {
  const parts: string[] = [];
  const stack: Frame[] = [];
  const onStack = new Set<unknown>();
  /** Writes `v` (already prepared); false when JSON.stringify would leave it out. */
  const open = (v: unknown): boolean => {
    if (typeof v !== "object" || v === null) {
      const t = leafText(v);
      if (t === undefined) return false;
      parts.push(t);
      return true;
    }
    if (onStack.has(v)) throw new TypeError("Converting circular structure to JSON");
    onStack.add(v);
    if (Array.isArray(v)) {
      parts.push("[");
      stack.push({ kind: "array", v, i: 0 });
    } else {
      parts.push("{");
      stack.push({ kind: "object", v: v as Record<string, unknown>, keys: Object.keys(v), i: 0, n: 0 });
    }
    return true;
  };
  if (!open(prepared(value, ""))) return undefined;
  while (stack.length > 0) {
    const f = stack[stack.length - 1] as Frame;
    if (f.kind === "array") {
      if (f.i < f.v.length) {
        const k = f.i++;
        if (k > 0) parts.push(",");
        if (!open(prepared(f.v[k], String(k)))) parts.push("null");
        continue;
      }
      parts.push("]");
    } else {
      if (f.i < f.keys.length) {
        const key = f.keys[f.i++] as string;
        const item = prepared(f.v[key], key);
        if (typeof item !== "object" || item === null) {
          const t = leafText(item);
          if (t !== undefined) parts.push(`${f.n++ > 0 ? "," : ""}${stringify(key)}:${t}`);
        } else {
          parts.push(`${f.n++ > 0 ? "," : ""}${stringify(key)}:`);
          open(item);
        }
        continue;
      }
      parts.push("}");
    }
    stack.pop();
    onStack.delete(f.v);
  }
  return parts.join("");
}
