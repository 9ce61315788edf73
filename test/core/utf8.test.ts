import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstInvalidUtf8Line, strictUtf8 } from "../../src/core/utf8.js";

describe("strictUtf8", () => {
  it("decodes valid UTF-8 exactly (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(strictUtf8(Buffer.from(s, "utf8"))).toEqual({ text: s });
      }),
    );
  });

  it("names the 1-based line of the first invalid sequence instead of decoding it as U+FFFD", () => {
    expect(strictUtf8(Buffer.from([0xff]))).toEqual({ invalidLine: 1 });
    expect(strictUtf8(Buffer.concat([Buffer.from("a\nbé\n"), Buffer.from([0x63, 0xc3]), Buffer.from("\nd\xff")]))).toEqual({ invalidLine: 3 });
    // a lone surrogate encoded as UTF-8 (CESU) is not UTF-8
    expect(strictUtf8(Buffer.from([0x7b, 0x0a, 0xed, 0xa0, 0x80]))).toEqual({ invalidLine: 2 });
    expect(firstInvalidUtf8Line(Buffer.from("x\ny\n"))).toBe(-1);
  });

  it("finds the line of an invalid byte inserted anywhere (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme" }).map((s) => s.replace(/\n/g, "")), { minLength: 1, maxLength: 8 }), fc.nat(), (lines, k) => {
        const at = k % lines.length;
        const bufs = lines.map((l, i) => (i === at ? Buffer.concat([Buffer.from(l), Buffer.from([0xfe])]) : Buffer.from(l)));
        const joined = Buffer.concat(bufs.flatMap((b, i) => (i === 0 ? [b] : [Buffer.from("\n"), b])));
        expect(strictUtf8(joined)).toEqual({ invalidLine: at + 1 });
      }),
    );
  });
});
