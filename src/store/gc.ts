/**
 * Garbage collection: mark from the roots, sweep what is unreachable.
 *
 * Roots: every artifact visible as of any snapshot, every pinned root (user pins, engine
 * runs). Marking follows trace-graph edges upstream (a kept artifact keeps what it was
 * derived from: receipts, inputs, programs) and `contains` edges downstream (a kept
 * container, e.g. a run manifest, keeps its members). Receipt artifacts of live receipts
 * are provenance and are never swept (prune the receipt first). Artifacts younger than the
 * grace period, or written (or revived/restored) by this store handle since it was opened,
 * are never swept.
 *
 * The graph is loaded once into memory and walked breadth first (no per-node queries).
 * Sweep order, crash-safe: packed bytes are cleared in one transaction; files are first
 * marked `sweeping`, committed, unlinked, then marked `swept` (a writer opening the store
 * finishes an interrupted sweep).
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { digestFromBytes, type Digest } from "../core/digest.js";
import type { Catalog } from "./catalog.js";
import { objectPath } from "./layout.js";
import { unlinkQuiet } from "./artifacts.js";
import type { Clock } from "../core/clock.js";

export const CONTAINS_EDGE_TYPE = "contains";

export interface GcOptions {
  dryRun?: boolean;
  /** Artifacts created less than this long ago are kept. */
  graceMs: number;
}

export interface GcReport {
  dryRun: boolean;
  roots: { snapshots: number; pins: number };
  present: number;
  reachable: number;
  keptByGrace: number;
  keptAsReceipts: number;
  swept: Array<{ digest: Digest; size: number; storage: "packed" | "file" }>;
  sweptBytes: number;
}

interface Node {
  key: Buffer;
  logseq: number;
  createdAt: number;
  size: number;
  storage: number;
  events: number;
}

/** What the open writer has written since it opened: never swept. */
export interface WriterSession {
  startLogseq: number;
  startTime: number;
}

export function collectGarbage(root: string, cat: Catalog, clock: Clock, session: WriterSession, opts: GcOptions): GcReport {
  if (!Number.isFinite(opts.graceMs) || opts.graceMs < 0) {
    throw new CairnError(ErrorCode.USAGE, "gc grace must be a non-negative number of milliseconds", { graceMs: opts.graceMs });
  }
  const present = new Map<string, Node>();
  for (const r of cat.db.prepare("SELECT logseq, digest, size, storage, events, created_at FROM artifacts WHERE state = 0").iterate() as Iterable<{
    logseq: number;
    digest: Buffer;
    size: number;
    storage: number;
    events: number;
    created_at: number;
  }>) {
    present.set(r.digest.toString("hex"), { key: r.digest, logseq: r.logseq, createdAt: r.created_at, size: r.size, storage: r.storage, events: r.events });
  }

  const marked = new Set<string>();
  const queue: string[] = [];
  const mark = (hex: string): void => {
    if (!marked.has(hex)) {
      marked.add(hex);
      queue.push(hex);
    }
  };

  // Roots: pins and runs.
  const pins = cat.stmt("SELECT digest FROM roots").all() as Array<{ digest: Buffer }>;
  for (const p of pins) mark(p.digest.toString("hex"));

  // Roots: everything visible as of each snapshot.
  const snaps = (cat.stmt("SELECT as_of FROM snapshots").all() as Array<{ as_of: number }>).map((s) => s.as_of);
  if (snaps.length > 0) {
    const maxSnap = Math.max(...snaps);
    const evStmt = cat.stmt("SELECT logseq, kind FROM artifact_events WHERE digest = ? ORDER BY logseq");
    for (const [hex, n] of present) {
      if (n.logseq > maxSnap) continue;
      if (n.events === 0) {
        mark(hex);
        continue;
      }
      const evs = evStmt.all(n.key) as Array<{ logseq: number; kind: number }>;
      const visibleSomewhere = snaps.some((s) => {
        if (n.logseq > s) return false;
        let last = 2;
        for (const e of evs) if (e.logseq <= s) last = e.kind;
        return last !== 1;
      });
      if (visibleSomewhere) mark(hex);
    }
  }

  // Adjacency: upstream for every edge, downstream for `contains` edges.
  const follow = new Map<string, string[]>();
  const link = (fromHex: string, toHex: string): void => {
    let l = follow.get(fromHex);
    if (l === undefined) follow.set(fromHex, (l = []));
    l.push(toHex);
  };
  let cur = -1;
  let type = "";
  let froms: string[] = [];
  let tos: string[] = [];
  const flush = (): void => {
    for (const t of tos) for (const f of froms) link(t, f);
    if (type === CONTAINS_EDGE_TYPE) for (const f of froms) for (const t of tos) link(f, t);
  };
  for (const r of cat.db
    .prepare("SELECT n.edge_logseq AS ls, n.side AS side, n.node AS node, e.edge_type AS type FROM edge_nodes n JOIN edges e ON e.logseq = n.edge_logseq ORDER BY n.edge_logseq, n.side, n.pos")
    .iterate() as Iterable<{ ls: number; side: number; node: Buffer; type: string }>) {
    if (r.ls !== cur) {
      flush();
      cur = r.ls;
      type = r.type;
      froms = [];
      tos = [];
    }
    (r.side === 0 ? froms : tos).push(r.node.toString("hex"));
  }
  flush();

  for (let i = 0; i < queue.length; i++) {
    for (const next of follow.get(queue[i] as string) ?? []) mark(next);
  }

  const receiptKeys = new Set((cat.stmt("SELECT digest FROM receipts").all() as Array<{ digest: Buffer }>).map((r) => r.digest.toString("hex")));
  const now = clock.now();
  let keptByGrace = 0;
  let keptAsReceipts = 0;
  let reachable = 0;
  const doomed: Node[] = [];
  for (const [hex, n] of present) {
    if (marked.has(hex)) reachable++;
    else if (receiptKeys.has(hex)) keptAsReceipts++;
    else if (n.createdAt > now - opts.graceMs || n.logseq >= session.startLogseq || n.createdAt >= session.startTime) keptByGrace++;
    else doomed.push(n);
  }
  doomed.sort((a, b) => a.logseq - b.logseq);

  const dryRun = opts.dryRun === true;
  if (!dryRun && doomed.length > 0) {
    const files = doomed.filter((n) => n.storage === 1);
    cat.tx(() => {
      const clear = cat.stmt("UPDATE artifacts SET state = 2, bytes = NULL WHERE digest = ? AND state = 0");
      const sweeping = cat.stmt("UPDATE artifacts SET state = 1 WHERE digest = ? AND state = 0");
      for (const n of doomed) (n.storage === 0 ? clear : sweeping).run(n.key);
    });
    for (const n of files) unlinkQuiet(objectPath(root, digestFromBytes(n.key)));
    cat.tx(() => {
      const done = cat.stmt("UPDATE artifacts SET state = 2 WHERE digest = ? AND state = 1");
      for (const n of files) done.run(n.key);
    });
  }
  return {
    dryRun,
    roots: { snapshots: snaps.length, pins: pins.length },
    present: present.size,
    reachable,
    keptByGrace,
    keptAsReceipts,
    swept: doomed.map((n) => ({ digest: digestFromBytes(n.key), size: n.size, storage: n.storage === 0 ? "packed" : "file" })),
    sweptBytes: doomed.reduce((s, n) => s + n.size, 0),
  };
}
