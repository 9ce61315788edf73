/**
 * A pulse's records artifact deleted (`store rm`) or corrupt: verify reports that
 * (artifact_tampered), and checks the output's records of the pulse's EUs against the pulse's
 * checksum (their Merkle root) instead of comparing the output with a merge missing them. Before,
 * an intact output was also reported as count_mismatch and output_mismatch ("output record 7
 * differs…", "holds more records than the pulses", "recomputed output digest … differs").
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { digestToBytes } from "../../src/core/digest.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { Scratch, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
const reopened: Store[] = [];
afterAll(() => {
  for (const s of reopened) s.close();
  scratch.cleanup();
});

// One EU fails: the failure checks run over the output's records of the unreadable pulse too.
const FN = { code: "export default (x) => { if (x.v === 4) throw new Error('four'); return { d: x.v * 2 }; };\n", name: "f.mjs" };
const DATA = Array.from({ length: 10 }, (_, v) => ({ v }));
const CONFIG = { partitions: 2, pulseSize: 3, workers: 1, allowFailures: true, retries: 0 };
type Pulse = Manifest["pulses"][number];

async function finished(): Promise<{ store: Store; dir: string; id: string; m: Manifest }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, FN, CONFIG);
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, dir, id: r.runId, m: manifestOf(store, r.runId) };
}

/** The pulse holding the failed EU (v = 4). */
function failingPulse(m: Manifest): Pulse {
  const p = m.pulses.find((x) => x.failed === 1);
  expect(p).toBeDefined();
  return p as Pulse;
}

describe("verify with a pulse's records unreadable", () => {
  it("deleted: only the artifact_tampered finding; the output's records for its EUs are checked against its checksum", async () => {
    const { store, id, m } = await finished();
    const p = failingPulse(m);
    const name = `${p.partition}/${p.index}`;
    store.delete(p.records);
    for (const reexecute of [false, true]) {
      const rep = await verifyRun(store, id, { reexecute });
      // One finding with --reexecute too (two, the second "cannot re-execute: …", before 2026-11-27).
      expect(rep.problems.map((x) => [x.code, x.pulse])).toEqual([["artifact_tampered", name]]);
      expect(rep.problems[0]?.message).toContain(`pulse ${name}: records ${p.records} is deleted from the store (tombstoned)`);
      expect(rep.recordsChecked).toBe(10);
      expect(rep.unchecked).toEqual([]);
    }
  });

  it("corrupt in the catalog: the same, and an output whose records for that pulse differ is output_mismatch naming the pulse's checksum", async () => {
    const { store, dir, id, m } = await finished();
    const p = failingPulse(m);
    const name = `${p.partition}/${p.index}`;
    store.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(p.records)) as { bytes: Buffer };
      const bytes = Buffer.from(row.bytes);
      bytes[bytes.length - 2] = "}".charCodeAt(0) === bytes[bytes.length - 2] ? " ".charCodeAt(0) : "}".charCodeAt(0);
      db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(bytes, digestToBytes(p.records));
    } finally {
      db.close();
    }
    const s = openStore({ dir, durability: "normal" });
    reopened.push(s);
    const rep = await verifyRun(s, id);
    expect(rep.problems.map((x) => [x.code, x.pulse])).toEqual([["artifact_tampered", name]]);
    expect(rep.recordsChecked).toBe(10);

    // An output rewritten at one of that pulse's EUs (output digest and artifact forged to match):
    // the pulse's checksum finds it.
    const out = s.get(m.output.artifact).toString("utf8").split("\n");
    const at = out.findIndex((l) => l.startsWith('{"error":'));
    out[at] = `{"id":${JSON.parse(out[at] as string).id as number},"output":{"d":8}}`;
    const forged = s.putBytes(Buffer.from(out.join("\n")), { mediaType: "application/vnd.cairn.batch.output+jsonl" });
    repinManifest(s, id, { ...m, output: { ...m.output, artifact: forged.digest } });
    const again = await verifyRun(s, id);
    expect(again.problems).toContainEqual({
      code: "output_mismatch",
      pulse: name,
      message: expect.stringMatching(new RegExp(`^pulse ${name}: the output's records of its 3 EUs hash to sha256:[0-9a-f]{64}, not to its checksum ${p.checksum} \\(its records cannot be read to compare them with\\)$`)) as unknown as string,
    });
    expect(again.ok).toBe(false);
  });

  it("records and slice both unreadable: the output is listed as not checked, not reported as differing", async () => {
    const { store, id, m } = await finished();
    const p = m.pulses[0] as Pulse;
    const name = `${p.partition}/${p.index}`;
    store.delete(p.records);
    store.delete(p.slice);
    const rep = await verifyRun(store, id);
    expect(rep.problems.some((x) => x.code === "output_mismatch" || x.code === "count_mismatch")).toBe(false);
    expect(rep.problems.some((x) => x.code === "artifact_tampered" && x.pulse === name)).toBe(true);
    expect(rep.unchecked).toContainEqual(expect.objectContaining({ code: "output_not_checked", reason: "records_unreadable" }));
    expect(rep.ok).toBe(false);
  });
});
