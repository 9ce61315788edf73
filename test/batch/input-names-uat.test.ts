/**
 * UAT findings on how the input readers name what they read (2026-11-28):
 *
 * A. A path that is not valid UTF-8 reaches Cairn with U+FFFD in it (Node decodes argv, and a
 *    path is a string): it cannot be opened, and "input not found" alone misled. The E_NOT_FOUND
 *    message now says why (`input/source.ts` `inputIoError`, `REPLACEMENT_CHAR_HINT`).
 * B. A duplicate key in a multi-line `json` element named the key's line as the record's; the
 *    error now names the line where the element starts, as every reader error does, and keeps
 *    both keys' lines in the message (`json-array.ts` `parseElement`).
 * C. A `files` name holding a newline (or another control character) split the one-line error;
 *    listed names are shown with `escapeControls` (`core/describe.ts`).
 * D. The `files` symlink error had no record index (the FIFO error of the same reader has);
 *    it now says `record N` with `details.index`, as does a file name that is not UTF-8.
 *
 * Library level (`readRecords`, `run`), then one check through the BUILT cli (CAIRN_TEST_CLI
 * for a private build, else dist/): the argv bytes and the one-line stderr.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { readRecords } from "../../src/batch/input/readers.js";
import type { EURecord, ReaderOptions } from "../../src/batch/input/types.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => x;\n", name: "id.mjs" };
const HINT =
  "(the path holds U+FFFD, the replacement character: a name that is not valid UTF-8 cannot be given on the command line or as a string; rename it)";
// eslint-disable-next-line no-control-regex -- what a one-line message must not hold
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** `dir` + `name` as bytes (a name that need not be UTF-8). */
const bytePath = (dir: string, name: Buffer): Buffer => Buffer.concat([Buffer.from(`${dir}/`), name]);

/** The records read before the error, and the error (a CairnError). */
async function failing(path: string, opts: ReaderOptions): Promise<{ records: EURecord[]; err: CairnError }> {
  const records: EURecord[] = [];
  try {
    for await (const r of readRecords(path, opts)) records.push(r);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return { records, err: err as CairnError };
  }
  throw new Error("expected the read to fail");
}

describe("A: a path holding U+FFFD that does not exist says why", () => {
  it("files and jsonl, read by the readers: E_NOT_FOUND with the reason", async () => {
    const d = scratch.dir();
    mkdirSync(bytePath(d, Buffer.from([0x64, 0x69, 0x72, 0xff]))); // dir\xff
    writeFileSync(Buffer.concat([bytePath(d, Buffer.from([0x64, 0x69, 0x72, 0xff])), Buffer.from("/a")]), "z");
    writeFileSync(bytePath(d, Buffer.from([0x69, 0x6e, 0xfe, 0x2e, 0x6a, 0x73, 0x6f, 0x6e, 0x6c])), '{"a":1}\n'); // in\xfe.jsonl
    const dir = join(d, "dir\uFFFD");
    const files = await failing(dir, { format: "files" });
    expect([files.err.code, files.err.message]).toEqual([ErrorCode.NOT_FOUND, `input not found: ${dir} ${HINT}`]);
    expect(files.err.details).toEqual({ file: dir, errno: "ENOENT" });
    const jsonl = join(d, "in\uFFFD.jsonl");
    const j = await failing(jsonl, { format: "jsonl" });
    expect([j.err.code, j.err.message]).toEqual([ErrorCode.NOT_FOUND, `input not found: ${jsonl} ${HINT}`]);

    // A missing path without U+FFFD keeps the plain message; so does a listed file named with a
    // real U+FFFD (the files reader lists valid UTF-8 names only) that vanished before its read.
    const plain = await failing(join(d, "nope"), { format: "files" });
    expect(plain.err.message).toBe(`input not found: ${join(d, "nope")}`);
    const e = join(d, "lazy");
    mkdirSync(e);
    writeFileSync(join(e, "1"), "one");
    writeFileSync(join(e, "2\uFFFD"), "two");
    const iter = readRecords(e, { format: "files" });
    expect((await iter.next()).done).toBe(false);
    unlinkSync(join(e, "2\uFFFD"));
    await expect(iter.next()).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: `input not found: ${join(e, "2\uFFFD")}` });
  });

  it("run() with such a path (the library): the same error, for every format", async () => {
    const d = scratch.dir();
    for (const format of ["files", "jsonl", "json", "csv", "lines"] as const) {
      const { store } = scratch.store();
      const path = join(d, `gone\uFFFD.${format}`);
      const err = await expectCairnError(run(store, path, FN, { workers: 1, format }), ErrorCode.NOT_FOUND);
      expect(err.message).toBe(`input not found: ${path} ${HINT}`);
    }
  });
});

describe("B: a duplicate key in a json element is named where the element starts", () => {
  it("the UAT's input: line 2 (the element's), the keys' lines in the file in the message", async () => {
    const path = scratch.text('[{"a":1},\n{"b":1,\n"c":2,\n"b":3}]', "j2.json");
    const { records, err } = await failing(path, { format: "json" });
    expect(records.map((r) => r.input)).toEqual([{ a: 1 }]);
    expect(err.message).toBe(`${path}:2: element 1: duplicate key "b" at line 4 (first at line 2): a record's keys must be unique (only the last value would be kept)`);
    expect(err.details).toEqual({ file: path, line: 2, index: 1 });
  });

  it("the same through run(), with --id-field too; Infinity in the same layout is named alike", async () => {
    const path = scratch.text('[{"id":"a"},\n{"id":"b",\n"c":2,\n"id":"c"}]', "j3.json");
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, path, FN, { workers: 1, format: "json", idField: "id" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:2: element 1: duplicate key "id" at line 4 (first at line 2): a record's keys must be unique (only the last value would be kept)`);
    expect(err.details).toMatchObject({ file: path, line: 2, index: 1 });
    const inf = scratch.text('[{"a":1},\n{"b":1,\n"c":2,\n"b":Infinity}]', "j4.json");
    const e2 = await failing(inf, { format: "json" });
    expect(e2.err.message.startsWith(`${inf}:2: element 1: invalid JSON`)).toBe(true);
  });
});

describe("C: a files name with control characters stays on one line", () => {
  it("a FIFO and a symlink named with a newline, and a directory so named: escaped in the message, file and source", async () => {
    const d = scratch.dir();
    const f4 = join(d, "f4");
    mkdirSync(f4);
    expect(spawnSync("mkfifo", [join(f4, "q\nz")]).status).toBe(0);
    const fifo = await failing(f4, { format: "files" });
    expect(fifo.err.message).toBe(`${f4}/q\\nz: record 0: not a regular file (FIFOs, sockets and devices cannot be inputs)`);
    expect(fifo.err.details).toEqual({ file: `${f4}/q\\nz`, index: 0 });

    const f5 = join(d, "f5");
    mkdirSync(f5);
    writeFileSync(join(f5, "a"), "x");
    symlinkSync("a", join(f5, "l\nk\u001b"));
    const link = await failing(f5, { format: "files" });
    expect(link.err.message).toBe(`${f5}/l\\nk\\u001b: record 1: symbolic link (the files format does not follow links)`);
    expect(link.err.details).toEqual({ file: `${f5}/l\\nk\\u001b`, name: "l\nk\u001b", index: 1 });

    const f6 = join(d, "f6");
    mkdirSync(join(f6, "s\tu\u0085b"), { recursive: true });
    writeFileSync(join(f6, "s\tu\u0085b", "ok\n"), "fine");
    expect(spawnSync("mkfifo", [join(f6, "s\tu\u0085b", "p\u007f")]).status).toBe(0);
    const sub = await failing(f6, { format: "files", idField: "name" });
    expect(sub.records.map((r) => [r.id, r.source])).toEqual([["s\tu\u0085b/ok\n", { file: `${f6}/s\\tu\\u0085b/ok\\n`, name: "s\tu\u0085b/ok\n" }]]);
    expect(sub.err.message).toBe(`${f6}/s\\tu\\u0085b/p\\u007f: record 1: not a regular file (FIFOs, sockets and devices cannot be inputs)`);
    for (const e of [fifo.err, link.err, sub.err]) expect(e.message).not.toMatch(UNPRINTABLE);
  });

  it("a file over the limit with such a name: escaped too", async () => {
    const d = scratch.dir();
    writeFileSync(join(d, "big\r\n"), "0123456789");
    const { err } = await failing(d, { format: "files", maxRecordBytes: 4 });
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe(`${d}/big\\r\\n: record 0: file is larger than the record size limit of 4 bytes`);
  });

  it("run(): a stored file over the record limit with such a name is named escaped too (review: the engine reads the stored listing)", async () => {
    const d = scratch.dir();
    writeFileSync(join(d, "big\nname"), Buffer.alloc(9 * 1024 * 1024, 0x61));
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, d, FN, { format: "files", maxMemoryBytes: 256 * 1024 * 1024 }), ErrorCode.LIMIT_EXCEEDED);
    expect(err.message.startsWith(`${d}/big\\nname: record 0: file is larger than the record size limit of 8388608 bytes (a quarter of`)).toBe(true);
    expect(err.message).not.toMatch(UNPRINTABLE);
    expect(err.details).toMatchObject({ file: `${d}/big\\nname`, name: "big\nname", index: 0 });
  });
});

describe("D: every files error about an entry that would be a record names its index", () => {
  it("a symbolic link: record N and details.index, as a FIFO", async () => {
    const d = scratch.dir();
    writeFileSync(join(d, "a"), "x");
    symlinkSync("a", join(d, "link"));
    const { records, err } = await failing(d, { format: "files" });
    expect(records.length).toBe(1);
    expect(err.message).toBe(`${d}/link: record 1: symbolic link (the files format does not follow links)`);
    expect(err.details).toEqual({ file: `${d}/link`, name: "link", index: 1 });
  });

  it("a file name that is not UTF-8: record N; a directory so named is no record", async () => {
    const d = scratch.dir();
    writeFileSync(join(d, "a"), "x");
    writeFileSync(bytePath(d, Buffer.from([0x62, 0xff])), "y"); // b\xff
    const file = await failing(d, { format: "files" });
    expect(file.err.message).toBe(`${d}/b\\xff: record 1: the file name is not valid UTF-8 (bytes shown escaped): the files format needs UTF-8 names; rename it`);
    expect(file.err.details).toEqual({ file: `${d}/b\\xff`, name: "b\\xff", index: 1 });
    const e = scratch.dir();
    mkdirSync(bytePath(e, Buffer.from([0x63, 0xfe])));
    const dir = await failing(e, { format: "files" });
    expect(dir.err.message).toBe(`${e}/c\\xfe: the directory name is not valid UTF-8 (bytes shown escaped): the files format needs UTF-8 names; rename it`);
    expect(dir.err.details).toEqual({ file: `${e}/c\\xfe`, name: "c\\xfe" });
  });
});

describe("through the built CLI", () => {
  const cli = process.env["CAIRN_TEST_CLI"] ?? fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

  it("a non-UTF-8 --input names the reason; a newline in a files name does not split the error line", () => {
    const d = scratch.dir();
    writeFileSync(join(d, "id.mjs"), "export default (x) => x;\n");
    const script = [
      `mkdir "$(printf 'dir\\377')" f4 && printf z > "$(printf 'dir\\377')/a" && mkfifo "f4/$(printf 'q\\nz')"`,
      `"$NODE" "$CLI" --store S run id.mjs --input "$(printf 'dir\\377')" --format files 2>a.err`,
      `"$NODE" "$CLI" --store S --quiet run id.mjs --input f4 --format files 2>c.err`,
      "cat a.err c.err",
    ].join("\n");
    const r = spawnSync("sh", ["-c", script], { cwd: d, encoding: "utf8", env: { ...process.env, NODE: process.execPath, CLI: cli, NO_COLOR: "1" } });
    expect(r.stdout).toBe(
      `cairn: input not found: dir\uFFFD ${HINT} [E_NOT_FOUND]\n` +
        "cairn: f4/q\\nz: record 0: not a regular file (FIFOs, sockets and devices cannot be inputs) [E_INVALID_INPUT]\n",
    );
  });
});
