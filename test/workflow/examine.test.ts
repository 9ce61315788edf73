/**
 * `examine` outcome classification (issue 4 §4.2–4.3) on real traces: workflows run with
 * `runPgsWorkflow` on temp copies of the fixture workspace, some of them edited to break a
 * binding, a route, a handler or a CS policy (the trust hash covers topology.json only).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { classifyErrorMessage, examineTrace, renderReport, type ExamineReport } from "../../src/workflow/examine/index.js";
import type { PgsRunResult } from "../../src/workflow/pgs/index.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = true): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

const tracePath = (r: PgsRunResult): string => join(r.traceDirAbs, `${r.traceId}.jsonl`);
const examine = (r: PgsRunResult): ExamineReport => examineTrace(tracePath(r));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const DISPATCH = "tokenized_snapshot/ai_governance/dispatch.json";
const HANDLERS = "tokenized_snapshot/ai_governance/handlers.json";
const COLLATZ_DECL = "protocol_snapshot/artifacts/workflows/ai_governance__WF_DEMO_COLLATZ_CONJECTURE_V0.json";
/** Vocabulary addresses of the ai_governance routing conditions. */
const T_SUCCESS = "24582";
const T_VIOLATION = "24583";

function edit(b: Sandbox, rel: string, f: (j: Json) => void): void {
  const p = join(b.workspace, rel);
  const j = JSON.parse(readFileSync(p, "utf8")) as Json;
  f(j);
  writeFileSync(p, JSON.stringify(j, null, 2));
}

const GOVERN_01 = "agent_governance/01_valid_standard_action.json";
const GOVERN_02 = "agent_governance/02_no_license.json";
const GOVERN_05 = "agent_governance/05_undeclared_tool.json";
const COLLATZ_01 = "collatz_conjecture/01_happy_path.json";
const COLLATZ_03 = "collatz_conjecture/03_invalid_nack.json";
const PROVISION = "ai_licensing/provision_ai_licensing_payload.json";
const DENY = "ai_licensing/deny_provision_payload.json";

describe("success", () => {
  it("a granted governance action: success, exit 0, chain anchored, snapshot unchanged, terminal EXIT_SUCCESS", () => {
    const b = box();
    const r = b.run(WF.govern, payload(GOVERN_01));
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "success", status: "SUCCESS" });
    expect(x.exitCode).toBe(0);
    expect(x.chain).toMatchObject({ ok: true, events: 25, head: r.digests.chainHead, anchor: "summary" });
    expect(x.chain.brokenAt).toBeUndefined();
    expect(x.failure).toBeUndefined();
    expect(x.terminal).toEqual({ declared: true, exit: "EXIT_SUCCESS", reason: "COMPLETED" });
    expect(x.path.map((p) => p.node)).toEqual(r.path.filter((p) => p.kind === "cc").map((p) => p.node));
    // The recomputed snapshot digest is the runtime's (same manifest rule as snapshot.ts).
    expect(x.workspace?.snapshot).toEqual({ recorded: r.digests.snapshot, current: r.digests.snapshot, matches: true });
    expect(x.hint).toContain("the run completed with SUCCESS");
    expect(x.traceId).toBe(r.traceId);
    expect(x.workflow).toBe(WF.govern);
  });

  it("ALREADY_EXISTS routed onward is still a success (execution ≠ effect)", () => {
    const b = box();
    b.run(WF.actor, join(b.workspace, "seeds/register_actor_unverified_payload.json"));
    const again = b.run(WF.actor, join(b.workspace, "seeds/register_actor_unverified_payload.json"));
    expect(again.path.map((p) => p.status)).toContain("ALREADY_EXISTS");
    const x = examine(again);
    expect(x.outcome.class).toBe("success");
    expect(x.terminal).toMatchObject({ declared: true, exit: "EXIT" });
  });
});

describe("business_violation (a governed no)", () => {
  it("05 undeclared tool: the CT's VIOLATION is routed to the denial audit; exit 0 although wf run says SUCCESS", () => {
    const b = box();
    const r = b.run(WF.govern, payload(GOVERN_05));
    expect(r.status).toBe("SUCCESS");
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "business_violation", status: "SUCCESS" });
    expect(x.exitCode).toBe(0);
    expect(x.failure).toMatchObject({
      node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0",
      address: 7,
      event: { line: 7, seq: 6, type: "CC_COMPLETE" },
      step: { index: 0, id: "check_tool_declared", address: 72, fqdn: "capability_transforms::CT_PURE_VALIDATE_SET_MEMBERSHIP_V0", op: null, kind: "CT" },
    });
    expect(x.failure?.message).toContain('value "DELETE_DATABASE" is not in allowed_set');
    expect(x.failure?.declaration).toMatchObject({
      source: "capability_contract",
      file: "protocol_snapshot/artifacts/capability_contracts/ai_governance__CC_CHECK_TOOL_DECLARED_V0.json",
      node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0",
      inputs: { tool_name: { required: true, type: "string" } },
      step: { step: "check_tool_declared", transform: "capability_transforms::CT_PURE_VALIDATE_SET_MEMBERSHIP_V0" },
      workflow: { node: "CC_CHECK_TOOL_DECLARED_V0", next: { SUCCESS: "CC_RESOLVE_LICENSE_TIER_V0", VIOLATION: "CC_AUDIT_UNDECLARED_TOOL" } },
      compiled: { file: DISPATCH, binding: { tool_name: "$.payload.tool_name" }, routes: { SUCCESS: "ai_governance::CC_RESOLVE_LICENSE_TIER_V0", VIOLATION: "ai_governance::CC_RECORD_DENIED_ACTION_V0" } },
    });
    expect(x.terminal).toEqual({ declared: true, exit: "EXIT_UNDECLARED_TOOL", reason: "COMPLETED" });
    expect(x.path.map((p) => p.declared)).toEqual(["CC_NORMALIZE_AGENT_REQUEST_V0", "CC_CHECK_TOOL_DECLARED_V0", "CC_AUDIT_UNDECLARED_TOOL"]);
    expect(x.hint).toContain("governed outcome: ai_governance::CC_CHECK_TOOL_DECLARED_V0 returned VIOLATION");
    expect(x.hint).toContain("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0");
    expect(x.hint).toContain("routed VIOLATION → ai_governance::CC_RECORD_DENIED_ACTION_V0 (declared node CC_AUDIT_UNDECLARED_TOOL)");
    expect(x.hint).toContain("→ EXIT_UNDECLARED_TOOL (COMPLETED)");
  });

  it("02 no license: NOT_FOUND from the CS read is routed to the denial audit", () => {
    const b = box();
    const x = examine(b.run(WF.govern, payload(GOVERN_02)));
    expect(x.outcome.class).toBe("business_violation");
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RESOLVE_LICENSE_TIER_V0", address: 15, step: { id: "read_license_record", op: "READ", kind: "CS", fqdn: "capability_side_effects::CS_MUTABLE_JSON_V0" } });
    expect(x.hint).toContain("returned NOT_FOUND");
    expect(x.hint).toContain("EXIT_UNAUTHORIZED_ACTOR (COMPLETED)");
  });

  it("Collatz 03: VIOLATION is a declared terminal (EXIT_ERROR): exit 0 here though wf run exits 1", () => {
    const b = box(false);
    const r = b.run(WF.collatz, payload(COLLATZ_03));
    expect(r.exitCode).toBe(1);
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "business_violation", status: "VIOLATION" });
    expect(x.exitCode).toBe(0);
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_COMPUTE_SEQUENCES_V0", address: 8, step: { id: "compute_sequences", kind: "CT" } });
    expect(x.failure?.message).toContain("each number must be >= 1, got 0");
    expect(x.terminal).toEqual({ declared: true, exit: "EXIT_ERROR", reason: "FAILED" });
  });

  it("ALREADY_EXISTS routed by the declaration to EXIT_ERROR (reason FAILED) is a governed no", () => {
    const b = box(false);
    b.run(WF.provision, payload(PROVISION));
    const again = b.run(WF.provision, payload(PROVISION));
    expect(again.status).toBe("ALREADY_EXISTS");
    const x = examine(again);
    expect(x.outcome).toEqual({ class: "business_violation", status: "ALREADY_EXISTS" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_PROVISION_LICENSE_V0", step: { id: "register_license", op: "REGISTER" } });
    // No contract file for this CC in the pack: the topology entry is the declaration.
    expect(x.failure?.declaration).toMatchObject({ source: "topology", file: "tokenized_snapshot/ai_governance/topology.json", topology: { address: 11, kind: "node_kind::CC" } });
    expect(x.failure?.declaration?.topology?.edges).toContainEqual({ kind: "edge_kind::CC_BINDS_CS", to: "capability_side_effects::CS_REGISTRY_V0" });
  });

  it("without a workflow declaration the end is taken as declared, and a note says so", () => {
    const b = box(false);
    const x = examine(b.run(WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json")));
    expect(x.outcome).toEqual({ class: "business_violation", status: "NOT_FOUND" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RECLAIM_UNUSED_LICENSE_V0", step: { id: "deregister_license", op: "DEREGISTER" } });
    expect(x.notes).toContain("no workflow declaration for ai_governance::WF_AUTO_RECLAIM_V0: the end of the run is assumed declared");
  });
});

describe("expression_binding_error", () => {
  it("a WF binding to a result member that does not exist: the CC got null, said VIOLATION, and the run was routed to the denial", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.bindings["44"]["6"].license_tier = "$.results.15.license_tierX";
    });
    const r = b.run(WF.govern, payload(GOVERN_01));
    expect(r.status).toBe("SUCCESS"); // the runtime sees nothing wrong
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "expression_binding_error", status: "SUCCESS" });
    expect(x.exitCode).toBe(1);
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_BIND_LICENSE_TO_TOOL_SURFACE_V0", address: 6, event: { type: "CC_COMPLETE" } });
    expect(x.failure?.binding).toMatchObject({ level: "workflow", input: "license_tier", path: "$.results.15.license_tierX", structural: true });
    expect(x.failure?.binding?.problem).toContain('the result of ai_governance::CC_RESOLVE_LICENSE_TIER_V0 (addr 15) has no member "license_tierX"');
    expect(x.hint).toContain('input "license_tier" of ai_governance::CC_BIND_LICENSE_TO_TOOL_SURFACE_V0 is bound to $.results.15.license_tierX');
    expect(x.hint).toContain('Fix bindings["44"]["6"] in tokenized_snapshot/ai_governance/dispatch.json');
    expect(x.hint).toContain('binds it to "$.results.CC_RESOLVE_LICENSE_TIER_V0.license_tier"');
  });

  it("a WF binding to a CC that has not run yet", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.bindings["44"]["6"].license_tier = "$.results.14.license_tier";
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_01)));
    expect(x.outcome.class).toBe("expression_binding_error");
    expect(x.failure?.binding?.problem).toBe('ai_governance::CC_RECORD_GOVERNED_ACTION_V0 (addr 14) has not run before ai_governance::CC_BIND_LICENSE_TO_TOOL_SURFACE_V0 on this path, so its result "license_tier" does not exist');
  });

  it("a step input reading a CC input the workflow does not bind", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.pipeline["7"][0].inputs.value = "$.inputs.tool_nam";
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_01)));
    expect(x.outcome.class).toBe("expression_binding_error");
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0", binding: { level: "step", step: "check_tool_declared", input: "value", path: "$.inputs.tool_nam" } });
    expect(x.hint).toContain('step check_tool_declared of ai_governance::CC_CHECK_TOOL_DECLARED_V0 reads input "value" from $.inputs.tool_nam');
  });

  it("a malformed binding aborts the run (ERROR event): classified from the writer's message", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.bindings["44"]["7"] = "$.payload.tool_name";
    });
    const r = b.run(WF.govern, payload(GOVERN_01));
    expect(r.status).toBe("ERROR");
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "expression_binding_error", status: "ERROR" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0", address: 7, event: { type: "ERROR" }, message: 'dispatch.json: bindings["44"]["7"] must be an object' });
  });

  it("a payload member that is simply absent is data, not structure: still a governed no, with a note", () => {
    const b = box();
    const file = join(b.root, "no-tool.json");
    writeFileSync(file, JSON.stringify({ requesting_user_id: "EMP_STD_001", domain_context: "ai_licensing", parameters: {} }));
    const x = examine(b.run(WF.govern, file));
    expect(x.outcome.class).toBe("business_violation");
    expect(x.failure?.node).toBe("ai_governance::CC_CHECK_TOOL_DECLARED_V0");
    expect(x.hint).toContain('Note: input "tool_name" ← $.payload.tool_name: the payload has no member "tool_name"');
  });
});

describe("graph_structure_error", () => {
  it("a route removed from dispatch.json: the run stops early with SUCCESS, the declaration routes on", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      delete j.routing["44"]["7"][T_SUCCESS];
    });
    const r = b.run(WF.govern, payload(GOVERN_01));
    expect(r.status).toBe("SUCCESS");
    expect(r.exitCode).toBe(0); // wf run cannot tell
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "graph_structure_error", status: "SUCCESS" });
    expect(x.exitCode).toBe(1);
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0", address: 7 });
    expect(x.failure?.message).toContain("missing route");
    expect(x.hint).toContain("routes SUCCESS → CC_RESOLVE_LICENSE_TIER_V0");
    expect(x.hint).toContain('routing["44"]["7"] in tokenized_snapshot/ai_governance/dispatch.json lacks transition::SUCCESS');
  });

  it("a compiled route that differs from the declared one", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.routing["44"]["7"][T_VIOLATION] = 14;
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_05)));
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.failure?.node).toBe("ai_governance::CC_CHECK_TOOL_DECLARED_V0");
    expect(x.hint).toContain("the compiled routing differs from the declaration");
    expect(x.hint).toContain("routes VIOLATION to CC_AUDIT_UNDECLARED_TOOL");
  });

  it("a routing cycle hits the hop limit (ERROR event)", () => {
    const b = box(false);
    edit(b, DISPATCH, (j) => {
      j.routing["42"]["19"][T_SUCCESS] = 8;
    });
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    expect(r.status).toBe("ERROR");
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "graph_structure_error", status: "ERROR" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_COMPUTE_SEQUENCES_V0", address: 8, event: { type: "ERROR" } });
    expect(x.failure?.message).toContain("exceeded 64 topology hops");
    expect(x.hint).toContain("repeated: CC_COMPUTE_SEQUENCES_V0 ×32, CC_VERIFY_TERMINATION_V0 ×31");
    // The human rendering shortens the 63-CC path.
    expect(renderReport(x).find((l) => l.startsWith("path:"))).toContain("… 51 more …");
  });

  it("a step naming a CT address handlers.json lacks", () => {
    const b = box(false);
    edit(b, DISPATCH, (j) => {
      j.pipeline["8"][0].addr = 9999;
    });
    const x = examine(b.run(WF.collatz, payload(COLLATZ_01)));
    expect(x.outcome.class).toBe("graph_structure_error");
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_COMPUTE_SEQUENCES_V0", step: { index: 0, id: "compute_sequences", address: 9999, kind: "CT" }, message: "CT addr 9999 not found in handlers — snapshot may be stale" });
  });
});

describe("admission_error", () => {
  it("an unmapped CS handler_ref", () => {
    const b = box();
    edit(b, HANDLERS, (j) => {
      j.cs["46"].handler_ref.module = "nope.module";
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_05)));
    expect(x.outcome).toEqual({ class: "admission_error", status: "ERROR" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RECORD_DENIED_ACTION_V0", address: 13, step: { id: "append_denial_record", op: "APPEND", kind: "CS", address: 46 } });
    expect(x.hint).toContain('fix cs["46"].handler_ref in tokenized_snapshot/ai_governance/handlers.json');
  });
});

describe("cs_runtime_error", () => {
  it("a CS exception (path confinement of the RB policy) aborts the run", () => {
    const b = box();
    edit(b, HANDLERS, (j) => {
      j.rb_policy["36"]["46"].policy.path = "{{module_data_root}}/../outside.jsonl";
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_05)));
    expect(x.outcome).toEqual({ class: "cs_runtime_error", status: "ERROR" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RECORD_DENIED_ACTION_V0", step: { id: "append_denial_record", kind: "CS" } });
    expect(x.failure?.message).toMatch(/^path confinement: /);
  });

  it("a definite CS cause (a torn log) is not blamed on the node's binding collapse", () => {
    // WF_DENY_PROVISION_V0's record node reads `$.inputs.license_id`, which the v0.3 binding
    // collapse leaves unbound in every run (README quirk 1): not the cause of a torn log.
    const b = box(false);
    mkdirSync(join(b.dataRoot, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(b.dataRoot, "ai_governance/ai_licensing/audit_log.jsonl"), '{"a":1}');
    const r = b.run(WF.deny, payload(DENY));
    expect(r.status).toBe("ERROR");
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "cs_runtime_error", status: "ERROR" });
    expect(x.failure?.message).toMatch(/ends in a torn line/);
    expect(x.failure?.binding).toBeUndefined();
    expect(x.hint).not.toContain("license_id");
    expect(x.notes.join("\n")).toMatch(/also has a binding problem \(input "record\.license_id" ← \$\.inputs\.license_id: .*did not cause this error/);
  });

  it("an unknown store entity (CS input error)", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.pipeline["15"][0].inputs.__store__ = "NOPE";
    });
    const x = examine(b.run(WF.govern, payload(GOVERN_01)));
    expect(x.outcome.class).toBe("cs_runtime_error");
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RESOLVE_LICENSE_TIER_V0", step: { id: "read_license_record", op: "READ" } });
  });

  it("BACKEND_ERROR, even when the declaration routes it to EXIT_ERROR", () => {
    const b = box();
    edit(b, DISPATCH, (j) => {
      j.pipeline["13"][1].op = "FOO";
    });
    const r = b.run(WF.govern, payload(GOVERN_05));
    expect(r.status).toBe("BACKEND_ERROR");
    const x = examine(r);
    expect(x.outcome).toEqual({ class: "cs_runtime_error", status: "BACKEND_ERROR" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_RECORD_DENIED_ACTION_V0", step: { id: "append_denial_record", op: "FOO", kind: "CS" } });
    expect(x.terminal).toMatchObject({ exit: "EXIT_ERROR", reason: "FAILED" });
  });
});

describe("ct_error", () => {
  it("a CT that fails without an atom's violation (malformed CT-IR outputs), even though VIOLATION is routed", () => {
    const b = box(false);
    edit(b, HANDLERS, (j) => {
      j.ct["20"].ct_ir.outputs.sequences.from = "nope";
    });
    const x = examine(b.run(WF.collatz, payload(COLLATZ_01)));
    expect(x.outcome).toEqual({ class: "ct_error", status: "VIOLATION" });
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_COMPUTE_SEQUENCES_V0", step: { id: "compute_sequences", address: 20, kind: "CT" } });
    expect(x.failure?.message).toContain("CT output 'sequences': symbol 'nope' was not produced");
    expect(x.hint).toContain('ct["20"] in tokenized_snapshot/ai_governance/handlers.json');
  });

  it("a CT VIOLATION the workflow declaration does not route", () => {
    const b = box(false);
    edit(b, COLLATZ_DECL, (j) => {
      delete j.frontmatter.core.nodes.CC_COMPUTE_SEQUENCES_V0.next.VIOLATION;
    });
    const x = examine(b.run(WF.collatz, payload(COLLATZ_03)));
    expect(x.outcome).toEqual({ class: "ct_error", status: "VIOLATION" });
    expect(x.failure?.node).toBe("ai_governance::CC_COMPUTE_SEQUENCES_V0");
    expect(x.hint).toContain("The CT's VIOLATION is not routed: declare a route for VIOLATION in node CC_COMPUTE_SEQUENCES_V0");
  });
});

describe("where declarations come from", () => {
  it("a trace outside its workspace is still classified from its events; --workspace restores the declarations", () => {
    const b = box();
    const r = b.run(WF.govern, payload(GOVERN_05));
    const lone = join(b.root, "elsewhere");
    mkdirSync(lone);
    copyFileSync(tracePath(r), join(lone, "t.jsonl"));
    const x = examineTrace(join(lone, "t.jsonl"));
    expect(x.outcome.class).toBe("business_violation");
    expect(x.chain).toMatchObject({ ok: true, anchor: "none" });
    expect(x.workspace).toBeUndefined();
    expect(x.failure).toMatchObject({ node: "ai_governance::CC_CHECK_TOOL_DECLARED_V0", step: { index: 0, id: null } });
    expect(x.failure?.declaration).toBeUndefined();
    expect(x.notes).toContain("no workspace found: routes were not checked against a declaration");
    const y = examineTrace(join(lone, "t.jsonl"), { workspace: b.workspace });
    expect(y.failure?.declaration?.source).toBe("capability_contract");
    expect(y.failure?.step?.id).toBe("check_tool_declared");
  });

  it("a trace directory is accepted; a snapshot edited after the run is reported", () => {
    const b = box();
    const r = b.run(WF.govern, payload(GOVERN_01));
    edit(b, DISPATCH, (j) => {
      j.projection_class = "edited";
    });
    const x = examineTrace(r.traceDirAbs);
    expect(x.trace).toBe(tracePath(r));
    expect(x.workspace?.snapshot.matches).toBe(false);
    expect(x.notes.some((n) => n.includes("is not the one this run used"))).toBe(true);
  });

  it("a missing file is E_NOT_FOUND naming it; a file without trace events is E_INVALID_INPUT", () => {
    const b = box();
    const missing = join(b.root, "nope.jsonl");
    expect(() => examineTrace(missing)).toThrow(CairnError);
    expect(() => examineTrace(missing)).toThrow(`trace not found: ${missing}`);
    const other = join(b.root, "other.jsonl");
    writeFileSync(other, '{"a":1}\n');
    expect(() => examineTrace(other)).toThrow(/is not a Cairn trace/);
  });
});

describe("ERROR message mapping (the writer's throw sites)", () => {
  it.each([
    ["[ai_governance] Snapshot integrity failure: metadata.projection_hash='a' != attestation.tokenized_projection_hash='b'", "admission_error"],
    ["unmapped CT handler_ref m:execute (ns::CC_X step s): it is not in Cairn's sealed CT table", "admission_error"],
    ['handlers.json: cs["46"].handler_ref lacks module or callable (ns::CC_X step s)', "admission_error"],
    ["WF 'd::WF_X' exceeded 64 topology hops — possible cycle in compiled routing", "graph_structure_error"],
    ["CS addr 46 not found in handlers — snapshot may be stale", "graph_structure_error"],
    ['dispatch.json: bindings["44"]["7"] must be an object', "expression_binding_error"],
    ['dispatch.json: pipeline["7"][0].inputs must be an object', "expression_binding_error"],
    ['dispatch.json: pipeline["7"][0].addr must be an integer', "graph_structure_error"],
    ['path confinement: "../x" contains a \'..\' segment', "cs_runtime_error"],
    ['cannot append to "a/b.jsonl" under the data root: EACCES', "cs_runtime_error"],
    ['CS_MUTABLE_JSON_V0: store entity "NOPE" is not in entity_stores', "cs_runtime_error"],
    ['"a.jsonl" ends in a torn line (3 bytes after offset 10 without a newline, an interrupted append): refusing to use it', "cs_runtime_error"],
    ["Atom returned None: ns::CT_X", "ct_error"],
    ["something unexpected", "by_location"],
  ])("%s → %s", (message, cls) => {
    expect(classifyErrorMessage(message)).toBe(cls);
  });

  it("a Cairn-native detail.reason wins over the text", () => {
    expect(classifyErrorMessage("whatever", "unmapped_handler_ref")).toBe("admission_error");
    expect(classifyErrorMessage("whatever", "hop_limit")).toBe("graph_structure_error");
  });
});
