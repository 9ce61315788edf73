/**
 * `contains` edges in the lineage walk (§5.12): a container is derived from its members. A
 * `contains` edge container → members is walked as members ⇒ container: **up** from a container
 * reaches its members (the edges out of it), never from a member into the containers that hold
 * it; **down** from a member reaches its containers (records made from it), never from a
 * container to its members. Every other edge type is walked from → to as before. So `up` and
 * `down` are inverses, and `up` reaches exactly what gc marking keeps from a root (§5.14).
 *
 * Before: every edge was walked the same way, so `lineage --up <run a's output>` climbed from the
 * shared input slices into run b's manifest (which `contains` them) and on to run b's receipt,
 * function and output (UAT finding F3), and `--down <input>` reached every run's function
 * through manifest → plan → function.
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "../../src/batch/engine.js";
import { RUN_RECEIPT_KIND } from "../../src/batch/manifest.js";
import type { Digest } from "../../src/core/digest.js";
import { CONTAINS_EDGE_TYPE, ErrorCode, openStore, type Lineage, type Store } from "../../src/index.js";
import { CONTAINS_EDGE_TYPE as WALKED_CONTAINS_TYPE } from "../../src/store/edges.js";
import { CATALOG_FILE } from "../../src/store/layout.js";
import { Scratch, manifestOf } from "../batch/fixtures/engine-helpers.js";
import { expectCairn, freshStore } from "./helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const records = Array.from({ length: 10 }, (_, n) => ({ n }));
const cfg = { partitions: 2, pulseSize: 3, workers: 1 };
const fnA = { code: "export default (x) => ({ a: x.n });", name: "a.mjs" };
const fnB = { code: "export default (x) => ({ b: -x.n });", name: "b.mjs" };

/** Everything one finished batch run wrote, by role. */
interface RunParts {
  runId: string;
  input: Digest;
  fn: Digest;
  plan: Digest;
  manifest: Digest;
  report: Digest;
  output: Digest;
  runReceipt: Digest;
  pulseReceipts: Digest[];
  slices: Digest[];
  records: Digest[];
}

async function batchRun(store: Store, fn: { code: string; name: string }): Promise<RunParts> {
  const r = await run(store, records, fn, cfg);
  expect(r.status).toBe("completed");
  const m = manifestOf(store, r.runId);
  const runReceipt = store.findReceipt(m.function.artifact, [m.input.artifact], { kind: RUN_RECEIPT_KIND, plan: m.plan });
  const report = store.findRoot(`run:${r.runId}:report`)?.digest;
  expect(runReceipt).toBeDefined();
  expect(report).toBeDefined();
  for (const p of m.pulses) expect(p.attemptsArtifact).toBeUndefined(); // no retries: no attempts artifacts
  expect(m.failuresArtifact).toBeUndefined();
  return {
    runId: r.runId,
    input: m.input.artifact,
    fn: m.function.artifact,
    plan: m.plan,
    manifest: r.manifestDigest,
    report: report as Digest,
    output: m.output.artifact,
    runReceipt: (runReceipt as { digest: Digest }).digest,
    pulseReceipts: m.pulses.map((p) => p.receipt),
    slices: m.pulses.map((p) => p.slice),
    records: m.pulses.map((p) => p.records),
  };
}

const nodeSet = (l: Lineage): Set<Digest> => new Set(l.nodes.map((n) => n.digest));
const sorted = (ds: Iterable<Digest>): Digest[] => [...new Set(ds)].sort();
const depthOf = (l: Lineage, d: Digest): number | undefined => l.nodes.find((n) => n.digest === d)?.depth;
/** What run b wrote that run a did not share with it (the input and the slices are shared). */
const ownOf = (b: RunParts): Digest[] => [b.fn, b.plan, b.manifest, b.report, b.output, b.runReceipt, ...b.pulseReceipts, ...b.records];

describe("lineage and contains edges: two batch runs of different functions over one input (F3)", () => {
  it("--up from run a's output: run a's function, input, pulses and receipts; nothing of run b; the same answer before and after run b", async () => {
    const { store } = scratch.store();
    const a = await batchRun(store, fnA);
    const before = store.lineage(a.output);
    const snap = store.createSnapshot("before-b");
    const b = await batchRun(store, fnB);
    expect(b.input).toBe(a.input);
    expect(b.fn).not.toBe(a.fn);
    expect(sorted(b.slices)).toEqual(sorted(a.slices)); // the same slices: both manifests and plans contain them
    expect(ownOf(b).filter((d) => ownOf(a).includes(d))).toEqual([]);

    const up = store.lineage(a.output);
    // Exactly: the output ← records (merge) and the run receipt; ← the pulse receipts, the function
    // and the input; ← the slices. Not run a's own manifest or plan either: they record the run,
    // the output was not made from them.
    expect(sorted(nodeSet(up))).toEqual(sorted([a.output, ...a.records, a.runReceipt, ...a.pulseReceipts, a.fn, a.input, ...a.slices]));
    expect(depthOf(up, a.input)).toBe(2);
    expect(depthOf(up, a.fn)).toBe(2);
    for (const d of ownOf(b)) expect(up.nodes.map((n) => n.digest)).not.toContain(d);
    // No edge crossed names anything of run b either (the old walk listed b's receipt → output edge).
    const named = new Set(up.edges.flatMap((e) => [...e.from, ...e.to]));
    for (const d of ownOf(b)) expect(named.has(d)).toBe(false);
    expect(up.edges.some((e) => e.type === "contains")).toBe(false);
    // The same answer before run b, after it, and as of the snapshot taken before it.
    expect(up).toEqual(before);
    expect(store.at(snap.name).lineage(a.output)).toEqual(before);
    // And run b's output, symmetrically: nothing of run a but the shared input and slices.
    const upB = nodeSet(store.lineage(b.output));
    for (const d of ownOf(a)) expect(upB.has(d)).toBe(false);
    expect(upB.has(b.fn) && upB.has(b.input)).toBe(true);
  });

  it("--down from the input: each run's receipt → its output and manifest, and each run's plan; no function, no pulse", async () => {
    const { store } = scratch.store();
    const a = await batchRun(store, fnA);
    const snap = store.createSnapshot("only-a");
    const b = await batchRun(store, fnB);

    const down = store.lineage(a.input, { direction: "down" });
    // Depth 1: the run receipts (input of each) and the plans (each contains the input).
    // Depth 2: each receipt's outputs, the output and the manifest (the plan's container too).
    expect(down.nodes).toEqual([
      { digest: a.input, depth: 0 },
      ...sorted([a.runReceipt, b.runReceipt, a.plan, b.plan]).map((digest) => ({ digest, depth: 1 })),
      ...sorted([a.output, b.output, a.manifest, b.manifest]).map((digest) => ({ digest, depth: 2 })),
    ]);
    // Each output is reached only through its own run receipt: the one edge crossed that leads to
    // it (an execution edge to it, or a contains edge holding it as a container) is that receipt's.
    for (const r of [a, b]) {
      const into = down.edges.filter((e) => (e.type === "contains" ? e.from : e.to).includes(r.output));
      expect(into.map((e) => [e.type, e.role, e.from])).toEqual([["execution", "output", [r.runReceipt]]]);
    }
    // The edges crossed, exactly: input → receipt, receipt → [output, manifest], plan ∋ input
    // (crossed from the input), manifest ∋ plan/output (crossed from them). No pulse edge, no merge edge.
    expect(down.edges.map((e) => `${e.type}/${e.role}`).sort()).toEqual(
      ["contains/manifest", "contains/manifest", "contains/plan", "contains/plan", "execution/input", "execution/input", "execution/output", "execution/output"],
    );
    // As of the snapshot taken before run b: run a's part only.
    expect(sorted(nodeSet(store.at(snap.name).lineage(a.input, { direction: "down" })))).toEqual(sorted([a.input, a.runReceipt, a.plan, a.output, a.manifest]));
  });

  it("--up from a manifest reaches its whole run and nothing of the other; a shared slice: down to both runs' records, never to a function", async () => {
    const { store } = scratch.store();
    const a = await batchRun(store, fnA);
    const b = await batchRun(store, fnB);
    const upM = store.lineage(a.manifest);
    expect(sorted(nodeSet(upM))).toEqual(
      sorted([a.manifest, a.report, a.runReceipt, a.plan, a.output, a.fn, a.input, ...a.pulseReceipts, ...a.slices, ...a.records]),
    );
    // Up from a slice: nothing (it was cut from the input by the run, not derived by an edge);
    // before, it climbed into both runs' plans and manifests and from there everything.
    const slice = a.slices[0] as Digest;
    expect(store.lineage(slice).nodes).toEqual([{ digest: slice, depth: 0 }]);
    // Down from it: the pulse receipts that took it, their records, both outputs (merge), and the
    // plans and manifests that contain it (both runs were made from it); no function.
    const down = nodeSet(store.lineage(slice, { direction: "down" }));
    const i = a.slices.indexOf(slice);
    for (const d of [a.pulseReceipts[i], b.pulseReceipts[i], a.records[i], b.records[i], a.output, b.output, a.plan, b.plan, a.manifest, b.manifest]) expect(down.has(d as Digest)).toBe(true);
    for (const d of [a.fn, b.fn, a.input, a.report, b.report]) expect(down.has(d)).toBe(false);
  });
});

describe("lineage and contains edges: the rule on a small graph", () => {
  it("a state file read by two runs: down reaches both runs' traces through the state manifest; up from a trace stops at the file", () => {
    const ctx = freshStore();
    try {
      const s = ctx.store;
      const put = (t: string): Digest => s.putBytes(Buffer.from(t)).digest;
      const [file, other, program] = [put("license facts"), put("audit log"), put("snapshot")];
      const state = put("prior-state manifest");
      s.addEdge({ from: [state], to: [file, other], type: "contains", role: "pgs.state" });
      const traces = ["run 1", "run 2"].map((t) => {
        const payload = put(`payload of ${t}`);
        const trace = put(`trace of ${t}`);
        const r = s.recordReceipt({ program, inputs: [payload, state], outputs: [trace], status: "succeeded" });
        return { payload, trace, receipt: r.digest };
      });
      const [t1, t2] = traces as [(typeof traces)[0], (typeof traces)[0]];
      // Down from the file: the manifest that contains it, the receipts that read it, their traces.
      const down = s.lineage(file, { direction: "down" });
      expect(down.nodes).toEqual([
        { digest: file, depth: 0 },
        { digest: state, depth: 1 },
        ...sorted([t1.receipt, t2.receipt]).map((digest) => ({ digest, depth: 2 })),
        ...sorted([t1.trace, t2.trace]).map((digest) => ({ digest, depth: 3 })),
      ]);
      // Up from the file: nothing it was derived from (before: the manifest and every run's trace).
      expect(s.lineage(file).nodes).toEqual([{ digest: file, depth: 0 }]);
      // Up from one trace: its receipt, program, payload, the state manifest and its files; not run 2.
      expect(sorted(nodeSet(s.lineage(t1.trace)))).toEqual(sorted([t1.trace, t1.receipt, program, t1.payload, state, file, other]));
    } finally {
      ctx.cleanup();
    }
  });

  it("up and down are inverses: y is upstream of x exactly when x is downstream of y, at the same depth", () => {
    const ctx = freshStore();
    try {
      const s = ctx.store;
      const ds = Array.from({ length: 9 }, (_, i) => s.putBytes(Buffer.from(`n${i}`)).digest) as Digest[];
      const n = (i: number): Digest => ds[i] as Digest;
      s.addEdge({ from: [n(0)], to: [n(1), n(2)], type: "contains", role: "plan" });
      s.addEdge({ from: [n(3)], to: [n(0), n(4)], type: "contains", role: "manifest" });
      s.addEdge({ from: [n(1), n(2)], to: [n(5)], type: "execution", role: "input" });
      s.addEdge({ from: [n(5)], to: [n(4), n(3)], type: "execution", role: "output" });
      s.addEdge({ from: [n(6)], to: [n(1)], type: "contains", role: "other" });
      s.addEdge({ from: [n(4)], to: [n(7)], type: "derived_from", role: "merge" });
      s.addEdge({ from: [n(8)], to: [n(8)], type: "contains", role: "self" });
      const depths = (d: Digest, direction: "up" | "down"): Map<Digest, number> => new Map(s.lineage(d, { direction }).nodes.map((x) => [x.digest, x.depth]));
      let pairs = 0;
      for (const x of ds) {
        for (const [y, depth] of depths(x, "up")) {
          expect(depths(y, "down").get(x), `${x} up → ${y}`).toBe(depth);
          pairs++;
        }
        for (const [y, depth] of depths(x, "down")) expect(depths(y, "up").get(x), `${x} down → ${y}`).toBe(depth);
      }
      expect(pairs).toBeGreaterThan(ds.length); // not only the start nodes
      // The containers here: 3 contains 0 and 4, 0 contains 1 and 2, 6 contains 1.
      expect(sorted(depths(n(3), "up").keys())).toEqual(sorted([n(3), n(0), n(4), n(1), n(2), n(5)]));
      expect(sorted(depths(n(1), "down").keys())).toEqual(sorted([n(1), n(0), n(6), n(5), n(3), n(4), n(7)]));
      expect(sorted(depths(n(1), "up").keys())).toEqual([n(1)]);
    } finally {
      ctx.cleanup();
    }
  });
});

describe("lineage and contains edges: every edge met is checked, crossed or not", () => {
  it("the walk and gc name the same type; a rewritten contains edge met only from a member is still E_STORE_CORRUPT", () => {
    expect(WALKED_CONTAINS_TYPE).toBe(CONTAINS_EDGE_TYPE); // gc.ts re-exports edges.ts's constant: one containment type for gc marking and lineage
    const ctx = freshStore();
    try {
      const s = ctx.store;
      const [container, member, evil] = ["container", "member", "evil"].map((t) => s.putBytes(Buffer.from(t)).digest) as [Digest, Digest, Digest];
      const edge = s.addEdge({ from: [container], to: [member], type: "contains", role: "member" });
      expect(s.lineage(member).nodes).toEqual([{ digest: member, depth: 0 }]);
      s.close();
      // The container side rewritten to another artifact: the walk up from the member does not
      // cross the edge, but reads it (as the walk did before it stopped crossing it) and refuses it.
      const db = new Database(join(ctx.dir, CATALOG_FILE));
      try {
        expect(db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 0").run(Buffer.from(evil.slice(7), "hex"), edge.logseq).changes).toBe(1);
      } finally {
        db.close();
      }
      const r = openStore({ dir: ctx.dir, readOnly: true });
      try {
        const message = `the catalog is corrupt: edge ${edge.edgeId} does not match its content; run cairn fsck`;
        expectCairn(() => r.lineage(member), ErrorCode.STORE_CORRUPT, message);
        expectCairn(() => r.lineage(evil, { direction: "down" }), ErrorCode.STORE_CORRUPT, message);
        expectCairn(() => r.lineage(evil), ErrorCode.STORE_CORRUPT, message);
        expectCairn(() => r.at(r.headLogseq()).lineage(member, { direction: "down" }), ErrorCode.STORE_CORRUPT, message);
      } finally {
        r.close();
      }
    } finally {
      ctx.cleanup();
    }
  });
});
