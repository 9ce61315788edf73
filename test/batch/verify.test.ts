/**
 * verify and replay: a finished run re-checks from the store alone, tampering with a stored
 * output or pulse artifact is reported as artifact_tampered naming the artifact, and
 * re-execution (verify --reexecute, replay) reproduces the stored records.
 */
import Database from "better-sqlite3";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Store } from "../../src/index.js";
import { run, type ExecutionResult } from "../../src/batch/engine.js";
import { replay, verifyRun } from "../../src/batch/verify.js";
import { digestHex, digestToBytes, type Digest } from "../../src/core/digest.js";
import { MerkleBuilder } from "../../src/core/merkle.js";
import { OUTPUT_MEDIA_TYPE, type Manifest } from "../../src/batch/manifest.js";
import { checksumOf, leafOf } from "../../src/batch/records.js";
import { legacyPulseParams } from "../../src/batch/pulse.js";
import { Scratch, expectCairnError, fixture, manifestOf, outputsOf, pinForgedManifest } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const N = 1000;
const DATA = Array.from({ length: N }, (_, i) => ({ n: i }));
// ~200 bytes per record: the output (~200 KB) is a file under objects/, each pulse's records
// (100 EUs, ~20 KB) are packed into the catalog.
const CONFIG = { partitions: 2, pulseSize: 100, workers: 2 };

async function goodRun(): Promise<{ store: Store; dir: string; r: ExecutionResult }> {
  const { store, dir } = scratch.store();
  const r = await run(store, DATA, fixture("engine-wide.mjs"), CONFIG);
  expect(r.status).toBe("completed");
  return { store, dir, r };
}

function objectFile(dir: string, digest: Digest): string {
  const hex = digestHex(digest);
  return join(dir, "objects", hex.slice(0, 2), hex.slice(2));
}

describe("verifyRun", () => {
  let store: Store;
  let r: ExecutionResult;
  beforeAll(async () => {
    ({ store, r } = await goodRun());
  });

  it("a good run verifies", async () => {
    const m = manifestOf(store, r.runId);
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.manifestDigest).toBe(r.manifestDigest);
    expect(rep.pulsesChecked).toBe(m.pulses.length);
    expect(rep.recordsChecked).toBe(N);
    expect(rep.pulsesReexecuted).toBe(0);
  });

  it("--reexecute --sample 2 re-runs two pulses and matches", async () => {
    const rep = await verifyRun(store, r.runId, { reexecute: true, sample: 2 });
    expect(rep.problems).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.pulsesReexecuted).toBe(2);
  });

  it("replay of pulse 0/0 reproduces the stored records", async () => {
    const m = manifestOf(store, r.runId);
    const p = m.pulses.find((x) => x.partition === 0 && x.index === 0);
    expect(p).toBeDefined();
    const rp = await replay(store, r.runId, "0/0");
    expect(rp.matches).toBe(true);
    expect(rp.pulse).toEqual({ partition: 0, index: 0 });
    expect(rp.checksum).toBe(p?.checksum);
    expect(rp.storedChecksum).toBe(p?.checksum);
    const stored = store.get(p?.records as Digest).toString("utf8");
    expect(rp.records.map((t) => `${t}\n`).join("")).toBe(stored);
    expect(rp.records.length).toBe(p?.eus);
    // By position in the manifest, too.
    expect((await replay(store, r.runId, "0")).records).toEqual(rp.records);
  });

  it("unknown runs and pulses are E_NOT_FOUND", async () => {
    await expectCairnError(verifyRun(store, "0123456789abcdef"), ErrorCode.NOT_FOUND, "not found");
    await expectCairnError(replay(store, r.runId, "7/7"), ErrorCode.NOT_FOUND, 'pulse "7/7" not found');
  });
});

describe("tampering", () => {
  it("a flipped byte in the output artifact file is artifact_tampered naming the artifact", async () => {
    const { store, dir, r } = await goodRun();
    const path = objectFile(dir, r.outputArtifact);
    expect(statSync(path).size).toBeGreaterThan(64 * 1024);
    chmodSync(path, 0o644);
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0x01;
    writeFileSync(path, bytes);
    const rep = await verifyRun(store, r.runId);
    expect(rep.ok).toBe(false);
    const p = rep.problems.find((x) => x.code === "artifact_tampered");
    expect(p, JSON.stringify(rep.problems)).toBeDefined();
    expect(p?.message).toContain(r.outputArtifact);
    // The pulses themselves are intact.
    expect(rep.problems.filter((x) => x.pulse !== undefined)).toEqual([]);
  });

  it("rewritten catalog bytes of a packed pulse records artifact are artifact_tampered naming the pulse", async () => {
    const { store, dir, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const victim = m.pulses[1];
    if (victim === undefined) throw new Error("expected at least two pulses");
    expect(store.stat(victim.records).storage).toBe("packed");
    store.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    try {
      const row = db.prepare("SELECT bytes FROM artifacts WHERE digest = ?").get(digestToBytes(victim.records)) as { bytes: Buffer };
      const tampered = Buffer.from(row.bytes);
      tampered[10] = (tampered[10] as number) ^ 0x20;
      db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(tampered, digestToBytes(victim.records));
    } finally {
      db.close();
    }
    const reopened = openStore({ dir, durability: "normal" });
    try {
      const rep = await verifyRun(reopened, r.runId);
      expect(rep.ok).toBe(false);
      const name = `${victim.partition}/${victim.index}`;
      const p = rep.problems.find((x) => x.code === "artifact_tampered");
      expect(p, JSON.stringify(rep.problems)).toBeDefined();
      expect(p?.pulse).toBe(name);
      expect(p?.message).toContain(victim.records);
    } finally {
      reopened.close();
    }
  });
});

describe("the manifest against the plan and the input", () => {
  /**
   * Re-pins run:<id>:manifest to `m` (canonical), as someone with write access to the store
   * could, re-recording the run receipt for it (else the run receipt's receipt_mismatch would
   * catch every forgery here, whatever check each test is about).
   */
  function repin(store: Store, m: Manifest, runId: string = m.runId): void {
    pinForgedManifest(store, runId, m);
  }

  it("a rebuilt manifest that leaves a pulse out, its counts and output recomputed to match, is input_mismatch", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const dropped = m.pulses[m.pulses.length - 1] as Manifest["pulses"][number];
    const kept = m.pulses.slice(0, -1);
    const texts = kept
      .flatMap((p) => store.get(p.records).toString("utf8").trimEnd().split("\n"))
      .map((t) => ({ t, id: (JSON.parse(t) as { id: number }).id }))
      .sort((a, b) => a.id - b.id)
      .map((x) => x.t);
    const tree = new MerkleBuilder();
    for (const t of texts) tree.addRaw(leafOf(t));
    const output = store.putBytes(Buffer.from(texts.map((t) => `${t}\n`).join("")), { mediaType: OUTPUT_MEDIA_TYPE });
    const total = N - dropped.eus;
    repin(store, {
      ...m,
      pulses: kept,
      counts: { total, completed: total, failed: 0, retried: 0 },
      input: { ...m.input, records: total },
      output: { digest: tree.root(), artifact: output.digest, records: total },
    });
    const rep = await verifyRun(store, r.runId);
    expect(rep.ok).toBe(false);
    expect(rep.problems).toEqual([
      { code: "input_mismatch", message: `the input artifact holds ${N} records, the manifest says ${total}` },
      { code: "input_mismatch", message: expect.stringMatching(new RegExp(`^${dropped.eus} input record\\(s\\) are in no pulse \\(e\\.g\\. EU id \\d+\\)$`)) as unknown as string },
    ]);
  });

  it("another run's genuine manifest pinned for this run is plan_mismatch", async () => {
    const { store, r } = await goodRun();
    const other = await run(store, DATA.slice(0, 50), fixture("engine-wide.mjs"), CONFIG);
    repin(store, { ...manifestOf(store, other.runId), runId: other.runId } as Manifest & { runId: string }, r.runId);
    const rep = await verifyRun(store, r.runId);
    expect(rep.ok).toBe(false);
    expect(rep.problems).toEqual([
      { code: "plan_mismatch", message: `the manifest pinned for run ${r.runId} describes run ${other.runId}` },
      { code: "plan_mismatch", message: expect.stringMatching(/^the manifest differs from the run's pinned plan sha256:[0-9a-f]{64} in: plan sha256:[0-9a-f]{64} \(pinned: sha256:[0-9a-f]{64}\), input$/) as unknown as string },
    ]);
  });

  it("a pulse whose slice is not a slice (another artifact) is input_mismatch, not a crash", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    repin(store, { ...m, pulses: [{ ...p0, slice: m.output.artifact }, ...m.pulses.slice(1)] });
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toContainEqual({ code: "input_mismatch", pulse: `${p0.partition}/${p0.index}`, message: expect.stringContaining(`slice ${m.output.artifact}: `) as unknown as string });
    expect(rep.problems.map((p) => p.code)).toContain("receipt_mismatch");
  });

  it("a pulse committed with the receipt params of before the heap limit joined them still verifies", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    const old = store.recordReceipt({ program: m.function.artifact, inputs: [p0.slice], params: legacyPulseParams(m.config), outputs: [p0.records], status: "succeeded", resources: { eus: p0.eus, completed: p0.eus, failed: 0, retried: 0 } });
    repin(store, { ...m, pulses: [{ ...p0, receipt: old.digest }, ...m.pulses.slice(1)] });
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toEqual([]);
    // Any other params are still a receipt_mismatch.
    const wrong = store.recordReceipt({ program: m.function.artifact, inputs: [p0.slice], params: { ...legacyPulseParams(m.config), seed: "x" }, outputs: [p0.records], status: "succeeded" });
    repin(store, { ...m, pulses: [{ ...p0, receipt: wrong.digest }, ...m.pulses.slice(1)] });
    expect((await verifyRun(store, r.runId)).problems.map((p) => p.code)).toEqual(["receipt_mismatch"]);
  });

  it("a pulse whose records are not its slice's EUs (an EU swapped for another id, receipt and checksum forged to match) is output_mismatch", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    const texts = store.get(p0.records).toString("utf8").trimEnd().split("\n");
    const firstId = (JSON.parse(texts[1] as string) as { id: number }).id;
    texts[1] = (texts[1] as string).replace(`{"id":${firstId},`, '{"id":999999,');
    const records = store.putBytes(Buffer.from(texts.map((t) => `${t}\n`).join("")), { mediaType: "application/vnd.cairn.batch.records+jsonl" });
    const receipt = store.recordReceipt({ program: m.function.artifact, inputs: [p0.slice], params: legacyPulseParams(m.config), outputs: [records.digest], status: "succeeded" });
    repin(store, { ...m, pulses: [{ ...p0, records: records.digest, receipt: receipt.digest, checksum: checksumOf(texts) }, ...m.pulses.slice(1)] });
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toContainEqual({
      code: "output_mismatch",
      pulse: `${p0.partition}/${p0.index}`,
      message: `pulse ${p0.partition}/${p0.index}: its records are not its slice's EUs in order (position 1: slice ${firstId}, records 999999)`,
    });
  });

  it("a manifest that hides a failure (counts, pulse counts and failures list rewritten) is count_mismatch", async () => {
    const { store } = scratch.store();
    const code = "export default (x) => { if (x.n === 3) throw new Error('three'); return x.n; };\n";
    const r = await run(store, Array.from({ length: 10 }, (_, n) => ({ n })), { code, name: "f.mjs" }, { partitions: 2, pulseSize: 4, retries: 0, allowFailures: true });
    expect(r.counts.failed).toBe(1);
    const m = manifestOf(store, r.runId);
    repin(store, { ...m, counts: { ...m.counts, completed: 10, failed: 0 }, failures: [], pulses: m.pulses.map((p) => ({ ...p, completed: p.eus, failed: 0 })) });
    const codes = (await verifyRun(store, r.runId)).problems.map((p) => p.code);
    expect(codes.filter((c) => c === "count_mismatch").length).toBeGreaterThanOrEqual(3); // the pulse, the counts, the failures list
    expect(codes.every((c) => c === "count_mismatch")).toBe(true);
  });

  it("an attempt log that is not its receipt's (attempts dropped, retried adjusted) is receipt_mismatch", async () => {
    const { store } = scratch.store();
    const code = "export default (x, ctx) => { if (x.n === 2 && ctx.attempt === 1) throw new Error('once'); return x.n; };\n";
    const r = await run(store, Array.from({ length: 6 }, (_, n) => ({ n })), { code, name: "f.mjs" }, { partitions: 1, pulseSize: 6, retries: 1 });
    expect(r.counts.retried).toBe(1);
    const m = manifestOf(store, r.runId);
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    expect((await verifyRun(store, r.runId)).problems).toEqual([]);
    repin(store, { ...m, counts: { ...m.counts, retried: 0 }, pulses: [{ ...p0, attempts: [] }] });
    expect((await verifyRun(store, r.runId)).problems).toEqual([{ code: "receipt_mismatch", pulse: "0/0", message: "pulse 0/0: its attempt log is not the one its receipt records" }]);
  });

  it("records with ids of the wrong kind or failures without a code are artifact_tampered, not a crash", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    const p0 = m.pulses[0] as Manifest["pulses"][number];
    for (const bad of ['{"id":"a","output":1}', '{"error":{"code":"E","message":"m"}}', '{"error":{"message":"m"},"id":1}']) {
      const texts = store.get(p0.records).toString("utf8").trimEnd().split("\n");
      texts[0] = bad;
      const records = store.putBytes(Buffer.from(texts.map((t) => `${t}\n`).join("")), { mediaType: "application/vnd.cairn.batch.records+jsonl" });
      repin(store, { ...m, pulses: [{ ...p0, records: records.digest }, ...m.pulses.slice(1)] });
      const rep = await verifyRun(store, r.runId);
      expect(rep.problems).toContainEqual({ code: "artifact_tampered", pulse: `${p0.partition}/${p0.index}`, message: expect.stringContaining("hold a line that is not a record") as unknown as string });
    }
  });

  it("a manifest whose config differs from the run's pinned plan is plan_mismatch", async () => {
    const { store, r } = await goodRun();
    const m = manifestOf(store, r.runId);
    repin(store, { ...m, config: { ...m.config, allowFailures: !m.config.allowFailures } });
    const rep = await verifyRun(store, r.runId);
    expect(rep.problems).toEqual([{ code: "plan_mismatch", message: `the manifest differs from the run's pinned plan ${m.plan} in: config` }]);
  });
});

describe("re-execution of special runs", () => {
  it("reexecute reproduces pulses with retries, failures and worker crashes", async () => {
    const { store } = scratch.store();
    const data = Array.from({ length: 40 }, (_, i) => ({ v: i, fail: i === 7, flaky: i % 6 === 2 }));
    const r1 = await run(store, data, fixture("engine-throws.mjs"), { partitions: 2, pulseSize: 8, workers: 2, allowFailures: true });
    expect(r1.counts.failed).toBe(1);
    expect(r1.counts.retried).toBeGreaterThan(1);
    const v1 = await verifyRun(store, r1.runId, { reexecute: true });
    expect(v1.problems).toEqual([]);
    expect(v1.pulsesReexecuted).toBe(manifestOf(store, r1.runId).pulses.length);

    const crash = Array.from({ length: 10 }, (_, i) => ({ v: i, exit: i === 4 }));
    const r2 = await run(store, crash, fixture("engine-crash.mjs"), { partitions: 1, pulseSize: 10, workers: 1, retries: 1, allowFailures: true });
    expect(r2.failures.map((f) => f.code)).toEqual([ErrorCode.WORKER_CRASHED]);
    const v2 = await verifyRun(store, r2.runId, { reexecute: true });
    expect(v2.problems).toEqual([]);
    expect((await replay(store, r2.runId, "0/0")).matches).toBe(true);
  });

  it("reexecute reads a files-format run's inputs back from their artifacts", async () => {
    const dir = join(scratch.dir(), "in");
    mkdirSync(dir);
    for (let i = 0; i < 6; i++) writeFileSync(join(dir, `f${i}.bin`), Buffer.alloc(i * 3, i));
    const { store } = scratch.store();
    const r = await run(store, dir, fixture("engine-bytelen.mjs"), { format: "files", partitions: 2, pulseSize: 2, workers: 1 });
    const v = await verifyRun(store, r.runId, { reexecute: true });
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
  });
});

describe("inputs reach the function in canonical form, as a replay sees them", () => {
  it("keys in canonical order and -0 as 0, in the run and in verify --reexecute alike", async () => {
    const { store } = scratch.store();
    const input = scratch.text('{"z":-0,"b":[1,{"y":2,"x":1}],"a":"é"}\n{"a":1}\n', "keys.jsonl");
    const r = await run(store, input, fixture("engine-keys.mjs"), { partitions: 1, workers: 1, format: "jsonl" });
    expect(r.status).toBe("completed");
    const out = await outputsOf(store, r.runId);
    expect(out.map((o) => o.output)).toEqual([
      { keys: ["a", "b", "z"], negZero: false, text: '{"a":"é","b":[1,{"x":1,"y":2}],"z":0}' },
      { keys: ["a"], negZero: false, text: '{"a":1}' },
    ]);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.problems).toEqual([]);
    expect(rep.pulsesReexecuted).toBe(1);
  });
});

describe("a module that replaces JSON.parse", () => {
  it("cannot change the inputs its function receives: the run and verify --reexecute agree", async () => {
    const { store } = scratch.store();
    const input = scratch.text('[1,2]\n{"a":[3,4]}\n[5]\n', "arrays.jsonl");
    const r = await run(store, input, fixture("engine-patches-json.mjs"), { partitions: 1, workers: 1, format: "jsonl" });
    expect(r.status).toBe("completed");
    expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([{ seen: [1, 2] }, { seen: { a: [3, 4] } }, { seen: [5] }]);
    const rep = await verifyRun(store, r.runId, { reexecute: true });
    expect(rep.problems).toEqual([]);
  });
});

describe("a module that replaces JSON.stringify", () => {
  it("cannot change its record texts: outputs are canonicalised with the original", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ n: 1 }, { n: 2 }], fixture("engine-patches-stringify.mjs"), { partitions: 1, workers: 1 });
    expect(r.status).toBe("completed");
    expect((await outputsOf(store, r.runId)).map((o) => o.output)).toEqual([{ k: "é\n", s: "x1" }, { k: "é\n", s: "x2" }]);
    expect((await verifyRun(store, r.runId, { reexecute: true })).problems).toEqual([]);
  });
});
