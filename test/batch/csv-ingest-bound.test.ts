/**
 * The record size limit bounds a `csv` input's RECORDS while it is copied into the store
 * (input/csv-bound.ts CsvRecordBound, through line-bound.ts LineBound and ingest.ts), not only its
 * physical lines: a record whose quoted field stays open over an endless stream of short lines
 * (`a,b` then `1,"` then `x` lines for ever, from a generator piped to `--input -`), or a header
 * whose quoted column name does, used to be copied whole into the store (unbounded disk) before
 * the reader refused it. Now it is refused once about the limit has come, with the reader's own
 * error (csv.ts: `record N: the record is larger than …` at the line where the record starts,
 * `header: the header is larger than …`), and nothing the reader accepts is refused.
 */
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { ingest } from "../../src/batch/ingest.js";
import { workerInputBytes } from "../../src/batch/config.js";
import { readRecords } from "../../src/batch/input/readers.js";
import { CsvRecordBound } from "../../src/batch/input/csv-bound.js";
import { LineBound } from "../../src/batch/input/line-bound.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";
import { boundFailure, failure, filesUnder, type Failure } from "./fixtures/bound-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** `head`, then `line` without end, in pieces of about 64 KiB; a plain Error (failing the test) once more than `cap` bytes were pulled. */
function endless(head: string, line: string, pulled: { bytes: number }, cap: number): Readable {
  const piece = Buffer.from(line.repeat(Math.ceil((64 * 1024) / line.length)));
  async function* gen(): AsyncGenerator<Buffer> {
    const h = Buffer.from(head);
    pulled.bytes += h.length;
    yield h;
    for (;;) {
      if (pulled.bytes > cap) throw new Error(`pulled ${pulled.bytes} bytes: the record was not refused while stored`);
      pulled.bytes += piece.length;
      yield piece;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/** The reader's error for `bytes` (or undefined when it reads them all). */
async function readerFailure(bytes: Buffer, max: number, display = "in"): Promise<Failure | undefined> {
  try {
    for await (const _ of readRecords("-", { format: "csv", maxRecordBytes: max, displayName: display }, Readable.from([bytes]))) void _;
  } catch (err) {
    return failure(err);
  }
  return undefined;
}

/** No temp file is left in the store's tmp/, and no stored object is larger than 1 MiB. */
function expectNothingLarge(storeDir: string): void {
  expect(filesUnder(join(storeDir, "tmp"))).toEqual([]);
  expect(filesUnder(join(storeDir, "objects")).filter(([, size]) => size > 1024 * 1024)).toEqual([]);
}

const LIMIT = 64 * 1024;

describe("csv: a record over the limit that spans many short lines stops the copy into the store", () => {
  it("ingest(): a quoted field left open over endless short lines is the reader's record error, soon, leaving nothing", async () => {
    const { store, dir } = scratch.store();
    const pulled = { bytes: 0 };
    const head = 'a,b\n\r\nx,y\n1,"';
    const e = await expectCairnError(ingest(store, "-", "csv", endless(head, "x\n", pulled, 16 * LIMIT), undefined, LIMIT), ErrorCode.LIMIT_EXCEEDED);
    const expected: Failure = {
      code: ErrorCode.LIMIT_EXCEEDED,
      message: `<stdin>:4: record 1: the record is larger than the record size limit of ${LIMIT} bytes`,
      details: { file: "<stdin>", line: 4, limit: LIMIT, index: 1 },
    };
    expect(failure(e)).toEqual(expected);
    // The reader's error for the same bytes, cut just past where it refuses.
    expect(await readerFailure(Buffer.from(head + "x\n".repeat(LIMIT)), LIMIT, "<stdin>")).toEqual(expected);
    // Refused once about the limit had come (plus a piece and the stream's buffer).
    expect(pulled.bytes).toBeLessThan(LIMIT + 256 * 1024);
    expectNothingLarge(dir);
  });

  it("run() from stdin: the same, with the run's limit and its --max-memory hint", async () => {
    const { store, dir } = scratch.store();
    const maxMemoryBytes = 32 * 1024 * 1024;
    const limit = workerInputBytes({ maxMemoryBytes });
    const pulled = { bytes: 0 };
    const fn = { code: "export default (x) => x;" };
    const e = await expectCairnError(run(store, "-", fn, { format: "csv", workers: 1, maxMemoryBytes }, { stdin: endless('a,b\n1,"', "x\n", pulled, 4 * limit) }), ErrorCode.LIMIT_EXCEEDED);
    expect(e.message.startsWith(`<stdin>:2: record 0: the record is larger than the record size limit of ${limit} bytes `)).toBe(true);
    expect(e.message).toContain("--max-memory");
    expect(e.details).toEqual({ file: "<stdin>", line: 2, limit, index: 0 });
    expect(pulled.bytes).toBeLessThan(limit + 1024 * 1024);
    expectNothingLarge(dir);
  });

  it("ingest(): a header whose quoted column name holds endless short lines is the reader's header error (after empty lines and a BOM)", async () => {
    const { store, dir } = scratch.store();
    const pulled = { bytes: 0 };
    const head = '\uFEFF\n\r\n"a';
    const e = await expectCairnError(ingest(store, "-", "csv", endless(head, "\r\n", pulled, 16 * LIMIT), undefined, LIMIT), ErrorCode.LIMIT_EXCEEDED);
    const expected: Failure = {
      code: ErrorCode.LIMIT_EXCEEDED,
      message: `<stdin>:3: header: the header is larger than the record size limit of ${LIMIT} bytes`,
      details: { file: "<stdin>", line: 3, limit: LIMIT },
    };
    expect(failure(e)).toEqual(expected);
    expect(await readerFailure(Buffer.from(head + "\r\n".repeat(LIMIT)), LIMIT, "<stdin>")).toEqual(expected);
    expect(pulled.bytes).toBeLessThan(LIMIT + 256 * 1024);
    expectNothingLarge(dir);
  });

  it("the limit is exact: a record of N bytes over many lines (CR LF inside it, cut anywhere) is accepted, N + 1 refused", async () => {
    // Record 0 starts on line 2: `1,"` + 8 × `x\r\n` + `"` = 3 + 24 + 1 = 28 bytes; the limit set around it.
    const text = `a,b\n1,"${"x\r\n".repeat(8)}"\r\n2,3\n`;
    const bytes = Buffer.from(text);
    for (const [limit, verdict] of [
      [28, undefined],
      [27, { code: ErrorCode.LIMIT_EXCEEDED, message: `in:2: record 0: the record is larger than the record size limit of 27 bytes`, details: { file: "in", line: 2, limit: 27, index: 0 } }],
    ] as const) {
      expect(await readerFailure(bytes, limit)).toEqual(verdict);
      for (const sizes of [[bytes.length], [1], [2, 5], [20]]) expect(boundFailure(new LineBound(limit, "in", "csv"), bytes, sizes)).toEqual(verdict);
    }
  });

  it("LineBound(…, 'csv'), ingest's csv bound, is the record bound (CsvRecordBound)", () => {
    const bytes = Buffer.from(`a,b\n1,"${"x\n".repeat(10)}"\n`);
    const expected = "in:2: record 0: the record is larger than the record size limit of 10 bytes";
    expect(boundFailure(new LineBound(10, "in", "csv"), bytes, [3])?.message).toBe(expected);
    expect(boundFailure(new CsvRecordBound(10, "in"), bytes, [3])?.message).toBe(expected);
  });
});

describe("property: the ingest's csv bound (LineBound 'csv') refuses exactly the records the reader refuses for their size", () => {
  const input = fc
    .tuple(fc.boolean(), fc.array(fc.constantFrom("a", "b", ",", '"', "\r", "\n", "\r\n", '""', "aaa", "\n\n"), { maxLength: 48 }))
    .map(([bom, cs]) => Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(cs.join(""))]));
  /** Inputs the reader mostly accepts: a header `a,b` and records of two fields, quoted or not, spanning lines. */
  const field = fc.oneof(fc.constantFrom("", "x", "xy", "xyz"), fc.array(fc.constantFrom("x", "\n", "\r\n", '""', ",", "\r"), { maxLength: 6 }).map((cs) => `"${cs.join("")}"`));
  const valid = fc
    .tuple(fc.boolean(), fc.array(fc.tuple(field, field, fc.constantFrom("\n", "\r\n", "\n\n", "\r\n\r\n")), { maxLength: 6 }), fc.boolean())
    .map(([bom, rows, lastEol]) => {
      let text = "a,b\n";
      rows.forEach(([x, y, eol], i) => (text += `${x},${y}${i < rows.length - 1 || lastEol ? eol : ""}`));
      return Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text)]);
    });
  const chunking = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 });
  const limit = fc.integer({ min: 1, max: 20 });

  for (const [what, arb] of [
    ["random bytes of CSV's alphabet", input],
    ["well-formed CSV with multi-line quoted fields", valid],
  ] as const) {
    it(what, async () => {
      await fc.assert(
        fc.asyncProperty(arb, limit, chunking, async (bytes, max, sizes) => {
          const mine = boundFailure(new LineBound(max, "in", "csv"), bytes, sizes);
          const theirs = await readerFailure(bytes, max);
          if (theirs === undefined || theirs.code === ErrorCode.LIMIT_EXCEEDED) expect(mine).toEqual(theirs);
          // An earlier error of the reader (a parse error, quotes that are not RFC 4180): the bound
          // does not look for it, and may refuse the input for a record's size instead.
          else if (mine !== undefined) expect(mine.code).toBe(ErrorCode.LIMIT_EXCEEDED);
        }),
        { numRuns: 2000 },
      );
    });
  }
});
