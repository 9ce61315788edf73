/**
 * `cairn verify` without --reexecute does not fold the reduce again (ARCHITECTURE §10.17), so
 * its "verified" line says so for a run whose manifest has a reduce value (a forged value under
 * a re-pinned manifest read as plainly verified); with --reexecute the line says the reduce was
 * folded again, and a run without a reduce says nothing of it. Through the BUILT cli.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const NOTE = "(the reduce value is not re-folded without --reexecute)";

function runOf(d: string, module: string): string {
  writeFileSync(join(d, "m.mjs"), module);
  writeFileSync(join(d, "in.jsonl"), Array.from({ length: 10 }, (_, i) => `{"n":${i}}\n`).join(""));
  const r = cairn(["--store", "st", "--json", "run", "m.mjs", "--input", "in.jsonl", "--pulse-size", "2"], { cwd: d });
  expect(r.status, r.err).toBe(0);
  return json<{ runId: string }>(r).runId;
}

describe("cairn verify and a run's reduce", () => {
  it("a run with a reduce: plain verify says the reduce value is not re-folded; --reexecute folds it again", () => {
    const d = temps.make();
    const runId = runOf(d, "export default (x) => x.n;\nexport const initial = 0;\nexport function reduce(a, o) { return a + o; }\n");
    const plain = cairn(["--store", "st", "verify", runId], { cwd: d });
    expect(plain.status).toBe(0);
    expect(plain.out).toMatch(new RegExp(`^verified: \\d+ pulses, 10 records ${NOTE.replace(/[()]/g, "\\$&")} \\(run ${runId}, manifest sha256:[0-9a-f]{64}\\)\\n$`));
    const re = cairn(["--store", "st", "verify", runId, "--reexecute"], { cwd: d });
    expect(re.status).toBe(0);
    expect(re.out).toContain(", folded the reduce again (run ");
    expect(re.out).not.toContain(NOTE);
  });

  it("a run without a reduce: no word of it", () => {
    const d = temps.make();
    const runId = runOf(d, "export default (x) => x.n;\n");
    const plain = cairn(["--store", "st", "verify", runId], { cwd: d });
    expect(plain.status).toBe(0);
    expect(plain.out).toMatch(new RegExp(`^verified: \\d+ pulses, 10 records \\(run ${runId}, manifest sha256:[0-9a-f]{64}\\)\\n$`));
  });
});
