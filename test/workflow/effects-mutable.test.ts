/**
 * CS_MUTABLE_JSON_V0 (SEMANTICS C.4): entity resolution, key validation, READ / WRITE / DELETE /
 * EXISTS / LIST_KEYS, last-write-wins, the pretty file format, the seed, failure mapping.
 */
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { CairnError } from "../../src/core/errors.js";
import { MUTABLE_RUNTIME, createEffectContext, type CsResult, type EffectContext } from "../../src/workflow/effects/index.js";
import { parsePyJson, type PyDict, type PyValue } from "../../src/workflow/py/index.js";
import { dict, py, type PyLiteral } from "./py-literal.js";

const PACK = "/work/shared/fixtures/pgs";
const MD = new Map([["capability", new Map()], ["operations", new Map()]]);
const FACTS = "ai_governance/ai_licensing/license_facts.json";
const COLLATZ = "ai_governance/collatz_conjecture/collatz_results.json";

let root: string;
let ctx: EffectContext;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-mutable-"));
  ctx = createEffectContext({ dataRoot: root, traceId: "T" });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function configLiteral(c: EffectContext = ctx): Record<string, PyLiteral> {
  return {
    module_data_root: c.dataRoot,
    path: `${c.dataRoot}/ignored.json`,
    storage_structure_artifact: { frontmatter: { core: { entity_stores: { LICENSE_FACTS: { path: FACTS }, COLLATZ_RESULTS: { path: COLLATZ }, NO_PATH: { description: "x" } } } } },
  };
}
const config = (c: EffectContext = ctx): PyDict => dict(configLiteral(c));
function mj(op: string, payload: Record<string, PyLiteral>, entity = "COLLATZ_RESULTS", c: EffectContext = ctx): CsResult {
  return MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: entity, ...payload }), config: config(c), metadata: MD }, c);
}
const file = (rel: string): string => readFileSync(join(root, rel), "utf8");
function hardError(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("expected a hard error");
}

describe("CS_MUTABLE_JSON_V0 operations", () => {
  it("READ of an absent key (absent file) is NOT_FOUND and writes nothing", () => {
    const r = mj("READ", { key: "collatz_results" });
    expect(r.result).toEqual(dict({ result_status: "NOT_FOUND" }));
    expect(r.effect).toMatchObject({ action: "read", size: 0, path: COLLATZ });
    expect(existsSync(join(root, COLLATZ))).toBe(false);
    expect(existsSync(join(root, "ai_governance/collatz_conjecture"))).toBe(true); // parent directories are created
  });

  it("WRITE with an absent value stores null; the file is the pretty form without a trailing newline", () => {
    const r = mj("WRITE", { key: "EMP" });
    expect(r.result).toEqual(dict({ result_status: "SUCCESS" }));
    expect(file(COLLATZ)).toBe('{\n  "EMP": null\n}');
    expect(r.effect).toEqual({ id: "T:E000001", capability: "CS_MUTABLE_JSON_V0", op: "WRITE", path: COLLATZ, action: "replace", created: true, digest: sha256('{\n  "EMP": null\n}'), size: 17 });
  });

  it("the Collatz results document is byte-exact (numeric-looking keys keep insertion order)", () => {
    const sequences = new Map<string, PyValue>([["27", [27n, 82n, 41n]], ["1", [1n]]]);
    const value = new Map<string, PyValue>([["all_terminate", true], ["non_terminating", []], ["sequences", sequences], ["timestamp", "{{timestamp}}"]]);
    expect(mj("WRITE", { key: "collatz_results", value }).outcome).toBe("SUCCESS");
    expect(file(COLLATZ)).toBe(
      '{\n  "collatz_results": {\n    "all_terminate": true,\n    "non_terminating": [],\n    "sequences": {\n      "27": [\n        27,\n        82,\n        41\n      ],\n      "1": [\n        1\n      ]\n    },\n    "timestamp": "{{timestamp}}"\n  }\n}',
    );
    const read = mj("READ", { key: "collatz_results" });
    expect(read.outcome).toBe("SUCCESS");
    expect([...((read.result.get("value") as PyDict).get("sequences") as PyDict).keys()]).toEqual(["27", "1"]);
  });

  it("last write wins; an overwritten key keeps its position, a new key goes last", () => {
    mj("WRITE", { key: "a", value: 1n });
    mj("WRITE", { key: "b", value: { x: "\u00e9" } });
    mj("WRITE", { key: "a", value: 2 }); // the float 2.0
    expect(file(COLLATZ)).toBe('{\n  "a": 2.0,\n  "b": {\n    "x": "\u00e9"\n  }\n}');
    expect(mj("READ", { key: "a" }).result).toEqual(dict({ result_status: "SUCCESS", value: 2 }));
    expect(mj("LIST_KEYS", {}).result).toEqual(dict({ result_status: "SUCCESS", keys: ["a", "b"] }));
    mj("WRITE", { key: "c", value: null });
    expect(mj("LIST_KEYS", {}).result.get("keys")).toEqual(["a", "b", "c"]);
    expect(mj("WRITE", { key: "a", value: 1n }).outcome).toBe("SUCCESS");
    expect(mj("WRITE", { key: "a", value: 1n }).outcome).toBe("SUCCESS"); // idempotent
    expect(file(COLLATZ)).toBe('{\n  "a": 1,\n  "b": {\n    "x": "\u00e9"\n  },\n  "c": null\n}');
  });

  it("EXISTS, DELETE (NOT_FOUND when absent), and READ after DELETE", () => {
    mj("WRITE", { key: "k", value: "v" });
    expect(mj("EXISTS", { key: "k" }).result).toEqual(dict({ result_status: "SUCCESS", exists: true }));
    expect(mj("EXISTS", { key: "z" }).result).toEqual(dict({ result_status: "SUCCESS", exists: false }));
    const d = mj("DELETE", { key: "k" });
    expect(d.result).toEqual(dict({ result_status: "SUCCESS" }));
    expect(d.effect?.action).toBe("replace");
    expect(file(COLLATZ)).toBe("{}");
    expect(mj("DELETE", { key: "k" }).result).toEqual(dict({ result_status: "NOT_FOUND" }));
    expect(mj("READ", { key: "k" }).outcome).toBe("NOT_FOUND");
  });

  it("keys must be strings with a non-whitespace character (else VIOLATION, nothing written)", () => {
    for (const key of [undefined, "", "   ", "\u3000\t", 5n, null]) {
      const payload: Record<string, PyLiteral> = key === undefined ? {} : { key };
      for (const op of ["READ", "WRITE", "DELETE", "EXISTS"]) expect(mj(op, payload).result, `${op} ${String(key)}`).toEqual(dict({ result_status: "VIOLATION" }));
    }
    expect(existsSync(join(root, COLLATZ))).toBe(false);
    expect(mj("LIST_KEYS", {}).result).toEqual(dict({ result_status: "SUCCESS", keys: [] }));
  });

  it("the seed is read as-is and never rewritten by a READ", () => {
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    copyFileSync(join(PACK, "payloads/agent_governance/seed_data/license_facts.json"), join(root, FACTS));
    const before = file(FACTS);
    const r = mj("READ", { key: "EMP_STD_001" }, "LICENSE_FACTS");
    expect(r.outcome).toBe("SUCCESS");
    expect(r.result.get("value")).toEqual(new Map([["license_status", "active"], ["license_tier", "standard"], ["org_unit", "engineering"]]));
    expect(mj("READ", { key: "EMP_NONE_001" }, "LICENSE_FACTS").outcome).toBe("NOT_FOUND");
    expect(file(FACTS)).toBe(before);
    expect(r.effect).toMatchObject({ action: "read", digest: sha256(before) });
  });

  it("an unusable document is BACKEND_ERROR and stays untouched", () => {
    mkdirSync(join(root, "ai_governance/collatz_conjecture"), { recursive: true });
    for (const bad of ["{not json", "[1, 2]", "\ufeff{}", ""]) {
      writeFileSync(join(root, COLLATZ), bad);
      for (const op of ["READ", "WRITE", "DELETE", "EXISTS", "LIST_KEYS"]) expect(mj(op, { key: "k", value: 1n }).outcome, `${op} on ${JSON.stringify(bad)}`).toBe("BACKEND_ERROR");
      expect(file(COLLATZ)).toBe(bad);
    }
    writeFileSync(join(root, COLLATZ), Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
    // Bare under the reference dialect (C.4); the reason as `message` for Cairn stores (declared).
    expect(mj("READ", { key: "k" }).result).toEqual(dict({ result_status: "BACKEND_ERROR" }));
    const declared = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    expect(mj("READ", { key: "k" }, "COLLATZ_RESULTS", declared).result.get("message")).toMatch(/not valid JSON/);
    rmSync(join(root, COLLATZ));
    mkdirSync(join(root, COLLATZ));
    expect(mj("READ", { key: "k" }).outcome).toBe("BACKEND_ERROR");
  });

  it("GET / PUT / LIST are BACKEND_ERROR under the reference dialect and map to their handlers when declared", () => {
    for (const op of ["GET", "PUT", "LIST"]) expect(mj(op, { key: "k" }).result).toEqual(dict({ result_status: "BACKEND_ERROR", message: `No backend handler for op: ${op}` }));
    const handlers = parsePyJson(readFileSync(join(PACK, "workspace/tokenized_snapshot/ai_governance/handlers.json"), "utf8")) as PyDict;
    const md = ((handlers.get("cs") as PyDict).get("47") as PyDict).get("cs_metadata") as PyValue;
    const c = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    const call = (op: string, payload: Record<string, PyLiteral>): CsResult =>
      MUTABLE_RUNTIME.execute({ op, payload: dict({ __pgs_store_entity__: "COLLATZ_RESULTS", ...payload }), config: config(c), metadata: md }, c);
    // CS 47's compiled metadata declares GET/PUT/DELETE/EXISTS/LIST with handlers read/write/delete/exists/list_keys.
    const declared = [...(((md as PyDict).get("operations") as PyDict).get("operations") as PyDict).keys()];
    expect(declared).toEqual(expect.arrayContaining(["GET", "PUT", "LIST"]));
    expect(call("PUT", { key: "k", value: 1n }).outcome).toBe("SUCCESS");
    expect(call("GET", { key: "k" }).result).toEqual(dict({ result_status: "SUCCESS", value: 1n }));
    expect(call("LIST", {}).result).toEqual(dict({ result_status: "SUCCESS", keys: ["k"] }));
    expect(call("READ", { key: "k" }).outcome).toBe("SUCCESS");
  });
});

describe("CS_MUTABLE_JSON_V0 hard errors", () => {
  it("a missing, unknown or path-less store entity is a hard error (not a status)", () => {
    expect(hardError(() => MUTABLE_RUNTIME.execute({ op: "READ", payload: dict({ key: "k" }), config: config(), metadata: MD }, ctx)).details["reason"]).toBe("cs_input");
    expect(hardError(() => mj("READ", { key: "k" }, "NOPE")).details["entity"]).toBe("NOPE");
    expect(hardError(() => mj("READ", { key: "k" }, "NO_PATH")).details["reason"]).toBe("cs_config");
  });

  it("a bad config or metadata is a hard error at construction", () => {
    const run = (cfg: Record<string, PyLiteral>, md: PyLiteral = MD) => () =>
      MUTABLE_RUNTIME.execute({ op: "LIST_KEYS", payload: dict({ __pgs_store_entity__: "X" }), config: dict(cfg), metadata: py(md) }, ctx);
    expect(hardError(run({ module_data_root: root })).details["reason"]).toBe("cs_config");
    expect(hardError(run({ module_data_root: root, storage_structure_artifact: { frontmatter: { core: { entity_stores: {} } } } })).details["reason"]).toBe("cs_config");
    expect(hardError(run({ ...configLiteral(), module_data_root: "" })).details["reason"]).toBe("cs_config");
    expect(hardError(run(configLiteral(), { capability: {} })).message).toMatch(/operations/);
  });

  it("an unknown op is BACKEND_ERROR before the entity is looked at", () => {
    expect(MUTABLE_RUNTIME.execute({ op: "FROB", payload: dict({}), config: config(), metadata: MD }, ctx).outcome).toBe("BACKEND_ERROR");
  });
});
