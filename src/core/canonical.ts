/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Every record Cairn hashes or signs is serialized with `canonicalize`, so the same logical
 * value always yields the same bytes and therefore the same digest, on every platform.
 *
 * The rules (RFC 8785 §3.2):
 *  - `null`, `true`, `false` as literals;
 *  - numbers with the ECMAScript Number-to-String algorithm (`String(n)`), `-0` as `0`;
 *  - strings with only the mandatory JSON escapes: `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other
 *    code units below U+0020 as `\u00xx` (lowercase hex), everything else (non-ASCII, U+007F,
 *    U+2028…) literally;
 *  - object members sorted by their names compared as arrays of UTF-16 code units;
 *  - arrays in order; no whitespace anywhere.
 *
 * Cairn is stricter than `JSON.stringify`: instead of silently dropping or coercing values
 * JSON cannot hold, it throws `E_CANONICAL` naming the JSONPath of the offending value
 * (NaN, ±Infinity, undefined, functions, symbols, BigInt, cycles, lone surrogates in strings
 * or keys, and anything that is not a plain object (prototype Object.prototype or null) or
 * an array (Array.isArray) — Date, Map, Buffer, typed arrays, class instances, boxed
 * primitives, objects from other realms…). Own enumerable symbol-keyed properties are
 * rejected too; non-index properties on arrays are ignored, as in JSON.stringify.
 *
 * The encoder is iterative (an explicit stack), so nesting depth is limited by memory only.
 */
import { sha256, type Digest } from "./digest.js";
import { CairnError, ErrorCode } from "./errors.js";

/** `JSON.stringify` as it was when this module loaded (a sandboxed module that replaces the global cannot change canonical text). */
const stringify = JSON.stringify;

/** One step of a JSONPath: an array index or an object member name. */
type PathSegment = string | number;

const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** With the `u` flag a well-formed surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;
/** Any surrogate code unit: a cheap pre-check (most strings have none). */
const ANY_SURROGATE_RE = /[\uD800-\uDFFF]/;
/** Characters that JSON must escape; strings without them are emitted as `"` + s + `"`. */
// eslint-disable-next-line no-control-regex -- matching C0 controls is the point here
const NEEDS_ESCAPE_RE = /["\\\u0000-\u001f]/;

/**
 * Formats a path as JSONPath: `$.a[3].b`, `$["weird key"]`. A member name is quoted by
 * `JSON.stringify` as this module loaded it, so DEL, C1 controls and U+2028/2029 stay raw: this
 * text is part of the E_CANONICAL failure an EU's record stores (its bytes must not change with
 * the build, nor with a module that replaces `JSON.stringify`). Where such a message becomes a
 * run's error (an input record, a dataset element) the engine escapes it (`escapeControls`);
 * the CLI escapes what it prints.
 */
function formatJsonPath(path: readonly PathSegment[]): string {
  let out = "$";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (IDENTIFIER_RE.test(seg)) out += `.${seg}`;
    else out += `[${stringify(seg)}]`;
  }
  return out;
}

function fail(what: string, path: readonly PathSegment[]): never {
  const p = formatJsonPath(path);
  throw new CairnError(ErrorCode.CANONICAL, `cannot canonicalize ${what} at ${p}`, { path: p });
}

/**
 * Encodes a string per RFC 8785 §3.2.2.2. For well-formed strings, ECMAScript's
 * `JSON.stringify` (ES2019+, "well-formed JSON.stringify") emits exactly the JCS escapes:
 * the six short escapes, `\u00xx` lowercase for the other C0 controls, everything else
 * literal. Lone surrogates (the only case where it would emit `\udxxx`) are rejected first.
 */
function encodeString(s: string, currentPath: () => PathSegment[], isKey: boolean): string {
  const text = canonicalString(s);
  if (text === undefined) fail(isKey ? "a member name containing a lone surrogate" : "a string containing a lone surrogate", currentPath());
  return text;
}

/**
 * A string's canonical text (RFC 8785), exactly as `canonicalize` writes it, or undefined when
 * it holds a lone surrogate (which `canonicalize` refuses, naming where). For code that writes a
 * fixed shape's canonical text itself on a hot path (a workflow run's state manifest and run key,
 * pgs/state.ts and pgs/trace-id.ts) and leaves anything else to `canonicalize`.
 */
export function canonicalString(s: string): string | undefined {
  if (ANY_SURROGATE_RE.test(s) && LONE_SURROGATE_RE.test(s)) return undefined;
  return NEEDS_ESCAPE_RE.test(s) ? stringify(s) : `"${s}"`;
}

/** A short description of a non-plain object for error messages ("Date", "Map", "Buffer"…). */
function describeObject(v: object): string {
  const proto: unknown = Object.getPrototypeOf(v);
  // Only trust a constructor the prototype itself declares (Object.create({}) inherits Object's).
  const ctor: unknown =
    proto !== null && typeof proto === "object" && Object.prototype.hasOwnProperty.call(proto, "constructor")
      ? (proto as { constructor: unknown }).constructor
      : undefined;
  const name = typeof ctor === "function" && ctor.name ? ctor.name : "custom prototype";
  return `a non-plain object (${name})`;
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** An open container on the encoder's stack. `index` is the next child to visit. */
interface Frame {
  readonly container: object;
  /** Sorted member names for objects; `undefined` for arrays. */
  readonly keys: readonly string[] | undefined;
  readonly length: number;
  index: number;
}

/** The RFC 8785 canonical JSON text of `value`. Throws E_CANONICAL (with the JSONPath) if it has none. */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  const stack: Frame[] = [];
  /** Containers on the current path, for cycle detection (siblings may share objects). */
  const open = new Set<object>();

  /** JSONPath segments of the value currently being visited (only computed when failing). */
  const currentPath = (): PathSegment[] =>
    stack.map((f) => (f.keys === undefined ? f.index - 1 : (f.keys[f.index - 1] as string)));

  /** Emits a scalar, or opens a container (pushing a frame). */
  const visit = (v: unknown): void => {
    switch (typeof v) {
      case "string":
        out.push(encodeString(v, currentPath, false));
        return;
      case "number":
        if (Number.isNaN(v)) fail("NaN", currentPath());
        if (!Number.isFinite(v)) fail(v > 0 ? "Infinity" : "-Infinity", currentPath());
        // String() is ECMAScript Number::toString, which RFC 8785 §3.2.2.3 adopts; it maps -0 to "0".
        out.push(String(v));
        return;
      case "boolean":
        out.push(v ? "true" : "false");
        return;
      case "undefined":
        fail("undefined", currentPath());
        break;
      case "bigint":
        fail("a BigInt", currentPath());
        break;
      case "symbol":
        fail("a symbol", currentPath());
        break;
      case "function":
        fail("a function", currentPath());
        break;
      case "object": {
        if (v === null) {
          out.push("null");
          return;
        }
        if (open.has(v)) fail("a cyclic reference", currentPath());
        if (Array.isArray(v)) {
          open.add(v);
          stack.push({ container: v, keys: undefined, length: v.length, index: 0 });
          out.push("[");
          return;
        }
        if (!isPlainObject(v)) fail(describeObject(v), currentPath());
        for (const sym of Object.getOwnPropertySymbols(v)) {
          if (Object.prototype.propertyIsEnumerable.call(v, sym)) fail("a symbol-keyed property", currentPath());
        }
        // Default sort compares strings by UTF-16 code units, exactly as RFC 8785 §3.2.3 requires.
        const keys = Object.keys(v).sort();
        open.add(v);
        stack.push({ container: v, keys, length: keys.length, index: 0 });
        out.push("{");
        return;
      }
    }
  };

  visit(value);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame;
    if (top.index < top.length) {
      const i = top.index++;
      if (i > 0) out.push(",");
      if (top.keys === undefined) {
        visit((top.container as unknown[])[i]);
      } else {
        const key = top.keys[i] as string;
        out.push(encodeString(key, currentPath, true), ":");
        visit((top.container as Record<string, unknown>)[key]);
      }
    } else {
      out.push(top.keys === undefined ? "]" : "}");
      open.delete(top.container);
      stack.pop();
    }
  }
  return out.join("");
}

/** UTF-8 bytes of `canonicalize(value)`. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}

/** SHA-256 digest of the canonical bytes of `value`. */
export function canonicalDigest(value: unknown): Digest {
  return sha256(canonicalBytes(value));
}

/**
 * Parses JSON text and insists it is already canonical (re-encoding gives back the exact
 * text). Use it to verify stored records. Throws E_CANONICAL ("not canonical JSON") on
 * invalid JSON, non-canonical formatting or ordering, or values JCS cannot represent
 * (e.g. `1e400`, a lone-surrogate escape).
 */
export function parseCanonical(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CairnError(ErrorCode.CANONICAL, `not canonical JSON: ${(err as Error).message}`, {}, { cause: err });
  }
  let again: string;
  try {
    again = canonicalize(parsed);
  } catch (err) {
    const inner = err instanceof CairnError ? err : undefined;
    throw new CairnError(ErrorCode.CANONICAL, `not canonical JSON: ${inner ? inner.message : String(err)}`, inner ? { ...inner.details } : {}, { cause: err });
  }
  if (again !== text) {
    throw new CairnError(ErrorCode.CANONICAL, "not canonical JSON: text differs from its canonical form", { offset: firstDifference(text, again) });
  }
  return parsed;
}

/** Index of the first UTF-16 code unit where `a` and `b` differ (helps locate non-canonical input). */
function firstDifference(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return i;
  return n;
}
