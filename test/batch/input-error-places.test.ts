/**
 * Every input error names the file, the line (where the input has lines) and the 0-based record
 * index, in one shape: `file:line: record N: …` (`element N` for json, `file: record N: …` for
 * the files format). Before, `lines` errors (invalid UTF-8, a line over the limit) named the line
 * only, a json element over the limit read `element N is larger …`, a file over the limit had no
 * index, and the engine's own input errors (a duplicate id, a value with no canonical form) read
 * `file:line (record N)`, `record` even for json elements.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { run } from "../../src/batch/engine.js";
import { readRecords } from "../../src/batch/input/readers.js";
import type { InputFormat } from "../../src/batch/input/types.js";
import { Scratch, expectCairnError, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** The error reading `bytes` from stdin ends with (records before it are read and dropped). */
async function readError(format: InputFormat, bytes: Buffer, maxRecordBytes?: number): Promise<CairnError> {
  try {
    for await (const r of readRecords("-", { format, ...(maxRecordBytes === undefined ? {} : { maxRecordBytes }) }, Readable.from([bytes]))) void r;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("expected the read to fail");
}

describe("reader errors name the record index", () => {
  it("lines: invalid UTF-8 names the line and the record (every line is one, blank ones too)", async () => {
    const err = await readError("lines", Buffer.concat([Buffer.from("a\n\nb\n"), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]));
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe("<stdin>:4: record 3: invalid UTF-8");
    expect(err.details).toEqual({ file: "<stdin>", line: 4, index: 3 });
  });

  it("lines: a line over the size limit names the line and the record", async () => {
    const err = await readError("lines", Buffer.from(`a\n\n${"x".repeat(20)}\n`), 10);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe("<stdin>:3: record 2: line is longer than the record size limit of 10 bytes");
    expect(err.details).toEqual({ file: "<stdin>", line: 3, index: 2, limit: 10 });
  });

  it("json: an element over the size limit reads like the other element errors", async () => {
    const err = await readError("json", Buffer.from(`[1,\n2,\n"${"y".repeat(30)}"]`), 10);
    expect(err.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(err.message).toBe("<stdin>:3: element 2: the element is larger than the record size limit of 10 bytes");
    expect(err.details).toEqual({ file: "<stdin>", line: 3, index: 2, limit: 10 });
  });

  it("files: a file over the size limit names the record it would be (no line)", async () => {
    const d = join(scratch.dir(), "in");
    mkdirSync(d);
    writeFileSync(join(d, "a"), "small");
    writeFileSync(join(d, "b"), "x".repeat(20));
    let err: unknown;
    try {
      for await (const r of readRecords(d, { format: "files", maxRecordBytes: 10 })) void r;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).message).toBe(`${join(d, "b")}: record 1: file is larger than the record size limit of 10 bytes`);
    expect((err as CairnError).details).toEqual({ file: join(d, "b"), index: 1, limit: 10 });
  });
});

describe("the engine's input errors read like the readers'", () => {
  it("a duplicate id in a json array names both elements as `element N` (E_INVALID_INPUT)", async () => {
    const path = scratch.text('[{"k":"a"},\n{"k":"b"},\n{"k":"a"}]\n', "dup.json");
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { format: "json", idField: "k", workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:3: element 2: duplicate EU id "a" (first at ${path}:1: element 0)`);
    expect(err.details).toEqual({ file: path, line: 3, index: 2, id: "a", first: 0, second: 2 });
  });

  it("a json element with no canonical form is `file:line: element N: …`", async () => {
    const path = scratch.text('[1,\n{"n":1e400}]\n', "inf.json");
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { format: "json", workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:2: element 1: cannot canonicalize Infinity at $.n`);
    expect(err.details).toEqual({ file: path, line: 2, index: 1 });
  });
});
