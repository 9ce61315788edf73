/**
 * The PLEX determinism guarantees through the whole engine: one output digest (and one output
 * artifact) whatever the partitions, pulse size, worker count and pulses in flight; output in
 * EU-id order; the sandbox's clocks and entropy; reduce; exhaustiveness.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, canonicalBytes, partitionOf } from "../../src/index.js";
import { sliceEUs } from "../../src/batch/verify.js";
import { run, type ExecutionResult } from "../../src/batch/engine.js";
import type { RunConfigInput } from "../../src/batch/config.js";
import type { FunctionSource } from "../../src/batch/runner.js";
import { Scratch, expectCairnError, fixture, manifestOf, outputsOf, shuffled } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const N = 500;
const RECORDS = Array.from({ length: N }, (_, i) => ({ n: i, s: `text-${i}`, tags: [i % 3, i % 7], ok: i % 2 === 0 }));

interface Done {
  result: ExecutionResult;
  outputBytes: Buffer;
}

/** Runs on a FRESH store (so no pulse is reused from another config's receipts). */
async function runFresh(dataset: string | unknown[], module: FunctionSource, config: RunConfigInput): Promise<Done> {
  const { store } = scratch.store();
  const result = await run(store, dataset, module, config);
  return { result, outputBytes: store.get(result.outputArtifact) };
}

const MATRIX: RunConfigInput[] = [
  { partitions: 1, pulseSize: 1000, workers: 1, maxPulsesInFlight: 1 },
  { partitions: 1, pulseSize: 7, workers: 2, maxPulsesInFlight: 4 },
  { partitions: 3, pulseSize: 1, workers: 2, maxPulsesInFlight: 4 },
  { partitions: 3, pulseSize: 64, workers: 1, maxPulsesInFlight: 1 },
  { partitions: 3, pulseSize: 1000, workers: 2, maxPulsesInFlight: 1 },
  { partitions: 16, pulseSize: 1, workers: 1, maxPulsesInFlight: 4 },
  { partitions: 16, pulseSize: 7, workers: 2, maxPulsesInFlight: 1 },
  { partitions: 16, pulseSize: 64, workers: 2, maxPulsesInFlight: 4 },
  { partitions: 16, pulseSize: 1000, workers: 1, maxPulsesInFlight: 4 },
];

describe("determinism matrix (entropy-reading module, 500 JSONL records)", () => {
  let input: string;
  let reference: Done;
  const seen = new Set<string>();

  beforeAll(async () => {
    input = scratch.jsonl(RECORDS);
    reference = await runFresh(input, fixture("engine-entropy.mjs"), MATRIX[0] as RunConfigInput);
  });

  it("the reference run completes every EU, with index ids 0..n-1 in numeric order", async () => {
    const r = reference.result;
    expect(r.status).toBe("completed");
    expect(r.counts).toEqual({ total: N, completed: N, failed: 0, retried: 0 });
    const lines = reference.outputBytes.toString("utf8").split("\n");
    expect(lines.pop()).toBe("");
    const ids = lines.map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toEqual(Array.from({ length: N }, (_, i) => i)); // 256 after 255, 100 after 99: numeric, not byte order
  });

  it.each(MATRIX.slice(1).map((c) => [JSON.stringify(c), c] as const))("config %s gives the same output digest and bytes", async (_name, config) => {
    const d = await runFresh(input, fixture("engine-entropy.mjs"), config);
    expect(d.result.status).toBe("completed");
    expect(d.result.counts).toEqual(reference.result.counts);
    expect(d.result.outputDigest).toBe(reference.result.outputDigest);
    expect(d.result.outputArtifact).toBe(reference.result.outputArtifact);
    expect(d.outputBytes.equals(reference.outputBytes)).toBe(true);
    // The configs are genuinely different runs.
    expect(seen.has(d.result.runId)).toBe(false);
    expect(d.result.runId).not.toBe(reference.result.runId);
    seen.add(d.result.runId);
  });

  it("the outputs really used the neutralised clocks and per-EU entropy", () => {
    const lines = reference.outputBytes.toString("utf8").trimEnd().split("\n");
    const outs = lines.map((l) => (JSON.parse(l) as { output: { now: number; iso: string; perf: number; random: number[]; uuid: string; attempt: number } }).output);
    expect(new Set(outs.map((o) => o.now))).toEqual(new Set([0]));
    expect(new Set(outs.map((o) => o.iso))).toEqual(new Set(["1970-01-01T00:00:00.000Z"]));
    expect(new Set(outs.map((o) => o.perf))).toEqual(new Set([0]));
    expect(new Set(outs.map((o) => o.attempt))).toEqual(new Set([1]));
    expect(new Set(outs.map((o) => o.uuid)).size).toBe(N);
    expect(new Set(outs.map((o) => o.random[0])).size).toBe(N);
  });
});

describe("--id-field ordering", () => {
  const KEYED = Array.from({ length: 300 }, (_, i) => ({ key: `a${i}`, v: i }));

  it("string ids in shuffled input order come out in byte order of their canonical JSON, identically on every config", async () => {
    const input = scratch.jsonl(shuffled(KEYED));
    const a = await runFresh(input, fixture("engine-entropy.mjs"), { idField: "key", partitions: 1, pulseSize: 1000, workers: 1 });
    const b = await runFresh(input, fixture("engine-entropy.mjs"), { idField: "key", partitions: 16, pulseSize: 7, workers: 2, maxPulsesInFlight: 4 });
    expect(a.result.counts.completed).toBe(300);
    expect(b.result.outputDigest).toBe(a.result.outputDigest);
    expect(b.outputBytes.equals(a.outputBytes)).toBe(true);

    const { store } = scratch.store();
    const r = await run(store, input, fixture("engine-entropy.mjs"), { idField: "key", partitions: 3, pulseSize: 64, workers: 2 });
    expect(r.outputDigest).toBe(a.result.outputDigest);
    const ids = (await outputsOf(store, r.runId)).map((o) => o.id);
    expect(ids.slice(0, 5)).toEqual(["a0", "a1", "a10", "a100", "a101"]);
    expect(ids.indexOf("a10")).toBeLessThan(ids.indexOf("a2"));
    const expected = KEYED.map((k) => k.key).sort((x, y) => Buffer.compare(canonicalBytes(x), canonicalBytes(y)));
    expect(ids).toEqual(expected);
  });

  it("the output does not depend on the input order when ids are given", async () => {
    const sortedInput = scratch.jsonl(KEYED);
    const shuffledInput = scratch.jsonl(shuffled(KEYED, 99));
    const a = await runFresh(sortedInput, fixture("engine-entropy.mjs"), { idField: "key", workers: 2 });
    const b = await runFresh(shuffledInput, fixture("engine-entropy.mjs"), { idField: "key", workers: 2 });
    expect(a.result.runId).not.toBe(b.result.runId);
    expect(b.result.outputDigest).toBe(a.result.outputDigest);
    expect(b.outputBytes.equals(a.outputBytes)).toBe(true);
  });

  it("integer ids from --id-field are ordered by canonical bytes too (\"10\" < \"9\")", async () => {
    const recs = shuffled(Array.from({ length: 20 }, (_, i) => ({ k: i * 5, v: i })));
    const { store } = scratch.store();
    const r = await run(store, scratch.jsonl(recs), fixture("engine-pure.mjs"), { idField: "k", workers: 1, partitions: 4, pulseSize: 3 });
    const ids = (await outputsOf(store, r.runId)).map((o) => o.id);
    expect(ids.slice(0, 4)).toEqual([0, 10, 15, 20]);
    expect(ids).toEqual([...recs.map((x) => x.k)].sort((x, y) => Buffer.compare(canonicalBytes(x), canonicalBytes(y))));
  });
});

const PINNED = {
  firstRecord: '{"id":0,"output":{"id":0,"r":0.7266257140865152,"t":0,"u":"730b80f5-eda1-4f91-a88d-1244cf07b9a6","x":{"a":1}}}',
  outputDigest: "sha256:94042010db3e3d3ae8359834233044e2f8a31e1d1ef8b87f2fa4433c86446d35",
  runId: "ddaffa3842e11442",
  manifestDigest: "sha256:3d946e9b6dfff72105d338e15c998398802a6461b003b3d4ef383c4d55879497",
};

describe("async functions", () => {
  it("outputs of an async function with real timers land in EU-id order with one digest", async () => {
    const code = [
      "export default async (x, ctx) => {",
      "  const before = Math.random();",
      "  await new Promise((r) => setTimeout(r, (x.n * 7) % 4));",
      "  return { id: ctx.id, before, after: Math.random(), now: Date.now() };",
      "};",
    ].join("\n");
    const data = Array.from({ length: 120 }, (_, i) => ({ n: i }));
    const a = await runFresh(data, { code, name: "async.mjs" }, { workers: 1, partitions: 1, pulseSize: 1000 });
    const b = await runFresh(data, { code, name: "async.mjs" }, { workers: 2, partitions: 5, pulseSize: 3, maxPulsesInFlight: 4 });
    expect(b.result.outputDigest).toBe(a.result.outputDigest);
    const ids = a.outputBytes.toString("utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toEqual(data.map((_, i) => i));
  });
});

describe("format pin", () => {
  // An inline function (no esbuild involved) over a tiny in-memory dataset. If any of these
  // literals changes, the output/record/manifest format or the sandbox's entropy changed:
  // old runs would no longer resume or verify byte-identically. Update deliberately.
  const FN = {
    code: "export default (x, ctx) => ({ x, id: ctx.id, r: Math.random(), t: Date.now(), u: crypto.randomUUID() });\n",
    name: "pin.mjs",
  };
  const CONFIG: RunConfigInput = { workers: 1, partitions: 2, pulseSize: 2, seed: "pin" };

  it("pins the output digest, the first record and the manifest digest", async () => {
    const { store } = scratch.store();
    const r = await run(store, [{ a: 1 }, { a: 2 }, { a: "three" }], FN, CONFIG);
    const text = store.get(r.outputArtifact).toString("utf8");
    expect(text.split("\n")[0]).toBe(PINNED.firstRecord);
    expect(r.outputDigest).toBe(PINNED.outputDigest);
    expect(r.runId).toBe(PINNED.runId);
    expect(r.manifestDigest).toBe(PINNED.manifestDigest);
    // The same again on another fresh store and another layout.
    const other = scratch.store().store;
    const r2 = await run(other, [{ a: 1 }, { a: 2 }, { a: "three" }], FN, { ...CONFIG, partitions: 1, pulseSize: 100 });
    expect(r2.outputDigest).toBe(PINNED.outputDigest);
  });
});

describe("sandbox neutralisation through the engine", () => {
  const DATA = Array.from({ length: 40 }, (_, i) => ({ n: i }));

  it("Date.now() is the logical time 0 and Math.random is seeded by (seed, EU id)", async () => {
    const a = await runFresh(DATA, fixture("engine-entropy.mjs"), { seed: "alpha", workers: 2, pulseSize: 5 });
    const b = await runFresh(DATA, fixture("engine-entropy.mjs"), { seed: "alpha", workers: 1, pulseSize: 40, partitions: 1 });
    const c = await runFresh(DATA, fixture("engine-entropy.mjs"), { seed: "beta", workers: 2, pulseSize: 5 });
    type Out = { output: { now: number; iso: string; random: number[]; uuid: string; bytes: number[] } };
    const parse = (d: Done): Array<Out["output"]> =>
      d.outputBytes.toString("utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as Out).output);
    const [oa, ob, oc] = [parse(a), parse(b), parse(c)];
    for (const o of [...oa, ...oc]) {
      expect(o.now).toBe(0);
      expect(o.iso).toBe("1970-01-01T00:00:00.000Z");
    }
    expect(ob).toEqual(oa);
    expect(b.result.outputDigest).toBe(a.result.outputDigest);
    expect(c.result.outputDigest).not.toBe(a.result.outputDigest);
    for (let i = 0; i < DATA.length; i++) {
      expect(oc[i]?.random).not.toEqual(oa[i]?.random);
      expect(oc[i]?.uuid).not.toBe(oa[i]?.uuid);
    }
    // Different EUs draw from different streams.
    expect(new Set(oa.map((o) => o.random[0])).size).toBe(DATA.length);
  });
});

describe("reduce", () => {
  const DATA = Array.from({ length: 1000 }, (_, i) => ({ n: (i * 7919) % 1009 }));
  const expectedSum = DATA.reduce((s, x) => s + x.n, 0);

  it.each([
    [1, 1],
    [1, 1000],
    [9, 1],
    [9, 1000],
  ])("partitions %i, pulse size %i: the same sum", async (partitions, pulseSize) => {
    const { store } = scratch.store();
    const r = await run(store, DATA, fixture("engine-reduce.mjs"), { partitions, pulseSize, workers: 2, maxPulsesInFlight: 4 });
    expect(r.status).toBe("completed");
    expect(r.reduce).toEqual({ count: 1000, sum: expectedSum });
    expect(manifestOf(store, r.runId).reduce).toEqual({ value: { count: 1000, sum: expectedSum } });
  });

  it("folds in EU-id order (an order-sensitive reduce gives the sequential answer)", async () => {
    const code = [
      "export const initial = { h: 7, ids: [] };",
      "export default (x, ctx) => ({ id: ctx.id, n: x.n });",
      "export function reduce(acc, o) { acc.h = (Math.imul(acc.h, 31) + o.n) >>> 0; if (acc.ids.length < 5) acc.ids.push(o.id); return acc; }",
    ].join("\n");
    let h = 7;
    for (const x of DATA) h = (Math.imul(h, 31) + x.n) >>> 0;
    for (const cfg of [{ partitions: 9, pulseSize: 3 }, { partitions: 1, pulseSize: 1000 }]) {
      const { store } = scratch.store();
      const r = await run(store, DATA, { code, name: "ordered-reduce.mjs" }, { ...cfg, workers: 2 });
      expect(r.reduce).toEqual({ h, ids: [0, 1, 2, 3, 4] });
    }
  });
});

describe("reduce errors", () => {
  it("a reduce that throws fails the run naming the EU", async () => {
    const code = "export const initial = 0;\nexport default (x) => x;\nexport function reduce(acc, o) { if (o === 13) throw new Error('no thirteen'); return acc + o; }\n";
    const { store } = scratch.store();
    await expectCairnError(
      run(store, Array.from({ length: 20 }, (_, i) => i), { code, name: "bad-reduce.mjs" }, { workers: 1 }),
      ErrorCode.INVALID_INPUT,
      "13",
      "no thirteen",
    );
  });
});

describe("memory-bounded pulse cuts", () => {
  it("pulses cut early under a small --max-memory change the pulses but not the output", async () => {
    const data = Array.from({ length: 150 }, (_, i) => ({ n: i, pad: "x".repeat(20_000 + (i % 7) * 5_000) }));
    const code = { code: "export default (x) => ({ n: x.n, len: x.pad.length, r: Math.random() });\n", name: "pad.mjs" };
    const roomy = scratch.store().store;
    const a = await run(roomy, data, code, { workers: 2, partitions: 1, pulseSize: 1000 });
    expect(manifestOf(roomy, a.runId).pulses.length).toBe(1);
    for (const cfg of [
      { maxMemoryBytes: 32 * 1024 * 1024, partitions: 5, pulseSize: 1000 },
      { maxMemoryBytes: 32 * 1024 * 1024, partitions: 1, pulseSize: 1000, maxPulsesInFlight: 1 },
    ]) {
      const { store } = scratch.store();
      const b = await run(store, data, code, { workers: 2, ...cfg });
      const pulses = manifestOf(store, b.runId).pulses;
      expect(pulses.length).toBeGreaterThan(cfg.partitions); // the budget cut some pulses early
      expect(pulses.reduce((s, p) => s + p.eus, 0)).toBe(150);
      expect(b.outputDigest).toBe(a.outputDigest);
      expect(b.outputArtifact).toBe(a.outputArtifact);
    }
  });
});

describe("scheduling", () => {
  it("a partition's pulses commit strictly in order, and every pulse holds at most pulseSize EUs of one partition", async () => {
    const { store } = scratch.store();
    const r = await run(store, Array.from({ length: 300 }, (_, i) => ({ n: i })), fixture("engine-pure.mjs"), {
      partitions: 3,
      pulseSize: 5,
      workers: 2,
      maxPulsesInFlight: 4,
    });
    const m = manifestOf(store, r.runId);
    const byPartition = new Map<number, Array<{ index: number; logseq: number }>>();
    for (const p of m.pulses) {
      expect(p.eus).toBeLessThanOrEqual(5);
      const eus = sliceEUs(store, p.slice);
      expect(eus.length).toBe(p.eus);
      for (const eu of eus) expect(partitionOf(eu.id, 3)).toBe(p.partition);
      const list = byPartition.get(p.partition) ?? [];
      list.push({ index: p.index, logseq: store.getReceipt(p.receipt).logseq });
      byPartition.set(p.partition, list);
    }
    expect([...byPartition.keys()].sort()).toEqual([0, 1, 2]);
    for (const list of byPartition.values()) {
      list.sort((a, b) => a.index - b.index);
      expect(list.map((x) => x.index)).toEqual(list.map((_, i) => i));
      for (let i = 1; i < list.length; i++) expect((list[i] as { logseq: number }).logseq).toBeGreaterThan((list[i - 1] as { logseq: number }).logseq);
    }
  });
});

describe("exhaustiveness", () => {
  it("counts.total = records read = output records, and every input id appears exactly once", async () => {
    const keyed = shuffled(Array.from({ length: 700 }, (_, i) => ({ id: `eu-${i}`, v: i, fail: i % 97 === 5 })));
    const { store } = scratch.store();
    const r = await run(store, scratch.jsonl(keyed), fixture("engine-throws.mjs"), {
      idField: "id",
      partitions: 5,
      pulseSize: 13,
      workers: 2,
      retries: 0,
      allowFailures: true,
    });
    const m = manifestOf(store, r.runId);
    const outs = await outputsOf(store, r.runId);
    expect(m.counts.total).toBe(keyed.length);
    expect(m.input.records).toBe(keyed.length);
    expect(m.output.records).toBe(keyed.length);
    expect(outs.length).toBe(keyed.length);
    expect(m.counts.completed + m.counts.failed).toBe(m.counts.total);
    expect(m.counts.failed).toBe(keyed.filter((k) => k.fail).length);
    expect(m.pulses.reduce((s, p) => s + p.eus, 0)).toBe(keyed.length);
    const counts = new Map<unknown, number>();
    for (const o of outs) counts.set(o.id, (counts.get(o.id) ?? 0) + 1);
    expect(counts.size).toBe(keyed.length);
    for (const k of keyed) expect(counts.get(k.id), k.id).toBe(1);
    for (const o of outs) {
      const src = keyed.find((k) => k.id === o.id);
      if (src?.fail === true) expect(o.error?.code).toBe("E_EU_THREW");
      else expect(o.output).toEqual({ v: (src?.v ?? NaN) * 2, attempt: 1 });
    }
  });
});
