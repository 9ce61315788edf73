/**
 * An object file that cannot be opened because the process (EMFILE) or the system (ENFILE) has
 * no descriptor left is E_STORE_IO, not E_STORE_CORRUPT: the store is fine (review of
 * 2026-11-27: a merge over many partitions that ran out of descriptors was reported as
 * corruption). `openSync` is wrapped to fail for object files while `fail` is set.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { expectCairn, storesClosedAfterEach } from "./helpers.js";
import { largeContent } from "./fixtures/content.js";

const hook = vi.hoisted(() => ({ fail: undefined as undefined | string }));
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const openSync = ((path: string, ...rest: unknown[]) => {
    const code = hook.fail;
    if (code !== undefined && typeof path === "string" && path.includes("/objects/")) {
      throw Object.assign(new Error(`${code}: too many open files, open '${path}'`), { code, syscall: "open", path });
    }
    return (real.openSync as (...a: unknown[]) => number)(path, ...rest);
  }) as typeof real.openSync;
  return { ...real, openSync, default: { ...real, openSync } };
});

const newStore = storesClosedAfterEach();
afterEach(() => {
  hook.fail = undefined;
});

describe("no descriptor left to open an object file", () => {
  for (const code of ["EMFILE", "ENFILE"]) {
    it(`${code}: get, openReader and a reader's read are E_STORE_IO naming the artifact, not E_STORE_CORRUPT`, () => {
      const store = newStore();
      const d = store.putBytes(largeContent("emfile", 1)).digest;
      const reader = store.openReader(d);
      hook.fail = code;
      for (const read of [() => store.get(d), () => store.openReader(d), () => reader.read(1024)]) {
        const e = expectCairn(read, ErrorCode.STORE_IO);
        expect(e.message).toContain(`artifact ${d}: its file objects/`);
        expect(e.message).toContain(`cannot be opened: ${code}`);
      }
      hook.fail = undefined;
      expect(store.get(d).length).toBeGreaterThan(0); // nothing was wrong with it
    });
  }
});
