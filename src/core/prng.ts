/**
 * Seeded pseudo-random numbers for deterministic execution.
 *
 * NOT cryptographic: outputs are predictable from a few observed values. Use these only
 * where reproducibility is the point (sampling, shuffling, simulated inputs), never for keys,
 * tokens or anything an adversary must not guess.
 *
 *  - `splitmix64`: Steele, Lea & Flood's SplitMix64 (the reference constants), on BigInt. Used
 *    to expand a 64-bit seed into generator state.
 *  - `Xoshiro128`: Blackman & Vigna's xoshiro128** 1.1, a 32-bit generator with 128 bits of
 *    state and period 2^128 − 1 (every state except all-zero, which is a fixed point).
 *  - `deriveSeed`: a stable 64-bit seed from structured parts (e.g. run seed + EU id).
 */
import { sha256Raw } from "./digest.js";
import { canonicalize } from "./canonical.js";
import { CairnError, ErrorCode } from "./errors.js";

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;

/**
 * Reference SplitMix64: each call advances the state by the golden gamma 0x9e3779b97f4a7c15
 * and returns a mix of it. All arithmetic is mod 2^64; the seed is reduced mod 2^64.
 */
export function splitmix64(seed: bigint): () => bigint {
  let state = BigInt.asUintN(64, seed);
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  };
}

/** 32-bit rotate left. */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Converts a seed to a uint64: bigint/number must be integers in [0, 2^64); strings are hashed. */
function seedToUint64(seed: bigint | number | string): bigint {
  if (typeof seed === "string") {
    // First 8 bytes of SHA-256(UTF-8(seed)), read big-endian.
    return sha256Raw(Buffer.from(seed, "utf8")).readBigUInt64BE(0);
  }
  if (typeof seed === "number") {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new CairnError(ErrorCode.USAGE, `PRNG seed must be a non-negative safe integer, got ${String(seed)}`, { seed });
    }
    return BigInt(seed);
  }
  if (typeof seed === "bigint" && seed >= 0n && seed <= MASK64) return seed;
  throw new CairnError(ErrorCode.USAGE, `PRNG seed must be an integer in [0, 2^64) or a string, got ${String(seed)}`, {
    seed: String(seed),
  });
}

/**
 * xoshiro128** 1.1 (Blackman & Vigna, 2018): 128-bit state as four uint32 words, 32-bit
 * outputs, period 2^128 − 1. The all-zero state is invalid (the generator would emit zeros
 * forever), so the constructor rejects it and `fromSeed` never produces it.
 */
export class Xoshiro128 {
  // Stored as int32 (the natural result of JS bitwise ops); `state()` reports uint32.
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Creates a generator from an explicit state; each word must be an integer in [0, 2^32), not all zero. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    for (const w of [s0, s1, s2, s3]) {
      if (!Number.isInteger(w) || w < 0 || w >= TWO_POW_32) {
        throw new CairnError(ErrorCode.USAGE, `xoshiro128 state words must be integers in [0, 2^32), got ${String(w)}`);
      }
    }
    if (s0 === 0 && s1 === 0 && s2 === 0 && s3 === 0) {
      throw new CairnError(ErrorCode.USAGE, "xoshiro128 state must not be all zero");
    }
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
  }

  /**
   * Seeds a generator. The seed becomes a uint64 (bigint/number: the integer itself, which
   * must be in [0, 2^64); string: the first 8 bytes of SHA-256 of its UTF-8, big-endian — so
   * the string "42" and the number 42 are different seeds). Two SplitMix64 outputs a, b from
   * that uint64 fill the state as s0 = low32(a), s1 = high32(a), s2 = low32(b), s3 = high32(b).
   *
   * All-zero state: SplitMix64's output mix is a bijection on its (always distinct) states,
   * so two consecutive outputs cannot both be 0 and the state is never all zero. The guard
   * below (substituting s0 = 0x9e3779b9) is unreachable but kept as defence in depth.
   */
  static fromSeed(seed: bigint | number | string): Xoshiro128 {
    const next = splitmix64(seedToUint64(seed));
    const a = next();
    const b = next();
    const words = [a & 0xffffffffn, a >> 32n, b & 0xffffffffn, b >> 32n].map(Number) as [number, number, number, number];
    if (words.every((w) => w === 0)) words[0] = 0x9e3779b9;
    return new Xoshiro128(...words);
  }

  /** Next output as a uint32 in [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result >>> 0;
  }

  /**
   * A float uniformly distributed over the 2^53 multiples of 2^-53 in [0, 1). Uses 53 bits:
   * the top 27 bits of one output and the top 26 bits of the next, so it consumes TWO
   * `nextUint32` outputs per call.
   */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 2 ** 26 + lo) / TWO_POW_53;
  }

  /**
   * An unbiased integer in [0, maxExclusive) by rejection sampling. `maxExclusive` must be an
   * integer in [1, 2^53]. Up to 2^32 it draws one 32-bit output per attempt; above that, a
   * 53-bit value from two outputs. The expected number of attempts is below 2.
   */
  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > TWO_POW_53) {
      throw new CairnError(ErrorCode.USAGE, `nextInt bound must be an integer in [1, 2^53], got ${String(maxExclusive)}`);
    }
    if (maxExclusive <= TWO_POW_32) {
      // Largest multiple of maxExclusive that fits in 2^32; values at or above it are rejected.
      const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
      for (;;) {
        const x = this.nextUint32();
        if (x < limit) return x % maxExclusive;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % maxExclusive);
    for (;;) {
      const x = (this.nextUint32() >>> 11) * TWO_POW_32 + this.nextUint32(); // 21 + 32 = 53 bits
      if (x < limit) return x % maxExclusive;
    }
  }

  /**
   * Fills `buf` with random bytes: each 32-bit output supplies 4 bytes, least significant
   * first; a final partial word uses its low bytes and discards the rest.
   */
  fillBytes(buf: Uint8Array): void {
    let i = 0;
    const whole = buf.length - (buf.length % 4);
    while (i < whole) {
      const x = this.nextUint32();
      buf[i++] = x & 0xff;
      buf[i++] = (x >>> 8) & 0xff;
      buf[i++] = (x >>> 16) & 0xff;
      buf[i++] = x >>> 24;
    }
    if (i < buf.length) {
      let x = this.nextUint32();
      while (i < buf.length) {
        buf[i++] = x & 0xff;
        x >>>= 8;
      }
    }
  }

  /** The current state as four uint32 words; `new Xoshiro128(...g.state())` resumes the stream. */
  state(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }
}

/**
 * A deterministic 64-bit seed from `parts`: the first 8 bytes (big-endian) of SHA-256 over
 * the RFC 8785 canonical JSON of the parts array, with bigints written as decimal strings.
 * Order matters; a bigint and the decimal string of it are the same part (5n ≡ "5"), while
 * the number 5 is a different part. Non-finite numbers throw E_CANONICAL.
 */
export function deriveSeed(...parts: (string | number | bigint)[]): bigint {
  const json = canonicalize(parts.map((p) => (typeof p === "bigint" ? p.toString() : p)));
  return sha256Raw(Buffer.from(json, "utf8")).readBigUInt64BE(0);
}
