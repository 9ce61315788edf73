/**
 * Regression tests for the batch engine findings of the 2026-11 audit: error messages that are
 * not well-formed UTF-16, re-execution of deeply nested inputs, the store inside a `files`
 * input directory, `--out` in a subdirectory named "..x", non-UTF-8 file names, ids with lone
 * surrogates and the reduce error that did not name its EU.
 */
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, openStore } from "../../src/index.js";
import { canonicalize } from "../../src/core/canonical.js";
import { run } from "../../src/batch/engine.js";
import { listRuns } from "../../src/batch/runs.js";
import { recordText, truncate, MAX_ERROR_MESSAGE_CHARS } from "../../src/batch/records.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { Scratch, expectCairnError, fixture, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const PAIR = "\u{1F600}"; // 😀, two UTF-16 code units

describe("error messages are well-formed and cut between code points", () => {
  it("truncate replaces lone surrogates and never splits a surrogate pair (idempotent)", () => {
    expect(truncate("lone \ud800 surrogate")).toBe("lone \ufffd surrogate");
    expect(truncate("\udfff")).toBe("\ufffd");
    const split = truncate(`${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 1)}${PAIR}tail`);
    expect(split).toBe(`${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 1)}…`);
    expect(truncate(split)).toBe(split);
    const whole = truncate(`${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 2)}${PAIR}tail`);
    expect(whole).toBe(`${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 2)}${PAIR}…`);
    expect(truncate(whole)).toBe(whole);
    // Unchanged where it was fine before (existing digests stay).
    const long = "b".repeat(MAX_ERROR_MESSAGE_CHARS + 10);
    expect(truncate(long)).toBe(`${"b".repeat(MAX_ERROR_MESSAGE_CHARS)}…`);
    expect(truncate(truncate(long))).toBe(truncate(long));
    const rec = recordText({ id: 1, ok: false, error: { code: "E_EU_THREW", message: `${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 1)}${PAIR}`, name: "Error" } });
    expect(canonicalize(JSON.parse(rec))).toBe(rec);
  });

  it("an EU that throws a message with a lone surrogate, or one whose cut would split a pair, fails with E_EU_THREW (not a worker crash)", async () => {
    const { store } = scratch.store();
    const code = [
      "export default (x) => {",
      '  if (x === 1) throw new Error("lone \\ud800 surrogate");',
      `  if (x === 2) throw new Error("a".repeat(${MAX_ERROR_MESSAGE_CHARS - 1}) + "\\u{1F600}tail");`,
      '  if (x === 3) throw "\\udfff";',
      "  return x;",
      "};",
    ].join("\n");
    const r = await run(store, [0, 1, 2, 3], { code, name: "sur.mjs" }, { workers: 1, partitions: 1, retries: 1, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 4, completed: 1, failed: 3, retried: 3 });
    expect(r.failures).toEqual([
      { id: 1, code: ErrorCode.EU_THREW, message: "lone \ufffd surrogate" },
      { id: 2, code: ErrorCode.EU_THREW, message: `${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 1)}…` },
      { id: 3, code: ErrorCode.EU_THREW, message: "\ufffd" },
    ]);
    expect((await verifyRun(store, r.runId, { reexecute: true })).problems).toEqual([]);
  });

  it("a worker crash whose message holds a lone surrogate or is cut inside a pair fails the EU, not the run", async () => {
    const { store } = scratch.store();
    const prefix = "worker crashed with an uncaught Error: ";
    const code = [
      "export default async (x) => {",
      '  if (x === 1) setTimeout(() => { throw new Error("x\\ud800y"); }, 1);',
      `  if (x === 2) setTimeout(() => { throw new Error("a".repeat(${MAX_ERROR_MESSAGE_CHARS - 1 - prefix.length}) + "\\u{1F600} tail"); }, 1);`,
      "  if (x !== 0) await new Promise((r) => setTimeout(r, 200));",
      "  return x;",
      "};",
    ].join("\n");
    const r = await run(store, [0, 1, 2], { code, name: "crash.mjs" }, { workers: 1, partitions: 1, retries: 1, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toMatchObject({ total: 3, completed: 1, failed: 2 });
    const [one, two] = r.failures;
    expect(one).toEqual({ id: 1, code: ErrorCode.WORKER_CRASHED, message: `${prefix}x\ufffdy while running EU 1` });
    expect(two).toEqual({ id: 2, code: ErrorCode.WORKER_CRASHED, message: `${prefix}${"a".repeat(MAX_ERROR_MESSAGE_CHARS - 1 - prefix.length)}…` });
    expect(listRuns(store).map((x) => x.runId)).toContain(r.runId);
    // The attempt log (crash messages, whole) is canonical too. Over MAX_INLINE_ATTEMPTS_BYTES,
    // the manifest names it by its attempts artifact instead of holding it.
    const p0 = manifestOf(store, r.runId).pulses[0];
    expect(p0?.attempts).toEqual([]);
    const log = JSON.parse(store.get(p0?.attemptsArtifact as `sha256:${string}`).toString("utf8")) as Array<{ errors: unknown[] }>;
    expect(log.map((a) => a.errors.length)).toEqual([2, 2]);
  });
});

describe("verify --reexecute and replay send JSON inputs as canonical text, like the run", () => {
  it("re-execute a deeply nested input the run handled", async () => {
    const { store } = scratch.store();
    const depths = [10, 6000];
    const input = scratch.text(depths.map((d) => `${"[".repeat(d)}${"]".repeat(d)}\n`).join(""), "deep.jsonl");
    const r = await run(store, input, { code: "export default (x) => x;\n", name: "ident.mjs" }, { workers: 1, partitions: 1, pulseSize: 1, retries: 0 });
    expect(r.counts).toMatchObject({ total: 2, completed: 2, failed: 0 });
    const p = await replay(store, r.runId, "0/1");
    expect(p.matches).toBe(true);
    const v = await verifyRun(store, r.runId, { reexecute: true });
    expect(v.problems).toEqual([]);
    expect(v.pulsesReexecuted).toBe(2);
  });
});

describe("the files format and the store", () => {
  it("a store inside the input directory is not read as input: same listing, same run id every time", async () => {
    const dir = scratch.dir();
    const files = join(dir, "in");
    mkdirSync(files);
    writeFileSync(join(files, "a.txt"), "a");
    writeFileSync(join(files, "b.txt"), "bb");
    const reference = await run(scratch.store().store, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1, idField: "name" });
    const store = openStore({ dir: join(files, ".cairn") });
    try {
      const first = await run(store, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1, idField: "name" });
      const second = await run(store, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1, idField: "name" });
      expect(first.counts.total).toBe(2);
      expect(second.runId).toBe(first.runId);
      expect(second.reused).toBe(true);
      expect(first.runId).toBe(reference.runId);
      expect(first.outputDigest).toBe(reference.outputDigest);
      expect((await outputsOf(store, first.runId)).map((o) => o.id)).toEqual(["a.txt", "b.txt"]);
    } finally {
      store.close();
    }
  });

  it("a store reached through a symlink inside the input directory (.cairn linked to another disk) is skipped too", async () => {
    const dir = scratch.dir();
    const files = join(dir, "in");
    mkdirSync(files);
    writeFileSync(join(files, "a.txt"), "a");
    const reference = await run(scratch.store().store, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1, idField: "name" });
    mkdirSync(join(dir, "elsewhere"));
    symlinkSync(join(dir, "elsewhere"), join(files, ".cairn"));
    const store = openStore({ dir: join(files, ".cairn") });
    try {
      const first = await run(store, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1, idField: "name" });
      expect(first.counts.total).toBe(1);
      expect(first.runId).toBe(reference.runId);
    } finally {
      store.close();
    }
    // Any other symlink is still refused.
    symlinkSync(join(dir, "elsewhere"), join(files, "other"));
    const again = openStore({ dir: join(files, ".cairn") });
    try {
      await expectCairnError(run(again, files, fixture("engine-bytelen.mjs"), { format: "files", workers: 1 }), ErrorCode.INVALID_INPUT, "other: record 1: symbolic link");
    } finally {
      again.close();
    }
  });

  it("a module that patches String.prototype.isWellFormed or Function.prototype.call cannot put a lone surrogate into a record", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const input = join(dir, "in.jsonl");
    writeFileSync(input, '{"n":1}\n');
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, 'String.prototype.isWellFormed = () => true;\nFunction.prototype.call = function () { return true; };\nexport default () => ({ s: "a\\ud800b" });\n');
    const r = await run(store, input, mod, { workers: 1, retries: 0, allowFailures: true });
    expect(r.counts).toMatchObject({ total: 1, completed: 0, failed: 1 });
    expect(r.failures[0]?.code).toBe(ErrorCode.CANONICAL);
    expect((await verifyRun(store, r.runId)).ok).toBe(true);
  });

  it("an input directory that is the store, or inside it, is E_USAGE", async () => {
    const { store, dir } = scratch.store();
    await expectCairnError(run(store, dir, fixture("engine-bytelen.mjs"), { format: "files" }), ErrorCode.USAGE, "is the store");
    await expectCairnError(run(store, join(dir, "objects"), fixture("engine-bytelen.mjs"), { format: "files" }), ErrorCode.USAGE, "or inside it");
  });

  it("--out in a subdirectory whose name starts with '..' is still inside the input directory (E_USAGE)", async () => {
    const { store } = scratch.store();
    const files = join(scratch.dir(), "in");
    mkdirSync(join(files, "..sub"), { recursive: true });
    writeFileSync(join(files, "a.txt"), "a");
    await expectCairnError(
      run(store, files, fixture("engine-bytelen.mjs"), { format: "files", idField: "name" }, { outFile: join(files, "..sub", "o.out") }),
      ErrorCode.USAGE,
      "is inside the input directory",
    );
    expect(readdirSync(join(files, "..sub"))).toEqual([]);
    // A sibling of the input directory named "..x" is outside it.
    const outside = join(files, "..", "..x");
    mkdirSync(outside);
    const r = await run(store, files, fixture("engine-bytelen.mjs"), { format: "files", idField: "name" }, { outFile: join(outside, "o.out") });
    expect(r.counts.total).toBe(1);
  });

  it("a file name that is not valid UTF-8 is E_INVALID_INPUT naming it with its bytes escaped", async () => {
    const { store } = scratch.store();
    const files = join(scratch.dir(), "in");
    mkdirSync(files);
    writeFileSync(join(files, "a.txt"), "a");
    const bad = (b: number): Buffer => Buffer.concat([Buffer.from(`${files}/b`), Buffer.from([b]), Buffer.from(".txt")]);
    writeFileSync(bad(0xff), "x");
    writeFileSync(bad(0xfe), "y"); // decoded with replacement, the two names would be one
    const err = await expectCairnError(run(store, files, fixture("engine-bytelen.mjs"), { format: "files", idField: "name" }), ErrorCode.INVALID_INPUT, "b\\xfe.txt", "not valid UTF-8");
    expect(err.details).toMatchObject({ name: "b\\xfe.txt" });
  });
});

describe("ids", () => {
  it("an --id-field value with a lone surrogate is E_INVALID_INPUT naming file:line and record", async () => {
    const { store } = scratch.store();
    const input = scratch.text('{"id":"ok","v":1}\n{"id":"\\ud800","v":2}\n', "ids.jsonl");
    await expectCairnError(run(store, input, fixture("engine-pure.mjs"), { idField: "id" }), ErrorCode.INVALID_INPUT, `${input}:2: record 1: id field "id"`, "lone surrogate");
    expect(listRuns(store)).toEqual([]);
    const arr = scratch.text('[{"id":"\\udfff"}]', "ids.json");
    await expectCairnError(run(store, arr, fixture("engine-pure.mjs"), { idField: "id", format: "json" }), ErrorCode.INVALID_INPUT, `${arr}:1: element 0: id field "id"`);
  });
});

describe("reduce", () => {
  it("a non-canonical accumulator names the EU whose step returned it; the run is forgotten", async () => {
    const { store } = scratch.store();
    const code = "export default (x) => x;\nexport const initial = 0;\nexport function reduce(acc, v) { return v === 2 ? NaN : acc + v; }\n";
    await expectCairnError(
      run(store, [1, 5, 2], { code, name: "r.mjs" }, { workers: 1 }),
      ErrorCode.INVALID_INPUT,
      "reduce of module r.mjs threw at EU 2: reduce accumulator is not canonical JSON",
    );
    expect(listRuns(store)).toEqual([]);
  });
});
