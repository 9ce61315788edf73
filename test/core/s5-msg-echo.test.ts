/**
 * `echoed` / `echoedJson` state a cut value's length in characters counted as Unicode code
 * points, the unit of the seed and name limits (core/echo.ts `codePointsOver`): an emoji is one
 * character. Before, the length was UTF-16 code units ("😀" counted 2) and the cut was at
 * MAX_ECHOED_CHARS code units.
 */
import { describe, expect, it } from "vitest";
import { codePointCount, echoed, echoedJson, MAX_ECHOED_CHARS } from "../../src/core/echo.js";
import { printableJson } from "../../src/core/describe.js";

const EMOJI = "\u{1F600}";

describe("echoed counts code points", () => {
  it("an astral character is one character, in the count and in the cut", () => {
    expect(echoed(EMOJI.repeat(5), 3)).toBe(`${EMOJI.repeat(3)}… (5 characters)`);
    expect(echoed(`a${EMOJI}b${EMOJI}c`, 4)).toBe(`a${EMOJI}b${EMOJI}… (5 characters)`);
    expect(echoed(EMOJI.repeat(3), 3)).toBe(EMOJI.repeat(3)); // 6 code units, 3 characters: whole
    expect(echoedJson(EMOJI.repeat(5), 3)).toBe(`"${EMOJI.repeat(3)}"… (5 characters)`);
    expect(echoedJson(EMOJI.repeat(3), 3)).toBe(`"${EMOJI.repeat(3)}"`);
    expect(printableJson(EMOJI.repeat(300))).toBe(`"${EMOJI.repeat(MAX_ECHOED_CHARS)}"… (300 characters)`);
  });

  it("a lone surrogate is one character; a pair is never split", () => {
    expect(echoed("\ud800\ud800\ud800\ud800", 2)).toBe("\ud800\ud800… (4 characters)");
    expect(echoed(`a${EMOJI}\udc00b`, 2)).toBe(`a${EMOJI}… (4 characters)`);
    expect(codePointCount("")).toBe(0);
    expect(codePointCount(`${EMOJI}\ud83d`)).toBe(2);
    expect(codePointCount(`\ude00\ud83d${EMOJI}x`)).toBe(4);
  });

  it("a long value of astral characters is counted exactly and cut at MAX_ECHOED_CHARS characters", () => {
    const long = `${EMOJI.repeat(1_000_000)}a`;
    const t0 = performance.now();
    const shown = echoed(long);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(shown).toBe(`${EMOJI.repeat(MAX_ECHOED_CHARS)}… (1000001 characters)`);
    expect(echoedJson("k".repeat(100_000))).toBe(`"${"k".repeat(MAX_ECHOED_CHARS)}"… (100000 characters)`);
  });
});
