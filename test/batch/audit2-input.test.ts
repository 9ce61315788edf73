/**
 * Second input audit (ARCHITECTURE §10.15, §10.19):
 *  1. an input file that cannot be read is E_INVALID_INPUT "cannot read input …" with its errno
 *     (never E_INTERNAL, never "not found" unless ENOENT), whether the open fails at stat time
 *     or when the stream starts, and whether ingest runs beside the bundling or not;
 *  2. a record both over the size limit and malformed is the size error whatever the chunking;
 *  3. invalid UTF-8 and over-long lines name the record (jsonl, csv), CSV where it starts;
 *  4. engine-side input errors keep E_INVALID_INPUT naming the record; compareIds is gone;
 *  5. a number id must be written as an integer literal, and is quoted as written.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { ingest, storedRecordBatches } from "../../src/batch/ingest.js";
import { memberText } from "../../src/batch/input/ids.js";
import { readRecordBatches, readRecords } from "../../src/batch/input/readers.js";
import type { EURecord, InputFormat, ReaderOptions } from "../../src/batch/input/types.js";
import { Scratch, expectCairnError, fixture, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cairn-audit2-input-"));
});
afterAll(() => {
  scratch.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The records and the error (code and message) of reading `bytes` in chunks of `sizes` (cycled). */
async function outcome(format: InputFormat, bytes: Buffer, sizes: number[], opts: Partial<ReaderOptions> = {}, batched = false): Promise<string> {
  const parts: Buffer[] = [];
  for (let p = 0, k = 0; p < bytes.length; k++) {
    const n = sizes[k % sizes.length] as number;
    parts.push(bytes.subarray(p, p + n));
    p += n;
  }
  const src = Readable.from(parts);
  const recs: unknown[] = [];
  const o: ReaderOptions = { format, ...opts };
  try {
    if (batched) for await (const b of readRecordBatches("-", o, src)) for (const r of b) recs.push([r.id, r.input, r.source.line]);
    else for await (const r of readRecords("-", o, src)) recs.push([r.id, r.input, r.source.line]);
    return JSON.stringify({ recs });
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    return JSON.stringify({ recs, err: [e.code, e.message] });
  }
}

/** The error of reading `bytes` (one chunk, 1-byte chunks and a few others must agree). */
async function errorOf(format: InputFormat, bytes: Buffer, opts: Partial<ReaderOptions> = {}): Promise<{ code: string; message: string }> {
  const whole = await outcome(format, bytes, [1 << 20], opts);
  for (const sizes of [[1], [2, 1, 3], [5]]) expect(await outcome(format, bytes, sizes, opts), `chunks ${sizes.join(",")}`).toBe(whole);
  const parsed = JSON.parse(whole) as { err?: [string, string] };
  if (parsed.err === undefined) throw new Error(`expected an error, got ${whole}`);
  return { code: parsed.err[0], message: parsed.err[1] };
}

const b = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));

describe("1. unreadable inputs", () => {
  let server: Server | undefined;
  afterAll(() => server?.close());

  it("a socket (open fails when the stream starts: ENXIO) is E_INVALID_INPUT, through run() (ingest beside the bundling) and ingest() alone", async () => {
    const sock = join(dir, "in.sock");
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(sock, resolve));
    const { store } = scratch.store();
    const msg = `cannot read input ${sock}: ENXIO: no such device or address, open '${sock}'`;
    const err = await expectCairnError(run(store, sock, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(msg);
    expect(err.details).toMatchObject({ file: sock, errno: "ENXIO" });
    const direct = await expectCairnError(ingest(store, sock, "jsonl"), ErrorCode.INVALID_INPUT);
    expect(direct.message).toBe(msg);
    // A module that cannot be bundled still comes first (the input is read as if after it).
    const nomod = join(dir, "no-such-module.mjs");
    await expectCairnError(run(store, sock, nomod, { workers: 1 }), ErrorCode.NOT_FOUND, nomod);
  });

  it("a symlink loop (ELOOP) and a path through a file (ENOTDIR) are E_INVALID_INPUT, not 'not found'; ENOENT stays E_NOT_FOUND", async () => {
    const loop = join(dir, "loop.jsonl");
    symlinkSync(loop, loop);
    const { store } = scratch.store();
    const e1 = await expectCairnError(run(store, loop, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(e1.message).toBe(`cannot read input ${loop}: ELOOP: too many symbolic links encountered, stat '${loop}'`);
    const file = join(dir, "plain.txt");
    writeFileSync(file, "1\n");
    const through = join(file, "x.jsonl");
    const e2 = await expectCairnError(ingest(store, through, "csv"), ErrorCode.INVALID_INPUT);
    expect(e2.message).toBe(`cannot read input ${through}: ENOTDIR: not a directory, stat '${through}'`);
    const missing = join(dir, "missing.jsonl");
    const e3 = await expectCairnError(run(store, missing, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.NOT_FOUND);
    expect(e3.message).toBe(`input not found: ${missing}`);
  });

  it("a file without read permission, and a file in a directory that cannot be searched, are E_INVALID_INPUT EACCES", async () => {
    // Under /tmp itself: the user dropped to below must reach it (the tests' temp dir is private).
    const root = process.getuid?.() === 0;
    const d = root ? mkdtempSync("/tmp/cairn-audit2-perm-") : join(dir, "perm");
    if (!root) mkdirSync(d);
    chmodSync(d, 0o777);
    const noperm = join(d, "noperm.jsonl");
    writeFileSync(noperm, "1\n");
    chmodSync(noperm, 0o000);
    const hid = join(d, "hid");
    mkdirSync(hid);
    const hidden = join(hid, "x.jsonl");
    writeFileSync(hidden, "1\n");
    chmodSync(hid, 0o000);
    try {
      const cases: Array<[string, string]> = [
        [noperm, `cannot read input ${noperm}: EACCES: permission denied, open '${noperm}'`],
        [hidden, `cannot read input ${hidden}: EACCES: permission denied, stat '${hidden}'`],
      ];
      if (!root) {
        for (const [path, message] of cases) {
          const { store } = scratch.store();
          const err = await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
          expect(err.message).toBe(message);
        }
        return;
      }
      // root reads anything: drop to nobody through the CLI (a build: CAIRN_TEST_CLI).
      const cli = process.env["CAIRN_TEST_CLI"] ?? fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
      const setpriv = spawnSync("setpriv", ["--version"]);
      if (setpriv.status !== 0 || !existsSync(cli)) return; // cannot drop privileges here
      const mod = join(d, "id.mjs");
      writeFileSync(mod, "export default (x) => x;\n");
      for (const [path, message] of cases) {
        const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, cli, "run", mod, "--store", join(d, "s"), "--json", "--input", path], {
          encoding: "utf8",
          cwd: d,
        });
        expect(r.status, r.stderr).toBe(1);
        const line = `${r.stdout}\n${r.stderr}`.split("\n").find((l) => l.startsWith('{"error"'));
        expect(JSON.parse(line ?? "null")).toMatchObject({ error: { code: ErrorCode.INVALID_INPUT, message } });
      }
    } finally {
      chmodSync(hid, 0o755);
      chmodSync(noperm, 0o644);
      if (root) rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("2. the size error wins whatever the chunking", () => {
  it.each([
    ["jsonl", b([0xff], "aaaaaaaaaa\n"), "E_LIMIT_EXCEEDED", "<stdin>:1: record 0: line is longer than the record size limit of 5 bytes"],
    ["lines", b([0xff], "aaaaaaaaaa\n"), "E_LIMIT_EXCEEDED", "<stdin>:1: record 0: line is longer than the record size limit of 5 bytes"],
    ["csv", b('h\nab"cdefghij\n'), "E_LIMIT_EXCEEDED", "<stdin>:2: record 0: the record is larger than the record size limit of 5 bytes"],
    ["csv", b("h\n", [0xff], "bcdefghij\n"), "E_LIMIT_EXCEEDED", "<stdin>:2: record 0: the record is larger than the record size limit of 5 bytes"],
    ["json", b("[{1,2,3,4,5]]"), "E_LIMIT_EXCEEDED", "<stdin>:1: element 0: the element is larger than the record size limit of 5 bytes"],
    // Not over the limit before the error: the error itself.
    ["json", b("[{1]]"), "E_INVALID_INPUT", "<stdin>:1: element 0: invalid JSON: expected '}' but found ']'"],
    ["jsonl", b([0xff], "a\n"), "E_INVALID_INPUT", "<stdin>:1: record 0: invalid UTF-8"],
    ["csv", b('h\nab"c\n'), "E_INVALID_INPUT", "<stdin>:2: record 0: quote inside an unquoted field in the record starting at line 2 (quote the whole field and double the quotes inside it)"],
  ] as const)("%s %j", async (format, bytes, code, message) => {
    expect(await errorOf(format, bytes, { maxRecordBytes: 5 })).toEqual({ code, message });
  });

  it("random inputs: the records and the error never depend on the chunking (property, every text format)", async () => {
    const alphabet: Record<string, string[]> = {
      jsonl: ["\n", "\r", "\r\n", "{", "}", '"', '"a"', ":", "1", ",", "[", "]", "\xff", "\xc3", "\xa9", " ", "x"],
      lines: ["\n", "\r", "\r\n", "a", "\xff", "\xc3", "\xa9", "\xe2\x82\xac", " "],
      csv: ["\n", "\r\n", "a", ",", '"', "\xff", "\xc3\xa9", " "],
      json: ["[", "]", "{", "}", ",", '"', "\\", "1", ":", " ", "\n", '"a"', "\xff", "\xc3\xa9", "x"],
    };
    for (const format of ["jsonl", "lines", "csv", "json"] as const) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(...(alphabet[format] as string[])), { maxLength: 30 }),
          fc.integer({ min: 2, max: 14 }),
          fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 3 }),
          async (tokens, max, sizes) => {
            const head = format === "csv" ? "h,i\n" : format === "json" ? "[" : "";
            const bytes = Buffer.from(head + tokens.join(""), "latin1");
            const whole = await outcome(format, bytes, [1 << 20], { maxRecordBytes: max });
            expect(await outcome(format, bytes, sizes, { maxRecordBytes: max })).toBe(whole);
            expect(await outcome(format, bytes, [1], { maxRecordBytes: max })).toBe(whole);
            if (format === "jsonl" || format === "lines") expect(await outcome(format, bytes, sizes, { maxRecordBytes: max }, true)).toBe(whole);
          },
        ),
        { numRuns: 300, seed: 20261201 },
      );
    }
  });
});

describe("3. errors name the record, CSV where it starts", () => {
  it("csv: invalid UTF-8 inside a quoted field names the line where the record starts and its index", async () => {
    expect(await errorOf("csv", b('a\n1\n"x\n', [0xff], '"\n'))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:3: record 1: invalid UTF-8" });
    // On a record's first line; after empty lines; in the header.
    expect(await errorOf("csv", b("a\n1\n\n\nx", [0xff], "\n"))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:5: record 1: invalid UTF-8" });
    expect(await errorOf("csv", b("a,", [0xff], "\n1,2\n"))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:1: header: invalid UTF-8" });
    expect(await errorOf("csv", b('"a\n', [0xff], '"\n1\n'))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:1: header: invalid UTF-8" });
  });

  it("csv: a line over the limit names the record (or header) it is in, where it starts", async () => {
    expect(await errorOf("csv", b('a\n1\n"x\n', "y".repeat(20), '"\n'), { maxRecordBytes: 8 })).toEqual({
      code: "E_LIMIT_EXCEEDED",
      message: "<stdin>:3: record 1: the record is larger than the record size limit of 8 bytes",
    });
    expect(await errorOf("csv", b("a".repeat(20), "\n1\n"), { maxRecordBytes: 8 })).toEqual({
      code: "E_LIMIT_EXCEEDED",
      message: "<stdin>:1: header: the header is larger than the record size limit of 8 bytes",
    });
  });

  it("jsonl: invalid UTF-8 and an over-long line name the record index (blank lines are not records)", async () => {
    expect(await errorOf("jsonl", b("1\n\n2\n[", [0xff], "]\n"))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:4: record 2: invalid UTF-8" });
    expect(await errorOf("jsonl", b("1\n \n2\n", "9".repeat(30), "\n"), { maxRecordBytes: 10 })).toEqual({
      code: "E_LIMIT_EXCEEDED",
      message: "<stdin>:4: record 2: line is longer than the record size limit of 10 bytes",
    });
    // lines: every line is a record (index = line - 1, blank lines too), named like the others.
    expect(await errorOf("lines", b("1\n\n2\n", [0xff], "\n"))).toEqual({ code: "E_INVALID_INPUT", message: "<stdin>:4: record 3: invalid UTF-8" });
  });

  it("through the engine, the details carry the record index", async () => {
    const { store } = scratch.store();
    const p = join(dir, "u1.csv");
    writeFileSync(p, b('a\n1\n"x\n', [0xff], '"\n'));
    const err = await expectCairnError(run(store, p, fixture("engine-pure.mjs"), { format: "csv", workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${p}:3: record 1: invalid UTF-8`);
    expect(err.details).toMatchObject({ file: p, line: 3, index: 1 });
  });
});

describe("4. engine-side input errors; compareIds", () => {
  it("an input value with a lone surrogate is E_INVALID_INPUT naming the record (not E_CANONICAL)", async () => {
    const { store } = scratch.store();
    const p = scratch.text('1\n{"a":"\\ud800"}\n', "sur.jsonl");
    const err = await expectCairnError(run(store, p, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${p}:2: record 1: cannot canonicalize a string containing a lone surrogate at $.a`);
  });

  it("partition.ts no longer exports compareIds (the output order is the ordering index's)", async () => {
    const mod = await import("../../src/batch/partition.js");
    expect("compareIds" in mod).toBe(false);
  });
});

describe("5. number ids are read as written", () => {
  const ids = async (format: "jsonl" | "json", text: string, opts: Partial<ReaderOptions> = {}): Promise<unknown[]> => {
    const out: unknown[] = [];
    for await (const r of readRecords("-", { format, idField: "id", ...opts }, Readable.from([Buffer.from(text)]))) out.push((r as EURecord).id);
    return out;
  };
  const got = "id field \"id\" must be a string or an integer, got";

  it.each([
    ['{"id":9007199254740990.9}', `a number written with a fraction or an exponent (9007199254740990.9): write an integer id with digits only`],
    ['{"id":1.0000000000000001}', `a number written with a fraction or an exponent (1.0000000000000001): write an integer id with digits only`],
    ['{"id":5.0}', `a number written with a fraction or an exponent (5.0): write an integer id with digits only`],
    ['{"id":1e3}', `a number written with a fraction or an exponent (1e3): write an integer id with digits only`],
    ['{"id":9007199254740993}', "an integer outside the safe range ±(2^53-1) (9007199254740993)"],
    ['{"id":12345678901234567890}', "an integer outside the safe range ±(2^53-1) (12345678901234567890)"],
    ['{"id":1e400}', "a non-integer number (1e400)"],
    // The top-level member is found: not a nested one, not one inside a string; escaped keys too.
    ['{"a":{"id":5},"s":"\\"id\\":5","id":5.0}', `a number written with a fraction or an exponent (5.0): write an integer id with digits only`],
    ['{ "\\u0069d" : -0.0 }', `a number written with a fraction or an exponent (-0.0): write an integer id with digits only`],
  ])("jsonl and json refuse %s", async (text, what) => {
    await expect(ids("jsonl", `{"id":"x"}\n${text}\n`)).rejects.toMatchObject({ code: ErrorCode.INVALID_INPUT, message: `<stdin>:2: record 1: ${got} ${what}` });
    await expect(ids("json", `[{"id":"x"},\n${text}]`)).rejects.toMatchObject({ code: ErrorCode.INVALID_INPUT, message: `<stdin>:2: element 1: ${got} ${what}` });
  });

  it("integer literals are ids (-0 is 0); verify's lenient re-read takes a number as parsed", async () => {
    const text = '{"id":7}\n{"x":[1,{"id":2.5}],"id":-0}\n{"id":9007199254740991}\n';
    expect(await ids("jsonl", text)).toEqual([7, 0, 9007199254740991]);
    expect(await ids("json", `[${text.trim().split("\n").join(",")}]`)).toEqual([7, 0, 9007199254740991]);
    const { store } = scratch.store();
    const a = await store.put(Buffer.from('{"id":5.0}\n{"id":1e1}\n'));
    const out: unknown[] = [];
    for await (const batch of storedRecordBatches(store, { artifact: a.digest, source: "old.jsonl", format: "jsonl" }, "id", undefined, undefined, true)) for (const r of batch) out.push(r.id);
    expect(out).toEqual([5, 10]);
  });

  it("memberText finds the text of a top-level member in any JSON object (property)", () => {
    const key = fc.constantFrom("id", "a", "i\"d", "\\", "é", "id ");
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: (t) => t[0], maxLength: 6 }), fc.constantFrom("", " ", "\n\t"), fc.boolean(), (members, ws, escape) => {
        const k = (s: string): string => (escape ? JSON.stringify(s).replace(/i/g, "\\u0069") : JSON.stringify(s));
        const text = `${ws}{${ws}${members.map(([m, v]) => `${k(m)}${ws}:${ws}${JSON.stringify(v, null, ws === "" ? undefined : 1)}`).join(`${ws},${ws}`)}${ws}}${ws}`;
        const obj = JSON.parse(text) as Record<string, unknown>;
        for (const name of ["id", "a", "i\"d", "\\", "é", "id "]) {
          // The caller only asks for a member the parsed record has.
          if (Object.prototype.hasOwnProperty.call(obj, name)) expect(JSON.parse(memberText(text, name) as string)).toEqual(obj[name]);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  it("values are read as doubles (documented): a long integer is rounded, 1e400 has no canonical form", async () => {
    const { store } = scratch.store();
    const p = scratch.text('{"n":12345678901234567890,"u":1e-400,"f":1.0000000000000001}\n', "round.jsonl");
    const r = await run(store, p, { code: "export default (x) => x;\n", name: "id.mjs" }, { workers: 1 });
    expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([{ f: 1, n: 12345678901234567000, u: 0 }]);
    const q = scratch.text('{"n":1e400}\n', "inf.jsonl");
    const err = await expectCairnError(run(store, q, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${q}:1: record 0: cannot canonicalize Infinity at $.n`);
  });
});
