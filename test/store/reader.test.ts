/**
 * `Store.openReader`: a synchronous sequential read of an artifact's verified bytes in pieces
 * (artifact-reader.ts), with `openReadStream`'s guarantees — a damaged file is refused before
 * the first piece, and bytes that change (or a file that grows or shrinks) after that fail the
 * read before its last piece, so a failed reader has handed out fewer bytes than the size.
 */
import { appendFileSync, chmodSync, openSync, closeSync, readdirSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCode, type ArtifactReader, type Digest, type Store } from "../../src/index.js";
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
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.from("X"), 0, 1, 200_000);
    closeSync(fd);
    const before = openFds();
    const e = expectCairn(() => store.openReader(d), ErrorCode.STORE_CORRUPT);
    expect(e.message).toContain(d);
    expect(e.message).toContain("stored bytes hash to");
    expect(openFds()).toBe(before);
  });

  for (const [what, damage, message] of [
    ["a byte changed", (p: string) => {
      const fd = openSync(p, "r+");
      writeSync(fd, Buffer.from("X"), 0, 1, 200_000); // not yet read
      closeSync(fd);
    }, "bytes changed while reading"],
    ["the file grown", (p: string) => appendFileSync(p, "more"), "its file holds more than the recorded 307200 bytes"],
    ["the file cut short", (p: string) => truncateSync(p, 250_000), "bytes changed while reading"],
  ] as const) {
    it(`${what} after the reader opened: the read fails before its last piece, and the file is closed`, () => {
      const { store, dir, d } = withLarge();
      const before = openFds();
      const r = store.openReader(d);
      expect(openFds()).toBe(before + 1);
      const first = r.read(100_000) as Buffer;
      expect(first.length).toBe(100_000);
      const path = objectFile(dir, d);
      chmodSync(path, 0o644);
      damage(path);
      const got = readAll(r, 100_000);
      expect(got.err).toMatchObject({ code: ErrorCode.STORE_CORRUPT });
      expect((got.err as Error).message).toContain(message);
      expect(first.length + got.bytes).toBeLessThan(r.size);
      expect(openFds()).toBe(before);
      expect(r.read(10)).toBeUndefined();
    });
  }

  it("close releases the file, and is idempotent; reading to the end releases it too", () => {
    const { store, d } = withLarge();
    const before = openFds();
    const r = store.openReader(d);
    r.read(10);
    r.close();
    r.close();
    expect(openFds()).toBe(before);
    expect(r.read(10)).toBeUndefined();
    const whole = store.openReader(d);
    expect(readAll(whole, 1 << 20).bytes).toBe(300 * 1024);
    expect(openFds()).toBe(before);
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
