import { createHash } from "node:crypto";
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { canonicalize, canonicalBytes, canonicalDigest, parseCanonical } from "../../src/core/canonical.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";

/** The double whose IEEE 754 bit pattern is `hex` (16 hex digits). */
function fromIeeeHex(hex: string): number {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(`0x${hex}`));
  return b.readDoubleBE(0);
}

/** Runs `fn` and returns the CairnError it throws (fails the test otherwise). */
function catchCairn(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("expected a CairnError, nothing was thrown");
}

/** Asserts canonicalize(value) throws E_CANONICAL whose message names `path`. */
function expectRejectedAt(value: unknown, path: string, what?: string): void {
  const err = catchCairn(() => canonicalize(value));
  expect(err.code).toBe(ErrorCode.CANONICAL);
  expect(err.message).toContain(` at ${path}`);
  expect(err.message.endsWith(` at ${path}`)).toBe(true);
  expect(err.details["path"]).toBe(path);
  if (what !== undefined) expect(err.message).toContain(what);
}

describe("RFC 8785 examples", () => {
  it("§3.2.2 sample object", () => {
    const input = String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
  });

  it("§3.2.3 sorts member names by UTF-16 code units", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    const out = canonicalize(input);
    const order: string[] = [];
    // Object.keys would reorder "1" (an array index) first, so read the order from the text.
    for (const m of out.matchAll(/"((?:[^"\\]|\\.)*)":/g)) order.push(JSON.parse(`"${m[1] ?? ""}"`) as string);
    expect(order).toEqual(["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]);
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  const numberVectors: [string, string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  it.each(numberVectors)("Appendix B: IEEE %s → %s", (hex, expected) => {
    expect(canonicalize(fromIeeeHex(hex))).toBe(expected);
    expect(canonicalize([fromIeeeHex(hex)])).toBe(`[${expected}]`);
  });

  it.each([
    ["7fffffffffffffff", "NaN"],
    ["7ff8000000000000", "NaN"],
    ["fff8000000000001", "NaN"],
    ["7ff0000000000000", "Infinity"],
    ["fff0000000000000", "-Infinity"],
  ])("Appendix B: IEEE %s (%s) is rejected", (hex, what) => {
    expectRejectedAt(fromIeeeHex(hex), "$", `cannot canonicalize ${what} at $`);
  });
});

describe("canonicalize basics", () => {
  it("literals, nesting and whitespace", () => {
    expect(canonicalize(null)).toBe("null");
    expect(canonicalize(true)).toBe("true");
    expect(canonicalize(false)).toBe("false");
    expect(canonicalize(-0)).toBe("0");
    expect(canonicalize([])).toBe("[]");
    expect(canonicalize({})).toBe("{}");
    expect(canonicalize({ b: [1, { d: 2, c: "x" }], a: null })).toBe('{"a":null,"b":[1,{"c":"x","d":2}]}');
  });

  it("accepts null-prototype objects and repeated (non-cyclic) references", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare["z"] = 1;
    bare["y"] = 2;
    expect(canonicalize(bare)).toBe('{"y":2,"z":1}');
    const shared = { x: 1 };
    expect(canonicalize({ a: shared, b: shared, c: [shared, shared] })).toBe('{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}');
  });

  it("keeps a __proto__ member created by JSON.parse", () => {
    const v = JSON.parse('{"__proto__":{"a":1},"b":2}') as unknown;
    expect(canonicalize(v)).toBe('{"__proto__":{"a":1},"b":2}');
  });

  it("escapes every BMP code unit exactly as RFC 8785 §3.2.2.2 says", () => {
    const short: Record<number, string> = { 0x08: "\\b", 0x09: "\\t", 0x0a: "\\n", 0x0c: "\\f", 0x0d: "\\r", 0x22: '\\"', 0x5c: "\\\\" };
    for (let c = 0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCharCode(c);
      let expected: string;
      const esc = short[c];
      if (esc !== undefined) expected = esc;
      else if (c < 0x20) expected = `\\u00${c.toString(16).padStart(2, "0")}`;
      else expected = ch;
      const got = canonicalize(ch);
      if (got !== `"${expected}"`) expect(got, `U+${c.toString(16)}`).toBe(`"${expected}"`);
    }
    expect(canonicalize("\u007f\u2028\u2029\u{1f600}é")).toBe('"\u007f\u2028\u2029\u{1f600}é"');
  });

  it("canonicalBytes is UTF-8 and canonicalDigest hashes it", () => {
    const v = { b: 1, a: ["é", true, null] };
    const text = '{"a":["é",true,null],"b":1}';
    expect(canonicalBytes(v).equals(Buffer.from(text, "utf8"))).toBe(true);
    expect(canonicalDigest(v)).toBe(`sha256:${createHash("sha256").update(text, "utf8").digest("hex")}`);
    expect(canonicalDigest({})).toBe("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  });

  it("handles deep nesting without recursion limits", () => {
    for (const depth of [1000, 100_000]) {
      let arr: unknown = 1;
      let obj: unknown = 1;
      for (let i = 0; i < depth; i++) {
        arr = [arr];
        obj = { k: obj };
      }
      expect(canonicalize(arr)).toBe(`${"[".repeat(depth)}1${"]".repeat(depth)}`);
      expect(canonicalize(obj)).toBe(`${'{"k":'.repeat(depth)}1${"}".repeat(depth)}`);
    }
    // A bad value deep down still gets its full path.
    let deep: unknown = [NaN];
    for (let i = 0; i < 1000; i++) deep = [deep];
    expectRejectedAt(deep, `$${"[0]".repeat(1001)}`);
  });
});

describe("canonicalize rejects what JSON cannot hold", () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }

  it("names the JSONPath of the offending value", () => {
    expectRejectedAt({ a: [1, 2, 3, { b: NaN }] }, "$.a[3].b", "cannot canonicalize NaN at $.a[3].b");
    expectRejectedAt({ "weird key": { "a-b": [Infinity] } }, '$["weird key"]["a-b"][0]', "Infinity");
    expectRejectedAt({ $ok_1: { "1x": -Infinity } }, '$.$ok_1["1x"]', "-Infinity");
    expectRejectedAt({ "": NaN }, '$[""]');
    expectRejectedAt({ 'q"uote': NaN }, '$["q\\"uote"]');
  });

  it("undefined as a value, member value, array element or hole", () => {
    expectRejectedAt(undefined, "$", "undefined");
    expectRejectedAt({ x: undefined }, "$.x", "undefined");
    expectRejectedAt([1, undefined], "$[1]", "undefined");
    // eslint-disable-next-line no-sparse-arrays
    expectRejectedAt([1, , 3], "$[1]", "undefined");
  });

  it("functions, symbols, BigInt", () => {
    expectRejectedAt({ f: () => 1 }, "$.f", "a function");
    expectRejectedAt([Symbol("s")], "$[0]", "a symbol");
    expectRejectedAt({ n: [10n] }, "$.n[0]", "a BigInt");
    expectRejectedAt({ [Symbol("k")]: 1 }, "$", "symbol-keyed");
  });

  it("cycles, but not shared siblings", () => {
    const o: Record<string, unknown> = { a: {} };
    (o["a"] as Record<string, unknown>)["self"] = o;
    expectRejectedAt(o, "$.a.self", "cyclic");
    const arr: unknown[] = [1];
    arr.push(arr);
    expectRejectedAt(arr, "$[1]", "cyclic");
    const inner: unknown[] = [];
    const outer = { list: [inner, inner] };
    inner.push({ back: inner });
    expectRejectedAt(outer, "$.list[0][0].back", "cyclic");
  });

  it("lone surrogates in strings and in member names", () => {
    expectRejectedAt({ k: "ok\ud800" }, "$.k", "lone surrogate");
    expectRejectedAt(["\udc00x"], "$[0]", "lone surrogate");
    expectRejectedAt("\ude00\ud83d", "$", "lone surrogate");
    expectRejectedAt({ a: { "\udc00": 1 } }, '$.a["\\udc00"]', "member name");
    expect(canonicalize({ "\ud83d\ude00": "\ud83d\ude00" })).toBe('{"\u{1f600}":"\u{1f600}"}');
  });

  it("non-plain objects", () => {
    expectRejectedAt({ d: new Date(0) }, "$.d", "(Date)");
    expectRejectedAt({ m: new Map() }, "$.m", "(Map)");
    expectRejectedAt({ s: new Set([1]) }, "$.s", "(Set)");
    expectRejectedAt({ p: new Point(1, 2) }, "$.p", "(Point)");
    expectRejectedAt({ b: Buffer.from("x") }, "$.b", "(Buffer)");
    expectRejectedAt([new Uint8Array(2)], "$[0]", "(Uint8Array)");
    expectRejectedAt([new Number(1)], "$[0]", "(Number)");
    expectRejectedAt([/re/], "$[0]", "(RegExp)");
    expectRejectedAt(Object.create({ inherited: 1 }) as object, "$", "a non-plain object (custom prototype)");
  });
});

describe("parseCanonical", () => {
  it("accepts canonical text and returns the value", () => {
    expect(parseCanonical('{"a":[1,"x"],"b":null}')).toEqual({ a: [1, "x"], b: null });
  });

  it.each([
    '{"b":1,"a":2}',
    '{ "a":1}',
    "[1, 2]",
    "1.0",
    "1E3",
    '"\\u0041"',
    '"\\/"',
    '{"a":1}\n',
    "-0",
    "1e400",
    '"\\ud800"',
    "{",
    "",
  ])("rejects %j", (text) => {
    const err = catchCairn(() => parseCanonical(text));
    expect(err.code).toBe(ErrorCode.CANONICAL);
    expect(err.message).toMatch(/^not canonical JSON/);
  });
});

describe("properties", () => {
  const unicodeJson = fc.jsonValue({ stringUnit: "binary" });

  it("is idempotent through JSON.parse and preserves the value", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), unicodeJson), (v) => {
        const c = canonicalize(v);
        expect(canonicalize(JSON.parse(c))).toBe(c);
        // Same value as JSON.stringify round-trips to (which also maps -0 to 0).
        expect(JSON.parse(c)).toEqual(JSON.parse(JSON.stringify(v)));
        expect(parseCanonical(c)).toEqual(JSON.parse(c));
      }),
      { numRuns: 300 },
    );
  });

  it("ignores key insertion order and sorts keys by code units", () => {
    const entries = fc.uniqueArray(fc.tuple(fc.string({ unit: "binary" }), unicodeJson), { selector: ([k]) => k, maxLength: 12 });
    fc.assert(
      fc.property(entries, fc.nat(), (es, rot) => {
        const a = Object.fromEntries(es);
        const rotated = es.length === 0 ? es : [...es.slice(rot % es.length), ...es.slice(0, rot % es.length)];
        const b = Object.fromEntries([...rotated].reverse());
        const c = canonicalize(a);
        expect(canonicalize(b)).toBe(c);
        const keys = es.map(([k]) => k);
        const sorted = [...keys].sort((x, y) => {
          for (let i = 0; i < Math.min(x.length, y.length); i++) {
            const d = x.charCodeAt(i) - y.charCodeAt(i);
            if (d !== 0) return d;
          }
          return x.length - y.length;
        });
        expect(canonicalize(Object.fromEntries(sorted.map((k) => [k, 0])))).toBe(`{${sorted.map((k) => `${JSON.stringify(k)}:0`).join(",")}}`);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects any string containing a lone surrogate", () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), lone, fc.string({ unit: "binary" }), (pre, s, post) => {
        // The "x" on either side keeps the surrogate from pairing with a neighbour.
        const v = `${pre}x${s}x${post}`;
        expect(() => canonicalize({ v })).toThrow(CairnError);
        expect(() => canonicalize({ [v]: 1 })).toThrow(CairnError);
        expect(() => canonicalize(`${pre}${post}`)).not.toThrow();
      }),
    );
  });
});
