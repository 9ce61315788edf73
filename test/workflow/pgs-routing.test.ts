/** Routing by every outcome in the fixtures (A.5), the hop limit, unmapped handlers, and other hard errors. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { loadSnapshot, MAX_HOPS, verifyTraceChain, type PgsRunResult } from "../../src/workflow/pgs/index.js";
import { ACTOR_PAYLOAD, PACK, pathOf, payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

type Json = Record<string, unknown>;
function editJson(b: Sandbox, rel: string, f: (d: Json) => void): void {
  const p = join(b.workspace, rel);
  const d = JSON.parse(readFileSync(p, "utf8")) as Json;
  f(d);
  writeFileSync(p, JSON.stringify(d, null, 2));
}
const at = (o: unknown, ...keys: string[]): Json => keys.reduce((acc, k) => (acc as Json)[k], o) as Json;

function traceEvents(r: PgsRunResult): Json[] {
  return readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Json);
}

describe("routing by outcome", () => {
  const RUNNABLE: Array<[string, number]> = [
    ["blockchain", 53],
    ["ai_governance", 44],
    ["ai_governance", 42],
    ["ai_governance", 45],
    ["ai_governance", 43],
    ["ai_governance", 41],
  ];

  it("the six workflows route on exactly ACK, SUCCESS, ALREADY_EXISTS, NOT_FOUND and VIOLATION", () => {
    const seen = new Set<string>();
    for (const [domain, wf] of RUNNABLE) {
      const p = loadSnapshot(join(PACK, "workspace"), domain);
      const byAddr = new Map<number, string>();
      for (const s of ["ACK", "SUCCESS", "ALREADY_EXISTS", "NOT_FOUND", "VIOLATION", "BACKEND_ERROR", "NACK", "ACTIVE", "default"]) byAddr.set(p.vocab.condition(s), s);
      for (const conds of p.routing.get(wf)?.values() ?? []) for (const c of conds.keys()) seen.add(byAddr.get(c) ?? `?${c}`);
    }
    expect([...seen].sort()).toEqual(["ACK", "ALREADY_EXISTS", "NOT_FOUND", "SUCCESS", "VIOLATION"]);
  });

  it.each([
    ["ACK", WF.deny, "ai_licensing/deny_provision_payload.json", false, "IN_DENY_PROVISION_V0=ACK", "CC_APPEND_AUDIT_EVENT_V0=SUCCESS"],
    ["SUCCESS", WF.collatz, "collatz_conjecture/02_single_number.json", false, "CC_COMPUTE_SEQUENCES_V0=SUCCESS", "CC_VERIFY_TERMINATION_V0=SUCCESS"],
    ["NOT_FOUND", WF.govern, "agent_governance/02_no_license.json", true, "CC_RESOLVE_LICENSE_TIER_V0=NOT_FOUND", "CC_RECORD_DENIED_ACTION_V0=SUCCESS"],
    ["VIOLATION", WF.govern, "agent_governance/05_undeclared_tool.json", true, "CC_CHECK_TOOL_DECLARED_V0=VIOLATION", "CC_RECORD_DENIED_ACTION_V0=SUCCESS"],
  ])("%s routes to its target", (_status, wf, file, seed, from, to) => {
    const r = box(seed).run(wf, payload(file));
    const p = pathOf(r);
    expect(p[p.indexOf(from) + 1]).toBe(to);
  });

  it("ALREADY_EXISTS routes to its target (blockchain CC 18 → CC 3)", () => {
    const b = box();
    b.run(WF.actor, ACTOR_PAYLOAD);
    const p = pathOf(b.run(WF.actor, ACTOR_PAYLOAD));
    expect(p.slice(2)).toEqual(["CC_REGISTER_ACTOR_KYC_V0=ALREADY_EXISTS", "CC_APPEND_ACTOR_EVENT_V0=SUCCESS"]);
  });

  it("a status without a route ends the run with that status", () => {
    const r = box().run(WF.collatz, payload("collatz_conjecture/03_invalid_nack.json"));
    expect(r.status).toBe("VIOLATION");
    const events = traceEvents(r);
    expect(events.map((e) => e.event_type)).toEqual(["WF_START", "CC_START", "CC_STEP", "CC_COMPLETE", "WF_COMPLETE"]);
    expect(events[4]?.result_status).toBe("VIOLATION");
  });
});

describe("hard errors end the run with an ERROR event", () => {
  it(`a routing cycle fails on the ${MAX_HOPS + 1}th visit`, () => {
    const b = box();
    editJson(b, "tokenized_snapshot/ai_governance/dispatch.json", (d) => {
      at(d, "routing", "43")["5"] = { "24582": 5 }; // CC_APPEND_AUDIT_EVENT_V0 --SUCCESS--> itself
    });
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.status).toBe("ERROR");
    expect(r.exitCode).toBe(1);
    expect(r.error?.code).toBe("E_LIMIT_EXCEEDED");
    expect(r.error?.message).toBe(`WF 'ai_governance::WF_DENY_PROVISION_V0' exceeded ${MAX_HOPS} topology hops — possible cycle in compiled routing`);
    expect(r.path.length).toBe(MAX_HOPS);
    const events = traceEvents(r);
    expect(events[events.length - 1]).toMatchObject({ event_type: "ERROR", detail: { message: r.error?.message } });
    expect(events.some((e) => e.event_type === "WF_COMPLETE")).toBe(false);
    expect(verifyTraceChain(join(r.traceDirAbs, `${r.traceId}.jsonl`)).ok).toBe(true);
    expect(b.read("ai_governance/ai_licensing/audit_log.jsonl").trim().split("\n").length).toBe(MAX_HOPS - 1);
    expect(readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8")).toContain(
      `The run was aborted by a runtime error after \`ai_governance::CC_APPEND_AUDIT_EVENT_V0\` (SUCCESS): ${r.error?.message}`,
    );
  });

  it("an unmapped CT handler_ref is an error naming it (not a VIOLATION)", () => {
    const b = box(true);
    editJson(b, "tokenized_snapshot/ai_governance/handlers.json", (d) => {
      const ref = at(d, "ct", "72", "ct_ir", "atom_stream", "0", "handler_ref");
      ref.module = "pgs_transforms.not_in_the_table";
    });
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_HANDLER_UNMAPPED");
    expect(r.error?.message).toContain("unmapped CT handler_ref pgs_transforms.not_in_the_table:execute");
    expect(r.error?.cc).toBe("ai_governance::CC_CHECK_TOOL_DECLARED_V0");
    expect(pathOf(r)).toEqual(["IN_AGENT_ACTION_REQUESTED_V0=ACK", "CC_NORMALIZE_AGENT_REQUEST_V0=SUCCESS"]);
  });

  it("an unmapped CS handler_ref is an error naming it", () => {
    const b = box();
    editJson(b, "tokenized_snapshot/ai_governance/handlers.json", (d) => {
      at(d, "cs", "46", "handler_ref").callable = "SomethingElse";
    });
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_HANDLER_UNMAPPED");
    expect(r.error?.message).toContain("unmapped CS handler_ref pgs_side_effects.implementation.side_effects.persistent.CS_APPENDONLY_JSONL_V0.runtime:SomethingElse");
  });

  it("an unknown CT address is a hard error (A.8)", () => {
    const b = box();
    editJson(b, "tokenized_snapshot/ai_governance/dispatch.json", (d) => {
      at(d, "pipeline", "8", "0").addr = 9999;
    });
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    expect(r.status).toBe("ERROR");
    expect(r.error?.message).toBe("CT addr 9999 not found in handlers — snapshot may be stale");
  });

  it("a CS refusal (path confinement) aborts the run; the trace names the path relative to the data root", () => {
    const b = box();
    editJson(b, "tokenized_snapshot/ai_governance/handlers.json", (d) => {
      at(d, "rb_policy", "38", "46", "policy").path = "{{module_data_root}}/../escape.jsonl";
    });
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.status).toBe("ERROR");
    expect(r.error?.code).toBe("E_PATH_CONFINEMENT");
    expect(r.error?.message).toContain("{{module_data_root}}/../escape.jsonl");
    const text = readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8");
    expect(text).not.toContain(b.root);
    expect(text).toContain("{{module_data_root}}/../escape.jsonl");
  });

  it("fatal errors before the run: unknown workflow, missing entry point, malformed --wf", () => {
    const b = box();
    expect(() => b.run("ai_governance::WF_NOPE_V0", payload("ai_licensing/deny_provision_payload.json"))).toThrow("FQDN not in vocab: 'ai_governance::WF_NOPE_V0'");
    editJson(b, "tokenized_snapshot/ai_governance/dispatch.json", (d) => {
      delete at(d, "entry")["43"];
    });
    expect(() => b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"))).toThrow(
      "No entry point for WF 'ai_governance::WF_DENY_PROVISION_V0' (addr 43) — snapshot may be stale or domain mismatch",
    );
    let err: unknown;
    try {
      b.run("WF_DENY_PROVISION_V0", payload("ai_licensing/deny_provision_payload.json"));
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, "E_INVALID_INPUT")).toBe(true);
    expect((err as Error).message).toBe("Invalid WF FQDN (expected <domain>::<CODE>): 'WF_DENY_PROVISION_V0'");
  });
});
