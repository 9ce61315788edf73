/** The shared Python value model (src/workflow/py/value.ts): equality, dict-key identity, blank strings. */
import { describe, expect, it } from "vitest";
import { isPyBlank, pyEquals, pyHashKey, type PyDict, type PyValue } from "../../src/workflow/py/index.js";

const m = (entries: [string, PyValue][]): PyDict => new Map(entries);

describe("Python equality and dict keys", () => {
  it("1 == 1.0 == true, '1' != 1, deep containers, NaN never equal", () => {
    expect(pyEquals(1n, 1)).toBe(true);
    expect(pyEquals(true, 1n)).toBe(true);
    expect(pyEquals(false, 0n)).toBe(true);
    expect(pyEquals("1", 1n)).toBe(false);
    expect(pyEquals(null, 0n)).toBe(false);
    expect(pyEquals([1n, m([["a", 2n]])], [1, m([["a", 2]])])).toBe(true);
    expect(pyEquals(m([["a", 1n], ["b", 2n]]), m([["b", 2n], ["a", 1n]]))).toBe(true);
    expect(pyEquals(Number.NaN, Number.NaN)).toBe(false);
  });

  it("pyHashKey: equal keys exactly where Python's dict would collide; NaN null; lists and dicts unhashable", () => {
    expect(pyHashKey(1n)).toBe(pyHashKey(true));
    expect(pyHashKey(1n)).toBe(pyHashKey(1));
    expect(pyHashKey(0n)).toBe(pyHashKey(-0));
    expect(pyHashKey(0n)).toBe(pyHashKey(false));
    expect(pyHashKey("1")).not.toBe(pyHashKey(1n));
    expect(pyHashKey(0.5)).not.toBe(pyHashKey(0n));
    expect(pyHashKey(2n ** 70n)).toBe(pyHashKey(2 ** 70));
    expect(pyHashKey(null)).not.toBe(pyHashKey("none"));
    expect(pyHashKey([1n])).toBeUndefined();
    expect(pyHashKey(m([]))).toBeUndefined();
    expect(pyHashKey(Number.NaN)).toBeNull();
  });

  it("isPyBlank is Python's `not s.strip()`", () => {
    for (const s of ["", " ", "\t\n\v\f\r", "\u3000", "\x1c\x1f", "\x85\xa0"]) expect(isPyBlank(s), JSON.stringify(s)).toBe(true);
    for (const s of ["a", " a ", "\u200b", "\x00"]) expect(isPyBlank(s), JSON.stringify(s)).toBe(false);
  });
});
