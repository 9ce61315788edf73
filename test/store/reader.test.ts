/**
 * `Store.openReader`: a synchronous sequential read of an artifact's verified bytes in pieces
 * (artifact-reader.ts), with `openReadStream`'s guarantees — a damaged file is refused before
 * the first piece, and bytes that change (or a file that grows or shrinks) after that fail the
 * read before its last piece, so a failed reader has handed out fewer bytes than the size, and
 * it never reports a clean end after a failure or an early close. No file is held between reads.
 */
import { appendFileSync, chmodSync, openSync, closeSync, readdirSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, openStore, type ArtifactReader, type Digest, type Store } from "../../src/index.js";
import { makeTempDir } from "./fixtures/child.js";
import { expectCairn, objectFile, storesClosedAfterEach } from "./helpers.js";
import { largeContent, smallContent } from "./fixtures/content.js";

const newStore = storesClosedAfterEach();

/** Reads to the end in pieces of `max`; the pieces, or the error and the bytes handed out before it. */
function readAll(r: ArtifactReader, max: number): { pieces: Buffer[]; bytes: number; err: unknown } {
  const pieces: Buffer[] = [];
  let bytes = 0;
  try {
    for (let p = r.read(max); p !== undefined; p = r.read(max)) {
      pieces.push(Buffer.from(p));
      bytes += p.length;
    }
  } catch (err) {
    return { pieces, bytes, err };
  }
  return { pieces, bytes, err: undefined };
}

/** Writes "X" over the byte at `offset` of the file at `path`, in place. */
function overwriteByte(path: string, offset: number): void {
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.from("X"), 0, 1, offset);
  closeSync(fd);
}

const openFds = (): number => readdirSync("/proc/self/fd").length;

/** A store, its directory and one large artifact of 300 KiB (a file) with a type tag. */
function withLarge(): { store: Store; dir: string; bytes: Buffer; d: Digest } {
  const dir = join(makeTempDir(), "store");
  const store = newStore(dir);
  const bytes = largeContent("reader", 1, 300 * 1024);
  const d = store.putBytes(bytes, { typeTag: 7 }).digest;
  expect(store.stat(d).storage).toBe("file");
  return { store, dir, bytes, d };
}

describe("Store.openReader", () => {
  it("hands out the verified bytes in pieces of at most maxBytes, packed or file, then undefined", () => {
    const { store, bytes, d } = withLarge();
    const small = smallContent("reader", 2);
    const s = store.putBytes(small).digest;
    expect(store.stat(s).storage).toBe("packed");
    for (const [digest, want] of [[d, bytes], [s, small]] as const) {
      for (const max of [1_000_003, 65_536, 4_097, 1]) {
        if (max === 1 && want.length > 10_000) continue;
        const r = store.openReader(digest);
        expect(r.size).toBe(want.length);
        const got = readAll(r, max);
        expect(got.err).toBeUndefined();
        expect(got.pieces.every((p) => p.length >= 1 && p.length <= max)).toBe(true);
        expect(Buffer.concat(got.pieces).equals(want)).toBe(true);
        expect(r.read(max)).toBeUndefined();
        r.close();
      }
    }
    const empty = store.putBytes(Buffer.alloc(0)).digest;
    expect(store.openReader(empty).read(10)).toBeUndefined();
  });

  it("refuses a damaged file before the first piece, as get does", () => {
    const { store, dir, d } = withLarge();
    const path = objectFile(dir, d);
    chmodSync(path, 0o644);
    overwriteByte(path, 200_000);
    const before = openFds();
    const e = expectCairn(() => store.openReader(d), ErrorCode.STORE_CORRUPT);
    expect(e.message).toContain(d);
    expect(e.message).toContain("stored bytes hash to");
    expect(openFds()).toBe(before);
  });

  for (const [what, damage, message] of [
    ["a byte changed", (p: string) => overwriteByte(p, 200_000) /* not yet read */, "bytes changed while reading"],
    ["the file grown", (p: string) => appendFileSync(p, "more"), "stored size 307204 differs from recorded size 307200"],
    ["the file cut short", (p: string) => truncateSync(p, 250_000), "stored size 250000 differs from recorded size 307200"],
  ] as const) {
    it(`${what} after the reader opened: the read fails before its last piece, and every later read throws the same`, () => {
      const { store, dir, d } = withLarge();
      const before = openFds();
      const r = store.openReader(d);
      const first = r.read(100_000) as Buffer;
      expect(first.length).toBe(100_000);
      expect(openFds()).toBe(before); // no file held between reads
      const path = objectFile(dir, d);
      chmodSync(path, 0o644);
      damage(path);
      const got = readAll(r, 100_000);
      expect(got.err).toMatchObject({ code: ErrorCode.STORE_CORRUPT });
      expect((got.err as Error).message).toContain(message);
      expect(first.length + got.bytes).toBeLessThan(r.size);
      expect(openFds()).toBe(before);
      // Never a clean end after a failure: the failure again.
      expect(expectCairn(() => r.read(10), ErrorCode.STORE_CORRUPT)).toBe(got.err);
    });
  }

  it("a byte changed at the very end: the last piece is never returned", () => {
    const { store, dir, d } = withLarge();
    const r = store.openReader(d);
    const first = r.read(307_000) as Buffer;
    const path = objectFile(dir, d);
    chmodSync(path, 0o644);
    overwriteByte(path, 307_199);
    expect(expectCairn(() => r.read(1000), ErrorCode.STORE_CORRUPT).message).toContain("bytes changed while reading");
    expect(first.length).toBe(307_000);
  });

  it("holds no file between reads; close before the end makes reads E_USAGE; after the verified end, undefined", () => {
    const { store, d } = withLarge();
    const before = openFds();
    const readers = Array.from({ length: 50 }, () => store.openReader(d));
    for (const r of readers) r.read(10);
    expect(openFds()).toBe(before);
    const r = readers[0] as ArtifactReader;
    r.close();
    r.close();
    expectCairn(() => r.read(10), ErrorCode.USAGE, "this artifact reader is closed: it was closed before its end");
    const whole = store.openReader(d);
    expect(readAll(whole, 1 << 20).bytes).toBe(300 * 1024);
    whole.close(); // after the end: nothing to close, reads stay at the end
    expect(whole.read(10)).toBeUndefined();
    const packed = store.openReader(store.putBytes(Buffer.from("packed")).digest);
    packed.read(2);
    packed.close();
    expectCairn(() => packed.read(2), ErrorCode.USAGE);
  });

  it("onVerify sees every verified byte, in order, before the first piece; what it throws fails openReader", () => {
    const { store, bytes, d } = withLarge();
    const small = store.putBytes(Buffer.from("a\nb\n")).digest;
    for (const [digest, want] of [[d, bytes], [small, Buffer.from("a\nb\n")]] as const) {
      const seen: Buffer[] = [];
      const r = store.openReader(digest, { onVerify: (c) => seen.push(Buffer.from(c)) });
      expect(Buffer.concat(seen).equals(want)).toBe(true);
      expect(Buffer.concat(readAll(r, 65_536).pieces).equals(want)).toBe(true);
    }
    const boom = new Error("not what I expected");
    expect(() => store.openReader(d, { onVerify: () => { throw boom; } })).toThrow(boom);
    expectCairn(() => store.openReader(d, { onVerify: 5 as never }), ErrorCode.USAGE, "openReader onVerify must be a function, got 5");
    expect(expectCairn(() => store.openReader(d, { asOf: 0, onVerify: () => undefined, other: 1 } as never), ErrorCode.USAGE).details).toMatchObject({ field: "other" });
  });

  it("a damaged file is never shown to onVerify as if verified: openReader throws", () => {
    const { store, dir, d } = withLarge();
    const path = objectFile(dir, d);
    chmodSync(path, 0o644);
    overwriteByte(path, 5);
    let seen = 0;
    expectCairn(() => store.openReader(d, { onVerify: (c) => (seen += c.length) }), ErrorCode.STORE_CORRUPT);
    expect(seen).toBeLessThanOrEqual(300 * 1024); // observed, but no reader exists to hand any of it out
  });

  it("an artifact collected by gc (another writer) between two reads: E_NOT_FOUND 'collected by gc', not corruption", () => {
    const dir = join(makeTempDir(), "store");
    const w = openStore({ dir });
    const d = w.putBytes(largeContent("reader-gc", 1, 300 * 1024)).digest;
    w.close();
    const ro = openStore({ dir, readOnly: true });
    try {
      const r = ro.openReader(d);
      expect(r.read(65_536)?.length).toBe(65_536);
      const gcWriter = openStore({ dir });
      try {
        expect(gcWriter.gc({ graceMs: 0 }).swept.map((s) => s.digest)).toContain(d);
      } finally {
        gcWriter.close();
      }
      const e = expectCairn(() => r.read(65_536), ErrorCode.NOT_FOUND);
      expect(e.message).toContain(d);
      expect(e.message).toContain("collected by gc");
    } finally {
      ro.close();
    }
  });

  it("a tombstone alone between two reads leaves the file: the read goes on to its verified end", () => {
    const { store, d } = withLarge();
    const r = store.openReader(d);
    const first = r.read(100_000) as Buffer;
    store.delete(d);
    const rest = readAll(r, 100_000);
    expect(rest.err).toBeUndefined();
    expect(first.length + rest.bytes).toBe(300 * 1024);
    expectCairn(() => store.openReader(d), ErrorCode.NOT_FOUND);
  });

  it("a reader whose last piece was returned is at its end: close then changes nothing", () => {
    const { store, d } = withLarge();
    const r = store.openReader(d);
    expect(r.read(1 << 20)?.length).toBe(300 * 1024);
    r.close();
    expect(r.read(1)).toBeUndefined();
    const packed = store.openReader(store.putBytes(Buffer.from("packed")).digest);
    expect(packed.read(100)?.toString()).toBe("packed");
    packed.close();
    expect(packed.read(1)).toBeUndefined();
  });

  it("what onVerify throws reaches the caller as it is, even an error that looks like SQLite's", () => {
    const { store, d } = withLarge();
    const mine = Object.assign(new Error("my own db: locked"), { code: "SQLITE_BUSY" });
    let thrown: unknown;
    try {
      store.openReader(d, { onVerify: () => { throw mine; } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBe(mine);
  });

  it("a piece size that is not a positive integer is E_USAGE", () => {
    const { store, d } = withLarge();
    const r = store.openReader(d);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expectCairn(() => r.read(bad), ErrorCode.USAGE, `a reader's piece size must be a positive integer, got ${String(bad)}`);
    }
    r.close();
    const s = store.putBytes(Buffer.from("packed")).digest;
    expectCairn(() => store.openReader(s).read(0), ErrorCode.USAGE);
  });

  it("reads as of a logseq, and refuses a tombstoned artifact as get does", () => {
    const { store, d } = withLarge();
    const at = store.headLogseq();
    store.delete(d);
    expect(expectCairn(() => store.openReader(d), ErrorCode.NOT_FOUND).message).toBe(expectCairn(() => store.get(d), ErrorCode.NOT_FOUND).message);
    const r = store.openReader(d, { asOf: at });
    expect(readAll(r, 1 << 20).bytes).toBe(300 * 1024);
    expect(readAll(store.at(at).openReader(d), 1 << 20).bytes).toBe(300 * 1024);
  });
});
