/**
 * A run seed is 1..MAX_SEED_CHARS characters counted as Unicode code points, as the message
 * says: a seed of 129 emoji (258 UTF-16 code units) was refused as "must be 1..256
 * characters". Seeds accepted before are accepted still and hashed as their text, so their run
 * ids do not change. A seed with a lone surrogate is E_USAGE naming `seed` (it failed later,
 * as E_CANONICAL at `$.config.seed`: the seed is recorded as canonical JSON).
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { MAX_SEED_CHARS, normalizeConfig, seedProblem } from "../../src/batch/config.js";
import { run } from "../../src/batch/engine.js";
import { Scratch, expectCairnError, fixture, usage } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const EMOJI = "\u{1F600}";

describe("seed length counts characters (code points)", () => {
  it("MAX_SEED_CHARS emoji are accepted, one more is refused; ASCII seeds as before", () => {
    expect(MAX_SEED_CHARS).toBe(256);
    expect(normalizeConfig({ seed: EMOJI.repeat(129) }).seed).toBe(EMOJI.repeat(129));
    expect(normalizeConfig({ seed: EMOJI.repeat(MAX_SEED_CHARS) }).seed).toBe(EMOJI.repeat(MAX_SEED_CHARS));
    expect(normalizeConfig({ seed: `${"a".repeat(MAX_SEED_CHARS - 1)}${EMOJI}` }).seed.length).toBe(MAX_SEED_CHARS + 1);
    expect(normalizeConfig({ seed: "s".repeat(MAX_SEED_CHARS) }).seed).toBe("s".repeat(MAX_SEED_CHARS));
    for (const [seed, length] of [[EMOJI.repeat(MAX_SEED_CHARS + 1), 257], ["s".repeat(MAX_SEED_CHARS + 1), 257], [`${EMOJI.repeat(MAX_SEED_CHARS)}a`, 257], ["", 0], ["x".repeat(10_000), 10_000]] as const) {
      const e = usage(() => normalizeConfig({ seed }));
      expect(e.message).toBe(`seed must be 1..${MAX_SEED_CHARS} characters (Unicode code points), got ${length}`);
      expect(e.details).toEqual({ field: "seed" });
    }
  });

  it("a lone surrogate is refused at the config check, whole pairs are fine", () => {
    for (const seed of ["\ud800", "a\udfff", `${EMOJI}\ud83d`, "\ude00\ud83d"]) {
      const e = usage(() => normalizeConfig({ seed }));
      expect(e.message).toBe("seed must not contain a lone surrogate (the seed is recorded as canonical JSON, which has no form for one)");
      expect(e.details).toEqual({ field: "seed" });
    }
    expect(seedProblem(`a${EMOJI}b`)).toBeUndefined();
  });

  it("run(): a 129-emoji seed runs; a lone surrogate is E_USAGE, not E_CANONICAL", async () => {
    const { store } = scratch.store();
    const ok = await run(store, [1], fixture("engine-pure.mjs"), { workers: 1, seed: EMOJI.repeat(129) });
    expect(ok.status).toBe("completed");
    const err = await expectCairnError(run(store, [1], fixture("engine-pure.mjs"), { workers: 1, seed: "a\ud800" }), ErrorCode.USAGE, /^seed must not contain a lone surrogate/);
    expect(err.details).toEqual({ field: "seed" });
  });
});
