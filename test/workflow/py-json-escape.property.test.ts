/**
 * The JSON string escapers (py/json.ts `rawJsonString`, `asciiJsonString`) write exactly the bytes
 * of their former character-by-character form (kept below as the reference) for every string:
 * lone and paired surrogates, C0 controls, DEL, non-ASCII, quotes and backslashes, and the
 * lone-surrogate refusal / `escapeLone` form of the pretty encoder.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { asciiJsonString, prettyJson, rawJsonString, type PyValue } from "../../src/workflow/py/index.js";

// ---- reference: the implementation before UAT-2 F1, verbatim but for names ----
const SHORT_ESCAPES: Readonly<Record<number, string>> = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;
const PLAIN_ASCII_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const hex4 = (c: number): string => `\\u${c.toString(16).padStart(4, "0")}`;
const pathText = (path: readonly (number | string)[]): string => `$${path.map((seg) => `[${typeof seg === "number" ? seg : JSON.stringify(seg)}]`).join("")}`;

function oldEncodeAscii(s: string): string {
  if (PLAIN_ASCII_RE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    else out += hex4(c);
  }
  return `${out}"`;
}

function oldRawJsonString(s: string, path: readonly (number | string)[] = [], escapeLone = false): string {
  if (LONE_SURROGATE_RE.test(s)) {
    if (escapeLone) return oldWithLoneSurrogatesEscaped(s, path);
    const at = pathText(path);
    throw new Error(`cannot serialise a string with a lone surrogate (not encodable as UTF-8) at ${at} as JSON`);
  }
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += hex4(c);
    else out += s[i];
  }
  return `${out}"`;
}

function oldWithLoneSurrogatesEscaped(s: string, path: readonly (number | string)[]): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    if (pair) {
      i++;
      continue;
    }
    out += oldRawJsonString(s.slice(from, i), path).slice(1, -1) + hex4(c);
    from = i + 1;
  }
  return `"${out}${oldRawJsonString(s.slice(from), path).slice(1, -1)}"`;
}
// ---- end of reference ----

/** The outcome of `fn`: its text, or the message of what it threw. */
function outcome(fn: () => string): { text: string } | { threw: string } {
  try {
    return { text: fn() };
  } catch (err) {
    return { threw: (err as Error).message };
  }
}

/** Any UTF-16 code unit (lone surrogates included), biased towards the ones the escapers treat specially. */
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.constantFrom('"', "\\", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x20", "\x7e", "\x7f", "\x80", "\u00e9", "\u2028", "\ufeff", "\uffff", "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d\ude00", "/") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
);
const str = fc.string({ unit, maxLength: 80 });
const path = fc.array(fc.oneof(fc.nat(20), fc.string({ unit, maxLength: 4 })), { maxLength: 3 });
const RUNS = { numRuns: 5000 };

describe("JSON string escaping is byte-identical to the character-by-character reference", () => {
  it("rawJsonString (ensure_ascii=False): text, and the lone-surrogate refusal", () => {
    fc.assert(
      fc.property(str, path, (s, p) => {
        expect(outcome(() => rawJsonString(s, p))).toEqual(outcome(() => oldRawJsonString(s, p)));
      }),
      RUNS,
    );
  });

  it("rawJsonString with escapeLone (lone surrogates as \\uXXXX)", () => {
    fc.assert(
      fc.property(str, (s) => {
        expect(rawJsonString(s, [], true)).toBe(oldRawJsonString(s, [], true));
      }),
      RUNS,
    );
  });

  it("asciiJsonString (ensure_ascii=True), short strings (memoised) and long ones", () => {
    fc.assert(
      fc.property(str, fc.nat(4), (s, times) => {
        const long = s.repeat(times + 1) + "x".repeat(257);
        expect(asciiJsonString(s)).toBe(oldEncodeAscii(s));
        expect(asciiJsonString(s)).toBe(oldEncodeAscii(s)); // from the memo
        expect(asciiJsonString(long)).toBe(oldEncodeAscii(long));
      }),
      RUNS,
    );
  });

  it("every single code unit, alone and between others, matches", () => {
    const differ: string[] = [];
    const same = (a: { text: string } | { threw: string }, b: { text: string } | { threw: string }): boolean => JSON.stringify(a) === JSON.stringify(b);
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      for (const s of [ch, `a${ch}b`, `${ch}${ch}`, `\ud83d${ch}`, `${ch}\ude00`]) {
        if (!same(outcome(() => rawJsonString(s)), outcome(() => oldRawJsonString(s)))) differ.push(`raw ${JSON.stringify(s)}`);
        if (rawJsonString(s, [], true) !== oldRawJsonString(s, [], true)) differ.push(`raw+escapeLone ${JSON.stringify(s)}`);
        if (asciiJsonString(s) !== oldEncodeAscii(s)) differ.push(`ascii ${JSON.stringify(s)}`);
      }
    }
    expect(differ).toEqual([]);
  }, 60_000);

  it("prettyJson of strings in a structure uses the same escaping", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(str, str), { maxLength: 4 }), (pairs) => {
        const v: PyValue = new Map(pairs.map(([k, x]) => [k, [x]] as [string, PyValue]));
        const expected = pairs.length === 0 ? "{}" : `{\n${[...new Map(pairs)].map(([k, x]) => `  ${oldRawJsonString(k, [], true)}: [\n    ${oldRawJsonString(x, [], true)}\n  ]`).join(",\n")}\n}`;
        expect(prettyJson(v, { escapeLoneSurrogates: true })).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
