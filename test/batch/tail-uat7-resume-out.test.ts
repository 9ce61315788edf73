/**
 * `resume(store, id, { outFile })` (`cairn resume <id> --out F`) must not overwrite what the run
 * read, as `run --out` may not: the plan records digests, not paths, so resume compares contents
 * (engine.ts `checkOutNotRunSource`): a file holding the run's input, a module file that bundles
 * to the run's function, a path inside a directory holding the `files` input's files.
 */
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OUT_MODULE_PROBE_MAX_BYTES, resume, run } from "../../src/batch/engine.js";
import { loadPlan, recordPlan } from "../../src/batch/plan.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const MODULE = "export default (x) => ({ y: x });\n";

describe("resume --out refuses the run's own input and module", () => {
  it("refuses the input file, the module file and a path in the files input's directory; allows an unrelated file", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "rmod.mjs");
    writeFileSync(mod, MODULE);
    const input = join(dir, "rin.jsonl");
    const body = `{"n":1}\n{"n":2}\n`;
    writeFileSync(input, body);
    const r = await run(store, input, mod, { workers: 1 });

    await expectCairnError(resume(store, r.runId, { outFile: input }), "E_USAGE", `${input} holds this run's input (sha256:`);
    expect(readFileSync(input, "utf8")).toBe(body);
    // A copy of the input elsewhere holds the same bytes: refused too (resume cannot tell them apart).
    const copy = join(scratch.dir(), "copy.jsonl");
    copyFileSync(input, copy);
    await expectCairnError(resume(store, r.runId, { outFile: copy }), "E_USAGE", "holds this run's input");
    // Same size, other bytes: not the input.
    const other = join(dir, "other.jsonl");
    writeFileSync(other, `{"n":3}\n{"n":4}\n`);
    await resume(store, r.runId, { outFile: other });
    expect(readFileSync(other, "utf8")).toContain('"y"');

    await expectCairnError(resume(store, r.runId, { outFile: mod }), "E_USAGE", `${mod} is this run's module: it bundles to the run's function sha256:`);
    expect(readFileSync(mod, "utf8")).toBe(MODULE);
    // Another module is not the run's.
    const mod2 = join(dir, "other.mjs");
    writeFileSync(mod2, "export default (x) => x;\n");
    await resume(store, r.runId, { outFile: mod2 });
    expect(readFileSync(mod2, "utf8")).toContain('"y"');
  });

  it("refuses a path inside a files input directory, at any depth", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => ({ len: x.length });\n");
    const fd = join(dir, "fd5");
    mkdirSync(join(fd, "sub"), { recursive: true });
    writeFileSync(join(fd, "a.txt"), "alpha");
    writeFileSync(join(fd, "sub", "b.txt"), "beta");
    const r = await run(store, fd, mod, { format: "files", workers: 1 });

    await expectCairnError(resume(store, r.runId, { outFile: join(fd, "o.jsonl") }), "E_USAGE", `is inside ${fd}, which holds this run's input files (a.txt, sub/b.txt as the run read them)`);
    await expectCairnError(resume(store, r.runId, { outFile: join(fd, "sub", "deep", "o.jsonl") }), "E_USAGE", `is inside ${fd}, which holds`);
    // A probed file changed since: the directory is no longer taken for the input (every probe must match).
    writeFileSync(join(fd, "a.txt"), "ALPHA");
    await resume(store, r.runId, { outFile: join(fd, "o.jsonl") });
    // Beside the directory: allowed.
    const beside = join(dir, "o.jsonl");
    await resume(store, r.runId, { outFile: beside });
    expect(readFileSync(beside, "utf8").split("\n").filter(Boolean)).toHaveLength(2);
  });

  it("an unrelated directory sharing an empty file (or one common file) is not the input directory; the input directory still is", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => ({ len: x.length });\n");
    const pkg = join(dir, "pkg");
    mkdirSync(pkg);
    writeFileSync(join(pkg, "__init__.py"), "");
    writeFileSync(join(pkg, "LICENSE"), "MIT License\n");
    writeFileSync(join(pkg, "z.py"), "print('z')\n");
    const r = await run(store, pkg, mod, { format: "files", workers: 1 });

    // Before: refused, the empty __init__.py alone naming <other> the input directory.
    const other = join(scratch.dir(), "other");
    mkdirSync(other);
    writeFileSync(join(other, "__init__.py"), "");
    await resume(store, r.runId, { outFile: join(other, "results.jsonl") });
    expect(readFileSync(join(other, "results.jsonl"), "utf8").split("\n").filter(Boolean)).toHaveLength(3);
    // One common non-empty file (the same LICENSE) is not enough: every probed file must match.
    writeFileSync(join(other, "LICENSE"), "MIT License\n");
    await resume(store, r.runId, { outFile: join(other, "results2.jsonl") });
    // The input directory (its non-empty files as the run read them) is still refused.
    await expectCairnError(resume(store, r.runId, { outFile: join(pkg, "o.jsonl") }), "E_USAGE", `is inside ${pkg}, which holds this run's input files (LICENSE, z.py as the run read them)`);
    // A copy with all the probed files is refused too (resume cannot tell them apart).
    writeFileSync(join(other, "z.py"), "print('z')\n");
    await expectCairnError(resume(store, r.runId, { outFile: join(other, "results3.jsonl") }), "E_USAGE", `is inside ${other}, which holds`);
  });

  it("an empty input does not refuse an existing empty --out (nothing to destroy)", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, MODULE);
    const input = join(dir, "empty.jsonl");
    writeFileSync(input, "");
    const r = await run(store, input, mod, { workers: 1 });
    const out = join(scratch.dir(), "out.jsonl");
    writeFileSync(out, "");
    // Before: E_USAGE "holds this run's input" (size 0 and the empty digest match any empty file).
    await resume(store, r.runId, { outFile: out });
  });

  it("a files listing that is not JSON, or not of the listing's shape, is E_STORE_CORRUPT (not swallowed)", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => ({ len: x.length });\n");
    const fd = join(dir, "fd");
    mkdirSync(fd);
    writeFileSync(join(fd, "a.txt"), "alpha");
    const r = await run(store, fd, mod, { format: "files", workers: 1 });
    const { plan } = loadPlan(store, r.runId);
    const out = join(scratch.dir(), "o.jsonl");
    for (const [bytes, why] of [
      ["not json", "is not JSON"],
      ['{"files":[["a.txt",5]],"kind":"cairn.batch.files"}', "is not a files listing: entry 0 is not [relative name, digest]"],
      ['{"files":[["../a.txt","sha256:' + "0".repeat(64) + '"]],"kind":"cairn.batch.files"}', "is not a files listing: entry 0 is not [relative name, digest]"],
      ['{"kind":"cairn.batch.files"}', "is not a files listing"],
    ] as const) {
      const listing = store.putBytes(Buffer.from(bytes)).digest;
      const { runId } = recordPlan(store, { ...plan, input: { ...plan.input, artifact: listing } });
      await expectCairnError(resume(store, runId, { outFile: out }), "E_STORE_CORRUPT", `run ${runId}: its input listing ${listing} ${why}`);
    }
  });

  it("an fs error probing a path other than ENOENT/ENOTDIR is E_STORE_IO (not taken for nothing there)", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => ({ len: x.length });\n");
    const fd = join(dir, "fd");
    mkdirSync(join(fd, "sub"), { recursive: true });
    writeFileSync(join(fd, "sub", "b.txt"), "beta");
    const r = await run(store, fd, mod, { format: "files", workers: 1 });
    const other = scratch.dir();
    symlinkSync("sub", join(other, "sub")); // a symlink loop: lstat(<other>/sub/b.txt) is ELOOP
    await expectCairnError(resume(store, r.runId, { outFile: join(other, "o.jsonl") }), "E_STORE_IO", `cannot compare ${join(other, "sub", "b.txt")} with what run ${r.runId} read`);
  });

  it("an existing --out with a module extension: not bundling is not the module; over OUT_MODULE_PROBE_MAX_BYTES it is not bundled", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, MODULE);
    const input = join(dir, "in.jsonl");
    writeFileSync(input, `{"n":1}\n`);
    const r = await run(store, input, mod, { workers: 1 });
    // An earlier output named .mjs (not a module esbuild takes): E_INVALID_INPUT from bundling, allowed.
    const prev = join(scratch.dir(), "prev.mjs");
    writeFileSync(prev, '{"y":{"n":1}}\n{"y":{"n":2}}\n{');
    await resume(store, r.runId, { outFile: prev });
    // The module padded with a comment bundles to the same function: refused at the bound, not bundled above it.
    const big = join(scratch.dir(), "m.mjs"); // the bundle names its source file: the same base name
    const padded = (bytes: number): string => `${MODULE}//${"x".repeat(bytes - MODULE.length - 3)}\n`;
    writeFileSync(big, padded(OUT_MODULE_PROBE_MAX_BYTES));
    await expectCairnError(resume(store, r.runId, { outFile: big }), "E_USAGE", "is this run's module");
    writeFileSync(big, padded(OUT_MODULE_PROBE_MAX_BYTES + 1));
    await resume(store, r.runId, { outFile: big });
  });
});
