/** B.2 CT_PURE_VALIDATE_SET_MEMBERSHIP_V0 (raising variant) and B.3 CT_PURE_LOOKUP_V0. */
import type { AtomInputs, CtAtom } from "./index.js";
import { PGS_CALLABLE, PGS_TRANSFORMS_MODULE } from "./pgs-refs.js";
import { getOrNull, isDict, isList, pyHashable, pyListContains, pyTypeName, type PyValue } from "../py/value.js";
import { AtomViolation, show } from "./violation.js";

const SET_CODE = "CT_PURE_VALIDATE_SET_MEMBERSHIP_V0";
const LOOKUP_CODE = "CT_PURE_LOOKUP_V0";

/** Succeeds iff `value` is Python-equal to an element of `allowed_set`; raises otherwise. */
function validateSetMembership(inputs: AtomInputs): PyValue {
  const allowed = getOrNull(inputs, "allowed_set");
  const value = getOrNull(inputs, "value");
  if (!isList(allowed)) throw new AtomViolation(SET_CODE, `allowed_set must be a list, got ${pyTypeName(allowed)}`);
  if (!pyListContains(allowed, value)) throw new AtomViolation(SET_CODE, `value ${show(value)} is not in allowed_set`);
  return new Map<string, PyValue>([
    ["result_status", "SUCCESS"],
    ["is_member", true],
  ]);
}

/** `{"result": map[key]}`; raises when `map` is not an object or has no member named `key`. */
function lookup(inputs: AtomInputs): PyValue {
  const key = getOrNull(inputs, "key");
  const map = getOrNull(inputs, "map");
  if (!isDict(map)) throw new AtomViolation(LOOKUP_CODE, `map must be a dict, got ${pyTypeName(map)}`);
  if (!pyHashable(key)) throw new AtomViolation(LOOKUP_CODE, `unhashable key type: ${pyTypeName(key)}`, "TypeError");
  // Object member names are strings: only a string key can match (1 != "1", None never matches).
  const found = typeof key === "string" ? map.get(key) : undefined;
  if (found === undefined) throw new AtomViolation(LOOKUP_CODE, `key ${show(key)} not found in map`);
  return new Map([["result", found]]);
}

export const CT_PURE_VALIDATE_SET_MEMBERSHIP_V0: CtAtom = Object.freeze({
  code: SET_CODE,
  fqdn: `capability_transforms::${SET_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_validate_set_membership_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["allowed_set", "value"]),
  execute: validateSetMembership,
});

export const CT_PURE_LOOKUP_V0: CtAtom = Object.freeze({
  code: LOOKUP_CODE,
  fqdn: `capability_transforms::${LOOKUP_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_lookup_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["key", "map"]),
  execute: lookup,
});
