/** B.5 CT_PURE_COLLATZ_STEP_V0 and B.6 CT_PURE_TERMINATION_CHECK_V0 (ai_governance demo atoms). */
import type { AtomInputs, CtAtom } from "./index.js";
import { PGS_AI_GOVERNANCE_MODULE, PGS_CALLABLE } from "./pgs-refs.js";
import { pyIntStr } from "../py/numbers.js";
import { getOrNull, isDict, isInt, isList, pyEquals, pyTypeName, type PyValue } from "../py/value.js";
import { AtomViolation, show } from "./violation.js";

const STEP_CODE = "CT_PURE_COLLATZ_STEP_V0";
const CHECK_CODE = "CT_PURE_TERMINATION_CHECK_V0";

/**
 * Longest sequence one seed may produce (a Cairn bound; the reference loops until it reaches 1).
 * Far above any known stopping time for numbers of the size JSON can carry here.
 */
export const COLLATZ_MAX_SEQUENCE_LENGTH = 1_000_000;
/** Most values all sequences of one call may hold together (a Cairn bound on memory). */
export const COLLATZ_MAX_TOTAL_VALUES = 2_000_000;
/**
 * Most decimal digits all values of one call may have together (a Cairn bound): the values are
 * written into the result, the trace and the workflow's state file, so large seeds (a 3,500-digit
 * seed's sequence has ~10^5 values of ~3,500 digits) made one 3.5 KB request produce 0.7 GB of
 * text and hold `cairn serve` for over a minute. 40 M digits leaves the value bounds to decide
 * whenever the values stay below 10^20 (2,000,000 values of at most 20 digits).
 */
export const COLLATZ_MAX_TOTAL_DIGITS = 40_000_000;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** The decimal length of `x` (≥ 1). */
function digitsOf(x: bigint): number {
  return x <= MAX_SAFE_BIG ? String(Number(x)).length : x.toString().length;
}

/** `n` for a message: whole up to 40 digits, else its first 20 and its length. */
function shortSeed(n: bigint): string {
  const t = n.toString();
  return t.length <= 40 ? t : `${t.slice(0, 20)}… (${t.length} digits)`;
}

/** Why the sequence of `n` is refused: longer than one sequence may be, or than what is left of the call's budget. */
function limitMessage(n: bigint, budget: number): string {
  if (COLLATZ_MAX_SEQUENCE_LENGTH <= budget) {
    return `sequence of ${n} exceeds Cairn's limit of ${COLLATZ_MAX_SEQUENCE_LENGTH} values per sequence (COLLATZ_MAX_SEQUENCE_LENGTH)`;
  }
  return (
    `sequence of ${n} exceeds the ${budget} values left of Cairn's limit of ${COLLATZ_MAX_TOTAL_VALUES} values for all sequences of one call ` +
    `(COLLATZ_MAX_TOTAL_VALUES; the sequences of the numbers before it hold ${COLLATZ_MAX_TOTAL_VALUES - budget})`
  );
}

/** The digits left of the call's COLLATZ_MAX_TOTAL_DIGITS, spent as values are made. */
interface DigitBudget {
  left: number;
}

function spendDigits(n: bigint, x: bigint, digits: DigitBudget): void {
  digits.left -= digitsOf(x);
  if (digits.left < 0) {
    throw new AtomViolation(
      STEP_CODE,
      `sequence of ${shortSeed(n)} exceeds Cairn's limit of ${COLLATZ_MAX_TOTAL_DIGITS} decimal digits for all values of one call (COLLATZ_MAX_TOTAL_DIGITS)`,
      "CairnLimit",
    );
  }
}

function collatzSequence(n: bigint, budget: number, digits: DigitBudget): bigint[] {
  const seq = [n];
  // A sequence of one value (n = 1) counts too: the budget holds for every sequence.
  if (seq.length > budget) throw new AtomViolation(STEP_CODE, limitMessage(n, budget), "CairnLimit");
  spendDigits(n, n, digits);
  let x = n;
  while (x !== 1n) {
    x = x % 2n === 0n ? x / 2n : 3n * x + 1n;
    seq.push(x);
    if (seq.length > COLLATZ_MAX_SEQUENCE_LENGTH || seq.length > budget) throw new AtomViolation(STEP_CODE, limitMessage(n, budget), "CairnLimit");
    spendDigits(n, x, digits);
  }
  return seq;
}

/** `str(n)`, which Python refuses for ints of more than 4300 digits (ValueError). */
function seedName(n: bigint): string {
  try {
    return pyIntStr(n);
  } catch (err) {
    throw new AtomViolation(STEP_CODE, (err as Error).message, "ValueError");
  }
}

/** `{"sequences": {"<n>": [n, …, 1]}}` in first-occurrence order; every element must be an int >= 1. */
function collatzStep(inputs: AtomInputs): PyValue {
  const numbers = getOrNull(inputs, "numbers");
  if (!isList(numbers)) throw new AtomViolation(STEP_CODE, `numbers must be a list, got ${pyTypeName(numbers)}`);
  const sequences = new Map<string, PyValue>();
  let budget = COLLATZ_MAX_TOTAL_VALUES;
  const digits: DigitBudget = { left: COLLATZ_MAX_TOTAL_DIGITS };
  for (const n of numbers) {
    if (!isInt(n)) throw new AtomViolation(STEP_CODE, `each number must be an int, got ${pyTypeName(n)} ${show(n)}`);
    if (n < 1n) throw new AtomViolation(STEP_CODE, `each number must be >= 1, got ${n}`);
    const seq = collatzSequence(n, budget, digits);
    budget -= seq.length;
    sequences.set(seedName(n), seq);
  }
  return new Map([["sequences", sequences]]);
}

/** Seeds whose sequence is not a non-empty list ending in (a value equal to) 1. */
function terminationCheck(inputs: AtomInputs): PyValue {
  const sequences = getOrNull(inputs, "sequences");
  if (!isDict(sequences)) throw new AtomViolation(CHECK_CODE, `sequences must be a dict, got ${pyTypeName(sequences)}`);
  const nonTerminating: PyValue[] = [];
  for (const [seed, seq] of sequences) {
    if (!isList(seq) || seq.length === 0 || !pyEquals(seq[seq.length - 1] as PyValue, 1n)) nonTerminating.push(seed);
  }
  return new Map<string, PyValue>([
    ["all_terminate", nonTerminating.length === 0],
    ["non_terminating", nonTerminating],
  ]);
}

export const CT_PURE_COLLATZ_STEP_V0: CtAtom = Object.freeze({
  code: STEP_CODE,
  fqdn: `ai_governance::${STEP_CODE}`,
  handlerRef: `${PGS_AI_GOVERNANCE_MODULE}.ct_pure_collatz_step_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["numbers"]),
  execute: collatzStep,
});

export const CT_PURE_TERMINATION_CHECK_V0: CtAtom = Object.freeze({
  code: CHECK_CODE,
  fqdn: `ai_governance::${CHECK_CODE}`,
  handlerRef: `${PGS_AI_GOVERNANCE_MODULE}.ct_pure_termination_check_v0:${PGS_CALLABLE}`,
  args: Object.freeze(["sequences"]),
  execute: terminationCheck,
});
