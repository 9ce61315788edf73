/**
 * Two `run`/`resume` calls of the same run id on one store handle: the second waits for the
 * first to end, then does what a call made after it does — reports the finished run
 * (`reused: true`, nothing executed) or continues from the pulses the first committed. Before,
 * both executed every pulse. (Another process cannot reach the run at all while one executes:
 * the store's writer lock.) Different run ids still run side by side.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, resume, run, type Progress } from "../../src/index.js";
import { claimRun, type RunClaim } from "../../src/batch/claims.js";
import { Scratch, expectCairnError, outputsOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const fn = { code: "export default (x) => ({ twice: x.n * 2 });" };
const records = Array.from({ length: 3000 }, (_, n) => ({ n }));
const config = { workers: 1, partitions: 2, pulseSize: 100, maxPulsesInFlight: 1 };
const PULSES = 30;

/** Progress hooks that keep the last report. */
function tracked(): { last: () => Progress | undefined; onProgress: (p: Progress) => void } {
  let last: Progress | undefined;
  return { last: () => last, onProgress: (p) => (last = p) };
}

/** Starts `second()` from the first run's progress once the first executes (it holds the run id then). */
function afterFirstClaims<T>(second: () => Promise<T>): { onProgress: (p: Progress) => void; started: () => Promise<T> } {
  let p: Promise<T> | undefined;
  return {
    onProgress: (x) => {
      if (x.runId !== undefined && p === undefined) p = second();
    },
    started: () => {
      if (p === undefined) throw new Error("the second call was never started");
      return p;
    },
  };
}

describe("concurrent run() of one run id on one store handle", () => {
  it("the second waits for the first and reports its result without executing anything", async () => {
    const { store } = scratch.store();
    const b = tracked();
    const second = afterFirstClaims(() => run(store, records, fn, config, { onProgress: b.onProgress }));
    let last: Progress | undefined;
    const ra = await run(store, records, fn, config, {
      onProgress: (p) => {
        last = p;
        second.onProgress(p);
      },
    });
    const rb = await second.started();
    expect(rb.runId).toBe(ra.runId);
    expect([ra.reused, rb.reused]).toEqual([false, true]);
    expect(rb.manifestDigest).toBe(ra.manifestDigest);
    expect(rb.outputDigest).toBe(ra.outputDigest);
    expect(last).toMatchObject({ phase: "done", pulsesDone: PULSES, pulsesReused: 0 });
    // The second never executed: its last report is the final `done` of a reused run, every
    // pulse reused (before 2026-11-27 a reused run's last report was its `ingest`).
    expect(b.last()).toMatchObject({ phase: "done", pulsesDone: PULSES, pulsesReused: PULSES });
  });

  it("a resume() of a run that is executing waits for it too", async () => {
    const { store } = scratch.store();
    let runId = "";
    const second = afterFirstClaims(() => resume(store, runId));
    const r = await run(store, records, fn, config, {
      onProgress: (p) => {
        if (p.runId !== undefined) runId = p.runId;
        second.onProgress(p);
      },
    });
    expect(await second.started()).toMatchObject({ runId: r.runId, reused: true, manifestDigest: r.manifestDigest });
  });

  it("when the first is interrupted, the waiting call continues the run from its committed pulses", async () => {
    const { store: plain } = scratch.store();
    const reference = await run(plain, records, fn, config);
    const { store } = scratch.store();
    const ac = new AbortController();
    const b = tracked();
    const second = afterFirstClaims(() => run(store, records, fn, config, { onProgress: b.onProgress }));
    const first = run(store, records, fn, config, {
      signal: ac.signal,
      onProgress: (p) => {
        second.onProgress(p);
        if (p.pulsesDone >= 5 && !ac.signal.aborted) ac.abort(new Error("stop"));
      },
    });
    await expectCairnError(first, ErrorCode.INTERRUPTED);
    const r = await second.started();
    expect(r.reused).toBe(false);
    expect(r.manifestDigest).toBe(reference.manifestDigest);
    expect(b.last()?.pulsesReused).toBeGreaterThanOrEqual(5);
    expect(b.last()?.pulsesReused).toBeLessThan(PULSES);
    expect(await outputsOf(store, r.runId)).toEqual(await outputsOf(plain, reference.runId));
  });

  it("different run ids on one store still execute side by side", async () => {
    const { store } = scratch.store();
    const [x, y] = await Promise.all([run(store, records, fn, config), run(store, records, fn, { ...config, seed: 7 })]);
    expect(x.runId).not.toBe(y.runId);
    expect([x.reused, y.reused]).toEqual([false, false]);
  });
});

describe("claimRun (claims.ts)", () => {
  const ID = "0123456789abcdef";

  it("a second claim waits until the first is released, calling beforeWait once; other ids and stores do not wait", async () => {
    const { store } = scratch.store();
    const { store: other } = scratch.store();
    const first = await claimRun(store, ID, undefined);
    expect(first.waited).toBe(false);
    let waits = 0;
    let got: RunClaim | undefined;
    const pending = claimRun(store, ID, undefined, async () => {
      waits++;
    }).then((c) => (got = c));
    expect((await claimRun(store, "fedcba9876543210", undefined)).waited).toBe(false);
    expect((await claimRun(other, ID, undefined)).waited).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(got).toBeUndefined();
    first.release();
    first.release(); // idempotent
    await pending;
    expect(got?.waited).toBe(true);
    expect(waits).toBe(1);
    (got as RunClaim).release();
    expect((await claimRun(store, ID, undefined)).waited).toBe(false);
  });

  it("an abort while waiting is E_INTERRUPTED naming the run, and claims nothing", async () => {
    const { store } = scratch.store();
    const first = await claimRun(store, ID, undefined);
    const ac = new AbortController();
    const waiting = claimRun(store, ID, ac.signal);
    await new Promise((r) => setImmediate(r));
    ac.abort(new Error("gave up"));
    const e = await expectCairnError(waiting, ErrorCode.INTERRUPTED);
    expect(e.message).toBe(`run aborted (run ${ID}: committed pulses are kept, resume it): gave up`);
    expect(e.details).toEqual({ runId: ID });
    // The first still holds the id: a third claim waits for it, not for the aborted one.
    let third: RunClaim | undefined;
    const p = claimRun(store, ID, undefined).then((c) => (third = c));
    await new Promise((r) => setImmediate(r));
    expect(third).toBeUndefined();
    first.release();
    await p;
    expect(third?.waited).toBe(true);
  });
});
