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
 * - The lane never waits for a terminate longer than WORKER_TERMINATE_WAIT_MS: `terminate()`
 *   cannot interrupt a worker blocked in a synchronous native call (`execSync`, a synchronous fs
 *   call on a hung mount, a native addon), so a timeout or cancellation returns at the deadline
 *   and such a worker is ABANDONED — unref'd, it runs until its call returns and then ends.
 *   Node joins every worker thread when the process exits, so the process cannot end (by exit
 *   or `process.exit`) before that call returns; a signal's default action still ends it.
 *   `abandonedWorkers()` counts such workers.
 * - Every message from the worker is validated (the module can post anything on `parentPort`):
 *   anything but a plain object with a known `t` and its fields is `semantic_runtime_failed`
 *   (`invalid_worker_message`); an event whose `event_type` is not a non-empty string or whose
 *   payload is not JSON (or that cannot be built into an ExecutionEvent) is
 *   `semantic_runtime_failed` (`invalid_event`). The deadline is raced as a tagged value, so no
 *   posted value can pose as a timeout or cancellation.
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
import type { JsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { checkPlacement, LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { capabilities, checkLaneId, Deadline, deadlineFailure, effectiveTimeout, invalidRequest, isJsonValue, laneIdOption, parseLaneOptions, Run, type StopReason, timeoutOptions } from "./common.js";
import type { Lane, LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import { MAX_ABANDONED_WORKERS, MAX_WORKER_HEAP_MB, MIN_WORKER_HEAP_MB, WORKER_MAX_CONSOLE_BYTES, WORKER_MAX_OLD_GENERATION_MB, WORKER_TERMINATE_WAIT_MS } from "./limits.js";

const moduleRef = z.string().refine((s) => s.startsWith("file:") || isAbsolute(s), { message: "must be an absolute path or a file: URL" });

export const workerLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("worker"),
    modules: z.record(z.string().min(1), z.object({ module: moduleRef, export: z.string().min(1).default("default") }).strict()).default({}),
    max_old_generation_mb: z.number().int().min(MIN_WORKER_HEAP_MB).max(MAX_WORKER_HEAP_MB).default(WORKER_MAX_OLD_GENERATION_MB),
    ...timeoutOptions,
  })
  .strict();
export type WorkerLaneOptions = z.input<typeof workerLaneOptionsSchema>;

/** The worker's entry (CommonJS, evaluated): import the module, call the export, post messages. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { url, name, payload, info } = workerData;
const post = (m) => parentPort.postMessage(m);
const ctx = Object.freeze({ ...info, emit: (event_type, p) => post({ t: "event", event_type, payload: p }) });
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
  | { t: "event"; event_type: string; payload: JsonValue }
  | { t: "load_error"; name: string; message: string }
  | { t: "export_missing" }
  | { t: "threw"; name: string; message: string }
  | { t: "result"; value: unknown }
  | { t: "bad_result" };

type Ending = WorkerMessage | { t: "error"; message: string } | { t: "exit"; code: number } | { t: "invalid"; reason: "invalid_event" | "invalid_worker_message"; message: string };

/** What ended the wait: the worker (tagged), the deadline, or an event that could not be emitted (cap, invalid). */
type Race = { by: "worker"; end: Ending } | { by: "deadline"; reason: StopReason } | { by: "events"; failure: LaneFailure };

/** Workers whose terminate did not complete within WORKER_TERMINATE_WAIT_MS and that have not exited yet. */
const abandoned = new Set<Worker>();

/**
 * How many lane workers were abandoned — still running after the lane returned, because a
 * synchronous native call kept `terminate()` from taking effect — and have not exited yet. Node
 * joins them before the process can exit; the CLI says so when this is not 0.
 */
export function abandonedWorkers(): number {
  return abandoned.size;
}

/**
 * Terminates `worker`, waiting at most WORKER_TERMINATE_WAIT_MS. A worker still running then is
 * blocked in a synchronous native call that terminate cannot interrupt: it is unref'd (it no
 * longer keeps the event loop alive) and left to end when its call returns.
 */
async function stopWorker(worker: Worker): Promise<void> {
  let exited = false;
  const exit = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  void exit.then(() => {
    exited = true;
    abandoned.delete(worker);
  });
  const terminating = worker.terminate().then(
    () => undefined,
    () => undefined,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([terminating, exit, new Promise<void>((resolve) => (timer = setTimeout(resolve, WORKER_TERMINATE_WAIT_MS)))]);
  clearTimeout(timer);
  if (!exited && worker.threadId !== -1) {
    abandoned.add(worker);
    worker.unref();
  }
}

const isRecord = (m: unknown): m is Record<string, unknown> => {
  if (m === null || typeof m !== "object" || Array.isArray(m)) return false;
  const proto = Object.getPrototypeOf(m) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * Validates one message from the worker (the module can post anything on `parentPort`): a plain
 * object with a known `t` and the fields that `t` needs; anything else is an `invalid` ending.
 */
export function parseWorkerMessage(m: unknown): WorkerMessage | Extract<Ending, { t: "invalid" }> {
  const invalid = (reason: "invalid_event" | "invalid_worker_message", message: string): Extract<Ending, { t: "invalid" }> => ({ t: "invalid", reason, message });
  if (!isRecord(m)) return invalid("invalid_worker_message", "the worker posted a message that is not a plain object");
  switch (m.t) {
    case "event":
      if (typeof m.event_type !== "string" || m.event_type.length === 0) return invalid("invalid_event", "the function emitted an event whose event_type is not a non-empty string");
      if (!isJsonValue(m.payload)) return invalid("invalid_event", "the function emitted an event whose payload is not JSON");
      return { t: "event", event_type: m.event_type, payload: m.payload };
    case "load_error":
    case "threw":
      return typeof m.name === "string" && typeof m.message === "string" ? { t: m.t, name: m.name, message: m.message } : invalid("invalid_worker_message", `the worker posted a malformed ${m.t} message`);
    case "export_missing":
    case "bad_result":
      return { t: m.t };
    case "result":
      return { t: "result", value: m.value };
    default:
      return invalid("invalid_worker_message", "the worker posted a message of unknown type");
  }
}

export class WorkerLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof workerLaneOptionsSchema>;

  constructor(options: WorkerLaneOptions = {}) {
    this.opts = parseLaneOptions("worker", workerLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["worker_thread"], [PLACEMENT_SURFACES.local], false);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request, "semantic_runtime_failed");
    const entry = this.opts.modules[request.operation];
    const bad =
      checkLaneId(this.id, request) ??
      (entry === undefined ? invalidRequest("$.operation", `no module is registered for ${JSON.stringify(request.operation)}`, { registered: Object.keys(this.opts.modules).sort() }) : null) ??
      checkPlacement(this.id, ["local"], LOCAL_PLACEMENT, request.admission_request.placement);
    if (bad !== null || entry === undefined) return run.failWith(bad ?? invalidRequest("$.operation", "unknown"));
    run.timeoutMs = effectiveTimeout(undefined, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before start");
    // Each abandoned worker still holds a thread and its heap until its native call returns:
    // past MAX_ABANDONED_WORKERS, no new one is started (a module that blocks on every call
    // would otherwise grow a long-lived process without bound).
    if (abandoned.size >= MAX_ABANDONED_WORKERS) {
      return run.fail("launch_failed", `${abandoned.size} workers of earlier executions are still blocked in synchronous native calls (at most ${MAX_ABANDONED_WORKERS}): no new worker is started until one ends`, null, {
        reason: "too_many_abandoned_workers",
        abandoned: abandoned.size,
      });
    }

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
    let settled = false;
    const ending = new Promise<Ending>((resolve) => {
      const finish = (e: Ending): void => {
        settled = true;
        resolve(e);
      };
      worker.on("message", (raw: unknown) => {
        if (settled) return;
        const m = parseWorkerMessage(raw);
        if (m.t !== "event") return finish(m);
        if (deadline.reason !== null) return;
        run.emit(m.event_type, m.payload); // never throws; a refused event resolves run.eventsFailed
      });
      worker.on("error", (err) => finish({ t: "error", message: err.message }));
      worker.on("exit", (code) => finish({ t: "exit", code }));
    });
    const race: Race = await Promise.race([
      ending.then((end): Race => ({ by: "worker", end })),
      deadline.fired.then((reason): Race => ({ by: "deadline", reason })),
      run.eventsFailed.then((failure): Race => ({ by: "events", failure })),
    ]);
    deadline.dispose();
    await stopWorker(worker);

    if (race.by === "deadline") return deadlineFailure(run, race.reason, null);
    if (race.by === "events") return run.failWith(race.failure);
    if (run.eventFailure !== null) return run.failWith(run.eventFailure);
    const end = race.end;
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
      case "invalid":
        return run.fail("semantic_runtime_failed", end.message, null, { reason: end.reason });
      case "error":
        return run.fail("semantic_runtime_failed", `worker error: ${end.message}`, null, { reason: "worker_error" });
      case "exit":
        return run.fail("semantic_runtime_failed", `worker exited with code ${end.code} before returning`, null, { reason: "worker_exited", exit_code: end.code });
      default:
        return run.fail("semantic_runtime_failed", "unexpected worker message", null, { reason: "worker_error" });
    }
  }
}
