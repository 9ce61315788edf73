/**
 * A fast path to RFC 8785 canonical JSON for the plain values the engine meets on every EU
 * (inputs parsed from JSON or CSV, EU ids): small recursive string building instead of the
 * general encoder's explicit stack and cycle set. Anything unusual — a non-plain object, a
 * symbol key, a lone surrogate, a non-finite number, a value JSON cannot hold, nesting deeper
 * than FAST_CANONICAL_MAX_DEPTH — falls back to core `canonicalize`, which gives the same text
 * or throws its E_CANONICAL error naming the JSONPath. The output is byte-identical to
 * `canonicalize` (tested on edge cases and random values).
 */
import { canonicalize } from "../core/canonical.js";

/** Deeper values (and cycles) take the general encoder. */
export const FAST_CANONICAL_MAX_DEPTH = 32;

/** The canonical JSON text of `v` (throws E_CANONICAL like `canonicalize` when it has none). */
export function canonicalText(v: unknown): string {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  const s = fast(v, 0);
  return s !== undefined ? s : canonicalize(v);
}

/**
 * `String.prototype.isWellFormed` / `toWellFormed` and `Reflect.apply` as they were when this
 * module loaded (in a sandbox worker: before the user's module is imported), so a module that
 * patches the prototype (or `Function.prototype.call`) cannot slip a lone surrogate past the
 * check into a record, nor into an error message (records.ts `wellFormed`).
 */
const stringProto = String.prototype as unknown as { isWellFormed: (this: string) => boolean; toWellFormed: (this: string) => string };
const isWellFormedRaw = stringProto.isWellFormed;
const toWellFormedRaw = stringProto.toWellFormed;
const apply = Reflect.apply;
const isWellFormed = (s: string): boolean => apply(isWellFormedRaw, s, []) as boolean;

/** `s` with every lone surrogate replaced by U+FFFD (an error message must have a canonical form). */
export function wellFormed(s: string): string {
  return apply(toWellFormedRaw, s, []) as string;
}

/**
 * `JSON.stringify` as it was when this module loaded — in a sandbox worker, before the user's
 * module is imported, so a module that replaces the global cannot change its record texts.
 */
const stringify = JSON.stringify;

/**
 * The UTF-8 byte length of the canonical JSON text of the string `s`, counted without building
 * the text (a worker checks an output against its size limit before encoding it: an output near
 * the limit and its text together took half a worker's heap); undefined when `s` has a lone
 * surrogate (it has no canonical text). The quotes, plus for each code unit: `"` and `\` and
 * the control characters with a short escape (`\b \t \n \f \r`) 2 bytes, the other control
 * characters 6 (`\u00XX`), then 1, 2 or 3 bytes by code point, 4 for a surrogate pair.
 */
export function canonicalStringByteLength(s: string): number | undefined {
  if (!isWellFormed(s)) return undefined;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
    else if (c === 0x22 || c === 0x5c) n += 2;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4; // a high surrogate starts a pair (the string is well formed)
      i++;
    } else n += 3;
  }
  return n;
}

/** For well-formed strings, JSON.stringify emits exactly the RFC 8785 escapes. */
function str(s: string): string | undefined {
  return isWellFormed(s) ? stringify(s) : undefined;
}

function fast(v: unknown, depth: number): string | undefined {
  switch (typeof v) {
    case "string":
      return str(v);
    case "number":
      return Number.isFinite(v) ? String(v) : undefined; // String(-0) is "0", as RFC 8785 wants
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (v === null) return "null";
      if (depth >= FAST_CANONICAL_MAX_DEPTH) return undefined;
      if (Array.isArray(v)) {
        let out = "[";
        for (let i = 0; i < v.length; i++) {
          const e = fast(v[i], depth + 1);
          if (e === undefined) return undefined;
          out += i === 0 ? e : `,${e}`;
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return undefined;
      if (Object.getOwnPropertySymbols(v).length > 0) return undefined;
      // Default sort compares by UTF-16 code units, as RFC 8785 §3.2.3 requires.
      const keys = Object.keys(v).sort();
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const ks = str(k);
        const e = fast((v as Record<string, unknown>)[k], depth + 1);
        if (ks === undefined || e === undefined) return undefined;
        out += i === 0 ? `${ks}:${e}` : `,${ks}:${e}`;
      }
      return `${out}}`;
    }
    default:
      return undefined;
  }
}
