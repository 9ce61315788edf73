import { describe, expect, it } from "vitest";
import { MerkleBuilder } from "../../src/core/merkle.js";
import { LEAF_HASH_BYTES, leafHashesOf } from "../../src/batch/leaves.js";
import { leafOf } from "../../src/batch/records.js";
import { TREE_CHUNK_LEAVES, TREE_MAX_CHUNKS_IN_FLIGHT, TREE_WORKER_MIN_MEMORY_BYTES, outputTree } from "../../src/batch/output-tree.js";

async function rootVia(texts: string[], minForHelper: number): Promise<{ root: string; size: number }> {
  const tree = outputTree(texts.length, TREE_WORKER_MIN_MEMORY_BYTES, minForHelper);
  try {
    const packed = leafHashesOf(texts);
    for (let i = 0; i < texts.length; i++) if (!tree.add(packed, i * LEAF_HASH_BYTES)) await tree.drain();
    return { root: await tree.root(), size: tree.size };
  } finally {
    await tree.close();
  }
}

describe("the output tree (run output digest)", () => {
  it("the helper thread and the main thread give MerkleBuilder's root, across chunk boundaries and backpressure", async () => {
    const n = TREE_CHUNK_LEAVES * (TREE_MAX_CHUNKS_IN_FLIGHT + 1) + 123;
    const texts = Array.from({ length: n }, (_, i) => `{"id":${i},"output":${i % 13}}`);
    const ref = new MerkleBuilder();
    for (const t of texts) ref.addRaw(leafOf(t));
    const expected = { root: ref.root(), size: n };
    expect(await rootVia(texts, 1)).toEqual(expected);
    expect(await rootVia(texts, Number.MAX_SAFE_INTEGER)).toEqual(expected);
  });

  it("small and empty trees on the helper too", async () => {
    for (const n of [0, 1, 2, 3, 5, 8]) {
      const texts = Array.from({ length: n }, (_, i) => `t${i}`);
      const ref = new MerkleBuilder();
      for (const t of texts) ref.addRaw(leafOf(t));
      expect(await rootVia(texts, 0)).toEqual({ root: ref.root(), size: n });
    }
  });
});
