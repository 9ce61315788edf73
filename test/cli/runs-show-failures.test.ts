/**
 * `cairn runs show` of a run with more failures than the manifest lists inline
 * (MAX_MANIFEST_FAILURES): it prints the failures artifact that holds them all
 * (`manifest.failuresArtifact`), and the heading counts every failure.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_MANIFEST_FAILURES } from "../../src/batch/manifest.js";
import { cairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

describe("cairn runs show: the failures artifact", () => {
  it("names it beside the output artifact when more EUs failed than the manifest lists", () => {
    const dir = temps.make();
    const n = MAX_MANIFEST_FAILURES + 20;
    writeFileSync(join(dir, "fail.mjs"), "export default (x) => { throw new Error(`no ${x.n}`); };\n");
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: n }, (_, i) => `{"n":${i}}\n`).join(""));
    const ran = cairn(["--store", "st", "run", "fail.mjs", "--input", "in.jsonl", "--workers", "1", "--retries", "0", "--allow-failures", "--json", "--quiet"], { cwd: dir });
    expect(ran.status).toBe(0);
    const runId = (JSON.parse(ran.out) as { runId: string }).runId;
    const json = cairn(["--store", "st", "runs", "show", runId, "--json"], { cwd: dir });
    const m = JSON.parse(json.out) as { failuresArtifact?: string; failures: unknown[] };
    expect(m.failures).toHaveLength(MAX_MANIFEST_FAILURES);
    expect(m.failuresArtifact).toMatch(/^sha256:[0-9a-f]{64}$/);
    const human = cairn(["--store", "st", "runs", "show", runId], { cwd: dir });
    expect(human.status).toBe(0);
    expect(human.out.split("\n")).toContain(`failures artifact: ${m.failuresArtifact}`);
    expect(human.out).toContain(`failures (first 10 of ${n}):`);
  });
});
