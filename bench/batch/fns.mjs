/**
 * The functions the batch benchmarks apply, shared by every side (Cairn's fixture modules,
 * the plain single-threaded loop and the Piscina worker) so all sides run the same code.
 *
 * Outputs are plain JSON whose JSON.stringify text is already RFC 8785 canonical (integer
 * or finite numbers, keys in sorted order), so the plain loop can write byte-identical
 * records without Cairn's canonicalizer.
 */

/** (b): the trivial function. */
export function trivial(x) {
  return x.n + 1;
}

/**
 * (a): a deterministic CPU-bound function: `iters` rounds of 32-bit integer mixing and
 * float arithmetic seeded from x.n. The bench calibrates `iters` to ~50 µs per call.
 */
export function cpuWork(x, iters) {
  let h = (x.n ^ 0x9e3779b9) | 0;
  let f = (x.n % 1000) + 0.5;
  for (let i = 0; i < iters; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h = (Math.imul(h ^ (h >>> 12), 0x297a2d39) + i) | 0;
    f = f * 1.000001 + (h & 1023) / 1024;
    if (f > 1e6) f = f / 3;
  }
  // Rounded to 6 decimals via an integer so the text is stable and canonical.
  return { f: Math.round(f * 1e6) / 1e6, h: h >>> 0 };
}
