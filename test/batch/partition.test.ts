import { runInNewContext } from "node:vm";
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { canonicalBytes } from "../../src/core/canonical.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { idHash64, MAX_PARTITION_COUNT, partitionOf, stableHash64 } from "../../src/batch/partition.js";
import type { EUId } from "../../src/batch/input/types.js";

/** Reference FNV-1a 64 with BigInt, straight from the definition. */
function fnv1a64Reference(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** Ids whose canonical form exists (no lone surrogates). */
const idArb: fc.Arbitrary<EUId> = fc.oneof(
  fc.nat(),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: "binary" }).filter((s) => !/[\uD800-\uDFFF]/u.test(s)),
  fc.constantFrom("", "\"", "\\", "\n", "a\u0000b", "\u007f", "€", "😀", "a!", "a", "A", "-1", "1"),
);

describe("stableHash64 (FNV-1a 64)", () => {
  it("matches the published test vectors", () => {
    expect(stableHash64(Buffer.from(""))).toBe(0xcbf29ce484222325n);
    expect(stableHash64(Buffer.from("a"))).toBe(0xaf63dc4c8601ec8cn);
    expect(stableHash64(Buffer.from("foobar"))).toBe(0x85944171f73967e8n);
  });

  it("matches a BigInt reference on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(stableHash64(bytes)).toBe(fnv1a64Reference(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it("refuses anything but bytes (a string would hash as neither its bytes nor its id)", () => {
    expect(() => stableHash64("a" as unknown as Uint8Array)).toThrow(/stableHash64 hashes bytes \(a Uint8Array\), got string; idHash64 hashes an EU id/);
    expect(idHash64("a")).toBe(stableHash64(Buffer.from('"a"')));
    // bytes from another realm (a vm context) are bytes too
    expect(stableHash64(runInNewContext("new Uint8Array([97])") as Uint8Array)).toBe(0xaf63dc4c8601ec8cn);
  });

  it("idHash64 hashes the canonical bytes of the id (fast paths included)", () => {
    expect(idHash64(1)).toBe(fnv1a64Reference(Buffer.from("1")));
    expect(idHash64("1")).toBe(fnv1a64Reference(Buffer.from('"1"')));
    expect(idHash64(-0)).toBe(idHash64(0));
    expect(idHash64("a\nb")).toBe(fnv1a64Reference(Buffer.from('"a\\nb"')));
    fc.assert(
      fc.property(idArb, (id) => {
        expect(idHash64(id)).toBe(fnv1a64Reference(canonicalBytes(id)));
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects ids without a canonical form", () => {
    expect(() => idHash64(Number.NaN)).toThrow(CairnError);
    expect(() => idHash64("\uD800")).toThrow(/lone surrogate/);
  });
});

describe("partitionOf", () => {
  // Pinned: computed once and cross-checked with fnv1a64Reference(canonicalBytes(id)) % N.
  // These must never change: they define which pulse every EU of every run lands in.
  const N = [1, 2, 7, 8, 1000, 65536, 2 ** 31 - 1, 2 ** 31];
  const pinned: Array<[EUId, string, number[]]> = [
    [0, "af63ad4c86019caf", [0, 1, 4, 7, 79, 40111, 1690892106, 100768943]],
    [1, "af63ac4c86019afc", [0, 0, 1, 4, 868, 39676, 1690891159, 100768508]],
    [2, "af63af4c8601a015", [0, 1, 3, 5, 501, 40981, 1690894000, 100769813]],
    [42, "07ee7e07b4b19223", [0, 1, 5, 3, 691, 37411, 1150193202, 884052515]],
    [1000000, "abb4c8205c0ca07c", [0, 0, 4, 4, 196, 41084, 863383743, 1544331388]],
    [-5, "07d00f07b497d7f7", [0, 1, 0, 7, 815, 55287, 1144518150, 882366455]],
    [12345678901, "9258236d9eeac02f", [0, 1, 1, 7, 559, 49199, 1134233356, 518701103]],
    ["1", "d536c417d8ae0efa", [0, 0, 6, 2, 450, 3834, 52139821, 1487802106]],
    ["a", "d4272417d7c77eea", [0, 0, 1, 2, 354, 32490, 1427229, 1472691946]],
    ["hello world", "fef92aed3625ff7f", [0, 1, 2, 7, 735, 65407, 874009949, 908459903]],
    ["é", "162b0081d9700039", [0, 1, 4, 1, 945, 57, 96862525, 1500512313]],
  ];

  it.each(pinned)("pinned: %j", (id, hash, parts) => {
    expect(idHash64(id).toString(16).padStart(16, "0")).toBe(hash);
    expect(fnv1a64Reference(canonicalBytes(id)).toString(16).padStart(16, "0")).toBe(hash);
    expect(N.map((n) => partitionOf(id, n))).toEqual(parts);
  });

  it("is in [0, N), deterministic and equal to hash mod N (property)", () => {
    fc.assert(
      fc.property(idArb, fc.integer({ min: 1, max: MAX_PARTITION_COUNT }), (id, n) => {
        const p = partitionOf(id, n);
        expect(Number.isInteger(p)).toBe(true);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
        expect(partitionOf(id, n)).toBe(p);
        expect(BigInt(p)).toBe(fnv1a64Reference(canonicalBytes(id)) % BigInt(n));
      }),
      { numRuns: 2000 },
    );
  });

  it("numeric 1 and string \"1\" are different ids", () => {
    expect(idHash64(1)).not.toBe(idHash64("1"));
  });

  it("spreads sequential index ids evenly", () => {
    for (const n of [2, 7, 8, 64]) {
      const counts = new Array<number>(n).fill(0);
      const total = 100_000;
      for (let i = 0; i < total; i++) counts[partitionOf(i, n)]! += 1;
      for (const c of counts) expect(Math.abs(c - total / n) / (total / n)).toBeLessThan(0.05);
    }
  });

  it("rejects bad partition counts with E_USAGE", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31 + 1, Infinity]) {
      try {
        partitionOf(1, bad);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CairnError);
        expect((err as CairnError).code).toBe(ErrorCode.USAGE);
      }
    }
  });
});
