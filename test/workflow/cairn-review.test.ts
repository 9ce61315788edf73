/** Runtime contracts: trace ids of key orders, hop-limit fallback and snapshot structure, lane-bound replay, declared outputs. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/store.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import { prepareSnapshot, runCairnCore } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import type { SnapshotContent } from "../../src/workflow/cairn/model.js";
import { parsePyJson } from "../../src/workflow/py/json-parse.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { baseDecl, compileDecl, laneRegistryDecl, prepared, run, tempDir, traceText } from "./cairn-fixture.js";
import { cairnErrorOf } from "./pgs-fixture.js";

const errorOf = cairnErrorOf;

describe("trace ids follow the recorded payload bytes", () => {
  it("two key orders of one object are two runs (two ids, two traces), each replayable", async () => {
    const { snap, dir } = await prepared(baseDecl());
    const store = openStore({ dir: join(dir, "store"), create: true });
    let ids: string[];
    try {
      const r1 = runOrder(snap, '{"a":1,"b":2}', dir, store);
      const r2 = runOrder(snap, '{"b":2,"a":1}', dir, store);
      ids = [r1.traceId, r2.traceId];
      expect(r1.traceId).not.toBe(r2.traceId);
      expect(traceText(r1)).toContain('"payload_keys":["a","b"]');
      expect(traceText(r2)).toContain('"payload_keys":["b","a"]');
      expect(r1.digests.payload).toBe(r1.recorded?.payload);
    } finally {
      store.close();
    }
    const ro = openStore({ dir: join(dir, "store"), readOnly: true });
    try {
      for (const id of ids) expect(replayCairnRun(ro, id).identical).toBe(true);
    } finally {
      ro.close();
    }
  });
});

function runOrder(snap: Parameters<typeof run>[0], json: string, dir: string, store: ReturnType<typeof openStore>) {
  const p = parsePyJson(json) as PyObject;
  const g = runCairnCore({ snapshot: snap, payload: p, dataRoot: join(dir, "data"), baseDir: dir, store });
  const n = g.next();
  if (n.done !== true) throw new Error("unexpected lane step");
  return n.value;
}

/** a ⇄ b, a bounded by max_visits 64: only the hop limit (64) stops it before a's 65th visit. */
function loopDecl(): Record<string, unknown> {
  const step = [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }];
  return baseDecl({
    entry: "a",
    nodes: {
      a: { max_visits: 64, steps: step, routes: { SUCCESS: "b", VIOLATION: { exit: "BAD", reason: "bad" } } },
      b: { steps: step, routes: { SUCCESS: "a", VIOLATION: { exit: "BAD", reason: "bad" } } },
    },
  });
}

describe("sealed content the compiler did not write", () => {
  async function content(decl: unknown): Promise<{ c: SnapshotContent; dir: string }> {
    const { r, dir } = await compileDecl(decl);
    return { c: JSON.parse(JSON.stringify(r.content)) as SnapshotContent, dir };
  }
  const wfOf = (c: SnapshotContent) => Object.values(c.workflows)[0] as unknown as Record<string, unknown>;

  it("a workflow without maxHops (re-sealed) still stops at CAIRN_MAX_HOPS", async () => {
    const { c, dir } = await content(loopDecl());
    delete wfOf(c).maxHops;
    const snap = prepareSnapshot(verifySealedBytes(sealedFileBytes(c).bytes, "resealed"));
    const r = run(snap, {}, dir);
    expect(r.error).toMatchObject({ code: "E_LIMIT_EXCEEDED" });
    expect(r.error?.message).toContain("exceeded 64 topology hops");
    expect(r.path).toHaveLength(64);
  });

  it("a workflow with an out-of-range maxHops falls back to CAIRN_MAX_HOPS", async () => {
    const { c, dir } = await content(loopDecl());
    wfOf(c).maxHops = 0;
    const r = run(prepareSnapshot(verifySealedBytes(sealedFileBytes(c).bytes, "resealed")), {}, dir);
    expect(r.error?.message).toContain("exceeded 64 topology hops");
  });

  it("malformed content is refused at load with E_SNAPSHOT_INTEGRITY (structure), naming the member", async () => {
    const cases: Array<[(w: Record<string, unknown>, c: SnapshotContent) => void, RegExp]> = [
      [(w) => { (w.nodes as Record<string, Record<string, unknown>>).start!.steps = "x"; }, /nodes\.start\.steps is not a list/],
      [(w) => { w.entry = "nowhere"; }, /entry names no node/],
      [(w) => { ((w.nodes as Record<string, Record<string, unknown>>).start!.routes as Record<string, unknown>).SUCCESS = { node: "ghost" }; }, /routes\.SUCCESS names no node/],
      [(w) => { ((w.nodes as Record<string, { steps: Array<Record<string, unknown>> }>).start!.steps[0]!).inputs = { value: { bind: 3 } }; }, /inputs\.value\.bind is not a binding path/],
      [(w) => { delete w.stores; }, /stores is not an object/],
    ];
    for (const [mutate, msg] of cases) {
      const { c } = await content(baseDecl());
      mutate(wfOf(c), c);
      const e = errorOf(() => prepareSnapshot(verifySealedBytes(sealedFileBytes(c).bytes, "resealed")));
      expect(e.code).toBe("E_SNAPSHOT_INTEGRITY");
      expect(e.details).toMatchObject({ check: "structure" });
      expect(e.message).toMatch(msg);
    }
  });
});

describe("replaying a lane-bound run", () => {
  it("finds the 3-input receipt and refuses with E_USAGE (plane_required)", async () => {
    const decl = laneRegistryDecl("http://127.0.0.1:9/x", "loopback");
    const { snap } = await prepared(decl);
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    let traceId: string;
    try {
      const g = runCairnCore({ snapshot: snap, payload: fromPlain({ name: "x" }) as PyObject, dataRoot: join(dir, "data"), baseDir: dir, store, planeSession: "n@0:s" });
      let n = g.next();
      while (n.done !== true) n = g.next({ status: "SUCCESS", fields: fromPlain({ address: "a" }) as PyObject, lane: fromPlain({ lane_id: "http", status: "succeeded" }) as PyObject });
      traceId = n.value.traceId;
      expect(n.value.recorded?.laneObservations).toBeDefined();
    } finally {
      store.close();
    }
    const ro = openStore({ dir: join(dir, "store"), readOnly: true });
    try {
      const e = errorOf(() => replayCairnRun(ro, traceId));
      expect(e.code).toBe("E_USAGE");
      expect(e.details).toMatchObject({ reason: "plane_required", steps: ["reg/bind"] });
    } finally {
      ro.close();
    }
  });
});

describe("declared outputs", () => {
  it("a user CT result lacking a declared output field is a contract VIOLATION", async () => {
    const caps = `export const capabilities = { half: { outputs: ["a", "b"], run: () => ({ a: 1 }) }, full: { outputs: ["a"], run: () => ({ a: 1, extra: 2 }) } };`;
    const decl = (ct: string) => baseDecl({
      modules: { caps: "./caps.ts" },
      nodes: { start: { steps: [{ id: "s", ct, inputs: {} }], routes: { SUCCESS: { exit: "OK", reason: "ok" }, VIOLATION: { exit: "NO", reason: "no" } } } },
    });
    const h = await prepared(decl("caps.half"), { "caps.ts": caps });
    const r = run(h.snap, {}, h.dir);
    expect(r.status).toBe("VIOLATION");
    expect(r.violations[0]?.reason).toBe('user CT caps.half broke its contract: its result lacks the declared output field "b" (declared: a, b)');
    const f = await prepared(decl("caps.full"), { "caps.ts": caps });
    expect(run(f.snap, {}, f.dir).status).toBe("SUCCESS");
  });
});

void readFileSync;
