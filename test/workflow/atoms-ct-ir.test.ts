/** The sealed CT_ATOMS table, the CT-IR executor (A.9) and the CT step / output adaptation (A.8). */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  adaptCtOutputs,
  AtomViolation,
  CT_ATOMS,
  CT_EXECUTION_FAILED,
  CT_IR_MAX_ATOM_STREAM,
  CtExecutionError,
  executeCtIr,
  lookupAtom,
  runCtStep,
  type CtAtom,
  type CtAtomTable,
} from "../../src/workflow/atoms/index.js";
import {
  compactJson,
  getOrNull,
  parsePyJson,
  type PyDict,
  type PyValue,
} from "../../src/workflow/py/index.js";

const PACK = new URL("../../../shared/fixtures/pgs/", import.meta.url);
const DOMAINS = ["ai_governance", "blockchain", "platform"] as const;

const j = (text: string): PyValue => parsePyJson(text);
const d = (text: string): PyDict => j(text) as PyDict;

function handlers(domain: string): PyDict {
  const path = fileURLToPath(new URL(`workspace/tokenized_snapshot/${domain}/handlers.json`, PACK));
  if (!existsSync(path)) throw new Error(`fixture not found: ${path}`);
  return parsePyJson(readFileSync(path, "utf8")) as PyDict;
}

const EXPECTED_KEYS = [
  "pgs_transforms.implementation.transforms.atoms.ct_pure_generate_id_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_validate_set_membership_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_lookup_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_validate_parameter_rules_v0:execute",
  "pgs_ai_governance.implementation.capability_transforms.atoms.ct_pure_collatz_step_v0:execute",
  "pgs_ai_governance.implementation.capability_transforms.atoms.ct_pure_termination_check_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_evaluate_inactivity_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_check_training_status_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_check_quota_available_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_passthrough_v0:execute",
  "pgs_transforms.implementation.transforms.atoms.ct_pure_extract_v0:execute",
];

describe("CT_ATOMS", () => {
  it("is a frozen table of exactly the 11 PGS atoms keyed by handler ref", () => {
    expect(Object.isFrozen(CT_ATOMS)).toBe(true);
    expect(Object.keys(CT_ATOMS).sort()).toEqual([...EXPECTED_KEYS].sort());
    for (const [key, atom] of Object.entries(CT_ATOMS)) {
      expect(atom.handlerRef).toBe(key);
      expect(Object.isFrozen(atom)).toBe(true);
      expect(atom.fqdn.endsWith(`::${atom.code}`)).toBe(true);
    }
  });

  it("does not resolve inherited names", () => {
    expect(lookupAtom(CT_ATOMS, "toString")).toBeUndefined();
    expect(lookupAtom(CT_ATOMS, "__proto__")).toBeUndefined();
  });

  it.each(DOMAINS)("matches every registered CT-IR in the %s snapshot (atom FQDN, args, one step, out)", (domain) => {
    let matched = 0;
    for (const ct of (getOrNull(handlers(domain), "ct") as PyDict).values()) {
      const ctIr = getOrNull(ct as PyDict, "ct_ir") as PyDict;
      const stream = getOrNull(ctIr, "atom_stream") as PyValue[];
      expect(stream).toHaveLength(1);
      const step = stream[0] as PyDict;
      const ref = getOrNull(step, "handler_ref") as PyDict;
      const atom = lookupAtom(CT_ATOMS, `${String(getOrNull(ref, "module"))}:${String(getOrNull(ref, "callable"))}`);
      if (atom === undefined) continue;
      matched++;
      expect(getOrNull(step, "atom")).toBe(atom.fqdn);
      expect([...(getOrNull(step, "args") as PyDict).keys()]).toEqual([...atom.args]);
      expect(getOrNull(step, "out")).toBe("__atom_result__");
    }
    expect(matched).toBe(domain === "ai_governance" ? 11 : 9);
  });
});

/** A one-step CT-IR around a test atom. */
function ctIrWith(step: string, outputs = '{"r":{"from":"__atom_result__"}}'): PyValue {
  return j(`{"atom_stream":[${step}],"outputs":${outputs}}`);
}

const echo: CtAtom = { code: "ECHO", fqdn: "t::ECHO", handlerRef: "t:echo", args: [], execute: (inputs) => new Map(inputs) };
const boom: CtAtom = { code: "BOOM", fqdn: "t::BOOM", handlerRef: "t:boom", args: [], execute: () => { throw new AtomViolation("BOOM", "no"); } };
const bug: CtAtom = { code: "BUG", fqdn: "t::BUG", handlerRef: "t:bug", args: [], execute: () => { throw new TypeError("oops"); } };
const TEST_ATOMS: CtAtomTable = Object.freeze({ "t:echo": echo, "t:boom": boom, "t:bug": bug });
const HREF = (c: string): string => `"handler_ref":{"module":"t","callable":"${c}"}`;

describe("executeCtIr (A.9)", () => {
  it("passes the resolved args: $.inputs paths, $.results.<sym>.<path>, $.<sym>.<path>, literals as-is", () => {
    const ctIr = j(`{"atom_stream":[
      {"atom":"A","args":{"x":"$.inputs.a.b"},${HREF("echo")},"out":"first"},
      {"atom":"B","args":{"p":"$.results.first.x","q":"$.first.x","r":"$.first","s":"$.results.first","t":"$.nope.x",
        "u":"$.inputs.missing","v":"lit","w":{"n":"$.inputs.a"},"x":7,"y":"$.inputs"},${HREF("echo")},"out":"second"}]}`);
    const vars = executeCtIr(ctIr, d('{"a":{"b":42}}'), { atoms: TEST_ATOMS });
    expect(compactJson(vars)).toBe(
      '{"first":{"x":42},"second":{"p":42,"q":42,"r":null,"s":null,"t":null,"u":null,"v":"lit","w":{"n":"$.inputs.a"},"x":7,"y":null}}',
    );
  });

  it("overlays args on the step members and drops reserved names", () => {
    const vars = executeCtIr(ctIrWith(`{"atom":"A","kind":"k","molecule":"m","input_types":{},"extra":"$.inputs.e","args":{"extra":"over","z":1},${HREF("echo")},"out":"o"}`), d('{"e":5}'), { atoms: TEST_ATOMS });
    expect(compactJson(vars)).toBe('{"o":{"extra":"over","z":1}}');
  });

  it("reports every malformation as a CT execution error", () => {
    const cases: [PyValue, RegExp][] = [
      [j("{}"), /^CT-IR missing atom_stream$/],
      [j('{"atom_stream":[]}'), /^CT-IR missing atom_stream$/],
      [j("[]"), /^CT-IR missing atom_stream$/],
      [ctIrWith(`{${HREF("echo")}}`), /^Missing atom at index 0$/],
      [ctIrWith(`{"atom":"",${HREF("echo")}}`), /^Missing atom at index 0$/],
      [ctIrWith('{"atom":"A"}'), /^Missing handler_ref at index 0$/],
      [ctIrWith('{"atom":"A","handler_ref":{"module":"t"}}'), /needs a module and a callable/],
      [ctIrWith('{"atom":"A","handler_ref":{"module":"t","callable":"nope"}}'), /^Unknown handler_ref 't:nope' for atom A$/],
      [ctIrWith(`{"atom":"A","loop":{},${HREF("echo")}}`), /loop construct is not supported/],
      [ctIrWith(`{"atom":"A","args":[1],${HREF("echo")}}`), /args must be an object/],
      [ctIrWith(`{"atom":"A",${HREF("boom")}}`), /^Atom raised exception: A: no$/],
      [ctIrWith(`{"atom":"A",${HREF("bug")}}`), /^Atom raised exception: A: oops$/],
      [ctIrWith(`{"atom":"A",${HREF("echo")},"out":3}`), /out must be a string/],
      [j(`{"atom_stream":[${Array(CT_IR_MAX_ATOM_STREAM + 1).fill(`{"atom":"A",${HREF("echo")}}`).join(",")}]}`), /longer than/],
    ];
    for (const [ctIr, msg] of cases) {
      let err: unknown;
      try {
        executeCtIr(ctIr, new Map(), { atoms: TEST_ATOMS });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CtExecutionError);
      expect((err as CtExecutionError).message).toMatch(msg);
      expect((err as CtExecutionError).errorCode).toBe(CT_EXECUTION_FAILED);
      expect((err as CtExecutionError).details.node_category).toBe("CT");
    }
  });

  it("keeps the AtomViolation as the cause", () => {
    const r = runCtStep(ctIrWith(`{"atom":"A",${HREF("boom")},"out":"__atom_result__"}`), new Map(), { atoms: TEST_ATOMS });
    expect(r.status).toBe("VIOLATION");
    if (r.status === "VIOLATION") {
      expect(r.error.violation).toBeInstanceOf(AtomViolation);
      expect(r.error.cause).toBe(r.error.violation);
    }
  });

  it("rejects an unknown handler in the default table (no discovery)", () => {
    const ctIr = ctIrWith('{"atom":"A","handler_ref":{"module":"os","callable":"system"},"out":"__atom_result__"}');
    expect(runCtStep(ctIr, new Map()).status).toBe("VIOLATION");
  });
});

describe("adaptCtOutputs / runCtStep (A.8)", () => {
  const vars = d('{"a":{"name":1,"other":2},"one":{"only":3},"many":{"x":1,"y":2},"s":"str","n":null}');
  it("takes the member named like the output, else the only member, else the whole value", () => {
    const outputs = j('{"outputs":{"name":{"from":"a"},"x":{"from":"one"},"m":{"from":"many"},"z":{"from":"s"},"w":{"from":"n"}}}');
    expect(compactJson(adaptCtOutputs(outputs, vars))).toBe('{"name":1,"x":3,"m":{"x":1,"y":2},"z":"str","w":null}');
  });

  it("fails on missing/empty outputs, a missing from, or a symbol not produced", () => {
    for (const bad of ["{}", '{"outputs":{}}', '{"outputs":{"a":{}}}', '{"outputs":{"a":{"from":"zzz"}}}']) {
      expect(() => adaptCtOutputs(j(bad), vars)).toThrow(CtExecutionError);
    }
  });

  it("returns SUCCESS with adapted outputs, or VIOLATION with empty outputs", () => {
    const ok = runCtStep(ctIrWith(`{"atom":"A","args":{"k":"$.inputs.k"},${HREF("echo")},"out":"__atom_result__"}`), d('{"k":"v"}'), { atoms: TEST_ATOMS });
    expect(ok.status).toBe("SUCCESS");
    expect(compactJson(ok.outputs)).toBe('{"r":"v"}');
    const noOutputs = runCtStep(ctIrWith(`{"atom":"A",${HREF("echo")},"out":"__atom_result__"}`, "{}"), new Map(), { atoms: TEST_ATOMS });
    expect(noOutputs.status).toBe("VIOLATION");
    expect(noOutputs.outputs.size).toBe(0);
  });

  it("runs a real snapshot CT-IR (generate_id, blockchain addr 72)", () => {
    const ct = getOrNull(getOrNull(handlers("blockchain"), "ct") as PyDict, "72") as PyDict;
    const r = runCtStep(getOrNull(ct, "ct_ir"), d('{"prefix":"KYC","data":{"last_name":"Doe","first_name":"Alice","email":"alice@example.com"}}'));
    expect(compactJson(r.outputs)).toBe('{"id":"KYC_49f2a404a5a8b229"}');
  });
});
