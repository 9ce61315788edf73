/**
 * The record size limit is applied while a `json` input is copied into the store (ingest.ts,
 * input/json-array.ts JsonArrayBound: the reader's scanner in its measuring mode), not only when
 * the run reads it back. Before, `--input /dev/zero --format json`, one huge element or a
 * minified array without a newline grew the store's `tmp/…part` until the disk filled.
 *
 * An element over the limit is refused once about the limit of it was copied, with the reader's
 * own error (same code, message, details). Another error of the scanner (`/dev/zero`: not a JSON
 * array at its first byte) stops the copy once more than the limit has come after it, with the
 * reader's error too. Inputs the reader accepts (many small elements on one line, an element at
 * the limit, endless-looking whitespace) are stored as before, byte for byte.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { ingest } from "../../src/batch/ingest.js";
import { workerInputBytes } from "../../src/batch/config.js";
import { readRecords } from "../../src/batch/input/readers.js";
import { JsonArrayBound } from "../../src/batch/input/json-array.js";
import { Scratch, expectCairnError, outputsOf } from "./fixtures/engine-helpers.js";
import { boundFailure, failure, filesUnder, type Failure } from "./fixtures/bound-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** The smallest --max-memory (32 MiB): the record size limit is then 8 MiB. */
const MAX_MEMORY = 32 * 1024 * 1024;
const RUN_LIMIT = workerInputBytes({ maxMemoryBytes: MAX_MEMORY });
/** The limit ingest() is given directly (smaller: quicker tests). */
const LIMIT = 1024 * 1024;
const FN = { code: "export default (x) => (typeof x === 'string' ? x.length : x);" };
const CHUNK = 64 * 1024;

/** `head`, then `fill` bytes without end (or until `cap` bytes were pulled: then a plain Error, which fails the tests). */
function endless(head: Buffer, fill: number, pulled: { bytes: number }, cap: number): Readable {
  const body = Buffer.alloc(CHUNK, fill);
  async function* gen(): AsyncGenerator<Buffer> {
    pulled.bytes += head.length;
    yield head;
    for (;;) {
      if (pulled.bytes > cap) throw new Error(`pulled ${pulled.bytes} bytes: the input was not refused while stored`);
      pulled.bytes += body.length;
      yield body;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/** The json reader's error for `bytes` (what the run reports when it reads them back), or undefined. */
async function readerFailure(bytes: Buffer, max: number, display: string, pieces = [bytes]): Promise<Failure | undefined> {
  try {
    for await (const _ of readRecords("-", { format: "json", maxRecordBytes: max, displayName: display }, Readable.from(pieces))) void _;
  } catch (err) {
    return failure(err);
  }
  return undefined;
}

/** No temp file is left in the store's tmp/, and no stored object is anywhere near the input's size. */
function expectNothingLarge(storeDir: string): void {
  expect(filesUnder(join(storeDir, "tmp"))).toEqual([]);
  expect(filesUnder(join(storeDir, "objects")).filter(([, size]) => size > 512 * 1024)).toEqual([]);
}

describe("json: the copy into the store stops at about the limit", () => {
  it("a /dev/zero-like stdin (NUL bytes without end) is the reader's 'not a JSON array' error once the limit has come after it", async () => {
    const { store, dir } = scratch.store();
    const pulled = { bytes: 0 };
    const e = await expectCairnError(ingest(store, "-", "json", endless(Buffer.alloc(0), 0, pulled, 4 * LIMIT), undefined, LIMIT), ErrorCode.INVALID_INPUT);
    const expected = await readerFailure(Buffer.alloc(LIMIT + 2), LIMIT, "<stdin>");
    expect(expected).toEqual({
      code: ErrorCode.INVALID_INPUT,
      message: "<stdin>:1: not a JSON array: the input starts with byte 0x00",
      details: { file: "<stdin>", line: 1 },
    });
    expect(failure(e)).toEqual(expected);
    expect(pulled.bytes).toBeGreaterThan(LIMIT); // not before: the reader is the authority for a short input
    expect(pulled.bytes).toBeLessThan(LIMIT + 4 * CHUNK);
    expectNothingLarge(dir);
  });

  it("run() of a /dev/zero-like file (2 × the run's limit of NUL bytes) fails with the reader's error without storing it", async () => {
    const { store, dir } = scratch.store();
    const path = join(scratch.dir(), "zeros.json");
    writeFileSync(path, Buffer.alloc(2 * RUN_LIMIT));
    const e = await expectCairnError(run(store, path, FN, { format: "json", workers: 1, maxMemoryBytes: MAX_MEMORY }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe(`${path}:1: not a JSON array: the input starts with byte 0x00`);
    expect(filesUnder(join(dir, "objects")).filter(([, size]) => size > RUN_LIMIT + 1024 * 1024)).toEqual([]);
    expect(filesUnder(join(dir, "tmp"))).toEqual([]);
  });

  it("one endless element of a minified array (a string never closed) is E_LIMIT_EXCEEDED with the reader's error, soon", async () => {
    const { store, dir } = scratch.store();
    const head = Buffer.from('[{"a":1},2,"');
    const pulled = { bytes: 0 };
    const e = await expectCairnError(ingest(store, "-", "json", endless(head, 0x61, pulled, 4 * LIMIT), undefined, LIMIT), ErrorCode.LIMIT_EXCEEDED);
    const expected = await readerFailure(Buffer.concat([head, Buffer.alloc(LIMIT + 1, 0x61)]), LIMIT, "<stdin>");
    expect(expected).toEqual({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: `<stdin>:1: element 2: the element is larger than the record size limit of ${LIMIT} bytes`,
      details: { file: "<stdin>", line: 1, index: 2, limit: LIMIT },
    });
    expect(failure(e)).toEqual(expected);
    expect(pulled.bytes).toBeLessThan(LIMIT + 2 * CHUNK);
    expectNothingLarge(dir);
  });

  it("run(): a finite minified array with one huge element (3 × the limit) is refused with the reader's error and the --max-memory hint, nothing stored", async () => {
    const { store, dir } = scratch.store();
    const bytes = Buffer.from(`[{"a":1},\n  {"b":"${"x".repeat(3 * RUN_LIMIT)}"},{"c":3}]`);
    const path = join(scratch.dir(), "huge.json");
    writeFileSync(path, bytes);
    const e = await expectCairnError(run(store, path, FN, { format: "json", workers: 1, maxMemoryBytes: MAX_MEMORY }), ErrorCode.LIMIT_EXCEEDED);
    const expected = (await readerFailure(bytes, RUN_LIMIT, path)) as Failure;
    expect(expected.message).toBe(`${path}:2: element 1: the element is larger than the record size limit of ${RUN_LIMIT} bytes`);
    expect(e.message.startsWith(`${expected.message} `)).toBe(true); // then the run's --max-memory hint
    expect(e.message).toContain("--max-memory");
    expect(e.details).toEqual(expected.details);
    expectNothingLarge(dir);
  });

  it("many small elements on one line (3 × the limit), an element exactly at the limit and whitespace after it: stored as before, read the same", async () => {
    const small = Array.from({ length: 3 * (LIMIT / 16) }, (_, i) => `{"i":${i % 10000}}`);
    const atLimit = `"${"y".repeat(LIMIT - 2)}"`;
    const bytes = Buffer.from(`\uFEFF[${small.join(",")},${atLimit}${" ".repeat(3 * LIMIT)},1]`);
    expect(bytes.length).toBeGreaterThan(3 * LIMIT);
    const path = join(scratch.dir(), "one-line.json");
    writeFileSync(path, bytes);
    const bounded = await ingest(scratch.store().store, path, "json", undefined, undefined, LIMIT);
    const unbounded = await ingest(scratch.store().store, path, "json");
    expect(bounded).toEqual(unbounded);
    expect(await readerFailure(bytes, LIMIT, path)).toBeUndefined();
    // In pieces that cut elements, the BOM and the whitespace apart.
    expect(boundFailure(new JsonArrayBound(LIMIT, "in"), bytes, [1, 2, 7, 65536, 1000003])).toBeUndefined();
    // One byte more in the element: both refuse it, the same way.
    const over = Buffer.from(`[${small.join(",")},"${"y".repeat(LIMIT - 1)}"${" ".repeat(5)},1]`);
    const theirs = await readerFailure(over, LIMIT, "in");
    expect(theirs?.message).toBe(`in:1: element ${small.length}: the element is larger than the record size limit of ${LIMIT} bytes`);
    expect(boundFailure(new JsonArrayBound(LIMIT, "in"), over, [65536])).toEqual(theirs);
  });

  it("run(): a small array on one line runs as before", async () => {
    const { store } = scratch.store();
    const path = join(scratch.dir(), "small.json");
    writeFileSync(path, '[1,"ab",{"x":[2,3]},"c\\"d"]');
    const r = await run(store, path, { code: "export default (x) => x;" }, { format: "json", workers: 1, maxMemoryBytes: MAX_MEMORY });
    expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([1, "ab", { x: [2, 3] }, 'c"d']);
  });
});

describe("JsonArrayBound agrees with the json reader (small limits, any chunking)", () => {
  const MAX = 6;
  const chunking = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 });
  const bom = fc.boolean().map((b) => Buffer.from(b ? [0xef, 0xbb, 0xbf] : []));
  /** Bytes from JSON's structural alphabet, valid or not. */
  const soup = fc
    .tuple(bom, fc.array(fc.constantFrom("[", "]", "{", "}", ",", ":", '"', "\\", "1", "a", " ", "\n", "\r", "é", "\u0000"), { maxLength: 40 }))
    .map(([b, cs]) => Buffer.concat([b, Buffer.from(cs.join(""))]));
  /** Valid arrays, minified or indented (the reader accepts them unless an element is over the limit). */
  const arrays = fc
    .tuple(bom, fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }), fc.constantFrom(0, 1, 2), fc.constantFrom("", " ", "\n  "))
    .map(([b, a, space, pad]) => Buffer.concat([b, Buffer.from(`${pad}${JSON.stringify(a, null, space)}${pad}`)]));

  it("refuses only inputs the reader refuses; a size error of the reader is the bound's exactly; the bound's error is the reader's unless an earlier element is refused", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(soup, arrays), chunking, async (bytes, sizes) => {
        const mine = boundFailure(new JsonArrayBound(MAX, "in"), bytes, sizes);
        const theirs = await readerFailure(bytes, MAX, "in");
        if (theirs === undefined) expect(mine).toBeUndefined();
        else if (theirs.code === ErrorCode.LIMIT_EXCEEDED) expect(mine).toEqual(theirs);
        else if (mine !== undefined && theirs.message !== mine.message) {
          // The reader parses the elements before the byte where the scan stopped: one of them failed first.
          expect(theirs.code).toBe(ErrorCode.INVALID_INPUT);
          expect(theirs.message).toMatch(/^in:\d+: element \d+: invalid (JSON|UTF-8)/);
          if (mine.code === ErrorCode.LIMIT_EXCEEDED) expect((theirs.details as { index: number }).index).toBeLessThan((mine.details as { index: number }).index);
        } else if (mine !== undefined) expect(mine).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });

  it("a structure error is raised only once more than the limit has come after the chunk holding it", () => {
    // `]` then a stray byte: the reader's error; 6 more bytes do not raise it, 7 do.
    const expected = { code: ErrorCode.INVALID_INPUT, message: "in:1: invalid JSON: unexpected 'x' after the end of the array", details: { file: "in", line: 1 } };
    expect(boundFailure(new JsonArrayBound(MAX, "in"), Buffer.from(`[1]x${" ".repeat(MAX)}`), [4, 100])).toBeUndefined();
    expect(boundFailure(new JsonArrayBound(MAX, "in"), Buffer.from(`[1]x${" ".repeat(MAX + 1)}`), [4, 100])).toEqual(expected);
  });
});
