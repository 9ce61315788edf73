/**
 * Shared machinery for the execution-plane contracts: the contract version, JSON-value and
 * primitive schemas, zod-issue → CairnError mapping (messages name the JSONPath), deep freezing,
 * and the canonical (RFC 8785) JSON round trip.
 */
import { z } from "zod";
import { canonicalize } from "../../core/canonical.js";
import { CairnError, ErrorCode } from "../../core/errors.js";

/** The only contract version this build reads and writes. */
export const CONTRACT_VERSION = 1 as const;
export const CONTRACT_VERSION_RANGE = Object.freeze({ min: 1, max: 1 });

/** `contract_version`: exactly 1; anything else is rejected naming the field. */
export const contractVersion = z.literal(CONTRACT_VERSION, {
  errorMap: (_issue, ctx) => ({
    message: `unsupported contract_version ${JSON.stringify(ctx.data) ?? "undefined"} (supported: ${CONTRACT_VERSION})`,
  }),
});

/** A non-empty string. */
export const nonEmpty = z.string().min(1, { message: "must be a non-empty string" });
/** Milliseconds since the Unix epoch (from an injected Clock). */
export const epochMs = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A non-negative integer count or duration. */
export const count = epochMs;

/** Any JSON value: null, boolean, finite number, string, array or plain object. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** Nesting deeper than this is refused (a bound on the recursive check and copy). */
export const JSON_VALUE_MAX_DEPTH = 256;

interface JsonProblem {
  path: (string | number)[];
  message: string;
}

function describeType(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "number") return String(v);
  if (typeof v === "object" && v !== null) return (v as object).constructor?.name ?? "object";
  return typeof v;
}

/** The first place `v` is not JSON (depth-first, keys in insertion order), or null. */
function jsonProblem(v: unknown, path: (string | number)[], depth: number): JsonProblem | null {
  if (v === null || typeof v === "string" || typeof v === "boolean") return null;
  if (typeof v === "number") return Number.isFinite(v) ? null : { path, message: `must be a finite number, got ${describeType(v)}` };
  if (typeof v !== "object") return { path, message: `must be a JSON value, got ${describeType(v)}` };
  if (depth >= JSON_VALUE_MAX_DEPTH) return { path, message: `nests deeper than ${JSON_VALUE_MAX_DEPTH} levels` };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = jsonProblem(v[i], [...path, i], depth + 1);
      if (p !== null) return p;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return { path, message: `must be a plain JSON object, got ${describeType(v)}` };
  for (const k of Object.keys(v)) {
    const p = jsonProblem((v as Record<string, unknown>)[k], [...path, k], depth + 1);
    if (p !== null) return p;
  }
  return null;
}

/** A deep copy of a checked JSON value (contract values never alias the caller's objects). */
function copyJson(v: unknown): JsonValue {
  if (v === null || typeof v !== "object") return v as JsonValue;
  if (Array.isArray(v)) return v.map(copyJson);
  const out: { [key: string]: JsonValue } = {};
  for (const k of Object.keys(v)) {
    Object.defineProperty(out, k, { value: copyJson((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Any JSON value: null, boolean, finite number, string, array or plain object, at most
 * JSON_VALUE_MAX_DEPTH deep; the parsed value is a deep copy. Checked by one recursive walk
 * rather than a recursive zod union: the union rebuilt its member schemas for every value it
 * checked and dominated the cost of admission (docs/benchmarks.md, execution plane).
 */
export const jsonValue: z.ZodType<JsonValue, z.ZodTypeDef, unknown> = z.unknown().transform((v, ctx) => {
  const problem = jsonProblem(v, [], 0);
  if (problem !== null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: problem.path, message: problem.message });
    return z.NEVER;
  }
  return copyJson(v);
});
/**
 * A JSON object (string keys → JSON values), checked and copied like `jsonValue`. Not
 * `z.record`: that rebuilds the object by assignment, so an own `"__proto__"` member (as
 * JSON.parse produces) was silently dropped — the request the node verified and dispatched was
 * then not the one that was signed. Every member, `"__proto__"` included, is kept as an own
 * property, at the top level as at any depth.
 */
export const jsonObject: z.ZodType<Record<string, JsonValue>, z.ZodTypeDef, unknown> = z.unknown().transform((v, ctx) => {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    ctx.addIssue({ code: z.ZodIssueCode.invalid_type, expected: z.ZodParsedType.object, received: v === null ? z.ZodParsedType.null : Array.isArray(v) ? z.ZodParsedType.array : (typeof v as z.ZodParsedType) });
    return z.NEVER;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a plain JSON object, got ${describeType(v)}` });
    return z.NEVER;
  }
  // each member is a `jsonValue` of its own (the depth bound counts from the members, as before)
  for (const k of Object.keys(v)) {
    const problem = jsonProblem((v as Record<string, unknown>)[k], [k], 0);
    if (problem !== null) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: problem.path, message: problem.message });
      return z.NEVER;
    }
  }
  return copyJson(v) as Record<string, JsonValue>;
});
export const metadata = jsonObject.default({});

/** A list of unique non-empty strings, deduplicated keeping first occurrence. */
export const stringSet = z.array(nonEmpty).transform((xs) => [...new Set(xs)]);

/**
 * Where a checked contract value (plain objects, arrays, strings, numbers, booleans, null) holds
 * a string or a member name with a lone surrogate (`"\ud800"`), which RFC 8785 canonical JSON
 * cannot encode, so evidence could neither fingerprint it nor sign over it: the path of the first
 * (depth-first, keys in insertion order; a member name is reported at its member), or null
 * (core/lone-surrogate.ts, the walker Cairn payloads are checked with too).
 */
export { loneSurrogatePath } from "../../core/lone-surrogate.js";

/** `$.a.b[0]` from a zod path: the path notation of every contract and lane error. */
export function jsonPath(path: readonly (string | number)[]): string {
  let out = "$";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg)) out += `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function issueToError(contract: string, issue: z.ZodIssue): CairnError {
  let path = [...issue.path];
  let message = issue.message;
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const key = [...issue.keys].sort()[0] as string;
    path = [...path, key];
    message = "unknown key";
  } else if (issue.code === z.ZodIssueCode.invalid_union) {
    message = "not a valid JSON value";
  }
  const p = jsonPath(path);
  return new CairnError(ErrorCode.INVALID_INPUT, `${contract}: ${p}: ${message}`, { contract, path: p });
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

/** A contract's validating constructor and JSON parser. */
export interface Contract<T> {
  readonly name: string;
  readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>;
  /** Validates a plain value; returns a deeply frozen copy. Throws E_INVALID_INPUT naming the path. */
  make(input: unknown): T;
  /** Parses JSON text and validates it like `make`. */
  parse(json: string): T;
}

export function contract<S extends z.ZodTypeAny>(name: string, schema: S): Contract<z.output<S>> {
  const make = (input: unknown): z.output<S> => {
    const r = schema.safeParse(input);
    if (!r.success) throw issueToError(name, r.error.issues[0] as z.ZodIssue);
    return deepFreeze(r.data as z.output<S>);
  };
  const parse = (json: string): z.output<S> => {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new CairnError(ErrorCode.INVALID_INPUT, `${name}: $: invalid JSON`, { contract: name, path: "$" }, { cause: err });
    }
    return make(value);
  };
  return Object.freeze({ name, schema: schema as z.ZodType<z.output<S>, z.ZodTypeDef, unknown>, make, parse });
}

/** The RFC 8785 canonical JSON text of a contract value. */
export function toCanonical(value: unknown): string {
  return canonicalize(value);
}
