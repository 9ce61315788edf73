/** `cairn examine` through the built CLI (run `npm run build` first): output shapes and exit codes. */
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { PgsRunResult } from "../../src/workflow/pgs/index.js";
import { cairn, json } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = true): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

interface ExamineJson {
  chain: { ok: boolean; events: number; brokenAt?: { line: number; kind: string; reason: string } };
  outcome: { class: string; status: string | null };
  failure?: { node: string; address: number | null; event: { line: number; type: string }; message: string; declaration?: { source: string; file: string } };
  hint: string;
  exitCode: number;
}

/** The trace of `r`, relative to the sandbox root (the CLI's working directory). */
const rel = (b: Sandbox, r: PgsRunResult): string => relative(b.root, join(r.traceDirAbs, `${r.traceId}.jsonl`));
const examine = (b: Sandbox, args: string[]) => cairn(["examine", ...args], { cwd: b.root });

describe("cairn examine", () => {
  it("exit 0 for a success; --json has chain, outcome, hint (no failure)", () => {
    const b = box();
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    const x = examine(b, [rel(b, r), "--json"]);
    expect(x.err).toBe("");
    expect(x.status).toBe(0);
    const j = json<ExamineJson>(x);
    expect(Object.keys(j).slice(0, 3)).toEqual(["chain", "outcome", "hint"]);
    expect(j.chain).toMatchObject({ ok: true, events: 25 });
    expect(j.outcome).toEqual({ class: "success", status: "SUCCESS" });
    expect(j.failure).toBeUndefined();
  });

  it("exit 0 for a business violation; the human output names the node, its declaration and the route", () => {
    const b = box();
    const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const x = examine(b, [rel(b, r)]);
    expect(x.status).toBe(0);
    expect(x.out).toContain("outcome:     business_violation");
    expect(x.out).toContain("node:        ai_governance::CC_CHECK_TOOL_DECLARED_V0 (addr 7), line 7 (CC_COMPLETE)");
    expect(x.out).toContain("declaration: protocol_snapshot/artifacts/capability_contracts/ai_governance__CC_CHECK_TOOL_DECLARED_V0.json (capability contract)");
    expect(x.out).toContain("path:        CC_NORMALIZE_AGENT_REQUEST_V0=SUCCESS → CC_CHECK_TOOL_DECLARED_V0=VIOLATION → CC_RECORD_DENIED_ACTION_V0=SUCCESS → EXIT_UNDECLARED_TOOL (COMPLETED)");
    expect(x.out).toMatch(/^hint: +governed outcome: ai_governance::CC_CHECK_TOOL_DECLARED_V0 returned VIOLATION/m);
    // Collatz 03: wf run exits 1 (VIOLATION), examine 0 (a declared terminal).
    const c = b.run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"));
    const y = examine(b, ["--json", rel(b, c)]);
    expect(y.status).toBe(0);
    expect(json<ExamineJson>(y).outcome).toEqual({ class: "business_violation", status: "VIOLATION" });
  });

  it("exit 1 for a structural failure: the hint names the node and the broken binding", () => {
    const b = box();
    const dispatch = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(dispatch, "utf8")) as { bindings: Record<string, Record<string, Record<string, string>>> };
    (d.bindings["44"] as Record<string, Record<string, string>>)["6"] = { license_tier: "$.results.15.license_tierX", tool_name: "$.payload.tool_name" };
    writeFileSync(dispatch, JSON.stringify(d));
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(r.exitCode).toBe(0); // the run itself "succeeded"
    const x = examine(b, [rel(b, r), "--json"]);
    expect(x.status).toBe(1);
    const j = json<ExamineJson>(x);
    expect(j.outcome).toEqual({ class: "expression_binding_error", status: "SUCCESS" });
    expect(j.failure).toMatchObject({ node: "ai_governance::CC_BIND_LICENSE_TO_TOOL_SURFACE_V0", address: 6, event: { type: "CC_COMPLETE" }, declaration: { source: "capability_contract" } });
    expect(j.hint).toContain("ai_governance::CC_BIND_LICENSE_TO_TOOL_SURFACE_V0 is bound to $.results.15.license_tierX");
    const h = examine(b, [rel(b, r)]);
    expect(h.status).toBe(1);
    expect(h.out).toContain("outcome:     expression_binding_error");
    expect(h.out).toContain('binding:     input license_tier ← $.results.15.license_tierX: the result of ai_governance::CC_RESOLVE_LICENSE_TIER_V0 (addr 15) has no member "license_tierX"');
  });

  it("exit 1 for a runtime error (ERROR event), classified and located", () => {
    const b = box();
    const handlers = join(b.workspace, "tokenized_snapshot/ai_governance/handlers.json");
    writeFileSync(handlers, readFileSync(handlers, "utf8").replace("pgs_side_effects.implementation.side_effects.persistent.CS_APPENDONLY_JSONL_V0.runtime", "nope.module"));
    const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const j = json<ExamineJson>(examine(b, [rel(b, r), "--json"]));
    expect(j.outcome).toEqual({ class: "admission_error", status: "ERROR" });
    expect(j.failure).toMatchObject({ node: "ai_governance::CC_RECORD_DENIED_ACTION_V0", event: { type: "ERROR" } });
    expect(j.exitCode).toBe(1);
    expect(examine(b, [rel(b, r)]).status).toBe(1);
  });

  it("exit 1 for a tampered trace, naming the line", () => {
    const b = box();
    const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
    const file = join(b.root, rel(b, r));
    const lines = readFileSync(file, "utf8").slice(0, -1).split("\n");
    writeFileSync(file, `${lines.map((l, i) => (i === 6 ? l.replace('"VIOLATION"', '"SUCCESS"') : l)).join("\n")}\n`);
    const x = examine(b, [rel(b, r), "--json"]);
    expect(x.status).toBe(1);
    expect(json<ExamineJson>(x).chain).toMatchObject({ ok: false, events: 12, brokenAt: { line: 7, kind: "changed_line" } });
    writeFileSync(file, `${lines.filter((_, i) => i !== 4).join("\n")}\n`);
    const y = examine(b, [rel(b, r)]);
    expect(y.status).toBe(1);
    expect(y.out).toContain("chain:       BROKEN at line 5 (missing_line): line 5 has seq 5, expected 4");
  });

  it("a trace directory works like its trace file", () => {
    const b = box();
    const r = b.run(WF.govern, payload("agent_governance/02_no_license.json"));
    const x = examine(b, [relative(b.root, r.traceDirAbs), "--json"]);
    expect(x.status).toBe(0);
    expect(json<ExamineJson>(x).outcome.class).toBe("business_violation");
  });

  it("exit 1 naming a missing file; exit 2 without an argument", () => {
    const b = box(false);
    const missing = examine(b, ["no/such/trace.jsonl"]);
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("trace not found: no/such/trace.jsonl [E_NOT_FOUND]");
    const missingJson = examine(b, ["no/such/trace.jsonl", "--json"]);
    expect(missingJson.status).toBe(1);
    expect(JSON.parse(missingJson.err)).toMatchObject({ error: { code: "E_NOT_FOUND", details: { path: "no/such/trace.jsonl" } } });
    const usage = examine(b, []);
    expect(usage.status).toBe(2);
    expect(usage.err).toContain("missing required argument 'trace' [E_USAGE]");
    expect(examine(b, ["x.jsonl", "--bogus"]).status).toBe(2);
  });
});
