/**
 * CS_REGISTRY_V0 and CS_APPENDONLY_JSONL_V0 (SEMANTICS C.2, C.3): every operation's outcomes,
 * ALREADY_EXISTS, tombstones, append-only behaviour, GET_RANGE / GET_SINCE bounds, exact file
 * bytes and determinism. Mutable JSON: effects-mutable.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fixedClock, steppingClock } from "../../src/core/clock.js";
import { sha256 } from "../../src/core/digest.js";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import {
  APPENDONLY_RUNTIME,
  REGISTRY_RUNTIME,
  createEffectContext,
  registryAddress,
  type CsResult,
  type EffectContext,
  type OperationDialect,
} from "../../src/workflow/effects/index.js";
import { canonicalJson, parsePyJson, type PyDict, type PyValue } from "../../src/workflow/py/index.js";
import { dict, type PyLiteral } from "./py-literal.js";

const MD = new Map([["capability", new Map()]]);
/** The append-only log's cs_metadata as compiled in the blockchain snapshot (declares GET_ALL/GET_RANGE/GET_SINCE). */
const HANDLERS = parsePyJson(readFileSync("/work/shared/fixtures/pgs/workspace/tokenized_snapshot/blockchain/handlers.json", "utf8")) as PyDict;
const LOG_MD = ((HANDLERS.get("cs") as PyDict).get("56") as PyDict).get("cs_metadata") as PyValue;
const ADDR_RE = /^ADDR_[0-9a-f]{32}$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/;
const REG = "ai_governance/ai_licensing/license_registry.json";
const LOG = "ai_governance/ai_licensing/audit_log.jsonl";

let root: string;
let ctx: EffectContext;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-effects-"));
  ctx = createEffectContext({ dataRoot: root, traceId: "T" });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function reg(op: string, payload: Record<string, PyLiteral>, c: EffectContext = ctx): CsResult {
  return REGISTRY_RUNTIME.execute({ op, payload: dict(payload), config: dict({ path: `${c.dataRoot}/${REG}` }), metadata: MD }, c);
}
function log(op: string, payload: Record<string, PyLiteral>, c: EffectContext = ctx): CsResult {
  return APPENDONLY_RUNTIME.execute({ op, payload: dict(payload), config: dict({ path: `${c.dataRoot}/${LOG}` }), metadata: LOG_MD }, c);
}
const file = (rel: string, r = root): string => readFileSync(join(r, rel), "utf8");
function hardError(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("expected a hard error");
}

describe("CS_REGISTRY_V0", () => {
  it("REGISTER writes one spaced JSON line with the content-derived address; a repeat is ALREADY_EXISTS", () => {
    const r = reg("REGISTER", { key: "e-7526", target_cs: "CS_REGISTRY_V0", target_ref: "lic-7526", metadata: { x: 1n }, stream_id: "s" });
    expect(r.outcome).toBe("SUCCESS");
    expect(r.result).toEqual(dict({ result_status: "SUCCESS", address: "ADDR_90a271cca080c52e44be5d0182caa928" }));
    expect([...r.result.keys()]).toEqual(["result_status", "address"]); // the raw result dict, in the order `$.capability_result` sees
    const line = '{"key": "e-7526", "address": "ADDR_90a271cca080c52e44be5d0182caa928", "target_cs": "CS_REGISTRY_V0", "target_ref": "lic-7526"}\n';
    expect(file(REG)).toBe(line);
    expect(r.effect).toEqual({ id: "T:E000001", capability: "CS_REGISTRY_V0", op: "REGISTER", path: REG, action: "append", created: true, digest: sha256(line), size: line.length });

    const again = reg("REGISTER", { key: "e-7526", target_ref: "other" });
    expect(again.outcome).toBe("ALREADY_EXISTS");
    expect(again.result).toEqual(dict({ result_status: "ALREADY_EXISTS" }));
    expect(again.effect).toMatchObject({ action: "read", created: false, digest: sha256(line) });
    expect(file(REG)).toBe(line);
  });

  it("key matching is Python equality: 1, 1.0 and true collide, '1' does not", () => {
    expect(reg("REGISTER", { key: 1n }).outcome).toBe("SUCCESS");
    expect(reg("REGISTER", { key: true }).outcome).toBe("ALREADY_EXISTS");
    expect(reg("REGISTER", { key: 1 }).outcome).toBe("ALREADY_EXISTS");
    expect(reg("REGISTER", { key: "1" }).outcome).toBe("SUCCESS");
    expect(reg("RESOLVE", { key_or_address: true }).outcome).toBe("SUCCESS");
  });

  it("a missing key is VIOLATION; a null key never collides (new line, new address each time)", () => {
    expect(reg("REGISTER", { target_ref: "x" }).result).toEqual(dict({ result_status: "VIOLATION" }));
    const a = reg("REGISTER", { key: null });
    const b = reg("REGISTER", { key: null });
    expect([a.outcome, b.outcome]).toEqual(["SUCCESS", "SUCCESS"]);
    expect(a.result.get("address")).toBe("ADDR_8a15282895191519c11e6f03350599a5");
    expect(b.result.get("address")).toBe("ADDR_dd09c3370256946ece97638a8c35c711");
    expect(file(REG).split("\n")).toHaveLength(3);
    expect(reg("EXISTS", { key_or_address: null }).result).toEqual(dict({ result_status: "SUCCESS", exists: false }));
  });

  it("an array or object key is a hard error; so is a non-object value", () => {
    expect(hardError(() => reg("REGISTER", { key: [1n] })).details["reason"]).toBe("cs_input");
    expect(hardError(() => reg("REGISTER", { key: { a: 1n } })).code).toBe(ErrorCode.INVALID_INPUT);
    expect(hardError(() => reg("REGISTER", { key: "k", value: 5n })).details["reason"]).toBe("cs_input");
    expect(file(REG)).toBe("");
  });

  it("value members are merged last and may overwrite key/address in place", () => {
    const r = reg("REGISTER", { key: "k", target_cs: null, value: new Map<string, PyValue>([["extra", 2n], ["key", "renamed"]]) });
    expect(file(REG)).toBe(`{"key": "renamed", "address": "${r.result.get("address") as string}", "extra": 2}\n`);
    expect(reg("EXISTS", { key_or_address: "renamed" }).result.get("exists")).toBe(true);
    expect(reg("EXISTS", { key_or_address: "k" }).result.get("exists")).toBe(false);
  });

  it("RESOLVE / EXISTS by key or address; missing members read as empty strings", () => {
    const addr = reg("REGISTER", { key: "KYC_1", target_cs: "CS_APPENDONLY_JSONL_V0", target_ref: "AC_1" }).result.get("address") as string;
    reg("REGISTER", { key: "bare" });
    expect(addr).toMatch(ADDR_RE);
    expect(reg("RESOLVE", { key_or_address: "KYC_1" }).result).toEqual(dict({ result_status: "SUCCESS", target_cs: "CS_APPENDONLY_JSONL_V0", target_ref: "AC_1" }));
    expect(reg("RESOLVE", { key_or_address: addr }).result).toEqual(dict({ result_status: "SUCCESS", target_cs: "CS_APPENDONLY_JSONL_V0", target_ref: "AC_1" }));
    expect(reg("RESOLVE", { key_or_address: "bare" }).result).toEqual(dict({ result_status: "SUCCESS", target_cs: "", target_ref: "" }));
    expect(reg("RESOLVE", { key_or_address: "nope" }).result).toEqual(dict({ result_status: "NOT_FOUND" }));
    expect(reg("EXISTS", { key_or_address: addr }).result).toEqual(dict({ result_status: "SUCCESS", exists: true }));
    expect(reg("EXISTS", { key_or_address: "nope" }).result).toEqual(dict({ result_status: "SUCCESS", exists: false }));
    for (const op of ["RESOLVE", "EXISTS", "DEREGISTER"]) expect(reg(op, { key: "KYC_1" }).outcome).toBe("VIOLATION");
  });

  it("DEREGISTER appends a tombstone; a second one is NOT_FOUND; re-registration gets a new address", () => {
    const first = reg("REGISTER", { key: "e-7526", target_cs: "CS_REGISTRY_V0", target_ref: "lic-7526" });
    const d = reg("DEREGISTER", { key_or_address: "e-7526" });
    expect(d.result).toEqual(dict({ result_status: "SUCCESS" }));
    expect(d.effect?.action).toBe("append");
    expect(file(REG)).toBe(
      '{"key": "e-7526", "address": "ADDR_90a271cca080c52e44be5d0182caa928", "target_cs": "CS_REGISTRY_V0", "target_ref": "lic-7526"}\n' +
        '{"key": "e-7526", "address": "ADDR_90a271cca080c52e44be5d0182caa928", "tombstone": true}\n',
    );
    expect(reg("DEREGISTER", { key_or_address: "e-7526" }).result).toEqual(dict({ result_status: "NOT_FOUND" }));
    expect(reg("DEREGISTER", { key_or_address: first.result.get("address") as string }).outcome).toBe("NOT_FOUND");
    expect(reg("RESOLVE", { key_or_address: "e-7526" }).outcome).toBe("NOT_FOUND");
    const again = reg("REGISTER", { key: "e-7526" });
    expect(again.result).toEqual(dict({ result_status: "SUCCESS", address: "ADDR_f5a22a0de6f2200a2079d9e157e35235" }));
    expect(again.result.get("address")).toBe(registryAddress("e-7526", 2));
  });

  it("an unreadable registry is BACKEND_ERROR for every operation and is left untouched", () => {
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    const bad = '{"key": "a", "address": "ADDR_x"}\nnot json\n';
    writeFileSync(join(root, REG), bad);
    // Bare under the reference dialect (C.2); the reason as `message` for Cairn stores (declared).
    const declared = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    for (const [op, p] of [["REGISTER", { key: "b" }], ["RESOLVE", { key_or_address: "a" }], ["EXISTS", { key_or_address: "a" }], ["DEREGISTER", { key_or_address: "a" }]] as const) {
      expect(reg(op, p).result).toEqual(dict({ result_status: "BACKEND_ERROR" }));
      const r = reg(op, p, declared);
      expect(r.outcome).toBe("BACKEND_ERROR");
      expect(r.result.get("message")).toContain("line 2");
    }
    writeFileSync(join(root, REG), "[1]\n");
    expect(reg("EXISTS", { key_or_address: "a" }).outcome).toBe("BACKEND_ERROR");
    writeFileSync(join(root, REG), Buffer.from([0x7b, 0xff, 0x7d, 0x0a]));
    expect(reg("EXISTS", { key_or_address: "a" }, declared).result.get("message")).toContain("UTF-8");
  });

  it("blank lines are skipped but null-key records count toward the address sequence", () => {
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(root, REG), '\n  \n{"key": null, "address": "ADDR_0"}\n');
    expect(reg("REGISTER", { key: "e-7526" }).result.get("address")).toBe(registryAddress("e-7526", 1));
  });

  it("operations without a method are BACKEND_ERROR; the op name is case-insensitive; construction creates the file", () => {
    expect(reg("LIST", {}).result).toEqual(dict({ result_status: "BACKEND_ERROR", message: "No backend handler for op: LIST" }));
    expect(file(REG)).toBe("");
    expect(reg("register", { key: "k" }).outcome).toBe("SUCCESS");
    expect(reg("__init__", {}).outcome).toBe("BACKEND_ERROR");
  });

  it("bad config or metadata are hard errors", () => {
    expect(hardError(() => REGISTRY_RUNTIME.execute({ op: "EXISTS", payload: dict({}), config: dict({}), metadata: MD }, ctx)).details["reason"]).toBe("cs_config");
    expect(hardError(() => REGISTRY_RUNTIME.execute({ op: "EXISTS", payload: dict({}), config: dict({ path: `${root}/r.json` }), metadata: dict({}) }, ctx)).details["reason"]).toBe("cs_config");
    expect(hardError(() => REGISTRY_RUNTIME.execute({ op: "EXISTS", payload: dict({}), config: dict({ path: 7n }), metadata: MD }, ctx)).details["reason"]).toBe("cs_config");
  });
});

describe("CS_APPENDONLY_JSONL_V0", () => {
  const denial = { decision: "DENIED", employee_id: "e-7526", event_type: "EV_PROVISION_DENIED_V0", license_id: null, payload: {}, reason_code: null, timestamp: "{{timestamp}}" };

  it("APPEND writes the pinned member order with the default logical clock (SEMANTICS C.3 example)", () => {
    const r = log("APPEND", { record: { a: "\u00fc", timestamp: "{{timestamp}}" }, stream_id: "s", actor_id: "x", other: 1 });
    expect(r.result).toEqual(dict({ result_status: "SUCCESS", record_id: "2025-01-01T00:00:00.000001_000000", sequence_number: 1n }));
    const line =
      '{"record_id": "2025-01-01T00:00:00.000001_000000", "sequence_number": 1, "timestamp": "2025-01-01T00:00:00.000001", "actor_id": "x", "stream_id": "s", "record": {"a": "\\u00fc", "timestamp": "{{timestamp}}"}}\n';
    expect(file(LOG)).toBe(line);
    expect(r.effect).toEqual({ id: "T:E000001", capability: "CS_APPENDONLY_JSONL_V0", op: "APPEND", path: LOG, action: "append", created: true, digest: sha256(line), size: Buffer.byteLength(line) });
  });

  it("every append succeeds, exact duplicates included; absent inputs are null", () => {
    log("APPEND", { record: denial });
    const second = log("APPEND", { record: denial });
    expect(second.result).toEqual(dict({ result_status: "SUCCESS", record_id: "2025-01-01T00:00:00.000002_000001", sequence_number: 2n }));
    expect(file(LOG)).toBe(
      '{"record_id": "2025-01-01T00:00:00.000001_000000", "sequence_number": 1, "timestamp": "2025-01-01T00:00:00.000001", "actor_id": null, "stream_id": null, "record": {"decision": "DENIED", "employee_id": "e-7526", "event_type": "EV_PROVISION_DENIED_V0", "license_id": null, "payload": {}, "reason_code": null, "timestamp": "{{timestamp}}"}}\n' +
        '{"record_id": "2025-01-01T00:00:00.000002_000001", "sequence_number": 2, "timestamp": "2025-01-01T00:00:00.000002", "actor_id": null, "stream_id": null, "record": {"decision": "DENIED", "employee_id": "e-7526", "event_type": "EV_PROVISION_DENIED_V0", "license_id": null, "payload": {}, "reason_code": null, "timestamp": "{{timestamp}}"}}\n',
    );
  });

  it("timestamps come from the injected clock plus sequence_number microseconds", () => {
    const c = createEffectContext({ dataRoot: root, traceId: "T", clock: fixedClock(Date.UTC(2026, 4, 24, 15, 14, 22, 183)) });
    expect(log("APPEND", { record: 1n }, c).result.get("record_id")).toBe("2026-05-24T15:14:22.183001_000000");
    const s = createEffectContext({ dataRoot: root, traceId: "T", clock: steppingClock(Date.UTC(2030, 0, 1), 1000) });
    const r = log("APPEND", { record: 2n }, s);
    expect(r.result.get("record_id")).toBe("2030-01-01T00:00:00.000002_000001");
    expect((r.result.get("record_id") as string).split("_")[0]).toMatch(TS_RE);
    const bad = createEffectContext({ dataRoot: root, traceId: "T", clock: { now: () => 1.5 } });
    expect(hardError(() => log("APPEND", { record: 3n }, bad)).code).toBe(ErrorCode.INVALID_INPUT);
  });

  it("the counter is the number of existing lines, blank ones included", () => {
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(root, LOG), "\n\n");
    expect(log("APPEND", { record: null }).result).toEqual(dict({ result_status: "SUCCESS", record_id: "2025-01-01T00:00:00.000003_000002", sequence_number: 3n }));
  });

  it("READ_ALL returns every entry (as ordered Maps), optionally filtered by stream_id", () => {
    log("APPEND", { record: 1n, stream_id: "a" });
    log("APPEND", { record: 2n, stream_id: "b" });
    log("APPEND", { record: 3n, stream_id: "a" });
    const all = log("READ_ALL", {});
    expect(all.outcome).toBe("SUCCESS");
    const entries = all.result.get("entries") as PyDict[];
    expect(entries.map((e) => e.get("record"))).toEqual([1n, 2n, 3n]);
    expect([...(entries[0] as PyDict).keys()]).toEqual(["record_id", "sequence_number", "timestamp", "actor_id", "stream_id", "record"]);
    expect((log("READ_ALL", { stream_id: "a" }).result.get("entries") as PyDict[]).map((e) => e.get("record"))).toEqual([1n, 3n]);
    expect(all.effect).toMatchObject({ action: "read", digest: sha256(file(LOG)) });
    expect(log("READ_ALL", {}, createEffectContext({ dataRoot: join(root, "empty"), traceId: "T" })).result).toEqual(dict({ result_status: "SUCCESS", entries: [] }));
  });

  it("is append-only: no operation rewrites or deletes, in either dialect", () => {
    log("APPEND", { record: 1n });
    const before = file(LOG);
    expect(APPENDONLY_RUNTIME.referenceMethods).toEqual(["append", "read_all"]);
    for (const dialect of ["reference", "declared"] as OperationDialect[]) {
      const c = createEffectContext({ dataRoot: root, traceId: "T", operationDialect: dialect });
      for (const op of ["WRITE", "DELETE", "UPDATE", "TRUNCATE", "REPLACE", "PUT", "CLEAR"]) {
        expect(log(op, { record: 9n, sequence_number: 1n }, c).result).toEqual(dict({ result_status: "BACKEND_ERROR", message: `No backend handler for op: ${op}` }));
      }
    }
    expect(file(LOG)).toBe(before);
  });

  describe("GET_ALL / GET_RANGE / GET_SINCE", () => {
    const declared = (): EffectContext => createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared" });
    const records = (r: CsResult): PyValue[] => (r.result.get("entries") as PyDict[]).map((e) => e.get("record") ?? null);
    beforeEach(() => {
      for (const [i, s] of ["a", "b", "a", "b", "a"].entries()) log("APPEND", { record: BigInt(i + 1), stream_id: s });
    });

    it("are BACKEND_ERROR under the reference dialect (declared in metadata, no method)", () => {
      for (const op of ["GET_ALL", "GET_RANGE", "GET_SINCE"]) expect(log(op, { start_sequence: 1n, end_sequence: 2n }).result).toEqual(dict({ result_status: "BACKEND_ERROR", message: `No backend handler for op: ${op}` }));
    });

    it("GET_RANGE is inclusive on both ends and filters by stream", () => {
      const c = declared();
      expect(records(log("GET_ALL", {}, c))).toEqual([1n, 2n, 3n, 4n, 5n]);
      expect(records(log("GET_RANGE", { start_sequence: 2n, end_sequence: 4n }, c))).toEqual([2n, 3n, 4n]);
      expect(records(log("GET_RANGE", { start_sequence: 1n, end_sequence: 1n }, c))).toEqual([1n]);
      expect(records(log("GET_RANGE", { start_sequence: 5n, end_sequence: 99n }, c))).toEqual([5n]);
      expect(records(log("GET_RANGE", { start_sequence: 6n, end_sequence: 9n }, c))).toEqual([]);
      expect(records(log("GET_RANGE", { start_sequence: 0n, end_sequence: 0n }, c))).toEqual([]);
      expect(records(log("GET_RANGE", { start_sequence: 1n, end_sequence: 5n, stream_id: "b" }, c))).toEqual([2n, 4n]);
      const bads: Array<Record<string, PyLiteral>> = [
        { start_sequence: 3n, end_sequence: 2n },
        { start_sequence: 1n },
        { start_sequence: true, end_sequence: 2n },
        { start_sequence: "1", end_sequence: 2n },
        { start_sequence: 1, end_sequence: 2n }, // a float bound, even an integral one
      ];
      for (const bad of bads) {
        expect(log("GET_RANGE", bad, c).outcome).toBe("VIOLATION");
      }
    });

    it("GET_SINCE is strictly after the given timestamp", () => {
      const c = declared();
      expect(records(log("GET_SINCE", { timestamp: "2025-01-01T00:00:00.000002" }, c))).toEqual([3n, 4n, 5n]);
      expect(records(log("GET_SINCE", { timestamp: "2025-01-01T00:00:00.000005" }, c))).toEqual([]);
      expect(records(log("GET_SINCE", { timestamp: "2025-01-01" }, c))).toEqual([1n, 2n, 3n, 4n, 5n]);
      expect(records(log("GET_SINCE", { timestamp: "2025-01-01T00:00:00.000001", stream_id: "a" }, c))).toEqual([3n, 5n]);
      expect(log("GET_SINCE", { timestamp: 5n }, c).outcome).toBe("VIOLATION");
      expect(log("GET_SINCE", { timestamp: "" }, c).outcome).toBe("VIOLATION"); // not a date-time (audit-pgsspec-fixes.test.ts)
    });
  });

  it("a line that does not parse makes READ_ALL a BACKEND_ERROR but APPEND still works", () => {
    mkdirSync(join(root, "ai_governance/ai_licensing"), { recursive: true });
    writeFileSync(join(root, LOG), "{oops\n");
    expect(log("READ_ALL", {}).outcome).toBe("BACKEND_ERROR");
    expect(log("APPEND", { record: 1n }).result.get("sequence_number")).toBe(2n);
  });

  it("config without path is a hard error", () => {
    expect(hardError(() => APPENDONLY_RUNTIME.execute({ op: "APPEND", payload: dict({}), config: dict({ module_data_root: root }), metadata: MD }, ctx)).details["reason"]).toBe("cs_config");
  });
});

describe("determinism", () => {
  /** The licensing scenario: provision, audit, reclaim, audit, a repeated reclaim. */
  function scenario(dataRoot: string, traceId: string): { files: string[]; results: unknown[] } {
    const c = createEffectContext({ dataRoot, traceId });
    const results = [
      reg("REGISTER", { key: "e-7526", target_cs: "CS_REGISTRY_V0", target_ref: "lic-7526" }, c),
      log("APPEND", { record: new Map<string, PyValue>([["decision", "DENIED"], ["employee_id", "e-7526"], ["2", "numeric key"], ["1", "keeps order"]]) }, c),
      reg("DEREGISTER", { key_or_address: "e-7526" }, c),
      log("APPEND", { record: { decision: "RECLAIMED", payload: { days_inactive: null, license_id: "lic-7526" } } }, c),
      reg("DEREGISTER", { key_or_address: "e-7526" }, c),
      reg("REGISTER", { key: "caf\u00e9" }, c),
    ];
    return { files: [file(REG, dataRoot), file(LOG, dataRoot)], results };
  }

  it("two runs with the same context produce identical bytes, results and effects", () => {
    const other = mkdtempSync(join(tmpdir(), "cairn-effects-"));
    try {
      const a = scenario(root, "TRACE_1");
      const b = scenario(other, "TRACE_1");
      expect(b.files).toEqual(a.files);
      expect(b.results).toEqual(a.results);
      expect(a.files[1]).toContain('"record": {"decision": "DENIED", "employee_id": "e-7526", "2": "numeric key", "1": "keeps order"}');
      expect(a.files[0]).toContain('"key": "caf\\u00e9", "address": "ADDR_32d85ed80cb26287458674b7ad3d675a"');
      const c = scenario(join(other, "second"), "TRACE_2");
      expect(c.files).toEqual(a.files);
      expect((c.results[0] as CsResult).effect?.id).toBe("TRACE_2:E000001");
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("addresses are deterministic functions of key and sequence", () => {
    expect(registryAddress("KYC_49f2a404a5a8b229", 0)).toBe("ADDR_597b97c9c220d2918dbca2b86a4d09a4");
    expect(registryAddress(1n, 0)).toBe("ADDR_f36d9c7728050bf77ce15d045265be77");
    expect(canonicalJson(new Map<string, PyValue>([["key", null], ["seq", 0n]]))).toBe('{"key":null,"seq":0}');
    expect(existsSync(join(root, REG))).toBe(false);
  });
});
