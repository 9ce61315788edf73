/**
 * The batch (PLEX engine) benchmarks of issue 3 §9, each in its own Node process (fresh
 * heap, and a VmHWM that belongs to that bench alone), then a summary table of every figure
 * beside its baseline.
 *
 *   npm run build && node bench/batch.mjs            all benches
 *   node bench/batch.mjs --only trivial,rss          a subset (also --only=cpu; a,b,c,d work too)
 *   node bench/batch.mjs --md                        summary as a Markdown table
 *   node bench/batch.mjs --json out.json             also write the results as JSON
 *
 * Benches (bench/batch/*.mjs):
 *   cpu      (a) ~50 µs/EU CPU-bound function, 200k EUs: vs plain loop (≥ 1.8×) and vs Piscina
 *   trivial  (b) x => x.n + 1, 1M EUs: vs plain loop (≥ 0.5×) and vs Piscina (≥ 10×)
 *   scaling  (c) per-EU cost at 10^4, 10^5, 10^6 EUs: flat within ±20% (G4)
 *   rss      (d) peak RSS at 10^6 EUs with maxMemoryBytes 256 MiB: ≤ the bound
 *
 * Environment: CAIRN_BENCH_SCALE (default 1; 0.1 for a quick run) scales every EU count;
 * CAIRN_BENCH_REPS repetitions per measurement (median; default 1, and 3 for (a)); CAIRN_BENCH_HUGE=1 adds
 * the 10^7-EU points to (c) and (d) (slow); CAIRN_BENCH_PISCINA_DIR a directory where
 * `npm i piscina` ran, used when the repo's node_modules has no piscina; CAIRN_BENCH_QUIET_MS the
 * longest wait (default 20000; 0: none) for the machine to be quiet (other processes < 0.3
 * cores) before each measurement; CAIRN_BENCH_DIST a copy of dist/ to measure instead (so a
 * rebuild of dist/ during a long run cannot mix two builds).
 *
 * Every Cairn figure is EUs / wall time of the whole `run(store, file, module, config)`,
 * which includes ingesting the input file into a fresh store (durability "normal"),
 * bundling the module, starting the workers, the ordered merge and the manifest.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, freemem, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HUGE, REPS, SCALE, ensureInput, fmtNum, loadPiscina, PISCINA_MISSING } from "./batch/common.mjs";
import { parseBenchArgs } from "./util.mjs";

const BENCHES = ["cpu", "trivial", "scaling", "rss"];
const ALIASES = { a: "cpu", b: "trivial", c: "scaling", d: "rss" };
const here = fileURLToPath(new URL(".", import.meta.url));


function machine() {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1];
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    nproc: cpus().length,
    cpu: model,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
  };
}

function runChild(file, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--expose-gc", file], { stdio: "inherit", env });
    child.on("exit", (code, signal) => resolve(signal ? 128 : (code ?? 1)));
    child.on("error", (err) => {
      console.error(err);
      resolve(1);
    });
  });
}

function table(rows, md) {
  const head = ["figure", "Cairn", "baseline", "ratio", "target", "met?", "other tenants' load"];
  const body = rows.map((r) => [
    r.figure,
    r.cairn,
    r.baseline,
    r.ratio,
    r.target,
    r.met === null || r.met === undefined ? "—" : r.met ? "yes" : "NO",
    Number.isFinite(r.others) ? `≤ ${fmtNum(r.others)} cores` : "",
  ]);
  if (md) {
    const esc = (s) => String(s).replace(/\|/g, "\\|");
    return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...body.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** EU counts each bench reads, so the inputs are written once, here, outside the measured processes. */
function inputSizes(only) {
  const s = new Set();
  const sc = (n) => Math.max(1, Math.round(n * SCALE));
  if (only.includes("cpu")) s.add(sc(200_000));
  if (only.includes("trivial")) s.add(sc(1_000_000));
  if (only.includes("scaling")) {
    s.add(1);
    for (const e of HUGE ? [4, 5, 6, 7] : [4, 5, 6]) s.add(sc(10 ** e));
  }
  if (only.includes("rss")) s.add(sc(HUGE ? 1e7 : 1e6));
  return [...s].sort((a, b) => a - b);
}

const opts = parseBenchArgs(process.argv.slice(2), { script: "batch.mjs", benches: BENCHES, aliases: ALIASES });
const distDir = process.env.CAIRN_BENCH_DIST || fileURLToPath(new URL("../dist", import.meta.url));
if (!existsSync(join(distDir, "index.js"))) {
  console.error(`batch.mjs: ${join(distDir, "index.js")} is missing; run \`npm run build\` first`);
  process.exit(1);
}

const m = machine();
const pisc = await loadPiscina();
console.log(`Cairn batch benchmarks — ${m.date}`);
console.log(`node ${m.node}, ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB RAM; scale ${SCALE}, reps ${REPS}${HUGE ? ", HUGE (10^7 points)" : ""}; benches: ${opts.only.join(", ")}`);
console.log(`Cairn build: ${distDir} (index.js modified ${statSync(join(distDir, "index.js")).mtime.toISOString()}, batch/engine.js ${statSync(join(distDir, "batch", "engine.js")).mtime.toISOString()})`);
console.log(pisc ? `piscina ${pisc.version} (${pisc.from})` : PISCINA_MISSING);
console.log("Cairn EU/s = EUs / wall time of run(), ingest of the input file into a fresh store included; workers 2, partitions 8");
console.log("other tenants' load = most CPU (in cores) that processes outside this bench took during a measurement of the row (/proc/stat minus our own)");

const work = mkdtempSync(join(tmpdir(), "cairn-bbench-"));
const resultFile = join(work, "results.jsonl");
const inputs = join(work, "inputs");
const failed = [];
const durations = {};
const started = performance.now();
try {
  const t0 = performance.now();
  mkdirSync(inputs, { recursive: true });
  for (const n of inputSizes(opts.only)) ensureInput(inputs, n);
  console.log(`inputs written in ${fmtNum((performance.now() - t0) / 1000, 1)} s (${inputSizes(opts.only).map((n) => n.toLocaleString("en-US")).join(", ")} EUs)`);
  for (const name of opts.only) {
    const t = performance.now();
    const code = await runChild(join(here, "batch", `${name}.mjs`), {
      ...process.env,
      CAIRN_BATCH_RESULT_FILE: resultFile,
      CAIRN_BATCH_INPUT_DIR: inputs,
    });
    durations[name] = (performance.now() - t) / 1000;
    if (code !== 0) {
      console.error(`!! bench ${name} failed (exit ${code})`);
      failed.push(name);
    }
  }
  const rows = existsSync(resultFile) ? readFileSync(resultFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
  const total = (performance.now() - started) / 1000;
  console.log(`\n== summary (${fmtNum(total, 0)} s: ${Object.entries(durations).map(([k, v]) => `${k} ${fmtNum(v, 0)} s`).join(", ")}) ==`);
  console.log(table(rows, opts.md));
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify({ machine: m, scale: SCALE, reps: REPS, huge: HUGE, piscina: pisc?.version ?? null, durations, results: rows }, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exit(1);
}
