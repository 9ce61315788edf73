/**
 * Named references: snapshots (a name pinned to a logseq; reads "as of" it see only records
 * with logseq ≤ that value) and roots (a name pinned to one artifact: user pins and engine
 * runs). Both are GC roots. Creating or removing either is a logged record.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import { digestToBytes, parseDigest, type Digest } from "../core/digest.js";
import { storedDigest, type Catalog } from "./catalog.js";
import type { Artifacts } from "./artifacts.js";
import { recordRemoval } from "./edges.js";
import type { Clock } from "../core/clock.js";

const REF_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$/;
/** What a root-name prefix may hold: the characters of a root name (ASCII), or nothing. */
const REF_PREFIX_RE = /^[A-Za-z0-9_.:@+-]{0,128}$/;
/** Roots read per catalog query by `iterateRoots` (at most this many are held at once). */
export const ROOTS_PAGE = 1000;

export interface Snapshot {
  name: string;
  /** Reads as of this snapshot see records with logseq ≤ asOf. */
  asOf: number;
  logseq: number;
  createdAt: number;
}

export type RootKind = "pin" | "run";

export interface Root {
  name: string;
  kind: RootKind;
  digest: Digest;
  logseq: number;
}

function checkRefName(kind: string, name: string): string {
  if (typeof name !== "string" || !REF_NAME_RE.test(name)) {
    throw new CairnError(ErrorCode.USAGE, `${kind} name ${JSON.stringify(name)} must match ${REF_NAME_RE.source}`, { name });
  }
  return name;
}

export class Refs {
  constructor(
    private readonly cat: Catalog,
    private readonly artifacts: Artifacts,
    private readonly clock: Clock,
  ) {}

  createSnapshot(name: string): Snapshot {
    checkRefName("snapshot", name);
    return this.cat.tx(() => {
      if (this.findSnapshot(name) !== undefined) {
        throw new CairnError(ErrorCode.CONFLICT, `snapshot ${JSON.stringify(name)} already exists`, { name });
      }
      const logseq = this.cat.allocLogseq();
      const createdAt = this.clock.now();
      this.cat.stmt("INSERT INTO snapshots(logseq, name, as_of, created_at) VALUES (?, ?, ?, ?)").run(logseq, name, logseq, createdAt);
      return { name, asOf: logseq, logseq, createdAt };
    });
  }

  findSnapshot(name: string): Snapshot | undefined {
    const r = this.cat.stmt("SELECT logseq, name, as_of, created_at FROM snapshots WHERE name = ?").get(name) as
      | { logseq: number; name: string; as_of: number; created_at: number }
      | undefined;
    return r === undefined ? undefined : { name: r.name, asOf: r.as_of, logseq: r.logseq, createdAt: r.created_at };
  }

  snapshot(name: string): Snapshot {
    const s = this.findSnapshot(name);
    if (s === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `snapshot ${JSON.stringify(name)} not found`, { name });
    return s;
  }

  listSnapshots(): Snapshot[] {
    const rows = this.cat.stmt("SELECT logseq, name, as_of, created_at FROM snapshots ORDER BY logseq").all() as Array<{
      logseq: number;
      name: string;
      as_of: number;
      created_at: number;
    }>;
    return rows.map((r) => ({ name: r.name, asOf: r.as_of, logseq: r.logseq, createdAt: r.created_at }));
  }

  deleteSnapshot(name: string): { name: string; logseq: number } {
    return this.cat.tx(() => {
      const s = this.snapshot(name);
      this.cat.stmt("DELETE FROM snapshots WHERE logseq = ?").run(s.logseq);
      return { name, logseq: recordRemoval(this.cat, s.logseq, "snapshot") };
    });
  }

  /** Pins an artifact under a name so gc keeps it (and everything it was derived from). */
  pin(name: string, digest: Digest, kind: RootKind = "pin"): Root {
    checkRefName("root", name);
    parseDigest(digest, "pinned digest");
    if (kind !== "pin" && kind !== "run") throw new CairnError(ErrorCode.USAGE, `root kind must be "pin" or "run"`, { kind });
    return this.cat.tx(() => {
      const existing = this.findRoot(name);
      if (existing !== undefined) {
        if (existing.digest === digest && existing.kind === kind) return existing;
        throw new CairnError(ErrorCode.CONFLICT, `root ${JSON.stringify(name)} already pins ${existing.digest}`, { name, existing: existing.digest });
      }
      this.artifacts.visibleRow(digest);
      const logseq = this.cat.allocLogseq();
      this.cat.stmt("INSERT INTO roots(logseq, name, kind, digest) VALUES (?, ?, ?, ?)").run(logseq, name, kind, digestToBytes(digest));
      return { name, kind, digest, logseq };
    });
  }

  findRoot(name: string): Root | undefined {
    const r = this.cat.stmt("SELECT logseq, name, kind, digest FROM roots WHERE name = ?").get(name) as
      | { logseq: number; name: string; kind: RootKind; digest: Buffer }
      | undefined;
    return r === undefined ? undefined : { name: r.name, kind: r.kind, digest: storedDigest(r.digest, `root ${JSON.stringify(r.name)}`), logseq: r.logseq };
  }

  /** Every root, in logseq order, in one array (`iterateRoots` reads them page by page). */
  listRoots(): Root[] {
    return [...this.iterateRoots()];
  }

  /**
   * The roots (only those whose name starts with `prefix`, when given), in logseq order, read
   * lazily in pages of `pageSize` (keyset on logseq): no catalog query stays open between two
   * roots, so the caller may read and write the store while iterating. A root pinned meanwhile
   * with a higher logseq is listed too; one unpinned before its page is read is not.
   */
  iterateRoots(opts: { prefix?: string } = {}, pageSize = ROOTS_PAGE): Generator<Root> {
    const prefix = (opts as { prefix?: string } | null | undefined)?.prefix ?? "";
    if (typeof prefix !== "string" || !REF_PREFIX_RE.test(prefix)) {
      throw new CairnError(ErrorCode.USAGE, `root name prefix ${JSON.stringify(prefix)} must match ${REF_PREFIX_RE.source}`, { prefix });
    }
    return this.rootPages(prefix, pageSize);
  }

  private *rootPages(prefix: string, pageSize: number): Generator<Root> {
    // A prefix is a range of names: [prefix, prefix with its last character incremented). The
    // names are ASCII (REF_NAME_RE), so the catalog's binary collation orders them as strings.
    // `+name` keeps the scan on the logseq key (the order listed) rather than the name index.
    const sql =
      prefix === ""
        ? "SELECT logseq, name, kind, digest FROM roots WHERE logseq > ? ORDER BY logseq LIMIT ?"
        : "SELECT logseq, name, kind, digest FROM roots WHERE logseq > ? AND +name >= ? AND +name < ? ORDER BY logseq LIMIT ?";
    const range = prefix === "" ? [] : [prefix, `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`];
    let after = 0;
    for (;;) {
      const rows = this.cat.stmt(sql).all(after, ...range, pageSize) as Array<{ logseq: number; name: string; kind: RootKind; digest: Buffer }>;
      for (const r of rows) {
        yield { name: r.name, kind: r.kind, digest: storedDigest(r.digest, `root ${JSON.stringify(r.name)}`), logseq: r.logseq };
      }
      if (rows.length < pageSize) return;
      after = (rows[rows.length - 1] as { logseq: number }).logseq;
    }
  }

  unpin(name: string): { name: string; logseq: number } {
    return this.cat.tx(() => {
      const r = this.findRoot(name);
      if (r === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `root ${JSON.stringify(name)} not found`, { name });
      this.cat.stmt("DELETE FROM roots WHERE logseq = ?").run(r.logseq);
      return { name, logseq: recordRemoval(this.cat, r.logseq, "root") };
    });
  }
}
