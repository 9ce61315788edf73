/**
 * User-acceptance findings on Cairn's own workflow format (2026-11-28):
 *
 * 1. A Cairn REGISTER whose `value` holds a member the registry record reserves (key, address,
 *    target_cs, target_ref, tombstone: registry.ts `REGISTRY_RECORD_MEMBERS`) is VIOLATION
 *    before the store is touched (run.ts `runStep`), and E_COMPILE_SCHEMA when the value is
 *    known at compile time (catalog.ts `inputRules`); PGS runs keep SEMANTICS C.2 (merged last).
 * 2. A float negative zero in a declaration (`-0.0`, `-0e0`, YAML `-.0`) is E_COMPILE_SCHEMA with
 *    its line and column (canonical JSON would seal it as 0); the integer `-0` is 0 and compiles.
 * 3. E_COMPILE_UNBOUNDED_CYCLE shows the cycle in route order, from its smallest node, closed.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { reservedValueMessage } from "../../src/workflow/cairn/run.js";
import { createEffectContext } from "../../src/workflow/effects/index.js";
import { REGISTRY_RECORD_MEMBERS, REGISTRY_RUNTIME } from "../../src/workflow/effects/registry.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, compileDecl, prepared, run, stepEvent, tempDir, writeTree } from "./cairn-fixture.js";

type Decl = Record<string, unknown>;
const WF = "test::WF_TEST_V0";

/** The finding's declaration: one node REGISTERs key `$.payload.k` with value `value`. */
function regDecl(value: unknown = "$.payload.rv"): Decl {
  return baseDecl({
    entry: "g",
    stores: { r: { kind: "registry", path: "reg/r.jsonl" } },
    nodes: {
      g: {
        steps: [{ id: "g", cs: "r", op: "REGISTER", inputs: { key: "$.payload.k", value } }],
        routes: { SUCCESS: { exit: "REGISTERED", reason: "new" }, ALREADY_EXISTS: { exit: "DUP", reason: "dup" }, default: { exit: "F", reason: "f" } },
      },
    },
  });
}

describe("1. a Cairn REGISTER refuses a value holding a member the registry record reserves", () => {
  it("the reserved members are the record's own: key, address, target_cs, target_ref, tombstone", () => {
    expect(REGISTRY_RECORD_MEMBERS).toEqual(["key", "address", "target_cs", "target_ref", "tombstone"]);
  });

  it("the finding's runs: VIOLATION every time, naming the step and the member; nothing is written to the registry", async () => {
    const { snap, dir } = await prepared(regDecl());
    const file = join(dir, "data/reg/r.jsonl");
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ key: "other" }, ["key"]],
      [{ key: "k2", address: "ADDR_x" }, ["key", "address"]],
      [{ tombstone: true }, ["tombstone"]],
      [{ owner: "alice", target_ref: "elsewhere" }, ["target_ref"]],
      [{ target_cs: null }, ["target_cs"]],
    ];
    for (const [rv, names] of cases) {
      for (let i = 0; i < 2; i++) {
        const r = run(snap, { k: "k1", rv }, dir);
        expect(r.status, JSON.stringify(rv)).toBe("VIOLATION");
        expect(r.exit).toEqual({ name: "F", reason: "f" });
        expect(r.violations).toEqual([{ cc: `${WF}::g`, step: "g", kind: "CS", reason: reservedValueMessage("g", names) }]);
        expect(stepEvent(r, "g").detail.error).toBe(reservedValueMessage("g", names));
      }
      expect(existsSync(file) ? readFileSync(file, "utf8") : "").toBe("");
    }
    expect(reservedValueMessage("g", ["key"])).toBe(
      'REGISTER step g: input value holds the member "key", which the registry record reserves (key, address, target_cs, target_ref, tombstone): value\'s members are merged into the record after its own, so it would replace them and the registration would not be idempotent; rename the member or nest the value one level down',
    );
    expect(reservedValueMessage("g", ["key", "address"])).toContain('holds the members "key", "address", which the registry record reserves');
    // A value without them registers once, then ALREADY_EXISTS; RESOLVE-able under its key.
    expect(run(snap, { k: "k1", rv: { owner: "alice", nested: { key: "fine" } } }, dir).status).toBe("SUCCESS");
    expect(run(snap, { k: "k1", rv: { owner: "alice" } }, dir).status).toBe("ALREADY_EXISTS");
    expect(run(snap, { k: "k1", rv: null }, dir).status).toBe("ALREADY_EXISTS");
    const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ key: "k1", owner: "alice", nested: { key: "fine" } });
    // An already registered key with a reserved member is refused too (before the store is read).
    expect(run(snap, { k: "k1", rv: { key: "k1" } }, dir).status).toBe("VIOLATION");
  });

  it("a value known at compile time holding a reserved member is E_COMPILE_SCHEMA at the input", async () => {
    const c = await compileDecl(regDecl({ const: { key: "other", owner: "x" } }));
    expect(c.r.content).toBeUndefined();
    expect(c.r.diagnostics.map((d) => [d.code, d.node, d.field])).toEqual([["E_COMPILE_SCHEMA", "g", "steps[0].inputs.value"]]);
    expect(c.r.diagnostics[0]!.message).toBe(
      'step g: r REGISTER input value must be an object without a member the registry record reserves (key, address, target_cs, target_ref, tombstone), and the constant {"key":"other","owner":"x"} is an object holding the member "key": a Cairn REGISTER refuses it with VIOLATION every time the step runs (value\'s members are merged into the record after its own, so they would replace them and the registration would not be idempotent)',
    );
    // An {object: …} binding's member names are known at compile time.
    const o = await compileDecl(regDecl({ object: { tombstone: "$.payload.t", address: { const: "ADDR_x" }, owner: "$.payload.o" } }));
    expect(o.r.content).toBeUndefined();
    expect(o.r.diagnostics).toHaveLength(1);
    expect(o.r.diagnostics[0]!.message).toContain('and the {object: …} binding is an object holding the members "tombstone", "address": a Cairn REGISTER refuses it with VIOLATION');
    // A value that is not an object keeps its own rule and message.
    const s = await compileDecl(regDecl({ const: "not an object" }));
    expect(s.r.diagnostics[0]!.message).toBe('step g: r REGISTER input value must be an object or null, and the constant "not an object" is a string: the registry aborts the run with an error (E_INVALID_INPUT) every time the step registers a new key');
    // Other members, nested reserved names and a lane-bound step compile.
    expect((await compileDecl(regDecl({ const: { owner: "x", nested: { key: "k" } } }))).lines).toEqual([]);
    expect((await compileDecl(regDecl({ object: { owner: "$.payload.o" } }))).lines).toEqual([]);
  });

  it("the shared runtime keeps PGS SEMANTICS C.2: value's members are merged last and may overwrite key/address", () => {
    const root = tempDir();
    const ctx = createEffectContext({ dataRoot: root, traceId: "T" });
    const reg = (payload: Record<string, unknown>) =>
      REGISTRY_RUNTIME.execute({ op: "REGISTER", payload: fromPlain(payload) as PyObject, config: fromPlain({ path: join(root, "r.jsonl") }) as PyObject, metadata: fromPlain({ capability: {} }) as PyObject }, ctx);
    expect(reg({ key: "k1", value: { key: "other" } }).outcome).toBe("SUCCESS");
    expect(reg({ key: "k1", value: { key: "other" } }).outcome).toBe("SUCCESS");
    expect(reg({ key: "k1", value: { tombstone: true } }).outcome).toBe("SUCCESS");
    const recs = readFileSync(join(root, "r.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((r) => r.key)).toEqual(["other", "other", "k1"]);
    expect(recs[2]!.tombstone).toBe(true);
  });
});

/* ------------------------------------------------------------------------------------------- */

const yamlDecl = (value: string): string =>
  `cairn: cairn.workflow/v1\nnamespace: dec\ncode: WF_DEC_V0\nentry: a\nnodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: ${value} }\n    routes:\n      default: { exit: X, reason: x }\n`;
const jsonDecl = (value: string): string =>
  `{"cairn": "cairn.workflow/v1", "namespace": "dec", "code": "WF_DEC_V0", "entry": "a",\n "nodes": {"a": {"steps": [{"id": "s", "ct": "hash",\n  "inputs": {"value": {"const": ${value}}}}],\n  "routes": {"default": {"exit": "X", "reason": "x"}}}}}\n`;

async function compileText(name: string, text: string) {
  const dir = writeTree({ [name]: text });
  const file = join(dir, name);
  return { file, r: await compileWorkflows([file]) };
}

describe("2. a float negative zero in a declaration is E_COMPILE_SCHEMA", () => {
  const cases: Array<["json" | "yaml", string]> = [["json", "-0.0"], ["json", "-0e0"], ["json", "-0.000E+3"], ["yaml", "-0.0"], ["yaml", "-0e0"], ["yaml", "-.0"], ["yaml", "!!float -0"]];
  for (const [kind, literal] of cases) {
    it(`${kind}: ${literal}`, async () => {
      const { file, r } = await compileText(`wf.${kind}`, kind === "json" ? jsonDecl(literal) : yamlDecl(literal));
      expect(r.content).toBeUndefined();
      expect(r.diagnostics).toHaveLength(1);
      expect(r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node: "a", field: "steps[0].inputs.value.const" });
      const at = kind === "json" ? "line 3, column 33" : `line 11, column ${literal.startsWith("!!") ? 35 : 27}`;
      expect(r.diagnostics[0]!.message).toBe(
        `not JSON data, which a sealed snapshot cannot hold unchanged (${at}): the number ${literal.replace("!!float ", "")} is a negative zero, which a snapshot cannot keep (canonical JSON writes it as 0, so a constant would be the float 0.0 while the same literal in a payload is -0.0): write 0.0, or pass -0.0 in the payload`,
      );
    });
  }

  it("nested, named by its path; the integer -0 is the integer 0 (as in a payload) and compiles", async () => {
    const nested = await compileText("wf.json", jsonDecl('{"a": [1, -0.0]}'));
    expect(nested.r.diagnostics.map((d) => d.field)).toEqual(["steps[0].inputs.value.const.a[1]"]);
    for (const kind of ["json", "yaml"] as const) {
      const { r } = await compileText(`wf.${kind}`, kind === "json" ? jsonDecl("[-0, 0.0, 0]") : yamlDecl("[-0, 0.0, 0]"));
      expect(r.diagnostics).toEqual([]);
      expect(r.content!.workflows["dec::WF_DEC_V0"]!.nodes.a!.steps[0]!.inputs.value).toEqual({ const: [0, 0, 0], floats: ["/1"] });
    }
  });
});

/* ------------------------------------------------------------------------------------------- */

/** Nodes `routes` (name → next node) of hash steps, VIOLATION to an exit; entry `a`. */
function routed(next: Record<string, string>, entry = "a"): Decl {
  const nodes: Record<string, unknown> = {};
  for (const [n, to] of Object.entries(next)) nodes[n] = { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: to, VIOLATION: { exit: "BAD", reason: "x" } } };
  return baseDecl({ entry, nodes });
}

describe("3. E_COMPILE_UNBOUNDED_CYCLE shows the cycle in route order", () => {
  it("a → c → b → a, from the smallest name, closed", async () => {
    const { r } = await compileDecl(routed({ a: "c", c: "b", b: "a" }));
    expect(r.diagnostics.map((d) => [d.code, d.node, d.field, d.message])).toEqual([["E_COMPILE_UNBOUNDED_CYCLE", "a", "routes", "routing cycle a → c → b → a has no declared bound: give one of its nodes max_visits"]]);
  });

  it("a 12-node chain in route order, not sorted (n1 → n10 → n11 …)", async () => {
    const next: Record<string, string> = {};
    for (let i = 1; i <= 12; i++) next[`n${i}`] = `n${i === 12 ? 1 : i + 1}`;
    const { r } = await compileDecl(routed(next, "n1"));
    const chain = [...Array.from({ length: 12 }, (_, i) => `n${i + 1}`), "n1"].join(" → ");
    expect(r.diagnostics.map((d) => [d.code, d.node, d.message])).toEqual([["E_COMPILE_UNBOUNDED_CYCLE", "n1", `routing cycle ${chain} has no declared bound: give one of its nodes max_visits`]]);
  });

  it("a component with more nodes than its shortest cycle: that cycle, and the component's size", async () => {
    const d = baseDecl({
      entry: "c",
      nodes: {
        c: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "a", VIOLATION: "c" } },
        a: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
      },
    });
    const { r } = await compileDecl(d);
    expect(r.diagnostics.map((x) => [x.code, x.node, x.message])).toEqual([
      ["E_COMPILE_UNBOUNDED_CYCLE", "a", "routing cycle a → b → a (one of the cycles among 3 nodes that all route to one another: a, b, c) has no declared bound: give one of its nodes max_visits"],
    ]);
  });

  it("a self-loop", async () => {
    const { r } = await compileDecl(routed({ a: "a" }));
    expect(r.diagnostics.map((x) => x.message)).toEqual(["routing cycle a → a has no declared bound: give one of its nodes max_visits"]);
  });
});
