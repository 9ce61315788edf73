/**
 * User-acceptance findings on `examine` of traces that depart from trace v0 or from their
 * declarations, the hash chain recomputed after the edit and the summary deleted (so the chain
 * verifies, unanchored): an unknown event_type (Cairn and PGS traces), a cc_addr no node of the
 * snapshot / topology has, the same in a max_visits loop whose ERROR is another node's, and the
 * hint of a trace cut down to WF_START + WF_COMPLETE.
 */
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CairnRunResult } from "../../src/workflow/cairn/run.js";
import { examineTrace, renderReport, type ExamineReport } from "../../src/workflow/examine/index.js";
import { baseDecl, prepared, run } from "./cairn-fixture.js";
import { payload, sandbox, WF as PGS_WF, type Sandbox } from "./pgs-fixture.js";

const WF = "test::WF_TEST_V0";
type Ev = Record<string, unknown>;
const sha = (s: string) => `sha256:${createHash("sha256").update(s).digest("hex")}`;

/** The trace's events edited by `edit`, seq and prev recomputed (the chain verifies), the summary deleted: a forgery nothing anchors. */
function forge(r: { traceDirAbs: string; traceId: string }, edit: (evs: Ev[]) => Ev[]): string {
  const file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
  const evs = edit(readFileSync(file, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Ev));
  const out: string[] = [];
  for (const ev of evs) {
    ev.seq = out.length;
    ev.prev = out.length === 0 ? null : sha(out[out.length - 1] as string);
    out.push(JSON.stringify(ev));
  }
  writeFileSync(file, `${out.join("\n")}\n`);
  rmSync(join(r.traceDirAbs, `${r.traceId}.md`), { force: true });
  return file;
}

async function cairnRun(decl: unknown, p: Record<string, unknown> = { x: 1 }): Promise<{ r: CairnRunResult; snapFile: string }> {
  const { snap, bytes, dir } = await prepared(decl);
  const snapFile = join(dir, "snap.json");
  writeFileSync(snapFile, bytes);
  return { r: run(snap, p, dir), snapFile };
}

const line = (x: ExamineReport, key: string) => renderReport(x).find((l) => l.startsWith(`${key}:`));
const verdict = (x: ExamineReport) => [x.chain.ok, x.outcome.class, x.exitCode];

describe("F1: events outside trace v0 in a Cairn trace", () => {
  it("an inserted BOGUS event: graph_structure_error, exit 1, naming the line, its seq and type (with and without the snapshot)", async () => {
    const { r, snapFile } = await cairnRun(baseDecl());
    const file = forge(r, (e) => [...e.slice(0, 2), { ...e[1], event_type: "BOGUS" }, ...e.slice(2)]);
    for (const x of [examineTrace(file, { snapshot: snapFile }), examineTrace(file)]) {
      expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
      expect(x.failure?.event).toEqual({ line: 3, seq: 2, type: "BOGUS" });
      expect(x.failure?.message).toBe('line 3 (seq 2): event_type "BOGUS" is not a trace v0 event');
      expect(x.hint).toMatch(/^the trace departs from trace v0: line 3 \(seq 2\): event_type "BOGUS" is not a trace v0 event\. A runtime writes only the events WF_START, CC_START, CC_STEP, CC_COMPLETE, WF_COMPLETE, ERROR/);
      expect(line(x, "node")).toBe(`node:        ${WF}::start (addr 1), line 3 (BOGUS)`);
    }
  });

  it("cc_addr 42 on CC_START and CC_COMPLETE (no node has it): graph_structure_error, exit 1, naming the line and the address", async () => {
    const { r, snapFile } = await cairnRun(baseDecl());
    const file = forge(r, (e) => e.map((ev) => (ev.event_type === "CC_START" || ev.event_type === "CC_COMPLETE" ? { ...ev, cc_addr: 42 } : ev)));
    const x = examineTrace(file, { snapshot: snapFile });
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.failure?.event).toEqual({ line: 2, seq: 1, type: "CC_START" });
    expect(x.failure?.address).toBe(42);
    expect(x.failure?.message).toBe(`CC_START at line 2 (seq 1) records cc_addr 42 for ${WF}::start, but no node of workflow ${WF} of the snapshot has that address (it gives start address 1)`);
    expect(x.hint).toContain("(and 1 more such line: line 4)");
    expect(x.hint).toContain("It is the snapshot the run used");
    expect(line(x, "path")).toBe("path:        start=SUCCESS → DONE (hashed)");
  });

  it("cc_addr of another node: named as that node's address", async () => {
    const two = baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: "z" } }, z: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: { exit: "DONE", reason: "d" } } } } });
    const { r, snapFile } = await cairnRun(two);
    const file = forge(r, (e) => e.map((ev) => (ev.event_type === "CC_STEP" && ev.cc_addr === 1 ? { ...ev, cc_addr: 2 } : ev)));
    const x = examineTrace(file, { snapshot: snapFile });
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.failure?.message).toBe(`CC_STEP at line 3 (seq 2) records cc_addr 2 for ${WF}::start, but in workflow ${WF} of the snapshot that is the address of ${WF}::z (it gives start address 1)`);
  });
});

describe("F2: a max_visits loop with start's CC_COMPLETE turned BOGUS", () => {
  it("structural at the BOGUS line, not start's abort nor body's ERROR", async () => {
    const loop = baseDecl({
      nodes: {
        start: { max_visits: 2, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "body", VIOLATION: { exit: "BAD", reason: "b" } } },
        body: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "start", VIOLATION: { exit: "BAD", reason: "b" } } },
      },
    });
    const { r, snapFile } = await cairnRun(loop);
    expect(r.status).toBe("ERROR");
    const first = (e: Ev[]) => e.findIndex((ev) => ev.event_type === "CC_COMPLETE");
    const file = forge(r, (e) => e.map((ev, i) => (i === first(e) ? { ...ev, event_type: "BOGUS" } : ev)));
    const x = examineTrace(file, { snapshot: snapFile });
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.failure?.event).toEqual({ line: 4, seq: 3, type: "BOGUS" });
    expect(x.failure?.message).toBe('line 4 (seq 3): event_type "BOGUS" is not a trace v0 event');
    expect(x.hint).not.toContain("max_visits");
    expect(line(x, "path")).toBe("path:        start=(no CC_COMPLETE) → body=SUCCESS → start=SUCCESS → body=SUCCESS");
  });
});

describe("F3: a trace cut down to WF_START + WF_COMPLETE", () => {
  it("the hint says the trace has no node events (no empty message slot)", async () => {
    const { r, snapFile } = await cairnRun(baseDecl());
    const file = forge(r, (e) => e.filter((ev) => ev.event_type === "WF_START" || ev.event_type === "WF_COMPLETE"));
    const x = examineTrace(file, { snapshot: snapFile });
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.hint).not.toContain(": .");
    expect(x.hint).toMatch(new RegExp(`^${WF}: the trace has no node events \\(no CC_START between WF_START at line 1 and WF_COMPLETE at line 2\\): the run ended with SUCCESS without entering its entry node start\\. The trace does not follow the routes of the snapshot`));
  });
});

describe("F1: events outside trace v0 in a PGS trace (the workspace's topology)", () => {
  const boxes: Sandbox[] = [];
  afterEach(() => {
    for (const b of boxes.splice(0)) b.cleanup();
  });
  const govern = (): { traceDirAbs: string; traceId: string } => {
    const b = sandbox({ seedLicenseFacts: true });
    boxes.push(b);
    return b.run(PGS_WF.govern, payload("agent_governance/01_valid_standard_action.json"));
  };

  it("an inserted BOGUS event: graph_structure_error, exit 1", () => {
    const r = govern();
    const file = forge(r, (e) => [...e.slice(0, 3), { ...e[2], event_type: "BOGUS" }, ...e.slice(3)]);
    const x = examineTrace(file);
    expect(x.workspace).toBeDefined();
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.failure?.event).toEqual({ line: 4, seq: 3, type: "BOGUS" });
    expect(x.failure?.node).toBe("ai_governance::CC_NORMALIZE_AGENT_REQUEST_V0");
  });

  it("a cc_addr no topology node has: graph_structure_error, exit 1, naming it", () => {
    const r = govern();
    const file = forge(r, (e) => e.map((ev, i) => (i === 1 ? { ...ev, cc_addr: 4242 } : ev)));
    const x = examineTrace(file);
    expect(verdict(x)).toEqual([true, "graph_structure_error", 1]);
    expect(x.failure?.message).toBe("CC_START at line 2 (seq 1) records cc_addr 4242 for ai_governance::CC_NORMALIZE_AGENT_REQUEST_V0, but no node of the topology (tokenized_snapshot/ai_governance/topology.json) has that address");
    expect(x.hint).toContain("Either the workspace's snapshot is not the one the run used");
  });

  it("the trace as written: still success (every address in the topology)", () => {
    const r = govern();
    const x = examineTrace(join(r.traceDirAbs, `${r.traceId}.jsonl`));
    expect(verdict(x)).toEqual([true, "success", 0]);
  });
});
