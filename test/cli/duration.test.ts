import { describe, expect, it } from "vitest";
import { parseCount, parseDuration, parseTypeTag } from "../../src/cli/duration.js";
import { isCairnError } from "../../src/core/errors.js";

function usageError(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    return isCairnError(err, "E_USAGE");
  }
  return false;
}

describe("parseDuration", () => {
  it("parses plain milliseconds and unit suffixes", () => {
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("1500")).toBe(1500);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("2d")).toBe(172_800_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
  });

  it("refuses anything else with E_USAGE", () => {
    for (const bad of ["", "-1", "1x", "h", "1 h", "1e3", "0x10", "1h30m", "Infinity"]) expect(usageError(() => parseDuration(bad))).toBe(true);
  });
});

describe("parseCount and parseTypeTag", () => {
  it("parses counts", () => {
    expect(parseCount("0", "n")).toBe(0);
    expect(parseCount("42", "n")).toBe(42);
    expect(usageError(() => parseCount("-1", "n"))).toBe(true);
    expect(usageError(() => parseCount("1.5", "n"))).toBe(true);
    expect(usageError(() => parseCount("11", "n", 10))).toBe(true);
  });

  it("parses decimal and hex type tags in 0..2^32-1", () => {
    expect(parseTypeTag("42")).toBe(42);
    expect(parseTypeTag("0x2a")).toBe(42);
    expect(parseTypeTag("0XFFFFFFFF")).toBe(0xffff_ffff);
    expect(parseTypeTag("4294967295")).toBe(0xffff_ffff);
    for (const bad of ["4294967296", "0x100000000", "-1", "0x", "abc", "1.0", ""]) expect(usageError(() => parseTypeTag(bad))).toBe(true);
  });
});
