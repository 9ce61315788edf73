import { describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import fc from "fast-check";
import { canonicalStringByteLength, canonicalText, FAST_CANONICAL_MAX_DEPTH } from "../../src/batch/canonical-text.js";

function same(v: unknown): void {
  let want: string | Error;
  try {
    want = canonicalize(v);
  } catch (err) {
    want = err as Error;
  }
  if (typeof want === "string") expect(canonicalText(v)).toBe(want);
  else expect(() => canonicalText(v)).toThrow(want.message);
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = ["a", "z", "A", "é", "\u2028", "\n", "\t", "\u0001", '"', "\\", "😀", "\ud800", "\udc00", "0", " ", "\u007f", "ÿ", "\uffff"];

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 4 ? 5 : 8));
  const str = (): string => Array.from({ length: Math.floor(r() * 5) }, () => CHARS[Math.floor(r() * CHARS.length)]).join("");
  switch (k) {
    case 0:
      return str();
    case 1:
      return [0, -0, 1.5, -1e21, 1e21, 5e-324, 2 ** 53 + 2, 0.1 + 0.2, Number.NaN, Infinity][Math.floor(r() * 10)];
    case 2:
      return r() < 0.5;
    case 3:
      return null;
    case 4:
      return Math.floor(r() * 1e6) - 5e5;
    case 5:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) o[str()] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe("canonicalText (the fast path to canonical JSON)", () => {
  it("matches canonicalize on edge cases, and throws its errors", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    let deep: unknown = 1;
    for (let i = 0; i < FAST_CANONICAL_MAX_DEPTH + 5; i++) deep = [deep];
    const cases: unknown[] = [
      0, -0, 1e21, 1e-7, 123, "plain", "", "\ud83d\ude00", "lone \ud800", true, false, null,
      { b: 1, a: [1, "x", { d: null, c: -0 }], "é": 2, "\ud83d\ude00": 3, "\uffff": 4, "": 5 },
      { "lone \udc00": 1 }, [1, undefined], new Array<unknown>(3).fill(1, 0, 1), { f: () => 1 }, { n: Number.NaN }, { i: -Infinity }, { b: 1n },
      Object.create(null) as unknown, Object.assign(Object.create(null) as object, { z: 1, y: 2 }), new Date(0), Buffer.from("x"),
      { [Symbol("s")]: 1, a: 1 }, cyclic, deep, { toJSON: "not a function" },
    ];
    for (const v of cases) same(v);
  });

  it("matches canonicalize on 3,000 random values", () => {
    const r = rng(7);
    for (let i = 0; i < 3000; i++) same(randomValue(r, 0));
  });

  it("canonicalStringByteLength is the UTF-8 length of the string's canonical text, undefined without one (fast-check)", () => {
    const units = fc.constantFrom(...CHARS, "\b", "\f", "\r", "\u001f", "\u0000", "߿", "ࠀ", "\ud83d\ude00", "\udbff\udfff");
    const arbitrary = fc.oneof(fc.string({ unit: "binary" }), fc.array(units, { maxLength: 40 }).map((a) => a.join("")));
    fc.assert(
      fc.property(arbitrary, (s) => {
        let text: string | undefined;
        try {
          text = canonicalize(s);
        } catch {
          text = undefined;
        }
        expect(canonicalStringByteLength(s)).toBe(text === undefined ? undefined : Buffer.byteLength(text, "utf8"));
      }),
      { numRuns: 5000 },
    );
  });
});
