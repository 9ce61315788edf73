/**
 * The CT conformance runner (SEMANTICS A.13).
 *
 * A case file `{artifact_type: "CT_CONFORMANCE", ct_fqdn, fqdn, ct_ir, expected, assertions?}`
 * carries concrete input values in `ct_ir.inputs`. The runner executes the CT-IR (A.9) on them
 * and builds `actual` from `ct_ir.outputs` **without** single-member unwrapping (unlike A.8):
 * the source variable's member named like the output if it has one, else the variable whole;
 * missing variables are skipped; no outputs → the whole variable table.
 *
 * Comparison: fields named in `assertions` are checked structurally (modes below) and left out
 * of the exact comparison; for the rest, `actual` and `expected` must have the same field names
 * and Python-equal values. A CT execution error fails the case. A file that is not a CT
 * conformance case at all is refused with `E_INVALID_INPUT`.
 *
 * Assertion modes (none of the shipped cases uses them; interpretation documented here):
 * `exact` (Python equality with `expected[field]`); `property` with `type` `hex_string`
 * (optional `0x`, even number of hex digits, optional `byte_length`), `byte_length_range`
 * (`min`/`max` bytes, each optional) or `non_zero` (a non-zero number, or a hex string with a
 * non-zero digit); `schema` with `type` a JSON type name. Anything else fails closed.
 */
import { createHash } from "node:crypto";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { executeCtIr, type CtIrOptions } from "./ct-ir.js";
import { compactJson, parsePyJson } from "../py/json.js";
import { compareCodePoints, getOrNull, isDict, isPyNumber, pyEquals, pyTruthy, type PyDict, type PyValue } from "../py/value.js";
import { CtExecutionError } from "./violation.js";

/** The `artifact_type` of a CT conformance case. */
export const CT_CONFORMANCE_ARTIFACT = "CT_CONFORMANCE";
/** Hex characters of the conformance snapshot hash. */
export const CONFORMANCE_SNAPSHOT_HASH_CHARS = 16;

export interface ConformanceMismatch {
  readonly field: string;
  readonly reason: string;
  /** Compact JSON of the expected value (absent for assertion-only fields). */
  readonly expected?: string;
  /** Compact JSON of the actual value, absent when the field is missing. */
  readonly actual?: string;
}

export interface ConformanceResult {
  /** `<ct_fqdn>::<case>`. */
  readonly fqdn: string;
  readonly ctFqdn: string;
  /** The part of `fqdn` after its last `::`. */
  readonly caseName: string;
  readonly passed: boolean;
  /** What the CT produced (undefined when execution failed). */
  readonly actual: PyDict | undefined;
  readonly expected: PyDict;
  readonly mismatches: readonly ConformanceMismatch[];
  /** The CT execution error that failed the case, if any. */
  readonly error: CtExecutionError | undefined;
}

function invalidCase(msg: string): never {
  throw new CairnError(ErrorCode.INVALID_INPUT, `not a CT conformance case: ${msg}`);
}

function requireString(c: PyDict, name: string): string {
  const v = getOrNull(c, name);
  if (typeof v !== "string" || v === "") invalidCase(`'${name}' must be a non-empty string`);
  return v;
}

function requireDict(c: PyDict, name: string, optional = false): PyDict | undefined {
  const v = getOrNull(c, name);
  if (v === null && optional) return undefined;
  if (!isDict(v)) invalidCase(`'${name}' must be an object`);
  return v;
}

/** `actual` per A.13 (no single-member unwrapping). */
function buildActual(ctIr: PyDict, vars: PyDict): PyDict {
  const outputs = getOrNull(ctIr, "outputs");
  if (!isDict(outputs) || outputs.size === 0) return new Map(vars);
  const actual: PyDict = new Map();
  for (const [name, spec] of outputs) {
    const sym = isDict(spec) ? getOrNull(spec, "from") : null;
    const v = typeof sym === "string" ? vars.get(sym) : undefined;
    if (v === undefined) continue;
    actual.set(name, isDict(v) && v.has(name) ? (v.get(name) as PyValue) : v);
  }
  return actual;
}

const HEX_RE = /^(?:0x)?((?:[0-9a-fA-F]{2})*)$/;
const JSON_TYPE_CHECKS: Readonly<Record<string, (v: PyValue) => boolean>> = {
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "bigint" || typeof v === "number",
  integer: (v) => typeof v === "bigint",
  boolean: (v) => typeof v === "boolean",
  object: (v) => isDict(v),
  array: (v) => Array.isArray(v),
  null: (v) => v === null,
};

function hexBytes(v: PyValue): number | undefined {
  const m = typeof v === "string" ? HEX_RE.exec(v) : null;
  return m === null ? undefined : (m[1] as string).length / 2;
}

/** Checks one property assertion; returns the failure reason or undefined. */
function checkProperty(spec: PyDict, v: PyValue): string | undefined {
  const type = getOrNull(spec, "type");
  const bytes = hexBytes(v);
  if (type === "hex_string") {
    if (bytes === undefined) return "not a hex string";
    const want = getOrNull(spec, "byte_length");
    return want === null || (isPyNumber(want) && Number(want) === bytes) ? undefined : `byte length ${bytes}, expected ${String(want)}`;
  }
  if (type === "byte_length_range") {
    if (bytes === undefined) return "not a hex string";
    const min = getOrNull(spec, "min");
    const max = getOrNull(spec, "max");
    const ok = (min === null || (isPyNumber(min) && bytes >= Number(min))) && (max === null || (isPyNumber(max) && bytes <= Number(max)));
    return ok ? undefined : `byte length ${bytes} outside [${String(min)}, ${String(max)}]`;
  }
  if (type === "non_zero") {
    if (typeof v === "bigint" || typeof v === "number") return pyTruthy(v) ? undefined : "is zero";
    if (bytes !== undefined) return /[1-9a-fA-F]/.test((v as string).replace(/^0x/, "")) ? undefined : "is zero";
    return "not a number or hex string";
  }
  return `unknown property type ${compactJson(type)}`;
}

function checkAssertion(spec: PyValue, v: PyValue | undefined, expected: PyValue | undefined): string | undefined {
  if (v === undefined) return "missing from actual";
  if (!isDict(spec)) return "assertion is not an object";
  const mode = getOrNull(spec, "mode");
  if (mode === "exact") return expected !== undefined && pyEquals(v, expected) ? undefined : "not equal to expected";
  if (mode === "property") return checkProperty(spec, v);
  if (mode === "schema") {
    const type = getOrNull(spec, "type");
    const check = typeof type === "string" && Object.hasOwn(JSON_TYPE_CHECKS, type) ? JSON_TYPE_CHECKS[type] : undefined;
    if (check === undefined) return `unknown schema type ${compactJson(type)}`;
    return check(v) ? undefined : `not of type ${type}`;
  }
  return `unknown assertion mode ${compactJson(mode)}`;
}

function compare(actual: PyDict, expected: PyDict, assertions: PyDict | undefined): ConformanceMismatch[] {
  const out: ConformanceMismatch[] = [];
  const show = (v: PyValue | undefined): string | undefined => (v === undefined ? undefined : compactJson(v));
  for (const [field, spec] of assertions ?? []) {
    const reason = checkAssertion(spec, actual.get(field), expected.get(field));
    if (reason !== undefined) out.push({ field, reason: `assertion: ${reason}`, actual: show(actual.get(field)) });
  }
  const asserted = (f: string): boolean => assertions?.has(f) === true;
  for (const [field, want] of expected) {
    if (asserted(field)) continue;
    const got = actual.get(field);
    if (got === undefined) out.push({ field, reason: "missing from actual", expected: show(want) });
    else if (!pyEquals(got, want)) out.push({ field, reason: "not equal", expected: show(want), actual: show(got) });
  }
  // Fields of `actual` that `expected` does not name are not compared (A.13: only the expected
  // fields must equal).
  return out;
}

/** Runs one CT conformance case (JSON text, parsed losslessly, or an already parsed value). */
export function runConformanceCase(caseJson: string | PyValue, opts: CtIrOptions = {}): ConformanceResult {
  const c = typeof caseJson === "string" ? parsePyJson(caseJson) : caseJson;
  if (!isDict(c)) invalidCase("the case is not an object");
  if (getOrNull(c, "artifact_type") !== CT_CONFORMANCE_ARTIFACT) invalidCase(`artifact_type must be ${CT_CONFORMANCE_ARTIFACT}`);
  const fqdn = requireString(c, "fqdn");
  const ctFqdn = requireString(c, "ct_fqdn");
  const ctIr = requireDict(c, "ct_ir") as PyDict;
  const expected = requireDict(c, "expected") as PyDict;
  const assertions = requireDict(c, "assertions", true);
  const base = { fqdn, ctFqdn, caseName: fqdn.slice(fqdn.lastIndexOf("::") + 2), expected };
  let vars: PyDict;
  try {
    const inputs = getOrNull(ctIr, "inputs") ?? new Map<string, PyValue>();
    if (!isDict(inputs)) throw new CtExecutionError("CT-IR inputs of a conformance case must be an object");
    vars = executeCtIr(ctIr, inputs, opts);
  } catch (err) {
    const error = err instanceof CtExecutionError ? err : new CtExecutionError(`CT execution failed: ${err instanceof Error ? err.message : String(err)}`, {}, err);
    return { ...base, passed: false, actual: undefined, mismatches: [{ field: "", reason: `CT execution error: ${error.message}` }], error };
  }
  const actual = buildActual(ctIr, vars);
  const mismatches = compare(actual, expected, assertions);
  return { ...base, passed: mismatches.length === 0, actual, mismatches, error: undefined };
}

/** A.13 snapshot hash: SHA-256 over (name bytes + file bytes) of every `*.json`, sorted by name; first 16 hex. */
export function conformanceSnapshotHash(files: readonly { readonly name: string; readonly bytes: Uint8Array }[]): string {
  const h = createHash("sha256");
  const sorted = files.filter((f) => f.name.endsWith(".json")).sort((a, b) => compareCodePoints(a.name, b.name));
  for (const f of sorted) h.update(Buffer.from(f.name, "utf8")).update(f.bytes);
  return h.digest("hex").slice(0, CONFORMANCE_SNAPSHOT_HASH_CHARS);
}
