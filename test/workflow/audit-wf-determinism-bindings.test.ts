/**
 * Audit fixes (Cairn workflows):
 *  (4) user CTs see no host locale: `toLocale*` / `localeCompare` / `Intl.*` with `[]` or an
 *      unavailable locale, `toLocaleUpper/LowerCase([])` and the time-zone name of
 *      `Date#toString` / `Date()` are the same under any LANG / LC_ALL (usercts.ts prelude);
 *  (6) a `$.results.<node>.<field>` / `$.steps.<step>.<field>` binding that resolves to nothing on
 *      some outcome that reaches it is E_COMPILE_UNBOUND_INPUT (compile.ts, per-outcome rule);
 *  (8) a whole-valued float constant (`2.0`) stays a float through sealing (`floats` pointers,
 *      sealed-value.ts); snapshots without one are sealed as before;
 *  (9) a Cairn REGISTER whose key is missing or null is VIOLATION (run.ts); the shared registry
 *      runtime keeps PGS SEMANTICS C.2 (a null key registers).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createEffectContext, REGISTRY_RUNTIME } from "../../src/workflow/effects/index.js";
import { compileWorkflows, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { NULL_REGISTRY_KEY, prepareSnapshot, runCairnWorkflow } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { parsePyJson } from "../../src/workflow/pgs/pyjson.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, compileDecl, EXAMPLES, laneRegistryDecl, prepared, run, tempDir, traceText, writeTree } from "./cairn-fixture.js";

type Decl = Record<string, unknown>;
const SRC = new URL("../../src/", import.meta.url).pathname;

/* ------------------------------------------------------------------------------------------- */
/* (4) host locale                                                                               */

/** Runs `script` (a .ts file) with tsx under LANG = LC_ALL = `lang`; returns its stdout. */
function runUnder(script: string, lang: string, tz = "UTC", args: string[] = []): string {
  const p = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, LANG: lang, LC_ALL: lang, TZ: tz }, encoding: "utf8" });
  expect(p.stderr).toBe("");
  expect(p.status).toBe(0);
  return p.stdout;
}

const PROBE = `[
  (1234567.891).toLocaleString([]), "I".toLocaleLowerCase([]), "i".toLocaleUpperCase([]), String(new Date()), Date(),
  new Date(0).toTimeString(), new Intl.NumberFormat([]).resolvedOptions().locale, new Intl.NumberFormat("und").resolvedOptions().locale,
  new Intl.Collator("zz").resolvedOptions().locale, (1234.5).toLocaleString("und"), "a".localeCompare("B", []),
  new Date(0).toLocaleString([], { timeZone: undefined }), [1234.5, 2.5].toLocaleString([]), (1234.5).toLocaleString("de"),
  new Date(2025, 5, 1).toString(),
]`;

describe("(4) user CTs: the same output under any host locale", () => {
  it("[] / unavailable locales, toLocaleLowerCase([]) and Date#toString's zone name do not follow LC_ALL", () => {
    const dir = tempDir();
    const script = join(dir, "probe.ts");
    writeFileSync(script, `
import { UserModuleRunner } from ${JSON.stringify(join(SRC, "workflow/cairn/usercts.ts"))};
import { toPlain } from ${JSON.stringify(join(SRC, "workflow/pgs/value.ts"))};
const r = new UserModuleRunner("m", ${JSON.stringify(`module.exports.capabilities = { t: { outputs: ["v"], run() { return { v: ${PROBE} }; } } };`)}).call("t", new Map(), "k");
process.stdout.write(JSON.stringify(r.ok ? toPlain(r.value) : r));
`);
    const out = ["C.UTF-8", "de_DE.UTF-8", "tr_TR.UTF-8", "ja_JP.UTF-8"].map((l) => JSON.parse(runUnder(script, l)) as { v: unknown[] });
    for (const o of out.slice(1)) expect(o).toEqual(out[0]);
    expect(out[0]!.v).toEqual([
      "1,234,567.891", "i", "I", "Wed Jan 01 2025 00:00:00 GMT+0000 (Coordinated Universal Time)", "Wed Jan 01 2025 00:00:00 GMT+0000 (Coordinated Universal Time)",
      "00:00:00 GMT+0000 (Coordinated Universal Time)", "en-US", "en-US",
      "en-US", "1,234.5", -1,
      "1/1/1970, 12:00:00 AM", "1,234.5,2.5", "1.234,5",
      "Sun Jun 01 2025 00:00:00 GMT+0000 (Coordinated Universal Time)",
    ]);
    // Another process time zone: the zone is the process's, its name is English whatever LC_ALL.
    const berlin = ["en_US.UTF-8", "de_DE.UTF-8"].map((l) => (JSON.parse(runUnder(script, l, "Europe/Berlin")) as { v: string[] }).v[14]);
    expect(berlin).toEqual(["Sun Jun 01 2025 00:00:00 GMT+0200 (Central European Summer Time)", "Sun Jun 01 2025 00:00:00 GMT+0200 (Central European Summer Time)"]);
  }, 60_000);

  it("a workflow run writes byte-identical traces and effects under C.UTF-8 and de_DE.UTF-8 (the audit's repro)", () => {
    const dir = writeTree({
      "wf.yaml": `cairn: cairn.workflow/v1
namespace: audit
code: WF_DET_V0
entry: a
modules: { m: ./m.ts }
stores: { kv: { kind: mutable, path: kv.json } }
nodes:
  a:
    steps:
      - { id: p, ct: m.probe, inputs: {} }
      - { id: w, cs: kv, op: WRITE, inputs: { key: { const: probe }, value: $.steps.p.v } }
    routes: { default: { exit: OK, reason: ok } }
`,
      "m.ts": `export const capabilities = { probe: { outputs: ["v"], run: () => ({ v: ${PROBE} }) } };\n`,
    });
    const script = join(dir, "run.mts");
    writeFileSync(script, `
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compileWorkflows } from ${JSON.stringify(join(SRC, "workflow/cairn/compile.ts"))};
import { prepareSnapshot, runCairnWorkflow } from ${JSON.stringify(join(SRC, "workflow/cairn/run.ts"))};
import { sealedFileBytes, verifySealedBytes } from ${JSON.stringify(join(SRC, "workflow/cairn/seal.ts"))};
const [dir, ws] = process.argv.slice(2);
const c = await compileWorkflows([join(dir, "wf.yaml")]);
if (c.content === undefined) throw new Error(JSON.stringify(c.diagnostics));
const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content).bytes, "s"));
const r = runCairnWorkflow({ snapshot: snap, payload: new Map(), dataRoot: join(ws, "data"), baseDir: ws });
process.stdout.write(JSON.stringify({ status: r.status, trace: readFileSync(join(r.traceDirAbs, r.traceId + ".jsonl"), "utf8"), kv: readFileSync(join(ws, "data/kv.json"), "utf8") }));
`);
    const [c, de] = ["C.UTF-8", "de_DE.UTF-8"].map((l) => JSON.parse(runUnder(script, l, "UTC", [dir, tempDir()])) as { status: string; trace: string; kv: string });
    expect(c!.status).toBe("SUCCESS");
    expect(de).toEqual(c);
    expect(c!.kv).toContain('"1,234,567.891"');
    expect(c!.trace).not.toMatch(/Koordinierte|1\.234\.567/);
  }, 60_000);
});

/* ------------------------------------------------------------------------------------------- */
/* (6) per-outcome bindings                                                                     */

const kv = { kv: { kind: "mutable", path: "kv.json" } };
const write = (value: string): Decl => ({ steps: [{ id: "w", cs: "kv", op: "WRITE", inputs: { key: { const: "total" }, value } }], routes: { default: { exit: "DONE", reason: "done" } } });

describe("(6) a binding must be bound on every outcome that reaches it", () => {
  it("the audit's repro: a step continuing on VIOLATION, and a node routed on VIOLATION, are refused naming file, node, field, outcome and route", async () => {
    const c = await compileDecl(baseDecl({
      entry: "a",
      stores: kv,
      nodes: {
        a: {
          steps: [
            { id: "s1", ct: "add", inputs: { a: "$.payload.x", b: { const: 1 } }, on_result: { VIOLATION: "continue" } },
            { id: "s2", ct: "hash", inputs: { value: "$.steps.s1.result" } },
          ],
          routes: { SUCCESS: "b", VIOLATION: "b" },
        },
        b: write("$.results.a.result"),
      },
    }));
    expect(c.r.content).toBeUndefined();
    expect(c.lines).toEqual([
      `${c.file}: node a: steps[1].inputs.value: $.steps.s1.result is not always bound: step s1's result carries "result" only when it ends with SUCCESS, and step s2 also runs after it ends with VIOLATION (on_result VIOLATION: continue) [E_COMPILE_UNBOUND_INPUT]`,
      `${c.file}: node b: steps[0].inputs.value: $.results.a.result is not always bound: node a can end with SUCCESS without a result field "result" (step s2 (hash) ends it with SUCCESS, and no step run up to there always provides it: a step's result carries its declared fields only when it ends with SUCCESS), and node b is reached after node a ends with SUCCESS (routes.SUCCESS); route that outcome elsewhere, or bind the field where it is always there [E_COMPILE_UNBOUND_INPUT]`,
    ]);
  });

  it("a node routed to the binding node on VIOLATION (directly, by default, or through another node)", async () => {
    const decl = (routes: Decl, extra: Decl = {}): Decl => baseDecl({
      entry: "a",
      stores: kv,
      nodes: { a: { steps: [{ id: "s1", ct: "add", inputs: { a: "$.payload.x", b: { const: 1 } } }], routes }, b: write("$.results.a.result"), ...extra },
    });
    const direct = await compileDecl(decl({ SUCCESS: "b", VIOLATION: "b" }));
    expect(direct.r.diagnostics.map((d) => [d.code, d.file, d.node, d.field])).toEqual([["E_COMPILE_UNBOUND_INPUT", direct.file, "b", "steps[0].inputs.value"]]);
    expect(direct.r.diagnostics[0]!.message).toBe('$.results.a.result is not always bound: node a can end with VIOLATION without a result field "result" (step s1 (add) ends it with VIOLATION, and no step run up to there always provides it: a step\'s result carries its declared fields only when it ends with SUCCESS), and node b is reached after node a ends with VIOLATION (routes.VIOLATION); route that outcome elsewhere, or bind the field where it is always there');
    const byDefault = await compileDecl(decl({ default: "b" }));
    expect(byDefault.r.diagnostics[0]!.message).toMatch(/node a can end with VIOLATION without a result field "result" .*\(routes\.default\)/);
    const via = await compileDecl(decl({ SUCCESS: "b", VIOLATION: "c" }, { c: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } } }));
    expect(via.r.diagnostics[0]!.message).toMatch(/node a can end with VIOLATION .*node b is reached after node a ends with VIOLATION \(routes\.VIOLATION\)/);
    // Routed elsewhere: bound.
    const ok = await prepared(decl({ SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "not a number" } }));
    const r = run(ok.snap, { x: 2 }, ok.dir);
    expect(r.status).toBe("SUCCESS");
    expect(JSON.parse(readFileSync(join(ok.dir, "data/kv.json"), "utf8"))).toEqual({ total: 3 });
  });

  it("a step that ends its node early on SUCCESS, before the step that provides the field", async () => {
    const c = await compileDecl(baseDecl({
      entry: "a",
      stores: kv,
      nodes: {
        a: {
          steps: [
            { id: "s0", ct: "equals", inputs: { a: "$.payload.x", b: { const: 0 } }, on_result: { SUCCESS: "exit" } },
            { id: "s1", ct: "add", inputs: { a: "$.payload.x", b: { const: 1 } } },
          ],
          routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } },
        },
        b: write("$.results.a.result"),
      },
    }));
    expect(c.lines).toEqual([
      // (s1 never runs at all: every outcome of s0 exits the node, a diagnostic of its own since 2026-11-27.)
      `${c.file}: node a: steps[1]: step s1 never runs: step s0 (equals) exits the node with every outcome it can end with (on_result SUCCESS: exit; on_result VIOLATION: exit, the default); remove the steps after it or let one of its outcomes continue [E_COMPILE_UNREACHABLE_STEP]`,
      `${c.file}: node b: steps[0].inputs.value: $.results.a.result is not always bound: node a can end with SUCCESS without a result field "result" (step s0 (equals) ends it with SUCCESS (on_result SUCCESS: exit), and no step run up to there always provides it: a step's result carries its declared fields only when it ends with SUCCESS), and node b is reached after node a ends with SUCCESS (routes.SUCCESS); route that outcome elsewhere, or bind the field where it is always there [E_COMPILE_UNBOUND_INPUT]`,
    ]);
  });

  it("$.steps: a store outcome without the field that continues, and a field only on an outcome that exits", async () => {
    const reg = { reg: { kind: "registry", path: "reg.jsonl" } };
    const again = await compileDecl(baseDecl({
      entry: "a",
      stores: reg,
      nodes: {
        a: {
          steps: [
            { id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k" }, on_result: { ALREADY_EXISTS: "continue" } },
            { id: "h", ct: "hash", inputs: { value: "$.steps.r.address" } },
          ],
          routes: { default: { exit: "END", reason: "end" } },
        },
      },
    }));
    expect(again.lines).toEqual([
      `${again.file}: node a: steps[1].inputs.value: $.steps.r.address is not always bound: step r's result carries "address" only when it ends with SUCCESS, and step h also runs after it ends with ALREADY_EXISTS (on_result ALREADY_EXISTS: continue) [E_COMPILE_UNBOUND_INPUT]`,
    ]);
    const exits = await compileDecl(baseDecl({
      entry: "a",
      nodes: {
        a: {
          steps: [
            { id: "s1", ct: "add", inputs: { a: "$.payload.x", b: { const: 1 } }, on_result: { SUCCESS: "exit", VIOLATION: "continue" } },
            { id: "s2", ct: "hash", inputs: { value: "$.steps.s1.result" } },
          ],
          routes: { default: { exit: "END", reason: "end" } },
        },
      },
    }));
    expect(exits.lines).toEqual([
      `${exits.file}: node a: steps[1].inputs.value: $.steps.s1.result is bound to nothing: step s1's result carries "result" only when it ends with SUCCESS, which exits the node (on_result SUCCESS: exit), so step s2 runs after it only when it ends with VIOLATION, without "result" [E_COMPILE_UNBOUND_INPUT]`,
    ]);
  });

  it("still compiles: fields a step provides before the node can end, only SUCCESS routed on, a store's SUCCESS, the example", async () => {
    // s1 exits on VIOLATION (the default): any end after it has s1's result, whatever s2 does.
    const earlier = await compileDecl(baseDecl({
      entry: "a",
      stores: kv,
      nodes: {
        a: { steps: [{ id: "s1", ct: "add", inputs: { a: "$.payload.x", b: { const: 1 } } }, { id: "s2", ct: "hash", inputs: { value: "$.steps.s1.result" } }], routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "x" } } },
        b: write("$.results.a.result"),
      },
    }));
    expect(earlier.lines).toEqual([]);
    // REGISTER: address only routed on after SUCCESS; ALREADY_EXISTS ends the run.
    const reg = await compileDecl(baseDecl({
      entry: "a",
      stores: { ...kv, reg: { kind: "registry", path: "reg.jsonl" } },
      nodes: {
        a: { steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k" } }], routes: { SUCCESS: "b", ALREADY_EXISTS: { exit: "KNOWN", reason: "k" }, default: { exit: "FAILED", reason: "f" } } },
        b: write("$.results.a.address"),
      },
    }));
    expect(reg.lines).toEqual([]);
    const ex = await compileWorkflows([EXAMPLES]);
    expect(ex.diagnostics.map(formatDiagnostic)).toEqual([]);
  });
});

/* ------------------------------------------------------------------------------------------- */
/* (8) whole-valued float constants                                                             */

const CONSTF = `cairn: cairn.workflow/v1
namespace: audit
code: WF_CONSTF_V0
entry: a
nodes:
  a:
    steps:
      - id: half_const
        ct: div
        inputs: { a: $.payload.x, b: { const: 2.0 } }
        on_result: { VIOLATION: continue }
      - id: half_payload
        ct: div
        inputs: { a: $.payload.x, b: $.payload.two }
    routes:
      SUCCESS: { exit: OK, reason: ok }
      VIOLATION: { exit: BAD, reason: bad }
`;

async function compileText(name: string, text: string) {
  const dir = writeTree({ [name]: text });
  return { r: await compileWorkflows([join(dir, name)]), dir };
}

type StepJson = { inputs: Record<string, unknown> };
const stepsOf = (content: unknown, fqdn: string, node = "a"): StepJson[] => ((content as { workflows: Record<string, { nodes: Record<string, { steps: StepJson[] }> }> }).workflows[fqdn]!.nodes[node]!.steps);

describe("(8) a float constant stays a float", () => {
  it("the audit's repro: {const: 2.0} divides as 2.0 from the payload does (1.5), sealed with floats: [\"\"]", async () => {
    const { r, dir } = await compileText("wf.yaml", CONSTF);
    expect(r.diagnostics).toEqual([]);
    expect(stepsOf(r.content, "audit::WF_CONSTF_V0")[0]!.inputs.b).toEqual({ const: 2, floats: [""] });
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(r.content!).bytes, "s"));
    const run1 = runCairnWorkflow({ snapshot: snap, payload: parsePyJson('{"x": 3, "two": 2.0}') as PyObject, dataRoot: join(dir, "data"), baseDir: dir });
    expect(run1.status).toBe("SUCCESS");
    const steps = traceText(run1).split("\n").filter((l) => l.includes('"CC_STEP"'));
    expect(steps[0]).toContain('"step_id":"half_const","step_fqdn":"atom:div","inputs":{"a":3,"b":2.0}');
    expect(steps[0]).toContain('"result_status":"SUCCESS"');
    expect(run1.surface.get("result")).toBe(1.5);
  });

  it("JSON declarations too (2.0, 1e3, nested); integers and non-whole floats are sealed as before", async () => {
    const decl = (b: string, v: string) => `{"cairn": "cairn.workflow/v1", "namespace": "audit", "code": "WF_F_V0", "entry": "a", "nodes": {"a": {"steps": [
      {"id": "s", "ct": "hash", "inputs": {"value": {"const": ${v}}}},
      {"id": "t", "ct": "add", "inputs": {"a": {"const": 1}, "b": {"const": ${b}}}}], "routes": {"default": {"exit": "E", "reason": "e"}}}}}`;
    const f = await compileText("wf.json", decl("1e3", '{"a": [1, 2.0, 2.5], "b~/c": -4.00, "n": 3}'));
    expect(f.r.diagnostics).toEqual([]);
    const [s, t] = stepsOf(f.r.content, "audit::WF_F_V0");
    expect(s!.inputs.value).toEqual({ const: { a: [1, 2, 2.5], "b~/c": -4, n: 3 }, floats: ["/a/1", "/b~0~1c"] });
    expect(t!.inputs.b).toEqual({ const: 1000, floats: [""] });
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(f.r.content!).bytes, "s"));
    const r = runCairnWorkflow({ snapshot: snap, payload: new Map(), dataRoot: join(f.dir, "data"), baseDir: f.dir });
    expect(traceText(r)).toContain('"inputs":{"value":{"a":[1,2.0,2.5],"b~/c":-4.0,"n":3}}');
    expect(traceText(r)).toContain('"inputs":{"a":1,"b":1000.0}');
    // The same declaration with integers: no floats member (the snapshot as before this fix), another digest.
    const ints = await compileText("wf.json", decl("1000", '{"a": [1, 2, 2.5], "b~/c": -4, "n": 3}'));
    expect(stepsOf(ints.r.content, "audit::WF_F_V0").map((x) => Object.values(x.inputs))).toEqual([[{ const: { a: [1, 2, 2.5], "b~/c": -4, n: 3 } }], [{ const: 1 }, { const: 1000 }]]);
    expect(ints.r.digest).not.toBe(f.r.digest);
    // No floats member anywhere in the example's snapshot.
    const ex = await compileWorkflows([EXAMPLES]);
    expect(JSON.stringify(ex.content)).not.toContain('"floats"');
  });

  it("a compile-time rule sees the float (GET_RANGE bounds must be integers), and a bad floats member is E_SNAPSHOT_INTEGRITY", async () => {
    const { r } = await compileText("wf.yaml", `cairn: cairn.workflow/v1
namespace: audit
code: WF_G_V0
entry: a
stores: { log: { kind: appendonly, path: log.jsonl } }
nodes:
  a:
    steps: [{ id: s, cs: log, op: GET_RANGE, inputs: { start_sequence: { const: 2.0 }, end_sequence: { const: 3 } } }]
    routes: { default: { exit: E, reason: e } }
`);
    expect(r.diagnostics.map((d) => [d.code, d.node, d.field, d.message])).toEqual([
      ["E_COMPILE_SCHEMA", "a", "steps[0].inputs.start_sequence", "step s: log GET_RANGE input start_sequence must be an integer, and the constant 2.0 is a float: the store answers VIOLATION every time the step runs"],
    ]);
    const ok = await compileText("wf.yaml", CONSTF);
    const content = structuredClone(ok.r.content!) as unknown;
    stepsOf(content, "audit::WF_CONSTF_V0")[0]!.inputs.b = { const: 2, floats: ["/x"] };
    let err: unknown;
    try {
      verifySealedBytes(sealedFileBytes(content as never).bytes, "s");
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "E_SNAPSHOT_INTEGRITY" });
    expect((err as Error).message).toContain("workflows.audit::WF_CONSTF_V0.nodes.a.steps[0].inputs.b.floats[0] names nothing in the constant");
  });

  it("a bad floats member in a lane payload template is E_SNAPSHOT_INTEGRITY too (it was accepted and ignored)", async () => {
    const { r } = await compileDecl(laneRegistryDecl("http://127.0.0.1:9/register", "declared-endpoint-weak"));
    const sealedOk = sealedFileBytes(r.content!).bytes;
    expect(() => verifySealedBytes(sealedOk, "s")).not.toThrow();
    for (const floats of ["garbage", ["/nothing"], [], [1], ["", ""]]) {
      const content = structuredClone(r.content!) as unknown as { workflows: Record<string, { nodes: Record<string, { steps: Array<{ lane: { payload: { object: Record<string, unknown> } } }> }> }> };
      const wf = Object.values(content.workflows)[0]!;
      wf.nodes.reg!.steps[0]!.lane.payload.object.method = { const: "POST", floats };
      let err: unknown;
      try {
        verifySealedBytes(sealedFileBytes(content as never).bytes, "s");
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(floats)).toMatchObject({ code: "E_SNAPSHOT_INTEGRITY" });
      expect((err as Error).message).toContain(".lane.payload.object.method.floats");
    }
  });
});

/* ------------------------------------------------------------------------------------------- */
/* (9) REGISTER with a missing or null key                                                      */

describe("(9) a Cairn REGISTER needs a key", () => {
  const decl = baseDecl({
    entry: "a",
    stores: { reg: { kind: "registry", path: "reg.jsonl" } },
    nodes: {
      a: {
        steps: [{ id: "r", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.agent_id", value: { object: { owner: "$.payload.owner" } } } }],
        routes: { SUCCESS: { exit: "REGISTERED", reason: "ok" }, ALREADY_EXISTS: { exit: "DUPLICATE", reason: "dup" }, default: { exit: "FAILED", reason: "failed" } },
      },
    },
  });

  it("the audit's repro: a missing key (a typo in the payload) is VIOLATION every time; nothing is registered", async () => {
    const { snap, dir } = await prepared(decl);
    for (const p of [{ agentid: "typo-1", owner: "alice" }, { agentid: "typo-2", owner: "bob" }, { agent_id: null, owner: "carol" }]) {
      const r = run(snap, p, dir);
      expect(r.status).toBe("VIOLATION");
      expect(r.exit).toEqual({ name: "FAILED", reason: "failed" });
      expect(r.violations).toEqual([{ cc: "test::WF_TEST_V0::a", step: "r", kind: "CS", reason: NULL_REGISTRY_KEY }]);
      const step = traceText(r).split("\n").find((l) => l.includes('"CC_STEP"'))!;
      expect(step).toContain(`"result_keys":[],"error":${JSON.stringify(NULL_REGISTRY_KEY)}`);
    }
    expect(NULL_REGISTRY_KEY).toBe("REGISTER needs a key: input key is null (bound to a missing or null value), and a null key is never indexed, so the registration would not be idempotent");
    expect(existsSync(join(dir, "data/reg.jsonl"))).toBe(false);
    // A key registers once, then ALREADY_EXISTS.
    expect(run(snap, { agent_id: "a1", owner: "alice" }, dir).status).toBe("SUCCESS");
    expect(run(snap, { agent_id: "a1", owner: "alice" }, dir).status).toBe("ALREADY_EXISTS");
    expect(readFileSync(join(dir, "data/reg.jsonl"), "utf8").split("\n").filter((l) => l !== "")).toHaveLength(1);
  });

  it("the shared registry runtime keeps PGS SEMANTICS C.2: a null key registers, a missing one is VIOLATION", () => {
    const root = tempDir();
    const ctx = createEffectContext({ dataRoot: root, traceId: "T" });
    const reg = (payload: Record<string, unknown>) => REGISTRY_RUNTIME.execute({ op: "REGISTER", payload: fromPlain(payload) as PyObject, config: fromPlain({ path: join(root, "r.jsonl") }) as PyObject, metadata: fromPlain({ capability: {} }) as PyObject }, ctx);
    expect(reg({ key: null }).outcome).toBe("SUCCESS");
    expect(reg({ key: null }).outcome).toBe("SUCCESS");
    expect(reg({ target_ref: "x" }).outcome).toBe("VIOLATION");
  });
});
