/** The Cairn snapshot runtime: routing by outcome, execution ≠ effect, hop limit, user CTs, determinism, store, examine. */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { CAIRN_GENERAL_ATOMS, GENERAL_ATOMS_MODULE } from "../../src/workflow/atoms/general.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { CAIRN_MAX_HOPS } from "../../src/workflow/cairn/model.js";
import { prepareSnapshot, runCairnWorkflow } from "../../src/workflow/cairn/run.js";
import { loadSnapshotFromStore, sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { USER_CT_LOGICAL_TIME_MS } from "../../src/workflow/cairn/usercts.js";
import { examineTrace } from "../../src/workflow/examine/index.js";
import { verifyTraceChain } from "../../src/workflow/pgs/trace.js";
import { parsePyJson } from "../../src/workflow/py/json-parse.js";
import { toPlain } from "../../src/workflow/pgs/value.js";
import { baseDecl, compileDecl, EXAMPLES, payload, prepared, run, tempDir, traceText } from "./cairn-fixture.js";

type Decl = Record<string, unknown>;
const OUTCOMES = ["SUCCESS", "ALREADY_EXISTS", "VIOLATION", "NOT_FOUND", "BACKEND_ERROR"] as const;

/**
 * A workflow whose `probe` node runs `steps`, routing every outcome it can end with to its own
 * node `got_<OUTCOME>` (a route for an outcome it cannot end with is a compile error).
 */
async function probe(steps: Decl[]): Promise<Decl> {
  const stores = { reg: { kind: "registry", path: "s/reg.jsonl" }, log: { kind: "appendonly", path: "s/log.jsonl" } };
  const first = await compileDecl(baseDecl({ entry: "probe", stores, nodes: { probe: { steps, routes: { default: { exit: "ANY", reason: "any" } } } } }));
  const can = Object.values(first.r.content!.workflows)[0]!.nodes.probe!.outcomes;
  const nodes: Record<string, Decl> = {
    probe: { steps, routes: Object.fromEntries(can.map((o) => [o, `got_${o}`])) },
  };
  for (const o of can) {
    nodes[`got_${o}`] = { steps: [{ id: "h", ct: "hash", inputs: { value: { const: o } } }], routes: { default: { exit: `GOT_${o}`, reason: `probe ended with ${o}` } } };
  }
  return baseDecl({ entry: "probe", stores, nodes });
}

describe("routing by every outcome", () => {
  const cases: Record<(typeof OUTCOMES)[number], { steps: Decl[]; seed?: Record<string, string> }> = {
    SUCCESS: { steps: [{ id: "s", ct: "hash", inputs: { value: "$.payload" } }] },
    VIOLATION: { steps: [{ id: "s", ct: "json_schema_validate", inputs: { schema: { const: { type: "string" } }, value: "$.payload" } }] },
    ALREADY_EXISTS: {
      steps: [
        { id: "a", cs: "reg", op: "REGISTER", inputs: { key: { const: "k" } } },
        { id: "b", cs: "reg", op: "REGISTER", inputs: { key: { const: "k" } } },
      ],
    },
    NOT_FOUND: { steps: [{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: { const: "nobody" } } }] },
    BACKEND_ERROR: { steps: [{ id: "s", cs: "log", op: "GET_ALL", inputs: {} }], seed: { "s/log.jsonl": "this is not json\n" } },
  };
  for (const o of OUTCOMES) {
    it(`${o} takes its route`, async () => {
      const c = cases[o];
      const { snap, dir } = await prepared(await probe(c.steps));
      for (const [p, text] of Object.entries(c.seed ?? {})) {
        mkdirSync(join(dir, "data", p, ".."), { recursive: true });
        writeFileSync(join(dir, "data", p), text);
      }
      const r = run(snap, { x: 1 }, dir);
      expect(r.error).toBeNull();
      expect(r.path.map((p) => [p.node.split("::").pop(), p.status])).toEqual([["probe", o], [`got_${o}`, "SUCCESS"]]);
      expect(r.exit).toEqual({ name: `GOT_${o}`, reason: `probe ended with ${o}` });
      expect(r.status).toBe("SUCCESS");
      const lines = traceText(r).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.event_type)).toEqual(["WF_START", "CC_START", ...c.steps.map(() => "CC_STEP"), "CC_COMPLETE", "CC_START", "CC_STEP", "CC_COMPLETE", "WF_COMPLETE"]);
      expect(lines[lines.length - 1]).toMatchObject({ result_status: "SUCCESS", detail: { exit: `GOT_${o}` } });
      expect(verifyTraceChain(join(r.traceDirAbs, `${r.traceId}.jsonl`)).ok).toBe(true);
    });
  }

  it("on_result: exit stops the pipeline, continue goes on", async () => {
    const steps: Decl[] = [
      { id: "v", ct: "json_schema_validate", inputs: { schema: { const: { type: "string" } }, value: "$.payload" } },
      { id: "h", ct: "hash", inputs: { value: "$.payload" } },
    ];
    const { snap, dir } = await prepared(await probe(steps));
    const r = run(snap, { x: 1 }, dir);
    expect(r.path[0]).toMatchObject({ status: "VIOLATION" });
    expect(r.violations).toHaveLength(1);
    const cont = structuredClone(steps);
    cont[0]!.on_result = { VIOLATION: "continue" };
    const p2 = await prepared(await probe(cont));
    const r2 = run(p2.snap, { x: 1 }, p2.dir);
    expect(r2.path[0]).toMatchObject({ status: "SUCCESS" });
    expect(r2.surface.get("digest")).toBeDefined();
  });
});

describe("execution ≠ effect: the example registration flow", () => {
  it("registers once, then ALREADY_EXISTS is routed to a successful end without new effects", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "x"));
    const dir = tempDir();
    const p = parsePyJson(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Map<string, never>;
    const first = runCairnWorkflow({ snapshot: snap, payload: p, dataRoot: join(dir, "data"), baseDir: dir });
    expect([first.status, first.exitCode, first.exit?.name]).toEqual(["SUCCESS", 0, "REGISTERED"]);
    expect(first.effects.map((e) => `${e.op}=${e.status}`)).toEqual(["REGISTER=SUCCESS", "WRITE=SUCCESS", "APPEND=SUCCESS"]);
    const profiles = JSON.parse(readFileSync(join(dir, "data/registry/profiles.json"), "utf8")) as Record<string, { owner_domain: string; address: string }>;
    const [id, prof] = Object.entries(profiles)[0]!;
    expect(id).toMatch(/^AGENT_[0-9a-f]{16}$/);
    expect(prof.owner_domain).toBe("example.com");
    expect(prof.address).toMatch(/^ADDR_[0-9a-f]{32}$/);
    const second = runCairnWorkflow({ snapshot: snap, payload: p, dataRoot: join(dir, "data"), baseDir: dir });
    expect([second.status, second.exitCode, second.exit?.name]).toEqual(["ALREADY_EXISTS", 0, "ALREADY_REGISTERED"]);
    expect(second.digests.posteriorState).toBe(second.digests.priorState);
    expect(second.traceId).not.toBe(first.traceId);
    expect(readFileSync(join(dir, "data/registry/audit.jsonl"), "utf8").trim().split("\n")).toHaveLength(1);
    const ex = examineTrace(join(second.traceDirAbs, `${second.traceId}.jsonl`));
    expect([ex.outcome.class, ex.exitCode, ex.chain.ok]).toEqual(["success", 0, true]);
  });

  it("is byte-identical in two fresh directories (trace, summary, data files)", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const bytes = sealedFileBytes(c.content!).bytes;
    const p = payload(JSON.parse(readFileSync(join(EXAMPLES, "payloads/register-ok.json"), "utf8")) as Record<string, unknown>);
    const outs = [tempDir(), tempDir()].map((dir) => {
      const r = runCairnWorkflow({ snapshot: prepareSnapshot(verifySealedBytes(bytes, "x")), payload: p, dataRoot: join(dir, "data"), baseDir: dir });
      return { r, trace: traceText(r), md: readFileSync(join(r.traceDirAbs, `${r.traceId}.md`), "utf8"), audit: readFileSync(join(dir, "data/registry/audit.jsonl")) };
    });
    expect(outs[0]!.r.traceId).toBe(outs[1]!.r.traceId);
    expect(outs[0]!.trace).toBe(outs[1]!.trace);
    expect(outs[0]!.md).toBe(outs[1]!.md);
    expect(outs[0]!.audit.equals(outs[1]!.audit)).toBe(true);
    expect(outs[0]!.trace).not.toContain("/tmp");
  });

  it("a VIOLATION from a CT routed to a declared exit is a business violation for examine", async () => {
    const c = await compileWorkflows([EXAMPLES]);
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c.content!).bytes, "x"));
    const dir = tempDir();
    const r = run(snap, { agent_name: "ledger-bot", owner_email: "nobody", scopes: ["read"] }, dir);
    expect([r.status, r.exitCode, r.exit?.name]).toEqual(["VIOLATION", 1, "REJECTED"]);
    expect(r.violations[0]).toMatchObject({ step: "owner", kind: "CT", reason: 'Atom raised exception: agent.normalize_owner: not an email address: "nobody"' });
    const ex = examineTrace(r.traceDirAbs);
    expect([ex.outcome.class, ex.exitCode]).toEqual(["business_violation", 0]);
    expect(existsSync(join(dir, "data/registry/agents.jsonl"))).toBe(false);
  });
});

describe("limits", () => {
  const loop = (extra: { a?: Decl; b?: Decl; top?: Decl }): Decl =>
    baseDecl({
      entry: "a",
      ...extra.top,
      nodes: {
        a: { steps: [{ id: "e", ct: "equals", inputs: { a: { const: 1 }, b: { const: 1 } } }], routes: { SUCCESS: "b", VIOLATION: { exit: "X", reason: "x" } }, ...extra.a },
        b: { steps: [{ id: "e", ct: "equals", inputs: { a: { const: 1 }, b: { const: 1 } } }], routes: { SUCCESS: "a", VIOLATION: { exit: "X", reason: "x" } }, ...extra.b },
      },
    });

  it(`the hop limit (CAIRN_MAX_HOPS = ${CAIRN_MAX_HOPS}) fails the run with E_LIMIT_EXCEEDED`, async () => {
    const { snap, dir } = await prepared(loop({ a: { max_visits: 64 }, b: { max_visits: 64 } }));
    const r = run(snap, {}, dir);
    expect(r.status).toBe("ERROR");
    expect(r.exitCode).toBe(1);
    expect(r.path).toHaveLength(CAIRN_MAX_HOPS);
    expect(r.error).toMatchObject({ code: "E_LIMIT_EXCEEDED" });
    expect(r.error?.message).toContain(`exceeded ${CAIRN_MAX_HOPS} topology hops (hop limit)`);
    const last = JSON.parse(traceText(r).trim().split("\n").pop()!) as { event_type: string };
    expect(last.event_type).toBe("ERROR");
    const ex = examineTrace(r.traceDirAbs);
    expect([ex.outcome.class, ex.exitCode]).toEqual(["graph_structure_error", 1]);
  });

  it("a declared max_hops and a declared max_visits are enforced", async () => {
    const h = await prepared(loop({ a: { max_visits: 64 }, top: { max_hops: 5 } }));
    const r = run(h.snap, {}, h.dir);
    expect(r.path).toHaveLength(5);
    expect(r.error?.message).toContain("exceeded 5 topology hops");
    const v = await prepared(loop({ a: { max_visits: 2 } }));
    const r2 = run(v.snap, {}, v.dir);
    expect(r2.path.map((p) => p.node.split("::").pop())).toEqual(["a", "b", "a", "b"]);
    expect(r2.error).toMatchObject({ code: "E_LIMIT_EXCEEDED" });
    expect(r2.error?.message).toContain("its declared bound is max_visits 2");
  });
});

const CAPS = `
let calls = 0;
export const capabilities = {
  probe: {
    outputs: ["now", "iso", "called", "rand", "rand2", "globals", "echo", "big"],
    run(input: { x?: unknown; big?: number }) {
      calls++;
      const g = [typeof process, typeof require, typeof setTimeout, typeof fetch, typeof crypto, typeof Buffer, typeof console].join(",");
      return { now: Date.now(), iso: new Date().toISOString(), called: calls, rand: Math.random(), rand2: Math.random(), globals: g, echo: input.x ?? null, big: input.big ?? null };
    },
  },
  boom: { outputs: [], run(): never { throw new Error("no way"); } },
  later: { outputs: [], run: async () => ({}) },
  spin: { outputs: [], run() { for (;;) { /* forever */ } } },
  sneaky: { outputs: [], run() { void Promise.resolve().then(() => { for (;;) { /* forever, after returning */ } }); return {}; } },
};
`;

function userDecl(steps: Decl[]): Decl {
  return baseDecl({
    modules: { caps: "./caps.ts" },
    nodes: { start: { steps, routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "NO", reason: "the CT said no" } } } },
  });
}

describe("user CTs", () => {
  it("run deterministically: logical time, seeded Math.random per step, no host globals, no state between calls", async () => {
    const steps = [
      { id: "p1", ct: "caps.probe", inputs: { x: "$.payload.x", big: { const: 12345678901 } } },
      { id: "p2", ct: "caps.probe", inputs: { x: "$.steps.p1.echo" } },
      { id: "p3", ct: "caps.probe", inputs: { x: "$.steps.p1.rand" } },
    ];
    const a = await prepared(userDecl(steps), { "caps.ts": CAPS });
    const r = run(a.snap, { x: "hello" }, a.dir);
    expect(r.status).toBe("SUCCESS");
    const line = traceText(r).split("\n").find((l) => l.includes('"step_id":"p1"'))!;
    expect(line).toBeDefined();
    const p1 = toPlain(r.surface) as Record<string, unknown>; // the last step's result
    expect(p1.now).toBe(USER_CT_LOGICAL_TIME_MS);
    expect(p1.iso).toBe("2025-01-01T00:00:00.000Z");
    expect(p1.called).toBe(1); // a fresh context per call: module state does not survive
    // V8 gives every context a `console` whose methods print nothing (no inspector attached)
    expect(p1.globals).toBe("undefined,undefined,undefined,undefined,undefined,undefined,object");
    // two steps draw different streams; the same run draws the same ones
    const b = await prepared(userDecl(steps), { "caps.ts": CAPS });
    const r2 = run(b.snap, { x: "hello" }, b.dir);
    expect(traceText(r2)).toBe(traceText(r));
    const events = traceText(r).trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; detail: Record<string, unknown> });
    expect(events.filter((e) => e.event_type === "CC_STEP").map((e) => e.detail.step_fqdn)).toEqual(["caps.probe", "caps.probe", "caps.probe"]);
    expect((events.find((e) => e.detail.step_id === "p2")?.detail.inputs as { x?: unknown }).x).toBe("hello");
    // the surface is p3's result: its own first draw, and p1's first draw as `echo`
    const p3 = r.surface.get("rand");
    const p1Draw = r.surface.get("echo");
    expect(typeof p3).toBe("number");
    expect(typeof p1Draw).toBe("number");
    expect(p3).not.toBe(p1Draw); // two steps draw different streams
    expect(p3).not.toBe(r.surface.get("rand2")); // one stream gives different draws
  });

  it("a CT that throws yields VIOLATION; a promise or a time-out is not a result", async () => {
    const t = await prepared(userDecl([{ id: "b", ct: "caps.boom", inputs: {} }]), { "caps.ts": CAPS });
    const r = run(t.snap, {}, t.dir);
    expect([r.status, r.exit?.name, r.error]).toEqual(["VIOLATION", "NO", null]);
    expect(r.violations).toEqual([{ cc: "test::WF_TEST_V0::start", step: "b", kind: "CT", reason: "Atom raised exception: caps.boom: no way" }]);
    const p = await prepared(userDecl([{ id: "l", ct: "caps.later", inputs: {} }]), { "caps.ts": CAPS });
    const r2 = run(p.snap, {}, p.dir);
    expect(r2.status).toBe("VIOLATION");
    expect(r2.violations[0]?.reason).toBe("user CT caps.later broke its contract: user CTs must be synchronous: later returned a promise");
    const s = await prepared(userDecl([{ id: "s", ct: "caps.spin", inputs: {} }]), { "caps.ts": CAPS });
    const r3 = run(s.snap, {}, s.dir);
    expect(r3.status).toBe("ERROR");
    expect(r3.error).toMatchObject({ code: "E_LIMIT_EXCEEDED", cc: "test::WF_TEST_V0::start", step: "s" });
    // a promise job queued by the CT runs inside the call's time bound, not later on the host
    const q = await prepared(userDecl([{ id: "q", ct: "caps.sneaky", inputs: {} }]), { "caps.ts": CAPS });
    const r4 = run(q.snap, {}, q.dir);
    expect(r4.error).toMatchObject({ code: "E_LIMIT_EXCEEDED", step: "q" });
  });

  it("a built-in atom that throws yields VIOLATION too", async () => {
    // The divisor comes from the payload: a constant zero is a compile error (cairn-compile-constants).
    const d = userDecl([{ id: "d", ct: "div", inputs: { a: { const: 1 }, b: "$.payload.b" } }]);
    delete d.modules;
    const { snap, dir } = await prepared(d);
    const r = run(snap, { b: 0 }, dir);
    expect(r.status).toBe("VIOLATION");
    expect(r.violations[0]?.reason).toBe("Atom raised exception: cairn::CAIRN_DIV_V0: division by zero");
  });
});

describe("json_schema_validate is ajv", () => {
  const atom = CAIRN_GENERAL_ATOMS[`${GENERAL_ATOMS_MODULE}:json_schema_validate`]!;
  const call = (schema: unknown, value: unknown) => atom.execute(payload({ schema, value }));
  it("validates draft-07 keywords and reports the first issue", () => {
    const schema = { type: "object", required: ["n"], properties: { n: { type: "integer", minimum: 1 }, tags: { type: "array", uniqueItems: true } }, additionalProperties: false };
    expect(toPlain(call(schema, { n: 3, tags: ["a", "b"] }))).toEqual({ valid: true });
    expect(() => call(schema, { n: 0 })).toThrow(/at '\/n': must be >= 1/);
    expect(() => call(schema, { n: 1, tags: ["a", "a"] })).toThrow(/must NOT have duplicate items/);
    expect(() => call(schema, { n: 1, extra: 1 })).toThrow(/must NOT have additional properties/);
    expect(() => call({ type: "widget" }, 1)).toThrow(/invalid schema/);
    expect(() => call({ unknownKeyword: 1 }, 1)).toThrow(/invalid schema: strict mode: unknown keyword/);
  });
});

describe("path confinement", () => {
  it("a store file reached through a symlink out of the data root aborts the run with E_PATH_CONFINEMENT", async () => {
    const { snap, dir } = await prepared(await probe([{ id: "s", cs: "reg", op: "RESOLVE", inputs: { key_or_address: { const: "k" } } }]));
    const outside = tempDir();
    mkdirSync(join(dir, "data"), { recursive: true });
    symlinkSync(outside, join(dir, "data", "s"));
    const r = run(snap, {}, dir);
    expect(r.status).toBe("ERROR");
    expect(r.error).toMatchObject({ code: "E_PATH_CONFINEMENT", cc: "test::WF_TEST_V0::probe", step: "s" });
    expect(r.error?.message).not.toContain(dir);
    expect(existsSync(join(outside, "reg.jsonl"))).toBe(false);
  });
});

describe("store recording", () => {
  it("records the run with the snapshot as program, and the snapshot loads back by digest", async () => {
    const { snap, dir } = await prepared(await probe([{ id: "s", ct: "hash", inputs: { value: "$.payload" } }]));
    const store = openStore({ dir: join(dir, "store") });
    try {
      const r = run(snap, { x: 1 }, dir, { store });
      expect(r.recorded?.snapshot).toBe(snap.digest);
      expect(store.findRoot(`cairn-wf:${r.traceId}`)?.digest).toBe(r.recorded?.trace);
      expect(store.findRoot(`cairn-wf-snapshot:${snap.digest}`)?.digest).toBe(snap.digest);
      const back = loadSnapshotFromStore(store, snap.digest);
      expect(back.digest).toBe(snap.digest);
      expect(Buffer.from(store.get(r.recorded!.trace)).toString("utf8")).toBe(traceText(r));
    } finally {
      store.close();
    }
  });
});
