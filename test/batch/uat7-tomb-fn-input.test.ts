/**
 * A run's function bundle or input tombstoned (`cairn store rm`) after the run: `resume`,
 * `verify` and `replay` ended in the store's bare "artifact … not found (deleted: tombstoned)"
 * from deep in the read (verify reported a deleted input as `input_mismatch`). Now E_NOT_FOUND
 * "run <id>: its <function bundle|input> <digest> (held by run:<id>) is deleted from the store
 * (tombstoned)" with the remedy, details {runId, role, digest, root, reason} (plan.ts
 * `requireRunArtifact`); the remedy is checked to work. A manifest forged to name a deleted
 * artifact is still reported as findings (review of 2026-11-27), and a pulse's records artifact
 * without its final newline is a verify finding (it was read with its last character dropped).
 */
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { resume, run, type Progress } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { loadPlan } from "../../src/batch/plan.js";
import type { Digest } from "../../src/core/digest.js";
import { RECORDS_MEDIA_TYPE } from "../../src/batch/pulse.js";
import { Scratch, expectCairnError, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => ({ v: x.n * 2 });\n", name: "fn.mjs" };
const DATA = Array.from({ length: 600 }, (_, n) => ({ n }));
const CONFIG = { partitions: 2, pulseSize: 50, workers: 1, maxPulsesInFlight: 1 };
const REMEDY =
  "To store it again, run the same cairn run command again (it stores the same input and function bundle before anything else; the run goes on from its committed pulses, or is reported as finished)";

type Role = "function bundle" | "input";

function roleDigest(store: Store, id: string, role: Role): Digest {
  const { plan } = loadPlan(store, id);
  return role === "input" ? plan.input.artifact : plan.function.artifact;
}

function expected(id: string, role: Role, digest: Digest): { message: string; details: Record<string, unknown> } {
  return {
    message: `run ${id}: its ${role} ${digest} (held by run:${id}) is deleted from the store (tombstoned). ${REMEDY}`,
    details: { runId: id, role, digest, root: `run:${id}`, reason: "tombstoned" },
  };
}

/** A run aborted after three pulses: unfinished, with committed pulses. */
async function unfinishedRun(store: Store): Promise<string> {
  const ac = new AbortController();
  const onProgress = (p: Progress): void => {
    if (p.pulsesDone >= 3 && !ac.signal.aborted) ac.abort(new Error("stop"));
  };
  const e = await expectCairnError(run(store, DATA, FN, CONFIG, { signal: ac.signal, onProgress }), "E_INTERRUPTED");
  return (e.details as { runId: string }).runId;
}

describe("a run's function bundle or input deleted since the run", () => {
  for (const role of ["function bundle", "input"] as const) {
    it(`${role}, unfinished run: resume names it and the remedy; the same run stores it again and finishes as an uninterrupted run`, async () => {
      const { store: plain } = scratch.store();
      const reference = await run(plain, DATA, FN, CONFIG);
      const { store } = scratch.store();
      const id = await unfinishedRun(store);
      expect(id).toBe(reference.runId);
      const d = roleDigest(store, id, role);
      store.delete(d);
      const want = expected(id, role, d);
      const e = await expectCairnError(resume(store, id), "E_NOT_FOUND");
      expect([e.message, e.details]).toEqual([want.message, want.details]);
      // The remedy, as said.
      const done = await run(store, DATA, FN, CONFIG);
      expect([done.runId, done.outputDigest, done.manifestDigest]).toEqual([id, reference.outputDigest, reference.manifestDigest]);
      expect((await verifyRun(store, id)).ok).toBe(true);
    });

    it(`${role}, finished run: verify${role === "function bundle" ? " and replay name" : " names"} it and the remedy (not a finding); the same run reports it as finished and restores it`, async () => {
      const { store } = scratch.store();
      const first = await run(store, DATA, FN, CONFIG);
      const id = first.runId;
      const d = roleDigest(store, id, role);
      store.delete(d);
      const want = expected(id, role, d);
      const v = await expectCairnError(verifyRun(store, id), "E_NOT_FOUND");
      expect([v.message, v.details]).toEqual([want.message, want.details]);
      if (role === "function bundle") {
        const r = await expectCairnError(replay(store, id, "0/0"), "E_NOT_FOUND");
        expect([r.message, r.details]).toEqual([want.message, want.details]);
      } else {
        // replay re-executes from the pulse's slice: it does not need the input.
        expect((await replay(store, id, "0/0")).matches).toBe(true);
      }
      const again = await run(store, DATA, FN, CONFIG);
      expect([again.runId, again.reused, again.manifestDigest]).toEqual([id, true, first.manifestDigest]);
      expect(store.has(d)).toBe(true);
      expect((await verifyRun(store, id)).ok).toBe(true);
      expect((await replay(store, id, "0/0")).matches).toBe(true);
    });
  }

  it("a manifest forged to name a deleted artifact as its function or input is reported as findings, not as the run's deleted bundle", async () => {
    const { store } = scratch.store();
    const id = (await run(store, DATA, FN, CONFIG)).runId;
    const other = store.putBytes(Buffer.from("export default () => 0;\n")).digest;
    store.delete(other);
    const m = manifestOf(store, id);
    for (const forged of [{ ...m, function: { artifact: other } }, { ...m, input: { ...m.input, artifact: other } }]) {
      repinManifest(store, id, forged);
      const report = await verifyRun(store, id);
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => p.code)).toContain("plan_mismatch");
      expect(report.problems.some((p) => p.message.includes(other))).toBe(true);
    }
  });
});

describe("verify of a pulse's records artifact without its final newline", () => {
  it("is a count_mismatch finding naming it; the last record is not cut by a character", async () => {
    const { store } = scratch.store();
    const id = (await run(store, DATA, FN, CONFIG)).runId;
    const m = manifestOf(store, id);
    const p0 = m.pulses[0] as (typeof m.pulses)[number];
    const body = store.get(p0.records).toString("utf8");
    const cut = store.putBytes(Buffer.from(body.slice(0, -1)), { mediaType: RECORDS_MEDIA_TYPE }).digest;
    repinManifest(store, id, { ...m, pulses: [{ ...p0, records: cut }, ...m.pulses.slice(1)] });
    const report = await verifyRun(store, id);
    const name = `${p0.partition}/${p0.index}`;
    expect(report.problems).toContainEqual({ code: "count_mismatch", pulse: name, message: `pulse ${name}: records artifact ${cut} does not end with a newline: its last record is cut` });
    // Its records are whole: their checksum is the pulse's (the old reading dropped the last "}").
    expect(report.problems.filter((p) => p.code === "checksum_mismatch")).toEqual([]);
  });
});
