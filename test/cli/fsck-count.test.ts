/**
 * `cairn fsck`'s summary gives the true number of problems (FINDINGS F6c). Past
 * MAX_REPORTED_PROBLEMS (10 000) the report lists that many, then one `too_many_problems`
 * entry counting the rest; the summary says "10005 problems (10000 listed)", not the number of
 * entries (10001), and `--json` carries the same total as `problemCount`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FsckReport } from "../../src/index.js";
import { MAX_REPORTED_PROBLEMS } from "../../src/store/fsck.js";
import { cairn, json, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

function run(args: string[]): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir });
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
  expect(run(["init", "-q"]).status).toBe(0);
});
afterEach(() => temps.cleanup());

/** `n` orphan files under objects/ab/. */
function orphans(n: number): void {
  const ab = join(store, "objects", "ab");
  mkdirSync(ab, { recursive: true });
  for (let i = 1; i <= n; i++) writeFileSync(join(ab, String(i).padStart(62, "0")), "");
}

const SUMMARY_TAIL = "(checked 0 artifacts, 0 bytes, 0 receipts, 0 edges, max logseq 0)";

describe("cairn fsck's problem count", () => {
  it("more problems than it lists: the true total and how many are listed, in text and --json", () => {
    const extra = 5;
    orphans(MAX_REPORTED_PROBLEMS + extra);
    const r = run(["fsck"]);
    expect(r.status).toBe(1);
    const lines = r.out.trimEnd().split("\n");
    expect(lines).toHaveLength(MAX_REPORTED_PROBLEMS + 2);
    expect(lines.at(-2)).toBe(`too_many_problems  store  ${extra} more problems not listed`);
    expect(lines.at(-1)).toBe(`fsck: ${MAX_REPORTED_PROBLEMS + extra} problems (${MAX_REPORTED_PROBLEMS} listed) ${SUMMARY_TAIL}`);

    const j = run(["fsck", "--json"]);
    expect(j.status).toBe(1);
    const report = json<FsckReport>(j);
    expect(report.ok).toBe(false);
    expect(report.problemCount).toBe(MAX_REPORTED_PROBLEMS + extra);
    expect(report.problems).toHaveLength(MAX_REPORTED_PROBLEMS + 1);
    expect(report.problems.filter((p) => p.code === "orphan_file")).toHaveLength(MAX_REPORTED_PROBLEMS);
    expect(report.problems.at(-1)).toEqual({ code: "too_many_problems", subject: "store", message: `${extra} more problems not listed` });
  });

  it("all problems listed: the plain count; a clean store: ok and 0", () => {
    const clean = json<FsckReport>(run(["fsck", "--json"]));
    expect(clean).toMatchObject({ ok: true, problemCount: 0, problems: [] });
    orphans(2);
    const r = run(["fsck"]);
    expect(r.status).toBe(1);
    expect(r.out.trimEnd().split("\n").at(-1)).toBe(`fsck: 2 problems ${SUMMARY_TAIL}`);
    expect(json<FsckReport>(run(["fsck", "--json"])).problemCount).toBe(2);
  });
});
