/**
 * UAT 8 of 2026-11-28 through the built CLI (the engine side: test/batch/uat8-batch-ux.test.ts):
 * - 2: `run --max-memory 200MB` of a record over the limit states the heap's 32 MiB floor
 *   (it advised a larger --max-memory, which does nothing below 264MiB).
 * - 4: an audit's E_NONDETERMINISTIC names the run (`run <id>:`, details.runId), and `runs show`
 *   of the incomplete run no longer advises a resume as if it were only interrupted.
 * - 5: the failure lists of `run`, `resume` and `runs show` quote a string id over 256 characters
 *   cut, as the duplicate-id error does (a 100,000-character id made a 100,002-character column).
 * - 7: `--audit-rate` takes exponents (`5e-1`, `1e-9`) and its error has `details.field`.
 * Runs the BUILT cli (test/cli/helpers.ts).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

function runId(dir: string, store: string): string {
  const ls = cairn(["--store", store, "--json", "runs", "ls"], { cwd: dir });
  expect(ls.status, ls.err).toBe(0);
  const runs = json<Array<{ runId: string }>>(ls);
  expect(runs).toHaveLength(1);
  return runs[0]?.runId as string;
}

describe("the record limit under --max-memory 200MB (item 2)", () => {
  it("names the 32 MiB heap floor and from what --max-memory the limit rises", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "id.mjs"), "export default (input, ctx) => ({ id: ctx.id, input });\n");
    writeFileSync(join(dir, "big.jsonl"), `${JSON.stringify({ k: 0, blob: "x".repeat(9 * 1024 * 1024) })}\n`);
    const r = cairn(["--store", "s", "run", "id.mjs", "--input", "big.jsonl", "--max-memory", "200MB", "-q"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      "cairn: big.jsonl:1: record 0: line is longer than the record size limit of 8388608 bytes (a quarter of each worker's heap, which is --max-memory / 8 but at least 32 MiB: 8 MiB for every --max-memory below 264MiB; from 264MiB it is about --max-memory / 32, at most 64 MiB, reached from --max-memory 2GiB) [E_LIMIT_EXCEEDED]\n",
    );
  });
});

describe("an audit failure (item 4)", () => {
  it("names the run; runs show does not call the run only interrupted", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "cnt.mjs"), "let n = 0; export default (row, ctx) => ({ v: row.v, n: n++ });\n");
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: 300 }, (_, v) => `{"v":${v}}\n`).join(""));
    const args = ["--store", "s", "run", "cnt.mjs", "--input", "in.jsonl", "--audit-rate", "1", "--pulse-size", "10", "--partitions", "1", "--workers", "1", "-q"];
    const r = cairn(args, { cwd: dir });
    expect(r.status).toBe(1);
    const id = runId(dir, "s");
    expect(r.err).toMatch(new RegExp(`^cairn: run ${id}: audit of pulse 0/\\d+ found a nondeterministic result at EU \\d+:\\n`));
    expect(r.err).toContain(`cairn resume ${id} executes the pulse again and fails the same way unless the difference does not repeat [E_NONDETERMINISTIC]\n`);
    const j = cairn(["--json", ...args], { cwd: dir });
    expect(j.status).toBe(1);
    expect(jsonError(j)).toMatchObject({ code: "E_NONDETERMINISTIC", details: { runId: id, partition: 0 } });
    const show = cairn(["--store", "s", "runs", "show", id], { cwd: dir });
    expect(show.status, show.err).toBe(0);
    expect(show.out.split("\n")[0]).toBe(
      `run ${id}: incomplete: still running in another process, or interrupted or failed (cairn resume ${id} continues an interrupted run; a failure that repeats, such as a nondeterministic function's, fails it again)`,
    );
  }, 60_000);
});

describe("long ids in the failure lists (item 5)", () => {
  it("run, resume and runs show quote an id over 256 characters cut, with its length", () => {
    const dir = temps.make();
    const long = "K".repeat(100_000);
    writeFileSync(join(dir, "longid.jsonl"), `${JSON.stringify({ k: long })}\n${JSON.stringify({ k: "short" })}\n`);
    writeFileSync(join(dir, "thrower.mjs"), 'export default (input, ctx) => { throw new Error("bad id=" + ctx.id); };\n');
    const cut = `  id "${"K".repeat(256)}"… (100000 characters)  E_EU_THREW  bad id=`;
    const check = (out: string): void => {
      const lines = out.split("\n");
      const at = lines.indexOf("failures (2 EUs):");
      expect(at, out.slice(0, 2000)).toBeGreaterThanOrEqual(0);
      const failures = lines.slice(at + 1, at + 3);
      expect(failures.find((l) => l.startsWith('  id "KKK'))?.startsWith(cut)).toBe(true);
      expect(failures).toContain('  id "short"  E_EU_THREW  bad id=short');
      for (const l of lines) expect(l.length).toBeLessThan(1000);
    };
    const r = cairn(["--store", "s", "run", "thrower.mjs", "--input", "longid.jsonl", "--id-field", "k", "--retries", "0", "-q"], { cwd: dir });
    expect(r.status, r.err).toBe(1);
    check(r.out);
    const id = runId(dir, "s");
    const show = cairn(["--store", "s", "runs", "show", id], { cwd: dir });
    expect(show.status, show.err).toBe(0);
    check(show.out);
    const again = cairn(["--store", "s", "resume", id, "-q"], { cwd: dir });
    expect(again.status).toBe(1);
    check(again.out);
    // --json keeps the whole id.
    const j = cairn(["--store", "s", "--json", "runs", "show", id], { cwd: dir });
    expect(j.out).toContain(`"${long}"`);
  }, 60_000);
});

describe("--audit-rate (item 7)", () => {
  const rate = (dir: string, value: string): ReturnType<typeof cairn> =>
    cairn(["--store", "s", "--json", "run", "id.mjs", "--input", "in.jsonl", "--audit-rate", value, "-q"], { cwd: dir });

  it("takes a number with an exponent, and refuses what is not a number in [0, 1] naming the field", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
    writeFileSync(join(dir, "in.jsonl"), '{"v":1}\n{"v":2}\n');
    for (const [v, stored] of [["5e-1", 0.5], ["1e-9", 1e-9], ["1E0", 1], ["0.5e-1", 0.05]] as const) {
      const r = rate(dir, v);
      expect(r.status, `${v}: ${r.err}`).toBe(0);
      const show = cairn(["--store", "s", "--json", "runs", "show", json<{ runId: string }>(r).runId], { cwd: dir });
      expect(json<{ config: { auditRate: number } }>(show).config.auditRate, v).toBe(stored);
    }
    for (const v of ["2e0", "1.01", "-0", "+0.5", "0x1", "1e", "e1", "5%", "abc", "", "Infinity", "NaN", "1e400"]) {
      const r = rate(dir, v);
      expect(r.status, v).toBe(2);
      expect(jsonError(r)).toEqual({ code: "E_USAGE", message: `invalid --audit-rate ${JSON.stringify(v)}: expected a number in [0, 1], e.g. 0.05`, details: { field: "--audit-rate", value: v } });
    }
  }, 60_000);
});
