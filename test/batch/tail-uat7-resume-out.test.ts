/**
 * `resume(store, id, { outFile })` (`cairn resume <id> --out F`) must not overwrite what the run
 * read, as `run --out` may not: the plan records digests, not paths, so resume compares contents
 * (engine.ts `checkOutNotRunSource`): a file holding the run's input, a module file that bundles
 * to the run's function, a path inside a directory holding the `files` input's files.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resume, run } from "../../src/batch/engine.js";
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

    await expectCairnError(resume(store, r.runId, { outFile: join(fd, "o.jsonl") }), "E_USAGE", `is inside ${fd}, which holds this run's input files (a.txt as the run read it`);
    await expectCairnError(resume(store, r.runId, { outFile: join(fd, "sub", "deep", "o.jsonl") }), "E_USAGE", `is inside ${fd}, which holds`);
    // The first file changed since: the next one probed still names the directory.
    writeFileSync(join(fd, "a.txt"), "ALPHA");
    await expectCairnError(resume(store, r.runId, { outFile: join(fd, "o.jsonl") }), "E_USAGE", "(sub/b.txt as the run read it");
    // Beside the directory: allowed.
    const beside = join(dir, "o.jsonl");
    await resume(store, r.runId, { outFile: beside });
    expect(readFileSync(beside, "utf8").split("\n").filter(Boolean)).toHaveLength(2);
  });
});
