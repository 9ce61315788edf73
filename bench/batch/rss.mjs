/**
 * Bench (d): peak RSS of a run of the trivial function over 10^6 EUs (× $CAIRN_BENCH_SCALE;
 * 10^7 with CAIRN_BENCH_HUGE=1) with maxMemoryBytes 256 MiB, workers 2, partitions 8,
 * pulse size 1024. Target: peak ≤ the bound.
 *
 * The engine runs on this process's main thread and its workers are threads of this
 * process, so the process RSS is the whole tree. It is sampled every 50 ms on the main
 * thread (samples can be late while the main thread is busy), and VmHWM from
 * /proc/self/status (the kernel's high-water mark, since process start) is read at the end;
 * the peak reported is the larger. Nothing else runs in this process: bench/batch.mjs
 * writes the input file beforehand, in another process.
 */
import { join } from "node:path";
import { HERE, HUGE, MIB, awaitQuiet, SCALE, cairnRun, ensureInput, fmtLoad, fmtMiB, fmtNum, fmtRate, header, inputDir, rate, report, rssSampler } from "./common.mjs";

const BOUND = 256 * MIB;
const N = Math.max(1, Math.round((HUGE ? 1e7 : 1e6) * SCALE));
const fnPath = join(HERE, "trivial-fn.mjs");

header(`(d) peak RSS, trivial function, ${N.toLocaleString("en-US")} EUs, maxMemoryBytes 256 MiB`);
const input = ensureInput(inputDir(), N);
await awaitQuiet();
const startRss = process.memoryUsage.rss();
let sampler;
const r = await cairnRun(input, fnPath, { pulseSize: 1024, maxMemoryBytes: BOUND }, { onBeforeRun: () => (sampler = rssSampler(50)) });
const { sampledPeak, samples, hwm } = sampler.stop();
const peak = Math.max(sampledPeak, hwm ?? 0);
console.log(`  run: ${fmtNum(r.ms / 1000)} s  ${fmtRate(rate(N, r.ms))}; ${fmtLoad(r.load, N)}`);
console.log(`  RSS before the run ${fmtMiB(startRss)}; sampled peak ${fmtMiB(sampledPeak)} (${samples} samples); VmHWM ${hwm === undefined ? "n/a" : fmtMiB(hwm)}`);
console.log(`  peak ${fmtMiB(peak)} vs bound ${fmtMiB(BOUND)} → ${peak <= BOUND ? "within" : "OVER"} (${fmtNum((peak / BOUND) * 100, 0)}% of the bound)`);
report({
  figure: `(d) peak RSS, ${N.toLocaleString("en-US")} EUs, maxMemoryBytes 256 MiB`,
  cairn: fmtMiB(peak),
  baseline: `bound ${fmtMiB(BOUND)}`,
  ratio: `${fmtNum(peak / BOUND)} of bound`,
  target: "≤ bound",
  met: peak <= BOUND,
  others: r.load.others,
  raw: { n: N, peak, sampledPeak, hwm, startRss, samples, ms: r.ms },
});
