/**
 * --audit-rate: re-executing sampled pulses on a fresh worker catches what the sandbox cannot
 * neutralise (module-level state), and never flags a deterministic function.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { listRuns } from "../../src/batch/runs.js";
import { Scratch, expectCairnError, fixture, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const DATA = Array.from({ length: 100 }, (_, i) => i);
// One partition, pulses of 10, one worker: the worker's counter carries over from pulse to pulse.
const LAYOUT = { partitions: 1, pulseSize: 10, workers: 1 };

describe("audit", () => {
  it("a module-level counter fails the run with E_NONDETERMINISTIC naming the EU and showing both outputs", async () => {
    const { store } = scratch.store();
    const err = await expectCairnError(
      run(store, DATA, fixture("engine-counter.mjs"), { ...LAYOUT, auditRate: 1 }),
      ErrorCode.NONDETERMINISTIC,
      /audit of pulse 0\/\d+ found a nondeterministic result at EU \d+/,
    );
    const eu = err.details.id as number;
    expect(err.message).toContain(`at EU ${eu}:`);
    // Both outputs are shown: the run's (counter carried over) and the fresh worker's.
    const shown = /run: +(\{.*\})\n +audit: +(\{.*\})/.exec(err.message);
    expect(shown, err.message).not.toBeNull();
    const first = JSON.parse(shown?.[1] ?? "null") as { id: number; output: { v: number; n: number } };
    const second = JSON.parse(shown?.[2] ?? "null") as { id: number; output: { v: number; n: number } };
    expect(first.id).toBe(eu);
    expect(second.id).toBe(eu);
    expect(first.output.v).toBe(eu);
    expect(second.output.v).toBe(eu);
    expect(first.output.n).not.toBe(second.output.n);
    expect(err.details).toMatchObject({ partition: 0, id: eu });
    // No manifest: the run did not complete.
    expect(listRuns(store)[0]?.state).toBe("incomplete");
    // The failed run left nothing behind in the store's tmp/ (its ordering index is gone).
    expect((await store.fsck()).problems).toEqual([]);
  });

  it("without audits the same module completes (audits are what catch it)", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-counter.mjs"), { ...LAYOUT, auditRate: 0 });
    expect(r.status).toBe("completed");
    expect(r.counts.completed).toBe(DATA.length);
  });

  it("pulses reused from an earlier run are audited too", async () => {
    const { store } = scratch.store();
    // The first run (no audit) commits every pulse; the audited run cuts the same pulses, so it
    // reuses them all — and the audit must still re-execute and compare them.
    expect((await run(store, DATA, fixture("engine-counter.mjs"), { ...LAYOUT, auditRate: 0 })).status).toBe("completed");
    await expectCairnError(
      run(store, DATA, fixture("engine-counter.mjs"), { ...LAYOUT, auditRate: 1 }),
      ErrorCode.NONDETERMINISTIC,
      /audit of pulse 0\/\d+ found a nondeterministic result at EU \d+/,
    );
  });

  it("a pure module passes an audit of every pulse", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-pure.mjs"), { ...LAYOUT, workers: 2, auditRate: 1 });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 100, completed: 100, failed: 0, retried: 0 });
  });

  it("an entropy-reading module passes an audit of every pulse (entropy is seeded per EU)", async () => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-entropy.mjs"), { partitions: 3, pulseSize: 7, workers: 2, auditRate: 1 });
    expect(r.status).toBe("completed");
    expect(manifestOf(store, r.runId).counts.completed).toBe(DATA.length);
  });

  it("a partial audit rate still catches the counter over enough pulses", async () => {
    const { store } = scratch.store();
    await expectCairnError(run(store, DATA, fixture("engine-counter.mjs"), { ...LAYOUT, pulseSize: 2, auditRate: 0.5 }), ErrorCode.NONDETERMINISTIC, "nondeterministic result");
  });

  // BUG: auditPulse re-runs every completed EU with attempt 1, but an EU that completed on a
  // retry ran (deterministically) with ctx.attempt = 2, so a deterministic retrying function
  // is reported as nondeterministic.
  it("a deterministic function that succeeds on its retry (ctx.attempt) passes the audit", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 30 }, (_, i) => ({ v: i, flaky: i % 5 === 1 }));
    const r = await run(store, data, fixture("engine-throws.mjs"), { partitions: 2, pulseSize: 10, workers: 1, auditRate: 1 });
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: 30, completed: 30, failed: 0, retried: 6 });
  });
});
