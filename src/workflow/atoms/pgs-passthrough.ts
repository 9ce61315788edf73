/** B.10 conformance-only atoms: CT_PURE_PASSTHROUGH_V0 and CT_PURE_EXTRACT_V0. */
import type { AtomInputs, CtAtom } from "./index.js";
import { PGS_CALLABLE, PGS_TRANSFORMS_MODULE } from "./pgs-refs.js";
import { dottedGet, getOrNull, isDict, isList, isPyNumber, pyTypeName, type PyValue } from "../py/value.js";
import { AtomViolation } from "./violation.js";

const PASSTHROUGH_CODE = "CT_PURE_PASSTHROUGH_V0";
const EXTRACT_CODE = "CT_PURE_EXTRACT_V0";

/** Returns `value` itself; `null` comes back as null, which the executor rejects (`Atom returned None`). */
function passthrough(inputs: AtomInputs): PyValue {
  return getOrNull(inputs, "value");
}

/** Type checks of `extract`; any other `type` string is unchecked. */
const TYPE_CHECKS: Readonly<Record<string, (v: PyValue) => boolean>> = {
  string: (v) => typeof v === "string",
  number: (v) => isPyNumber(v),
  object: (v) => isDict(v),
  array: (v) => isList(v),
};

/** `{"result": from.<path>}` (missing → null); a non-null result must match `type`. */
function extract(inputs: AtomInputs): PyValue {
  const from = getOrNull(inputs, "from");
  const path = getOrNull(inputs, "path");
  const type = getOrNull(inputs, "type");
  if (from === null) throw new AtomViolation(EXTRACT_CODE, "from must not be None", "ValueError");
  if (typeof path !== "string") throw new AtomViolation(EXTRACT_CODE, `path must be a str, got ${pyTypeName(path)}`, "AttributeError");
  const value = dottedGet(from, path);
  const check = typeof type === "string" && Object.hasOwn(TYPE_CHECKS, type) ? TYPE_CHECKS[type] : undefined;
  if (value !== null && check !== undefined && !check(value)) {
    throw new AtomViolation(EXTRACT_CODE, `value at '${path}' is ${pyTypeName(value)}, expected ${String(type)}`, "TypeError");
  }
  return new Map([["result", value]]);
}

export const CT_PURE_PASSTHROUGH_V0: CtAtom = Object.freeze({
  code: PASSTHROUGH_CODE,
  fqdn: `capability_transforms::${PASSTHROUGH_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_passthrough_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["value"]),
  execute: passthrough,
});

export const CT_PURE_EXTRACT_V0: CtAtom = Object.freeze({
  code: EXTRACT_CODE,
  fqdn: `capability_transforms::${EXTRACT_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_extract_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["from", "path", "type"]),
  execute: extract,
});
