/**
 * Lane-bound workflow steps (issue 5 §6.1): a CT bound to the process lane, a CS bound to the
 * http lane against a local node:http registry service, admission rejections classified by
 * examine, evidence ids in the trace matching the JSONL sink, the store edge from the run to its
 * evidence, the compile checks and the snapshot digest covering the binding.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixedClock } from "../../src/core/clock.js";
import { LocalWeakVerifier } from "../../src/plane/attestation/local-weak.js";
import type { TargetVerifier, TargetVerdict } from "../../src/plane/attestation/verifier.js";
import { Ed25519AuthorityVerifier } from "../../src/plane/authority/ed25519.js";
import { buildNodeFromConfig } from "../../src/plane/config/build.js";
import { sequentialIds } from "../../src/plane/contracts/ids.js";
import { makeTargetAttestation, makeTargetDescriptor, type TargetAttestation } from "../../src/plane/contracts/target.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { StoreEvidenceSink } from "../../src/plane/evidence/store-sink.js";
import { buildLane } from "../../src/plane/lanes/index.js";
import type { Lane } from "../../src/plane/lanes/lane.js";
import { PlaneNode, rejectionEvidenceMessage } from "../../src/plane/node/node.js";
import { openStore, type Store } from "../../src/store/store.js";
import { LANE_EVIDENCE_EDGE_TYPE, runCairnWorkflowWithPlane, type PlaneRunBinding } from "../../src/workflow/cairn/lane-step.js";
import { runCairnWorkflow, type PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes } from "../../src/workflow/cairn/seal.js";
import { examineTrace } from "../../src/workflow/examine/index.js";
import { keys } from "../plane/node-helpers.js";
import { planeWorkflowExample } from "../plane/process-node-yaml.js";
import { baseDecl, compileDecl, laneRegistryDecl, payload, prepared, events, stepEvent, tempDir, traceText } from "./cairn-fixture.js";

const T0 = 1_800_000_000_000;
const AUDIENCE = "cairn-wf-test";
const KEY = keys(9);
const LOOPBACK_CLASS = "test-loopback-service";

/**
 * A test TargetVerifier for the http lane (built nodes use declared-endpoint-weak, see
 * test/cli/plane-http.test.ts; this test builds its node in code): it attests exactly that the target is a loopback service on this
 * host, and mints descriptors only for attestations it recognises. It goes through the node's
 * normal verifier checks (own verifier id, declared classes, expiry).
 */
class LoopbackServiceVerifier implements TargetVerifier {
  readonly verifier_id = "test:loopback-service-verifier";
  readonly attestation_types = [LOOPBACK_CLASS];
  readonly capability_classes = [LOOPBACK_CLASS];
  handles(a: TargetAttestation): boolean {
    return a.attestation_type === LOOPBACK_CLASS;
  }
  verify(a: TargetAttestation, ctx: { now: number }): TargetVerdict {
    if (a.evidence.host !== "127.0.0.1" || a.target_id === undefined || a.lane_id === undefined) return { ok: false, message: "not a loopback service", details: { reason: "not_loopback" } };
    return {
      ok: true,
      descriptor: makeTargetDescriptor({
        contract_version: 1, target_id: a.target_id, lane_id: a.lane_id, attested_capability_classes: [LOOPBACK_CLASS], verifier_id: this.verifier_id,
        attestation_id: a.attestation_id, attested_at: ctx.now, expires_at: ctx.now + 3_600_000, metadata: { placement: "remote-loopback" },
      }),
    };
  }
}

interface Plane {
  binding: PlaneRunBinding;
  jsonl: string;
  lanes: Lane[];
}

/** A registered node with process and http lanes, pinned clock/ids, a JSONL sink (and a store sink). */
function plane(dir: string, o: { subject?: string; store?: Store; t0?: number } = {}): Plane {
  const t0 = o.t0 ?? T0;
  const clock = fixedClock(t0);
  const node = new PlaneNode({ nodeId: "wf-node", clock, ids: sequentialIds(clock) });
  const lanes = [buildLane("process"), buildLane("http")];
  for (const l of lanes) node.registerLane(l);
  const weak = new LocalWeakVerifier({ key: Buffer.alloc(32, 3), host: "test-host" });
  node.registerTargetVerifier(weak).registerTargetVerifier(new LoopbackServiceVerifier());
  node.registerAuthorityVerifier(new Ed25519AuthorityVerifier({
    audience: AUDIENCE,
    trustedKeys: [{ id: "wf", key: KEY.publicKey }],
    policy: [{ subject: "wf-runtime", lanes: ["process", "http"], operations: ["*"] }],
  }));
  const jsonl = join(dir, "evidence.jsonl");
  node.registerEvidenceSink(new JsonlEvidenceSink(jsonl, "jsonl"));
  const storeSink = o.store === undefined ? null : new StoreEvidenceSink(o.store, "store");
  if (storeSink !== null) node.registerEvidenceSink(storeSink);
  node.completeRegistration();
  expect(node.connectTarget(weak.mintAttestation({ targetId: "local", laneId: "process", now: t0 })).ok).toBe(true);
  const att = makeTargetAttestation({ contract_version: 1, attestation_id: "att-svc", attestation_type: LOOPBACK_CLASS, target_id: "svc", lane_id: "http", presented_at: t0, evidence: { host: "127.0.0.1" }, claimed_capability_classes: [] });
  expect(node.connectTarget(att).ok).toBe(true);
  return {
    binding: { node, clock, authority: { privateKey: KEY.privateKey, keyId: "wf", subject: o.subject ?? "wf-runtime", audience: AUDIENCE }, storeSink },
    jsonl,
    lanes,
  };
}

interface EvidenceLine {
  evidence_id: string;
  evidence_type: string;
  execution_ref: string | null;
  request_id: string | null;
  payload: Record<string, unknown>;
}
const evidenceLines = (file: string): EvidenceLine[] => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as EvidenceLine);


/** Reads JSON on stdin, answers {digest: "up:<VALUE>"}; value "fail" exits 3 with stderr. */
const SHOUT = `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);if(i.value==="fail"){process.stderr.write("refused");process.exit(3)}process.stdout.write(JSON.stringify({digest:"up:"+String(i.value).toUpperCase()}))})`;

function processLane(argv: string[] = ["-e", SHOUT], classes = ["local-process-weak"]): Record<string, unknown> {
  return {
    kind: "process",
    operation: "run",
    payload: { object: { command: { const: process.execPath }, argv: { const: argv }, stdin: { json: "$.inputs" }, timeout_ms: { const: 20000 } } },
    acceptable_attestation: { classes },
    result_json: "stdout",
  };
}

/** A CT `hash` contract implemented by a process, then a local atom reading its result. */
function shoutDecl(lane: Record<string, unknown> | null = processLane()): Record<string, unknown> {
  const step: Record<string, unknown> = { id: "up", ct: "hash", inputs: { value: "$.payload.text" } };
  if (lane !== null) step.lane = lane;
  return baseDecl({
    entry: "shout",
    nodes: {
      shout: {
        steps: [step],
        // BACKEND_ERROR only when lane-bound (a route for an outcome the node cannot end with is E_COMPILE_IMPOSSIBLE_ROUTE)
        routes: { SUCCESS: "check", VIOLATION: { exit: "BAD", reason: "not hashable" }, ...(lane === null ? {} : { BACKEND_ERROR: { exit: "BROKEN", reason: "the transform process failed" } }) },
      },
      check: {
        steps: [{ id: "same", ct: "equals", inputs: { a: "$.results.shout.digest", b: "$.payload.expect" } }],
        routes: { SUCCESS: { exit: "DONE", reason: "compared" }, VIOLATION: { exit: "BAD", reason: "not comparable" } },
      },
    },
  });
}

describe("lane-bound CT on the process lane", () => {
  let snap: PreparedSnapshot;
  beforeAll(async () => {
    snap = (await prepared(shoutDecl())).snap;
  });

  it("runs through the node; the lane's JSON stdout is the step result; the trace links the evidence of the JSONL sink", async () => {
    const dir = tempDir();
    const p = plane(dir);
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "hello", expect: "up:HELLO" }), dataRoot: join(dir, "data"), baseDir: dir, plane: p.binding });
    expect(r.error).toBeNull();
    expect(r.status).toBe("SUCCESS");
    expect(r.exit).toEqual({ name: "DONE", reason: "compared" });
    expect(r.path.map((x) => x.status)).toEqual(["SUCCESS", "SUCCESS"]);
    expect(r.surface.get("equal")).toBe(true); // the lane's output flowed into $.results.shout.digest
    const lane = stepEvent(r, "up").detail.lane as Record<string, unknown>;
    expect(lane).toMatchObject({ lane_id: "process", kind: "process", operation: "run", status: "succeeded", failure_class: null });
    expect(lane.result_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lane.evidence_digests).toBeUndefined(); // no store sink
    const lines = evidenceLines(p.jsonl);
    expect(lane.evidence).toEqual(lines.map((l) => l.evidence_id));
    expect(lines.map((l) => l.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed"]);
    expect(lines.every((l) => l.execution_ref === lane.execution_ref)).toBe(true);
    // the secret-free evidence never holds the payload text
    expect(readFileSync(p.jsonl, "utf8")).not.toContain("hello");
    // the request's idempotency key is derived from the run (trace id, node, visit, step)
    const accepted = lines[0]!.payload.request as Record<string, unknown>;
    expect(accepted.idempotency_key).toBe(`${r.traceId}:shout:1:up`);
    // the chain of the trace still verifies
    expect(examineTrace(join(r.traceDirAbs, `${r.traceId}.jsonl`)).outcome.class).toBe("success");
  });

  it("a non-zero exit is BACKEND_ERROR carrying the raw facts, routed by the declaration", async () => {
    const dir = tempDir();
    const p = plane(dir);
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "fail", expect: "x" }), dataRoot: join(dir, "data"), baseDir: dir, plane: p.binding });
    expect(r.status).toBe("BACKEND_ERROR");
    expect(r.exit).toEqual({ name: "BROKEN", reason: "the transform process failed" });
    const e = stepEvent(r, "up");
    expect(e.result_status).toBe("BACKEND_ERROR");
    expect(String(e.detail.error)).toMatch(/^lane process run failed \(a raw fact without a failure class\); facts .*"exit_code":3/);
    expect((e.detail.lane as Record<string, unknown>).status).toBe("failed");
    expect(r.surface.get("exit_code")).toBe(3n);
    expect(evidenceLines(p.jsonl).at(-1)!.payload).toMatchObject({ status: "failed", failure_class: null });
  });

  it("a pinned plane (clock, ids) and a service that answers the same give byte-identical traces", async () => {
    const runIn = async () => {
      const dir = tempDir();
      const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ text: "same", expect: "up:SAME" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane(dir).binding });
      return { r, text: traceText(r) };
    };
    const a = await runIn();
    const b = await runIn();
    expect(a.r.status).toBe("SUCCESS");
    expect(b.r.traceId).toBe(a.r.traceId);
    expect(b.text).toBe(a.text);
    expect(events(a.r)[0]!.detail.plane_session).toBe(`wf-node@${T0}:wf-runtime`);
  });

  it("the synchronous runtime refuses a lane-bound workflow before writing anything", () => {
    const dir = tempDir();
    expect(() => runCairnWorkflow({ snapshot: snap, payload: payload({ text: "a" }), dataRoot: join(dir, "data"), baseDir: dir })).toThrow(/lane-bound steps \(shout\/up\)/);
    expect(existsSync(join(dir, "traces"))).toBe(false);
  });

  it("a lane output that is not the step's JSON result is BACKEND_ERROR, not a fabricated success", async () => {
    const s = (await prepared(shoutDecl(processLane(["-e", "process.stdout.write('not json')"])))).snap;
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: s, payload: payload({ text: "a", expect: "b" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane(dir).binding });
    expect(r.status).toBe("BACKEND_ERROR");
    expect(String(stepEvent(r, "up").detail.error)).toMatch(/output member stdout is not JSON/);
  });

  it("a lane result holding result_status breaks the step's contract (BACKEND_ERROR), as a user CT's does (it reached the node's result)", async () => {
    const answer = JSON.stringify({ digest: "up:A", result_status: "SUCCESS" });
    const s = (await prepared(shoutDecl(processLane(["-e", `process.stdout.write(${JSON.stringify(answer)})`])))).snap;
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: s, payload: payload({ text: "a", expect: "up:A" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane(dir).binding });
    expect(r.status).toBe("BACKEND_ERROR");
    expect(r.exit).toEqual({ name: "BROKEN", reason: "the transform process failed" });
    expect(String(stepEvent(r, "up").detail.error)).toBe('lane process broke the step\'s contract: its result holds "result_status", a member no result may carry (the step\'s outcome is its "outcome" member, SUCCESS without one)');
  });
});

describe("lane-bound CS on the http lane (a registry service)", () => {
  let server: Server;
  let base: string;
  const seen = new Map<string, unknown>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString("utf8")));
      req.on("end", () => {
        const { key, value } = JSON.parse(body) as { key: string; value: unknown };
        if (key === "down") {
          res.writeHead(503, { "content-type": "text/plain" }).end("maintenance");
          return;
        }
        const outcome = seen.has(key) ? "ALREADY_EXISTS" : "SUCCESS";
        seen.set(key, value);
        // "bom…": a service that prefixes its JSON with a UTF-8 BOM (the lane keeps the bytes received)
        const text = JSON.stringify({ outcome, address: `agt-${key}` });
        res.writeHead(200, { "content-type": "application/json" }).end(key.startsWith("bom") ? `\ufeff${text}` : text);
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  function registryDecl(): Record<string, unknown> {
    return laneRegistryDecl(`${base}/register`, LOOPBACK_CLASS, {
      SUCCESS: { exit: "REGISTERED", reason: "new agent" }, ALREADY_EXISTS: { exit: "KNOWN", reason: "already registered" }, default: { exit: "FAILED", reason: "registry failed" },
    });
  }

  it("SUCCESS, then ALREADY_EXISTS on the repeat; evidence in the store, linked from the recorded run", async () => {
    const { snap } = await prepared(registryDecl());
    const dir = tempDir();
    const store = openStore({ dir: join(dir, "store"), create: true });
    try {
      // two plane sessions (the plane clock differs): the service's state is not in the local prior state
      const runOnce = async (t0: number) => {
        const p = plane(dir, { store, t0 });
        const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ name: "ada", role: "ops" }), dataRoot: join(dir, "data"), baseDir: dir, store, plane: p.binding });
        return { r, lane: stepEvent(r, "bind").detail.lane as Record<string, unknown>, text: traceText(r) };
      };
      const first = await runOnce(T0);
      expect(first.r.status).toBe("SUCCESS");
      expect(first.r.exit?.name).toBe("REGISTERED");
      expect(first.r.surface.get("address")).toBe("agt-ada");
      const second = await runOnce(T0 + 1000);
      expect(second.r.traceId).not.toBe(first.r.traceId);
      expect(events(second.r)[0]!.detail.plane_session).toBe(`wf-node@${T0 + 1000}:wf-runtime`);
      // the service's answers are receipt inputs
      expect(second.r.recorded?.laneObservations).toBeDefined();
      expect(second.r.recorded?.laneObservations).not.toBe(first.r.recorded?.laneObservations);
      expect(second.r.status).toBe("ALREADY_EXISTS");
      expect(second.r.exit?.name).toBe("KNOWN");
      expect(second.r.exitCode).toBe(0); // execution ≠ effect
      expect(seen.get("ada")).toEqual({ name: "ada", role: "ops" });
      // the local registry file was never written: the service is the implementation
      expect(() => readFileSync(join(dir, "data", "r", "agents.jsonl"))).toThrow();
      for (const run of [first, second]) {
        const digests = run.lane.evidence_digests as string[];
        expect(digests).toHaveLength(4);
        for (const d of digests) expect(store.has(d as never)).toBe(true);
        // the recorded trace → evidence edge
        const down = store.lineage(run.r.recorded!.trace, { direction: "down", depth: 1 });
        const edge = down.edges.find((e) => e.type === LANE_EVIDENCE_EDGE_TYPE);
        expect([...(edge?.to ?? [])].sort()).toEqual([...digests].sort());
        expect(edge?.from).toEqual([run.r.recorded!.trace]);
      }
      // the evidence records in the store are the ones the trace names
      const ev = JSON.parse(Buffer.from(store.get((second.lane.evidence_digests as string[])[3] as never)).toString("utf8")) as { evidence_id: string; evidence_type: string };
      expect(ev).toMatchObject({ evidence_id: (second.lane.evidence as string[])[3], evidence_type: "execution.completed" });
    } finally {
      store.close();
    }
  });

  it("a JSON body with a leading BOM is the step result (one BOM is not part of the JSON text)", async () => {
    const { snap } = await prepared(registryDecl());
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ name: "bom-ada" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane(dir).binding });
    expect(r.status).toBe("SUCCESS");
    expect(r.surface.get("address")).toBe("agt-bom-ada");
  });

  it("an HTTP 503 is a raw fact: BACKEND_ERROR with status_code, routed by default", async () => {
    const { snap } = await prepared(registryDecl());
    const dir = tempDir();
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ name: "down" }), dataRoot: join(dir, "data"), baseDir: dir, plane: plane(dir).binding });
    expect(r.status).toBe("BACKEND_ERROR");
    expect(r.exit).toEqual({ name: "FAILED", reason: "registry failed" });
    expect(r.surface.get("status_code")).toBe(503n);
    const e = stepEvent(r, "bind");
    expect(String(e.detail.error)).toMatch(/^lane http request failed \(a raw fact without a failure class\); facts .*"status_code":503/);
    expect(String(e.detail.error)).not.toContain("maintenance"); // bodies stay out of the trace
    expect(r.effects).toEqual([{ cc: "test::WF_TEST_V0::reg", step: "bind", cs: "agents (CS_REGISTRY_V0 via lane http)", op: "REGISTER", status: "BACKEND_ERROR" }]);
  });

  it("admission rejection (policy denies the subject): the run is an ERROR that examine classifies as an admission error", async () => {
    const snapFile = join(tempDir(), "snap.json");
    const c = await compileDecl(registryDecl());
    writeFileSync(snapFile, sealedFileBytes(c.r.content!).bytes);
    const { snap } = await prepared(registryDecl());
    const dir = tempDir();
    const p = plane(dir, { subject: "mallory" });
    const before = seen.size;
    const r = await runCairnWorkflowWithPlane({ snapshot: snap, payload: payload({ name: "eve" }), dataRoot: join(dir, "data"), baseDir: dir, plane: p.binding });
    expect(r.status).toBe("ERROR");
    expect(r.exitCode).toBe(1);
    expect(r.error?.code).toBe("E_PLANE_REJECTED");
    expect(r.error?.step).toBe("bind");
    const lines = evidenceLines(p.jsonl);
    expect(lines.map((l) => l.evidence_type)).toEqual(["admission.rejected"]);
    expect(r.error?.message).toMatch(/^plane admission rejected lane-bound step bind \(lane http, operation request\): policy_denied \(policy_denied\): .+; evidence ev-/);
    // The reason's fixed message, as in the evidence: never the subject the rejection quoted.
    expect(r.error?.message).toContain(`policy_denied (policy_denied): ${rejectionEvidenceMessage("policy_denied")}; evidence`);
    expect(r.error?.message).not.toContain("mallory");
    expect(r.error?.message).toContain(`evidence ${lines[0]!.evidence_id}`);
    expect(seen.size).toBe(before); // nothing was dispatched
    const last = events(r).at(-1)!;
    expect(last.event_type).toBe("ERROR");
    const x = examineTrace(join(r.traceDirAbs, `${r.traceId}.jsonl`), { snapshot: snapFile });
    expect(x.outcome.class).toBe("admission_error");
    expect(x.exitCode).toBe(1);
    expect(x.hint).toMatch(/execution plane refused to admit the lane-bound step/);
  });
});

describe("the example (examples/plane/workflow)", () => {
  it("compiles and runs through a node built from its node.yaml", async () => {
    const dir = tempDir();
    const { pair, snap, cfg } = await planeWorkflowExample(dir);
    const clock = fixedClock(T0);
    const built = buildNodeFromConfig(cfg, { clock, ids: sequentialIds(clock), localWeak: { key: Buffer.alloc(32, 1), host: "h" } });
    try {
      const p = JSON.parse(readFileSync(join(dir, "payload.json"), "utf8")) as Record<string, unknown>;
      const run = (subject: string) => runCairnWorkflowWithPlane({
        snapshot: snap, payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir,
        plane: { node: built.node, clock, authority: { privateKey: pair.privateKeyPem, keyId: "wf", subject, audience: cfg.authority.audience } },
      });
      const ok = await run("wf-runtime");
      expect(ok.status).toBe("SUCCESS");
      expect(ok.surface.get("digest")).toBe("HELLO");
      const denied = await run("someone-else");
      expect(denied.status).toBe("ERROR");
      expect(denied.error?.message).toContain("policy_denied");
      const lines = evidenceLines(join(dir, "evidence.jsonl"));
      expect(lines.map((l) => l.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.completed", "admission.rejected"]);
      expect((stepEvent(ok, "up").detail.lane as { evidence: string[] }).evidence).toEqual(lines.slice(0, 4).map((l) => l.evidence_id));
    } finally {
      await built.node.close();
    }
  });
});

describe("compile: lane bindings", () => {
  it("the binding is sealed into the snapshot and changes its digest", async () => {
    const plain = await compileDecl(shoutDecl(null));
    const bound = await compileDecl(shoutDecl());
    const other = await compileDecl(shoutDecl(processLane(["-e", SHOUT, "x"])));
    const classes = await compileDecl(shoutDecl(processLane(undefined, ["local-process-weak", "other-class"])));
    const digests = [plain, bound, other, classes].map((c) => c.r.digest);
    expect(digests.every((d) => d !== undefined)).toBe(true);
    expect(new Set(digests).size).toBe(4);
    const step = bound.r.content!.workflows["test::WF_TEST_V0"]!.nodes.shout!.steps[0]!;
    expect(step.lane).toMatchObject({ laneId: "process", kind: "process", operation: "run", resultJson: "stdout", acceptableAttestation: { classes: ["local-process-weak"], priorityOrder: ["local-process-weak"] } });
    // a lane-bound step can also end BACKEND_ERROR, so its routes must handle it
    expect(step.outcomes).toEqual(["SUCCESS", "VIOLATION", "BACKEND_ERROR"]);
  });

  it("a lane-bound step's BACKEND_ERROR must be routed", async () => {
    const d = shoutDecl();
    const shout = (d.nodes as Record<string, Record<string, unknown>>).shout!;
    shout.routes = { SUCCESS: "check", VIOLATION: { exit: "BAD", reason: "x" } };
    const { file, lines } = await compileDecl(d);
    expect(lines).toEqual([`${file}: node shout: routes: step up (hash) can end this node with BACKEND_ERROR, and no route handles it (add routes.BACKEND_ERROR or routes.default) [E_COMPILE_UNHANDLED_OUTCOME]`]);
  });

  it("bad bindings name file, node and field", async () => {
    const bad = (lane: Record<string, unknown>) => compileDecl(shoutDecl({ ...processLane(), ...lane }));
    let c = await bad({ kind: "teleport" });
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane.kind: unknown lane kind "teleport" (execution-plane lanes: inline, worker, process, http, jsonrpc, sse, websocket) [E_COMPILE_UNKNOWN_CAPABILITY]`]);
    c = await bad({ operation: "exec" });
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane.operation: a process lane has no operation "exec" (its operation: run) [E_COMPILE_UNKNOWN_OPERATION]`]);
    c = await bad({ payload: { object: { command: { const: "node" }, stdin: { json: "$.inputs.missing" } } } });
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane.payload.object.stdin.json: $.inputs.missing is bound to nothing: the step has no input "missing" (its inputs: value) [E_COMPILE_UNBOUND_INPUT]`]);
    c = await bad({ result_json: "body" });
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane.result_json: a process lane's output has no text member "body" (text members: stdout, stderr) [E_COMPILE_SCHEMA]`]);
    c = await bad({ acceptable_attestation: { classes: ["a"], priority_order: ["b"] } });
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane.acceptable_attestation.priority_order[0]: class "b" is not in classes [E_COMPILE_SCHEMA]`]);
    const { operation: _op, ...noOp } = processLane();
    c = await compileDecl(shoutDecl(noOp));
    expect(c.lines).toEqual([`${c.file}: node shout: steps[0].lane: does not match the Cairn workflow schema: must have required property 'operation' [E_COMPILE_SCHEMA]`]);
  });
});
