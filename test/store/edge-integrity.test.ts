/**
 * An edge is read only if its stored id still is its identity: the SHA-256 of the canonical JSON
 * of the nodes, type and role read with it (the check fsck reports as edge_invalid). An edge row
 * rewritten behind Cairn's back is E_STORE_CORRUPT naming the edge from getEdge, lineage (as-of
 * views and readers too), edgesOfType, addEdge of the same edge and pruneReceipt; gc (dry runs
 * too) refuses the store before marking, so nothing is swept on the strength of a forged edge.
 * fsck keeps working on such a store and reports the edge. (UAT finding F5.)
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, isCairnError, openStore, type Digest, type EdgeRecord, type Store } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";
import { edgeId, readEdgeId } from "../../src/store/edges.js";
import fc from "fast-check";
import { makeTempDir } from "./fixtures/child.js";
import { gcErrors, trackStoresAfterEach } from "./helpers.js";

const track = trackStoresAfterEach();

const hex = (d: Digest): Buffer => Buffer.from(d.slice("sha256:".length), "hex");

interface Fixture {
  dir: string;
  src: Digest;
  evil: Digest;
  out: Digest;
  edge: EdgeRecord;
}

/** Records made long before any later handle opens (gc never sweeps what a handle wrote since it opened). */
const past = () => steppingClock(1_700_000_000_000, 1);

/** The finding's store: source → derived output (a `derivation` edge), the output and `evil` pinned. */
function fixture(opts: { pinEvil?: boolean } = {}): Fixture {
  const dir = join(makeTempDir(), "st");
  const s = openStore({ dir, durability: "normal", clock: past() });
  const src = s.putBytes(Buffer.from("source data\n")).digest;
  const evil = s.putBytes(Buffer.from("something unrelated\n")).digest;
  const out = s.putBytes(Buffer.from("derived output\n")).digest;
  const edge = s.addEdge({ from: [src], to: [out], type: "derivation", role: "input" });
  s.pin("out", out);
  if (opts.pinEvil !== false) s.pin("evil", evil);
  s.close();
  return { dir, src, evil, out, edge };
}

/** Runs `sql` on the catalog of the (closed) store at `dir`, as the finding's sqlite3 does; one row changes. */
function tamper(dir: string, sql: string, ...args: unknown[]): void {
  const db = new Database(join(dir, "catalog.sqlite"));
  try {
    expect(db.prepare(sql).run(...args).changes).toBe(1);
  } finally {
    db.close();
  }
}

function expectEdgeCorrupt(f: () => unknown, edge: { edgeId: Digest; logseq: number }, why = "does not match its content"): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isCairnError(err), `expected E_STORE_CORRUPT, got ${String(err)}`).toBe(true);
  const e = err as Error & { code: string; details: Record<string, unknown> };
  expect(e.code).toBe(ErrorCode.STORE_CORRUPT);
  expect(e.message).toBe(`the catalog is corrupt: edge ${edge.edgeId} ${why}; run cairn fsck`);
  expect(e.details).toEqual({ edgeId: edge.edgeId, logseq: edge.logseq });
}

async function fsckProblems(w: Store): Promise<Array<{ code: string; subject: string; message: string }>> {
  const report = await w.fsck();
  expect(report.ok).toBe(false);
  return report.problems;
}

/** gc (dry run and real) refuses the store; nothing is swept: every artifact still reads. */
function expectGcRefused(w: Store, edge: { edgeId: Digest; logseq: number }, keep: Digest[], why?: string): void {
  expectEdgeCorrupt(() => w.gc({ graceMs: 0, dryRun: true }), edge, why);
  expectEdgeCorrupt(() => w.gc({ graceMs: 0 }), edge, why);
  for (const d of keep) expect(w.stat(d).state).toBe("present");
}

describe("an edge whose rows were rewritten is refused, never returned or followed (F5)", () => {
  it("the finding's repro: a from-node rewritten to another artifact: getEdge, lineage, edgesOfType, gc are E_STORE_CORRUPT; fsck reports edge_invalid", async () => {
    const f = fixture();
    tamper(f.dir, "UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 0", hex(f.evil), f.edge.logseq);
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    for (const s of [r, w]) {
      expectEdgeCorrupt(() => s.getEdge(f.edge.edgeId), f.edge);
      expectEdgeCorrupt(() => s.lineage(f.out), f.edge);
      expectEdgeCorrupt(() => s.lineage(f.evil, { direction: "down" }), f.edge);
      expectEdgeCorrupt(() => s.at(s.headLogseq()).lineage(f.out, { depth: 1 }), f.edge);
      expectEdgeCorrupt(() => s.edgesOfType(f.out, "derivation", "up"), f.edge);
      expectEdgeCorrupt(() => s.edgesOfType(f.evil, "derivation"), f.edge);
    }
    // Before: the dry run listed, and gc swept, the real source (marking followed the forged edge to evil).
    expectGcRefused(w, f.edge, [f.src, f.evil, f.out]);
    expect(w.get(f.src).toString()).toBe("source data\n");
    expect(await fsckProblems(w)).toEqual([{ code: "edge_invalid", subject: f.edge.edgeId, message: `edge ${f.edge.edgeId} does not match its content` }]);
  });

  it("a to-node rewritten to an artifact gc would sweep: gc refuses although marking never reaches the edge", async () => {
    // The pinned output no longer touches the edge, so marking would never cross it: only a check of
    // every edge, not of the edges marking follows, keeps gc from sweeping the real source.
    const f = fixture({ pinEvil: false });
    tamper(f.dir, "UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1", hex(f.evil), f.edge.logseq);
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    expectGcRefused(w, f.edge, [f.src, f.evil, f.out]);
    expectEdgeCorrupt(() => w.lineage(f.src, { direction: "down" }), f.edge);
    expect(await fsckProblems(w)).toEqual([{ code: "edge_invalid", subject: f.edge.edgeId, message: `edge ${f.edge.edgeId} does not match its content` }]);
  });

  it("an edge type rewritten (derivation → contains, which gc follows the other way): refused", async () => {
    const f = fixture();
    tamper(f.dir, "UPDATE edges SET edge_type = 'contains' WHERE logseq = ?", f.edge.logseq);
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    expectEdgeCorrupt(() => w.getEdge(f.edge.edgeId), f.edge);
    expectEdgeCorrupt(() => w.edgesOfType(f.src, "contains"), f.edge);
    expectEdgeCorrupt(() => w.lineage(f.out), f.edge);
    expectGcRefused(w, f.edge, [f.src]);
    expect(await fsckProblems(w)).toEqual([{ code: "edge_invalid", subject: f.edge.edgeId, message: `edge ${f.edge.edgeId} does not match its content` }]);
  });

  it("an edge whose from-node row was deleted: 'has no from nodes', as fsck says", async () => {
    const f = fixture();
    tamper(f.dir, "DELETE FROM edge_nodes WHERE edge_logseq = ? AND side = 0", f.edge.logseq);
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    expectEdgeCorrupt(() => w.getEdge(f.edge.edgeId), f.edge, "has no from nodes");
    expectEdgeCorrupt(() => w.lineage(f.out), f.edge, "has no from nodes");
    expectGcRefused(w, f.edge, [f.src], "has no from nodes");
    expect(await fsckProblems(w)).toEqual([{ code: "edge_invalid", subject: f.edge.edgeId, message: `edge ${f.edge.edgeId} has no from nodes` }]);
  });

  it("edge nodes whose edge row was deleted: gc refuses them as lineage does (it used to skip them and sweep the source)", async () => {
    const f = fixture();
    tamper(f.dir, "DELETE FROM edges WHERE logseq = ?", f.edge.logseq);
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    const message = `the catalog is corrupt: edge nodes at logseq ${f.edge.logseq} belong to no edge; run cairn fsck`;
    for (const err of gcErrors(w)) expect(err).toMatchObject({ code: ErrorCode.STORE_CORRUPT, message, details: { logseq: f.edge.logseq } });
    expect(w.stat(f.src).state).toBe("present");
    expect((await fsckProblems(w))[0]).toEqual({ code: "edge_invalid", subject: `logseq ${f.edge.logseq}`, message: `edge nodes at logseq ${f.edge.logseq} belong to no edge` });
  });

  it("adding the same edge again over a rewritten row is E_STORE_CORRUPT, not 'already there'", () => {
    const f = fixture();
    tamper(f.dir, "UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 0", hex(f.evil), f.edge.logseq);
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    const head = w.headLogseq();
    expectEdgeCorrupt(() => w.addEdge({ from: [f.src], to: [f.out], type: "derivation", role: "input" }), f.edge);
    expect(w.headLogseq()).toBe(head);
  });
});

describe("a receipt's execution edges are checked like any edge (F5, second repro)", () => {
  function receiptFixture() {
    const dir = join(makeTempDir(), "st2");
    const s = openStore({ dir, durability: "normal", clock: past() });
    const p = s.putBytes(Buffer.from("prog")).digest;
    const i = s.putBytes(Buffer.from("in")).digest;
    const o = s.putBytes(Buffer.from("out")).digest;
    const r = s.recordReceipt({ program: p, inputs: [i], outputs: [o], status: "succeeded" });
    s.pin("out", o);
    const inputEdge = s.edgesOfType(r.digest, "execution", "up").find((e) => e.role === "input") as EdgeRecord;
    s.close();
    // The 'input' edge now says the output is its own input.
    tamper(dir, "UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 0", hex(o), inputEdge.logseq);
    return { dir, p, i, o, r, inputEdge };
  }

  it("lineage of the output, pruneReceipt and gc are E_STORE_CORRUPT naming the input edge; the receipt body still loads; fsck reports edge_invalid", async () => {
    const f = receiptFixture();
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    // Before: exit 0 and "execution/input <output> → receipt".
    expectEdgeCorrupt(() => w.lineage(f.o), f.inputEdge);
    expectEdgeCorrupt(() => w.lineage(f.r.digest, { depth: 1 }), f.inputEdge);
    expectEdgeCorrupt(() => w.edgesOfType(f.o, "execution"), f.inputEdge);
    expectEdgeCorrupt(() => w.getEdge(f.inputEdge.edgeId), f.inputEdge);
    expect(w.getReceipt(f.r.digest).inputs).toEqual([f.i]); // the body is intact (and checked)
    expectEdgeCorrupt(() => w.pruneReceipt(f.r.digest), f.inputEdge);
    expect(w.getReceipt(f.r.digest).digest).toBe(f.r.digest); // nothing pruned
    // Before: gc swept the real input, which only the forged edge kept.
    expectGcRefused(w, f.inputEdge, [f.p, f.i, f.o]);
    expect(await fsckProblems(w)).toEqual([{ code: "edge_invalid", subject: f.inputEdge.edgeId, message: `edge ${f.inputEdge.edgeId} does not match its content` }]);
  });

  it("pruning the forged edge by its id (which reads no content) makes the store whole again", async () => {
    const f = receiptFixture();
    const w = track(openStore({ dir: f.dir, durability: "normal" }));
    w.pruneEdge(f.inputEdge.edgeId);
    expect(w.lineage(f.o).edges.map((e) => e.role)).toEqual(["program", "output"]);
    expect((await w.fsck()).problems).toEqual([]);
    expect(w.gc({ graceMs: 0, dryRun: true }).swept.map((s) => s.digest)).toEqual([f.i]);
  });
});

describe("an untouched store reads and collects as before", () => {
  it("multi-node edges, a split receipt and contains edges: getEdge, lineage, edgesOfType, addEdge again, gc and fsck all pass", async () => {
    const dir = join(makeTempDir(), "ok");
    const s = track(openStore({ dir, durability: "normal", clock: past() }));
    const ds = Array.from({ length: 4100 }, (_, k) => s.putBytes(Buffer.from(`n${k}`)).digest);
    const [a, b, c] = ds as [Digest, Digest, Digest];
    const multi = s.addEdge({ from: [b, a], to: [c, a], type: "derived_from", role: "cairn.x-y_z" });
    const r = s.recordReceipt({ program: a, inputs: ds, outputs: [c], status: "succeeded" }); // inputs split over two edges
    const cont = s.addEdge({ from: [c], to: ds.slice(10, 20), type: "contains", role: "member" });
    expect(s.getEdge(multi.edgeId)).toEqual(multi);
    expect(s.addEdge({ from: [b, a], to: [c, a], type: "derived_from", role: "cairn.x-y_z" })).toEqual(multi);
    expect(s.edgesOfType(c, "contains")).toEqual([cont]);
    expect(s.lineage(r.digest, { depth: 1 }).edges.map((e) => [e.role, e.from.length])).toEqual([["program", 1], ["input", 4096], ["input", 4]]);
    s.pin("c", c);
    s.close();
    const w = track(openStore({ dir, durability: "normal" }));
    const rep = w.gc({ graceMs: 0 });
    expect(rep.sweptCount).toBe(0); // c keeps its receipt's inputs (all of ds) through the execution edges
    expect((await w.fsck()).problems).toEqual([]);
  });
});

describe("the edge id of an edge read back (readEdgeId)", () => {
  it("is edgeId's for every edge add accepts, and for names add refuses (fast-check)", () => {
    const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `sha256:${Buffer.from(b).toString("hex")}` as Digest);
    const name = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_.-]{0,63}$/), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(digest, { minLength: 1, maxLength: 5 }), fc.array(digest, { minLength: 1, maxLength: 5 }), name, name, (from, to, type, role) => {
        const e = { from, to, type, role, edgeId: `sha256:${"0".repeat(64)}` as Digest, logseq: 1 };
        expect(readEdgeId(e)).toBe(edgeId(e));
      }),
    );
  });
});
