/** The batch engine's execution-function loading and deterministic worker sandbox. */
export { bundleModule, MODULE_EXTENSIONS, type ModuleBundle } from "./bundle.js";
export {
  WorkerPool, MAX_POOL_SIZE, MAX_QUEUED_REQUESTS, REDUCE_CHUNK_SIZE, DEFAULT_STARTUP_TIMEOUT_MS,
  type PulseOutcome, type RunPulseOptions, type WorkerPoolOptions,
} from "./pool.js";
export {
  PARTIAL_RESULTS_BYTES, PARTIAL_RESULTS_CHUNK, SandboxCode, type CrashCode, type EuId, type EUTask, type EUResult, type EUError, type EUJsonOutput, type EUBytesOutput,
  type EUFailure, type ReduceItem,
} from "./protocol.js";
export type { EUContext } from "./worker.js";
