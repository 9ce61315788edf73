/**
 * Nested store writes inside a caller's transaction (an artifact put, a tombstone revival, a
 * receipt and its edges): a failed inner operation that the caller catches leaves nothing of
 * itself behind, the logseq counter has no gap, and a digest put by a rolled-back part is not
 * known afterwards. These pin what any cheaper nesting (fewer SAVEPOINTs) must keep.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, type Digest } from "../../src/index.js";
import { objectPath, SMALL_ARTIFACT_MAX_BYTES, TMP_DIR } from "../../src/store/layout.js";
import { expectCairn, freshStore } from "./helpers.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A fresh store whose clock throws on the calls `failAt` lists (counted from 1; the store's own opening included). */
function storeWithClock(failAt: Set<number>): { store: ReturnType<typeof freshStore>["store"]; dir: string; calls: () => number } {
  let n = 0;
  const clock = {
    now: (): number => {
      n++;
      if (failAt.has(n)) throw new Error(`clock failure at call ${n}`);
      return 1_700_000_000_000 + n;
    },
  };
  const s = freshStore({ clock });
  cleanups.push(s.cleanup);
  return { store: s.store, dir: s.dir, calls: () => n };
}

describe("nested artifact puts", () => {
  it("a put that fails inside a transaction and is caught leaves no row and no logseq gap", () => {
    const probe = storeWithClock(new Set());
    const base = probe.calls();
    const { store } = storeWithClock(new Set([base + 2])); // the second put's created_at
    store.transaction(() => {
      const a = store.putBytes(Buffer.from("a"));
      expect(() => store.putBytes(Buffer.from("b"))).toThrow(/clock failure/);
      const c = store.putBytes(Buffer.from("c"));
      expect(c.logseq).toBe(a.logseq + 1);
    });
    expect(store.has(store.putBytes(Buffer.from("a")).digest)).toBe(true);
    expect([...store.list()].map((i) => i.size)).toEqual([1, 1]);
    expect(store.headLogseq()).toBe(2);
  });

  it("a large put that fails inside a transaction and is caught removes its staged file at once", () => {
    const probe = storeWithClock(new Set());
    const base = probe.calls();
    const { store, dir } = storeWithClock(new Set([base + 1]));
    const big = Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1, 7);
    store.transaction(() => {
      expect(() => store.putBytes(big)).toThrow(/clock failure/);
      expect(readdirSync(join(dir, TMP_DIR))).toEqual([]);
      store.putBytes(Buffer.from("after"));
    });
    expect([...store.list()].map((i) => i.size)).toEqual([5]);
    expect(readdirSync(join(dir, TMP_DIR))).toEqual([]);
  });

  it("reviving a tombstoned artifact inside a transaction, failing after its first write and caught, leaves it tombstoned", () => {
    const probe = storeWithClock(new Set());
    const base = probe.calls();
    // call base+1: the first put's created_at; base+2: the revival's touch, after its event row
    const { store } = storeWithClock(new Set([base + 2]));
    const d = store.putBytes(Buffer.from("x")).digest;
    store.delete(d);
    const head = store.headLogseq();
    store.transaction(() => {
      expect(() => store.putBytes(Buffer.from("x"))).toThrow(/clock failure/);
      expect(store.has(d)).toBe(false);
    });
    expect(store.has(d)).toBe(false);
    expect(store.headLogseq()).toBe(head);
    expect(store.putBytes(Buffer.from("x")).created).toBe(false); // the revival, now whole
    expect(store.has(d)).toBe(true);
  });

  it("a large put nested in a transaction that commits is placed in objects/", () => {
    const { store, dir } = storeWithClock(new Set());
    const big = Buffer.alloc(SMALL_ARTIFACT_MAX_BYTES + 1, 9);
    const info = store.transaction(() => store.putBytes(big));
    expect(info.storage).toBe("file");
    expect(existsSync(objectPath(dir, info.digest))).toBe(true);
    expect(readdirSync(join(dir, TMP_DIR))).toEqual([]);
    expect(store.get(info.digest).equals(big)).toBe(true);
  });
});

describe("artifacts known within a transaction", () => {
  it("a digest put in a savepoint that rolled back is not known to a later edge of the same transaction", () => {
    const { store } = storeWithClock(new Set());
    const plan = store.putBytes(Buffer.from("plan")).digest;
    let gone: Digest | undefined;
    store.transaction(() => {
      expect(store.addEdge({ from: [plan], to: [plan], type: "contains", role: "self" }).logseq).toBeGreaterThan(0);
      try {
        store.transaction(() => {
          gone = store.putBytes(Buffer.from("rolled back")).digest;
          store.addEdge({ from: [plan], to: [gone], type: "contains", role: "pulse" });
          throw new Error("abort the inner part");
        });
      } catch {
        // the caller goes on
      }
      expectCairn(() => store.addEdge({ from: [plan], to: [gone as Digest], type: "contains", role: "other" }), ErrorCode.DANGLING_REFERENCE);
      expectCairn(
        () => store.recordReceipt({ program: plan, inputs: [gone as Digest], outputs: [], status: "succeeded" }),
        ErrorCode.DANGLING_REFERENCE,
      );
    });
    expect(store.has(gone as Digest)).toBe(false);
  });

  it("a digest put in a transaction that rolled back is not known to the next transaction", () => {
    const { store } = storeWithClock(new Set());
    const plan = store.putBytes(Buffer.from("plan")).digest;
    let gone: Digest | undefined;
    expect(() =>
      store.transaction(() => {
        gone = store.putBytes(Buffer.from("rolled back")).digest;
        throw new Error("abort");
      }),
    ).toThrow("abort");
    store.transaction(() => {
      expectCairn(() => store.addEdge({ from: [plan], to: [gone as Digest], type: "contains", role: "pulse" }), ErrorCode.DANGLING_REFERENCE);
    });
  });

  it("a receipt whose recording fails after its body is put leaves neither the body nor any edge", () => {
    const { store } = storeWithClock(new Set());
    const fn = store.putBytes(Buffer.from("fn")).digest;
    const input = store.putBytes(Buffer.from("in")).digest;
    const out1 = store.putBytes(Buffer.from("out1")).digest;
    const out2 = store.putBytes(Buffer.from("out2")).digest;
    const head = store.headLogseq();
    store.recordReceipt({ program: fn, inputs: [input], outputs: [out1], status: "succeeded" });
    const after = store.headLogseq();
    store.transaction(() => {
      expectCairn(() => store.recordReceipt({ program: fn, inputs: [input], outputs: [out2], status: "succeeded" }), ErrorCode.CONFLICT);
      // nothing of the refused receipt: the next record gets the next logseq
      expect(store.putBytes(Buffer.from("next")).logseq).toBe(after + 1);
    });
    expect(after - head).toBe(5); // body + receipt row + program, input and output edges
    expect(store.lineage(out1, { depth: 2 }).edges.length).toBe(3);
  });
});
