/**
 * SEMANTICS A.13 against the real conformance cases of the PGS pack:
 * - workspace/protocol_snapshot/conformance: 20 cases, 18 pass with the raising validation
 *   atoms; exactly `value_not_in_set` and `rule_fails` fail, because they encode the older
 *   non-raising contract (README quirk 9) and the raising atoms report a CT execution error;
 * - conformance_extra: all 6 pass.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import {
  conformanceSnapshotHash,
  CtExecutionError,
  runConformanceCase,
} from "../../src/workflow/atoms/index.js";
import {
  compactJson,
  parsePyJson,
  type PyDict,
  type PyValue,
} from "../../src/workflow/py/index.js";

const PACK = new URL("../../../shared/fixtures/pgs/", import.meta.url);
const SNAPSHOT_DIR = fileURLToPath(new URL("workspace/protocol_snapshot/conformance/", PACK));
const EXTRA_DIR = fileURLToPath(new URL("conformance_extra/", PACK));
/** A.13: snapshot hash of workspace/protocol_snapshot/conformance. */
const SNAPSHOT_HASH = "951ba8e23c6671b6";

const OLD_CONTRACT_SET = "capability_transforms__CT_PURE_VALIDATE_SET_MEMBERSHIP_V0__value_not_in_set.json";
const OLD_CONTRACT_RULES = "capability_transforms__CT_PURE_VALIDATE_PARAMETER_RULES_V0__rule_fails.json";

function caseFiles(dir: string): { name: string; text: string; bytes: Buffer }[] {
  if (!existsSync(dir)) throw new Error(`fixture directory not found: ${dir} (the PGS pack must sit at ../shared beside the repo)`);
  return readdirSync(dir)
    .filter((n) => n.endsWith(".json"))
    .sort()
    .map((name) => {
      const bytes = readFileSync(`${dir}${name}`);
      return { name, text: bytes.toString("utf8"), bytes };
    });
}

const snapshotCases = caseFiles(SNAPSHOT_DIR);
const extraCases = caseFiles(EXTRA_DIR);

describe("CT conformance: workspace/protocol_snapshot/conformance", () => {
  it("holds the 20 shipped cases (snapshot hash 951ba8e23c6671b6)", () => {
    expect(snapshotCases).toHaveLength(20);
    expect(conformanceSnapshotHash(snapshotCases)).toBe(SNAPSHOT_HASH);
  });

  const passing = snapshotCases.filter((c) => c.name !== OLD_CONTRACT_SET && c.name !== OLD_CONTRACT_RULES);
  it.each(passing.map((c) => [c.name, c] as const))("%s passes", (_name, c) => {
    const r = runConformanceCase(c.text);
    expect(r.mismatches).toEqual([]);
    expect(r.passed).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.fqdn).toBe(`${r.ctFqdn}::${r.caseName}`);
  });

  it("exactly 18 of the 20 pass", () => {
    const failed = snapshotCases.filter((c) => !runConformanceCase(c.text).passed).map((c) => c.name);
    expect(failed).toEqual([OLD_CONTRACT_RULES, OLD_CONTRACT_SET]);
    expect(snapshotCases.length - failed.length).toBe(18);
  });

  it("value_not_in_set fails: it expects {is_member:false} (old non-raising contract), the raising atom reports a CT execution error", () => {
    const c = snapshotCases.find((x) => x.name === OLD_CONTRACT_SET);
    const r = runConformanceCase(c?.text ?? "");
    expect(r.passed).toBe(false);
    expect(compactJson(r.expected)).toBe('{"is_member":false}');
    expect(r.error).toBeInstanceOf(CtExecutionError);
    expect(r.error?.message).toMatch(/^Atom raised exception: capability_transforms::CT_PURE_VALIDATE_SET_MEMBERSHIP_V0: value "deleted" is not in allowed_set/);
    expect(r.error?.violation?.atom).toBe("CT_PURE_VALIDATE_SET_MEMBERSHIP_V0");
    expect(r.actual).toBeUndefined();
  });

  it("rule_fails fails: it expects {valid:false, failed_rule} (old non-raising contract), the raising atom reports a CT execution error", () => {
    const c = snapshotCases.find((x) => x.name === OLD_CONTRACT_RULES);
    const r = runConformanceCase(c?.text ?? "");
    expect(r.passed).toBe(false);
    expect(compactJson(r.expected)).toBe('{"failed_rule":{"field":"amount","op":"gt","value":0},"valid":false}');
    expect(r.error?.message).toMatch(/^Atom raised exception: capability_transforms::CT_PURE_VALIDATE_PARAMETER_RULES_V0: rule 0 failed/);
    expect(r.error?.violation?.pyException).toBe("CTExecutionError");
  });
});

describe("CT conformance: conformance_extra", () => {
  it("holds 6 cases", () => expect(extraCases).toHaveLength(6));
  it.each(extraCases.map((c) => [c.name, c] as const))("%s passes", (_name, c) => {
    const r = runConformanceCase(c.text);
    expect(r.mismatches).toEqual([]);
    expect(r.passed).toBe(true);
  });
});

/** A synthetic case around the passthrough atom. */
function passthroughCase(value: string, expected: string, extra = ""): string {
  return `{"artifact_type":"CT_CONFORMANCE","ct_fqdn":"capability_transforms::CT_PURE_PASSTHROUGH_V0",
    "fqdn":"capability_transforms::CT_PURE_PASSTHROUGH_V0::synthetic","test_data_source":"x",
    "ct_ir":{"atom_stream":[{"args":{"value":"$.inputs.value"},"atom":"capability_transforms::CT_PURE_PASSTHROUGH_V0",
      "handler_ref":{"callable":"execute","module":"pgs_transforms.implementation.transforms.atoms.ct_pure_passthrough_v0"},"out":"__atom_result__"}],
      "inputs":{"value":${value}},"outputs":{"value":{"from":"__atom_result__"}}},
    "expected":${expected}${extra}}`;
}

describe("runConformanceCase semantics (A.13)", () => {
  it("does not unwrap single-member objects (unlike A.8)", () => {
    expect(runConformanceCase(passthroughCase('{"k":"v"}', '{"value":{"k":"v"}}')).passed).toBe(true);
    expect(runConformanceCase(passthroughCase('{"k":"v"}', '{"value":"v"}')).passed).toBe(false);
  });

  it("compares with Python equality (1 == 1.0) but requires the same field names", () => {
    expect(runConformanceCase(passthroughCase("1", '{"value":1.0}')).passed).toBe(true);
    const r = runConformanceCase(passthroughCase("1", '{"value":1,"other":2}'));
    expect(r.passed).toBe(false);
    expect(r.mismatches).toEqual([{ field: "other", reason: "missing from actual", expected: "2" }]);
  });

  it("does not compare actual fields the case does not expect (A.13)", () => {
    const twoOutputs = passthroughCase("1", '{"value":1}').replace('"outputs":{"value":{"from":"__atom_result__"}}', '"outputs":{"value":{"from":"__atom_result__"},"more":{"from":"__atom_result__"}}');
    expect(twoOutputs).toContain('"more"');
    const r = runConformanceCase(twoOutputs);
    expect(r.mismatches).toEqual([]);
    expect(r.passed).toBe(true);
  });

  it("fails a case whose CT returns None", () => {
    const r = runConformanceCase(passthroughCase("null", '{"value":null}'));
    expect(r.passed).toBe(false);
    expect(r.error?.message).toBe("Atom returned None: capability_transforms::CT_PURE_PASSTHROUGH_V0");
  });

  it("checks assertion fields structurally and leaves them out of the exact comparison", () => {
    const hex = (mode: string): string => `,"assertions":{"value":${mode}}`;
    const ok = [
      '{"mode":"property","type":"hex_string","byte_length":2}',
      '{"mode":"property","type":"byte_length_range","min":1,"max":4}',
      '{"mode":"property","type":"non_zero"}',
      '{"mode":"schema","type":"string"}',
    ];
    for (const a of ok) expect(runConformanceCase(passthroughCase('"0xab01"', '{"value":"ignored"}', hex(a))).passed).toBe(true);
    const bad = [
      '{"mode":"property","type":"hex_string","byte_length":3}',
      '{"mode":"property","type":"non_zero"}',
      '{"mode":"schema","type":"number"}',
      '{"mode":"telepathy"}',
      '{"mode":"property","type":"entropy"}',
    ];
    for (const a of bad) expect(runConformanceCase(passthroughCase('"0x0000"', '{"value":"ignored"}', hex(a))).passed).toBe(false);
    expect(runConformanceCase(passthroughCase('"x"', '{"value":"x"}', hex('{"mode":"exact"}'))).passed).toBe(true);
  });

  it("refuses files that are not CT conformance cases", () => {
    expect(() => runConformanceCase('{"artifact_type":"OTHER"}')).toThrow(CairnError);
    expect(() => runConformanceCase("[]")).toThrow(/not a CT conformance case/);
    const noExpected = parsePyJson(passthroughCase("1", "{}")) as PyDict;
    noExpected.delete("expected");
    expect(() => runConformanceCase(noExpected as PyValue)).toThrow(/'expected' must be an object/);
  });

  it("the snapshot hash covers names and bytes of *.json files in sorted order", () => {
    const a = { name: "a.json", bytes: Buffer.from("1") };
    const b = { name: "b.json", bytes: Buffer.from("2") };
    const readme = { name: "README.md", bytes: Buffer.from("x") };
    expect(conformanceSnapshotHash([b, a, readme])).toBe(conformanceSnapshotHash([a, b]));
    expect(conformanceSnapshotHash([a, b])).not.toBe(conformanceSnapshotHash([{ name: "a.json", bytes: Buffer.from("2") }, { name: "b.json", bytes: Buffer.from("1") }]));
    expect(conformanceSnapshotHash([a, b])).toMatch(/^[0-9a-f]{16}$/);
  });
});
