/**
 * `cairn run` checks its module and input paths before it opens (or creates) the store and
 * before it prints any progress (src/cli/batch-commands.ts `checkRunPaths`), with the engine's
 * own errors; and an empty module, `--input` or `--out` value is E_USAGE naming it (cli/args.ts
 * `nonEmptyArg`). Through the BUILT cli (CAIRN_TEST_CLI), in an empty directory without
 * CAIRN_STORE, so the default store would be `./.cairn`.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, type RunResult, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** A directory holding only `id.mjs` (and `in.jsonl` when asked). */
function workDir(withInput = false): string {
  const dir = temps.make();
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  if (withInput) writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n');
  return dir;
}

function cli(dir: string, args: string[], input?: string): RunResult {
  return cairn(args, input === undefined ? { cwd: dir } : { cwd: dir, input });
}

describe("cairn run: the module and input paths are checked before the store is touched", () => {
  it("a missing --input: E_NOT_FOUND (exit 1) as before, no progress, and no ./.cairn created (nor the module stored)", () => {
    const dir = workDir();
    const r = cli(dir, ["run", "id.mjs", "--input", "nosuch.jsonl"]);
    expect([r.status, r.out, r.err]).toEqual([1, "", "cairn: input not found: nosuch.jsonl [E_NOT_FOUND]\n"]);
    expect(readdirSync(dir)).toEqual(["id.mjs"]);
    const j = cli(dir, ["--json", "run", "id.mjs", "--input", "nosuch.jsonl"]);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_NOT_FOUND", message: "input not found: nosuch.jsonl", details: { file: "nosuch.jsonl", errno: "ENOENT" } } });
    expect(readdirSync(dir)).toEqual(["id.mjs"]);
  });

  it("an empty --seed: E_USAGE naming the flag, before the store is created", () => {
    const dir = workDir(true);
    const r = cli(dir, ["run", "id.mjs", "--input", "in.jsonl", "--seed", ""]);
    expect(r.status).toBe(2);
    expect(r.err).toBe('cairn: invalid --seed "": must be 1..256 characters (Unicode code points), got 0 [E_USAGE]\n');
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl"]);
  });

  it("resume on a store that does not exist: E_STORE_MISSING, and no empty store made (a mistyped --store)", () => {
    const dir = workDir();
    const r = cli(dir, ["--store", "typo", "resume", "0123456789abcdef"]);
    expect([r.status, r.err]).toEqual([1, `cairn: no Cairn store at ${join(dir, "typo")} (create one with \`cairn init\`, or openStore({ dir, create: true })) [E_STORE_MISSING]\n`]);
    expect(readdirSync(dir)).toEqual(["id.mjs"]);
  });

  it("an input under a file (ENOTDIR) and --format files on a missing directory: the readers' errors, no ./.cairn", () => {
    const dir = workDir(true);
    const notDir = cli(dir, ["run", "id.mjs", "--input", "in.jsonl/x"]);
    expect([notDir.status, notDir.err]).toEqual([1, "cairn: cannot read input in.jsonl/x: ENOTDIR: not a directory, stat 'in.jsonl/x' [E_INVALID_INPUT]\n"]);
    const files = cli(dir, ["run", "id.mjs", "--input", "nosuch", "--format", "files"]);
    expect([files.status, files.err]).toEqual([1, "cairn: input not found: nosuch [E_NOT_FOUND]\n"]);
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl"]);
  });

  it("a module path that is a directory, has no module extension, or is missing: its error first (before the input's), no progress, no ./.cairn", () => {
    const dir = workDir(true);
    mkdirSync(join(dir, "d"));
    mkdirSync(join(dir, "m.mjs"));
    const slash = cli(dir, ["run", "d/", "--input", "x"]);
    expect([slash.status, slash.out, slash.err]).toEqual([2, "", "cairn: module d/ must be a .ts, .mts, .js, .mjs file [E_USAGE]\n"]);
    const missing = cli(dir, ["run", "nosuch.mjs", "--input", "nosuch.jsonl"]);
    expect([missing.status, missing.err]).toEqual([1, "cairn: module not found: nosuch.mjs [E_NOT_FOUND]\n"]);
    const under = cli(dir, ["run", "id.mjs/x.mjs", "--input", "in.jsonl"]);
    expect([under.status, under.err]).toEqual([1, "cairn: module not found: id.mjs/x.mjs [E_NOT_FOUND]\n"]);
    const directory = cli(dir, ["run", "m.mjs", "--input", "in.jsonl"]);
    expect([directory.status, directory.err]).toEqual([1, "cairn: module m.mjs is not a file [E_INVALID_INPUT]\n"]);
    expect(readdirSync(dir).sort()).toEqual(["d", "id.mjs", "in.jsonl", "m.mjs"]);
  });

  it("stdin (-) is not looked at before the run: it still runs", () => {
    const dir = workDir();
    const r = cli(dir, ["--json", "run", "id.mjs", "--input", "-"], '{"n":1}\n');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.out) as { counts: { total: number } }).counts.total).toBe(1);
  });
});

describe("cairn run / resume: an empty path value is E_USAGE naming it", () => {
  it.each([
    [["run", "id.mjs", "--input", ""], "--input must not be empty", "--input"],
    [["run", "", "--input", "in.jsonl"], "argument <module> must not be empty", "argument <module>"],
    [["run", "id.mjs", "--input", "in.jsonl", "--out", ""], "--out must not be empty", "--out"],
    [["resume", "0123456789abcdef", "--out", ""], "--out must not be empty", "--out"],
  ])("cairn %j: exit 2, `%s`, nothing created", (args, message, field) => {
    const dir = workDir(true);
    const r = cli(dir, args);
    expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: ${message} [E_USAGE]\n`]);
    const j = cli(dir, ["--json", ...args]);
    expect(j.status).toBe(2);
    expect(JSON.parse(j.err)).toEqual({ error: { code: "E_USAGE", message, details: { field } } });
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl"]);
  });
});
