/**
 * An abort while the worker pool is still starting (2026-11-28): the first worker imports a
 * module whose top level blocks for SLOW_IMPORT_MS (Atomics.wait in a loop: the sandbox fixes
 * Date, performance.now and hrtime before the module's first line, so a busy-wait on a clock
 * would never end). Before, `run`/`resume` rejected only once the import finished or the
 * start-up timeout (60 s) fired — also when the abort came while the input was ingested (the
 * run's `finally` waited for the pool it closes). Now the start is aborted: the worker is
 * terminated in the middle of its synchronous import, the rejection is the E_INTERRUPTED an
 * abort at that point gives, and no thread is left (a child process exits by itself). The run's
 * pool closed while it starts (a run answered from its manifest) ends the start the same way.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, listRuns, resume, run, type Store } from "../../src/index.js";
import { sha256 } from "../../src/core/digest.js";
import { WorkerPool } from "../../src/batch/sandbox/pool.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";
import { runProbe } from "./fixtures/probe-child.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** How long the module's import blocks: far beyond ABORT_LIMIT_MS, so a late rejection cannot pass. */
const SLOW_IMPORT_MS = 20_000;
/** The most an abort may take to reject (it takes milliseconds on an idle machine). */
const ABORT_LIMIT_MS = 5_000;
const SLOW_CODE = `const ia = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < ${SLOW_IMPORT_MS / 10}; i++) Atomics.wait(ia, 0, 0, 10);
export default (x) => x + 1;
`;
const slow = { code: SLOW_CODE, name: "slow.mjs" };

const interrupted = (runId: string): string => `run aborted (run ${runId}: committed pulses are kept, resume it): stop`;

/** Resolves once `store` lists a run (its plan recorded), polling every few ms. */
async function planRecorded(store: Store): Promise<string> {
  for (;;) {
    const runs = listRuns(store);
    if (runs.length > 0) return (runs[0] as { runId: string }).runId;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `p`'s rejection and how long after `abortedAt` (performance.now()) it came. */
async function rejection(p: Promise<unknown>, abortedAt: () => number): Promise<{ err: unknown; ms: number }> {
  const err = await p.then(
    () => new Error("expected a rejection"),
    (e: unknown) => e,
  );
  return { err, ms: performance.now() - abortedAt() };
}

describe("an abort while the first worker imports a slow module", () => {
  it("run: aborted once the plan is recorded, rejects at once with the run's E_INTERRUPTED; resume aborted while its pool starts does too", async () => {
    const { store, dir } = scratch.store();
    const ac = new AbortController();
    const reason = new Error("stop");
    const p = run(store, [1, 2, 3], slow, { workers: 1 }, { signal: ac.signal });
    p.catch(() => {});
    // The plan is recorded right before execute awaits the pool (no await in between): the
    // worker is importing now, for SLOW_IMPORT_MS.
    const runId = await planRecorded(store);
    const at = performance.now();
    ac.abort(reason);
    const { err, ms } = await rejection(p, () => at);
    const e = await expectCairnError(Promise.reject(err), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details, cause: e.cause }).toEqual({ message: interrupted(runId), details: { runId }, cause: reason });
    expect(ms).toBeLessThan(ABORT_LIMIT_MS);
    expect(listRuns(store).map((r) => [r.runId, r.state])).toEqual([[runId, "incomplete"]]);

    // resume takes the same path (its pool starts in execute).
    const ac2 = new AbortController();
    const q = resume(store, runId, { signal: ac2.signal });
    q.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const at2 = performance.now();
    ac2.abort(reason);
    const r2 = await rejection(q, () => at2);
    const e2 = await expectCairnError(Promise.reject(r2.err), ErrorCode.INTERRUPTED);
    expect({ message: e2.message, details: e2.details }).toEqual({ message: interrupted(runId), details: { runId } });
    expect(r2.ms).toBeLessThan(ABORT_LIMIT_MS);
    expect(readdirSync(join(dir, "tmp"))).toEqual([]);
    expect((await store.fsck()).ok).toBe(true);
  }, 60_000);

  it("run: aborted while the dataset source stalls (the pool started beside ingest): E_INTERRUPTED before the plan, at once", async () => {
    const { store } = scratch.store();
    const ac = new AbortController();
    let at = 0;
    const source = (async function* () {
      yield 1;
      await new Promise((r) => setTimeout(r, 300)); // the worker is importing by now
      at = performance.now();
      ac.abort(new Error("stop"));
      await new Promise(() => {});
    })();
    const { err, ms } = await rejection(run(store, source, slow, { workers: 1 }, { signal: ac.signal }), () => at);
    const e = await expectCairnError(Promise.reject(err), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details }).toEqual({ message: "run aborted (before its plan was recorded): stop", details: {} });
    expect(ms).toBeLessThan(ABORT_LIMIT_MS);
    expect(listRuns(store)).toEqual([]);
  }, 60_000);

  it("run answered from its manifest while the pool starts (no abort): closing the unneeded pool ends its start at once", async () => {
    const { store } = scratch.store();
    // Slow to import only once the marker file exists: the first run completes at once, the
    // same run again (same bundle, same input) is answered from its manifest while its pool,
    // started beside ingest, imports the module for SLOW_IMPORT_MS.
    const marker = join(scratch.dir(), "slow-now");
    const code = `import { existsSync } from "node:fs";
if (existsSync(${JSON.stringify(marker)})) { const ia = new Int32Array(new SharedArrayBuffer(4)); for (let i = 0; i < ${SLOW_IMPORT_MS / 10}; i++) Atomics.wait(ia, 0, 0, 10); }
export default (x) => x + 1;
`;
    const input = scratch.text("1\n2\n3\n", "in.jsonl");
    const first = await run(store, input, { code }, { workers: 1, format: "jsonl" });
    writeFileSync(marker, "");
    const at = performance.now();
    const again = await run(store, input, { code }, { workers: 1, format: "jsonl" });
    expect({ runId: again.runId, reused: again.reused }).toEqual({ runId: first.runId, reused: true });
    expect(performance.now() - at).toBeLessThan(ABORT_LIMIT_MS);
  }, 60_000);

  it("WorkerPool.create: its signal ends the start (E_INTERRUPTED, the worker terminated); already aborted, nothing starts; a start-up timeout is reported as before", async () => {
    const bundle = { code: SLOW_CODE, digest: sha256(SLOW_CODE) };
    const ac = new AbortController();
    const p = WorkerPool.create({ size: 1, bundle, seed: "s", moduleName: "slow.mjs", signal: ac.signal });
    p.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const at = performance.now();
    ac.abort(new Error("stop"));
    const { err, ms } = await rejection(p, () => at);
    const e = await expectCairnError(Promise.reject(err), ErrorCode.INTERRUPTED);
    expect({ message: e.message, details: e.details }).toEqual({ message: "worker pool start aborted: stop", details: {} });
    expect(ms).toBeLessThan(ABORT_LIMIT_MS);

    await expectCairnError(WorkerPool.create({ size: 1, bundle, seed: "s", signal: AbortSignal.abort(new Error("early")) }), ErrorCode.INTERRUPTED, /^worker pool start aborted: early$/);

    const live = new AbortController(); // given, never aborted: the start-up timeout's own error
    await expectCairnError(
      WorkerPool.create({ size: 1, bundle, seed: "s", moduleName: "slow.mjs", startupTimeoutMs: 300, signal: live.signal }),
      ErrorCode.INVALID_INPUT,
      /^module slow\.mjs did not finish importing within 300 ms$/,
    );
  }, 60_000);
});

/**
 * The first scenario in a child process: prints `settled <json>` (the error and how long after
 * the abort it came) and must then exit by itself — a worker thread still importing would keep
 * it alive until the import ends.
 */
const PROBE = `
import { listRuns, openStore, run } from ${JSON.stringify(pathToFileURL(join(REPO, "src/index.ts")).href)};
const [dir] = process.argv.slice(2);
const s = openStore({ dir });
const ac = new AbortController();
const p = run(s, [1, 2, 3], { code: ${JSON.stringify(SLOW_CODE)}, name: "slow.mjs" }, { workers: 1 }, { signal: ac.signal });
p.catch(() => {});
while (listRuns(s).length === 0) await new Promise((r) => setTimeout(r, 5));
const at = performance.now();
ac.abort(new Error("stop"));
const e = await p.then(() => undefined, (err) => err);
const ms = performance.now() - at;
const runId = listRuns(s)[0].runId;
process.stdout.write("settled " + JSON.stringify({ code: e?.code, message: e?.message === "run aborted (run " + runId + ": committed pulses are kept, resume it): stop", fast: ms < ${ABORT_LIMIT_MS} }) + "\\n");
s.close();
`;

describe("the process exits by itself after the abort", () => {
  it("a child aborting its run while the pool starts settles at once and exits with no thread left", async () => {
    const dir = scratch.dir();
    const file = join(dir, "probe.mts");
    writeFileSync(file, PROBE);
    const end = await runProbe(file, [join(dir, "store")], { exitWithinMs: ABORT_LIMIT_MS });
    expect({ code: end.code, signal: end.signal, settled: end.settled, stderr: end.stderr }).toEqual({
      code: 0,
      signal: null,
      settled: { code: "E_INTERRUPTED", message: true, fast: true },
      stderr: "",
    });
    expect(end.exitMs).toBeLessThan(ABORT_LIMIT_MS);
  }, 120_000);
});
