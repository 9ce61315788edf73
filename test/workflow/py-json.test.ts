/** Python-compatible JSON (SEMANTICS Part 0, src/workflow/py): the lossless parser and the four serialisations. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { ErrorCode } from "../../src/core/errors.js";
import {
  asciiJsonString,
  canonicalJson,
  compactJson,
  compareCodePoints,
  parsePyJson,
  prettyJson,
  PY_INT_MAX_STR_DIGITS,
  pyFloatFromString,
  pyFloatRepr,
  PYJSON_MAX_DEPTH,
  PYJSON_PARSE_MAX_DEPTH,
  spacedJson,
  UNSERIALISABLE_REASON,
  type PyDict,
  type PyValue,
} from "../../src/workflow/py/index.js";

const PACK = new URL("../../../shared/fixtures/pgs/", import.meta.url);
const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");
const m = (entries: [string, PyValue][]): PyDict => new Map(entries);

/** Arbitrary Python values (ints as bigint, floats as number, dicts as Map with arbitrary keys). */
const pyValue: fc.Arbitrary<PyValue> = fc.letrec<{ v: PyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
    fc.double(),
    fc.string({ unit: "binary" }),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.array(fc.tuple(fc.string({ unit: "binary", maxLength: 4 }), tie("v")), { maxLength: 4 }).map((es) => new Map(es)),
  ),
})).v;

describe("float repr (Python repr)", () => {
  it.each([
    [1.0, "1.0"],
    [1e16, "1e+16"],
    [1e-5, "1e-05"],
    [1.5e300, "1.5e+300"],
    [0.0001, "0.0001"],
    [1234567890123456.0, "1234567890123456.0"],
    [1.2345678901234567e19, "1.2345678901234567e+19"],
    [0.1, "0.1"],
    [-0.0, "-0.0"],
    [0, "0.0"],
    [5e-324, "5e-324"],
    [1e22, "1e+22"],
    [123.456, "123.456"],
    [12345678901234568, "1.2345678901234568e+16"],
    [2.5, "2.5"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [100.0, "100.0"],
    [123456789.123, "123456789.123"],
    [0.00011, "0.00011"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
  ])("%s → %s", (x, want) => expect(pyFloatRepr(x)).toBe(want));

  it("round-trips every finite double and always looks like a float", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const r = pyFloatRepr(x);
        expect(Object.is(Number(r), x)).toBe(true);
        expect(r).toMatch(/[.e]/);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("Python float() of strings", () => {
  it.each([
    ["99.5", 99.5],
    ["  1.5\n", 1.5],
    ["1_000", 1000],
    [".5", 0.5],
    ["5.", 5],
    ["-.5e-3", -0.0005],
    ["inf", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
    ["\u00a01\u2003", 1],
    ["١٢٣", 123],
    ["1e400", Number.POSITIVE_INFINITY],
  ])("%j → %s", (s, want) => expect(pyFloatFromString(s)).toBe(want));

  it("nan", () => expect(pyFloatFromString("+nAn")).toBeNaN());

  it.each(["", " ", "abc", "1__0", "_1", "1_", "1_.5", ".", "1e", "0x10", "1.2.3", "\ufeff1", "1\x1c", "infinit", "+"])("%j is rejected", (s) => {
    expect(pyFloatFromString(s)).toBeUndefined();
  });
});

describe("string escaping", () => {
  it("ensure_ascii: short escapes, lowercase \\u for controls, DEL and non-ASCII, surrogate pairs; / kept", () => {
    expect(asciiJsonString('a"b\\c\n\x01/\x7f')).toBe('"a\\"b\\\\c\\n\\u0001/\\u007f"');
    expect(asciiJsonString("😀é\u2028")).toBe('"\\ud83d\\ude00\\u00e9\\u2028"');
    expect(asciiJsonString("\ud800")).toBe('"\\ud800"');
    expect(asciiJsonString("\b\f\r\t")).toBe('"\\b\\f\\r\\t"');
  });

  it("pretty keeps non-ASCII raw and escapes like JSON.stringify", () => {
    expect(prettyJson("é😀\x7f\x1f\n")).toBe(JSON.stringify("é😀\x7f\x1f\n"));
    expect(() => prettyJson("\udc00")).toThrow(CairnError);
  });
});

describe("the four serialisations", () => {
  const v = m([
    ["b", 1n],
    ["a", [1.0, "ü", null, true]],
    ["10", m([])],
    ["9", []],
  ]);

  it("canonical: sorted by code point, no spaces", () => {
    expect(canonicalJson(v)).toBe('{"10":{},"9":[],"a":[1.0,"\\u00fc",null,true],"b":1}');
  });
  it("compact: insertion order, no spaces", () => {
    expect(compactJson(v)).toBe('{"b":1,"a":[1.0,"\\u00fc",null,true],"10":{},"9":[]}');
  });
  it("spaced: insertion order with ', ' and ': '", () => {
    expect(spacedJson(v)).toBe('{"b": 1, "a": [1.0, "\\u00fc", null, true], "10": {}, "9": []}');
  });
  it("pretty: indent 2, raw UTF-8, no trailing newline", () => {
    expect(prettyJson(v)).toBe('{\n  "b": 1,\n  "a": [\n    1.0,\n    "ü",\n    null,\n    true\n  ],\n  "10": {},\n  "9": []\n}');
    expect(prettyJson(m([["EMP", null]]))).toBe('{\n  "EMP": null\n}');
    expect(prettyJson(7n)).toBe("7");
  });

  it("sorts astral keys after U+FFFF (code points, not UTF-16 units)", () => {
    expect(canonicalJson(m([["😀", 1n], ["\uffff", 2n]]))).toBe('{"\\uffff":2,"\\ud83d\\ude00":1}');
  });

  it("reproduces the C.3 append-only example line", () => {
    const line = '{"record_id": "2025-01-01T00:00:00.000001_000000", "sequence_number": 1, "timestamp": "2025-01-01T00:00:00.000001", "actor_id": "x", "stream_id": "s", "record": {"a": "\\u00fc", "timestamp": "{{timestamp}}"}}';
    expect(spacedJson(parsePyJson(line))).toBe(line);
  });

  it("prints ints of any size, but not beyond Python's digit limit", () => {
    expect(compactJson(12345678901234567890n)).toBe("12345678901234567890");
    expect(() => compactJson(10n ** BigInt(PY_INT_MAX_STR_DIGITS))).toThrow(/digits/);
  });

  it("refuses values nested deeper than the limit", () => {
    let deep: PyValue = [];
    for (let i = 0; i < PYJSON_MAX_DEPTH + 1; i++) deep = [deep];
    expect(() => compactJson(deep)).toThrow(CairnError);
  });

  it("agrees with JSON.stringify where Python and JS agree (no numbers, no non-ASCII, no DEL)", () => {
    const plainStr = fc.string({ unit: fc.integer({ min: 0, max: 0x7e }).map((c) => String.fromCharCode(c)) });
    const plain = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof({ depthSize: "small" }, fc.constant(null), fc.boolean(), plainStr, fc.array(tie("v"), { maxLength: 3 }), fc.dictionary(plainStr.filter((k) => !/^\d+$/.test(k) && k !== "__proto__"), tie("v"), { maxKeys: 3 })),
    })).v;
    const toPy = (x: unknown): PyValue =>
      Array.isArray(x) ? x.map(toPy) : x !== null && typeof x === "object" ? new Map(Object.entries(x).map(([k, y]) => [k, toPy(y)])) : (x as PyValue);
    fc.assert(
      fc.property(plain, (x) => {
        expect(compactJson(toPy(x))).toBe(JSON.stringify(x));
        expect(prettyJson(toPy(x))).toBe(JSON.stringify(x, null, 2));
      }),
    );
  });
});

describe("canonical form on the pack's published hashes", () => {
  it.each([
    ["blockchain", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", '{"actor_id":"alice"}', "C2A4"],
    ["blockchain", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", '{"actor_id":"bob"}', "D053"],
    ["ai_governance", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", '{"actor_id":"alice"}', "46C2"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", '{"numbers":[1,2]}', "B95E"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", '{"b":2,"a":1}', "EB1D"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", '{"a":1,"b":2}', "EB1D"],
    ["ai_governance", "ai_governance::WF_GOVERN_AGENT_ACTION_V0", '{"note":"café"}', "B62A"],
  ])("trace-id suffix %s / %s / %s → %s (A.11)", (domain, wf, payload, suffix) => {
    const text = canonicalJson(m([["domain", domain], ["wf", wf], ["payload", parsePyJson(payload)]]));
    expect(sha256(text).slice(0, 4).toUpperCase()).toBe(suffix);
  });

  it.each([
    ["ai_governance", "6820ba4b390bb029dd95b6e546d857e813a290c6347b660acde4666991f12744"],
    ["blockchain", "247353e78c33fcddc79fe9436dd0e2a5a3cb6ec701a8bea2da0c26465b7e0a69"],
    ["platform", "1f1972717f3bb27bdfe9ba8b89efae80001a19c0b46397073f79c1a1d59ddf5d"],
  ])("projection_hash of %s topology (A.3)", (domain, hash) => {
    const path = fileURLToPath(new URL(`workspace/tokenized_snapshot/${domain}/topology.json`, PACK));
    expect(existsSync(path)).toBe(true);
    const topo = parsePyJson(readFileSync(path, "utf8")) as PyDict;
    const projection = m(["nodes", "edges", "adjacency"].map((k) => [k, topo.get(k) ?? null]));
    expect(sha256(canonicalJson(projection))).toBe(hash);
  });
});

describe("parsePyJson", () => {
  it("keeps ints and floats apart, big ints exact, and source key order (numeric keys too)", () => {
    const v = parsePyJson('{"3":1,"1":1.0,"27":1e3,"big":12345678901234567890,"neg":-0.0}') as PyDict;
    expect([...v.keys()]).toEqual(["3", "1", "27", "big", "neg"]);
    expect(v.get("3")).toBe(1n);
    expect(v.get("1")).toBe(1);
    expect(v.get("27")).toBe(1000);
    expect(v.get("big")).toBe(12345678901234567890n);
    expect(compactJson(v)).toBe('{"3":1,"1":1.0,"27":1000.0,"big":12345678901234567890,"neg":-0.0}');
  });

  it("a repeated key keeps its first position and its last value", () => {
    expect(compactJson(parsePyJson('{"a":1,"b":2,"a":3}'))).toBe('{"a":3,"b":2}');
  });

  it("decodes escapes, including surrogate pairs and lone surrogates", () => {
    expect(parsePyJson('"\\ud83d\\ude00\\u00E9\\/\\ud800"')).toBe("😀é/\ud800");
  });

  it.each([
    ["", "Expecting value: line 1 column 1 (char 0)"],
    ["[1,]", "Expecting value: line 1 column 4 (char 3)"],
    ['{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"],
    ["{1:2}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"],
    ["[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"],
    ['"abc', "Unterminated string starting at: line 1 column 1 (char 0)"],
    ['"a\nb"', "Invalid control character at: line 1 column 3 (char 2)"],
    ['"\\x"', "Invalid \\escape: line 1 column 2 (char 1)"],
    ['"\\u12"', "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    ["1 2", "Extra data: line 1 column 3 (char 2)"],
    ["01", "Extra data: line 1 column 2 (char 1)"],
    ['\n "é" x', "Extra data: line 2 column 6 (char 6)"],
    ["\ufeff{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"],
    ["NaN", "Expecting value: line 1 column 1 (char 0)"],
  ])("%j → %s", (text, msg) => {
    expect(() => parsePyJson(text)).toThrow(msg);
  });

  it("accepts NaN/Infinity only when asked to (Python's default)", () => {
    const v = parsePyJson("[NaN,Infinity,-Infinity]", { allowNonFiniteConstants: true }) as number[];
    expect(v[0]).toBeNaN();
    expect(v.slice(1)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(compactJson(v)).toBe("[NaN,Infinity,-Infinity]");
  });

  it("refuses ints beyond Python's digit limit and excessive nesting", () => {
    expect(() => parsePyJson("9".repeat(PY_INT_MAX_STR_DIGITS + 1))).toThrow(/exceeds the limit/);
    expect(parsePyJson("9".repeat(PY_INT_MAX_STR_DIGITS))).toBe(10n ** BigInt(PY_INT_MAX_STR_DIGITS) - 1n);
    expect(() => parsePyJson("[".repeat(PYJSON_MAX_DEPTH + 1))).toThrow(/Nesting deeper/);
  });

  it("round-trips every value through each ASCII serialisation", () => {
    fc.assert(
      fc.property(pyValue, (v) => {
        const text = compactJson(v);
        expect(text).toMatch(/^[\x20-\x7e]*$/);
        const opts = { allowNonFiniteConstants: true };
        expect(compactJson(parsePyJson(text, opts))).toBe(text);
        expect(compactJson(parsePyJson(spacedJson(v), opts))).toBe(text);
        expect(canonicalJson(parsePyJson(canonicalJson(v), opts))).toBe(canonicalJson(v));
      }),
      { numRuns: 500 },
    );
  });

  it("canonical form does not depend on insertion order", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: "binary" }), fc.bigInt()), { maxLength: 8 }), (es) => {
        const a = new Map(es);
        const b = new Map([...a].reverse());
        expect(canonicalJson(a)).toBe(canonicalJson(b));
      }),
    );
  });
});

/** The exact bytes of the CS data files (registry / append-only lines, the mutable document, registry addresses). */
describe("CS file serialisations", () => {
  const s = "a\"b\\c\n\r\t\b\f\u0001\u007f\u00e9\u20ac\u{1F600}/";
  /** Well-formed (UTF-8 encodable) values, for the pretty form. */
  const wellFormed: fc.Arbitrary<PyValue> = fc.letrec<{ v: PyValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
      fc.double(),
      fc.string({ unit: "grapheme", maxLength: 6 }),
      fc.array(tie("v"), { maxLength: 4 }),
      fc.array(fc.tuple(fc.string({ unit: "grapheme", maxLength: 4 }), tie("v")), { maxLength: 4 }).map((es) => new Map(es)),
    ),
  })).v;

  it("spaced: ', ' and ': ', insertion order, non-ASCII and DEL escaped with lowercase hex", () => {
    expect(spacedJson(m([["s", s]]))).toBe('{"s": "a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u007f\\u00e9\\u20ac\\ud83d\\ude00/"}');
    const v = m([
      ["b", 1n],
      ["a", [1n, m([["z", null], ["y", []]])]],
      ["c", m([])],
    ]);
    expect(spacedJson(v)).toBe('{"b": 1, "a": [1, {"z": null, "y": []}], "c": {}}');
  });

  it("pretty: indent 2, raw UTF-8 (DEL raw too), control characters escaped, no trailing newline", () => {
    expect(prettyJson(m([["s", s]]))).toBe('{\n  "s": "a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\u007f\u00e9\u20ac\u{1F600}/"\n}');
    expect(prettyJson(m([]))).toBe("{}");
    expect(prettyJson(m([["a", []], ["b", [1n, m([])]]]))).toBe('{\n  "a": [],\n  "b": [\n    1,\n    {}\n  ]\n}');
  });

  it("canonical: sorted by code point (not UTF-16 units), compact, ASCII", () => {
    const v = m([["b", 1n], ["a", [1n, m([["z", null], ["\u00e9", true]])]], ["A", m([])]]);
    expect(canonicalJson(v)).toBe('{"A":{},"a":[1,{"z":null,"\\u00e9":true}],"b":1}');
    expect(canonicalJson(m([["\u{1F600}", 1n], ["\uffff", 2n]]))).toBe('{"\\uffff":2,"\\ud83d\\ude00":1}');
    expect(compareCodePoints("\uffff", "\u{1F600}")).toBe(-1);
  });

  it("numbers: ints of any size, integral floats keep .0, non-finite literals", () => {
    const v: PyValue = [10n ** 30n, 2n ** 60n, 3n, 0.5, 2, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0n];
    expect(compactJson(v)).toBe("[1000000000000000000000000000000,1152921504606846976,3,0.5,2.0,NaN,Infinity,-Infinity,0]");
  });

  it("refuses values outside the model (E_INVALID_INPUT), cycles (nesting limit) and lone surrogates in the pretty form", () => {
    const bad: unknown[] = [undefined, () => 1, new Date(0), Symbol("x"), { a: 1 }];
    for (const b of bad) {
      try {
        spacedJson(m([["a", b as PyValue]]));
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe(ErrorCode.INVALID_INPUT);
        expect((err as CairnError).details["reason"]).toBe(UNSERIALISABLE_REASON);
        expect((err as CairnError).message).toMatch(/cannot serialise .* as JSON/);
      }
    }
    const cyc: PyValue[] = [];
    cyc.push(cyc);
    expect(() => compactJson(cyc)).toThrow(/cyclic/);
    expect(() => prettyJson("\ud800")).toThrow(/lone surrogate/);
    expect(spacedJson("\ud800")).toBe('"\\ud800"');
  });

  it("names the first lone surrogate of the pretty form by its path (a member's name before its value)", () => {
    const refusal = (v: PyValue): CairnError => {
      try {
        prettyJson(v);
      } catch (err) {
        return err as CairnError;
      }
      throw new Error("expected a refusal");
    };
    const e = refusal(m([["ok", "é😀"], ["a", [1n, m([["b", "x\ud800"]])]]]));
    expect(e.code).toBe(ErrorCode.INVALID_INPUT);
    expect(e.message).toBe('cannot serialise a string with a lone surrogate (not encodable as UTF-8) at $["a"][1]["b"] as JSON');
    expect(e.details).toEqual({ reason: UNSERIALISABLE_REASON, path: '$["a"][1]["b"]' });
    expect(refusal(m([["k\udc00", "\ud800"]])).details["path"]).toBe('$["k\\udc00"]');
    expect(refusal("\ud800").details["path"]).toBe("$");
  });

  it("parsing keeps source order for numeric-looking keys and distinguishes int / float", () => {
    const v = parsePyJson('{"27": 1, "1": 2.0, "3": 1e2, "x": 0.5, "big": 123456789012345678901234567890}') as PyDict;
    expect([...v.keys()]).toEqual(["27", "1", "3", "x", "big"]);
    expect(v.get("27")).toBe(1n);
    expect(v.get("1")).toBe(2);
    expect(v.get("3")).toBe(100);
    expect(v.get("x")).toBe(0.5);
    expect(v.get("big")).toBe(123456789012345678901234567890n);
    expect(spacedJson(v)).toBe('{"27": 1, "1": 2.0, "3": 100.0, "x": 0.5, "big": 123456789012345678901234567890}');
  });

  it("parsing the CS files' way: NaN / Infinity accepted, BOM, trailing commas, control characters, extra data refused", () => {
    const opts = { allowNonFiniteConstants: true };
    expect(parsePyJson("[NaN, Infinity, -Infinity]", opts)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    for (const bad of ["\ufeff{}", "[1,]", '{"a":1,}', '"a\u0001"', "{} x", "01", "1.", "", "{", '{"a" 1}', "tru", '"\\x"']) {
      expect(() => parsePyJson(bad, opts), bad).toThrow(CairnError);
    }
    expect(() => parsePyJson("[".repeat(PYJSON_PARSE_MAX_DEPTH + 2), opts)).toThrow(/Nesting deeper/);
  });

  it("parse ∘ stringify is the identity on text it produced (spaced, pretty, compact)", () => {
    fc.assert(
      fc.property(wellFormed, (v) => {
        for (const stringify of [spacedJson, prettyJson, compactJson]) {
          const text = stringify(v);
          expect(stringify(parsePyJson(text, { allowNonFiniteConstants: true }))).toBe(text);
        }
      }),
      { numRuns: 500 },
    );
  });
});
