/**
 * Small CLI items of the UAT, through the BUILT cli (CAIRN_TEST_CLI):
 *  (a) `--out -` (run, resume, store get -o) is a usage error saying how to reach stdout, not a
 *      file named "-" (as `--input -` is stdin, `-` read as stdout);
 *  (c) a failed run lists its failures once: in the summary on stdout, not again on stderr,
 *      whose E_EU_FAILED error still names their count (with -q too);
 *  (d) `replay --pulse` takes canonical decimals only: `01` was ordinal 1 while ` 1` was refused.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

function setup(): string {
  const d = temps.make();
  writeFileSync(join(d, "m.mjs"), 'export default (x) => { if (x.n % 2 === 0) throw new Error("even " + x.n); return x.n; };\n');
  writeFileSync(join(d, "in.jsonl"), '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
  return d;
}

describe("--out -", () => {
  it("cairn run --out -: E_USAGE naming --out and /dev/stdout, exit 2, no file '-', no store", () => {
    const d = setup();
    const r = cairn(["--json", "--store", "st", "run", "m.mjs", "--input", "in.jsonl", "--out", "-"], { cwd: d });
    expect([r.status, r.out]).toEqual([2, ""]);
    const e = jsonError(r);
    expect(e).toMatchObject({ code: "E_USAGE", details: { field: "--out", path: "-" } });
    expect(e.message).toContain("--out - is not stdout");
    expect(e.message).toContain("--out /dev/stdout");
    expect(readdirSync(d).sort()).toEqual(["in.jsonl", "m.mjs"]);
  });

  it("cairn resume --out - and cairn store get -o -: E_USAGE, exit 2, no file '-'", () => {
    const d = setup();
    const resume = cairn(["--store", "st", "resume", "0123456789abcdef", "--out", "-"], { cwd: d });
    expect(resume.status).toBe(2);
    expect(resume.err).toContain("--out - is not stdout");
    const get = cairn(["--store", "st", "store", "get", `sha256:${"0".repeat(64)}`, "-o", "-"], { cwd: d });
    expect(get.status).toBe(2);
    expect(get.err).toContain("--out - is not stdout");
    expect(get.err).toContain("without it the bytes go to stdout");
    expect(existsSync(join(d, "-"))).toBe(false);
  });
});

describe("a failed run's failures", () => {
  for (const quiet of [[], ["-q"]]) {
    it(`are listed once, on stdout; stderr's E_EU_FAILED names the count${quiet.length > 0 ? " (-q)" : ""}`, () => {
      const d = setup();
      const r = cairn(["--store", "st", ...quiet, "run", "m.mjs", "--input", "in.jsonl", "--retries", "0"], { cwd: d });
      expect(r.status).toBe(1);
      const lines = (s: string): string[] => s.split("\n").filter((l) => /^ *id \d+ {2}E_EU_THREW {2}even/.test(l));
      expect(lines(r.out)).toHaveLength(2);
      expect(lines(r.err)).toEqual([]);
      expect(r.err).toContain("2 EUs of 4 failed in run");
      expect(r.err).toContain("[E_EU_FAILED]");
    });
  }
});

describe("replay --pulse", () => {
  for (const bad of ["01", "0/01", "00/0", "+1", " 1", "1 ", "1/", "0x1"]) {
    it(`${JSON.stringify(bad)}: E_USAGE naming the accepted forms, exit 2`, () => {
      const d = temps.make();
      const r = cairn(["--json", "--store", "st", "replay", "0123456789abcdef", "--pulse", bad], { cwd: d });
      expect([r.status, r.out]).toEqual([2, ""]);
      const e = jsonError(r);
      expect(e).toMatchObject({ code: "E_USAGE", details: { field: "--pulse", value: bad } });
      expect(e.message).toBe(`invalid --pulse ${JSON.stringify(bad)}: expected partition/index (e.g. 0/0) or an ordinal in the manifest (0, 1, …), in decimal digits without leading zeros`);
    });
  }

  for (const good of ["0", "10", "0/0", "3/12"]) {
    it(`${JSON.stringify(good)}: accepted (the run is then not found: E_NOT_FOUND, exit 1)`, () => {
      const d = temps.make();
      expect(cairn(["--store", "st", "init"], { cwd: d }).status).toBe(0);
      const r = cairn(["--json", "--store", "st", "replay", "0123456789abcdef", "--pulse", good], { cwd: d });
      expect(r.status).toBe(1);
      expect(jsonError(r).code).toBe("E_NOT_FOUND");
    });
  }
});
