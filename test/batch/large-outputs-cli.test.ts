/**
 * UAT F-high-2 through the CLI (the build CAIRN_TEST_CLI names, else dist/): a run whose EUs
 * return large outputs (far under the per-record limit) at a --max-memory whose worker heap is
 * the smallest (32 MiB) must complete — not run out of worker memory, re-run a crashing pulse
 * for minutes, or abort the whole process (V8 "FATAL ERROR … heap out of memory", exit 134).
 * The child is killed after CHILD_TIMEOUT_MS, so the old behaviour fails instead of hanging.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, TempDirs } from "../cli/helpers.js";

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const CHILD_TIMEOUT_MS = 45_000;
const RECORDS = 150;
const CHARS = 300_000;

function cairn(cwd: string, args: string[]): { status: number | null; signal: string | null; out: string; err: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.CAIRN_STORE;
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8", timeout: CHILD_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, env });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr.slice(0, 2000) };
}

describe("cairn run with large outputs at a small --max-memory", () => {
  it("one pulse of 150 outputs of 300 KB with 32 MiB worker heaps completes, every record intact", () => {
    const dir = temps.make();
    writeFileSync(join(dir, "big.js"), `export default (x) => "y".repeat(${CHARS}) + x.v;\n`);
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: RECORDS }, (_, i) => `{"v":${i}}\n`).join(""));
    const args = ["--store", join(dir, "s"), "--json", "run", "big.js", "--input", "in.jsonl", "--workers", "1", "--partitions", "1", "--max-memory", "256MB", "--out", "out.jsonl"];
    const r = cairn(dir, args);
    expect({ status: r.status, signal: r.signal, err: r.status === 0 ? "" : r.err }).toEqual({ status: 0, signal: null, err: "" });
    const report = JSON.parse(r.out) as { status: string; counts: { total: number; completed: number; failed: number } };
    expect(report.status).toBe("completed");
    expect(report.counts).toMatchObject({ total: RECORDS, completed: RECORDS, failed: 0 });
    const lines = readFileSync(join(dir, "out.jsonl"), "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(RECORDS);
    const y = "y".repeat(CHARS);
    lines.forEach((line, i) => expect(line === JSON.stringify({ id: i, output: `${y}${i}` }), `record ${i}`).toBe(true));
  }, 60_000);
});
