/**
 * The group commit's savepoint journal in memory (catalog.ts `withMemoryJournal`, 2026-11-27):
 * `temp_store` is MEMORY for the group's transaction only and set back after a commit, a pulse's
 * failure and a group's failure (also when gc left SQLite's TEMP database open); no sub-journal
 * file is opened in TMPDIR where a plain nested transaction opens one; a failing pulse still rolls
 * back alone. And a receipt's edges, written without savepoints of their own inside the receipt's
 * (edges.ts `addInCallerTx`): an edge failing after its first row leaves nothing of the receipt.
 */
import { readdirSync, readlinkSync } from "node:fs";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { GroupCommitter } from "../../src/batch/group-commit.js";
import { withMemoryJournal } from "../../src/store/catalog.js";
import type { Digest, Store } from "../../src/index.js";
import { freshStore } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function store(): Store {
  const s = freshStore();
  cleanups.push(s.cleanup);
  return s.store;
}

function catalogDb(s: Store): Database.Database {
  return (s as unknown as { parts: { catalog: { db: Database.Database } } }).parts.catalog.db;
}

function tempStore(s: Store): number {
  return catalogDb(s).pragma("temp_store", { simple: true }) as number;
}

/** The SQLite temporary files (`etilqs_*`, unlinked once open) this process holds open. */
function sqliteTempFiles(): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.includes("etilqs_") ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Puts `n` distinct small artifacts tagged `tag`, each in its own savepoint; their digests. */
function putMany(s: Store, tag: string, n: number): Digest[] {
  const out: Digest[] = [];
  for (let i = 0; i < n; i++) out.push(s.putBytes(Buffer.from(`${tag}-${i}`)).digest);
  return out;
}

describe("the group commit's savepoint journal", () => {
  it("is MEMORY inside the group only, and set back after a commit, a pulse's failure and a group's failure", async () => {
    const s = store();
    expect(tempStore(s)).toBe(0);
    const committer = new GroupCommitter(s);
    const seen: number[] = [];
    const ok = committer.commit(() => {
      seen.push(tempStore(s));
      return s.putBytes(Buffer.from("kept")).digest;
    });
    const own = committer.commit(() => {
      s.putBytes(Buffer.from("rolled back"));
      throw new Error("the pulse's own failure");
    });
    const [a, b] = await Promise.allSettled([ok, own]);
    expect(seen).toEqual([2]);
    expect(a.status).toBe("fulfilled");
    expect((b as PromiseRejectedResult).reason).toEqual(new Error("the pulse's own failure"));
    expect(tempStore(s)).toBe(0);
    // A SQLite failure that rolled the whole transaction back (as SQLITE_FULL in a savepoint does).
    const failed = committer.commit(() => {
      s.putBytes(Buffer.from("group fails"));
      catalogDb(s).exec("ROLLBACK");
      throw new Database.SqliteError("database or disk is full", "SQLITE_FULL");
    });
    await expect(failed).rejects.toMatchObject({ code: "E_STORE_IO" });
    expect(tempStore(s)).toBe(0);
    // A plain transaction, and one nested in the scope, keep the connection's setting.
    expect(s.transaction(() => tempStore(s))).toBe(0);
    expect(withMemoryJournal(() => s.transaction(() => [tempStore(s), s.transaction(() => tempStore(s))]))).toEqual([2, 2]);
    expect(s.transaction(() => withMemoryJournal(() => s.transaction(() => tempStore(s))))).toBe(0);
    expect(tempStore(s)).toBe(0);
  });

  it("works after gc opened SQLite's TEMP database, and gc still runs after it", async () => {
    const s = store();
    s.putBytes(Buffer.from("garbage")); // kept: gc never sweeps what this handle wrote
    expect(s.gc({ graceMs: 0 }).present).toBe(1);
    const databases = (): string[] => (catalogDb(s).pragma("database_list") as Array<{ name: string }>).map((r) => r.name);
    expect(databases()).toContain("temp"); // gc's TEMP tables are dropped, its TEMP database stays open
    const committer = new GroupCommitter(s);
    const d = await committer.commit(() => s.putBytes(Buffer.from("after gc")).digest);
    expect(s.has(d)).toBe(true);
    expect(tempStore(s)).toBe(0);
    expect(databases()).not.toContain("temp"); // closed by the change of temp_store
    expect(s.gc({ graceMs: 0 }).present).toBe(2);
    expect(databases()).toContain("temp");
  });

  it.runIf(process.platform === "linux")("opens no sub-journal file where a plain nested transaction opens one", async () => {
    const s = store();
    s.transaction(() => putMany(s, "base", 3000)); // many index pages, so that later puts change old ones
    const inPlain: string[][] = [];
    s.transaction(() =>
      s.transaction(() => {
        putMany(s, "plain", 300);
        inPlain.push(sqliteTempFiles());
      }),
    );
    // The probe sees SQLite's spilled sub-journal (past 64 KiB in memory, SQLite writes a file).
    expect(inPlain[0]?.length).toBeGreaterThan(0);
    const committer = new GroupCommitter(s);
    const inGroup = await committer.commit(() => {
      putMany(s, "group", 300);
      return sqliteTempFiles();
    });
    expect(inGroup).toEqual([]);
  });

  it("rolls back a failing pulse alone, however many pages the pulses around it journaled", async () => {
    const s = store();
    s.transaction(() => putMany(s, "base", 2000));
    const committer = new GroupCommitter(s);
    let failedDigests: Digest[] = [];
    const a = committer.commit(() => putMany(s, "a", 200));
    const b = committer.commit(() => {
      failedDigests = putMany(s, "b", 200);
      throw new Error("pulse b fails");
    });
    const c = committer.commit(() => putMany(s, "c", 200));
    const [ra, rb, rc] = await Promise.allSettled([a, b, c]);
    expect(rb.status).toBe("rejected");
    const kept = [...(ra as PromiseFulfilledResult<Digest[]>).value, ...(rc as PromiseFulfilledResult<Digest[]>).value];
    expect(kept.every((d) => s.has(d))).toBe(true);
    expect(failedDigests.some((d) => s.has(d))).toBe(false);
    // No logseq gap: c's first put came right after a's last.
    const logseqs = kept.map((d) => s.stat(d).logseq);
    expect(logseqs[200]).toBe((logseqs[199] as number) + 1);
    expect(s.headLogseq()).toBe(2000 + 400);
  });
});

describe("a receipt's edges inside the receipt's savepoint", () => {
  it("an edge failing after its first row leaves nothing of the receipt, and no logseq gap", () => {
    const s = store();
    const fn = s.putBytes(Buffer.from("fn")).digest;
    const input = s.putBytes(Buffer.from("in")).digest;
    const out = s.putBytes(Buffer.from("out")).digest;
    const head = s.headLogseq();
    // The receipt would take head+1 (body), head+2 (row), head+3..5 (program, input, output
    // edges). A stray edge_nodes row at the output edge's to-side makes its second node insert
    // fail (PRIMARY KEY), after the edge's own row and its first node were written.
    catalogDb(s).prepare("INSERT INTO edge_nodes(edge_logseq, side, pos, node) VALUES (?, 1, 0, ?)").run(head + 5, Buffer.alloc(32, 1));
    s.transaction(() => {
      expect(() => s.recordReceipt({ program: fn, inputs: [input], outputs: [out], status: "succeeded" })).toThrow(/constraint/i);
      expect(s.findReceipt(fn, [input])).toBeUndefined();
      expect(s.putBytes(Buffer.from("next")).logseq).toBe(head + 1);
    });
    expect(s.findReceipt(fn, [input])).toBeUndefined();
    expect(s.edgesOfType(fn, "execution")).toEqual([]);
    expect(s.edgesOfType(input, "execution")).toEqual([]);
    const rows = catalogDb(s).prepare("SELECT COUNT(*) AS n FROM edges").get() as { n: number };
    expect(rows.n).toBe(0);
    const nodes = catalogDb(s).prepare("SELECT COUNT(*) AS n FROM edge_nodes").get() as { n: number };
    expect(nodes.n).toBe(1); // the stray row only
  });
});
