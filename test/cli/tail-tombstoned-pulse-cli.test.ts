/**
 * The CLI over a finished run whose pulse slice, pulse records or output was removed with
 * `cairn store rm`: `verify` (with and without --reexecute) still exits 1 with the same finding
 * codes, `replay` and `resume --out` still exit 1 with E_NOT_FOUND, but each names the artifact's
 * role and the remedy instead of the store's bare "artifact … not found (deleted: tombstoned)"
 * (library side: test/batch/tail-tombstoned-pulse.test.ts).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TempDirs, cairn, json, jsonError } from "./helpers.js";

const temps = new TempDirs();
afterAll(() => temps.cleanup());

type Problem = { code: string; pulse?: string; message: string };
type ManifestLike = { output: { artifact: string }; pulses: Array<{ partition: number; index: number; slice: string; records: string }> };

function finishedRun(): { dir: string; id: string; m: ManifestLike; cli: (args: string[]) => ReturnType<typeof cairn> } {
  const dir = temps.make();
  writeFileSync(join(dir, "fn.mjs"), "export default (x) => ({ v: x.length });\n");
  writeFileSync(join(dir, "in.txt"), Array.from({ length: 120 }, (_, k) => `line${k}\n`).join(""));
  const cli = (args: string[]): ReturnType<typeof cairn> => cairn(["--store", "st", ...args], { cwd: dir });
  const r = cli(["--json", "run", "fn.mjs", "--input", "in.txt", "--format", "lines", "--partitions", "2", "--pulse-size", "20", "--workers", "1"]);
  expect(r.status, r.err).toBe(0);
  const { runId, manifestDigest } = json<{ runId: string; manifestDigest: string }>(r);
  const m = JSON.parse(cli(["store", "get", manifestDigest]).out) as ManifestLike;
  return { dir, id: runId, m, cli };
}

const DELETED = "is deleted from the store (tombstoned)";

describe("cairn verify, replay and resume --out of a run with a pulse artifact or the output removed", () => {
  it("a slice: verify exits 1 naming it (input_mismatch, with --reexecute too: one finding); replay E_NOT_FOUND naming it", () => {
    const { id, m, cli } = finishedRun();
    const p = m.pulses[0] as ManifestLike["pulses"][number];
    const name = `${p.partition}/${p.index}`;
    expect(cli(["store", "rm", p.slice]).status).toBe(0);
    const remedy = `To store it again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (resume reads the input again and stores a reused pulse's missing slice again, executing nothing)`;
    for (const extra of [[], ["--reexecute"]]) {
      const v = cli(["--json", "verify", id, ...extra]);
      expect(v.status).toBe(1);
      const mine = json<{ problems: Problem[] }>(v).problems.filter((x) => x.pulse === name);
      expect(mine).toEqual([{ code: "input_mismatch", pulse: name, message: `pulse ${name}: slice ${p.slice} ${DELETED}. ${remedy}` }]);
    }
    const r = cli(["--json", "replay", id, "--pulse", name]);
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({
      code: "E_NOT_FOUND",
      message: `run ${id}: its slice ${p.slice} (pulse ${name}, held by run:${id}) ${DELETED}. ${remedy}`,
      details: { runId: id, role: "slice", digest: p.slice, root: `run:${id}`, reason: "tombstoned", pulse: name },
    });
  });

  it("records: verify exits 1 naming them (artifact_tampered) and the remedy, which makes the run verify again", () => {
    const { id, m, cli } = finishedRun();
    const p = m.pulses[1] as ManifestLike["pulses"][number];
    const name = `${p.partition}/${p.index}`;
    expect(cli(["store", "rm", p.records]).status).toBe(0);
    const v = cli(["--json", "verify", id]);
    expect(v.status).toBe(1);
    const remedy = `To store it again, execute its pulse again: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id} (a pulse whose records or attempt log is missing is executed again, the others are reused)`;
    expect(json<{ problems: Problem[] }>(v).problems).toContainEqual({ code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${p.records} ${DELETED}. ${remedy}` });
    for (const args of [["store", "unpin", `run:${id}:manifest`], ["store", "unpin", `run:${id}:report`], ["resume", id]]) expect(cli(args).status).toBe(0);
    expect(cli(["verify", id, "--reexecute"]).status).toBe(0);
  });

  it("the output: resume --out exits 1 with E_NOT_FOUND naming it and the remedy", () => {
    const { id, m, cli } = finishedRun();
    const out = m.output.artifact;
    expect(cli(["store", "rm", out]).status).toBe(0);
    const r = cli(["--json", "resume", id, "--out", "o.jsonl"]);
    expect(r.status).toBe(1);
    expect(jsonError(r)).toEqual({
      code: "E_NOT_FOUND",
      message: `run ${id}: its output ${out} (held by run:${id}:manifest) ${DELETED}. To write it again from the run's committed pulses: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id}`,
      details: { runId: id, role: "output", digest: out, root: `run:${id}:manifest`, reason: "tombstoned" },
    });
  });
});
