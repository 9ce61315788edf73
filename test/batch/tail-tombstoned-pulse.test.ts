/**
 * A finished run's per-pulse and output artifacts tombstoned (`cairn store rm`) after the run:
 * a pulse's slice, records or attempt log, the output and the failures artifact, and a file of a
 * `files` input. verify's findings (same codes as before) and replay's, resume's (`--out`) and
 * streamOutputs' errors gave the store's bare "artifact … not found (deleted: tombstoned)"; now
 * they name the artifact's role and a remedy that is true for it (plan.ts
 * `lostRunArtifactRemedy`), and each remedy is checked to work here.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { resume, run, streamOutputs, type Progress } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { loadPlan } from "../../src/batch/plan.js";
import type { Digest } from "../../src/core/digest.js";
import { Scratch, expectCairnError, fixture, manifestOf } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

// Odd n always fails with a long message: 150 failures (more than a manifest lists inline, so a
// failures artifact) and each pulse's attempt log over the inline limit (an attempts artifact).
const FN = { code: "export default (x) => { if (x.n % 2 === 1) throw new Error(`odd ${x.n} ${'x'.repeat(200)}`); return { v: x.n * 2 }; };\n", name: "odd.mjs" };
const DATA = Array.from({ length: 300 }, (_, n) => ({ n }));
const CONFIG = { partitions: 2, pulseSize: 50, workers: 1, maxPulsesInFlight: 1, allowFailures: true };

type Pulse = Manifest["pulses"][number];
const nameOf = (p: Pulse): string => `${p.partition}/${p.index}`;
const DELETED = "is deleted from the store (tombstoned)";

function unpinResume(id: string): string {
  return `cairn store unpin run:${id}:manifest and cairn store unpin run:${id}:report, then cairn resume ${id}`;
}
const rerunPulse = (id: string): string => `To store it again, execute its pulse again: ${unpinResume(id)} (a pulse whose records or attempt log is missing is executed again, the others are reused)`;
const rerunPulseLog = (id: string): string =>
  `To store it again, execute its pulse again: ${unpinResume(id)} (a pulse whose records or attempt log is missing is executed again, the others are reused; its attempt log is stored again only if its failed attempts fail again as they did, not one that failed for a reason that does not repeat, such as a timeout or a worker crash: resume then fails with E_NONDETERMINISTIC, and the run can only be run afresh in a new store)`;
const rewrite = (id: string): string => `To write it again from the run's committed pulses: ${unpinResume(id)}`;

const RUN_AGAIN =
  "To store it again, run the same cairn run command again (it stores the same input and function bundle before anything else; the run goes on from its committed pulses, or is reported as finished)";

async function finished(): Promise<{ store: Store; dir: string; id: string; m: Manifest; manifestDigest: Digest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  const m = manifestOf(store, r.runId);
  expect(m.failuresArtifact).toBeDefined();
  expect((m.pulses[0] as Pulse).attemptsArtifact).toBeDefined();
  return { store, dir, id: r.runId, m, manifestDigest: r.manifestDigest };
}

/** The remedy that unpins both roots and resumes: the same manifest, and the run verifies again. */
async function unpinAndResume(store: Store, id: string, manifestDigest: Digest): Promise<void> {
  store.unpin(`run:${id}:manifest`);
  store.unpin(`run:${id}:report`);
  const again = await resume(store, id);
  expect(again.manifestDigest).toBe(manifestDigest);
  expect((await verifyRun(store, id, { reexecute: true })).ok).toBe(true);
}

describe("a finished run's pulse artifacts deleted since the run", () => {
  it("records: verify's artifact_tampered findings name it and the remedy, which works", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const p = m.pulses[1] as Pulse;
    const name = nameOf(p);
    store.delete(p.records);
    const plain = await verifyRun(store, id);
    expect(plain.problems).toContainEqual({ code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${p.records} ${DELETED}. ${rerunPulse(id)}` });
    // One deleted artifact, one finding: --reexecute does not report it again as "cannot
    // re-execute: …" (before 2026-11-27 it did, two findings for one artifact).
    const rex = await verifyRun(store, id, { reexecute: true });
    expect(rex.problems.filter((x) => x.code === "artifact_tampered")).toEqual([
      { code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${p.records} ${DELETED}. ${rerunPulse(id)}` },
    ]);
    expect(rex.pulsesReexecuted).toBe(m.pulses.length - 1);
    expect(plain.problems.some((x) => x.message.includes("not found (deleted"))).toBe(false);
    await unpinAndResume(store, id, manifestDigest);
    expect(store.has(p.records)).toBe(true);
  });

  it("attempt log: verify's artifact_tampered findings name it and the remedy, which works", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const p = m.pulses[0] as Pulse;
    const name = nameOf(p);
    const log = p.attemptsArtifact as Digest;
    store.delete(log);
    const want = { code: "artifact_tampered", pulse: name, message: `pulse ${name}: attempt log ${log} ${DELETED}. ${rerunPulseLog(id)}` };
    expect((await verifyRun(store, id)).problems).toContainEqual(want);
    const rex = await verifyRun(store, id, { reexecute: true });
    expect(rex.problems.filter((x) => x.code === "artifact_tampered")).toEqual([want]);
    expect(rex.pulsesReexecuted).toBe(m.pulses.length - 1);
    await unpinAndResume(store, id, manifestDigest);
    expect(store.has(log)).toBe(true);
  });

  it("slice: verify's input_mismatch and artifact_tampered findings and replay's E_NOT_FOUND name it; the remedy stores it again", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const p = m.pulses[0] as Pulse;
    const name = nameOf(p);
    store.delete(p.slice);
    const sliceRemedy = (): string => `To store it again: ${unpinResume(id)} (resume reads the input again and stores a reused pulse's missing slice again, executing nothing)`;
    const coverage = { code: "input_mismatch", pulse: name, message: `pulse ${name}: slice ${p.slice} ${DELETED}. ${sliceRemedy()}` };
    // The one finding: the EUs of the unreadable slice are not also "in no pulse" (UAT finding).
    expect((await verifyRun(store, id)).problems).toEqual([coverage]);
    const rex = await verifyRun(store, id, { reexecute: true });
    expect(rex.problems).toEqual([coverage]);
    expect(rex.pulsesReexecuted).toBe(m.pulses.length - 1);
    const e = await expectCairnError(replay(store, id, name), "E_NOT_FOUND");
    expect([e.message, e.details]).toEqual([
      `run ${id}: its slice ${p.slice} (pulse ${name}, held by run:${id}) ${DELETED}. ${sliceRemedy()}`,
      { runId: id, role: "slice", digest: p.slice, root: `run:${id}`, reason: "tombstoned", pulse: name },
    ]);
    // What the remedy says: resume stores the reused pulse's slice again.
    await unpinAndResume(store, id, manifestDigest);
    expect(store.stat(p.slice).state).toBe("present");
    expect((await replay(store, id, name)).matches).toBe(true);
  });

  it("slice of a pulse whose EU failed once and passed on retry: resume stores it again without executing the pulse (executing it again would not retry, and its receipt would conflict)", async () => {
    const { store } = scratch.store();
    const marker = join(scratch.dir(), "failed-once");
    const once = {
      name: "once.mjs",
      code: `import { existsSync, writeFileSync } from "node:fs";\nexport default (x) => { if (x.n === 7 && !existsSync(${JSON.stringify(marker)})) { writeFileSync(${JSON.stringify(marker)}, ""); throw new Error("transient"); } return x.n; };\n`,
    };
    const r = await run(store, DATA, once, { ...CONFIG, retries: 1 });
    expect(r.counts).toMatchObject({ failed: 0, retried: 1 });
    const m = manifestOf(store, r.runId);
    for (const p of m.pulses) store.delete(p.slice);
    store.unpin(`run:${r.runId}:manifest`);
    store.unpin(`run:${r.runId}:report`);
    let executed = 0;
    const again = await resume(store, r.runId, { onProgress: (pr: Progress) => (executed = pr.pulsesDone - pr.pulsesReused) });
    expect([again.manifestDigest, executed]).toEqual([r.manifestDigest, 0]);
    for (const p of m.pulses) expect(store.stat(p.slice).state).toBe("present");
    expect((await verifyRun(store, r.runId)).ok).toBe(true);
  });

});

describe("a finished run's output or failures artifact deleted since the run", () => {
  it("output: verify's finding, resume's and run's (with or without --out) and streamOutputs' E_NOT_FOUND name it; the remedy works", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const out = m.output.artifact;
    store.delete(out);
    const why = `${DELETED}. ${rewrite(id)}`;
    expect((await verifyRun(store, id)).problems).toEqual([{ code: "artifact_tampered", message: `output artifact ${out} ${why}` }]);
    const want = { message: `run ${id}: its output ${out} (held by run:${id}:manifest) ${why}`, details: { runId: id, role: "output", digest: out, root: `run:${id}:manifest`, reason: "tombstoned" } };
    const outFile = join(scratch.dir(), "out.jsonl");
    const e = await expectCairnError(resume(store, id, { outFile }), "E_NOT_FOUND");
    expect([e.message, e.details]).toEqual([want.message, want.details]);
    // Without --out too: a finished run whose output cannot be read is not reported as finished.
    const plain = await expectCairnError(resume(store, id), "E_NOT_FOUND");
    expect([plain.message, plain.details]).toEqual([want.message, want.details]);
    const again = await expectCairnError(run(store, DATA, FN, CONFIG), "E_NOT_FOUND");
    expect([again.message, again.details]).toEqual([want.message, want.details]);
    const s = await expectCairnError((async () => { for await (const r of streamOutputs(store, id)) void r; })(), "E_NOT_FOUND");
    expect([s.message, s.details]).toEqual([want.message, want.details]);
    await unpinAndResume(store, id, manifestDigest);
    await resume(store, id, { outFile });
    expect(readFileSync(outFile, "utf8").split("\n").length).toBe(DATA.length + 1);
  });

  it("failures artifact: verify's finding names it and the remedy, which works", async () => {
    const { store, id, m, manifestDigest } = await finished();
    const f = m.failuresArtifact as Digest;
    store.delete(f);
    expect((await verifyRun(store, id)).problems).toEqual([{ code: "artifact_tampered", message: `failures artifact ${f} ${DELETED}. ${rewrite(id)}` }]);
    await unpinAndResume(store, id, manifestDigest);
    expect(store.has(f)).toBe(true);
  });
});

describe("a file of a files input deleted since the run", () => {
  function inputDir(): string {
    const dir = join(scratch.dir(), "in");
    mkdirSync(dir);
    for (let k = 0; k < 6; k++) writeFileSync(join(dir, `f${k}.txt`), "x".repeat(k + 1));
    return dir;
  }
  const FILES = { format: "files" as const, partitions: 1, pulseSize: 2, workers: 1, maxPulsesInFlight: 1 };
  const fileOf = (store: Store, id: string, k: number): Digest => {
    const listing = JSON.parse(store.get(loadPlan(store, id).plan.input.artifact).toString("utf8")) as { files: Array<[string, Digest]> };
    return (listing.files[k] as [string, Digest])[1];
  };
  const named = (id: string, d: Digest, pulse?: string): { message: string; details: Record<string, unknown> } => ({
    message: `run ${id}: its input file ${d} (${pulse === undefined ? "" : `pulse ${pulse}, `}held by run:${id}) ${DELETED}. ${RUN_AGAIN}`,
    details: { runId: id, role: "input file", digest: d, root: `run:${id}`, reason: "tombstoned", ...(pulse === undefined ? {} : { pulse }) },
  });

  it("finished run: verify's input_mismatch and replay's E_NOT_FOUND name it; the same run stores it again", async () => {
    const dir = inputDir();
    const { store } = scratch.store();
    const r = await run(store, dir, fixture("engine-bytelen.mjs"), FILES);
    const d = fileOf(store, r.runId, 0);
    store.delete(d);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    const input = loadPlan(store, r.runId).plan.input.artifact;
    expect(rep.problems).toContainEqual({ code: "input_mismatch", message: `the input artifact ${input} cannot be read back: its input file ${d} ${DELETED}. ${RUN_AGAIN}` });
    expect(rep.problems).toContainEqual({ code: "artifact_tampered", pulse: "0/0", message: `pulse 0/0: cannot re-execute: its input file ${d} ${DELETED}. ${RUN_AGAIN}` });
    const e = await expectCairnError(replay(store, r.runId, "0/0"), "E_NOT_FOUND");
    const want = named(r.runId, d, "0/0");
    expect([e.message, e.details]).toEqual([want.message, want.details]);
    const again = await run(store, dir, fixture("engine-bytelen.mjs"), FILES);
    expect([again.runId, again.reused]).toEqual([r.runId, true]);
    expect((await verifyRun(store, r.runId, { reexecute: true })).ok).toBe(true);
  });

  it("unfinished run: resume names it; the same run stores it again and finishes", async () => {
    const dir = inputDir();
    const { store: plain } = scratch.store();
    const reference = await run(plain, dir, fixture("engine-bytelen.mjs"), FILES);
    const { store } = scratch.store();
    const ac = new AbortController();
    const onProgress = (p: Progress): void => {
      if (p.pulsesDone >= 1 && !ac.signal.aborted) ac.abort(new Error("stop"));
    };
    await expectCairnError(run(store, dir, fixture("engine-bytelen.mjs"), FILES, { signal: ac.signal, onProgress }), "E_INTERRUPTED");
    const id = reference.runId;
    const d = fileOf(store, id, 5); // in the last pulse: not committed yet
    store.delete(d);
    const e = await expectCairnError(resume(store, id), "E_NOT_FOUND");
    const want = named(id, d);
    expect([e.message, e.details]).toEqual([want.message, want.details]);
    const done = await run(store, dir, fixture("engine-bytelen.mjs"), FILES);
    expect([done.runId, done.manifestDigest]).toEqual([id, reference.manifestDigest]);
  });
});

describe("a finished run's failures artifact collected by gc", () => {
  it("verify's finding says so and names the remedy, which stores its bytes again", async () => {
    const { store, dir, id, m, manifestDigest } = await finished();
    const f = m.failuresArtifact as Digest;
    // Only what no root reaches is collected: the manifest's contains edge to it dropped (as in
    // bound-verify-members.test.ts), then gc on another handle (a handle never sweeps its own writes).
    for (const e of store.edgesOfType(manifestDigest, "contains")) {
      store.pruneEdge(e.edgeId);
      store.addEdge({ from: e.from, to: e.to.filter((t) => t !== f), type: e.type, role: e.role });
    }
    store.close();
    const gc = openStore({ dir, durability: "normal" });
    expect(gc.gc({ graceMs: 0 }).swept.map((x) => x.digest)).toEqual([f]);
    gc.close();
    const after = openStore({ dir, durability: "normal" });
    try {
      const problems = (await verifyRun(after, id)).problems;
      expect(problems).toContainEqual({ code: "artifact_tampered", message: `failures artifact ${f} is deleted from the store (its bytes were collected by gc). ${rewrite(id)}` });
      after.unpin(`run:${id}:manifest`);
      after.unpin(`run:${id}:report`);
      expect((await resume(after, id)).manifestDigest).toBe(manifestDigest);
      expect(after.stat(f).state).toBe("present");
    } finally {
      after.close();
    }
  });
});
