/**
 * Runs the store benchmarks in sequence, each in its own Node process (fresh heap, no
 * cross-talk), then prints a summary table of every figure beside its baseline.
 *
 *   node bench/run.mjs                     all benches (npm run bench builds first)
 *   node bench/run.mjs --only puts,gets    a subset (also --only=puts)
 *   node bench/run.mjs --json out.json     also write the results as JSON
 *   node bench/run.mjs --md                print the summary as a Markdown table
 *
 * Environment: CAIRN_BENCH_SCALE (e.g. 0.1) scales sizes down; CAIRN_BENCH_REPS sets
 * repetitions; CAIRN_BENCH_EDGES sets the lineage graph's edge count directly.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SCALE, fmtNum, fmtValue, parseBenchArgs } from "./util.mjs";

const BENCHES = ["ingest", "puts", "gets", "lineage"];
const here = fileURLToPath(new URL(".", import.meta.url));


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

function machine() {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) model = m[1];
  } catch {
    // not Linux
  }
  return { node: process.version, nproc: cpus().length, cpu: model, date: new Date().toISOString() };
}

function table(rows, md) {
  const head = ["figure", "Cairn", "baseline", "baseline value", "ratio", "target"];
  const body = rows.map((r) => [
    r.label,
    fmtValue(r.value, r.unit),
    r.baseline.label,
    fmtValue(r.baseline.value, r.unit),
    fmtNum(r.ratio),
    r.target === null ? "" : `>= ${fmtNum(r.target)} ${r.ratio >= r.target ? "met" : "MISSED"}`,
  ]);
  if (md) {
    const esc = (s) => s.replace(/\|/g, "\\|");
    return [
      `| ${head.join(" | ")} |`,
      `|${head.map((_, i) => (i === 0 || i === 2 ? "---" : "---:")).join("|")}|`,
      ...body.map((r) => `| ${r.map(esc).join(" | ")} |`),
    ].join("\n");
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 || i === 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

const opts = parseBenchArgs(process.argv.slice(2), { script: "run.mjs", benches: BENCHES });
if (!existsSync(new URL("../dist/index.js", import.meta.url))) {
  console.error("run.mjs: dist/index.js is missing; run `npm run build` first (`npm run bench` does)");
  process.exit(1);
}

const m = machine();
console.log(`Cairn store benchmarks — ${m.date}`);
console.log(`node ${m.node}, ${m.nproc} CPUs (${m.cpu}), scale ${SCALE}, benches: ${opts.only.join(", ")}`);
console.log("ratio = Cairn speed / baseline speed (for times: baseline time / Cairn time); 1.00 = as fast as the baseline");

const resultDir = mkdtempSync(join(tmpdir(), "cairn-bench-results-"));
const resultFile = join(resultDir, "results.jsonl");
const failed = [];
const started = performance.now();
const durations = {};
try {
  for (const name of opts.only) {
    const t0 = performance.now();
    const code = await runChild(join(here, `${name}.mjs`), { ...process.env, CAIRN_BENCH_RESULT_FILE: resultFile });
    durations[name] = (performance.now() - t0) / 1000;
    if (code !== 0) {
      console.error(`!! bench ${name} failed (exit ${code})`);
      failed.push(name);
    }
  }
  const rows = existsSync(resultFile)
    ? readFileSync(resultFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
    : [];
  const total = (performance.now() - started) / 1000;
  console.log(`\n== summary (${fmtNum(total, 0)} s: ${Object.entries(durations).map(([k, v]) => `${k} ${fmtNum(v, 0)} s`).join(", ")}) ==`);
  console.log(table(rows, opts.md));
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify({ machine: m, scale: SCALE, durations, results: rows }, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
} finally {
  rmSync(resultDir, { recursive: true, force: true });
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exit(1);
}
