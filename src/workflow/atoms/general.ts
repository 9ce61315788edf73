/**
 * Cairn's own general-purpose atoms (not part of PGS). Same `CtAtom` contract as the PGS atoms:
 * a `Map` of resolved inputs in, a `Map` out, `AtomViolation` thrown on a violation. Handler refs
 * are `cairn.workflow.atoms.general:<callable>`; combine tables with `{...CT_ATOMS, ...GENERAL_ATOMS}`.
 *
 * | callable               | inputs                    | returns                                   |
 * |------------------------|---------------------------|-------------------------------------------|
 * | `compare`              | `a`, `b`                  | `{"result": -1 | 0 | 1}`                  |
 * | `equals`               | `a`, `b`                  | `{"equal": bool}`                         |
 * | `hash`                 | `value`                   | `{"digest": "sha256:<64 hex>"}`           |
 * | `concat`               | `values` (list)           | `{"result": str | list}`                  |
 * | `add` `sub` `mul` `div`| `a`, `b`                  | `{"result": int | float}`                 |
 * | `regex_match`          | `pattern`, `input`, `flags` | `{"matched", "match", "groups", "named"}` |
 * | `json_schema_validate` | `schema`, `value`         | `{"valid": true}` (invalid → violation)   |
 *
 * Semantics (Cairn's, deliberately stricter than Python's):
 * - numbers are ints (`bigint`) or finite floats; booleans are never numbers;
 * - `compare` orders two numbers (int/float compared exactly) or two strings (by code point);
 * - `equals` is JSON-value equality: `1 == 1.0`, but `true != 1`; objects ignore member order;
 * - `hash` is Cairn's digest of the RFC 8785 canonical form (src/core/canonical.ts), so it needs
 *   JSON-representable numbers: ints within ±(2^53−1), finite floats; `1` and `1.0` hash alike;
 * - arithmetic: int ∘ int stays an exact int (operands and result at most `ARITH_MAX_INT_BITS`
 *   bits); `div` of two ints must divide exactly (no silent truncation); with a float operand
 *   the computation is IEEE double, ints must then be safe integers, and the result must be finite;
 *   division by zero is a violation;
 * - `regex_match` is an unanchored search (anchor with `^…$`) run by RE2 in linear time, so a
 *   payload cannot make a run hang: a JavaScript `RegExp` pattern (`u` flag) with its meaning,
 *   but no backreferences or lookaround, and the few known differences linear-regex.ts lists. Pattern and input lengths
 *   (UTF-16 code units) are bounded by named constants and flags limited to
 *   `REGEX_ALLOWED_FLAGS`, each at most once;
 * - `json_schema_validate` is JSON Schema draft-07 validation by **ajv 8** (`ajvSchemaCompiler`:
 *   all errors, strict mode — an unknown keyword makes the schema invalid —, `format` is an
 *   annotation only, since no format plugin is loaded; `pattern` and `patternProperties` use the
 *   same linear-time RE2 engine; `uniqueItems` compares canonical forms through a hash set, in
 *   linear time, with ajv's message, and so do `const` / `enum`; only own members count as
 *   present (`ownProperties`); an `$async` schema is refused as invalid, and so is one ajv would
 *   misread: an Object.prototype name (`__proto__`, `constructor`, `toString`…) as a keyword is
 *   an unknown keyword, and `__proto__` under `properties` / `patternProperties` /
 *   `dependencies` is refused (`refuseIgnoredNames`)). `CAIRN_GENERAL_ATOMS` is
 *   `GENERAL_ATOMS` plus that atom; it is the table Cairn workflow declarations reach
 *   (src/workflow/cairn/catalog.ts). `makeJsonSchemaValidateAtom(compile)` still accepts
 *   another compiler. Compiled validators are memoised by the canonical text of the schema
 *   (bounded, results are unaffected).
 */
import { createRequire } from "node:module";
import type { Ajv as AjvClass, ErrorObject } from "ajv";
import { canonicalDigest } from "../../core/canonical.js";
import type { AtomInputs, CtAtom, CtAtomTable } from "./index.js";
import { canonicalJson } from "../py/json.js";
import { compareCodePoints, compareNumbers, getOrNull, isDict, isList, pyTypeName, type PyDict, type PyValue } from "../py/value.js";
import { AtomViolation, show } from "./violation.js";
import { compileLinearRegex, execLinear, LINEAR_REGEX_FLAGS } from "./linear-regex.js";

export const GENERAL_ATOMS_MODULE = "cairn.workflow.atoms.general";
/** Most items `concat` accepts. */
export const CONCAT_MAX_ITEMS = 1024;
/** Longest `concat` result (string code units or list elements). */
export const CONCAT_MAX_RESULT_LENGTH = 1_048_576;
/** Largest magnitude of an exact integer in arithmetic, in bits. */
export const ARITH_MAX_INT_BITS = 1024;
export const REGEX_MAX_PATTERN_LENGTH = 256;
export const REGEX_MAX_INPUT_LENGTH = 10_000;
/** Flags `regex_match` accepts (stateful `g`/`y` and the index-producing `d` are excluded). */
export const REGEX_ALLOWED_FLAGS = LINEAR_REGEX_FLAGS;
/** Most schema errors reported in a violation's details. */
export const JSON_SCHEMA_MAX_ERRORS = 16;
/** Most compiled schemas memoised per atom instance (the memo is cleared when full). */
export const JSON_SCHEMA_CACHE_MAX_ENTRIES = 64;

const ARITH_INT_LIMIT = 1n << BigInt(ARITH_MAX_INT_BITS);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

function atom(callable: string, args: readonly string[], execute: (inputs: AtomInputs) => PyValue): CtAtom {
  const code = `CAIRN_${callable.toUpperCase()}_V0`;
  return Object.freeze({ code, fqdn: `cairn::${code}`, handlerRef: `${GENERAL_ATOMS_MODULE}:${callable}`, args: Object.freeze([...args]), execute });
}

function out(name: string, v: PyValue): PyDict {
  return new Map([[name, v]]);
}

/** An int or a finite float (booleans are not numbers here). */
function number(code: string, name: string, v: PyValue): bigint | number {
  if (typeof v === "bigint") {
    if (v >= ARITH_INT_LIMIT || v <= -ARITH_INT_LIMIT) throw new AtomViolation(code, `${name} exceeds ${ARITH_MAX_INT_BITS} bits`, "CairnLimit");
    return v;
  }
  if (typeof v === "number" && Number.isFinite(v)) return v;
  throw new AtomViolation(code, `${name} must be an int or a finite float, got ${pyTypeName(v)} ${show(v)}`, "TypeError");
}

function compare(inputs: AtomInputs): PyValue {
  const a = getOrNull(inputs, "a");
  const b = getOrNull(inputs, "b");
  if (typeof a === "string" && typeof b === "string") return out("result", BigInt(compareCodePoints(a, b)));
  const c = compareNumbers(number("CAIRN_COMPARE_V0", "a", a), number("CAIRN_COMPARE_V0", "b", b));
  return out("result", BigInt(c as number));
}

/** JSON-value equality: numbers by value (int/float alike), booleans distinct, objects unordered. */
export function jsonEquals(a: PyValue, b: PyValue): boolean {
  if (typeof a === "boolean" || typeof b === "boolean" || a === null || b === null) return a === b;
  if ((typeof a === "bigint" || typeof a === "number") && (typeof b === "bigint" || typeof b === "number")) return compareNumbers(a, b) === 0;
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (isList(a)) return isList(b) && a.length === b.length && a.every((x, i) => jsonEquals(x, b[i] as PyValue));
  if (isDict(a) && isDict(b) && a.size === b.size) {
    for (const [k, v] of a) {
      const w = b.get(k);
      if (w === undefined || !jsonEquals(v, w)) return false;
    }
    return true;
  }
  return false;
}

/** Plain JSON for Cairn's canonical form / schema engines; throws AtomViolation for unrepresentable values. */
export function toPlainJson(code: string, v: PyValue): unknown {
  if (typeof v === "bigint") {
    if (v > SAFE_MAX || v < -SAFE_MAX) throw new AtomViolation(code, `integer ${show(v)} is outside ±(2^53-1)`, "ValueError");
    return Number(v);
  }
  if (typeof v === "number" && !Number.isFinite(v)) throw new AtomViolation(code, `non-finite float ${show(v)}`, "ValueError");
  if (isList(v)) return v.map((x) => toPlainJson(code, x));
  if (isDict(v)) return Object.fromEntries([...v].map(([k, x]) => [k, toPlainJson(code, x)]));
  return v;
}

function hash(inputs: AtomInputs): PyValue {
  const plain = toPlainJson("CAIRN_HASH_V0", getOrNull(inputs, "value"));
  try {
    return out("digest", canonicalDigest(plain));
  } catch (err) {
    throw new AtomViolation("CAIRN_HASH_V0", (err as Error).message, "ValueError");
  }
}

function concat(inputs: AtomInputs): PyValue {
  const code = "CAIRN_CONCAT_V0";
  const values = getOrNull(inputs, "values");
  if (!isList(values) || values.length === 0) throw new AtomViolation(code, "values must be a non-empty list");
  if (values.length > CONCAT_MAX_ITEMS) throw new AtomViolation(code, `more than ${CONCAT_MAX_ITEMS} values`, "CairnLimit");
  const total = values.reduce<number>((n, v) => n + (typeof v === "string" || isList(v) ? v.length : 0), 0);
  if (total > CONCAT_MAX_RESULT_LENGTH) throw new AtomViolation(code, `result longer than ${CONCAT_MAX_RESULT_LENGTH}`, "CairnLimit");
  if (values.every((v) => typeof v === "string")) return out("result", values.join(""));
  if (values.every(isList)) return out("result", values.flat(1));
  throw new AtomViolation(code, "values must be all strings or all lists", "TypeError");
}

type ArithOp = "add" | "sub" | "mul" | "div";

function intResult(code: string, r: bigint): bigint {
  if (r >= ARITH_INT_LIMIT || r <= -ARITH_INT_LIMIT) throw new AtomViolation(code, `result exceeds ${ARITH_MAX_INT_BITS} bits`, "CairnLimit");
  return r;
}

function asDouble(code: string, x: bigint | number): number {
  if (typeof x === "number") return x;
  if (x > SAFE_MAX || x < -SAFE_MAX) throw new AtomViolation(code, `integer ${x} is too large to mix with a float`, "ValueError");
  return Number(x);
}

/** `div`'s divisor must not be zero (0, 0.0 or -0.0). */
function nonZeroDivisor(b: bigint | number): void {
  if (b === 0n || b === 0) throw new AtomViolation("CAIRN_DIV_V0", "division by zero", "ValueError");
}

function arithmetic(op: ArithOp): (inputs: AtomInputs) => PyValue {
  const code = `CAIRN_${op.toUpperCase()}_V0`;
  return (inputs) => {
    const a = number(code, "a", getOrNull(inputs, "a"));
    const b = number(code, "b", getOrNull(inputs, "b"));
    if (op === "div") nonZeroDivisor(b);
    if (typeof a === "bigint" && typeof b === "bigint") {
      if (op === "div" && a % b !== 0n) throw new AtomViolation(code, `${a} is not divisible by ${b}; use float operands for inexact division`, "ValueError");
      const r = op === "add" ? a + b : op === "sub" ? a - b : op === "mul" ? a * b : a / b;
      return out("result", intResult(code, r));
    }
    const x = asDouble(code, a);
    const y = asDouble(code, b);
    const r = op === "add" ? x + y : op === "sub" ? x - y : op === "mul" ? x * y : x / y;
    if (!Number.isFinite(r)) throw new AtomViolation(code, "result is not finite", "ValueError");
    return out("result", r);
  };
}

const REGEX_CODE = "CAIRN_REGEX_MATCH_V0";

/** `regex_match`'s flags input: null or a string of distinct `REGEX_ALLOWED_FLAGS` (else a violation). */
function regexFlags(flags: PyValue): string {
  if (flags === null) return "";
  if (typeof flags !== "string") throw new AtomViolation(REGEX_CODE, "flags must be a string or null", "TypeError");
  if ([...flags].some((f) => !REGEX_ALLOWED_FLAGS.includes(f))) throw new AtomViolation(REGEX_CODE, `flags may only use "${REGEX_ALLOWED_FLAGS}"`, "ValueError");
  // As `RegExp` does: "ii" is no flag string (it would otherwise mean "i").
  if (new Set(flags).size !== flags.length) throw new AtomViolation(REGEX_CODE, `flags may use each of "${REGEX_ALLOWED_FLAGS}" only once`, "ValueError");
  return flags;
}

/** A string pattern compiled for `regex_match` (its length bounded; an invalid one a violation). */
function regexOf(pattern: string, flags: string): ReturnType<typeof compileLinearRegex> {
  if (pattern.length > REGEX_MAX_PATTERN_LENGTH) throw new AtomViolation(REGEX_CODE, `pattern longer than ${REGEX_MAX_PATTERN_LENGTH}`, "CairnLimit");
  try {
    return compileLinearRegex(pattern, flags);
  } catch (err) {
    throw new AtomViolation(REGEX_CODE, `invalid pattern: ${(err as Error).message}`, "ValueError");
  }
}

function regexMatch(inputs: AtomInputs): PyValue {
  const code = REGEX_CODE;
  const pattern = getOrNull(inputs, "pattern");
  const input = getOrNull(inputs, "input");
  if (typeof pattern !== "string" || typeof input !== "string") throw new AtomViolation(code, "pattern and input must be strings", "TypeError");
  const flags = regexFlags(getOrNull(inputs, "flags"));
  if (input.length > REGEX_MAX_INPUT_LENGTH) throw new AtomViolation(code, `input longer than ${REGEX_MAX_INPUT_LENGTH}`, "CairnLimit");
  const m = execLinear(regexOf(pattern, flags), input);
  const named: PyDict = new Map(Object.entries(m?.groups ?? {}).map(([k, g]) => [k, g ?? null]));
  return new Map<string, PyValue>([
    ["matched", m !== null],
    ["match", m === null ? null : (m[0] ?? null)],
    ["groups", m === null ? [] : m.slice(1).map((g) => g ?? null)],
    ["named", named],
  ]);
}

export interface JsonSchemaIssue {
  /** JSON Pointer of the offending part of the value (ajv's `instancePath`). */
  readonly instancePath: string;
  readonly message: string;
}
export interface JsonSchemaVerdict {
  readonly valid: boolean;
  readonly errors?: readonly JsonSchemaIssue[];
}
/** Validates one plain-JSON value. Must be pure. */
export type JsonSchemaValidator = (data: unknown) => JsonSchemaVerdict;
/** Compiles a plain-JSON schema; throws for an invalid schema. */
export type JsonSchemaCompiler = (schema: unknown) => JsonSchemaValidator;

/** The `json_schema_validate` atom around an injected schema compiler (e.g. ajv 8, wired by the caller). */
export function makeJsonSchemaValidateAtom(compile: JsonSchemaCompiler): CtAtom {
  const code = "CAIRN_JSON_SCHEMA_VALIDATE_V0";
  const memo = new Map<string, JsonSchemaValidator>();
  const validatorFor = (schema: PyValue): JsonSchemaValidator => {
    const key = canonicalJson(schema);
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let v: JsonSchemaValidator;
    try {
      v = compile(toPlainJson(code, schema));
    } catch (err) {
      if (err instanceof AtomViolation) throw err;
      throw new AtomViolation(code, `invalid schema: ${(err as Error).message}`, "ValueError");
    }
    if (memo.size >= JSON_SCHEMA_CACHE_MAX_ENTRIES) memo.clear();
    memo.set(key, v);
    return v;
  };
  return atom("json_schema_validate", ["schema", "value"], (inputs) => {
    const schema = getOrNull(inputs, "schema");
    if (!isDict(schema) && typeof schema !== "boolean") throw new AtomViolation(code, "schema must be an object or a boolean", "TypeError");
    const validate = validatorFor(schema);
    let verdict: JsonSchemaVerdict;
    try {
      verdict = validate(toPlainJson(code, getOrNull(inputs, "value")));
    } catch (err) {
      if (err instanceof AtomViolation) throw err;
      throw new AtomViolation(code, `validator failed: ${(err as Error).message}`, "ValueError");
    }
    if (verdict.valid) return out("valid", true);
    const errors = (verdict.errors ?? []).slice(0, JSON_SCHEMA_MAX_ERRORS).map((e) => ({ instancePath: e.instancePath, message: e.message }));
    const first = errors[0];
    throw new AtomViolation(code, first === undefined ? "value does not match the schema" : `value does not match the schema at '${first.instancePath}': ${first.message}`, "CTExecutionError", { errors });
  });
}

/** The general atoms that need no injection, keyed by handler ref. */
export const GENERAL_ATOMS: CtAtomTable = Object.freeze({
  "cairn.workflow.atoms.general:compare": atom("compare", ["a", "b"], compare),
  "cairn.workflow.atoms.general:equals": atom("equals", ["a", "b"], (i) => out("equal", jsonEquals(getOrNull(i, "a"), getOrNull(i, "b")))),
  "cairn.workflow.atoms.general:hash": atom("hash", ["value"], hash),
  "cairn.workflow.atoms.general:concat": atom("concat", ["values"], concat),
  "cairn.workflow.atoms.general:add": atom("add", ["a", "b"], arithmetic("add")),
  "cairn.workflow.atoms.general:sub": atom("sub", ["a", "b"], arithmetic("sub")),
  "cairn.workflow.atoms.general:mul": atom("mul", ["a", "b"], arithmetic("mul")),
  "cairn.workflow.atoms.general:div": atom("div", ["a", "b"], arithmetic("div")),
  "cairn.workflow.atoms.general:regex_match": atom("regex_match", ["pattern", "input", "flags"], regexMatch),
});

/** An input value known at compile time that every run would refuse: the input and the atom's reason. */
export interface ConstantInputProblem {
  readonly input: string;
  readonly message: string;
}

/**
 * The checks an atom makes on one input (or two) that do not depend on the others, for the
 * inputs whose value a declaration fixes (`{const: …}`): the compiler reports them
 * (`E_COMPILE_SCHEMA`) instead of sealing a step that fails on every run. `known` holds the
 * constant inputs in the runtime's value model. Keyed by callable.
 */
export const GENERAL_CONSTANT_CHECKS: Readonly<Record<string, (known: ReadonlyMap<string, PyValue>) => ConstantInputProblem | null>> = Object.freeze({
  regex_match: (known) => {
    let flags = "";
    if (known.has("flags")) {
      const f = staticViolation(() => (flags = regexFlags(known.get("flags") ?? null)));
      if (f !== null) return { input: "flags", message: f };
    }
    const pattern = known.get("pattern");
    if (pattern === undefined) return null;
    const p = staticViolation(() => {
      if (typeof pattern !== "string") throw new AtomViolation(REGEX_CODE, "pattern and input must be strings", "TypeError");
      regexOf(pattern, flags);
    });
    return p === null ? null : { input: "pattern", message: p };
  },
  div: (known) => {
    const b = known.get("b");
    if (b === undefined) return null;
    const p = staticViolation(() => nonZeroDivisor(number("CAIRN_DIV_V0", "b", b)));
    return p === null ? null : { input: "b", message: p };
  },
  json_schema_validate: (known) => {
    const schema = known.get("schema");
    if (schema === undefined) return null;
    const code = "CAIRN_JSON_SCHEMA_VALIDATE_V0";
    const p = staticViolation(() => {
      if (!isDict(schema) && typeof schema !== "boolean") throw new AtomViolation(code, "schema must be an object or a boolean", "TypeError");
      try {
        ajvSchemaCompiler()(toPlainJson(code, schema));
      } catch (err) {
        if (err instanceof AtomViolation) throw err;
        throw new AtomViolation(code, `invalid schema: ${(err as Error).message}`, "ValueError");
      }
    });
    return p === null ? null : { input: "schema", message: p };
  },
});

/** The reason of the AtomViolation `check` throws, or null. */
function staticViolation(check: () => unknown): string | null {
  try {
    check();
    return null;
  } catch (err) {
    if (err instanceof AtomViolation) return err.reason;
    throw err;
  }
}

/** `GENERAL_ATOMS` plus `json_schema_validate` when a schema compiler is supplied. */
export function createGeneralAtomTable(opts: { readonly jsonSchema?: JsonSchemaCompiler } = {}): CtAtomTable {
  if (opts.jsonSchema === undefined) return GENERAL_ATOMS;
  return Object.freeze({ ...GENERAL_ATOMS, "cairn.workflow.atoms.general:json_schema_validate": makeJsonSchemaValidateAtom(opts.jsonSchema) });
}

let ajvClass: typeof AjvClass | undefined;
/**
 * ajv is loaded on the first schema compile, not when this module is imported: every import of
 * the workflow runtimes (and so every one-shot `cairn wf run`) would otherwise pay its load time.
 * `require` keeps the compiler synchronous (ajv is a CommonJS package).
 */
export function loadAjv(): typeof AjvClass {
  ajvClass ??= (createRequire(import.meta.url)("ajv") as { Ajv: typeof AjvClass }).Ajv;
  return ajvClass;
}

/**
 * The JSON Schema compiler of `json_schema_validate`: ajv 8 (draft-07), one instance per
 * compiled schema. Options: `allErrors` (every issue is reported, at most JSON_SCHEMA_MAX_ERRORS kept),
 * `strict` (unknown keywords and ambiguous schemas are refused as an invalid schema; strict-type
 * warnings are off), `validateFormats: false` (`format` is an annotation), no logger (nothing is
 * printed). Validation is pure: ajv compiles a schema into a function of the value only.
 */
export function ajvSchemaCompiler(): JsonSchemaCompiler {
  return (schema) => {
    const Ajv = loadAjv();
    // A fresh instance per schema: ajv caches every schema it compiled (and refuses a second
    // schema with the same $id), so one shared instance would grow without bound.
    const ajv = new Ajv({
      allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, validateFormats: false, logger: false,
      ownProperties: true, code: { regExp: linearRegExpEngine },
      // Strict mode would check each `properties` name against each `patternProperties` pattern with
      // a native (backtracking) RegExp at compile time: the linear engine only, never that.
      allowMatchingProperties: true,
    });
    // ajv's keyword tables are plain objects: `RULES.keywords[key]` finds Object.prototype's
    // members, so `{"__proto__": …}`, `{"constructor": …}`, `{"toString": …}` passed strict mode
    // as keywords and were then ignored. Without a prototype they are unknown keywords.
    Object.setPrototypeOf(ajv.RULES.keywords, null);
    Object.setPrototypeOf(ajv.RULES.all, null);
    ajv.removeKeyword("uniqueItems");
    ajv.addKeyword(UNIQUE_ITEMS_KEYWORD);
    // ajv's `const` / `enum` compare with fast-deep-equal, which calls a member named `valueOf` or
    // `toString` (`{"toString": 1}` threw) and compares `constructor` members by identity.
    ajv.removeKeyword("const");
    ajv.removeKeyword("enum");
    // Where ajv's own stood (before `not`, `anyOf`…), so that errors keep ajv's order.
    ajv.addKeyword({ ...CONST_KEYWORD, before: "not" });
    ajv.addKeyword({ ...ENUM_KEYWORD, before: "not" });
    refuseIgnoredNames(schema, "#");
    const validate = ajv.compile(schema as boolean | Record<string, unknown>);
    if ((validate as { $async?: unknown }).$async === true) throw new Error("asynchronous schemas ($async) are not supported");
    return (data) => {
      if (validate(data) === true) return { valid: true };
      const errors = (validate.errors ?? []).map((e: ErrorObject) => ({ instancePath: e.instancePath, message: e.message ?? e.keyword }));
      return { valid: false, errors };
    };
  };
}

/** Draft-07 keywords whose value is a schema, a list of schemas, or a map of names to schemas. */
const SUBSCHEMA_KEYWORDS = ["additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else", "items"];
const SUBSCHEMA_LIST_KEYWORDS = ["allOf", "anyOf", "oneOf", "items"];
const SUBSCHEMA_MAP_KEYWORDS = ["properties", "patternProperties", "dependencies", "definitions", "$defs"];
/** Keywords whose map ajv reads without its `__proto__` member (`allSchemaProperties`). */
const NAME_MAP_KEYWORDS = ["properties", "patternProperties", "dependencies"];

/**
 * Throws for a `__proto__` member of `properties`, `patternProperties` or `dependencies` in
 * `schema` (at `pointer`) or any of its subschemas: ajv skips that member (a property named
 * `__proto__` went unchecked, and `additionalProperties: false` then refused it), so such a
 * schema is refused as invalid rather than silently meaning less than it says.
 */
function refuseIgnoredNames(schema: unknown, pointer: string): void {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) return;
  const s = schema as Record<string, unknown>;
  const own = (o: unknown, k: string): boolean => o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k);
  for (const kw of NAME_MAP_KEYWORDS) {
    if (own(s, kw) && own(s[kw], "__proto__")) {
      throw new Error(`unsupported name "__proto__" in "${kw}" at ${pointer}/${kw} (ajv would ignore it)`);
    }
  }
  for (const kw of SUBSCHEMA_KEYWORDS) if (own(s, kw)) refuseIgnoredNames(s[kw], `${pointer}/${kw}`);
  for (const kw of SUBSCHEMA_LIST_KEYWORDS) {
    const list = own(s, kw) ? s[kw] : undefined;
    if (Array.isArray(list)) list.forEach((x, i) => refuseIgnoredNames(x, `${pointer}/${kw}/${i}`));
  }
  for (const kw of SUBSCHEMA_MAP_KEYWORDS) {
    const map = own(s, kw) ? s[kw] : undefined;
    if (map === null || typeof map !== "object" || Array.isArray(map)) continue;
    for (const [k, x] of Object.entries(map)) refuseIgnoredNames(x, `${pointer}/${kw}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
  }
}

/** ajv's `code.regExp`: `pattern` and `patternProperties` compiled by the linear-time engine. */
const linearRegExpEngine = Object.assign(
  (pattern: string): { test(s: string): boolean; toString(): string } => {
    const re = compileLinearRegex(pattern, "u");
    // ajv keys compiled patterns by toString(): it must name the pattern.
    return { test: (s) => re.test(s), toString: () => `/${pattern}/u` };
  },
  // ajv names the engine in generated standalone code (never used here).
  { code: "cairnLinearRegExp" },
);

/**
 * `uniqueItems` in linear time: ajv's own keyword compares every pair of items that are not all
 * of one scalar type (40,000 objects took 13 s). Items are equal when their `equalityKey`s are
 * (JSON Schema's equality: numbers by value, objects whatever their member order).
 * The reported pair is ajv's: the highest index `i` with an equal item before it, and the
 * nearest such `j`.
 */
/**
 * A text equal for two plain-JSON values exactly when JSON Schema calls them equal: object
 * members in sorted key order, numbers as `JSON.stringify` writes them (one text per double: `1`
 * and `1.0`, `0` and `-0` alike). Unlike RFC 8785 canonical form it takes any string, a lone
 * surrogate included (JSON.stringify escapes it), since a payload may hold one.
 */
function equalityKey(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(equalityKey).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${equalityKey(o[k])}`)
    .join(",")}}`;
}

const UNIQUE_ITEMS_KEYWORD = {
  keyword: "uniqueItems",
  type: "array" as const,
  schemaType: "boolean" as const,
  errors: true,
  validate: function uniqueItems(this: unknown, unique: boolean, data: unknown[]): boolean {
    if (!unique) return true;
    const last = new Map<string, number>();
    let dup: { i: number; j: number } | undefined;
    for (let k = 0; k < data.length; k++) {
      const key = equalityKey(data[k]);
      const before = last.get(key);
      if (before !== undefined) dup = { i: k, j: before };
      last.set(key, k);
    }
    if (dup === undefined) return true;
    (uniqueItems as unknown as { errors: unknown[] }).errors = [
      { keyword: "uniqueItems", message: `must NOT have duplicate items (items ## ${dup.j} and ${dup.i} are identical)`, params: dup },
    ];
    return false;
  },
};

/**
 * JSON equality of two parsed JSON values, stopping at the first difference and calling no
 * method of either (a member may be named `toString` or `valueOf`): numbers by value (1 and 1.0,
 * 0 and -0 are equal), objects by their own members whatever their order.
 */
function plainJsonEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!plainJsonEquals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(y, k) || !plainJsonEquals(x[k], y[k])) return false;
  return true;
}

/** `const` by JSON equality (`plainJsonEquals`: no method of the value is called), with ajv's message. */
const CONST_KEYWORD = {
  keyword: "const",
  errors: true,
  compile(constant: unknown) {
    const check = (data: unknown): boolean => {
      if (plainJsonEquals(data, constant)) return true;
      (check as unknown as { errors: unknown[] }).errors = [{ keyword: "const", message: "must be equal to constant", params: { allowedValue: constant } }];
      return false;
    };
    return check;
  },
};

/** `enum` by JSON equality (scalars by one Set lookup, arrays and objects by `plainJsonEquals`), with ajv's message. */
const ENUM_KEYWORD = {
  keyword: "enum",
  schemaType: "array" as const,
  errors: true,
  compile(values: unknown[]) {
    const scalars = new Set(values.filter((v) => v === null || typeof v !== "object"));
    const composites = values.filter((v) => v !== null && typeof v === "object");
    const check = (data: unknown): boolean => {
      if (data === null || typeof data !== "object" ? scalars.has(data) : composites.some((v) => plainJsonEquals(data, v))) return true;
      (check as unknown as { errors: unknown[] }).errors = [{ keyword: "enum", message: "must be equal to one of the allowed values", params: { allowedValues: values } }];
      return false;
    };
    return check;
  },
};

/** `GENERAL_ATOMS` plus `json_schema_validate` backed by ajv (`ajvSchemaCompiler`). */
export const CAIRN_GENERAL_ATOMS: CtAtomTable = createGeneralAtomTable({ jsonSchema: ajvSchemaCompiler() });
