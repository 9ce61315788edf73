/** `cairn verify`, `cairn replay`, `cairn runs ls|show` through the BUILT cli. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cairn, flipMiddleByte, json, TempDirs, type RunResult } from "./helpers.js";
import { openStore, normalizeConfig } from "../../src/index.js";
import { recordPlan, ENGINE_NAME, ENGINE_VERSION, type RunPlan } from "../../src/batch/plan.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);

const temps = new TempDirs();
let dir: string;
let store: string;

interface Result {
  runId: string;
  status: string;
  counts: { total: number; completed: number; failed: number; retried: number };
  outputDigest: string;
  manifestDigest: string;
  outputArtifact: string;
  failures: unknown[];
}

interface VerifyReport {
  ok: boolean;
  runId: string;
  manifestDigest: string;
  pulsesChecked: number;
  recordsChecked: number;
  pulsesReexecuted: number;
  problems: Array<{ code: string; message: string; pulse?: string }>;
}

function cli(args: string[], input?: Buffer | string): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

function ok(args: string[], input?: Buffer | string): RunResult {
  const r = cli(args, input);
  if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited ${String(r.status)}: ${r.err}`);
  return r;
}

function jsonl(n: number): string {
  let s = "";
  for (let i = 1; i <= n; i++) s += `{"n":${i}}\n`;
  return s;
}

function runSquare(n: number, ...flags: string[]): Result {
  writeFileSync(join(dir, "in.jsonl"), jsonl(n));
  return json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json", ...flags]));
}

function objectFile(digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(store, "objects", hex.slice(0, 2), hex.slice(2));
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("cairn verify", () => {
  it("verifies a finished run (exit 0), with --reexecute and --sample", () => {
    const r = runSquare(30, "--partitions", "3", "--pulse-size", "4");
    const human = ok(["verify", r.runId]);
    expect(human.out).toMatch(/^verified: \d+ pulses, 30 records \(the reduce value is not re-folded without --reexecute\) \(run [0-9a-f]{16}, manifest sha256:[0-9a-f]{64}\)\n$/);
    const rep = json<VerifyReport>(ok(["verify", r.runId, "--json", "--reexecute"]));
    expect(rep).toMatchObject({ ok: true, runId: r.runId, manifestDigest: r.manifestDigest, recordsChecked: 30, problems: [] });
    expect(rep.pulsesReexecuted).toBe(rep.pulsesChecked);
    const sampled = json<VerifyReport>(ok(["verify", r.runId, "--json", "--sample", "2"]));
    expect(sampled.pulsesReexecuted).toBe(2);
    expect(ok(["verify", r.runId, "--sample", "1"]).out).toContain("re-executed 1 pulse");
  });

  it("catches a tampered output artifact (exit 1, naming the artifact)", () => {
    writeFileSync(join(dir, "in.jsonl"), jsonl(400));
    const r = json<Result>(ok(["run", fixture("padded.mjs"), "--input", "in.jsonl", "--json"]));
    const file = objectFile(r.outputArtifact);
    expect(existsSync(file)).toBe(true); // > 64 KiB: a file under objects/, not packed
    expect(statSync(file).size).toBeGreaterThan(64 * 1024);
    flipMiddleByte(file);


    const human = cli(["verify", r.runId]);
    expect(human.status).toBe(1);
    expect(human.out).toContain("artifact_tampered");
    expect(human.out).toContain(r.outputArtifact);
    expect(human.out).toMatch(/^MISMATCH: \d+ problems? in run /m);
    const rep = cli(["verify", r.runId, "--json"]);
    expect(rep.status).toBe(1);
    const report = json<VerifyReport>(rep);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.code === "artifact_tampered" && p.message.includes(r.outputArtifact))).toBe(true);
  });

  it("malformed run id: exit 2; unknown run: exit 1 not found", () => {
    ok(["init"]);
    expect(cli(["verify", "not-a-run"]).status).toBe(2);
    const unknown = cli(["verify", "0123456789abcdef"]);
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain("not found");
  });
});

describe("cairn replay", () => {
  it("re-executes a pulse: records on stdout, the checksum verdict on stderr", () => {
    const r = runSquare(3, "--partitions", "1");
    const rep = ok(["replay", r.runId, "--pulse", "0/0"]);
    expect(rep.out).toBe('{"id":0,"output":{"sq":1}}\n{"id":1,"output":{"sq":4}}\n{"id":2,"output":{"sq":9}}\n');
    expect(rep.err).toMatch(/pulse 0\/0 .*3 records, checksum sha256:[0-9a-f]{64} matches the stored one/);
    const byOrdinal = ok(["replay", r.runId, "--pulse", "0"]);
    expect(byOrdinal.out).toBe(rep.out);
    const j = json<{ runId: string; pulse: unknown; records: string[]; checksum: string; storedChecksum: string; matches: boolean }>(ok(["replay", r.runId, "--pulse", "0/0", "--json"]));
    expect(j).toMatchObject({ runId: r.runId, pulse: { partition: 0, index: 0 }, matches: true });
    expect(j.records).toHaveLength(3);
    expect(j.checksum).toBe(j.storedChecksum);
    expect(ok(["replay", r.runId, "--pulse", "0/0", "--quiet"]).err).toBe("");
  });

  it("errors: unknown pulse exit 1, malformed --pulse exit 2, missing --pulse exit 2", () => {
    const r = runSquare(3, "--partitions", "1");
    const unknown = cli(["replay", r.runId, "--pulse", "7/0"]);
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain("not found");
    expect(cli(["replay", r.runId, "--pulse", "first"]).status).toBe(2);
    expect(cli(["replay", r.runId]).status).toBe(2);
  });
});

describe("cairn runs", () => {
  it("ls lists runs as a table, --json as RunSummary objects", () => {
    ok(["init"]);
    expect(ok(["runs", "ls"]).out).toBe("no runs\n");
    expect(json(ok(["runs", "ls", "--json"]))).toEqual([]);
    const a = runSquare(3);
    writeFileSync(join(dir, "in.jsonl"), jsonl(5));
    const b = json<Result>(cli(["run", fixture("throws-on-3.ts"), "--input", "in.jsonl", "--json", "--retries", "0"]));
    const table = ok(["runs", "ls"]).out.trim().split("\n");
    expect(table[0]).toMatch(/^RUN +STATE +STATUS +TOTAL\/FAILED +INPUT +FUNCTION$/);
    expect(table[1]).toMatch(new RegExp(`^${a.runId} +completed +completed +3/0 +in\\.jsonl +square\\.ts$`));
    expect(table[2]).toMatch(new RegExp(`^${b.runId} +completed +failed +5/1 +in\\.jsonl +throws-on-3\\.ts$`));
    const quiet = ok(["runs", "ls", "--quiet"]).out.trim().split("\n");
    expect(quiet.map((l) => l.split(/ +/)[0])).toEqual([a.runId, b.runId]);
    const list = json<Array<Record<string, unknown>>>(ok(["runs", "ls", "--json"]));
    expect(list.map((s) => [s.runId, s.state, s.status, s.outputDigest])).toEqual([
      [a.runId, "completed", "completed", a.outputDigest],
      [b.runId, "completed", "failed", b.outputDigest],
    ]);
  });

  it("show describes a run; --json prints the manifest", () => {
    const r = runSquare(12, "--partitions", "2", "--pulse-size", "5");
    const human = ok(["runs", "show", r.runId]).out;
    expect(human).toContain(`run ${r.runId}: completed, status completed`);
    expect(human).toContain("function: square.ts sha256:");
    expect(human).toMatch(/input: sha256:[0-9a-f]{64} \(jsonl, 12 records\)/);
    expect(human).toContain("partitions 2, pulse size 5");
    expect(human).toContain("EUs: 12 total, 12 completed, 0 failed, 0 retried");
    expect(human).toContain(`output digest: ${r.outputDigest}`);
    expect(human).toContain(`manifest: ${r.manifestDigest}`);
    expect(human).toMatch(/^pulses: \d+$/m);
    expect(human).toContain("reduce: 650");
    // The resource figures of the run report (not in the manifest, which a resume reproduces byte for byte).
    expect(human).toMatch(/^resources \(run report sha256:[0-9a-f]{64}, of the execution that finished the run\): wall \d+\.\d s, CPU \d+\.\d s user \+ \d+\.\d s system, peak RSS \d+\.\d MiB, \d+ pulses executed, 0 reused, at most \d+ pulses running at once, holding at most \d+(\.\d)? (B|KiB|MiB) of outputs$/m);
    const m = json<Record<string, unknown>>(ok(["runs", "show", r.runId, "--json"]));
    expect(m).toMatchObject({ kind: "cairn.batch.manifest", runId: r.runId, counts: r.counts, output: { digest: r.outputDigest, artifact: r.outputArtifact } });
    // The manifest printed is the stored one.
    expect(JSON.stringify(m)).toBe(ok(["store", "get", r.manifestDigest]).out);
  });

  it("show lists failures, and shows the plan of an incomplete run", () => {
    writeFileSync(join(dir, "in.jsonl"), jsonl(4));
    const failed = json<Result>(cli(["run", fixture("throws-on-3.ts"), "--input", "in.jsonl", "--json", "--retries", "0"]));
    const human = ok(["runs", "show", failed.runId]).out;
    expect(human).toContain("status failed");
    expect(human).toContain("failures (1 EU):");
    expect(human).toMatch(/id 2 {2}E_EU_THREW/);
    // A module that cannot load can never complete: its plan is not kept.
    expect(cli(["run", fixture("no-default.mjs"), "--input", "in.jsonl"]).status).toBe(1);
    const runs = json<Array<{ runId: string; state: string; function: string }>>(ok(["runs", "ls", "--json"]));
    expect(runs.find((s) => s.function === "no-default.mjs")).toBeUndefined();
    // An interrupted run (planned, never finished) lists as incomplete and shows its plan.
    const s = openStore({ dir: store });
    let id: string;
    try {
      const input = s.putBytes(Buffer.from(jsonl(4)));
      const fn = s.putBytes(Buffer.from("export default (x) => x;\n"), { mediaType: "text/javascript" });
      const plan: RunPlan = {
        kind: "cairn.batch.plan",
        engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
        config: normalizeConfig({ format: "jsonl", workers: 1 }),
        input: { artifact: input.digest, format: "jsonl" },
        function: { artifact: fn.digest, name: "interrupted.mjs" },
      };
      id = recordPlan(s, plan).runId;
    } finally {
      s.close();
    }
    expect(json<Array<{ runId: string; state: string }>>(ok(["runs", "ls", "--json"])).find((r) => r.runId === id)?.state).toBe("incomplete");
    // A reader cannot tell a run still executing elsewhere from an interrupted one: the line says both (UAT 2026-11-27 L1).
    expect(ok(["runs", "show", id]).out).toContain(`run ${id}: incomplete: still running in another process, or interrupted or failed (cairn resume ${id} continues an interrupted run; a failure that repeats, such as a nondeterministic function's, fails it again)`);
    expect(json<Record<string, unknown>>(ok(["runs", "show", id, "--json"]))).toMatchObject({ kind: "cairn.batch.plan", function: { name: "interrupted.mjs" } });
  });

  it("show: malformed run id exit 2, unknown exit 1", () => {
    ok(["init"]);
    const bad = cli(["runs", "show", "abc"]);
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("E_USAGE");
    const unknown = cli(["runs", "show", "fedcba9876543210"]);
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain("not found");
  });
});
