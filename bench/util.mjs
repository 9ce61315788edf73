/**
 * Shared helpers for the store benchmarks: scale, temp dirs, timing, statistics,
 * formatting, and result reporting.
 *
 * Every figure is reported next to a baseline measured in the same process run, with the
 * ratio Cairn / baseline expressed as a *speed* ratio: for rates it is cairn / baseline, for
 * times it is baseline / cairn. So 1.00 means "as fast as the baseline" and 0.50 means
 * "half as fast" everywhere, and a target is always a minimum ratio.
 *
 * When run under bench/run.mjs, each result is also appended as one JSON line to the file
 * named by $CAIRN_BENCH_RESULT_FILE so run.mjs can print the summary table.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, existsSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// ------------------------------------------------------------------ scale and options

function parseScale(raw) {
  if (raw === undefined || raw === "") return 1;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) {
    throw new Error(`CAIRN_BENCH_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return s;
}

/** Size multiplier from $CAIRN_BENCH_SCALE (default 1 = full size). */
export const SCALE = parseScale(process.env.CAIRN_BENCH_SCALE);

/** Repetitions per measurement from $CAIRN_BENCH_REPS (default `def`). */
export function reps(def) {
  const raw = process.env.CAIRN_BENCH_REPS;
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CAIRN_BENCH_REPS must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** `n` scaled by SCALE, rounded, at least `min`. */
export function scaled(n, min = 1) {
  return Math.max(min, Math.round(n * SCALE));
}

/** An integer from an env var, or `def`. */
export function envInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

// ------------------------------------------------------------------ temp dirs

const liveDirs = new Set();

/** A fresh directory under os.tmpdir(); removed by removeDir / at exit. */
export function makeTmpDir(tag) {
  const dir = mkdtempSync(join(tmpdir(), `cairn-bench-${tag}-`));
  liveDirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** Runs `fn(dir)` with a temp dir that is always deleted afterwards. */
export async function withTmpDir(tag, fn) {
  const dir = makeTmpDir(tag);
  try {
    return await fn(dir);
  } finally {
    removeDir(dir);
  }
}

function cleanupAll() {
  for (const d of [...liveDirs]) {
    try {
      removeDir(d);
    } catch {
      // best effort at exit
    }
  }
}
process.on("exit", cleanupAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

// ------------------------------------------------------------------ timing

/** Milliseconds, high resolution. */
export const now = () => performance.now();

/** Runs a full GC if the process was started with --expose-gc (run.mjs does). */
export function gc() {
  if (typeof globalThis.gc === "function") globalThis.gc();
}

/** Times a (possibly async) function; returns milliseconds. */
export async function time(fn) {
  gc();
  const t0 = now();
  await fn();
  return now() - t0;
}

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

/**
 * Runs `cairn` and `baseline` `n` times each, interleaved (ABBA…: the order flips every
 * repetition so neither side always runs on a warmer or cooler machine). Each function
 * returns a number (a rate or a time). Returns both arrays.
 */
export async function interleaved(n, cairn, baseline) {
  const c = [];
  const b = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      c.push(await cairn(i));
      b.push(await baseline(i));
    } else {
      b.push(await baseline(i));
      c.push(await cairn(i));
    }
  }
  return { cairn: c, baseline: b };
}

// ------------------------------------------------------------------ data

/** Small, fast, seeded PRNG (mulberry32). Returns a function giving floats in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic pseudo-random buffer (cheap; not for crypto). */
export function pseudoRandomBytes(n, seed) {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE((r() * 4294967296) >>> 0, i);
  for (; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/** Writes a 64-bit counter (as two big-endian 32-bit halves) into the first 8 bytes. */
export function stampCounter(buf, n) {
  buf.writeUInt32BE(Math.floor(n / 4294967296) >>> 0, 0);
  buf.writeUInt32BE(n >>> 0, 4);
}

// ------------------------------------------------------------------ formatting

export function fmtInt(n) {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtNum(n, digits = 2) {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Formats a value with its unit: "/s" rates as integers with separators, others with 2 decimals. */
export function fmtValue(v, unit) {
  if (unit === "/s") return `${fmtInt(v)}/s`;
  if (unit === "MB/s") return `${fmtInt(v)} MB/s`;
  if (unit === "ms") return `${fmtNum(v, v < 10 ? 3 : 1)} ms`;
  return `${fmtNum(v)} ${unit}`;
}

/** MB (10^6 bytes) per second. */
export function mbps(bytes, ms) {
  return bytes / 1e6 / (ms / 1000);
}

// ------------------------------------------------------------------ reporting

/**
 * Prints one figure beside its baseline and records it.
 *   id        stable key, e.g. "puts.normal.batch10k"
 *   label     "puts 1KiB batched(10k)"
 *   value     Cairn's figure; unit "/s" | "MB/s" | "ms"
 *   baseline  { label, value } measured in the same run
 *   lowerIsBetter  true for times (ratio = baseline / cairn)
 *   target    minimum ratio, if the figure has one
 *   info      extra text printed after the line (e.g. "median of 3")
 */
export function report({ id, label, value, unit, baseline, lowerIsBetter = false, target, info }) {
  const ratio = lowerIsBetter ? baseline.value / value : value / baseline.value;
  let line = `${label}: ${fmtValue(value, unit)} | baseline ${baseline.label}: ${fmtValue(baseline.value, unit)} | ratio ${fmtNum(ratio)}`;
  if (lowerIsBetter && ratio > 0) line += ` (Cairn takes ${fmtNum(1 / ratio)}x as long)`;
  if (target !== undefined) line += ` | target >= ${fmtNum(target)} ${ratio >= target ? "MET" : "MISSED"}`;
  if (info) line += `  [${info}]`;
  console.log(line);
  const file = process.env.CAIRN_BENCH_RESULT_FILE;
  if (file) {
    appendFileSync(
      file,
      `${JSON.stringify({ id, label, value, unit, baseline, lowerIsBetter, ratio, target: target ?? null, info: info ?? null })}\n`,
    );
  }
  return ratio;
}

/** An informational line (no baseline; not a figure). */
export function note(text) {
  console.log(`  · ${text}`);
}

/** Progress for long phases, on stderr so it does not mix with results. */
export function progress(text) {
  if (process.stderr.isTTY) process.stderr.write(`\r  … ${text}\x1b[K`);
}
export function progressDone() {
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
}

export function header(title) {
  console.log(`\n== ${title} (scale ${SCALE}) ==`);
}

// ------------------------------------------------------------------ machine facts

/** The mount (device, fs type) holding `path`, from /proc/self/mountinfo (Linux only). */
export function diskOf(path) {
  try {
    const real = realpathSync(path);
    let best;
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const parts = line.split(" ");
      if (parts.length < 10) continue;
      const mountPoint = parts[4];
      const dash = parts.indexOf("-");
      const fsType = parts[dash + 1];
      const source = parts[dash + 2];
      const inside = mountPoint === "/" || real === mountPoint || real.startsWith(`${mountPoint}/`);
      if (inside && (best === undefined || mountPoint.length > best.mountPoint.length)) best = { mountPoint, fsType, source };
    }
    if (best === undefined) return "unknown";
    let extra = "";
    const dev = best.source.replace(/^\/dev\//, "");
    const rot = `/sys/block/${dev}/queue/rotational`;
    if (existsSync(rot)) extra = `, rotational=${readFileSync(rot, "utf8").trim()}`;
    return `${best.source} (${best.fsType}, mounted at ${best.mountPoint}${extra})`;
  } catch {
    return "unknown";
  }
}

/** Imports the built library, with a clear message when `npm run build` has not run. */
export async function loadCairn() {
  const url = new URL("../dist/index.js", import.meta.url);
  if (!existsSync(url)) {
    throw new Error("dist/index.js is missing: run `npm run build` first (or use `npm run bench`)");
  }
  return import(url.href);
}

/** Path of a store's catalog file (store layout, format v1). */
export function catalogPath(storeDir) {
  return join(storeDir, "catalog.sqlite");
}

// ------------------------------------------------------------------ runner arguments

/**
 * Parses `[--only a,b] [--json FILE] [--md]` (also `--flag=value`) for a bench runner; exits 2
 * with a usage line on anything else. `aliases` maps short names to bench names.
 */
export function parseBenchArgs(argv, { script, benches, aliases = {} }) {
  const usage = (msg) => {
    if (msg) console.error(`${script}: ${msg}`);
    console.error(`usage: node bench/${script} [--only ${benches.join(",")}] [--json FILE] [--md]`);
    process.exit(2);
  };
  const opts = { only: benches, json: undefined, md: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--only") {
      const names = value().split(",").map((s) => s.trim()).filter(Boolean).map((s) => aliases[s] ?? s);
      for (const n of names) if (!benches.includes(n)) usage(`unknown bench ${JSON.stringify(n)}`);
      opts.only = benches.filter((b) => names.includes(b));
    } else if (flag === "--json") {
      opts.json = value();
    } else if (flag === "--md") {
      opts.md = true;
    } else if (flag === "--help" || flag === "-h") {
      usage();
    } else {
      usage(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return opts;
}
