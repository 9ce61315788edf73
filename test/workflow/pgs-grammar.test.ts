/** The path grammars (A.6, A.7) and the JSON forms of the Python value model (Part 0). */
import { describe, expect, it } from "vitest";
import {
  canonicalPy, compactPy, fromPlain, parsePyJson, prettyPy, pyFloatRepr, resolveBinding, resolveOutput, resolveStepInputs, spacedPy, type PyValue,
} from "../../src/workflow/pgs/index.js";

const v = (x: unknown): PyValue => fromPlain(x);

describe("WF-level bindings (A.6)", () => {
  const payload = v({ a: { b: 1 }, list: [1, 2] });
  const results = new Map<number, PyValue>([[11, v({ actor_id: "AC_1", nested: { x: true } })]]);
  it.each<[unknown, unknown]>([
    ["$.payload.a.b", 1],
    ["$.inputs.a.b", 1],
    ["$.payload.a.missing", null],
    ["$.payload.list.0", null],
    ["$.results.11.actor_id", "AC_1"],
    ["$.results.11.nested.x", true],
    ["$.results.11", null],
    ["$.results.x.actor_id", null],
    ["$.results.12.actor_id", null],
    ["$.payload", "$.payload"],
    ["{{timestamp}}", "{{timestamp}}"],
    [{ k: "$.payload.a", l: ["$.results.11.actor_id", 3] }, { k: { b: 1 }, l: ["AC_1", 3] }],
    [7, 7],
    [null, null],
  ])("%j → %j", (binding, expected) => {
    expect(resolveBinding(v(binding), payload, results)).toEqual(v(expected));
  });
});

describe("step inputs (A.7 3.2) and output mapping (A.7 3.4)", () => {
  const cc = v({ user: "U", deep: { k: "v" } });
  const records = new Map<string, PyValue>([["first", v({ id: "X", capability_result: { raw: 1 } })]]);
  it.each<[unknown, unknown]>([
    ["$.inputs.user", "U"],
    ["$.inputs.deep.k", "v"],
    ["$.results.first.id", "X"],
    ["$.results.first.capability_result.raw", 1],
    ["$.results.first", null],
    ["$.results.nope.id", null],
    ["$.payload.user", "$.payload.user"],
    ["{{timestamp}}", "{{timestamp}}"],
    [{ a: ["$.inputs.user"] }, { a: ["U"] }],
  ])("input %j → %j", (input, expected) => {
    expect(resolveStepInputs(v(input), cc, records)).toEqual(v(expected));
  });
  const raw = v({ id: "R", value: { n: 2 }, result_status: "SUCCESS" });
  it.each<[unknown, unknown]>([
    ["$.capability_result.id", "R"],
    ["$.capability_result.value.n", 2],
    ["$.result_status", "SUCCESS"],
    ["$.results.first.id", "X"],
    ["$.results.first", null],
    ["$.missing", null],
    ["literal", "literal"],
    [{ "$.capability_result.id": 1 }, { "$.capability_result.id": 1 }],
    [false, false],
  ])("output %j → %j", (mapping, expected) => {
    expect(resolveOutput(v(mapping), raw, records)).toEqual(v(expected));
  });
});

describe("JSON forms (Part 0.1)", () => {
  it("parses losslessly: ints as bigint, floats as numbers, source key order, last duplicate wins in place", () => {
    const p = parsePyJson('{"9":1,"10":2.0,"big":12345678901234567890,"9":3,"f":1e3}') as Map<string, PyValue>;
    expect([...p.keys()]).toEqual(["9", "10", "big", "f"]);
    expect(p.get("9")).toBe(3n);
    expect(p.get("10")).toBe(2);
    expect(p.get("big")).toBe(12345678901234567890n);
    expect(compactPy(p)).toBe('{"9":3,"10":2.0,"big":12345678901234567890,"f":1000.0}');
    expect(canonicalPy(p)).toBe('{"10":2.0,"9":3,"big":12345678901234567890,"f":1000.0}');
  });

  it.each([
    ['{"a":1e16,"b":0.00001,"c":1.5}', '{"a":1e+16,"b":1e-05,"c":1.5}'],
    ['{"s":"a\\"b\\\\c\\n\\u0001/\\u007f"}', '{"s":"a\\"b\\\\c\\n\\u0001/\\u007f"}'],
    ['{"e":"😀","z":"Köln"}', '{"e":"\\ud83d\\ude00","z":"K\\u00f6ln"}'],
  ])("canonical %s → %s (B.1 vectors)", (text, expected) => {
    expect(canonicalPy(parsePyJson(text))).toBe(expected);
  });

  it.each<[number, string]>([
    [1, "1.0"], [0.0001, "0.0001"], [1e-5, "1e-05"], [1e16, "1e+16"], [1234567890123456, "1234567890123456.0"], [1.5e300, "1.5e+300"], [-0, "-0.0"], [0.1, "0.1"], [Number.NaN, "NaN"], [-Infinity, "-Infinity"],
  ])("float repr %s → %s", (x, s) => {
    expect(pyFloatRepr(x)).toBe(s);
  });

  it("spaced and pretty forms", () => {
    const x = parsePyJson('{"k":[1,{"ü":null}],"e":{}}');
    expect(spacedPy(x)).toBe('{"k": [1, {"\\u00fc": null}], "e": {}}');
    expect(prettyPy(x)).toBe('{\n  "k": [\n    1,\n    {\n      "ü": null\n    }\n  ],\n  "e": {}\n}');
  });

  it("names the file and position of a syntax error", () => {
    expect(() => parsePyJson('{"a": }', "p.json")).toThrow("p.json is not valid JSON: Expecting value: line 1 column 7 (char 6)");
  });
});
