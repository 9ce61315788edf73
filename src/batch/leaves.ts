/**
 * Merkle leaf hashes of EU records, packed 32 bytes per EU, and the RFC 6962 trees built
 * from them (the same roots as `merkleRootRaw(texts.map(leafOf))` in records.ts).
 *
 * An EU record's *leaf* is SHA-256 of its canonical text; its *leaf hash* is the RFC 6962
 * MTH of that single leaf, SHA-256(0x00 || leaf). The sandbox worker computes the leaf hashes
 * of the records it produces (two SHA-256 per EU, off the main thread) and sends them packed
 * with its results, and the request's root. A pulse whose first request settles every EU takes
 * that root as its checksum (see `executePulse`); otherwise the main thread combines the final
 * leaves (n − 1 node hashes). The run's output digest costs about one node hash per EU. The
 * worker's leaf hashes and root are trusted outside the audit (user code shares the worker's
 * realm): an audited pulse re-hashes its records and re-derives the root on the main thread
 * (`auditPulse`), and `verify` recomputes every leaf and checksum from the stored records.
 *
 * The hash function (core `sha256Bin`) is captured when the modules load, before a worker
 * imports the user's module, so a function that replaces `crypto.hash` cannot change the leaves.
 */
import { sha256Bin, type Digest } from "../core/digest.js";
import { LeafHashStack } from "../core/merkle.js";

/** Bytes per packed leaf hash. */
export const LEAF_HASH_BYTES = 32;

// Scratch input (safe: hashing is synchronous and returns a new string).
const leafInput = Buffer.alloc(1 + LEAF_HASH_BYTES); // 0x00 || leaf

/** Writes the leaf hash of record `text`, SHA-256(0x00 || SHA-256(text)), at `out[offset…]`. */
export function writeLeafHash(text: string, out: Buffer, offset: number): void {
  leafInput.write(sha256Bin(text), 1, LEAF_HASH_BYTES, "latin1");
  if (out.write(sha256Bin(leafInput), offset, LEAF_HASH_BYTES, "latin1") !== LEAF_HASH_BYTES) {
    throw new RangeError(`no room for a leaf hash at offset ${offset} of a ${out.length}-byte buffer`);
  }
}

/** The packed leaf hashes of `texts`. */
export function leafHashesOf(texts: readonly string[]): Buffer {
  const out = Buffer.allocUnsafe(texts.length * LEAF_HASH_BYTES);
  for (let i = 0; i < texts.length; i++) writeLeafHash(texts[i] as string, out, i * LEAF_HASH_BYTES);
  return out;
}

/** A streaming RFC 6962 tree over packed leaf hashes. Equals `MerkleBuilder` fed the underlying leaves. */
export class LeafHashTree extends LeafHashStack {
  /** Appends the leaf hash at `packed[offset … offset + 32]`. */
  add(packed: Buffer, offset: number): void {
    this.push(packed.toString("latin1", offset, offset + LEAF_HASH_BYTES));
  }
}

/** The RFC 6962 root over `n` packed leaf hashes (a pulse's checksum). */
export function rootOfLeafHashes(packed: Buffer, n: number): Digest {
  if (packed.length !== n * LEAF_HASH_BYTES) throw new RangeError(`expected ${n} leaf hashes, got ${packed.length} bytes`);
  const t = new LeafHashTree();
  for (let i = 0; i < n; i++) t.add(packed, i * LEAF_HASH_BYTES);
  return t.root();
}
