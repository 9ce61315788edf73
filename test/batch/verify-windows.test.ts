/**
 * verify reads each pulse's records artifact a window at a time (`RecordWindows`, 1 MiB), so it
 * holds one window of records, not a pulse's. A pulse's records still join verify's ordering
 * index all or none, as when it read them whole: a line that is not a record, or an id already
 * there, in a later window keeps the earlier windows' records out too (the output comparison
 * then differs from the pulse's first record on). Findings quote records cut at 2000 characters.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { Scratch, manifestOf, repinManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

// Records of ~20 KB: a pulse of 100 holds ~2 MB, two windows or more.
const CODE = "export default (x) => `${x.n}:`.padEnd(20000, 'x');\n";

async function twoPulses(): Promise<{ store: Store; m: Manifest; output: string[] }> {
  const { store } = scratch.store();
  const r = await run(store, Array.from({ length: 200 }, (_, n) => ({ n })), { code: CODE, name: "f.mjs" }, { partitions: 1, pulseSize: 100 });
  expect(r.status).toBe("completed");
  const m = manifestOf(store, r.runId);
  expect(m.pulses.map((p) => [p.partition, p.index, p.eus])).toEqual([[0, 0, 100], [0, 1, 100]]);
  expect(store.stat((m.pulses[0] as Manifest["pulses"][number]).records).size).toBeGreaterThan(1024 * 1024);
  expect((await verifyRun(store, r.runId)).problems).toEqual([]);
  return { store, m, output: store.get(r.outputArtifact).toString("utf8").trimEnd().split("\n") };
}

/** Re-pins the run's manifest with pulse `k`'s records replaced by `texts`. */
function forgeRecords(store: Store, m: Manifest, k: number, texts: string[]): void {
  const records = store.putBytes(Buffer.from(texts.map((t) => `${t}\n`).join("")), { mediaType: "application/vnd.cairn.batch.records+jsonl" });
  repinManifest(store, m.runId, { ...m, pulses: m.pulses.map((p, j) => (j === k ? { ...p, records: records.digest } : p)) });
}

describe("verify reads a pulse's records a window at a time", () => {
  it("a last line that is not a record keeps the whole pulse out of the merge, not only its last window", async () => {
    const { store, m, output } = await twoPulses();
    const texts = output.slice(0, 100);
    texts[99] = "not a record";
    forgeRecords(store, m, 0, texts);
    const rep = await verifyRun(store, m.runId);
    expect(rep.problems).toContainEqual({ code: "artifact_tampered", pulse: "0/0", message: expect.stringContaining("hold a line that is not a record") as unknown as string });
    // Both records cut at 2000 characters (they are 20 KB each).
    expect(rep.problems).toContainEqual({ code: "output_mismatch", message: `output record 0 differs from the merged pulse records: ${(output[0] as string).slice(0, 2000)}… vs ${(output[100] as string).slice(0, 2000)}…` });
    expect(rep.recordsChecked).toBe(100);
  });

  it("an id already merged in a later window keeps the whole pulse out of the merge", async () => {
    const { store, m, output } = await twoPulses();
    const texts = output.slice(100, 200);
    texts[99] = output[0] as string; // EU 0 again, at the end of pulse 0/1
    forgeRecords(store, m, 1, texts);
    const rep = await verifyRun(store, m.runId);
    expect(rep.problems).toContainEqual({ code: "output_mismatch", pulse: "0/1", message: "pulse 0/1: duplicate EU output without a duplicate id" });
    expect(rep.problems).toContainEqual({ code: "output_mismatch", message: "output artifact holds more records than the pulses (100)" });
    expect(rep.recordsChecked).toBe(100);
  });

  it("a last record without its newline is read and reported, as when the pulse was read whole", async () => {
    const { store, m, output } = await twoPulses();
    const texts = output.slice(100, 200);
    const records = store.putBytes(Buffer.from(`${texts.join("\n")}`), { mediaType: "application/vnd.cairn.batch.records+jsonl" });
    repinManifest(store, m.runId, { ...m, pulses: m.pulses.map((p, j) => (j === 1 ? { ...p, records: records.digest } : p)) });
    const rep = await verifyRun(store, m.runId);
    expect(rep.problems.filter((p) => p.pulse === "0/1")).toEqual([
      { code: "count_mismatch", pulse: "0/1", message: `pulse 0/1: records artifact ${records.digest} does not end with a newline: its last record is cut` },
      { code: "receipt_mismatch", pulse: "0/1", message: `pulse 0/1: receipt ${(m.pulses[1] as Manifest["pulses"][number]).receipt} does not record function → slice ⇒ records` },
    ]);
    expect(rep.recordsChecked).toBe(200);
  });

  it("--reexecute names a differing record cut at 2000 characters, not whole", async () => {
    const { store } = scratch.store();
    const dir = scratch.dir();
    const pad = join(dir, "pad.txt");
    writeFileSync(pad, "x");
    // A function that reads a file (the sandbox does not stop fs): changing it makes the re-execution differ.
    const code = `import { readFileSync } from "node:fs";\nexport default (x) => readFileSync(${JSON.stringify(pad)}, "utf8").repeat(50_000) + x.n;\n`;
    const r = await run(store, [{ n: 0 }, { n: 1 }], { code, name: "f.mjs" }, { partitions: 1, pulseSize: 2 });
    expect(r.status).toBe("completed");
    writeFileSync(pad, "y");
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    const diff = rep.problems.find((p) => p.code === "reexecution_mismatch");
    expect(diff?.message).toBe(`pulse 0/0: EU record 0 differs on re-execution:\n  stored:      {"id":0,"output":"${"x".repeat(2000 - 18)}…\n  re-executed: {"id":0,"output":"${"y".repeat(2000 - 18)}…`);
  });

  it("a line that is not a record is named for what it is: not an object, other members, bytes not a string", async () => {
    const { store, m, output } = await twoPulses();
    const cases: Array<[string, string]> = [
      ["null", "a line that is not a JSON object: null"],
      ["[1]", "a line that is not a JSON object: [1]"],
      ['{"id":0}', "a record with the members id (a record has id and output, id and bytes, or id and error)"],
      ['{"id":0,"output":1,"x":2}', "a record with the members id, output, x (a record has id and output, id and bytes, or id and error)"],
      ['{"bytes":1,"id":0}', "a bytes record of id 0 whose bytes are not a string"],
      ['{"error":null,"id":0}', "a failure record of id 0 without a code and a message"],
      ['{"id":-1,"output":1}', "a record with the id -1"],
    ];
    for (const [line, why] of cases) {
      const texts = output.slice(0, 100);
      texts[0] = line;
      forgeRecords(store, m, 0, texts);
      const rep = await verifyRun(store, m.runId);
      const digest = manifestOf(store, m.runId).pulses[0]?.records as string;
      expect(rep.problems).toContainEqual({ code: "artifact_tampered", pulse: "0/0", message: `pulse 0/0: records ${digest} hold a line that is not a record: ${why}` });
    }
  });

  it("a record whose id is not its slice's names both ids cut at 256 characters", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ k: "a" }, { k: "b" }], { code: "export default (x) => x.k;\n", name: "f.mjs" }, { partitions: 1, pulseSize: 2, idField: "k" });
    expect(r.status).toBe("completed");
    const m = manifestOf(store, r.runId);
    const long = "z".repeat(1000);
    forgeRecords(store, m, 0, ['{"id":"a","output":"a"}', `{"id":"${long}","output":"b"}`]);
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toContainEqual({
      code: "output_mismatch",
      pulse: "0/0",
      message: `pulse 0/0: its records are not its slice's EUs in order (position 1: slice "b", records "${"z".repeat(255)}… (1002 characters))`,
    });
  });
});
