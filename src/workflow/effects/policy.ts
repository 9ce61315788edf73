/**
 * The CS call protocol around a runtime (SEMANTICS A.10 steps 2, 3 and 5): choosing the RB
 * policy, expanding `{{module_data_root}}`, and building the payload from the step inputs.
 */
import { configError } from "./errors.js";
import { getOrNull, isDict, pyTruthy, type PyDict, type PyValue } from "../py/value.js";

/** The only template the reference expands in RB policies. (`{{timestamp}}` stays literal.) */
export const MODULE_DATA_ROOT_TEMPLATE = "{{module_data_root}}";
/** Input name carrying the store entity in compiled steps, and its name in the CS payload. */
export const STEP_STORE_INPUT = "__store__";
export const PAYLOAD_STORE_ENTITY = "__pgs_store_entity__";

/** Characters the reference's textual (JSON-level) replacement cannot carry in a data root. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const UNSUPPORTED_ROOT_CHARS = /["\\\u0000-\u001f]/;

/**
 * A.10 step 2: `entry.policy` if truthy, else `entry.config` if truthy, else `{}`.
 * `entry` is `rb_policy[rb][cs]`, `undefined`/`null` when missing.
 */
export function selectPolicy(entry: PyValue | undefined): PyDict {
  if (entry === undefined || entry === null) return new Map();
  if (!isDict(entry)) throw configError("rb_policy entry is not an object", { entry: String(entry) });
  for (const name of ["policy", "config"]) {
    const v = getOrNull(entry, name);
    if (pyTruthy(v)) {
      if (!isDict(v)) throw configError(`rb_policy entry member ${JSON.stringify(name)} is not an object`);
      return v;
    }
  }
  return new Map();
}

function expandValue(v: PyValue, root: string): PyValue {
  if (typeof v === "string") return v.split(MODULE_DATA_ROOT_TEMPLATE).join(root);
  if (Array.isArray(v)) return v.map((x) => expandValue(x, root));
  if (isDict(v)) {
    const out: PyDict = new Map();
    for (const [k, x] of v) out.set(k.split(MODULE_DATA_ROOT_TEMPLATE).join(root), expandValue(x, root));
    return out;
  }
  return v;
}

/**
 * A.10 step 3: replaces every `{{module_data_root}}` in every string and member name of the
 * policy with `dataRoot` minus its trailing `/`s. An empty policy stays empty. Data roots
 * containing `"`, `\` or control characters are refused (unsupported by the reference).
 * Returns a deep copy; the input is not modified.
 */
export function expandPolicy(policy: PyDict, dataRoot: string): PyDict {
  if (UNSUPPORTED_ROOT_CHARS.test(dataRoot)) throw configError(`data root ${JSON.stringify(dataRoot)} contains a character the policy expansion cannot carry`);
  if (policy.size === 0) return new Map();
  const root = dataRoot.replace(/\/+$/, "");
  return expandValue(policy, root) as PyDict;
}

/** A.10 step 5: the step inputs without `__store__`, plus `__pgs_store_entity__` when the store was truthy. */
export function buildCsPayload(stepInputs: PyDict): PyDict {
  const out: PyDict = new Map();
  for (const [k, v] of stepInputs) if (k !== STEP_STORE_INPUT) out.set(k, v);
  const store = getOrNull(stepInputs, STEP_STORE_INPUT);
  if (pyTruthy(store)) out.set(PAYLOAD_STORE_ENTITY, store);
  return out;
}
