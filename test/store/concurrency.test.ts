/**
 * Concurrency: one writer at a time (across threads of control and processes), lock waits,
 * and read-only handles reading alongside a writer in another process.
 */
import { renameSync, type PathLike } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CairnError, ErrorCode, openStore, sha256, type Digest, type Store } from "../../src/index.js";
import { WriterChild, killAllChildren, makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { largeContent, smallContent } from "./fixtures/content.js";

/**
 * node:fs as seen by src/store, passed through unchanged except that a test may observe each
 * existsSync answer — used to replay, deterministically, a writer's rename landing between two
 * of a reader's file-system calls.
 */
const fsHook = vi.hoisted(() => ({ afterExists: undefined as undefined | ((path: string, result: boolean) => void) }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const existsSync = (p: PathLike): boolean => {
    const result = real.existsSync(p);
    fsHook.afterExists?.(String(p), result);
    return result;
  };
  return { ...real, existsSync, default: { ...real, existsSync } };
});

const open: Store[] = [];

afterEach(async () => {
  fsHook.afterExists = undefined;
  await killAllChildren();
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function track(s: Store): Store {
  open.push(s);
  return s;
}

function storeDir(): string {
  return join(makeTempDir(), "store");
}

function lockedError(fn: () => Store): CairnError {
  let thrown: unknown;
  try {
    track(fn());
  } catch (err) {
    thrown = err;
  }
  expect(thrown, "expected E_STORE_LOCKED").toBeInstanceOf(CairnError);
  expect((thrown as CairnError).code).toBe(ErrorCode.STORE_LOCKED);
  return thrown as CairnError;
}

async function expectFsckClean(dir: string): Promise<void> {
  const store = openStore({ dir, lockTimeoutMs: 5000 });
  try {
    const report = await store.fsck();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  } finally {
    store.close();
  }
}

function manyContent(i: number): Buffer {
  return i % 4 === 0 ? largeContent("many", i) : smallContent("many", i);
}

describe("single writer", () => {
  it("a second writer in the same process gets E_STORE_LOCKED until the first closes", async () => {
    const dir = storeDir();
    const first = track(openStore({ dir }));
    first.putBytes(Buffer.from("held"));
    const e = lockedError(() => openStore({ dir }));
    expect(e.message).toContain(dir);
    expect(e.message).toContain("locked");
    // A failed attempt must not disturb the holder.
    expect(first.get(sha256("held")).toString()).toBe("held");
    first.close();
    const second = track(openStore({ dir, lockTimeoutMs: 0 }));
    expect(second.get(sha256("held")).toString()).toBe("held");
    second.close();
    await expectFsckClean(dir);
  });

  it("a writer in another process sees E_STORE_LOCKED while this process holds the lock", async () => {
    const dir = storeDir();
    const holder = track(openStore({ dir }));
    const child = new WriterChild(dir, "try-open", ["0"]);
    await child.exited;
    const result = child.lines.find((l) => l.startsWith("RESULT "));
    expect(result, child.stderr).toBeDefined();
    const parsed = JSON.parse((result as string).slice("RESULT ".length)) as { ok: boolean; code?: string };
    expect(parsed).toMatchObject({ ok: false, code: ErrorCode.STORE_LOCKED });
    holder.close();
  });

  it("this process sees E_STORE_LOCKED while a child holds the lock, after waiting lockTimeoutMs", async () => {
    const dir = storeDir();
    const child = new WriterChild(dir, "hold", ["20000"]);
    await child.waitForLine("LOCKED");
    lockedError(() => openStore({ dir, lockTimeoutMs: 0 }));
    const t0 = Date.now();
    const e = lockedError(() => openStore({ dir, lockTimeoutMs: 250 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(e.message).toContain("250");
    // Readers are not blocked by the writer.
    const reader = track(openStore({ dir, readOnly: true }));
    expect([...reader.list()]).toEqual([]);
  });

  it("a waiting writer gets the lock once the holder (another process) closes", async () => {
    const dir = storeDir();
    const child = new WriterChild(dir, "hold", ["1000"]);
    await child.waitForLine("LOCKED");
    const t0 = Date.now();
    // Blocks this event loop while SQLite's busy handler waits; the holder is another process.
    const store = track(openStore({ dir, lockTimeoutMs: 20_000 }));
    const acquired = Date.now();
    store.putBytes(Buffer.from("after the wait"));
    store.close();
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(child.lines).toContain("RELEASED");
    // The open began while the holder held the lock and got it only once the holder let it go
    // (same host, same wall clock): ordered against the holder's own reading, not a duration
    // this process measured (a loaded machine may deschedule it after the LOCKED line).
    const releasing = Number(child.lines.find((l) => l.startsWith("RELEASING "))?.slice("RELEASING ".length));
    expect(t0).toBeLessThan(releasing);
    expect(acquired).toBeGreaterThanOrEqual(releasing);
    await expectFsckClean(dir);
  });

  it("a SIGKILLed holder's lock is free immediately", async () => {
    const dir = storeDir();
    const child = new WriterChild(dir, "hold", ["60000"]);
    await child.waitForLine("LOCKED");
    lockedError(() => openStore({ dir, lockTimeoutMs: 0 }));
    await child.kill();
    const store = track(openStore({ dir, lockTimeoutMs: 0 }));
    store.close();
  });
});

describe("readers alongside a writer", () => {
  it("a read-only handle lists and reads everything it sees while another process writes", async () => {
    const dir = storeDir();
    const COUNT = 240;
    const child = new WriterChild(dir, "many", [String(COUNT)]);
    await child.waitForLine("READY");
    const reader = track(openStore({ dir, readOnly: true }));
    expect(reader.readOnly).toBe(true);

    const seen = new Map<Digest, number>(); // digest → size
    const errors: string[] = [];
    let rounds = 0;
    let reads = 0;
    const readAndCheck = (d: Digest): void => {
      try {
        const bytes = reader.get(d);
        reads++;
        if (sha256(bytes) !== d) errors.push(`${d}: bytes do not hash to the digest`);
      } catch (err) {
        errors.push(`${d}: ${(err as Error).message}`);
      }
    };
    while (child.running) {
      rounds++;
      for (const info of reader.list()) {
        if (!seen.has(info.digest)) {
          seen.set(info.digest, info.size);
          readAndCheck(info.digest); // newest first: races with the writer placing its file
        }
      }
      // Re-read a few older ones every round.
      const all = [...seen.keys()];
      for (let k = 0; k < Math.min(4, all.length); k++) readAndCheck(all[(rounds * 7 + k * 13) % all.length] as Digest);
      await yieldToLoop();
    }
    const exit = await child.exited;
    expect(exit.code, child.stderr).toBe(0);
    expect(child.lines).toContain("DONE");
    expect(errors).toEqual([]);
    expect(rounds).toBeGreaterThan(5);
    expect(seen.size).toBeGreaterThan(0);

    // After the writer is gone the reader sees every artifact, intact.
    const printed = child.committed();
    expect(printed).toHaveLength(COUNT);
    const listed = new Set([...reader.list()].map((a) => a.digest));
    expect(listed.size).toBe(COUNT);
    for (const { i, digest } of printed) {
      expect(listed.has(digest)).toBe(true);
      expect(reader.get(digest).equals(manyContent(i))).toBe(true);
    }
    expect(reads).toBeGreaterThanOrEqual(seen.size);
    reader.close();
    await expectFsckClean(dir);
  });
});

/**
 * A large put commits its catalog row while the file is still tmp/<hex>.ready, and moves it to
 * objects/ just after the commit. A reader that sees the row must find the file wherever it is
 * at that moment. These tests put a store in exactly that state (committed, not yet placed),
 * then let the "writer's" rename happen in the middle of the reader's lookup.
 */
describe("a reader racing the writer's .ready → objects/ rename", () => {
  async function committedNotPlaced(): Promise<{ dir: string; digest: Digest; bytes: Buffer; place: () => void; objectPath: string; readyPath: string }> {
    const dir = storeDir();
    const bytes = largeContent("race", 0);
    const w = openStore({ dir });
    const digest = (await w.put(bytes)).digest;
    w.close();
    const hex = digest.slice("sha256:".length);
    const objectPath = join(dir, "objects", hex.slice(0, 2), hex.slice(2));
    const readyPath = join(dir, "tmp", `${hex}.ready`);
    renameSync(objectPath, readyPath); // back to "committed, not yet placed"
    return { dir, digest, bytes, objectPath, readyPath, place: () => renameSync(readyPath, objectPath) };
  }

  async function drain(openStream: () => Readable): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of openStream()) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  it("sanity: a reader finds a committed file still waiting in tmp/ (.ready)", async () => {
    const { dir, digest, bytes } = await committedNotPlaced();
    const reader = track(openStore({ dir, readOnly: true }));
    expect(reader.get(digest).equals(bytes)).toBe(true);
    expect((await drain(() => reader.openReadStream(digest))).equals(bytes)).toBe(true);
  });

  it("get succeeds when the file is placed right after the reader looked in objects/", async () => {
    const { dir, digest, bytes, place, objectPath } = await committedNotPlaced();
    const reader = track(openStore({ dir, readOnly: true }));
    fsHook.afterExists = (p, result) => {
      if (p === objectPath && !result) {
        fsHook.afterExists = undefined;
        place(); // the writer's placeReady runs now
      }
    };
    expect(reader.get(digest).equals(bytes)).toBe(true);
  });

  it("get succeeds when the file is placed right after the reader found it in tmp/", async () => {
    const { dir, digest, bytes, place, readyPath } = await committedNotPlaced();
    const reader = track(openStore({ dir, readOnly: true }));
    fsHook.afterExists = (p, result) => {
      if (p === readyPath && result) {
        fsHook.afterExists = undefined;
        place();
      }
    };
    expect(reader.get(digest).equals(bytes)).toBe(true);
  });

  it("openReadStream succeeds when the file is placed right after the reader found it in tmp/", async () => {
    const { dir, digest, bytes, place, readyPath } = await committedNotPlaced();
    const reader = track(openStore({ dir, readOnly: true }));
    fsHook.afterExists = (p, result) => {
      if (p === readyPath && result) {
        fsHook.afterExists = undefined;
        place();
      }
    };
    expect((await drain(() => reader.openReadStream(digest))).equals(bytes)).toBe(true);
  });
});
