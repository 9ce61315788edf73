/** The HTTP gateway (src/server) over real HTTP on 127.0.0.1: every status code of POST /api/run. */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, MAX_BODY_BYTES, type CairnServer, type ServerOptions } from "../../src/server/index.js";
import { runPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { ACTOR_PAYLOAD, payload, sandbox, surfaceOf, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
const servers: CairnServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const b of boxes.splice(0)) b.cleanup();
});

function box(seed = false): Sandbox {
  const b = sandbox({ seedLicenseFacts: seed });
  boxes.push(b);
  return b;
}

/** A server over `b`, listening on 127.0.0.1 with a free port; returns its base URL. */
async function serve(b: Sandbox, opts: Partial<ServerOptions> = {}): Promise<string> {
  const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot, ...opts });
  servers.push(s);
  return s.listen(0, "127.0.0.1");
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function post(url: string, body: unknown, raw = false): Promise<Reply> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body: raw ? (body as string | Buffer) : JSON.stringify(body) });
  return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown>, headers: res.headers };
}

/** The payload object of a fixture file, as plain JSON. */
function payloadJson(file: string): unknown {
  return JSON.parse(readFileSync(file, "utf8"));
}

const TRACE_ID = /^[0-9a-f]{16}__WF_[A-Z0-9_]+__[0-9A-F]{4}$/;

describe("GET /api/health and routing", () => {
  it("answers {ok:true} with CORS", async () => {
    const url = await serve(box());
    const res = await fetch(`${url}/api/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ ok: true });
  });

  it("404 for other paths and methods", async () => {
    const url = await serve(box());
    const res = await fetch(`${url}/api/other`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ status: "ERROR", error: "Not found: POST /api/other" });
    expect((await fetch(`${url}/api/run`)).status).toBe(404);
  });

  it("listen() reports the URL; close() is idempotent", async () => {
    const b = box();
    const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
    servers.push(s);
    const url = await s.listen(0, "127.0.0.1");
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.url).toBe(url);
    await s.close();
    await s.close();
    expect(s.url).toBeNull();
    await expect(fetch(`${url}/api/health`)).rejects.toThrow();
  });

  it("refuses a workspace that does not exist", () => {
    expect(() => createServer({ workspace: "/nonexistent/cairn-workspace" })).toThrow(/not a directory/);
  });
});

describe("POST /api/run → 200", () => {
  it("a SUCCESS run: status, trace_id, duration_ms, workflow_code, result_payload = the run's surface", async () => {
    const b = box(true);
    const url = await serve(b);
    const file = payload("agent_governance/01_valid_standard_action.json");
    const r = await post(url, { workflow_code: WF.govern, payload: payloadJson(file) });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(Object.keys(r.body)).toEqual(["status", "trace_id", "duration_ms", "workflow_code", "result_payload"]);
    expect(r.body.status).toBe("SUCCESS");
    expect(r.body.workflow_code).toBe(WF.govern);
    expect(r.body.trace_id).toMatch(TRACE_ID);
    expect(r.body.trace_id).toContain("__WF_GOVERN_AGENT_ACTION_V0__");
    expect(typeof r.body.duration_ms).toBe("number");
    expect(r.body.duration_ms as number).toBeGreaterThanOrEqual(0);

    // The same run in process (fresh sandbox, same seed): same trace id, same surface.
    const ref = box(true).run(WF.govern, file);
    expect(r.body.trace_id).toBe(ref.traceId);
    expect(r.body.result_payload).toEqual(JSON.parse(surfaceOf(ref)));
    expect(Object.keys(r.body.result_payload as object).length).toBeGreaterThan(0);

    // The trace is written as by `wf run`, without any wall-clock duration.
    const traceDir = join(b.workspace, "traces/ai_governance/WF_GOVERN_AGENT_ACTION_V0", r.body.trace_id as string);
    const trace = readFileSync(join(traceDir, `${String(r.body.trace_id)}.jsonl`), "utf8");
    expect(trace).not.toMatch(/duration/);
    expect(trace.trim().split("\n").map((l) => (JSON.parse(l) as { event_type: string }).event_type).at(-1)).toBe("WF_COMPLETE");
    expect(existsSync(join(traceDir, `${String(r.body.trace_id)}.md`))).toBe(true);
  });

  it("a business VIOLATION is still 200 (the run completed)", async () => {
    const url = await serve(box());
    const r = await post(url, { workflow_code: WF.collatz, payload: payloadJson(payload("collatz_conjecture/03_invalid_nack.json")) });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("VIOLATION");
    expect(r.body.result_payload).toEqual({ sequences: null, numbers: [0, 98, -5] });
  });

  it("ALREADY_EXISTS on a repeat against the same data root; a missing payload means {}", async () => {
    const url = await serve(box());
    const body = { workflow_code: WF.provision, payload: payloadJson(payload("ai_licensing/provision_ai_licensing_payload.json")) };
    expect((await post(url, body)).body.status).toBe("SUCCESS");
    const again = await post(url, body);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("ALREADY_EXISTS");
    const empty = await post(url, { workflow_code: WF.deny });
    expect(empty.status).toBe(200);
    expect(typeof empty.body.status).toBe("string");
  });

  it("numbers keep their Python type: ints stay ints, 2.0 stays a float (lossless payload)", async () => {
    const b = box();
    const url = await serve(b);
    const text = `{"workflow_code": "${WF.collatz}", "payload": {"numbers": [6, 7]}}`;
    const res = await fetch(`${url}/api/run`, { method: "POST", body: text }); // fetch sends text/plain: still read as JSON
    expect(res.status).toBe(200);
    const body = (await res.json()) as { trace_id: string; status: string };
    const ref = box().run(WF.collatz, writePayload(b, { numbers: [6, 7] }));
    expect(body.trace_id).toBe(ref.traceId);
    const asFloat = await post(url, `{"workflow_code": "${WF.collatz}", "payload": {"numbers": [6.0, 7]}}`, true);
    expect(asFloat.body.trace_id).not.toBe(ref.traceId); // 6.0 ≠ 6 in the canonical payload
  });
});

function writePayload(b: Sandbox, doc: unknown): string {
  const p = join(b.root, `payload-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(doc));
  return p;
}

describe("POST /api/run → 400", () => {
  it.each([
    ["invalid JSON", '{"workflow_code": "ai_governance::WF_DENY_PROVISION_V0", ', /^Invalid JSON body: /],
    ["an empty body", "", /^Invalid JSON body: the request body is empty$/],
    // Decoded as a string, the 0xFF byte became U+FFFD and the workflow ran on that payload.
    ["a body that is not UTF-8", Buffer.concat([Buffer.from(`{"workflow_code": "${WF.deny}", "payload": {"actor": "é`), Buffer.from([0xff]), Buffer.from('"}}')]), new RegExp(`^Invalid JSON body: the request body is not valid UTF-8 \\(byte offset ${Buffer.byteLength(`{"workflow_code": "${WF.deny}", "payload": {"actor": "é`)}: 0xff 0x22 0x7d 0x7d\\)$`)],
    ["a body that is not an object", "[1, 2]", /must be a JSON object/],
    ["a workflow_code without ::", JSON.stringify({ workflow_code: "WF_DENY_PROVISION_V0", payload: {} }), /^Invalid WF FQDN \(expected <domain>::<CODE>\): 'WF_DENY_PROVISION_V0'$/],
    ["a missing workflow_code", JSON.stringify({ payload: {} }), /^workflow_code is required/],
    ["a workflow_code that is not a string", JSON.stringify({ workflow_code: 42, payload: {} }), /^workflow_code must be a string/],
    ["an unsafe domain", JSON.stringify({ workflow_code: "../x::WF_A", payload: {} }), /^Invalid WF FQDN/],
    ["a payload that is an array", JSON.stringify({ workflow_code: WF.deny, payload: [1] }), /^payload must be a JSON object, got an array$/],
    ["a payload that is a string", JSON.stringify({ workflow_code: WF.deny, payload: "{}" }), /^payload must be a JSON object, got a string$/],
    ["a payload that is null", JSON.stringify({ workflow_code: WF.deny, payload: null }), /^payload must be a JSON object, got null$/],
    ["a payload nested deeper than MAX_PAYLOAD_DEPTH (256)", `{"workflow_code": "${WF.deny}", "payload": {"x": ${"[".repeat(256)}${"]".repeat(256)}}}`, /^payload is nested deeper than 256 levels$/],
    ["an unknown domain", JSON.stringify({ workflow_code: "no_such_domain::WF_X_V0", payload: {} }), /^Unknown domain 'no_such_domain'/],
    ["an unknown WF code", JSON.stringify({ workflow_code: "ai_governance::WF_NO_SUCH_V0", payload: {} }), /^WF FQDN not in vocab: 'ai_governance::WF_NO_SUCH_V0'$/],
    ["a CC, not a workflow", JSON.stringify({ workflow_code: "blockchain::CC_GENERATE_ACTOR_ID_V0", payload: {} }), /is not a workflow of domain 'blockchain'/],
  ])("%s", async (_what, text, message) => {
    const b = box();
    const url = await serve(b);
    const r = await post(url, text, true);
    expect(r.status).toBe(400);
    expect(Object.keys(r.body)).toEqual(["status", "error"]);
    expect(r.body.status).toBe("ERROR");
    expect(r.body.error).toMatch(message);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(existsSync(join(b.workspace, "traces"))).toBe(false); // refused before any run
  });
});

describe("POST /api/run → 413", () => {
  it(`a body over MAX_BODY_BYTES (${MAX_BODY_BYTES})`, async () => {
    const url = await serve(box());
    const big = JSON.stringify({ workflow_code: WF.deny, payload: { pad: "x".repeat(MAX_BODY_BYTES) } });
    const r = await post(url, big, true);
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ status: "ERROR", error: `Request body is larger than the ${MAX_BODY_BYTES}-byte limit` });
    // The server is still fine afterwards.
    expect((await post(url, { workflow_code: WF.deny, payload: payloadJson(payload("ai_licensing/deny_provision_payload.json")) })).status).toBe(200);
  });

  it("honours a smaller configured limit", async () => {
    const url = await serve(box(), { maxBodyBytes: 64 });
    const r = await post(url, { workflow_code: WF.deny, payload: { pad: "x".repeat(100) } });
    expect(r.status).toBe(413);
  });
});

describe("POST /api/run → 500", () => {
  type Json = Record<string, unknown>;
  function editJson(b: Sandbox, rel: string, f: (d: Json) => void): void {
    const p = join(b.workspace, rel);
    const d = JSON.parse(readFileSync(p, "utf8")) as Json;
    f(d);
    writeFileSync(p, JSON.stringify(d, null, 2));
  }

  it("a runtime error (unmapped CS handler_ref) → 500 with the trace id; the trace ends with ERROR", async () => {
    const b = box();
    editJson(b, "tokenized_snapshot/ai_governance/handlers.json", (d) => {
      (((d.cs as Json)["46"] as Json).handler_ref as Json).callable = "SomethingElse";
    });
    const url = await serve(b);
    const r = await post(url, { workflow_code: WF.deny, payload: payloadJson(payload("ai_licensing/deny_provision_payload.json")) });
    expect(r.status).toBe(500);
    expect(Object.keys(r.body)).toEqual(["status", "error", "trace_id", "workflow_code"]);
    expect(r.body.status).toBe("ERROR");
    expect(r.body.error).toMatch(/^Runtime error: .*unmapped CS handler_ref .*:SomethingElse/);
    expect(r.body.trace_id).toMatch(TRACE_ID);
    expect(r.body.workflow_code).toBe(WF.deny);
    const trace = readFileSync(join(b.workspace, "traces/ai_governance/WF_DENY_PROVISION_V0", r.body.trace_id as string, `${String(r.body.trace_id)}.jsonl`), "utf8");
    expect((JSON.parse(trace.trim().split("\n").at(-1) as string) as { event_type: string }).event_type).toBe("ERROR");
  });

  it("a snapshot that fails to load (dispatch.json deleted after startup) → 500, trace_id null, no absolute path", async () => {
    const b = box();
    const url = await serve(b);
    rmSync(join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json"));
    const r = await post(url, { workflow_code: WF.deny, payload: {} });
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ status: "ERROR", trace_id: null, workflow_code: WF.deny });
    expect(r.body.error).toBe("Snapshot of domain 'ai_governance' failed to load: Required snapshot file missing: {{workspace}}/tokenized_snapshot/ai_governance/dispatch.json");
    expect(existsSync(join(b.workspace, "traces"))).toBe(false);
  });

  it("a tampered snapshot (integrity check) → 500", async () => {
    const b = box();
    const topo = join(b.workspace, "tokenized_snapshot/ai_governance/topology.json");
    writeFileSync(topo, readFileSync(topo, "utf8").replace('"to": 116', '"to": 117'));
    const url = await serve(b);
    const r = await post(url, { workflow_code: WF.deny, payload: {} });
    expect(r.status).toBe(500);
    expect(r.body.error).toMatch(/integrity/);
    expect(r.body.trace_id).toBeNull();
  });

  it("a hard failure before the trace exists (the trace directory cannot be created) → 500, trace_id null", async () => {
    const b = box();
    writeFileSync(join(b.workspace, "traces"), ""); // a file where the traces directory goes
    const url = await serve(b);
    const r = await post(url, { workflow_code: WF.actor, payload: payloadJson(ACTOR_PAYLOAD) });
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ status: "ERROR", trace_id: null, workflow_code: WF.actor });
    expect(r.body.error).toContain("traces/blockchain/WF_REGISTER_ACTOR_UNVERIFIED_V0/");
    expect(r.body.error).not.toContain(b.root);
  });

  it("a data-root file that is a directory no longer stops the run before it starts: the CS step fails inside it → 500 with the trace id", async () => {
    const b = box();
    mkdirSync(join(b.dataRoot, "blockchain/identity/events/identity_events.jsonl"), { recursive: true });
    const url = await serve(b);
    const r = await post(url, { workflow_code: WF.actor, payload: payloadJson(ACTOR_PAYLOAD) });
    expect(r.status).toBe(500);
    expect(r.body).toMatchObject({ status: "ERROR", workflow_code: WF.actor });
    expect(r.body.trace_id).toEqual(expect.any(String));
    expect(r.body.error).toContain("identity_events.jsonl");
    expect(r.body.error).not.toContain(b.root);
  });

  it("an exception from the runner (not a CairnError) → 500 Internal error", async () => {
    const url = await serve(box(), {
      runner: () => {
        throw new TypeError("boom");
      },
    });
    const r = await post(url, { workflow_code: WF.deny, payload: {} });
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ status: "ERROR", error: "Internal error: boom", trace_id: null, workflow_code: WF.deny });
  });
});

describe("serialised runs", () => {
  it("two concurrent requests on the same data root both succeed, one after the other", async () => {
    const url = await serve(box());
    const body = { workflow_code: WF.provision, payload: payloadJson(payload("ai_licensing/provision_ai_licensing_payload.json")) };
    const [a, b] = await Promise.all([post(url, body), post(url, body)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // Serialised: the second run sees the first one's registration.
    expect([a.body.status, b.body.status].sort()).toEqual(["ALREADY_EXISTS", "SUCCESS"]);
    expect(a.body.trace_id).not.toBe(b.body.trace_id);
  });

  it("never runs two at once, and answers 503 when the queue is full", async () => {
    let active = 0;
    let maxActive = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const runner = async (o: RunPgsOptions) => {
      active++;
      maxActive = Math.max(maxActive, active);
      calls++;
      if (calls === 1) await gate; // hold the first run until the queue has filled
      else await new Promise((r) => setTimeout(r, 5));
      active--;
      return runPgsWorkflow(o);
    };
    const b = box();
    const url = await serve(b, { runner, maxQueuedRuns: 2 });
    const body = { workflow_code: WF.deny, payload: payloadJson(payload("ai_licensing/deny_provision_payload.json")) };
    const first = post(url, body);
    const queued = [post(url, body), post(url, body)];
    await new Promise((r) => setTimeout(r, 100)); // both are waiting behind the first
    const refused = await post(url, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body).toEqual({ status: "ERROR", error: "server busy: 2 run(s) already waiting; retry later" });
    release();
    const done = await Promise.all([first, ...queued]);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(maxActive).toBe(1);
    expect(calls).toBe(3);
    // Each run saw the previous one's audit append: three distinct traces.
    expect(new Set(done.map((r) => r.body.trace_id)).size).toBe(3);
  });
});
