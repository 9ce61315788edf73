/**
 * Merkle leaf hashes of EU records, packed 32 bytes per EU, and the RFC 6962 trees built
 * from them (the same roots as `merkleRootRaw(texts.map(leafOf))` in records.ts).
 *
 * An EU record's *leaf* is SHA-256 of its canonical text; its *leaf hash* is the RFC 6962
 * MTH of that single leaf, SHA-256(0x00 || leaf). The sandbox worker computes the leaf hashes
 * of the records it produces (two SHA-256 per EU, off the main thread) and sends them packed
 * with its results; the main thread then only combines them: a pulse's checksum needs n − 1
 * node hashes and the run's output digest about one per EU. The worker's leaf hashes
 * are trusted outside the audit (user code shares the worker's realm): an audited pulse
 * re-hashes its records on the main thread (`auditPulse`), and `verify` recomputes every leaf
 * from the stored records.
 *
 * The hash function is captured when this module loads, before a worker imports the user's
 * module, so a function that replaces `crypto.hash` cannot change the leaves.
 */
import { createHash, hash as oneShotHash } from "node:crypto";
import type { Digest } from "../core/digest.js";

/** Bytes per packed leaf hash. */
export const LEAF_HASH_BYTES = 32;
/** MTH of the empty list: SHA-256 of the empty string. */
const EMPTY_ROOT: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const sha = (typeof oneShotHash === "function"
  ? (data: Uint8Array | string): Buffer => oneShotHash("sha256", data, "buffer") as Buffer
  : (data: Uint8Array | string): Buffer => createHash("sha256").update(data).digest());

// Scratch inputs (safe: hashing is synchronous and each call returns a new Buffer).
const leafInput = Buffer.alloc(1 + LEAF_HASH_BYTES); // 0x00 || leaf
const nodeInput = Buffer.alloc(1 + 2 * LEAF_HASH_BYTES); // 0x01 || left || right
nodeInput[0] = 0x01;

/** Writes the leaf hash of record `text`, SHA-256(0x00 || SHA-256(text)), at `out[offset…]`. */
export function writeLeafHash(text: string, out: Uint8Array, offset: number): void {
  sha(text).copy(leafInput, 1);
  out.set(sha(leafInput), offset);
}

/** The packed leaf hashes of `texts`. */
export function leafHashesOf(texts: readonly string[]): Buffer {
  const out = Buffer.allocUnsafe(texts.length * LEAF_HASH_BYTES);
  for (let i = 0; i < texts.length; i++) writeLeafHash(texts[i] as string, out, i * LEAF_HASH_BYTES);
  return out;
}

function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + LEAF_HASH_BYTES);
  return sha(nodeInput);
}

/**
 * A streaming RFC 6962 tree over leaf hashes: the stack of complete subtrees, merged like a
 * binary counter. Equals `MerkleBuilder` fed the underlying leaves.
 */
export class LeafHashTree {
  private readonly hashes: Uint8Array[] = [];
  private readonly heights: number[] = [];
  private count = 0;

  /** Appends the leaf hash at `packed[offset … offset + 32]`. */
  add(packed: Uint8Array, offset: number): void {
    let h: Uint8Array = packed.subarray(offset, offset + LEAF_HASH_BYTES);
    let height = 0;
    while (this.heights.length > 0 && this.heights[this.heights.length - 1] === height) {
      this.heights.pop();
      h = nodeHash(this.hashes.pop() as Uint8Array, h);
      height++;
    }
    // A leaf kept on the stack must not alias a buffer the caller may reuse.
    this.hashes.push(height === 0 ? Buffer.from(h) : h);
    this.heights.push(height);
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  root(): Digest {
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let r = this.hashes[this.hashes.length - 1] as Uint8Array;
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHash(this.hashes[i] as Uint8Array, r);
    return `sha256:${Buffer.from(r).toString("hex")}` as Digest;
  }
}

/** The RFC 6962 root over `n` packed leaf hashes (a pulse's checksum). */
export function rootOfLeafHashes(packed: Uint8Array, n: number): Digest {
  if (packed.length !== n * LEAF_HASH_BYTES) throw new RangeError(`expected ${n} leaf hashes, got ${packed.length} bytes`);
  const t = new LeafHashTree();
  for (let i = 0; i < n; i++) t.add(packed, i * LEAF_HASH_BYTES);
  return t.root();
}
