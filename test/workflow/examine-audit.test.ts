/**
 * Audit b7 and the hop-limit node: `cairn examine` on aborted runs.
 *  - Cairn's ERROR event carries the error's code (and `details.reason`); examine classifies by
 *    them, and its text rules (older traces, PGS traces) ignore words inside quoted paths.
 *  - A Cairn hop-limit / max_visits error names the node the run was about to enter; examine
 *    reports that node, not the last one that completed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CairnRunResult } from "../../src/workflow/cairn/run.js";
import { classifyErrorMessage, examineTrace, renderReport, type ExamineReport } from "../../src/workflow/examine/index.js";
import { TraceWriter } from "../../src/workflow/pgs/trace.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, prepared, run, tempDir, traceText } from "./cairn-fixture.js";

const WF = "test::WF_TEST_V0";
const traceFile = (r: CairnRunResult) => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const lastEvent = (r: CairnRunResult) => JSON.parse(traceText(r).trim().split("\n").pop()!) as { event_type: string; detail: Record<string, unknown> };

/** Compiles `decl`, writes `<dir>/snap.json`, runs it over `p` after `setup`, examines the trace with and without --snapshot. */
async function examined(decl: unknown, p: Record<string, unknown>, setup: (dir: string) => void = () => {}): Promise<{ r: CairnRunResult; x: ExamineReport; bare: ExamineReport; snapFile: string }> {
  const { snap, bytes, dir } = await prepared(decl);
  const snapFile = join(dir, "snap.json");
  writeFileSync(snapFile, bytes);
  setup(dir);
  const r = run(snap, p, dir);
  return { r, x: examineTrace(traceFile(r), { snapshot: snapFile }), bare: examineTrace(traceFile(r)), snapFile };
}

/** A trace written event by event (what an earlier Cairn version, without `detail.code`, wrote). */
function handWritten(events: Array<[string, Record<string, unknown>, { ccAddr?: number; stepAddr?: number; stepOp?: string; resultStatus?: string }?]>): string {
  const id = "0123456789abcdef__WF_TEST_V0__ABCD";
  const file = join(tempDir(), `${id}.jsonl`);
  const w = new TraceWriter(id, "test", null, file);
  for (const [type, detail, extra] of events) w.emit(type as "WF_START", { ...(extra ?? {}), detail: fromPlain(detail) as PyObject });
  w.close();
  return file;
}

const TORN_DECL = baseDecl({
  entry: "a",
  stores: { e: { kind: "appendonly", path: "audit-integrity/events.jsonl" } },
  nodes: { a: { steps: [{ id: "t", cs: "e", op: "APPEND", inputs: { record: "$.payload" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" } } } },
});

function tornLog(dir: string): void {
  mkdirSync(join(dir, "data", "audit-integrity"), { recursive: true });
  writeFileSync(join(dir, "data", "audit-integrity", "events.jsonl"), '{"x":1');
}

describe("the ERROR event carries the error's code (b7)", () => {
  it("a CS hard error: detail {message, code, reason}", async () => {
    const { r } = await examined(TORN_DECL, {}, tornLog);
    expect(r.status).toBe("ERROR");
    const e = lastEvent(r);
    expect(e.event_type).toBe("ERROR");
    expect(Object.keys(e.detail)).toEqual(["message", "code", "reason"]);
    expect(e.detail).toMatchObject({ code: "E_STORE_CORRUPT", reason: "torn_jsonl_tail" });
    expect(e.detail.message).toMatch(/^"audit-integrity\/events\.jsonl" ends in a torn line/);
    expect(r.error?.code).toBe("E_STORE_CORRUPT");
  });

  it("a limit error: its code and reason", async () => {
    const { r } = await examined(hopDecl(), { x: 1 });
    expect(lastEvent(r).detail).toMatchObject({ code: "E_LIMIT_EXCEEDED", reason: "hop_limit" });
  });
});

describe("classification of a CS error under a data-root path containing 'integrity' (b7)", () => {
  it("a torn log at audit-integrity/events.jsonl is cs_runtime_error naming the store, with and without the snapshot", async () => {
    const { x, bare } = await examined(TORN_DECL, {}, tornLog);
    for (const rep of [x, bare]) {
      expect([rep.outcome.class, rep.exitCode]).toEqual(["cs_runtime_error", 1]);
      expect(rep.hint).not.toMatch(/integrity check/);
    }
    expect(x.failure?.node).toBe(`${WF}::a`);
    expect(x.hint).toMatch(/^node a of test::WF_TEST_V0, step t \(cs: e, op: APPEND\) raised: "audit-integrity\/events\.jsonl" ends in a torn line/);
    expect(x.hint).toContain("store e (appendonly, <data root>/audit-integrity/events.jsonl; stores.e in wf.yaml)");
  });

  it("an older trace (message only): the text rules do not read words inside the quoted path", () => {
    const message = '"audit-integrity/events.jsonl" ends in a torn line (6 bytes after offset 0 without a newline, an interrupted append): refusing to use it; repair with repairTornTail (truncates to 0 bytes)';
    const file = handWritten([
      ["WF_START", { wf_fqdn: WF, payload_keys: [], snapshot: `sha256:${"0".repeat(64)}` }],
      ["CC_START", { cc_fqdn: `${WF}::a`, visit: 1 }, { ccAddr: 1 }],
      ["ERROR", { message }],
    ]);
    const x = examineTrace(file);
    expect(x.outcome.class).toBe("cs_runtime_error");
    expect(x.hint).not.toMatch(/integrity check/);
  });

  it("a structured code decides over any text", () => {
    const at = (detail: Record<string, unknown>) => examineTrace(handWritten([
      ["WF_START", { wf_fqdn: WF, payload_keys: [], snapshot: `sha256:${"0".repeat(64)}` }],
      ["CC_START", { cc_fqdn: `${WF}::a`, visit: 1 }, { ccAddr: 1 }],
      ["ERROR", detail],
    ])).outcome.class;
    expect(at({ message: "snapshot integrity check failed (module): in words", code: "E_STORE_CORRUPT" })).toBe("cs_runtime_error");
    expect(at({ message: "no telling words", code: "E_SNAPSHOT_INTEGRITY", reason: "snapshot_integrity" })).toBe("admission_error");
    expect(at({ message: "no telling words", code: "E_HANDLER_UNMAPPED" })).toBe("admission_error");
  });

  it.each([
    // [message, reason, code, class]
    ['cannot append to "snapshot integrity/x.jsonl" under the data root: EACCES', undefined, undefined, "cs_runtime_error"],
    ['path confinement: "../integrity" contains a \'..\' segment', undefined, undefined, "cs_runtime_error"],
    ["CS_MUTABLE_JSON_V0: store entity 'snapshot integrity' is not in entity_stores", undefined, undefined, "cs_runtime_error"],
    ['"{{module_data_root}}/integrity/log.jsonl" ends in a torn line', undefined, undefined, "cs_runtime_error"],
    ["something about 'snapshot integrity' in quotes", undefined, undefined, "by_location"],
    // the writers' own integrity texts are still admission errors
    ["[ai_governance] Snapshot integrity failure: metadata.projection_hash='a' != attestation.tokenized_projection_hash='b'", undefined, undefined, "admission_error"],
    ["[d] Trust verification failed: projection_hash or tokenized_projection_hash is empty (snapshot integrity cannot be established).", undefined, undefined, "admission_error"],
    ["snapshot integrity check failed (module): the bundle recorded as sha256:00 hashes to sha256:11", undefined, undefined, "admission_error"],
    // structured fields
    ["x", undefined, "E_SNAPSHOT_INTEGRITY", "admission_error"],
    ["snapshot integrity", undefined, "E_INTERNAL", "by_location"],
    ["x", undefined, "E_LIMIT_EXCEEDED", "by_location"],
    ["x", "ct_timeout", "E_LIMIT_EXCEEDED", "ct_error"],
    ["x", "visit_bound", "E_LIMIT_EXCEEDED", "graph_structure_error"],
    ["x", "torn_jsonl_tail", "E_STORE_CORRUPT", "cs_runtime_error"],
  ])("%s (reason %s, code %s) → %s", (message, reason, code, cls) => {
    expect(classifyErrorMessage(message, reason, code)).toBe(cls);
  });
});

function hopDecl(): Record<string, unknown> {
  return baseDecl({
    entry: "a",
    max_hops: 5,
    nodes: {
      a: { max_visits: 10, steps: [{ id: "s", ct: "equals", inputs: { a: "$.payload.x", b: { const: 1 } } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
      b: { steps: [{ id: "s", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
    },
  });
}

describe("the failing node of a limit error is the node the error names", () => {
  it("hop limit: the node the run was about to enter (b), not the last completed one (a)", async () => {
    const { r, x, bare } = await examined(hopDecl(), { x: 1 });
    expect(r.path.map((p) => p.node.split("::").pop())).toEqual(["a", "b", "a", "b", "a"]);
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.failure).toMatchObject({ node: `${WF}::b`, address: 2 });
    expect(x.failure?.declaration?.cairn).toMatchObject({ node: "b", address: 2 });
    expect(renderReport(x).join("\n")).toContain(`node:        ${WF}::b (addr 2), line`);
    expect(bare.failure).toMatchObject({ node: `${WF}::b`, address: 2 });
  });

  it("max_visits: the node past its bound (a), though b completed last", async () => {
    const decl = baseDecl({
      entry: "a",
      nodes: {
        a: { max_visits: 2, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { r, x } = await examined(decl, { x: 1 });
    expect(r.path.at(-1)?.node).toBe(`${WF}::b`);
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.failure).toMatchObject({ node: `${WF}::a`, address: 1 });
    expect(x.failure?.declaration?.cairn).toMatchObject({ node: "a", maxVisits: 2 });
  });

  it("an older trace (message only) names the node from the message", () => {
    const file = handWritten([
      ["WF_START", { wf_fqdn: WF, payload_keys: [], snapshot: `sha256:${"0".repeat(64)}` }],
      ["CC_START", { cc_fqdn: `${WF}::b`, visit: 1 }, { ccAddr: 2 }],
      ["CC_COMPLETE", { cc_fqdn: `${WF}::b`, output_keys: [] }, { ccAddr: 2, resultStatus: "SUCCESS" }],
      ["CC_START", { cc_fqdn: `${WF}::a`, visit: 1 }, { ccAddr: 1 }],
      ["CC_COMPLETE", { cc_fqdn: `${WF}::a`, output_keys: [] }, { ccAddr: 1, resultStatus: "SUCCESS" }],
      ["ERROR", { message: `WF '${WF}' exceeded 2 topology hops (hop limit) at node b: a routing cycle ran longer than the workflow allows` }],
    ]);
    const x = examineTrace(file);
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.failure).toMatchObject({ node: `${WF}::b`, address: 2 });
  });
});
