/**
 * UAT F2: a user CT whose result JSON text cannot hold unchanged (NaN, ±Infinity, undefined,
 * functions, symbols, BigInt, integers beyond ±(2^53−1), class instances, cycles) fails closed:
 * VIOLATION with a contract message naming the step and the offending path — never a SUCCESS
 * with the value silently rewritten (null, a dropped member, another integer).
 */
import { describe, expect, it } from "vitest";
import { baseDecl, prepared, run, traceText } from "./cairn-fixture.js";

const CAPS = `
export const capabilities = {
  f: {
    outputs: ["v"],
    run(input: { which: string }) {
      const cyc: Record<string, unknown> = {};
      cyc.self = cyc;
      const values: Record<string, unknown> = {
        nan: NaN,
        inf: Infinity,
        ninf: -Infinity,
        undef: undefined,
        fn: () => 1,
        sym: Symbol("s"),
        big: BigInt(5),
        two60: 2 ** 60,
        hole: [1, , 3],
        date: new Date(0),
        map: new Map([["a", 1]]),
        cycle: cyc,
      };
      if (input.which === "ok") return { v: [1.5, -2, 9007199254740991, "s", null, true, { a: [] }] };
      if (input.which === "large floats") return { v: [6.02e23, 1e21, -1.5e300, Number.MAX_VALUE] };
      if (input.which === "symkey") return { v: { [Symbol("k")]: 1 } };
      if (input.which === "odd key") return { v: { "a b": [NaN] } };
      return { v: { deep: [0, values[input.which]] } };
    },
  },
};
`;

function decl(): Record<string, unknown> {
  return baseDecl({
    modules: { caps: "./caps.ts" },
    nodes: {
      start: {
        steps: [{ id: "produce", ct: "caps.f", inputs: { which: "$.payload.which" } }],
        routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "NO", reason: "refused" } },
      },
    },
  });
}

describe("user CT results that JSON cannot hold unchanged (UAT F2)", () => {
  const cases: Array<[string, string]> = [
    ["nan", "NaN at v.deep[1]"],
    ["inf", "Infinity at v.deep[1]"],
    ["ninf", "-Infinity at v.deep[1]"],
    ["undef", "undefined at v.deep[1]"],
    ["fn", "a function at v.deep[1]"],
    ["sym", "a symbol at v.deep[1]"],
    ["big", "the BigInt 5n at v.deep[1]"],
    ["two60", "the number 1152921504606847000, an integer beyond ±(2^53−1)"],
    ["hole", "undefined at v.deep[1][1]"],
    ["date", "an object of class Date (not a plain object or array) at v.deep[1]"],
    ["map", "an object of class Map (not a plain object or array) at v.deep[1]"],
    ["cycle", "a cyclic reference at v.deep[1].self"],
    ["symkey", "a member keyed by a symbol (Symbol(k)) at v"],
    ["odd key", 'NaN at v["a b"][0]'],
  ];
  for (const [which, says] of cases) {
    it(`${which}: VIOLATION naming the step and the path, never a rewritten SUCCESS`, async () => {
      const t = await prepared(decl(), { "caps.ts": CAPS });
      const r = run(t.snap, { which }, t.dir);
      expect([r.status, r.exit?.name, r.error]).toEqual(["VIOLATION", "NO", null]);
      expect(r.surface.size).toBe(0);
      const reason = r.violations[0]?.reason ?? "";
      expect(reason.startsWith("user CT caps.f broke its contract: step produce: its result holds ")).toBe(true);
      expect(reason).toContain(says);
      expect(reason).toContain("which JSON text cannot hold unchanged");
      // The trace records the same text in the step's CC_STEP.
      const step = traceText(r).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { event_type: string; detail: Record<string, unknown> }).find((e) => e.event_type === "CC_STEP");
      expect(step?.detail).toMatchObject({ step_id: "produce", result_keys: [], error: reason });
    });
  }

  it("a result that is JSON data runs as before (SUCCESS, values unchanged)", async () => {
    const t = await prepared(decl(), { "caps.ts": CAPS });
    const r = run(t.snap, { which: "ok" }, t.dir);
    expect([r.status, r.exit?.name, r.error]).toEqual(["SUCCESS", "OK", null]);
    const v = r.surface.get("v") as unknown[];
    expect(v).toHaveLength(7);
    expect(v[0]).toBe(1.5);
    expect(v[2]).toBe(9007199254740991n);
  });

  it("large floats JSON writes with an exponent are kept (only integer literals beyond ±(2^53−1) are refused)", async () => {
    const t = await prepared(decl(), { "caps.ts": CAPS });
    const r = run(t.snap, { which: "large floats" }, t.dir);
    expect([r.status, r.exit?.name, r.error]).toEqual(["SUCCESS", "OK", null]);
    expect(r.surface.get("v")).toEqual([6.02e23, 1e21, -1.5e300, Number.MAX_VALUE]);
  });
});
