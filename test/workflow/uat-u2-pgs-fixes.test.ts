/**
 * UAT u2 findings on the PGS runtime:
 *  F1  `{{module_data_root}}` in a mutable-JSON entity path (appended to module_data_root by C.4)
 *      would put the host's data root into the data layout, the trace id and the summary: refused
 *      (E_INVALID_INPUT, cs_config, naming the member), the same on every data root;
 *  F4  a payload nested too deep is refused naming the file, line, column and member path;
 *  F9  a CS path ending in `/` (or `/.`) names a directory: refused, never taken for the file;
 *  F10 a non-string `step_id` behaves as in the reference (falsy: no record; int: a record no
 *      `$.results.` text finds; a non-empty list: the run aborts, coded);
 *  F11 a non-string `__store__` is the coded "not in entity_stores" error, shown Python-style.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { confineAbsolute, expandPolicy, refuseDirectoryPath } from "../../src/workflow/effects/index.js";
import { loadSnapshot, relevantFiles } from "../../src/workflow/pgs/index.js";
import { parsePayloadBytes } from "../../src/workflow/pgs/run.js";
import { pyValueRepr } from "../../src/workflow/py/repr.js";
import { cairnErrorOf, payload, scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";
import { dict } from "./py-literal.js";

const { box, dir } = scratchPerTest({});

type Json = Record<string, unknown>;
/** Edits `tokenized_snapshot/ai_governance/<file>` of the sandbox's workspace. */
function editSnapshot(b: Sandbox, file: "handlers.json" | "dispatch.json", edit: (doc: Json) => void): void {
  const f = join(b.workspace, "tokenized_snapshot/ai_governance", file);
  const doc = JSON.parse(readFileSync(f, "utf8")) as Json;
  edit(doc);
  writeFileSync(f, JSON.stringify(doc));
}
const get = (o: unknown, ...keys: string[]): Json => keys.reduce((v, k) => (v as Json)[k], o) as Json;

function collatzPayload(numbers: string): string {
  const p = join(dir(), "p.json");
  writeFileSync(p, `{"numbers": ${numbers}}`);
  return p;
}

describe("F1: {{module_data_root}} in an entity path is refused", () => {
  it("expandPolicy names the member; a relative or literal absolute entity path is still expanded as before", () => {
    const ssa = (path: string) => dict({ module_data_root: "{{module_data_root}}", storage_structure_artifact: { frontmatter: { core: { entity_stores: { "E.1": { path } } } } } });
    for (const text of ["{{module_data_root}}/x.json", "a/{{module_data_root}}/x.json"]) {
      const e = cairnErrorOf(() => expandPolicy(ssa(text), "/r"));
      expect(e.code).toBe("E_INVALID_INPUT");
      expect(e.details).toMatchObject({ reason: "cs_config", text, member: 'storage_structure_artifact.frontmatter.core.entity_stores."E.1".path' });
      expect(e.message).toBe(
        `policy member storage_structure_artifact.frontmatter.core.entity_stores."E.1".path ${JSON.stringify(text)}: {{module_data_root}} may not appear in an entity path, ` +
          "which CS_MUTABLE_JSON_V0 appends to module_data_root (SEMANTICS C.4): it would put the host's data root inside the data root; write the path relative to module_data_root",
      );
    }
    expect(expandPolicy(ssa("x/y.json"), "/r").get("module_data_root")).toBe("/r");
    // Elsewhere the template keeps its rule (it may start a text): a `path` or a description outside an entity path.
    const other = expandPolicy(dict({ path: "{{module_data_root}}/a.jsonl", storage_structure_artifact: { frontmatter: { core: { path: "{{module_data_root}}/b" } } } }), "/r");
    expect(other.get("path")).toBe("/r/a.jsonl");
  });

  it("the run is refused the same way on two data roots, before anything is written (no host path anywhere)", () => {
    const errors: string[] = [];
    for (let i = 0; i < 2; i++) {
      const b = box();
      editSnapshot(b, "handlers.json", (h) => {
        get(h, "rb_policy", "37", "47", "policy", "storage_structure_artifact", "frontmatter", "core").entity_stores = { COLLATZ_RESULTS: { path: "{{module_data_root}}/x.json" } };
      });
      const e = cairnErrorOf(() => b.run(WF.collatz, collatzPayload("[1]")));
      expect(e.details).toMatchObject({ reason: "cs_config", member: "storage_structure_artifact.frontmatter.core.entity_stores.COLLATZ_RESULTS.path" });
      expect(e.message).not.toContain(b.dataRoot);
      errors.push(`${e.code} ${e.message}`);
      expect(readdirSync(b.dataRoot)).toEqual([]);
      expect(existsSync(join(b.workspace, "traces"))).toBe(false);
    }
    expect(errors[0]).toBe(errors[1]);
  });
});

describe("F4: a payload nested too deep names the file, the line and column, the member path", () => {
  it("file and stdin names; 256 levels are accepted", () => {
    const text = `{"x":\n  {"y": ${"[".repeat(255)}${"]".repeat(255)}}}`;
    const e = cairnErrorOf(() => parsePayloadBytes(Buffer.from(text), "deep.json"));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toBe(
      `Payload file is nested deeper than 256 levels: line 2, column ${8 + 255} opens level 257, at $["x"]["y"]${"[0]".repeat(10)}… (deep.json)`,
    );
    expect(e.details).toMatchObject({ field: "payload", path: "deep.json", reason: "payload_too_deep", limit: 256, line: 2, column: 263 });
    // Columns count code points (as the payload's JSON errors do).
    const astral = cairnErrorOf(() => parsePayloadBytes(Buffer.from(`{"\u{1F600}": ${"[".repeat(256)}${"]".repeat(256)}}`), "<stdin>"));
    expect(astral.message).toMatch(/: line 1, column 262 opens level 257, at \$\["\u{1F600}"\](\[0\]){11}… \(<stdin>\)$/u);
    expect(parsePayloadBytes(Buffer.from(`{"x": ${"[".repeat(255)}${"]".repeat(255)}}`), "ok.json").has("x")).toBe(true);
  });
});

describe("F9: a CS path ending in '/' names a directory: refused, never the file without the slash", () => {
  it("refuseDirectoryPath (the PGS rule); confineAbsolute alone still names the file without the ending (Cairn store paths)", () => {
    for (const [p, ending] of [["/r/audit/", "/"], ["/r/a/x.json/.", "/."], ["/r/a//", "/"]] as const) {
      expect(confineAbsolute("/r", p).rel).toBe(p.slice(3).replace(/\/\.?$/, "").replace(/\/+$/, ""));
      const e = cairnErrorOf(() => refuseDirectoryPath("/r", p));
      expect([e.code, e.message]).toEqual(["E_PATH_CONFINEMENT", `path confinement: ${JSON.stringify(`{{module_data_root}}${p.slice(2)}`)} ends with '${ending}': it names a directory, not a file`]);
    }
    expect(() => refuseDirectoryPath("/r", "/r/./a//x.json")).not.toThrow();
  });

  it("a mutable entity path ending in '/' fails its step; the state capture leaves it out", () => {
    const b = box();
    editSnapshot(b, "handlers.json", (h) => {
      get(h, "rb_policy", "37", "47", "policy", "storage_structure_artifact", "frontmatter", "core").entity_stores = { COLLATZ_RESULTS: { path: "c/x.json/" } };
    });
    const r = b.run(WF.collatz, collatzPayload("[1]"));
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", message: `path confinement: "{{module_data_root}}/c/x.json/" ends with '/': it names a directory, not a file` });
    expect(relevantFiles(loadSnapshot(b.workspace, "ai_governance"), 37, b.dataRoot)).not.toContain("c/x.json");
    expect(existsSync(join(b.dataRoot, "c/x.json"))).toBe(false);
  });

  it("a run whose audit policy path ends in '/' ends in ERROR, nothing written", () => {
    const b = box();
    editSnapshot(b, "handlers.json", (h) => {
      get(h, "rb_policy", "38", "46", "policy").path = "{{module_data_root}}/audit/";
    });
    const r = b.run(WF.deny, payload("ai_licensing/deny_provision_payload.json"));
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", message: `path confinement: "{{module_data_root}}/audit/" ends with '/': it names a directory, not a file` });
    expect(existsSync(join(b.dataRoot, "audit"))).toBe(false);
  });
});

/** The Collatz workflow with CC 19's first step given `stepId` and a second step reading `$.results.<ref>.all_terminate`. */
function stepIdRun(stepId: unknown, ref: string) {
  const b = box();
  editSnapshot(b, "handlers.json", (h) => {
    get(h, "ct")["900"] = {
      ct_ir: {
        atom_stream: [
          {
            args: { value: "$.inputs.value" },
            atom: "capability_transforms::CT_PURE_PASSTHROUGH_V0",
            handler_ref: { callable: "execute", module: "pgs_transforms.implementation.transforms.atoms.ct_pure_passthrough_v0" },
            out: "__atom_result__",
          },
        ],
        outputs: { value: { from: "__atom_result__" } },
      },
    };
  });
  editSnapshot(b, "dispatch.json", (d) => {
    get(d, "routing", "42")["19"] = {};
    const steps = get(d, "pipeline")["19"] as Json[];
    (steps[0] as Json).step_id = stepId;
    steps.push({ addr: 900, inputs: { value: { c: `$.results.${ref}.all_terminate`, x: 1 } }, op: null, step_id: "pt", outputs: { o: "$.capability_result.value" } });
  });
  return b.run(WF.collatz, collatzPayload("[1]"));
}

describe("F10: a non-string step_id as the reference treats it", () => {
  it("a string records; an int, true or a falsy value record nothing `$.results.` finds", () => {
    const seen = (r: ReturnType<typeof stepIdRun>) => (r.surface.get("o") as Map<string, unknown>).get("c");
    expect(seen(stepIdRun("5", "5"))).toBe(true);
    for (const [id, ref] of [[5, "5"], [0, "0"], [true, "True"], [false, "False"], [1.5, "1.5"], [[], "[]"], [{}, "{}"]] as const) {
      const r = stepIdRun(id, ref);
      expect([id, r.status, seen(r)]).toEqual([id, "SUCCESS", null]);
    }
  });

  it("a non-empty list aborts the run after the step ran, with a coded error naming the field", () => {
    const r = stepIdRun(["a"], "a");
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({
      code: "E_INVALID_INPUT",
      message: `dispatch.json: pipeline["19"][0].step_id is a list (['a']), which cannot key the step records: the reference raises TypeError: unhashable type: 'list'`,
    });
    expect(r.path.map((p) => p.node.split("::")[1])).toEqual(["IN_COLLATZ_INPUT_VALIDATED_V0", "CC_COMPUTE_SEQUENCES_V0"]);
  });
});

describe("F11: a non-string __store__ is the coded entity error, the value shown as Python shows it", () => {
  it("int, big int, dict, float, bool, list", () => {
    const cases: Array<[unknown, string]> = [
      [1, "1"],
      ["10**30", "1000000000000000000000000000000"],
      [{ a: 1, b: [true, null, "x'y"] }, `{'a': 1, 'b': [True, None, "x'y"]}`],
      [1.5, "1.5"],
      [true, "True"],
      [["X"], "['X']"],
    ];
    for (const [value, shown] of cases) {
      const b = box();
      const f = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
      const text = readFileSync(f, "utf8");
      const d = JSON.parse(text) as Json;
      const inputs = get((get(d, "pipeline")["16"] as Json[])[0], "inputs");
      inputs.__store__ = value === "10**30" ? "__BIG__" : value;
      writeFileSync(f, JSON.stringify(d).replace('"__BIG__"', "1000000000000000000000000000000"));
      const r = b.run(WF.collatz, collatzPayload("[1]"));
      expect([shown, r.status, r.error?.code, r.error?.message]).toEqual([shown, "ERROR", "E_INVALID_INPUT", `CS_MUTABLE_JSON_V0: store entity ${shown} is not in entity_stores`]);
    }
  });

  it("pyValueRepr: Python's repr, bounded", () => {
    expect(pyValueRepr(new Map<string, never>())).toBe("{}");
    expect(pyValueRepr([Number.NaN, Number.POSITIVE_INFINITY, -0, 1e16, 5n, "a\nb"])).toBe("[nan, inf, -0.0, 1e+16, 5, 'a\\nb']");
    const long = pyValueRepr(Array.from({ length: 1000 }, (_, i) => BigInt(i)), 20);
    expect(long).toBe("[0, 1, 2, 3, 4, 5, 6...");
    expect(pyValueRepr("x".repeat(5000), 10)).toBe("'xxxxxxxxx...");
  });
});
