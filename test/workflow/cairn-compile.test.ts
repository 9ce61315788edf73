/** The Cairn workflow compiler: every diagnostic class, with its code, file, node and field. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { compileWorkflows, declarationFiles, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { CAIRN_MAX_HOPS } from "../../src/workflow/cairn/model.js";
import { CAIRN_WORKFLOW_SCHEMA } from "../../src/workflow/cairn/schema.js";
import { baseDecl, compileDecl, EXAMPLES, writeTree } from "./cairn-fixture.js";

type Decl = Record<string, unknown>;
const nodes = (d: Decl) => d.nodes as Record<string, Record<string, unknown>>;

/** A valid workflow with a registry store and three nodes: check → reg → log. */
function flow(): Decl {
  return baseDecl({
    stores: { agents: { kind: "registry", path: "r/agents.jsonl" }, audit: { kind: "appendonly", path: "r/audit.jsonl" } },
    entry: "check",
    nodes: {
      check: {
        steps: [{ id: "id", ct: "generate_id", inputs: { prefix: { const: "A" }, data: "$.payload" } }],
        routes: { SUCCESS: "reg", VIOLATION: { exit: "BAD", reason: "bad payload" } },
      },
      reg: {
        steps: [{ id: "bind", cs: "agents", op: "REGISTER", inputs: { key: "$.results.check.id" } }],
        routes: { SUCCESS: "log", ALREADY_EXISTS: { exit: "KNOWN", reason: "already registered" }, default: { exit: "FAILED", reason: "registry failed" } },
      },
      log: {
        steps: [{ id: "ev", cs: "audit", op: "APPEND", inputs: { record: { object: { address: "$.results.reg.address" } } } }],
        routes: { SUCCESS: { exit: "DONE", reason: "registered" } },
      },
    },
  });
}

async function errorsOf(decl: Decl, name = "wf.yaml", extra: Record<string, string> = {}) {
  const c = await compileDecl(decl, name, extra);
  expect(c.r.content).toBeUndefined();
  return c;
}

describe("compile: valid declarations", () => {
  it("compiles the example and the flow fixture, deterministically and independently of the location", async () => {
    const a = await compileWorkflows([EXAMPLES]);
    expect(a.diagnostics).toEqual([]);
    expect(a.workflows.map((w) => w.fqdn)).toEqual(["registry::WF_REGISTER_AGENT_V0"]);
    const copy = writeTree({
      "elsewhere/register-agent.yaml": readFileSync(join(EXAMPLES, "register-agent.yaml"), "utf8"),
      "elsewhere/modules/agent-capabilities.ts": readFileSync(join(EXAMPLES, "modules/agent-capabilities.ts"), "utf8"),
    });
    const b = await compileWorkflows([join(copy, "elsewhere")]);
    expect(b.digest).toBe(a.digest);
    const f = await compileDecl(flow());
    expect(f.lines).toEqual([]);
    // every binding resolved: handler refs, runtimes, methods, expanded routes
    const wf = f.r.content?.workflows["test::WF_TEST_V0"];
    expect(wf?.nodes.check?.steps[0]).toMatchObject({ kind: "ct", handler: { type: "atom", name: "generate_id", ref: "pgs_transforms.implementation.transforms.atoms.ct_pure_generate_id_v0:execute" } });
    expect(wf?.nodes.reg?.steps[0]).toMatchObject({ kind: "cs", capability: "CS_REGISTRY_V0", op: "REGISTER", method: "register" });
    expect(wf?.nodes.reg?.routes).toEqual({
      SUCCESS: { node: "log" },
      ALREADY_EXISTS: { exit: "KNOWN", reason: "already registered" },
      VIOLATION: { exit: "FAILED", reason: "registry failed" },
      BACKEND_ERROR: { exit: "FAILED", reason: "registry failed" },
    });
    expect(wf?.maxHops).toBe(CAIRN_MAX_HOPS);
  });

  it("the committed schema file is the compiler's schema", () => {
    const committed = JSON.parse(readFileSync(new URL("../../schema/cairn-workflow.schema.json", import.meta.url), "utf8")) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(CAIRN_WORKFLOW_SCHEMA)));
  });

  it("a directory yields its .yaml/.yml/.json files, sorted; missing paths and no paths are errors", () => {
    const d = writeTree({ "b.yml": "x", "a.json": "{}", "c.txt": "", "sub/d.yaml": "" });
    expect(declarationFiles([d]).map((p) => p.slice(d.length + 1))).toEqual(["a.json", "b.yml"]);
    expect(() => declarationFiles([join(d, "nope.yaml")])).toThrow(expect.objectContaining({ code: "E_NOT_FOUND" }));
    expect(() => declarationFiles([])).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });
});

describe("compile: each diagnostic names code, file, node and field", () => {
  it("E_COMPILE_SCHEMA: invalid YAML, a schema mismatch, a path escaping the data root, a duplicate JSON key", async () => {
    const bad = writeTree({ "wf.yaml": "cairn: [unclosed\n" });
    const r1 = await compileWorkflows([join(bad, "wf.yaml")]);
    expect(r1.diagnostics).toHaveLength(1);
    expect(formatDiagnostic(r1.diagnostics[0]!)).toMatch(new RegExp(`^${join(bad, "wf.yaml")}: not valid YAML.*: .* \\[E_COMPILE_SCHEMA\\]$`));

    const d = flow();
    (nodes(d).reg!.steps as Decl[])[0]!.bogus = 1;
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node reg: steps[0]: does not match the Cairn workflow schema: unknown member "bogus" [E_COMPILE_SCHEMA]`]);

    const e = flow();
    (e.stores as Record<string, Decl>).agents!.path = "../outside.jsonl";
    const r3 = await errorsOf(e, "wf.json");
    expect(r3.r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file: r3.file, node: null, field: "stores.agents.path" });

    // a key twice in one JSON object, as in YAML (more: cairn-compile-parse.test.ts)
    const dup = writeTree({ "wf.json": JSON.stringify(flow(), null, 2).replace('  "entry"', '  "entry": "zz",\n  "entry"') });
    const r4 = await compileWorkflows([join(dup, "wf.json")]);
    expect(r4.diagnostics).toEqual([{ code: "E_COMPILE_SCHEMA", file: join(dup, "wf.json"), node: null, field: "", message: 'not valid JSON (line 6, column 3): duplicate key "entry" (first at line 5, column 3)' }]);
  });

  it("E_COMPILE_UNKNOWN_CAPABILITY: atom, store, module, user CT", async () => {
    const d = flow();
    (nodes(d).check!.steps as Decl[])[0]!.ct = "generate_uuid";
    (nodes(d).reg!.steps as Decl[])[0]!.cs = "agentz";
    const { file, lines, r } = await errorsOf(d);
    expect(r.diagnostics.map((x) => x.code)).toEqual(["E_COMPILE_UNKNOWN_CAPABILITY", "E_COMPILE_UNKNOWN_CAPABILITY"]);
    expect(lines[0]).toMatch(new RegExp(`^${file}: node check: steps\\[0\\]\\.ct: unknown atom "generate_uuid"`));
    expect(lines[1]).toBe(`${file}: node reg: steps[0].cs: unknown store "agentz" (declared stores: agents, audit) [E_COMPILE_UNKNOWN_CAPABILITY]`);

    const m = flow();
    (nodes(m).check!.steps as Decl[])[0] = { id: "id", ct: "nomod.f", inputs: {} };
    const r2 = await errorsOf(m);
    expect(r2.lines[0]).toContain(`node check: steps[0].ct: unknown capability module "nomod"`);

    const u = flow();
    u.modules = { caps: "./caps.ts" };
    (nodes(u).check!.steps as Decl[])[0] = { id: "id", ct: "caps.missing", inputs: {} };
    const r3 = await errorsOf(u, "wf.yaml", { "caps.ts": "export const capabilities = { id: { outputs: ['id'], run: () => ({ id: 'x' }) } };\n" });
    expect(r3.lines).toEqual([`${r3.file}: node check: steps[0].ct: capability module caps (./caps.ts) registers no CT "missing" (it registers: id) [E_COMPILE_UNKNOWN_CAPABILITY]`]);
  });

  it("E_COMPILE_UNKNOWN_OPERATION", async () => {
    const d = flow();
    (nodes(d).log!.steps as Decl[])[0]!.op = "DELETE";
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node log: steps[0].op: a appendonly store has no operation "DELETE" (operations: APPEND, GET_ALL, GET_RANGE, GET_SINCE) [E_COMPILE_UNKNOWN_OPERATION]`]);
  });

  it("E_COMPILE_UNBOUND_INPUT: unknown node, a node that never runs before, unknown field, later step, missing required input", async () => {
    const d = flow();
    (nodes(d).reg!.steps as Decl[])[0]!.inputs = { key: "$.results.nowhere.id" };
    ((nodes(d).log!.steps as Decl[])[0]!.inputs as Decl).record = { object: { a: "$.results.reg.adress", b: "$.results.log.record_id" } };
    (nodes(d).check!.steps as Decl[]).unshift({ id: "early", ct: "hash", inputs: { value: "$.steps.id.id" } });
    const { file, r } = await errorsOf(d);
    const got = r.diagnostics.map((x) => [x.code, x.node, x.field, x.file]);
    expect(got).toEqual([
      ["E_COMPILE_UNBOUND_INPUT", "check", "steps[0].inputs.value", file],
      ["E_COMPILE_UNBOUND_INPUT", "reg", "steps[0].inputs.key", file],
      ["E_COMPILE_UNBOUND_INPUT", "log", "steps[0].inputs.record.object.a", file],
      ["E_COMPILE_UNBOUND_INPUT", "log", "steps[0].inputs.record.object.b", file],
    ]);
    expect(r.diagnostics[0]!.message).toBe("$.steps.id.id is bound to nothing: step id does not run before step early");
    expect(r.diagnostics[1]!.message).toBe('$.results.nowhere.id is bound to nothing: there is no node "nowhere"');
    expect(r.diagnostics[2]!.message).toBe('$.results.reg.adress is bound to nothing: node reg has no result field "adress" (its fields: address)');
    expect(r.diagnostics[3]!.message).toBe("$.results.log.record_id is bound to nothing: node log never runs before node log (no route leads from it to log)");

    const m = flow();
    (nodes(m).reg!.steps as Decl[])[0]!.inputs = {};
    const r2 = await errorsOf(m);
    expect(r2.lines).toEqual([`${r2.file}: node reg: steps[0].inputs: input "key" of agents REGISTER is not bound [E_COMPILE_UNBOUND_INPUT]`]);
  });

  it("E_COMPILE_UNKNOWN_INPUT: an input the capability does not declare (more: cairn-compile-inputs.test.ts)", async () => {
    const d = flow();
    ((nodes(d).reg!.steps as Decl[])[0]!.inputs as Decl).valeu = "$.payload";
    const { file, lines, r } = await errorsOf(d);
    expect(r.diagnostics.map((x) => [x.code, x.file, x.node, x.field])).toEqual([["E_COMPILE_UNKNOWN_INPUT", file, "reg", "steps[0].inputs.valeu"]]);
    expect(lines[0]).toBe(`${file}: node reg: steps[0].inputs.valeu: step bind: agents REGISTER has no input "valeu" (its inputs: key, value, target_cs, target_ref); did you mean "value"? [E_COMPILE_UNKNOWN_INPUT]`);
  });

  it("E_COMPILE_STORE_PATH: two stores on one data-root file (more: cairn-compile-stores.test.ts)", async () => {
    const d = flow();
    (d.stores as Record<string, Decl>).audit!.path = "r/./agents.jsonl";
    const { file, lines, r } = await errorsOf(d);
    expect(r.diagnostics.map((x) => [x.code, x.file, x.node, x.field])).toEqual([["E_COMPILE_STORE_PATH", file, null, "stores.audit.path"]]);
    expect(lines[0]).toBe(`${file}: stores.audit.path: store audit (appendonly, "r/./agents.jsonl") and store agents (registry, "r/agents.jsonl") name the same data-root file r/agents.jsonl: each store of a workflow needs its own file [E_COMPILE_STORE_PATH]`);
  });

  it("E_COMPILE_MISSING_NODE: a route and the entry", async () => {
    const d = flow();
    nodes(d).check!.routes = { SUCCESS: "regg", VIOLATION: { exit: "BAD", reason: "x" } };
    d.entry = "begin";
    const { file, r } = await errorsOf(d);
    const missing = r.diagnostics.filter((x) => x.code === "E_COMPILE_MISSING_NODE").map(formatDiagnostic);
    expect(missing).toEqual([
      `${file}: entry: the entry node "begin" is not declared (nodes: check, reg, log) [E_COMPILE_MISSING_NODE]`,
      `${file}: node check: routes.SUCCESS: routes SUCCESS to node "regg", which is not declared [E_COMPILE_MISSING_NODE]`,
    ]);
  });

  it("E_COMPILE_UNHANDLED_OUTCOME, and a default route handles the rest", async () => {
    const d = flow();
    nodes(d).reg!.routes = { SUCCESS: "log", ALREADY_EXISTS: { exit: "KNOWN", reason: "x" } };
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([
      `${file}: node reg: routes: step bind (agents REGISTER) can end this node with VIOLATION, and no route handles it (add routes.VIOLATION or routes.default) [E_COMPILE_UNHANDLED_OUTCOME]`,
      `${file}: node reg: routes: step bind (agents REGISTER) can end this node with BACKEND_ERROR, and no route handles it (add routes.VIOLATION or routes.default) [E_COMPILE_UNHANDLED_OUTCOME]`.replace("routes.VIOLATION or", "routes.BACKEND_ERROR or"),
    ]);
    // on_result: a non-final step that continues on VIOLATION does not end the node with it
    const e = flow();
    (nodes(e).check!.steps as Decl[]).push({ id: "h", ct: "hash", inputs: { value: "$.payload" } });
    nodes(e).check!.routes = { SUCCESS: "reg" };
    const r2 = await errorsOf(e);
    expect(r2.r.diagnostics.map((x) => [x.code, x.node, x.message.slice(0, 60)])).toEqual([
      ["E_COMPILE_UNHANDLED_OUTCOME", "check", "step id (generate_id) can end this node with VIOLATION, and "],
    ]);
    (nodes(e).check!.steps as Decl[])[0]!.on_result = { VIOLATION: "continue" };
    const r3 = await errorsOf(e);
    expect(r3.r.diagnostics[0]!.message).toMatch(/^step h \(hash\) can end this node with VIOLATION/);
  });

  it("E_COMPILE_UNREACHABLE_NODE", async () => {
    const d = flow();
    nodes(d).orphan = { steps: [{ id: "x", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: { exit: "X", reason: "x" } } };
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node orphan: nodes.orphan: node orphan is unreachable: no route from the entry check leads to it (routes for outcomes a node cannot end with do not count) [E_COMPILE_UNREACHABLE_NODE]`]);
  });

  it("E_COMPILE_UNREACHABLE_STEP: a step after one whose every outcome exits the node (it compiled, and never ran)", async () => {
    const d = flow();
    const reg = nodes(d).reg!;
    reg.steps = [
      { id: "bind", cs: "agents", op: "REGISTER", inputs: { key: "$.results.check.id" }, on_result: { SUCCESS: "exit" } },
      { id: "h", ct: "hash", inputs: { value: "$.payload" } },
      { id: "h2", ct: "hash", inputs: { value: "$.payload" } },
    ];
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([
      `${file}: node reg: steps[1]: step h never runs: step bind (agents REGISTER) exits the node with every outcome it can end with (on_result SUCCESS: exit; on_result ALREADY_EXISTS: exit, the default; on_result VIOLATION: exit, the default; on_result BACKEND_ERROR: exit, the default); remove the steps after it or let one of its outcomes continue [E_COMPILE_UNREACHABLE_STEP]`,
    ]);
    // One outcome that continues is enough for the next step to run.
    (reg.steps as Decl[])[0]!.on_result = { SUCCESS: "exit", ALREADY_EXISTS: "continue" };
    expect((await compileDecl(d)).r.diagnostics.map((x) => x.code)).not.toContain("E_COMPILE_UNREACHABLE_STEP");
    // A step whose capability is unknown is reported as such, not as one that exits on everything.
    (reg.steps as Decl[])[0] = { id: "bind", ct: "no_such_atom", inputs: {}, on_result: { SUCCESS: "exit" } };
    expect((await errorsOf(d)).r.diagnostics.map((x) => x.code)).toEqual(["E_COMPILE_UNKNOWN_CAPABILITY"]);
  });

  it("E_COMPILE_UNBOUNDED_CYCLE, accepted once a node of the cycle declares max_visits", async () => {
    const d = flow();
    nodes(d).log!.routes = { SUCCESS: "check" };
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node check: routes: routing cycle check → reg → log → check has no declared bound: give one of its nodes max_visits [E_COMPILE_UNBOUNDED_CYCLE]`]);
    nodes(d).reg!.max_visits = 3;
    expect((await compileDecl(d)).lines).toEqual([]);
    // a self-loop is a cycle too
    const s = baseDecl();
    nodes(s).start!.routes = { SUCCESS: "start", VIOLATION: { exit: "BAD", reason: "x" } };
    expect((await errorsOf(s)).r.diagnostics.map((x) => x.code)).toEqual(["E_COMPILE_UNBOUNDED_CYCLE"]);
  });

  it("a lane binding that is not a binding object is a schema error naming the field (lane bindings: cairn-lane.test.ts)", async () => {
    const d = baseDecl();
    (nodes(d).start!.steps as Decl[])[0]!.lane = "gpu-a";
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node start: steps[0].lane: does not match the Cairn workflow schema: must be object [E_COMPILE_SCHEMA]`]);
  });

  it("E_COMPILE_DUPLICATE: a step id twice in a node, a workflow declared twice", async () => {
    const d = baseDecl();
    (nodes(d).start!.steps as Decl[]).push({ id: "h", ct: "hash", inputs: { value: "$.payload" } });
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([`${file}: node start: steps[1].id: step id "h" is used twice in this node [E_COMPILE_DUPLICATE]`]);
    const dir = writeTree({ "a.json": JSON.stringify(baseDecl()), "b.json": JSON.stringify(baseDecl()) });
    const r = await compileWorkflows([dir]);
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([`${join(dir, "b.json")}: code: workflow test::WF_TEST_V0 is already declared in ${join(dir, "a.json")} [E_COMPILE_DUPLICATE]`]);
  });

  it("E_COMPILE_MODULE: a module importing a Node builtin, a module without capabilities", async () => {
    const d = baseDecl({ modules: { caps: "./caps.ts" } });
    const r1 = await errorsOf(d, "wf.yaml", { "caps.ts": 'import { readFileSync, writeFileSync } from "node:fs";\nexport const capabilities = { r: { outputs: [], run: () => ({ x: readFileSync("/etc/hostname", "utf8") }) } };\n' });
    expect(r1.r.diagnostics).toHaveLength(1);
    expect(r1.r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_MODULE", file: r1.file, node: null, field: "modules.caps" });
    expect(r1.r.diagnostics[0]!.message).toContain("node:fs");
    const r2 = await errorsOf(d, "wf.yaml", { "caps.ts": "export const nothing = 1;\n" });
    expect(r2.lines).toEqual([`${r2.file}: modules.caps: capability module caps: the module does not export a 'capabilities' object [E_COMPILE_MODULE]`]);
    // import.meta would be an empty object in the CommonJS bundle: refused where it appears.
    const r3 = await errorsOf(d, "wf.yaml", { "caps.ts": "export const capabilities = {\n  r: { outputs: [], run: () => ({ u: String(import.meta.url) }) },\n};\n" });
    expect(r3.r.diagnostics).toHaveLength(1);
    expect(r3.r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_MODULE", field: "modules.caps" });
    expect(r3.r.diagnostics[0]!.message).toMatch(/^capability module \.\/caps\.ts:2:45: import\.meta is not available in a capability module/);
  });

  it("every diagnostic of a file is reported at once, files in order", async () => {
    const d = flow();
    (nodes(d).log!.steps as Decl[])[0]!.op = "DELETE";
    nodes(d).orphan = { steps: [{ id: "x", ct: "nope", inputs: {} }], routes: { default: "ghost" } };
    const { r } = await errorsOf(d);
    expect(r.diagnostics.map((x) => x.code).sort()).toEqual(["E_COMPILE_MISSING_NODE", "E_COMPILE_UNKNOWN_CAPABILITY", "E_COMPILE_UNKNOWN_OPERATION", "E_COMPILE_UNREACHABLE_NODE"]);
  });
});

describe("compile: routes the node can take, precedence by dominance, schema branches, module paths", () => {
  it("E_COMPILE_IMPOSSIBLE_ROUTE: a route for an outcome the node can never end with; the node it leads to is unreachable", async () => {
    const d = flow();
    // check (generate_id) can end with SUCCESS or VIOLATION only: NOT_FOUND never happens
    nodes(d).check!.routes = { SUCCESS: "reg", VIOLATION: { exit: "BAD", reason: "x" }, NOT_FOUND: "ghost" };
    nodes(d).ghost = { steps: [{ id: "g", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: { exit: "G", reason: "g" } } };
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([
      `${file}: node check: routes.NOT_FOUND: routes NOT_FOUND, but no step can end this node with NOT_FOUND (it can end with: SUCCESS, VIOLATION) [E_COMPILE_IMPOSSIBLE_ROUTE]`,
      `${file}: node ghost: nodes.ghost: node ghost is unreachable: no route from the entry check leads to it (routes for outcomes a node cannot end with do not count) [E_COMPILE_UNREACHABLE_NODE]`,
    ]);
  });

  it("a default that every possible outcome already covers is not an edge", async () => {
    const d = flow();
    nodes(d).check!.routes = { SUCCESS: "reg", VIOLATION: { exit: "BAD", reason: "x" }, default: "ghost" };
    nodes(d).ghost = { steps: [{ id: "g", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: { exit: "G", reason: "g" } } };
    const { r } = await errorsOf(d);
    expect(r.diagnostics.map((x) => [x.code, x.node])).toEqual([["E_COMPILE_UNREACHABLE_NODE", "ghost"]]);
  });

  it("E_COMPILE_UNBOUND_INPUT: a $.results binding to a node that only MAY run before (a → b and a → c → b)", async () => {
    const hash = (id: string, value: unknown = "$.payload") => [{ id, ct: "hash", inputs: { value } }];
    const d = baseDecl({
      entry: "a",
      nodes: {
        a: { steps: [{ id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "object" } }, value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: "c" } },
        c: { steps: hash("h"), routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: hash("h", "$.results.c.digest"), routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { file, lines } = await errorsOf(d);
    expect(lines).toEqual([
      `${file}: node b: steps[0].inputs.value: $.results.c.digest is not always bound: node c does not always run before node b (a route from the entry a reaches b without running c first) [E_COMPILE_UNBOUND_INPUT]`,
    ]);
    // binding a node that dominates (a) is fine (its whole result: a → VIOLATION → c → b reaches
    // b with a result that has no `valid`, so `$.results.a.valid` is not always bound)
    (nodes(d).b!.steps as Decl[])[0]!.inputs = { value: "$.results.a" };
    expect((await compileDecl(d)).lines).toEqual([]);
  });

  it("schema errors are reported per branch: a missing top-level member next to a deeper node error", async () => {
    const d = flow();
    delete d.entry;
    (nodes(d).reg!.steps as Decl[])[0]!.bogus = 1;
    const { file, lines } = await errorsOf(d);
    expect(lines).toContain(`${file}: does not match the Cairn workflow schema: must have required property 'entry' [E_COMPILE_SCHEMA]`);
    expect(lines).toContain(`${file}: node reg: steps[0]: does not match the Cairn workflow schema: unknown member "bogus" [E_COMPILE_SCHEMA]`);
  });

  it("an absolute module path is sealed relative to the declaration file, not verbatim", async () => {
    const caps = `export const capabilities = { id: { outputs: ["id"], run: () => ({ id: "x" }) } };`;
    const decl = (modPath: string) => baseDecl({
      modules: { caps: modPath },
      nodes: { start: { steps: [{ id: "s", ct: "caps.id", inputs: {} }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "NO", reason: "no" } } } },
    });
    const dir = writeTree({ "mods/caps.ts": caps });
    writeFileSync(join(dir, "wf.yaml"), stringify(decl(join(dir, "mods/caps.ts"))));
    const abs = await compileWorkflows([join(dir, "wf.yaml")]);
    expect(abs.diagnostics).toEqual([]);
    expect(Object.values(abs.content!.workflows)[0]!.modules.caps!.path).toBe("./mods/caps.ts");
    expect(JSON.stringify(abs.content)).not.toContain(dir);
    // a module outside the declaration's directory
    const other = writeTree({ "caps.ts": caps });
    const out = await compileDecl(decl(join(other, "caps.ts")));
    expect(Object.values(out.r.content!.workflows)[0]!.modules.caps!.path).toMatch(/^\.\.\/[^/]+\/caps\.ts$/);
  });
});
