/**
 * UAT 8: the record size limit is applied while a `lines`/`jsonl` input is copied into the store
 * (ingest.ts, input/line-bound.ts LineBound), not only when the run reads it back: an input without a
 * newline (`--input /dev/zero`, an endless stdin) used to grow the store's `tmp/…part` until the
 * process was killed, and a finite long line was copied whole before it was refused.
 *
 * The refusal is the reader's own error for that line (same message, line, record index and
 * limit; with the run's `--max-memory` hint), the failed put leaves no temp file, and nothing near
 * the line's size is stored. A line exactly at the limit still runs.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { ingest } from "../../src/batch/ingest.js";
import { workerInputBytes } from "../../src/batch/config.js";
import { readRecords } from "../../src/batch/input/readers.js";
import { LineBound } from "../../src/batch/input/line-bound.js";
import type { InputFormat } from "../../src/batch/input/types.js";
import { Scratch, expectCairnError, outputsOf } from "./fixtures/engine-helpers.js";
import { boundFailure, filesUnder } from "./fixtures/bound-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** The smallest --max-memory (32 MiB): the record size limit is then 8 MiB. */
const MAX_MEMORY = 32 * 1024 * 1024;
const LIMIT = workerInputBytes({ maxMemoryBytes: MAX_MEMORY });
const FN = { code: "export default (x) => (typeof x === 'string' ? x.length : x);" };
const CHUNK = 64 * 1024;

/** `head`, then 'a' bytes without end (or until `cap` bytes were pulled: then a plain Error, which fails the tests). */
function endless(head: string, pulled: { bytes: number }, cap = 4 * LIMIT): Readable {
  const a = Buffer.alloc(CHUNK, "a");
  async function* gen(): AsyncGenerator<Buffer> {
    const h = Buffer.from(head);
    pulled.bytes += h.length;
    yield h;
    for (;;) {
      if (pulled.bytes > cap) throw new Error(`pulled ${pulled.bytes} bytes: the line was not refused while stored`);
      pulled.bytes += a.length;
      yield a;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/** The reader's error for `bytes` read with the run's limit (what the run reports when it reads them back). */
async function readerError(format: InputFormat, bytes: Buffer, display: string): Promise<CairnError> {
  try {
    for await (const _ of readRecords("-", { format, maxRecordBytes: LIMIT, displayName: display }, Readable.from([bytes]))) void _;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("the reader accepted the input");
}

/** No temp file is left in the store's tmp/, and no stored object is anywhere near the line's size. */
function expectNothingLarge(storeDir: string): void {
  expect(filesUnder(join(storeDir, "tmp"))).toEqual([]);
  const big = filesUnder(join(storeDir, "objects")).filter(([, size]) => size > 1024 * 1024);
  expect(big).toEqual([]);
}

const HEADS: Record<"lines" | "jsonl", { head: string; line: number; index: number }> = {
  // lines: every line is a record (the empty one too).
  lines: { head: "x\n\ny\r\nz\n", line: 5, index: 4 },
  // jsonl: blank lines (only space, tab, CR) are not records.
  jsonl: { head: '{"a":1}\n\n \t\r\n{"b":2}\r\n', line: 5, index: 2 },
};

describe("a line over the limit stops the copy into the store", () => {
  for (const format of ["lines", "jsonl"] as const) {
    it(`${format}: an endless stdin without a newline is E_LIMIT_EXCEEDED with the reader's message, soon, leaving no temp file`, async () => {
      const { store, dir } = scratch.store();
      const { head, line, index } = HEADS[format];
      const pulled = { bytes: 0 };
      const e = await expectCairnError(run(store, "-", FN, { format, workers: 1, maxMemoryBytes: MAX_MEMORY }, { stdin: endless(head, pulled) }), ErrorCode.LIMIT_EXCEEDED);
      // The reader's error for the same bytes, cut just past the point where it refuses.
      const expected = await readerError(format, Buffer.concat([Buffer.from(head), Buffer.alloc(LIMIT + 2, "a")]), "<stdin>");
      expect(expected.code).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect(expected.message).toBe(`<stdin>:${line}: record ${index}: line is longer than the record size limit of ${LIMIT} bytes`);
      expect(e.message.startsWith(`${expected.message} `)).toBe(true); // then the run's --max-memory hint
      expect(e.message).toContain("--max-memory");
      expect(e.details).toEqual(expected.details);
      expect(e.details).toEqual({ file: "<stdin>", line, index, limit: LIMIT });
      // Refused once about the limit was copied (plus a read chunk and the stream's buffer).
      expect(pulled.bytes).toBeLessThan(LIMIT + 1024 * 1024);
      expectNothingLarge(dir);
    });
  }

  it("csv: an endless stdin without a newline is E_LIMIT_EXCEEDED with the reader's error for the record holding it, leaving no temp file", async () => {
    const { store, dir } = scratch.store();
    const pulled = { bytes: 0 };
    const head = 'a,b\n1,"x\ny"\n';
    const e = await expectCairnError(run(store, "-", FN, { format: "csv", workers: 1, maxMemoryBytes: MAX_MEMORY }, { stdin: endless(head, pulled) }), ErrorCode.LIMIT_EXCEEDED);
    expect(e.message.startsWith(`<stdin>:4: record 1: the record is larger than the record size limit of ${LIMIT} bytes `)).toBe(true);
    expect(e.details).toEqual({ file: "<stdin>", line: 4, limit: LIMIT, index: 1 });
    expect(pulled.bytes).toBeLessThan(LIMIT + 1024 * 1024);
    const reader = await readerError("csv", Buffer.concat([Buffer.from(head), Buffer.alloc(LIMIT + 2, "a")]), "<stdin>");
    expect([reader.code, reader.message]).toEqual([ErrorCode.LIMIT_EXCEEDED, `<stdin>:4: record 1: the record is larger than the record size limit of ${LIMIT} bytes`]);
    expectNothingLarge(dir);
  });

  it("ingest() alone (a caller passing the limit): an endless jsonl stdin is refused, nothing is left in tmp/", async () => {
    const { store, dir } = scratch.store();
    const pulled = { bytes: 0 };
    const e = await expectCairnError(ingest(store, "-", "jsonl", endless("", pulled), undefined, LIMIT), ErrorCode.LIMIT_EXCEEDED);
    expect(e.message).toBe(`<stdin>:1: record 0: line is longer than the record size limit of ${LIMIT} bytes`);
    expect(pulled.bytes).toBeLessThan(LIMIT + 1024 * 1024);
    expectNothingLarge(dir);
  });

  for (const format of ["lines", "jsonl"] as const) {
    it(`${format}: a finite file with a long line (3 × the limit) is refused without the input being stored`, async () => {
      const { store, dir } = scratch.store();
      const { head, line, index } = HEADS[format];
      const bytes = Buffer.concat([Buffer.from(head), Buffer.alloc(3 * LIMIT, "a"), Buffer.from('\n{"c":3}\n')]);
      const path = join(scratch.dir(), `long.${format}`);
      writeFileSync(path, bytes);
      const e = await expectCairnError(run(store, path, FN, { format, workers: 1, maxMemoryBytes: MAX_MEMORY }), ErrorCode.LIMIT_EXCEEDED);
      const expected = await readerError(format, bytes, path);
      expect(e.message.startsWith(`${expected.message} `)).toBe(true);
      expect(e.details).toEqual({ file: path, line, index, limit: LIMIT });
      expectNothingLarge(dir);
    });
  }

  it("a leading BOM is not part of the first line; a CR LF line at the limit runs, one byte more is refused", async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const atLimit = Buffer.concat([bom, Buffer.alloc(LIMIT, "a"), Buffer.from("\r\nb\n")]);
    {
      const { store } = scratch.store();
      // In pieces that cut the BOM and the CR LF apart.
      const pieces = [atLimit.subarray(0, 1), atLimit.subarray(1, 5), atLimit.subarray(5, LIMIT + 4), atLimit.subarray(LIMIT + 4)];
      const r = await run(store, "-", FN, { format: "lines", workers: 1, maxMemoryBytes: MAX_MEMORY }, { stdin: Readable.from(pieces) });
      expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([LIMIT, 1]);
    }
    {
      const { store, dir } = scratch.store();
      const over = Buffer.concat([bom, Buffer.alloc(LIMIT + 1, "a"), Buffer.from("\r\nb\n")]);
      const e = await expectCairnError(run(store, "-", FN, { format: "jsonl", workers: 1, maxMemoryBytes: MAX_MEMORY }, { stdin: Readable.from([over]) }), ErrorCode.LIMIT_EXCEEDED);
      expect(e.details).toEqual({ file: "<stdin>", line: 1, index: 0, limit: LIMIT });
      expectNothingLarge(dir);
    }
  });

  it("an in-memory dataset: an element whose canonical line passes the limit is refused while stored", async () => {
    const { store, dir } = scratch.store();
    const e = await expectCairnError(run(store, [1, "x".repeat(LIMIT)], FN, { workers: 1, maxMemoryBytes: MAX_MEMORY }), ErrorCode.LIMIT_EXCEEDED);
    expect(e.details).toEqual({ file: "<memory>", line: 2, index: 1, limit: LIMIT });
    expect(e.message.startsWith(`<memory>:2: record 1: line is longer than the record size limit of ${LIMIT} bytes `)).toBe(true);
    expectNothingLarge(dir);
  });
});

async function readError(format: InputFormat, bytes: Buffer, max: number): Promise<{ code: string; message: string; details: unknown } | undefined> {
  try {
    for await (const _ of readRecords("-", { format, maxRecordBytes: max, displayName: "in" }, Readable.from([bytes]))) void _;
  } catch (err) {
    const e = err as CairnError;
    return { code: e.code, message: e.message, details: e.details };
  }
  return undefined;
}

describe("LineBound agrees with the readers (small limits, any chunking)", () => {
  const MAX = 6;
  const input = (alphabet: string[]): fc.Arbitrary<Buffer> =>
    fc.tuple(fc.boolean(), fc.array(fc.constantFrom(...alphabet), { maxLength: 40 })).map(([bom, cs]) => Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(cs.join(""))]));
  const chunking = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 });

  for (const format of ["lines", "jsonl"] as const) {
    it(`${format}: refuses exactly the inputs the reader refuses for a line's size, with the reader's error; nothing the reader accepts`, async () => {
      await fc.assert(
        fc.asyncProperty(input(["1", "2", " ", "\t", "\r", "\n", "\r\n", "é"]), chunking, async (bytes, sizes) => {
          const mine = boundFailure(new LineBound(MAX, "in", format), bytes, sizes);
          const theirs = await readError(format, bytes, MAX);
          if (theirs === undefined || theirs.code === ErrorCode.LIMIT_EXCEEDED) expect(mine).toEqual(theirs);
          else if (mine !== undefined) expect(mine.code).toBe(ErrorCode.LIMIT_EXCEEDED); // an earlier error of the reader (invalid JSON)
        }),
        { numRuns: 2000 },
      );
    });
  }

  it("csv: refuses only what the reader refuses (a line over the limit is in a record over it)", async () => {
    await fc.assert(
      fc.asyncProperty(input(["a", ",", '"', "\r", "\n", "\r\n", '""']), chunking, async (bytes, sizes) => {
        const mine = boundFailure(new LineBound(MAX, "in", "csv"), bytes, sizes);
        const theirs = await readError("csv", bytes, MAX);
        if (mine !== undefined) expect(theirs).toBeDefined();
        if (theirs === undefined) expect(mine).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });
});
