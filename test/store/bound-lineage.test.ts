/**
 * The lineage bounds (§5.12, §9): a walk stops with E_LIMIT_EXCEEDED once it would cross more
 * than MAX_LINEAGE_EDGES edges or list more than MAX_LINEAGE_NODES node digests (the nodes it
 * reaches plus the from- and to-nodes of the edges it crosses). Before the node bound, a walk
 * across a few wide `contains` edges (4096 nodes each) held hundreds of thousands of nodes —
 * 410k nodes across 100 edges, far under the edge bound, used 540 MB. The bounds are injected
 * small here (the same `Edges` the store uses, over the store's catalog).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, type Digest, type Store } from "../../src/index.js";
import { Catalog } from "../../src/store/catalog.js";
import { Artifacts } from "../../src/store/artifacts.js";
import { Edges, type LineageLimits } from "../../src/store/edges.js";
import { CATALOG_FILE } from "../../src/store/layout.js";
import { steppingClock } from "../../src/core/clock.js";
import { expectCairn, freshStore } from "./helpers.js";

let ctx: ReturnType<typeof freshStore> | undefined;
const catalogs: Catalog[] = [];
afterEach(() => {
  for (const c of catalogs.splice(0)) c.close();
  ctx?.cleanup();
  ctx = undefined;
});

function store(): Store {
  ctx = freshStore();
  return ctx.store;
}

/** `n` fresh artifacts, named by `tag`. */
function puts(s: Store, tag: string, n: number): Digest[] {
  return Array.from({ length: n }, (_, i) => s.putBytes(Buffer.from(`${tag}${i}`)).digest);
}

/** An `Edges` over the store's catalog (read-only) with the given bounds. */
function edgesWith(limits: LineageLimits): Edges {
  const root = (ctx as NonNullable<typeof ctx>).dir;
  const catalog = new Catalog(join(root, CATALOG_FILE), { readOnly: true, durability: "normal", create: false });
  catalogs.push(catalog);
  return new Edges(catalog, new Artifacts({ root, catalog, clock: steppingClock(0, 1) }), limits);
}

const nodesMessage = (start: Digest, n: number): string =>
  `lineage of ${start} lists more than ${n} node digests (the nodes it reaches plus the from- and to-nodes of the edges it crosses); lower depth (--depth)`;

describe("lineage node bound", () => {
  it("a few wide edges reaching many nodes: E_LIMIT_EXCEEDED at the node bound, far under the edge bound", () => {
    const s = store();
    const [root] = puts(s, "root", 1) as [Digest];
    // 3 `contains` edges of 4 members each (walked up, from the container to its members, §5.12):
    // 13 nodes reached, 15 digests listed by the edges.
    for (let k = 0; k < 3; k++) s.addEdge({ from: [root], to: puts(s, `m${k}-`, 4), type: "contains", role: "member" });
    const listed = 13 + 3 * 5;
    const full = s.lineage(root);
    expect(full.nodes).toHaveLength(13);
    expect(full.nodes.length + full.edges.reduce((n, e) => n + e.from.length + e.to.length, 0)).toBe(listed);
    // exactly at the bound: the whole result
    expect(edgesWith({ maxEdges: 1000, maxNodes: listed }).lineage(root)).toEqual(full);
    // one under it: a clear error with the stable code, never a shortened result
    const err = expectCairn(() => edgesWith({ maxEdges: 1000, maxNodes: listed - 1 }).lineage(root), ErrorCode.LIMIT_EXCEEDED, nodesMessage(root, listed - 1));
    expect(err.details).toEqual({ digest: root, limit: listed - 1 });
    // a shallower walk fits again (what the message advises)
    const one = edgesWith({ maxEdges: 1000, maxNodes: listed - 1 }).lineage(root, { depth: 0 });
    expect(one.nodes).toEqual([{ digest: root, depth: 0 }]);
  });

  it("counts the nodes of the edges crossed, not only the nodes reached", () => {
    const s = store();
    const [x] = puts(s, "x", 1) as [Digest];
    // Downstream from x: 3 edges, each from x and 4 co-inputs to one output. The walk reaches
    // 4 nodes only, but the edges it returns list 3 × 6 digests.
    for (let k = 0; k < 3; k++) s.addEdge({ from: [x, ...puts(s, `co${k}-`, 4)], to: puts(s, `out${k}`, 1), type: "derived_from", role: "input" });
    const full = s.lineage(x, { direction: "down" });
    expect(full.nodes).toHaveLength(4);
    const listed = 4 + 3 * 6;
    expect(edgesWith({ maxEdges: 1000, maxNodes: listed }).lineage(x, { direction: "down" })).toEqual(full);
    expectCairn(() => edgesWith({ maxEdges: 1000, maxNodes: listed - 1 }).lineage(x, { direction: "down" }), ErrorCode.LIMIT_EXCEEDED, nodesMessage(x, listed - 1));
    // upstream from an output: 1 edge of 6 nodes, 6 nodes reached
    const out0 = full.edges[0]?.to[0] as Digest;
    expect(edgesWith({ maxEdges: 1000, maxNodes: 12 }).lineage(out0).nodes).toHaveLength(6);
    expectCairn(() => edgesWith({ maxEdges: 1000, maxNodes: 11 }).lineage(out0), ErrorCode.LIMIT_EXCEEDED, nodesMessage(out0, 11));
  });

  it("the edge bound still applies on its own (many narrow edges)", () => {
    const s = store();
    const [root] = puts(s, "root", 1) as [Digest];
    for (const d of puts(s, "c", 5)) s.addEdge({ from: [root], to: [d], type: "contains", role: "member" });
    expect(edgesWith({ maxEdges: 5, maxNodes: 1000 }).lineage(root).edges).toHaveLength(5);
    const err = expectCairn(
      () => edgesWith({ maxEdges: 4, maxNodes: 1000 }).lineage(root),
      ErrorCode.LIMIT_EXCEEDED,
      `lineage of ${root} crosses more than 4 edges; lower depth (--depth)`,
    );
    expect(err.details).toEqual({ digest: root, limit: 4 });
  });

  it("containment edges checked but not crossed count against the edge bound (a member held by many containers)", () => {
    const s = store();
    const [member] = puts(s, "member", 1) as [Digest];
    for (const c of puts(s, "container", 5)) s.addEdge({ from: [c], to: [member], type: "contains", role: "member" });
    // up from a member never climbs into its containers: one node, no edge crossed, 5 edges read
    expect(edgesWith({ maxEdges: 5, maxNodes: 1000 }).lineage(member)).toMatchObject({ nodes: [{ digest: member, depth: 0 }], edges: [] });
    const err = expectCairn(
      () => edgesWith({ maxEdges: 4, maxNodes: 1000 }).lineage(member),
      ErrorCode.LIMIT_EXCEEDED,
      `lineage of ${member} reads more than 4 edges (the edges it crosses plus the containment edges it checks without crossing); lower depth (--depth)`,
    );
    expect(err.details).toEqual({ digest: member, limit: 4 });
  });
});

describe("edgesOfType: one node's edges of one type", () => {
  it("lists only that type, in logseq order, from or to the node, without reading the node's other edges", () => {
    const s = store();
    const [manifest] = puts(s, "manifest", 1) as [Digest];
    const files = puts(s, "file", 3);
    // A prior-state manifest shared by many runs: one `contains` edge, an `execution` edge per run.
    const contains = s.addEdge({ from: [manifest], to: files, type: "contains", role: "state" });
    const receipts = puts(s, "receipt", 5);
    for (const r of receipts) s.addEdge({ from: [manifest], to: [r], type: "execution", role: "input" });
    expect(s.edgesOfType(manifest, "contains")).toEqual([contains]);
    expect(s.edgesOfType(manifest, "execution", "down").map((e) => e.to)).toEqual(receipts.map((r) => [r]));
    expect(s.edgesOfType(files[1] as Digest, "contains", "up")).toEqual([contains]);
    expect(s.edgesOfType(files[1] as Digest, "contains", "down")).toEqual([]);
    // The edge bound applies to what is listed, not to the node's other edges.
    expect(edgesWith({ maxEdges: 1, maxNodes: 1000 }).ofType(manifest, "contains", "down")).toEqual([contains]);
    expectCairn(() => edgesWith({ maxEdges: 4, maxNodes: 1000 }).ofType(manifest, "execution", "down"), ErrorCode.LIMIT_EXCEEDED, `more than 4 execution edges from ${manifest}`);
    expectCairn(() => s.edgesOfType(manifest, "Bad Type"), ErrorCode.USAGE, `type "Bad Type" must match ^[a-z][a-z0-9_.-]{0,63}$`);
  });
});
