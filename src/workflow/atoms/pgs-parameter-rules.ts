/**
 * B.4 CT_PURE_VALIDATE_PARAMETER_RULES_V0 (raising variant): every rule must pass; the first
 * failing rule raises. Rules that are not objects, or lack a truthy `field` / `op`, are skipped.
 */
import type { AtomInputs, CtAtom } from "./index.js";
import { PGS_CALLABLE, PGS_TRANSFORMS_MODULE } from "./pgs-refs.js";
import { pyFloatFromString } from "../py/numbers.js";
import {
  getOrNull,
  isDict,
  isList,
  pyCompare,
  pyEquals,
  pyHashable,
  pyListContains,
  pyTruthy,
  pyTypeName,
  type PyDict,
  type PyOrderOp,
  type PyValue,
} from "../py/value.js";
import { AtomViolation, show } from "./violation.js";

const CODE = "CT_PURE_VALIDATE_PARAMETER_RULES_V0";

const ORDER_OPS: Readonly<Record<string, PyOrderOp>> = { lt: "<", lte: "<=", gt: ">", gte: ">=" };

function typeError(reason: string): AtomViolation {
  return new AtomViolation(CODE, reason, "TypeError");
}

/** Python `v in allowed` for the `in` op (list, str substring, dict keys; other containers raise). */
function pyIn(v: PyValue, allowed: PyValue): boolean {
  if (isList(allowed)) return pyListContains(allowed, v);
  if (typeof allowed === "string") {
    if (typeof v !== "string") throw typeError(`'in <string>' requires string as left operand, not ${pyTypeName(v)}`);
    return allowed.includes(v);
  }
  if (isDict(allowed)) {
    if (!pyHashable(v)) throw typeError(`unhashable type: '${pyTypeName(v)}'`);
    return typeof v === "string" && allowed.has(v);
  }
  throw typeError(`argument of type '${pyTypeName(allowed)}' is not iterable`);
}

/** A numeric-op operand: strings go through Python `float()`; `undefined` when that fails. */
function numericOperand(x: PyValue): PyValue | undefined {
  return typeof x === "string" ? pyFloatFromString(x) : x;
}

/** Whether `rule` passes for `parameters`; raises for Python TypeErrors. */
function rulePasses(parameters: PyDict, rule: PyDict, field: PyValue, op: PyValue): boolean {
  if (!pyHashable(field)) throw typeError(`unhashable type: '${pyTypeName(field)}'`);
  // Parameter names are strings; any other hashable field never matches (Python dict.get → None).
  const v = typeof field === "string" ? getOrNull(parameters, field) : null;
  if (op === "not_null") return v !== null;
  if (op === "eq") return pyEquals(v, getOrNull(rule, "value"));
  if (op === "neq") return !pyEquals(v, getOrNull(rule, "value"));
  if (op === "in") return pyIn(v, rule.has("allowed") ? getOrNull(rule, "allowed") : []);
  const order = typeof op === "string" ? ORDER_OPS[op] : undefined;
  if (order === undefined) return false; // unknown op: fail closed
  const target = getOrNull(rule, "value");
  if (v === null || target === null) return false;
  const a = numericOperand(v);
  const b = numericOperand(target);
  if (a === undefined || b === undefined) return false;
  const r = pyCompare(a, b, order);
  if (r === "incomparable") throw typeError(`'${order}' not supported between instances of '${pyTypeName(a)}' and '${pyTypeName(b)}'`);
  return r;
}

function execute(inputs: AtomInputs): PyValue {
  const parameters = getOrNull(inputs, "parameters");
  const rules = getOrNull(inputs, "rules");
  if (!isDict(parameters)) throw new AtomViolation(CODE, `parameters must be a dict, got ${pyTypeName(parameters)}`);
  if (!isList(rules)) throw new AtomViolation(CODE, `rules must be a list, got ${pyTypeName(rules)}`);
  for (const [index, rule] of rules.entries()) {
    if (!isDict(rule)) continue;
    const field = getOrNull(rule, "field");
    const op = getOrNull(rule, "op");
    if (!pyTruthy(field) || !pyTruthy(op)) continue;
    if (!rulePasses(parameters, rule, field, op)) {
      throw new AtomViolation(CODE, `rule ${index} failed: ${show(rule)}`, "CTExecutionError", { failed_rule_index: index });
    }
  }
  return new Map<string, PyValue>([
    ["result_status", "SUCCESS"],
    ["valid", true],
    ["failed_rule", null],
  ]);
}

export const CT_PURE_VALIDATE_PARAMETER_RULES_V0: CtAtom = Object.freeze({
  code: CODE,
  fqdn: `capability_transforms::${CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_validate_parameter_rules_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["parameters", "rules"]),
  execute,
});
