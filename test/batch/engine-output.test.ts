/**
 * The ordered output: streamOutputs (bounded-memory reading of a finished run), --out, and
 * the run being reused when it is started again.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { resume, run, streamOutputs } from "../../src/batch/engine.js";
import { RUN_RECEIPT_KIND } from "../../src/batch/manifest.js";
import { verifyRun } from "../../src/batch/verify.js";
import { openStore } from "../../src/store/store.js";
import { listRuns } from "../../src/batch/runs.js";
import { Scratch, expectCairnError, fixture, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** Streaming reads of file-stored artifacts come in chunks of this many bytes (STREAM_CHUNK_BYTES). */
const CHUNK = 1024 * 1024;

describe("streamOutputs", () => {
  it("yields parsed records in id order, bytes outputs as Buffers and failures with their error", async () => {
    const { store } = scratch.store();
    const code = [
      "export default (x, ctx) => {",
      "  if (x === 'bad') throw new Error('bad input');",
      "  if (x === 'bytes') return new Uint8Array([1, 2, 3]);",
      "  return { x, id: ctx.id };",
      "};",
    ].join("\n");
    const r = await run(store, ["a", "bad", "bytes", 4], { code, name: "mixed.mjs" }, { workers: 1, retries: 0, allowFailures: true });
    expect(await outputsOf(store, r.runId)).toEqual([
      { id: 0, output: { x: "a", id: 0 } },
      { id: 1, error: { code: ErrorCode.EU_THREW, message: "bad input" } },
      { id: 2, bytes: Buffer.from([1, 2, 3]) },
      { id: 3, output: { x: 4, id: 3 } },
    ]);
  });

  // BUG: streamOutputs decodes every chunk of the output artifact with chunk.toString("utf8")
  // on its own, so a multi-byte UTF-8 character split across a 1 MiB chunk boundary turns
  // into U+FFFD replacement characters in the yielded record.
  it("returns multi-byte characters intact across stream chunk boundaries (output > 1 MiB)", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 1500 }, () => ({ n: 250 }));
    const r = await run(store, data, { code: "export default (x) => '€'.repeat(x.n);\n", name: "euro.mjs" }, { workers: 2, partitions: 2, pulseSize: 500 });
    const whole = store.get(r.outputArtifact);
    expect(whole.length).toBeGreaterThan(CHUNK);
    // Precondition of the test: the first chunk boundary falls inside a '€' (E2 82 AC).
    expect((whole[CHUNK] as number) & 0xc0).toBe(0x80);
    const expected = whole.toString("utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { id: number; output: string });
    const got = await outputsOf(store, r.runId);
    expect(got.length).toBe(expected.length);
    const broken = got.filter((o, i) => o.output !== expected[i]?.output).map((o) => o.id);
    expect(broken).toEqual([]);
  });

  it("refuses a run that has not finished", async () => {
    const { store } = scratch.store();
    const gen = streamOutputs(store, "0123456789abcdef");
    await expectCairnError(gen.next(), ErrorCode.NOT_FOUND, "has no manifest");
  });
});

describe("--out and reuse", () => {
  it("outFile receives the ordered output; a second identical run is reused and writes it again", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const data = Array.from({ length: 200 }, (_, i) => ({ n: i }));
    const first = await run(store, data, fixture("engine-entropy.mjs"), { workers: 2, pulseSize: 9 }, { outFile: join(dir, "a.jsonl") });
    expect(first.reused).toBe(false);
    const bytes = store.get(first.outputArtifact);
    expect(readFileSync(join(dir, "a.jsonl")).equals(bytes)).toBe(true);
    const progress: string[] = [];
    const again = await run(store, data, fixture("engine-entropy.mjs"), { workers: 2, pulseSize: 9 }, {
      outFile: join(dir, "b.jsonl"),
      onProgress: (p) => progress.push(p.phase),
    });
    expect(again.reused).toBe(true);
    expect({ ...again, reused: false }).toEqual(first);
    expect(readFileSync(join(dir, "b.jsonl")).equals(bytes)).toBe(true);
    expect(progress).not.toContain("execute");
  });

  it("an outFile that is a symlink: the output goes to its target and the symlink stays; an existing file keeps its mode", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const real = join(dir, "real.jsonl");
    writeFileSync(real, "old\n");
    chmodSync(real, 0o600);
    symlinkSync("real.jsonl", join(dir, "link.jsonl"));
    const r = await run(store, [{ n: 1 }, { n: 2 }], fixture("engine-entropy.mjs"), {}, { outFile: join(dir, "link.jsonl") });
    expect(lstatSync(join(dir, "link.jsonl")).isSymbolicLink()).toBe(true);
    expect(readFileSync(real).equals(store.get(r.outputArtifact))).toBe(true);
    expect(statSync(real).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(["link.jsonl", "real.jsonl"]);
  });

  it("an outFile that is a character device (/dev/null) is written through, not replaced", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: "/dev/null" });
    expect(r.status).toBe("completed");
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });

  it("an outFile of another user is written through (its owner kept), not replaced", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const out = join(dir, "theirs.jsonl");
    writeFileSync(out, "old\n");
    chownSync(out, 12345, 12345); // the tests run as root: any owner other than ours
    const ino = statSync(out).ino;
    const r = await run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: out });
    expect(readFileSync(out).equals(store.get(r.outputArtifact))).toBe(true);
    expect(statSync(out)).toMatchObject({ ino, uid: 12345, gid: 12345 });
  });

  it("an outFile that is the input file, or inside a files-format input directory, is E_USAGE before any work", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const input = join(dir, "in.jsonl");
    writeFileSync(input, '{"n":1}\n');
    await expectCairnError(run(store, input, fixture("engine-entropy.mjs"), {}, { outFile: input }), ErrorCode.USAGE, `outFile ${input} is the input file`);
    expect(readFileSync(input, "utf8")).toBe('{"n":1}\n');
    const files = join(dir, "files");
    mkdirSync(files);
    writeFileSync(join(files, "a.txt"), "a");
    await expectCairnError(run(store, files, fixture("engine-entropy.mjs"), { format: "files" }, { outFile: join(files, "out.jsonl") }), ErrorCode.USAGE, "is inside the input directory");
    expect(readdirSync(files)).toEqual(["a.txt"]);
    expect(listRuns(store)).toEqual([]);
  });

  it("an outFile in the store, over its catalog, or over the module file is E_USAGE before any work (the CLI's rule, store/out-file.ts checkOutPath)", async () => {
    const { store } = scratch.store();
    const catalog = join(store.root, "catalog.sqlite");
    const before = readFileSync(catalog);
    // Before: the library wrote the output over the catalog, destroying the store.
    await expectCairnError(run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: catalog }), ErrorCode.USAGE, `outFile ${catalog} is inside the store ${store.root}`);
    await expectCairnError(run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: join(store.root, "out.jsonl") }), ErrorCode.USAGE, "is inside the store");
    expect(readFileSync(catalog).equals(before)).toBe(true);
    const mod = join(scratch.dir(), "fn.mjs");
    writeFileSync(mod, "export default (x) => x;\n");
    await expectCairnError(run(store, [{ n: 1 }], mod, {}, { outFile: mod }), ErrorCode.USAGE, `outFile ${mod} is the module file`);
    expect(readFileSync(mod, "utf8")).toBe("export default (x) => x;\n");
    expect(listRuns(store)).toEqual([]);
    // resume checks it too.
    const r = await run(store, [{ n: 1 }], fixture("engine-entropy.mjs"));
    await expectCairnError(resume(store, r.runId, { outFile: catalog }), ErrorCode.USAGE, "is inside the store");
  });

  it("an outFile over a file the module imports (esbuild's metafile), even through a symlink, is E_USAGE and leaves it as it was", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const helper = join(dir, "helper.mjs");
    writeFileSync(helper, "export const k = 3;\n");
    const mod = join(dir, "fn.mjs");
    writeFileSync(mod, 'import { k } from "./helper.mjs";\nexport default (x) => x.n * k;\n');
    // Before: the output replaced helper.mjs, and the next run of fn.mjs failed to bundle.
    await expectCairnError(run(store, [{ n: 1 }], mod, {}, { outFile: helper }), ErrorCode.USAGE, `outFile ${helper} is a file the module imports (${helper})`);
    symlinkSync(helper, join(dir, "link.mjs"));
    await expectCairnError(run(store, [{ n: 1 }], mod, {}, { outFile: join(dir, "link.mjs") }), ErrorCode.USAGE, "is a file the module imports");
    expect(readFileSync(helper, "utf8")).toBe("export const k = 3;\n");
    expect(readdirSync(dir).sort()).toEqual(["fn.mjs", "helper.mjs", "link.mjs"]);
    expect(listRuns(store)).toEqual([]);
    const out = join(dir, "out.jsonl");
    await run(store, [{ n: 1 }], mod, {}, { outFile: out });
    expect(readFileSync(out, "utf8")).toBe('{"id":0,"output":3}\n');
  });

  it("an outFile symlinked into a files-format input directory is E_USAGE (its temp file would be read as input)", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const files = join(dir, "in");
    mkdirSync(files);
    writeFileSync(join(files, "a.txt"), "a");
    writeFileSync(join(files, "out.jsonl"), "old\n");
    symlinkSync(join(files, "out.jsonl"), join(dir, "link.jsonl"));
    await expectCairnError(run(store, files, fixture("engine-entropy.mjs"), { format: "files" }, { outFile: join(dir, "link.jsonl") }), ErrorCode.USAGE, "is inside the input directory");
    expect(readdirSync(files).sort()).toEqual(["a.txt", "out.jsonl"]);
    // A dangling one too: opening it would create its target in the input directory.
    symlinkSync(join(files, "new.jsonl"), join(dir, "dangling.jsonl"));
    await expectCairnError(run(store, files, fixture("engine-entropy.mjs"), { format: "files" }, { outFile: join(dir, "dangling.jsonl") }), ErrorCode.USAGE, "is inside the input directory");
    expect(readdirSync(files).sort()).toEqual(["a.txt", "out.jsonl"]);
  });

  it("an outFile in a setgid directory keeps its own group", async () => {
    const { store } = scratch.store();
    const dir = join(scratch.dir(), "sg");
    mkdirSync(dir);
    chownSync(dir, 0, 4321);
    chmodSync(dir, 0o2775);
    const out = join(dir, "f.jsonl");
    writeFileSync(out, "old\n");
    chownSync(out, 0, 0);
    chmodSync(out, 0o640);
    await run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: out });
    expect(statSync(out)).toMatchObject({ uid: 0, gid: 0 });
    expect(statSync(out).mode & 0o777).toBe(0o640);
  });

  it("lineage: input → run receipt → output and manifest; output ← records ← pulse receipts ← slices", async () => {
    const { store } = scratch.store();
    const r = await run(store, Array.from({ length: 10 }, (_, i) => ({ n: i })), fixture("engine-entropy.mjs"), { partitions: 2, pulseSize: 3, workers: 1 });
    const m = manifestOf(store, r.runId);
    const down = store.lineage(m.input.artifact, { direction: "down", depth: 2 });
    expect(down.nodes.find((n) => n.digest === m.output.artifact)?.depth).toBe(2);
    expect(down.nodes.find((n) => n.digest === r.manifestDigest)?.depth).toBe(2);
    const runReceipt = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
    expect(runReceipt).toMatchObject({ outputs: [m.output.artifact, r.manifestDigest], status: "succeeded" });
    const up = store.lineage(m.output.artifact, { direction: "up", depth: 3 });
    const back = new Set(up.nodes.map((n) => n.digest));
    for (const d of [m.input.artifact, m.function.artifact, runReceipt?.digest, ...m.pulses.flatMap((p) => [p.records, p.receipt, p.slice])]) expect(back.has(d as (typeof m)["plan"])).toBe(true);
    expect(up.edges.filter((e) => e.type === "derived_from").map((e) => e.role)).toEqual(["merge"]);
  });

  it("a pulse shared by two runs does not tie one run's input to the other run (gc, direct edges)", async () => {
    const { store, dir } = scratch.store();
    const cfg = { partitions: 1, pulseSize: 2, workers: 1 };
    const a = await run(store, [0, 1, 2, 3, 4], fixture("engine-pure.mjs"), cfg);
    const b = await run(store, [0, 1, 2, 3, 4, 5, 6], fixture("engine-pure.mjs"), cfg); // reuses A's first two pulses
    const ma = manifestOf(store, a.runId);
    const mb = manifestOf(store, b.runId);
    expect(mb.pulses.filter((p) => ma.pulses.some((q) => q.slice === p.slice)).length).toBe(2);
    // The input's only derivations are its run's receipt and its run's plan, which contains it
    // (a container is downstream of its members, §5.12); no edge to the shared slices.
    const runA = store.findReceipt(ma.function.artifact, [ma.input.artifact], { kind: RUN_RECEIPT_KIND, plan: ma.plan });
    expect(store.lineage(ma.input.artifact, { direction: "down", depth: 1 }).nodes.map((n) => n.digest)).toEqual([ma.input.artifact, ...[runA?.digest, ma.plan].sort()]);
    // Run A unpinned and collected: its input goes (B's shared pulses do not keep it).
    for (const root of store.listRoots()) if (root.name.startsWith(`run:${a.runId}`)) store.unpin(root.name);
    store.close();
    await new Promise((res) => setTimeout(res, 5));
    const again = openStore({ dir, durability: "normal" });
    try {
      const report = again.gc({ graceMs: 0 });
      expect(report.swept.map((s) => s.digest)).toContain(ma.input.artifact);
      expect((await verifyRun(again, b.runId)).ok).toBe(true);
    } finally {
      again.close();
    }
  });

  it("an outFile that cannot be written fails the run before any work (E_STORE_IO), nothing planned", async () => {
    const { store } = scratch.store();
    const out = join(scratch.dir(), "no-such-dir", "o.jsonl");
    const phases: string[] = [];
    const err = await expectCairnError(run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), {}, { outFile: out, onProgress: (p) => phases.push(p.phase) }), ErrorCode.STORE_IO);
    expect(err.message).toBe(`cannot write ${out}: ENOENT: no such file or directory`);
    expect(phases).toEqual([]);
    expect(listRuns(store)).toEqual([]);
  });

  it("a run that fails in its merge leaves no partial outFile and keeps an existing one as it was", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const out = join(dir, "o.jsonl");
    writeFileSync(out, "old\n");
    const code = 'export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(acc, v) { if (v === 150) throw new Error("no"); return acc + v; }\n';
    const data = Array.from({ length: 200 }, (_, i) => ({ v: i }));
    await expectCairnError(run(store, data, { code, name: "r.mjs" }, { pulseSize: 16 }, { outFile: out }), ErrorCode.INVALID_INPUT);
    expect(readFileSync(out, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["o.jsonl"]);
  });
});
