import { describe, expect, it } from "vitest";
import { MerkleBuilder, merkleRoot } from "../../src/core/merkle.js";
import { sha256 } from "../../src/core/digest.js";
import { LEAF_HASH_BYTES, LeafHashTree, leafHashesOf, rootOfLeafHashes } from "../../src/batch/leaves.js";
import { checksumOf, leafOf } from "../../src/batch/records.js";

const texts = (n: number): string[] => Array.from({ length: n }, (_, i) => `{"id":${i},"output":${JSON.stringify("x".repeat(i % 7))}}`);

describe("leaf hashes (worker-side hashing)", () => {
  it("a pulse's root from packed leaf hashes equals checksumOf over the record texts, at every size up to 70", () => {
    for (let n = 0; n <= 70; n++) {
      const t = texts(n);
      const packed = leafHashesOf(t);
      expect(packed.length).toBe(n * LEAF_HASH_BYTES);
      expect(rootOfLeafHashes(packed, n)).toBe(checksumOf(t));
      expect(rootOfLeafHashes(packed, n)).toBe(merkleRoot(t.map((x) => sha256(x))));
    }
  });

  it("the streaming tree equals MerkleBuilder, fed from several buffers that are reused afterwards", () => {
    const t = texts(1000);
    const tree = new LeafHashTree();
    const ref = new MerkleBuilder();
    for (let lo = 0; lo < t.length; lo += 37) {
      const chunk = t.slice(lo, lo + 37);
      const packed = leafHashesOf(chunk);
      for (let k = 0; k < chunk.length; k++) tree.add(packed, k * LEAF_HASH_BYTES);
      packed.fill(0xab); // the tree must not keep views of the caller's buffer
      for (const x of chunk) ref.addRaw(leafOf(x));
      expect(tree.root()).toBe(ref.root());
    }
    expect(tree.size).toBe(1000);
  });

  it("rejects a packed buffer of the wrong length", () => {
    expect(() => rootOfLeafHashes(Buffer.alloc(31), 1)).toThrow(RangeError);
  });
});
