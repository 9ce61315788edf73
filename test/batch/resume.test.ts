/**
 * SIGKILL-and-resume: a child process runs a batch run and is killed at several points (by
 * time, and after it reported committed pulses); the run is then continued in-process. The
 * output and manifest must be byte-identical to an uninterrupted run, no EU may appear twice,
 * the store must pass fsck, and pulses committed before the kill must be reused.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { REPORT_MEDIA_TYPE, resume, run, type ExecutionResult } from "../../src/batch/engine.js";
import { listRuns } from "../../src/batch/runs.js";
import { verifyRun } from "../../src/batch/verify.js";
import { manifestRoot, reportRoot } from "../../src/batch/plan.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, fixture, manifestOf, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const RUNNER = fixture("engine-runner.mts");
const MODULE = fixture("engine-slow.mjs");
const N = 1200;
const CONFIG = { partitions: 4, pulseSize: 8, workers: 2, maxPulsesInFlight: 2 };
const PULSES = 4 * Math.ceil(N / 4 / 8); // upper bound check only; the exact count comes from the reference manifest

interface Reference {
  result: ExecutionResult;
  output: Buffer;
  manifest: Buffer;
  pulses: number;
}

interface ChildRun {
  lines: string[];
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

type KillAt = { afterMs: number } | { afterLine: string };

/** Runs the child on `storeDir` and SIGKILLs it at `at` (unless it finished first); `env` adds to its environment. */
function runChild(storeDir: string, input: string, at: KillAt, env: Record<string, string> = {}): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", RUNNER, storeDir, input, MODULE, JSON.stringify(CONFIG)], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    const out: ChildRun = { lines: [], killed: false, code: null, signal: null, stderr: "" };
    const kill = (): void => {
      if (out.killed || child.exitCode !== null) return;
      out.killed = true;
      child.kill("SIGKILL");
    };
    let timer: NodeJS.Timeout | undefined;
    if ("afterMs" in at) timer = setTimeout(kill, at.afterMs);
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (out.killed) continue; // what the child wrote after the signal does not count
        out.lines.push(line);
        if ("afterLine" in at && line === at.afterLine) kill();
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => (out.stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      out.code = code;
      out.signal = signal;
      resolve(out);
    });
  });
}

function committedPulses(c: ChildRun): number {
  let n = 0;
  for (const l of c.lines) {
    const m = /^pulse (\d+)$/.exec(l);
    if (m !== null) n = Math.max(n, Number(m[1]));
  }
  return n;
}

describe("resume after SIGKILL", () => {
  let input: string;
  let ref: Reference;

  beforeAll(async () => {
    input = scratch.jsonl(Array.from({ length: N }, (_, i) => ({ n: i })));
    const { store } = scratch.store();
    const result = await run(store, input, MODULE, CONFIG);
    expect(result.status).toBe("completed");
    expect(result.reduce).toMatchObject({ count: N });
    const pulses = manifestOf(store, result.runId).pulses.length;
    expect(pulses).toBeLessThanOrEqual(PULSES);
    ref = { result, output: store.get(result.outputArtifact), manifest: store.get(result.manifestDigest), pulses };
  });

  /** Continues whatever the children left behind and checks it against the reference. */
  async function finishAndCheck(storeDir: string, children: ChildRun[]): Promise<void> {
    const store: Store = openStore({ dir: storeDir, durability: "normal" });
    try {
      const runs = listRuns(store);
      expect(runs.length).toBeLessThanOrEqual(1);
      const res = runs.length === 0 ? await run(store, input, MODULE, CONFIG) : await resume(store, runs[0]?.runId as string);
      if (runs.length === 0) expect(children.every((c) => committedPulses(c) === 0)).toBe(true);

      expect(res.runId).toBe(ref.result.runId);
      expect(res.status).toBe("completed");
      expect(res.counts).toEqual({ total: N, completed: N, failed: 0, retried: 0 });
      expect(res.outputDigest).toBe(ref.result.outputDigest);
      expect(res.outputArtifact).toBe(ref.result.outputArtifact);
      expect(res.manifestDigest).toBe(ref.result.manifestDigest);
      expect(res.reduce).toEqual(ref.result.reduce);
      expect(store.get(res.outputArtifact).equals(ref.output)).toBe(true);
      expect(store.get(res.manifestDigest).equals(ref.manifest)).toBe(true);

      // No EU twice, none missing: ids strictly increasing 0..N-1.
      const outs = await outputsOf(store, res.runId);
      expect(outs.length).toBe(N);
      outs.forEach((o, i) => expect(o.id).toBe(i));

      // Pulses committed before the kill were reused, not executed again.
      const committed = Math.max(0, ...children.map(committedPulses));
      const rep = store.findRoot(reportRoot(res.runId));
      if (!res.reused) {
        expect(rep).toBeDefined();
        const report = JSON.parse(store.get(rep?.digest as Digest).toString("utf8")) as { pulsesReused: number; pulsesExecuted: number };
        expect(report.pulsesReused + report.pulsesExecuted).toBe(ref.pulses);
        expect(report.pulsesReused).toBeGreaterThanOrEqual(committed);
        if (committed > 0) expect(report.pulsesReused).toBeGreaterThan(0);
      }

      const fsck = await store.fsck();
      expect(fsck.problems).toEqual([]);
      expect(fsck.ok).toBe(true);

      // Running the identical command again after completion is a no-op with the same digests.
      const again = await run(store, input, MODULE, CONFIG);
      expect(again.reused).toBe(true);
      expect(again.outputDigest).toBe(ref.result.outputDigest);
      expect(again.manifestDigest).toBe(ref.result.manifestDigest);
      expect(again.counts).toEqual(res.counts);
    } finally {
      store.close();
    }
  }

  const POINTS: Array<[string, KillAt[]]> = [
    ["300 ms after start", [{ afterMs: 300 }]],
    ["800 ms after start", [{ afterMs: 800 }]],
    ["after the first committed pulse", [{ afterLine: "pulse 1" }]],
    ["halfway through the pulses", [{ afterLine: "pulse 70" }]],
    ["when the merge starts", [{ afterLine: "merge" }]],
    ["twice: after pulse 20, then the restarted run after pulse 90", [{ afterLine: "pulse 20" }, { afterLine: "pulse 90" }]],
  ];

  // A kill as the run report was stored (after the manifest had committed) left a finished run
  // without a report for good: resume found the manifest and wrote nothing. The two now commit
  // in one transaction.
  it("a kill as the run report is stored leaves no manifest either; resume writes both, identical", async () => {
    const storeDir = join(scratch.dir(), "store");
    const c = await runChild(storeDir, input, { afterMs: 600_000 }, { KILL_AT_PUT: REPORT_MEDIA_TYPE });
    expect(c.signal).toBe("SIGKILL");
    expect(c.lines).toContain("merge");
    const store = openStore({ dir: storeDir, durability: "normal" });
    try {
      const [r] = listRuns(store);
      expect(r?.runId).toBe(ref.result.runId);
      expect(store.findRoot(manifestRoot(ref.result.runId))).toBeUndefined();
      expect(store.findRoot(reportRoot(ref.result.runId))).toBeUndefined();
    } finally {
      store.close();
    }
    await finishAndCheck(storeDir, [c]);
  });

  // BUG: the run id ignores the input's source name ("the same bytes from another path is the
  // same run"), but run() continues an interrupted run with the plan it just built instead of
  // the pinned one, so the manifest records another plan digest than `run:<id>` and than an
  // uninterrupted run: not byte-identical.
  it("continuing by running the same command with the input path spelled differently gives the same manifest", async () => {
    const storeDir = join(scratch.dir(), "store");
    const c = await runChild(storeDir, input, { afterLine: "pulse 1" });
    expect(c.killed).toBe(true);
    const respelled = input.replace(/\/([^/]+)$/, "/./$1");
    expect(respelled).not.toBe(input);
    const store = openStore({ dir: storeDir, durability: "normal" });
    try {
      const res = await run(store, respelled, MODULE, CONFIG);
      expect(res.runId).toBe(ref.result.runId);
      expect(res.outputDigest).toBe(ref.result.outputDigest);
      expect(manifestOf(store, res.runId).plan).toBe(store.findRoot(`run:${res.runId}`)?.digest);
      expect(res.manifestDigest).toBe(ref.result.manifestDigest);
    } finally {
      store.close();
    }
  });

  // BUG: the committed pulses of an interrupted run are reachable from no GC root (the plan
  // root keeps the input and the function; the manifest, which would keep the pulses, does
  // not exist yet), so `gc` sweeps their records while their receipts stay. resume then finds
  // the receipts and fails reading the swept records instead of re-executing those pulses.
  it("gc between the kill and the resume does not make the run un-resumable", async () => {
    const storeDir = join(scratch.dir(), "store");
    const c = await runChild(storeDir, input, { afterLine: "pulse 20" });
    expect(c.killed).toBe(true);
    const store = openStore({ dir: storeDir, durability: "normal" });
    try {
      store.gc({ graceMs: 0 });
      const runId = listRuns(store)[0]?.runId as string;
      const res = await resume(store, runId);
      expect(res.outputDigest).toBe(ref.result.outputDigest);
      expect(res.manifestDigest).toBe(ref.result.manifestDigest);
    } finally {
      store.close();
    }
  });

  it.each(POINTS)("killed %s", async (_name, kills) => {
    const storeDir = join(scratch.dir(), "store");
    const children: ChildRun[] = [];
    for (const at of kills) {
      const c = await runChild(storeDir, input, at);
      children.push(c);
      expect(c.stderr).not.toMatch(/Error/);
      // Killed, or (a kill racing the end of the run) finished cleanly.
      expect(c.signal === "SIGKILL" || c.code === 0, `${String(c.signal)} ${String(c.code)} ${c.stderr}`).toBe(true);
      if (!c.killed) expect(c.code).toBe(0);
    }
    await finishAndCheck(storeDir, children);
  });
});

describe("pulse reuse across runs", () => {
  // BUG: findCommittedPulse trusts any receipt for (function, slice, params) even when gc has
  // collected the records it names, so a new run that cuts the same pulse as an old,
  // unpinned and collected run fails with E_NOT_FOUND instead of executing the pulse again.
  it("a run whose pulses match receipts of a collected run re-executes them", async () => {
    const { store, dir } = scratch.store();
    const data = Array.from({ length: 50 }, (_, i) => i);
    const a = await run(store, data, fixture("engine-pure.mjs"), { workers: 1, partitions: 2, pulseSize: 10 });
    for (const r of store.listRoots()) store.unpin(r.name);
    store.close();
    const reopened = openStore({ dir, durability: "normal" });
    try {
      expect(reopened.gc({ graceMs: 0 }).swept.length).toBeGreaterThan(0);
      // Another config, the same pulses (workers do not change what a pulse is).
      const b = await run(reopened, data, fixture("engine-pure.mjs"), { workers: 2, partitions: 2, pulseSize: 10 });
      expect(b.runId).not.toBe(a.runId);
      expect(b.outputDigest).toBe(a.outputDigest);
      expect((await verifyRun(reopened, b.runId)).ok).toBe(true);
    } finally {
      reopened.close();
    }
  });

  it("pulses committed by another run with the same pulse layout are reused, not re-executed", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 50 }, (_, i) => i);
    const a = await run(store, data, fixture("engine-pure.mjs"), { workers: 1, partitions: 2, pulseSize: 10 });
    const b = await run(store, data, fixture("engine-pure.mjs"), { workers: 2, partitions: 2, pulseSize: 10 });
    expect(b.runId).not.toBe(a.runId);
    expect(b.reused).toBe(false);
    expect(b.outputDigest).toBe(a.outputDigest);
    const rep = JSON.parse(store.get(store.findRoot(reportRoot(b.runId))?.digest as Digest).toString("utf8")) as { pulsesReused: number; pulsesExecuted: number };
    expect(rep.pulsesExecuted).toBe(0);
    expect(rep.pulsesReused).toBe(manifestOf(store, b.runId).pulses.length);
  });
});
