/**
 * The index-id merge reads and decodes each pulse's records artifact in windows (merge.ts,
 * RECORD_WINDOW_BYTES, through `Store.openReader`) instead of whole: the records, leaf hashes and so the
 * output bytes and digests are those of decoding each pulse whole (the path before windows,
 * reproduced here as `wholePulseMerge`), whatever the window — records longer than it,
 * multi-byte UTF-8 next to its edges, pulses with no record — and a records artifact that does
 * not hold its pulse's record count is still E_STORE_CORRUPT.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { canonicalize } from "../../src/core/canonical.js";
import { openStore, type ArtifactReader, type ReaderOptions, type Store } from "../../src/index.js";
import { LEAF_HASH_BYTES, leafHashesOf, rootOfLeafHashes } from "../../src/batch/leaves.js";
import { IndexIdMerge, LeafSpill, type MergePulse } from "../../src/batch/merge.js";
import { RECORD_WINDOW_BYTES } from "../../src/batch/record-windows.js";
import { partitionOf } from "../../src/batch/partition.js";
import { RECORDS_MEDIA_TYPE } from "../../src/batch/pulse.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-merge-memory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PARTITIONS = 3;
const TOTAL = 90;
/** Pulse sizes, cycled per partition: 0 is a pulse with no record. */
const PULSE_SIZES = [4, 0, 1, 7, 3, 0, 5];

/** Characters added to every completed record's output (fixtures of file-backed artifacts). */
let pad = 0;

/** EU i's record: completed (ASCII, 2-, 3- and 4-byte UTF-8, some long), failed, or bytes. */
function recordOf(i: number): string {
  const multi = ["é", "中", "𝄞", "ÿ€"][i % 4] as string;
  if (i % 11 === 5) return canonicalize({ error: { code: "E_FUNCTION", message: `bad ${multi.repeat(i % 5)} ${i}` }, id: i });
  if (i % 13 === 7) return canonicalize({ bytes: Buffer.from(`b${i}`).toString("base64"), id: i });
  const len = i % 9 === 0 ? 150 + i : i % 7; // every ninth longer than the small windows below
  return `{"id":${i},"output":${JSON.stringify(`${multi}${"x".repeat(len + pad)}${multi.repeat(1 + (i % 3))}`)}}`;
}

interface Fixture {
  store: Store;
  spill: LeafSpill;
  pulses: MergePulse[];
}

let n = 0;
function fixture(edit?: (p: MergePulse, texts: string[]) => { eus?: number; body?: string }): Fixture {
  const store = openStore({ dir: join(dir, `s${n}`), durability: "normal" });
  const spill = new LeafSpill(join(dir, `s${n}.leaves`));
  n++;
  const byPartition: number[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let i = 0; i < TOTAL; i++) (byPartition[partitionOf(i, PARTITIONS)] as number[]).push(i);
  const pulses: MergePulse[] = [];
  byPartition.forEach((ids, partition) => {
    let at = 0;
    for (let index = 0; at < ids.length || index < 2; index++) {
      const size = PULSE_SIZES[(index + partition) % PULSE_SIZES.length] as number;
      const texts = ids.slice(at, at + size).map(recordOf);
      at += size;
      const p: MergePulse = { partition, index, records: "" as MergePulse["records"], eus: texts.length, leafOffset: spill.append(leafHashesOf(texts)) };
      const changed = edit?.(p, texts) ?? {};
      const body = changed.body ?? (texts.length === 0 ? "" : `${texts.join("\n")}\n`);
      p.records = store.putBytes(Buffer.from(body), { mediaType: RECORDS_MEDIA_TYPE }).digest;
      if (changed.eus !== undefined) p.eus = changed.eus;
      pulses.push(p);
    }
  });
  // Committed in completion order, not partition order: the merge sorts them.
  pulses.reverse();
  return { store, spill, pulses };
}

/** Runs `body` on a fresh fixture, then closes its spill and store. */
function withFixture(body: (f: Fixture) => void, edit?: Parameters<typeof fixture>[0]): void {
  const f = fixture(edit);
  try {
    body(f);
  } finally {
    f.spill.close();
    f.store.close();
  }
}

/** The merge's records and leaf hashes, in the order it hands them out. */
function drain(f: Fixture, windowBytes?: number): { text: string; leaves: Buffer } {
  const merge = new IndexIdMerge(f.store, f.spill, PARTITIONS, f.pulses, TOTAL, windowBytes);
  let text = "";
  const leaves: Buffer[] = [];
  while (merge.next()) {
    text += `${merge.text}\n`;
    leaves.push(Buffer.from(merge.leaves.subarray(merge.leafOffset, merge.leafOffset + LEAF_HASH_BYTES)));
  }
  return { text, leaves: Buffer.concat(leaves) };
}

/** The merge before windows: each pulse's artifact decoded whole and split (merge.ts before 2026-11-27). */
function wholePulseMerge(f: Fixture): { text: string; leaves: Buffer } {
  const queues = Array.from({ length: PARTITIONS }, (_, partition) =>
    f.pulses
      .filter((p) => p.partition === partition)
      .sort((a, b) => a.index - b.index)
      .flatMap((p) => {
        const body = f.store.get(p.records).toString("utf8");
        const texts = body.length === 0 ? [] : body.slice(0, -1).split("\n");
        expect(texts.length).toBe(p.eus);
        return texts.map((t, k) => ({ t, leaf: f.spill.read(p.leafOffset + k * LEAF_HASH_BYTES, LEAF_HASH_BYTES) }));
      }),
  );
  let text = "";
  const leaves: Buffer[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const r = (queues[partitionOf(i, PARTITIONS)] as { t: string; leaf: Buffer }[]).shift() as { t: string; leaf: Buffer };
    text += `${r.t}\n`;
    leaves.push(r.leaf);
  }
  return { text, leaves: Buffer.concat(leaves) };
}

/** The store as the merge sees it: its readers tell how much is read at once and how many are open. */
function spiedStore(store: Store): { store: Store; pieces: number[]; open: () => number; maxOpen: () => number } {
  const pieces: number[] = [];
  let open = 0;
  let maxOpen = 0;
  const spied = {
    openReader: (d: MergePulse["records"], opts?: ReaderOptions): ArtifactReader => {
      const r = store.openReader(d, opts);
      open++;
      maxOpen = Math.max(maxOpen, open);
      let closed = false;
      const closeOnce = (): void => {
        if (!closed) open--;
        closed = true;
      };
      return {
        size: r.size,
        read: (max: number) => {
          const piece = r.read(max);
          if (piece === undefined) closeOnce();
          else pieces.push(piece.length);
          return piece;
        },
        close: () => {
          closeOnce();
          r.close();
        },
      };
    },
  } as unknown as Store;
  return { store: spied, pieces, open: () => open, maxOpen: () => maxOpen };
}

/** What draining the merge throws (undefined when it does not). */
function drainError(f: Fixture, windowBytes?: number): unknown {
  try {
    drain(f, windowBytes);
  } catch (e) {
    return e;
  }
  return undefined;
}

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

describe("index-id merge in decode windows", () => {
  it("the fixture has what the windows must survive", () => {
    withFixture((f) => {
      expect(f.pulses.some((p) => p.eus === 0)).toBe(true);
      const texts = Array.from({ length: TOTAL }, (_, i) => recordOf(i));
      expect(texts.some((t) => Buffer.byteLength(t) > 150)).toBe(true);
      expect(texts.some((t) => /[\u{10000}-\u{10FFFF}]/u.test(t))).toBe(true);
      expect(texts.some((t) => t.startsWith('{"error"'))).toBe(true);
      expect(texts.some((t) => t.startsWith('{"bytes"'))).toBe(true);
      expect(RECORD_WINDOW_BYTES).toBe(1024 * 1024);
    });
  });

  it("gives the bytes, leaf hashes and digests of decoding each pulse whole, for every window from 1 byte up", () => {
    withFixture((f) => {
      const whole = wholePulseMerge(f);
      // The records in id order, each with its own leaf hash.
      const expected = Array.from({ length: TOTAL }, (_, i) => `${recordOf(i)}\n`).join("");
      expect(whole.text).toBe(expected);
      expect(whole.leaves.equals(leafHashesOf(Array.from({ length: TOTAL }, (_, i) => recordOf(i))))).toBe(true);
      const root = rootOfLeafHashes(whole.leaves, TOTAL);
      // Every window size up to past the longest pulse puts the cuts at every byte position,
      // inside multi-byte characters and long records included.
      const longest = Math.max(...f.pulses.map((p) => f.store.stat(p.records).size));
      const windows = [undefined, RECORD_WINDOW_BYTES, ...Array.from({ length: longest + 2 }, (_, k) => k + 1)];
      for (const w of windows) {
        const got = drain(f, w);
        expect(got.text, `window ${w}`).toBe(whole.text);
        expect(sha256(got.text), `window ${w}`).toBe(sha256(whole.text));
        expect(got.leaves.equals(whole.leaves), `window ${w}`).toBe(true);
        expect(rootOfLeafHashes(got.leaves, TOTAL), `window ${w}`).toBe(root);
      }
    });
  });

  it("reads and decodes at most a window at a time, or one record longer than it", () => {
    withFixture((f) => {
      const spy = spiedStore(f.store);
      const longestRecord = Math.max(...Array.from({ length: TOTAL }, (_, i) => Buffer.byteLength(recordOf(i))));
      const longestPulse = Math.max(...f.pulses.map((p) => f.store.stat(p.records).size));
      for (const w of [64, 200]) {
        spy.pieces.length = 0;
        const merge = new IndexIdMerge(spy.store, f.spill, PARTITIONS, f.pulses, TOTAL, w);
        let records = 0;
        while (merge.next()) records++;
        merge.close();
        expect(records).toBe(TOTAL);
        expect(spy.open()).toBe(0);
        expect(spy.maxOpen()).toBeLessThanOrEqual(PARTITIONS);
        expect(spy.pieces.length).toBeGreaterThan(f.pulses.filter((p) => p.eus > 0).length); // some pulse took more than one window
        expect(Math.max(...spy.pieces)).toBeLessThanOrEqual(w);
        expect(merge.maxDecodedBytes).toBeLessThanOrEqual(Math.max(w, longestRecord));
        expect(merge.maxDecodedBytes).toBeLessThan(longestPulse);
      }
    });
  });

  it("closes the records artifacts of a merge that stops early", () => {
    withFixture((f) => {
      const spy = spiedStore(f.store);
      const merge = new IndexIdMerge(spy.store, f.spill, PARTITIONS, f.pulses, TOTAL, 8);
      for (let k = 0; k < TOTAL / 2; k++) expect(merge.next()).toBe(true);
      expect(spy.open()).toBeGreaterThan(0);
      merge.close();
      merge.close();
      expect(spy.open()).toBe(0);
    });
  });

  for (const [what, edit] of [
    ["a record too many", (p: MergePulse) => (p.partition === 1 && p.index === 3 ? { eus: p.eus - 1 } : {})],
    ["a record too few", (p: MergePulse) => (p.partition === 2 && p.index === 0 ? { eus: p.eus + 1 } : {})],
    ["records in a pulse that has none", (p: MergePulse) => (p.eus === 0 ? { body: `${recordOf(0)}\n` } : {})],
    ["no trailing newline", (p: MergePulse, texts: string[]) => (p.partition === 0 && p.index === 0 ? { body: texts.join("\n") } : {})],
  ] as const) {
    it(`a records artifact with ${what} is E_STORE_CORRUPT, whatever the window`, () => {
      for (const w of [undefined, 1, 40]) {
        withFixture((f) => {
          const err = drainError(f, w);
          expect(isCairnError(err) && err.code, `window ${w}: ${String(err)}`).toBe("E_STORE_CORRUPT");
        }, edit);
      }
    });
  }

  it("file-backed records artifacts (above the store's 64 KiB packing limit) merge to the same bytes, holding no file between windows", () => {
    pad = 20_000;
    try {
      withFixture((f) => {
        expect(f.pulses.filter((p) => f.store.stat(p.records).storage === "file").length).toBeGreaterThan(3);
        const whole = wholePulseMerge(f);
        const fds = readdirSync("/proc/self/fd").length;
        for (const w of [undefined, 4096, 20_003, 65_536]) {
          const merge = new IndexIdMerge(f.store, f.spill, PARTITIONS, f.pulses, TOTAL, w);
          let text = "";
          let most = 0;
          while (merge.next()) {
            text += `${merge.text}\n`;
            most = Math.max(most, readdirSync("/proc/self/fd").length);
          }
          expect(text === whole.text, `window ${w}`).toBe(true);
          expect(most).toBeLessThanOrEqual(fds + 1); // the readdir's own
        }
      });
    } finally {
      pad = 0;
    }
  });

  it("a record missing in the middle of a pulse is E_STORE_CORRUPT before any of the pulse is handed out", () => {
    let edited: MergePulse | undefined;
    const edit = (p: MergePulse, texts: string[]): { body?: string } => {
      if (edited !== undefined || p.partition !== 1 || texts.length < 3) return {};
      edited = p;
      return { body: `${[texts[0], ...texts.slice(2)].join("\n")}\n` };
    };
    withFixture((f) => {
      expect(edited).toBeDefined();
      for (const w of [undefined, 1]) {
        const err = drainError(f, w);
        expect(isCairnError(err) && err.code, String(err)).toBe("E_STORE_CORRUPT");
        const e = edited as MergePulse;
        expect((err as Error).message).toBe(`pulse 1/${e.index}: records artifact ${e.records} holds ${e.eus - 1} records, expected ${e.eus}`);
      }
    }, edit);
  });

  it("a record out of place is still E_INTERNAL", () => {
    // Partition 0's first pulse holds the records of two EUs swapped.
    withFixture((f) => {
      for (const w of [undefined, 1]) {
        const err = drainError(f, w);
        expect(isCairnError(err) && err.code, String(err)).toBe("E_INTERNAL");
      }
    }, (p, texts) => (p.partition === 0 && p.index === 0 && texts.length >= 2 ? { body: `${[texts[1], texts[0], ...texts.slice(2)].join("\n")}\n` } : {}));
  });
});
