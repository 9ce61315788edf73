/**
 * PGS v0.3 scenarios across the six runnable workflows (README "Runnable workflows", SEMANTICS
 * Part D): status, visited path, surface, CS calls and the resulting data-root files. The
 * expected values are derived from the D.x wiring; ids are B.1 generate_id hashes, registry
 * addresses the C.2 deterministic scheme, append timestamps the C.3 default test clock.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ACTOR_PAYLOAD, callsOf, pathOf, payload, sandbox, surfaceOf, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

const T1 = '"record_id": "2025-01-01T00:00:00.000001_000000", "sequence_number": 1, "timestamp": "2025-01-01T00:00:00.000001"';
const T2 = '"record_id": "2025-01-01T00:00:00.000002_000001", "sequence_number": 2, "timestamp": "2025-01-01T00:00:00.000002"';

describe("D.1 blockchain::WF_REGISTER_ACTOR_UNVERIFIED_V0", () => {
  const ACTOR = "AC_dc6e2a7ae93b8bae";
  const KYC = "KYC_94cee1398e1662e9";
  const RECORD = '{"first_name": "Bachi", "last_name": "Eight", "email_registration": "bachi8@yahoo.com"}';

  it("registers the actor, then reports ALREADY_EXISTS and still succeeds (execution ≠ effect)", () => {
    const b = box();
    const r = b.run(WF.actor, ACTOR_PAYLOAD);
    expect(r.status).toBe("SUCCESS");
    expect(r.exitCode).toBe(0);
    expect(pathOf(r)).toEqual(["IN_ACTOR_REGISTERED_V0=ACK", "CC_GENERATE_ACTOR_ID_V0=SUCCESS", "CC_REGISTER_ACTOR_KYC_V0=SUCCESS", "CC_APPEND_ACTOR_EVENT_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe(
      `{"result_status":"SUCCESS","actor_id":"${ACTOR}","data":{"first_name":"Bachi","last_name":"Eight","email_registration":"bachi8@yahoo.com"},"event_type":"EV_ACTOR_REGISTERED_UNVERIFIED_V0"}`,
    );
    expect(callsOf(r)).toEqual(["register_kyc_mapping:REGISTER:SUCCESS", "append_actor_event:APPEND:SUCCESS"]);
    const registry = `{"key": "${KYC}", "address": "ADDR_2522703afb30c5adbefd7880a83eb9c3", "target_cs": "CS_APPENDONLY_JSONL_V0", "target_ref": "${ACTOR}"}\n`;
    expect(b.read("blockchain/identity/registry/actors.json")).toBe(registry);
    const event = (t: string) =>
      `{${t}, "actor_id": "${ACTOR}", "stream_id": "${ACTOR}", "record": {"actor_id": "${ACTOR}", "event_code": "EV_ACTOR_REGISTERED_UNVERIFIED_V0", "payload": ${RECORD}, "timestamp": "2025-01-01T00:00:00Z"}}\n`;
    expect(b.read("blockchain/identity/events/identity_events.jsonl")).toBe(event(T1));

    const again = b.run(WF.actor, ACTOR_PAYLOAD);
    expect(again.status).toBe("SUCCESS");
    expect(pathOf(again)).toEqual(["IN_ACTOR_REGISTERED_V0=ACK", "CC_GENERATE_ACTOR_ID_V0=SUCCESS", "CC_REGISTER_ACTOR_KYC_V0=ALREADY_EXISTS", "CC_APPEND_ACTOR_EVENT_V0=SUCCESS"]);
    expect(callsOf(again)).toEqual(["register_kyc_mapping:REGISTER:ALREADY_EXISTS", "append_actor_event:APPEND:SUCCESS"]);
    expect(b.read("blockchain/identity/registry/actors.json")).toBe(registry);
    expect(b.read("blockchain/identity/events/identity_events.jsonl")).toBe(event(T1) + event(T2));
    expect(again.traceId).not.toBe(r.traceId); // the prior state differs
  });
});

describe("D.2 ai_governance::WF_GOVERN_AGENT_ACTION_V0 (seeded license facts)", () => {
  const HEAD = ["IN_AGENT_ACTION_REQUESTED_V0=ACK", "CC_NORMALIZE_AGENT_REQUEST_V0=SUCCESS"];
  const GRANTED = [
    ...HEAD,
    "CC_CHECK_TOOL_DECLARED_V0=SUCCESS",
    "CC_RESOLVE_LICENSE_TIER_V0=SUCCESS",
    "CC_BIND_LICENSE_TO_TOOL_SURFACE_V0=SUCCESS",
    "CC_VALIDATE_TOOL_PARAMETERS_V0=SUCCESS",
    "CC_RECORD_GOVERNED_ACTION_V0=SUCCESS",
  ];
  const denied = (id: string, domain: string, user: string, tool: string) =>
    `{"action_id":"${id}","result_status":"SUCCESS","denial_reason":"PARAMETER_VIOLATION","domain_context":"${domain}","requesting_user_id":"${user}","tool_name":"${tool}"}`;
  const denialLine = (id: string, user: string, tool: string) =>
    `{${T1}, "actor_id": null, "stream_id": null, "record": {"action_id": "${id}", "decision": "DENIED", "denial_reason": "PARAMETER_VIOLATION", "event_code": "EV_AGENT_ACTION_DENIED_V0", "requesting_user_id": "${user}", "timestamp": "{{timestamp}}", "tool_name": "${tool}"}}\n`;
  const AUDIT = "ai_governance/agent_governance/governance_audit.jsonl";
  const ACTIONS = "ai_governance/agent_governance/governance_actions.json";

  it("01 valid standard action: authorized, registered and audited", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(GRANTED);
    expect(surfaceOf(r)).toBe(
      '{"action_id":"AGOV_86b57929e8d60a25","result_status":"SUCCESS","domain_context":"ai_licensing","intent_hash":"AREQ_d9a22d756846f5a2","license_tier":"standard","parameters":{"tier":"standard","quantity":50},"requesting_user_id":"EMP_STD_001","tool_name":"PROVISION_STANDARD_LICENSE"}',
    );
    expect(callsOf(r)).toEqual(["read_license_record:READ:SUCCESS", "register_action:REGISTER:SUCCESS", "append_audit_record:APPEND:SUCCESS"]);
    expect(b.read(ACTIONS)).toBe('{"key": "AGOV_86b57929e8d60a25", "address": "ADDR_6994fe83b4217f9d2542f72ce09d3e7a", "target_ref": "PROVISION_STANDARD_LICENSE"}\n');
    expect(b.read(AUDIT)).toBe(
      `{${T1}, "actor_id": null, "stream_id": null, "record": {"action_id": "AGOV_86b57929e8d60a25", "decision": "AUTHORIZED", "event_code": "EV_AGENT_ACTION_AUTHORIZED_V0", "license_tier": "standard", "parameters": {"tier": "standard", "quantity": 50}, "requesting_user_id": "EMP_STD_001", "timestamp": "{{timestamp}}", "tool_name": "PROVISION_STANDARD_LICENSE"}}\n`,
    );
    expect(r.violations).toEqual([]);
  });

  it("02 no license: the license lookup is NOT_FOUND and the denial is recorded", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/02_no_license.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual([...HEAD, "CC_CHECK_TOOL_DECLARED_V0=SUCCESS", "CC_RESOLVE_LICENSE_TIER_V0=NOT_FOUND", "CC_RECORD_DENIED_ACTION_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe(denied("AGOV_8f68224d968c5ddf", "ai_licensing", "EMP_NONE_001", "PROVISION_STANDARD_LICENSE"));
    expect(callsOf(r)).toEqual(["read_license_record:READ:NOT_FOUND", "append_denial_record:APPEND:SUCCESS"]);
    expect(b.read(AUDIT)).toBe(denialLine("AGOV_8f68224d968c5ddf", "EMP_NONE_001", "PROVISION_STANDARD_LICENSE"));
  });

  it("03 standard user asks for a premium tool: not authorized (VIOLATION) → denial", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/03_standard_requests_premium.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual([
      ...HEAD,
      "CC_CHECK_TOOL_DECLARED_V0=SUCCESS",
      "CC_RESOLVE_LICENSE_TIER_V0=SUCCESS",
      "CC_BIND_LICENSE_TO_TOOL_SURFACE_V0=VIOLATION",
      "CC_RECORD_DENIED_ACTION_V0=SUCCESS",
    ]);
    expect(surfaceOf(r)).toBe(denied("AGOV_591b559996bd8233", "ai_licensing", "EMP_STD_001", "PROVISION_PREMIUM_LICENSE"));
    expect(callsOf(r)).toEqual(["read_license_record:READ:SUCCESS", "append_denial_record:APPEND:SUCCESS"]);
    expect(r.violations.map((v) => `${v.cc.split("::")[1]}/${v.step}/${v.kind}`)).toEqual(["CC_BIND_LICENSE_TO_TOOL_SURFACE_V0/validate_tool_membership/CT"]);
  });

  it("04 enterprise user, premium tool within the rules: authorized", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/04_enterprise_premium_allowed.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(GRANTED);
    expect(surfaceOf(r)).toBe(
      '{"action_id":"AGOV_ce21b853592404a9","result_status":"SUCCESS","domain_context":"ai_licensing","intent_hash":"AREQ_ec4f58f1eb4952e0","license_tier":"enterprise","parameters":{"tier":"premium","quantity":25},"requesting_user_id":"EMP_ENT_001","tool_name":"PROVISION_PREMIUM_LICENSE"}',
    );
    expect(b.read(ACTIONS)).toBe('{"key": "AGOV_ce21b853592404a9", "address": "ADDR_42e710a35a28ea1f795b55f385878e79", "target_ref": "PROVISION_PREMIUM_LICENSE"}\n');
  });

  it.each([
    ["05_undeclared_tool", "AGOV_9a705c579777cf88", "ai_licensing", "EMP_STD_001", "DELETE_DATABASE"],
    ["07_shell_command_absent", "AGOV_b45311d5ac777402", "system", "EMP_ENT_001", "EXECUTE_SHELL_COMMAND"],
  ])("%s: undeclared tool is a VIOLATION → denial recorded with the collapsed reason", (name, id, domain, user, tool) => {
    const b = box(true);
    const r = b.run(WF.govern, payload(`agent_governance/${name}.json`));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual([...HEAD, "CC_CHECK_TOOL_DECLARED_V0=VIOLATION", "CC_RECORD_DENIED_ACTION_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe(denied(id, domain, user, tool));
    expect(callsOf(r)).toEqual(["append_denial_record:APPEND:SUCCESS"]);
    expect(b.read(AUDIT)).toBe(denialLine(id, user, tool));
  });

  it("06 parameter violation (quantity 200 > 100) → denial", () => {
    const b = box(true);
    const r = b.run(WF.govern, payload("agent_governance/06_parameter_violation.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual([
      ...HEAD,
      "CC_CHECK_TOOL_DECLARED_V0=SUCCESS",
      "CC_RESOLVE_LICENSE_TIER_V0=SUCCESS",
      "CC_BIND_LICENSE_TO_TOOL_SURFACE_V0=SUCCESS",
      "CC_VALIDATE_TOOL_PARAMETERS_V0=VIOLATION",
      "CC_RECORD_DENIED_ACTION_V0=SUCCESS",
    ]);
    expect(surfaceOf(r)).toBe(denied("AGOV_d9a22d756846f5a2", "ai_licensing", "EMP_STD_001", "PROVISION_STANDARD_LICENSE"));
  });

  it("without the seed every license lookup is NOT_FOUND (README)", () => {
    const b = box(false);
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(pathOf(r)).toEqual([...HEAD, "CC_CHECK_TOOL_DECLARED_V0=SUCCESS", "CC_RESOLVE_LICENSE_TIER_V0=NOT_FOUND", "CC_RECORD_DENIED_ACTION_V0=SUCCESS"]);
  });
});

describe("D.3 ai_governance::WF_DEMO_COLLATZ_CONJECTURE_V0", () => {
  const FILE = "ai_governance/collatz_conjecture/collatz_results.json";

  it("01 happy path: sequences in first-occurrence order, stored last-write-wins", () => {
    const b = box();
    const r = b.run(WF.collatz, payload("collatz_conjecture/01_happy_path.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_COLLATZ_INPUT_VALIDATED_V0=ACK", "CC_COMPUTE_SEQUENCES_V0=SUCCESS", "CC_VERIFY_TERMINATION_V0=SUCCESS", "CC_STORE_RESULTS_V0=SUCCESS"]);
    expect([...r.surface.keys()]).toEqual(["result_status", "all_terminate", "non_terminating", "sequences"]);
    const seqs = r.surface.get("sequences") as Map<string, bigint[]>;
    expect([...seqs.keys()]).toEqual(["3", "6", "7", "11", "17", "999990", "42", "63", "97", "99"]);
    expect(seqs.get("3")).toEqual([3n, 10n, 5n, 16n, 8n, 4n, 2n, 1n]);
    for (const s of seqs.values()) expect(s[s.length - 1]).toBe(1n);
    expect(surfaceOf(r)).toMatch(/^\{"result_status":"SUCCESS","all_terminate":true,"non_terminating":\[\],"sequences":\{"3":\[3,10,5,16,8,4,2,1\],"6":/);
    expect(callsOf(r)).toEqual(["store_results:WRITE:SUCCESS"]);
    const stored = b.read(FILE);
    expect(stored.startsWith('{\n  "collatz_results": {\n    "all_terminate": true,\n    "non_terminating": [],\n    "sequences": {\n      "3": [\n        3,\n        10,')).toBe(true);
    expect(stored.endsWith('    "timestamp": "{{timestamp}}"\n  }\n}')).toBe(true);
  });

  it("02 single number 27: 112 values, ending in 1", () => {
    const b = box();
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    expect(r.status).toBe("SUCCESS");
    const s = (r.surface.get("sequences") as Map<string, bigint[]>).get("27") as bigint[];
    expect(s.length).toBe(112);
    expect(s.slice(0, 4)).toEqual([27n, 82n, 41n, 124n]);
    expect(s[s.length - 1]).toBe(1n);
    expect(b.read(FILE).startsWith('{\n  "collatz_results": {')).toBe(true);
  });

  it("03 invalid numbers: VIOLATION is terminal (no route), nothing stored, exit 1", () => {
    const b = box();
    const r = b.run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"));
    expect(r.status).toBe("VIOLATION");
    expect(r.exitCode).toBe(1);
    expect(pathOf(r)).toEqual(["IN_COLLATZ_INPUT_VALIDATED_V0=ACK", "CC_COMPUTE_SEQUENCES_V0=VIOLATION"]);
    expect(surfaceOf(r)).toBe('{"sequences":null,"numbers":[0,98,-5]}');
    expect(r.effects).toEqual([]);
    expect(() => b.read(FILE)).toThrow();
  });
});

describe("D.4–D.6 licensing (shared registry and audit log)", () => {
  const REGISTRY = "ai_governance/ai_licensing/license_registry.json";
  const AUDIT = "ai_governance/ai_licensing/audit_log.jsonl";
  const PROVISIONED = '{"key": "e-7526", "address": "ADDR_90a271cca080c52e44be5d0182caa928", "target_cs": "CS_REGISTRY_V0", "target_ref": "lic-7526"}\n';

  it("D.4 provision: eligible → registered → audited with the collapsed denial binding set", () => {
    const b = box();
    const r = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_PROVISION_AI_LICENSE_V0=ACK", "CC_VALIDATE_ELIGIBILITY_V0=SUCCESS", "CC_PROVISION_LICENSE_V0=SUCCESS", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe('{"result_status":"SUCCESS","data":{},"decision":"DENIED","employee_id":"e-7526","event_type":"EV_PROVISION_DENIED_V0","reason_code":null}');
    expect(callsOf(r)).toEqual(["register_license:REGISTER:SUCCESS", "append_audit_event:APPEND:SUCCESS"]);
    expect(b.read(REGISTRY)).toBe(PROVISIONED);
    expect(b.read(AUDIT)).toBe(
      `{${T1}, "actor_id": null, "stream_id": null, "record": {"decision": "DENIED", "employee_id": "e-7526", "event_type": "EV_PROVISION_DENIED_V0", "license_id": null, "payload": {}, "reason_code": null, "timestamp": "{{timestamp}}"}}\n`,
    );
    // Provisioning the same employee again: ALREADY_EXISTS has no route, so it is terminal — and exits 0.
    const again = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    expect(again.status).toBe("ALREADY_EXISTS");
    expect(again.exitCode).toBe(0);
    expect(pathOf(again)).toEqual(["IN_PROVISION_AI_LICENSE_V0=ACK", "CC_VALIDATE_ELIGIBILITY_V0=SUCCESS", "CC_PROVISION_LICENSE_V0=ALREADY_EXISTS"]);
    expect(b.read(REGISTRY)).toBe(PROVISIONED);
  });

  it("D.4 quota exceeded is not a violation: still provisioned", () => {
    const b = box();
    const r = b.run(WF.provision, payload("ai_licensing/quota_exceeded_payload.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_PROVISION_AI_LICENSE_V0=ACK", "CC_VALIDATE_ELIGIBILITY_V0=SUCCESS", "CC_PROVISION_LICENSE_V0=SUCCESS", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe('{"result_status":"SUCCESS","data":{},"decision":"DENIED","employee_id":"e-9999","event_type":"EV_PROVISION_DENIED_V0","reason_code":"QUOTA_EXCEEDED"}');
    expect(b.read(REGISTRY)).toBe('{"key": "e-9999", "address": "ADDR_36665ae4774e3b29ab60b6e599b65cb5", "target_cs": "CS_REGISTRY_V0", "target_ref": "lic-9999"}\n');
  });

  it("D.4 ineligible (training status missing → the atom raises): VIOLATION routes to the audit CC", () => {
    const b = box();
    const file = join(b.root, "no-training.json");
    writeFileSync(file, JSON.stringify({ employee_id: "e-1", context: { assigned_count: 1, cap: 5, reason_code: "TRAINING_MISSING" }, generated: { license_id: "lic-1" } }));
    const r = b.run(WF.provision, file);
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_PROVISION_AI_LICENSE_V0=ACK", "CC_VALIDATE_ELIGIBILITY_V0=VIOLATION", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"]);
    expect(callsOf(r)).toEqual(["append_audit_event:APPEND:SUCCESS"]);
    expect(surfaceOf(r)).toBe('{"result_status":"SUCCESS","data":{},"decision":"DENIED","employee_id":"e-1","event_type":"EV_PROVISION_DENIED_V0","reason_code":"TRAINING_MISSING"}');
  });

  it("D.5 deny provision: one audit record", () => {
    const b = box();
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_DENY_PROVISION_V0=ACK", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe('{"result_status":"SUCCESS","decision":"DENIED","employee_id":"e-7526","event_type":"EV_PROVISION_DENIED_V0","reason_code":"TRAINING_INCOMPLETE"}');
    expect(b.read(AUDIT)).toBe(
      `{${T1}, "actor_id": null, "stream_id": null, "record": {"decision": "DENIED", "employee_id": "e-7526", "event_type": "EV_PROVISION_DENIED_V0", "license_id": null, "payload": null, "reason_code": "TRAINING_INCOMPLETE", "timestamp": "{{timestamp}}"}}\n`,
    );
  });

  it("D.6 auto reclaim on a fresh data root: DEREGISTER is NOT_FOUND, terminal, exit 1", () => {
    const b = box();
    const r = b.run(WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json"));
    expect(r.status).toBe("NOT_FOUND");
    expect(r.exitCode).toBe(1);
    expect(pathOf(r)).toEqual(["IN_RECLAIM_LICENSE_V0=ACK", "CC_RECLAIM_UNUSED_LICENSE_V0=NOT_FOUND"]);
    expect(surfaceOf(r)).toBe(
      '{"days_inactive":null,"is_inactive":null,"result_status":"NOT_FOUND","employee_id":"e-7526","last_active_date":"2025-01-20T11:00:00Z","license_id":"lic-7526","threshold_days":30}',
    );
    expect(callsOf(r)).toEqual(["deregister_license:DEREGISTER:NOT_FOUND"]);
    expect(b.read(REGISTRY)).toBe("");
  });

  it("D.6 auto reclaim after provisioning: tombstone + RECLAIMED audit record; a second reclaim is NOT_FOUND", () => {
    const b = box();
    b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const r = b.run(WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json"));
    expect(r.status).toBe("SUCCESS");
    expect(pathOf(r)).toEqual(["IN_RECLAIM_LICENSE_V0=ACK", "CC_RECLAIM_UNUSED_LICENSE_V0=SUCCESS", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"]);
    expect(surfaceOf(r)).toBe(
      '{"result_status":"SUCCESS","data":{"days_inactive":31,"license_id":"lic-7526"},"decision":"RECLAIMED","employee_id":"e-7526","event_type":"EV_LICENSE_REVOKED_V0","reason_code":"INACTIVITY"}',
    );
    expect(b.read(REGISTRY)).toBe(`${PROVISIONED}{"key": "e-7526", "address": "ADDR_90a271cca080c52e44be5d0182caa928", "tombstone": true}\n`);
    expect(b.read(AUDIT).split("\n")[1]).toBe(
      `{${T2}, "actor_id": null, "stream_id": null, "record": {"decision": "RECLAIMED", "employee_id": "e-7526", "event_type": "EV_LICENSE_REVOKED_V0", "license_id": null, "payload": {"days_inactive": 31, "license_id": "lic-7526"}, "reason_code": "INACTIVITY", "timestamp": "{{timestamp}}"}}`,
    );
    const again = b.run(WF.reclaim, payload("ai_licensing/auto_reclaim_payload.json"));
    expect(again.status).toBe("NOT_FOUND");
    expect(pathOf(again)).toEqual(["IN_RECLAIM_LICENSE_V0=ACK", "CC_RECLAIM_UNUSED_LICENSE_V0=NOT_FOUND"]);
  });
});
