/**
 * Shared helpers for the batch (PLEX engine) benchmarks: options, inputs, the three sides
 * (Cairn's run(), a plain single-threaded loop, Piscina with one task per item), RSS
 * sampling, formatting and result reporting. Self-contained: nothing here depends on
 * bench/util.mjs.
 *
 * Every side reads the same JSONL input (`{"n":i}` per line) and produces the same bytes:
 * one canonical record `{"id":i,"output":…}` per line, each line hashed with SHA-256 (what
 * Cairn does per EU record). After each timed run the output is compared byte for byte
 * (SHA-256 of the whole file vs SHA-256 of Cairn's output artifact), outside the timing.
 */
import { createHash } from "node:crypto";
import { createReadStream, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, appendFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

export const HERE = fileURLToPath(new URL(".", import.meta.url));
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const MIB = 1024 * 1024;

// ------------------------------------------------------------------ options

function num(name, def, { int = false, min = 0 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= min || (int && !Number.isInteger(n))) {
    throw new Error(`${name} must be a ${int ? "positive integer" : "positive number"}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** $CAIRN_BENCH_SCALE (default 1; 0.1 for a quick run) multiplies every EU count. */
export const SCALE = num("CAIRN_BENCH_SCALE", 1);
/** $CAIRN_BENCH_REPS: repetitions of each timed measurement (median reported; default 1). */
export const REPS = num("CAIRN_BENCH_REPS", 1, { int: true });
/** $CAIRN_BENCH_HUGE=1 adds the 10^7-EU points to (c) and (d). */
export const HUGE = process.env.CAIRN_BENCH_HUGE === "1";

export function scaled(n, min = 1) {
  return Math.max(min, Math.round(n * SCALE));
}

/** The engine settings every bench uses (the issue's: 8 partitions, 2 workers). */
export const PARTITIONS = 8;
export const WORKERS = 2;
export const PULSE_SIZES = [1024, 256];

// Temp dirs (removed at exit), timing and medians are the store benches' own helpers.
export { makeTmpDir, removeDir, now, gc, median } from "../util.mjs";
import { makeTmpDir, removeDir, now, gc } from "../util.mjs";

/**
 * Runs each of `sides` (name → async () => { ms, load, … }) `reps` times, rotating the order
 * every repetition so no side always runs first on a warm or cold machine. Returns
 * name → [result].
 */
export async function rotated(sides, reps = REPS) {
  const names = Object.keys(sides);
  const out = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length];
      await awaitQuiet();
      out[name].push(await sides[name](r));
    }
  }
  return out;
}

// ------------------------------------------------------------------ machine load

function procStat() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: idle = idle + iowait
    return { total: f.reduce((a, b) => a + b, 0), idle: (f[3] ?? 0) + (f[4] ?? 0), steal: f[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * Measures, over an interval, how busy the whole machine was (from /proc/stat, every
 * process of every tenant), how much of that was this process (process.cpuUsage: every
 * thread of it), and so how much CPU others took — on a shared 2-core VM another tenant's
 * load takes cores the parallel sides need. stop() → { busy, own, others, steal } in cores,
 * and ownCpuMs (CPU time of this process over the interval).
 */
export function loadMeter() {
  const n = cpus().length;
  const s0 = procStat();
  const c0 = process.cpuUsage();
  const t0 = now();
  return {
    stop() {
      const ms = now() - t0;
      const c = process.cpuUsage(c0);
      const ownCpuMs = (c.user + c.system) / 1000;
      const own = ownCpuMs / ms;
      const s1 = procStat();
      if (s0 === undefined || s1 === undefined || s1.total === s0.total) return { busy: NaN, own, others: NaN, steal: NaN, ownCpuMs };
      const total = s1.total - s0.total;
      const busy = ((total - (s1.idle - s0.idle)) / total) * n;
      return { busy, own, others: Math.max(0, busy - own), steal: ((s1.steal - s0.steal) / total) * n, ownCpuMs };
    },
  };
}

/** $CAIRN_BENCH_QUIET_MS: longest wait for a quiet machine before each measurement (default 20 s; 0: never wait). */
export const QUIET_MS = process.env.CAIRN_BENCH_QUIET_MS === undefined || process.env.CAIRN_BENCH_QUIET_MS === "" ? 20_000 : Number(process.env.CAIRN_BENCH_QUIET_MS);
/** The machine counts as quiet when all its processes together use less than this many cores. */
const QUIET_CORES = 0.3;

/**
 * Waits (sleeping, in 500 ms windows) until the whole machine is quiet — other tenants
 * below QUIET_CORES — or QUIET_MS has passed. Returns the last window's busy cores.
 */
export async function awaitQuiet() {
  const n = cpus().length;
  const deadline = now() + QUIET_MS;
  let busy = NaN;
  for (;;) {
    const a = procStat();
    await new Promise((r) => setTimeout(r, 500));
    const b = procStat();
    if (a === undefined || b === undefined || b.total === a.total) return NaN;
    busy = ((b.total - a.total - (b.idle - a.idle)) / (b.total - a.total)) * n;
    if (busy < QUIET_CORES || now() >= deadline) break;
  }
  if (busy >= QUIET_CORES && QUIET_MS > 0) console.log(`  (machine still busy: ${fmtNum(busy)} cores in use by others after ${fmtNum(QUIET_MS / 1000, 0)} s; measuring anyway)`);
  return busy;
}

/** The most CPU other tenants took during any of `results` (each with .load), in cores. */
export function maxOthers(...results) {
  const xs = results.flat().map((r) => r.load?.others).filter((x) => Number.isFinite(x));
  return xs.length === 0 ? NaN : Math.max(...xs);
}

/** "CPU 15.2 s = 1.68 cores (76 µs/EU); others 0.04 cores" for a log line. */
export function fmtLoad(load, n) {
  const others = Number.isNaN(load.others) ? "n/a" : `${fmtNum(load.others)} cores`;
  return `CPU ${fmtNum(load.ownCpuMs / 1000, 1)} s = ${fmtNum(load.own)} cores (${fmtNum((load.ownCpuMs * 1000) / n, 1)} µs/EU); other tenants ${others}`;
}

// ------------------------------------------------------------------ inputs

/** Writes `{"n":i}\n` for i < n into `path` (atomically; skipped when it exists). */
export function ensureInput(dir, n) {
  const path = join(dir, `in-${n}.jsonl`);
  if (existsSync(path)) return path;
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    let buf = "";
    for (let i = 0; i < n; i++) {
      buf += `{"n":${i}}\n`;
      if (buf.length >= 1 << 20) {
        writeSync(fd, buf);
        buf = "";
      }
    }
    if (buf.length > 0) writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return path;
}

/** The input directory shared with bench/batch.mjs ($CAIRN_BATCH_INPUT_DIR), or a private one. */
export function inputDir() {
  return process.env.CAIRN_BATCH_INPUT_DIR || makeTmpDir("inputs");
}

/** Lines of a JSONL file, streamed (what every side's reader does). */
async function* jsonlRecords(path) {
  let rest = "";
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const text = rest + chunk;
    let start = 0;
    let nl;
    while ((nl = text.indexOf("\n", start)) !== -1) {
      if (nl > start) yield JSON.parse(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) yield JSON.parse(rest);
}

/** Buffered output file: record lines, SHA-256 of each line, one fsync at the end. */
class RecordWriter {
  constructor(path) {
    this.fd = openSync(path, "w");
    this.buf = "";
    this.n = 0;
    this.acc = 0; // keeps the per-line digests observably used
  }

  /** `json` is the output's canonical JSON text. */
  add(json) {
    const line = `{"id":${this.n},"output":${json}}`;
    this.acc ^= createHash("sha256").update(line).digest()[0];
    this.buf += `${line}\n`;
    this.n++;
    if (this.buf.length >= 256 * 1024) {
      writeSync(this.fd, this.buf);
      this.buf = "";
    }
  }

  close() {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

export async function fileSha256(path) {
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c);
  return h.digest("hex");
}

async function streamSha256(stream) {
  const h = createHash("sha256");
  for await (const c of stream) h.update(c);
  return h.digest("hex");
}

// ------------------------------------------------------------------ the three sides

/**
 * The baseline: one thread reads the JSONL input, applies `fn` to each record, writes
 * `{"id":i,"output":…}` lines (plus SHA-256 of each line) to a file, fsyncs it.
 * Returns { ms, n, sha, load } (sha of the output file, computed after the timing; load from loadMeter).
 */
export async function plainLoop(inputPath, fn, dir) {
  const outPath = join(dir, `plain-${process.pid}-${Math.random().toString(16).slice(2)}.jsonl`);
  gc();
  const meter = loadMeter();
  const t0 = now();
  const w = new RecordWriter(outPath);
  for await (const rec of jsonlRecords(inputPath)) w.add(JSON.stringify(fn(rec)));
  return finishLoop(w, outPath, t0, meter);
}

/** Closes a baseline's output, stops its clock and meter, hashes and removes the file. */
async function finishLoop(w, outPath, t0, meter) {
  w.close();
  const ms = now() - t0;
  const load = meter.stop();
  const sha = await fileSha256(outPath);
  rmSync(outPath, { force: true });
  return { ms, n: w.n, sha, load };
}

/**
 * The ideal-parallel baseline: the plain loop's work split statically over `threads` worker
 * threads (contiguous shares, no scheduling, no hashing beyond the loop's own, no store), the
 * output written in order by the main thread as plainLoop writes it. No engine on 2 cores can
 * beat this; bench (a) prints it as the ceiling the 1.8× target is measured against.
 * Returns { ms, n, sha, load } like plainLoop.
 */
export async function idealSplitLoop(inputPath, kind, iters, dir, threads = WORKERS) {
  const outPath = join(dir, `split-${process.pid}-${Math.random().toString(16).slice(2)}.jsonl`);
  gc();
  const meter = loadMeter();
  const t0 = now();
  const records = [];
  for await (const rec of jsonlRecords(inputPath)) records.push(rec);
  const share = Math.ceil(records.length / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, k) =>
      new Promise((resolve, reject) => {
        const w = new Worker(new URL("./split-worker.mjs", import.meta.url), {
          workerData: { kind, iters, records: records.slice(k * share, (k + 1) * share) },
        });
        w.once("message", (texts) => {
          resolve(texts);
          void w.terminate();
        });
        w.once("error", reject);
      }),
    ),
  );
  const w = new RecordWriter(outPath);
  for (const texts of parts) for (const t of texts) w.add(t);
  return finishLoop(w, outPath, t0, meter);
}

let cairn;
/**
 * dist/index.js (built by `npm run build`), or $CAIRN_BENCH_DIST/index.js: a copy of a
 * build (with node_modules resolvable beside it) so a long run measures one build even if
 * dist/ is rebuilt meanwhile.
 */
export async function loadCairn() {
  if (cairn !== undefined) return cairn;
  const dist = join(process.env.CAIRN_BENCH_DIST || join(REPO, "dist"), "index.js");
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`npm run build\` first`);
  cairn = await import(pathToFileURL(dist).href);
  return cairn;
}

/**
 * One Cairn measurement: a fresh store (durability "normal"), then `run(store, inputPath,
 * fnPath, cfg)` timed whole — it ingests the input into the store, bundles the function
 * (esbuild), starts the workers, executes and commits every pulse, merges the output and
 * records the manifest. Returns { ms, result, sha, load } (sha of the output artifact's bytes,
 * read after the timing).
 */
export async function cairnRun(inputPath, fnPath, cfg, { onBeforeRun } = {}) {
  const { openStore, run } = await loadCairn();
  const dir = makeTmpDir("store");
  const store = openStore({ dir: join(dir, "store"), durability: "normal" });
  try {
    gc();
    onBeforeRun?.();
    const meter = loadMeter();
    const t0 = now();
    const result = await run(store, inputPath, fnPath, { partitions: PARTITIONS, workers: WORKERS, ...cfg });
    const ms = now() - t0;
    const load = meter.stop();
    if (result.status !== "completed" || result.counts.failed !== 0) {
      throw new Error(`Cairn run ${result.runId} ${result.status}: ${JSON.stringify(result.counts)} ${JSON.stringify(result.failures.slice(0, 3))}`);
    }
    const sha = await streamSha256(store.openReadStream(result.outputArtifact));
    return { ms, result, sha, load };
  } finally {
    store.close();
    removeDir(dir);
  }
}

/**
 * Resolves piscina from the repo's node_modules, else from $CAIRN_BENCH_PISCINA_DIR (a
 * directory whose node_modules holds piscina, e.g. a scratch `npm i piscina`). Returns
 * { Piscina, version, from } or undefined.
 */
export async function loadPiscina() {
  const bases = [join(REPO, "package.json")];
  const extra = process.env.CAIRN_BENCH_PISCINA_DIR;
  if (extra) bases.push(join(extra, "noop.js"), join(extra, "..", "noop.js"));
  for (const base of bases) {
    let main;
    try {
      main = createRequire(base).resolve("piscina");
    } catch {
      continue;
    }
    const mod = await import(pathToFileURL(main).href);
    const Piscina = mod.Piscina ?? mod.default?.Piscina ?? mod.default;
    let version = "?";
    try {
      const pkg = createRequire(base).resolve("piscina/package.json");
      version = JSON.parse(readFileSync(pkg, "utf8")).version;
    } catch {
      // exports may hide package.json
      const m = /(.*node_modules[\\/]piscina)[\\/]/.exec(main);
      if (m) version = JSON.parse(readFileSync(join(m[1], "package.json"), "utf8")).version;
    }
    return { Piscina, version, from: main };
  }
  return undefined;
}

export const PISCINA_MISSING = "piscina not installed (npm i -D piscina, or set CAIRN_BENCH_PISCINA_DIR to a dir where `npm i piscina` ran)";

/** Items per Promise.all window in the Piscina baseline. */
export const PISCINA_WINDOW = 10_000;

/**
 * Piscina with one task per item: 2 threads, every record through `pool.run(record)`
 * (Promise.all over windows of PISCINA_WINDOW items, so results come back in order); the
 * worker returns the output's JSON text and the main thread writes and hashes the lines
 * like the plain loop. Pool start-up and teardown are included in the time.
 */
export async function piscinaRun(Piscina, inputPath, name, dir) {
  const outPath = join(dir, `piscina-${process.pid}-${Math.random().toString(16).slice(2)}.jsonl`);
  gc();
  const meter = loadMeter();
  const t0 = now();
  const pool = new Piscina({
    filename: new URL("./piscina-worker.mjs", import.meta.url).href,
    name,
    minThreads: WORKERS,
    maxThreads: WORKERS,
  });
  const w = new RecordWriter(outPath);
  let window = [];
  const drain = async () => {
    const outs = await Promise.all(window.map((r) => pool.run(r)));
    for (const o of outs) w.add(o);
    window = [];
  };
  for await (const rec of jsonlRecords(inputPath)) {
    window.push(rec);
    if (window.length >= PISCINA_WINDOW) await drain();
  }
  if (window.length > 0) await drain();
  await pool.destroy();
  return finishLoop(w, outPath, t0, meter);
}

// ------------------------------------------------------------------ memory

/** Peak resident set of this process since it started (Linux), in bytes. */
export function vmHWM() {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples process.memoryUsage.rss() every `ms` on the main thread (worker threads share the
 * process, so this is the whole tree). Samples can be late while the main thread is busy;
 * VmHWM (read at stop) catches any peak between samples.
 */
export function rssSampler(ms = 50) {
  let peak = process.memoryUsage.rss();
  let samples = 0;
  const t = setInterval(() => {
    samples++;
    peak = Math.max(peak, process.memoryUsage.rss());
  }, ms);
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, process.memoryUsage.rss());
      return { sampledPeak: peak, samples, hwm: vmHWM() };
    },
  };
}

// ------------------------------------------------------------------ formatting and results

export function fmtInt(n) {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtNum(n, digits = 2) {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const rate = (n, ms) => (n / ms) * 1000;
export const fmtRate = (r) => `${fmtInt(r)} EU/s`;
export const fmtMiB = (b) => `${fmtNum(b / MIB, 1)} MiB`;

export function header(title) {
  console.log(`\n== ${title} ==`);
}

/**
 * Records one summary row: { figure, cairn, baseline, ratio, target, met } (display
 * strings; `met` true/false/null) plus any raw numbers. Appended as a JSON line to
 * $CAIRN_BATCH_RESULT_FILE when bench/batch.mjs runs this bench.
 */
export function report(row) {
  const file = process.env.CAIRN_BATCH_RESULT_FILE;
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

/** Throws unless two outputs are byte-identical. */
export function sameOutput(what, a, b) {
  if (a !== b) throw new Error(`${what}: outputs differ (sha256 ${a} vs ${b})`);
}
