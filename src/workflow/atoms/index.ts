/**
 * CT atoms: the pure transforms a governed workflow's CT steps run (PGS v0.3 SEMANTICS Part B),
 * the CT-IR executor that runs them (A.8/A.9), the CT conformance runner (A.13), and Cairn's own
 * general-purpose atoms.
 *
 * ## The atom interface (`CtAtom`)
 *
 * - **Input**: one `AtomInputs` object — a `Map<string, PyValue>` holding every CT-IR arg of the
 *   step, each already resolved by the executor; an arg whose CT input is absent is present with
 *   value `null` ("missing means null"). Values use the shared Python value model of
 *   src/workflow/py/value.ts (`bigint` = int, `number` = float, `boolean`, `string`, `null`,
 *   arrays, `Map` = dict with insertion order). Atoms never mutate their inputs.
 * - **Output**: the atom's raw return value, a `PyValue`, usually a `Map` such as
 *   `{"id": "KYC_…"}`. Returning `null` is *not* a success: the executor reports
 *   `Atom returned None: <atom>` (the passthrough atom relies on this).
 * - **Violation**: an atom signals a violation (the reference's "raise") by **throwing
 *   `AtomViolation`** (violation.ts) carrying `atom` (code), `reason`, `pyException` (the Python
 *   exception class the reference raises there: `CTExecutionError`, `TypeError`, `ValueError`,
 *   `AttributeError`, `KeyError`, or `CairnLimit` for Cairn-only bounds) and `details`.
 *
 *   Why throwing rather than a result union: A.9 defines exactly one failure channel — anything
 *   raised inside the CT becomes a CT execution error — and A.8 collapses every such error into
 *   `("VIOLATION", {})`. An atom's successful return value is arbitrary JSON (passthrough returns
 *   its input verbatim), so a tagged union on the atom's return would collide with legitimate
 *   values. The union appears one level up instead: `runCtStep` (ct-ir.ts) never throws for CT
 *   failures and returns `{status: "SUCCESS", outputs} | {status: "VIOLATION", outputs: {}, error}`,
 *   which is exactly what the dispatcher (A.7) needs.
 * - **Purity**: no clock, randomness, I/O or global state. The one atom that needs "now"
 *   (CT_PURE_EVALUATE_INACTIVITY_V0, when `current_date` is absent) gets an injected `Clock`
 *   (`createCtAtomTable({ clock })`; `CT_ATOMS` uses the fixed `PGS_DEFAULT_CLOCK`).
 *
 * ## The sealed table
 *
 * `CT_ATOMS` is a frozen literal keyed by handler ref `<module>:<callable>` as `handlers.json`
 * writes `handler_ref` (e.g.
 * `pgs_transforms.implementation.transforms.atoms.ct_pure_lookup_v0:execute`). The executor looks
 * atoms up there only; an unknown ref is a CT execution error (→ VIOLATION), never a discovery.
 */
import type { PyDict, PyValue } from "../py/value.js";

/** The inputs an atom receives: every CT-IR arg, resolved (absent → `null`). */
export type AtomInputs = PyDict;

/** One CT atom. See the module comment for the contract. */
export interface CtAtom {
  /** Atom code, e.g. `CT_PURE_LOOKUP_V0`. */
  readonly code: string;
  /** FQDN as the CT-IR `atom` field writes it, e.g. `capability_transforms::CT_PURE_LOOKUP_V0`. */
  readonly fqdn: string;
  /** `<module>:<callable>`, the key of this atom in its table. */
  readonly handlerRef: string;
  /** The CT-IR args the snapshots pass, in snapshot order. */
  readonly args: readonly string[];
  /** Runs the atom. Throws `AtomViolation` for a violation; `null` means "returned None". */
  readonly execute: (inputs: AtomInputs) => PyValue;
}

/** A sealed atom table keyed by handler ref. */
export type CtAtomTable = Readonly<Record<string, CtAtom>>;

export { CT_ATOMS, createCtAtomTable, handlerRefKey, lookupAtom, type CtAtomTableOptions } from "./table.js";
export { PGS_DEFAULT_CLOCK, INACTIVITY_UNKNOWN_DAYS, makeEvaluateInactivityAtom } from "./pgs-licensing.js";
export { GENERATE_ID_HASH_CHARS, generateIdContent } from "./pgs-generate-id.js";
export { COLLATZ_MAX_SEQUENCE_LENGTH, COLLATZ_MAX_TOTAL_DIGITS, COLLATZ_MAX_TOTAL_VALUES } from "./pgs-collatz.js";
export { AtomViolation, CtExecutionError, CT_EXECUTION_FAILED, CT_NODE_CATEGORY, type PyExceptionName } from "./violation.js";
export { executeCtIr, runCtStep, adaptCtOutputs, CT_IR_MAX_ATOM_STREAM, type CtStepResult, type CtIrOptions } from "./ct-ir.js";
export { runConformanceCase, conformanceSnapshotHash, type ConformanceResult, type ConformanceMismatch } from "./conformance.js";
export * from "./general.js";
