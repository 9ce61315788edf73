/**
 * Handler lookup: handler_refs (`module` + `callable`) resolve only through the sealed tables
 * of the atoms (`CT_ATOMS`, src/workflow/atoms) and the CS runtimes (`CS_RUNTIMES`,
 * src/workflow/effects). Nothing is discovered or imported at run time. A ref missing from its
 * table is a hard error naming it, `E_HANDLER_UNMAPPED` with `details.reason =
 * "unmapped_handler_ref"` (the reference would report a CT VIOLATION; Cairn refuses).
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { CT_ATOMS, handlerRefKey, lookupAtom, type CtAtomTable } from "../atoms/index.js";
import type { PyObject, PyValue } from "./value.js";

export interface HandlerRef {
  module: string;
  callable: string;
}

/** What one CS call did to a data-root file (relative path; no absolute paths). */
export interface EffectFile {
  id: string;
  path: string;
  action: "append" | "replace" | "create" | "read";
  created: boolean;
  digest: string;
  size: number;
}

export const UNMAPPED_HANDLER_REASON = "unmapped_handler_ref";

/** The hard error (`E_HANDLER_UNMAPPED`) for a handler_ref that is not in its sealed table. */
export function unmappedHandler(kind: "CT" | "CS", ref: HandlerRef, where: string): CairnError {
  return new CairnError(
    ErrorCode.HANDLER_UNMAPPED,
    `unmapped ${kind} handler_ref ${handlerRefKey(ref.module, ref.callable)} (${where}): it is not in Cairn's sealed ${kind} table`,
    { reason: UNMAPPED_HANDLER_REASON, kind, module: ref.module, callable: ref.callable, where },
  );
}

/** Reads a `handler_ref` object; undefined when missing or malformed. */
export function readHandlerRef(v: PyValue | undefined): HandlerRef | undefined {
  if (!(v instanceof Map)) return undefined;
  const module = v.get("module");
  const callable = v.get("callable");
  if (typeof module !== "string" || module === "" || typeof callable !== "string" || callable === "") return undefined;
  return { module, callable };
}

/**
 * Checks every well-formed handler_ref of a CT-IR's atom stream against the atom table before
 * the CT runs; malformed CT-IRs are left to the executor (they are VIOLATIONs, A.8).
 */
export function checkCtRefs(ctIr: PyValue | undefined, atoms: CtAtomTable, where: string): void {
  if (!(ctIr instanceof Map)) return;
  const passed = checkedCtIrs.get(atoms);
  if (passed?.has(ctIr) === true) return;
  const stream = ctIr.get("atom_stream");
  if (!Array.isArray(stream)) return;
  for (const step of stream) {
    const ref = step instanceof Map ? readHandlerRef(step.get("handler_ref")) : undefined;
    if (ref !== undefined && lookupAtom(atoms, handlerRefKey(ref.module, ref.callable)) === undefined) {
      const atom = step instanceof Map ? step.get("atom") : undefined;
      throw unmappedHandler("CT", ref, `${where}${typeof atom === "string" ? `, atom ${atom}` : ""}`);
    }
  }
  if (passed !== undefined) passed.add(ctIr);
  else if (Object.isFrozen(atoms)) checkedCtIrs.set(atoms, new WeakSet([ctIr]));
}

/** CT-IRs (read-only snapshot objects) whose refs all passed `checkCtRefs`, per frozen atom table. */
const checkedCtIrs = new WeakMap<CtAtomTable, WeakSet<PyObject>>();

export { CT_ATOMS, type CtAtomTable };
