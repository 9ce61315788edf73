/**
 * B.7 CT_PURE_EVALUATE_INACTIVITY_V0, B.8 CT_PURE_CHECK_TRAINING_STATUS_V0,
 * B.9 CT_PURE_CHECK_QUOTA_AVAILABLE_V0 (AI-licensing atoms).
 *
 * The inactivity atom falls back to "now" when `current_date` is not given; the reference reads
 * the wall clock there. Here "now" comes from an injected `Clock`, so the atom is built by
 * `makeEvaluateInactivityAtom(clock)`; `PGS_DEFAULT_CLOCK` is the deterministic default the
 * spec suggests (2025-01-01T00:00:00Z).
 */
import { fixedClock, type Clock } from "../../core/clock.js";
import type { AtomInputs, CtAtom } from "./index.js";
import { parseIsoInstant, wholeDaysBetween } from "./isodate.js";
import { PGS_CALLABLE, PGS_TRANSFORMS_MODULE } from "./pgs-refs.js";
import { compareNumbers, getOrNull, isPyNumber, pyTruthy, pyTypeName, type PyValue } from "../py/value.js";
import { AtomViolation } from "./violation.js";

const INACTIVITY_CODE = "CT_PURE_EVALUATE_INACTIVITY_V0";
const TRAINING_CODE = "CT_PURE_CHECK_TRAINING_STATUS_V0";
const QUOTA_CODE = "CT_PURE_CHECK_QUOTA_AVAILABLE_V0";

/** `days_inactive` when the last activity is unknown or unparseable. */
export const INACTIVITY_UNKNOWN_DAYS = 999n;
/** The deterministic "now" of the inactivity atom unless another clock is injected (SEMANTICS B.7). */
export const PGS_DEFAULT_CLOCK: Clock = fixedClock(Date.UTC(2025, 0, 1));
const MICROS_PER_MILLI = 1000n;
/** A trailing `Z` is rewritten to this offset before parsing (B.7 step 2). */
const UTC_OFFSET = "+00:00";

function inactivityResult(isInactive: boolean, days: bigint): PyValue {
  return new Map<string, PyValue>([
    ["is_inactive", isInactive],
    ["days_inactive", days],
  ]);
}

/** A date input as text with a trailing `Z` rewritten; a non-string raises (the reference calls `.replace`). */
function dateText(name: string, v: PyValue): string {
  if (typeof v !== "string") throw new AtomViolation(INACTIVITY_CODE, `${name} must be a str, got ${pyTypeName(v)}`, "AttributeError");
  return v.endsWith("Z") ? v.slice(0, -1) + UTC_OFFSET : v;
}

/** Builds the inactivity atom around a clock (used only when `current_date` is falsy). */
export function makeEvaluateInactivityAtom(clock: Clock): CtAtom {
  const execute = (inputs: AtomInputs): PyValue => {
    const last = getOrNull(inputs, "last_active_date");
    const current = getOrNull(inputs, "current_date");
    const threshold = getOrNull(inputs, "threshold_days");
    if (!pyTruthy(last)) return inactivityResult(true, INACTIVITY_UNKNOWN_DAYS);
    const lastText = dateText("last_active_date", last);
    const currentText = pyTruthy(current) ? dateText("current_date", current) : undefined;
    const lastAt = parseIsoInstant(lastText);
    const nowAt = currentText === undefined ? BigInt(Math.trunc(clock.now())) * MICROS_PER_MILLI : parseIsoInstant(currentText);
    const days = lastAt === undefined || nowAt === undefined ? INACTIVITY_UNKNOWN_DAYS : wholeDaysBetween(lastAt, nowAt);
    if (!isPyNumber(threshold)) {
      throw new AtomViolation(INACTIVITY_CODE, `'>=' not supported between instances of 'int' and '${pyTypeName(threshold)}'`, "TypeError");
    }
    const c = compareNumbers(days, threshold);
    return inactivityResult(c !== undefined && c >= 0, days);
  };
  return Object.freeze({
    code: INACTIVITY_CODE,
    fqdn: `capability_transforms::${INACTIVITY_CODE}`,
    handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_evaluate_inactivity_v0:${PGS_CALLABLE}`,
    args: Object.freeze(["current_date", "last_active_date", "threshold_days"]),
    execute,
  });
}

/** `{"is_eligible": training_completed}`; only a boolean is accepted (`false` is not a violation). */
function checkTrainingStatus(inputs: AtomInputs): PyValue {
  const done = getOrNull(inputs, "training_completed");
  if (typeof done !== "boolean") throw new AtomViolation(TRAINING_CODE, `training_completed must be a bool, got ${pyTypeName(done)}`, "TypeError");
  return new Map([["is_eligible", done]]);
}

/** An int operand of the quota check (bools count as 0/1; floats and everything else raise). */
function quotaInt(name: string, v: PyValue): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "boolean") return v ? 1n : 0n;
  throw new AtomViolation(QUOTA_CODE, `${name} must be an int, got ${pyTypeName(v)}`, "TypeError");
}

/** `{"quota_available": assigned_count < quota}`; a negative quota raises, an exhausted one does not. */
function checkQuotaAvailable(inputs: AtomInputs): PyValue {
  const assigned = quotaInt("assigned_count", getOrNull(inputs, "assigned_count"));
  const quota = quotaInt("quota", getOrNull(inputs, "quota"));
  if (quota < 0n) throw new AtomViolation(QUOTA_CODE, `quota must be >= 0, got ${quota}`, "ValueError");
  return new Map([["quota_available", assigned < quota]]);
}

export const CT_PURE_CHECK_TRAINING_STATUS_V0: CtAtom = Object.freeze({
  code: TRAINING_CODE,
  fqdn: `capability_transforms::${TRAINING_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_check_training_status_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["training_completed"]),
  execute: checkTrainingStatus,
});

export const CT_PURE_CHECK_QUOTA_AVAILABLE_V0: CtAtom = Object.freeze({
  code: QUOTA_CODE,
  fqdn: `capability_transforms::${QUOTA_CODE}`,
  handlerRef: `${PGS_TRANSFORMS_MODULE}.ct_pure_check_quota_available_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["assigned_count", "quota"]),
  execute: checkQuotaAvailable,
});
