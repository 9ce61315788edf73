/**
 * The output file of `run` / `resume` (`hooks.outFile`; the CLI's `--out`):
 *  - an existing directory (or a symlink to one), or a path ending in `/`, is E_USAGE naming it
 *    before anything runs (engine.ts `refuseDirectoryOut`): a directory was E_STORE_IO (EISDIR)
 *    once the store was open, and a missing `dir/` failed only after the run (ENOTDIR);
 *  - the library's errors name the hook, `outFile`, not the CLI's flag `--out` (the CLI passes
 *    the same hook and still says `--out`: test/cli/s5-msg-out-cli.test.ts).
 */
import { copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { resume, run } from "../../src/batch/engine.js";
import { listRuns } from "../../src/batch/runs.js";
import { Scratch, expectCairnError, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

describe("outFile that is a directory", () => {
  it("run: an existing directory, a symlink to one, a path ending in / are E_USAGE naming outFile; nothing runs", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const target = join(dir, "results");
    mkdirSync(target);
    symlinkSync(target, join(dir, "link"));
    for (const [out, why] of [
      [target, "is a directory; give a file path"],
      [join(dir, "link"), "is a directory; give a file path"],
      [`${join(dir, "fresh")}/`, "names a directory (it ends in /); give a file path"],
    ] as const) {
      const e = await expectCairnError(run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), { workers: 1 }, { outFile: out }), ErrorCode.USAGE);
      expect(e.message).toBe(`outFile ${out} ${why}`);
      expect(e.details).toEqual({ field: "outFile", path: out });
    }
    expect(listRuns(store)).toEqual([]);
    expect(readdirSync(target)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(["link", "results"]);
  });

  it("resume: a directory is E_USAGE naming outFile, before the run is continued", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ n: 1 }], fixture("engine-entropy.mjs"), { workers: 1 });
    const dir = scratch.dir();
    const e = await expectCairnError(resume(store, r.runId, { outFile: dir }), ErrorCode.USAGE);
    expect(e.message).toBe(`outFile ${dir} is a directory; give a file path`);
    expect(e.details).toEqual({ field: "outFile", path: dir });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("the library's outFile errors name outFile", () => {
  it("resume: the store, the run's input, the run's module", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => ({ y: x });\n");
    const input = join(dir, "in.jsonl");
    writeFileSync(input, '{"n":1}\n');
    const r = await run(store, input, mod, { workers: 1 });
    const catalog = join(store.root, "catalog.sqlite");
    const inStore = await expectCairnError(resume(store, r.runId, { outFile: catalog }), ErrorCode.USAGE);
    expect(inStore.message).toBe(`outFile ${catalog} is inside the store ${store.root}`);
    expect(inStore.details).toEqual({ field: "outFile", path: catalog });
    const copy = join(dir, "copy.jsonl");
    copyFileSync(input, copy);
    const held = await expectCairnError(resume(store, r.runId, { outFile: copy }), ErrorCode.USAGE);
    expect(held.message).toMatch(new RegExp(`^outFile ${copy.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} holds this run's input \\(sha256:[0-9a-f]{64}\\): writing the output there would replace it$`));
    expect(held.details).toEqual({ field: "outFile", path: copy });
    const modCopy = await expectCairnError(resume(store, r.runId, { outFile: mod }), ErrorCode.USAGE);
    expect(modCopy.message).toMatch(/^outFile \S+ is this run's module: it bundles to the run's function sha256:/);
  });

  it("run: the input file and the module file", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const mod = join(dir, "m.mjs");
    writeFileSync(mod, "export default (x) => x;\n");
    const input = join(dir, "in.jsonl");
    writeFileSync(input, '{"n":1}\n');
    const e1 = await expectCairnError(run(store, input, mod, { workers: 1 }, { outFile: input }), ErrorCode.USAGE);
    expect(e1.message).toBe(`outFile ${input} is the input file`);
    expect(e1.details).toEqual({ field: "outFile", path: input });
    const e2 = await expectCairnError(run(store, input, mod, { workers: 1 }, { outFile: mod }), ErrorCode.USAGE);
    expect(e2.message).toBe(`outFile ${mod} is the module file`);
  });
});
