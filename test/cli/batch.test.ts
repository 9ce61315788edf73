/** `cairn run` / `cairn resume` through the BUILT cli (`npm run build` first). */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cairn, CLI, json, sha256Hex, TempDirs, type RunResult } from "./helpers.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);

const temps = new TempDirs();
let dir: string;
let store: string;

interface Result {
  runId: string;
  status: "completed" | "failed";
  counts: { total: number; completed: number; failed: number; retried: number };
  outputDigest: string;
  manifestDigest: string;
  outputArtifact: string;
  reduce?: unknown;
  failures: Array<{ id: number | string; code: string; message: string }>;
  reused: boolean;
}

function cli(args: string[], input?: Buffer | string, env?: Record<string, string | undefined>): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input, env });
}

function ok(args: string[], input?: Buffer | string): RunResult {
  const r = cli(args, input);
  if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited ${String(r.status)}: ${r.err}`);
  return r;
}

function write(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

function jsonl(n: number): string {
  let s = "";
  for (let i = 1; i <= n; i++) s += `{"n":${i}}\n`;
  return s;
}

const THREE = '{"n":1}\n{"n":2}\n{"n":3}\n';

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
});
afterEach(() => temps.cleanup());

describe("cairn run", () => {
  it("--json prints exactly the ExecutionResult, with exact counts and the reduce value", () => {
    write("in.jsonl", THREE);
    const r = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json"]);
    expect(r.err).toBe(""); // no progress and no notes with --json
    const res = json<Result>(r);
    expect(Object.keys(res)).toEqual(["runId", "status", "counts", "outputDigest", "manifestDigest", "outputArtifact", "reduce", "failures", "reused"]);
    expect(res.runId).toMatch(/^[0-9a-f]{16}$/);
    expect(res).toMatchObject({ status: "completed", counts: { total: 3, completed: 3, failed: 0, retried: 0 }, reduce: 1 + 4 + 9, failures: [], reused: false });
    for (const d of [res.outputDigest, res.manifestDigest, res.outputArtifact]) expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The output artifact holds the canonical records in id order.
    const stored = ok(["store", "get", res.outputArtifact]).out;
    expect(stored).toBe('{"id":0,"output":{"sq":1}}\n{"id":1,"output":{"sq":4}}\n{"id":2,"output":{"sq":9}}\n');
  });

  it("prints a human summary with the verify hint; --quiet keeps only the result", () => {
    write("in.jsonl", THREE);
    const r = ok(["run", fixture("square.ts"), "--input", "in.jsonl"]);
    const res = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json"]));
    expect(r.out).toContain(`run ${res.runId}: completed`);
    expect(r.out).toContain("EUs: 3 total, 3 completed, 0 failed, 0 retried");
    expect(r.out).toContain(`output digest: ${res.outputDigest}`);
    expect(r.out).toContain(`manifest digest: ${res.manifestDigest}`);
    expect(r.out).toContain("reduce: 14");
    expect(r.out).toContain(`cairn verify ${res.runId}`);
    const q = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--quiet"]);
    expect(q.err).toBe("");
    expect(q.out).not.toContain("cairn verify");
    expect(q.out).toContain(`output digest: ${res.outputDigest}`);
    // The output artifact is data, not a confirmation: --quiet keeps it (it dropped it).
    expect(q.out).toContain(`output artifact: ${res.outputArtifact} (cairn store get ${res.outputArtifact})`);
  });

  it("gives the same output digest whatever the partitions, pulse size and workers", () => {
    write("in.jsonl", jsonl(60));
    const a = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json", "--partitions", "1", "--pulse-size", "1000", "--workers", "1"]));
    const b = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json", "--partitions", "5", "--pulse-size", "7", "--workers", "2"]));
    expect(a.runId).not.toBe(b.runId);
    expect(a.counts).toEqual({ total: 60, completed: 60, failed: 0, retried: 0 });
    expect(b.counts).toEqual(a.counts);
    expect(b.outputDigest).toBe(a.outputDigest);
    expect(b.outputArtifact).toBe(a.outputArtifact);
    expect(b.reduce).toBe(a.reduce);
    expect(a.reduce).toBe((60 * 61 * 121) / 6);
  });

  it("--out /dev/stdout writes to this process's stdout: a `>>` redirection of it is appended to, not replaced", () => {
    write("in.jsonl", THREE);
    const log = join(dir, "log.txt");
    writeFileSync(log, "IMPORTANT\n");
    const fd = openSync(log, "a");
    try {
      const r = spawnSync(process.execPath, [CLI, "--store", store, "run", fixture("square.ts"), "--input", "in.jsonl", "--out", "/dev/stdout", "--quiet"], { cwd: dir, stdio: ["ignore", fd, "pipe"] });
      expect(r.status).toBe(0);
    } finally {
      closeSync(fd);
    }
    // The output, then the run's summary (stdout too), in that order after what was there.
    const text = readFileSync(log, "utf8");
    expect(text.startsWith('IMPORTANT\n{"id":0,"output":{"sq":1}}\n{"id":1,"output":{"sq":4}}\n{"id":2,"output":{"sq":9}}\nrun ')).toBe(true);
    expect(text).toMatch(/\nreduce: 14\n/);
  });

  it("a --max-memory below the process's own footprint is accepted with a note on stderr (not with --quiet)", () => {
    write("in.jsonl", THREE);
    const low = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--max-memory", "64MB", "--workers", "1"]);
    expect(low.err).toContain(
      "cairn: note: --max-memory 64.0 MiB is below what this process needs by itself with 1 worker (about 184.0 MiB): it sizes the engine's buffers and the workers' heaps, but the process's memory may exceed it\n",
    );
    expect(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--max-memory", "64MB", "--workers", "1", "--quiet"]).err).not.toContain("cairn: note:");
    expect(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--max-memory", "256MB", "--workers", "1"]).err).not.toContain("cairn: note:");
  });

  it("--out writes the canonical JSONL records in id order", () => {
    write("in.jsonl", THREE);
    ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--out", "out.jsonl", "--partitions", "3", "--pulse-size", "1", "--quiet"]);
    expect(readFileSync(join(dir, "out.jsonl"), "utf8")).toBe('{"id":0,"output":{"sq":1}}\n{"id":1,"output":{"sq":4}}\n{"id":2,"output":{"sq":9}}\n');
  });

  it("a failing EU: exit 1, the failure listed on stdout and counted on stderr; exit 0 with --allow-failures", () => {
    write("in.jsonl", jsonl(5));
    const r = cli(["run", fixture("throws-on-3.ts"), "--input", "in.jsonl", "--json", "--retries", "1"]);
    expect(r.status).toBe(1);
    const res = json<Result>(r);
    expect(res.status).toBe("failed");
    expect(res.counts).toEqual({ total: 5, completed: 4, failed: 1, retried: 1 });
    expect(res.failures).toEqual([{ id: 2, code: "E_EU_THREW", message: expect.stringContaining("no threes allowed (n=3)") as unknown }]);
    const err = JSON.parse(r.err) as { error: { code: string; details: { failures: unknown[] } } };
    expect(err.error.code).toBe("E_EU_FAILED");
    expect(err.error.details.failures).toHaveLength(1);

    const human = cli(["run", fixture("throws-on-3.ts"), "--input", "in.jsonl", "--retries", "1"]);
    expect(human.status).toBe(1);
    expect(human.out).toContain("failures (1 EU):");
    expect(human.out).toMatch(/id 2 {2}E_EU_THREW {2}.*no threes allowed/);
    expect(human.err).toContain("1 EU of 5 failed");
    expect(human.err).toContain("--allow-failures");
    expect(human.err).not.toMatch(/id 2 {2}E_EU_THREW/); // listed once, on stdout (stderr's error names the count)

    const allowed = cli(["run", fixture("throws-on-3.ts"), "--input", "in.jsonl", "--json", "--retries", "1", "--allow-failures"]);
    expect(allowed.status).toBe(0);
    expect(allowed.err).toBe("");
    const res2 = json<Result>(allowed);
    expect(res2.status).toBe("completed");
    expect(res2.counts.failed).toBe(1);
    expect(res2.failures.map((f) => f.id)).toEqual([2]);
    expect(res2).not.toHaveProperty("reduce");
  });

  it("reads stdin with --input - (same bytes: same run)", () => {
    const other = join(dir, "other-store");
    const viaStdin = json<Result>(cairn(["--store", other, "run", fixture("square.ts"), "--input", "-", "--json"], { cwd: dir, input: THREE }));
    write("in.jsonl", THREE);
    const viaFile = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json"]));
    expect(viaStdin.counts.total).toBe(3);
    expect(viaStdin.outputDigest).toBe(viaFile.outputDigest);
    expect(viaStdin.runId).toBe(viaFile.runId); // the source name is not part of the run's identity
    // In the same store, piping the same bytes finds the finished run.
    const again = json<Result>(ok(["run", fixture("square.ts"), "--input", "-", "--json"], THREE));
    expect(again).toEqual({ ...viaFile, reused: true });
  });

  it("csv input with --id-field orders the output by id", () => {
    write("in.csv", "key,n\r\nb,2\r\na,3\r\n\"c,d\",4\r\n");
    const r = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.csv", "--format", "csv", "--id-field", "key", "--json", "--out", "out.jsonl"]));
    expect(r.counts.total).toBe(3);
    expect(r.reduce).toBe(4 + 9 + 16);
    expect(readFileSync(join(dir, "out.jsonl"), "utf8")).toBe('{"id":"a","output":{"sq":9}}\n{"id":"b","output":{"sq":4}}\n{"id":"c,d","output":{"sq":16}}\n');
  });

  it("runs a plain .mjs module over lines", () => {
    write("in.txt", "alpha\nbeta\n");
    const r = json<Result>(ok(["run", fixture("upper.mjs"), "--input", "in.txt", "--format", "lines", "--json", "--out", "out.jsonl"]));
    expect(r.counts).toEqual({ total: 2, completed: 2, failed: 0, retried: 0 });
    expect(readFileSync(join(dir, "out.jsonl"), "utf8")).toBe('{"id":0,"output":{"id":0,"line":"ALPHA"}}\n{"id":1,"output":{"id":1,"line":"BETA"}}\n');
  });

  it("runs with TZ=UTC whatever the caller's time zone", () => {
    write("in.jsonl", '{"t":0}\n');
    const r = cli(["run", fixture("local-hours.mjs"), "--input", "in.jsonl", "--quiet", "--out", "out.jsonl"], undefined, { TZ: "Asia/Tokyo" });
    expect(r.status).toBe(0);
    const rec = JSON.parse(readFileSync(join(dir, "out.jsonl"), "utf8")) as { output: { hours: number; offset: number } };
    expect(rec.output).toMatchObject({ hours: 0, offset: 0 });
    expect(cli(["run", "--help"]).out).toContain("TZ=UTC");
  });

  it("an empty input completes with total 0 and the empty Merkle root", () => {
    write("empty.jsonl", "");
    const r = ok(["run", fixture("square.ts"), "--input", "empty.jsonl", "--json"]);
    const res = json<Result>(r);
    expect(res.status).toBe("completed");
    expect(res.counts).toEqual({ total: 0, completed: 0, failed: 0, retried: 0 });
    expect(res.outputDigest).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(res.outputDigest).toBe(sha256Hex(""));
    expect(res.reduce).toBe(0);
  });

  it("prints progress lines to stderr when stderr is not a TTY (and none with --quiet or --json)", () => {
    write("in.jsonl", jsonl(20));
    const r = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--pulse-size", "2"]);
    const lines = r.err.trim().split("\n");
    expect(lines[0]).toBe("cairn: reading input");
    expect(r.err).toMatch(/^cairn: executing \(\d+ EUs done\)$/m);
    expect(r.err).toContain("cairn: merging outputs (20 EUs, 0 failed)");
    expect(lines[lines.length - 1]).toMatch(/^cairn: done: 20 EUs, 0 failed, \d+ pulses \(0 reused\)$/);
    expect(r.err).not.toContain("\r");
    expect(r.out).not.toContain("cairn: ");
    expect(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--pulse-size", "3", "--quiet"]).err).toBe("");
    const j = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--pulse-size", "4", "--json"]);
    expect(j.err).toBe("");
    expect(json<Result>(j).counts.total).toBe(20);
  });
});

describe("cairn run: bad input", () => {
  it("a missing module: exit 1 naming the path", () => {
    write("in.jsonl", THREE);
    const r = cli(["run", "nope/missing.ts", "--input", "in.jsonl"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("nope/missing.ts");
    expect(r.err).toContain("E_NOT_FOUND");
  });

  it("a module without a default export: exit 1", () => {
    write("in.jsonl", THREE);
    const r = cli(["run", fixture("no-default.mjs"), "--input", "in.jsonl", "--json"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    const e = JSON.parse(r.err) as { error: { code: string; message: string } };
    expect(e.error.message).toContain("has no default export function");
  });

  it("invalid JSON on line 2: exit 1 naming the file, line and record", () => {
    write("bad.jsonl", '{"n":1}\n{"n":\n{"n":3}\n');
    const r = cli(["run", fixture("square.ts"), "--input", "bad.jsonl"]);
    expect(r.status).toBe(1);
    let parseMessage = "";
    try {
      JSON.parse('{"n":');
    } catch (err) {
      parseMessage = (err as Error).message; // its wording depends on the Node version
    }
    expect(r.err).toContain(`cairn: bad.jsonl:2: record 1: invalid JSON: ${parseMessage} [E_INVALID_INPUT]\n`);
  });

  it("--format json: an empty input is refused like any non-array; [] is 0 EUs", () => {
    for (const body of ["", " \n"]) {
      write("empty.json", body);
      const r = cli(["run", fixture("square.ts"), "--input", "empty.json", "--format", "json"]);
      expect(r.status).toBe(1);
      expect(r.err).toContain("cairn: empty.json:1: input is empty: expected a JSON array (`[]` for no records) [E_INVALID_INPUT]\n");
    }
    write("object.json", '{"a":1}');
    expect(cli(["run", fixture("square.ts"), "--input", "object.json", "--format", "json"]).err).toContain("cairn: object.json:1: not a JSON array: the input starts with '{' [E_INVALID_INPUT]\n");
    write("none.json", "[]");
    expect(json<Result>(ok(["run", fixture("square.ts"), "--input", "none.json", "--format", "json", "--json"])).counts.total).toBe(0);
  });

  it("--format csv with lone-CR line endings: exit 1 at the header (not 0 records)", () => {
    write("cr.csv", "a,b\r1,2\r3,4\r");
    const r = cli(["run", fixture("square.ts"), "--input", "cr.csv", "--format", "csv"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain(
      "cairn: cr.csv:1: carriage return in a column name of the header (column 2): lines must end with LF or CRLF (lone-CR line endings are not supported) [E_INVALID_INPUT]\n",
    );
  });

  it("a missing input file: exit 1", () => {
    const r = cli(["run", fixture("square.ts"), "--input", "absent.jsonl"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("absent.jsonl");
  });

  it.each([
    [["--format", "xml"], "xml"],
    [["--partitions", "0"], "--partitions"],
    [["--partitions", "3x"], "--partitions"],
    [["--pulse-size", "-4"], "--pulse-size"],
    [["--workers", "1.5"], "--workers"],
    [["--retries", "1e2"], "--retries"],
    [["--max-pulses-in-flight", ""], "--max-pulses-in-flight"],
    [["--max-memory", "lots"], "--max-memory"],
    [["--max-memory", "1MB"], "--max-memory"],
    [["--audit-rate", "1.5"], "--audit-rate"],
    [["--eu-timeout", "0"], "--eu-timeout"],
    [["--eu-timeout", "soon"], "--eu-timeout"],
    [["--seed", ""], 'invalid --seed "": must be 1..256 characters (Unicode code points), got 0'],
    [["--seed", "s".repeat(257)], `invalid --seed "${"s".repeat(40)}…": must be 1..256 characters (Unicode code points), got 257`],
  ])("usage error %j: exit 2", (flags, named) => {
    write("in.jsonl", THREE);
    const r = cli(["run", fixture("square.ts"), "--input", "in.jsonl", ...flags]);
    expect(r.status).toBe(2);
    expect(r.err).toContain(named);
    expect(r.err).toContain("E_USAGE");
    expect(r.out).toBe("");
  });

  it("a missing --input is a usage error", () => {
    const r = cli(["run", fixture("square.ts"), "--json"]);
    expect(r.status).toBe(2);
    expect((JSON.parse(r.err) as { error: { code: string; message: string } }).error).toMatchObject({ code: "E_USAGE", message: expect.stringContaining("--input") as unknown });
  });

  it("accepts sizes and durations with units", () => {
    write("in.jsonl", THREE);
    const r = ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json", "--max-memory", "256MB", "--eu-timeout", "5s", "--audit-rate", "1", "--seed", "s1", "--max-pulses-in-flight", "3"]);
    expect(json<Result>(r).status).toBe("completed");
    const show = json<{ config: Record<string, unknown> }>(ok(["runs", "show", json<Result>(r).runId, "--json"]));
    expect(show.config).toMatchObject({ maxMemoryBytes: 256 * 1024 * 1024, euTimeoutMs: 5000, auditRate: 1, seed: "s1", maxPulsesInFlight: 3 });
  });
});

describe("cairn resume", () => {
  it("a completed run: the same result with reused true, --out rewritten", () => {
    write("in.jsonl", THREE);
    const first = json<Result>(ok(["run", fixture("square.ts"), "--input", "in.jsonl", "--json"]));
    const r = ok(["resume", first.runId, "--json", "--out", "again.jsonl"]);
    expect(r.err).toBe("");
    expect(json<Result>(r)).toEqual({ ...first, reused: true });
    expect(r.out).toBe(JSON.stringify({ ...first, reused: true }, null, 2) + "\n");
    expect(readFileSync(join(dir, "again.jsonl"), "utf8")).toBe('{"id":0,"output":{"sq":1}}\n{"id":1,"output":{"sq":4}}\n{"id":2,"output":{"sq":9}}\n');
    const human = ok(["resume", first.runId]);
    expect(human.out).toContain(`run ${first.runId}: completed (already finished`);
  });

  it("malformed run id: exit 2; unknown: exit 1", () => {
    ok(["init"]);
    const bad = cli(["resume", "XYZ"]);
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("malformed run id");
    const unknown = cli(["resume", "0123456789abcdef"]);
    expect(unknown.status).toBe(1);
    expect(unknown.err).toContain("not found");
  });
});
