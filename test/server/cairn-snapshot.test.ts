/**
 * The HTTP gateway over a sealed Cairn snapshot (`ServerOptions.snapshot`), over real HTTP on
 * 127.0.0.1: exact 200 bodies, traces byte-identical to `runCairnWorkflow`, the 400s, a runtime
 * error's 500, the start-up refusals (tampered, lane-bound, PGS-only options), the held
 * data-root lock and store recording. Fixture: examples/workflows (register-agent.yaml).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { createServer, MAX_LISTED_NAMES, PLANE_REQUIRED_REASON, type CairnServer, type ServerOptions } from "../../src/server/index.js";
import { openStore } from "../../src/store/store.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { CAIRN_ROOT_PREFIX } from "../../src/workflow/cairn/record.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes, type SealedSnapshot } from "../../src/workflow/cairn/seal.js";
import { parsePyJson, type PyObject } from "../../src/workflow/pgs/index.js";
import { tryLockElsewhere, killLockChildren } from "../workflow/fixtures/lock-child.js";
import { baseDecl, EXAMPLES, tempDir, writeTree } from "../workflow/cairn-fixture.js";
import { cairnErrorOf } from "../workflow/pgs-fixture.js";
import { stringify } from "yaml";

const WF = "registry::WF_REGISTER_AGENT_V0";
const PAYLOADS = join(EXAMPLES, "payloads");
const TRACE_ID = /^[0-9a-f]{16}__WF_[A-Z0-9_]+__[0-9A-F]{4}$/;

const servers: CairnServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await killLockChildren();
});

/** Compiles the declaration files under `paths` and loads the sealed result as `cairn wf run --snapshot FILE` does. */
async function sealedOf(paths: string[]): Promise<SealedSnapshot> {
  const r = await compileWorkflows(paths);
  if (r.content === undefined) throw new Error(`compile failed: ${JSON.stringify(r.diagnostics)}`);
  return verifySealedBytes(sealedFileBytes(r.content).bytes, "snap.json");
}

/** Writes each declaration to its own file in a new directory and seals them together. */
async function sealedDecls(decls: Record<string, unknown>[]): Promise<SealedSnapshot> {
  const dir = writeTree(Object.fromEntries(decls.map((d, i) => [`wf${String(i).padStart(2, "0")}.yaml`, stringify(d)])));
  return sealedOf([dir]);
}

let example: SealedSnapshot;
beforeAll(async () => {
  example = await sealedOf([EXAMPLES]);
});

/** A server over `snapshot` with a fresh workspace; returns it with its base URL. */
async function serve(snapshot: SealedSnapshot, opts: Partial<ServerOptions> = {}): Promise<{ url: string; server: CairnServer; dir: string }> {
  const dir = tempDir("cairn-serve-");
  const server = createServer({ snapshot, workspace: dir, dataRoot: join(dir, "data"), ...opts });
  servers.push(server);
  return { url: await server.listen(0, "127.0.0.1"), server, dir };
}

async function post(url: string, body: string): Promise<{ status: number; text: string; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
}

const payloadText = (file: string): string => readFileSync(join(PAYLOADS, file), "utf8").trim();
const runBody = (file: string, wf = WF): string => `{"workflow_code": "${wf}", "payload": ${payloadText(file)}}`;

/** The same run in process, on its own fresh workspace and data root. */
function reference(dir: string, file: string, snapshot = example, wf = WF): CairnRunResult {
  return runCairnWorkflow({ snapshot: prepareSnapshot(snapshot), workflow: wf, payload: parsePyJson(payloadText(file), "payload") as PyObject, dataRoot: join(dir, "data"), baseDir: dir });
}

/** The trace and summary bytes a run left under `dir`. */
function traceFiles(dir: string, traceId: string): { jsonl: Buffer; md: Buffer } {
  const at = join(dir, "traces/registry/WF_REGISTER_AGENT_V0", traceId, traceId);
  return { jsonl: readFileSync(`${at}.jsonl`), md: readFileSync(`${at}.md`) };
}

/** The body with its wall-clock duration replaced, for exact comparison. */
const withoutDuration = (text: string): string => text.replace(/"duration_ms":\d+(\.\d+)?,/, '"duration_ms":0,');

describe("POST /api/run over a Cairn snapshot → 200", () => {
  it("SUCCESS, then ALREADY_EXISTS: exact bodies; traces byte-identical to runCairnWorkflow over the same prior state", async () => {
    const { url, server, dir } = await serve(example);
    expect(server.snapshot).toBe(example.digest);
    const refDir = tempDir("cairn-serve-ref-");

    const first = await post(url, runBody("register-ok.json"));
    const ref1 = reference(refDir, "register-ok.json");
    expect(first.status).toBe(200);
    expect(first.body.trace_id).toMatch(TRACE_ID);
    expect(withoutDuration(first.text)).toBe(
      `{"status":"SUCCESS","trace_id":"${ref1.traceId}","duration_ms":0,"workflow_code":"${WF}","result_payload":{"record_id":"2025-01-01T00:00:00.000001_000000","sequence_number":1}}`,
    );
    expect(first.body.duration_ms as number).toBeGreaterThanOrEqual(0);
    expect(traceFiles(dir, ref1.traceId)).toEqual(traceFiles(refDir, ref1.traceId));

    // A repeat sees the first run's registration (and so does the reference on its own data root).
    const again = await post(url, runBody("register-ok.json"));
    const ref2 = reference(refDir, "register-ok.json");
    expect(ref2.status).toBe("ALREADY_EXISTS");
    expect(withoutDuration(again.text)).toBe(`{"status":"ALREADY_EXISTS","trace_id":"${ref2.traceId}","duration_ms":0,"workflow_code":"${WF}","result_payload":{}}`);
    expect(ref2.traceId).not.toBe(ref1.traceId);
    expect(traceFiles(dir, ref2.traceId)).toEqual(traceFiles(refDir, ref2.traceId));
    // No pictures: the server never renders.
    expect(existsSync(join(dir, "traces/registry/WF_REGISTER_AGENT_V0", ref1.traceId, `${ref1.traceId}.svg`))).toBe(false);
  });

  it("a business VIOLATION is still 200, with the surface of the node that said no", async () => {
    const { url, dir } = await serve(example);
    const r = await post(url, runBody("register-bad-email.json"));
    const refDir = tempDir("cairn-serve-ref-");
    const ref = reference(refDir, "register-bad-email.json");
    expect(r.status).toBe(200);
    expect(withoutDuration(r.text)).toBe(`{"status":"VIOLATION","trace_id":"${ref.traceId}","duration_ms":0,"workflow_code":"${WF}","result_payload":{"valid":true}}`);
    expect(traceFiles(dir, ref.traceId)).toEqual(traceFiles(refDir, ref.traceId));
  });

  it("payload absent means {}; ints stay ints and 1.0 stays a float (the Python value model, as wf run reads a payload file)", async () => {
    const decl = baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "no" } } } } });
    const snap = await sealedDecls([decl]);
    const { url } = await serve(snap);
    const empty = await post(url, `{"workflow_code": "test::WF_TEST_V0"}`);
    expect(empty.status).toBe(200);
    const refDir = tempDir("cairn-serve-ref-");
    const emptyRef = runCairnWorkflow({ snapshot: prepareSnapshot(snap), payload: new Map(), dataRoot: join(refDir, "data"), baseDir: refDir });
    expect(empty.body.trace_id).toBe(emptyRef.traceId);
    const asInt = await post(url, `{"workflow_code": "test::WF_TEST_V0", "payload": {"n": 1}}`);
    const asFloat = await post(url, `{"workflow_code": "test::WF_TEST_V0", "payload": {"n": 1.0}}`);
    expect(asInt.body.trace_id).not.toBe(asFloat.body.trace_id);
    const floatRef = runCairnWorkflow({ snapshot: prepareSnapshot(snap), payload: parsePyJson(`{"n": 1.0}`, "payload") as PyObject, dataRoot: join(refDir, "data"), baseDir: refDir });
    expect(asFloat.body.trace_id).toBe(floatRef.traceId);
    expect(asFloat.text).toContain(`"result_payload":{"digest":"${String(floatRef.surface.get("digest"))}"}`);
  });

  it("serialises concurrent runs: two identical requests give SUCCESS and ALREADY_EXISTS", async () => {
    const { url } = await serve(example);
    const [a, b] = await Promise.all([post(url, runBody("register-ok.json")), post(url, runBody("register-ok.json"))]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body.status, b.body.status].sort()).toEqual(["ALREADY_EXISTS", "SUCCESS"]);
  });
});

describe("POST /api/run over a Cairn snapshot → 400 / 500", () => {
  it.each([
    ["an unknown workflow", JSON.stringify({ workflow_code: "registry::WF_NOPE_V0", payload: {} }), `Workflow 'registry::WF_NOPE_V0' is not in the served snapshot ${"<digest>"} (it holds: ${WF})`],
    ["invalid JSON", `{"workflow_code": "${WF}", `, /^Invalid JSON body: /],
    ["a payload that is an array", JSON.stringify({ workflow_code: WF, payload: [1] }), "payload must be a JSON object, got an array"],
    ["a payload that is null", JSON.stringify({ workflow_code: WF, payload: null }), "payload must be a JSON object, got null"],
    ["a workflow_code without ::", JSON.stringify({ workflow_code: "WF_REGISTER_AGENT_V0" }), "Invalid WF FQDN (expected <domain>::<CODE>): 'WF_REGISTER_AGENT_V0'"],
  ])("%s → 400, nothing run", async (_what, text, message) => {
    const { url, dir } = await serve(example);
    const r = await post(url, text);
    expect(r.status).toBe(400);
    expect(Object.keys(r.body)).toEqual(["status", "error"]);
    expect(r.body.status).toBe("ERROR");
    if (typeof message === "string") expect(r.body.error).toBe(message.replace("<digest>", example.digest));
    else expect(r.body.error).toMatch(message);
    expect(existsSync(join(dir, "traces"))).toBe(false);
    expect(existsSync(join(dir, "data"))).toBe(false);
  });

  it(`the 400 for an unknown workflow names at most MAX_LISTED_NAMES (${MAX_LISTED_NAMES}) of the snapshot's workflows`, async () => {
    const n = MAX_LISTED_NAMES + 2;
    const codes = Array.from({ length: n }, (_, i) => `WF_W${String(i).padStart(2, "0")}_V0`);
    const snap = await sealedDecls(codes.map((code) => baseDecl({ code })));
    const { url } = await serve(snap);
    const r = await post(url, JSON.stringify({ workflow_code: "test::WF_ZZ_V0" }));
    expect(r.status).toBe(400);
    const listed = codes.slice(0, MAX_LISTED_NAMES).map((c) => `test::${c}`).join(", ");
    expect(r.body.error).toBe(`Workflow 'test::WF_ZZ_V0' is not in the served snapshot ${snap.digest} (it holds: ${listed}, … and 2 more)`);
    // Every one of them is served.
    expect((await post(url, JSON.stringify({ workflow_code: `test::${codes[n - 1]!}`, payload: { x: 1 } }))).status).toBe(200);
  });

  it("a runtime error (max_visits exceeded) → 500 with the trace id; the trace ends with ERROR", async () => {
    const loop = baseDecl({
      nodes: { start: { max_visits: 2, steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "start", VIOLATION: { exit: "BAD", reason: "no" } } } },
    });
    const { url, dir } = await serve(await sealedDecls([loop]));
    const r = await post(url, JSON.stringify({ workflow_code: "test::WF_TEST_V0", payload: { x: 1 } }));
    expect(r.status).toBe(500);
    expect(Object.keys(r.body)).toEqual(["status", "error", "trace_id", "workflow_code"]);
    expect(r.body).toMatchObject({ status: "ERROR", workflow_code: "test::WF_TEST_V0" });
    expect(r.body.error).toMatch(/^Runtime error: node start of WF 'test::WF_TEST_V0' would run a 3[a-z]{2} time; its declared bound is max_visits 2$/);
    expect(r.body.trace_id).toMatch(TRACE_ID);
    const trace = readFileSync(join(dir, "traces/test/WF_TEST_V0", r.body.trace_id as string, `${r.body.trace_id as string}.jsonl`), "utf8");
    expect((JSON.parse(trace.trim().split("\n").at(-1)!) as { event_type: string }).event_type).toBe("ERROR");
  });
});

describe("start-up over a Cairn snapshot", () => {
  it("a snapshot changed after it was loaded fails to start with E_SNAPSHOT_INTEGRITY; the data root's lock is not taken", async () => {
    const tampered = structuredClone(example);
    const node = tampered.content.workflows[WF]!.nodes.validate!;
    node.routes.VIOLATION = { exit: "ACCEPTED", reason: "anything goes" };
    const dir = tempDir("cairn-serve-");
    const e = cairnErrorOf(() => createServer({ snapshot: tampered, workspace: dir }));
    expect(e.code).toBe(ErrorCode.SNAPSHOT_INTEGRITY);
    expect(e.message).toMatch(new RegExp(`^snapshot integrity check failed \\(digest\\): snapshot ${example.digest}: the content's digest is sha256:[0-9a-f]{64}, the seal says ${example.digest}$`));
    expect(await tryLockElsewhere(join(dir, "data"), 0)).toEqual({ ok: true });
  });

  it("a changed user CT bundle (digest re-sealed, module key kept) fails with E_SNAPSHOT_INTEGRITY (module)", () => {
    const tampered = structuredClone(example);
    const [digest, mod] = Object.entries(tampered.content.modules)[0]!;
    mod.code = `${mod.code}\n// changed`;
    const resealed = verifySealedBytes(sealedFileBytes(tampered.content).bytes, "resealed.json");
    const e = cairnErrorOf(() => createServer({ snapshot: resealed, workspace: tempDir("cairn-serve-") }));
    expect(e.code).toBe(ErrorCode.SNAPSHOT_INTEGRITY);
    expect(e.message).toContain(`snapshot integrity check failed (module): the bundle recorded as ${digest} hashes to`);
  });

  it("serves the content verified at start: a later change to the caller's object does not reach the runs", async () => {
    const mine = structuredClone(example);
    const { url, dir } = await serve(mine);
    mine.content.workflows[WF]!.nodes.validate!.routes.VIOLATION = { exit: "ACCEPTED", reason: "anything goes" };
    const r = await post(url, runBody("register-bad-email.json"));
    const refDir = tempDir("cairn-serve-ref-");
    const ref = reference(refDir, "register-bad-email.json");
    expect(r.body.trace_id).toBe(ref.traceId);
    expect(traceFiles(dir, ref.traceId)).toEqual(traceFiles(refDir, ref.traceId));
    expect(traceFiles(dir, ref.traceId).jsonl.toString("utf8")).toContain('"exit":"REJECTED"');
  });

  it("a snapshot with lane-bound steps is refused at start with E_USAGE (plane_required)", async () => {
    const lane = {
      kind: "process", operation: "run",
      payload: { object: { command: { const: process.execPath }, argv: { const: ["-e", "0"] }, stdin: { json: "$.inputs" } } },
      acceptable_attestation: { classes: ["local-process-weak"] },
      result_json: "stdout",
    };
    const plain = baseDecl({ code: "WF_PLAIN_V0" });
    const bound = baseDecl({
      code: "WF_LANE_V0",
      nodes: {
        start: {
          steps: [{ id: "up", ct: "hash", inputs: { value: "$.payload" }, lane }],
          routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "no" }, BACKEND_ERROR: { exit: "BROKEN", reason: "lane failed" } },
        },
      },
    });
    const snap = await sealedDecls([plain, bound]);
    const dir = tempDir("cairn-serve-");
    const e = cairnErrorOf(() => createServer({ snapshot: snap, workspace: dir }));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.details).toMatchObject({ field: "snapshot", reason: PLANE_REQUIRED_REASON, snapshot: snap.digest, steps: 1 });
    expect(e.message).toBe(
      `snapshot ${snap.digest} has lane-bound steps (test::WF_LANE_V0 start/up): a server (createServer, cairn serve) has no execution-plane node to run them; run them with cairn wf run --snapshot … --plane-config, or runCairnWorkflowWithPlane`,
    );
    expect(await tryLockElsewhere(join(dir, "data"), 0)).toEqual({ ok: true });
  });

  it("the PGS-only options are refused with a snapshot", () => {
    const dir = tempDir("cairn-serve-");
    const e = cairnErrorOf(() => createServer({ snapshot: example, workspace: dir, runner: () => { throw new Error("never"); }, effectDurability: "no-fsync" }));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.message).toBe("ServerOptions.runner, effectDurability apply to a PGS workspace only, not with a Cairn snapshot");
    expect(cairnErrorOf(() => createServer({ snapshot: example, workspace: dir, cacheSnapshots: true })).message).toBe(
      "ServerOptions.cacheSnapshots applies to a PGS workspace only, not with a Cairn snapshot",
    );
  });

  it("a workspace that does not exist is refused (E_NOT_FOUND), as for a PGS workspace", () => {
    expect(cairnErrorOf(() => createServer({ snapshot: example, workspace: "/nonexistent/cairn-traces" })).code).toBe(ErrorCode.NOT_FOUND);
  });
});

describe("the data-root lock and the store", () => {
  it("holds the data root's lock until close(); each run uses it (a direct run in this process without it fails at once)", async () => {
    const { url, server, dir } = await serve(example);
    const dataRoot = join(dir, "data");
    expect((await tryLockElsewhere(dataRoot, 0)).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect((await post(url, runBody("register-ok.json"))).status).toBe(200);
    const e = cairnErrorOf(() =>
      runCairnWorkflow({ snapshot: prepareSnapshot(example), payload: new Map(), dataRoot, baseDir: dir, dataRootLockWaitMs: 5000 }),
    );
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.details).toMatchObject({ holder: "this process", waitedMs: 0 });
    await server.close();
    expect(await tryLockElsewhere(dataRoot, 0)).toEqual({ ok: true });
  });

  it("records each run in the store (opened per run), as a PGS server does", async () => {
    const storeDir = join(tempDir("cairn-serve-store-"), "st");
    let opened = 0;
    const { url } = await serve(example, {
      store: () => {
        opened++;
        return openStore({ dir: storeDir, create: true });
      },
    });
    const r = await post(url, runBody("register-ok.json"));
    expect(r.status).toBe(200);
    expect(opened).toBe(1);
    const store = openStore({ dir: storeDir, readOnly: true });
    try {
      expect(store.findRoot(`${CAIRN_ROOT_PREFIX}${r.body.trace_id as string}`)).toBeDefined();
    } finally {
      store.close();
    }
  });
});
