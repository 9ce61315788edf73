import { createHash } from "node:crypto";
import { describe, it, expect, vi } from "vitest";
import fc from "fast-check";
import { LeafHashStack, MerkleBuilder, inclusionProof, merkleRoot, verifyInclusion, type InclusionProof } from "../../src/core/merkle.js";
import type { Digest } from "../../src/core/digest.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";

// ---- An independent reference built straight from node:crypto (no code from merkle.ts). ----

const H = (...parts: Buffer[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const raw = (d: string): Buffer => Buffer.from(d.slice("sha256:".length), "hex");
const hex = (b: Buffer): Digest => `sha256:${b.toString("hex")}`;
const leafH = (d: string): Buffer => H(Buffer.from([0]), raw(d));
const nodeH = (l: Buffer, r: Buffer): Buffer => H(Buffer.from([1]), l, r);
const dig = (s: string): Digest => hex(H(Buffer.from(s, "utf8")));

/** Distinct leaf digests. */
const makeLeaves = (n: number, salt = ""): Digest[] => Array.from({ length: n }, (_, i) => dig(`${salt}leaf-${i}`));

/** Recursive MTH from RFC 6962 §2.1, written with array slices. */
function refRoot(leaves: readonly string[]): Buffer {
  if (leaves.length === 0) return H();
  if (leaves.length === 1) return leafH(leaves[0] as string);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeH(refRoot(leaves.slice(0, k)), refRoot(leaves.slice(k)));
}

/** Which side each audit-path sibling is on (bottom-up), from the RFC 6962 PATH definition. */
function refShape(m: number, n: number): string {
  if (n <= 1) return "";
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m < k ? `${refShape(m, k)}R` : `${refShape(m - k, n - k)}L`;
}

/** `d` with bit `bit` (0..255) flipped. */
function flipBit(d: Digest, bit: number): Digest {
  const b = raw(d);
  b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
  return hex(b);
}

const EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("merkleRoot", () => {
  it("empty tree is SHA-256 of the empty string", () => {
    expect(merkleRoot([])).toBe(EMPTY);
    expect(hex(H())).toBe(EMPTY);
  });

  it("matches hand-written RFC 6962 splits for 1, 2, 3, 5 and 7 leaves", () => {
    const L = makeLeaves(7);
    const l = L.map(leafH);
    const [l0, l1, l2, l3, l4, l5, l6] = l as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const n01 = nodeH(l0, l1);
    const n23 = nodeH(l2, l3);
    const n0123 = nodeH(n01, n23);
    expect(merkleRoot(L.slice(0, 1))).toBe(hex(l0));
    expect(merkleRoot(L.slice(0, 2))).toBe(hex(n01));
    expect(merkleRoot(L.slice(0, 3))).toBe(hex(nodeH(n01, l2)));
    expect(merkleRoot(L.slice(0, 5))).toBe(hex(nodeH(n0123, l4)));
    expect(merkleRoot(L.slice(0, 7))).toBe(hex(nodeH(n0123, nodeH(nodeH(l4, l5), l6))));
  });

  it("pins the root of [sha256(a), sha256(b), sha256(c)]", () => {
    const leaves = [dig("a"), dig("b"), dig("c")];
    expect(merkleRoot(leaves)).toBe("sha256:cac3d448d4e20a2ad5eae1f500e63c2a7f9217cd14572ba7fd22e26dc1ec2648");
    expect(merkleRoot(leaves)).toBe(hex(refRoot(leaves)));
  });

  it("a leaf is not its own root's digest (domain separation) and order matters", () => {
    const [a, b] = makeLeaves(2) as [Digest, Digest];
    expect(merkleRoot([a])).not.toBe(a);
    expect(merkleRoot([a, b])).not.toBe(merkleRoot([b, a]));
  });

  it("matches the recursive reference for n = 0..64", () => {
    for (let n = 0; n <= 64; n++) {
      const leaves = makeLeaves(n, "ref");
      expect(merkleRoot(leaves), `n=${n}`).toBe(hex(refRoot(leaves)));
    }
  });

  it("rejects malformed leaf digests", () => {
    expect(() => merkleRoot(["sha256:xyz" as Digest])).toThrow(CairnError);
  });
});

describe("inclusionProof", () => {
  it("matches hand-written audit paths for 7 leaves", () => {
    const L = makeLeaves(7);
    const [l0, l1, l2, l3, l4, l5, l6] = L.map(leafH) as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    const n0123 = nodeH(nodeH(l0, l1), nodeH(l2, l3));
    expect(inclusionProof(L, 4)).toEqual({ leafIndex: 4, treeSize: 7, path: [hex(l5), hex(l6), hex(n0123)] });
    expect(inclusionProof(L, 6)).toEqual({ leafIndex: 6, treeSize: 7, path: [hex(nodeH(l4, l5)), hex(n0123)] });
    expect(inclusionProof(L, 0).path).toEqual([hex(l1), hex(nodeH(l2, l3)), hex(nodeH(nodeH(l4, l5), l6))]);
    expect(inclusionProof(L.slice(0, 1), 0).path).toEqual([]);
  });

  it.each([-1, 7, 1.5, NaN, Infinity])("throws E_USAGE for index %s", (index) => {
    try {
      inclusionProof(makeLeaves(7), index);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe(ErrorCode.USAGE);
    }
    expect(() => inclusionProof([], 0)).toThrow(/out of range/);
  });
});

describe("verifyInclusion", () => {
  it("every proof verifies for n = 1..200, and tampering fails", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.string({ maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (n, salt, pick, bit) => {
          const leaves = makeLeaves(n, salt);
          const root = merkleRoot(leaves);
          for (let i = 0; i < n; i++) {
            const proof = inclusionProof(leaves, i);
            expect(proof.path.length).toBe(refShape(i, n).length);
            expect(verifyInclusion(leaves[i] as Digest, proof, root)).toBe(true);
          }

          // Tamper with one proof (chosen by `pick`).
          const i = pick % n;
          const leaf = leaves[i] as Digest;
          const proof = inclusionProof(leaves, i);
          expect(verifyInclusion(flipBit(leaf, bit), proof, root)).toBe(false);
          expect(verifyInclusion(leaf, proof, flipBit(root, bit))).toBe(false);
          proof.path.forEach((p, j) => {
            const path = [...proof.path];
            path[j] = flipBit(p, (bit + j) % 256);
            expect(verifyInclusion(leaf, { ...proof, path }, root)).toBe(false);
          });
          // Any other leaf index fails (the leaves are distinct).
          for (const j of [i - 1, i + 1, pick % (n + 3), -1, n]) {
            if (j !== i) expect(verifyInclusion(leaf, { ...proof, leafIndex: j }, root)).toBe(false);
          }
          // A different tree size fails unless its audit path has exactly the same shape
          // (RFC 9162 binds the size only through the root; see verifyInclusion's doc comment).
          for (const m of [n - 1, n + 1, n * 2, 1 + (pick % (2 * n)), 0, -1]) {
            if (m === n) continue;
            const sameShape = m > i && refShape(i, m) === refShape(i, n);
            expect(verifyInclusion(leaf, { ...proof, treeSize: m }, root)).toBe(sameShape);
          }
          // Truncated or extended paths fail.
          if (proof.path.length > 0) expect(verifyInclusion(leaf, { ...proof, path: proof.path.slice(0, -1) }, root)).toBe(false);
          expect(verifyInclusion(leaf, { ...proof, path: [...proof.path, leaf] }, root)).toBe(false);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("a proof for leaf 0 of 3 also verifies as size 4 (same path shape), as RFC 9162 allows", () => {
    const leaves = makeLeaves(3);
    const proof = inclusionProof(leaves, 0);
    expect(refShape(0, 3)).toBe(refShape(0, 4));
    expect(verifyInclusion(leaves[0] as Digest, { ...proof, treeSize: 4 }, merkleRoot(leaves))).toBe(true);
    expect(verifyInclusion(leaves[0] as Digest, { ...proof, treeSize: 5 }, merkleRoot(leaves))).toBe(false);
  });

  it("returns false, never throws, for malformed input", () => {
    const leaves = makeLeaves(5);
    const root = merkleRoot(leaves);
    const leaf = leaves[2] as Digest;
    const good = inclusionProof(leaves, 2);
    expect(verifyInclusion(leaf, good, root)).toBe(true);
    const bad: unknown[] = [
      null,
      undefined,
      42,
      {},
      { ...good, path: "nope" },
      { ...good, path: [...good.path.slice(0, -1), "sha256:00"] },
      { ...good, path: [...good.path.slice(0, -1), 7] },
      { ...good, leafIndex: 1.5 },
      { ...good, leafIndex: "2" },
      { ...good, treeSize: NaN },
      { ...good, treeSize: Infinity },
      { ...good, leafIndex: 5 },
      { ...good, leafIndex: 2 ** 60, treeSize: 2 ** 61 },
    ];
    for (const p of bad) expect(verifyInclusion(leaf, p as InclusionProof, root)).toBe(false);
    expect(verifyInclusion("sha256:abc" as Digest, good, root)).toBe(false);
    expect(verifyInclusion(leaf, good, "sha256:ABC" as Digest)).toBe(false);
    expect(verifyInclusion(leaf, good, root.toUpperCase() as Digest)).toBe(false);
    expect(verifyInclusion(null as unknown as Digest, good, root)).toBe(false);
  });

  it("handles large indices exactly (no 32-bit shifts)", () => {
    // A single-element path for the last leaf of a size 2^40 + 1 tree: fn == sn, climbs 40 levels.
    const leaf = dig("big");
    const left = dig("left-subtree-root");
    const root = hex(nodeH(raw(left), leafH(leaf)));
    const proof = { leafIndex: 2 ** 40, treeSize: 2 ** 40 + 1, path: [left] };
    expect(verifyInclusion(leaf, proof, root)).toBe(true);
    expect(verifyInclusion(leaf, { ...proof, treeSize: 2 ** 40 + 2 }, root)).toBe(false);
  });
});

describe("MerkleBuilder", () => {
  it("root equals merkleRoot for every n = 0..300", () => {
    const leaves = makeLeaves(300, "builder");
    const b = new MerkleBuilder();
    expect(b.size).toBe(0);
    expect(b.root()).toBe(EMPTY);
    for (let n = 1; n <= 300; n++) {
      b.add(leaves[n - 1] as Digest);
      expect(b.size).toBe(n);
      const prefix = leaves.slice(0, n);
      expect(b.root(), `n=${n}`).toBe(merkleRoot(prefix));
      if (n <= 40) expect(b.root()).toBe(hex(refRoot(prefix)));
    }
  });

  it("root() does not disturb later additions", () => {
    const leaves = makeLeaves(9);
    const a = new MerkleBuilder();
    const b = new MerkleBuilder();
    for (const l of leaves) {
      a.add(l);
      a.root();
      b.add(l);
    }
    expect(a.root()).toBe(b.root());
  });

  it("rejects malformed digests without changing state", () => {
    const b = new MerkleBuilder();
    b.add(dig("x"));
    expect(() => b.add("sha256:nope" as Digest)).toThrow(CairnError);
    expect(b.size).toBe(1);
    expect(b.root()).toBe(merkleRoot([dig("x")]));
  });
});

describe("hash backend", () => {
  it("falls back to createHash when crypto.hash is unavailable (Node < 20.12)", async () => {
    vi.resetModules();
    let createHashCalls = 0;
    vi.doMock("node:crypto", async (importOriginal) => {
      const real = await importOriginal<typeof import("node:crypto")>();
      const createHash: typeof real.createHash = (...args) => {
        createHashCalls++;
        return real.createHash(...args);
      };
      return { ...real, createHash, hash: undefined };
    });
    try {
      const fallback = await import("../../src/core/merkle.js");
      expect(fallback.merkleRoot([dig("x")])).toBe(hex(leafH(dig("x"))));
      expect(createHashCalls).toBeGreaterThan(0);
      for (const n of [0, 1, 2, 3, 5, 7, 33]) {
        const leaves = makeLeaves(n, "fallback");
        expect(fallback.merkleRoot(leaves)).toBe(hex(refRoot(leaves)));
        const b = new fallback.MerkleBuilder();
        for (const l of leaves) b.add(l);
        expect(b.root()).toBe(merkleRoot(leaves));
        if (n > 0) expect(fallback.verifyInclusion(leaves[n - 1] as Digest, inclusionProof(leaves, n - 1), merkleRoot(leaves))).toBe(true);
      }
    } finally {
      vi.doUnmock("node:crypto");
      vi.resetModules();
    }
  });
});

describe("LeafHashStack", () => {
  it("refuses a leaf hash that is not 32 bytes", () => {
    const st = new LeafHashStack();
    expect(() => st.push("x".repeat(31))).toThrow(/32 bytes/);
    st.push("y".repeat(32));
    expect(st.size).toBe(1);
  });
});
