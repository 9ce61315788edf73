/**
 * UAT F1: a re-sealed snapshot (digest recomputed) whose steps are internally inconsistent — a
 * handler name that is not the atom its ref runs, a CS method that is not its op's, inputs /
 * outputs / outcomes that are not the capability's, a node address or outcome set the steps do
 * not give — is refused at load with E_SNAPSHOT_INTEGRITY (check `structure`) naming the
 * member: the trace can never name another capability than the one that runs.
 */
import { describe, expect, it } from "vitest";
import type { SnapshotContent } from "../../src/workflow/cairn/model.js";
import { prepareSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, structureProblem, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { baseDecl, compileDecl, EXAMPLES, refusal } from "./cairn-fixture.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any


/** A workflow with an atom step, a user CT step, a registry step and a step binding an earlier one. */
const MOD = `export const capabilities = { up: { outputs: ["text"], run(i: { s: string }) { return { text: String(i.s).toUpperCase() }; } } };\n`;
async function content(): Promise<SnapshotContent> {
  const decl = baseDecl({
    modules: { m: "./m.ts" },
    stores: { reg: { kind: "registry", path: "r/reg.jsonl" } },
    nodes: {
      start: {
        steps: [
          { id: "h", ct: "hash", inputs: { value: "$.payload" } },
          { id: "u", ct: "m.up", inputs: { s: "$.steps.h.digest" } },
        ],
        routes: { SUCCESS: "store", VIOLATION: { exit: "BAD", reason: "no" } },
      },
      store: {
        steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.results.start.text", value: { const: null } } }],
        routes: { default: { exit: "DONE", reason: "done" } },
      },
    },
  });
  const { r, lines } = await compileDecl(decl, "wf.yaml", { "m.ts": MOD });
  if (r.content === undefined) throw new Error(lines.join("\n"));
  return r.content;
}

const WF = "test::WF_TEST_V0";
const edits: Array<[string, (c: Obj) => void, RegExp]> = [
  ["atom name ≠ ref (the finding)", (c) => (c.workflows[WF].nodes.start.steps[0].handler.ref = "cairn.workflow.atoms.general:equals"), /steps\[0\]\.handler\.name "hash" is not the atom its ref .*equals runs \("equals"\)/],
  ["atom name changed", (c) => (c.workflows[WF].nodes.start.steps[0].handler.name = "equals"), /handler\.name "equals" is not the atom/],
  ["atom outputs", (c) => (c.workflows[WF].nodes.start.steps[0].outputs = ["digest", "nope"]), /steps\[0\]\.outputs \[digest, nope\] are not the result fields of atom hash \[digest\]/],
  ["atom outcomes", (c) => (c.workflows[WF].nodes.start.steps[0].outcomes = ["SUCCESS"]), /steps\[0\]\.outcomes \[SUCCESS\] are not the outcomes of atom hash/],
  ["atom input not declared", (c) => (c.workflows[WF].nodes.start.steps[0].inputs.other = { const: 1 }), /atom hash has no input "other"/],
  ["atom required input missing", (c) => delete c.workflows[WF].nodes.start.steps[0].inputs.value, /input "value" of atom hash is not bound/],
  ["CS method ≠ op (the finding)", (c) => (c.workflows[WF].nodes.store.steps[0].method = "deregister"), /steps\[0\]\.method "deregister" is not the method of registry REGISTER \("register"\)/],
  ["CS op changed", (c) => (c.workflows[WF].nodes.store.steps[0].op = "DEREGISTER"), /method "register" is not the method of registry DEREGISTER/],
  ["CS unknown op", (c) => (c.workflows[WF].nodes.store.steps[0].op = "FROB"), /op "FROB" is not an operation of a registry store/],
  ["CS capability of another kind", (c) => (c.workflows[WF].nodes.store.steps[0].capability = "CS_MUTABLE_JSON_V0"), /capability CS_MUTABLE_JSON_V0 is not the runtime of its store reg/],
  ["store capability", (c) => (c.workflows[WF].stores.reg.capability = "CS_MUTABLE_JSON_V0"), /stores\.reg\.capability CS_MUTABLE_JSON_V0 is not the runtime of a registry store/],
  ["CS outputs", (c) => (c.workflows[WF].nodes.store.steps[0].outputs = []), /outputs \[\] are not the result fields of registry REGISTER \[address\]/],
  ["CS input not declared", (c) => (c.workflows[WF].nodes.store.steps[0].inputs.nope = { const: 1 }), /registry REGISTER has no input "nope"/],
  ["user CT capability unknown", (c) => (c.workflows[WF].nodes.start.steps[1].handler.capability = "down"), /handler\.capability "down" is not registered by module m/],
  ["user CT module renamed", (c) => (c.workflows[WF].nodes.start.steps[1].handler.module = "n"), /handler\.module "n" is not a module of the workflow/],
  ["user CT outputs", (c) => (c.workflows[WF].nodes.start.steps[1].outputs = []), /outputs \[\] are not the result fields of user CT m\.up \[text\]/],
  ["onResult", (c) => delete c.workflows[WF].nodes.start.steps[0].onResult.VIOLATION, /steps\[0\]\.onResult maps \[SUCCESS\], not the step's outcomes/],
  ["node addr", (c) => (c.workflows[WF].nodes.store.addr = 1), /nodes\.store\.addr 1 is not the node's place in the sorted node keys \(2\)/],
  ["node outcomes", (c) => (c.workflows[WF].nodes.start.outcomes = ["SUCCESS"]), /nodes\.start\.outcomes \[SUCCESS\] are not the outcomes its steps can end it with \[SUCCESS, VIOLATION\]/],
  ["route missing", (c) => delete c.workflows[WF].nodes.start.routes.VIOLATION, /nodes\.start\.routes map \[SUCCESS\], not the node's outcomes/],
  ["duplicate step id", (c) => (c.workflows[WF].nodes.start.steps[1].id = "h"), /steps\[1\]\.id "h" is used by an earlier step/],
  ["steps binding to no earlier step", (c) => Object.assign(c.workflows[WF].nodes.start.steps[1].inputs.s.bind, { path: "$.steps.u.text", name: "u", segments: ["text"] }), /inputs\.s: \$\.steps\.u\.text names no earlier step of the node/],
  ["bind path ≠ segments", (c) => (c.workflows[WF].nodes.start.steps[1].inputs.s.bind.segments = ["other"]), /bind: root, name and segments are not those of its path "\$\.steps\.h\.digest"/],
  ["results binding to no node", (c) => Object.assign(c.workflows[WF].nodes.store.steps[0].inputs.key.bind, { path: "$.results.gone.text", name: "gone" }), /\$\.results\.gone\.text names no node of the workflow/],
];

describe("a re-sealed snapshot with inconsistent steps is refused at load (UAT F1)", () => {
  it("the compiled snapshot itself passes (and the examples do)", async () => {
    expect(structureProblem(await content())).toBeNull();
    expect(structureProblem((await compileWorkflows([EXAMPLES])).content)).toBeNull();
  });
  for (const [what, edit, message] of edits) {
    it(what, async () => {
      const c = JSON.parse(JSON.stringify(await content())) as Obj;
      edit(c);
      const bytes = sealedFileBytes(c as SnapshotContent).bytes; // the digest recomputed
      const r = refusal(() => prepareSnapshot(verifySealedBytes(bytes, "s2.json")));
      expect(r.code).toBe("E_SNAPSHOT_INTEGRITY");
      expect(r.check).toBe("structure");
      expect(r.message).toMatch(message);
    });
  }

  it("a user CT declaring an output twice compiles and loads (the contract compares members, not a set)", async () => {
    const decl = baseDecl({
      modules: { m: "./m.ts" },
      nodes: { start: { steps: [{ id: "u", ct: "m.dup", inputs: { s: "$.payload.s" } }], routes: { default: { exit: "DONE", reason: "done" } } } },
    });
    const mod = `export const capabilities = { dup: { outputs: ["n", "n"], run(i: { s: string }) { return { n: String(i.s) }; } } };\n`;
    const { r, lines } = await compileDecl(decl, "wf.yaml", { "m.ts": mod });
    expect(lines).toEqual([]);
    expect(structureProblem(r.content)).toBeNull();
    expect(() => prepareSnapshot(verifySealedBytes(sealedFileBytes(r.content as SnapshotContent).bytes, "s.json"))).not.toThrow();
  });

  it("an unknown atom ref or CS capability is still E_HANDLER_UNMAPPED (sealed table only)", async () => {
    for (const edit of [
      (c: Obj) => (c.workflows[WF].nodes.start.steps[0].handler.ref = "node:child_process:exec"),
      (c: Obj) => (c.workflows[WF].nodes.store.steps[0].capability = "CS_NOPE_V0"),
    ]) {
      const c = JSON.parse(JSON.stringify(await content())) as Obj;
      edit(c);
      expect(refusal(() => prepareSnapshot(verifySealedBytes(sealedFileBytes(c as SnapshotContent).bytes, "f"))).code).toBe("E_HANDLER_UNMAPPED");
    }
  });
});
