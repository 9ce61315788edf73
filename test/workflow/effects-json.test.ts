/**
 * The PGS serialisations (SEMANTICS Part 0.1) and the order-preserving parser of the CS layer.
 * Expected strings are the exact bytes the spec pins (Python `json` output).
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  PGS_JSON_MAX_DEPTH,
  PgsJsonSyntaxError,
  PyFloat,
  compareCodePoints,
  pgsParse,
  pgsStringify,
  pyDictKey,
  pyEquals,
  pyFloatRepr,
  type PgsValue,
} from "../../src/workflow/effects/index.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";

describe("float repr (Python repr)", () => {
  const vectors: Array<[number, string]> = [
    [1.0, "1.0"],
    [0.1, "0.1"],
    [1e16, "1e+16"],
    [1e-5, "1e-05"],
    [1.5e300, "1.5e+300"],
    [0.0001, "0.0001"],
    [1234567890123456.0, "1234567890123456.0"],
    [12345678901234568, "1.2345678901234568e+16"],
    [-0, "-0.0"],
    [2.5, "2.5"],
    [1e22, "1e+22"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [100.0, "100.0"],
    [123456789.123, "123456789.123"],
    [0.00011, "0.00011"],
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    [-Infinity, "-Infinity"],
  ];
  it.each(vectors)("repr(%s) = %s", (x, want) => {
    expect(pyFloatRepr(x)).toBe(want);
  });

  it("round-trips every finite double", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = pyFloatRepr(x);
        expect(Object.is(Number(text), x)).toBe(true);
        expect(/e|\./.test(text)).toBe(true);
      }),
    );
  });
});

describe("serialisations", () => {
  const s = "a\"b\\c\n\r\t\b\f\u0001\u007f\u00e9\u20ac\u{1F600}/";

  it("spaced: ', ' and ': ', insertion order, non-ASCII and DEL escaped with lowercase hex", () => {
    expect(pgsStringify(new Map([["s", s]]), "spaced")).toBe('{"s": "a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f\\u00e9\\u20ac\\ud83d\\ude00/"}');
    const v = new Map<string, PgsValue>([
      ["b", 1],
      ["a", [1, new Map<string, PgsValue>([["z", null], ["y", []]])]],
      ["c", new Map()],
    ]);
    expect(pgsStringify(v, "spaced")).toBe('{"b": 1, "a": [1, {"z": null, "y": []}], "c": {}}');
  });

  it("pretty: indent 2, raw UTF-8 (DEL raw too), control characters escaped, no trailing newline", () => {
    expect(pgsStringify(new Map([["s", s]]), "pretty")).toBe('{\n  "s": "a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\u007f\u00e9\u20ac\u{1F600}/"\n}');
    expect(pgsStringify(new Map(), "pretty")).toBe("{}");
    expect(pgsStringify(new Map<string, PgsValue>([["a", []], ["b", [1, new Map()]]]), "pretty")).toBe('{\n  "a": [],\n  "b": [\n    1,\n    {}\n  ]\n}');
  });

  it("canonical: sorted by code point (not UTF-16 units), compact, ASCII", () => {
    const v = { b: 1, a: [1, new Map<string, PgsValue>([["z", null], ["\u00e9", true]])], A: {} };
    expect(pgsStringify(v, "canonical")).toBe('{"A":{},"a":[1,{"z":null,"\\u00e9":true}],"b":1}');
    expect(pgsStringify(new Map<string, PgsValue>([["\u{1F600}", 1], ["\uffff", 2]]), "canonical")).toBe('{"\\uffff":2,"\\ud83d\\ude00":1}');
    expect(compareCodePoints("\uffff", "\u{1F600}")).toBe(-1);
  });

  it("numbers: ints of any size, integral floats keep .0, non-finite literals", () => {
    const v = [10n ** 30n, 2 ** 60, 3, 0.5, new PyFloat(2), new PyFloat(NaN), new PyFloat(Infinity), new PyFloat(-Infinity), -0];
    expect(pgsStringify(v, "compact")).toBe("[1000000000000000000000000000000,1152921504606846976,3,0.5,2.0,NaN,Infinity,-Infinity,0]");
  });

  it("refuses values JSON cannot hold, naming the path", () => {
    const bad: unknown[] = [{ a: undefined }, { a: () => 1 }, { a: new Date(0) }, { a: Symbol("x") }];
    for (const b of bad) {
      try {
        pgsStringify(b as PgsValue, "spaced");
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe(ErrorCode.INVALID_INPUT);
        expect((err as CairnError).message).toContain('$["a"]');
      }
    }
    const cyc: unknown[] = [];
    cyc.push(cyc);
    expect(() => pgsStringify(cyc as PgsValue, "compact")).toThrow(/circular/);
    expect(() => pgsStringify("\ud800", "pretty")).toThrow(/lone surrogate/);
    expect(pgsStringify("\ud800", "spaced")).toBe('"\\ud800"');
  });
});

describe("parser", () => {
  it("keeps source order for numeric-looking keys and distinguishes int / float", () => {
    const v = pgsParse('{"27": 1, "1": 2.0, "3": 1e2, "x": 0.5, "big": 123456789012345678901234567890}') as Map<string, PgsValue>;
    expect([...v.keys()]).toEqual(["27", "1", "3", "x", "big"]);
    expect(v.get("27")).toBe(1);
    expect(v.get("1")).toEqual(new PyFloat(2));
    expect(v.get("3")).toEqual(new PyFloat(100));
    expect(v.get("x")).toBe(0.5);
    expect(v.get("big")).toBe(123456789012345678901234567890n);
    expect(pgsStringify(v, "spaced")).toBe('{"27": 1, "1": 2.0, "3": 100.0, "x": 0.5, "big": 123456789012345678901234567890}');
  });

  it("repeated member: first position, last value (Python dict)", () => {
    const v = pgsParse('{"a": 1, "b": 2, "a": 3}') as Map<string, PgsValue>;
    expect([...v.entries()]).toEqual([["a", 3], ["b", 2]]);
  });

  it("accepts NaN / Infinity, rejects BOM, trailing commas, control characters, extra data", () => {
    expect(pgsParse("[NaN, Infinity, -Infinity]")).toEqual([new PyFloat(NaN), new PyFloat(Infinity), new PyFloat(-Infinity)]);
    for (const bad of ["\ufeff{}", "[1,]", '{"a":1,}', '"a\u0001"', "{} x", "01", "1.", "", "{", '{"a" 1}', "tru", '"\\x"']) {
      expect(() => pgsParse(bad), bad).toThrow(PgsJsonSyntaxError);
    }
    expect(() => pgsParse("[".repeat(PGS_JSON_MAX_DEPTH + 2))).toThrow(/nesting/);
  });

  it("parse ∘ stringify is the identity on text it produced (spaced and pretty)", () => {
    const arb = fc.jsonValue().map((v) => v as PgsValue);
    fc.assert(
      fc.property(arb, (v) => {
        for (const style of ["spaced", "pretty", "compact"] as const) {
          const text = pgsStringify(v, style);
          expect(pgsStringify(pgsParse(text), style)).toBe(text);
        }
      }),
    );
  });
});

describe("Python equality and dict keys", () => {
  it("1 == 1.0 == true, '1' != 1, deep containers, NaN never equal", () => {
    expect(pyEquals(1, new PyFloat(1))).toBe(true);
    expect(pyEquals(true, 1)).toBe(true);
    expect(pyEquals(false, 0n)).toBe(true);
    expect(pyEquals("1", 1)).toBe(false);
    expect(pyEquals(null, 0)).toBe(false);
    expect(pyEquals([1, { a: 2 }], [new PyFloat(1), new Map([["a", 2n]])])).toBe(true);
    expect(pyEquals({ a: 1, b: 2 }, new Map<string, PgsValue>([["b", 2], ["a", 1]]))).toBe(true);
    expect(pyEquals(new PyFloat(NaN), new PyFloat(NaN))).toBe(false);
    expect(pyDictKey(1)).toBe(pyDictKey(true));
    expect(pyDictKey(1)).toBe(pyDictKey(new PyFloat(1)));
    expect(pyDictKey("1")).not.toBe(pyDictKey(1));
    expect(pyDictKey([1])).toBeUndefined();
    expect(pyDictKey(new PyFloat(NaN))).toBeNull();
  });
});
