/**
 * A worker crash fails only the attempt in progress; the pulse is re-executed on a fresh
 * worker and the results the crashed attempt had already delivered (in chunks of
 * PARTIAL_RESULTS_CHUNK) are validated against the re-execution (issue 3 §4.1).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { auditPulse, checkAttemptLogSize, checkRecordsSize, commitPulse, executePulse, MAX_ATTEMPT_LOG_BYTES, MAX_PULSE_RECORDS_BYTES, MAX_UNATTRIBUTED_CRASHES, type PulseRunner, type RunnerOutcome, type WorkEU } from "../../src/batch/pulse.js";
import { normalizeConfig } from "../../src/batch/config.js";
import { sha256, type Digest } from "../../src/core/digest.js";
import { recordText, type EUResult } from "../../src/batch/records.js";
import { leafHashesOf, rootOfLeafHashes } from "../../src/batch/leaves.js";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";
import { PARTIAL_RESULTS_CHUNK, WorkerPool, type EUTask, type PulseOutcome } from "../../src/batch/sandbox/pool.js";
import { Scratch, expectCairnError, fixture, manifestOf, outputsOf, withoutTexts } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function actionsPool(): Promise<WorkerPool> {
  const pool = await WorkerPool.create({ size: 1, bundle: await bundleModule(fixture("sandbox-actions.mjs")), seed: "seed-1", moduleName: "sandbox-actions.mjs" });
  pools.push(pool);
  return pool;
}

const echo = (id: number, input: unknown = id): EUResult => ({ id, ok: true, bytes: false, json: JSON.stringify({ echo: input }) });

/** The outcome with its results' record texts checked and removed (see withoutTexts). */
function plain(o: PulseOutcome): PulseOutcome {
  return o.kind === "ok" ? { ...o, results: withoutTexts(o.results) } : { ...o, completed: withoutTexts(o.completed) };
}

/** `n` echo EUs with `special` inputs at some indices. */
function tasks(n: number, special: Record<number, unknown> = {}): EUTask[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, input: i in special ? special[i] : i }));
}

describe("pool: results delivered before a crash", () => {
  it("the chunk size is a small named constant", () => {
    expect(PARTIAL_RESULTS_CHUNK).toBe(64);
  });

  it("process.exit after two chunks: `completed` holds exactly the delivered EUs, in order", async () => {
    const pool = await actionsPool();
    const out = await pool.runPulse(0, tasks(150, { 140: { action: "exit" } }), { attempt: 1 });
    expect(out.kind).toBe("crashed");
    if (out.kind !== "crashed") return;
    expect(out.error).toEqual({ code: "E_WORKER_CRASHED", message: "worker exited with code 7 while running EU 140" });
    expect(out.euIndex).toBe(140);
    expect(withoutTexts(out.completed)).toEqual(Array.from({ length: 2 * PARTIAL_RESULTS_CHUNK }, (_, i) => echo(i)));
  });

  it("a crash at the first EU after a chunk boundary still reports that chunk (k = euIndex)", async () => {
    const pool = await actionsPool();
    const out = await pool.runPulse(1, tasks(100, { [PARTIAL_RESULTS_CHUNK]: { action: "exit" } }), { attempt: 1 });
    expect(plain(out)).toEqual({
      kind: "crashed",
      error: { code: "E_WORKER_CRASHED", message: `worker exited with code 7 while running EU ${PARTIAL_RESULTS_CHUNK}` },
      euIndex: PARTIAL_RESULTS_CHUNK,
      completed: Array.from({ length: PARTIAL_RESULTS_CHUNK }, (_, i) => echo(i)),
    });
    // Before the first chunk is complete nothing has been delivered.
    const early = await pool.runPulse(2, tasks(100, { [PARTIAL_RESULTS_CHUNK - 1]: { action: "exit" } }), { attempt: 1 });
    expect(early).toMatchObject({ kind: "crashed", euIndex: PARTIAL_RESULTS_CHUNK - 1, completed: [] });
  });

  it("chunks carry bytes outputs (transferred) and failures", async () => {
    const pool = await actionsPool();
    const special: Record<number, unknown> = { 3: { action: "bytes", text: "b3" }, 63: { action: "throw", n: 63 }, 64: { action: "bytes", text: "b64" }, 70: { action: "exit" } };
    const out = await pool.runPulse(3, tasks(80, special), { attempt: 1 });
    if (out.kind !== "crashed") throw new Error("expected a crash");
    expect(out.euIndex).toBe(70);
    expect(out.completed).toHaveLength(PARTIAL_RESULTS_CHUNK);
    const b3 = out.completed[3];
    expect(b3?.ok === true && b3.bytes && Buffer.from(b3.output).toString()).toBe("b3");
    expect(out.completed[63]).toEqual({ id: 63, ok: false, error: { code: "E_EU_THREW", message: "boom 63", name: "Error" } });
    expect(out.completed[62]).toEqual(echo(62));
  });

  it("an uncaught error and a timeout report the delivered chunks too", async () => {
    const pool = await actionsPool();
    const uncaught = await pool.runPulse(4, tasks(150, { 100: { action: "uncaught-later" } }), { attempt: 1 });
    expect(plain(uncaught)).toEqual({
      kind: "crashed",
      error: { code: "E_WORKER_CRASHED", message: "worker crashed with an uncaught Error: thrown from a timer while running EU 100" },
      euIndex: 100,
      completed: Array.from({ length: PARTIAL_RESULTS_CHUNK }, (_, i) => echo(i)),
    });
    const timeout = await pool.runPulse(5, tasks(150, { 130: { action: "loop" } }), { attempt: 1, euTimeoutMs: 1000 });
    expect(plain(timeout)).toEqual({
      kind: "crashed",
      error: { code: "E_EU_TIMEOUT", message: "EU 130 did not settle within 1000 ms" },
      euIndex: 130,
      completed: Array.from({ length: 2 * PARTIAL_RESULTS_CHUNK }, (_, i) => echo(i)),
    });
  });

  it("an ok pulse is reassembled from its chunks: every result in order, at every size around the boundaries", async () => {
    const pool = await actionsPool();
    const C = PARTIAL_RESULTS_CHUNK;
    for (const n of [1, C - 1, C, C + 1, 2 * C, 2 * C + 1, 5 * C + 7]) {
      const out: PulseOutcome = await pool.runPulse(100 + n, tasks(n), { attempt: 1 });
      const results = Array.from({ length: n }, (_, i) => echo(i));
      // The worker's leaf hashes come back in the same order, whatever the chunking.
      const leaves = leafHashesOf(results.map(recordText));
      expect(plain(out)).toEqual({ kind: "ok", results, leaves, root: rootOfLeafHashes(leaves, n) });
    }
  });
});

describe("executePulse: validation against the crashed attempt", () => {
  const EUS: WorkEU[] = ["a", "b", "c", "d", "e"].map((id) => ({ id, input: id }));
  const ok = (id: string, v: unknown): EUResult => ({ id, ok: true, bytes: false, json: JSON.stringify(v) });
  const threw = (id: string, message: string): EUResult => ({ id, ok: false, error: { code: "E_EU_THREW", message, name: "Error" } });

  /**
   * A scripted runner: `outputOf(id, attempt, call)` gives each result; `crashes[call]` makes
   * that call crash at an index, delivering the first `delivered` results.
   */
  function scripted(outputOf: (id: string, attempt: number, call: number) => EUResult, crashes: Record<number, { at: number; delivered: number }>): PulseRunner & { calls: Array<{ fresh: boolean; ids: unknown[]; attempts: number[] }> } {
    const calls: Array<{ fresh: boolean; ids: unknown[]; attempts: number[] }> = [];
    const exec = (fresh: boolean) => (eus: WorkEU[], attempts: number[]): Promise<RunnerOutcome> => {
      const call = calls.length;
      calls.push({ fresh, ids: eus.map((e) => e.id), attempts });
      const results = eus.map((e, k) => outputOf(e.id as string, attempts[k] as number, call));
      const crash = crashes[call];
      if (crash === undefined) return Promise.resolve({ kind: "ok", results });
      return Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 1" }, euIndex: crash.at, completed: results.slice(0, crash.delivered) });
    };
    return { run: exec(false), runFresh: exec(true), calls };
  }

  it("a retry that crashes after a hashed first request: the leaves describe the final records and no runner root is passed on as the checksum", async () => {
    // Call 0 settles the whole pulse with worker-computed leaves and root, but b threw (retries
    // left); call 1 retries b and crashes, so b's final record is the crash failure. The root of
    // call 0 no longer describes the pulse: commit must hash the final leaves itself.
    let call = 0;
    const runner: PulseRunner = {
      run: (eus, attempts) => {
        const c = call++;
        if (c === 0) {
          const results = eus.map((e) => (e.id === "b" ? threw("b", "no") : ok(e.id as string, { attempt: attempts[0] })));
          const leaves = leafHashesOf(results.map(recordText));
          return Promise.resolve({ kind: "ok", results, leaves, root: rootOfLeafHashes(leaves, results.length) });
        }
        return Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 1" }, euIndex: 0, completed: [] });
      },
      runFresh: () => Promise.reject(new Error("not used")),
    };
    const out = await executePulse(runner, EUS, 1, { partition: 0, index: 0 });
    expect(out.outcomes[1]).toMatchObject({ id: "b", ok: false, error: { code: "E_WORKER_CRASHED" } });
    expect(out).not.toHaveProperty("checksum");
    expect(Buffer.from(out.leaves).equals(Buffer.from(leafHashesOf(out.outcomes.map(recordText))))).toBe(true);
  });

  it("a first request that settles the whole pulse: its runner root is passed on as the checksum; one retry and it is not", async () => {
    const results = EUS.map((e) => ok(e.id as string, { v: e.input }));
    const leaves = leafHashesOf(results.map(recordText));
    const root = rootOfLeafHashes(leaves, results.length);
    const once: PulseRunner = { run: () => Promise.resolve({ kind: "ok", results, leaves, root }), runFresh: () => Promise.reject(new Error("not used")) };
    const out = await executePulse(once, EUS, 1, { partition: 0, index: 0 });
    expect(out.checksum).toBe(root);
    expect(out.leaves.equals(leaves)).toBe(true);
    // b throws once and succeeds on its retry: two requests, so the commit derives the checksum.
    let call = 0;
    const retried: PulseRunner = {
      run: (eus) => {
        const c = call++;
        const rs = eus.map((e) => (c === 0 && e.id === "b" ? threw("b", "once") : ok(e.id as string, { v: e.input })));
        const ls = leafHashesOf(rs.map(recordText));
        return Promise.resolve({ kind: "ok", results: rs, leaves: ls, root: rootOfLeafHashes(ls, rs.length) });
      },
      runFresh: () => Promise.reject(new Error("not used")),
    };
    const out2 = await executePulse(retried, EUS, 1, { partition: 0, index: 0 });
    expect(out2).not.toHaveProperty("checksum");
    expect(out2.leaves.equals(leaves)).toBe(true);
  });

  it("a crash followed by a whole re-run on a fresh worker: that re-run's root is the checksum (it covers the final records)", async () => {
    const results = EUS.map((e) => ok(e.id as string, { v: e.input }));
    const leaves = leafHashesOf(results.map(recordText));
    const root = rootOfLeafHashes(leaves, results.length);
    const runner: PulseRunner = {
      run: () => Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 1" }, euIndex: 0, completed: [] }),
      runFresh: () => Promise.resolve({ kind: "ok", results, leaves, root }),
    };
    const out = await executePulse(runner, EUS, 2, { partition: 0, index: 0 });
    expect(out.attempts).toEqual([2, 1, 1, 1, 1]);
    expect(out.checksum).toBe(root);
    expect(rootOfLeafHashes(leafHashesOf(out.outcomes.map(recordText)), EUS.length)).toBe(root);
  });

  it(`crashes before any EU started are re-run on fresh workers uncharged, ${MAX_UNATTRIBUTED_CRASHES} in a row; then the first EU is charged`, async () => {
    const calls: Array<{ fresh: boolean; attempts: number[] }> = [];
    const exec = (fresh: boolean) => (eus: WorkEU[], attempts: number[]): Promise<RunnerOutcome> => {
      calls.push({ fresh, attempts });
      if (calls.length <= MAX_UNATTRIBUTED_CRASHES + 1) {
        return Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "worker exited with code 0" }, euIndex: undefined, completed: [] });
      }
      return Promise.resolve({ kind: "ok", results: eus.map((e) => ok(e.id as string, e.input)) });
    };
    const out = await executePulse({ run: exec(false), runFresh: exec(true) }, EUS, 2, { partition: 0, index: 0 });
    const first = Array.from({ length: MAX_UNATTRIBUTED_CRASHES + 1 }, (_, k) => ({ fresh: k > 0, attempts: [1, 1, 1, 1, 1] }));
    expect(calls).toEqual([...first, { fresh: true, attempts: [2, 1, 1, 1, 1] }]);
    expect(out.attempts).toEqual([2, 1, 1, 1, 1]);
    expect(out.log).toEqual([{ id: "a", attempts: 2, errors: [{ code: "E_WORKER_CRASHED", message: "worker exited with code 0" }] }]);
    expect(out.outcomes.every((r) => r.ok)).toBe(true);
  });

  it("commitPulse stores the checksum it is given (the worker's root) and derives it when none is given", () => {
    const { store } = scratch.store();
    const fn = store.putBytes(Buffer.from("export default (x) => x;")).digest;
    const plan = store.putBytes(Buffer.from("plan")).digest;
    const results = EUS.map((e) => ok(e.id as string, { v: e.input }));
    const leaves = leafHashesOf(results.map(recordText));
    const spec = { partition: 0, index: 0, eus: EUS, slice: Buffer.from("slice"), sliceDigest: sha256(Buffer.from("slice")) };
    const cfg = normalizeConfig({});
    const given = "sha256:" + "ab".repeat(32);
    expect(commitPulse(store, fn, cfg, plan, spec, results, [], leaves, given as Digest).checksum).toBe(given);
    expect(commitPulse(store, fn, cfg, plan, spec, results, [], leaves).checksum).toBe(rootOfLeafHashes(leaves, EUS.length));
  });

  it("an audited pulse re-checks the worker's checksum: a root that is not its records' fails with E_NONDETERMINISTIC", async () => {
    const results = EUS.map((e) => ok(e.id as string, { v: e.input }));
    const runner: PulseRunner = { run: () => Promise.reject(new Error("not used")), runFresh: () => Promise.resolve({ kind: "ok", results }) };
    const spec = { partition: 3, index: 1, eus: EUS } as unknown as Parameters<typeof auditPulse>[1];
    const leaves = Buffer.from(leafHashesOf(results.map(recordText)));
    await auditPulse(runner, spec, results, [1, 1, 1, 1, 1], leaves, rootOfLeafHashes(leaves, 5));
    const wrong = rootOfLeafHashes(leaves.subarray(0, 4 * 32), 4);
    await expectCairnError(auditPulse(runner, spec, results, [1, 1, 1, 1, 1], leaves, wrong), ErrorCode.NONDETERMINISTIC, "pulse 3/1: the worker's checksum");
  });

  it("an audited pulse re-checks the worker's record hashes: a leaf that does not hash its record fails with E_NONDETERMINISTIC", async () => {
    const results = EUS.map((e) => ok(e.id as string, { v: e.input }));
    const runner: PulseRunner = { run: () => Promise.reject(new Error("not used")), runFresh: () => Promise.resolve({ kind: "ok", results }) };
    const spec = { partition: 0, index: 0, eus: EUS } as unknown as Parameters<typeof auditPulse>[1];
    const good = Buffer.from(leafHashesOf(results.map(recordText)));
    await auditPulse(runner, spec, results, [1, 1, 1, 1, 1], good);
    const bad = Buffer.from(good);
    bad[2 * 32] = (bad[2 * 32] as number) ^ 1; // EU "c"'s leaf
    await expectCairnError(auditPulse(runner, spec, results, [1, 1, 1, 1, 1], bad), ErrorCode.NONDETERMINISTIC, 'at EU "c"');
  });

  it("a deterministic pulse passes; the crashing EU is charged and the rest re-run on a fresh worker with the same attempt", async () => {
    const runner = scripted((id, attempt) => ok(id, { id, attempt }), { 0: { at: 3, delivered: 2 } });
    const { outcomes, attempts } = await executePulse(runner, EUS, 1, { partition: 2, index: 5 });
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true, true]);
    expect(attempts).toEqual([1, 1, 1, 2, 1]);
    expect(runner.calls).toEqual([
      { fresh: false, ids: ["a", "b", "c", "d", "e"], attempts: [1, 1, 1, 1, 1] },
      { fresh: true, ids: ["a", "b", "c", "d", "e"], attempts: [1, 1, 1, 2, 1] },
    ]);
  });

  it("a delivered result that differs on re-execution fails with E_NONDETERMINISTIC naming the pulse, the EU and both records", async () => {
    const runner = scripted((id, attempt, call) => ok(id, { call: id === "b" ? call : 0, attempt }), { 0: { at: 3, delivered: 2 } });
    const first = recordText(ok("b", { call: 0, attempt: 1 }));
    const second = recordText(ok("b", { call: 1, attempt: 1 }));
    const e = await expectCairnError(
      executePulse(runner, EUS, 1, { partition: 2, index: 5 }),
      ErrorCode.NONDETERMINISTIC,
      `re-execution of pulse 2/5 after a worker crash found a nondeterministic result at EU "b":\n  first attempt: ${first}\n  re-execution:  ${second}`,
    );
    expect(e.details).toEqual({ partition: 2, pulse: 5, id: "b", attempt: 1, first, second });
  });

  it("a later crashed attempt is compared too (partial against partial), and the pulse is named by its ids without a PulseRef", async () => {
    // Call 0 delivers a..c, call 1 (fresh) delivers a..b: b differs between them.
    const runner = scripted((id, attempt, call) => ok(id, { call: id === "b" ? call : 0, attempt }), { 0: { at: 3, delivered: 3 }, 1: { at: 2, delivered: 2 } });
    await expectCairnError(executePulse(runner, EUS, 3), ErrorCode.NONDETERMINISTIC, 're-execution of the pulse of EUs "a"…"e" after a worker crash found a nondeterministic result at EU "b"');
    expect(runner.calls).toHaveLength(2);
  });

  it("EUs the crashed attempt did not deliver are not compared", async () => {
    // Only a..b delivered; c and e differ per call but were never seen before the re-execution.
    const runner = scripted((id, attempt, call) => ok(id, { call: id === "c" || id === "e" ? call : 0, attempt }), { 0: { at: 3, delivered: 2 } });
    const { outcomes } = await executePulse(runner, EUS, 1);
    expect(outcomes.map(recordText)).toEqual([ok("a", { call: 0, attempt: 1 }), ok("b", { call: 0, attempt: 1 }), ok("c", { call: 1, attempt: 1 }), ok("d", { call: 0, attempt: 2 }), ok("e", { call: 1, attempt: 1 })].map(recordText));
  });

  it("failed records are compared at the same attempt; the retry (another attempt number) is not", async () => {
    // b throws on attempt 1 (the same way every time), then succeeds with a call-dependent output.
    const outputOf = (id: string, attempt: number, call: number): EUResult => (id === "b" && attempt === 1 ? threw(id, "no (attempt 1)") : ok(id, { attempt, call: id === "b" ? call : 0 }));
    const runner = scripted(outputOf, { 0: { at: 3, delivered: 3 } });
    const { outcomes, log } = await executePulse(runner, EUS, 2, { partition: 0, index: 0 });
    expect(outcomes[1]).toEqual(ok("b", { attempt: 2, call: 2 }));
    expect(log.map((l) => [l.id, l.attempts])).toEqual([
      ["b", 2],
      ["d", 2],
    ]);
    expect(runner.calls.map((c) => [c.fresh, c.ids, c.attempts])).toEqual([
      [false, ["a", "b", "c", "d", "e"], [1, 1, 1, 1, 1]],
      [true, ["a", "b", "c", "d", "e"], [1, 1, 1, 2, 1]],
      [false, ["b"], [2]],
    ]);
    // A failure message that changes between the crashed attempt and the re-execution is caught.
    const flaky = scripted((id, attempt, call) => (id === "b" ? threw(id, `no (call ${call})`) : ok(id, { attempt })), { 0: { at: 3, delivered: 3 } });
    await expectCairnError(executePulse(flaky, EUS, 2, { partition: 0, index: 0 }), ErrorCode.NONDETERMINISTIC, 'at EU "b"', "no (call 0)", "no (call 1)");
  });

  it("a crashed attempt cut short at a retry becomes the reference for that attempt number", async () => {
    // Call 0: b and c throw at attempt 1. Call 1 retries [b, c] at attempt 2, delivers b and
    // crashes at c; call 2 (fresh) re-runs b at attempt 2 (c at 3): b differs from call 1's.
    const outputOf = (id: string, attempt: number, call: number): EUResult =>
      (id === "b" || id === "c") && attempt === 1 ? threw(id, "no") : ok(id, { attempt, call: id === "b" ? call : 0 });
    const runner = scripted(outputOf, { 1: { at: 1, delivered: 1 } });
    await expectCairnError(executePulse(runner, EUS, 2, { partition: 1, index: 3 }), ErrorCode.NONDETERMINISTIC, 're-execution of pulse 1/3', 'at EU "b"', '"call":1', '"call":2');
    expect(runner.calls.map((c) => [c.ids, c.attempts])).toEqual([
      [["a", "b", "c", "d", "e"], [1, 1, 1, 1, 1]],
      [["b", "c"], [2, 2]],
      [["b", "c"], [2, 3]],
    ]);
  });

  it("rejects a crashed outcome whose delivered results do not precede the crash", async () => {
    const bad: PulseRunner = {
      run: () => Promise.resolve({ kind: "crashed", error: { code: "E_WORKER_CRASHED", message: "x" }, euIndex: 1, completed: [ok("a", 1), ok("b", 2)] }),
      runFresh: () => Promise.resolve({ kind: "ok", results: [] }),
    };
    await expectCairnError(executePulse(bad, EUS, 1), ErrorCode.INTERNAL, "2 finished EUs before EU index 1");
  });
});

describe("engine: a crash mid-pulse is validated against the re-execution", () => {
  const C = PARTIAL_RESULTS_CHUNK;

  it("a deterministic module that exits at one EU after many completed: only that EU fails, nothing is nondeterministic", async () => {
    const exitAt = 2 * C + 22; // two chunks delivered before the crash
    const data = Array.from({ length: 200 }, (_, i) => ({ v: i, exit: i === exitAt, flaky: i === 20 }));
    const { store } = scratch.store();
    const r = await run(store, data, fixture("engine-crash-seeded.mjs"), { partitions: 1, pulseSize: 200, workers: 1, retries: 1 });
    expect(r.status).toBe("failed");
    expect(r.counts).toEqual({ total: 200, completed: 199, failed: 1, retried: 2 });
    expect(r.failures).toEqual([{ id: exitAt, code: ErrorCode.WORKER_CRASHED, message: `worker exited with code 4 while running EU ${exitAt}` }]);
    const m = manifestOf(store, r.runId);
    expect(m.pulses).toHaveLength(1);
    expect(m.pulses[0]?.attempts).toEqual([
      { id: 20, attempts: 2, errors: [{ code: ErrorCode.EU_THREW, message: "flaky at 20 (attempt 1)" }] },
      { id: exitAt, attempts: 2, errors: [1, 2].map(() => ({ code: ErrorCode.WORKER_CRASHED, message: `worker exited with code 4 while running EU ${exitAt}` })) },
    ]);
    // The other EUs' outputs are exactly those of a run without the crash.
    const { store: clean } = scratch.store();
    const rc = await run(clean, data.map((d) => ({ ...d, exit: false })), fixture("engine-crash-seeded.mjs"), { partitions: 3, pulseSize: 50, workers: 2, retries: 1 });
    const [outs, cleanOuts] = [await outputsOf(store, r.runId), await outputsOf(clean, rc.runId)];
    expect(outs).toHaveLength(200);
    expect(outs.filter((o) => o.id !== exitAt)).toEqual(cleanOuts.filter((o) => o.id !== exitAt));
    expect(outs[20]?.output).toMatchObject({ a: 2, v: 20 });
    expect(outs[21]?.output).toMatchObject({ a: 1, v: 21 });
  });

  it("module-level state that makes the crashed attempt differ from the re-execution fails the run with E_NONDETERMINISTIC", async () => {
    // One worker, pulses of 100 in one partition: pulse 0/0 (EUs 0..99) leaves n = 100 in the
    // worker, so pulse 0/1's first attempt gives EU 100 n = 101. It crashes at EU 180, after the
    // first chunk (EUs 100..163) was delivered; the re-execution on a fresh worker gives n = 1.
    const data = Array.from({ length: 200 }, (_, i) => ({ v: i, exit: i === 180 }));
    const { store } = scratch.store();
    const e = await expectCairnError(
      run(store, data, fixture("engine-crash-counter.mjs"), { partitions: 1, pulseSize: 100, workers: 1, retries: 0, auditRate: 0 }),
      ErrorCode.NONDETERMINISTIC,
      // Named by partition/index when the engine passes the pulse to executePulse, else by its EU ids;
      // the engine names the run first (engine.ts withNondeterministicRun, UAT 8 of 2026-11-28).
      /^run [0-9a-f]{16}: re-execution of (pulse 0\/1|the pulse of EUs 100…199) after a worker crash found a nondeterministic result at EU 100:\n/,
      `\n  first attempt: {"id":100,"output":{"n":101,"v":100}}\n  re-execution:  {"id":100,"output":{"n":1,"v":100}}`,
    );
    expect(e.details).toMatchObject({ id: 100, attempt: 1, first: '{"id":100,"output":{"n":101,"v":100}}', second: '{"id":100,"output":{"n":1,"v":100}}' });
  });

  it("the same module passes when the crashed attempt ran on a fresh worker too (nothing to tell apart)", async () => {
    // A single pulse: the first attempt and the re-execution both start from a pristine module.
    const data = Array.from({ length: 100 }, (_, i) => ({ v: i, exit: i === 80 }));
    const { store } = scratch.store();
    const r = await run(store, data, fixture("engine-crash-counter.mjs"), { partitions: 1, pulseSize: 100, workers: 1, retries: 0, auditRate: 0, allowFailures: true });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 100, completed: 99, failed: 1, retried: 0 });
  });
});

describe("checkRecordsSize: a pulse's records must fit the store's in-memory read limit", () => {
  it("passes at the limit, refuses one byte over (UTF-8 bytes, not characters), naming the pulse and a size that fits", () => {
    const p = { partition: 2, index: 7 };
    expect(MAX_PULSE_RECORDS_BYTES).toBe(256 * 1024 * 1024);
    expect(() => checkRecordsSize(p, ["a".repeat(40), "b".repeat(58)], 100)).not.toThrow(); // 98 + 2 newlines
    // "é" is 2 bytes: 60 characters but 101 bytes with the newlines.
    let err: unknown;
    try {
      checkRecordsSize(p, ["é".repeat(30), "b".repeat(39)], 100);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "E_LIMIT_EXCEEDED",
      message: "pulse 2/7: its 2 records are 101 bytes, more than the 100-byte limit of a pulse's records; run with a smaller pulseSize (--pulse-size): about 1 EUs of outputs this size fit",
      details: { partition: 2, pulse: 7, bytes: 101, limit: 100 },
    });
  });
});

describe("checkAttemptLogSize: a pulse's attempt log must fit what resume and verify read back", () => {
  it("passes at the limit, refuses one byte over (UTF-8 bytes of its canonical JSON), naming the pulse, the EUs retried and a remedy", () => {
    const p = { partition: 1, index: 4 };
    expect(MAX_ATTEMPT_LOG_BYTES).toBe(256 * 1024 * 1024);
    // `[` + 40 + `,` + 57 + `]` = 100 bytes.
    expect(() => checkAttemptLogSize(p, ["a".repeat(40), "b".repeat(57)], 100)).not.toThrow();
    let err: unknown;
    try {
      checkAttemptLogSize(p, ["é".repeat(20), "b".repeat(58)], 100); // 40 + 58 + 3 = 101 bytes, 81 characters
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "E_LIMIT_EXCEEDED",
      message: "pulse 1/4: its attempt log (2 retried EUs) is 101 bytes, more than the 100-byte limit of a pulse's attempt log; run with a smaller pulseSize (--pulse-size) or fewer retries (--retries)",
      details: { partition: 1, pulse: 4, bytes: 101, limit: 100, retried: 2 },
    });
  });
});
