import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, readFileSync, openSync, readSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalize } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../src/core/errors.js";
import { readRecordBatches, readRecords } from "../../src/batch/input/readers.js";
import { JsonArraySplitter, type JsonElement } from "../../src/batch/input/json-array.js";
import { MAX_RECORD_BYTES, newReaderStats, type EURecord, type ReaderOptions } from "../../src/batch/input/types.js";

const ZIP_CSV = "/work/shared/data/zip-county-fips-2017-06.csv";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-input-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCounter = 0;
/** Writes `content` to a fresh file in the temp dir and returns its path. */
function file(content: string | Buffer, ext = "txt"): string {
  const p = join(dir, `f${fileCounter++}.${ext}`);
  writeFileSync(p, content);
  return p;
}

async function collect(path: string, opts: ReaderOptions, stdin?: Readable): Promise<EURecord[]> {
  const out: EURecord[] = [];
  for await (const r of readRecords(path, opts, stdin)) out.push(r);
  return out;
}

/** Reads until the reader throws; returns the records before the error and the error. */
async function failing(path: string, opts: ReaderOptions, stdin?: Readable): Promise<{ records: EURecord[]; err: CairnError }> {
  const records: EURecord[] = [];
  try {
    for await (const r of readRecords(path, opts, stdin)) records.push(r);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return { records, err: err as CairnError };
  }
  throw new Error(`expected an error, got ${records.length} records`);
}

async function expectFailure(path: string, opts: ReaderOptions, code: ErrorCodeValue, message: string | RegExp, stdin?: Readable): Promise<CairnError> {
  const { err } = await failing(path, opts, stdin);
  expect(err.code).toBe(code);
  if (typeof message === "string") expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
  return err;
}

/** A stream yielding `text`'s bytes in chunks of `size` (to test chunk boundaries). */
function chunked(data: string | Buffer, size: number): Readable {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

const inputs = (rs: EURecord[]): unknown[] => rs.map((r) => r.input);
const lineNos = (rs: EURecord[]): Array<number | undefined> => rs.map((r) => r.source.line);

describe("options", () => {
  it("rejects bad options synchronously with E_USAGE", () => {
    const usage = (f: () => unknown, re: RegExp): void => {
      try {
        f();
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe(ErrorCode.USAGE);
        expect((err as CairnError).message).toMatch(re);
      }
    };
    usage(() => readRecords("x", { format: "xml" as never }), /unknown input format "xml"/);
    usage(() => readRecords("x", { format: "lines", idField: "id" }), /lines format has no fields/);
    usage(() => readRecords("x", { format: "files", idField: "path" }), /only accepts the id field "name"/);
    usage(() => readRecords("-", { format: "files" }), /cannot read stdin/);
    usage(() => readRecords("x", { format: "jsonl", maxRecordBytes: 0 }), /maxRecordBytes/);
    usage(() => readRecords("x", { format: "jsonl", idField: "" }), /non-empty/);
    usage(() => readRecords("", { format: "jsonl" }), /input path/);
  });

  it("has a 64 MiB default record limit", () => {
    expect(MAX_RECORD_BYTES).toBe(64 * 1024 * 1024);
  });

  it.each(["jsonl", "csv", "json", "lines"] as const)("%s: a missing file is E_NOT_FOUND naming the path", async (format) => {
    const p = join(dir, "does-not-exist");
    await expectFailure(p, { format }, ErrorCode.NOT_FOUND, `input not found: ${p}`);
  });

  it("files: a missing directory is E_NOT_FOUND", async () => {
    const p = join(dir, "no-such-dir");
    await expectFailure(p, { format: "files" }, ErrorCode.NOT_FOUND, `input not found: ${p}`);
  });

  it("a directory given to a text format is E_INVALID_INPUT", async () => {
    await expectFailure(dir, { format: "jsonl" }, ErrorCode.INVALID_INPUT, /is a directory/);
  });

  it.each(["jsonl", "csv", "lines"] as const)("%s: empty input is zero records, no error", async (format) => {
    const stats = newReaderStats();
    expect(await collect(file(""), { format, stats })).toEqual([]);
    expect(stats).toMatchObject({ bytes: 0, records: 0, done: true, inputDigest: sha256("") });
    expect(await collect("-", { format }, Readable.from([]))).toEqual([]);
  });

  it("files: an empty directory is zero records", async () => {
    const d = join(dir, "empty-dir");
    mkdirSync(d);
    expect(await collect(d, { format: "files" })).toEqual([]);
  });

  it("displayName replaces the path in messages and sources", async () => {
    const p = file('{"a":1}\nnope\n');
    const { records, err } = await failing(p, { format: "jsonl", displayName: "orig.jsonl" });
    expect(records[0]?.source.file).toBe("orig.jsonl");
    expect(err.message).toMatch(/^orig\.jsonl:2: record 1: invalid JSON: /);
  });
});

describe("jsonl", () => {
  it("reads one JSON value per line, skipping blank lines but counting them", async () => {
    const p = file('{"a":1}\r\n\n  \n[1,2]\n"s"\r\n42\nnull');
    const rs = await collect(p, { format: "jsonl" });
    expect(inputs(rs)).toEqual([{ a: 1 }, [1, 2], "s", 42, null]);
    expect(rs.map((r) => r.id)).toEqual([0, 1, 2, 3, 4]);
    expect(rs.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(lineNos(rs)).toEqual([1, 4, 5, 6, 7]);
    expect(rs[0]?.source.file).toBe(p);
  });

  it("refuses a duplicate key (JSON.parse would keep only the last value), also nested and escaped", async () => {
    const p = file('{"a":1,"b":{"c":1}}\n{"a":1,"b":{"c":2,"\\u0063":3}}\n');
    const { records, err } = await failing(p, { format: "jsonl" });
    expect(records).toHaveLength(1);
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${p}:2: record 1: duplicate key "c" at column 19 (first at column 13): a record's keys must be unique (only the last value would be kept)`);
    expect(err.details).toMatchObject({ file: p, line: 2, index: 1, column: 19 });
    // equal texts in arrays, values and other objects are not duplicates
    expect(inputs(await collect(file('{"a":"a","b":["a","a"],"c":{"a":{"a":1}}}\n'), { format: "jsonl" }))).toEqual([{ a: "a", b: ["a", "a"], c: { a: { a: 1 } } }]);
  });

  it("reports invalid JSON with file and line", async () => {
    const p = file('{"a":1}\n\n{"a":}\n{"b":2}\n');
    const { records, err } = await failing(p, { format: "jsonl" });
    expect(records).toHaveLength(1);
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${p}:3: record 1: invalid JSON: ${jsonParseMessage('{"a":}')}`);
    expect(err.details).toMatchObject({ file: p, line: 3, index: 1 });
  });

  it("takes ids from --id-field (strings and integers)", async () => {
    const p = file('{"id":"x"}\n{"id":7}\n{"id":-0}\n{"id":"007"}\n');
    const rs = await collect(p, { format: "jsonl", idField: "id" });
    expect(rs.map((r) => r.id)).toEqual(["x", 7, 0, "007"]);
    expect(Object.is(rs[2]?.id, 0)).toBe(true);
  });

  it.each([
    ['{"id":1}\n{"x":1}\n', "record 1: missing id field \"id\"", 2],
    ['{"id":1.5}\n', "record 0: id field \"id\" must be a string or an integer, got a non-integer number (1.5)", 1],
    ['{"id":true}\n', "record 0: id field \"id\" must be a string or an integer, got a boolean (true)", 1],
    ['{"id":null}\n', "record 0: id field \"id\" must be a string or an integer, got null", 1],
    ['{"id":{"a":1}}\n', "record 0: id field \"id\" must be a string or an integer, got an object", 1],
    ['{"id":[1]}\n', "record 0: id field \"id\" must be a string or an integer, got an array", 1],
    ['{"id":9007199254740993}\n', "record 0: id field \"id\" must be a string or an integer, got an integer outside the safe range ±(2^53-1) (9007199254740993)", 1],
    ['\n\n[1,2]\n', "record 0: is an array, not an object, so it has no id field \"id\"", 3],
    ['"s"\n', "record 0: is a string, not an object, so it has no id field \"id\"", 1],
  ])("id field errors name file, line, record and field: %j", async (text, what, line) => {
    const p = file(text);
    const err = await expectFailure(p, { format: "jsonl", idField: "id" }, ErrorCode.INVALID_INPUT, `${p}:${line}: ${what}`);
    expect(err.details).toMatchObject({ file: p, line, field: "id" });
  });

  it("rejects a line longer than maxRecordBytes, naming the line", async () => {
    const p = file(`1\n"${"x".repeat(100)}"\n2\n`);
    const { records, err } = await failing(p, { format: "jsonl", maxRecordBytes: 50 });
    expect(records.map((r) => r.input)).toEqual([1]);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(`${p}:2: record 1: line is longer than the record size limit of 50 bytes`);
    // A CR LF terminator does not count against the limit.
    expect(inputs(await collect(file('"12345678"\r\n'), { format: "jsonl", maxRecordBytes: 10 }))).toEqual(["12345678"]);
  });

  it("rejects invalid UTF-8 naming the line and the record", async () => {
    const p = file(Buffer.concat([Buffer.from('"ok"\n"'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]));
    await expectFailure(p, { format: "jsonl" }, ErrorCode.INVALID_INPUT, `${p}:2: record 1: invalid UTF-8`);
  });

  it("strips a UTF-8 BOM, but counts and hashes it", async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\n')]);
    const stats = newReaderStats();
    const rs = await collect(file(bytes), { format: "jsonl", stats });
    expect(inputs(rs)).toEqual([{ a: 1 }]);
    expect(stats).toEqual({ bytes: bytes.length, records: 1, done: true, inputDigest: sha256(bytes) });
    // A BOM split over chunks.
    expect(inputs(await collect("-", { format: "jsonl" }, chunked(bytes, 1)))).toEqual([{ a: 1 }]);
  });

  it("reads stdin (strings or bytes, any chunking) with <stdin> as the name", async () => {
    const rs = await collect("-", { format: "jsonl" }, Readable.from(['{"a":', '"é"}\n', "2\n"]));
    expect(inputs(rs)).toEqual([{ a: "é" }, 2]);
    expect(rs[0]?.source.file).toBe("<stdin>");
    const text = '{"k":"€😀"}\r\n\r\n[1]\n';
    for (const size of [1, 2, 3, 5]) {
      const rs2 = await collect("-", { format: "jsonl" }, chunked(text, size));
      expect(inputs(rs2)).toEqual([{ k: "€😀" }, [1]]);
      expect(lineNos(rs2)).toEqual([1, 3]);
    }
    const err = await expectFailure("-", { format: "jsonl" }, ErrorCode.INVALID_INPUT, `<stdin>:2: record 1: invalid JSON: ${jsonParseMessage("x")}`, Readable.from(["1\nx\n"]));
    expect(err.details["file"]).toBe("<stdin>");
  });

  it("reports the first error whatever the chunking", async () => {
    const text = '1\n2\n{bad\n"' + "x".repeat(40) + '"\n';
    for (const size of [1, 7, 1000]) {
      const { records, err } = await failing("-", { format: "jsonl", maxRecordBytes: 20 }, chunked(text, size));
      expect(records).toHaveLength(2);
      expect(err.message).toBe(`<stdin>:3: record 2: invalid JSON: ${jsonParseMessage("{bad")}`);
    }
  });

  it("updates stats as it goes", async () => {
    const text = "1\n2\n3\n";
    const stats = newReaderStats();
    const it = readRecords(file(text), { format: "jsonl", stats });
    await it.next();
    expect(stats.records).toBe(1);
    expect(stats.done).toBe(false);
    expect(stats.inputDigest).toBeUndefined();
    while (!(await it.next()).done);
    expect(stats).toEqual({ bytes: 6, records: 3, done: true, inputDigest: sha256(text) });
  });
});

describe("lines", () => {
  it("yields each line without its terminator", async () => {
    const rs = await collect(file("a\r\nb\n\nc\rd\nlast"), { format: "lines" });
    expect(inputs(rs)).toEqual(["a", "b", "", "c\rd", "last"]);
    expect(lineNos(rs)).toEqual([1, 2, 3, 4, 5]);
    expect(rs.map((r) => r.id)).toEqual([0, 1, 2, 3, 4]);
  });

  it("does not count the empty 'line' after a final newline", async () => {
    expect(inputs(await collect(file("a\n"), { format: "lines" }))).toEqual(["a"]);
    expect(inputs(await collect(file("a\r\n"), { format: "lines" }))).toEqual(["a"]);
    expect(inputs(await collect(file("\n"), { format: "lines" }))).toEqual([""]);
    expect(inputs(await collect(file("\n\n"), { format: "lines" }))).toEqual(["", ""]);
    // A CR without LF at the very end is data, not a terminator.
    expect(inputs(await collect(file("a\r"), { format: "lines" }))).toEqual(["a\r"]);
  });

  it("handles CRLF split across chunks", async () => {
    for (const size of [1, 2, 3]) {
      expect(inputs(await collect("-", { format: "lines" }, chunked("ab\r\ncd\r\n€\r\n", size)))).toEqual(["ab", "cd", "€"]);
    }
  });

  it("rejects a line over the limit, naming it", async () => {
    const p = file("short\nthis line is too long\nok\n");
    const { records, err } = await failing(p, { format: "lines", maxRecordBytes: 10 });
    expect(inputs(records)).toEqual(["short"]);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(`${p}:2: record 1: line is longer than the record size limit of 10 bytes`);
    // An unterminated final line too.
    await expectFailure(file("ok\n12345678901"), { format: "lines", maxRecordBytes: 10 }, ErrorCode.LIMIT_EXCEEDED, /:2: record 1: line is longer/);
  });
});

describe("csv", () => {
  it("reads records as objects of strings, keeping leading zeros", async () => {
    const p = file("zip,name,fips\n01001,Autauga,01001\n00501,\"Holtsville, NY\",36103\n");
    const rs = await collect(p, { format: "csv" });
    expect(inputs(rs)).toEqual([
      { zip: "01001", name: "Autauga", fips: "01001" },
      { zip: "00501", name: "Holtsville, NY", fips: "36103" },
    ]);
    expect(rs.map((r) => r.id)).toEqual([0, 1]);
    expect(lineNos(rs)).toEqual([2, 3]);
  });

  it("handles RFC 4180 quoting, CRLF, multi-line fields, empty lines and mixed line ends", async () => {
    const text = 'a,b\r\n"x ""q"" y",\r\n"multi\r\nline\nfield",2\r\n\r\n\n3,""\n4,"5"\r\n6,7';
    const expected = [
      { a: 'x "q" y', b: "" },
      { a: "multi\r\nline\nfield", b: "2" },
      { a: "3", b: "" },
      { a: "4", b: "5" },
      { a: "6", b: "7" },
    ];
    const lines = [2, 3, 8, 9, 10];
    const rs = await collect(file(text), { format: "csv" });
    expect(inputs(rs)).toEqual(expected);
    expect(lineNos(rs)).toEqual(lines);
    for (const size of [1, 2, 5, 13]) {
      const rs2 = await collect("-", { format: "csv" }, chunked(text, size));
      expect(inputs(rs2)).toEqual(expected);
      expect(lineNos(rs2)).toEqual(lines);
    }
  });

  it("counts lines correctly before the header and with a BOM", async () => {
    const rs = await collect(file("\ufeff\n\nh\n1\n"), { format: "csv" });
    expect(inputs(rs)).toEqual([{ h: "1" }]);
    expect(lineNos(rs)).toEqual([4]);
  });

  it("header only is zero records", async () => {
    expect(await collect(file("a,b\r\n"), { format: "csv" })).toEqual([]);
  });

  it("keeps a __proto__ column as an own property", async () => {
    const rs = await collect(file("__proto__,b\nx,y\n"), { format: "csv" });
    const rec = rs[0]?.input as Record<string, string>;
    expect(Object.keys(rec)).toEqual(["__proto__", "b"]);
    expect(Object.getPrototypeOf(rec)).toBe(Object.prototype);
    expect(canonicalize(rec)).toBe('{"__proto__":"x","b":"y"}');
  });

  it("takes ids from a column", async () => {
    const rs = await collect(file("k,v\n007,a\nx,b\n"), { format: "csv", idField: "k" });
    expect(rs.map((r) => r.id)).toEqual(["007", "x"]);
  });

  it("rejects an id field that is not a column, at the header", async () => {
    const p = file("\na,b\n1,2\n");
    await expectFailure(p, { format: "csv", idField: "id" }, ErrorCode.INVALID_INPUT, `${p}:2: id field "id" is not a column of the header (columns: "a", "b")`);
  });

  it("reports an unterminated quote at the line where its record starts", async () => {
    const p = file('a,b\r\n1,2\r\n\r\n3,"open\r\nmore\r\n4,5\r\n');
    const { records, err } = await failing(p, { format: "csv" });
    expect(inputs(records)).toEqual([{ a: "1", b: "2" }]);
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toContain(`${p}:4`);
    expect(err.message).toContain("unterminated quote");
    expect(err.message).toBe(`${p}:4: record 1: unterminated quote: a quoted field in the record starting at line 4 is never closed`);
    expect(err.details).toMatchObject({ file: p, line: 4, index: 1, csvCode: "CSV_QUOTE_NOT_CLOSED" });
    // In the header, which is not a record.
    const q = file('a,"b\n1,2\n');
    await expectFailure(q, { format: "csv" }, ErrorCode.INVALID_INPUT, `${q}:1: header: unterminated quote: a quoted field in the header is never closed`);
  });

  it("reports a wrong field count", async () => {
    const p = file("a,b\n1,2\n\n3,4,5\n");
    await expectFailure(p, { format: "csv" }, ErrorCode.INVALID_INPUT, `${p}:4: record 1: expected 2 fields, got 3`);
    const q = file('a,b\n"multi\nline"\n');
    await expectFailure(q, { format: "csv" }, ErrorCode.INVALID_INPUT, `${q}:2: record 0: expected 2 fields, got 1`);
  });

  it("reports quote misuse", async () => {
    const p = file('a,b\n1,"2"x\n');
    await expectFailure(
      p,
      { format: "csv" },
      ErrorCode.INVALID_INPUT,
      `${p}:2: record 0: invalid closing quote in the record starting at line 2: a quoted field must be followed by a comma or the end of the record (write "" for a quote inside a quoted field)`,
    );
    const q = file('a,b\n1,2\n3,4"5\n');
    await expectFailure(
      q,
      { format: "csv" },
      ErrorCode.INVALID_INPUT,
      `${q}:3: record 1: quote inside an unquoted field in the record starting at line 3 (quote the whole field and double the quotes inside it)`,
    );
    const h = file('"a"x,b\n1,2\n');
    const err = await expectFailure(h, { format: "csv" }, ErrorCode.INVALID_INPUT, new RegExp(`^${escapeRe(h)}:1: header: invalid closing quote in the header: `));
    expect(err.details["index"]).toBeUndefined();
  });

  it("rejects a header holding a CR (lone-CR line endings) or a line break, at line 1", async () => {
    // A lone CR is data, so this file is one line: a header of odd names and no records.
    const p = file("a,b\r1,2\r3,4\r");
    const loneCr = "carriage return in a column name of the header (column 2): lines must end with LF or CRLF (lone-CR line endings are not supported)";
    const err = await expectFailure(p, { format: "csv" }, ErrorCode.INVALID_INPUT, `${p}:1: ${loneCr}`);
    expect(err.details).toEqual({ file: p, line: 1, column: 2 });
    for (const size of [1, 4, 1000]) await expectFailure("-", { format: "csv" }, ErrorCode.INVALID_INPUT, `<stdin>:1: ${loneCr}`, chunked("a,b\r1,2\r3,4\r", size));
    const q = file("a,b\r");
    await expectFailure(q, { format: "csv" }, ErrorCode.INVALID_INPUT, `${q}:1: ${loneCr}`);
    const r = file('a,"b\r\nc"\r\n1,2\r\n');
    await expectFailure(r, { format: "csv" }, ErrorCode.INVALID_INPUT, `${r}:1: line break in a column name of the header (column 2): column names must be on one line`);
    // CRLF line ends, and CR LF inside quoted data fields, are fine.
    expect(inputs(await collect(file('a,b\r\n1,"x\r\ny"\r\n'), { format: "csv" }))).toEqual([{ a: "1", b: "x\r\ny" }]);
  });

  it("rejects duplicate and empty column names", async () => {
    const p = file("a,b,a\n1,2,3\n");
    await expectFailure(p, { format: "csv" }, ErrorCode.INVALID_INPUT, `${p}:1: duplicate column name "a" in the header (columns 1 and 3)`);
    const q = file("a,,c\n1,2,3\n");
    await expectFailure(q, { format: "csv" }, ErrorCode.INVALID_INPUT, `${q}:1: empty column name in the header (column 2)`);
  });

  it("rejects invalid UTF-8 naming the line, after the records before it", async () => {
    const bad = Buffer.concat([Buffer.from("a\n1\n2\n"), Buffer.from([0x33, 0xc3, 0x28]), Buffer.from("\n4\n")]);
    for (const size of [1, 3, 1000]) {
      const { records, err } = await failing("-", { format: "csv" }, chunked(bad, size));
      expect(inputs(records)).toEqual([{ a: "1" }, { a: "2" }]);
      expect(err.message).toBe("<stdin>:4: record 2: invalid UTF-8");
    }
    // A character cut off by the end of input.
    await expectFailure("-", { format: "csv" }, ErrorCode.INVALID_INPUT, "<stdin>:2: record 0: invalid UTF-8", Readable.from([Buffer.from([0x61, 0x0a, 0xe2, 0x82])]));
    // Multi-byte characters split across chunks are fine.
    expect(inputs(await collect("-", { format: "csv" }, chunked("h\n€😀\n", 1)))).toEqual([{ h: "€😀" }]);
  });

  it("reports the earlier of a field-count error and a later invalid byte, whatever the chunking", async () => {
    const text = Buffer.concat([Buffer.from("a,b\n1,2\n3\n4,5\n"), Buffer.from([0xff]), Buffer.from("\n")]);
    for (const size of [1, 4, 1000]) {
      const { err } = await failing("-", { format: "csv" }, chunked(text, size));
      expect(err.message).toBe("<stdin>:3: record 1: expected 2 fields, got 1");
    }
  });

  it("rejects a record over the limit", async () => {
    const p = file(`a\n"${"x".repeat(200)}"\n`);
    await expectFailure(p, { format: "csv", maxRecordBytes: 100 }, ErrorCode.LIMIT_EXCEEDED, `${p}:2: record 0: the record is larger than the record size limit of 100 bytes`);
    // A physical line longer than the limit, seen before the parser gets it.
    const q = file(`a\n1\n${"z".repeat(300)}`);
    for (const size of [7, 1000]) {
      const { records, err } = await failing("-", { format: "csv", maxRecordBytes: 100 }, chunked(readFileSync(q), size));
      expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect(err.message).toMatch(/^<stdin>:3: /);
      expect(inputs(records)).toEqual([{ a: "1" }]);
    }
  });

  it("stops cleanly when the consumer stops early", async () => {
    let n = 0;
    for await (const r of readRecords(ZIP_CSV, { format: "csv" })) {
      expect(r.index).toBe(n);
      if (++n === 10) break;
    }
    expect(n).toBe(10);
  });

  it("streams the real ZIP/county dataset: 52,889 records", async () => {
    const lastLine = readLastLine(ZIP_CSV);
    const [zip, countyName, state, fips, classFp] = lastLine.split(",");
    const stats = newReaderStats();
    let count = 0;
    let first: EURecord | undefined;
    let last: EURecord | undefined;
    for await (const r of readRecords(ZIP_CSV, { format: "csv", stats })) {
      if (count === 0) first = r;
      last = r;
      count++;
    }
    expect(count).toBe(52_889);
    expect(first?.input).toEqual({ ZIP: "36003", COUNTYNAME: "Autauga County", STATE: "AL", STCOUNTYFP: "01001", CLASSFP: "H1" });
    expect(first?.source.line).toBe(2);
    expect(last?.input).toEqual({ ZIP: zip, COUNTYNAME: countyName, STATE: state, STCOUNTYFP: fips, CLASSFP: classFp });
    expect(last?.input).toEqual({ ZIP: "00802", COUNTYNAME: "St. Thomas Island", STATE: "VI", STCOUNTYFP: "78030", CLASSFP: "H4" });
    expect(last?.id).toBe(52_888);
    expect(last?.source.line).toBe(52_890);
    expect(stats.bytes).toBe(statSync(ZIP_CSV).size);
    expect(stats.records).toBe(52_889);
    expect(stats.inputDigest).toBe(`sha256:${createHash("sha256").update(readFileSync(ZIP_CSV)).digest("hex")}`);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** JSON.parse's own message for `text` (its wording depends on the Node version). */
function jsonParseMessage(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

/** The last non-empty line of a file, read from its tail. */
function readLastLine(path: string): string {
  const size = statSync(path).size;
  const n = Math.min(size, 4096);
  const buf = Buffer.alloc(n);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buf, 0, n, size - n);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString("utf8").split(/\r?\n/).filter((l) => l !== "");
  return lines[lines.length - 1] as string;
}

describe("stats.bytes follows the records handed out (for progress estimates)", () => {
  /** `n` JSONL lines of the same length, `width` bytes each with the LF. */
  const sameWidthLines = (n: number): string => Array.from({ length: n }, (_, i) => `{"n":"${String(i).padStart(6, "0")}"}\n`).join("");
  const WIDTH = 15;

  it("jsonl and lines: a chunk's bytes are counted batch by batch, in proportion to its lines", async () => {
    const n = 3000; // one read chunk, three batches
    const text = sameWidthLines(n);
    expect(text.length).toBe(n * WIDTH);
    for (const format of ["jsonl", "lines"] as const) {
      const stats = newReaderStats();
      const seen: Array<[number, number]> = [];
      let records = 0;
      for await (const b of readRecordBatches(file(text), { format, stats })) {
        records += b.length;
        seen.push([records, stats.bytes]);
      }
      expect(seen).toEqual([
        [1024, 1024 * WIDTH],
        [2048, 2048 * WIDTH],
        [3000, 3000 * WIDTH],
      ]);
      expect(stats).toMatchObject({ bytes: n * WIDTH, records: n, done: true });
    }
  });

  it("csv and json: bytes up to the end of the last record handed out", async () => {
    const csv = "h\n10\n200\n";
    const cs = newReaderStats();
    const csvSeen: number[] = [];
    for await (const _ of readRecords(file(csv), { format: "csv", stats: cs })) csvSeen.push(cs.bytes);
    expect(csvSeen).toEqual([5, 9]);
    expect(cs.bytes).toBe(csv.length);
    const json = '[1, "abc",\n {"x": 2}]\n';
    const js = newReaderStats();
    const jsonSeen: number[] = [];
    for await (const _ of readRecords(file(json), { format: "json", stats: js })) jsonSeen.push(js.bytes);
    expect(jsonSeen).toEqual([2, 9, 20]);
    expect(js.bytes).toBe(json.length);
  });
});

describe("json", () => {
  it("streams the elements of a top-level array", async () => {
    const text = ' [\n  {"a": [1, {"b": "],}"}]},\r\n  "str \\" , ] }",\n\n  3.5e2 , true,null,\n  []\n]\n ';
    const rs = await collect(file(text), { format: "json" });
    expect(inputs(rs)).toEqual([{ a: [1, { b: "],}" }] }, 'str " , ] }', 350, true, null, []]);
    expect(lineNos(rs)).toEqual([2, 3, 5, 5, 5, 6]);
    expect(rs.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("reads [] as zero records", async () => {
    const stats = newReaderStats();
    expect(await collect(file("[]"), { format: "json", stats })).toEqual([]);
    expect(stats).toMatchObject({ bytes: 2, records: 0, done: true, inputDigest: sha256("[]") });
    expect(await collect(file(" [ \n ] \n"), { format: "json" })).toEqual([]);
    expect(await collect("-", { format: "json" }, Readable.from(["[", "]"]))).toEqual([]);
  });

  it.each(["", " \n\t", "\r\n\r\n", "\uFEFF"])("rejects an empty input %j: it is not a JSON array", async (text) => {
    const p = file(text);
    await expectFailure(p, { format: "json" }, ErrorCode.INVALID_INPUT, `${p}:1: input is empty: expected a JSON array (\`[]\` for no records)`);
    await expectFailure("-", { format: "json" }, ErrorCode.INVALID_INPUT, "<stdin>:1: input is empty: expected a JSON array (`[]` for no records)", Readable.from([]));
  });

  it("allowDuplicateKeys (verify's re-read of a run's stored input) keeps the last value, as JSON.parse does", async () => {
    for (const [format, text] of [["jsonl", '{"a":1,"a":2}\n'], ["json", '[{"a":1,"a":2}]']] as const) {
      const got: unknown[] = [];
      for await (const b of readRecordBatches(file(text), { format, allowDuplicateKeys: true })) for (const r of b) got.push(r.input);
      expect(got).toEqual([{ a: 2 }]);
    }
  });

  it("refuses a duplicate key in an element, at the line where the element starts, the keys at their lines in the file", async () => {
    const p = file('[{"a":1},\n {"a":1,\n  "a":2}]');
    await expectFailure(p, { format: "json" }, ErrorCode.INVALID_INPUT, `${p}:2: element 1: duplicate key "a" at line 3 (first at line 2): a record's keys must be unique (only the last value would be kept)`);
  });

  it("takes ids from a member of each element", async () => {
    const rs = await collect(file('[{"id":"a"},{"id":2}]'), { format: "json", idField: "id" });
    expect(rs.map((r) => r.id)).toEqual(["a", 2]);
    const p = file('[\n{"id":"a"},\n{"x":1}]');
    await expectFailure(p, { format: "json", idField: "id" }, ErrorCode.INVALID_INPUT, `${p}:3: element 1: missing id field "id"`);
    const q = file("[1]");
    await expectFailure(q, { format: "json", idField: "id" }, ErrorCode.INVALID_INPUT, `${q}:1: element 0: is an integer (1), not an object, so it has no id field "id"`);
  });

  it.each([
    ['{"a":1}', 1, "not a JSON array: the input starts with '{'"],
    ["\n\n1", 3, "not a JSON array: the input starts with '1'"],
    ["[1] x", 1, "invalid JSON: unexpected 'x' after the end of the array"],
    ["[1]\n[2]", 2, "invalid JSON: unexpected '[' after the end of the array"],
    ["[1,\n]", 2, "invalid JSON: trailing comma after element 0"],
    ["[1,,2]", 1, "element 1: invalid JSON: missing value before ','"],
    ["[,1]", 1, "element 0: invalid JSON: missing value before ','"],
    ["[1,\n2", 2, "element 1: unexpected end of input inside the element (the JSON array is not closed)"],
    ["[1,\n", 2, "unexpected end of input after element 0: the JSON array is not closed"],
    ["[\n", 2, "unexpected end of input: the JSON array is not closed"],
    ["[", 1, "unexpected end of input: the JSON array is not closed"],
    ['[1,\n {"a": [1}]', 2, "element 1: invalid JSON: expected ']' but found '}'"],
    ["[{]}", 1, "element 0: invalid JSON: expected '}' but found ']'"],
    ["[1}", 1, "element 0: invalid JSON: unexpected '}'"],
  ])("structural error %j", async (text, line, what) => {
    const p = file(text);
    await expectFailure(p, { format: "json" }, ErrorCode.INVALID_INPUT, `${p}:${line}: ${what}`);
  });

  it("reports an invalid element with its index and the line where it starts", async () => {
    const p = file('[1,\n  {"a":\n   1,}, 2]');
    const { records, err } = await failing(p, { format: "json" });
    expect(inputs(records)).toEqual([1]);
    expect(err.message.startsWith(`${p}:2: element 1: invalid JSON: `)).toBe(true);
    expect(err.details).toMatchObject({ file: p, line: 2, index: 1 });
    const q = file("[1, 2 3]");
    await expectFailure(q, { format: "json" }, ErrorCode.INVALID_INPUT, new RegExp(`^${escapeRe(q)}:1: element 1: invalid JSON: `));
    const r = file(Buffer.concat([Buffer.from('[\n"'), Buffer.from([0xc0, 0x80]), Buffer.from('"]')]));
    await expectFailure(r, { format: "json" }, ErrorCode.INVALID_INPUT, `${r}:2: element 0: invalid UTF-8`);
  });

  it("rejects an element over the limit", async () => {
    const p = file(`[1,\n"${"y".repeat(300)}"]`);
    const { records, err } = await failing(p, { format: "json", maxRecordBytes: 100 });
    expect(inputs(records)).toEqual([1]);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(`${p}:2: element 1: the element is larger than the record size limit of 100 bytes`);
  });

  it("streams a 50 MB array element by element", async () => {
    const p = join(dir, "big.json");
    const count = 200_000;
    const pad = "p".repeat(220);
    await new Promise<void>((resolve, reject) => {
      const ws = createWriteStream(p);
      ws.on("error", reject);
      ws.write("[\n");
      let i = 0;
      const writeMore = (): void => {
        while (i < count) {
          const el = `${i === 0 ? "" : ",\n"}{"i":${i},"s":"${pad}","n":[${i},{"x":"]\\"}"}]}`;
          i++;
          if (!ws.write(el)) {
            ws.once("drain", writeMore);
            return;
          }
        }
        ws.end("\n]\n", resolve);
      };
      writeMore();
    });
    expect(statSync(p).size).toBeGreaterThan(50_000_000);
    const stats = newReaderStats();
    let n = 0;
    for await (const r of readRecords(p, { format: "json", stats })) {
      if (n % 50_000 === 0) expect((r.input as { i: number }).i).toBe(n);
      n++;
    }
    expect(n).toBe(count);
    expect(stats.bytes).toBe(statSync(p).size);
    unlinkSync(p);
  });

  it("yields exactly the elements of any array, whatever the whitespace and chunking (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue(), { maxLength: 12 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 64 }),
        async (arr, seed, chunk) => {
          const { text, starts } = spacedStringify(arr, seed);
          const expected = JSON.parse(JSON.stringify(arr)) as unknown[];
          const rs = await collect("-", { format: "json" }, chunked(text, chunk));
          expect(rs.map((r) => JSON.stringify(r.input))).toEqual(expected.map((v) => JSON.stringify(v)));
          // The splitter alone, fed the same chunks, agrees and reports start lines.
          const splitter = new JsonArraySplitter(MAX_RECORD_BYTES, "t");
          const els: JsonElement[] = [];
          const buf = Buffer.from(text, "utf8");
          for (let i = 0; i < buf.length; i += chunk) splitter.push(buf.subarray(i, i + chunk), els);
          splitter.check();
          splitter.end();
          expect(els.map((e) => e.index)).toEqual(expected.map((_, i) => i));
          const startLines = starts.map((at) => text.slice(0, at).split("\n").length);
          expect(els.map((e) => e.line)).toEqual(startLines);
          expect(rs.map((r) => r.source.line)).toEqual(startLines);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * JSON text of the array `arr` with pseudo-random whitespace (space, tab, LF, CR LF) between
 * tokens, seeded by `seed`, and the offset where each element starts.
 */
function spacedStringify(arr: unknown[], seed: number): { text: string; starts: number[] } {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  const ws = (): string => {
    const n = rnd() % 4;
    let out = "";
    for (let i = 0; i < n; i++) out += [" ", "\t", "\n", "\r\n"][rnd() % 4];
    return out;
  };
  const enc = (x: unknown): string => {
    if (Array.isArray(x)) return `[${ws()}${x.map((e) => `${ws()}${enc(e)}${ws()}`).join(",")}${ws()}]`;
    if (x !== null && typeof x === "object") {
      const members = Object.entries(x).map(([k, e]) => `${ws()}${JSON.stringify(k)}${ws()}:${ws()}${enc(e)}${ws()}`);
      return `{${ws()}${members.join(",")}${ws()}}`;
    }
    return JSON.stringify(x);
  };
  let text = `${ws()}[${ws()}`;
  const starts: number[] = [];
  arr.forEach((e, i) => {
    if (i > 0) text += `,${ws()}`;
    starts.push(text.length);
    text += `${enc(e)}${ws()}`;
  });
  return { text: `${text}]${ws()}`, starts };
}

describe("files", () => {
  let root: string;
  const contents: Record<string, string> = {
    "b.txt": "B",
    "a/b.txt": "AB",
    "a/x/y.bin": "AXY",
    "a-c.txt": "A-C",
    "a0.txt": "A0",
    "Z.txt": "Z",
    "é.txt": "E-acute",
    "a/.hidden": "H",
    "emptyfile": "",
  };
  beforeAll(() => {
    root = join(dir, "tree");
    for (const [rel, text] of Object.entries(contents)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    mkdirSync(join(root, "empty-sub"));
  });

  /** Relative paths sorted by UTF-8 bytes: the documented order. */
  const byteOrder = (): string[] => Object.keys(contents).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

  it("yields one record per regular file, recursively, in byte order of the relative path", async () => {
    const stats = newReaderStats();
    const rs = await collect(root, { format: "files", stats });
    const order = byteOrder();
    // "a-c.txt" < "a/..." < "a0.txt": a walk that sorted bare names would get this wrong.
    expect(order.slice(0, 5)).toEqual(["Z.txt", "a-c.txt", "a/.hidden", "a/b.txt", "a/x/y.bin"]);
    expect(rs.map((r) => r.source.name)).toEqual(order);
    expect(rs.map((r) => (r.input as Buffer).toString("utf8"))).toEqual(order.map((k) => contents[k]));
    expect(rs.every((r) => Buffer.isBuffer(r.input))).toBe(true);
    expect(rs.map((r) => r.id)).toEqual(order.map((_, i) => i));
    expect(rs[3]?.source.file).toBe(join(root, "a", "b.txt"));
    const totalBytes = Object.values(contents).reduce((n, t) => n + Buffer.byteLength(t), 0);
    const listing = order.map((k) => `${canonicalize([k, sha256(contents[k] as string)])}\n`).join("");
    expect(stats).toEqual({ bytes: totalBytes, records: order.length, done: true, inputDigest: sha256(listing) });
  });

  it('uses the relative path as the id with idField "name"', async () => {
    const rs = await collect(root, { format: "files", idField: "name" });
    expect(rs.map((r) => r.id)).toEqual(byteOrder());
  });

  it("reads files lazily, one at a time", async () => {
    const d = join(dir, "lazy");
    mkdirSync(d);
    writeFileSync(join(d, "1"), "one");
    writeFileSync(join(d, "2"), "two");
    const it = readRecords(d, { format: "files" });
    const first = await it.next();
    expect(first.done).toBe(false);
    unlinkSync(join(d, "2"));
    await expect(it.next()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: `input not found: ${join(d, "2")}` });
  });

  it("refuses symbolic links, naming them", async () => {
    const d = join(dir, "links");
    mkdirSync(d);
    writeFileSync(join(d, "a"), "x");
    symlinkSync(join(d, "a"), join(d, "b-link"));
    const { records, err } = await failing(d, { format: "files" });
    expect(records.map((r) => r.source.name)).toEqual(["a"]);
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${join(d, "b-link")}: record 1: symbolic link (the files format does not follow links)`);
    const e = join(dir, "dirlink");
    mkdirSync(e);
    symlinkSync(root, join(e, "sub"));
    await expectFailure(e, { format: "files" }, ErrorCode.INVALID_INPUT, `${join(e, "sub")}: record 0: symbolic link (the files format does not follow links)`);
  });

  it("rejects a plain file as the input and files over the limit", async () => {
    const p = file("x");
    await expectFailure(p, { format: "files" }, ErrorCode.INVALID_INPUT, `input ${p} is not a directory (the files format reads a directory)`);
    const d = join(dir, "big-files");
    mkdirSync(d);
    writeFileSync(join(d, "big"), "x".repeat(101));
    await expectFailure(d, { format: "files", maxRecordBytes: 100 }, ErrorCode.LIMIT_EXCEEDED, `${join(d, "big")}: record 0: file is larger than the record size limit of 100 bytes`);
  });
});

describe("records do not keep their input chunks alive", () => {
  // A collector in this process (as heap-guard.ts obtains one), to measure what stays reachable.
  const collect = ((): (() => void) => {
    setFlagsFromString("--expose-gc");
    try {
      return runInNewContext("gc") as () => void;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  })();

  /** 40 chunks of ~1 MiB of short lines; keeps one record per chunk, drops the rest. */
  async function retainedBytes(opts: ReaderOptions, line: (i: number) => string): Promise<{ kept: EURecord[]; bytes: number }> {
    const perChunk = 40_000;
    const chunks = Array.from({ length: 40 }, (_, c) => Buffer.from(Array.from({ length: perChunk }, (_, j) => `${line(c * perChunk + j)}\n`).join("")));
    collect();
    const before = process.memoryUsage().heapUsed;
    const kept: EURecord[] = [];
    for await (const batch of readRecordBatches("-", opts, Readable.from(chunks))) {
      for (const r of batch) if (r.index % perChunk === 0) kept.push(r);
    }
    chunks.length = 0;
    collect();
    return { kept, bytes: process.memoryUsage().heapUsed - before };
  }

  it("canonical JSONL lines taken as is, and `lines` inputs (each pinned its 1 MiB decoded chunk before)", async () => {
    const jsonl = await retainedBytes({ format: "jsonl", canonicalJsonLines: true }, (i) => `{"i":${i},"name":"abcdefgh"}`);
    expect(jsonl.kept).toHaveLength(40);
    expect(jsonl.kept[1]).toMatchObject({ index: 40_000, input: undefined, inputJson: '{"i":40000,"name":"abcdefgh"}' });
    const lines = await retainedBytes({ format: "lines" }, (i) => `line number ${i} of the input`);
    expect(lines.kept[1]?.input).toBe("line number 40000 of the input");
    // 40 records of ~30 characters; pinned chunks would be ~40 × 1 MiB (2 bytes per char: more).
    expect(jsonl.bytes).toBeLessThan(8 * 1024 * 1024);
    expect(lines.bytes).toBeLessThan(8 * 1024 * 1024);
  }, 120_000); // ~24 s of the default 60 s seen beside two other suites on 2 cores
});
