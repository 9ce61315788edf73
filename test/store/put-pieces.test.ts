/**
 * `Store.putPieces`: bytes given as an iterable of pieces, stored synchronously with at most
 * 64 KiB held (the batch engine stores a large pulse's records this way, pulse.ts
 * `recordsPieces`). It stores exactly what `putBytes` of the joined pieces stores — packed or
 * a file, typed or not —, writes each piece before asking for the next (a source may reuse its
 * buffer), refuses what `putBytes` refuses (also the reserved magic split across pieces), and a
 * source that throws stores nothing and leaves no temp file.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { PutHead } from "../../src/store/artifact-writes.js";
import { SMALL_ARTIFACT_MAX_BYTES } from "../../src/store/layout.js";
import { expectCairn, freshStore } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function store(): ReturnType<typeof freshStore> {
  const s = freshStore();
  cleanups.push(s.cleanup);
  return s;
}

/** `bytes` in pieces of `size`, each handed out in ONE buffer the source overwrites for the next. */
function* reused(bytes: Buffer, size: number): Generator<Buffer> {
  const buf = Buffer.alloc(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = bytes.copy(buf, 0, at, Math.min(bytes.length, at + size));
    yield buf.subarray(0, n);
    buf.fill(0xee); // what a reusing source leaves behind
  }
}

const sample = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

describe("Store.putPieces", () => {
  it.each([
    ["empty", 0, 1],
    ["packed (one byte under 64 KiB)", 64 * 1024 - 1, 1000],
    ["a file (just over 64 KiB)", 64 * 1024 + 1, 4096],
    ["a file (3 MB, reused 64 KiB pieces)", 3_000_000, 64 * 1024],
  ])("stores what putBytes stores: %s", (_name, n, size) => {
    const bytes = sample(n);
    const a = store();
    const b = store();
    for (const typeTag of [undefined, 42]) {
      const opts = typeTag === undefined ? { mediaType: "application/x-test" } : { mediaType: "application/x-test", typeTag };
      const got = a.store.putPieces(reused(bytes, size), opts);
      expect(got).toEqual(b.store.putBytes(bytes, opts));
      expect(a.store.get(got.digest).equals(bytes)).toBe(true);
      expect(got.storage).toBe(n > 64 * 1024 ? "file" : "packed");
      // Again: already present, nothing new and no temp file left.
      expect(a.store.putPieces(reused(bytes, size), opts).created).toBe(false);
    }
    expect(readdirSync(join(a.dir, "tmp")).filter((f) => f.endsWith(".part"))).toEqual([]);
  });

  it("refuses what putBytes refuses: not an iterable, one Uint8Array, a piece that is not bytes, the typed-frame magic split across pieces", () => {
    const { store: s } = store();
    expectCairn(() => s.putPieces(7 as unknown as Iterable<Uint8Array>), ErrorCode.USAGE, "putPieces takes an iterable of Uint8Array pieces (use putBytes for one), got number");
    expectCairn(() => s.putPieces(Buffer.from("x") as unknown as Iterable<Uint8Array>), ErrorCode.USAGE, "putPieces takes an iterable of Uint8Array pieces (use putBytes for one), got a Buffer");
    expectCairn(() => s.putPieces([Buffer.from("a"), "b" as unknown as Uint8Array]), ErrorCode.USAGE, "putPieces (a piece) takes bytes as a Uint8Array (or Buffer), got string");
    expectCairn(() => s.putPieces([Buffer.from("cairn-asl"), Buffer.from("-typed\0rest")]), ErrorCode.INVALID_INPUT, 'untyped artifact bytes may not begin with the reserved typed-frame magic "cairn-asl-typed\\0"; store it with a type_tag');
    expectCairn(() => s.putPieces([], { mediaType: "not a type" }), ErrorCode.USAGE);
    expect(s.putPieces([Buffer.from("cairn-asl"), Buffer.from("-typed\0rest")], { typeTag: 1 }).created).toBe(true);
  });

  it("holds copies of at most 64 KiB: the piece that passes it is written as it is, not copied (a large first record is not held twice)", () => {
    const head = new PutHead(undefined);
    const small = Buffer.alloc(100, 0x61);
    expect(head.add(small, false)).toBe(false);
    const big = Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES * 4, 0x62);
    expect(head.add(big, false)).toBe(true);
    const spilled = head.spill();
    expect(spilled.length).toBe(2);
    expect(spilled[0]).not.toBe(small); // a copy: a source may reuse its buffer
    expect((spilled[0] as Buffer).equals(small)).toBe(true);
    expect(spilled[1]).toBe(big); // itself
    expect(head.add(Buffer.alloc(10), true)).toBe(false);
    expect(head.spill()).toEqual([]);
    expect(head.size).toBe(100 + SMALL_ARTIFACT_MAX_BYTES * 4 + 10);
  });

  it("a source that throws past 64 KiB stores nothing and leaves no temp file; inside a transaction too", () => {
    const { store: s, dir } = store();
    const failure = new Error("the source failed");
    function* failing(): Generator<Buffer> {
      yield sample(100_000);
      yield sample(100_000);
      throw failure;
    }
    expect(() => s.putPieces(failing())).toThrow(failure);
    expect(() => s.transaction(() => s.putPieces(failing()))).toThrow(failure);
    expect(readdirSync(join(dir, "tmp")).filter((f) => f.endsWith(".part"))).toEqual([]);
    expect([...s.list()]).toEqual([]);
    const inTx = s.transaction(() => s.putPieces(reused(sample(200_000), 30_000)));
    expect(s.get(inTx.digest).equals(sample(200_000))).toBe(true);
  });
});
