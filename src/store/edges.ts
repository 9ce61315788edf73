/**
 * TGK edges: from-nodes → to-nodes with an edge type and a role. Nodes are artifact digests
 * that the store knows (referential integrity is checked on write). The edge id is the
 * digest of the canonical JSON of {from, to, type, role}, so adding the same edge twice is
 * idempotent. Traversal walks upstream (towards what a node was derived from) or
 * downstream, breadth first, in a deterministic order. A `contains` edge (container → members)
 * is walked the other way from every other type: a container is derived from its members.
 *
 * Every edge read from the catalog (getEdge, lineage, edgesOfType, receipt pruning, gc) is
 * re-checked against its id (`checkedEdge`, the check fsck reports as edge_invalid): an edge
 * whose rows were rewritten behind Cairn's back is E_STORE_CORRUPT naming it, never returned
 * or followed.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { canonicalDigest } from "../core/canonical.js";
import { digestToBytes, parseDigest, sha256, type Digest } from "../core/digest.js";
import { storedDigest, type Catalog } from "./catalog.js";
import { checkAsOf } from "./artifact-rows.js";
import type { Artifacts } from "./artifacts.js";

/**
 * The edge type of containment: from a container (a run's plan or manifest, a state or snapshot
 * manifest, a run-started intent, a file listing) to its members. The one type the lineage walk
 * (and gc marking) follows from its from-nodes to its to-nodes when walking up: a container is
 * made from its members, so they are upstream of it, and the containers that hold a member are
 * downstream of it. The same value as gc.ts's constant (which cannot be imported here: gc.ts
 * imports this module).
 */
export const CONTAINS_EDGE_TYPE = "contains";
/** Most nodes on one side of an edge. */
export const MAX_EDGE_NODES = 4096;
/** Deepest lineage walk allowed. */
export const MAX_LINEAGE_DEPTH = 1024;
/**
 * Most edges one lineage walk may cross before it stops with E_LIMIT_EXCEEDED. A lineage result
 * is held in memory whole (and `cairn lineage --json` prints it whole): 100 000 edges of two
 * nodes each are ~60 MB of heap and ~370 MB of peak RSS in `cairn lineage --json`.
 */
export const MAX_LINEAGE_EDGES = 100_000;
/**
 * Most node digests one lineage result may list before the walk stops with E_LIMIT_EXCEEDED:
 * every node reached (the start included) plus every from- and to-node of every edge crossed.
 * Edges list up to MAX_EDGE_NODES nodes a side, so a walk across few edges can reach hundreds of
 * thousands of nodes: this, not the edge count, bounds that. 500 000 digests are ~40 MB of heap
 * and ~350 MB of peak RSS in `cairn lineage --json` (which held 540 MB for 410 000 nodes across
 * 100 edges before this bound).
 */
export const MAX_LINEAGE_NODES = 500_000;
const NAME_RE = /^[a-z][a-z0-9_.-]{0,63}$/;

export interface EdgeInput {
  from: Digest[];
  to: Digest[];
  /** Edge type, e.g. `execution`, `contains`, `derived_from`. */
  type: string;
  /** Role of the from-nodes, e.g. `input`, `program`, `output`. */
  role: string;
}

export interface EdgeRecord extends EdgeInput {
  edgeId: Digest;
  logseq: number;
}

export type Direction = "up" | "down";

export interface LineageOptions {
  direction?: Direction;
  depth?: number;
  asOf?: number;
}

export interface LineageNode {
  digest: Digest;
  depth: number;
}

export interface Lineage {
  start: Digest;
  direction: Direction;
  depth: number;
  /** Every node reached, ordered by (depth, digest); the start node is depth 0. */
  nodes: LineageNode[];
  /** Every edge crossed, ordered by logseq. */
  edges: EdgeRecord[];
}

export function checkName(kind: string, v: string): string {
  if (typeof v !== "string" || !NAME_RE.test(v)) {
    throw new CairnError(ErrorCode.USAGE, `${kind} ${JSON.stringify(v)} must match ${NAME_RE.source}`, { [kind]: v });
  }
  return v;
}

export function edgeId(e: EdgeInput): Digest {
  return canonicalDigest({ from: e.from, role: e.role, to: e.to, type: e.type });
}

/**
 * `edgeId` of an edge read from the catalog (nodes on both sides, each a digest as storedDigest
 * gives it): when type and role match NAME_RE, as `add` requires, the canonical JSON is written
 * out directly — none of these strings needs a JSON escape, so it is the same bytes as the
 * generic encoder's, at a quarter of its cost (measured: the check runs on every edge read and on
 * every edge at each gc). Anything else goes through `edgeId`.
 */
export function readEdgeId(e: EdgeRecord): Digest {
  if (typeof e.type !== "string" || typeof e.role !== "string" || !NAME_RE.test(e.type) || !NAME_RE.test(e.role)) return edgeId(e);
  return sha256(`{"from":["${e.from.join('","')}"],"role":"${e.role}","to":["${e.to.join('","')}"],"type":"${e.type}"}`);
}

/**
 * An edge as read from the catalog (its id and nodes already checked to be 32-byte digests),
 * checked against its id: nodes on both sides, and the id re-derived from the nodes, type and
 * role equal to the stored one (the check fsck reports as edge_invalid). Otherwise E_STORE_CORRUPT
 * "the catalog is corrupt: edge <id> does not match its content; run cairn fsck" (or "… has no
 * from nodes"): a row rewritten behind Cairn's back is never returned or followed. Cost: one
 * SHA-256 of the edge's canonical JSON.
 */
export function checkedEdge(e: EdgeRecord): EdgeRecord {
  let why: string | undefined;
  if (e.from.length === 0 || e.to.length === 0) why = `has no ${e.from.length === 0 ? "from" : "to"} nodes`;
  else {
    let derived: Digest | undefined;
    try {
      derived = readEdgeId(e);
    } catch {
      derived = undefined; // a type or role without canonical JSON: not what `add` wrote
    }
    if (derived !== e.edgeId) why = "does not match its content";
  }
  if (why !== undefined) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `the catalog is corrupt: edge ${e.edgeId} ${why}; run cairn fsck`, { edgeId: e.edgeId, logseq: e.logseq });
  }
  return e;
}

/** The bounds of one lineage walk (the named constants above; tests pass smaller ones). */
export interface LineageLimits {
  readonly maxEdges: number;
  readonly maxNodes: number;
}

const LINEAGE_LIMITS: LineageLimits = { maxEdges: MAX_LINEAGE_EDGES, maxNodes: MAX_LINEAGE_NODES };

/** An edge's input checked (type and role names, 1..MAX_EDGE_NODES digests a side) and copied. */
function checkedEdgeInput(e: EdgeInput): EdgeInput {
  checkName("edge type", e.type);
  checkName("edge role", e.role);
  for (const side of ["from", "to"] as const) {
    const nodes = e[side];
    if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > MAX_EDGE_NODES) {
      throw new CairnError(ErrorCode.USAGE, `edge ${side} must list 1..${MAX_EDGE_NODES} digests`, { field: side });
    }
    nodes.forEach((d, i) => parseDigest(d, `edge ${side}[${i}]`));
  }
  return { from: [...e.from], to: [...e.to], type: e.type, role: e.role };
}

export class Edges {
  constructor(
    private readonly cat: Catalog,
    private readonly artifacts: Artifacts,
    private readonly limits: LineageLimits = LINEAGE_LIMITS,
  ) {}

  /** Records an edge (idempotent: an edge already recorded is returned as it is), in its own transaction (a savepoint when nested). */
  add(e: EdgeInput): EdgeRecord {
    const input = checkedEdgeInput(e);
    return this.cat.tx(() => this.write(input));
  }

  /**
   * `add` without a savepoint of its own, for a store operation that records edges inside its own
   * `cat.tx` and lets every error of theirs propagate (receipts' `record`): that transaction, which
   * rolls back as a whole, already makes the edge all-or-nothing. Never for a caller that catches
   * a failed add and goes on, as that could leave an edge's row without its nodes.
   */
  addInCallerTx(e: EdgeInput): EdgeRecord {
    if (!this.cat.inTransaction) throw new CairnError(ErrorCode.INTERNAL, "addInCallerTx outside a transaction");
    return this.write(checkedEdgeInput(e));
  }

  /** The writes of `add` (inside a transaction). */
  private write(input: EdgeInput): EdgeRecord {
    const id = edgeId(input);
    const idBytes = digestToBytes(id);
    const existing = this.cat.stmt("SELECT logseq FROM edges WHERE edge_id = ?").get(idBytes) as { logseq: number } | undefined;
    if (existing !== undefined) {
      this.byLogseq(existing.logseq); // checked as any read: a rewritten row is E_STORE_CORRUPT, not "already there"
      return { ...input, edgeId: id, logseq: existing.logseq };
    }
    for (const side of ["from", "to"] as const) {
      for (const d of input[side]) {
        if (!this.artifacts.known(d)) {
          throw new CairnError(ErrorCode.DANGLING_REFERENCE, `edge ${side} node ${d} is not an artifact in this store`, { digest: d, field: side });
        }
      }
    }
    const logseq = this.cat.allocLogseq();
    this.cat.stmt("INSERT INTO edges(logseq, edge_id, edge_type, role) VALUES (?, ?, ?, ?)").run(logseq, idBytes, input.type, input.role);
    const ins = this.cat.stmt("INSERT INTO edge_nodes(edge_logseq, side, pos, node) VALUES (?, ?, ?, ?)");
    input.from.forEach((d, i) => ins.run(logseq, 0, i, digestToBytes(d)));
    input.to.forEach((d, i) => ins.run(logseq, 1, i, digestToBytes(d)));
    return { ...input, edgeId: id, logseq };
  }

  /** The edge with this logseq (nodes in their recorded order), checked against its id (`checkedEdge`). */
  byLogseq(logseq: number): EdgeRecord | undefined {
    const e = this.cat.stmt("SELECT logseq, edge_id, edge_type, role FROM edges WHERE logseq = ?").get(logseq) as
      | { logseq: number; edge_id: Buffer; edge_type: string; role: string }
      | undefined;
    if (e === undefined) return undefined;
    const nodes = this.cat.stmt("SELECT side, node FROM edge_nodes WHERE edge_logseq = ? ORDER BY side, pos").all(logseq) as Array<{
      side: number;
      node: Buffer;
    }>;
    const where = `a node of the edge at logseq ${e.logseq}`;
    return checkedEdge({
      edgeId: storedDigest(e.edge_id, `the edge row at logseq ${e.logseq}`),
      logseq: e.logseq,
      type: e.edge_type,
      role: e.role,
      from: nodes.filter((n) => n.side === 0).map((n) => storedDigest(n.node, where)),
      to: nodes.filter((n) => n.side === 1).map((n) => storedDigest(n.node, where)),
    });
  }

  /**
   * The edge an edge_nodes row points at: E_STORE_CORRUPT when there is no such edge (its row
   * was deleted behind Cairn's back; fsck reports the nodes as edge_invalid).
   */
  private edgeAt(logseq: number): EdgeRecord {
    const e = this.byLogseq(logseq);
    if (e === undefined) {
      throw new CairnError(ErrorCode.STORE_CORRUPT, `the catalog is corrupt: edge nodes at logseq ${logseq} belong to no edge; run cairn fsck`, { logseq });
    }
    return e;
  }

  byId(id: Digest): EdgeRecord | undefined {
    const r = this.cat.stmt("SELECT logseq FROM edges WHERE edge_id = ?").get(digestToBytes(parseDigest(id, "edge id"))) as
      | { logseq: number }
      | undefined;
    return r === undefined ? undefined : this.byLogseq(r.logseq);
  }

  /**
   * The edges of type `type` that list `node` among their from-nodes (`direction` "down") or
   * to-nodes ("up"), in logseq order: one query that never reads the node's edges of other
   * types (a state manifest that is an input of many receipts has one `contains` edge and an
   * `execution` edge per receipt). At most the lineage edge bound: more is E_LIMIT_EXCEEDED.
   */
  ofType(node: Digest, type: string, direction: "down" | "up"): EdgeRecord[] {
    const d = parseDigest(node, "digest");
    checkName("type", type);
    if (direction !== "down" && direction !== "up") throw new CairnError(ErrorCode.USAGE, `direction must be "down" or "up", got ${JSON.stringify(direction)}`, { direction });
    const { maxEdges } = this.limits;
    const rows = this.cat
      .stmt(
        "SELECT DISTINCT n.edge_logseq AS ls FROM edge_nodes n JOIN edges e ON e.logseq = n.edge_logseq WHERE n.node = ? AND n.side = ? AND e.edge_type = ? ORDER BY n.edge_logseq LIMIT ?",
      )
      .all(digestToBytes(d), direction === "down" ? 0 : 1, type, maxEdges + 1) as Array<{ ls: number }>;
    if (rows.length > maxEdges) {
      throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `more than ${maxEdges} ${type} edges ${direction === "down" ? "from" : "to"} ${d}`, { digest: d, type, limit: maxEdges });
    }
    return rows.map((r) => this.edgeAt(r.ls));
  }

  /** The edges touching `node` on `side` (0 = node is a from-node, 1 = a to-node), in logseq order. */
  edgesTouching(node: Digest, side: 0 | 1): EdgeRecord[] {
    return this.touching(digestToBytes(parseDigest(node, "digest")), side, undefined).map((ls) => this.edgeAt(ls));
  }

  /** Logseqs of edges touching `node` on `side` (0 = node is a from-node, 1 = a to-node). */
  private touching(node: Buffer, side: 0 | 1, asOf: number | undefined): number[] {
    const rows = this.cat
      .stmt("SELECT edge_logseq FROM edge_nodes WHERE node = ? AND side = ? AND edge_logseq <= ? ORDER BY edge_logseq")
      .all(node, side, asOf ?? Number.MAX_SAFE_INTEGER) as Array<{ edge_logseq: number }>;
    return rows.map((r) => r.edge_logseq);
  }

  /**
   * Logseqs of the `contains` edges touching `node` on `side`, and of edge nodes there whose
   * `edges` row is gone (reading those is E_STORE_CORRUPT, as in `touching`).
   */
  private touchingContains(node: Buffer, side: 0 | 1, asOf: number | undefined): number[] {
    const rows = this.cat
      .stmt(
        "SELECT DISTINCT n.edge_logseq AS ls FROM edge_nodes n LEFT JOIN edges e ON e.logseq = n.edge_logseq WHERE n.node = ? AND n.side = ? AND n.edge_logseq <= ? AND (e.edge_type IS NULL OR e.edge_type = ?) ORDER BY n.edge_logseq",
      )
      .all(node, side, asOf ?? Number.MAX_SAFE_INTEGER, CONTAINS_EDGE_TYPE) as Array<{ ls: number }>;
    return rows.map((r) => r.ls);
  }

  /**
   * Breadth-first lineage walk. Upstream follows edges into a node back to their from-nodes, and
   * `contains` edges out of a node (a container) to their to-nodes (its members); downstream the
   * reverse. So a member never leads up into the containers that hold it (other runs' manifests
   * holding a shared slice), nor a container down to its members, and `up` and `down` are
   * inverses. Every edge touching a node on the side the walk reads from (to-nodes up, from-nodes
   * down) is read and checked, as before, also a `contains` edge there that is not crossed.
   */
  lineage(start: Digest, opts: LineageOptions = {}): Lineage {
    parseDigest(start, "digest");
    const direction = opts.direction ?? "up";
    const depth = opts.depth ?? MAX_LINEAGE_DEPTH;
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_LINEAGE_DEPTH) {
      throw new CairnError(ErrorCode.USAGE, `lineage depth must be an integer in 0..${MAX_LINEAGE_DEPTH}`, { depth });
    }
    const asOf = checkAsOf(opts.asOf);
    // The start must be known (any state: a tombstone does not hide provenance), and as of a
    // logseq, recorded by then, like every node the walk reaches through the edges of then.
    const first = this.artifacts.firstLogseq(start);
    if (first === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `artifact ${start} not found`, { digest: start });
    if (asOf !== undefined && first > asOf) throw new CairnError(ErrorCode.NOT_FOUND, `artifact ${start} not found as of logseq ${asOf}`, { digest: start, asOf });
    const { maxEdges, maxNodes } = this.limits;
    const seen = new Map<Digest, number>([[start, 0]]);
    const edgeSeen = new Map<number, EdgeRecord>();
    // Node digests the result lists: the nodes reached and the nodes of the edges crossed.
    let listed = 1;
    const tooManyNodes = (): CairnError =>
      new CairnError(
        ErrorCode.LIMIT_EXCEEDED,
        `lineage of ${start} lists more than ${maxNodes} node digests (the nodes it reaches plus the from- and to-nodes of the edges it crosses); lower depth (--depth)`,
        { digest: start, limit: maxNodes },
      );
    // The node's side of the edges it crosses: to-nodes of derivations going up, from-nodes
    // (containers) of `contains` edges going up; the other way round going down.
    const derivedSide = direction === "up" ? 1 : 0;
    const containsSide = direction === "up" ? 0 : 1;
    // `contains` edges read on the derivation side (so checked) and not crossed there: not read
    // again there (each member of a manifest chunk meets the chunk). Crossing one later, from
    // the other side, reads it again. One logseq per `contains` edge touching a node reached: a
    // member may sit in any number of containers, so these reads count against maxEdges with the
    // edges crossed (each costs one edge read, ~25–75 µs on a loaded 2-core machine).
    const passed = new Set<number>();
    const tooManyEdges = (): CairnError =>
      new CairnError(
        ErrorCode.LIMIT_EXCEEDED,
        `lineage of ${start} reads more than ${maxEdges} edges (the edges it crosses plus the containment edges it checks without crossing); lower depth (--depth)`,
        { digest: start, limit: maxEdges },
      );
    const cross = (ls: number, want: "derivation" | "contains"): EdgeRecord | undefined => {
      let e = edgeSeen.get(ls);
      if (e === undefined) {
        if (want === "derivation" && passed.has(ls)) return undefined;
        e = this.edgeAt(ls);
        if ((e.type === CONTAINS_EDGE_TYPE) !== (want === "contains")) {
          passed.add(ls);
          if (edgeSeen.size + passed.size > maxEdges) throw tooManyEdges();
          return undefined;
        }
        edgeSeen.set(ls, e);
        if (edgeSeen.size > maxEdges) {
          throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `lineage of ${start} crosses more than ${maxEdges} edges; lower depth (--depth)`, { digest: start, limit: maxEdges });
        }
        if (edgeSeen.size + passed.size > maxEdges) throw tooManyEdges();
        listed += e.from.length + e.to.length;
        if (listed > maxNodes) throw tooManyNodes();
      } else if ((e.type === CONTAINS_EDGE_TYPE) !== (want === "contains")) return undefined;
      return e;
    };
    let frontier: Digest[] = [start];
    for (let d = 1; d <= depth && frontier.length > 0; d++) {
      const next = new Set<Digest>();
      const reach = (others: readonly Digest[]): void => {
        for (const other of others) {
          if (!seen.has(other) && !next.has(other)) {
            next.add(other);
            if (++listed > maxNodes) throw tooManyNodes();
          }
        }
      };
      for (const node of frontier) {
        const bytes = digestToBytes(node);
        for (const ls of this.touching(bytes, derivedSide, asOf)) {
          const e = cross(ls, "derivation");
          if (e !== undefined) reach(direction === "up" ? e.from : e.to);
        }
        for (const ls of this.touchingContains(bytes, containsSide, asOf)) {
          const e = cross(ls, "contains");
          if (e !== undefined) reach(direction === "up" ? e.to : e.from);
        }
      }
      frontier = [...next].sort();
      for (const n of frontier) seen.set(n, d);
    }
    const nodes = [...seen].map(([digest, dd]) => ({ digest, depth: dd }));
    nodes.sort((a, b) => a.depth - b.depth || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
    const edges = [...edgeSeen.values()].sort((a, b) => a.logseq - b.logseq);
    return { start, direction, depth, nodes, edges };
  }

  /** Removes an edge (explicit provenance pruning); the removal is itself a logged record. */
  prune(id: Digest): { edgeId: Digest; logseq: number } {
    return this.cat.tx(() => {
      const r = this.cat.stmt("SELECT logseq FROM edges WHERE edge_id = ?").get(digestToBytes(parseDigest(id, "edge id"))) as
        | { logseq: number }
        | undefined;
      if (r === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `edge ${id} not found`, { edgeId: id });
      return { edgeId: id, logseq: this.removeEdgeLogseq(r.logseq) };
    });
  }

  /** Deletes an edge row and its nodes, and records the removal. Call inside a transaction. */
  removeEdgeLogseq(edgeLogseq: number): number {
    this.cat.stmt("DELETE FROM edge_nodes WHERE edge_logseq = ?").run(edgeLogseq);
    this.cat.stmt("DELETE FROM edges WHERE logseq = ?").run(edgeLogseq);
    return recordRemoval(this.cat, edgeLogseq, "edge");
  }
}

/** Records that the record with `target` logseq was removed. Call inside a transaction. */
export function recordRemoval(cat: Catalog, target: number, kind: string): number {
  const logseq = cat.allocLogseq();
  cat.stmt("INSERT INTO removals(logseq, target_logseq, kind) VALUES (?, ?, ?)").run(logseq, target, kind);
  return logseq;
}
