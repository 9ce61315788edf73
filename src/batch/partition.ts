/**
 * Partitioning (PLEX §4.3): `partition = stable_hash(id) % N`. (The output order of ids is the
 * ordering index's: order-index.ts `sortKey`.)
 *
 * The hash (a stable, documented contract — changing it changes every run's pulses):
 *
 *   stable_hash(id) = FNV-1a 64 over canonicalBytes(id)
 *
 * where canonicalBytes is the RFC 8785 canonical JSON of the id as UTF-8 (src/core/canonical.ts):
 * the number 1 hashes the byte `1`, the string "1" the three bytes `"1"`. FNV-1a 64:
 *
 *   h = 0xcbf29ce484222325
 *   for each byte b: h = (h XOR b) * 0x100000001b3  mod 2^64
 *
 * and the partition is the unsigned 64-bit h modulo N, for 1 ≤ N ≤ 2^31. Test vectors:
 * FNV-1a 64 of "" = 0xcbf29ce484222325, of "a" = 0xaf63dc4c8601ec8c, of "foobar" =
 * 0x85944171f73967e8. In any language with unsigned 64-bit integers this is a five-line loop.
 *
 * The implementation keeps h as two 32-bit halves in doubles (no BigInt on the hot path):
 * multiplying by 2^40 + 0x1b3 is `lo·0x1b3` (exact, < 2^41, its upper part carries into hi)
 * plus `hi·0x1b3 + (lo << 8)` in the high half; `h mod N` is computed as
 * `(((hi mod N)·2^16 mod N)·2^16 + lo) mod N`, every intermediate below 2^48. Common ids
 * (numbers, printable-ASCII strings) are hashed straight from the JS value without building
 * the canonical bytes; everything else goes through canonicalBytes (so invalid ids — NaN, lone
 * surrogates — throw E_CANONICAL like anywhere else).
 */
import { isUint8Array } from "node:util/types";
import { canonicalBytes } from "../core/canonical.js";
import { UsageError } from "../core/errors.js";
import type { EUId } from "./input/types.js";

/** Largest partition count partitionOf supports (the modulo stays exact below 2^53). */
export const MAX_PARTITION_COUNT = 2 ** 31;

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
/** The low part of the FNV prime 2^40 + 0x1b3. */
const PRIME_LO = 0x1b3;
const TWO_32 = 4294967296;

// The result of the last hash (module-level: no allocation per call).
let hashHi = 0;
let hashLo = 0;

/** FNV-1a 64 of `bytes` into (hashHi, hashLo). */
function hashBytes(bytes: Uint8Array): void {
  let hi = OFFSET_HI;
  let lo = OFFSET_LO;
  for (let i = 0; i < bytes.length; i++) {
    // h = (h ^ b) * (2^40 + 0x1b3) mod 2^64, on 32-bit halves:
    lo = (lo ^ (bytes[i] as number)) >>> 0;
    const p = lo * PRIME_LO; // exact: < 2^41
    const pLo = p >>> 0;
    // hi·0x1b3 (low 32 bits) + carry out of lo·0x1b3 + lo·2^8 (the 2^40 term above bit 32).
    hi = (Math.imul(hi, PRIME_LO) + (p - pLo) / TWO_32 + (lo << 8)) >>> 0;
    lo = pLo;
  }
  hashHi = hi;
  hashLo = lo;
}

/**
 * FNV-1a 64 of the canonical bytes of `id` into (hashHi, hashLo). Numbers and strings of
 * printable ASCII other than `"` and `\` are hashed straight from their code units (their
 * canonical bytes are exactly those, plus the quotes for strings); anything else goes through
 * canonicalBytes.
 */
function hashId(id: EUId): void {
  let s: string;
  let quoted: boolean;
  if (typeof id === "number" && Number.isFinite(id)) {
    s = String(id); // Number::toString is the canonical form (-0 → "0"); pure ASCII
    quoted = false;
  } else if (typeof id === "string") {
    s = id;
    quoted = true;
  } else {
    hashBytes(canonicalBytes(id));
    return;
  }
  let hi = OFFSET_HI;
  let lo = OFFSET_LO;
  const n = s.length;
  for (let i = quoted ? -1 : 0; i <= n; i++) {
    let c: number;
    if (i === -1 || i === n) {
      if (!quoted) break;
      c = 0x22;
    } else {
      c = s.charCodeAt(i);
      if (quoted && (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c)) {
        hashBytes(canonicalBytes(id));
        return;
      }
    }
    lo = (lo ^ c) >>> 0;
    const p = lo * PRIME_LO;
    const pLo = p >>> 0;
    hi = (Math.imul(hi, PRIME_LO) + (p - pLo) / TWO_32 + (lo << 8)) >>> 0;
    lo = pLo;
  }
  hashHi = hi;
  hashLo = lo;
}

/**
 * FNV-1a 64 of raw `bytes`, as an unsigned 64-bit BigInt. stable_hash(id) is
 * `stableHash64(canonicalBytes(id))`, i.e. `idHash64(id)`. Anything but bytes is E_USAGE (a
 * string would otherwise hash as something that is neither).
 */
export function stableHash64(bytes: Uint8Array): bigint {
  if (!isUint8Array(bytes)) throw new UsageError(`stableHash64 hashes bytes (a Uint8Array), got ${typeof bytes}; idHash64 hashes an EU id`);
  hashBytes(bytes);
  return (BigInt(hashHi) << 32n) | BigInt(hashLo);
}

/** stable_hash(id): FNV-1a 64 of the id's canonical bytes, as an unsigned BigInt. */
export function idHash64(id: EUId): bigint {
  hashId(id);
  return (BigInt(hashHi) << 32n) | BigInt(hashLo);
}

/** Throws E_USAGE unless 1 ≤ partitions ≤ MAX_PARTITION_COUNT (an integer). */
export function checkPartitionCount(partitions: number): void {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITION_COUNT) {
    throw new UsageError(`the partition count must be an integer from 1 to ${MAX_PARTITION_COUNT}, got ${String(partitions)}`, {
      partitions,
    });
  }
}

/** The partition of `id`: stable_hash(id) mod `partitions`, in [0, partitions). */
export function partitionOf(id: EUId, partitions: number): number {
  checkPartitionCount(partitions);
  hashId(id);
  let x = hashHi % partitions;
  x = (x * 65536) % partitions;
  return (x * 65536 + hashLo) % partitions;
}
