/**
 * Audit 2, as-of reads:
 * - `asOf` must be a non-negative integer logseq on every read that takes it (get, stat, has,
 *   list, openReadStream, getToFile, lineage, findReceipt), as `store.at` requires: NaN or 1.5
 *   used to return a tombstoned artifact's bytes;
 * - lineage as of a logseq starts only from an artifact recorded by then (E_NOT_FOUND like stat).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/index.js";
import { makeTempDir } from "./fixtures/child.js";
import { storesClosedAfterEach } from "./helpers.js";

const newStore = storesClosedAfterEach();

describe("asOf validation", () => {
  const bad: Array<[string, unknown, string]> = [
    ["NaN", NaN, "NaN"],
    ["Infinity", Infinity, "Infinity"],
    ["-1", -1, "-1"],
    ["1.5", 1.5, "1.5"],
    ['"9"', "9", '"9"'],
    ["null", null, "null"],
  ];

  it.each(bad)("asOf %s is E_USAGE on every read that takes it (never a tombstoned artifact's bytes)", async (_name, asOf, shown) => {
    const s = newStore();
    const x = s.putBytes(Buffer.from("tombstoned x")).digest;
    const big = s.putBytes(Buffer.alloc(70_000, 1)).digest;
    s.delete(x);
    const program = s.putBytes(Buffer.from("program")).digest;
    s.recordReceipt({ program, inputs: [], outputs: [x], status: "succeeded" });
    const message = `as-of logseq must be a non-negative integer, got ${shown}`;
    const opts = { asOf } as unknown as { asOf: number };
    const calls: Array<() => unknown> = [
      () => s.get(x, opts),
      () => s.stat(x, opts),
      () => s.has(x, opts),
      () => s.list(opts), // refused at the call, not at the first read
      () => s.openReadStream(big, opts),
      () => s.openReader(big, opts),

      () => s.lineage(x, opts),
      () => s.findReceipt(program, [], {}, asOf as number),
    ];
    for (const call of calls) {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CairnError);
      expect((thrown as CairnError).code).toBe(ErrorCode.USAGE);
      expect((thrown as CairnError).message).toBe(message);
    }
    await expect(s.getToFile(big, join(makeTempDir(), "out"), opts)).rejects.toMatchObject({ code: ErrorCode.USAGE, message });
    if (typeof asOf === "number") {
      // store.at gives the same refusal (a string is a snapshot name there)
      let viewErr: unknown;
      try {
        s.at(asOf);
      } catch (err) {
        viewErr = err;
      }
      expect((viewErr as CairnError).code).toBe(ErrorCode.USAGE);
      expect((viewErr as CairnError).message).toBe(message);
    }
  });

  it("valid as-of reads still work: 0, a logseq, a large integer", () => {
    const s = newStore();
    const x = s.putBytes(Buffer.from("x")).digest;
    const at = s.headLogseq();
    s.delete(x);
    expect(s.get(x, { asOf: at }).toString()).toBe("x");
    expect(s.has(x, { asOf: 0 })).toBe(false);
    expect(s.has(x, { asOf: 1e15 })).toBe(false);
    expect([...s.list({ asOf: at })].map((a) => a.digest)).toEqual([x]);
  });
});

function circular(): unknown {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
}

describe("list options", () => {
  it("afterLogseq and limit must be non-negative integers (NaN was 'no limit'), mediaType a string, typeTag a 32-bit tag", () => {
    const s = newStore();
    for (let i = 0; i < 3; i++) s.putBytes(Buffer.from(`item ${i}`));
    for (const [opts, message] of [
      [{ limit: NaN }, "list limit must be a non-negative integer, got NaN"],
      [{ limit: -1 }, "list limit must be a non-negative integer, got -1"],
      [{ limit: 1.5 }, "list limit must be a non-negative integer, got 1.5"],
      [{ afterLogseq: "1" }, 'list afterLogseq must be a non-negative integer, got "1"'],
      [{ afterLogseq: Infinity }, "list afterLogseq must be a non-negative integer, got Infinity"],
      [{ mediaType: 7 }, "list mediaType must be a string, got number"],
      [{ typeTag: 2 ** 32 }, "list typeTag must be an integer in 0..4294967295, got 4294967296"],
      // values whose text JSON.stringify or String() cannot make (they threw a TypeError)
      [{ afterLogseq: 1n }, "list afterLogseq must be a non-negative integer, got 1"],
      [{ typeTag: Object.create(null) }, "list typeTag must be an integer in 0..4294967295, got {}"],
      [{ limit: circular() }, "list limit must be a non-negative integer, got object"],
      [{ asOf: 2n }, "as-of logseq must be a non-negative integer, got 2"],
    ] as const) {
      let err: unknown;
      try {
        s.list(opts as never);
      } catch (e) {
        err = e;
      }
      expect(err, Object.keys(opts).join()).toMatchObject({ code: ErrorCode.USAGE, message });
    }
    expect([...s.list({ limit: 2 })]).toHaveLength(2);
    expect([...s.list({ afterLogseq: 2, limit: 0 })]).toHaveLength(0);
    expect([...s.list({ afterLogseq: 2 })]).toHaveLength(1);
  });
});

describe("lineage as of a logseq", () => {
  it("from an artifact recorded after it is E_NOT_FOUND, as stat is; from one recorded before, the walk of then", () => {
    const s = newStore();
    const a = s.putBytes(Buffer.from("a")).digest;
    const snap = s.createSnapshot("S");
    const b = s.putBytes(Buffer.from("b")).digest;
    s.addEdge({ from: [a], to: [b], type: "derived_from", role: "src" });
    s.delete(a);
    const message = `artifact ${b} not found as of logseq ${snap.asOf}`;
    expect(() => s.at("S").stat(b)).toThrow(message);
    let thrown: unknown;
    try {
      s.at("S").lineage(b);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CairnError);
    expect((thrown as CairnError).code).toBe(ErrorCode.NOT_FOUND);
    expect((thrown as CairnError).message).toBe(message);
    expect((thrown as CairnError).details).toEqual({ digest: b, asOf: snap.asOf });
    // a was recorded before S: its walk as of S has none of the later edges
    expect(s.at("S").lineage(a, { direction: "down" }).nodes).toEqual([{ digest: a, depth: 0 }]);
    // at the head a tombstone does not hide provenance (the start only has to be known)
    expect(s.lineage(b).nodes.map((n) => n.digest)).toEqual([b, a]);
    expect(s.lineage(a, { direction: "down" }).nodes.map((n) => n.digest)).toEqual([a, b]);
  });
});
