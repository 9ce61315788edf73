/** API-level bad input: every misuse fails with the documented error code and a useful message. */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CairnError, ErrorCode, TYPED_FRAME_MAGIC, openStore, type Digest, type ErrorCodeValue, type Store,
} from "../../src/index.js";
import { makeTempDir } from "./fixtures/child.js";
import { storesClosedAfterEach } from "./helpers.js";

const newStore = storesClosedAfterEach();

function expectCairn(fn: () => unknown, code: ErrorCodeValue): CairnError {
  let thrown: unknown;
  try {
    const s = fn();
    if (s !== null && typeof s === "object" && "close" in s && typeof s.close === "function") (s as Store).close();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(CairnError);
  expect((thrown as CairnError).code).toBe(code);
  return thrown as CairnError;
}

async function expectCairnAsync(fn: () => Promise<unknown>, code: ErrorCodeValue): Promise<CairnError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(CairnError);
  expect((thrown as CairnError).code).toBe(code);
  return thrown as CairnError;
}

async function* chunks(...parts: Array<string | Buffer>): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

const UNKNOWN = `sha256:${"ab".repeat(32)}` as Digest;
const MALFORMED = [
  "sha256:xyz",
  "sha256:" + "AB".repeat(32), // upper case
  "sha256:" + "ab".repeat(31), // too short
  "md5:" + "ab".repeat(32),
  "ab".repeat(32), // no prefix
  "",
] as Digest[];

describe("bad input", () => {
  it("a writer-lock wait beyond 2147483647 ms is E_USAGE (SQLite's busy timeout is 32-bit), not an I/O failure", () => {
    const dir = join(makeTempDir(), "store");
    const e = expectCairn(() => openStore({ dir, lockTimeoutMs: 2_147_483_648 }), ErrorCode.USAGE);
    expect(e.message).toBe("lockTimeoutMs must be at most 2147483647 ms (about 24.8 days), got 2147483648");
    expect(existsSync(dir)).toBe(false); // refused before anything is created
    const ok = openStore({ dir: join(makeTempDir(), "store"), lockTimeoutMs: 2_147_483_647 });
    ok.close();
  });

  it("an unknown digest is E_NOT_FOUND with 'not found' in the message, on every read", async () => {
    const store = newStore();
    for (const fn of [() => store.get(UNKNOWN), () => store.stat(UNKNOWN), () => store.openReadStream(UNKNOWN), () => store.delete(UNKNOWN)]) {
      const e = expectCairn(fn, ErrorCode.NOT_FOUND);
      expect(e.message).toContain("not found");
      expect(e.message).toContain(UNKNOWN);
    }
    const e = await expectCairnAsync(() => store.getToFile(UNKNOWN, join(makeTempDir(), "out")), ErrorCode.NOT_FOUND);
    expect(e.message).toContain("not found");
    expect(store.has(UNKNOWN)).toBe(false);
  });

  it.each(MALFORMED)("a malformed digest %j is E_DIGEST_INVALID", (bad) => {
    const store = newStore();
    for (const fn of [() => store.get(bad), () => store.stat(bad), () => store.openReadStream(bad), () => store.has(bad)]) {
      expectCairn(fn, ErrorCode.DIGEST_INVALID);
    }
  });

  it("a store directory below a regular file is E_STORE_IO naming the path", () => {
    const base = makeTempDir();
    const file = join(base, "plain-file");
    writeFileSync(file, "not a directory");
    const under = join(file, "store");
    const e = expectCairn(() => openStore({ dir: under }), ErrorCode.STORE_IO);
    expect(e.message).toContain(under);
    // The path itself being a regular file is the same error.
    const e2 = expectCairn(() => openStore({ dir: file }), ErrorCode.STORE_IO);
    expect(e2.message).toContain(file);
  });

  it("a FORMAT file with an unknown version is E_STORE_VERSION naming both versions", () => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir);
    writeFileSync(join(dir, "FORMAT"), JSON.stringify({ format: "cairn-store", version: 99 }));
    for (const readOnly of [false, true]) {
      const e = expectCairn(() => openStore({ dir, readOnly }), ErrorCode.STORE_VERSION);
      expect(e.message).toContain("99");
      expect(e.message).toContain("1");
      expect(e.message).toContain(dir);
    }
  });

  it.each([
    ["not JSON", "garbage\u0000\u0001{"],
    ["another format", JSON.stringify({ format: "git", version: 1 })],
    ["a fractional version", JSON.stringify({ format: "cairn-store", version: 1.5 })],
    ["null", "null"],
  ])("a FORMAT file that is %s is E_STORE_CORRUPT", (_what, text) => {
    const dir = join(makeTempDir(), "store");
    mkdirSync(dir);
    writeFileSync(join(dir, "FORMAT"), text);
    for (const readOnly of [false, true]) {
      const e = expectCairn(() => openStore({ dir, readOnly }), ErrorCode.STORE_CORRUPT);
      expect(e.message).toContain("FORMAT");
    }
  });

  it("opening a nonexistent store read-only (or without create) is E_STORE_MISSING", () => {
    const dir = join(makeTempDir(), "does-not-exist");
    const e = expectCairn(() => openStore({ dir, readOnly: true }), ErrorCode.STORE_MISSING);
    expect(e.message).toContain(dir);
    expectCairn(() => openStore({ dir, create: false }), ErrorCode.STORE_MISSING);
  });

  it.each(["", "text", "text/", "/plain", "text/plain\nx", "a b/c", "é/x"])("media type %j is E_USAGE", async (mt) => {
    const store = newStore();
    expectCairn(() => store.putBytes(Buffer.from("x"), { mediaType: mt }), ErrorCode.USAGE);
    await expectCairnAsync(() => store.put(chunks("x"), { mediaType: mt }), ErrorCode.USAGE);
    expect([...store.list()]).toEqual([]);
  });

  it.each([-1, 2 ** 32, 1.5, Number.NaN, Infinity])("type tag %d is E_USAGE", async (tag) => {
    const store = newStore();
    expectCairn(() => store.putBytes(Buffer.from("x"), { typeTag: tag }), ErrorCode.USAGE);
    await expectCairnAsync(() => store.put(chunks("x"), { typeTag: tag }), ErrorCode.USAGE);
    await expectCairnAsync(() => store.put("x", { typeTag: tag }), ErrorCode.USAGE);
    expect([...store.list()]).toEqual([]);
  });

  it("type tags 0 and 2**32-1 are accepted", () => {
    const store = newStore();
    expect(store.putBytes(Buffer.from("x"), { typeTag: 0 }).typeTag).toBe(0);
    expect(store.putBytes(Buffer.from("x"), { typeTag: 2 ** 32 - 1 }).typeTag).toBe(2 ** 32 - 1);
  });

  it("untyped bytes beginning with the typed-frame magic are E_INVALID_INPUT (all put paths)", async () => {
    expect(TYPED_FRAME_MAGIC.toString("latin1")).toBe("cairn-asl-typed\0");
    const store = newStore();
    const evil = Buffer.concat([Buffer.from("cairn-asl-typed\0"), Buffer.from([0, 0, 0, 42]), Buffer.from("payload")]);
    expectCairn(() => store.putBytes(evil), ErrorCode.INVALID_INPUT);
    await expectCairnAsync(() => store.put(evil), ErrorCode.INVALID_INPUT);
    await expectCairnAsync(() => store.put("cairn-asl-typed\0rest"), ErrorCode.INVALID_INPUT);
    // Split across chunks, and as a large streamed artifact.
    await expectCairnAsync(() => store.put(chunks("cairn-", "asl-typ", "ed\0", "more")), ErrorCode.INVALID_INPUT);
    await expectCairnAsync(() => store.put(chunks(evil, Buffer.alloc(200 * 1024, 1))), ErrorCode.INVALID_INPUT);
    expect([...store.list()]).toEqual([]);
    // With a type tag the same bytes are fine, and a shorter prefix is fine untyped.
    expect(store.putBytes(evil, { typeTag: 7 }).typeTag).toBe(7);
    expect(store.putBytes(Buffer.from("cairn-asl-typed")).created).toBe(true);
  });

  it("a source stream that fails part-way stores nothing and leaves no temp file", async () => {
    const store = newStore();
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(100 * 1024, 3); // past the packing limit: a .part file exists by now
      throw new Error("source broke");
    }
    await expect(store.put(failing())).rejects.toThrow("source broke");
    expect([...store.list()]).toEqual([]);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
    const report = await store.fsck();
    expect(report.problems).toEqual([]);
  });
});
