/**
 * UAT 5 library findings F6–F9: the plane's public constructors and functions, the plane binding
 * of `runCairnWorkflowWithPlane` and `workflow.pgs.fromPlain` check what they are given up front
 * — a missing or wrong option, an unknown key (with the key it probably meant) or a value that is
 * not JSON data is a CairnError naming it, never a raw TypeError / RangeError later, never
 * ignored or silently converted.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { isCairnError } from "../../src/core/errors.js";
import { Ed25519AuthorityVerifier, signAuthorityRef } from "../../src/plane/authority/ed25519.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { resolveNodeConfig } from "../../src/plane/config/node-config.js";
import { sequentialIds, taggedIds } from "../../src/plane/contracts/ids.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { runCairnWorkflowWithPlane, type PlaneRunBinding } from "../../src/workflow/cairn/lane-step.js";
import { fromPlain, NOT_JSON_DATA_REASON } from "../../src/workflow/pgs/value.js";
import { compactPy } from "../../src/workflow/pgs/pyjson.js";
import { baseDecl, payload, prepared } from "../workflow/cairn-fixture.js";
import { keys, T0 } from "./node-helpers.js";

interface Refusal {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** The CairnError `fn` throws or rejects with; fails the test for anything else (a TypeError) or no error. */
async function refusal(fn: () => unknown): Promise<Refusal> {
  try {
    await fn();
  } catch (err) {
    if (!isCairnError(err)) throw new Error(`not a CairnError: ${String(err)}`);
    return { code: err.code, message: err.message, details: err.details };
  }
  throw new Error("no error");
}

const KEY = keys(5);
const PUB = KEY.publicKey.export({ type: "spki", format: "pem" }).toString();
const clock = fixedClock(T0);
const POLICY = [{ subject: "alice", lanes: ["*"], operations: ["*"] }];
const REQUEST = { contract_version: 1, lane_id: "inline", operation: "run", idempotency_key: "k1", payload: { a: 1 }, acceptable_attestation: { classes: ["local-process-weak"] } };
const SIGN = { privateKey: KEY.privateKey, keyId: "ops", subject: "alice", audience: "aud", request: REQUEST, issuedAt: T0, expiresAt: T0 + 60_000 };

describe("F7: authority options refuse unknown keys", () => {
  it("Ed25519AuthorityVerifier: a misspelt option is E_USAGE with the key it meant", async () => {
    const r = await refusal(() => new Ed25519AuthorityVerifier({ audience: "aud", trustedKeys: [], policy: [], polcy: POLICY } as never));
    expect(r.code).toBe("E_USAGE");
    expect(r.details).toEqual({ field: "polcy", suggestion: "policy" });
    expect(r.message).toContain('did you mean "policy"?');
    expect(new Ed25519AuthorityVerifier({ audience: "aud", trustedKeys: [{ id: "ops", key: PUB }], policy: POLICY, verifierId: "v" }).verifier_id).toBe("v");
  });

  it("signAuthorityRef: misspelt keys are refused, not signed around", async () => {
    const typo = await refusal(() => signAuthorityRef({ ...SIGN, subjet: "bob" } as never));
    expect([typo.code, typo.details.field, typo.details.suggestion]).toEqual(["E_USAGE", "subjet", "subject"]);
    const exp = await refusal(() => signAuthorityRef({ ...SIGN, expiresat: 5 } as never));
    expect([exp.code, exp.details.field, exp.details.suggestion]).toEqual(["E_USAGE", "expiresat", "expiresAt"]);
    const none = await refusal(() => (signAuthorityRef as (x?: unknown) => unknown)());
    expect([none.code, none.details.field]).toEqual(["E_USAGE", "options"]);
    const noKey = await refusal(() => signAuthorityRef({ ...SIGN, privateKey: undefined } as never));
    expect([noKey.code, noKey.details.field]).toEqual(["E_USAGE", "privateKey"]);
    expect(signAuthorityRef(SIGN).subject).toBe("alice");
  });
});

const CONFIG = {
  node_id: "n1",
  authority: { audience: "aud", trusted_keys: [{ id: "ops", public_key: PUB }], policy: POLICY },
  lanes: ["inline"],
};

describe("F6: node and id-source options are checked at construction", () => {
  it("sequentialIds / taggedIds without a clock are E_USAGE naming it", async () => {
    for (const f of [() => (sequentialIds as (c?: unknown) => unknown)(), () => taggedIds(undefined as never, "t1"), () => sequentialIds({} as never)]) {
      const r = await refusal(f);
      expect([r.code, r.details.field]).toEqual(["E_USAGE", "clock"]);
    }
  });

  it("PlaneNode: missing options, clock, ids, bad metadata and unknown keys are E_USAGE naming the option", async () => {
    const ids = sequentialIds(clock);
    const cases: Array<[unknown, string]> = [
      [undefined, "options"],
      [{ nodeId: "n", ids }, "clock"],
      [{ nodeId: "n", clock }, "ids"],
      [{ nodeId: "n", clock, ids, metadata: { a: () => 1 } }, "metadata"],
    ];
    for (const [opts, option] of cases) {
      const r = await refusal(() => new PlaneNode(opts as never));
      expect([r.code, r.details.field]).toEqual(["E_USAGE", option]);
    }
    const typo = await refusal(() => new PlaneNode({ nodeId: "n", clock, ids, metdata: {} } as never));
    expect([typo.code, typo.details.field, typo.details.suggestion]).toEqual(["E_USAGE", "metdata", "metadata"]);
    expect(new PlaneNode({ nodeId: "n", clock, ids, metadata: { a: [1, null] } }).nodeId).toBe("n");
  });

  it("buildNodeFromConfig: missing clock / ids, typos and an unresolved config are E_USAGE before anything is built", async () => {
    const cfg = resolveNodeConfig(CONFIG, "/", "n.yaml");
    const ids = sequentialIds(clock);
    const build = buildNodeFromConfig as (c: unknown, o?: unknown) => unknown;
    const cases: Array<[unknown, unknown, string]> = [
      [cfg, undefined, "options"],
      [cfg, { ids }, "clock"],
      [cfg, { clock }, "ids"],
      [CONFIG, { clock, ids }, "cfg"],
    ];
    for (const [c, o, option] of cases) {
      const r = await refusal(() => build(c, o));
      expect([r.code, r.details.field]).toEqual(["E_USAGE", option]);
    }
    const typo = await refusal(() => build(cfg, { clock, ids, inlineFunction: {} }));
    expect([typo.code, typo.details.field, typo.details.suggestion]).toEqual(["E_USAGE", "inlineFunction", "inlineFunctions"]);
    const built = buildNodeFromConfig(cfg, { clock, ids, inlineFunctions: {} });
    expect(built.node.nodeId).toBe("n1");
    await built.node.close();
  });
});

describe("F8: runCairnWorkflowWithPlane checks its plane binding before anything runs", () => {
  const good = (): PlaneRunBinding => ({
    node: new PlaneNode({ nodeId: "wf-node", clock, ids: sequentialIds(clock) }),
    clock,
    authority: { privateKey: KEY.privateKey, keyId: "ops", subject: "alice", audience: "aud" },
  });

  it("a bad, missing or misspelt member is E_USAGE naming it, and nothing is written", async () => {
    const { snap, dir } = await prepared(baseDecl());
    const g = good();
    const cases: Array<[unknown, string]> = [
      [{ ...g, authority: { ...g.authority, ttlMs: -5 } }, "plane.authority.ttlMs"],
      [{ ...g, authority: { ...g.authority, ttlMs: "60000" } }, "plane.authority.ttlMs"],
      [{ ...g, authority: { ...g.authority, ttlMs: 1.5 } }, "plane.authority.ttlMs"],
      [undefined, "plane"],
      [{ node: g.node, clock }, "plane.authority"],
      [{ node: g.node, authority: g.authority }, "plane.clock"],
      [{ clock, authority: g.authority }, "plane.node"],
      [{ ...g, authority: { ...g.authority, subject: "" } }, "plane.authority.subject"],
      [{ ...g, storeSink: {} }, "plane.storeSink"],
    ];
    for (const [plane, option] of cases) {
      const r = await refusal(() => runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane as never }));
      expect([r.code, r.details.field], JSON.stringify(option)).toEqual(["E_USAGE", option]);
    }
    const typos: Array<[unknown, string, string]> = [
      [{ ...g, authority: { ...g.authority, ttlMS: 1 } }, "ttlMS", "ttlMs"],
      [{ ...g, storesink: null }, "storesink", "storeSink"],
    ];
    for (const [plane, field, suggestion] of typos) {
      const r = await refusal(() => runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane as never }));
      expect([r.code, r.details.field, r.details.suggestion]).toEqual(["E_USAGE", field, suggestion]);
    }
    expect(existsSync(join(dir, "data"))).toBe(false);
    expect(readdirSync(dir).some((f) => f.includes("trace"))).toBe(false);
    // the same run with a good binding runs
    const ok = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, plane: { ...g, authority: { ...g.authority, ttlMs: 1000 } } });
    expect(ok.status).not.toBe("ERROR");
  });

  it("the run's other options are checked before the data root's lock too, as runCairnWorkflow checks them", async () => {
    const { snap, dir } = await prepared(baseDecl());
    const g = good();
    const base = { snapshot: snap, payload: payload({ x: 1 }), dataRoot: join(dir, "data"), baseDir: dir, plane: g };
    // Before: an empty dataRoot was named by the lock ("acquireDataRootLock: …"), an unknown or
    // runPgsWorkflow-only key was ignored.
    const empty = await refusal(() => runCairnWorkflowWithPlane({ ...base, dataRoot: "" }));
    expect([empty.code, empty.message.startsWith("runCairnWorkflowWithPlane:")]).toEqual(["E_USAGE", true]);
    const typo = await refusal(() => runCairnWorkflowWithPlane({ ...base, basedir: dir } as never));
    expect([typo.code, typo.details.field, typo.details.suggestion]).toEqual(["E_USAGE", "basedir", "baseDir"]);
    const pgsOnly = await refusal(() => runCairnWorkflowWithPlane({ ...base, traceLimit: { maxBytes: 4096 } } as never));
    expect([pgsOnly.code, pgsOnly.details.field]).toEqual(["E_USAGE", "traceLimit"]);
    expect(existsSync(join(dir, "data"))).toBe(false);
  });
});

describe("F9: fromPlain refuses what is not JSON data, naming its path", () => {
  class K {
    x = 1;
  }
  const sparse: unknown[] = [1];
  sparse[2] = 3; // [1, <hole>, 3]
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };

  it.each([
    ["undefined member", { a: undefined }, "$.a"],
    ["function", { a: () => 1 }, "$.a"],
    ["symbol", { b: [Symbol("x")] }, "$.b[0]"],
    ["Date", { a: new Date(0) }, "$.a"],
    ["class instance", { a: { "odd key": new K() } }, '$.a["odd key"]'],
    ["Set", new Set([1]), "$"],
    ["sparse array", { a: sparse }, "$.a[1]"],
    ["symbol key", { [Symbol("s")]: 1 }, "$"],
    ["cycle", cyclic, "$.self.back"],
    ["top-level undefined", undefined, "$"],
  ])("%s", async (_name, v, path) => {
    const r = await refusal(() => fromPlain(v));
    expect(r.code).toBe("E_INVALID_INPUT");
    expect(r.details).toEqual({ path, reason: NOT_JSON_DATA_REASON });
  });

  it("keeps converting JSON data (and the Python model's NaN / ±Infinity floats, bigints and Maps) as before", () => {
    const shared = { s: 1 };
    const v = fromPlain({ i: 3, f: 1.5, n: NaN, inf: -Infinity, b: 10n, m: new Map([["k", [true, null, "x"]]]), o: Object.assign(Object.create(null) as object, { z: 0 }), p: [shared, shared] });
    expect(compactPy(v)).toBe('{"i":3,"f":1.5,"n":NaN,"inf":-Infinity,"b":10,"m":{"k":[true,null,"x"]},"o":{"z":0},"p":[{"s":1},{"s":1}]}');
    expect(compactPy(fromPlain(JSON.parse('{"__proto__":{"x":1},"b":[2.0]}')))).toBe('{"__proto__":{"x":1},"b":[2]}');
  });
});
