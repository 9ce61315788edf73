/**
 * `int(x, 16)` as CPython 3.11 reads it (pyIntFromHexString), used for the hex vocabulary keys of
 * a PGS tokenized snapshot (pgs/snapshot.ts). Before 2026-11-27 the loader used JS `trim()` and
 * an ASCII pattern: it refused U+0085 padding, `_` separators and non-ASCII decimal digits, which
 * Python accepts, and accepted a leading U+FEFF, which Python refuses. The expected values are
 * CPython 3.11.7's (`int(s, 16)`, ValueError → undefined).
 */
import { describe, expect, it } from "vitest";
import { pyIntFromHexString } from "../../src/workflow/py/numbers.js";

const CASES: Array<[string, number | undefined]> = [
  ["1f", 31],
  ["1F", 31],
  ["+0X1F", 31],
  ["-1f", -31],
  ["-0", 0],
  [" 1f ", 31],
  ["\u00851f\u3000", 31],
  ["0x_1f", 31],
  ["1_f", 31],
  ["\u0661f", 31], // ARABIC-INDIC DIGIT ONE, then f
  ["0x\u0661f", 31],
  ["_1f", undefined],
  ["1__f", undefined],
  ["1f_", undefined],
  ["0x", undefined],
  ["0_x1f", undefined],
  ["- 1f", undefined],
  ["\ufeff1f", undefined], // a BOM is not whitespace to Python
  ["\u{11F51}", undefined], // KAWI DIGIT ONE: added after Unicode 14
  ["g", undefined],
  ["", undefined],
  ["1fffffffffffff", Number.MAX_SAFE_INTEGER],
  ["20000000000000", undefined], // 2^53: beyond a safe integer (no address is that large)
];

describe("pyIntFromHexString: Python's int(s, 16)", () => {
  it.each(CASES)("int(%j, 16)", (s, expected) => {
    expect(pyIntFromHexString(s)).toBe(expected);
  });
});
