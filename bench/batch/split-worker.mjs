/**
 * Worker for the "ideal 2-thread split" baseline of bench (a): applies the bench function to
 * its contiguous share of the records and returns their JSON texts, in order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { cpuWork, trivial } from "./fns.mjs";

const { kind, iters, records } = workerData;
const fn = kind === "cpu" ? (x) => cpuWork(x, iters) : trivial;
parentPort.postMessage(records.map((x) => JSON.stringify(fn(x))));
