import { describe, expect, it, afterEach } from "vitest";
import { freshStore } from "./helpers.js";
import { actionKey, canonicalize, sha256, RECEIPT_MEDIA_TYPE, type Digest } from "../../src/index.js";

describe("receipts", () => {
  let ctx: ReturnType<typeof freshStore>;
  afterEach(() => ctx.cleanup());

  function setup() {
    ctx = freshStore();
    const s = ctx.store;
    const program = s.putBytes(Buffer.from("function f(x) { return x * 2 }")).digest;
    const input = s.putBytes(Buffer.from("21")).digest;
    const output = s.putBytes(Buffer.from("42")).digest;
    return { s, program, input, output };
  }

  it("records a canonical receipt whose digest excludes wall-clock timing", () => {
    const { s, program, input, output } = setup();
    const r = s.recordReceipt({
      program,
      inputs: [input],
      params: { b: 2, a: 1 },
      outputs: [output],
      status: "succeeded",
      resources: { eus: 1 },
      timing: { startedAt: 1, durationMs: 5 },
    });
    expect(r.created).toBe(true);
    const body = {
      inputs: [input],
      kind: "cairn.receipt",
      outputs: [output],
      params: { a: 1, b: 2 },
      program,
      resources: { eus: 1 },
      status: "succeeded",
      version: 1,
    };
    expect(r.digest).toBe(sha256(canonicalize(body)));
    expect(s.get(r.digest).toString()).toBe(canonicalize(body));
    expect(s.stat(r.digest).mediaType).toBe(RECEIPT_MEDIA_TYPE);
    expect(s.getReceipt(r.digest).timing).toEqual({ startedAt: 1, durationMs: 5 });
    // Same execution with other timing: the same receipt.
    const again = s.recordReceipt({ program, inputs: [input], params: { a: 1, b: 2 }, outputs: [output], status: "succeeded", resources: { eus: 1 }, timing: { startedAt: 99 } });
    expect(again.created).toBe(false);
    expect(again.digest).toBe(r.digest);
  });

  it("is a memoisation cache keyed on (program, ordered inputs, canonical params)", () => {
    const { s, program, input, output } = setup();
    const other = s.putBytes(Buffer.from("other")).digest;
    expect(s.findReceipt(program, [input], {})).toBeUndefined();
    const r = s.recordReceipt({ program, inputs: [input, other], params: { k: [1, 2] }, outputs: [output], status: "succeeded" });
    expect(s.findReceipt(program, [input, other], { k: [1, 2] })?.digest).toBe(r.digest);
    expect(s.findReceipt(program, [other, input], { k: [1, 2] })).toBeUndefined();
    expect(s.findReceipt(program, [input, other], { k: [2, 1] })).toBeUndefined();
    // A different outcome for the same action is a conflict (non-determinism), not an overwrite.
    expect(() => s.recordReceipt({ program, inputs: [input, other], params: { k: [1, 2] }, outputs: [other], status: "succeeded" })).toThrow(
      expect.objectContaining({ code: "E_CONFLICT" }),
    );
    expect(s.at(r.logseq - 1).findReceipt(program, [input, other], { k: [1, 2] })).toBeUndefined();
  });

  it("refuses references to unknown artifacts", () => {
    const { s, program } = setup();
    const ghost = sha256("never stored");
    expect(() => s.recordReceipt({ program, inputs: [ghost], outputs: [], status: "failed" })).toThrow(
      expect.objectContaining({ code: "E_DANGLING_REFERENCE" }),
    );
    expect(() => s.recordReceipt({ program, inputs: ["sha256:nope" as Digest], outputs: [], status: "failed" })).toThrow(
      expect.objectContaining({ code: "E_DIGEST_INVALID" }),
    );
  });

  it("a receipt listing more inputs and outputs than one edge holds (4096) is recorded, walked and pruned whole", async () => {
    const { s, program } = setup();
    const inputs = Array.from({ length: 5000 }, (_, i) => s.putBytes(Buffer.from(`in ${i}`)).digest);
    const outputs = Array.from({ length: 4097 }, (_, i) => s.putBytes(Buffer.from(`out ${i}`)).digest);
    // Before: E_USAGE "edge from must list 1..4096 digests", although receipts take 100,000.
    const r = s.recordReceipt({ program, inputs, outputs, status: "succeeded" });
    const up = s.lineage(r.digest, { direction: "up", depth: 1 });
    expect(up.nodes.length).toBe(1 + 1 + 5000);
    expect(up.edges.map((e) => [e.role, e.from.length])).toEqual([["program", 1], ["input", 4096], ["input", 904]]);
    const down = s.lineage(r.digest, { direction: "down", depth: 1 });
    expect(down.edges.map((e) => e.to.length)).toEqual([4096, 1]);
    expect((await s.fsck()).problems).toEqual([]);
    s.pruneReceipt(r.digest);
    expect(s.lineage(inputs[0] as Digest).edges).toEqual([]);
    expect(s.lineage(outputs[4096] as Digest).edges).toEqual([]);
  });

  it("writes execution edges so lineage walks from an output back to program and inputs", () => {
    const { s, program, input, output } = setup();
    const r = s.recordReceipt({ program, inputs: [input], outputs: [output], status: "succeeded" });
    const up = s.lineage(output, { direction: "up" });
    expect(up.nodes).toEqual(
      [
        { digest: output, depth: 0 },
        { digest: r.digest, depth: 1 },
        ...[program, input].sort().map((digest) => ({ digest, depth: 2 })),
      ],
    );
    expect(up.edges.map((e) => e.role)).toEqual(["program", "input", "output"]);
    const down = s.lineage(input, { direction: "down", depth: 1 });
    expect(down.nodes.map((n) => n.digest)).toEqual([input, r.digest]);
    // Pruning removes the receipt and its edges, and is itself logged.
    const head = s.headLogseq();
    const pr = s.pruneReceipt(r.digest);
    expect(pr.logseq).toBeGreaterThan(head);
    expect(s.findReceipt(program, [input])).toBeUndefined();
    expect(s.lineage(output).nodes).toEqual([{ digest: output, depth: 0 }]);
  });
});

describe("edges and lineage", () => {
  let ctx: ReturnType<typeof freshStore>;
  afterEach(() => ctx.cleanup());

  it("walks a diamond deterministically and respects depth and snapshots", () => {
    ctx = freshStore();
    const s = ctx.store;
    const [a, b, c, d] = ["a", "b", "c", "d"].map((x) => s.putBytes(Buffer.from(x)).digest) as [Digest, Digest, Digest, Digest];
    const e1 = s.addEdge({ from: [a], to: [b], type: "derived_from", role: "source" });
    s.addEdge({ from: [a], to: [c], type: "derived_from", role: "source" });
    const snap = s.createSnapshot("two-edges");
    s.addEdge({ from: [b, c], to: [d], type: "derived_from", role: "source" });
    expect(s.addEdge({ from: [a], to: [b], type: "derived_from", role: "source" })).toEqual(e1);
    const up = s.lineage(d, { direction: "up" });
    expect(up.nodes).toEqual([{ digest: d, depth: 0 }, ...[b, c].sort().map((digest) => ({ digest, depth: 1 })), { digest: a, depth: 2 }]);
    expect(up.edges.map((e) => e.logseq)).toEqual([5, 6, 8]);
    expect(s.lineage(d, { direction: "up", depth: 1 }).nodes).toHaveLength(3);
    expect(s.lineage(a, { direction: "down" }).nodes.map((n) => n.depth)).toEqual([0, 1, 1, 2]);
    expect(s.at(snap.name).lineage(a, { direction: "down" }).nodes).toHaveLength(3);
    expect(() => s.addEdge({ from: [a], to: [sha256("ghost")], type: "x", role: "y" })).toThrow(expect.objectContaining({ code: "E_DANGLING_REFERENCE" }));
    expect(() => s.addEdge({ from: [a], to: [b], type: "Bad Type", role: "y" })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => s.lineage(a, { depth: -1 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });
});

describe("snapshots, pins and gc", () => {
  let ctx: ReturnType<typeof freshStore>;
  afterEach(() => ctx.cleanup());

  it("snapshot reads see only records up to the snapshot's logseq", () => {
    ctx = freshStore();
    const s = ctx.store;
    const a = s.putBytes(Buffer.from("a"));
    const snap = s.createSnapshot("v1");
    expect(snap.asOf).toBe(2);
    const b = s.putBytes(Buffer.from("b"));
    s.delete(a.digest);
    const v1 = s.at("v1");
    expect(v1.has(a.digest)).toBe(true);
    expect(v1.has(b.digest)).toBe(false);
    expect(() => v1.get(b.digest)).toThrow(/not found as of logseq 2/);
    expect([...v1.list()].map((x) => x.digest)).toEqual([a.digest]);
    expect(s.listSnapshots().map((x) => x.name)).toEqual(["v1"]);
    expect(() => s.createSnapshot("v1")).toThrow(expect.objectContaining({ code: "E_CONFLICT" }));
    expect(() => s.at("nope")).toThrow(expect.objectContaining({ code: "E_NOT_FOUND" }));
  });

  it("gc sweeps only unreachable artifacts past the grace period", async () => {
    ctx = freshStore();
    const s = ctx.store;
    const big = Buffer.alloc(100_000, 3);
    const loose = s.putBytes(Buffer.from("loose"));
    const looseBig = s.putBytes(big);
    const pinned = s.putBytes(Buffer.from("pinned"));
    const parent = s.putBytes(Buffer.from("parent"));
    s.addEdge({ from: [parent.digest], to: [pinned.digest], type: "derived_from", role: "source" });
    const manifest = s.putBytes(Buffer.from("manifest"));
    const member = s.putBytes(Buffer.from("member"));
    s.addEdge({ from: [manifest.digest], to: [member.digest], type: "contains", role: "member" });
    s.pin("keep", pinned.digest);
    s.pin("run-1", manifest.digest, "run");
    const program = s.putBytes(Buffer.from("prog"));
    const out = s.putBytes(Buffer.from("out"));
    const receipt = s.recordReceipt({ program: program.digest, inputs: [], outputs: [out.digest], status: "succeeded" });
    // This handle wrote everything: nothing is swept while it is open.
    expect(s.gc({ graceMs: 0 }).swept).toEqual([]);
    ctx.store.close();
    const { openStore } = await import("../../src/index.js");
    const { steppingClock } = await import("../../src/core/clock.js");
    const s2 = openStore({ dir: ctx.dir, clock: steppingClock(1_700_000_100_000, 1) });
    ctx.store = s2;
    // Inside the grace period nothing goes.
    expect(s2.gc({ graceMs: 10_000_000 }).swept).toEqual([]);
    const dry = s2.gc({ graceMs: 0, dryRun: true });
    const expected = [loose.digest, looseBig.digest, program.digest, out.digest];
    expect(dry.swept.map((x) => x.digest)).toEqual(expected);
    expect(s2.has(loose.digest)).toBe(true);
    const rep = s2.gc({ graceMs: 0 });
    expect(rep.swept.map((x) => x.digest)).toEqual(expected);
    expect(rep.keptAsReceipts).toBe(1);
    expect(rep.sweptBytes).toBe(5 + 100_000 + 4 + 3);
    expect(() => s2.get(looseBig.digest)).toThrow(/collected by gc/);
    expect(s2.stat(looseBig.digest).state).toBe("swept");
    for (const d of [pinned, parent, manifest, member, receipt]) expect(s2.get(d.digest).length).toBeGreaterThan(0);
    // Provenance survives the sweep of what it mentions.
    expect(s2.getReceipt(receipt.digest).outputs).toEqual([out.digest]);
    expect((await s2.fsck()).problems).toEqual([]);
    // A re-put restores swept bytes under the original record.
    const back = s2.putBytes(big);
    expect(back.logseq).toBe(looseBig.logseq);
    expect(s2.get(looseBig.digest).equals(big)).toBe(true);
    // Unpinning makes the pinned chain collectable.
    s2.unpin("keep");
    expect(s2.gc({ graceMs: 0, dryRun: true }).swept.map((x) => x.digest)).toEqual([pinned.digest, parent.digest]);
    expect((await s2.fsck()).ok).toBe(true);
  });

  it("snapshots keep what they saw, even after a tombstone", async () => {
    ctx = freshStore();
    const s = ctx.store;
    const a = s.putBytes(Buffer.from("a"));
    const b = s.putBytes(Buffer.from("b"));
    s.createSnapshot("snap");
    s.delete(a.digest);
    ctx.store.close();
    const { openStore } = await import("../../src/index.js");
    const s2 = openStore({ dir: ctx.dir });
    ctx.store = s2;
    expect(s2.gc({ graceMs: 0, dryRun: true }).swept).toEqual([]);
    s2.deleteSnapshot("snap");
    expect(s2.gc({ graceMs: 0 }).swept.map((x) => x.digest)).toEqual([a.digest, b.digest]);
    const f = await s2.fsck();
    expect(f.problems).toEqual([]);
    expect(f.checked.maxLogseq).toBe(s2.headLogseq());
  });
});

describe("receipt params", () => {
  it("null params are their own action key, found again by lookup", () => {
    const ctx = freshStore();
    try {
      const s = ctx.store;
      const program = s.putBytes(Buffer.from("p")).digest;
      const withNull = s.recordReceipt({ program, inputs: [], params: null, outputs: [], status: "succeeded" });
      expect(s.findReceipt(program, [], null)?.digest).toBe(withNull.digest);
      expect(s.findReceipt(program, [], {})).toBeUndefined();
    } finally {
      ctx.cleanup();
    }
  });

  it("null is kept as given (ARCHITECTURE §4, §5.11): in the body, the action key and idempotence; omitted is {}", async () => {
    const ctx = freshStore();
    try {
      const s = ctx.store;
      const program = s.putBytes(Buffer.from("p")).digest;
      const out = s.putBytes(Buffer.from("o")).digest;
      const withNull = s.recordReceipt({ program, inputs: [], params: null, outputs: [out], status: "succeeded" });
      expect(withNull.params).toBeNull();
      expect(JSON.parse(s.get(withNull.digest).toString("utf8")).params).toBeNull();
      expect(withNull.actionKey).toBe(actionKey(program, [], null));
      expect(actionKey(program, [], null)).not.toBe(actionKey(program, [], {}));
      // Recording it again is the same receipt; another outcome for null params is a conflict.
      expect(s.recordReceipt({ program, inputs: [], params: null, outputs: [out], status: "succeeded" })).toMatchObject({ digest: withNull.digest, created: false });
      expect(() => s.recordReceipt({ program, inputs: [], params: null, outputs: [], status: "succeeded" })).toThrow(/E_CONFLICT|another|nondeterministic/i);
      // Omitted params are {}: a receipt of its own, not a conflict with the null one.
      const omitted = s.recordReceipt({ program, inputs: [], outputs: [], status: "succeeded" });
      expect(omitted.created).toBe(true);
      expect(omitted.params).toEqual({});
      expect(omitted.actionKey).toBe(actionKey(program, [], {}));
      expect(s.findReceipt(program, [])?.digest).toBe(omitted.digest);
      expect((await s.fsck()).problems).toEqual([]);
    } finally {
      ctx.cleanup();
    }
  });
});
