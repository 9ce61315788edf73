/**
 * Garbage collection: mark from the roots, sweep what is unreachable.
 *
 * Roots: every artifact visible as of any snapshot, every pinned root (user pins, engine
 * runs). Marking follows trace-graph edges upstream (a kept artifact keeps what it was
 * derived from: receipts, inputs, programs) and `contains` edges downstream only (a kept
 * container, e.g. a run manifest, keeps its members; a kept member does not keep every
 * container that holds it — a file or chunk shared by many runs' states would otherwise keep
 * all of those runs). Receipt artifacts of live receipts
 * are provenance and are never swept (prune the receipt first). Artifacts younger than the
 * grace period, or written (or revived/restored) by this store handle since it was opened,
 * are never swept.
 *
 * Bounded memory: nothing gc holds in the JS heap grows with the store. Marking runs inside
 * SQLite, in TEMP tables (the bundled SQLite is built with SQLITE_TEMP_STORE=1 and the
 * catalog sets temp_store only around the batch engine's group commits, catalog.ts
 * `withMemoryJournal`, never around gc, so they live in a temporary file behind SQLite's page cache):
 * `gc_marked` holds every marked digest with the breadth-first generation that reached it;
 * the newest generation is the frontier, expanded by one INSERT … SELECT over edges and
 * edge_nodes (through the edge_nodes(node, side, edge_logseq) index) per generation until a
 * generation adds nothing. Snapshot visibility is decided per artifact by a correlated query
 * over artifact_events. The artifacts to sweep are copied to `gc_doomed` and swept by keyset
 * paging over it. The report lists at most MAX_REPORTED_SWEPT of them (lowest logseq first)
 * and counts all of them. The temp tables are dropped when gc returns or throws.
 *
 * Edges are checked before marking (`checkEdges`, in the same transaction): every edge's id is
 * re-derived from its nodes, type and role (`checkedEdge`), and edge nodes must belong to an
 * edge. An edge rewritten behind Cairn's back could point marking away from what it keeps, so gc
 * (dry runs too) fails E_STORE_CORRUPT before deciding, let alone sweeping, anything; fsck reports
 * it as edge_invalid. Streamed, one row per edge (its canonical JSON built inside SQLite), one
 * edge's nodes held at a time.
 *
 * Sweep order, crash-safe: packed bytes are cleared in one transaction; files are first
 * marked `sweeping`, committed, unlinked, their directories fsynced (once each), then marked
 * `swept` (a writer opening the store finishes an interrupted sweep).
 */
import { basename, dirname } from "node:path";
import { CairnError, ErrorCode, osErrorText } from "../core/errors.js";
import { sha256, type Digest } from "../core/digest.js";
import { storedDigest, type Catalog } from "./catalog.js";
import { checkRow, ROW_COLUMNS, type ArtifactRow } from "./artifact-rows.js";
import { checkedEdge, CONTAINS_EDGE_TYPE, type EdgeRecord } from "./edges.js";
import { objectPath } from "./layout.js";
import { fsyncDirs } from "./artifact-recovery.js";
import { unlinkQuiet } from "./artifact-writes.js";
import type { Clock } from "../core/clock.js";

/** The edge type of containment (one constant with the lineage walk, edges.ts). */
export { CONTAINS_EDGE_TYPE };

/** Swept artifacts listed one by one in the report; `sweptCount` and `sweptBytes` cover all. */
export const MAX_REPORTED_SWEPT = 10_000;
/** Doomed rows read per catalog query while sweeping. */
const SWEEP_PAGE = 1000;

export interface GcOptions {
  dryRun?: boolean;
  /** Artifacts created less than this long ago are kept. */
  graceMs: number;
}

export interface SweptArtifact {
  digest: Digest;
  size: number;
  storage: "packed" | "file";
}

export interface GcReport {
  dryRun: boolean;
  roots: { snapshots: number; pins: number };
  present: number;
  reachable: number;
  keptByGrace: number;
  keptAsReceipts: number;
  /** The first MAX_REPORTED_SWEPT swept artifacts, lowest logseq first. */
  swept: SweptArtifact[];
  /** How many artifacts were swept (or would be, in a dry run), listed or not. */
  sweptCount: number;
  /** Bytes of all swept artifacts, listed or not. */
  sweptBytes: number;
}

/** What the open writer has written since it opened: never swept. */
export interface WriterSession {
  startLogseq: number;
  startTime: number;
}

interface DoomedRow {
  logseq: number;
  digest: Buffer;
  size: number;
  storage: number;
}

const CREATE_TEMP_TABLES = `
CREATE TEMP TABLE gc_marked (digest BLOB PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX temp.gc_marked_gen ON gc_marked(gen);
CREATE TEMP TABLE gc_doomed (logseq INTEGER PRIMARY KEY, digest BLOB NOT NULL, size INTEGER NOT NULL, storage INTEGER NOT NULL);
`;
const DROP_TEMP_TABLES = "DROP TABLE IF EXISTS temp.gc_marked; DROP TABLE IF EXISTS temp.gc_doomed;";

/**
 * Present artifacts visible as of at least one snapshot: created at or before it, and their
 * last artifact_event at or before it is not a tombstone (kind 1). Without events only the
 * newest snapshot matters.
 */
const SEED_SNAPSHOT_ROOTS = `
INSERT OR IGNORE INTO gc_marked(digest, gen)
SELECT a.digest, 0 FROM artifacts a
WHERE a.state = 0
  AND a.logseq <= (SELECT MAX(as_of) FROM snapshots)
  AND (a.events = 0 OR EXISTS (
    SELECT 1 FROM snapshots s
    WHERE s.as_of >= a.logseq
      AND COALESCE((SELECT e.kind FROM artifact_events e WHERE e.digest = a.digest AND e.logseq <= s.as_of ORDER BY e.logseq DESC LIMIT 1), 2) <> 1))`;

/**
 * One breadth-first step: from generation @gen, every edge but `contains` upstream (to-node →
 * its from-nodes) and `contains` edges downstream (from-node → its to-nodes). Edge nodes of a
 * missing edge row would not be followed (checkEdges has refused them first). CROSS JOIN pins the
 * join order so SQLite drives the walk from the (small) frontier, whatever it guesses about the
 * temp table.
 */
const EXPAND_FRONTIER = `
INSERT OR IGNORE INTO gc_marked(digest, gen)
SELECT x.node, @next FROM (
  SELECT up.node AS node FROM gc_marked f
    CROSS JOIN edge_nodes t ON t.node = f.digest AND t.side = 1
    CROSS JOIN edges e ON e.logseq = t.edge_logseq AND e.edge_type <> @contains
    CROSS JOIN edge_nodes up ON up.edge_logseq = t.edge_logseq AND up.side = 0
  WHERE f.gen = @gen
  UNION ALL
  SELECT down.node AS node FROM gc_marked f
    CROSS JOIN edge_nodes fr ON fr.node = f.digest AND fr.side = 0
    CROSS JOIN edges e ON e.logseq = fr.edge_logseq AND e.edge_type = @contains
    CROSS JOIN edge_nodes down ON down.edge_logseq = fr.edge_logseq AND down.side = 1
  WHERE f.gen = @gen
) x
WHERE NOT EXISTS (SELECT 1 FROM gc_marked m WHERE m.digest = x.node)`;

/** The edge at logseq @logseq with its nodes (none: one row of NULLs), in (side, pos) order. */
const EDGE_ROWS_AT = `
SELECT e.logseq AS logseq, e.edge_id AS id, e.edge_type AS type, e.role AS role, n.side AS side, n.node AS node
FROM edges e LEFT JOIN edge_nodes n ON n.edge_logseq = e.logseq
WHERE e.logseq = @logseq
ORDER BY n.side, n.pos`;

/** Holds for a TEXT value of characters JSON writes as they are ([a-z0-9_.-]) and no NUL (GLOB and length() stop at a NUL; the BLOB's length does not). */
const plainName = (col: string): string =>
  `(typeof(${col}) = 'text' AND ${col} NOT GLOB '*[^a-z0-9_.-]*' AND length(CAST(${col} AS BLOB)) = length(${col}))`;

/** The nodes of one side as readEdgeId joins them: lowercase hex in pos order (NULL when the side has none). */
const sideHex = (side: 0 | 1): string => `group_concat(lower(hex(n.node)), '","sha256:' ORDER BY n.pos) FILTER (WHERE n.side = ${side})`;

/**
 * Every edge as one row, in logseq order: [logseq, its stored id as a digest string, its
 * canonical JSON as readEdgeId writes it, or NULL]. The JSON is built inside SQLite only for an
 * edge whose rows are plainly well formed: the id a 32-byte BLOB, every node a 32-byte BLOB on
 * side 0 or 1, nodes on both sides (a side without nodes makes the concatenation NULL), type and
 * role plain names (`plainName`, which need no JSON escape). For such an edge `checkedEdge`
 * accepts the edge exactly when its id is the SHA-256 of this JSON (readEdgeId's text for plain
 * names, which is edgeId's); every other edge (json NULL) is read and checked row by row. Nodes
 * are in pos order within each side, as EDGE_ROWS_AT reads them. GROUP BY follows the scan of
 * `edges` (no temp b-tree for the groups): the rows stream, and each group_concat sorts one edge's
 * nodes.
 */
export const EDGE_JSON = `
SELECT e.logseq, 'sha256:' || lower(hex(e.edge_id)), count(n.edge_logseq),
  CASE WHEN typeof(e.edge_id) = 'blob' AND length(e.edge_id) = 32 AND ${plainName("e.edge_type")} AND ${plainName("e.role")}
    AND min(typeof(n.node) = 'blob' AND length(n.node) = 32 AND typeof(n.side) = 'integer' AND n.side IN (0, 1))
  THEN '{"from":["sha256:' || ${sideHex(0)} || '"],"role":"' || e.role || '","to":["sha256:' || ${sideHex(1)} || '"],"type":"' || e.edge_type || '"}'
  END
FROM edges e LEFT JOIN edge_nodes n ON n.edge_logseq = e.logseq
GROUP BY e.logseq ORDER BY e.logseq`;

/** Every edge node row: as many as EDGE_JSON joins when none belongs to no edge. */
const COUNT_EDGE_NODES = "SELECT COUNT(*) FROM edge_nodes";

/** The lowest logseq of edge nodes that belong to no edge (run only when there are some: it looks up every node's edge). */
const ORPHAN_EDGE_NODES = "SELECT MIN(n.edge_logseq) AS l FROM edge_nodes n WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.logseq = n.edge_logseq)";

/** Present, unmarked, not a live receipt, older than the grace period and this writer session. */
const COLLECT_DOOMED = `
INSERT INTO gc_doomed(logseq, digest, size, storage)
SELECT a.logseq, a.digest, a.size, a.storage FROM artifacts a
WHERE a.state = 0
  AND a.created_at <= @graceEdge AND a.logseq < @startLogseq AND a.created_at < @startTime
  AND NOT EXISTS (SELECT 1 FROM gc_marked m WHERE m.digest = a.digest)
  AND NOT EXISTS (SELECT 1 FROM receipts r WHERE r.digest = a.digest)`;

/** How the present artifacts divide between marked and (unmarked) receipt bodies. */
const COUNT_PRESENT = `
SELECT COUNT(*) AS present, COALESCE(SUM(marked), 0) AS reachable, COALESCE(SUM(NOT marked AND receipt), 0) AS receipts
FROM (SELECT EXISTS (SELECT 1 FROM gc_marked m WHERE m.digest = a.digest) AS marked,
             EXISTS (SELECT 1 FROM receipts r WHERE r.digest = a.digest) AS receipt
      FROM artifacts a WHERE a.state = 0)`;

export function collectGarbage(root: string, cat: Catalog, clock: Clock, session: WriterSession, opts: GcOptions): GcReport {
  // The sweep deletes files once its first transaction commits: inside an outer transaction that
  // commit is only a savepoint, and a rollback would bring back rows whose files are gone.
  if (cat.inTransaction) {
    throw new CairnError(ErrorCode.USAGE, "gc cannot run inside store.transaction(): it deletes files that a rollback could not bring back; call it outside the transaction");
  }
  if (!Number.isFinite(opts.graceMs) || opts.graceMs < 0) {
    throw new CairnError(ErrorCode.USAGE, "gc grace must be a non-negative number of milliseconds", { graceMs: opts.graceMs });
  }
  const dryRun = opts.dryRun === true;
  cat.db.exec(DROP_TEMP_TABLES); // in case an earlier gc on this connection could not drop them
  cat.db.exec(CREATE_TEMP_TABLES);
  try {
    // One transaction: the decision reads one consistent catalog, and the temp-table writes
    // commit once rather than per statement (per-generation commits made deep graphs ~6× slower).
    const report = cat.tx(() => decide(cat, clock.now() - opts.graceMs, session, dryRun));
    if (!dryRun && report.sweptCount > 0) sweep(root, cat);
    return report;
  } finally {
    cat.db.exec(DROP_TEMP_TABLES);
  }
}

/** Marks, then fills gc_doomed with what goes; the report (nothing swept yet). */
function decide(cat: Catalog, graceEdge: number, session: WriterSession, dryRun: boolean): GcReport {
  checkEdges(cat);
  const roots = seedRoots(cat);
  markReachable(cat);
  cat.stmt(COLLECT_DOOMED).run({ graceEdge, startLogseq: session.startLogseq, startTime: session.startTime });
  checkDoomedRows(cat);
  const counts = cat.stmt(COUNT_PRESENT).get() as { present: number; reachable: number; receipts: number };
  const doomed = cat.stmt("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM gc_doomed").get() as { n: number; bytes: number };
  return {
    dryRun,
    roots,
    present: counts.present,
    reachable: counts.reachable,
    keptByGrace: counts.present - counts.reachable - counts.receipts - doomed.n,
    keptAsReceipts: counts.receipts,
    swept: listDoomed(cat, MAX_REPORTED_SWEPT),
    sweptCount: doomed.n,
    sweptBytes: doomed.bytes,
  };
}

/** Marks the roots as generation 0: every pin (whatever its artifact's state) and every snapshot-visible artifact. */
function seedRoots(cat: Catalog): { snapshots: number; pins: number } {
  cat.stmt("INSERT OR IGNORE INTO gc_marked(digest, gen) SELECT digest, 0 FROM roots").run();
  cat.stmt(SEED_SNAPSHOT_ROOTS).run();
  const count = (table: "roots" | "snapshots"): number => (cat.stmt(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { snapshots: count("snapshots"), pins: count("roots") };
}

/** A row of EDGE_ROWS_AT, read raw. */
type EdgeNodeRow = [logseq: number, id: unknown, type: string, role: string, side: number | null, node: unknown];

/**
 * Every edge checked against its id (`checkedEdge`, E_STORE_CORRUPT otherwise), in logseq
 * order, one row per edge (EDGE_JSON: ~10 µs of CPU an edge, against ~18 µs for one row per node
 * with BLOB ids and nodes through better-sqlite3; 200k edges, measured): an edge without JSON, or
 * whose id is not the SHA-256 of it, is read again on its own by its exact logseq and checked as
 * every edge used to be (`checkEdgeRows`), so the first bad edge is refused with the same message
 * and details. Then edge nodes that belong to no edge (E_STORE_CORRUPT as for lineage): there are
 * some exactly when edge_nodes holds more rows than the edges joined. Marking follows only what
 * this has checked: it runs in the same transaction.
 */
function checkEdges(cat: Catalog): void {
  const one = cat.db.prepare(EDGE_ROWS_AT).raw(true);
  let joined = 0n;
  // Integers as BigInts: the edge is read again by its exact logseq, even past 2^53.
  for (const [logseq, id, nodes, json] of cat.db.prepare(EDGE_JSON).raw(true).safeIntegers(true).iterate() as Iterable<[bigint, string, bigint, string | null]>) {
    if (json === null || sha256(json) !== id) checkEdgeRows(one.all({ logseq }) as EdgeNodeRow[]);
    joined += nodes;
  }
  const all = cat.db.prepare(COUNT_EDGE_NODES).pluck().safeIntegers(true).get() as bigint;
  const orphan = all === joined ? null : (cat.stmt(ORPHAN_EDGE_NODES).get() as { l: number | null }).l;
  if (orphan !== null) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `the catalog is corrupt: edge nodes at logseq ${orphan} belong to no edge; run cairn fsck`, { logseq: orphan });
  }
}

/** The edge of these rows (EDGE_ROWS_AT): its id, then its nodes in (side, pos) order, through `storedDigest`, side 0 as from-nodes and any other as to-nodes; then `checkedEdge`. */
function checkEdgeRows(rows: EdgeNodeRow[]): void {
  let cur: EdgeRecord | undefined;
  for (const [logseq, id, type, role, side, node] of rows) {
    cur ??= { edgeId: storedDigest(id, `the edge row at logseq ${logseq}`), logseq, type, role, from: [], to: [] };
    if (side !== null) (side === 0 ? cur.from : cur.to).push(storedDigest(node, `a node of the edge at logseq ${logseq}`));
  }
  if (cur !== undefined) checkedEdge(cur);
}

/** Expands the frontier one generation at a time until a generation marks nothing new. */
function markReachable(cat: Catalog): void {
  const expand = cat.stmt(EXPAND_FRONTIER);
  for (let gen = 0; expand.run({ gen, next: gen + 1, contains: CONTAINS_EDGE_TYPE }).changes > 0; gen++);
}

/**
 * Every row gc would sweep holds values of the types Cairn writes (`checkRow`: E_STORE_CORRUPT
 * "artifact … is corrupt: …", nothing swept), as every read checks them: a size of 'abc' was
 * swept and reported as a string, its bytes cleared.
 */
function checkDoomedRows(cat: Catalog): void {
  const rows = cat.stmt(`SELECT ${ROW_COLUMNS} FROM artifacts WHERE logseq IN (SELECT logseq FROM gc_doomed) ORDER BY logseq`).iterate() as IterableIterator<ArtifactRow>;
  for (const r of rows) checkRow(r);
}

function toSwept(r: DoomedRow): SweptArtifact {
  return { digest: storedDigest(r.digest, `the artifact row at logseq ${r.logseq}`), size: r.size, storage: r.storage === 0 ? "packed" : "file" };
}

function listDoomed(cat: Catalog, limit: number): SweptArtifact[] {
  const rows = cat.stmt("SELECT logseq, digest, size, storage FROM gc_doomed ORDER BY logseq LIMIT ?").all(limit) as DoomedRow[];
  return rows.map(toSwept);
}

/** The doomed rows (only file-stored ones with `filesOnly`) in logseq order, one page per query. */
function* doomedRows(cat: Catalog, filesOnly: boolean): Generator<DoomedRow> {
  const page = cat.stmt(
    `SELECT logseq, digest, size, storage FROM gc_doomed WHERE logseq > ?${filesOnly ? " AND storage = 1" : ""} ORDER BY logseq LIMIT ?`,
  );
  let after = 0;
  for (;;) {
    const rows = page.all(after, SWEEP_PAGE) as DoomedRow[];
    if (rows.length === 0) return;
    yield* rows;
    after = (rows[rows.length - 1] as DoomedRow).logseq;
  }
}

/**
 * The crash-safe sweep (see the header): clear/mark in one transaction, unlink, fsync each
 * directory files were removed from (once), then mark swept. A directory that cannot be fsynced
 * leaves its files' rows `sweeping` and gc throws E_STORE_IO naming it (after an unlink failure,
 * which is named first).
 * A file that cannot be removed (EACCES, EPERM, EBUSY, EROFS, EISDIR…: anything but "not
 * there") does not stop the sweep: its row is left `sweeping` (dropped from gc_doomed, so it is
 * not marked swept), the other files are removed and marked, and then gc throws E_STORE_IO naming
 * the first such file and how many there were. The rows left `sweeping` are what a writer's open
 * finishes (artifact-recovery.ts), and fsck reports them until then: the state stays the one a
 * crash mid-sweep leaves.
 */
function sweep(root: string, cat: Catalog): void {
  cat.tx(() => {
    const clear = cat.stmt("UPDATE artifacts SET state = 2, bytes = NULL WHERE logseq = ? AND state = 0");
    const sweeping = cat.stmt("UPDATE artifacts SET state = 1 WHERE logseq = ? AND state = 0");
    for (const r of doomedRows(cat, false)) (r.storage === 0 ? clear : sweeping).run(r.logseq);
  });
  let failed = 0;
  let first: { path: string; err: unknown } | undefined;
  const keep = cat.stmt("DELETE FROM gc_doomed WHERE logseq = ?");
  const dirs = new Set<string>(); // the fan-out directories objects/ab/ files left: at most 256
  for (const r of doomedRows(cat, true)) {
    const path = objectPath(root, storedDigest(r.digest, `the artifact row at logseq ${r.logseq}`));
    try {
      unlinkQuiet(path);
      dirs.add(dirname(path));
    } catch (err) {
      failed++;
      first ??= { path, err };
      keep.run(r.logseq); // stays `sweeping`: not marked swept below (keyset paging is past it)
    }
  }
  // The removals made durable (one fsync per directory, not per file) before any row says swept:
  // after a power loss a file could otherwise come back under a swept row, which recovery never
  // revisits (it finishes sweeping rows only). A directory that cannot be fsynced keeps the rows
  // of its files sweeping, for a writer's open to finish.
  const synced = fsyncDirs(dirs);
  let unsynced = 0;
  if (synced.first !== undefined) {
    const keepDir = cat.stmt("DELETE FROM gc_doomed WHERE storage = 1 AND substr(digest, 1, 1) = ?");
    for (const d of synced.failed) unsynced += keepDir.run(Buffer.from(basename(d), "hex")).changes;
  }
  cat.tx(() => {
    const done = cat.stmt("UPDATE artifacts SET state = 2 WHERE logseq = ? AND state = 1");
    for (const r of doomedRows(cat, true)) done.run(r.logseq);
  });
  if (first !== undefined) {
    const more = failed > 1 ? ` (and ${failed - 1} more file${failed > 2 ? "s" : ""})` : "";
    throw new CairnError(
      ErrorCode.STORE_IO,
      `gc cannot remove ${first.path}: ${osErrorText(first.err)}${more}; the artifact stays "sweeping" (fsck reports it) until a writer opening the store removes its file: fix the cause, then reopen the store`,
      { path: first.path, failed, ...(errnoOf(first.err) === undefined ? {} : { errno: errnoOf(first.err) }) },
      { cause: first.err },
    );
  }
  if (synced.first !== undefined) {
    const { dir, err } = synced.first;
    const more = synced.failed.size > 1 ? ` (and ${synced.failed.size - 1} more director${synced.failed.size > 2 ? "ies" : "y"})` : "";
    throw new CairnError(
      ErrorCode.STORE_IO,
      `gc cannot fsync ${dir} to make the removal of its swept files durable: ${osErrorText(err)}${more}; their ${unsynced} artifact${unsynced === 1 ? " stays" : "s stay"} "sweeping" until a writer opening the store finishes the sweep: fix the cause, then reopen the store`,
      { path: dir, failed: unsynced, ...(errnoOf(err) === undefined ? {} : { errno: errnoOf(err) }) },
      { cause: err },
    );
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
