/**
 * Lone surrogates in JSON data: a string or member name holding a surrogate code unit without
 * its pair (`"\ud800"`) is valid JSON text but not Unicode text. One walker serves every check
 * that refuses such data — execution-plane contract values (plane/contracts/base.ts, the node's
 * admission check) and sealed Cairn snapshot payloads (workflow/cairn/payload-text.ts) — with one
 * `details.reason`.
 */

/** `details.reason` of data refused for a lone surrogate. */
export const LONE_SURROGATE_REASON = "lone_surrogate";

/** Any surrogate code unit: a cheap pre-check (most strings have none). */
const ANY_SURROGATE_RE = /[\uD800-\uDFFF]/;
/** With the `u` flag a well-formed surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;

/** True when `s` holds a lone surrogate. */
export function hasLoneSurrogate(s: string): boolean {
  return ANY_SURROGATE_RE.test(s) && LONE_SURROGATE_RE.test(s);
}

/** The members of one container being walked, handed out in order (undefined: no more). */
type Frame = () => [string | number, unknown] | undefined;

/** A plain object (`{}`, `Object.create(null)`): its own enumerable keys are its members. */
function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The members of `v` when it is a container (an array, a Map with string keys, a plain object). */
function frameOf(v: unknown): Frame | undefined {
  if (v === null || typeof v !== "object") return undefined;
  if (Array.isArray(v)) {
    let i = 0;
    return () => (i < v.length ? [i, v[i++] as unknown] : undefined);
  }
  if (v instanceof Map) {
    const it = (v as Map<unknown, unknown>).entries();
    return () => {
      const n = it.next();
      return n.done === true ? undefined : [String(n.value[0]), n.value[1]];
    };
  }
  if (!isPlainObject(v)) return undefined;
  const keys = Object.keys(v);
  let i = 0;
  return () => {
    if (i >= keys.length) return undefined;
    const k = keys[i++] as string;
    return [k, v[k]];
  };
}

/**
 * Where JSON data holds a string or member name with a lone surrogate: the path of the first
 * (depth-first, members in order; a member name is reported at its member), or null. The data
 * may be plain (objects, arrays — a contract value) or as Cairn's payload parser builds it
 * (Maps, arrays); other values (numbers, bigints, booleans, null, other objects) hold no text.
 * Iterative — a deep value cannot exhaust the call stack — with one path stack for the walk
 * (memory: its depth), copied only for the answer.
 */
export function loneSurrogatePath(v: unknown): (string | number)[] | null {
  if (typeof v === "string") return hasLoneSurrogate(v) ? [] : null;
  const root = frameOf(v);
  if (root === undefined) return null;
  const stack: Frame[] = [root];
  const path: (string | number)[] = []; // the members leading to the top frame's container
  while (stack.length > 0) {
    const next = (stack[stack.length - 1] as Frame)();
    if (next === undefined) {
      stack.pop();
      path.pop();
      continue;
    }
    const [k, child] = next;
    if ((typeof k === "string" && hasLoneSurrogate(k)) || (typeof child === "string" && hasLoneSurrogate(child))) return [...path, k];
    const frame = frameOf(child);
    if (frame !== undefined) {
      path.push(k);
      stack.push(frame);
    }
  }
  return null;
}
