/**
 * `cairn run`'s usage and help (UAT findings), through the BUILT cli (CAIRN_TEST_CLI):
 *  - with no arguments it names the missing <module> (commander checks required options before
 *    arguments: it said "--input not specified"), a usage error (exit 2); the module alone
 *    still says --input is missing;
 *  - --retries and --eu-timeout say what the engine does (batch/pulse.ts `executePulse`): an
 *    attempt that throws, times out or crashes its worker is retried up to --retries; a
 *    timed-out EU is retried before it fails; the notes describe ctx (ctx.attempt from 1).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** The help text with its wrapping undone (commander wraps descriptions at the terminal width). */
function flat(text: string): string {
  return text.replace(/\s+/g, " ");
}

describe("cairn run: usage and help", () => {
  it("no arguments: E_USAGE naming the missing <module>, exit 2", () => {
    const d = temps.make();
    const r = cairn(["--json", "run"], { cwd: d });
    expect([r.status, r.out]).toEqual([2, ""]);
    expect(jsonError(r)).toMatchObject({ code: "E_USAGE", message: "missing required argument 'module'" });
  });

  it("--seed counts characters as code points, as the engine does (an emoji is one)", () => {
    const d = temps.make();
    writeFileSync(join(d, "m.mjs"), "export default (x, ctx) => ctx.seed.length;\n");
    writeFileSync(join(d, "in.txt"), "a\n");
    const emoji = "\u{1F600}";
    const ok = cairn(["--json", "--store", "st", "run", "m.mjs", "--input", "in.txt", "--format", "lines", "--seed", emoji.repeat(256)], { cwd: d });
    expect(ok.status, ok.err).toBe(0);
    const over = cairn(["--json", "--store", "st", "run", "m.mjs", "--input", "in.txt", "--format", "lines", "--seed", emoji.repeat(257)], { cwd: d });
    expect(over.status).toBe(2);
    expect(jsonError(over)).toMatchObject({ code: "E_USAGE", message: `invalid --seed "${emoji.repeat(40)}…": must be 1..256 characters (Unicode code points), got 257`, details: { field: "--seed" } });
  });

  it("the module without --input: E_USAGE naming --input, exit 2, no store created", () => {
    const d = temps.make();
    writeFileSync(join(d, "m.mjs"), "export default (x) => x;\n");
    const r = cairn(["--json", "--store", "st", "run", "m.mjs"], { cwd: d });
    expect([r.status, r.out]).toEqual([2, ""]);
    expect(jsonError(r)).toMatchObject({ code: "E_USAGE", message: "required option '--input <path|->' not specified", details: { field: "--input" } });
  });

  it("--retries and --eu-timeout: timeouts and worker crashes are retried too; ctx.attempt starts at 1", () => {
    const d = temps.make();
    const r = cairn(["run", "--help"], { cwd: d });
    expect(r.status).toBe(0);
    const help = flat(r.out);
    expect(help).toContain("--retries <r> re-executions of an EU whose attempt fails: it throws, exceeds --eu-timeout or crashes its worker (default");
    expect(help).toContain("--eu-timeout <ms> end an EU's attempt that has not settled after this long: it is retried like one that throws (up to --retries), then failed (ms,");
    expect(help).toContain("ctx is { id, attempt, seed, logicalTime }: the EU id, the attempt (1 on the first execution, 2 on the first retry…)");
    expect(help).not.toContain("re-executions of an EU that throws");
  });
});
