/**
 * A packed (inline) artifact whose catalog `bytes` column holds TEXT or an INTEGER instead of a
 * BLOB (tampering: `update artifacts set bytes = cast(bytes as text)`), and artifact rows whose
 * other columns hold values Cairn never writes (a size that is not an integer, a media type that
 * is a BLOB, a deleted flag of 'x'): every read (get, stat, list, openReader, openReadStream,
 * getToFile, a batch run's verify) refuses them with E_STORE_CORRUPT "artifact … is corrupt: …",
 * and fsck reports them as artifact_corrupt. Before, a TEXT column of ASCII bytes hashed to the
 * digest: `get` returned a string, `openReader` threw a TypeError (bytes.subarray is not a
 * function, E_INTERNAL from `cairn verify`) and fsck said ok; an INTEGER made fsck print
 * "stored size undefined".
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore, type Digest, type Store } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { verifyRun } from "../../src/batch/verify.js";
import { digestToBytes } from "../../src/core/digest.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { drain, expectCairn, expectCairnAsync } from "./helpers.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function track(s: Store): Store {
  open.push(s);
  return s;
}

/** ASCII, so that its bytes cast to TEXT still hash to its digest. */
const SMALL = Buffer.from('{"a":1}\n{"a":2}\n');

interface Fixture {
  dir: string;
  small: { digest: Digest; logseq: number };
  other: { digest: Digest; logseq: number };
  big: { digest: Digest; logseq: number };
}

/** A store with two packed artifacts (ASCII) and a file-stored one, then `sql` run on its catalog with `?` = the small one's logseq. */
function edited(sql: string, which: "small" | "big" = "small"): Fixture {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  const small = s.putBytes(SMALL, { mediaType: "application/x-cairn-records" });
  const other = s.putBytes(Buffer.from("intact"));
  const big = s.putBytes(Buffer.alloc(100_000, 7));
  s.close();
  const f: Fixture = { dir, small, other, big };
  const db = new Database(join(dir, "catalog.sqlite"));
  try {
    expect(db.prepare(sql).run(f[which].logseq).changes).toBe(1);
  } finally {
    db.close();
  }
  return f;
}

/**
 * Every read of `d`'s bytes is E_STORE_CORRUPT with `message`, and so are `stat` and `list` when
 * `rowOnly` (a fault in a column they read; `list` skips a row whose deleted flag is not 0 when
 * `listed` is false); the other artifact still reads.
 */
async function refusedEverywhere(f: Fixture, d: Digest, message: string, how: { rowOnly: boolean; listed?: boolean }): Promise<void> {
  const r = track(openStore({ dir: f.dir, readOnly: true }));
  expectCairn(() => r.get(d), ErrorCode.STORE_CORRUPT, message);
  expectCairn(() => r.openReader(d), ErrorCode.STORE_CORRUPT, message);
  if (how.rowOnly) {
    expectCairn(() => r.stat(d), ErrorCode.STORE_CORRUPT, message);
    if (how.listed !== false) expectCairn(() => [...r.list()], ErrorCode.STORE_CORRUPT, message);
    else expect([...r.list()].map((a) => a.digest)).not.toContain(d);
  } else {
    // stat and list do not read the bytes (as for packed bytes that do not hash to the digest)
    expect(r.stat(d).size).toBe(SMALL.length);
    expect([...r.list()].map((a) => a.digest)).toContain(d);
  }
  const streamed = await drain(() => r.openReadStream(d));
  expect(streamed.bytes).toBe(0);
  expect((streamed.err as { code?: string; message?: string }).code).toBe(ErrorCode.STORE_CORRUPT);
  expect((streamed.err as Error).message).toBe(message);
  const copy = await expectCairnAsync(r.getToFile(d, join(makeTempDir(), "out")), ErrorCode.STORE_CORRUPT);
  expect(copy.message).toBe(message);
  expect(r.get(f.other.digest).toString()).toBe("intact");
}

async function fsckProblems(dir: string): Promise<Array<{ code: string; subject: string; message: string }>> {
  const w = track(openStore({ dir }));
  const report = await w.fsck();
  expect(report.ok).toBe(false);
  return report.problems;
}

describe("packed bytes that are not a BLOB", () => {
  it("bytes cast to TEXT: every read is E_STORE_CORRUPT (not a string, not a TypeError); fsck reports artifact_corrupt", async () => {
    const f = edited("UPDATE artifacts SET bytes = CAST(bytes AS TEXT) WHERE logseq = ?");
    const message = `artifact ${f.small.digest} is corrupt: its packed bytes are TEXT in the catalog, not a BLOB`;
    await refusedEverywhere(f, f.small.digest, message, { rowOnly: false });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.small.digest, message }]);
  });

  it("bytes set to 12345 (an INTEGER): the same, not 'stored size undefined'", async () => {
    const f = edited("UPDATE artifacts SET bytes = 12345 WHERE logseq = ?");
    const message = `artifact ${f.small.digest} is corrupt: its packed bytes are an INTEGER in the catalog, not a BLOB`;
    await refusedEverywhere(f, f.small.digest, message, { rowOnly: false });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.small.digest, message }]);
  });

  it("bytes set to 1.5 (a REAL): the same", async () => {
    const f = edited("UPDATE artifacts SET bytes = 1.5 WHERE logseq = ?");
    const message = `artifact ${f.small.digest} is corrupt: its packed bytes are a REAL in the catalog, not a BLOB`;
    await refusedEverywhere(f, f.small.digest, message, { rowOnly: false });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.small.digest, message }]);
  });

  it("a batch run's verify reports a pulse's records stored as TEXT as tampered, rather than crashing", async () => {
    const dir = join(makeTempDir(), "store");
    const store = openStore({ dir, durability: "normal" });
    const r = await run(store, [{ a: 1 }, { a: 2 }], { code: "export default (x) => x;\n", name: "id.mjs" }, { partitions: 1, pulseSize: 2, workers: 1 });
    expect(r.status).toBe("completed");
    store.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    let records: Buffer;
    try {
      records = (db.prepare("SELECT digest FROM artifacts WHERE media_type LIKE '%records%' AND storage = 0 LIMIT 1").get() as { digest: Buffer }).digest;
      expect(db.prepare("UPDATE artifacts SET bytes = CAST(bytes AS TEXT) WHERE digest = ?").run(records).changes).toBe(1);
    } finally {
      db.close();
    }
    const d = `sha256:${records.toString("hex")}` as Digest;
    expect(digestToBytes(d)).toEqual(records);
    const reopened = track(openStore({ dir, durability: "normal" }));
    const rep = await verifyRun(reopened, r.runId);
    expect(rep.ok).toBe(false);
    const p = rep.problems.find((x) => x.code === "artifact_tampered");
    expect(p, JSON.stringify(rep.problems)).toBeDefined();
    expect(p?.message).toContain(`artifact ${d} is corrupt: its packed bytes are TEXT in the catalog, not a BLOB`);
  });
});

describe("other artifact columns holding values Cairn never writes", () => {
  it("a size of 'abc' (TEXT): every read is E_STORE_CORRUPT; fsck reports artifact_corrupt", async () => {
    const f = edited("UPDATE artifacts SET size = 'abc' WHERE logseq = ?");
    const message = `artifact ${f.small.digest} is corrupt: its recorded size "abc" is not a non-negative integer`;
    await refusedEverywhere(f, f.small.digest, message, { rowOnly: true });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.small.digest, message }]);
  });

  it("a size of 1.5 for a file-stored artifact: the same, reported once by fsck", async () => {
    const f = edited("UPDATE artifacts SET size = 1.5 WHERE logseq = ?", "big");
    const message = `artifact ${f.big.digest} is corrupt: its recorded size 1.5 is not a non-negative integer`;
    await refusedEverywhere(f, f.big.digest, message, { rowOnly: true });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.big.digest, message }]);
  });

  it("a media type that is a BLOB and a deleted flag of 'x': the same", async () => {
    const f = edited("UPDATE artifacts SET media_type = x'00ff' WHERE logseq = ?");
    const message = `artifact ${f.small.digest} is corrupt: its recorded media type x'00ff' is not text`;
    await refusedEverywhere(f, f.small.digest, message, { rowOnly: true });
    expect(await fsckProblems(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.small.digest, message }]);

    const g = edited("UPDATE artifacts SET deleted = 'x' WHERE logseq = ?");
    const flag = `artifact ${g.small.digest} is corrupt: its recorded deleted flag "x" is not 0 or 1`;
    await refusedEverywhere(g, g.small.digest, flag, { rowOnly: true, listed: false });
    expect(await fsckProblems(g.dir)).toEqual([{ code: "artifact_corrupt", subject: g.small.digest, message: flag }]);
  });
});

describe("what Cairn may write is not refused", () => {
  it("a store whose clock gives fractional milliseconds reads its artifacts back (created_at is REAL); fsck ok", async () => {
    const dir = join(makeTempDir(), "store");
    const s = track(openStore({ dir, clock: { now: () => 1_700_000_000_000.25 } }));
    const a = s.putBytes(SMALL);
    const b = s.putBytes(Buffer.alloc(100_000, 7));
    expect(s.get(a.digest)).toEqual(SMALL);
    expect(s.get(b.digest).length).toBe(100_000);
    expect([...s.list()].map((i) => i.digest).sort()).toEqual([a.digest, b.digest].sort());
    const report = await s.fsck();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

describe("review mends: gc and the store clock", () => {
  it("gc refuses to sweep an unreachable row holding a size of 'abc' (E_STORE_CORRUPT, nothing swept), as every read does", () => {
    const f = edited("UPDATE artifacts SET size = 'abc' WHERE logseq = ?");
    const s = track(openStore({ dir: f.dir }));
    const message = `artifact ${f.small.digest} is corrupt: its recorded size "abc" is not a non-negative integer`;
    expectCairn(() => s.gc({ graceMs: 0, dryRun: true }), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => s.gc({ graceMs: 0 }), ErrorCode.STORE_CORRUPT, message);
    expect(s.stat(f.other.digest).state).toBe("present");
  });

  it("a clock giving a non-finite time is E_USAGE at the put (field clock), never a row every read then refuses", () => {
    const dir = join(makeTempDir(), "store");
    const s = track(openStore({ dir, clock: { now: () => Infinity } }));
    expectCairn(() => s.putBytes(SMALL), ErrorCode.USAGE, "the store's clock gave Infinity, not a finite number of milliseconds");
    expect([...s.list()]).toEqual([]);
  });
});
