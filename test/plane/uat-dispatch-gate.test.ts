/**
 * UAT of 2026-11-28: the dispatch gate (node.ts, DISPATCH GATE). Admission's evidence may wait
 * (a store sink waits for the store's writer lock); an abort, or an authority ref or target
 * descriptor that expires meanwhile, must keep the lane from being called.
 */
import { describe, expect, it } from "vitest";
import type { Clock } from "../../src/core/clock.js";
import type { Evidence } from "../../src/plane/contracts/execution.js";
import type { EvidenceSink } from "../../src/plane/evidence/sinks.js";
import { harness, request, T0, type Harness, type HarnessOptions } from "./node-helpers.js";

/** A clock the test moves. */
function movableClock(start: number): Clock & { set(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms: number) => void (t = ms) };
}

/** A sink whose emit of `admission.accepted` waits until `release()` (a store's lock wait). */
class BlockingSink implements EvidenceSink {
  readonly sink_id = "blocking";
  readonly types: string[] = [];
  private gate: Promise<void>;
  release!: () => void;
  /** Resolves once `admission.accepted` is being emitted (the wait has begun). */
  readonly blocked: Promise<void>;
  private onBlocked!: () => void;
  constructor() {
    this.gate = new Promise<void>((r) => (this.release = r));
    this.blocked = new Promise<void>((r) => (this.onBlocked = r));
  }
  async emit(e: Evidence): Promise<void> {
    this.types.push(e.evidence_type);
    if (e.evidence_type === "admission.accepted") {
      this.onBlocked();
      await this.gate;
    }
  }
}

function setup(o: HarnessOptions = {}): { h: Harness; clock: ReturnType<typeof movableClock>; sink: BlockingSink } {
  const clock = movableClock(T0);
  const h = harness({ ...o, clock, complete: false });
  const sink = new BlockingSink();
  h.node.registerEvidenceSink(sink).completeRegistration();
  return { h, clock, sink };
}

const types = (h: Harness) => h.sink.records.map((e) => e.evidence_type);
const completed = (h: Harness) => h.sink.records.find((e) => e.evidence_type === "execution.completed")?.payload as Record<string, unknown>;

describe("dispatch gate: nothing is dispatched after a wait that outlived the request's standing", () => {
  it("an abort while admission.accepted is being recorded: the lane is never called, failed / cancellation", async () => {
    const { h, sink } = setup();
    const ac = new AbortController();
    const running = h.node.execute(request(h), { signal: ac.signal });
    await sink.blocked;
    expect(h.node.runningRefs()).toEqual([]); // not cancellable yet: cancel(ref) could not reach it
    ac.abort();
    sink.release();
    const r = await running;
    expect(h.lane.calls).toHaveLength(0);
    expect(r.status).toBe("failed");
    expect(r.failure?.class).toBe("cancellation");
    expect(r.failure?.message).toMatch(/before dispatch/);
    expect(r.failure?.details).toEqual({ dispatched: false });
    expect(types(h)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
    expect(completed(h)).toMatchObject({ status: "failed", failure_class: "cancellation", dispatched: false });
    expect(r.evidence).toEqual(h.sink.records.map((e) => e.evidence_id));
    expect(sink.types).toEqual(types(h));
    expect(h.node.runningRefs()).toEqual([]);
  });

  it("a signal aborted before execute: admitted, then not dispatched", async () => {
    const { h, sink } = setup();
    sink.release();
    const r = await h.node.execute(request(h), { signal: AbortSignal.abort() });
    expect(h.lane.calls).toHaveLength(0);
    expect([r.status, r.failure?.class]).toEqual(["failed", "cancellation"]);
    expect(types(h).filter((t) => t === "execution.cancelled")).toHaveLength(1);
  });

  it("an authority ref that expires during the wait: the lane is never called, failed / approval_expired", async () => {
    const { h, clock, sink } = setup();
    const running = h.node.execute(request(h, {}, { expiresAt: T0 + 1000 }));
    await sink.blocked;
    clock.set(T0 + 1000); // now >= expires_at
    sink.release();
    const r = await running;
    expect(h.lane.calls).toHaveLength(0);
    expect(r.status).toBe("failed");
    expect(r.failure?.class).toBe("approval_expired");
    expect(r.failure?.message).toContain("the authority ref expired at 2023-11-14T22:13:21.000Z");
    expect(r.failure?.message).toContain("before dispatch");
    expect(r.failure?.details).toEqual({ reason: "authority_ref_expired", expires_at: T0 + 1000, now: T0 + 1000, dispatched: false });
    expect(types(h)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(completed(h)).toMatchObject({ status: "failed", failure_class: "approval_expired", dispatched: false });
  });

  it("a target descriptor that expires during the wait: the lane is never called, failed / lease_expired", async () => {
    const { h, clock, sink } = setup({ ttlMs: 1000 });
    const descriptor = h.node.describe().verified_targets[0];
    expect(descriptor?.expires_at).toBe(T0 + 1000);
    const running = h.node.execute(request(h));
    await sink.blocked;
    clock.set(T0 + 1500);
    sink.release();
    const r = await running;
    expect(h.lane.calls).toHaveLength(0);
    expect(r.status).toBe("failed");
    expect(r.failure?.class).toBe("lease_expired");
    expect(r.failure?.message).toContain("the descriptor of target t-local expired at 2023-11-14T22:13:21.000Z");
    expect(r.failure?.details).toEqual({ reason: "target_descriptor_expired", target_id: "t-local", expires_at: T0 + 1000, now: T0 + 1500, dispatched: false });
    expect(types(h)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
  });

  it("control: a wait without abort or expiry dispatches once and succeeds, as before", async () => {
    const { h, clock, sink } = setup({ ttlMs: 10_000 });
    const ac = new AbortController();
    const running = h.node.execute(request(h, {}, { expiresAt: T0 + 10_000 }), { signal: ac.signal });
    await sink.blocked;
    clock.set(T0 + 9_999);
    sink.release();
    const r = await running;
    expect(r.status).toBe("succeeded");
    expect(h.lane.calls).toHaveLength(1);
    expect(types(h)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(completed(h)).not.toHaveProperty("dispatched");
  });

  it("an abort after dispatch cancels the running execution like cancel(ref)", async () => {
    const { h, sink } = setup();
    sink.release();
    const ac = new AbortController();
    let started!: () => void;
    const inLane = new Promise<void>((r) => (started = r));
    h.lane.calls.length = 0;
    const lane = h.lane as unknown as { execute: (req: unknown, ctx: { signal: AbortSignal; clock: Clock }) => Promise<unknown> };
    lane.execute = (_req, ctx) =>
      new Promise((resolve) => {
        started();
        ctx.signal.addEventListener("abort", () =>
          resolve({ status: "failed", output: null, failure: { class: "cancellation", message: "stopped" }, metrics: { started_at: T0, finished_at: T0, timeout_ms: 0 } }),
        );
      });
    const running = h.node.execute(request(h), { signal: ac.signal });
    await inLane;
    ac.abort();
    const r = await running;
    expect([r.status, r.failure?.class, r.failure?.message]).toEqual(["failed", "cancellation", "stopped"]);
    expect(types(h)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
  });

  it("bad options are E_USAGE", async () => {
    const { h } = setup();
    await expect(h.node.execute(request(h), { signal: "x" } as never)).rejects.toMatchObject({ code: "E_USAGE" });
    await expect(h.node.execute(request(h), { singal: undefined } as never)).rejects.toMatchObject({ code: "E_USAGE" });
    expect(h.sink.records).toHaveLength(0);
  });
});
