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

/**
 * Characters the reference's textual (JSON-level) replacement cannot carry in a data root: a PGS
 * data root holding one is refused (`expandPolicy`), and so is a PGS replay under a TMPDIR
 * holding one (pgs/replay.ts). Cairn snapshot runs build their store config from the data root
 * directly and take any path.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
export const PGS_DATA_ROOT_UNSUPPORTED_CHARS = /["\\\u0000-\u001f]/;

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

/**
 * `s` with `{{module_data_root}}` expanded. The template may only START a text, once: anywhere
 * else (`/srv{{module_data_root}}/x`, `{{module_data_root}}/a{{module_data_root}}/x`) the
 * expanded text would hold the host's data root where no refusal or relative path can write it
 * back as the template, so it would reach traces and trace ids (which must not depend on where
 * the data root is). Refused, naming the text as configured.
 */
function expandText(s: string, root: string): string {
  const at = s.indexOf(MODULE_DATA_ROOT_TEMPLATE);
  if (at === -1) return s;
  if (at !== 0 || s.indexOf(MODULE_DATA_ROOT_TEMPLATE, MODULE_DATA_ROOT_TEMPLATE.length) !== -1) {
    throw configError(`policy text ${JSON.stringify(s)}: ${MODULE_DATA_ROOT_TEMPLATE} may only start a path, once`, { text: s });
  }
  return root + s.slice(MODULE_DATA_ROOT_TEMPLATE.length);
}

/**
 * The members, from the policy's top, of a CS_MUTABLE_JSON_V0 entity path (SEMANTICS C.4:
 * `storage_structure_artifact.frontmatter.core.entity_stores.<entity>.path`; `undefined` matches
 * any entity name). Such a path is appended to `module_data_root`, so `{{module_data_root}}`
 * anywhere in it would put the host's data root inside the data root: the file's place, the
 * state capture (trace id) and every message naming it would depend on where the data root is.
 */
const ENTITY_PATH_MEMBERS: readonly (string | undefined)[] = ["storage_structure_artifact", "frontmatter", "core", "entity_stores", undefined, "path"];

/** `members` (the way to a policy value) as a dotted text, for messages. */
function memberText(members: readonly string[]): string {
  return members.map((m) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(m) ? m : JSON.stringify(m))).join(".");
}

/**
 * `v` expanded; `members` is the way to it from the policy's top while it still follows
 * `ENTITY_PATH_MEMBERS` (undefined once it leaves it). An entity path holding the template is
 * refused (`E_INVALID_INPUT`, `cs_config`), naming the member and the text as configured.
 */
function expandValue(v: PyValue, root: string, members: readonly string[] | undefined): PyValue {
  if (typeof v === "string") {
    if (members?.length === ENTITY_PATH_MEMBERS.length && v.includes(MODULE_DATA_ROOT_TEMPLATE)) {
      const member = memberText(members);
      throw configError(
        `policy member ${member} ${JSON.stringify(v)}: ${MODULE_DATA_ROOT_TEMPLATE} may not appear in an entity path, which CS_MUTABLE_JSON_V0 appends to module_data_root (SEMANTICS C.4): ` +
          "it would put the host's data root inside the data root; write the path relative to module_data_root",
        { text: v, member },
      );
    }
    return expandText(v, root);
  }
  if (Array.isArray(v)) return v.map((x) => expandValue(x, root, undefined));
  if (isDict(v)) {
    const out: PyDict = new Map();
    const at = members?.length ?? -1;
    for (const [k, x] of v) {
      const follows = at >= 0 && at < ENTITY_PATH_MEMBERS.length && (ENTITY_PATH_MEMBERS[at] === undefined || ENTITY_PATH_MEMBERS[at] === k);
      out.set(expandText(k, root), expandValue(x, root, follows && members !== undefined ? [...members, k] : undefined));
    }
    return out;
  }
  return v;
}

/**
 * A.10 step 3: replaces `{{module_data_root}}` in every string and member name of the policy
 * with `dataRoot` minus its trailing `/`s; the template may only start a text, once, and never
 * appear in a mutable-JSON entity path (deviations from the reference's replace-anywhere:
 * `expandText`, `ENTITY_PATH_MEMBERS`). An empty policy stays empty.
 * Data roots containing `"`, `\` or control characters are refused (unsupported by the
 * reference).
 * Returns a deep copy; the input is not modified.
 */
export function expandPolicy(policy: PyDict, dataRoot: string): PyDict {
  const bad = PGS_DATA_ROOT_UNSUPPORTED_CHARS.exec(dataRoot);
  // The message names the character, not the data root (a message may reach a trace's
  // ERROR.message, which holds no absolute path); `details` name both (`--json`).
  if (bad !== null) throw configError(`the data root contains ${JSON.stringify(bad[0])}, a character the policy expansion cannot carry`, { dataRoot, character: bad[0] });
  if (policy.size === 0) return new Map();
  const root = dataRoot.replace(/\/+$/, "");
  return expandValue(policy, root, []) as PyDict;
}

/** Data roots remembered per policy by `expandPolicyShared` (oldest dropped first). */
const EXPANDED_ROOTS_PER_POLICY = 16;
const expanded = new WeakMap<PyDict, Map<string, PyDict>>();

/**
 * `expandPolicy(policy, dataRoot)`, memoised per policy object and data root: the same
 * expansion is returned again (not a copy) for as long as `policy` is alive. For the runtime's
 * hot path, where the policy comes from a loaded (read-only) snapshot and the result is only
 * read (the CS runtimes never modify their config). Callers that modify the result, or pass a
 * policy they later modify, use `expandPolicy`.
 */
export function expandPolicyShared(policy: PyDict, dataRoot: string): PyDict {
  let byRoot = expanded.get(policy);
  const hit = byRoot?.get(dataRoot);
  if (hit !== undefined) return hit;
  const out = expandPolicy(policy, dataRoot);
  if (byRoot === undefined) {
    byRoot = new Map();
    expanded.set(policy, byRoot);
  } else if (byRoot.size >= EXPANDED_ROOTS_PER_POLICY) {
    byRoot.delete(byRoot.keys().next().value as string);
  }
  byRoot.set(dataRoot, out);
  return out;
}

/** A.10 step 5: the step inputs without `__store__`, plus `__pgs_store_entity__` when the store was truthy. */
export function buildCsPayload(stepInputs: PyDict): PyDict {
  const out: PyDict = new Map();
  for (const [k, v] of stepInputs) if (k !== STEP_STORE_INPUT) out.set(k, v);
  const store = getOrNull(stepInputs, STEP_STORE_INPUT);
  if (pyTruthy(store)) out.set(PAYLOAD_STORE_ENTITY, store);
  return out;
}
