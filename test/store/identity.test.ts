import { describe, expect, it, afterEach } from "vitest";
import { createHash } from "node:crypto";
import { freshStore } from "./helpers.js";
import { TYPED_FRAME_MAGIC } from "../../src/index.js";

// Pinned identity vectors (format v1). Changing any of these is a format change.
const HELLO_UNTYPED = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
const HELLO_TAG_42 = "sha256:33799816e2977ded660c8917b98e72d80d5c7f91368174029e88e81f8a25caf8";
const EMPTY_TAG_MAX = "sha256:a8284428b2afa3f6190f62e409dc1985aad4ab443bd0f3e84a985ab06bfd4418";
const EMPTY_UNTYPED = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("artifact identity", () => {
  let ctx: ReturnType<typeof freshStore>;
  afterEach(() => ctx.cleanup());

  it("untyped digest is the plain SHA-256 of the bytes", () => {
    ctx = freshStore();
    expect(ctx.store.putBytes(Buffer.from("hello")).digest).toBe(HELLO_UNTYPED);
    expect(ctx.store.putBytes(Buffer.alloc(0)).digest).toBe(EMPTY_UNTYPED);
  });

  it("the type tag is part of identity, framed with the typed magic", () => {
    ctx = freshStore();
    const typed = ctx.store.putBytes(Buffer.from("hello"), { typeTag: 42 });
    expect(typed.digest).toBe(HELLO_TAG_42);
    expect(typed.typeTag).toBe(42);
    expect(ctx.store.putBytes(Buffer.alloc(0), { typeTag: 0xffffffff }).digest).toBe(EMPTY_TAG_MAX);
    const frame = Buffer.concat([TYPED_FRAME_MAGIC, Buffer.from([0, 0, 0, 42]), Buffer.from("hello")]);
    expect(`sha256:${createHash("sha256").update(frame).digest("hex")}`).toBe(HELLO_TAG_42);
    // Same bytes, no tag: a different artifact.
    const untyped = ctx.store.putBytes(Buffer.from("hello"));
    expect(untyped.digest).not.toBe(typed.digest);
    expect(ctx.store.stat(untyped.digest).typeTag).toBeUndefined();
  });

  it("typed identity is the same for streamed, large and in-memory puts", async () => {
    ctx = freshStore();
    const big = Buffer.alloc(300_000, 0x61);
    const a = ctx.store.putBytes(big, { typeTag: 7 });
    async function* chunks() {
      for (let i = 0; i < big.length; i += 4096) yield big.subarray(i, i + 4096);
    }
    const b = await ctx.store.put(chunks(), { typeTag: 7 });
    expect(b.digest).toBe(a.digest);
    expect(b.created).toBe(false);
    expect(a.storage).toBe("file");
  });

  it("refuses untyped bytes that begin with the typed magic, streamed or not", async () => {
    ctx = freshStore();
    const evil = Buffer.concat([TYPED_FRAME_MAGIC, Buffer.from([0, 0, 0, 42]), Buffer.from("hello")]);
    expect(() => ctx.store.putBytes(evil)).toThrow(expect.objectContaining({ code: "E_INVALID_INPUT" }));
    async function* drip() {
      for (const b of evil) yield Buffer.from([b]);
    }
    await expect(ctx.store.put(drip())).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    // With a tag it is an ordinary artifact.
    expect(ctx.store.putBytes(evil, { typeTag: 1 }).created).toBe(true);
  });
});
