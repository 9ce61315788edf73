/**
 * Piscina worker for the batch benches: one task per item. Like Cairn's sandbox worker, it
 * returns the output's JSON text (the serialisation happens off the main thread).
 * The CPU function's iteration count comes from $CAIRN_BENCH_CPU_ITERS (worker threads get
 * a copy of the parent's environment at creation).
 */
import { cpuWork, trivial as trivialFn } from "./fns.mjs";

const ITERS = Number(process.env.CAIRN_BENCH_CPU_ITERS ?? "0");

export function trivial(x) {
  return JSON.stringify(trivialFn(x));
}

export function cpu(x) {
  return JSON.stringify(cpuWork(x, ITERS));
}
