/** The main-thread heap guard (src/batch/heap-guard.ts). */
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { HEAP_GUARD_MIN_INTERVAL_MS, HEAP_GUARD_SHARE, HeapGuard } from "../../src/batch/heap-guard.js";

describe("HeapGuard", () => {
  it("collects only above its share of --max-memory, at most once per interval", () => {
    const g = new HeapGuard(1000);
    g.check(1000 * HEAP_GUARD_SHARE, 0);
    expect(g.collections).toBe(0);
    g.check(1000 * HEAP_GUARD_SHARE + 1, 0);
    expect(g.collections).toBe(1);
    g.check(999, HEAP_GUARD_MIN_INTERVAL_MS - 1);
    expect(g.collections).toBe(1);
    g.check(999, HEAP_GUARD_MIN_INTERVAL_MS);
    expect(g.collections).toBe(2);
  });

  it("leaves no gc global behind: later vm contexts (user-CT sandboxes) do not see one", () => {
    new HeapGuard(1).check(2, 0);
    expect(runInNewContext("typeof gc")).toBe("undefined");
    expect(typeof (globalThis as { gc?: unknown }).gc === "function" || !("gc" in globalThis)).toBe(true);
  });
});
