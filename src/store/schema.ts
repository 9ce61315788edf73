/**
 * The SQLite catalog schema, format version 1. Every record table's INTEGER PRIMARY KEY is
 * its logseq, so inserts append. Digests are stored as 32-byte BLOBs.
 *
 * Logseq invariant (checked by fsck): every value 1..max appears exactly once across
 * artifacts, artifact_events, receipts, edges, snapshots, roots and removals (both the
 * removal's own logseq and the logseq of the record it removed).
 */
export const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- One row per artifact ever stored. storage: 0 packed in 'bytes', 1 own file.
-- state: 0 present, 1 sweeping (gc removing the file), 2 swept (bytes collected).
-- deleted: 1 when the newest artifact_event is a tombstone.
CREATE TABLE IF NOT EXISTS artifacts (
  logseq     INTEGER PRIMARY KEY,
  digest     BLOB NOT NULL UNIQUE,
  size       INTEGER NOT NULL,
  media_type TEXT NOT NULL,
  type_tag   INTEGER,
  storage    INTEGER NOT NULL CHECK (storage IN (0, 1)),
  state      INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
  deleted    INTEGER NOT NULL DEFAULT 0,
  events     INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  bytes      BLOB
);
CREATE INDEX IF NOT EXISTS artifacts_state ON artifacts(state) WHERE state <> 0;
-- Tombstones (kind 1) and revivals by a later put (kind 2).
CREATE TABLE IF NOT EXISTS artifact_events (
  logseq INTEGER PRIMARY KEY,
  digest BLOB NOT NULL,
  kind   INTEGER NOT NULL CHECK (kind IN (1, 2))
);
CREATE INDEX IF NOT EXISTS artifact_events_digest ON artifact_events(digest, logseq);
-- Execution receipts. body = canonical JSON (its SHA-256 = digest, also stored as an artifact).
CREATE TABLE IF NOT EXISTS receipts (
  logseq     INTEGER PRIMARY KEY,
  digest     BLOB NOT NULL UNIQUE,
  action_key BLOB NOT NULL UNIQUE,
  body       TEXT NOT NULL,
  timing     TEXT
);
-- Trace-graph edges; nodes live in edge_nodes in both orders for traversal.
CREATE TABLE IF NOT EXISTS edges (
  logseq    INTEGER PRIMARY KEY,
  edge_id   BLOB NOT NULL UNIQUE,
  edge_type TEXT NOT NULL,
  role      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS edge_nodes (
  edge_logseq INTEGER NOT NULL,
  side        INTEGER NOT NULL CHECK (side IN (0, 1)),
  pos         INTEGER NOT NULL,
  node        BLOB NOT NULL,
  PRIMARY KEY (edge_logseq, side, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edge_nodes_node ON edge_nodes(node, side, edge_logseq);
CREATE TABLE IF NOT EXISTS snapshots (
  logseq     INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  as_of      INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
-- GC roots other than snapshots: kind 'pin' (user) or 'run' (engines).
CREATE TABLE IF NOT EXISTS roots (
  logseq INTEGER PRIMARY KEY,
  name   TEXT NOT NULL UNIQUE,
  kind   TEXT NOT NULL CHECK (kind IN ('pin', 'run')),
  digest BLOB NOT NULL
);
-- A removal (unpin, snapshot delete, receipt or edge prune) is itself a record.
CREATE TABLE IF NOT EXISTS removals (
  logseq        INTEGER PRIMARY KEY,
  target_logseq INTEGER NOT NULL UNIQUE,
  kind          TEXT NOT NULL
);
`;

/** Tables whose INTEGER PRIMARY KEY is a logseq. */
export const LOGSEQ_TABLES = ["artifacts", "artifact_events", "receipts", "edges", "snapshots", "roots", "removals"] as const;
