/**
 * canonicalLineSize (src/batch/input/canonical-line.ts): a line it accepts is exactly its
 * value's canonical text, and the size it returns is exactly estimateSize of that value; it
 * refuses everything outside its subset (the engine then parses the line as before).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { canonicalText } from "../../src/batch/canonical-text.js";
import { canonicalLineSize } from "../../src/batch/input/canonical-line.js";
import { estimateSize } from "../../src/batch/input/size.js";

/** The property: accepted ⇒ canonical and the same size estimate; refused ⇒ nothing claimed. */
function check(line: string): number {
  const size = canonicalLineSize(line);
  if (size >= 0) {
    const v = JSON.parse(line) as unknown;
    expect(canonicalText(v)).toBe(line);
    expect(size).toBe(estimateSize(v));
  }
  return size;
}

// Values inside the subset (ASCII keys and strings, safe integers), and anything JSON can hold.
const asciiString = fc.string({ unit: fc.constantFrom(...Array.from("az AZ09_-.:/{}[],\"\\'~!é😀\u0001\t")), maxLength: 8 });
const subsetValue = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    asciiString,
    fc.integer({ min: -(10 ** 15) + 1, max: 10 ** 15 - 1 }),
    fc.constantFrom(true, false, null),
    fc.array(tie("v"), { maxLength: 5 }),
    fc.dictionary(asciiString, tie("v"), { maxKeys: 5 }),
  ),
})).v;

describe("canonicalLineSize", () => {
  it("accepts the canonical text of subset values with estimateSize's figure; property over random values", () => {
    fc.assert(
      fc.property(subsetValue, (v) => {
        const line = canonicalize(v);
        const size = check(line);
        // Within the subset proper (no escapes, no non-ASCII) every canonical text is accepted.
        if (!Array.from(line).some((ch) => ch === "\\" || ch < " " || ch > "~")) expect(size).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000, seed: 20261126 },
    );
  });

  it("never accepts a text that is not its value's canonical text (random JSON, other spellings)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(0, 1, 2), (v, indent) => {
        check(JSON.stringify(v, null, indent));
        check(JSON.stringify(v));
        check(canonicalize(v));
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it("edge cases", () => {
    const yes = ['{"n":1}', "{}", "[]", '""', "0", "-1", "999999999999999", "-999999999999999", "true", "null", '{"a":[1,{"b":"c"}],"b":false}', '{"A":1,"a":2}', '{"__proto__":1}'];
    for (const l of yes) expect(check(l), l).toBeGreaterThanOrEqual(0);
    const no = [
      "", " ", '{"n": 1}', '{"b":1,"a":2}', '{"a":1,"a":2}', "-0", "1.5", "1e3", "01", "-", "1000000000000000", '"é"', '"a\\"b"', '"\\n"', '"\t"',
      "[1,]", "[,1]", '{"a":1,}', '{"a"}', "tru", "truex", "nul", "{", "[", '"abc', '{"n":1} ', '{"n":1}\r', "\ufeff{}", "[1]]", "NaN", "Infinity",
    ];
    for (const l of no) expect(check(l), JSON.stringify(l)).toBe(-1);
    // Depth and value count: within the bounds accepted, beyond them refused.
    expect(check(`${"[".repeat(32)}${"]".repeat(32)}`)).toBeGreaterThanOrEqual(0);
    expect(check(`${"[".repeat(33)}${"]".repeat(33)}`)).toBe(-1);
    expect(check(`[${Array(1023).fill(0).join(",")}]`)).toBeGreaterThanOrEqual(0);
    expect(check(`[${Array(1024).fill(0).join(",")}]`)).toBe(-1);
  });
});
