/**
 * gc's edge check (src/store/gc.ts `checkEdges`) reads one row per edge with its canonical JSON
 * built inside SQLite, and reads an edge the way every edge read does only when that row has no
 * JSON or the id is not its SHA-256. These tests pin that the shortcut refuses exactly what the
 * full read refuses, with the same error: edges rewritten so that a JSON glued from the raw rows
 * (ignoring node order, value types, sides other than 0/1 or names that need a JSON escape) would
 * hash to the stored id, edges without nodes, several bad edges (the lowest logseq is named), and
 * edges the full read accepts although their names are not plain (gc still runs).
 */
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, isCairnError, openStore, type Digest, type EdgeRecord } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";
import { sha256 } from "../../src/core/digest.js";
import { describeStored } from "../../src/store/catalog.js";
import { edgeId } from "../../src/store/edges.js";
import { EDGE_JSON } from "../../src/store/gc.js";
import { makeTempDir } from "./fixtures/child.js";
import { gcErrors, trackStoresAfterEach } from "./helpers.js";

const track = trackStoresAfterEach();

const hex = (d: Digest): string => d.slice("sha256:".length);
const bytes = (d: Digest): Buffer => Buffer.from(hex(d), "hex");

interface Fixture {
  dir: string;
  nodes: Digest[];
  /** from: [nodes[0], nodes[1]] (ascending), to: [nodes[2]] */
  edge: EdgeRecord;
  /** from: [nodes[2]], to: [nodes[3]]: a later edge */
  later: EdgeRecord;
}

/** A store (written long before the handle gc runs on) with two edges; every node pinned. */
function fixture(): Fixture {
  const dir = join(makeTempDir(), "st");
  const s = openStore({ dir, durability: "normal", clock: steppingClock(1_700_000_000_000, 1) });
  const nodes = ["a", "b", "c", "d", "e", "f"].map((x) => s.putBytes(Buffer.from(`node ${x}\n`)).digest);
  const [lo, hi] = [nodes[0], nodes[1]].sort() as [Digest, Digest];
  nodes.splice(0, 2, lo, hi);
  const edge = s.addEdge({ from: [lo, hi], to: [nodes[2] as Digest], type: "derivation", role: "input" });
  const later = s.addEdge({ from: [nodes[2] as Digest], to: [nodes[3] as Digest], type: "derivation", role: "input" });
  nodes.forEach((d, i) => s.pin(`n${i}`, d));
  s.close();
  return { dir, nodes, edge, later };
}

/** Runs each statement on the catalog of the (closed) store. */
function tamper(dir: string, ...steps: Array<(db: Database.Database) => void>): void {
  const db = new Database(join(dir, "catalog.sqlite"));
  try {
    for (const step of steps) step(db);
  } finally {
    db.close();
  }
}

/** Sets the stored id of the edge at `logseq` (bytes of a digest string). */
const setId = (logseq: number, id: Digest) => (db: Database.Database) => {
  expect(db.prepare("UPDATE edges SET edge_id = ? WHERE logseq = ?").run(bytes(id), logseq).changes).toBe(1);
};

/** The JSON a concatenation of the raw values would give (what the check must not trust blindly). */
function glued(from: string[], to: string[], type: string, role: string): string {
  return `{"from":["sha256:${from.join('","sha256:')}"],"role":"${role}","to":["sha256:${to.join('","sha256:')}"],"type":"${type}"}`;
}

/** gc (dry run and real) fails E_STORE_CORRUPT with this message and details. */
function expectGcRefused(dir: string, message: string, details: Record<string, unknown>): void {
  const w = openStore({ dir, durability: "normal" });
  try {
    for (const err of gcErrors(w)) {
      expect(isCairnError(err), `expected E_STORE_CORRUPT, got ${String(err)}`).toBe(true);
      expect(err).toMatchObject({ code: ErrorCode.STORE_CORRUPT, message });
      expect((err as { details: unknown }).details).toEqual(details);
    }
  } finally {
    w.close();
  }
}

const mismatch = (id: Digest, logseq: number, why = "does not match its content") => ({
  message: `the catalog is corrupt: edge ${id} ${why}; run cairn fsck`,
  details: { edgeId: id, logseq },
});

describe("gc's edge check refuses what reading the edge refuses", () => {
  it("node order: two from-nodes' positions swapped (ascending → descending) is refused", () => {
    const f = fixture();
    tamper(f.dir, (db) => {
      expect(db.prepare("UPDATE edge_nodes SET pos = CASE pos WHEN 0 THEN 3 ELSE 2 END WHERE edge_logseq = ? AND side = 0").run(f.edge.logseq).changes).toBe(2);
    });
    const m = mismatch(f.edge.edgeId, f.edge.logseq);
    expectGcRefused(f.dir, m.message, m.details);
  });

  it("an edge without to-nodes, and one without any node: 'has no … nodes'", () => {
    const f = fixture();
    tamper(f.dir, (db) => {
      db.prepare("DELETE FROM edge_nodes WHERE edge_logseq = ? AND side = 1").run(f.edge.logseq);
      db.prepare("DELETE FROM edge_nodes WHERE edge_logseq = ?").run(f.later.logseq);
    });
    const m = mismatch(f.edge.edgeId, f.edge.logseq, "has no to nodes");
    expectGcRefused(f.dir, m.message, m.details);
    tamper(f.dir, (db) => db.prepare("DELETE FROM edges WHERE logseq = ?").run(f.edge.logseq));
    const m2 = mismatch(f.later.edgeId, f.later.logseq, "has no from nodes");
    expectGcRefused(f.dir, m2.message, m2.details);
  });

  it("a node on side 2 (written with CHECK constraints off) counts as a to-node, as every edge read counts it", () => {
    const f = fixture();
    tamper(f.dir, (db) => {
      db.pragma("ignore_check_constraints = ON");
      db.prepare("INSERT INTO edge_nodes(edge_logseq, side, pos, node) VALUES (?, 2, 0, ?)").run(f.edge.logseq, bytes(f.nodes[5] as Digest));
    });
    const m = mismatch(f.edge.edgeId, f.edge.logseq);
    expectGcRefused(f.dir, m.message, m.details);
  });

  it("names that need a JSON escape, with the id of the raw text glued together: refused", () => {
    for (const type of ["deriv\0ation", 'deriv"ation', "deriv\\ation", "deriv\nation"]) {
      const f = fixture();
      const [a, b, c] = f.nodes.map(hex) as [string, string, string];
      const forged = sha256(glued([a, b], [c], type, "input"));
      tamper(f.dir, (db) => db.prepare("UPDATE edges SET edge_type = ? WHERE logseq = ?").run(type, f.edge.logseq), setId(f.edge.logseq, forged));
      const m = mismatch(forged, f.edge.logseq);
      expectGcRefused(f.dir, m.message, m.details);
    }
  });

  it("a node stored as TEXT of 32 characters, the id glued from its bytes: refused naming the node value", () => {
    const f = fixture();
    const text = "x".repeat(32);
    const [a, b] = f.nodes.map(hex) as [string, string];
    const forged = sha256(glued([a, b], [Buffer.from(text).toString("hex")], "derivation", "input"));
    tamper(f.dir, (db) => db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1").run(text, f.edge.logseq), setId(f.edge.logseq, forged));
    const where = `a node of the edge at logseq ${f.edge.logseq}`;
    expectGcRefused(f.dir, `the catalog is corrupt: ${where} holds "${text}", not a 32-byte digest; run cairn fsck`, { where });
  });

  it("an edge id stored as TEXT with the right bytes (and 32 characters, as SQLite's length() counts them): refused naming the edge row", () => {
    const f = fixture();
    const [from, to] = [[f.nodes[4] as Digest], [f.nodes[5] as Digest]];
    // An edge type whose id holds no NUL and no UTF-8 continuation byte (0x80–0xbf): as TEXT it is 32 characters long.
    let type = "";
    for (let k = 0; type === ""; k++) {
      const id = bytes(edgeId({ from, to, type: `t${k}`, role: "input" }));
      if (id.every((b) => b !== 0 && (b < 0x80 || b > 0xbf))) type = `t${k}`;
    }
    const w = openStore({ dir: f.dir, durability: "normal" });
    const e = w.addEdge({ from, to, type, role: "input" });
    w.close();
    let stored: unknown;
    tamper(f.dir, (db) => {
      expect(db.prepare("UPDATE edges SET edge_id = CAST(edge_id AS TEXT) WHERE logseq = ?").run(e.logseq).changes).toBe(1);
      expect(db.prepare("SELECT typeof(edge_id), length(edge_id), hex(edge_id) FROM edges WHERE logseq = ?").raw().get(e.logseq)).toEqual(["text", 32, hex(e.edgeId).toUpperCase()]);
      stored = db.prepare("SELECT edge_id FROM edges WHERE logseq = ?").pluck().get(e.logseq);
    });
    const where = `the edge row at logseq ${e.logseq}`;
    expectGcRefused(f.dir, `the catalog is corrupt: ${where} holds ${describeStored(stored)}, not a 32-byte digest; run cairn fsck`, { where });
  });

  it("a rewritten edge at a logseq past 2^53: still read again by its exact logseq and refused", () => {
    const f = fixture();
    const big = 9007199254740993n;
    tamper(f.dir, (db) => {
      db.prepare("UPDATE edges SET logseq = ? WHERE logseq = ?").run(big, f.later.logseq);
      db.prepare("UPDATE edge_nodes SET edge_logseq = ? WHERE edge_logseq = ?").run(big, f.later.logseq);
      db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1").run(bytes(f.nodes[5] as Digest), big);
    });
    const m = mismatch(f.later.edgeId, Number(big)); // the logseq as every edge read gives it: the nearest double
    expectGcRefused(f.dir, m.message, m.details);
  });

  it("several bad edges: the one with the lowest logseq is named, whichever way each is bad", () => {
    const f = fixture();
    // The earlier edge: a node rewritten (its JSON hashes to something else); the later: a node of 1 byte (no JSON).
    tamper(f.dir, (db) => {
      db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1").run(bytes(f.nodes[5] as Digest), f.edge.logseq);
      db.prepare("UPDATE edge_nodes SET node = x'01' WHERE edge_logseq = ? AND side = 1").run(f.later.logseq);
    });
    const m = mismatch(f.edge.edgeId, f.edge.logseq);
    expectGcRefused(f.dir, m.message, m.details);
    // The other way round.
    const g = fixture();
    tamper(g.dir, (db) => {
      db.prepare("UPDATE edge_nodes SET node = x'01' WHERE edge_logseq = ? AND side = 1").run(g.edge.logseq);
      db.prepare("UPDATE edge_nodes SET node = ? WHERE edge_logseq = ? AND side = 1").run(bytes(g.nodes[5] as Digest), g.later.logseq);
    });
    const where = `a node of the edge at logseq ${g.edge.logseq}`;
    expectGcRefused(g.dir, `the catalog is corrupt: ${where} holds x'01', not a 32-byte digest; run cairn fsck`, { where });
  });
});

describe("gc's edge check accepts what reading the edge accepts", () => {
  it("names that are not plain but whose id is their canonical JSON's: gc runs", () => {
    for (const type of ["Derivation", "dérivation", "deriv ation"]) {
      const f = fixture();
      const id = edgeId({ from: [f.nodes[0], f.nodes[1]] as Digest[], to: [f.nodes[2] as Digest], type, role: "input" });
      tamper(f.dir, (db) => db.prepare("UPDATE edges SET edge_type = ? WHERE logseq = ?").run(type, f.edge.logseq), setId(f.edge.logseq, id));
      const w = track(openStore({ dir: f.dir, durability: "normal" }));
      expect(w.getEdge(id)).toMatchObject({ type, edgeId: id });
      expect(w.gc({ graceMs: 0 }).sweptCount).toBe(0);
    }
  });

  it("the check streams: SQLite walks edges in logseq order without sorting them (no temp b-tree but group_concat's per edge)", () => {
    const f = fixture();
    const db = new Database(join(f.dir, "catalog.sqlite"), { readonly: true });
    try {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${EDGE_JSON}`).all() as Array<{ detail: string }>;
      const temps = plan.map((r) => r.detail).filter((d) => d.includes("TEMP B-TREE"));
      expect(temps.length).toBeGreaterThan(0);
      expect(temps.every((d) => d.includes("group_concat(ORDER BY)"))).toBe(true);
    } finally {
      db.close();
    }
  });
});
