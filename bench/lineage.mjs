/**
 * Lineage queries over a ~1M-edge graph.
 *
 * Graph: a layered DAG of LAYERS layers of W artifacts each (distinct 8-byte buffers); every
 * artifact below the first layer has PARENTS edges `{from: [parent], to: [child],
 * type: "derived_from", role: "input"}` from distinct random artifacts of the layer above.
 * Default W = 10,000, LAYERS = 51, PARENTS = 2: 510k artifacts, 1,000,000 edges. Scale with
 * CAIRN_BENCH_SCALE (scales W) or set CAIRN_BENCH_EDGES directly.
 *
 * Figures:
 *  - build: store.addEdge in store.transaction batches of 10k (edges/s) vs raw better-sqlite3
 *    inserting the same rows (edge_id = sha256 of the same canonical JSON, one `edges` row and
 *    one `edge_nodes` row per node) into the same tables and indexes (DDL copied from a Cairn
 *    catalog), same pragmas, same batches.
 *  - queries: store.lineage(d, { direction, depth: 5 }) for random start nodes (from layers
 *    where depth 5 is reachable both ways), p50 and p95 ms, vs a breadth-first walk in plain
 *    JS + raw SQL over the same catalog file opened read-only, producing the same result
 *    (nodes with depths ordered by depth/digest, edge records with ids, types, roles and
 *    from/to lists ordered by logseq). Results are compared for equality.
 */
import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  catalogPath, envInt, fmtInt, fmtNum, gc, header, loadCairn, note, now, percentile, prng, progress, progressDone, report,
  scaled, withTmpDir,
} from "./util.mjs";

const { openStore } = await loadCairn();

const LAYERS = 51;
const PARENTS = 2;
const EDGES_REQ = process.env.CAIRN_BENCH_EDGES ? envInt("CAIRN_BENCH_EDGES", 1) : undefined;
const W = EDGES_REQ !== undefined
  ? Math.max(20, Math.round(EDGES_REQ / ((LAYERS - 1) * PARENTS)))
  : scaled(10_000, 20);
const NODES = W * LAYERS;
const EDGES = (LAYERS - 1) * W * PARENTS;
const BATCH = 10_000;
const DEPTH = 5;
const QUERIES = envInt("CAIRN_BENCH_LINEAGE_QUERIES", 200);
const WARMUP = Math.min(20, QUERIES);

header(`lineage: ${fmtInt(EDGES)} edges over ${fmtInt(NODES)} artifacts (${LAYERS} layers x ${fmtInt(W)}, ${PARENTS} parents each)`);

const TYPE = "derived_from";
const ROLE = "input";

/** Parent indices: edge e (child-major order) goes parents[e] -> child(e). */
function makeGraph() {
  const rnd = prng(777);
  const parents = new Uint32Array(EDGES);
  const children = new Uint32Array(EDGES);
  let e = 0;
  for (let l = 1; l < LAYERS; l++) {
    for (let j = 0; j < W; j++) {
      const p1 = Math.floor(rnd() * W);
      let p2 = Math.floor(rnd() * (W - 1));
      if (p2 >= p1) p2++;
      for (const p of [p1, p2].slice(0, PARENTS)) {
        parents[e] = (l - 1) * W + p;
        children[e] = l * W + j;
        e++;
      }
    }
  }
  return { parents, children };
}

function fmtDur(ms) {
  return ms >= 1000 ? `${fmtNum(ms / 1000, 1)} s` : `${fmtInt(ms)} ms`;
}

await withTmpDir("lineage", async (dir) => {
  const storeDir = join(dir, "store");
  const rawPath = join(dir, "raw.sqlite");
  const { parents, children } = makeGraph();

  // ---------------------------------------------------------------- build: Cairn
  const store = openStore({ dir: storeDir, durability: "normal" });
  const digests = new Array(NODES);
  const nodeBuf = Buffer.alloc(8);
  gc();
  let t0 = now();
  for (let start = 0; start < NODES; start += BATCH) {
    store.transaction(() => {
      for (let i = start; i < Math.min(NODES, start + BATCH); i++) {
        nodeBuf.writeUInt32BE(0xcafe, 0);
        nodeBuf.writeUInt32BE(i, 4);
        digests[i] = store.putBytes(nodeBuf).digest;
      }
    });
  }
  const artifactsMs = now() - t0;

  let firstEdgeId;
  gc();
  t0 = now();
  for (let start = 0; start < EDGES; start += BATCH) {
    store.transaction(() => {
      for (let e = start; e < Math.min(EDGES, start + BATCH); e++) {
        const r = store.addEdge({ from: [digests[parents[e]]], to: [digests[children[e]]], type: TYPE, role: ROLE });
        if (e === 0) firstEdgeId = r.edgeId;
      }
    });
    progress(`cairn build ${fmtInt(Math.min(EDGES, start + BATCH))}/${fmtInt(EDGES)} edges`);
  }
  const cairnBuildMs = now() - t0;
  progressDone();
  store.close();

  // ---------------------------------------------------------------- build: raw baseline
  const schema = (() => {
    const cat = new Database(catalogPath(storeDir), { readonly: true });
    try {
      return cat
        .prepare("SELECT sql FROM sqlite_master WHERE tbl_name IN ('edges', 'edge_nodes') AND sql IS NOT NULL ORDER BY type DESC")
        .all()
        .map((r) => r.sql);
    } finally {
      cat.close();
    }
  })();
  const raw = new Database(rawPath);
  raw.pragma("journal_mode = WAL");
  raw.pragma("synchronous = NORMAL");
  raw.pragma("cache_size = -65536");
  for (const sql of schema) raw.exec(sql);
  const insEdge = raw.prepare("INSERT INTO edges(logseq, edge_id, edge_type, role) VALUES (?, ?, ?, ?)");
  const insNode = raw.prepare("INSERT INTO edge_nodes(edge_logseq, side, pos, node) VALUES (?, ?, ?, ?)");
  const hexToBytes = (d) => Buffer.from(d.slice(7), "hex");
  let rawFirstId;
  const rawBatch = raw.transaction((start, end) => {
    for (let e = start; e < end; e++) {
      const from = [digests[parents[e]]];
      const to = [digests[children[e]]];
      // same bytes as Cairn's canonical JSON for this shape (sorted keys, plain ASCII strings)
      const id = createHash("sha256").update(JSON.stringify({ from, role: ROLE, to, type: TYPE })).digest();
      if (e === 0) rawFirstId = id;
      const logseq = e + 1;
      insEdge.run(logseq, id, TYPE, ROLE);
      from.forEach((d, i) => insNode.run(logseq, 0, i, hexToBytes(d)));
      to.forEach((d, i) => insNode.run(logseq, 1, i, hexToBytes(d)));
    }
  });
  gc();
  t0 = now();
  for (let start = 0; start < EDGES; start += BATCH) {
    rawBatch(start, Math.min(EDGES, start + BATCH));
    progress(`raw build ${fmtInt(Math.min(EDGES, start + BATCH))}/${fmtInt(EDGES)} edges`);
  }
  const rawBuildMs = now() - t0;
  progressDone();
  raw.close();
  if (firstEdgeId !== `sha256:${rawFirstId.toString("hex")}`) throw new Error("raw baseline edge id differs from Cairn's");

  report({
    id: "lineage.build",
    label: `lineage build addEdge batched(10k) ${fmtInt(EDGES)} edges`,
    value: EDGES / (cairnBuildMs / 1000),
    unit: "/s",
    baseline: { label: "raw sqlite same rows", value: EDGES / (rawBuildMs / 1000) },
    info: `cairn ${fmtDur(cairnBuildMs)}, raw ${fmtDur(rawBuildMs)}, single run`,
  });
  note(
    `artifacts for the graph: ${fmtInt(NODES)} 8-byte putBytes in ${fmtDur(artifactsMs)} (${fmtInt(NODES / (artifactsMs / 1000))}/s); ` +
      `catalog ${fmtInt(statSync(catalogPath(storeDir)).size / 1e6)} MB`,
  );

  // ---------------------------------------------------------------- queries
  const reader = openStore({ dir: storeDir, readOnly: true });
  const db = new Database(catalogPath(storeDir), { readonly: true });
  db.pragma("cache_size = -65536"); // as Cairn's catalog
  const touch = db.prepare(
    `SELECT en.edge_logseq AS ls, e.edge_id AS id, e.edge_type AS type, e.role AS role, o.side AS side, o.node AS node
       FROM edge_nodes en
       JOIN edges e ON e.logseq = en.edge_logseq
       JOIN edge_nodes o ON o.edge_logseq = en.edge_logseq
      WHERE en.node = ? AND en.side = ?
      ORDER BY en.edge_logseq, o.side, o.pos`,
  );
  const exists = db.prepare("SELECT 1 FROM artifacts WHERE digest = ?");

  /** The baseline: same walk, same output, plain JS + raw SQL. */
  function rawLineage(start, direction, depth) {
    if (exists.get(hexToBytes(start)) === undefined) throw new Error("start not found");
    const mySide = direction === "up" ? 1 : 0;
    const otherSide = 1 - mySide;
    const seen = new Map([[start, 0]]);
    const edges = new Map();
    let frontier = [start];
    for (let d = 1; d <= depth && frontier.length > 0; d++) {
      const next = new Set();
      for (const node of frontier) {
        let ls = -1;
        let fresh = false;
        let e;
        for (const r of touch.all(hexToBytes(node), mySide)) {
          if (r.ls !== ls) {
            ls = r.ls;
            e = edges.get(ls);
            fresh = e === undefined;
            if (fresh) {
              e = { edgeId: `sha256:${r.id.toString("hex")}`, logseq: ls, type: r.type, role: r.role, from: [], to: [] };
              edges.set(ls, e);
            }
          }
          const digest = `sha256:${r.node.toString("hex")}`;
          if (fresh) (r.side === 0 ? e.from : e.to).push(digest);
          if (r.side === otherSide && !seen.has(digest)) next.add(digest);
        }
      }
      frontier = [...next].sort();
      for (const n of frontier) seen.set(n, d);
    }
    const nodes = [...seen].map(([digest, dd]) => ({ digest, depth: dd }));
    nodes.sort((a, b) => a.depth - b.depth || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    return { start, direction, depth, nodes, edges: [...edges.values()].sort((a, b) => a.logseq - b.logseq) };
  }

  function sameResult(a, b) {
    if (a.nodes.length !== b.nodes.length || a.edges.length !== b.edges.length) return false;
    for (let i = 0; i < a.nodes.length; i++) {
      if (a.nodes[i].digest !== b.nodes[i].digest || a.nodes[i].depth !== b.nodes[i].depth) return false;
    }
    for (let i = 0; i < a.edges.length; i++) {
      const x = a.edges[i];
      const y = b.edges[i];
      if (x.edgeId !== y.edgeId || x.logseq !== y.logseq || x.from.join() !== y.from.join() || x.to.join() !== y.to.join()) return false;
    }
    return true;
  }

  // start nodes from layers where a depth-5 walk is possible in both directions
  const rnd = prng(4242);
  const lo = Math.min(DEPTH, LAYERS - 1);
  const hi = Math.max(lo, LAYERS - 1 - DEPTH);
  const pick = () => digests[(lo + Math.floor(rnd() * (hi - lo + 1))) * W + Math.floor(rnd() * W)];

  for (const direction of ["up", "down"]) {
    for (let i = 0; i < WARMUP; i++) {
      const s = pick();
      reader.lineage(s, { direction, depth: DEPTH });
      rawLineage(s, direction, DEPTH);
    }
    const tc = [];
    const tb = [];
    let nodesSum = 0;
    let edgesSum = 0;
    gc();
    for (let i = 0; i < QUERIES; i++) {
      const s = pick();
      let a;
      let b;
      const runCairn = () => {
        const t = now();
        a = reader.lineage(s, { direction, depth: DEPTH });
        tc.push(now() - t);
      };
      const runRaw = () => {
        const t = now();
        b = rawLineage(s, direction, DEPTH);
        tb.push(now() - t);
      };
      if (i % 2 === 0) {
        runCairn();
        runRaw();
      } else {
        runRaw();
        runCairn();
      }
      if (!sameResult(a, b)) throw new Error(`lineage result differs from the baseline for ${s} (${direction})`);
      nodesSum += a.nodes.length;
      edgesSum += a.edges.length;
    }
    for (const p of [50, 95]) {
      report({
        id: `lineage.${direction}.p${p}`,
        label: `lineage ${direction} depth ${DEPTH} p${p}`,
        value: percentile(tc, p),
        unit: "ms",
        lowerIsBetter: true,
        baseline: { label: "raw SQL BFS", value: percentile(tb, p) },
        info: `${QUERIES} random starts; avg ${fmtNum(nodesSum / QUERIES, 1)} nodes, ${fmtNum(edgesSum / QUERIES, 1)} edges per query`,
      });
    }
  }
  reader.close();
  db.close();
  note("query baseline: one indexed join per frontier node (edge_nodes -> edges -> edge_nodes), results checked equal to Cairn's");
});
