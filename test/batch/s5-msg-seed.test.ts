/**
 * A refused seed's message states its length, in code points (the unit of MAX_SEED_CHARS):
 * `seed must be 1..256 characters (Unicode code points), got N` (config.ts `seedProblem`, also
 * the CLI's `invalid --seed "…": …`). Before, the length was not stated.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { normalizeConfig, seedProblem } from "../../src/batch/config.js";

describe("the seed refusal states the seed's length", () => {
  it("in code points: an emoji is one", () => {
    expect(seedProblem("\u{1F600}".repeat(300))).toBe("must be 1..256 characters (Unicode code points), got 300");
    expect(seedProblem(`${"s".repeat(256)}\u{1F600}`)).toBe("must be 1..256 characters (Unicode code points), got 257");
    expect(seedProblem("")).toBe("must be 1..256 characters (Unicode code points), got 0");
    expect(seedProblem("\u{1F600}".repeat(256))).toBeUndefined();
    let err: unknown;
    try {
      normalizeConfig({ seed: "x".repeat(1_000_000) });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.USAGE, message: "seed must be 1..256 characters (Unicode code points), got 1000000", details: { field: "seed" } });
  });
});
