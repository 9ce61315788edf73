/**
 * The CT-IR executor (SEMANTICS A.9) and the CT step with output adaptation (A.8).
 *
 * Both are atom-level: they need a CT-IR object, the CT inputs and an atom table, nothing from
 * the scheduler. The dispatcher (A.7) does the `handlers.ct[addr]` lookup (an unknown address
 * is a hard error there) and then calls `runCtStep(ct.ct_ir, resolvedStepInputs)`.
 *
 * - `executeCtIr` runs the atom stream and returns the variable table, or throws
 *   `CtExecutionError` (`error_code CT_EXECUTION_FAILED`, `node_category CT`).
 * - `adaptCtOutputs` builds the CT outputs from `ct_ir.outputs` (single-member unwrapping).
 * - `runCtStep` = both, with every failure turned into `{status: "VIOLATION", outputs: {}}`.
 *
 * The `loop` construct is described only loosely by the spec and used by no snapshot; it is
 * rejected (→ VIOLATION) rather than guessed.
 */
import type { CtAtomTable } from "./index.js";
import { dottedGet, getOrNull, isDict, isList, pyTypeName, type PyDict, type PyValue } from "../py/value.js";
import { CT_ATOMS, handlerRefKey, lookupAtom } from "./table.js";
import { AtomViolation, CtExecutionError } from "./violation.js";

/** Longest atom stream accepted (every real CT-IR has exactly one step). */
export const CT_IR_MAX_ATOM_STREAM = 64;
/** Invocation members that are never passed to the atom (A.9). */
const RESERVED_MEMBERS: ReadonlySet<string> = new Set(["atom", "molecule", "kind", "as", "out", "loop", "args", "handler_ref", "input_types"]);
const INPUTS_PREFIX = "$.inputs.";
const RESULTS_PREFIX = "$.results.";
const REF_PREFIX = "$.";

export interface CtIrOptions {
  /** The sealed atom table. Default `CT_ATOMS`. */
  readonly atoms?: CtAtomTable;
}

export type CtStepResult =
  | { readonly status: "SUCCESS"; readonly outputs: PyDict }
  | { readonly status: "VIOLATION"; readonly outputs: PyDict; readonly error: CtExecutionError };

/** `<sym>.<path>` → dotted path into variable `sym`; no path part, or an unknown variable → null. */
function resolveInVariable(rest: string, vars: PyDict): PyValue {
  const dot = rest.indexOf(".");
  if (dot < 0) return null;
  const v = vars.get(rest.slice(0, dot));
  return v === undefined ? null : dottedGet(v, rest.slice(dot + 1));
}

/** CT-context resolution of a `$.…` string (A.9). */
function resolveRef(ref: string, inputs: PyDict, vars: PyDict): PyValue {
  if (ref.startsWith(INPUTS_PREFIX)) return dottedGet(inputs, ref.slice(INPUTS_PREFIX.length));
  if (ref.startsWith(RESULTS_PREFIX)) return resolveInVariable(ref.slice(RESULTS_PREFIX.length), vars);
  return resolveInVariable(ref.slice(REF_PREFIX.length), vars);
}

function stepError(i: number, what: string): CtExecutionError {
  return new CtExecutionError(`${what} at index ${i}`, { step_index: i });
}

/**
 * Per CT-IR step object, what does not depend on the inputs: its handler-ref key, and its
 * invocation members (step members, then `args` over them, reserved ones left out) in order.
 * CT-IR objects are read-only once run (a loaded snapshot's), as for the dispatcher's step memo.
 */
const stepKeys = new WeakMap<PyDict, string>();
const stepMembers = new WeakMap<PyDict, ReadonlyArray<readonly [string, PyValue]>>();

/** The atom inputs of one step: invocation = step members overlaid with `args`, minus reserved names. */
function atomInputs(step: PyDict, i: number, inputs: PyDict, vars: PyDict): PyDict {
  let members = stepMembers.get(step);
  if (members === undefined) {
    const invocation = new Map(step);
    const args = getOrNull(step, "args");
    if (args !== null) {
      if (!isDict(args)) throw stepError(i, `CT-IR args must be an object, got ${pyTypeName(args)}`);
      for (const [k, v] of args) invocation.set(k, v);
    }
    members = [...invocation].filter(([k]) => !RESERVED_MEMBERS.has(k));
    stepMembers.set(step, members);
  }
  const out = new Map<string, PyValue>();
  for (const [k, v] of members) out.set(k, typeof v === "string" && v.startsWith(REF_PREFIX) ? resolveRef(v, inputs, vars) : v);
  return out;
}

function handlerKey(step: PyDict, i: number): string {
  const ref = getOrNull(step, "handler_ref");
  if (!isDict(ref)) throw stepError(i, "Missing handler_ref");
  const module = getOrNull(ref, "module");
  const callable = getOrNull(ref, "callable");
  if (typeof module !== "string" || module === "" || typeof callable !== "string" || callable === "") {
    throw stepError(i, "handler_ref needs a module and a callable");
  }
  return handlerRefKey(module, callable);
}

/** Runs the atom stream of `ctIr` on `inputs`; returns the variable table. Throws CtExecutionError. */
export function executeCtIr(ctIr: PyValue, inputs: PyDict, opts: CtIrOptions = {}): PyDict {
  const atoms = opts.atoms ?? CT_ATOMS;
  const stream = isDict(ctIr) ? getOrNull(ctIr, "atom_stream") : null;
  if (!isList(stream) || stream.length === 0) throw new CtExecutionError("CT-IR missing atom_stream");
  if (stream.length > CT_IR_MAX_ATOM_STREAM) throw new CtExecutionError(`CT-IR atom_stream longer than ${CT_IR_MAX_ATOM_STREAM} steps`);
  const vars: PyDict = new Map();
  stream.forEach((step, i) => {
    if (!isDict(step)) throw stepError(i, "CT-IR step is not an object");
    const atomName = getOrNull(step, "atom");
    if (typeof atomName !== "string" || atomName === "") throw stepError(i, "Missing atom");
    if (step.has("loop")) throw stepError(i, "CT-IR loop construct is not supported");
    let key = stepKeys.get(step);
    if (key === undefined) {
      key = handlerKey(step, i);
      stepKeys.set(step, key);
    }
    const atom = lookupAtom(atoms, key);
    if (atom === undefined) throw new CtExecutionError(`Unknown handler_ref '${key}' for atom ${atomName}`, { step_index: i, handler_ref: key });
    const out = getOrNull(step, "out");
    if (out !== null && typeof out !== "string") throw stepError(i, "CT-IR out must be a string");
    const args = atomInputs(step, i, inputs, vars);
    let result: PyValue;
    try {
      result = atom.execute(args);
    } catch (err) {
      const msg = err instanceof AtomViolation ? err.reason : err instanceof Error ? err.message : String(err);
      throw new CtExecutionError(`Atom raised exception: ${atomName}: ${msg}`, { step_index: i, atom: atomName }, err);
    }
    if (result === null || result === undefined) throw new CtExecutionError(`Atom returned None: ${atomName}`, { step_index: i, atom: atomName });
    if (out !== null && out !== "") vars.set(out, result);
  });
  return vars;
}

/** A.8 output adaptation: `outputs_ct[name]` from `vars[from]`, unwrapping single-member objects. */
export function adaptCtOutputs(ctIr: PyValue, vars: PyDict): PyDict {
  const outputs = isDict(ctIr) ? getOrNull(ctIr, "outputs") : null;
  if (!isDict(outputs) || outputs.size === 0) throw new CtExecutionError("CT-IR has no outputs");
  const result: PyDict = new Map();
  for (const [name, spec] of outputs) {
    const sym = isDict(spec) ? getOrNull(spec, "from") : null;
    if (typeof sym !== "string") throw new CtExecutionError(`CT-IR output '${name}' has no 'from' symbol`);
    const v = vars.get(sym);
    if (v === undefined) throw new CtExecutionError(`CT output '${name}': symbol '${sym}' was not produced`);
    if (!isDict(v)) result.set(name, v);
    else if (v.has(name)) result.set(name, v.get(name) as PyValue);
    else if (v.size === 1) result.set(name, v.values().next().value as PyValue);
    else result.set(name, v);
  }
  return result;
}

/** A.8: runs a CT step. Never throws for CT failures: they come back as `VIOLATION` with empty outputs. */
export function runCtStep(ctIr: PyValue, inputs: PyDict, opts: CtIrOptions = {}): CtStepResult {
  try {
    return { status: "SUCCESS", outputs: adaptCtOutputs(ctIr, executeCtIr(ctIr, inputs, opts)) };
  } catch (err) {
    const error = err instanceof CtExecutionError ? err : new CtExecutionError(`CT execution failed: ${err instanceof Error ? err.message : String(err)}`, {}, err);
    return { status: "VIOLATION", outputs: new Map(), error };
  }
}
