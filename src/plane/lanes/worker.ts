/**
 * The worker lane: each execution runs a registered module function in a FRESH worker thread
 * (node:worker_threads), `export function f(payload, ctx) => JsonValue | Promise<JsonValue>`,
 * where `ctx` is `{ operation, execution_ref, idempotency_key, emit(event_type, payload) }`.
 *
 * - Operations map to `{ module, export }` in the lane options; `module` is an absolute path or
 *   a `file:` URL of an ES module (or CommonJS) the worker imports. A module that fails to
 *   load, or lacks the export, is `launch_failed`.
 * - The worker starts with an empty `process.env`, a V8 heap cap (`max_old_generation_mb`) and
 *   its stdout/stderr captured (bounded, discarded) so it never writes to the node's stdout.
 * - A throw/rejection, a non-JSON result, an uncaught error or the worker exiting without a
 *   result is `semantic_runtime_failed`. Timeout → the worker is terminated → `timeout`;
 *   cancellation → terminated → `cancellation`.
 * - Events emitted by the function arrive in order, before the result. Beyond the shared
 *   per-execution cap (MAX_EVENTS_PER_EXECUTION / MAX_EVENT_BYTES_PER_EXECUTION) the worker is
 *   terminated and the execution fails `protocol_framing_failed` (`event_cap_exceeded`).
 *
 * The worker is NOT a security boundary (it shares the process: fs, net and child_process are
 * reachable); it bounds time and heap, and contains crashes of the function.
 */
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { z } from "zod";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { checkPlacement, LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { capabilities, checkLaneId, Deadline, deadlineFailure, effectiveTimeout, invalidRequest, isJsonValue, laneIdOption, Run, timeoutOptions } from "./common.js";
import type { Lane, LaneContext, LaneOutcome } from "./lane.js";
import { WORKER_MAX_CONSOLE_BYTES, WORKER_MAX_OLD_GENERATION_MB } from "./limits.js";

/** Hard maximum for `max_old_generation_mb`. */
export const MAX_WORKER_HEAP_MB = 8192;

const moduleRef = z.string().refine((s) => s.startsWith("file:") || isAbsolute(s), { message: "must be an absolute path or a file: URL" });

export const workerLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("worker"),
    modules: z.record(z.string().min(1), z.object({ module: moduleRef, export: z.string().min(1).default("default") }).strict()).default({}),
    max_old_generation_mb: z.number().int().min(16).max(MAX_WORKER_HEAP_MB).default(WORKER_MAX_OLD_GENERATION_MB),
    ...timeoutOptions,
  })
  .strict();
export type WorkerLaneOptions = z.input<typeof workerLaneOptionsSchema>;

/** The worker's entry (CommonJS, evaluated): import the module, call the export, post messages. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { url, name, payload, info } = workerData;
const post = (m) => parentPort.postMessage(m);
const ctx = Object.freeze({ ...info, emit: (event_type, p) => post({ t: "event", event_type: String(event_type), payload: p }) });
const describe = (e) => ({ name: e && e.name ? String(e.name) : typeof e, message: e && e.message !== undefined ? String(e.message) : String(e) });
(async () => {
  let fn;
  try {
    const mod = await import(url);
    fn = mod[name];
  } catch (e) {
    post({ t: "load_error", ...describe(e) });
    return;
  }
  if (typeof fn !== "function") {
    post({ t: "export_missing" });
    return;
  }
  let value;
  try {
    value = await fn(payload, ctx);
  } catch (e) {
    post({ t: "threw", ...describe(e) });
    return;
  }
  try {
    post({ t: "result", value });
  } catch (e) {
    post({ t: "bad_result" });
  }
})();
`;

type WorkerMessage =
  | { t: "event"; event_type: string; payload: unknown }
  | { t: "load_error"; name: string; message: string }
  | { t: "export_missing" }
  | { t: "threw"; name: string; message: string }
  | { t: "result"; value: unknown }
  | { t: "bad_result" };

type Ending = WorkerMessage | { t: "error"; message: string } | { t: "exit"; code: number };

export class WorkerLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof workerLaneOptionsSchema>;

  constructor(options: WorkerLaneOptions = {}) {
    this.opts = workerLaneOptionsSchema.parse(options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["worker_thread"], [PLACEMENT_SURFACES.local], false);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const entry = this.opts.modules[request.operation];
    const bad =
      checkLaneId(this.id, request) ??
      (entry === undefined ? invalidRequest("$.operation", `no module is registered for ${JSON.stringify(request.operation)}`, { registered: Object.keys(this.opts.modules).sort() }) : null) ??
      checkPlacement(this.id, ["local"], LOCAL_PLACEMENT, request.admission_request.placement);
    if (bad !== null || entry === undefined) return run.failWith(bad ?? invalidRequest("$.operation", "unknown"));
    run.timeoutMs = effectiveTimeout(undefined, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before start");

    const url = entry.module.startsWith("file:") ? entry.module : pathToFileURL(entry.module).href;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      env: {},
      stdout: true,
      stderr: true,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.opts.max_old_generation_mb },
      workerData: {
        url,
        name: entry.export,
        payload: request.payload,
        info: { operation: request.operation, execution_ref: request.execution_ref, idempotency_key: request.admission_request.idempotency_key },
      },
    });
    let consoleBytes = 0;
    const drain = (chunk: Buffer): void => {
      consoleBytes = Math.min(WORKER_MAX_CONSOLE_BYTES, consoleBytes + chunk.length); // read and discarded
    };
    worker.stdout.on("data", drain);
    worker.stderr.on("data", drain);

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    const ending = new Promise<Ending>((resolve) => {
      worker.on("message", (m: WorkerMessage) => {
        if (m.t === "event") {
          if (deadline.reason === null && isJsonValue(m.payload)) run.emit(m.event_type, m.payload);
          return;
        }
        resolve(m);
      });
      worker.on("error", (err) => resolve({ t: "error", message: err.message }));
      worker.on("exit", (code) => resolve({ t: "exit", code }));
    });
    const end = await Promise.race([ending, deadline.fired, run.overflowed]);
    deadline.dispose();
    await worker.terminate();

    if (typeof end === "string") return deadlineFailure(run, end, null);
    if ("class" in end) return run.failWith(end);
    if (run.eventOverflow !== null) return run.failWith(run.eventOverflow);
    switch (end.t) {
      case "result":
        return isJsonValue(end.value)
          ? run.fact("succeeded", end.value)
          : run.fail("semantic_runtime_failed", "the function returned a value that is not JSON", null, { reason: "non_json_result" });
      case "bad_result":
        return run.fail("semantic_runtime_failed", "the function returned a value that cannot be cloned", null, { reason: "non_json_result" });
      case "threw":
        return run.fail("semantic_runtime_failed", end.message, null, { reason: "threw", error_name: end.name });
      case "load_error":
        return run.fail("launch_failed", `cannot load ${entry.module}: ${end.message}`, null, { reason: "module_load_failed", module: entry.module });
      case "export_missing":
        return run.fail("launch_failed", `${entry.module} has no function export ${JSON.stringify(entry.export)}`, null, { reason: "export_missing", module: entry.module, export: entry.export });
      case "error":
        return run.fail("semantic_runtime_failed", `worker error: ${end.message}`, null, { reason: "worker_error" });
      case "exit":
        return run.fail("semantic_runtime_failed", `worker exited with code ${end.code} before returning`, null, { reason: "worker_exited", exit_code: end.code });
      default:
        return run.fail("semantic_runtime_failed", "unexpected worker message", null, { reason: "worker_error" });
    }
  }
}
