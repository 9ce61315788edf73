/**
 * `cairn run … --out DIR` and `cairn resume … --out DIR` with DIR an existing directory (or a
 * path ending in `/`): E_USAGE (exit 2) naming `--out` and the path, before the store is opened
 * or created and before anything runs (engine.ts `refuseDirectoryOut`). Before, it was E_STORE_IO
 * (EISDIR, exit 1) once the store was open, and a missing `dir/` failed only after the run
 * (ENOTDIR). The CLI's other `--out` refusals still say `--out` (the library says `outFile`:
 * test/batch/s5-msg-out.test.ts). Through the BUILT cli (CAIRN_TEST_CLI).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

function workDir(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n');
  mkdirSync(join(dir, "results"));
  return dir;
}

describe("--out naming a directory", () => {
  it("run: E_USAGE, exit 2, the message on stderr; no store created, nothing run", () => {
    const dir = workDir();
    const r = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "results"], { cwd: dir });
    expect([r.status, r.out, r.err]).toEqual([2, "", "cairn: --out results is a directory; give a file path [E_USAGE]\n"]);
    const j = cairn(["--json", "run", "id.mjs", "--input", "in.jsonl", "--out", "results"], { cwd: dir });
    expect(j.status).toBe(2);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message: "--out results is a directory; give a file path", details: { field: "--out", path: "results" } } });
    const slash = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "fresh/"], { cwd: dir });
    expect([slash.status, slash.out, slash.err]).toEqual([2, "", "cairn: --out fresh/ names a directory (it ends in /); give a file path [E_USAGE]\n"]);
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl", "results"]); // no ./.cairn
    expect(readdirSync(join(dir, "results"))).toEqual([]);
  });

  it("run with an existing store: no run recorded; resume: E_USAGE too, and the run is not continued", () => {
    const dir = workDir();
    const r = cairn(["--store", "st", "run", "id.mjs", "--input", "in.jsonl", "--out", "results"], { cwd: dir });
    expect([r.status, r.err]).toEqual([2, "cairn: --out results is a directory; give a file path [E_USAGE]\n"]);
    const ok = cairn(["--store", "st", "--json", "run", "id.mjs", "--input", "in.jsonl"], { cwd: dir });
    expect(ok.status, ok.err).toBe(0);
    const runId = (JSON.parse(ok.out) as { runId: string }).runId;
    const runs = cairn(["--store", "st", "--json", "runs", "ls"], { cwd: dir });
    expect((JSON.parse(runs.out) as unknown[]).length).toBe(1); // only the run without --out
    const res = cairn(["--store", "st", "resume", runId, "--out", "results"], { cwd: dir });
    expect([res.status, res.out, res.err]).toEqual([2, "", "cairn: --out results is a directory; give a file path [E_USAGE]\n"]);
    expect(readdirSync(join(dir, "results"))).toEqual([]);
  });

  it("the CLI's other --out refusals still name --out", () => {
    const dir = workDir();
    const r = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "in.jsonl"], { cwd: dir });
    expect([r.status, r.err]).toEqual([2, "cairn: --out in.jsonl is the input file [E_USAGE]\n"]);
  });
});
