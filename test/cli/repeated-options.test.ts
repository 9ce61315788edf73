/**
 * An option that takes one value, given twice, is a usage error (the BUILT cli): commander kept
 * the last value silently (`--format jsonl --format csv` read the input as CSV and exited 0).
 * Now E_USAGE, exit 2, `--format given twice ("jsonl", then "csv"): give it once`, whatever the
 * spelling (`--f x`, `--f=x`, a short alias), for every command's options and the global ones
 * before or after the subcommand. Still accepted: the values of a repeatable option
 * (`serve --allow-origin`), a boolean flag given twice, a value that looks like a flag
 * (`--seed --seed`), anything after `--`. Also: `--max-memory` above the machine's memory is
 * noted on stderr (args.ts `refuseRepeatedOptions`; batch-commands.ts `noteMemoryAboveMachine`).
 */
import { existsSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refuseRepeatedOptions } from "../../src/cli/args.js";
import { TempDirs, cairn, jsonError, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

function run(args: string[]): RunResult {
  return cairn(args, { cwd: dir, env: { CAIRN_STORE: join(dir, "store") } });
}

/** The whole stderr is exactly one usage error line; nothing on stdout. */
function usage(r: RunResult, line: string): void {
  expect(r.err).toBe(`cairn: ${line} [E_USAGE]\n`);
  expect(r.status).toBe(2);
  expect(r.out).toBe("");
}

const DIGEST = `sha256:${"0".repeat(64)}`;
const RUN_ID = "0123456789abcdef";

beforeAll(() => {
  dir = temps.make();
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  writeFileSync(join(dir, "n.jsonl"), '{"n":1}\n{"n":2}\n');
});
afterAll(() => temps.cleanup());

describe("a single-value option given twice", () => {
  it("run --format jsonl --format csv is E_USAGE (was: read as CSV, exit 0), before any store is made", () => {
    usage(run(["run", "id.mjs", "--input", "n.jsonl", "--format", "jsonl", "--format", "csv"]), '--format given twice ("jsonl", then "csv"): give it once');
    usage(run(["run", "id.mjs", "--input", "n.jsonl", "--format=jsonl", "--format", "csv"]), '--format given twice ("jsonl", then "csv"): give it once');
    expect(existsSync(join(dir, "store"))).toBe(false);
  });

  it("--json: one JSON error naming the flag in details.field, with both values", () => {
    const r = run(["--json", "run", "id.mjs", "--input", "n.jsonl", "--partitions", "2", "--partitions=3"]);
    expect(r.status).toBe(2);
    expect(r.out).toBe("");
    expect(jsonError(r)).toEqual({
      code: "E_USAGE",
      message: '--partitions given twice ("2", then "3"): give it once',
      details: { field: "--partitions", values: ["2", "3"] },
    });
  });

  it("a short alias counts as its long form, which the message names", () => {
    usage(run(["store", "get", DIGEST, "-o", "a", "--out", "b"]), '--out given twice ("a", then "b"): give it once');
    usage(run(["store", "get", DIGEST, "-oa", "--out=b"]), '--out given twice ("a", then "b"): give it once');
  });

  it("a global option given twice, before and/or after the subcommand", () => {
    usage(run(["--store", "a", "run", "id.mjs", "--input", "n.jsonl", "--store", "b"]), '--store given twice ("a", then "b"): give it once');
    usage(run(["--store", "a", "--store", "b", "store", "ls"]), '--store given twice ("a", then "b"): give it once');
    usage(run(["store", "ls", "--wait", "1s", "--wait", "2s"]), '--wait given twice ("1s", then "2s"): give it once');
  });

  // One test each: every case is a process start (with the commands' modules loaded).
  const cases: [string[], string][] = [
    [["run", "id.mjs", "--input", "n.jsonl", "--input", "m.jsonl"], "--input"],
    [["run", "id.mjs", "--input", "n.jsonl", "--seed", "a", "--seed", "b"], "--seed"],
    [["run", "id.mjs", "--input", "n.jsonl", "--out", "a", "--out", "b"], "--out"],
    [["run", "id.mjs", "--input", "n.jsonl", "--max-memory", "1GiB", "--max-memory", "2GiB"], "--max-memory"],
    [["run", "id.mjs", "--input", "n.jsonl", "--eu-timeout", "1s", "--eu-timeout", "2s"], "--eu-timeout"],
    [["resume", RUN_ID, "--out", "a", "--out", "b"], "--out"],
    [["verify", RUN_ID, "--sample", "1", "--sample", "2"], "--sample"],
    [["replay", RUN_ID, "--pulse", "0", "--pulse", "1"], "--pulse"],
    [["store", "put", "n.jsonl", "--type-tag", "1", "--type-tag", "2"], "--type-tag"],
    [["store", "ls", "--limit", "1", "--limit", "2"], "--limit"],
    [["store", "get", DIGEST, "--snapshot", "a", "--snapshot", "b"], "--snapshot"],
    [["lineage", DIGEST, "--depth", "1", "--depth", "2"], "--depth"],
    [["gc", "--grace", "1s", "--grace", "2s"], "--grace"],
    [["wf", "compile", "wf.yaml", "--out", "a", "--out", "b"], "--out"],
    [["wf", "run", "--wf", "a::B", "--wf", "a::C"], "--wf"],
    [["wf", "run", "--snapshot", "a", "--data-root-wait", "1s", "--data-root-wait", "2s"], "--data-root-wait"],
    [["examine", "t.jsonl", "--workspace", "a", "--workspace", "b"], "--workspace"],
    [["serve", "--port", "1", "--port", "2"], "--port"],
    [["serve", "--max-body", "1KiB", "--max-body", "2KiB"], "--max-body"],
    [["plane", "keygen", "--out", "a", "--out", "b"], "--out"],
    [["plane", "sign", "--key", "k", "--subject", "s", "--audience", "a", "--ttl", "60", "--ttl", "90", "--request", "r"], "--ttl"],
    [["plane", "describe", "--config", "a", "--config", "b"], "--config"],
    [["plane", "exec", "--config", "a", "--request", "r", "--request", "s"], "--request"],
  ];
  it.each(cases)("%j: E_USAGE naming %s", (args, field) => {
    const r = run(["--json", ...args]);
    expect(r.status).toBe(2);
    const e = jsonError(r);
    expect({ code: e.code, field: e.details?.field }).toEqual({ code: "E_USAGE", field });
    expect(e.message).toMatch(new RegExp(`^${field} given twice \\(.*\\): give it once$`));
    expect(existsSync(join(dir, "store"))).toBe(false);
  });
});

describe("still accepted", () => {
  it("a boolean flag given twice (--json --json, -q -q), and a value that looks like a flag (--seed --seed)", () => {
    const r = run(["--json", "--json", "-q", "-q", "run", "id.mjs", "--input", "n.jsonl", "--seed", "--seed", "--allow-failures", "--allow-failures"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect((JSON.parse(r.out) as { status: string }).status).toBe("completed");
  });

  it("a repeatable option: serve --allow-origin twice gets past parsing", () => {
    const r = run(["--json", "serve", "--port", "0", "--host", "127.0.0.1", "--allow-origin", "http://a.example", "--allow-origin", "http://b.example", "--workspace", "nope"]);
    expect(r.status).toBe(1);
    expect(jsonError(r).code).toBe("E_NOT_FOUND");
  });

  it("nothing after -- is read as an option", () => {
    const r = run(["--json", "run", "id.mjs", "--input", "n.jsonl", "--", "--input", "m.jsonl"]);
    expect(r.status).toBe(2);
    expect(jsonError(r).message).not.toMatch(/given twice/);
  });
});

describe("a negatable pair (no command has one yet: --no-render has no --render)", () => {
  /** A command with `--render` / `--no-render`, checked as main.ts checks the CLI's. */
  function parsed(args: string[]): { render?: boolean } {
    const cmd = new Command("t").option("--render", "draw").option("--no-render", "do not draw").exitOverride();
    refuseRepeatedOptions(cmd);
    cmd.parse(args, { from: "user" });
    return cmd.opts();
  }

  it("both given is E_USAGE naming the second (was: the last one won)", () => {
    expect(() => parsed(["--render", "--no-render"])).toThrow(expect.objectContaining({ code: "E_USAGE", message: "--no-render conflicts with --render: give one of them", details: { field: "--no-render" } }));
    expect(() => parsed(["--no-render", "--render"])).toThrow("--render conflicts with --no-render: give one of them");
  });

  it("either one, even twice, is accepted", () => {
    expect(parsed(["--no-render", "--no-render"]).render).toBe(false);
    expect(parsed(["--render"]).render).toBe(true);
  });
});

describe("--max-memory above the machine's memory", () => {
  const MAX = String(Number.MAX_SAFE_INTEGER);
  const NOTE = /^cairn: note: --max-memory \S+ \S+ is more than this machine's memory \(\S+ \S+\): the bound then does not protect the machine, whose memory runs out first$/m;

  it("is noted on stderr (not an error), not with --quiet or --json", () => {
    const r = run(["--store", "s1", "run", "id.mjs", "--input", "n.jsonl", "--max-memory", MAX]);
    expect(r.status).toBe(0);
    expect(r.err).toMatch(NOTE);
    const q = run(["-q", "--store", "s2", "run", "id.mjs", "--input", "n.jsonl", "--max-memory", MAX]);
    expect(q.status).toBe(0);
    expect(q.err).not.toMatch(/note: --max-memory/);
    const j = run(["--json", "--store", "s3", "run", "id.mjs", "--input", "n.jsonl", "--max-memory", MAX]);
    expect(j.status).toBe(0);
    expect(j.err).toBe("");
  });

  it("is not noted for a bound within the machine's memory", () => {
    const bytes = Math.floor(totalmem() / 2);
    const r = run(["--store", "s4", "run", "id.mjs", "--input", "n.jsonl", "--max-memory", String(bytes)]);
    expect(r.status).toBe(0);
    expect(r.err).not.toMatch(/note: --max-memory/);
  });
});
