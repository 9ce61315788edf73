/**
 * Audit 2, values:
 * - catalog values Cairn never writes (a digest BLOB of the wrong length or TEXT, a type tag out
 *   of range, timing that is not JSON, edge nodes whose edge row is gone) are E_STORE_CORRUPT for
 *   reads and fsck findings (exit 1), never E_DIGEST_INVALID, ERR_OUT_OF_RANGE or a TypeError;
 * - putBytes takes a Uint8Array (or another one-byte view) and refuses anything else with E_USAGE,
 *   rather than storing a Uint16Array's element count as its size.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { expectCairn } from "./helpers.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function track(s: Store): Store {
  open.push(s);
  return s;
}


interface Fixture {
  dir: string;
  small: { digest: Digest; logseq: number };
  small2: { digest: Digest; logseq: number };
  big: { digest: Digest; logseq: number };
  edge: { edgeId: Digest; logseq: number };
  receipt: { digest: Digest; logseq: number };
}

/** The audit's store (t4_catalog.mjs), then `edit` applied to its catalog with SQLite directly. */
function edited(edit: (db: Database.Database, f: Fixture) => void): Fixture {
  const dir = join(makeTempDir(), "store");
  const s = openStore({ dir });
  const small = s.putBytes(Buffer.from("hello world"));
  const small2 = s.putBytes(Buffer.from("second"));
  const big = s.putBytes(Buffer.alloc(100_000, 9));
  const edge = s.addEdge({ from: [small.digest], to: [small2.digest], type: "derived_from", role: "input" });
  const receipt = s.recordReceipt({ program: small.digest, inputs: [small2.digest], outputs: [big.digest], status: "succeeded", timing: { ms: 5 } });
  s.pin("p1", small.digest);
  s.close();
  const f: Fixture = { dir, small, small2, big, edge, receipt };
  const db = new Database(join(dir, "catalog.sqlite"));
  try {
    edit(db, f);
  } finally {
    db.close();
  }
  return f;
}

async function fsckOf(dir: string): Promise<Array<{ code: string; subject: string; message: string }>> {
  const w = track(openStore({ dir }));
  const report = await w.fsck();
  expect(report.ok).toBe(false);
  return report.problems;
}

describe("catalog values Cairn never writes", () => {
  it("an artifact digest that is 2 bytes: list and gc are E_STORE_CORRUPT; fsck reports artifact_corrupt and the references to the real digest", async () => {
    const f = edited((db, f) => db.prepare("UPDATE artifacts SET digest = x'0011' WHERE logseq = ?").run(f.small2.logseq));
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    const message = `the catalog is corrupt: the artifact row at logseq ${f.small2.logseq} holds x'0011', not a 32-byte digest; run cairn fsck`;
    expectCairn(() => [...r.list()], ErrorCode.STORE_CORRUPT, message);
    const problems = await fsckOf(f.dir);
    expect(problems[0]).toEqual({
      code: "artifact_corrupt",
      subject: `logseq ${f.small2.logseq}`,
      message: `the artifact row at logseq ${f.small2.logseq} holds x'0011', not a 32-byte digest`,
    });
    expect(problems.slice(1).map((p) => [p.code, p.subject])).toEqual([
      ["dangling_reference", f.small2.digest],
      ["dangling_reference", f.small2.digest],
    ]);
    expectCairn(() => open[open.length - 1]?.gc({ graceMs: 0 }), ErrorCode.STORE_CORRUPT, message);
  });

  it("an artifact digest stored as TEXT: the same, described as JSON", async () => {
    const f = edited((db, f) => db.prepare("UPDATE artifacts SET digest = 'abc' WHERE logseq = ?").run(f.small2.logseq));
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    expectCairn(() => [...r.list()], ErrorCode.STORE_CORRUPT, `the catalog is corrupt: the artifact row at logseq ${f.small2.logseq} holds "abc", not a 32-byte digest; run cairn fsck`);
    expect((await fsckOf(f.dir))[0]).toEqual({
      code: "artifact_corrupt",
      subject: `logseq ${f.small2.logseq}`,
      message: `the artifact row at logseq ${f.small2.logseq} holds "abc", not a 32-byte digest`,
    });
  });

  it("an edge node of 1 byte: getEdge is E_STORE_CORRUPT; fsck reports dangling_reference and edge_invalid", async () => {
    const f = edited((db, f) => db.prepare("UPDATE edge_nodes SET node = x'01' WHERE edge_logseq = ? AND side = 1").run(f.edge.logseq));
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    expectCairn(() => r.getEdge(f.edge.edgeId), ErrorCode.STORE_CORRUPT, `the catalog is corrupt: a node of the edge at logseq ${f.edge.logseq} holds x'01', not a 32-byte digest; run cairn fsck`);
    expect(await fsckOf(f.dir)).toEqual([
      { code: "dangling_reference", subject: "x'01'", message: "an edge references x'01', which is not a 32-byte digest" },
      { code: "edge_invalid", subject: f.edge.edgeId, message: `edge ${f.edge.edgeId} has a node x'01' that is not a 32-byte digest` },
    ]);
  });

  it("a root digest of 1 byte: listRoots and findRoot are E_STORE_CORRUPT; fsck reports dangling_reference", async () => {
    const f = edited((db) => db.prepare("UPDATE roots SET digest = x'02'").run());
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    const message = `the catalog is corrupt: root "p1" holds x'02', not a 32-byte digest; run cairn fsck`;
    expectCairn(() => r.listRoots(), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => r.findRoot("p1"), ErrorCode.STORE_CORRUPT, message);
    expect(await fsckOf(f.dir)).toEqual([{ code: "dangling_reference", subject: "x'02'", message: "a root references x'02', which is not a 32-byte digest" }]);
  });

  it("a receipt digest of 1 byte: fsck reports dangling_reference and receipt_invalid (not E_DIGEST_INVALID, exit 2)", async () => {
    const f = edited((db) => db.prepare("UPDATE receipts SET digest = x'03'").run());
    expect(await fsckOf(f.dir)).toEqual([
      { code: "dangling_reference", subject: "x'03'", message: "a receipt record references x'03', which is not a 32-byte digest" },
      {
        code: "receipt_invalid",
        subject: `logseq ${f.receipt.logseq}`,
        message: `the receipt at logseq ${f.receipt.logseq} has digest x'03', not a 32-byte digest`,
      },
    ]);
  });

  it("a type tag above 2^32-1: get, stream and list are E_STORE_CORRUPT (not ERR_OUT_OF_RANGE); fsck reports artifact_corrupt", async () => {
    const f = edited((db, f) => db.prepare("UPDATE artifacts SET type_tag = 99999999999 WHERE logseq = ?").run(f.big.logseq));
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    const message = `artifact ${f.big.digest} is corrupt: its recorded type tag 99999999999 is not a 32-bit unsigned integer`;
    expectCairn(() => r.get(f.big.digest), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => r.stat(f.big.digest), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => r.openReadStream(f.big.digest), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => [...r.list()], ErrorCode.STORE_CORRUPT, message);
    expect(await fsckOf(f.dir)).toEqual([{ code: "artifact_corrupt", subject: f.big.digest, message }]);
  });

  it("timing that is not JSON: getReceipt and findReceipt are E_STORE_CORRUPT; fsck reports receipt_invalid", async () => {
    const f = edited((db) => db.prepare("UPDATE receipts SET timing = 'not json'").run());
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    const e = expectCairn(() => r.getReceipt(f.receipt.digest), ErrorCode.STORE_CORRUPT);
    expect(e.message).toMatch(new RegExp(`^receipt ${f.receipt.digest} is corrupt: timing is not JSON \\(.+\\)$`));
    expectCairn(() => r.findReceipt(f.small.digest, [f.small2.digest]), ErrorCode.STORE_CORRUPT, e.message);
    const problems = await fsckOf(f.dir);
    expect(problems).toEqual([{ code: "receipt_invalid", subject: f.receipt.digest, message: e.message.replace(" is corrupt:", ":") }]);
  });

  it("timing that is JSON but not an object of numbers: the same", async () => {
    const f = edited((db) => db.prepare(`UPDATE receipts SET timing = '{"ms":"5"}'`).run());
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    expectCairn(() => r.getReceipt(f.receipt.digest), ErrorCode.STORE_CORRUPT, `receipt ${f.receipt.digest} is corrupt: timing is not an object of finite numbers`);
    expect(await fsckOf(f.dir)).toEqual([
      { code: "receipt_invalid", subject: f.receipt.digest, message: `receipt ${f.receipt.digest}: timing is not an object of finite numbers` },
    ]);
  });

  it("an edge row deleted while its nodes remain: lineage and pruneReceipt are E_STORE_CORRUPT (not a TypeError); fsck reports edge_invalid", async () => {
    const f = edited((db, f) => db.prepare("DELETE FROM edges WHERE logseq = ?").run(f.edge.logseq));
    const message = `the catalog is corrupt: edge nodes at logseq ${f.edge.logseq} belong to no edge; run cairn fsck`;
    const r = track(openStore({ dir: f.dir, readOnly: true }));
    expectCairn(() => r.lineage(f.small2.digest), ErrorCode.STORE_CORRUPT, message);
    expectCairn(() => r.lineage(f.small.digest, { direction: "down" }), ErrorCode.STORE_CORRUPT, message);
    const problems = await fsckOf(f.dir);
    expect(problems[0]).toEqual({ code: "edge_invalid", subject: `logseq ${f.edge.logseq}`, message: `edge nodes at logseq ${f.edge.logseq} belong to no edge` });
    // The receipt's own edges are fine; a receipt whose input is that edge's to-node is another
    // matter: prune walks the receipt node's edges only.
    const w = open[open.length - 1] as Store;
    expect(w.pruneReceipt(f.receipt.digest).digest).toBe(f.receipt.digest);
  });

  it("pruneReceipt meets edge nodes without an edge on the receipt's node: E_STORE_CORRUPT, nothing pruned", () => {
    let inputEdge = 0;
    const f = edited((db, f) => {
      const row = db
        .prepare("SELECT edge_logseq FROM edge_nodes WHERE node = ? AND side = 1 ORDER BY edge_logseq LIMIT 1")
        .get(Buffer.from(f.receipt.digest.slice(7), "hex")) as { edge_logseq: number };
      inputEdge = row.edge_logseq;
      db.prepare("DELETE FROM edges WHERE logseq = ?").run(inputEdge);
    });
    const w = track(openStore({ dir: f.dir }));
    expectCairn(() => w.pruneReceipt(f.receipt.digest), ErrorCode.STORE_CORRUPT, `the catalog is corrupt: edge nodes at logseq ${inputEdge} belong to no edge; run cairn fsck`);
    expect(w.getReceipt(f.receipt.digest).digest).toBe(f.receipt.digest);
  });
});

describe("putBytes and put take bytes", () => {
  function store(): Store {
    return track(openStore({ dir: join(makeTempDir(), "store") }));
  }

  it("a Uint16Array is E_USAGE (its length is not its byte length), and nothing is stored", () => {
    const s = store();
    expectCairn(
      () => s.putBytes(new Uint16Array([1, 2, 3]) as unknown as Uint8Array),
      ErrorCode.USAGE,
      "putBytes takes bytes as a Uint8Array (or Buffer), got Uint16Array; pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength) to store its bytes",
    );
    expectCairn(() => s.putBytes(new DataView(new ArrayBuffer(4)) as unknown as Uint8Array), ErrorCode.USAGE);
    expect([...s.list()]).toEqual([]);
  });

  it("null, a string or a number is E_USAGE, not a TypeError", async () => {
    const s = store();
    expectCairn(() => s.putBytes(null as unknown as Uint8Array), ErrorCode.USAGE, "putBytes takes bytes as a Uint8Array (or Buffer), got null");
    expectCairn(() => s.putBytes("abc" as unknown as Uint8Array), ErrorCode.USAGE, "putBytes takes bytes as a Uint8Array (or Buffer), got string");
    await expect(s.put(5 as unknown as Uint8Array)).rejects.toMatchObject({
      code: ErrorCode.USAGE,
      message: "put takes a string, a Uint8Array or an (async) iterable of chunks, got number",
    });
    await expect(s.put(null as unknown as Uint8Array)).rejects.toMatchObject({ code: ErrorCode.USAGE });
  });

  it("one-byte views (Int8Array, Uint8ClampedArray, a subarray) are stored as their bytes; size and digest agree", () => {
    const s = store();
    const base = new Uint8Array(200).map((_, i) => i);
    for (const v of [new Int8Array(base.buffer, 10, 50), new Uint8ClampedArray(base.buffer, 20, 30), base.subarray(50, 60)]) {
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      const r = s.putBytes(v as unknown as Uint8Array);
      expect(r.digest).toBe(sha256(bytes));
      expect(r.size).toBe(v.byteLength);
      expect(s.get(r.digest).equals(bytes)).toBe(true);
    }
  });

  it("a streamed chunk that is a Uint16Array is E_USAGE, and no temp file is left (even past the packing threshold)", async () => {
    const s = store();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(70_000, 1); // past 64 KiB: spilled to a .part file
      yield new Uint16Array([1, 2]) as unknown as Uint8Array;
    }
    await expect(s.put(chunks())).rejects.toMatchObject({
      code: ErrorCode.USAGE,
      message: "put (a chunk) takes bytes as a Uint8Array (or Buffer), got Uint16Array; pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength) to store its bytes",
    });
    expect(readdirSync(join(s.root, "tmp"))).toEqual([]);
    expect([...s.list()]).toEqual([]);
  });
});
