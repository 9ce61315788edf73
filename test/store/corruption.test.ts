/**
 * Corruption tests: damage a store behind Cairn's back (flip bytes in an object file or in the
 * SQLite catalog, delete files, drop stray files, insert bad catalog rows) and check that reads
 * refuse the damaged bytes with E_STORE_CORRUPT before returning anything, and that fsck names
 * every problem.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { makeTempDir } from "./fixtures/child.js";
import { drain, expectCairn, expectCairnAsync, objectFile, storesClosedAfterEach } from "./helpers.js";
import { SCHEMA_V1 } from "../../src/store/schema.js";
import { largeContent, smallContent } from "./fixtures/content.js";

const newStore = storesClosedAfterEach();

function reopen(dir: string): Store {
  return newStore(dir);
}

/**
 * Checks that every read path refuses `d` with E_STORE_CORRUPT (naming it): get throws, a read
 * stream fails before emitting a byte, a sequential reader hands out no piece, getToFile rejects
 * without creating the destination.
 * Returns the directory getToFile wrote into (for checks on leftover temp files).
 */
async function expectUnreadable(store: Store, d: Digest, messagePart: string): Promise<string> {
  const e = expectCairn(() => store.get(d), ErrorCode.STORE_CORRUPT);
  expect(e.message).toContain(d);
  expect(e.message).toContain(messagePart);

  const streamed = await drain(() => store.openReadStream(d));
  expect(streamed.bytes).toBe(0);
  expect(streamed.err).toBeInstanceOf(CairnError);
  expect((streamed.err as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
  expect((streamed.err as CairnError).message).toContain(d);

  // The sequential reader refuses at open, or (a packed row whose bytes are damaged) at its first read.
  const e3 = expectCairn(() => store.openReader(d).read(1 << 20), ErrorCode.STORE_CORRUPT);
  expect(e3.message).toContain(d);

  const outDir = makeTempDir();
  const dest = join(outDir, "out.bin");
  const e2 = await expectCairnAsync(store.getToFile(d, dest), ErrorCode.STORE_CORRUPT);
  expect(e2.message).toContain(d);
  // Let any asynchronous file operation started by getToFile settle before looking.
  await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(dest)).toBe(false);
  return outDir;
}

function flipByte(path: string, offset: number): void {
  chmodSync(path, 0o644);
  const buf = readFileSync(path);
  buf[offset] = (buf[offset] as number) ^ 0x01;
  writeFileSync(path, buf);
  chmodSync(path, 0o444);
}

/** Highest logseq across the catalog's record tables, read directly with SQLite. */
function rawMaxLogseq(db: Database.Database): number {
  const tables = ["artifacts", "artifact_events", "receipts", "edges", "snapshots", "roots", "removals"];
  let max = 0;
  for (const t of tables) {
    const r = db.prepare(`SELECT MAX(logseq) AS m FROM ${t}`).get() as { m: number | null };
    if (r.m !== null) max = Math.max(max, r.m);
  }
  return max;
}

describe("corrupted or damaged stores", () => {
  it("a flipped byte in a large artifact's file is refused by every read and reported by fsck", async () => {
    const store = newStore();
    const bad = (await store.put(largeContent("corrupt", 0))).digest;
    const goodLarge = (await store.put(largeContent("corrupt", 1))).digest;
    const goodSmall = (await store.put(smallContent("corrupt", 2))).digest;
    expect(store.stat(bad).storage).toBe("file");
    const file = objectFile(store.root, bad);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    flipByte(file, 150_000);

    const outDir = await expectUnreadable(store, bad, "corrupt");
    expect(readdirSync(outDir)).toEqual([]); // not even a temp file
    // Undamaged neighbours still read fine.
    expect(store.get(goodLarge).equals(largeContent("corrupt", 1))).toBe(true);
    expect(store.get(goodSmall).equals(smallContent("corrupt", 2))).toBe(true);

    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([{ code: "artifact_corrupt", subject: bad }]);
    expect(report.problems[0]?.message).toContain(bad);
  });

  it("a truncated large artifact's file is refused and reported", async () => {
    const store = newStore();
    const d = (await store.put(largeContent("truncate", 0))).digest;
    const file = objectFile(store.root, d);
    chmodSync(file, 0o644);
    writeFileSync(file, readFileSync(file).subarray(0, 100_000));
    await expectUnreadable(store, d, "size");
    const report = await store.fsck();
    expect(report.problems.map((p) => [p.code, p.subject])).toEqual([["artifact_corrupt", d]]);
  });

  it("a flipped byte inside a packed artifact in catalog.sqlite is refused and reported", async () => {
    const dir = join(makeTempDir(), "store");
    const first = newStore(dir);
    const marker = `CAIRN-CORRUPTION-MARKER-${randomBytes(8).toString("hex")}`;
    const content = Buffer.from(JSON.stringify({ note: "packed artifact to corrupt", marker }));
    const bad = first.putBytes(content).digest;
    const good = first.putBytes(smallContent("packed", 1)).digest;
    expect(first.stat(bad).storage).toBe("packed");
    first.close();

    // Make sure the bytes live in catalog.sqlite itself, not only in the WAL.
    const catalog = join(dir, "catalog.sqlite");
    const wal = `${catalog}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) {
      const db = new Database(catalog);
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
    }
    const raw = readFileSync(catalog);
    const at = raw.indexOf(marker, 0, "latin1");
    expect(at).toBeGreaterThan(0);
    expect(raw.lastIndexOf(marker, undefined, "latin1")).toBe(at);
    raw[at + 10] = (raw[at + 10] as number) ^ 0x01; // stays printable ASCII, record structure untouched
    writeFileSync(catalog, raw);

    const store = reopen(dir);
    await expectUnreadable(store, bad, "corrupt");
    expect(store.get(good).equals(smallContent("packed", 1))).toBe(true);
    expect(sha256(content)).toBe(bad);

    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([{ code: "artifact_corrupt", subject: bad }]);
  });

  it("a large artifact whose file was deleted reads as corrupt (missing) and fsck reports artifact_missing", async () => {
    const store = newStore();
    const d = (await store.put(largeContent("missing", 0))).digest;
    unlinkSync(objectFile(store.root, d));
    await expectUnreadable(store, d, "missing");
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([{ code: "artifact_missing", subject: d }]);
  });

  // getToFile creates its temp file (createWriteStream, opened asynchronously) before it looks
  // up the source; when the lookup throws synchronously the catch's unlink runs before the file
  // exists, so the temp file appears afterwards and stays (its descriptor leaks, too).
  it("getToFile leaves no temp file beside the destination when a packed artifact is corrupt", async () => {
    const dir = join(makeTempDir(), "store");
    const first = newStore(dir);
    const d = first.putBytes(Buffer.from("packed bytes to break: CAIRN-GETTOFILE-MARKER")).digest;
    first.close();
    const db = new Database(join(dir, "catalog.sqlite"));
    db.prepare("UPDATE artifacts SET bytes = ? WHERE digest = ?").run(Buffer.from("packed bytes to break: CAIRN-GETTOFILE-MARKEX"), Buffer.from(d.slice(7), "hex"));
    db.close();
    const store = reopen(dir);
    const outDir = await expectUnreadable(store, d, "corrupt");
    expect(readdirSync(outDir)).toEqual([]);
  });

  it("getToFile leaves no temp file beside the destination when a large artifact's file is missing", async () => {
    const store = newStore();
    const d = (await store.put(largeContent("missing-gettofile", 0))).digest;
    unlinkSync(objectFile(store.root, d));
    const outDir = await expectUnreadable(store, d, "missing");
    expect(readdirSync(outDir)).toEqual([]);
  });

  it("fsck reports an orphan file in objects/ and a stray file in tmp/", async () => {
    const store = newStore();
    await store.put(largeContent("orphan", 0));
    const orphanName = "f".repeat(62);
    mkdirSync(join(store.root, "objects", "ab"), { recursive: true });
    writeFileSync(join(store.root, "objects", "ab", orphanName), "nobody's bytes");
    // Created after open: crash recovery (which cleans tmp/) has already run.
    // Named as Cairn names a .part (anything else in tmp/ is tmp_foreign, not a leftover).
    const leftover = "1-0123456789abcdef.part";
    writeFileSync(join(store.root, "tmp", leftover), "half a write");

    const report = await store.fsck();
    expect(report.ok).toBe(false);
    const got = report.problems.map((p) => ({ code: p.code, subject: p.subject }));
    expect(got).toHaveLength(2);
    expect(got).toContainEqual({ code: "orphan_file", subject: join("objects", "ab", orphanName) });
    expect(got).toContainEqual({ code: "stray_file", subject: join("tmp", leftover) });
  });

  it("fsck reports (rather than crashes on) a stray regular file directly under objects/", async () => {
    const store = newStore();
    await store.put(largeContent("orphan-top", 0));
    writeFileSync(join(store.root, "objects", "README"), "not an object directory");
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([
      { code: "orphan_file", subject: join("objects", "README") },
    ]);
  });

  it("fsck reports a root that references an unknown digest", async () => {
    const dir = join(makeTempDir(), "store");
    const first = newStore(dir);
    first.putBytes(smallContent("dangling", 0));
    first.close();

    const ghost = `sha256:${randomBytes(32).toString("hex")}` as Digest;
    const db = new Database(join(dir, "catalog.sqlite"));
    const logseq = rawMaxLogseq(db) + 1;
    db.prepare("INSERT INTO roots(logseq, name, kind, digest) VALUES (?, ?, 'pin', ?)").run(logseq, "ghost", Buffer.from(ghost.slice(7), "hex"));
    db.close();

    const store = reopen(dir);
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([{ code: "dangling_reference", subject: ghost }]);
    expect(report.problems[0]?.message).toContain(ghost);
    expect(report.checked.maxLogseq).toBe(logseq);
  });

  it("fsck reports a gap in the logseq sequence", async () => {
    const dir = join(makeTempDir(), "store");
    const first = newStore(dir);
    first.putBytes(smallContent("gap", 0));
    first.putBytes(smallContent("gap", 1));
    first.close();

    const db = new Database(join(dir, "catalog.sqlite"));
    const max = rawMaxLogseq(db);
    db.prepare("INSERT INTO snapshots(logseq, name, as_of, created_at) VALUES (?, 'skipped', ?, 0)").run(max + 2, max + 2);
    db.close();

    const store = reopen(dir);
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => ({ code: p.code, subject: p.subject }))).toEqual([{ code: "logseq_gap", subject: `logseq ${max + 1}` }]);
  });

  it("a healthy store with every kind of artifact passes fsck", async () => {
    const store = newStore();
    await store.put(largeContent("healthy", 0));
    store.putBytes(smallContent("healthy", 1));
    store.pin("keep", store.putBytes(smallContent("healthy", 2)).digest);
    store.createSnapshot("s1");
    const report = await store.fsck();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checked.artifacts).toBe(3);
  });
});

describe("a catalog whose creation was cut short", () => {
  /** A catalog with the whole schema but no format version, as a crash mid-creation left it before creation became one transaction. */
  function halfCreated(rows: (db: Database.Database) => void = () => {}): string {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "FORMAT"), '{"format":"cairn-store","version":1}\n'); // written before the catalog
    const db = new Database(join(dir, "catalog.sqlite"));
    db.exec(SCHEMA_V1);
    rows(db);
    db.close();
    return dir;
  }

  it("is created again when it holds nothing (a writer opens it and records the version)", () => {
    const dir = halfCreated();
    const store = openStore({ dir });
    try {
      expect(store.get(store.putBytes(Buffer.from("x")).digest).toString()).toBe("x");
    } finally {
      store.close();
    }
  });

  it("is refused (E_STORE_CORRUPT) when it holds data but no version", () => {
    const dir = halfCreated((db) => db.prepare("INSERT INTO snapshots(logseq, name, as_of, created_at) VALUES (1, 's', 1, 0)").run());
    expect(() => openStore({ dir })).toThrow(/has no valid format_version/);
  });
});

describe("a catalog without a meta table", () => {
  /** A store with some data, then its catalog's meta table dropped behind Cairn's back. */
  function metaDropped(withData: boolean): { dir: string; catalog: string } {
    const dir = join(makeTempDir(), "store");
    const s = openStore({ dir });
    if (withData) s.putBytes(Buffer.from("hi\n"));
    s.close();
    const catalog = join(dir, "catalog.sqlite");
    const db = new Database(catalog);
    db.exec("DROP TABLE meta");
    db.close();
    return { dir, catalog };
  }

  function hasMetaTable(catalog: string): boolean {
    const db = new Database(catalog, { readonly: true });
    try {
      return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
    } finally {
      db.close();
    }
  }

  it("with data: every opener — writer (so fsck), reader — refuses it with E_STORE_CORRUPT and it is not repaired", () => {
    const { dir, catalog } = metaDropped(true);
    const w = expectCairn(() => openStore({ dir }), ErrorCode.STORE_CORRUPT);
    expect(w.message).toContain(catalog);
    expect(w.message).toContain("no meta table");
    expect(hasMetaTable(catalog)).toBe(false); // the writer created nothing
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_CORRUPT);
    // Still refused on every later open: nothing was "repaired" along the way.
    expectCairn(() => openStore({ dir }), ErrorCode.STORE_CORRUPT);
    expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_CORRUPT);
  });

  it("with Cairn's tables but no rows: also refused (no build ever creates a table before meta)", () => {
    const { dir, catalog } = metaDropped(false);
    expectCairn(() => openStore({ dir }), ErrorCode.STORE_CORRUPT);
    expect(hasMetaTable(catalog)).toBe(false);
  });

  it("an empty database file (no table at all) in a store being created (no FORMAT: a killed init) is created by a writer", () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "catalog.sqlite"), "");
    const store = newStore(dir);
    expect(store.get(store.putBytes(Buffer.from("x")).digest).toString()).toBe("x");
    expect(existsSync(join(dir, "FORMAT"))).toBe(true);
  });

  it("an empty database file in a store that has FORMAT is E_STORE_CORRUPT for every opener, and stays empty", () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "FORMAT"), '{"format":"cairn-store","version":1}\n');
    const catalog = join(dir, "catalog.sqlite");
    writeFileSync(catalog, "");
    for (const readOnly of [false, true]) {
      const e = expectCairn(() => openStore({ dir, readOnly }), ErrorCode.STORE_CORRUPT);
      expect(e.message).toContain(`catalog ${catalog} is empty: it holds no tables`);
    }
    expect(statSync(catalog).size).toBe(0);
  });
});

describe("a damaged catalog file", () => {
  function storeWithData(): { dir: string; catalog: string } {
    const dir = join(makeTempDir(), "store");
    const s = openStore({ dir });
    for (let i = 0; i < 40; i++) s.putBytes(smallContent("damaged", i));
    s.close(); // checkpoints the WAL into catalog.sqlite
    return { dir, catalog: join(dir, "catalog.sqlite") };
  }

  it("a truncated catalog is E_STORE_CORRUPT naming the catalog, for writers and readers", () => {
    const { dir, catalog } = storeWithData();
    expect(statSync(catalog).size).toBeGreaterThan(8192);
    truncateSync(catalog, 4096);
    for (const readOnly of [false, true]) {
      const e = expectCairn(() => openStore({ dir, readOnly }), ErrorCode.STORE_CORRUPT);
      expect(e.message).toContain(`catalog ${catalog} is corrupt`);
      expect(e.details).toMatchObject({ path: catalog });
    }
  });

  it("a catalog that is not a SQLite database is E_STORE_CORRUPT", () => {
    const { dir, catalog } = storeWithData();
    writeFileSync(catalog, randomBytes(16384));
    for (const readOnly of [false, true]) {
      const e = expectCairn(() => openStore({ dir, readOnly }), ErrorCode.STORE_CORRUPT);
      expect(e.message).toContain(`catalog ${catalog} is corrupt`);
    }
  });
});

describe("a catalog with a damaged page that opening does not read", () => {
  it("fsck reports sqlite_integrity (ok: false) instead of failing with a raw SQLite error", async () => {
    const dir = join(makeTempDir(), "store");
    const s = openStore({ dir });
    for (let i = 0; i < 60; i++) s.putBytes(Buffer.alloc(4000, i)); // ~60 pages of packed bytes
    s.close();
    const catalog = join(dir, "catalog.sqlite");
    const pageSize = 4096;
    const pages = statSync(catalog).size / pageSize;
    expect(pages).toBeGreaterThan(40);
    // Overwrite a page in the middle of the artifacts table (not on the path to its last row,
    // which opening reads for the highest logseq).
    const fd = openSync(catalog, "r+");
    writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, 20 * pageSize);
    closeSync(fd);

    const store = reopen(dir);
    const report = await store.fsck();
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.code === "sqlite_integrity" && p.subject === "catalog")).toBe(true);
  });
});
