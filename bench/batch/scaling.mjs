/**
 * Bench (c): per-EU cost of the trivial function at 10^4, 10^5, 10^6 EUs (× $CAIRN_BENCH_SCALE;
 * 10^7 too with CAIRN_BENCH_HUGE=1). G4 target: flat within ±20%.
 *
 * Per-EU cost = wall time of the whole run() (ingest, bundle, worker start, execute, merge,
 * manifest) / EUs, pulse size 1024. Points up to 10^5 EUs take the median of 3 runs (they
 * are cheap and the small ones are noisy); larger points run REPS times. The spread is
 * (max − min) / (max + min): the smallest ±x% band around one value holding every point.
 *
 * For the reader, also: the fixed cost of a run (median of 3 runs over 1 EU) and the
 * marginal cost per EU once that is subtracted, the plain loop's µs/EU at each size, and
 * the CPU time per EU (all threads of the process: main + workers), which other processes on
 * a shared machine disturb much less than wall time.
 */
import { join } from "node:path";
import { trivial } from "./fns.mjs";
import {
  HERE, HUGE, REPS, awaitQuiet, SCALE, cairnRun, ensureInput, fmtNum, header, maxOthers, inputDir, makeTmpDir, median, plainLoop, report, sameOutput,
} from "./common.mjs";

const TARGET = 0.2;
const fnPath = join(HERE, "trivial-fn.mjs");
const EXPONENTS = HUGE ? [4, 5, 6, 7] : [4, 5, 6];
const sizes = EXPONENTS.map((e) => Math.max(1, Math.round(10 ** e * SCALE)));
const dir = makeTmpDir("scaling");
const inDir = inputDir();

header(`(c) per-EU cost, trivial function, ${sizes.map((n) => n.toLocaleString("en-US")).join(" / ")} EUs (pulse 1024)`);

const one = ensureInput(inDir, 1);
const fixed = [];
for (let i = 0; i < 3; i++) {
  await awaitQuiet();
  fixed.push((await cairnRun(one, fnPath, { pulseSize: 1024 })).ms);
}
const fixedMs = median(fixed);
console.log(`  fixed cost of a run (1 EU, median of 3): ${fmtNum(fixedMs, 0)} ms`);

const points = [];
for (const n of sizes) {
  const input = ensureInput(inDir, n);
  const reps = n <= 100_000 ? Math.max(3, REPS) : REPS;
  const c = [];
  const p = [];
  const cpu = [];
  const runs = [];
  let plainSha;
  for (let r = 0; r < reps; r++) {
    await awaitQuiet();
    const pr = await plainLoop(input, trivial, dir);
    plainSha = pr.sha;
    p.push(pr.ms);
    await awaitQuiet();
    const cr = await cairnRun(input, fnPath, { pulseSize: 1024 });
    sameOutput(`(c) ${n} EUs`, cr.sha, plainSha);
    c.push(cr.ms);
    cpu.push(cr.load.ownCpuMs);
    runs.push(pr, cr);
  }
  const ms = median(c);
  const us = (ms * 1000) / n;
  const marginal = ((ms - fixedMs) * 1000) / n;
  const plainUs = (median(p) * 1000) / n;
  const others = maxOthers(runs);
  const cpuUs = (median(cpu) * 1000) / n;
  points.push({ n, ms, us, marginal, plainUs, reps, others, cpuUs });
  console.log(
    `  ${n.toLocaleString("en-US").padStart(10)} EUs: ${fmtNum(ms / 1000)} s  ${fmtNum(us)} µs/EU  (marginal ${fmtNum(marginal)} µs/EU; CPU ${fmtNum(cpuUs)} µs/EU; plain loop ${fmtNum(plainUs)} µs/EU; ${reps} run${reps > 1 ? "s" : ""}; other tenants ≤ ${fmtNum(others)} cores)`,
  );
  report({
    figure: `(c) per-EU cost at ${n.toLocaleString("en-US")} EUs`,
    cairn: `${fmtNum(us)} µs/EU`,
    baseline: `plain loop ${fmtNum(plainUs)} µs/EU`,
    ratio: `${fmtNum(plainUs / us)}×`,
    target: "",
    met: null,
    others,
    raw: { n, cairnMs: c, cairnCpuMs: cpu, cpuUs, plainMs: p, marginalUs: marginal, fixedMs },
  });
}

function spread(xs) {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return { spread: (hi - lo) / (hi + lo), lo, hi };
}
const s = spread(points.map((p) => p.us));
const sm = spread(points.map((p) => p.marginal));
const sc = spread(points.map((p) => p.cpuUs));
console.log(`  spread of µs/EU: ±${fmtNum(s.spread * 100, 1)}% (min ${fmtNum(s.lo)}, max ${fmtNum(s.hi)}; max/min ${fmtNum(s.hi / s.lo)})`);
console.log(`  spread of marginal µs/EU (fixed cost subtracted): ±${fmtNum(sm.spread * 100, 1)}%`);
console.log(`  spread of CPU µs/EU: ±${fmtNum(sc.spread * 100, 1)}% (${fmtNum(sc.lo)}–${fmtNum(sc.hi)})`);
report({
  figure: `(c) per-EU cost spread over ${sizes.map((n) => `${n.toExponential(0).replace("e+", "e")}`).join(", ")} EUs (G4)`,
  cairn: `±${fmtNum(s.spread * 100, 1)}% (${fmtNum(s.lo)}–${fmtNum(s.hi)} µs/EU)`,
  baseline: `marginal ±${fmtNum(sm.spread * 100, 1)}%; CPU/EU ±${fmtNum(sc.spread * 100, 1)}%`,
  ratio: "—",
  target: "within ±20%",
  met: s.spread <= TARGET,
  others: Math.max(...points.map((q) => q.others).filter(Number.isFinite)),
  raw: { points, fixedMs, spread: s.spread, marginalSpread: sm.spread, cpuSpread: sc.spread },
});
