/**
 * UAT findings of the CLI (session 5), through the BUILT cli (CAIRN_TEST_CLI):
 *  - F2/F6: every `--out` refusal of `cairn run` that the arguments alone decide (the input file,
 *    through a symlink or a hard link; inside a `files` input directory) is E_USAGE (exit 2), and
 *    a directory that does not exist the E_STORE_IO its open gives, before the store is opened
 *    or created;
 *  - F3: human output escapes the terminal controls of user text (failure lists, the seed, paths
 *    in error messages, runs show's function name, id field and reduce value, verify's findings,
 *    wf compile's diagnostics), keeping the lines of a message written as several; --json keeps
 *    the real text;
 *  - F7: `cairn verify` does not name a pulse twice; `cairn wf compile` names the real root.
 */
import { linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, flipMiddleByte, json, objectFileOf, type RunResult, TempDirs } from "./helpers.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../../examples/workflows/", import.meta.url));

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** ESC + "[31m" (turns a terminal red), DEL, U+2028, NEL (C1): text a terminal must not get raw. */
const NASTY = "\u001b[31m\u007f\u2028\u0085";
// eslint-disable-next-line no-control-regex -- the raw controls are what must not be printed
const RAW_CONTROL = /[\u001b\u007f\u0085\u2028]/;
/** NASTY as the human lines show it. */
const NASTY_SHOWN = "\\u001b[31m\\u007f\\u2028\\u0085";

function workDir(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "dbl.mjs"), "export default (x) => ({ n: x.n * 2 });\n");
  writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n{"n":2}\n');
  return dir;
}

function cli(dir: string, args: string[]): RunResult {
  return cairn(args, { cwd: dir });
}

describe("cairn run --out: refusals decided by the arguments create no store (F2, F6)", () => {
  it("the input file, a symlink or a hard link to it, or a path to it through ..: E_USAGE, exit 2, no store", () => {
    const dir = workDir();
    mkdirSync(join(dir, "sub"));
    symlinkSync("in.jsonl", join(dir, "lnk.jsonl"));
    linkSync(join(dir, "in.jsonl"), join(dir, "hard.jsonl"));
    const before = readdirSync(dir).sort();
    for (const out of ["in.jsonl", "lnk.jsonl", "hard.jsonl", "sub/../in.jsonl", `../${dir.split("/").pop() as string}/in.jsonl`]) {
      const r = cli(dir, ["--store", "S4", "run", "dbl.mjs", "--input", "in.jsonl", "--out", out]);
      expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: --out ${out} is the input file [E_USAGE]\n`]);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
  });

  it("a file inside the input directory of --format files: E_USAGE, exit 2, no store", () => {
    const dir = workDir();
    mkdirSync(join(dir, "fin"));
    writeFileSync(join(dir, "fin", "a.txt"), "hi\n");
    const before = readdirSync(dir).sort();
    for (const out of ["fin/out.jsonl", "fin/a.txt"]) {
      const r = cli(dir, ["--store", "S4", "run", "dbl.mjs", "--format", "files", "--input", "fin", "--out", out]);
      expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: --out ${out} is inside the input directory fin [E_USAGE]\n`]);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
  });

  it("a path whose directory does not exist (or is a file): the E_STORE_IO its open gives (exit 1), but before the store is made; run and resume", () => {
    const dir = workDir();
    mkdirSync(join(dir, "outdir"));
    const before = readdirSync(dir).sort();
    const cases: Array<[string, string]> = [
      ["nodir/x", "cairn: cannot write nodir/x: ENOENT: no such file or directory [E_STORE_IO]\n"],
      ["outdir/x/..", "cairn: cannot write outdir/x/..: ENOENT: no such file or directory [E_STORE_IO]\n"],
      ["in.jsonl/x", "cairn: cannot write in.jsonl/x: ENOTDIR: not a directory [E_STORE_IO]\n"],
    ];
    for (const [out, err] of cases) {
      const r = cli(dir, ["--store", "S4", "run", "dbl.mjs", "--input", "in.jsonl", "--out", out]);
      expect([r.status, r.out, r.err]).toEqual([1, "", err]);
      expect(readdirSync(dir).sort()).toEqual(before);
    }
    const j = cli(dir, ["--store", "S4", "--json", "run", "dbl.mjs", "--input", "in.jsonl", "--out", "nodir/x"]);
    expect([j.status, JSON.parse(j.err)]).toEqual([1, { error: { code: "E_STORE_IO", message: "cannot write nodir/x: ENOENT: no such file or directory", details: { path: "nodir/x" } } }]);
    expect(readdirSync(dir).sort()).toEqual(before);

    // resume: an unknown run is the first error, whatever is wrong with --out (a store that
    // exists, a run that does not; before 2026-11-28 the --out error came first).
    expect(cli(dir, ["--store", "S4", "run", "dbl.mjs", "--input", "in.jsonl", "--out", "outdir/o.jsonl"]).status).toBe(0);
    const res = cli(dir, ["--store", "S4", "resume", "0123456789abcdef", "--out", "nodir/x"]);
    expect([res.status, res.out, res.err]).toEqual([1, "", `cairn: run 0123456789abcdef not found in store ${join(dir, "S4")} [E_NOT_FOUND]\n`]);
  });

  it("a new file in an existing directory and /dev/stdout are still accepted", () => {
    const dir = workDir();
    mkdirSync(join(dir, "outdir"));
    const r = cli(dir, ["--store", "S4", "run", "dbl.mjs", "--input", "in.jsonl", "--out", "outdir/o.jsonl"]);
    expect([r.status, r.err.split("\n").at(-2)]).toEqual([0, "cairn: wrote the ordered output to outdir/o.jsonl"]);
    const s = cli(dir, ["--store", "S4", "--quiet", "run", "dbl.mjs", "--input", "in.jsonl", "--out", "/dev/stdout"]);
    expect(s.status).toBe(0);
    expect(s.out.startsWith('{"id":0,"output":{"n":2}}\n{"id":1,"output":{"n":4}}\n')).toBe(true);
  });
});

describe("human output escapes the controls of user text (F3)", () => {
  it("the failure lists of run, resume and runs show escape the EU id and message; --json keeps them", () => {
    const dir = workDir();
    writeFileSync(join(dir, "fail.mjs"), 'export default (x) => { throw new Error("boom\\x1b[31m\\x7f\\u2028\\x85 " + x.n); };\n');
    writeFileSync(join(dir, "ids.jsonl"), `${JSON.stringify({ k: `a${NASTY}`, n: 1 })}\n`);
    const args = ["--store", "S", "run", "fail.mjs", "--input", "ids.jsonl", "--id-field", "k", "--workers", "1", "--retries", "0"];
    const line = `  id "a${NASTY_SHOWN}"  E_EU_THREW  boom${NASTY_SHOWN} 1`;
    const failed = cli(dir, args);
    expect(failed.status).toBe(1);
    expect(failed.out).toContain(`failures (1 EU):\n${line}\n`);
    const allowed = cli(dir, [...args, "--allow-failures"]);
    expect(allowed.status).toBe(0);
    expect(allowed.out).toContain(`failures (1 EU):\n${line}\n`);
    const { runId, failures } = json<{ runId: string; failures: Array<{ id: string; message: string }> }>(cli(dir, ["--json", ...args, "--allow-failures"]));
    expect(failures.map((f) => [f.id, f.message])).toEqual([[`a${NASTY}`, `boom${NASTY} 1`]]);
    const resumed = cli(dir, ["--store", "S", "resume", runId]);
    expect(resumed.status).toBe(0);
    expect(resumed.out).toContain(`failures (1 EU):\n${line}\n`);
    const show = cli(dir, ["--store", "S", "runs", "show", runId]);
    expect(show.status).toBe(0);
    expect(show.out.endsWith(`failures (1 EU):\n${line}\n`)).toBe(true);
    for (const r of [failed, allowed, resumed, show]) expect(r.out).not.toMatch(RAW_CONTROL);
  });

  it("the --seed refusal and the seed of runs show escape DEL, C1 and U+2028 too", () => {
    const dir = workDir();
    const long = `\u007f\u0085${"a".repeat(300)}`;
    const shown = `"\\u007f\\u0085${"a".repeat(38)}…"`;
    const r = cli(dir, ["--store", "S", "run", "dbl.mjs", "--input", "in.jsonl", "--seed", long]);
    expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: invalid --seed ${shown}: must be 1..256 characters (Unicode code points), got 302 [E_USAGE]\n`]);
    const j = cli(dir, ["--store", "S", "--json", "run", "dbl.mjs", "--input", "in.jsonl", "--seed", long]);
    expect(jsonError(j).message).toBe(`invalid --seed ${shown}: must be 1..256 characters (Unicode code points), got 302`);

    const ok = cli(dir, ["--store", "S", "--json", "run", "dbl.mjs", "--input", "in.jsonl", "--seed", `s${NASTY}`]);
    expect(ok.status).toBe(0);
    const show = cli(dir, ["--store", "S", "runs", "show", json<{ runId: string }>(ok).runId]);
    expect(show.out).toContain(`, seed "s${NASTY_SHOWN}", max memory `);
    expect(show.out).not.toMatch(RAW_CONTROL);
  });

  it("an input path in an error message is escaped on the human line, kept in the JSON error; escaped text is not escaped again", () => {
    const dir = workDir();
    const missing = `no${NASTY}.jsonl`;
    const r = cli(dir, ["--store", "S", "run", "dbl.mjs", "--input", missing]);
    expect([r.status, r.err]).toEqual([1, `cairn: input not found: no${NASTY_SHOWN}.jsonl [E_NOT_FOUND]\n`]);
    const j = cli(dir, ["--store", "S", "--json", "run", "dbl.mjs", "--input", missing]);
    expect(jsonError(j)).toEqual({ code: "E_NOT_FOUND", message: `input not found: ${missing}`, details: { file: missing, errno: "ENOENT" } });

    const bad = `bad${NASTY}.jsonl`;
    writeFileSync(join(dir, bad), '{"n":1}\n{bad\n');
    const b = cli(dir, ["--store", "S", "--quiet", "run", "dbl.mjs", "--input", bad]);
    expect([b.status, b.err]).toEqual([1, `cairn: bad${NASTY_SHOWN}.jsonl:2: record 1: invalid JSON: Expected property name or '}' in JSON at position 1 [E_INVALID_INPUT]\n`]);

    // A name holding the text `\u001b` (a backslash, not ESC) is shown as it is.
    const literal = cli(dir, ["--store", "S", "run", "dbl.mjs", "--input", "x\\u001b.jsonl"]);
    expect(literal.err).toBe("cairn: input not found: x\\u001b.jsonl [E_NOT_FOUND]\n");
  });
});

describe("human output escapes the controls of user text, second pass (UAT 2, review 2)", () => {
  it("an audit's E_NONDETERMINISTIC error keeps its lines (run: / audit:), each escaped", () => {
    const dir = workDir();
    writeFileSync(join(dir, "count.mjs"), 'let c = 0;\nexport default (x) => ({ n: x.n, c: c++, s: "\\x7f" });\n');
    const r = cli(dir, ["--store", "S", "--quiet", "run", "count.mjs", "--input", "in.jsonl", "--workers", "1", "--audit-rate", "1"]);
    expect(r.status).toBe(1);
    // The run named first and what a resume does last (UAT 8 of 2026-11-28: engine.ts withNondeterministicRun).
    expect(r.err).toMatch(/^cairn: run [0-9a-f]{16}: audit of pulse \d+\/\d+ found a nondeterministic result at EU \d+:\n {2}run: {3}\{.*\\u007f.*\}\n {2}audit: \{.*\\u007f.*\}\nThe function gave different results for the same input [^\n]* \[E_NONDETERMINISTIC\]\n$/);
    expect(r.err).not.toMatch(RAW_CONTROL);
  });

  it("runs show escapes the function name, the id field and the reduce value; verify --reexecute its findings", () => {
    const dir = workDir();
    const mod = `m${NASTY}.mjs`;
    // The output depends on a file (the sandbox does not stop fs reads): changed before verify.
    const flag = join(dir, "flag.txt");
    writeFileSync(flag, "1");
    writeFileSync(
      join(dir, mod),
      `import { readFileSync } from "node:fs";\nexport default () => ({ s: "v\\x1b[31m\\x7f\\u2028\\x85" + readFileSync(${JSON.stringify(flag)}, "utf8") });\nexport const initial = "";\nexport function reduce(a, o) { return o.s; }\n`,
    );
    writeFileSync(join(dir, "ids.jsonl"), `${JSON.stringify({ [`k${NASTY}`]: 1, n: 1 })}\n${JSON.stringify({ [`k${NASTY}`]: 2, n: 2 })}\n`);
    const ran = cli(dir, ["--store", "S", "--json", "run", mod, "--input", "ids.jsonl", "--id-field", `k${NASTY}`, "--workers", "1", "--partitions", "1"]);
    expect(ran.status).toBe(0);
    const { runId } = json<{ runId: string }>(ran);
    const show = cli(dir, ["--store", "S", "runs", "show", runId]);
    expect(show.status).toBe(0);
    expect(show.out).toContain(`function: "m${NASTY_SHOWN}.mjs" sha256:`);
    expect(show.out).toContain(`id field "k${NASTY_SHOWN}", partitions 1`);
    expect(show.out).toContain(`reduce: "v${NASTY_SHOWN}1"`);
    expect(show.out).not.toMatch(RAW_CONTROL);
    writeFileSync(flag, "2");
    const v = cli(dir, ["--store", "S", "verify", runId, "--reexecute"]);
    expect(v.status).toBe(1);
    expect(v.out).toMatch(/^reexecution_mismatch {2}pulse 0\/0: .*\n {2}stored: {6}.*\\u007f/m);
    expect(v.out).not.toMatch(RAW_CONTROL);
  });

  it("wf compile's diagnostics escape the declaration's keys and file name", () => {
    const dir = temps.make();
    const file = `w${NASTY}.yaml`;
    writeFileSync(join(dir, file), `schema: x\n"a${NASTY}": 1e400\n`);
    const c = cairn(["wf", "compile", file], { cwd: dir });
    expect(c.status).toBe(1);
    expect(c.err).toContain(`cairn: w${NASTY_SHOWN}.yaml: a${NASTY_SHOWN}: `);
    expect(c.err).not.toMatch(RAW_CONTROL);
  });
});

function jsonError(r: RunResult): Record<string, unknown> {
  return (JSON.parse(r.err) as { error: Record<string, unknown> }).error;
}

describe("cairn verify names a finding's pulse once (F7)", () => {
  it("a message that starts with its pulse is printed without the pulse column; --json keeps pulse and message", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: 400 }, (_, i) => `{"n":${i}}\n`).join(""));
    const store = join(dir, "store");
    const run = cairn(["--store", store, "--json", "run", join(FIXTURES, "padded.mjs"), "--input", "in.jsonl", "--partitions", "1"], { cwd: dir });
    expect(run.status).toBe(0);
    const { runId } = json<{ runId: string }>(run);
    const show = json<{ pulses: Array<{ records: string }> }>(cairn(["--store", store, "--json", "runs", "show", runId], { cwd: dir }));
    // > 64 KiB: the pulse's records are a file of their own under objects/.
    flipMiddleByte(objectFileOf(store, show.pulses[0]?.records as string));
    const j = cairn(["--store", store, "--json", "verify", runId], { cwd: dir });
    expect(j.status).toBe(1);
    const report = json<{ problems: Array<{ code: string; pulse?: string; message: string }> }>(j);
    const withPulse = report.problems.filter((p) => p.pulse === "0/0");
    expect(withPulse.length).toBeGreaterThan(0);
    expect(withPulse.every((p) => p.message.startsWith("pulse 0/0"))).toBe(true);
    const human = cairn(["--store", store, "verify", runId], { cwd: dir });
    expect(human.status).toBe(1);
    const lines = human.out.split("\n");
    expect(lines.slice(0, report.problems.length)).toEqual(report.problems.map((p) => `${p.code}  ${p.message}`));
    expect(human.out).not.toContain("pulse 0/0  pulse 0/0");
  });
});

describe("cairn wf compile names the snapshot's root (F7)", () => {
  it("stored in the store (root cairn-wf-snapshot:<the digest>), the root that store roots lists", () => {
    const dir = temps.make();
    const c = cairn(["--store", "W", "wf", "compile", EXAMPLES], { cwd: dir });
    expect(c.status).toBe(0);
    const digest = c.out.trim().split("\n").pop() as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(c.out.split("\n").slice(-3)).toEqual([`stored in the store (root cairn-wf-snapshot:${digest})`, digest, ""]);
    expect(cairn(["--store", "W", "store", "roots"], { cwd: dir }).out).toContain(`cairn-wf-snapshot:${digest}  pin  ${digest}`);
  });
});
