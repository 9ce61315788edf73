/**
 * Audit fixes of Cairn's own workflow format (docs/workflow-cairn.md):
 *  1. a workflow whose shortest route to an exit is longer than the hop limit is refused at
 *     compile time; the runtime's hop-limit message and examine's hint no longer blame a cycle;
 *  2. `cairn wf replay` normalises `.` / empty segments / a trailing `/` of recorded store paths
 *     (still refusing `..`, absolute paths, NUL, the data root itself);
 *  3. module paths are resolved from the declaration file's real directory;
 *  4. sealed constants: only safe integers become ints (`{const: 1e22}` is a float, as in a payload);
 *  5. schema errors on member NAMES are reported at the member, naming it;
 *  6. a file named twice is compiled once;
 *  7. constant CS inputs the runtime always refuses are compile errors;
 *  8. `$.results.<node>.message` / `$.steps.<step>.message` bind where the message is always there.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { openStore } from "../../src/store/store.js";
import { compileWorkflows, declarationFiles, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import type { SnapshotLaneBinding } from "../../src/workflow/cairn/lane-compile.js";
import { lanePayload } from "../../src/workflow/cairn/lane-step.js";
import { CAIRN_MAX_HOPS } from "../../src/workflow/cairn/model.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { examineTrace } from "../../src/workflow/examine/index.js";
import { parsePyJson } from "../../src/workflow/pgs/pyjson.js";
import { replayInTemp } from "../../src/workflow/pgs/replay.js";
import type { PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, compileDecl, laneRegistryDecl, prepared, events, run, tempDir, traceText, writeTree } from "./cairn-fixture.js";
import { cairnErrorOf } from "./pgs-fixture.js";

type Decl = Record<string, unknown>;
const WF = "test::WF_TEST_V0";
const traceFile = (r: CairnRunResult): string => join(r.traceDirAbs, `${r.traceId}.jsonl`);
/** The resolved inputs of step `step` of node `node` in the trace (its first visit). */
function stepInputs(r: CairnRunResult, node: string, step: string): unknown {
  const evs = events(r);
  const at = evs.findIndex((e) => e.event_type === "CC_START" && e.detail.cc_fqdn === `${WF}::${node}`);
  return evs.slice(at).find((e) => e.event_type === "CC_STEP" && e.detail.step_id === step)?.detail.inputs;
}

/** A node of one `equals` step whose every outcome goes to `to`. */
const hopNode = (to: unknown): Decl => ({ steps: [{ id: "s", ct: "equals", inputs: { a: { const: 1 }, b: { const: 1 } } }], routes: { default: to } });
/** A straight chain n0 → n1 → … → n<k-1> → exit OK (k nodes, one route per node). */
function chain(k: number, extra: Decl = {}): Decl {
  const nodes: Record<string, Decl> = {};
  for (let i = 0; i < k; i++) nodes[`n${i}`] = hopNode(i === k - 1 ? { exit: "OK", reason: "ok" } : `n${i + 1}`);
  return baseDecl({ entry: "n0", nodes, ...extra });
}

describe("1. the hop limit against the shortest route to an exit", () => {
  it("max_hops below the shortest route is E_COMPILE_HOP_LIMIT on max_hops; the runtime counts the same hops", async () => {
    const { lines, file } = await compileDecl(chain(3, { max_hops: 2 }));
    expect(lines).toEqual([
      `${file}: max_hops: the shortest route from the entry to an exit takes 3 hops (n0 → n1 → n2 → exit OK; one hop per node visited), more than max_hops 2: no run can finish within the hop limit; raise max_hops to at least 3 [E_COMPILE_HOP_LIMIT]`,
    ]);
    // Exactly as many hops as nodes on the route: max_hops 3 compiles and the run ends at the exit.
    const { snap, dir } = await prepared(chain(3, { max_hops: 3 }));
    const r = run(snap, {}, dir);
    expect([r.status, r.error, r.exit?.name, r.path.length]).toEqual(["SUCCESS", null, "OK", 3]);
  });

  it(`without max_hops the limit is CAIRN_MAX_HOPS (${CAIRN_MAX_HOPS}): a ${CAIRN_MAX_HOPS}-node chain runs, ${CAIRN_MAX_HOPS + 1} and 66 nodes are refused on the entry`, async () => {
    const { snap, dir } = await prepared(chain(CAIRN_MAX_HOPS));
    const r = run(snap, {}, dir);
    expect([r.status, r.error, r.exit?.name, r.path.length]).toEqual(["SUCCESS", null, "OK", CAIRN_MAX_HOPS]);
    const at65 = await compileDecl(chain(CAIRN_MAX_HOPS + 1));
    expect(at65.lines).toEqual([
      `${at65.file}: entry: the shortest route from the entry to an exit takes 65 hops (n0 → n1 → n2 → n3 → … 58 more … → n62 → n63 → n64 → exit OK; one hop per node visited), more than the hop limit 64 (CAIRN_MAX_HOPS, the limit without max_hops): no run can finish within the hop limit; shorten the route to at most 64 nodes (CAIRN_MAX_HOPS, the most max_hops allows) [E_COMPILE_HOP_LIMIT]`,
    ]);
    const at66 = await compileDecl(chain(66, { max_hops: 10 }));
    expect(at66.lines).toEqual([
      `${at66.file}: max_hops: the shortest route from the entry to an exit takes 66 hops (n0 → n1 → n2 → n3 → … 59 more … → n63 → n64 → n65 → exit OK; one hop per node visited), more than max_hops 10: no run can finish within the hop limit; shorten the route to at most 64 nodes (CAIRN_MAX_HOPS, the most max_hops allows) [E_COMPILE_HOP_LIMIT]`,
    ]);
  });

  it("a workflow with no exit at all (a bounded cycle) is refused on the entry", async () => {
    const decl = baseDecl({ entry: "a", nodes: { a: { ...hopNode("b"), max_visits: 3 }, b: hopNode("a") } });
    const { lines, file } = await compileDecl(decl);
    expect(lines).toEqual([
      `${file}: entry: no route from the entry a reaches an exit: every outcome of every node it reaches leads on to another node, so no run can finish (each ends with E_LIMIT_EXCEEDED, at the hop limit or a node's max_visits); route an outcome to an {exit, reason} [E_COMPILE_HOP_LIMIT]`,
    ]);
  });

  it("a longer route beyond the limit is not refused; a run taking it fails with a neutral message and examine's hint says so", async () => {
    // The audit's chain: every node routes VIOLATION to an exit (1 hop), SUCCESS onward (3 hops).
    const step = (a: unknown) => [{ id: "s", ct: "add", inputs: { a, b: { const: 2 } } }];
    const bad = { exit: "BAD", reason: "bad" };
    const decl = baseDecl({
      entry: "a",
      max_hops: 2,
      nodes: {
        a: { steps: step({ const: 1 }), routes: { SUCCESS: "b", VIOLATION: bad } },
        b: { steps: step("$.results.a.result"), routes: { SUCCESS: "c", VIOLATION: bad } },
        c: { steps: step("$.results.b.result"), routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: bad } },
      },
    });
    const { snap, bytes, dir } = await prepared(decl);
    const r = run(snap, {}, dir);
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({ code: "E_LIMIT_EXCEEDED", message: `WF '${WF}' exceeded 2 topology hops (hop limit) at node c: the run followed a routing cycle, or a route longer than the hop limit` });
    const snapFile = join(dir, "snap.json");
    writeFileSync(snapFile, bytes);
    const x = examineTrace(traceFile(r), { snapshot: snapFile });
    expect([x.outcome.class, x.exitCode]).toEqual(["graph_structure_error", 1]);
    expect(x.hint).toBe(`the run visited 2 nodes, none twice, and hit the hop limit: the route it took through wf.yaml is longer than the hop limit. Raise max_hops (at most 64) or shorten the route, and recompile; last node: ${WF}::b ended with SUCCESS (routes: SUCCESS → node c, VIOLATION → exit BAD (bad)).`);
  });
});

describe("2. replay normalises recorded store paths as the runtime resolves them", () => {
  const decl = baseDecl({
    entry: "a",
    stores: { l: { kind: "appendonly", path: "logs/events.jsonl/" }, r: { kind: "registry", path: "r/./reg.jsonl" }, m: { kind: "mutable", path: "m//mu.json" } },
    nodes: {
      a: {
        steps: [
          { id: "l", cs: "l", op: "APPEND", inputs: { record: "$.payload" } },
          { id: "r", cs: "r", op: "REGISTER", inputs: { key: "$.payload.k" } },
          { id: "m", cs: "m", op: "WRITE", inputs: { key: "$.payload.k", value: "$.payload" } },
        ],
        routes: { default: { exit: "DONE", reason: "done" } },
      },
    },
  });

  it("runs recorded with stores at r/./x, r//x and x/ replay identically (absent and present prior state)", async () => {
    const { snap, dir } = await prepared(decl);
    const storeDir = join(dir, "store");
    const runs = ["k1", "k2"].map((k) => {
      const store = openStore({ dir: storeDir, create: true });
      try {
        return runCairnWorkflow({ snapshot: snap, payload: parsePyJson(JSON.stringify({ k })) as PyObject, dataRoot: join(dir, "data"), baseDir: dir, store });
      } finally {
        store.close();
      }
    });
    expect(runs.map((r) => [r.status, r.exit?.name])).toEqual([["SUCCESS", "DONE"], ["SUCCESS", "DONE"]]);
    expect(readFileSync(join(dir, "data/logs/events.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    const store = openStore({ dir: storeDir, readOnly: true });
    try {
      for (const r of runs) {
        expect(replayCairnRun(store, traceFile(r))).toEqual({ identical: true, traceId: r.traceId, workflow: WF, status: "SUCCESS", recordedTrace: r.digests.trace, replayedTrace: r.digests.trace });
      }
    } finally {
      store.close();
    }
  });

  it("still refuses .., absolute paths, NUL and the data root itself", () => {
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      for (const path of ["a/../b", "../b", "/etc/passwd", "a\u0000b", ".", "./", "", "//"]) {
        const rec = { traceId: "t", tracePath: null, workflow: WF, traceDigest: "sha256:0" as never, trace: Buffer.alloc(0), effects: Buffer.alloc(0), priorFiles: [{ path, digest: null }], priorState: "sha256:0" as never };
        const e = cairnErrorOf(() => replayInTemp(store, rec, "cairn-audit-", () => {
          throw new Error("must not run");
        }));
        expect([e.code, e.message]).toEqual(["E_INVALID_INPUT", `Recorded run t names an unsafe path ${JSON.stringify(path)}`]);
      }
    } finally {
      store.close();
    }
  });
});

describe("3. module paths resolve from the declaration's real directory", () => {
  const mod = (out: string) => `export const capabilities = { echo: { outputs: ["${out}"], run: (i: { v?: unknown }) => ({ ${out}: i.v ?? null }) } };\n`;
  const decl = (modulePath: string): string =>
    stringify(baseDecl({ modules: { m: modulePath }, nodes: { start: { steps: [{ id: "s", ct: "m.echo", inputs: { v: "$.payload.v" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "bad" } } } } }));

  it("through a symlinked directory or a symlink to the file: the same bundle, sealed path and digest", async () => {
    // real/w.yaml names ../shared/m.ts; other/link → ../real, and other/shared/m.ts is another module
    // (the lexical resolution of other/link/../shared/m.ts).
    const root = writeTree({ "real/w.yaml": decl("../shared/m.ts"), "shared/m.ts": mod("a"), "other/shared/m.ts": mod("b"), "elsewhere/.keep": "" });
    writeFileSync(join(root, "real/abs.yaml"), decl(join(root, "real/mods/m.ts")));
    mkdirSync(join(root, "real/mods"));
    writeFileSync(join(root, "real/mods/m.ts"), mod("c"));
    symlinkSync("../real", join(root, "other/link"));
    symlinkSync("../real/w.yaml", join(root, "elsewhere/w.yaml"));
    const real = await compileWorkflows([join(root, "real/w.yaml")]);
    expect(real.diagnostics).toEqual([]);
    expect(Object.values(real.content!.modules).map((m) => m.capabilities)).toEqual([{ echo: { outputs: ["a"] } }]);
    for (const via of ["other/link/w.yaml", "elsewhere/w.yaml"]) {
      const r = await compileWorkflows([join(root, via)]);
      expect(r.diagnostics).toEqual([]);
      expect(r.digest).toBe(real.digest);
    }
    // An absolute module path is sealed relative to the declaration's real directory.
    const absReal = await compileWorkflows([join(root, "real/abs.yaml")]);
    const absLink = await compileWorkflows([join(root, "other/link/abs.yaml")]);
    expect(absReal.content!.workflows[WF]!.modules).toEqual({ m: { path: "./mods/m.ts", digest: Object.keys(absReal.content!.modules)[0] } });
    expect(absLink.digest).toBe(absReal.digest);
  });
});

describe("4. sealed constants: only safe integers become ints", () => {
  it("{const: 1e22} is the float a payload's 1e22 is: same hash, same inputs in the trace, float arithmetic", async () => {
    const decl = baseDecl({
      nodes: {
        start: {
          steps: [
            { id: "hc", ct: "hash", inputs: { value: { const: 1e22 } } },
            { id: "hp", ct: "hash", inputs: { value: "$.payload.x" } },
            { id: "add", ct: "add", inputs: { a: { const: 1e22 }, b: "$.payload.h" } },
            { id: "eq", ct: "equals", inputs: { a: { const: 1e22 }, b: "$.payload.x" } },
            { id: "int", ct: "add", inputs: { a: { const: 3 }, b: { const: 4 } } },
            { id: "big", ct: "add", inputs: { a: { const: 9007199254740991 }, b: { const: 1 } } },
          ],
          routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "bad" } },
        },
      },
    });
    const { snap, dir } = await prepared(decl);
    const r = runCairnWorkflow({ snapshot: snap, payload: parsePyJson('{"x": 1e22, "h": 0.5}') as PyObject, dataRoot: join(dir, "data"), baseDir: dir });
    expect([r.status, r.exit?.name]).toEqual(["SUCCESS", "OK"]);
    const steps = events(r).filter((e) => e.event_type === "CC_STEP");
    expect(steps.map((e) => [e.detail.step_id, e.result_status, e.detail.inputs])).toEqual([
      ["hc", "SUCCESS", { value: 1e22 }],
      ["hp", "SUCCESS", { value: 1e22 }],
      ["add", "SUCCESS", { a: 1e22, b: 0.5 }],
      ["eq", "SUCCESS", { a: 1e22, b: 1e22 }],
      ["int", "SUCCESS", { a: 3, b: 4 }],
      ["big", "SUCCESS", { a: 9007199254740991, b: 1 }],
    ]);
    expect(traceText(r)).toContain('"inputs":{"value":1e+22}');
    expect(traceText(r)).not.toContain("10000000000000000000000");
    // Safe integers stay ints: 2^53 − 1 + 1 is the int 9007199254740992.
    expect(r.surface.get("result")).toBe(9007199254740992n);
  });

  it("the hashes of {const: 1e22} and of a payload 1e22 are equal", async () => {
    const mk = (value: unknown) => baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "bad" } } } } });
    const a = await prepared(mk({ const: 1e22 }));
    const b = await prepared(mk("$.payload.x"));
    const ra = run(a.snap, {}, a.dir);
    const rb = runCairnWorkflow({ snapshot: b.snap, payload: parsePyJson('{"x": 1e22}') as PyObject, dataRoot: join(b.dir, "data"), baseDir: b.dir });
    expect([ra.status, rb.status]).toEqual(["SUCCESS", "SUCCESS"]);
    expect(ra.surface.get("digest")).toBe(rb.surface.get("digest"));
  });

  it("a lane payload template {const: 1e22} is the number 1e22, not a decimal string", () => {
    const lane = { payload: { object: { n: { const: 1e22 }, i: { const: 7 } } } } as unknown as SnapshotLaneBinding;
    expect(lanePayload(lane, new Map(), "here")).toEqual({ n: 1e22, i: 7 });
  });
});

describe("5. schema errors on member names name the member", () => {
  it("a node key, a store name and an input name off the grammar are each reported at the member", async () => {
    const start = (baseDecl().nodes as Decl).start;
    const k = await compileDecl(baseDecl({ nodes: { start, "b-c": start } }));
    const pattern = '"^[A-Za-z_][A-Za-z0-9_]*$"';
    expect(k.lines).toEqual([`${k.file}: node b-c: does not match the Cairn workflow schema: the name "b-c" must match pattern ${pattern} [E_COMPILE_SCHEMA]`]);
    const k2 = await compileDecl(baseDecl({
      stores: { "my-store": { kind: "registry", path: "r.jsonl", extra: 1 } },
      nodes: { start: { steps: [{ id: "s", ct: "hash", inputs: { "va-lue": "$.payload", other: "nope" } }], routes: { default: { exit: "B", reason: "b" } } } },
    }));
    expect(k2.lines).toEqual([
      `${k2.file}: stores.my-store: does not match the Cairn workflow schema: the name "my-store" must match pattern ${pattern}; unknown member "extra" [E_COMPILE_SCHEMA]`,
      `${k2.file}: node start: steps[0].inputs.va-lue: does not match the Cairn workflow schema: the name "va-lue" must match pattern ${pattern} [E_COMPILE_SCHEMA]`,
      `${k2.file}: node start: steps[0].inputs.other: does not match the Cairn workflow schema: must match pattern "^\\$\\.(payload|results|steps)([.\\[].*)?$"; must be object; must match exactly one schema in oneOf [E_COMPILE_SCHEMA]`,
    ]);
    const mods = await compileDecl(baseDecl({ modules: { "m-1": "./m.ts" } }));
    expect(mods.lines).toEqual([`${mods.file}: modules.m-1: does not match the Cairn workflow schema: the name "m-1" must match pattern ${pattern} [E_COMPILE_SCHEMA]`]);
  });
});

describe("6. a file named twice is compiled once", () => {
  it("two spellings, a directory and a file in it, a symlink in the directory: one workflow, the first spelling kept", async () => {
    const dir = writeTree({ "d/a.yaml": stringify(baseDecl()) });
    symlinkSync("a.yaml", join(dir, "d/b.yaml"));
    const a = join(dir, "d/a.yaml");
    expect(declarationFiles([a, `${dir}/d/./a.yaml`, `${dir}/d//a.yaml`])).toEqual([a]);
    expect(declarationFiles([join(dir, "d"), `${dir}/d/./a.yaml`])).toEqual([a]);
    expect(declarationFiles([`${dir}/d/./a.yaml`, join(dir, "d")])).toEqual([`${dir}/d/./a.yaml`]);
    for (const inputs of [[a, `${dir}/d/./a.yaml`], [join(dir, "d"), a], [join(dir, "d")]]) {
      const r = await compileWorkflows(inputs);
      expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
      expect(r.workflows).toEqual([{ fqdn: WF, file: a, nodes: 1 }]);
    }
    // Two distinct files declaring one workflow are still a duplicate.
    writeFileSync(join(dir, "d/c.yaml"), stringify(baseDecl()));
    const dup = await compileWorkflows([join(dir, "d")]);
    expect(dup.diagnostics.map(formatDiagnostic)).toEqual([`${join(dir, "d/c.yaml")}: code: workflow ${WF} is already declared in ${a} [E_COMPILE_DUPLICATE]`]);
  });
});

describe("7. constant CS inputs the runtime always refuses", () => {
  const stores = { reg: { kind: "registry", path: "s/reg.jsonl" }, log: { kind: "appendonly", path: "s/log.jsonl" }, mu: { kind: "mutable", path: "s/mu.json" } };
  const one = (step: Decl): Decl => baseDecl({ stores, nodes: { start: { steps: [step], routes: { default: { exit: "ANY", reason: "any" } } } } });

  it("each rule, named by file, node and field (E_COMPILE_SCHEMA)", async () => {
    const cases: Array<[Decl, string]> = [
      [{ id: "s", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k", value: { const: "not an object" } } },
        'steps[0].inputs.value: step s: reg REGISTER input value must be an object or null, and the constant "not an object" is a string: the registry aborts the run with an error (E_INVALID_INPUT) every time the step registers a new key'],
      [{ id: "s", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k", value: { array: ["$.payload"] } } },
        "steps[0].inputs.value: step s: reg REGISTER input value must be an object or null, and the {array: …} binding is a list: the registry aborts the run with an error (E_INVALID_INPUT) every time the step registers a new key"],
      [{ id: "s", cs: "reg", op: "REGISTER", inputs: { key: { const: [1, 2] } } },
        "steps[0].inputs.key: step s: reg REGISTER input key must be a scalar other than null (a string, number or boolean), and the constant [1,2] is a list: a list or object is unhashable, so the registry aborts the run with an error (E_INVALID_INPUT) every time the step runs"],
      [{ id: "s", cs: "reg", op: "REGISTER", inputs: { key: { object: { a: "$.payload.a" } } } },
        "steps[0].inputs.key: step s: reg REGISTER input key must be a scalar other than null (a string, number or boolean), and the {object: …} binding is an object: a list or object is unhashable, so the registry aborts the run with an error (E_INVALID_INPUT) every time the step runs"],
      [{ id: "s", cs: "mu", op: "READ", inputs: { key: { const: "  " } } },
        'steps[0].inputs.key: step s: mu READ input key must be a string with a non-whitespace character, and the constant "  " is a blank string: the store answers VIOLATION every time the step runs'],
      [{ id: "s", cs: "mu", op: "WRITE", inputs: { key: { const: 7 }, value: "$.payload" } },
        "steps[0].inputs.key: step s: mu WRITE input key must be a string with a non-whitespace character, and the constant 7 is an integer: the store answers VIOLATION every time the step runs"],
      [{ id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: { const: "1" }, end_sequence: "$.payload.e" } },
        'steps[0].inputs.start_sequence: step s: log GET_RANGE input start_sequence must be an integer, and the constant "1" is a string: the store answers VIOLATION every time the step runs'],
      [{ id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: { const: 1.5 }, end_sequence: { const: 3 } } },
        "steps[0].inputs.start_sequence: step s: log GET_RANGE input start_sequence must be an integer, and the constant 1.5 is a float: the store answers VIOLATION every time the step runs"],
      [{ id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: { const: 5 }, end_sequence: { const: 3 } } },
        "steps[0].inputs.end_sequence: step s: log GET_RANGE start_sequence 5 is greater than end_sequence 3: GET_RANGE needs start_sequence <= end_sequence, so the store answers VIOLATION every time the step runs"],
      [{ id: "s", cs: "log", op: "GET_SINCE", inputs: { timestamp: { const: 5 } } },
        "steps[0].inputs.timestamp: step s: log GET_SINCE input timestamp must be an ISO 8601 date-time string (as Python 3.11 datetime.fromisoformat reads it), and the constant 5 is an integer: the store answers VIOLATION every time the step runs"],
      [{ id: "s", cs: "log", op: "GET_SINCE", inputs: { timestamp: { const: "yesterday" } } },
        'steps[0].inputs.timestamp: step s: log GET_SINCE input timestamp must be an ISO 8601 date-time string (as Python 3.11 datetime.fromisoformat reads it), and the constant "yesterday" is a string that is not one: the store answers VIOLATION every time the step runs'],
    ];
    // A null key: VIOLATION on every Cairn run (run.ts NULL_REGISTRY_KEY), so a compile error.
    cases.push([
      { id: "s", cs: "reg", op: "REGISTER", inputs: { key: { const: null } } },
      "steps[0].inputs.key: step s: reg REGISTER input key must be a scalar other than null (a string, number or boolean), and the constant null is null: a Cairn REGISTER refuses a null key with VIOLATION every time the step runs (a null key is never indexed, so the registration would not be idempotent)",
    ]);
    for (const [step, message] of cases) {
      const { lines, file } = await compileDecl(one(step));
      expect(lines).toEqual([`${file}: node start: ${message} [E_COMPILE_SCHEMA]`]);
    }
  });

  it("values the runtime accepts, path bindings and lane-bound steps compile", async () => {
    const ok: Decl[] = [
      { id: "s", cs: "reg", op: "REGISTER", inputs: { key: { const: "k" }, value: { const: null } } },
      { id: "s", cs: "reg", op: "REGISTER", inputs: { key: { const: 1.5 }, value: { object: { a: "$.payload" } } } },
      { id: "s", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k", value: "$.payload.v" } },
      { id: "s", cs: "mu", op: "READ", inputs: { key: { const: "k" } } },
      { id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: { const: 3 }, end_sequence: { const: 3 } } },
      { id: "s", cs: "log", op: "GET_SINCE", inputs: { timestamp: { const: "2025-01-01" } } },
    ];
    for (const step of ok) expect((await compileDecl(one(step))).lines).toEqual([]);
    // A lane-bound step is implemented by its lane, not by the registry runtime.
    const lane = laneRegistryDecl("http://127.0.0.1:9/register", "declared-endpoint-weak");
    const reg = ((lane.nodes as Decl).reg as { steps: Array<{ inputs: Decl }> }).steps[0]!;
    reg.inputs = { key: "$.payload.name", value: { const: "not an object" } };
    expect((await compileDecl(lane)).lines).toEqual([]);
  });

  it("the runtime does what the diagnostics say (the same values through the payload)", async () => {
    const decl = baseDecl({
      stores,
      nodes: {
        start: { steps: [{ id: "s", cs: "reg", op: "REGISTER", inputs: { key: "$.payload.k", value: "$.payload.v" } }], routes: { default: { exit: "ANY", reason: "any" } } },
      },
    });
    const { snap, dir } = await prepared(decl);
    expect(run(snap, { k: "a", v: "not an object" }, dir).error).toMatchObject({ code: "E_INVALID_INPUT", message: "CS_REGISTRY_V0 REGISTER: value must be an object or null" });
    expect(run(snap, { k: [1, 2], v: null }, dir).error).toMatchObject({ code: "E_INVALID_INPUT", message: "CS_REGISTRY_V0 REGISTER: key must be a scalar, got an array (unhashable)" });
    const range = await prepared(one({ id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: "$.payload.s", end_sequence: "$.payload.e" } }));
    expect(run(range.snap, { s: 5, e: 3 }, range.dir).path[0]!.status).toBe("VIOLATION");
    const mu = await prepared(one({ id: "s", cs: "mu", op: "READ", inputs: { key: "$.payload.k" } }));
    expect(run(mu.snap, { k: "  " }, mu.dir).path[0]!.status).toBe("VIOLATION");
  });
});

describe("8. binding a CS step's message", () => {
  const stores = { reg: { kind: "registry", path: "s/reg.jsonl" }, log: { kind: "appendonly", path: "s/log.jsonl" } };
  const useMessage = (from: string): Decl => ({ steps: [{ id: "u", ct: "hash", inputs: { value: from } }], routes: { SUCCESS: { exit: "LOGGED", reason: "logged" }, VIOLATION: { exit: "LOGGED", reason: "logged" } } });

  it("$.results.<node>.message binds in a node reached only on outcomes that carry it; the run gets the message", async () => {
    const decl = baseDecl({
      entry: "a",
      stores,
      nodes: {
        a: { steps: [{ id: "s", cs: "log", op: "GET_RANGE", inputs: { start_sequence: "$.payload.s", end_sequence: "$.payload.e" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: "b", BACKEND_ERROR: "b" } },
        b: useMessage("$.results.a.message"),
      },
    });
    const { snap, dir } = await prepared(decl);
    const r = run(snap, { s: 5, e: 3 }, dir);
    expect(r.path.map((p) => [p.node, p.status])).toEqual([[`${WF}::a`, "VIOLATION"], [`${WF}::b`, "SUCCESS"]]);
    expect(stepInputs(r, "b", "u")).toEqual({ value: "GET_RANGE needs integers start_sequence <= end_sequence" });
    // A registry's BACKEND_ERROR (its VIOLATION carries no message: routed elsewhere).
    const reg = baseDecl({
      entry: "a",
      stores,
      nodes: {
        a: { steps: [{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: "$.payload.k" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, NOT_FOUND: { exit: "NF", reason: "nf" }, VIOLATION: { exit: "V", reason: "v" }, BACKEND_ERROR: "b" } },
        b: useMessage("$.results.a.message"),
      },
    });
    const p = await prepared(reg);
    mkdirSync(join(p.dir, "data/s"), { recursive: true });
    writeFileSync(join(p.dir, "data/s/reg.jsonl"), "not json\n");
    const rr = run(p.snap, { k: "x" }, p.dir);
    expect(rr.path.map((x) => x.status)).toEqual(["BACKEND_ERROR", "SUCCESS"]);
    expect(stepInputs(rr, "b", "u")).toEqual({ value: expect.stringMatching(/^"s\/reg\.jsonl" line 1: /) as unknown });
  });

  it("refused where another outcome also reaches the node, and where no outcome carries it", async () => {
    // The audit's repro: `default: b` also routes RESOLVE's VIOLATION (no message) to b.
    const audit = await compileDecl(baseDecl({
      entry: "a",
      stores,
      nodes: {
        a: { steps: [{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: "$.payload.k" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, NOT_FOUND: { exit: "NF", reason: "nf" }, default: "b" } },
        b: useMessage("$.results.a.message"),
      },
    }));
    expect(audit.lines).toEqual([
      `${audit.file}: node b: steps[0].inputs.value: $.results.a.message is not always bound: node a's result carries "message" only when it ends with BACKEND_ERROR (the error of a CS step), and node b is also reached after node a ends with VIOLATION (routes.default) [E_COMPILE_UNBOUND_INPUT]`,
    ]);
    // Reached after SUCCESS through another node, without running a again.
    const via = await compileDecl(baseDecl({
      entry: "a",
      stores,
      nodes: {
        a: { steps: [{ id: "s", cs: "log", op: "GET_ALL", inputs: {} }], routes: { SUCCESS: "c", BACKEND_ERROR: "b" } },
        c: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { default: "b" } },
        b: useMessage("$.results.a.message"),
      },
    }));
    expect(via.lines).toEqual([
      `${via.file}: node b: steps[0].inputs.value: $.results.a.message is not always bound: node a's result carries "message" only when it ends with BACKEND_ERROR (the error of a CS step), and node b is also reached after node a ends with SUCCESS (routes.SUCCESS) [E_COMPILE_UNBOUND_INPUT]`,
    ]);
    // A CT node has no message at all: the message is unchanged.
    const ct = await compileDecl(baseDecl({
      entry: "a",
      nodes: { a: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: "b" } }, b: useMessage("$.results.a.message") },
    }));
    expect(ct.lines).toEqual([`${ct.file}: node b: steps[0].inputs.value: $.results.a.message is bound to nothing: node a has no result field "message" (its fields: digest) [E_COMPILE_UNBOUND_INPUT]`]);
    // A lane-bound CS step: the lane's answer need not carry a message.
    const lane = laneRegistryDecl("http://127.0.0.1:9/register", "declared-endpoint-weak", { SUCCESS: { exit: "OK", reason: "ok" }, ALREADY_EXISTS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "V", reason: "v" }, BACKEND_ERROR: "b" });
    (lane.nodes as Record<string, Decl>).b = useMessage("$.results.reg.message");
    const l = await compileDecl(lane);
    expect(l.lines).toEqual([`${l.file}: node b: steps[0].inputs.value: $.results.reg.message is bound to nothing: node reg has no result field "message" (its fields: address) [E_COMPILE_UNBOUND_INPUT]`]);
  });

  it("$.steps.<step>.message binds in a later step only when every outcome that continues carries it", async () => {
    const node = (onResult: Decl | undefined): Decl => baseDecl({
      stores,
      nodes: {
        start: {
          steps: [{ id: "g", cs: "log", op: "GET_ALL", inputs: {}, ...(onResult === undefined ? {} : { on_result: onResult }) }, { id: "u", ct: "hash", inputs: { value: "$.steps.g.message" } }],
          routes: { default: { exit: "ANY", reason: "any" } },
        },
      },
    });
    const ok = await prepared(node({ SUCCESS: "exit", BACKEND_ERROR: "continue" }));
    mkdirSync(join(ok.dir, "data/s"), { recursive: true });
    writeFileSync(join(ok.dir, "data/s/log.jsonl"), "not json\n");
    const r = run(ok.snap, {}, ok.dir);
    expect(r.path[0]!.status).toBe("SUCCESS");
    expect(stepInputs(r, "start", "u")).toEqual({ value: expect.stringMatching(/^"s\/log\.jsonl" line 1: /) as unknown });
    const exits = await compileDecl(node(undefined));
    expect(exits.lines).toEqual([`${exits.file}: node start: steps[1].inputs.value: $.steps.g.message is bound to nothing: step g's result carries "message" only when it ends with BACKEND_ERROR, which exits the node (on_result), so step u never runs after it [E_COMPILE_UNBOUND_INPUT]`]);
    const both = await compileDecl(node({ BACKEND_ERROR: "continue" }));
    expect(both.lines).toEqual([`${both.file}: node start: steps[1].inputs.value: $.steps.g.message is not always bound: step g's result carries "message" only when it ends with BACKEND_ERROR, and step u also runs after it ends with SUCCESS (on_result SUCCESS: continue, the default) [E_COMPILE_UNBOUND_INPUT]`]);
    // Every outcome of g exits the node: u never runs, so its binding is refused too.
    const never = await compileDecl(node({ SUCCESS: "exit", BACKEND_ERROR: "exit" }));
    expect(never.lines).toEqual([
      `${never.file}: node start: steps[1]: step u never runs: step g (log GET_ALL) exits the node with every outcome it can end with (on_result SUCCESS: exit; on_result BACKEND_ERROR: exit); remove the steps after it or let one of its outcomes continue [E_COMPILE_UNREACHABLE_STEP]`,
      `${never.file}: node start: steps[1].inputs.value: $.steps.g.message is bound to nothing: step g exits the node with every outcome it can end with (on_result SUCCESS: exit; on_result BACKEND_ERROR: exit), so step u never runs after it [E_COMPILE_UNBOUND_INPUT]`,
    ]);
  });

  it("one per-outcome rule for declared fields and `message`: an earlier step that always leaves the message binds it at the node's end", async () => {
    // Step g continues only on BACKEND_ERROR (which carries the message), so every way node a
    // ends after step e has g's message in its result; a VIOLATION of a comes only from e.
    const nodeA = (bind: string): Decl => baseDecl({
      entry: "a",
      stores,
      nodes: {
        a: {
          steps: [
            { id: "g", cs: "log", op: "GET_ALL", inputs: {}, on_result: { SUCCESS: "exit", BACKEND_ERROR: "continue" } },
            { id: "e", ct: "div", inputs: { a: { const: 1 }, b: "$.payload.x" } },
          ],
          routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: "b" },
        },
        b: useMessage(bind),
      },
    });
    const { snap, dir } = await prepared(nodeA("$.results.a.message"));
    mkdirSync(join(dir, "data/s"), { recursive: true });
    writeFileSync(join(dir, "data/s/log.jsonl"), "not json\n");
    const r = run(snap, { x: 0 }, dir);
    expect(r.path.map((p) => [p.node, p.status])).toEqual([[`${WF}::a`, "VIOLATION"], [`${WF}::b`, "SUCCESS"]]);
    expect(stepInputs(r, "b", "u")).toEqual({ value: expect.stringMatching(/^"s\/log\.jsonl" line 1: /) as unknown });
    // The same node, reached also on SUCCESS (which step g can end it with, without a message): refused as before.
    const decl = nodeA("$.results.a.message");
    ((decl.nodes as Record<string, Decl>).a as Decl).routes = { default: "b" };
    const refused = await compileDecl(decl);
    expect(refused.lines).toEqual([
      `${refused.file}: node b: steps[0].inputs.value: $.results.a.message is not always bound: node a's result carries "message" only when it ends with VIOLATION (the error of a CS step), and node b is also reached after node a ends with SUCCESS (routes.default) [E_COMPILE_UNBOUND_INPUT]`,
    ]);
  });
});
