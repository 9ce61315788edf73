/**
 * `cairn verify`'s failure and flags (src/cli/batch-commands.ts): a run that does not verify
 * prints its report on stdout and E_VERIFY_MISMATCH on stderr (human and --json), as `replay`
 * does for a differing checksum; `--sample 0` (which would re-execute no pulse) is E_USAGE.
 * Through the BUILT cli (CAIRN_TEST_CLI).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, flipMiddleByte, json, objectFileOf, type RunResult, TempDirs } from "./helpers.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

const temps = new TempDirs();
afterEach(() => temps.cleanup());

interface Report {
  ok: boolean;
  runId: string;
  manifestDigest: string;
  problems: Array<{ code: string; message: string }>;
}

/** A finished run of `padded.mjs` over `n` records (~200 bytes of output each) in a fresh store. */
function finishedRun(n: number): { cli: (args: string[]) => RunResult; store: string; runId: string; outputArtifact: string } {
  const dir = temps.make();
  const store = join(dir, "store");
  writeFileSync(join(dir, "in.jsonl"), Array.from({ length: n }, (_, i) => `{"n":${i}}\n`).join(""));
  const cli = (args: string[]): RunResult => cairn(["--store", store, ...args], { cwd: dir });
  const r = cli(["--json", "run", join(FIXTURES, "padded.mjs"), "--input", "in.jsonl"]);
  if (r.status !== 0) throw new Error(`cairn run exited ${String(r.status)}: ${r.err}`);
  const res = json<{ runId: string; outputArtifact: string }>(r);
  return { cli, store, runId: res.runId, outputArtifact: res.outputArtifact };
}

describe("cairn verify: a mismatch is E_VERIFY_MISMATCH", () => {
  it("a tampered output artifact: the report on stdout, then E_VERIFY_MISMATCH naming the run and the problem codes on stderr (exit 1); a verified run prints nothing on stderr", () => {
    // > 64 KiB: the output is a file of its own under objects/, not packed.
    const { cli, store, runId, outputArtifact } = finishedRun(400);
    const good = cli(["verify", runId]);
    expect([good.status, good.err]).toEqual([0, ""]);

    flipMiddleByte(objectFileOf(store, outputArtifact));


    const j = cli(["--json", "verify", runId]);
    expect(j.status).toBe(1);
    const report = json<Report>(j);
    expect(report.ok).toBe(false);
    const codes = [...new Set(report.problems.map((p) => p.code))];
    expect(codes).toContain("artifact_tampered");
    const n = report.problems.length;
    const message = `run ${runId} does not verify: ${n} problem${n === 1 ? "" : "s"} (${codes.join(", ")})`;
    expect(JSON.parse(j.err)).toEqual({
      error: { code: "E_VERIFY_MISMATCH", message, details: { runId, manifestDigest: report.manifestDigest, problems: n, codes } },
    });

    const human = cli(["verify", runId]);
    expect(human.status).toBe(1);
    expect(human.out).toMatch(new RegExp(`^MISMATCH: ${n} problems? in run ${runId} `, "m"));
    expect(human.err).toBe(`cairn: ${message} [E_VERIFY_MISMATCH]\n`);
    // --quiet keeps the error: the exit status is not the only sign of a mismatch.
    expect(cli(["--quiet", "verify", runId]).err).toBe(`cairn: ${message} [E_VERIFY_MISMATCH]\n`);
  });
});

describe("cairn verify --sample", () => {
  it("--sample 0 (no pulse re-executed) is E_USAGE naming the flag (exit 2); --sample 1 re-executes one pulse", () => {
    const { cli, runId } = finishedRun(3);
    for (const args of [["verify", runId, "--sample", "0"], ["verify", runId, "--reexecute", "--sample", "0"]]) {
      const r = cli(args);
      expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: invalid --sample "0": expected an integer in 1..${Number.MAX_SAFE_INTEGER} [E_USAGE]\n`]);
    }
    const one = cli(["--json", "verify", runId, "--sample", "1"]);
    expect(one.status).toBe(0);
    expect(json<{ pulsesReexecuted: number }>(one).pulsesReexecuted).toBe(1);
  });
});
