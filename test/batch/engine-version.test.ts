/**
 * The engine version policy (ARCHITECTURE §10.3): a run made by another engine version is not
 * resumed, verified or replayed by this engine (its bytes follow that version's rules): E_USAGE
 * naming both versions. A finished run of another version is still reported by `run`/`resume`,
 * and a manifest that names another engine than its (hash-bound) plan is a verify problem, not
 * a refusal.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, replay, resume, run, verifyRun, type Store } from "../../src/index.js";
import { canonicalBytes } from "../../src/core/canonical.js";
import { ENGINE_VERSION, loadPlan, manifestRoot, planRoot, recordPlan, runIdOf, type RunPlan } from "../../src/batch/plan.js";
import { loadManifest } from "../../src/batch/manifest.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const fn = { code: "export default (x) => x.n + 1;" };
const records = Array.from({ length: 50 }, (_, n) => ({ n }));

/** A copy of a finished run as engine version `version` made it: its plan (new run id) and, optionally, its manifest. */
function asVersion(store: Store, runId: string, version: string, withManifest: boolean): string {
  const plan: RunPlan = { ...loadPlan(store, runId).plan, engine: { name: "cairn.batch", version } };
  const { runId: oldId, planDigest } = recordPlan(store, plan);
  expect(oldId).toBe(runIdOf(plan));
  expect(store.findRoot(planRoot(oldId))?.digest).toBe(planDigest);
  if (withManifest) {
    const m = loadManifest(store, runId)?.manifest;
    const forged = { ...m, runId: oldId, plan: planDigest, engine: { name: "cairn.batch", version } };
    store.pin(manifestRoot(oldId), store.putBytes(canonicalBytes(forged)).digest, "run");
  }
  return oldId;
}

describe("runs of another engine version", () => {
  it("an unfinished one is not resumed: E_USAGE naming both versions", async () => {
    const { store } = scratch.store();
    const done = await run(store, records, fn, { workers: 1 });
    const old = asVersion(store, done.runId, "0", false);
    const e = await expectCairnError(resume(store, old), ErrorCode.USAGE);
    expect(e.message).toBe(`run ${old} was made by cairn.batch version 0; this is cairn.batch version ${ENGINE_VERSION}, so it cannot be resumed here: use the engine version that made it`);
    expect(e.details).toEqual({ runId: old, engine: { name: "cairn.batch", version: "0" }, expected: { name: "cairn.batch", version: ENGINE_VERSION } });
  });

  it("a finished one is reported by resume, but not verified or replayed", async () => {
    const { store } = scratch.store();
    const done = await run(store, records, fn, { workers: 1 });
    const old = asVersion(store, done.runId, "0", true);
    expect((await resume(store, old)).reused).toBe(true);
    expect((await expectCairnError(verifyRun(store, old), ErrorCode.USAGE)).message).toContain("so it cannot be verified here");
    expect((await expectCairnError(replay(store, old, "0/0"), ErrorCode.USAGE)).message).toContain("so it cannot be replayed here");
  });

  it("a manifest naming another engine than its plan is a verify problem (plan_mismatch), not a refusal", async () => {
    const { store } = scratch.store();
    const done = await run(store, records, fn, { workers: 1 });
    const m = loadManifest(store, done.runId)?.manifest;
    store.unpin(manifestRoot(done.runId));
    store.pin(manifestRoot(done.runId), store.putBytes(canonicalBytes({ ...m, engine: { name: "cairn.batch", version: "9" } })).digest, "run");
    const report = await verifyRun(store, done.runId);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toContain("plan_mismatch");
  });
});
