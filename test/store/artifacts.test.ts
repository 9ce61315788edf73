import { describe, expect, it, afterEach } from "vitest";
import { appendFileSync, chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { freshStore } from "./helpers.js";
import { sha256, openStore, SMALL_ARTIFACT_MAX_BYTES } from "../../src/index.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe("artifacts", () => {
  let ctx: ReturnType<typeof freshStore>;
  afterEach(() => ctx.cleanup());

  it("round-trips bytes of every size class and is idempotent", async () => {
    ctx = freshStore();
    const sizes = [0, 1, 1000, SMALL_ARTIFACT_MAX_BYTES, SMALL_ARTIFACT_MAX_BYTES + 1, 3_000_000];
    for (const n of sizes) {
      const bytes = Buffer.alloc(n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 31 + n) & 0xff;
      const r = ctx.store.putBytes(bytes, { mediaType: "application/x-test" });
      expect(r.digest).toBe(sha256(bytes));
      expect(r.created).toBe(true);
      expect(r.storage).toBe(n > SMALL_ARTIFACT_MAX_BYTES ? "file" : "packed");
      expect(ctx.store.get(r.digest).equals(bytes)).toBe(true);
      expect((await collect(ctx.store.openReadStream(r.digest))).equals(bytes)).toBe(true);
      const again = ctx.store.putBytes(bytes);
      expect(again.created).toBe(false);
      expect(again.logseq).toBe(r.logseq);
      expect(again.mediaType).toBe("application/x-test"); // first write's metadata is kept
    }
    expect([...ctx.store.list()].map((a) => a.size)).toEqual(sizes);
  });

  it("streams a put larger than the packing threshold into its own read-only file", async () => {
    ctx = freshStore();
    const chunk = Buffer.alloc(1 << 20, 7);
    async function* gen() {
      for (let i = 0; i < 8; i++) yield chunk;
    }
    const r = await ctx.store.put(gen());
    expect(r.size).toBe(8 << 20);
    expect(r.storage).toBe("file");
    const hex = r.digest.slice(7);
    expect(existsSync(join(ctx.dir, "objects", hex.slice(0, 2), hex.slice(2)))).toBe(true);
    expect(readdirSync(join(ctx.dir, "tmp"))).toEqual([]);
    const out = join(ctx.dir, "..", "out.bin");
    await ctx.store.getToFile(r.digest, out);
    expect(sha256(readFileSync(out))).toBe(r.digest);
  });

  it("accepts strings, Uint8Arrays and Readables", async () => {
    ctx = freshStore();
    const a = await ctx.store.put("abc");
    const b = await ctx.store.put(new Uint8Array([0x61, 0x62, 0x63]));
    const c = await ctx.store.put(Readable.from([Buffer.from("a"), Buffer.from("bc")]));
    expect(new Set([a.digest, b.digest, c.digest]).size).toBe(1);
  });

  it("property: any bytes round-trip with the plain SHA-256 digest", () => {
    ctx = freshStore();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (arr) => {
        const bytes = Buffer.from(arr);
        if (bytes.length >= 16 && bytes.subarray(0, 16).toString("latin1") === "cairn-asl-typed\0") return;
        const r = ctx.store.putBytes(bytes);
        expect(r.digest).toBe(sha256(bytes));
        expect(ctx.store.get(r.digest).equals(bytes)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("tombstones hide an artifact; a later put revives it; both are logged", () => {
    ctx = freshStore();
    const a = ctx.store.putBytes(Buffer.from("doomed"));
    const del = ctx.store.delete(a.digest);
    expect(del.logseq).toBe(a.logseq + 1);
    expect(ctx.store.has(a.digest)).toBe(false);
    expect(() => ctx.store.get(a.digest)).toThrow(/not found \(deleted: tombstoned\)/);
    expect(() => ctx.store.delete(a.digest)).toThrow(expect.objectContaining({ code: "E_NOT_FOUND" }));
    expect([...ctx.store.list()]).toEqual([]);
    // As of before the tombstone it is still there.
    expect(ctx.store.at(a.logseq).get(a.digest).toString()).toBe("doomed");
    const again = ctx.store.putBytes(Buffer.from("doomed"));
    expect(again.created).toBe(false);
    expect(ctx.store.has(a.digest)).toBe(true);
    expect(ctx.store.headLogseq()).toBe(3);
    expect(ctx.store.at(2).has(a.digest)).toBe(false);
    expect(ctx.store.at(3).has(a.digest)).toBe(true);
  });

  it("lists by media type and type tag", () => {
    ctx = freshStore();
    ctx.store.putBytes(Buffer.from("1"), { mediaType: "text/plain" });
    ctx.store.putBytes(Buffer.from("2"), { typeTag: 5 });
    ctx.store.putBytes(Buffer.from("3"), { typeTag: 5, mediaType: "text/plain" });
    expect([...ctx.store.list({ mediaType: "text/plain" })].map((a) => a.logseq)).toEqual([1, 3]);
    expect([...ctx.store.list({ typeTag: 5 })].map((a) => a.logseq)).toEqual([2, 3]);
    expect([...ctx.store.list({ limit: 1, afterLogseq: 1 })].map((a) => a.logseq)).toEqual([2]);
  });

  it("transactions commit together or not at all, without burning logseqs", () => {
    ctx = freshStore();
    const big = Buffer.alloc(200_000, 1);
    expect(() =>
      ctx.store.transaction(() => {
        ctx.store.putBytes(Buffer.from("x"));
        ctx.store.putBytes(big);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect([...ctx.store.list()]).toEqual([]);
    expect(readdirSync(join(ctx.dir, "tmp"))).toEqual([]);
    expect(readdirSync(join(ctx.dir, "objects"))).toEqual([]);
    const ok = ctx.store.transaction(() => [ctx.store.putBytes(Buffer.from("x")), ctx.store.putBytes(big)]);
    expect(ok.map((r) => r.logseq)).toEqual([1, 2]);
    expect(ctx.store.get(ok[1]!.digest).equals(big)).toBe(true);
  });

  it("a reader sees what the writer committed; readers cannot write", () => {
    ctx = freshStore();
    const a = ctx.store.putBytes(Buffer.from("shared"));
    const reader = openStore({ dir: ctx.dir, readOnly: true });
    try {
      expect(reader.get(a.digest).toString()).toBe("shared");
      const b = ctx.store.putBytes(Buffer.from("later"));
      expect(reader.get(b.digest).toString()).toBe("later");
      expect(() => reader.putBytes(Buffer.from("no"))).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    } finally {
      reader.close();
    }
  });
});

describe("read streams", () => {
  it("a large artifact's stream destroyed before its first read releases its file", async () => {
    const ctx = freshStore();
    try {
      const big = ctx.store.putBytes(Buffer.alloc(200_000, 9));
      const { readdirSync } = await import("node:fs");
      const before = readdirSync("/proc/self/fd").length;
      for (let i = 0; i < 20; i++) {
        const s = ctx.store.openReadStream(big.digest);
        s.destroy();
        await new Promise((res) => s.once("close", res));
      }
      expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(before + 1);
      // And a full read still verifies and returns every byte.
      expect((await collect(ctx.store.openReadStream(big.digest))).length).toBe(200_000);
    } finally {
      ctx.cleanup();
    }
  });

  /** Opens a stream of a 5 MiB artifact, reads its first chunk, runs `change` on the object file, reads on. */
  async function readWhileChanging(change: (file: string) => void): Promise<{ size: number; emitted: number; err: unknown }> {
    const ctx = freshStore();
    try {
      const bytes = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131) & 0xff;
      const big = ctx.store.putBytes(bytes);
      const hex = big.digest.slice("sha256:".length);
      const file = join(ctx.dir, "objects", hex.slice(0, 2), hex.slice(2));
      const it = ctx.store.openReadStream(big.digest)[Symbol.asyncIterator]();
      let emitted = 0;
      let err: unknown;
      try {
        const first = await it.next();
        emitted += (first.value as Buffer).length;
        chmodSync(file, 0o644);
        change(file);
        for (let r = await it.next(); r.done !== true; r = await it.next()) emitted += (r.value as Buffer).length;
      } catch (e) {
        err = e;
      }
      return { size: bytes.length, emitted, err };
    } finally {
      ctx.cleanup();
    }
  }

  it("a file changed while streaming fails the stream before its last bytes: never a complete-looking copy", async () => {
    const r = await readWhileChanging((file) => {
      const fd = openSync(file, "r+");
      writeSync(fd, Buffer.from([1]), 0, 1, 5 * 1024 * 1024 - 10); // in the last chunk
      closeSync(fd);
    });
    expect((r.err as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
    expect((r.err as CairnError).message).toContain("bytes changed while streaming");
    expect(r.emitted).toBeGreaterThan(0);
    expect(r.emitted).toBeLessThan(r.size);
  });

  it("a file that grows while streaming fails as soon as it passes the recorded size", async () => {
    const r = await readWhileChanging((file) => appendFileSync(file, Buffer.alloc(3 * 1024 * 1024, 7)));
    expect((r.err as CairnError).code).toBe(ErrorCode.STORE_CORRUPT);
    expect(r.emitted).toBeLessThan(r.size);
  });
});
