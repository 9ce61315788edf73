import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, expect } from "vitest";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";
import { CairnError, openStore, type Digest, type ErrorCodeValue, type OpenStoreOptions, type Store } from "../../src/index.js";
import { steppingClock } from "../../src/core/clock.js";

/** A fresh temp dir; remove it with the returned cleanup. */
export function tempDir(prefix = "cairn-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens a writer on a fresh store with a deterministic clock. */
export function freshStore(opts: OpenStoreOptions = {}): { store: Store; dir: string; cleanup: () => void } {
  const t = tempDir();
  const store = openStore({ dir: join(t.dir, "store"), clock: steppingClock(1_700_000_000_000, 1), durability: "normal", ...opts });
  return {
    store,
    dir: join(t.dir, "store"),
    cleanup: () => {
      store.close();
      t.cleanup();
    },
  };
}

/** The CairnError `fn` throws, checked to carry `code` (and `message`, when given). */
export function expectCairn(fn: () => unknown, code: ErrorCodeValue, message?: string): CairnError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(CairnError);
  expect((thrown as CairnError).code).toBe(code);
  if (message !== undefined) expect((thrown as CairnError).message).toBe(message);
  return thrown as CairnError;
}

/** The CairnError `p` rejects with, checked to carry `code` when given. */
export async function expectCairnAsync(p: Promise<unknown>, code?: ErrorCodeValue): Promise<CairnError> {
  let thrown: unknown;
  try {
    await p;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code ?? "a CairnError"}`).toBeInstanceOf(CairnError);
  if (code !== undefined) expect((thrown as CairnError).code).toBe(code);
  return thrown as CairnError;
}

/** Where the file of the large artifact `d` lives in the store at `root`. */
export function objectFile(root: string, d: Digest): string {
  const hex = d.slice("sha256:".length);
  return join(root, "objects", hex.slice(0, 2), hex.slice(2));
}

/** Reads a stream to the end, counting bytes; an error (thrown at open or while streaming) is returned. */
export async function drain(openStream: () => Readable): Promise<{ bytes: number; err: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of openStream()) bytes += (chunk as Buffer).length;
  } catch (err) {
    return { bytes, err };
  }
  return { bytes, err: undefined };
}

/**
 * Registers an afterEach that closes every store `newStore` opened and removes the temp dirs
 * (fixtures/child.ts), and returns `newStore(dir?)`: a writer on `dir`, by default a fresh
 * `<temp>/store`.
 */
export function storesClosedAfterEach(): (dir?: string) => Store {
  const track = trackStoresAfterEach();
  return (dir = join(makeTempDir(), "store")) => track(openStore({ dir }));
}

/** `track(store)` returns the store and closes it after the test (temp dirs removed too): for stores opened with options. */
export function trackStoresAfterEach(): (s: Store) => Store {
  const open: Store[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
    removeTempDirs();
  });
  return (s) => {
    open.push(s);
    return s;
  };
}

/** What `gc` throws on `w`, a dry run and then a real one (undefined for a run that did not throw). */
export function gcErrors(w: Store): unknown[] {
  return [true, false].map((dryRun) => {
    try {
      w.gc({ graceMs: 0, dryRun });
      return undefined;
    } catch (e) {
      return e;
    }
  });
}
