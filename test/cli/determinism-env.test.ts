/**
 * Machine settings that must not change results (ARCHITECTURE §10.13, §11.5, §11.6), through the
 * BUILT cli (`npm run build` first, or CAIRN_TEST_CLI): the process's `--stack-trace-limit`
 * (a V8 flag, process-wide, so it reached the batch worker threads) under one run id; a data
 * root and a TMPDIR holding `"` or `\\` for `cairn wf run --snapshot` and `cairn wf replay`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cairn, json, TempDirs } from "./helpers.js";
import { payload as pgsPayload, sandbox, WF } from "../workflow/pgs-fixture.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/workflows/", import.meta.url));

const temps = new TempDirs();
let dir: string;

beforeEach(() => {
  dir = temps.make();
});
afterEach(() => temps.cleanup());

/** A function reporting `Error.stackTraceLimit` and the frames of an error thrown 30 calls deep. */
const STACK_PROBE = [
  "function deep(n) { if (n === 0) throw new Error('deep'); return deep(n - 1) + 1; }",
  "export default () => {",
  "  try { deep(30); } catch (e) {",
  "    return { limit: Error.stackTraceLimit, frames: e.stack.split('\\n').filter((l) => l.trimStart().startsWith('at ')).length };",
  "  }",
  "};",
  "",
].join("\n");

interface RunJson {
  runId: string;
  outputDigest: string;
}

function runUnder(module: string, label: string, nodeOptions: string | undefined): { runId: string; outputDigest: string; out: string } {
  const out = join(dir, `${label}.jsonl`);
  const r = cairn(["--store", join(dir, `s-${label}`), "--json", "run", module, "--input", "in.jsonl", "--workers", "1", "--out", out], { cwd: dir, env: { NODE_OPTIONS: nodeOptions } });
  expect(r.status, r.err).toBe(0);
  const j = json<RunJson>(r);
  return { runId: j.runId, outputDigest: j.outputDigest, out: readFileSync(out, "utf8") };
}

describe("Error.stackTraceLimit in batch workers", () => {
  it("is Node's default 10 whatever --stack-trace-limit the process got: same run id, same output", () => {
    writeFileSync(join(dir, "stack.mjs"), STACK_PROBE);
    writeFileSync(join(dir, "in.jsonl"), "1\n");
    const plain = runUnder("stack.mjs", "plain", undefined);
    expect(plain.out).toBe('{"id":0,"output":{"frames":10,"limit":10}}\n');
    for (const [label, opt] of [["two", "--stack-trace-limit=2"], ["fifty", "--stack-trace-limit=50"]] as const) {
      // Before: {"frames":2,"limit":2} and {"frames":35,"limit":50} under the same run id.
      expect(runUnder("stack.mjs", label, opt)).toEqual(plain);
    }
  });

  it("a module can still set it itself, with the same result under any --stack-trace-limit", () => {
    writeFileSync(join(dir, "own.mjs"), `Error.stackTraceLimit = 3;\n${STACK_PROBE}`);
    writeFileSync(join(dir, "in.jsonl"), "1\n");
    const plain = runUnder("own.mjs", "plain", undefined);
    expect(plain.out).toBe('{"id":0,"output":{"frames":3,"limit":3}}\n');
    expect(runUnder("own.mjs", "two", "--stack-trace-limit=2")).toEqual(plain);
  });
});

describe("cairn wf run --snapshot / wf replay with odd characters in the data root and TMPDIR", () => {
  it('a Cairn run in a directory holding \\ or " writes the same trace; its replay under such a TMPDIR is identical', () => {
    const snap = join(dir, "s.json");
    expect(cairn(["wf", "compile", EXAMPLES, "--out", snap], { cwd: dir }).status).toBe(0);
    const payload = join(EXAMPLES, "payloads/register-ok.json");
    const traces = ["plain", "back\\slash", 'q"uote'].map((name) => {
      const cwd = join(dir, name);
      mkdirSync(cwd);
      const r = cairn(["wf", "run", "--snapshot", snap, "--payload", payload, "--no-render", "--json", "--store", join(cwd, "store")], { cwd });
      expect(r.status, r.err).toBe(0);
      const j = json<{ status: string; traceId: string; traceDir: string }>(r);
      expect(j.status).toBe("SUCCESS");
      return { cwd, traceId: j.traceId, bytes: readFileSync(join(cwd, j.traceDir, `${j.traceId}.jsonl`), "utf8") };
    });
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(1);
    expect(new Set(traces.map((t) => t.bytes)).size).toBe(1);
    const oddTmp = join(dir, 'tmp "\\');
    mkdirSync(oddTmp);
    const t = traces[2]!;
    const rep = cairn(["wf", "replay", t.traceId, "--json", "--store", join(t.cwd, "store")], { cwd: t.cwd, env: { TMPDIR: oddTmp } });
    expect(rep.status, rep.err).toBe(0);
    expect(json(rep)).toMatchObject({ identical: true, traceId: t.traceId });
  });

  it('a PGS replay under a TMPDIR holding " exits 2 (E_USAGE) naming it and the character', () => {
    const b = sandbox({ seedLicenseFacts: true });
    try {
      const env = { CAIRN_STORE: join(b.root, "store") };
      const run = cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.govern, "--payload", pgsPayload("agent_governance/01_valid_standard_action.json"), "--data-root", "data", "--json"], { cwd: b.root, env });
      expect(run.status, run.err).toBe(0);
      const traceId = json<{ traceId: string }>(run).traceId;
      const oddTmp = join(b.root, 'tmp"q');
      mkdirSync(oddTmp);
      const rep = cairn(["wf", "replay", traceId, "--json"], { cwd: b.root, env: { ...env, TMPDIR: oddTmp } });
      expect(rep.status).toBe(2);
      const e = (JSON.parse(rep.err) as { error: { code: string; message: string; details: unknown } }).error;
      expect(e.code).toBe("E_USAGE");
      expect(e.message).toContain(`cannot be replayed under the temp directory ${JSON.stringify(oddTmp)} (TMPDIR): it contains "\\"", a character a PGS data root cannot hold`);
      expect(e.details).toEqual({ reason: "replay_tmpdir_unsupported", traceId, tmpdir: oddTmp, character: '"' });
      expect(readdirSync(oddTmp)).toEqual([]);
    } finally {
      b.cleanup();
    }
  });
});
