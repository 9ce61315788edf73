/**
 * The sealed registry of PGS v0.3 CT atoms (SEMANTICS A.9/A.10), keyed by handler ref
 * `<module>:<callable>` exactly as `handlers.json` spells `handler_ref` (and as
 * atom_vectors.json writes it). No discovery: a ref that is not a key here is unknown.
 */
import type { Clock } from "../../core/clock.js";
import type { CtAtom, CtAtomTable } from "./index.js";
import { CT_PURE_COLLATZ_STEP_V0, CT_PURE_TERMINATION_CHECK_V0 } from "./pgs-collatz.js";
import { CT_PURE_GENERATE_ID_V0 } from "./pgs-generate-id.js";
import { CT_PURE_CHECK_QUOTA_AVAILABLE_V0, CT_PURE_CHECK_TRAINING_STATUS_V0, makeEvaluateInactivityAtom, PGS_DEFAULT_CLOCK } from "./pgs-licensing.js";
import { CT_PURE_LOOKUP_V0, CT_PURE_VALIDATE_SET_MEMBERSHIP_V0 } from "./pgs-lookup.js";
import { CT_PURE_VALIDATE_PARAMETER_RULES_V0 } from "./pgs-parameter-rules.js";
import { CT_PURE_EXTRACT_V0, CT_PURE_PASSTHROUGH_V0 } from "./pgs-passthrough.js";

export interface CtAtomTableOptions {
  /** "Now" for CT_PURE_EVALUATE_INACTIVITY_V0 when `current_date` is absent. Default `PGS_DEFAULT_CLOCK`. */
  readonly clock?: Clock;
}

/** The handler-ref key of a `{module, callable}` pair. */
export function handlerRefKey(module: string, callable: string): string {
  return `${module}:${callable}`;
}

/** Builds the sealed table with an injected clock (only the inactivity atom uses it). */
export function createCtAtomTable(opts: CtAtomTableOptions = {}): CtAtomTable {
  const inactivity: CtAtom = makeEvaluateInactivityAtom(opts.clock ?? PGS_DEFAULT_CLOCK);
  return Object.freeze({
    "pgs_transforms.implementation.transforms.atoms.ct_pure_generate_id_v0:execute": CT_PURE_GENERATE_ID_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_validate_set_membership_v0:execute": CT_PURE_VALIDATE_SET_MEMBERSHIP_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_lookup_v0:execute": CT_PURE_LOOKUP_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_validate_parameter_rules_v0:execute": CT_PURE_VALIDATE_PARAMETER_RULES_V0,
    "pgs_ai_governance.implementation.capability_transforms.atoms.ct_pure_collatz_step_v0:execute": CT_PURE_COLLATZ_STEP_V0,
    "pgs_ai_governance.implementation.capability_transforms.atoms.ct_pure_termination_check_v0:execute": CT_PURE_TERMINATION_CHECK_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_evaluate_inactivity_v0:execute": inactivity,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_check_training_status_v0:execute": CT_PURE_CHECK_TRAINING_STATUS_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_check_quota_available_v0:execute": CT_PURE_CHECK_QUOTA_AVAILABLE_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_passthrough_v0:execute": CT_PURE_PASSTHROUGH_V0,
    "pgs_transforms.implementation.transforms.atoms.ct_pure_extract_v0:execute": CT_PURE_EXTRACT_V0,
  });
}

/** The PGS v0.3 CT atoms with the deterministic default clock. */
export const CT_ATOMS: CtAtomTable = createCtAtomTable();

/** Looks an atom up by handler ref without touching the prototype chain (`"toString:x"` is unknown). */
export function lookupAtom(table: CtAtomTable, key: string): CtAtom | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
