/**
 * verify with a pulse's records unreadable (2026-11-27 review of the fallback that checks the
 * output's records against the pulse's checksum):
 * - the output unreadable too: before, the merge missing that pulse's records was compared with
 *   the manifest ("the manifest lists 1 failures, the output holds 0 failed records", "recomputed
 *   output digest … differs"); now an `output_not_checked` note, and only the two findings;
 * - the leaves held for such pulses are capped (MAX_UNREADABLE_LEAF_BYTES): past the cap, the
 *   output is not compared (`output_not_checked`, E_LIMIT_EXCEEDED), where they grew unbounded;
 * - the note says what stopped the placing (a slice deleted, not a slice, ids of the wrong kind),
 *   where it said "records and slice cannot be read" for all of them.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { MAX_UNREADABLE_LEAF_BYTES, verifyRun, verifyRunCapped } from "../../src/batch/verify.js";
import { canonicalize } from "../../src/core/canonical.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { Scratch, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

// One EU fails, so that the failures list depends on the unreadable pulse's records.
const FN = { code: "export default (x) => { if (x.v === 4) throw new Error('four'); return { d: x.v * 2 }; };\n", name: "f.mjs" };
const DATA = Array.from({ length: 10 }, (_, v) => ({ v }));
const CONFIG = { partitions: 2, pulseSize: 3, workers: 1, allowFailures: true, retries: 0 };
type Pulse = Manifest["pulses"][number];

async function finished(): Promise<{ store: Store; id: string; m: Manifest }> {
  const { store } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, id: r.runId, m: manifestOf(store, r.runId) };
}

function failingPulse(m: Manifest): Pulse {
  const p = m.pulses.find((x) => x.failed === 1);
  expect(p).toBeDefined();
  return p as Pulse;
}

const nameOf = (p: Pulse): string => `${p.partition}/${p.index}`;

describe("verify: a pulse's records unreadable", () => {
  it("and the output unreadable too: the two findings and an output_not_checked note, no spurious count or digest mismatch", async () => {
    const { store, id, m } = await finished();
    const p = failingPulse(m);
    store.delete(p.records);
    store.delete(m.output.artifact);
    const rep = await verifyRun(store, id);
    expect(rep.problems.map((x) => [x.code, x.pulse])).toEqual([
      ["artifact_tampered", nameOf(p)],
      ["artifact_tampered", undefined],
    ]);
    expect(rep.problems[1]?.message).toContain(`output artifact ${m.output.artifact}`);
    expect(rep.unchecked).toEqual([
      {
        code: "output_not_checked",
        reason: "records_unreadable",
        message: `the output ${m.output.artifact} cannot be read, and pulse ${nameOf(p)}'s records cannot be read either: the pulses' records merged lack its EUs', so the output digest, the count of failed records and the failures list were not compared with them`,
      },
    ]);
    expect(rep.ok).toBe(false);
  });

  it("past the cap on the leaves held: the output is not compared (E_LIMIT_EXCEEDED), not a finding", async () => {
    const { store, id, m } = await finished();
    expect(MAX_UNREADABLE_LEAF_BYTES).toBe(64 * 1024 * 1024);
    const [a, b] = [m.pulses[0] as Pulse, m.pulses[1] as Pulse];
    store.delete(a.records);
    store.delete(b.records);
    // Room for the first pulse's leaves (32 bytes an EU), not the second's.
    const rep = await verifyRunCapped(store, id, {}, a.eus * 32);
    expect(rep.problems.map((x) => [x.code, x.pulse])).toEqual([
      ["artifact_tampered", nameOf(a)],
      ["artifact_tampered", nameOf(b)],
    ]);
    expect(rep.unchecked).toEqual([
      {
        code: "output_not_checked",
        reason: "E_LIMIT_EXCEEDED",
        message: `the output ${m.output.artifact} was not compared with the pulses' records: pulse ${nameOf(b)}'s records cannot be read, and the output's records of its ${b.eus} EUs would take the leaves held for such pulses past ${a.eus * 32} bytes (MAX_UNREADABLE_LEAF_BYTES)`,
      },
    ]);
    // Under the cap both are checked against their checksums.
    const full = await verifyRunCapped(store, id, {}, (a.eus + b.eus) * 32);
    expect(full.unchecked).toEqual([]);
    expect(full.recordsChecked).toBe(10);
  });

  it("the note says why the pulse's EUs could not be placed: its slice deleted, not a slice, or ids of the wrong kind", async () => {
    const { store, id, m } = await finished();
    const p = m.pulses[0] as Pulse;
    store.delete(p.records);
    const noteOf = async (): Promise<string | undefined> => {
      const rep = await verifyRun(store, id);
      expect(rep.ok).toBe(false);
      expect(rep.problems.some((x) => x.code === "output_mismatch" || x.code === "count_mismatch")).toBe(false);
      const notes = rep.unchecked.filter((n) => n.code === "output_not_checked");
      expect(notes).toHaveLength(1);
      return notes[0]?.message;
    };
    const lead = `the output ${m.output.artifact} was not compared with the pulses' records: pulse ${nameOf(p)}'s records cannot be read, and`;

    // A slice of string ids where the run's ids are record indexes (manifest re-pinned to it).
    const slice = JSON.parse(store.get(p.slice).toString("utf8")) as { eus: Array<{ id: unknown }> };
    const stringIds = store.putBytes(Buffer.from(canonicalize({ ...slice, eus: slice.eus.map((e) => ({ ...e, id: `x${String(e.id)}` })) })), { mediaType: "application/json" });
    const withSlice = (d: string): Manifest => ({ ...m, pulses: m.pulses.map((q) => (q === p ? { ...q, slice: d } : q)) }) as Manifest;
    repinManifest(store, id, withSlice(stringIds.digest));
    expect(await noteOf()).toBe(`${lead} its slice ${stringIds.digest} holds ids that are not record indexes`);

    const notSlice = store.putBytes(Buffer.from('{"kind":"something else"}'), { mediaType: "application/json" });
    repinManifest(store, id, withSlice(notSlice.digest));
    expect(await noteOf()).toBe(`${lead} its slice ${notSlice.digest} is not a batch slice`);

    const notJson = store.putBytes(Buffer.from("not json"), { mediaType: "application/json" });
    repinManifest(store, id, withSlice(notJson.digest));
    expect(await noteOf()).toBe(`${lead} its slice ${notJson.digest} is not a batch slice`);

    repinManifest(store, id, m);
    store.delete(p.slice);
    expect(await noteOf()).toBe(`${lead} its slice ${p.slice} cannot be read either`);
  });
});
