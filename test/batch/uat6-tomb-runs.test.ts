/**
 * UAT u5 F5 (batch): a run whose plan, manifest or run report is tombstoned (`cairn store rm`) or
 * collected by gc. `run` (the same command), `resume` and `runs show` named neither the run nor
 * which of its artifacts it was, nor a remedy: the store's bare "artifact … not found (deleted:
 * tombstoned)". Now E_NOT_FOUND (same code) "run <id>: its <role> <digest> (<root>) is deleted
 * from the store (tombstoned)" with the remedy, details {runId, role, digest, root, reason}; each
 * remedy is checked to work.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { resume, run } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { loadManifest, type Manifest } from "../../src/batch/manifest.js";
import { loadPlan, manifestRoot, planRoot, readRunArtifact, reportRoot } from "../../src/batch/plan.js";
import { listRuns, loadRunReport } from "../../src/batch/runs.js";
import type { Digest } from "../../src/core/digest.js";
import { cairnErrorOf } from "../cairn-error-of.js";
import { cairn, jsonError } from "../cli/helpers.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => ({ v: x.n * 2 });\n", name: "fn.mjs" };
const DATA = Array.from({ length: 40 }, (_, n) => ({ n }));
const CONFIG = { partitions: 2, pulseSize: 8, workers: 1 };

const rootDigest = (store: Store, name: string): Digest => store.findRoot(name)?.digest as Digest;
const unpinRewrite = (id: string): string => `To write it again from the run's committed pulses: cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id}`;
const PLAN_REMEDY = "To store it again, run the same cairn run command again (the same input, function and options make the same plan; the run goes on from its committed pulses)";

/** A finished run whose manifest is then tombstoned, and the message its readers give. */
async function runThenDeleteManifest() {
  const { store } = scratch.store();
  const id = (await run(store, DATA, FN, CONFIG)).runId;
  const m = rootDigest(store, manifestRoot(id));
  store.delete(m);
  const message = `run ${id}: its manifest ${m} (run:${id}:manifest) is deleted from the store (tombstoned). ${unpinRewrite(id)}`;
  return { store, id, m, message };
}

describe("library readers of a run's plan, manifest and report", () => {
  it("a tombstoned manifest: run and resume (reuse), loadManifest name the run, the manifest and the remedy; the remedy writes the same manifest again", async () => {
    const { store, id, m, message } = await runThenDeleteManifest();
    const details = { runId: id, role: "manifest", digest: m, root: `run:${id}:manifest`, reason: "tombstoned" };
    for (const again of [() => run(store, DATA, FN, CONFIG), () => resume(store, id)]) {
      const e = await expectCairnError(again(), "E_NOT_FOUND");
      expect(e.message).toBe(message);
      expect(e.details).toEqual(details);
    }
    const e = cairnErrorOf(() => loadManifest(store, id));
    expect([e.code, e.message, e.details]).toEqual(["E_NOT_FOUND", message, details]);
    // The remedy, as said.
    store.unpin(manifestRoot(id));
    store.unpin(reportRoot(id));
    const again = await resume(store, id);
    expect(again.manifestDigest).toBe(m);
    expect(rootDigest(store, manifestRoot(id))).toBe(m);
    expect(loadRunReport(store, id)?.report.manifest).toBe(m);
    expect((await verifyRun(store, id)).ok).toBe(true);
  });

  it("a tombstoned plan: resume and loadPlan name the plan and the remedy; the same run stores it again and goes on", async () => {
    const { store } = scratch.store();
    const first = await run(store, DATA, FN, CONFIG);
    const id = first.runId;
    const p = rootDigest(store, planRoot(id));
    store.delete(p);
    const message = `run ${id}: its plan ${p} (run:${id}) is deleted from the store (tombstoned). ${PLAN_REMEDY}`;
    const e = await expectCairnError(resume(store, id), "E_NOT_FOUND");
    expect(e.message).toBe(message);
    expect(e.details).toEqual({ runId: id, role: "plan", digest: p, root: `run:${id}`, reason: "tombstoned" });
    expect(cairnErrorOf(() => loadPlan(store, id)).message).toBe(message);
    const again = await run(store, DATA, FN, CONFIG);
    expect([again.runId, again.reused, again.manifestDigest]).toEqual([id, true, first.manifestDigest]);
    expect(loadPlan(store, id).planDigest).toBe(p);
  });

  it("a tombstoned run report: loadRunReport names it and the remedy, which writes a report again", async () => {
    const { store } = scratch.store();
    const first = await run(store, DATA, FN, CONFIG);
    const id = first.runId;
    const r = rootDigest(store, reportRoot(id));
    store.delete(r);
    const e = cairnErrorOf(() => loadRunReport(store, id));
    expect([e.code, e.message]).toEqual(["E_NOT_FOUND", `run ${id}: its run report ${r} (run:${id}:report) is deleted from the store (tombstoned). ${unpinRewrite(id)}`]);
    expect(e.details).toEqual({ runId: id, role: "run report", digest: r, root: `run:${id}:report`, reason: "tombstoned" });
    store.unpin(manifestRoot(id));
    store.unpin(reportRoot(id));
    await resume(store, id);
    expect(loadRunReport(store, id)?.report).toMatchObject({ kind: "cairn.batch.report", runId: id, manifest: first.manifestDigest, pulsesExecuted: 0 });
  });

  it("bytes collected by gc are said so; an artifact the store never recorded keeps the store's own error", () => {
    const { store, dir } = scratch.store();
    const d = store.putBytes(Buffer.from('{"kind":"cairn.batch.manifest"}')).digest;
    store.close();
    const gc = openStore({ dir });
    gc.gc({ graceMs: 0 }); // a handle never sweeps what it wrote itself
    gc.close();
    const s = openStore({ dir, readOnly: true });
    try {
      expect(s.stat(d).state).toBe("swept");
      const e = cairnErrorOf(() => readRunArtifact(s, "0123456789abcdef", "manifest", d));
      expect([e.code, e.message]).toEqual([
        "E_NOT_FOUND",
        `run 0123456789abcdef: its manifest ${d} (run:0123456789abcdef:manifest) is deleted from the store (its bytes were collected by gc). ${unpinRewrite("0123456789abcdef")}`,
      ]);
      expect(e.details).toMatchObject({ role: "manifest", digest: d, reason: "collected" });
      const never = `sha256:${"0".repeat(64)}` as Digest;
      const n = cairnErrorOf(() => readRunArtifact(s, "0123456789abcdef", "plan", never));
      expect([n.code, n.message, n.details]).toEqual(["E_NOT_FOUND", `artifact ${never} not found`, { digest: never }]);
    } finally {
      s.close();
    }
  });
});

describe("verify, replay and the run list of a run whose manifest or plan is deleted", () => {
  it("verify and replay refuse with the remedy (not a tampering finding); runs ls names the deleted artifact", async () => {
    const { store, id, m, message } = await runThenDeleteManifest();
    // Before 2026-11-27 verify answered {ok: false} with an artifact_tampered finding, and replay the store's bare text.
    for (const call of [() => verifyRun(store, id), () => replay(store, id, "0/0")]) {
      const e = await expectCairnError(call(), "E_NOT_FOUND");
      expect([e.message, e.details]).toEqual([message, { runId: id, role: "manifest", digest: m, root: `run:${id}:manifest`, reason: "tombstoned" }]);
    }
    expect(listRuns(store).find((r) => r.runId === id)?.error).toEqual({ code: "E_NOT_FOUND", message: `its manifest cannot be read: ${message}` });
    const p = rootDigest(store, planRoot(id));
    store.delete(p);
    const planMessage = `run ${id}: its plan ${p} (run:${id}) is deleted from the store (tombstoned). ${PLAN_REMEDY}`;
    expect(listRuns(store).find((r) => r.runId === id)?.error?.message).toBe(`its plan or report cannot be read: ${planMessage}`);
    expect(cairnErrorOf(() => loadPlan(store, id)).message).toBe(planMessage);
  });
});

describe("CLI: run (the same command), resume, runs show", () => {
  it("a tombstoned manifest names the run, the manifest and the remedy (exit 1, E_NOT_FOUND); the remedy repairs the run", () => {
    const dir = scratch.dir();
    const env = { CAIRN_STORE: join(dir, "S") };
    writeFileSync(join(dir, "in.jsonl"), DATA.map((d) => `${JSON.stringify(d)}\n`).join(""));
    writeFileSync(join(dir, "f.mjs"), FN.code);
    const runArgs = ["--json", "run", "f.mjs", "--input", "in.jsonl", "--format", "jsonl", "--workers", "1"];
    const first = cairn(runArgs, { cwd: dir, env });
    expect(first.status, first.err).toBe(0);
    const { runId: id, manifestDigest: m } = JSON.parse(first.out) as { runId: string; manifestDigest: string };
    expect(cairn(["store", "rm", m], { cwd: dir, env }).status).toBe(0);
    for (const args of [runArgs, ["--json", "resume", id], ["--json", "runs", "show", id]]) {
      const r = cairn(args, { cwd: dir, env });
      expect(r.status, args.join(" ")).toBe(1);
      expect(jsonError(r)).toEqual({
        code: "E_NOT_FOUND",
        message: `run ${id}: its manifest ${m} (run:${id}:manifest) is deleted from the store (tombstoned). ${unpinRewrite(id)}`,
        details: { runId: id, role: "manifest", digest: m, root: `run:${id}:manifest`, reason: "tombstoned" },
      });
    }
    for (const root of [`run:${id}:manifest`, `run:${id}:report`]) expect(cairn(["store", "unpin", root], { cwd: dir, env }).status).toBe(0);
    expect(cairn(["resume", id], { cwd: dir, env }).status).toBe(0);
    const shown = cairn(["--json", "runs", "show", id], { cwd: dir, env });
    expect(shown.status, shown.err).toBe(0);
    expect((JSON.parse(shown.out) as Manifest).runId).toBe(id);
    expect(cairn(["verify", id], { cwd: dir, env }).status).toBe(0);
  });
});
