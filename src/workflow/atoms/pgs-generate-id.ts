/** B.1 CT_PURE_GENERATE_ID_V0: a content-derived identifier `<prefix>_<16 hex>`. */
import type { AtomInputs, CtAtom } from "./index.js";
import { canonicalJson } from "../py/json.js";
import { sha256 } from "../../core/digest.js";
import { isDict, pyTypeName, type PyValue } from "../py/value.js";
import { AtomViolation } from "./violation.js";
import { PGS_TRANSFORMS_MODULE, PGS_CALLABLE } from "./pgs-refs.js";

const CODE = "CT_PURE_GENERATE_ID_V0";
/** Hex characters of the SHA-256 kept in the id. */
export const GENERATE_ID_HASH_CHARS = 16;

function required(inputs: AtomInputs, name: string): PyValue {
  const v = inputs.get(name);
  if (v === undefined) throw new AtomViolation(CODE, `missing input '${name}'`, "KeyError");
  return v;
}

/** The canonical text hashed for `data` (an object as-is, anything else wrapped as `{"value": data}`). */
export function generateIdContent(data: PyValue): string {
  const content: PyValue = isDict(data) ? data : new Map([["value", data]]);
  return canonicalJson(content);
}

function execute(inputs: AtomInputs): PyValue {
  const prefix = required(inputs, "prefix");
  const data = required(inputs, "data");
  if (typeof prefix !== "string") throw new AtomViolation(CODE, `prefix must be a str, got ${pyTypeName(prefix)}`, "TypeError");
  // The one-shot hash (core/digest.ts): the same hex digits as createHash, without the Hash object.
  const h = sha256(generateIdContent(data)).slice("sha256:".length, "sha256:".length + GENERATE_ID_HASH_CHARS);
  return new Map([["id", `${prefix}_${h}`]]);
}

export const CT_PURE_GENERATE_ID_V0: CtAtom = Object.freeze({
  code: CODE,
  fqdn: `capability_transforms::${CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_generate_id_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["data", "prefix"]),
  execute,
});
