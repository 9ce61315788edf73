import { describe, it, expect } from "vitest";
import { fixedClock, steppingClock, systemClock, type Clock } from "../../src/core/clock.js";

describe("clock", () => {
  it("systemClock follows Date.now", () => {
    const before = Date.now();
    const t = systemClock.now();
    const after = Date.now();
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });

  it("fixedClock always returns the same instant", () => {
    const c: Clock = fixedClock(1_700_000_000_000);
    expect([c.now(), c.now(), c.now()]).toEqual([1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000]);
  });

  it("steppingClock returns start, start+step, …", () => {
    const c = steppingClock(1000, 250);
    expect([c.now(), c.now(), c.now(), c.now()]).toEqual([1000, 1250, 1500, 1750]);
    const frozen = steppingClock(5, 0);
    expect([frozen.now(), frozen.now()]).toEqual([5, 5]);
  });

  it("stepping clocks are independent of each other", () => {
    const a = steppingClock(0, 1);
    const b = steppingClock(0, 1);
    a.now();
    a.now();
    expect(b.now()).toBe(0);
    expect(a.now()).toBe(2);
  });
});
