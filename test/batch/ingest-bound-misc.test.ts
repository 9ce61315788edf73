/**
 * The ingest's csv line bound names the header when the long line is in it (line-bound.ts,
 * csv.ts csvHeaderTooLargeError): before, a header line over the limit was reported as
 * `line is longer than the record size limit of N bytes (so is the record holding it)`, though
 * the header is not a record; now it is the reader's own error (`header: the header is larger
 * than …`, at the line where the header starts). A line after the header gets the reader's error for the record holding it (csv-bound.ts).
 *
 * And one BOM rule (utf8.ts BomStrip) for the readers (source.ts inputChunks) and the ingest's
 * bounds: a leading BOM, however the chunks cut it, is removed once.
 */
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../../src/core/errors.js";
import { ingest } from "../../src/batch/ingest.js";
import { readRecords } from "../../src/batch/input/readers.js";
import { LineBound } from "../../src/batch/input/line-bound.js";
import { BomStrip, startsWithBom } from "../../src/batch/input/utf8.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";
import { boundFailure, failure, type Failure } from "./fixtures/bound-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

async function readerFailure(bytes: Buffer, max: number): Promise<Failure | undefined> {
  try {
    for await (const _ of readRecords("-", { format: "csv", maxRecordBytes: max, displayName: "in" }, Readable.from([bytes]))) void _;
  } catch (err) {
    return failure(err);
  }
  return undefined;
}

const MAX = 10;
const header = (line: number): Failure => ({
  code: ErrorCode.LIMIT_EXCEEDED,
  message: `in:${line}: header: the header is larger than the record size limit of ${MAX} bytes`,
  details: { file: "in", line, limit: MAX },
});

describe("csv: a line over the limit inside the header is the reader's header error", () => {
  const cases: Array<[string, string, number]> = [
    ["the first line", `${"a,".repeat(8)}b\n1\n`, 1],
    ["the first line, no LF, after a BOM", `\uFEFF${"a".repeat(MAX + 5)}`, 1],
    ["the first line after empty lines (LF, CR LF)", `\n\r\n${"a".repeat(MAX + 1)}\r\n1\n`, 3],
    ["the second line of a quoted column name spanning lines", `"a\n${"b".repeat(MAX + 1)}"\n1\n`, 1],
  ];
  for (const [what, text, line] of cases) {
    it(what, async () => {
      const bytes = Buffer.from(text);
      expect(await readerFailure(bytes, MAX)).toEqual(header(line));
      for (const sizes of [[bytes.length], [1], [3, 7]]) expect(boundFailure(new LineBound(MAX, "in", "csv"), bytes, sizes)).toEqual(header(line));
    });
  }

  it("a long line after the header gets the reader's error for the record holding it, at the line where that record starts", async () => {
    const bytes = Buffer.from(`a,b\n"x\n${"y".repeat(MAX + 1)}",1\n`);
    const record: Failure = {
      code: ErrorCode.LIMIT_EXCEEDED,
      message: `in:2: record 0: the record is larger than the record size limit of ${MAX} bytes`,
      details: { file: "in", line: 2, limit: MAX, index: 0 },
    };
    expect(boundFailure(new LineBound(MAX, "in", "csv"), bytes, [4])).toEqual(record);
    expect(await readerFailure(bytes, MAX)).toEqual(record);
    // A header of doubled quotes ends at its LF: the next long line is a record's.
    expect(boundFailure(new LineBound(MAX, "in", "csv"), Buffer.from(`"a""b",c\n${"z".repeat(MAX + 1)}\n`), [5])?.message).toBe(
      `in:2: record 0: the record is larger than the record size limit of ${MAX} bytes`,
    );
  });

  it("ingest(): an endless header line on stdin stops the copy with the header's error", async () => {
    const { store } = scratch.store();
    const limit = 64 * 1024;
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        if (pulled > 8 * limit) throw new Error("the header line was not refused while stored");
        pulled += 4096;
        yield Buffer.alloc(4096, "h");
      }
    }
    const e = await expectCairnError(ingest(store, "-", "csv", Readable.from(endless()), undefined, limit), ErrorCode.LIMIT_EXCEEDED);
    expect(failure(e)).toEqual({ code: ErrorCode.LIMIT_EXCEEDED, message: `<stdin>:1: header: the header is larger than the record size limit of ${limit} bytes`, details: { file: "<stdin>", line: 1, limit } });
  });

  it("property: a header error of the bound is the reader's error whenever the reader refuses for size; the bound refuses only what the reader refuses", async () => {
    const input = fc
      .tuple(fc.boolean(), fc.array(fc.constantFrom("a", ",", '"', "\r", "\n", "\r\n", '""', "aaaa"), { maxLength: 40 }))
      .map(([bom, cs]) => Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(cs.join(""))]));
    const chunking = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(input, chunking, async (bytes, sizes) => {
        const mine = boundFailure(new LineBound(6, "in", "csv"), bytes, sizes);
        const theirs = await readerFailure(bytes, 6);
        if (mine === undefined) return;
        expect(theirs).toBeDefined();
        if (mine.message.includes(": header: ") && theirs?.code === ErrorCode.LIMIT_EXCEEDED) expect(mine).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("one BOM rule (utf8.ts BomStrip) for the readers and the bounds", () => {
  it("removes one leading BOM however the chunks cut it; shorter inputs that look like its start are data", () => {
    const bytes = fc.array(fc.constantFrom(0xef, 0xbb, 0xbf, 0x61, 0x0a), { maxLength: 8 }).map((b) => Buffer.from(b));
    fc.assert(
      fc.property(fc.oneof(bytes, bytes.map((b) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]))), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1 }), (all, sizes) => {
        const strip = new BomStrip();
        const out: Buffer[] = [];
        for (let p = 0, k = 0; p < all.length; k++) {
          const n = sizes[k % sizes.length] as number;
          out.push(strip.push(all.subarray(p, p + n)));
          p += Math.max(n, 1);
          if (n === 0) out.push(strip.push(all.subarray(p - 1, p)));
        }
        out.push(strip.end());
        expect(Buffer.concat(out)).toEqual(startsWithBom(all) ? all.subarray(3) : all);
      }),
      { numRuns: 2000 },
    );
  });

  it("the readers (inputChunks) and LineBound: a BOM split across chunks is not part of the first line", async () => {
    const bytes = Buffer.from(`\uFEFF${"a".repeat(MAX)}\n`);
    const pieces = [bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)];
    const lines: unknown[] = [];
    for await (const r of readRecords("-", { format: "lines", maxRecordBytes: MAX, displayName: "in" }, Readable.from(pieces))) lines.push(r.input);
    expect(lines).toEqual(["a".repeat(MAX)]);
    const b = new LineBound(MAX, "in", "lines");
    for (const p of pieces) b.push(p);
    expect(() => b.end()).not.toThrow();
    const short = new LineBound(1, "in", "lines");
    short.push(Buffer.from([0xef, 0xbb])); // not a BOM after all: its 2 bytes are the line's
    expect(() => short.end()).toThrow("in:1: record 0: line is longer than the record size limit of 1 bytes");
  });
});
