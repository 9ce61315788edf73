/**
 * The record size limit (`maxRecordBytes`, ARCHITECTURE §10.15) applied exactly at its
 * boundary, in every format: a record of N bytes is accepted and one of N + 1 bytes refused
 * (E_LIMIT_EXCEEDED), whatever the chunking. What "a record's bytes" are:
 *  - jsonl, lines: the line's bytes without its terminator (LF or CR LF);
 *  - csv: the record's raw bytes in the input, from its first byte to its last (quotes,
 *    commas and line breaks inside quoted fields included), without its terminator (LF or
 *    CR LF) and without the empty lines before it; the header is measured the same way;
 *  - json: the element's own text, from its first to its last non-whitespace byte (the
 *    whitespace and the `,` around it are not counted);
 *  - files: the file's size.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { CairnError } from "../../src/core/errors.js";
import { JsonArraySplitter, type JsonElement } from "../../src/batch/input/json-array.js";
import { readRecordBatches, readRecords } from "../../src/batch/input/readers.js";
import type { EURecord, InputFormat, ReaderOptions } from "../../src/batch/input/types.js";

const N = 100;
const a = (n: number): string => "a".repeat(n);

/** Chunk sizes every case is read with (cycled); all must give the same outcome. */
const CHUNKINGS: number[][] = [[1 << 20], [1], [3], [7, 1, 64], [N - 1], [N], [N + 1], [N + 2]];

interface Outcome {
  inputs: unknown[];
  lines: (number | undefined)[];
  /** The records' `rawBytes` (json and lines set it; it bounds a pulse, so it must not depend on the chunking either). */
  raw: (number | undefined)[];
  err?: { code: string; message: string; details: Record<string, unknown> };
}

async function read(format: InputFormat, bytes: Buffer, sizes: number[], opts: Partial<ReaderOptions>, batched: boolean): Promise<Outcome> {
  const parts: Buffer[] = [];
  for (let p = 0, k = 0; p < bytes.length; k++) {
    const n = sizes[k % sizes.length] as number;
    parts.push(bytes.subarray(p, p + n));
    p += n;
  }
  const o: ReaderOptions = { format, maxRecordBytes: N, ...opts };
  const out: Outcome = { inputs: [], lines: [], raw: [] };
  const add = (r: EURecord): void => {
    out.inputs.push(r.input);
    out.lines.push(r.source.line);
    out.raw.push(r.rawBytes);
  };
  try {
    if (batched) {
      for await (const b of readRecordBatches("-", o, Readable.from(parts))) for (const r of b) add(r);
    } else {
      for await (const r of readRecords("-", o, Readable.from(parts))) add(r);
    }
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    out.err = { code: e.code, message: e.message, details: e.details };
  }
  return out;
}

/** Reads `text` in every chunking (and batched for jsonl/lines); all must agree. */
async function outcome(format: InputFormat, text: string | Buffer, opts: Partial<ReaderOptions> = {}): Promise<Outcome> {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  const first = await read(format, bytes, CHUNKINGS[0] as number[], opts, false);
  for (const sizes of CHUNKINGS) {
    expect(await read(format, bytes, sizes, opts, false), `${format} chunks ${sizes.join(",")}`).toEqual(first);
    if (format === "jsonl" || format === "lines") expect(await read(format, bytes, sizes, opts, true), `${format} batched, chunks ${sizes.join(",")}`).toEqual(first);
  }
  return first;
}

async function accepted(format: InputFormat, text: string | Buffer, opts: Partial<ReaderOptions> = {}): Promise<unknown[]> {
  const o = await outcome(format, text, opts);
  expect(o.err).toBeUndefined();
  return o.inputs;
}

async function refused(format: InputFormat, text: string | Buffer, opts: Partial<ReaderOptions> = {}): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  const o = await outcome(format, text, opts);
  expect(o.err).toBeDefined();
  return o.err as { code: string; message: string; details: Record<string, unknown> };
}

const csvTooBig = (line: number, index: number): { code: string; message: string; details: Record<string, unknown> } => ({
  code: "E_LIMIT_EXCEEDED",
  message: `<stdin>:${line}: record ${index}: the record is larger than the record size limit of ${N} bytes`,
  details: expect.objectContaining({ file: "<stdin>", line, index, limit: N }) as Record<string, unknown>,
});

describe("csv: a record's raw bytes without its terminator", () => {
  it("unquoted: N bytes accepted, N + 1 refused (LF, CR LF, or no terminator at the end)", async () => {
    for (const end of ["\n", "\r\n", ""]) {
      expect(await accepted("csv", `h\n${a(N)}${end}`)).toEqual([{ h: a(N) }]);
      expect(await refused("csv", `h\n${a(N + 1)}${end}`)).toEqual(csvTooBig(2, 0));
    }
    // A CR at the very end of the input is data (a lone CR), so it counts.
    expect(await accepted("csv", `h\n${a(N - 1)}\r`)).toEqual([{ h: `${a(N - 1)}\r` }]);
    expect(await refused("csv", `h\n${a(N)}\r`)).toEqual(csvTooBig(2, 0));
  });

  it("quoted: the quotes count; the same value is refused quoted or not once the record passes N", async () => {
    expect(await accepted("csv", `h\n"${a(N - 2)}"\n`)).toEqual([{ h: a(N - 2) }]);
    expect(await refused("csv", `h\n"${a(N - 1)}"\n`)).toEqual(csvTooBig(2, 0));
    // The tester's case: a 101-byte value, unquoted and quoted.
    expect(await refused("csv", `h\n${a(N + 1)}\n`)).toEqual(csvTooBig(2, 0));
    expect(await refused("csv", `h\n"${a(N + 1)}"\n`)).toEqual(csvTooBig(2, 0));
    // A doubled quote is two bytes of the record.
    expect(await accepted("csv", `h\n"${a(N - 4)}"""\n`)).toEqual([{ h: `${a(N - 4)}"` }]);
    expect(await refused("csv", `h\n"${a(N - 3)}"""\n`)).toEqual(csvTooBig(2, 0));
  });

  it("several fields: the commas count", async () => {
    const half = N / 2;
    expect(await accepted("csv", `h,i\n${a(half)},${a(half - 1)}\n`)).toEqual([{ h: a(half), i: a(half - 1) }]);
    expect(await refused("csv", `h,i\n${a(half)},${a(half)}\n`)).toEqual(csvTooBig(2, 0));
    expect(await accepted("csv", `h,i\n"${a(half - 2)}","${a(half - 3)}"\r\n`)).toEqual([{ h: a(half - 2), i: a(half - 3) }]);
    expect(await refused("csv", `h,i\n"${a(half - 2)}","${a(half - 2)}"\r\n`)).toEqual(csvTooBig(2, 0));
  });

  it("multi-line quoted field: the line breaks inside it count (LF and CR LF), the terminator does not", async () => {
    // 1 + 60 + 1 + (N - 63) + 1 = N bytes.
    expect(await accepted("csv", `h\n"${a(60)}\n${a(N - 63)}"\n`)).toEqual([{ h: `${a(60)}\n${a(N - 63)}` }]);
    expect(await refused("csv", `h\n"${a(60)}\n${a(N - 62)}"\n`)).toEqual(csvTooBig(2, 0));
    // The tester's case: 60 + LF + 40 inside quotes is 103 bytes.
    expect(await refused("csv", `h\n"${a(60)}\n${a(40)}"\n`)).toEqual(csvTooBig(2, 0));
    expect(await accepted("csv", `h\n"${a(60)}\r\n${a(N - 64)}"\r\n`)).toEqual([{ h: `${a(60)}\r\n${a(N - 64)}` }]);
    expect(await refused("csv", `h\n"${a(60)}\r\n${a(N - 63)}"\r\n`)).toEqual(csvTooBig(2, 0));
    // Many short lines (no line is long, the fields' text alone is under N): the record is measured whole.
    const lines = `"${Array.from({ length: 19 }, () => "aaaa").join("\n")}"`; // 19*4 + 18 + 2 = 96 bytes
    expect(await accepted("csv", `h,i,j\n${lines},,ab\n${lines},,\n`)).toEqual([
      { h: lines.slice(1, -1), i: "", j: "ab" },
      { h: lines.slice(1, -1), i: "", j: "" },
    ]);
    expect(await refused("csv", `h,i,j\n${lines},,\n${lines},,abc\n`)).toEqual(csvTooBig(21, 1));
  });

  it("a record over many short lines is refused at the line where it passes the limit, before it is held whole", async () => {
    // Each line closes a quoted field, adds empty fields and opens another quoted field: the
    // fields' text grows by one byte (an LF) per line, the record by 43 bytes; it never ends.
    let pulled = 0;
    function* source(): Generator<Buffer> {
      yield Buffer.from('h\n"\n');
      for (;;) {
        pulled++;
        yield Buffer.from(`"${",".repeat(40)}"\n`);
      }
    }
    let err: unknown;
    try {
      for await (const r of readRecords("-", { format: "csv", maxRecordBytes: N }, Readable.from(source(), { highWaterMark: 1 }))) void r;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect([(err as CairnError).code, (err as CairnError).message]).toEqual(["E_LIMIT_EXCEEDED", `<stdin>:2: record 0: the record is larger than the record size limit of ${N} bytes`]);
    // 2 + 43 + 43 + 1 bytes pass N on the third line; a few more chunks are read ahead at most.
    expect(pulled).toBeLessThan(10);
  });

  it("empty lines before a record are not part of it; the line and index still name it", async () => {
    expect(await accepted("csv", `h\n\n\r\n${a(N)}\n\n${a(N)}\n`)).toEqual([{ h: a(N) }, { h: a(N) }]);
    expect(await refused("csv", `h\n\n\r\n${a(N)}\n\r\n\n${a(N + 1)}\n`)).toEqual(csvTooBig(7, 1));
  });

  it("bytes, not characters", async () => {
    expect(await accepted("csv", `h\n${"é".repeat(N / 2)}\n`)).toEqual([{ h: "é".repeat(N / 2) }]);
    expect(await refused("csv", `h\n${"é".repeat(N / 2)}a\n`)).toEqual(csvTooBig(2, 0));
  });

  it("the header: N bytes accepted, N + 1 refused", async () => {
    expect(await accepted("csv", `${a(N)}\n1\n`)).toEqual([{ [a(N)]: "1" }]);
    expect(await accepted("csv", `\ufeff${a(N)}\r\n1\n`)).toEqual([{ [a(N)]: "1" }]); // a BOM is not part of it
    expect(await refused("csv", `${a(N + 1)}\n1\n`)).toEqual({
      code: "E_LIMIT_EXCEEDED",
      message: `<stdin>:1: header: the header is larger than the record size limit of ${N} bytes`,
      details: expect.objectContaining({ file: "<stdin>", line: 1, limit: N }) as Record<string, unknown>,
    });
  });

  it("a multi-line record over the limit is the size error even when its field count is also wrong", async () => {
    // N + 1 bytes over two lines, 2 fields where the header has 1.
    expect(await refused("csv", `h\n"${a(50)}\n${a(N - 54)}",x\n`)).toEqual(csvTooBig(2, 0));
    // N bytes: the field count error.
    const e = await refused("csv", `h\n"${a(50)}\n${a(N - 55)}",x\n`);
    expect([e.code, e.message]).toEqual(["E_INVALID_INPUT", "<stdin>:2: record 0: expected 1 fields, got 2"]);
  });
});

describe("json: an element's own text, without the whitespace around it", () => {
  const tooBig = (line: number, index: number): { code: string; message: string; details: Record<string, unknown> } => ({
    code: "E_LIMIT_EXCEEDED",
    message: `<stdin>:${line}: element ${index}: the element is larger than the record size limit of ${N} bytes`,
    details: { file: "<stdin>", line, index, limit: N },
  });

  it("N bytes accepted, N + 1 refused, with and without whitespace around the element", async () => {
    for (const [open, close] of [["[", "]"], ["[ ", " ]"], ["[\n\t", "\r\n ]"], ["  [", "]\n"]] as const) {
      expect(await accepted("json", `${open}"${a(N - 2)}"${close}`)).toEqual([a(N - 2)]);
      expect(await refused("json", `${open}"${a(N - 1)}"${close}`)).toEqual(tooBig(open.includes("\n") ? 2 : 1, 0));
    }
  });

  it("between commas, and whitespace inside an element counts", async () => {
    expect(await accepted("json", `[1 ,\n "${a(N - 2)}"  \n, 2]`)).toEqual([1, a(N - 2), 2]);
    expect(await refused("json", `[1 ,\n "${a(N - 1)}"  \n, 2]`)).toEqual(tooBig(2, 1));
    // {"k": "…"} : 9 bytes around the value.
    expect(await accepted("json", `[ {"k": "${a(N - 9)}"} ]`)).toEqual([{ k: a(N - 9) }]);
    expect(await refused("json", `[ {"k": "${a(N - 8)}"} ]`)).toEqual(tooBig(1, 0));
    expect(await refused("json", `[ {"k":  "${a(N - 9)}"} ]`)).toEqual(tooBig(1, 0));
  });

  it("any amount of whitespace after an element is not counted, whatever the chunking", async () => {
    const o = await outcome("json", `[ "${a(N - 2)}"${" ".repeat(3 * N)}]`);
    expect(o).toEqual({ inputs: [a(N - 2)], lines: [1], raw: [4 * N] });
    expect(await accepted("json", `["abc"${" ".repeat(5 * N)}\n${"\t".repeat(N)},${" ".repeat(3 * N)}1${"\n".repeat(2 * N)}]`)).toEqual(["abc", 1]);
    expect(await accepted("json", `[ "${a(N - 2)}"${" ".repeat(3 * N)}]`)).toEqual([a(N - 2)]);
  });

  it("whitespace after an element is dropped once the held bytes would pass the limit", () => {
    const splitter = new JsonArraySplitter(N, "<stdin>");
    const out: JsonElement[] = [];
    for (const part of ['["abc"', ...Array.from({ length: 6 }, () => " ".repeat(N / 2)), "\n]"]) splitter.push(Buffer.from(part), out);
    splitter.check();
    splitter.end();
    expect(out.map((e) => [e.bytes.toString(), e.index, e.line])).toEqual([['"abc"', 0, 1]]);
  });

  it("text after that whitespace makes it part of the element: over the limit, the size error; under it, the JSON error", async () => {
    expect(await refused("json", `["abc"${" ".repeat(N)}x]`)).toEqual(tooBig(1, 0));
    expect(await refused("json", `["abc"${" ".repeat(N)}}]`)).toEqual(tooBig(1, 0));
    expect(await refused("json", `["abc"${" ".repeat(N)}"d"]`)).toEqual(tooBig(1, 0));
    const e = await refused("json", `["abc"${" ".repeat(N - 6)}x]`); // 5 + 94 + 1 = N bytes
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toMatch(/^<stdin>:1: element 0: invalid JSON: /);
    const f = await refused("json", `["abc"${" ".repeat(N - 6)}}]`);
    expect([f.code, f.message]).toEqual(["E_INVALID_INPUT", "<stdin>:1: element 0: invalid JSON: unexpected '}'"]);
  });

  it("the element's value and its line are as before", async () => {
    const o = await outcome("json", `[\n  {"a": 1}  ,\n\n  [2, 3]\n]\n`);
    // rawBytes: up to the `,` or `]` after the element, as before.
    expect(o).toEqual({ inputs: [{ a: 1 }, [2, 3]], lines: [2, 4], raw: [10, 7] });
  });
});

describe("jsonl and lines: the line without its terminator", () => {
  it("jsonl", async () => {
    for (const end of ["\n", "\r\n", ""]) {
      expect(await accepted("jsonl", `"${a(N - 2)}"${end}`)).toEqual([a(N - 2)]);
      expect(await refused("jsonl", `1\n"${a(N - 1)}"${end}`)).toEqual({
        code: "E_LIMIT_EXCEEDED",
        message: `<stdin>:2: record 1: line is longer than the record size limit of ${N} bytes`,
        details: { file: "<stdin>", line: 2, index: 1, limit: N },
      });
    }
  });

  it("lines", async () => {
    for (const end of ["\n", "\r\n", ""]) {
      expect(await accepted("lines", `${a(N)}${end}`)).toEqual([a(N)]);
      expect(await refused("lines", `x\n${a(N + 1)}${end}`)).toEqual({
        code: "E_LIMIT_EXCEEDED",
        message: `<stdin>:2: record 1: line is longer than the record size limit of ${N} bytes`,
        details: { file: "<stdin>", line: 2, index: 1, limit: N },
      });
    }
    expect(await accepted("lines", `${"é".repeat(N / 2)}\n`)).toEqual(["é".repeat(N / 2)]);
    expect((await refused("lines", `${"é".repeat(N / 2)}a\n`)).code).toBe("E_LIMIT_EXCEEDED");
  });
});

describe("files: the file's size", () => {
  let d: string;
  beforeAll(() => {
    d = mkdtempSync(join(tmpdir(), "cairn-size-boundary-"));
  });
  afterAll(() => rmSync(d, { recursive: true, force: true }));

  it("N bytes accepted, N + 1 refused", async () => {
    writeFileSync(join(d, "a"), a(N));
    const ok: unknown[] = [];
    for await (const r of readRecords(d, { format: "files", maxRecordBytes: N })) ok.push(r.input);
    expect(ok).toEqual([Buffer.from(a(N))]);
    writeFileSync(join(d, "b"), a(N + 1));
    let err: unknown;
    try {
      for await (const r of readRecords(d, { format: "files", maxRecordBytes: N })) void r;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect([(err as CairnError).code, (err as CairnError).message]).toEqual([
      "E_LIMIT_EXCEEDED",
      `${join(d, "b")}: record 1: file is larger than the record size limit of ${N} bytes`,
    ]);
  });
});

describe("random inputs against a reference measure (property)", () => {
  /** Reads `bytes` with the limit `max` in chunks of `sizes` (cycled). */
  async function got(format: InputFormat, bytes: Buffer, max: number, sizes: number[]): Promise<string> {
    const o = await read(format, bytes, sizes, { maxRecordBytes: max }, false);
    return JSON.stringify(o.err === undefined ? { inputs: o.inputs, lines: o.lines } : { code: o.err.code, message: o.err.message });
  }

  it("csv: a record is refused exactly when its raw bytes (terminator and empty lines excluded) pass the limit", async () => {
    const field = fc.array(fc.constantFrom("a", "é", " ", ",", '"', "\r", "\n", "\r\n"), { maxLength: 6 }).map((t) => t.join(""));
    const csv = fc.record({
      cols: fc.integer({ min: 1, max: 3 }),
      rows: fc.array(fc.tuple(fc.array(field, { minLength: 3, maxLength: 3 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.constantFrom("\n", "\r\n"), fc.array(fc.constantFrom("\n", "\r\n"), { maxLength: 2 })), { maxLength: 6 }),
      headerQuoted: fc.boolean(),
      lastEnd: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(csv, fc.integer({ min: 1, max: 30 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }), async (c, max, sizes) => {
        const names = Array.from({ length: c.cols }, (_, i) => `h${i}`);
        const encode = (v: string, quote: boolean): string => (quote || v === "" || /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
        // [raw record text, terminator, empty lines before it, its values]
        const recs: [string, string, string, string[]][] = [[names.map((n) => encode(n, c.headerQuoted)).join(","), "\n", "", names]];
        for (const [fields, quotes, end, empties] of c.rows) {
          const values = fields.slice(0, c.cols);
          // A one-column record of one empty unquoted field would be an empty line: encode() quotes it.
          recs.push([values.map((v, i) => encode(v, quotes[i] as boolean)).join(","), end, empties.join(""), values]);
        }
        if (!c.lastEnd) (recs[recs.length - 1] as [string, string, string, string[]])[1] = "";
        let text = "";
        let expected: unknown;
        const inputs: unknown[] = [];
        const lines: number[] = [];
        for (let k = 0; k < recs.length; k++) {
          const [raw, end, empties, values] = recs[k] as [string, string, string, string[]];
          text += empties;
          const line = 1 + (text.match(/\n/g) ?? []).length;
          if (expected === undefined && Buffer.byteLength(raw) > max) {
            const where = k === 0 ? "header: the header" : `record ${k - 1}: the record`;
            expected = { code: "E_LIMIT_EXCEEDED", message: `<stdin>:${line}: ${where} is larger than the record size limit of ${max} bytes` };
          }
          if (k > 0) {
            inputs.push(Object.fromEntries(names.map((n, i) => [n, values[i]])));
            lines.push(line);
          }
          text += raw + end;
        }
        const want = JSON.stringify(expected ?? { inputs, lines });
        const bytes = Buffer.from(text);
        expect(await got("csv", bytes, max, [1 << 20])).toBe(want);
        expect(await got("csv", bytes, max, sizes)).toBe(want);
      }),
      { numRuns: 400, seed: 20261210 },
    );
  });

  it("json: an element is refused exactly when its own text passes the limit, whatever whitespace surrounds it", async () => {
    const ws = fc.array(fc.constantFrom(" ", "\t", "\r", "\n"), { maxLength: 4 }).map((t) => t.join(""));
    const value = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.array(fc.constantFrom(1, "é", null), { maxLength: 3 }), fc.dictionary(fc.constantFrom("a", "b"), fc.boolean()));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(value, fc.constantFrom(0, 1, 2), ws, ws), { maxLength: 5 }),
        ws,
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        async (elements, tail, max, sizes) => {
          let text = "[";
          let expected: unknown;
          const inputs: unknown[] = [];
          const lines: number[] = [];
          elements.forEach(([v, indent, before, after], k) => {
            text += (k > 0 ? "," : "") + before;
            const own = JSON.stringify(v, null, indent); // starts and ends with a non-whitespace byte
            const line = 1 + (text.match(/\n/g) ?? []).length;
            if (expected === undefined && Buffer.byteLength(own) > max) {
              expected = { code: "E_LIMIT_EXCEEDED", message: `<stdin>:${line}: element ${k}: the element is larger than the record size limit of ${max} bytes` };
            }
            inputs.push(v);
            lines.push(line);
            text += own + after;
          });
          text += `${tail}]${tail}`;
          const want = JSON.stringify(expected ?? { inputs, lines });
          const bytes = Buffer.from(text);
          expect(await got("json", bytes, max, [1 << 20])).toBe(want);
          expect(await got("json", bytes, max, sizes)).toBe(want);
        },
      ),
      { numRuns: 400, seed: 20261210 },
    );
  });
});
