/**
 * UAT round 4 (findings A-F2, A-F1): what a lane-bound step that ends with an outcome other than
 * SUCCESS leaves in its node's result, and which lineage walks reach a lane-bound run's evidence.
 *
 * - A-F2: a lane answer `{outcome: <not SUCCESS>, …}` contributes no field to the node's result,
 *   the surface or the trace (`result_keys`, `output_keys`), as a local CT's VIOLATION or a local
 *   registry's ALREADY_EXISTS; its `message` is only the step's error text (docs/workflow-cairn.md
 *   §1). Until workflow engine version 5 the members reached the result, so an earlier step's
 *   field the compiler had checked could be replaced by the lane's.
 * - A-F1: the `cairn.workflow.lane-evidence` edge goes from the trace to the evidence records, so
 *   the evidence is downstream of the trace (`lineage --down`, with the output projection); the
 *   request projection is upstream of the first evidence record.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import type { Digest } from "../../src/core/digest.js";
import type { CairnError } from "../../src/core/errors.js";
import { LocalWeakVerifier } from "../../src/plane/attestation/local-weak.js";
import { Ed25519AuthorityVerifier } from "../../src/plane/authority/ed25519.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { EVIDENCE_MEDIA_TYPE, OUTPUT_MEDIA_TYPE, REQUEST_MEDIA_TYPE, StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { buildLane } from "../../src/plane/lanes/index.js";
import { PlaneNode } from "../../src/plane/node/node.js";
import { openStore, type Store } from "../../src/store/store.js";
import { LANE_EVIDENCE_EDGE_TYPE, runCairnWorkflowWithPlane, type PlaneRunBinding } from "../../src/workflow/cairn/lane-step.js";
import { replayCairnRun } from "../../src/workflow/cairn/replay.js";
import type { CairnRunResult } from "../../src/workflow/cairn/run.js";
import { WORKFLOW_ENGINE } from "../../src/workflow/pgs/record.js";
import { keys } from "../plane/node-helpers.js";
import { baseDecl, payload, prepared, run, events, stepEvent, tempDir, type TraceEvent } from "./cairn-fixture.js";

const T0 = 1_800_000_000_000;
const AUDIENCE = "cairn-wf-uat4";
const KEY = keys(11);

/** A registered node with the process lane, pinned clock and ids (and a store evidence sink). */
function plane(store?: Store): PlaneRunBinding {
  const clock = fixedClock(T0);
  const node = new PlaneNode({ nodeId: "uat4-node", clock, ids: sequentialIds(clock) });
  node.registerLane(buildLane("process"));
  const weak = new LocalWeakVerifier({ key: Buffer.alloc(32, 4), host: "test-host" });
  node.registerTargetVerifier(weak);
  node.registerAuthorityVerifier(new Ed25519AuthorityVerifier({
    audience: AUDIENCE, trustedKeys: [{ id: "wf", key: KEY.publicKey }], policy: [{ subject: "wf-runtime", lanes: ["process"], operations: ["*"] }],
  }));
  const storeSink = store === undefined ? null : new StoreEvidenceSink(store, "store");
  if (storeSink !== null) node.registerEvidenceSink(storeSink);
  node.completeRegistration();
  expect(node.connectTarget(weak.mintAttestation({ targetId: "local", laneId: "process", now: T0 })).ok).toBe(true);
  return { node, clock, authority: { privateKey: KEY.privateKey, keyId: "wf", subject: "wf-runtime", audience: AUDIENCE }, storeSink };
}

/** A process lane whose stdout is `answer` (JSON), whatever the step's inputs. */
function answering(answer: Record<string, unknown>): Record<string, unknown> {
  return {
    kind: "process",
    operation: "run",
    payload: { object: { command: { const: process.execPath }, argv: { const: ["-e", `process.stdout.write(${JSON.stringify(JSON.stringify(answer))})`] }, timeout_ms: { const: 20000 } } },
    acceptable_attestation: { classes: ["local-process-weak"] },
    result_json: "stdout",
  };
}

const completeOf = (r: CairnRunResult, node: string): TraceEvent => {
  const e = events(r).find((x) => x.event_type === "CC_COMPLETE" && String(x.detail.cc_fqdn).endsWith(`::${node}`));
  if (e === undefined) throw new Error(`no CC_COMPLETE for ${node}`);
  return e;
};

const VIOLATION_ANSWER = { outcome: "VIOLATION", message: "nope", digest: "x", extra: 1 };

describe("A-F2: a lane-bound step ending other than SUCCESS contributes no field", () => {
  it("a VIOLATION answer: no result fields, no surface; its message is the step's error text", async () => {
    const { snap } = await prepared(baseDecl({
      entry: "n",
      nodes: {
        n: {
          steps: [{ id: "up", ct: "hash", inputs: { value: "$.payload.text" }, lane: answering(VIOLATION_ANSWER) }],
          routes: { SUCCESS: { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "v" }, BACKEND_ERROR: { exit: "BROKEN", reason: "b" } },
        },
      },
    }));
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "hello" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane() });
    expect(r.status).toBe("VIOLATION");
    expect(r.exit).toEqual({ name: "BAD", reason: "v" });
    expect([...r.surface.keys()]).toEqual([]);
    const e = stepEvent(r, "up");
    expect(e.result_status).toBe("VIOLATION");
    expect(e.detail.result_keys).toEqual([]);
    expect(e.detail.error).toBe("nope");
    expect((e.detail.lane as Record<string, unknown>).status).toBe("succeeded");
    expect(completeOf(r, "n").detail.output_keys).toEqual([]);
    expect(r.violations).toEqual([{ cc: "test::WF_TEST_V0::n", step: "up", kind: "CT", reason: "nope" }]);
  });

  it("an earlier step's field the compiler checked keeps its value: the lane's members do not replace it", async () => {
    // Node a: a local hash (SUCCESS continues), then the lane-bound hash answering BACKEND_ERROR
    // (an outcome the local hash cannot end with) with a digest of its own; the compiler binds
    // $.results.a.digest in node b, reached on BACKEND_ERROR only, because step local carries it
    // on the one outcome that continues.
    const decl = baseDecl({
      entry: "a",
      nodes: {
        a: {
          steps: [
            { id: "local", ct: "hash", inputs: { value: "$.payload.text" } },
            { id: "remote", ct: "hash", inputs: { value: "$.payload.text" }, lane: answering({ outcome: "BACKEND_ERROR", message: "service down", digest: "x" }) },
          ],
          routes: { SUCCESS: { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "v" }, BACKEND_ERROR: "b" },
        },
        b: {
          steps: [{ id: "use", ct: "equals", inputs: { a: "$.results.a.digest", b: "$.payload.expect" } }],
          routes: { SUCCESS: { exit: "COMPARED", reason: "c" }, VIOLATION: { exit: "BAD", reason: "v" } },
        },
      },
    });
    const { snap } = await prepared(decl);
    // The local hash of "hello", from a run of the same contract without the lane.
    const local = run((await prepared(baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload.text" } }], routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "v" } } } } }))).snap, { text: "hello" }, tempDir());
    const digest = local.surface.get("digest");
    expect(String(digest)).toMatch(/^sha256:[0-9a-f]{64}$/);
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "hello", expect: digest }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane() });
    expect(r.path.map((p) => p.status)).toEqual(["BACKEND_ERROR", "SUCCESS"]);
    expect(stepEvent(r, "remote").detail.error).toBe("service down");
    expect((stepEvent(r, "use").detail.inputs as Record<string, unknown>).a).toBe(digest);
    expect(r.surface.get("equal")).toBe(true);
    expect(completeOf(r, "a").detail.output_keys).toEqual(["digest"]);
  });

  it("a lane-bound REGISTER answering ALREADY_EXISTS leaves the node result empty, as the local registry's does", async () => {
    const regNode = (lane: Record<string, unknown> | null) => ({
      steps: [{ id: "bind", cs: "agents", op: "REGISTER", inputs: { key: "$.payload.name", value: "$.payload" }, ...(lane === null ? {} : { lane }) }],
      routes: { default: { exit: "DONE", reason: "done" } },
    });
    const decl = (lane: Record<string, unknown> | null) => baseDecl({ entry: "reg", stores: { agents: { kind: "registry", path: "r/agents.jsonl" } }, nodes: { reg: regNode(lane) } });
    // Local: the second REGISTER of the same key is ALREADY_EXISTS with no field.
    const { snap: localSnap } = await prepared(decl(null));
    const ldir = tempDir();
    expect(run(localSnap, { name: "ada" }, ldir).status).toBe("SUCCESS");
    const again = run(localSnap, { name: "ada" }, ldir);
    expect(again.status).toBe("ALREADY_EXISTS");
    expect([...again.surface.keys()]).toEqual([]);
    // Lane-bound: the service's ALREADY_EXISTS answer carries an address; the node result does not.
    const { snap } = await prepared(decl(answering({ outcome: "ALREADY_EXISTS", address: "agt-ada" })));
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ name: "ada" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane() });
    expect(r.status).toBe("ALREADY_EXISTS");
    expect(r.exitCode).toBe(0);
    expect([...r.surface.keys()]).toEqual([...again.surface.keys()]);
    expect(stepEvent(r, "bind").detail.result_keys).toEqual([]);
  });

  it("a SUCCESS answer still carries its members", async () => {
    const { snap } = await prepared(baseDecl({
      entry: "n",
      nodes: { n: { steps: [{ id: "up", ct: "hash", inputs: { value: "$.payload.text" }, lane: answering({ digest: "x", extra: 1 }) }], routes: { SUCCESS: { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "v" }, BACKEND_ERROR: { exit: "BROKEN", reason: "b" } } } },
    }));
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "hello" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane() });
    expect(r.status).toBe("SUCCESS");
    expect(Object.fromEntries(r.surface)).toEqual({ digest: "x", extra: 1n });
  });

  it("the workflow engine is version 7: a run recorded by version 4 is not replayed", async () => {
    expect(WORKFLOW_ENGINE).toEqual({ name: "cairn.workflow", version: "7" });
    const { snap } = await prepared(baseDecl());
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      const r = run(snap, { text: "hello" }, dir, { store });
      const original = store.getReceipt(r.recorded?.receipt as Digest);
      expect(original.params).toEqual({ kind: "cairn.workflow.run", workflow: "test::WF_TEST_V0", engine: { name: "cairn.workflow", version: "7" } });
      store.pruneReceipt(original.digest);
      const { program, inputs, outputs, status, resources } = original;
      store.recordReceipt({ program, inputs, outputs, status, resources, params: { ...(original.params as Record<string, never>), engine: { name: "cairn.workflow", version: "4" } } });
      let err: CairnError | undefined;
      try {
        replayCairnRun(store, r.traceId);
      } catch (e) {
        err = e as CairnError;
      }
      expect([err?.code, err?.message]).toEqual([
        "E_USAGE",
        `recorded run ${r.traceId} was made by cairn.workflow version 4; this is cairn.workflow version 7, so it cannot be replayed here: use the engine version that made it`,
      ]);
    } finally {
      store.close();
    }
  });
});

describe("A-F1: which lineage walks reach a lane-bound run's evidence", () => {
  it("the evidence and the output projection are downstream of the trace; the request projection is upstream of the first evidence record", async () => {
    const { snap } = await prepared(baseDecl({
      entry: "n",
      nodes: { n: { steps: [{ id: "up", ct: "hash", inputs: { value: "$.payload.text" }, lane: answering({ digest: "x" }) }], routes: { SUCCESS: { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "BAD", reason: "v" }, BACKEND_ERROR: { exit: "BROKEN", reason: "b" } } } },
    }));
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "hello" }), dataRoot: join(dir, "data"), baseDir: dir, store, plane: plane(store) });
      expect(r.status).toBe("SUCCESS");
      const trace = r.recorded?.trace as Digest;
      const evidence = (stepEvent(r, "up").detail.lane as { evidence_digests: Digest[] }).evidence_digests;
      expect(evidence).toHaveLength(4);
      const media = (ds: readonly Digest[]) => ds.map((d) => store.stat(d).mediaType).sort();
      const nodesOf = (d: Digest, direction: "up" | "down") => store.lineage(d, { direction }).nodes.map((n) => n.digest);
      // Upstream (the default walk): the run's receipt, snapshot and inputs; no evidence, no projection.
      const up = nodesOf(trace, "up");
      for (const d of evidence) expect(up).not.toContain(d);
      expect(media(up)).not.toContain(EVIDENCE_MEDIA_TYPE);
      expect(media(up)).not.toContain(REQUEST_MEDIA_TYPE);
      // Downstream: every evidence record and the output projection, not the request projection.
      const down = nodesOf(trace, "down");
      for (const d of evidence) expect(down).toContain(d);
      expect(media(down)).toContain(OUTPUT_MEDIA_TYPE);
      expect(media(down)).not.toContain(REQUEST_MEDIA_TYPE);
      const edge = store.edgesOfType(trace, LANE_EVIDENCE_EDGE_TYPE, "down");
      expect(edge.map((e) => [e.from, [...e.to].sort(), e.role])).toEqual([[[trace], [...evidence].sort(), "trace"]]);
      // The request projection: upstream of the first evidence record (admission.accepted), beside the trace.
      const first = nodesOf(evidence[0] as Digest, "up");
      expect(media(first)).toContain(REQUEST_MEDIA_TYPE);
      expect(first).toContain(trace);
    } finally {
      store.close();
    }
  });
});
