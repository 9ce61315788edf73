/**
 * RFC 6962 / RFC 9162 Merkle trees over an ordered list of leaf digests.
 *
 *   MTH({})       = SHA-256("")
 *   MTH({d0})     = SHA-256(0x00 || d0)                  (leaf hash; d0 = 32 raw digest bytes)
 *   MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
 *                   where k is the largest power of two strictly less than n
 *
 * The 0x00 / 0x01 prefixes separate leaves from interior nodes, so no interior node can be
 * passed off as a leaf (second-preimage resistance). Everything is computed on raw Buffers;
 * hex Digest strings appear only at the API boundary.
 */
import { digestFromBytes, digestToBytes, isDigest, sha256Bin, sha256Buf, type Digest } from "./digest.js";
import { CairnError, ErrorCode } from "./errors.js";

/** MTH of the empty list: SHA-256 of the empty string. */
const EMPTY_ROOT: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Scratch inputs reused by every hash call (safe: hashing is synchronous and the result is a new Buffer).
const leafInput = Buffer.alloc(1 + 32); // 0x00 || leaf digest
const nodeInput = Buffer.alloc(1 + 64); // 0x01 || left || right
nodeInput[0] = 0x01;

/** SHA-256(0x00 || raw leaf digest); `raw` is 32 bytes. */
function leafHash(raw: Buffer): Buffer {
  raw.copy(leafInput, 1);
  return sha256Buf(leafInput);
}

/** SHA-256(0x01 || left || right); both are 32 bytes. */
function nodeHash(left: Buffer, right: Buffer): Buffer {
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 33);
  return sha256Buf(nodeInput);
}

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Leaf hashes for all leaves (validates each digest; throws E_DIGEST_INVALID on a bad one). */
function leafHashes(leaves: readonly Digest[]): Buffer[] {
  return leaves.map((d) => leafHash(digestToBytes(d)));
}

/** MTH of the leaf hashes hashes[lo:hi] (hi - lo >= 1). Recursion depth is log2(n). */
function subtreeRoot(hashes: readonly Buffer[], lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 1) return hashes[lo] as Buffer;
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(hashes, lo, lo + k), subtreeRoot(hashes, lo + k, hi));
}

/** The RFC 6962 Merkle tree hash of leaves given as 32 raw digest bytes each. */
export function merkleRootRaw(leaves: readonly Buffer[]): Digest {
  if (leaves.length === 0) return EMPTY_ROOT;
  for (const l of leaves) {
    if (l.length !== 32) throw new CairnError(ErrorCode.DIGEST_INVALID, `raw leaf digest must be 32 bytes, got ${l.length}`);
  }
  return digestFromBytes(subtreeRoot(leaves.map(leafHash), 0, leaves.length));
}

/** The RFC 6962 Merkle tree hash of `leaves`. */
export function merkleRoot(leaves: readonly Digest[]): Digest {
  if (leaves.length === 0) return EMPTY_ROOT;
  return digestFromBytes(subtreeRoot(leafHashes(leaves), 0, leaves.length));
}

/** An RFC 6962 audit path: sibling subtree hashes from the leaf up to (not including) the root. */
export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  path: Digest[];
}

/** RFC 6962 §2.1.1 PATH(m, D[lo:hi]), appending the siblings bottom-up to `out`. */
function auditPath(hashes: readonly Buffer[], m: number, lo: number, hi: number, out: Buffer[]): void {
  const n = hi - lo;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    auditPath(hashes, m, lo, lo + k, out);
    out.push(subtreeRoot(hashes, lo + k, hi));
  } else {
    auditPath(hashes, m - k, lo + k, hi, out);
    out.push(subtreeRoot(hashes, lo, lo + k));
  }
}

/** The audit path proving that `leaves[index]` is in the tree of `leaves`. Throws E_USAGE for a bad index. */
export function inclusionProof(leaves: readonly Digest[], index: number): InclusionProof {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new CairnError(ErrorCode.USAGE, `leaf index ${String(index)} is out of range for a tree of ${leaves.length} leaves`, {
      index,
      treeSize: leaves.length,
    });
  }
  const out: Buffer[] = [];
  auditPath(leafHashes(leaves), index, 0, leaves.length, out);
  return { leafIndex: index, treeSize: leaves.length, path: out.map(digestFromBytes) };
}

/**
 * Checks an inclusion proof with the RFC 9162 §2.1.3.2 algorithm. Returns false — never
 * throws — for a wrong or malformed leaf, proof or root.
 *
 * Note: as in RFC 9162, the proof binds the leaf to `root`; `treeSize` only steers the
 * left/right decisions. A proof can therefore also verify under another tree size whose
 * audit path has exactly the same shape (e.g. leaf 0 of size 3 vs size 4): compare
 * `treeSize` against a trusted (signed) tree head, not against the proof alone.
 */
export function verifyInclusion(leaf: Digest, proof: InclusionProof, root: Digest): boolean {
  try {
    if (!isDigest(leaf) || !isDigest(root) || typeof proof !== "object" || proof === null) return false;
    const { leafIndex, treeSize, path } = proof;
    if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return false;
    if (!Array.isArray(path) || !path.every(isDigest)) return false;

    // Division instead of >> keeps this exact for indices above 2^31.
    let fn = leafIndex;
    let sn = treeSize - 1;
    let r = leafHash(digestToBytes(leaf));
    for (const p of path) {
      if (sn === 0) return false;
      const sibling = digestToBytes(p);
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(sibling, r);
        // fn === sn and even: the node is on the right edge with no right sibling at these
        // levels, so it is promoted unchanged; climb until it is a right child (or the root side).
        while (fn % 2 === 0 && fn !== 0) {
          fn /= 2;
          sn = Math.floor(sn / 2);
        }
      } else {
        r = nodeHash(r, sibling);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && r.equals(digestToBytes(root));
  } catch {
    return false;
  }
}

/** SHA-256(0x01 || left || right) over binary-string hashes (see `sha256Bin`). */
function nodeHashBin(left: string, right: string): string {
  nodeInput.write(left, 1, 32, "latin1");
  nodeInput.write(right, 33, 32, "latin1");
  return sha256Bin(nodeInput);
}

/**
 * Streaming Merkle root in O(log n) memory over leaf HASHES (each the MTH of one leaf, as a
 * 32-character binary string). It keeps the roots of the perfect subtrees covering the leaves
 * so far, one per set bit of `size` (like a binary counter), largest first. The RFC 6962 root
 * is their right fold: H(s0, H(s1, … H(s_{k-1}, s_k))), which is exactly what the "largest
 * power of two" split produces.
 */
export class LeafHashStack {
  /** Roots of complete subtrees, largest (leftmost) first. */
  private readonly hashes: string[] = [];
  /** Height (log2 of leaf count) of each subtree in `hashes`. */
  private readonly heights: number[] = [];
  private count = 0;

  /** Appends a leaf hash given as a 32-character binary string. */
  push(leafHashBin: string): void {
    if (leafHashBin.length !== 32) throw new CairnError(ErrorCode.DIGEST_INVALID, `a leaf hash must be 32 bytes, got ${leafHashBin.length}`);
    let h = leafHashBin;
    let height = 0;
    // Merge equal-height subtrees, like carrying in binary addition.
    while (this.heights.length > 0 && this.heights[this.heights.length - 1] === height) {
      this.heights.pop();
      h = nodeHashBin(this.hashes.pop() as string, h);
      height++;
    }
    this.hashes.push(h);
    this.heights.push(height);
    this.count++;
  }

  /** Number of leaves added so far. */
  get size(): number {
    return this.count;
  }

  /** The Merkle root of the leaves added so far. */
  root(): Digest {
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let r = this.hashes[this.hashes.length - 1] as string;
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHashBin(this.hashes[i] as string, r);
    return digestFromBytes(Buffer.from(r, "latin1"));
  }
}

/** Streaming Merkle root over leaf digests (equals `merkleRoot` of the same list). */
export class MerkleBuilder {
  private readonly stack = new LeafHashStack();

  /** Appends a leaf digest. Throws E_DIGEST_INVALID for a malformed digest. */
  add(leaf: Digest): void {
    this.addRaw(digestToBytes(leaf));
  }

  /** Appends a leaf given as its 32 raw digest bytes (the hot path: no string parsing). */
  addRaw(leaf: Buffer): void {
    if (leaf.length !== 32) throw new CairnError(ErrorCode.DIGEST_INVALID, `raw leaf digest must be 32 bytes, got ${leaf.length}`);
    leaf.copy(leafInput, 1);
    this.stack.push(sha256Bin(leafInput));
  }

  /** Number of leaves added so far. */
  get size(): number {
    return this.stack.size;
  }

  /** The Merkle root of the leaves added so far (equals `merkleRoot` of the same list). */
  root(): Digest {
    return this.stack.root();
  }
}
