/**
 * UAT6 F2 (library side): the store evidence sink keeps an execution's records alive from its
 * FIRST record. Every non-terminal record is pinned `plane:open:<its digest>` and the open root of
 * the record it chains from is removed in the same transaction, so an execution has one open root,
 * on its latest record, until its terminal record removes it. Before, only terminal records and
 * outputs were pinned: an execution that never completed (the process was killed after dispatch)
 * left its request and accepted/selected/started records to the next gc.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalBytes } from "../../src/core/canonical.js";
import type { JsonValue } from "../../src/plane/contracts/base.js";
import { makeEvidence, type Evidence } from "../../src/plane/contracts/execution.js";
import { PLANE_OPEN_ROOT_PREFIX, PLANE_ROOT_PREFIX, StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { openStore, type Store } from "../../src/store/store.js";
import { EchoLane, T0, harness, request } from "./node-helpers.js";

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function storeDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-uat6-open-"));
  dirs.push(d);
  return join(d, "store");
}
function open(dir: string): Store {
  const s = openStore({ dir, durability: "normal" });
  stores.push(s);
  return s;
}
function close(s: Store): void {
  stores.splice(stores.indexOf(s), 1);
  s.close();
}
const openRoots = (s: Store) => [...s.iterateRoots({ prefix: PLANE_OPEN_ROOT_PREFIX })].map((r) => ({ name: r.name, digest: r.digest }));

/** A record of execution `ref` (request `req-<ref>`); admission records carry the request projection. */
function record(type: string, ref: string, i: number, payload: Record<string, JsonValue> = {}): Evidence {
  return makeEvidence({
    contract_version: 1, evidence_id: `ev-${ref}-${i}`, evidence_type: type, execution_ref: ref, request_id: `req-${ref}`, lane_id: "echo",
    policy_bundle_hash: null, target_id: null, target_verifier_id: null, attestation_class: null, authority_verifier_id: null, provenance_kind: "node_admitted",
    payload, emitted_at: T0 + i,
  });
}

/** Gc with no grace from a fresh writer handle (a handle never sweeps what it wrote itself). */
function gcFromNewHandle(dir: string): void {
  const s = open(dir);
  s.gc({ graceMs: 0 });
  close(s);
}

describe("store sink: the open root of an execution", () => {
  it("an execution that never reaches a terminal record keeps its records and request through gc", () => {
    const dir = storeDir();
    const s = open(dir);
    const sink = new StoreEvidenceSink(s);
    sink.emit(record("admission.accepted", "x1", 1, { request: { lane_id: "echo", payload_shape: "a" } }));
    sink.emit(record("target.selected", "x1", 2));
    sink.emit(record("execution.started", "x1", 3));
    const [acc, sel, started] = sink.recorded;
    // one open root, on the latest record (the earlier ones were moved on)
    expect(openRoots(s)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${started!.evidence}`, digest: started!.evidence }]);
    close(s); // the process dies here: no execution.completed
    gcFromNewHandle(dir);
    const after = open(dir);
    expect(openRoots(after)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${started!.evidence}`, digest: started!.evidence }]);
    for (const d of [acc!.evidence, sel!.evidence, started!.evidence, acc!.input!]) expect(after.get(d).length).toBeGreaterThan(0);
    expect(JSON.parse(after.get(started!.evidence).toString("utf8")).evidence_type).toBe("execution.started");
  });

  it("a terminal record removes the open root in its transaction; only the plane:<digest> roots stay", () => {
    const s = open(storeDir());
    const sink = new StoreEvidenceSink(s);
    sink.emit(record("admission.accepted", "x1", 1, { request: { r: 1 } }));
    expect(openRoots(s)).toHaveLength(1);
    sink.emit(record("execution.started", "x1", 2));
    expect(openRoots(s)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${sink.recorded[1]!.evidence}`, digest: sink.recorded[1]!.evidence }]);
    sink.emit(record("execution.completed", "x1", 3, { output: { o: 1 } }));
    expect(openRoots(s)).toEqual([]);
    const done = sink.recorded[2]!;
    expect([...s.iterateRoots({ prefix: PLANE_ROOT_PREFIX })].map((r) => r.name).sort()).toEqual([`${PLANE_ROOT_PREFIX}${done.evidence}`, `${PLANE_ROOT_PREFIX}${done.output}`].sort());
  });

  it("another execution with the same execution ref (an id source that repeats) never removes the first one's open root", () => {
    const dir = storeDir();
    const a = open(dir);
    const first = new StoreEvidenceSink(a);
    first.emit(record("admission.accepted", "x1", 1, { request: { which: "first" } }));
    first.emit(record("execution.started", "x1", 2, { which: "first" }));
    const killed = first.recorded[1]!.evidence;
    close(a); // killed
    const b = open(dir);
    const second = new StoreEvidenceSink(b); // a new process: same ids again
    second.emit(record("admission.accepted", "x1", 1, { request: { which: "second" } }));
    second.emit(record("execution.started", "x1", 2, { which: "second" }));
    second.emit(record("execution.completed", "x1", 3, { output: {} }));
    expect(openRoots(b)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${killed}`, digest: killed }]);
    close(b);
    gcFromNewHandle(dir);
    const c = open(dir);
    expect(c.get(killed).length).toBeGreaterThan(0);
    expect(c.get(first.recorded[0]!.input!).length).toBeGreaterThan(0);
  });

  it("a record whose transaction aborts leaves the open root on the last committed record", () => {
    const s = open(storeDir());
    let fail = false;
    // The real store, whose transaction is rolled back when `fail` is set (the record's writes undone).
    const failing = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop !== "transaction") return Reflect.get(target, prop, receiver) as unknown;
        return <T>(fn: () => T): T =>
          target.transaction(() => {
            const r = fn();
            if (fail) throw new Error("commit failed");
            return r;
          });
      },
    });
    const sink = new StoreEvidenceSink(failing);
    sink.emit(record("admission.accepted", "x1", 1, { request: {} }));
    const acc = sink.recorded[0]!.evidence;
    fail = true;
    expect(() => sink.emit(record("execution.started", "x1", 2))).toThrow(/commit failed/);
    expect(openRoots(s)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${acc}`, digest: acc }]);
  });
});

describe("node + store sink: the open root follows a live execution", () => {
  it("during the execution the open root is on execution.started, then on execution.cancelled; the completed execution leaves none", async () => {
    let release: () => void = () => undefined;
    const lane = new EchoLane("echo", (_req, ctx) =>
      new Promise((resolve) => {
        const done = () => resolve({ status: "failed", output: null, failure: { class: "cancellation", message: "cancelled" }, metrics: { started_at: ctx.clock.now(), finished_at: ctx.clock.now(), timeout_ms: 1 } });
        release = done;
        ctx.signal.addEventListener("abort", done, { once: true });
      }),
    );
    const h = harness({ complete: false, lane });
    const s = open(storeDir());
    const sink = new StoreEvidenceSink(s);
    h.node.registerEvidenceSink(sink).completeRegistration();
    const running = h.node.execute(request(h));
    // wait until the lane is running (execution.started was recorded before dispatch)
    for (let i = 0; i < 200 && lane.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(lane.calls).toHaveLength(1);
    const started = sink.recorded.find((r) => r.evidence_id === h.sink.records.find((e) => e.evidence_type === "execution.started")?.evidence_id)!;
    expect(openRoots(s)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${started.evidence}`, digest: started.evidence }]);
    const ref = h.sink.records[0]!.execution_ref!;
    const c = await h.node.cancel(ref);
    expect(c.ok).toBe(true);
    const cancelled = sink.recorded.at(-1)!;
    expect(JSON.parse(s.get(cancelled.evidence).toString("utf8")).evidence_type).toBe("execution.cancelled");
    expect(openRoots(s)).toEqual([{ name: `${PLANE_OPEN_ROOT_PREFIX}${cancelled.evidence}`, digest: cancelled.evidence }]);
    release();
    const r = await running;
    expect(r.status).toBe("failed");
    expect(openRoots(s)).toEqual([]);
    // the whole chain is upstream of the terminal record's root
    const completed = sink.recorded.at(-1)!;
    const up = new Set(s.lineage(completed.evidence).nodes.map((n) => n.digest));
    for (const x of sink.recorded) expect(up.has(x.evidence)).toBe(true);
  });

  it("the store sink's open() opens a store given as a function, and only once", () => {
    const dir = storeDir();
    let opened = 0;
    const sink = new StoreEvidenceSink(() => {
      opened++;
      return open(dir);
    });
    expect(opened).toBe(0);
    sink.open();
    sink.open();
    expect(opened).toBe(1);
    expect(sink.openedStore()).toBe(stores.at(-1));
    // the bytes recorded are the canonical record (nothing about open roots changes them)
    const e = record("admission.accepted", "x9", 1, { request: {} });
    sink.emit(e);
    expect(sink.openedStore().get(sink.recorded[0]!.evidence).equals(Buffer.from(canonicalBytes(e)))).toBe(true);
    expect(opened).toBe(1);
  });
});
