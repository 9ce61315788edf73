/**
 * Profiling harness (not a bench): one Cairn run() of the trivial function over 200k EUs
 * (× $CAIRN_BENCH_SCALE; or the count given as the first argument), workers 2, partitions 8,
 * pulse size 1024 (or the second argument). Run it under the CPU profiler and summarise:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/cairn-prof bench/batch/profile.mjs [N] [PULSE]
 *   node bench/batch/cpuprofile-summary.mjs /tmp/cairn-prof/*.cpuprofile
 *
 * --cpu-prof profiles the main thread only (the pool starts its workers with execArgv: []),
 * which is where the per-EU overhead of a trivial function goes (see docs/benchmarks-batch.md).
 */
import { join } from "node:path";
import { HERE, cairnRun, ensureInput, fmtNum, makeTmpDir, scaled } from "./common.mjs";

const N = process.argv[2] ? Number(process.argv[2]) : scaled(200_000);
const ps = process.argv[3] ? Number(process.argv[3]) : 1024;
const input = ensureInput(makeTmpDir("profile"), N);
const elu0 = performance.eventLoopUtilization();
const cpu0 = process.cpuUsage();
const r = await cairnRun(input, join(HERE, "trivial-fn.mjs"), { pulseSize: ps });
const elu = performance.eventLoopUtilization(elu0);
const cpu = process.cpuUsage(cpu0);
console.log(
  `${N.toLocaleString("en-US")} EUs, pulse ${ps}: ${fmtNum(r.ms, 0)} ms (${fmtNum((r.ms * 1000) / N)} µs/EU); ` +
    `process CPU (all threads) ${fmtNum((cpu.user + cpu.system) / 1000, 0)} ms; main-thread event-loop utilisation ${fmtNum(elu.utilization)}`,
);
