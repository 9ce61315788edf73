/**
 * Bench (b): the trivial function `x => x.n + 1` over 1M EUs (× $CAIRN_BENCH_SCALE).
 * Cairn run() (workers 2, partitions 8, pulse size 1024 and 256) vs the plain
 * single-threaded loop (target ≥ 0.5×) and vs Piscina with one task per item, 2 threads
 * (target: Cairn ≥ 10× Piscina).
 */
import { join } from "node:path";
import { trivial } from "./fns.mjs";
import {
  HERE, PISCINA_MISSING, PULSE_SIZES, REPS, cairnRun, ensureInput, fmtLoad, fmtNum, fmtRate, header, maxOthers, inputDir, loadPiscina, makeTmpDir, median,
  piscinaRun, plainLoop, rate, report, rotated, sameOutput, scaled,
} from "./common.mjs";

const N = scaled(1_000_000);
const TARGET = 0.5;
const PISCINA_TARGET = 10;
const fnPath = join(HERE, "trivial-fn.mjs");

const dir = makeTmpDir("trivial");
header(`(b) trivial function x => x.n + 1, ${N.toLocaleString("en-US")} EUs`);
const input = ensureInput(inputDir(), N);
const pisc = await loadPiscina();

let plainSha;
const shas = {};
const sides = {
  plain: async () => {
    const r = await plainLoop(input, trivial, dir);
    plainSha = r.sha;
    console.log(`  plain loop:           ${fmtNum(r.ms / 1000)} s  ${fmtRate(rate(N, r.ms))}  (${fmtNum((r.ms * 1000) / N)} µs/EU); ${fmtLoad(r.load, N)}`);
    return r;
  },
};
for (const ps of PULSE_SIZES) {
  sides[`cairn${ps}`] = async () => {
    const r = await cairnRun(input, fnPath, { pulseSize: ps });
    shas[`cairn${ps}`] = r.sha;
    console.log(`  Cairn pulse ${String(ps).padEnd(4)}:     ${fmtNum(r.ms / 1000)} s  ${fmtRate(rate(N, r.ms))}  (${fmtNum((r.ms * 1000) / N)} µs/EU); ${fmtLoad(r.load, N)}`);
    return r;
  };
}
if (pisc !== undefined) {
  console.log(`piscina ${pisc.version} from ${pisc.from}`);
  sides.piscina = async () => {
    const r = await piscinaRun(pisc.Piscina, input, "trivial", dir);
    shas.piscina = r.sha;
    console.log(`  Piscina 1 task/item:  ${fmtNum(r.ms / 1000)} s  ${fmtRate(rate(N, r.ms))}  (${fmtNum((r.ms * 1000) / N)} µs/EU); ${fmtLoad(r.load, N)}`);
    return r;
  };
} else {
  console.log(PISCINA_MISSING);
}
const ms = await rotated(sides);
for (const [k, v] of Object.entries(shas)) sameOutput(`(b) ${k} vs plain loop`, v, plainSha);
console.log("  outputs byte-identical on every side");

const plainRate = rate(N, median(ms.plain.map((r) => r.ms)));
// What the CPU time says, whatever the other tenants did: with 2 idle cores and perfect
// overlap, Cairn could at best run (2 × plain CPU per EU) / (Cairn CPU per EU) × the loop.
const cpuPerEu = (rs) => median(rs.map((r) => r.load.ownCpuMs)) / N;
for (const ps of PULSE_SIZES) {
  console.log(
    `  pulse ${ps}: Cairn CPU ${fmtNum(cpuPerEu(ms[`cairn${ps}`]) * 1000, 1)} µs/EU vs plain loop ${fmtNum(cpuPerEu(ms.plain) * 1000, 1)} µs/EU → 2-core ceiling ${fmtNum((2 * cpuPerEu(ms.plain)) / cpuPerEu(ms[`cairn${ps}`]))}× the loop`,
  );
}
for (const ps of PULSE_SIZES) {
  const r = rate(N, median(ms[`cairn${ps}`].map((r) => r.ms)));
  const ratio = r / plainRate;
  report({
    figure: `(b) trivial, ${N.toLocaleString("en-US")} EUs, pulse ${ps}`,
    cairn: fmtRate(r),
    baseline: `plain loop ${fmtRate(plainRate)}`,
    ratio: `${fmtNum(ratio)}×`,
    target: ps === PULSE_SIZES[0] ? `≥ ${TARGET}×` : `(≥ ${TARGET}×)`,
    met: ratio >= TARGET,
    others: maxOthers(ms.plain, ms[`cairn${ps}`]),
    raw: { n: N, pulseSize: ps, ceiling: (2 * cpuPerEu(ms.plain)) / cpuPerEu(ms[`cairn${ps}`]), cairnMs: ms[`cairn${ps}`].map((r) => r.ms), plainMs: ms.plain.map((r) => r.ms), cairnCpuMs: ms[`cairn${ps}`].map((r) => r.load.ownCpuMs), plainCpuMs: ms.plain.map((r) => r.load.ownCpuMs), reps: REPS },
  });
}
const r1024 = rate(N, median(ms[`cairn${PULSE_SIZES[0]}`].map((r) => r.ms)));
if (pisc !== undefined) {
  const pr = rate(N, median(ms.piscina.map((r) => r.ms)));
  const ratio = r1024 / pr;
  report({
    figure: `(b) trivial vs Piscina (1 task/item, 2 threads), pulse ${PULSE_SIZES[0]}`,
    cairn: fmtRate(r1024),
    baseline: `Piscina ${fmtRate(pr)}`,
    ratio: `${fmtNum(ratio)}×`,
    target: `≥ ${PISCINA_TARGET}×`,
    met: ratio >= PISCINA_TARGET,
    others: maxOthers(ms.piscina, ms[`cairn${PULSE_SIZES[0]}`]),
    raw: { n: N, piscinaMs: ms.piscina.map((r) => r.ms), piscinaCpuMs: ms.piscina.map((r) => r.load.ownCpuMs), piscinaVersion: pisc.version },
  });
} else {
  report({ figure: "(b) trivial vs Piscina", cairn: fmtRate(r1024), baseline: "piscina not installed", ratio: "—", target: `≥ ${PISCINA_TARGET}×`, met: null });
}
