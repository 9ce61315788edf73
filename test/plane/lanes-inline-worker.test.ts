import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InlineLane } from "../../src/plane/lanes/inline.js";
import { MAX_EVENT_BYTES_PER_EXECUTION, MAX_EVENTS_PER_EXECUTION } from "../../src/plane/lanes/limits.js";
import { WorkerLane } from "../../src/plane/lanes/worker.js";
import { exec, harness, metrics, request, T0 } from "./fixtures/lanes/harness.js";

const FNS = fileURLToPath(new URL("./fixtures/lanes/worker-fns.mjs", import.meta.url));
const BROKEN = fileURLToPath(new URL("./fixtures/lanes/broken-module.mjs", import.meta.url));

describe("inline lane", () => {
  const lane = new InlineLane({
    functions: {
      echo: (payload, ctx) => {
        ctx.emit("seen", { op: ctx.operation });
        return { payload, ref: ctx.execution_ref, key: ctx.idempotency_key };
      },
      boom: () => {
        throw new TypeError("no good");
      },
      nothing: () => undefined as unknown as null,
      slow: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("stopped"))),
    },
    default_timeout_ms: 150,
  });

  it("returns the function's value and emits its events in order", async () => {
    const { outcome, events } = await exec(lane, "echo", { x: 1 });
    expect(outcome).toEqual({ status: "succeeded", output: { payload: { x: 1 }, ref: "exec-1", key: "k1" }, metrics: metrics(150) });
    expect(events).toEqual([
      { contract_version: 1, event_id: `event-${T0}-1`, execution_ref: "exec-1", event_type: "seen", payload: { op: "echo" }, emitted_at: T0, evidence: [] },
    ]);
  });

  it("a throw is semantic_runtime_failed", async () => {
    const { outcome } = await exec(lane, "boom", {});
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: { class: "semantic_runtime_failed", message: "no good", details: { reason: "threw", error_name: "TypeError" } },
      metrics: metrics(150),
    });
  });

  it("a non-JSON result is semantic_runtime_failed", async () => {
    const { outcome } = await exec(lane, "nothing", {});
    expect(outcome.failure).toMatchObject({ class: "semantic_runtime_failed", details: { reason: "non_json_result" } });
  });

  it("timeout aborts ctx.signal and reports timeout", async () => {
    const { outcome } = await exec(lane, "slow", {});
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 150 ms", details: { timeout_ms: 150 } });
  });

  it("cancellation via ctx.signal", async () => {
    const h = harness();
    const pending = lane.execute(request("inline", "slow", {}), h.ctx);
    setTimeout(() => h.controller.abort(), 20);
    expect((await pending).failure).toEqual({ class: "cancellation", message: "cancelled" });
  });

  it("an unregistered operation is an invalid lane request listing the registered ones", async () => {
    const { outcome } = await exec(lane, "missing", {});
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: 'invalid lane request: $.operation: no function is registered for "missing"',
      details: { reason: "invalid_lane_request", path: "$.operation", registered: ["boom", "echo", "nothing", "slow"] },
    });
  });

  it("events beyond the shared count cap are dropped, abort ctx.signal and fail protocol_framing_failed", async () => {
    let abortedAtReturn = false;
    const flood = new InlineLane({
      functions: {
        flood: (_p, ctx) => {
          for (let i = 0; i <= MAX_EVENTS_PER_EXECUTION; i++) ctx.emit("tick", i);
          abortedAtReturn = ctx.signal.aborted;
          return "done";
        },
      },
    });
    const { outcome, events } = await exec(flood, "flood", {});
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "event_cap_exceeded", events: MAX_EVENTS_PER_EXECUTION, max_events: MAX_EVENTS_PER_EXECUTION } });
    expect(events).toHaveLength(MAX_EVENTS_PER_EXECUTION);
    expect(abortedAtReturn).toBe(true);
  });

  it("register() adds operations", async () => {
    const l = new InlineLane().register("two", () => 2);
    expect((await exec(l, "two", {})).outcome.output).toBe(2);
  });
});

describe("worker lane", () => {
  const mods = {
    add: { module: FNS, export: "add" },
    fail: { module: FNS, export: "fail" },
    spin: { module: FNS, export: "spin" },
    date: { module: FNS, export: "date" },
    exit: { module: FNS, export: "exit" },
    noisy: { module: FNS, export: "noisy" },
    flood: { module: FNS, export: "flood" },
    emitEmpty: { module: FNS, export: "emitEmpty" },
    emitUndefinedType: { module: FNS, export: "emitUndefinedType" },
    postRaw: { module: FNS, export: "postRaw" },
    emitDate: { module: FNS, export: "emitDate" },
    main: { module: FNS },
    missing: { module: FNS, export: "notAFunction" },
    broken: { module: BROKEN },
  };
  const lane = new WorkerLane({ modules: mods, default_timeout_ms: 2000 });

  it("runs the export in a worker with an empty env; events arrive in order before the result", async () => {
    const { outcome, events } = await exec(lane, "add", { a: 2, b: 3 });
    expect(outcome).toEqual({ status: "succeeded", output: { sum: 5, op: "add", ref: "exec-1", key: "k1", env: 0 }, metrics: metrics(2000) });
    expect(events.map((e) => [e.event_id, e.event_type, e.payload])).toEqual([
      [`event-${T0}-1`, "progress", { step: 1 }],
      [`event-${T0}-2`, "progress", { step: 2 }],
    ]);
  });

  it("uses the default export when none is named; console output never reaches the result", async () => {
    expect((await exec(lane, "main", [1])).outcome.output).toEqual({ default: [1] });
    expect((await exec(lane, "noisy", {})).outcome.output).toBe("quiet");
  });

  it("a throw is semantic_runtime_failed", async () => {
    const { outcome } = await exec(lane, "fail", {});
    expect(outcome.failure).toEqual({ class: "semantic_runtime_failed", message: "bad input", details: { reason: "threw", error_name: "RangeError" } });
  });

  it("a non-JSON result and an early exit are semantic_runtime_failed", async () => {
    expect((await exec(lane, "date", {})).outcome.failure?.details).toEqual({ reason: "non_json_result" });
    expect((await exec(lane, "exit", {})).outcome.failure).toEqual({
      class: "semantic_runtime_failed",
      message: "worker exited with code 7 before returning",
      details: { reason: "worker_exited", exit_code: 7 },
    });
  });

  it("timeout terminates a spinning worker", async () => {
    const quick = new WorkerLane({ modules: mods, default_timeout_ms: 200 });
    const started = Date.now();
    const { outcome } = await exec(quick, "spin", {});
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 200 ms", details: { timeout_ms: 200 } });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("events beyond the shared byte cap terminate the worker: protocol_framing_failed (event_cap_exceeded)", async () => {
    const size = 1024 * 1024;
    const { outcome, events } = await exec(new WorkerLane({ modules: mods, default_timeout_ms: 30_000 }), "flood", { size, count: Math.ceil(MAX_EVENT_BYTES_PER_EXECUTION / size) + 2 });
    expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "event_cap_exceeded", max_event_bytes: MAX_EVENT_BYTES_PER_EXECUTION } });
    expect(events.length).toBeLessThan(MAX_EVENT_BYTES_PER_EXECUTION / size);
    expect(events.length).toBeGreaterThan(0);
  });

  it("cancellation terminates the worker", async () => {
    const h = harness();
    const pending = lane.execute(request("worker", "spin", {}), h.ctx);
    setTimeout(() => h.controller.abort(), 100);
    expect((await pending).failure?.class).toBe("cancellation");
  });

  it("a module that fails to load or lacks the export is launch_failed", async () => {
    expect((await exec(lane, "broken", {})).outcome.failure).toEqual({
      class: "launch_failed",
      message: `cannot load ${BROKEN}: broken at load`,
      details: { reason: "module_load_failed", module: BROKEN },
    });
    expect((await exec(lane, "missing", {})).outcome.failure?.details).toEqual({ reason: "export_missing", module: FNS, export: "notAFunction" });
  });

  it("an event with an empty event_type fails semantic_runtime_failed (invalid_event) instead of crashing the process", async () => {
    const { outcome, events } = await exec(lane, "emitEmpty", {});
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: { class: "semantic_runtime_failed", message: "the function emitted an event whose event_type is not a non-empty string", details: { reason: "invalid_event" } },
      metrics: metrics(2000),
    });
    expect(events).toEqual([]);
  });

  it("an event whose type is not a string (undefined) is invalid_event too, not the type \"undefined\"", async () => {
    const { outcome, events } = await exec(lane, "emitUndefinedType", {});
    expect(outcome.failure).toEqual({ class: "semantic_runtime_failed", message: "the function emitted an event whose event_type is not a non-empty string", details: { reason: "invalid_event" } });
    expect(events).toEqual([]);
  });

  it("an event with a non-JSON payload fails semantic_runtime_failed (invalid_event)", async () => {
    const { outcome, events } = await exec(lane, "emitDate", {});
    expect(outcome.failure).toEqual({ class: "semantic_runtime_failed", message: "the function emitted an event whose payload is not JSON", details: { reason: "invalid_event" } });
    expect(events).toEqual([]);
  });

  it("a message posted on parentPort that is not a known worker message fails semantic_runtime_failed (invalid_worker_message)", async () => {
    const failure = { class: "semantic_runtime_failed", message: "the worker posted a message that is not a plain object", details: { reason: "invalid_worker_message" } };
    expect((await exec(lane, "postRaw", { message: null })).outcome.failure).toEqual(failure);
    expect((await exec(lane, "postRaw", { message: [1] })).outcome.failure).toEqual(failure);
    expect((await exec(lane, "postRaw", { message: { t: "nope" } })).outcome.failure).toEqual({
      class: "semantic_runtime_failed",
      message: "the worker posted a message of unknown type",
      details: { reason: "invalid_worker_message" },
    });
    expect((await exec(lane, "postRaw", { message: { t: "threw", name: 1 } })).outcome.failure?.details).toEqual({ reason: "invalid_worker_message" });
  });

  it("a posted string such as \"timeout\" is an invalid worker message, never a deadline", async () => {
    for (const message of ["timeout", "cancellation"]) {
      const { outcome } = await exec(lane, "postRaw", { message, wait_ms: 50 });
      expect(outcome.failure).toEqual({ class: "semantic_runtime_failed", message: "the worker posted a message that is not a plain object", details: { reason: "invalid_worker_message" } });
    }
  });

  it("rejects relative module paths at construction, naming the field", () => {
    expect(() => new WorkerLane({ modules: { x: { module: "rel.mjs" } } })).toThrow(/module/);
  });
});
