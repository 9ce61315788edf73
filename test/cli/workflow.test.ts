/** `cairn wf run` through the built CLI (run `npm run build` first). */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

interface RunJson {
  status: string;
  exitCode: number;
  traceId: string;
  workflow: string;
  path: Array<{ node: string; status: string; kind: string }>;
  surface: Record<string, unknown>;
  traceDir: string;
  receipt?: string;
  error?: { code: string; message: string };
}

function wfRun(b: Sandbox, wf: string, file: string, extra: string[] = [], env: Record<string, string | undefined> = {}) {
  return cairn(["wf", "run", "--workspace", "workspace", "--wf", wf, "--payload", file, "--data-root", "data", ...extra], { cwd: b.root, env });
}

describe("cairn wf run", () => {
  it("exit 0 for a terminal SUCCESS; --json has status, traceId, workflow, path, surface, traceDir", () => {
    const b = box();
    const r = wfRun(b, WF.deny, payload("ai_licensing/deny_provision_payload.json"), ["--json", "--no-render"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    const j = json<RunJson>(r);
    expect(j.status).toBe("SUCCESS");
    expect(j.workflow).toBe(WF.deny);
    expect(j.traceId).toMatch(/^[0-9a-f]{16}__WF_DENY_PROVISION_V0__[0-9A-F]{4}$/);
    expect(j.path).toEqual([
      { node: "ai_governance::IN_DENY_PROVISION_V0", status: "ACK", kind: "boundary" },
      { node: "ai_governance::CC_APPEND_AUDIT_EVENT_V0", status: "SUCCESS", kind: "cc" },
    ]);
    expect(j.surface).toEqual({ result_status: "SUCCESS", decision: "DENIED", employee_id: "e-7526", event_type: "EV_PROVISION_DENIED_V0", reason_code: "TRAINING_INCOMPLETE" });
    expect(j.traceDir).toBe(`workspace/traces/ai_governance/WF_DENY_PROVISION_V0/${j.traceId}`);
    expect(existsSync(join(b.root, j.traceDir, `${j.traceId}.jsonl`))).toBe(true);
    expect(existsSync(join(b.root, j.traceDir, `${j.traceId}.md`))).toBe(true);
    expect(existsSync(join(b.root, ".cairn"))).toBe(false); // no store unless asked for
  });

  it("exit 1 for a terminal VIOLATION (the result still goes to stdout)", () => {
    const b = box();
    const r = wfRun(b, WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"), ["--json"]);
    expect(r.status).toBe(1);
    const j = json<RunJson>(r);
    expect(j.status).toBe("VIOLATION");
    expect(j.surface).toEqual({ sequences: null, numbers: [0, 98, -5] });
  });

  it("exit 0 for ALREADY_EXISTS, 1 for NOT_FOUND", () => {
    const b = box();
    expect(wfRun(b, WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json")).status).toBe(1);
    expect(wfRun(b, WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json")).status).toBe(0);
    const again = wfRun(b, WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    expect(again.status).toBe(0);
    expect(again.out).toContain("status: ALREADY_EXISTS");
  });

  it("exit 2 for usage errors", () => {
    const b = box();
    const noWf = cairn(["wf", "run", "--workspace", "workspace"], { cwd: b.root });
    expect(noWf.status).toBe(2);
    expect(noWf.err).toContain("required option '--wf <fqdn>' not specified [E_USAGE]");
    const noWs = cairn(["wf", "run", "--wf", WF.deny, "--json"], { cwd: b.root, env: { PGS_WORKSPACE: undefined } });
    expect(noWs.status).toBe(2);
    expect(JSON.parse(noWs.err)).toMatchObject({ error: { code: "E_USAGE" } });
    expect(cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--bogus"], { cwd: b.root }).status).toBe(2);
  });

  it("exit 1 for fatal errors: malformed --wf, missing payload, failed integrity check", () => {
    const b = box();
    const bad = wfRun(b, "WF_DENY_PROVISION_V0", payload("ai_licensing/deny_provision_payload.json"));
    expect(bad.status).toBe(1);
    expect(bad.err).toContain("Invalid WF FQDN (expected <domain>::<CODE>): 'WF_DENY_PROVISION_V0'");
    const missing = wfRun(b, WF.deny, "nope.json");
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("Payload file not found: nope.json");
    const topo = join(b.workspace, "tokenized_snapshot/ai_governance/topology.json");
    writeFileSync(topo, readFileSync(topo, "utf8").replace('"kind": 16640', '"kind": 16641'));
    const tampered = wfRun(b, WF.deny, payload("ai_licensing/deny_provision_payload.json"), ["--json"]);
    expect(tampered.status).toBe(1);
    expect(tampered.out).toBe("");
    const err = JSON.parse(tampered.err) as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(err.error.code).toBe("E_SNAPSHOT_INTEGRITY");
    expect(err.error.message).toContain("integrity");
    expect(err.error.details.reason).toBe("snapshot_integrity");
  });

  it("a runtime error exits 1, prints the result and the error, and leaves an ERROR event", () => {
    const b = box();
    const p = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(p, "utf8")) as { routing: Record<string, Record<string, unknown>> };
    (d.routing["43"] as Record<string, unknown>)["5"] = { "24582": 5 };
    writeFileSync(p, JSON.stringify(d));
    const r = wfRun(b, WF.deny, payload("ai_licensing/deny_provision_payload.json"), ["--json"]);
    expect(r.status).toBe(1);
    const j = json<RunJson>(r);
    expect(j.status).toBe("ERROR");
    expect(j.error?.code).toBe("E_LIMIT_EXCEEDED");
    expect(r.err).toContain("Runtime error: WF 'ai_governance::WF_DENY_PROVISION_V0' exceeded 64 topology hops");
    const lines = readFileSync(join(b.root, j.traceDir, `${j.traceId}.jsonl`), "utf8").trim().split("\n");
    expect(JSON.parse(lines[lines.length - 1] as string)).toMatchObject({ event_type: "ERROR" });
  });

  it("--store records the trace and a receipt", () => {
    const b = box(true);
    const r = wfRun(b, WF.govern, payload("agent_governance/01_valid_standard_action.json"), ["--json", "--store", "st"]);
    expect(r.status).toBe(0);
    const j = json<RunJson>(r);
    expect(j.receipt).toMatch(/^sha256:[0-9a-f]{64}$/);
    const roots = cairn(["store", "roots", "--store", "st", "--json"], { cwd: b.root });
    expect(roots.out).toContain(`pgs:${j.traceId}`);
  });

  it("prints a human summary by default", () => {
    const b = box(true);
    const r = wfRun(b, WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    expect(r.status).toBe(0);
    expect(r.out).toContain(`workflow: ${WF.govern}`);
    expect(r.out).toContain("status: SUCCESS");
    expect(r.out).toContain("path: IN_AGENT_ACTION_REQUESTED_V0 ACK → CC_NORMALIZE_AGENT_REQUEST_V0 SUCCESS → CC_CHECK_TOOL_DECLARED_V0 VIOLATION → CC_RECORD_DENIED_ACTION_V0 SUCCESS");
    expect(r.out).toMatch(/trace dir: workspace\/traces\/ai_governance\/WF_GOVERN_AGENT_ACTION_V0\/[0-9a-f]{16}__WF_GOVERN_AGENT_ACTION_V0__[0-9A-F]{4}\n/);
  });
});
