/**
 * Audit 2: reads never go more than one byte past the recorded size, even when the size checked
 * at open no longer holds (the file grew between the `fstat` and the read). `fstatSync` is
 * wrapped so a test can report the recorded size for a file that is longer, as a file appended to
 * right after it was opened would look.
 */
import { appendFileSync, chmodSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode, openStore, type Digest, type Store } from "../../src/index.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";

const fsHook = vi.hoisted(() => ({ size: undefined as number | undefined }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const fstatSync = ((fd: number, opts?: unknown) => {
    const st = real.fstatSync(fd, opts as undefined);
    if (fsHook.size !== undefined && st.isFile()) Object.defineProperty(st, "size", { value: fsHook.size });
    return st;
  }) as typeof real.fstatSync;
  return { ...real, fstatSync, default: { ...real, fstatSync } };
});

const open: Store[] = [];
afterEach(() => {
  fsHook.size = undefined;
  for (const s of open.splice(0)) s.close();
  removeTempDirs();
});

function objectFile(root: string, d: Digest): string {
  const hex = d.slice("sha256:".length);
  return join(root, "objects", hex.slice(0, 2), hex.slice(2));
}

async function drain(s: Readable): Promise<{ bytes: number; err: unknown }> {
  let bytes = 0;
  try {
    for await (const c of s) bytes += (c as Buffer).length;
  } catch (err) {
    return { bytes, err };
  }
  return { bytes, err: undefined };
}

describe("a file longer than its recorded size that fstat does not show", () => {
  it("get, openReadStream, getToFile and fsck fail with E_STORE_CORRUPT 'holds more than the recorded N bytes'", async () => {
    const store = openStore({ dir: join(makeTempDir(), "store") });
    open.push(store);
    const size = 100_000;
    const d = (await store.put(Buffer.alloc(size, 4))).digest;
    const p = objectFile(store.root, d);
    chmodSync(p, 0o644);
    appendFileSync(p, Buffer.alloc(5_000_000, 1)); // grown after the size was taken
    fsHook.size = size;
    const message = `artifact ${d} is corrupt: its file holds more than the recorded ${size} bytes`;

    expect(() => store.get(d)).toThrow(message);
    const streamed = await drain(store.openReadStream(d));
    expect(streamed.bytes).toBe(0);
    expect(streamed.err).toMatchObject({ code: ErrorCode.STORE_CORRUPT, message });
    const out = makeTempDir();
    await expect(store.getToFile(d, join(out, "o"))).rejects.toMatchObject({ code: ErrorCode.STORE_CORRUPT, message });
    expect(readdirSync(out)).toEqual([]);
    expect((await store.fsck()).problems).toEqual([{ code: "artifact_corrupt", subject: d, message }]);
  });
});
