/**
 * `StoreEvidenceSink.recorded` is bounded (§13): it keeps the last MAX_RECORDED_EVIDENCE records
 * and counts the ones it dropped; the store keeps every record. Before, it kept every record
 * for the sink's lifetime (8 000 entries after 2 000 executions of a long-lived node).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/store/store.js";
import { makeEvidence } from "../../src/plane/contracts/execution.js";
import { EVIDENCE_MEDIA_TYPE, MAX_RECORDED_EVIDENCE, PLANE_ROOT_PREFIX, StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { T0 } from "./node-helpers.js";

let dir: string | undefined;
let store: Store | undefined;
afterEach(() => {
  store?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  store = undefined;
  dir = undefined;
});

/** An `admission.rejected` record of request `req-<i>` (a terminal record: a chain of one). */
const rejected = (i: number) =>
  makeEvidence({
    contract_version: 1, evidence_id: `ev-${i}`, evidence_type: "admission.rejected", execution_ref: null, request_id: `req-${i}`, lane_id: "echo",
    policy_bundle_hash: null, target_id: null, target_verifier_id: null, attestation_class: null, authority_verifier_id: null, provenance_kind: "node_admitted",
    payload: {}, emitted_at: T0 + i,
  });

describe("store sink: recorded is bounded", () => {
  it(`keeps the last ${MAX_RECORDED_EVIDENCE} records and counts the dropped ones; the store keeps them all`, () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-plane-bound-"));
    store = openStore({ dir: join(dir, "store"), durability: "normal" });
    const sink = new StoreEvidenceSink(store);
    const extra = 3;
    const total = MAX_RECORDED_EVIDENCE + extra;
    for (let i = 0; i < MAX_RECORDED_EVIDENCE; i++) sink.emit(rejected(i));
    expect(sink.recorded).toHaveLength(MAX_RECORDED_EVIDENCE);
    expect(sink.droppedRecords).toBe(0);
    for (let i = MAX_RECORDED_EVIDENCE; i < total; i++) sink.emit(rejected(i));
    expect(sink.recorded).toHaveLength(MAX_RECORDED_EVIDENCE);
    expect(sink.droppedRecords).toBe(extra);
    // the oldest were dropped, in order; the latest are kept, in order
    expect(sink.recorded[0]?.evidence_id).toBe(`ev-${extra}`);
    expect(sink.recorded.at(-1)?.evidence_id).toBe(`ev-${total - 1}`);
    expect(sink.recorded.map((r) => r.evidence_id)).toEqual(Array.from({ length: MAX_RECORDED_EVIDENCE }, (_, i) => `ev-${i + extra}`));
    // the store holds every record, each pinned (dropping from `recorded` loses nothing stored)
    expect([...store.list({ mediaType: EVIDENCE_MEDIA_TYPE })]).toHaveLength(total);
    expect([...store.iterateRoots({ prefix: PLANE_ROOT_PREFIX })]).toHaveLength(total);
  });
});
