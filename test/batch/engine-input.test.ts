/**
 * Bad input and bad modules through the engine: every error names the file, line and record
 * (or the module), and an empty input is a run of zero EUs with the empty Merkle root (a json
 * input must still be an array: `[]`).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { resume, run } from "../../src/batch/engine.js";
import type { RunConfigInput } from "../../src/batch/config.js";
import type { InputFormat } from "../../src/batch/input/types.js";
import { EMPTY_DIGEST, Scratch, expectCairnError, fixture, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("bad input", () => {
  it("a duplicate --id-field value names both records (file:line: record N, as the readers do)", async () => {
    const path = scratch.text(['{"k":"x0"}', '{"k":"x1"}', '{"k":"x2"}', "", '{"k":"x1"}', '{"k":"x3"}', ""].join("\n"), "dup.jsonl");
    const { store } = scratch.store();
    const err = await expectCairnError(
      run(store, path, fixture("engine-pure.mjs"), { idField: "k", workers: 1 }),
      ErrorCode.INVALID_INPUT,
      `${path}:5: record 3: duplicate EU id "x1" (first at ${path}:2: record 1)`,
    );
    expect(err.details).toMatchObject({ file: path, line: 5, index: 3, id: "x1", first: 1, second: 3 });
    expect((await store.fsck()).problems).toEqual([]);
  });

  // BUG: duplicates are only looked up when the pending ids are flushed (every 4096 records
  // or at the end of the input). When the pulse holding the second occurrence finishes first
  // (backpressure: small pulses, one in flight), OrderIndex.addOutputs hits the primary key
  // of its `out` table and the run fails with a raw SqliteError instead of E_INVALID_INPUT.
  it("a duplicate id is reported as E_INVALID_INPUT even when its pulse finishes before the input is read", async () => {
    const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ k: `k${i === 30 ? 5 : i}` }));
    const path = scratch.text(`${lines.join("\n")}\n`, "dup-late.jsonl");
    const { store } = scratch.store();
    await expectCairnError(
      run(store, path, fixture("engine-pure.mjs"), { idField: "k", partitions: 1, pulseSize: 1, maxPulsesInFlight: 1, workers: 1 }),
      ErrorCode.INVALID_INPUT,
      `${path}:31: record 30: duplicate EU id "k5" (first at ${path}:6: record 5)`,
    );
  });

  it("invalid JSON names the line and the record", async () => {
    const path = scratch.text('{"a":1}\n{"a":2}\n\n{"a":\n{"a":5}\n', "bad.jsonl");
    const { store } = scratch.store();
    await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT, `${path}:4: record 2: invalid JSON: `);
  });

  it("invalid JSON deep in a long input is still reported (pulses already ran)", async () => {
    const body = `${Array.from({ length: 500 }, (_, i) => JSON.stringify({ a: i })).join("\n")}\n{oops}\n`;
    const path = scratch.text(body, "late-bad.jsonl");
    const { store } = scratch.store();
    await expectCairnError(
      run(store, path, fixture("engine-pure.mjs"), { workers: 2, partitions: 2, pulseSize: 4, maxPulsesInFlight: 2 }),
      ErrorCode.INVALID_INPUT,
      `${path}:501: record 500: invalid JSON: `,
    );
  });

  it("an unterminated CSV quote names the line and the record", async () => {
    const path = scratch.text('a,b\n1,2\n3,"x\n4,5\n', "bad.csv");
    const { store } = scratch.store();
    await expectCairnError(
      run(store, path, fixture("engine-pure.mjs"), { format: "csv", workers: 1 }),
      ErrorCode.INVALID_INPUT,
      `${path}:3: record 1: unterminated quote: a quoted field in the record starting at line 3 is never closed`,
    );
  });

  it("an empty json input is not a JSON array (like any other non-array)", async () => {
    const { store } = scratch.store();
    for (const body of ["", " \n"]) {
      const path = scratch.text(body, "empty.json");
      await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { format: "json", workers: 1 }), ErrorCode.INVALID_INPUT, `${path}:1: input is empty: expected a JSON array (\`[]\` for no records)`);
    }
    const obj = scratch.text('{"a":1}', "object.json");
    await expectCairnError(run(store, obj, fixture("engine-pure.mjs"), { format: "json", workers: 1 }), ErrorCode.INVALID_INPUT, `${obj}:1: not a JSON array`);
  });

  it("a csv with lone-CR line endings is refused at its header", async () => {
    const path = scratch.text("a,b\r1,2\r3,4\r", "cr.csv");
    const { store } = scratch.store();
    await expectCairnError(
      run(store, path, fixture("engine-pure.mjs"), { format: "csv", workers: 1 }),
      ErrorCode.INVALID_INPUT,
      `${path}:1: carriage return in a column name of the header (column 2): lines must end with LF or CRLF (lone-CR line endings are not supported)`,
    );
  });

  it("a missing --id-field names the line, the record and the field", async () => {
    const path = scratch.text('{"k":"a"}\n\n{"j":"b"}\n', "noid.jsonl");
    const { store } = scratch.store();
    await expectCairnError(run(store, path, fixture("engine-pure.mjs"), { idField: "k", workers: 1 }), ErrorCode.INVALID_INPUT, `${path}:3: record 1: missing id field "k"`);
  });

  it("a module without a default export is E_INVALID_INPUT", async () => {
    const { store } = scratch.store();
    await expectCairnError(run(store, [1, 2], fixture("engine-no-default.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT, "engine-no-default.mjs has no default export function");
  });

  it("a module that throws at import is E_INVALID_INPUT with its message", async () => {
    const { store } = scratch.store();
    await expectCairnError(
      run(store, [1, 2], fixture("engine-throws-at-import.mjs"), { workers: 2 }),
      ErrorCode.INVALID_INPUT,
      "engine-throws-at-import.mjs threw at import: engine fixture refuses to load",
    );
  });

  it("a CommonJS entry keeps its reduce and initial; compiled TypeScript (__esModule) gives exports.default", async () => {
    const dir = scratch.dir();
    writeFileSync(join(dir, "red.js"), "function fn(i) { return i + 1; }\nmodule.exports = fn;\nmodule.exports.initial = 0;\nmodule.exports.reduce = (a, o) => a + o;\n");
    writeFileSync(join(dir, "tsc.js"), '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = (i) => i * 2;\nexports.initial = 100;\nexports.reduce = (a, o) => a + o;\n');
    writeFileSync(join(dir, "plain.js"), "module.exports = (i) => i * 3;\n");
    const outs = async (file: string): Promise<{ reduce: unknown; outputs: unknown[] }> => {
      const { store } = scratch.store();
      const r = await run(store, [1, 2, 3], join(dir, file), { workers: 1 });
      return { reduce: r.reduce, outputs: (await outputsOf(store, r.runId)).map((o) => o.output) };
    };
    // Before: red.js ran without its reduce (silently), tsc.js had "no default export function".
    expect(await outs("red.js")).toEqual({ reduce: 9, outputs: [2, 3, 4] });
    expect(await outs("tsc.js")).toEqual({ reduce: 112, outputs: [2, 4, 6] });
    expect(await outs("plain.js")).toEqual({ reduce: undefined, outputs: [3, 6, 9] });
  });

  it("a module that throws at import is located at its source file, line and column", async () => {
    const { store } = scratch.store();
    const err = await expectCairnError(run(store, [1, 2], fixture("engine-throws-at-import.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${fixture("engine-throws-at-import.mjs")}:2:7: module engine-throws-at-import.mjs threw at import: engine fixture refuses to load`);
    expect(err.details.at).toBe(`${fixture("engine-throws-at-import.mjs")}:2:7`);
  });

  const EMPTY: Array<[InputFormat, string]> = [
    ["jsonl", ""],
    ["jsonl", "\n\n"],
    ["csv", ""],
    ["csv", "a,b\r\n"],
    ["json", "[]"],
    ["json", " [ ]\n"],
    ["lines", ""],
  ];
  it.each(EMPTY)("an empty %s input (%j) is a completed run of 0 EUs with the empty root", async (format, body) => {
    const path = scratch.text(body, `empty.${format}`);
    const { store } = scratch.store();
    const r = await run(store, path, fixture("engine-pure.mjs"), { format, workers: 1 });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 0, completed: 0, failed: 0, retried: 0 });
    expect(r.outputDigest).toBe(EMPTY_DIGEST);
    expect(store.get(r.outputArtifact).length).toBe(0);
    expect(manifestOf(store, r.runId).pulses).toEqual([]);
    expect(await outputsOf(store, r.runId)).toEqual([]);
  });

  it("an empty directory (files format) and an empty in-memory dataset are runs of 0 EUs", async () => {
    const dir = join(scratch.dir(), "empty");
    mkdirSync(dir);
    const { store } = scratch.store();
    const a = await run(store, dir, fixture("engine-bytelen.mjs"), { format: "files", workers: 1 });
    expect(a.counts.total).toBe(0);
    expect(a.outputDigest).toBe(EMPTY_DIGEST);
    const b = await run(store, [], fixture("engine-pure.mjs"), { workers: 1 });
    expect(b.counts.total).toBe(0);
    expect(b.outputDigest).toBe(EMPTY_DIGEST);
  });
});

describe("usage errors", () => {
  it("rejects bad combinations and unknown things with stable codes", async () => {
    const { store } = scratch.store();
    const lines = scratch.text("x\ny\n", "a.txt");
    await expectCairnError(run(store, [1, Number.NaN], fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT, "dataset element 1");
    await expectCairnError(run(store, [1], fixture("engine-pure.mjs"), { workers: 1, format: "csv" }), ErrorCode.USAGE, "in-memory dataset");
    await expectCairnError(run(store, scratch.dir(), fixture("engine-bytelen.mjs"), { format: "files", idField: "x" }), ErrorCode.USAGE, "the files format takes idField (--id-field) \"name\"");
    await expectCairnError(run(store, lines, fixture("engine-pure.mjs"), { format: "lines", idField: "x", workers: 1 }), ErrorCode.USAGE, "lines format");
    await expectCairnError(run(store, `${lines}.missing`, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.NOT_FOUND, "not found");
    await expectCairnError(run(store, [1], fixture("engine-missing.mjs"), { workers: 1 }), ErrorCode.NOT_FOUND, "engine-missing.mjs");
    await expectCairnError(run(store, [1], fixture("engine-pure.mjs"), { workers: 0 }), ErrorCode.USAGE, "workers");
    await expectCairnError(run(store, [1], fixture("engine-pure.mjs"), { auditRate: 2 }), ErrorCode.USAGE, "auditRate must be a number in [0, 1], got 2");
    await expectCairnError(resume(store, "0123456789abcdef"), ErrorCode.NOT_FOUND, "run 0123456789abcdef not found");
    await expectCairnError(resume(store, "not-a-run"), ErrorCode.USAGE, "malformed run id");
    // A function value (the PLEX paper's signature) is a usage error, not a raw TypeError.
    const fnValue = ((x: number) => x * 2) as unknown as Parameters<typeof run>[2];
    await expectCairnError(run(store, [1], fnValue, { workers: 1 }), ErrorCode.USAGE, "got a function value, which can be neither sent to a worker thread nor stored");
    await expectCairnError(run(store, [1], { name: "x" } as unknown as Parameters<typeof run>[2], { workers: 1 }), ErrorCode.USAGE, "must be a module path or { code, name? }");
  });
});

describe("files format", () => {
  it("one EU per file, bytes in, ids are indexes in path byte order", async () => {
    const dir = join(scratch.dir(), "in");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "b.txt"), "bbb");
    writeFileSync(join(dir, "A.txt"), "A");
    writeFileSync(join(dir, "é.txt"), Buffer.from([0xff, 0, 1, 2]));
    writeFileSync(join(dir, "sub", "c.bin"), Buffer.alloc(5, 7));
    const cfgs: RunConfigInput[] = [
      { format: "files", workers: 1, partitions: 1, pulseSize: 10 },
      { format: "files", workers: 2, partitions: 3, pulseSize: 1 },
    ];
    const digests = new Set<string>();
    for (const cfg of cfgs) {
      const { store } = scratch.store();
      const r = await run(store, dir, fixture("engine-bytelen.mjs"), cfg);
      expect(r.status).toBe("completed");
      expect(r.counts.total).toBe(4);
      // Byte order: "A.txt" < "b.txt" < "sub/c.bin" < "é.txt" (0xC3…), not locale order.
      expect(await outputsOf(store, r.runId)).toEqual([
        { id: 0, output: { length: 1, first: 0x41 } },
        { id: 1, output: { length: 3, first: 0x62 } },
        { id: 2, output: { length: 5, first: 7 } },
        { id: 3, output: { length: 4, first: 0xff } },
      ]);
      digests.add(r.outputDigest);
    }
    expect(digests.size).toBe(1);
  });

  it("--id-field name makes the relative paths the ids", async () => {
    const dir = join(scratch.dir(), "in");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "b.txt"), "bbb");
    writeFileSync(join(dir, "sub", "c.bin"), Buffer.alloc(5, 7));
    const { store } = scratch.store();
    const r = await run(store, dir, fixture("engine-bytelen.mjs"), { format: "files", idField: "name", workers: 1 });
    expect((await outputsOf(store, r.runId)).map((o) => o.id)).toEqual(["b.txt", "sub/c.bin"]);
  });
});
