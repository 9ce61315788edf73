/**
 * A run whose manifest would be over the manifest limit (what `loadManifest` can read back,
 * MAX_MANIFEST_BYTES = 256 MiB) fails with E_LIMIT_EXCEEDED and stores no manifest: as soon as
 * its pulses' entries alone are over it (ManifestSizeGuard, during execution), else when the
 * whole manifest is (recordManifest, before storing anything). Such a run can never complete
 * (the same plan makes the same manifest), so its plan is forgotten like a run refused on its
 * input. Before, the manifest was stored whatever its size, and every `runs ls` of the store
 * then failed. The limits are lowered here (a 256 MiB manifest is out of a test's reach).
 */
import { afterAll, describe, expect, it, vi } from "vitest";

const limits = vi.hoisted(() => ({ guard: undefined as number | undefined, record: undefined as number | undefined }));

vi.mock("../../src/batch/manifest.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/batch/manifest.js")>();
  class LoweredGuard extends real.ManifestSizeGuard {
    constructor(runId: string) {
      super(runId, limits.guard);
    }
  }
  return {
    ...real,
    ManifestSizeGuard: LoweredGuard,
    recordManifest: (store: Parameters<typeof real.recordManifest>[0], m: Parameters<typeof real.recordManifest>[1]) => real.recordManifest(store, m, limits.record),
  };
});

const { run } = await import("../../src/batch/engine.js");
const { listRuns } = await import("../../src/batch/runs.js");
const { loadManifest } = await import("../../src/batch/manifest.js");
const { manifestRoot, planRoot } = await import("../../src/batch/plan.js");
const { ErrorCode } = await import("../../src/core/errors.js");
const { Scratch, expectCairnError } = await import("./fixtures/engine-helpers.js");

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => x.v;\n", name: "id.mjs" };
const DATA = Array.from({ length: 40 }, (_, v) => ({ v }));
const CONFIG = { partitions: 1, pulseSize: 2, workers: 1 };

describe("a run whose manifest would be too large to read back", () => {
  it("fails with E_LIMIT_EXCEEDED once its pulses' entries are over the limit, and is forgotten", async () => {
    const { store } = scratch.store();
    limits.guard = 2000; // about 5 of the 20 pulse entries
    try {
      const progress: number[] = [];
      const err = await expectCairnError(
        run(store, DATA, FN, CONFIG, { onProgress: (p) => progress.push(p.pulsesDone) }),
        ErrorCode.LIMIT_EXCEEDED,
        /^run [0-9a-f]{16}: its manifest would be over \d+ bytes after \d+ pulses, more than the 2000-byte limit of a manifest \(what can be read back\); run with a larger pulseSize \(--pulse-size\), so that there are fewer pulses$/,
      );
      const runId = err.details.runId as string;
      expect(err.details.pulses).toBeLessThan(20); // refused during execution, not after it
      expect(Math.max(...progress)).toBeLessThan(20);
      expect(store.findRoot(manifestRoot(runId))).toBeUndefined();
      expect(store.findRoot(planRoot(runId))).toBeUndefined();
      expect(listRuns(store)).toEqual([]);
    } finally {
      limits.guard = undefined;
    }
  });

  it("fails with E_LIMIT_EXCEEDED before storing a manifest over the limit, and is forgotten", async () => {
    const { store } = scratch.store();
    limits.record = 3000;
    try {
      const err = await expectCairnError(
        run(store, DATA, FN, CONFIG),
        ErrorCode.LIMIT_EXCEEDED,
        /^run [0-9a-f]{16}: its manifest is \d+ bytes \(20 pulses\), more than the 3000-byte limit of a manifest \(what can be read back\); run with a larger pulseSize \(--pulse-size\), so that there are fewer pulses$/,
      );
      const runId = err.details.runId as string;
      expect(loadManifest(store, runId)).toBeUndefined();
      expect(store.findRoot(planRoot(runId))).toBeUndefined();
      expect(listRuns(store)).toEqual([]);
    } finally {
      limits.record = undefined;
    }
    // Under the real limit the same run completes.
    const r = await run(store, DATA, FN, CONFIG);
    expect(r.counts.total).toBe(40);
  });
});
