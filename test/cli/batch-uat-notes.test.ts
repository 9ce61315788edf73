/**
 * UAT findings on `cairn run`/`resume`/`runs ls` messages:
 * - F-low-2: the low-memory note is said for the default --max-memory too (before, only for an
 *   explicit one: the default 512 MiB below the footprint of 15+ workers was silent).
 * - F-low-3: `runs ls` escapes control characters of an input path or module name (a JSON string
 *   cell), so each run is one line.
 * - F-low-4: `cairn resume` of a run with failed EUs no longer tells the user to pass
 *   --allow-failures (which resume does not take: it is part of the run id); it says to repeat
 *   the `cairn run` command with it, and that run reuses the committed pulses.
 * Runs the BUILT cli (test/cli/helpers.ts).
 */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

function setup(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "echo.js"), "export default (x) => x;\n");
  writeFileSync(join(dir, "j.jsonl"), '{"a":1}\n{"a":2}\n{"a":3}\n');
  return dir;
}

describe("the low-memory note (UAT F-low-2)", () => {
  // 160 MiB + 24 MiB × 15 workers = 520 MiB > the default 512 MiB; 14 workers need 496 MiB.
  it("is said when the default --max-memory is below the footprint of the workers", () => {
    const dir = setup();
    const r = cairn(["--store", "st", "run", "echo.js", "--input", "j.jsonl", "--workers", "15"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(r.err).toContain("cairn: note: the default --max-memory 512.0 MiB is below what this process needs by itself with 15 workers (about 520.0 MiB)");
    const explicit = cairn(["--store", "st", "run", "echo.js", "--input", "j.jsonl", "--workers", "15", "--max-memory", "512MiB"], { cwd: dir });
    expect(explicit.err).toContain("cairn: note: --max-memory 512.0 MiB is below");
  });

  it("is not said when the default holds the footprint, nor with --quiet", () => {
    const dir = setup();
    const r = cairn(["--store", "st", "run", "echo.js", "--input", "j.jsonl", "--workers", "14"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(r.err).not.toContain("note: ");
    const q = cairn(["--store", "st", "--quiet", "run", "echo.js", "--input", "j.jsonl", "--workers", "15"], { cwd: dir });
    expect(q.err).toBe("");
  });
});

describe("runs ls with control characters in names (UAT F-low-3)", () => {
  it("prints each run on one line, the names as JSON strings", () => {
    const dir = setup();
    copyFileSync(join(dir, "j.jsonl"), join(dir, "x\ny.jsonl"));
    copyFileSync(join(dir, "echo.js"), join(dir, "e\tc.js"));
    const r = cairn(["--store", "st", "--quiet", "run", "e\tc.js", "--input", "x\ny.jsonl"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    const ls = cairn(["--store", "st", "runs", "ls"], { cwd: dir });
    expect(ls.status, ls.err).toBe(0);
    const lines = ls.out.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^[0-9a-f]{16} {2}completed {2}completed {2}3\/0 +"x\\ny\.jsonl" {2}"e\\tc\.js"$/);
    // --json keeps the names as they are.
    const j = json<{ input: string; function: string }[]>(cairn(["--store", "st", "--json", "runs", "ls"], { cwd: dir }));
    expect(j.map((s) => [s.input, s.function])).toEqual([["x\ny.jsonl", "e\tc.js"]]);
  });

  it("tableCell: plain names as they are; control characters (C0, DEL, C1, U+2028/9) and a leading quote as a JSON string", async () => {
    const { tableCell } = await import("../../src/cli/batch-commands.js");
    expect(tableCell("in put.jsonl")).toBe("in put.jsonl");
    expect(tableCell("a\\b")).toBe("a\\b");
    expect(tableCell("a\nb")).toBe('"a\\nb"');
    expect(tableCell("a\rb\u0007")).toBe('"a\\rb\\u0007"');
    expect(tableCell("a\u007fb\u0085c\u2028d\u2029")).toBe('"a\\u007fb\\u0085c\\u2028d\\u2029"');
    expect(tableCell('"q".jsonl')).toBe('"\\"q\\".jsonl"');
    for (const s of ["a\nb", "a\u0085\u2028", '"q"\t']) expect(JSON.parse(tableCell(s))).toBe(s);
  });
});

describe("the failed-EUs hint of resume (UAT F-low-4)", () => {
  it("resume names the run command with --allow-failures, which reuses the committed pulses", () => {
    const dir = setup();
    writeFileSync(join(dir, "f.js"), 'export default (x) => { if (x.a === 2) throw "boom"; return x.a; };\n');
    const first = cairn(["--store", "st", "--json", "run", "f.js", "--input", "j.jsonl"], { cwd: dir });
    expect(first.status).toBe(1);
    expect(jsonError(first).message).toContain("(pass --allow-failures to accept failed EUs)");
    const { runId } = json<{ runId: string }>(first);
    const resumed = cairn(["--store", "st", "resume", runId], { cwd: dir });
    expect(resumed.status).toBe(1);
    expect(resumed.err).toContain(`failed in run ${runId} (to accept failed EUs, repeat the \`cairn run\` command with --allow-failures: another run id, which reuses this run's committed pulses) [E_EU_FAILED]`);
    expect(resumed.err).not.toContain("pass --allow-failures");
    // resume does not take the flag …
    const flag = cairn(["--store", "st", "resume", runId, "--allow-failures"], { cwd: dir });
    expect(flag.status).toBe(2);
    expect(flag.err).toContain("unknown option '--allow-failures'");
    // … and the run the hint names reuses every committed pulse (nothing executed again).
    const accepted = cairn(["--store", "st", "--json", "run", "f.js", "--input", "j.jsonl", "--allow-failures"], { cwd: dir });
    expect(accepted.status, accepted.err).toBe(0);
    const acc = json<{ runId: string; status: string; counts: { failed: number } }>(accepted);
    expect(acc.runId).not.toBe(runId);
    expect([acc.status, acc.counts.failed]).toEqual(["completed", 1]);
    const show = cairn(["--store", "st", "runs", "show", acc.runId], { cwd: dir });
    expect(show.out).toMatch(/, 0 pulses executed, \d+ reused/);
  });
});
