/**
 * UAT F5: a run whose trace reaches its size limit at the CC_STEP of a step whose side effect was
 * applied. The effect cannot be undone, so the chained trace must still say it happened: the
 * run's ERROR event (in the reserved bytes) names the step (`detail.untraced_effect` {cc, step,
 * op, status}, and its message), and `examine` reports it. Runs that do not hit the limit there
 * write exactly what they wrote before (bound-trace-limit.test.ts, bench/wf-identity.mjs).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { classify, examineTrace, parseTrace, renderReport } from "../../src/workflow/examine/index.js";
import { emitRunError, TRACE_LIMIT_REASON, TraceWriter, UNTRACED_EFFECT_MEMBER, verifyTraceChain } from "../../src/workflow/pgs/trace.js";
import type { PyValue } from "../../src/workflow/py/value.js";
import { cairnErrorOf, payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box } = scratchPerTest();

const traceFile = (r: { traceDirAbs: string; traceId: string }) => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const effect = { cc: "dom::CC_A_V0", step: "rg", op: "REGISTER", status: "SUCCESS" };

describe("TraceWriter.emitEffectStep + emitRunError", () => {
  it("under the limit writes what emit writes; over it, the limit error and the ERROR event name the applied effect", () => {
    const a = new TraceWriter("TID", "dom", null, undefined, "t.jsonl", true, true, { maxBytes: 2000, errorReserveBytes: 900 });
    const b = new TraceWriter("TID", "dom", null, undefined, "t.jsonl", true, true, { maxBytes: 2000, errorReserveBytes: 900 });
    const small = { ccAddr: 1, stepAddr: 1, stepOp: "REGISTER", detail: new Map<string, PyValue>([["x", "y"]]) };
    a.emit("CC_STEP", small);
    b.emitEffectStep(small, effect);
    expect(b.bytes().equals(a.bytes())).toBe(true);

    const big = { ccAddr: 1, stepAddr: 1, stepOp: "REGISTER", detail: new Map<string, PyValue>([["x", "z".repeat(2000)]]) };
    const e = cairnErrorOf(() => b.emitEffectStep(big, effect));
    expect(e.code).toBe("E_LIMIT_EXCEEDED");
    expect(e.details).toMatchObject({ reason: TRACE_LIMIT_REASON, event: "CC_STEP", untracedEffect: effect });
    expect(e.message).toMatch(/: the side effect of step rg \(REGISTER\) of dom::CC_A_V0 was applied \(SUCCESS\) but its CC_STEP is not in the trace$/);
    const ended = emitRunError(b, e, (x) => new Map([["message", (x as Error).message]]));
    expect(ended).toBe(e);
    const last = JSON.parse(b.lines[b.lines.length - 1] as string) as { event_type: string; detail: Record<string, unknown> };
    expect(last.event_type).toBe("ERROR");
    expect(last.detail).toEqual({ message: e.message, [UNTRACED_EFFECT_MEMBER]: effect });
  });

  it("an ERROR of any other error has no untraced_effect member", () => {
    const w = new TraceWriter("TID", "dom", null, undefined, "t.jsonl", true, true);
    emitRunError(w, new CairnError("E_INVALID_INPUT", "boom"), (x) => new Map([["message", (x as Error).message]]));
    expect(JSON.parse(w.lines[0] as string).detail).toEqual({ message: "boom" });
  });

  it("when even the ERROR does not fit, the limit error it ends with still names the effect", () => {
    const w = new TraceWriter("TID", "dom", null, undefined, "t.jsonl", true, true, { maxBytes: 1400, errorReserveBytes: 700 });
    const big = { ccAddr: 1, stepAddr: 1, stepOp: "REGISTER", detail: new Map<string, PyValue>([["x", "z".repeat(2000)]]) };
    const e = cairnErrorOf(() => w.emitEffectStep(big, effect));
    // a detail too long for the reserve: the run ends with the limit error of that ERROR
    const ended = emitRunError(w, e, (x) => new Map<string, PyValue>([["message", (x as Error).message], ["pad", (x as CairnError).details.event === "ERROR" ? "" : "p".repeat(900)]])) as CairnError;
    expect(ended).not.toBe(e);
    expect(ended.details).toMatchObject({ event: "ERROR", untracedEffect: effect });
    // The effect is named by the event's detail member (and details), not by the message again:
    // this event must fit the reserve.
    expect(ended.message).not.toContain("the side effect of step");
    const last = JSON.parse(w.lines[w.lines.length - 1] as string) as { detail: Record<string, unknown> };
    expect(last.detail[UNTRACED_EFFECT_MEMBER]).toEqual(effect);
  });
});

describe("a PGS run cut at the CC_STEP of a CS call (runPgsWorkflow traceLimit)", () => {
  it("the ERROR event names the applied effect, the chain verifies, and examine reports it", () => {
    const file = "agent_governance/01_valid_standard_action.json";
    const full = box().run(WF.govern, payload(file));
    expect(full.status).toBe("SUCCESS");
    const lines = readFileSync(traceFile(full), "utf8").trimEnd().split("\n");
    // The first CS step's CC_STEP: everything before it fits, it does not (by one byte).
    const at = lines.findIndex((l) => {
      const ev = JSON.parse(l) as { event_type: string; step_op: string | null };
      return ev.event_type === "CC_STEP" && ev.step_op !== null;
    });
    expect(at).toBeGreaterThan(0);
    const before = lines.slice(0, at).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    const reserve = 4096;
    const b = box();
    const cut = b.run(WF.govern, payload(file), { traceLimit: { maxBytes: before + Buffer.byteLength(lines[at] as string) + reserve, errorReserveBytes: reserve } });
    expect(cut.status).toBe("ERROR");
    expect(cut.error?.code).toBe("E_LIMIT_EXCEEDED");
    const applied = cut.effects[cut.effects.length - 1];
    expect(applied).toBeDefined();

    const out = traceFile(cut);
    expect(verifyTraceChain(out).ok).toBe(true);
    const got = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(got.length).toBe(at + 1); // every event before the CC_STEP, then the ERROR
    const err = JSON.parse(got[at] as string) as { event_type: string; detail: Record<string, unknown> };
    expect(err.event_type).toBe("ERROR");
    const named = { cc: applied?.cc, step: applied?.step, op: applied?.op, status: applied?.status };
    expect(err.detail[UNTRACED_EFFECT_MEMBER]).toEqual(named);
    expect(err.detail.message).toContain(`was applied (${applied?.status}) but its CC_STEP is not in the trace`);

    const r = examineTrace(out);
    expect(r.outcome.class).toBe("graph_structure_error");
    expect(r.failure?.untracedEffect).toEqual(named);
    expect(r.hint).toContain(`WAS applied (${applied?.status})`);
    expect(renderReport(r).some((l) => l.startsWith("effect:") && l.includes(`step ${applied?.step}`) && l.includes("WAS applied"))).toBe(true);
  });
});

describe("examine without a declaration", () => {
  it("names the step from the ERROR's untraced_effect (the trace has no CC_STEP for it)", () => {
    const ev = (type: string, seq: number, extra: Record<string, unknown>) =>
      JSON.stringify({ trace_schema_version: "v0", trace_id: "k__WF_K_V0__0000", event_type: type, domain: "t", wf_addr: null, cc_addr: null, step_addr: null, step_op: null, result_status: null, detail: {}, ts_ns: seq, seq, prev: null, ...extra });
    const text = [
      ev("WF_START", 0, { detail: { wf_fqdn: "t::WF_K_V0", payload_keys: [], snapshot: `sha256:${"0".repeat(64)}` } }),
      ev("CC_START", 1, { cc_addr: 1, detail: { cc_fqdn: "t::WF_K_V0::a", visit: 1 } }),
      ev("CC_STEP", 2, { cc_addr: 1, step_addr: 1, step_op: "APPEND", result_status: "SUCCESS", detail: { step_id: "ap", step_fqdn: "l:APPEND", inputs: {}, result_keys: [] } }),
      ev("ERROR", 3, { detail: { message: "trace t.jsonl would exceed its size limit of 1000 bytes (MAX_TRACE_BYTES): event 3 (CC_STEP) does not fit", code: "E_LIMIT_EXCEEDED", reason: "trace_limit", [UNTRACED_EFFECT_MEMBER]: { cc: "t::WF_K_V0::a", step: "rg", op: "REGISTER", status: "ALREADY_EXISTS" } } }),
    ].join("\n") + "\n";
    const c = classify(parseTrace(text, "t.jsonl"), undefined);
    expect(c.class).toBe("graph_structure_error");
    expect(c.failure?.untracedEffect).toEqual({ cc: "t::WF_K_V0::a", step: "rg", op: "REGISTER", status: "ALREADY_EXISTS" });
    expect(c.failure?.step).toMatchObject({ index: 1, id: "rg", op: "REGISTER", kind: "CS" });
    expect(c.hint).toContain("The side effect of step rg (REGISTER) of t::WF_K_V0::a WAS applied (ALREADY_EXISTS)");
    expect(c.notes.some((n) => n.includes("does not say which step"))).toBe(false);
  });
});
