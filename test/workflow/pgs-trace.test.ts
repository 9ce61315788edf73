/** Trace v0 + seq + hash chain (A.11, issue 4 §3.1–3.2): layout, chain verification, determinism, trace ids. */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { fromPlain, pgsSuffix, TRACE_ID_RE, verifyTraceChain, verifyTraceChainText, type PgsRunResult } from "../../src/workflow/pgs/index.js";
import { ACTOR_PAYLOAD, payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  vi.useRealTimers();
  for (const b of boxes.splice(0)) b.cleanup();
});

const tracePath = (r: PgsRunResult): string => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const MEMBERS = ["trace_schema_version", "trace_id", "event_type", "domain", "wf_addr", "cc_addr", "step_addr", "step_op", "result_status", "detail", "ts_ns", "seq", "prev"];

describe("trace files", () => {
  it("are written at traces/<domain>/<WF_CODE>/<trace_id>/ with the v0 members, seq and prev in fixed order", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(r.traceId).toMatch(TRACE_ID_RE);
    expect(r.traceId).toContain("__WF_GOVERN_AGENT_ACTION_V0__");
    expect(r.traceDir).toBe(`traces/ai_governance/WF_GOVERN_AGENT_ACTION_V0/${r.traceId}`);
    expect(readdirSync(r.traceDirAbs).sort()).toEqual([`${r.traceId}.jsonl`, `${r.traceId}.md`]);
    const lines = readFileSync(tracePath(r), "utf8").split("\n");
    expect(lines.pop()).toBe("");
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const [i, e] of events.entries()) {
      expect(Object.keys(e)).toEqual(MEMBERS);
      expect(e).toMatchObject({ trace_schema_version: "v0", trace_id: r.traceId, domain: "ai_governance", wf_addr: 44, seq: i, ts_ns: i });
      expect(e.prev).toBe(i === 0 ? null : sha256(lines[i - 1] as string));
    }
    const types = events.map((e) => e.event_type);
    expect(types.length).toBe(25);
    expect(types[0]).toBe("WF_START");
    expect(types[types.length - 1]).toBe("WF_COMPLETE");
    expect(events[0]?.detail).toEqual({ wf_fqdn: WF.govern, payload_keys: ["tool_name", "parameters", "requesting_user_id", "domain_context", "request_id"] });
    expect(lines[1]).toBe(
      `{"trace_schema_version":"v0","trace_id":"${r.traceId}","event_type":"CC_START","domain":"ai_governance","wf_addr":44,"cc_addr":10,"step_addr":null,"step_op":null,"result_status":null,"detail":{"cc_fqdn":"ai_governance::CC_NORMALIZE_AGENT_REQUEST_V0","inputs":{"domain_context":"ai_licensing","requesting_user_id":"EMP_STD_001","tool_name":"PROVISION_STANDARD_LICENSE"}},"ts_ns":1,"seq":1,"prev":"${sha256(lines[0] as string)}"}`,
    );
    expect(events[2]).toMatchObject({ event_type: "CC_STEP", cc_addr: 10, step_addr: 62, step_op: null, result_status: null, detail: { step_fqdn: "capability_transforms::CT_PURE_GENERATE_ID_V0", result_keys: ["intent_hash"] } });
    expect(events[3]).toMatchObject({ event_type: "CC_COMPLETE", cc_addr: 10, result_status: "SUCCESS", detail: { output_keys: ["intent_hash", "domain_context", "requesting_user_id", "tool_name"] } });
    expect(events[events.length - 1]).toMatchObject({ result_status: "SUCCESS", detail: { wf_fqdn: WF.govern } });
    const md = readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8");
    expect(md).toContain("| Status | **SUCCESS** |");
    expect(md).toContain(`chain head \`${r.digests.chainHead}\``);
    expect(md).toContain("| ai_governance/agent_governance/governance_audit.jsonl | absent |");
  });

  it("CT violations carry their reason in CC_STEP.detail.error and in the summary", () => {
    const r = box(true).run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const events = readFileSync(tracePath(r), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; detail: Record<string, unknown> });
    const step = events.find((e) => e.event_type === "CC_STEP" && e.detail.error !== undefined);
    expect(step?.detail.error).toMatch(/^Atom raised exception: capability_transforms::CT_PURE_VALIDATE_SET_MEMBERSHIP_V0: /);
    const md = readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8");
    expect(md).toContain("- `ai_governance::CC_CHECK_TOOL_DECLARED_V0` step `check_tool_declared` (CT): Atom raised exception");
  });

  it("contain no absolute path and no wall-clock value", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    for (const f of readdirSync(r.traceDirAbs)) {
      const text = readFileSync(join(r.traceDirAbs, f), "utf8");
      expect(text).not.toContain(b.root);
      expect(text).not.toMatch(/20\d\d-\d\d-\d\dT|20\d{6}T\d{6}/);
    }
  });
});

describe("hash chain", () => {
  it("verifies, and breaks where a line is changed, dropped or moved", () => {
    const r = box().run(WF.actor, ACTOR_PAYLOAD);
    const p = tracePath(r);
    const ok = verifyTraceChain(p);
    expect(ok).toEqual({ ok: true, events: r.events, head: r.digests.chainHead });
    const text = readFileSync(p, "utf8");
    const lines = text.split("\n").slice(0, -1);

    const changed = [...lines];
    changed[3] = (changed[3] as string).replace('"step_op":null', '"step_op":"APPEND"');
    expect(verifyTraceChainText(`${changed.join("\n")}\n`).problem?.line).toBe(5);

    const dropped = lines.filter((_, i) => i !== 2);
    expect(verifyTraceChainText(`${dropped.join("\n")}\n`).problem?.line).toBe(3);

    const moved = [...lines];
    [moved[4], moved[5]] = [moved[5] as string, moved[4] as string];
    expect(verifyTraceChainText(`${moved.join("\n")}\n`).ok).toBe(false);

    expect(verifyTraceChainText(text.slice(0, -1)).problem?.reason).toContain("not newline-terminated");
  });

  it("catches a changed last line through the chain head recorded in the summary", () => {
    const r = box().run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    const p = tracePath(r);
    const text = readFileSync(p, "utf8");
    writeFileSync(p, text.replace(/"result_status":"SUCCESS","detail":\{"wf_fqdn"/, '"result_status":"VIOLATION","detail":{"wf_fqdn"'));
    expect(verifyTraceChainText(readFileSync(p, "utf8")).ok).toBe(true); // the chain alone cannot see it…
    const report = verifyTraceChain(p); // …the recorded head can
    expect(report.ok).toBe(false);
    expect(report.problem?.reason).toContain("differs from the recorded");
    expect(verifyTraceChain(p, { expectedHead: sha256("x") }).ok).toBe(false);
  });
});

describe("determinism", () => {
  const CASES: Array<[string, string, boolean]> = [
    [WF.actor, ACTOR_PAYLOAD, false],
    [WF.govern, payload("agent_governance/01_valid_standard_action.json"), true],
    [WF.govern, payload("agent_governance/06_parameter_violation.json"), true],
    [WF.collatz, payload("collatz_conjecture/01_happy_path.json"), false],
    [WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"), false],
    [WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"), false],
    [WF.deny, payload("ai_licensing/deny_provision_payload.json"), false],
    [WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json"), false],
  ];

  it.each(CASES)("%s: same inputs and prior state in two fresh copies → byte-identical trace, summary and data files", (wf, file, seed) => {
    vi.useFakeTimers({ now: Date.UTC(2031, 5, 1), toFake: ["Date"] });
    const a = box(seed);
    const ra = a.run(wf, file);
    vi.setSystemTime(Date.UTC(1999, 0, 1));
    const b = box(seed);
    const rb = b.run(wf, file);
    expect(rb.traceId).toBe(ra.traceId);
    for (const ext of [".jsonl", ".md"]) {
      expect(readFileSync(join(rb.traceDirAbs, rb.traceId + ext))).toEqual(readFileSync(join(ra.traceDirAbs, ra.traceId + ext)));
    }
    const files = (d: string) => (readdirSync(d, { recursive: true }) as string[]).sort();
    expect(files(b.dataRoot)).toEqual(files(a.dataRoot));
    for (const f of files(a.dataRoot)) {
      if (!f.includes(".")) continue;
      expect(readFileSync(join(b.dataRoot, f))).toEqual(readFileSync(join(a.dataRoot, f)));
    }
  });

  it("the trace id changes with the payload and with the prior state", () => {
    const b = box(true);
    const r1 = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const r2 = b.run(WF.govern, payload("agent_governance/07_shell_command_absent.json"));
    const r3 = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    expect(new Set([r1.traceId, r2.traceId, r3.traceId]).size).toBe(3);
    expect(r3.traceId.slice(-4)).toBe(r1.traceId.slice(-4)); // the PGS suffix depends on the payload only
  });
});

describe("the PGS trace-id suffix (A.11 vectors)", () => {
  it.each([
    ["blockchain", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", { actor_id: "alice" }, "C2A4"],
    ["blockchain", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", { actor_id: "bob" }, "D053"],
    ["ai_governance", "blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", { actor_id: "alice" }, "46C2"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", { numbers: [1, 2] }, "B95E"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", { b: 2, a: 1 }, "EB1D"],
    ["ai_governance", "ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", { a: 1, b: 2 }, "EB1D"],
    ["ai_governance", "ai_governance::WF_GOVERN_AGENT_ACTION_V0", { note: "café" }, "B62A"],
  ])("%s %s %j → %s", (domain, wf, p, suffix) => {
    expect(pgsSuffix(domain, wf, fromPlain(p))).toBe(suffix);
  });
});
