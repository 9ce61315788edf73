/**
 * The sealed CS table against the real snapshots, the A.10 call protocol (policy selection,
 * `{{module_data_root}}` expansion, payload), and the README's data-root layout reproduced by
 * running each RB/CS pair of the six workflows through `invokeCsStep`.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import {
  CS_RUNTIMES,
  buildCsPayload,
  createEffectContext,
  csRuntimeFor,
  csRuntimeForHandlerRef,
  expandPolicy,
  invokeCsStep,
  selectPolicy,
  type EffectContext,
} from "../../src/workflow/effects/index.js";
import { parsePyJson, type PyDict, type PyValue } from "../../src/workflow/py/index.js";
import { dict, py, type PyLiteral } from "./py-literal.js";

const PACK = "/work/shared/fixtures/pgs";
const DOMAINS = ["ai_governance", "blockchain", "platform"] as const;
type Obj = PyDict;

function handlers(domain: string): Obj {
  return parsePyJson(readFileSync(join(PACK, "workspace/tokenized_snapshot", domain, "handlers.json"), "utf8")) as Obj;
}
const at = (o: PyValue | undefined, ...keys: string[]): PyValue | undefined => keys.reduce<PyValue | undefined>((v, k) => (v instanceof Map ? v.get(k) : undefined), o);

describe("CS_RUNTIMES", () => {
  it("is a frozen, null-prototype table of exactly the three capability ids", () => {
    expect(Object.keys(CS_RUNTIMES).sort()).toEqual(["CS_APPENDONLY_JSONL_V0", "CS_MUTABLE_JSON_V0", "CS_REGISTRY_V0"]);
    expect(Object.isFrozen(CS_RUNTIMES)).toBe(true);
    expect(CS_RUNTIMES["toString"]).toBeUndefined();
    expect(csRuntimeFor("constructor")).toBeUndefined();
    for (const [id, rt] of Object.entries(CS_RUNTIMES)) {
      expect(rt.capability).toBe(id);
      expect(Object.isFrozen(rt)).toBe(true);
      expect(csRuntimeFor(id)).toBe(rt);
    }
  });

  it("matches every CS handler_ref of the three snapshots exactly (module + callable)", () => {
    let matched = 0;
    for (const d of DOMAINS) {
      for (const [addr, cs] of (handlers(d).get("cs") as Obj).entries()) {
        const ref = at(cs, "handler_ref") as Obj;
        const module = ref.get("module") as string;
        const id = /\.(CS_[A-Z_]+_V0)\.runtime$/.exec(module)?.[1] ?? "";
        const rt = csRuntimeForHandlerRef(ref);
        if (id in CS_RUNTIMES) {
          expect(rt, `${d} cs ${addr}`).toBe(CS_RUNTIMES[id]);
          expect(rt?.handlerRef).toEqual({ module, callable: ref.get("callable") });
          matched++;
        } else {
          expect(rt, `${d} cs ${addr} (${id})`).toBeUndefined();
        }
      }
    }
    expect(matched).toBe(9);
    expect(csRuntimeForHandlerRef({ module: CS_RUNTIMES["CS_REGISTRY_V0"]?.handlerRef.module ?? "", callable: "Other" })).toBeUndefined();
  });

  it("capability ids are the codes of the snapshots' capability_side_effects vocabulary", () => {
    const forward = JSON.parse(readFileSync(join(PACK, "workspace/vocabulary_snapshot/ai_governance/forward.json"), "utf8")) as Record<string, string>;
    const codes = Object.values(forward).filter((f) => f.startsWith("capability_side_effects::")).map((f) => f.split("::")[1]);
    for (const id of Object.keys(CS_RUNTIMES)) expect(codes).toContain(id);
  });
});

describe("A.10 call protocol", () => {
  it("selectPolicy: policy, else config, else {}", () => {
    expect(selectPolicy(undefined)).toEqual(new Map());
    expect(selectPolicy(py({ policy: { a: 1n }, config: { b: 2n } }))).toEqual(dict({ a: 1n }));
    expect(selectPolicy(py({ policy: {}, config: { b: 2n } }))).toEqual(dict({ b: 2n }));
    expect(selectPolicy(py({ policy: null, config: {} }))).toEqual(new Map());
    expect(() => selectPolicy(5n)).toThrow(CairnError);
  });

  it("expandPolicy: every string and member name, trailing '/' removed, other values untouched", () => {
    for (const root of ["/abs/data/root", "/abs/data/root/", "/abs/data/root///"]) {
      expect(expandPolicy(dict({ path: "{{module_data_root}}/storage.json" }), root)).toEqual(new Map([["path", "/abs/data/root/storage.json"]]));
    }
    expect(expandPolicy(dict({ count: 3n }), "/r")).toEqual(new Map([["count", 3n]]));
    expect(expandPolicy(dict({}), "/r")).toEqual(new Map());
    const out = expandPolicy(dict({ "{{module_data_root}}": ["{{module_data_root}}/y", true, null, "{{timestamp}}"] }), "/r");
    expect(out).toEqual(new Map([["/r", ["/r/y", true, null, "{{timestamp}}"]]]));
    // Anywhere but the start, or twice, the host's root would reach traces (a deviation: the
    // reference replaces everywhere).
    for (const text of ["x{{module_data_root}}y", "/srv{{module_data_root}}/x", "{{module_data_root}}/a{{module_data_root}}/x"]) {
      expect(() => expandPolicy(dict({ path: text }), "/r")).toThrow(`policy text ${JSON.stringify(text)}: {{module_data_root}} may only start a path, once`);
      expect(() => expandPolicy(dict({ [text]: 1n }), "/r")).toThrow("may only start a path, once");
    }
    expect(() => expandPolicy(dict({ a: "b" }), '/da"ta')).toThrow(/cannot carry/);
  });

  it("buildCsPayload: __store__ removed, re-added last as __pgs_store_entity__ when truthy", () => {
    const p = buildCsPayload(new Map<string, PyValue>([["__store__", "ACTOR"], ["key", "k"], ["value", null]]));
    expect([...p.entries()]).toEqual([["key", "k"], ["value", null], ["__pgs_store_entity__", "ACTOR"]]);
    expect([...buildCsPayload(dict({ __store__: "", key: "k" })).keys()]).toEqual(["key"]);
    expect([...buildCsPayload(dict({ __store__: null })).keys()]).toEqual([]);
  });
});

describe("data-root layout of the six workflows (README)", () => {
  let root: string;
  let ctx: EffectContext;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cairn-layout-"));
    ctx = createEffectContext({ dataRoot: `${root}/`, traceId: "T" });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function step(domain: string, rb: string, cs: string, op: string, stepInputs: Record<string, PyLiteral>) {
    const h = handlers(domain);
    return invokeCsStep(
      { handlerRef: at(h, "cs", cs, "handler_ref") as PyValue, csMetadata: at(h, "cs", cs, "cs_metadata"), rbPolicyEntry: at(h, "rb_policy", rb, cs), op, stepInputs: dict(stepInputs), capabilityCode: `cs ${cs}` },
      ctx,
    );
  }
  const files = (): string[] => {
    const out: string[] = [];
    const walk = (rel: string): void => {
      for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
        const r = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) walk(r);
        else out.push(r);
      }
    };
    walk("");
    return out.sort();
  };

  it("puts every file exactly where the README's table says", () => {
    const actor = { first_name: "Bachi", last_name: "Eight", email_registration: "bachi8@yahoo.com" };
    const results = [
      step("blockchain", "40", "58", "REGISTER", { __store__: "ACTOR", key: "KYC_x", target_cs: "CS_APPENDONLY_JSONL_V0", target_ref: "AC_x", stream_id: "AC_x" }),
      step("blockchain", "40", "56", "APPEND", { __store__: "ACTOR_EVENTS", actor_id: "AC_x", stream_id: "AC_x", record: { actor_id: "AC_x", event_code: "EV_ACTOR_REGISTERED_UNVERIFIED_V0", payload: actor, timestamp: "2025-01-01T00:00:00Z" } }),
      step("ai_governance", "36", "48", "REGISTER", { key: "AGOV_x", metadata: { a: 1n }, target_ref: "READ_RECORD" }),
      step("ai_governance", "36", "46", "APPEND", { record: { action_id: "AGOV_x", decision: "AUTHORIZED" } }),
      step("ai_governance", "37", "47", "WRITE", { __store__: "COLLATZ_RESULTS", key: "collatz_results", value: { all_terminate: true } }),
      step("ai_governance", "38", "48", "REGISTER", { key: "e-7526", target_cs: "CS_REGISTRY_V0", target_ref: "lic-7526" }),
      step("ai_governance", "38", "46", "APPEND", { record: { decision: "DENIED" } }),
      step("ai_governance", "38", "48", "DEREGISTER", { key_or_address: "e-7526" }),
    ];
    expect(results.map((r) => r.outcome)).toEqual(Array(results.length).fill("SUCCESS"));
    expect(files()).toEqual([
      "ai_governance/agent_governance/governance_actions.json",
      "ai_governance/agent_governance/governance_audit.jsonl",
      "ai_governance/ai_licensing/audit_log.jsonl",
      "ai_governance/ai_licensing/license_registry.json",
      "ai_governance/collatz_conjecture/collatz_results.json",
      "blockchain/identity/events/identity_events.jsonl",
      "blockchain/identity/registry/actors.json",
    ]);
    expect(results.map((r) => r.effect?.path)).toEqual([
      "blockchain/identity/registry/actors.json",
      "blockchain/identity/events/identity_events.jsonl",
      "ai_governance/agent_governance/governance_actions.json",
      "ai_governance/agent_governance/governance_audit.jsonl",
      "ai_governance/collatz_conjecture/collatz_results.json",
      "ai_governance/ai_licensing/license_registry.json",
      "ai_governance/ai_licensing/audit_log.jsonl",
      "ai_governance/ai_licensing/license_registry.json",
    ]);
    expect(readFileSync(join(root, "blockchain/identity/events/identity_events.jsonl"), "utf8")).toBe(
      '{"record_id": "2025-01-01T00:00:00.000001_000000", "sequence_number": 1, "timestamp": "2025-01-01T00:00:00.000001", "actor_id": "AC_x", "stream_id": "AC_x", ' +
        '"record": {"actor_id": "AC_x", "event_code": "EV_ACTOR_REGISTERED_UNVERIFIED_V0", "payload": {"first_name": "Bachi", "last_name": "Eight", "email_registration": "bachi8@yahoo.com"}, "timestamp": "2025-01-01T00:00:00Z"}}\n',
    );
    expect(readFileSync(join(root, "ai_governance/agent_governance/governance_actions.json"), "utf8")).toMatch(/^\{"key": "AGOV_x", "address": "ADDR_[0-9a-f]{32}", "target_ref": "READ_RECORD"\}\n$/);
  });

  it("LICENSE_FACTS needs the seed: NOT_FOUND without it, the record with it", () => {
    const read = () => step("ai_governance", "36", "47", "READ", { __store__: "LICENSE_FACTS", key: "EMP_ENT_001" });
    expect(read().outcome).toBe("NOT_FOUND");
    expect(existsSync(join(root, "ai_governance/ai_licensing/license_facts.json"))).toBe(false);
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    copyFileSync(join(PACK, "workspace/seeds/license_facts.json"), join(root, "ai_governance/ai_licensing/license_facts.json"));
    expect(read().result).toEqual(dict({ result_status: "SUCCESS", value: new Map([["license_status", "active"], ["license_tier", "enterprise"], ["org_unit", "platform"]]) }));
  });

  it("a store entity the policy does not know, an unknown handler and missing metadata are hard errors", () => {
    expect(() => step("ai_governance", "37", "47", "READ", { __store__: "LICENSE_FACTS", key: "k" })).toThrow(/not in entity_stores/);
    expect(() => step("ai_governance", "36", "49", "SEND", {})).toThrow(/sealed CS registry/);
    const h = handlers("ai_governance");
    expect(() =>
      invokeCsStep({ handlerRef: at(h, "cs", "48", "handler_ref") as PyValue, csMetadata: undefined, rbPolicyEntry: at(h, "rb_policy", "38", "48"), op: "EXISTS", stepInputs: dict({ key_or_address: "x" }) }, ctx),
    ).toThrow(/capability/);
  });
});
