/**
 * `verify --reexecute` checks that a slow machine cannot make: they are listed in `unchecked`,
 * never reported as mismatches. The slow machine is made once for both: the worker pools get a
 * lower timeout (loadFunction, mocked below).
 *
 * The reduce:
 *   `verify --reexecute` when the reduce folded again cannot complete (a slow machine: it times
 *   out; or its worker crashes): that is a machine fact, not a difference, so it is listed in
 *   `unchecked` as `reduce_not_checked` (with the code that stopped it), `reduceRefolded` is
 *   false, and no `reduce_mismatch` is claimed (`ok` stays true, as for an attempt log holding a
 *   timeout). Before, it was reported as `reduce_mismatch`.
 *
 *   The slow machine is made by giving verify's worker pools (loadFunction with one worker, as
 *   verify starts them) a 1 ms timeout: the pool's real timeout then stops a reduce that spins
 *   for 5·10^7 iterations per record, which the run (60 s timeout) completes.
 *
 * An EU:
 *   `verify --reexecute` when an EU's re-execution times out (a slow machine) — or when the run's
 * did and the re-execution completes: the two records differ for a reason that is a machine
 * fact, not a difference in the function, so the EU is listed in `unchecked` as
 * `eu_not_checked` (naming the pulse, the EU and the code), `ok` stays true, and the pulse's
 * other records are still compared. Before, it was a `reexecution_mismatch` (audit 6), while
 * the same timeout in an attempt log or in the reduce was already not a difference.
 *
 * There the lower timeout stops EU 2, which sleeps 1.5 s.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import type { RunConfig } from "../../src/batch/config.js";

const slow = vi.hoisted(() => ({ timeoutMs: undefined as number | undefined }));

vi.mock("../../src/batch/runner.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/batch/runner.js")>();
  return {
    ...real,
    loadFunction: (store: Parameters<typeof real.loadFunction>[0], artifact: Parameters<typeof real.loadFunction>[1], cfg: RunConfig, ...rest: unknown[]) =>
      real.loadFunction(store, artifact, slow.timeoutMs === undefined ? cfg : { ...cfg, euTimeoutMs: slow.timeoutMs }, ...(rest as [string | undefined])),
  };
});

const { run } = await import("../../src/batch/engine.js");
const { verifyRun } = await import("../../src/batch/verify.js");
const { ErrorCode } = await import("../../src/core/errors.js");
const { Scratch } = await import("./fixtures/engine-helpers.js");

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const SPIN = 50_000_000;
const SLOW_REDUCE = {
  code: `export default (x) => x.v;
export const initial = 0;
export function reduce(acc, o) { let h = acc | 0; for (let i = 0; i < ${SPIN}; i++) h = (Math.imul(h, 31) + i) | 0; return (h & 0) + acc + o; }
`,
  name: "slow-sum.mjs",
};
const REDUCE_DATA = [{ v: 1 }, { v: 3 }, { v: 4 }];
const REDUCE_CONFIG = { workers: 1, pulseSize: 2 };

describe("verify --reexecute: a reduce that cannot be folded again", () => {
  it("a re-fold that times out is reduce_not_checked (ok stays true), not reduce_mismatch", async () => {
    const { store } = scratch.store();
    const r = await run(store, REDUCE_DATA, SLOW_REDUCE, REDUCE_CONFIG);
    expect(r.reduce).toBe(8);
    slow.timeoutMs = 1;
    try {
      const rep = await verifyRun(store, r.runId, { reexecute: true, sample: 0 });
      expect(rep.problems).toEqual([]);
      expect(rep.ok).toBe(true);
      expect(rep.reduceRefolded).toBe(false);
      expect(rep.unchecked).toEqual([
        {
          code: "reduce_not_checked",
          reason: ErrorCode.EU_TIMEOUT,
          message: expect.stringMatching(
            /^reduce folded again over the output did not complete \(E_EU_TIMEOUT: reduce of module sha256:[0-9a-f]{64} failed: .+\): the manifest's reduce value was not compared$/,
          ) as unknown as string,
        },
      ]);
    } finally {
      slow.timeoutMs = undefined;
    }
    // With time enough, the same run's reduce is folded again and compared.
    const ok = await verifyRun(store, r.runId, { reexecute: true, sample: 0 });
    expect([ok.ok, ok.reduceRefolded, ok.problems, ok.unchecked]).toEqual([true, true, [], []]);
  }, 120_000);

  it("plain verify lists nothing unchecked", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ v: 1 }], { code: "export default (x) => x.v;\nexport const initial = 0;\nexport function reduce(a, o) { return a + o; }\n" }, REDUCE_CONFIG);
    expect((await verifyRun(store, r.runId)).unchecked).toEqual([]);
  });
});

const SLEEPY = {
  code: "export default async (x) => { if (x.v === 2) await new Promise((r) => setTimeout(r, 1500)); return x.v * 10; };\n",
  name: "sleepy.mjs",
};
const EU_DATA = [0, 1, 2, 3, 4].map((v) => ({ v }));
const EU_CONFIG = { workers: 1, partitions: 1, pulseSize: 2, retries: 1, allowFailures: true };
const TIMEOUT_MS = 400;

async function withTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  slow.timeoutMs = ms;
  try {
    return await fn();
  } finally {
    slow.timeoutMs = undefined;
  }
}

describe("verify --reexecute: an EU whose attempt timed out on one side only", () => {
  it("timed out on re-execution: eu_not_checked (ok stays true), not reexecution_mismatch", async () => {
    const { store } = scratch.store();
    const r = await run(store, EU_DATA, SLEEPY, EU_CONFIG);
    expect([r.counts.failed, r.counts.retried]).toEqual([0, 0]);
    const rep = await withTimeout(TIMEOUT_MS, () => verifyRun(store, r.runId, { reexecute: true }));
    expect(rep.problems).toEqual([]);
    expect([rep.ok, rep.pulsesReexecuted]).toEqual([true, 3]);
    expect(rep.unchecked).toEqual([
      {
        code: "eu_not_checked",
        pulse: "0/1",
        id: 2,
        reason: ErrorCode.EU_TIMEOUT,
        message: expect.stringMatching(/^pulse 0\/1: EU 2: an attempt ended in E_EU_TIMEOUT \(.*400 ms.*\) on re-execution \(not in the run\): its record was not compared$/) as unknown as string,
      },
    ]);
    // With time enough, every record is compared again.
    const ok = await verifyRun(store, r.runId, { reexecute: true });
    expect([ok.ok, ok.problems, ok.unchecked]).toEqual([true, [], []]);
  }, 120_000);

  it("timed out in the run and completes on re-execution: eu_not_checked the other way", async () => {
    const { store } = scratch.store();
    const r = await withTimeout(TIMEOUT_MS, () => run(store, EU_DATA, SLEEPY, EU_CONFIG));
    expect(r.failures).toEqual([{ id: 2, code: ErrorCode.EU_TIMEOUT, message: expect.stringContaining("400 ms") as unknown as string }]);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.problems).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.unchecked).toEqual([
      {
        code: "eu_not_checked",
        pulse: "0/1",
        id: 2,
        reason: ErrorCode.EU_TIMEOUT,
        message: expect.stringMatching(/^pulse 0\/1: EU 2: an attempt ended in E_EU_TIMEOUT \(.*\) in the run \(not on re-execution\): its record was not compared$/) as unknown as string,
      },
    ]);
  }, 120_000);
});
