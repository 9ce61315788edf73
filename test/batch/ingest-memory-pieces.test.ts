/**
 * An in-memory dataset's canonical lines reach the store in pieces of at least
 * MEMORY_INGEST_PIECE_BYTES (ingest.ts), not one write per element (which cost ~100 µs each:
 * 50 000 small elements took 6 s to ingest, a file of the same lines 1 s); the bytes stored are
 * exactly the lines a file would hold, so the input artifact (and the run id) does not change.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/store.js";
import { ingest, MEMORY_INGEST_PIECE_BYTES } from "../../src/batch/ingest.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-mem-pieces-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The store, with `put` recording the size of every piece it is handed. */
function countingStore(name: string): { store: Store; pieces: number[] } {
  const store = openStore({ dir: join(dir, name) });
  const pieces: number[] = [];
  const put = store.put.bind(store);
  store.put = ((source: AsyncIterable<Uint8Array>, opts?: Parameters<Store["put"]>[1]) => {
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        pieces.push(chunk.length);
        yield chunk;
      }
    }
    return put(counted(), opts);
  }) as Store["put"];
  return { store, pieces };
}

describe("in-memory dataset ingest", () => {
  it("stores the lines in pieces of at least MEMORY_INGEST_PIECE_BYTES, the same bytes as a file of them", async () => {
    const records = Array.from({ length: 20_000 }, (_, i) => ({ n: i, s: "x".repeat(i % 7) }));
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join("");
    expect(text.length).toBeGreaterThan(4 * MEMORY_INGEST_PIECE_BYTES);
    const { store, pieces } = countingStore("a");
    try {
      const mem = await ingest(store, records, "jsonl");
      // Every piece but the last is at least the piece size, and less than it plus one line.
      expect(pieces.length).toBeLessThan(Math.ceil(text.length / MEMORY_INGEST_PIECE_BYTES) + 1);
      for (const p of pieces.slice(0, -1)) expect(p).toBeGreaterThanOrEqual(MEMORY_INGEST_PIECE_BYTES);
      expect(pieces.reduce((a, b) => a + b, 0)).toBe(text.length);
      writeFileSync(join(dir, "in.jsonl"), text);
      const file = await ingest(store, join(dir, "in.jsonl"), "jsonl");
      expect(mem.artifact).toBe(file.artifact);
      expect(store.get(mem.artifact).toString("utf8")).toBe(text);
    } finally {
      store.close();
    }
  });

  it("a dataset smaller than a piece is one piece; an empty one stores the empty artifact", async () => {
    const { store, pieces } = countingStore("b");
    try {
      await ingest(store, [1, 2, 3], "jsonl");
      expect(pieces).toEqual([6]);
      pieces.length = 0;
      const empty = await ingest(store, [], "jsonl");
      expect(pieces).toEqual([]);
      expect(store.get(empty.artifact).length).toBe(0);
    } finally {
      store.close();
    }
  });
});
