/**
 * The http lane from the BUILT cli with a `declared-endpoint-weak` target: keygen → sign → exec
 * against a local node:http server (run in a child process: the CLI runs synchronously), a
 * request to another origin refused before any I/O, config errors naming the key, and a
 * workflow step bound to the http lane run by `cairn wf run --snapshot … --plane-config`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { TempDirs, cairn, json, type RunResult } from "./helpers.js";

const temps = new TempDirs();

// a service that logs every request it receives (one JSON line on stdout) and answers
// GET /hello with text and POST /shout {value} with {digest}
const SERVER = `
const http = require("node:http");
const s = http.createServer((req, res) => {
  res.sendDate = false;
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    process.stdout.write(JSON.stringify({ hit: req.method + " " + req.url }) + "\\n");
    if (req.method === "POST" && req.url === "/shout") {
      const v = JSON.parse(body);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ digest: "up:" + String(v.value).toUpperCase() }));
    } else if (req.url === "/hello") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "18", "x-service": "billing" }).end("hello from billing");
    } else res.writeHead(404, { "content-type": "text/plain" }).end("no");
  });
});
s.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: s.address().port }) + "\\n"));
`;

let server: ChildProcessWithoutNullStreams;
let origin: string;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  server = spawn(process.execPath, ["-e", SERVER]);
  port = await new Promise<number>((ok, fail) => {
    let buf = "";
    server.stdout.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { port?: number; hit?: string };
        buf = buf.slice(nl + 1);
        if (msg.port !== undefined) ok(msg.port);
        if (msg.hit !== undefined) hits.push(msg.hit);
      }
    });
    server.on("exit", (code) => fail(new Error(`server exited ${code}`)));
  });
  origin = `http://127.0.0.1:${port}`;
});
afterAll(() => {
  server.kill();
  temps.cleanup();
});

/** Forgets earlier hits (after letting late ones arrive). */
async function resetHits(): Promise<void> {
  await new Promise((r) => setTimeout(r, 100));
  hits.length = 0;
}

/** Hits logged by the server so far (its stdout is read asynchronously: give it a moment). */
async function served(): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 100));
  return [...hits];
}

const ID = (p: string) => new RegExp(`^${p}-\\d{13}-[0-9a-f]{16}-\\d+$`);

function nodeYaml(endpoint: string): string {
  return `node_id: local-1
authority: { audience: cairn-local, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: [process, http], operations: ["*"] }, { subject: wf-runtime, lanes: [http], operations: [request] }] }
lanes: [inline, process, http]
targets:
  - { target_id: local, lane_id: process, attestation_class: local-process-weak }
  - { target_id: billing, lane_id: http, attestation_class: declared-endpoint-weak, endpoint: "${endpoint}" }
evidence: { jsonl: evidence.jsonl, store: true }
`;
}

function httpRequest(url: string, classes = ["declared-endpoint-weak"]): Record<string, unknown> {
  return { contract_version: 1, lane_id: "http", operation: "request", idempotency_key: "h1", payload: { url, method: "GET", timeout_ms: 5000 }, acceptable_attestation: { classes } };
}

function box(): { dir: string; run: (args: string[]) => RunResult; signExec: (req: Record<string, unknown>, name: string) => RunResult } {
  const dir = temps.make();
  const run = (args: string[]) => cairn(args, { cwd: dir, env: { CAIRN_STORE: join(dir, "store") } });
  expect(run(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
  const signExec = (req: Record<string, unknown>, name: string) => {
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(req));
    const s = run(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "60", "--request", `${name}.json`]);
    expect(s.status, s.err).toBe(0);
    writeFileSync(join(dir, `${name}.signed.json`), s.out);
    return run(["plane", "exec", "--config", "node.yaml", "--request", `${name}.signed.json`, "--json"]);
  };
  return { dir, run, signExec };
}

describe("cairn plane exec on the http lane (declared-endpoint-weak)", () => {
  it("keygen → sign → exec against a local server: exact ExecutionResult JSON; another origin is refused before any I/O", async () => {
    await resetHits();
    const { dir, run, signExec } = box();
    writeFileSync(join(dir, "node.yaml"), nodeYaml(origin));
    const r = signExec(httpRequest(`${origin}/hello`), "req");
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(json(r)).toEqual({
      contract_version: 1,
      events: [],
      evidence: [expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev")), expect.stringMatching(ID("ev"))],
      execution_ref: expect.stringMatching(ID("exec")),
      output: {
        body: "hello from billing",
        body_encoding: "utf8",
        body_truncated: false,
        headers: { connection: "keep-alive", "content-length": "18", "content-type": "text/plain", "keep-alive": "timeout=5", "x-service": "billing" },
        status_code: 200,
      },
      provenance: { admission_ref: expect.stringMatching(ID("adm")), details: {}, kind: "node_admitted" },
      status: "succeeded",
    });
    const lines = readFileSync(join(dir, "evidence.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((e) => [e.evidence_type, e.target_id, e.attestation_class, e.target_verifier_id, e.lane_id])).toEqual(
      ["admission.accepted", "target.selected", "execution.started", "execution.completed"].map((t) => [t, "billing", "declared-endpoint-weak", "cairn.plane:declared-endpoint-verifier:v1", "http"]),
    );
    const selected = lines[1]!.payload as { descriptor: { metadata: Record<string, unknown> } };
    expect(selected.descriptor.metadata).toEqual({ declared_by: "node_config", endpoint_origin: origin, isolation: "none", placement: "local", remote_identity: "none", sandbox: false });

    // the same server under another origin (host spelling): refused at admission, never contacted
    const other = signExec(httpRequest(`http://localhost:${port}/hello`), "other");
    expect(other.status).toBe(1);
    expect(json<{ status: string; error: { reason: string; details: Record<string, unknown> } }>(other)).toMatchObject({
      status: "rejected",
      error: { reason: "no_satisfying_attested_target", details: { reason: "endpoint_not_attested", lane_id: "http", origin: `http://localhost:${port}` } },
    });
    // a request that only accepts local-process-weak finds no target on the http lane
    const weak = signExec(httpRequest(`${origin}/hello`, ["local-process-weak"]), "weak");
    expect(weak.status).toBe(1);
    expect(json<{ error: { reason: string } }>(weak).error.reason).toBe("no_satisfying_attested_target");
    expect(await served()).toEqual(["GET /hello"]);

    // describe shows the verifier and the endpoint-bound target
    const d = json<{ registered_target_verifiers: Array<{ verifier_id: string }>; verified_targets: Array<{ target_id: string; metadata: Record<string, unknown> }> }>(
      run(["plane", "describe", "--config", "node.yaml", "--json"]),
    );
    expect(d.registered_target_verifiers.map((v) => v.verifier_id)).toEqual(["cairn.plane:declared-endpoint-verifier:v1", "cairn.plane:local-weak-verifier:v1"]);
    expect(d.verified_targets.map((t) => [t.target_id, t.metadata.endpoint_origin ?? null])).toEqual([
      ["billing", origin],
      ["local", null],
    ]);
  });

  it("config errors name the key: no endpoint on a network lane, the class on a process lane, local-process-weak on http", () => {
    const { dir, run } = box();
    const cases: Array<[string, string]> = [
      [nodeYaml(origin).replace(`, endpoint: "${origin}"`, ""), 'targets[1].endpoint: required: a target on the http lane "http" must declare its endpoint origin'],
      [nodeYaml(origin).replace("lane_id: http, attestation_class: declared-endpoint-weak", "lane_id: process, attestation_class: declared-endpoint-weak"), "targets[1].attestation_class: declared-endpoint-weak is for network lanes"],
      [nodeYaml(origin).replace(`lane_id: http, attestation_class: declared-endpoint-weak, endpoint: "${origin}"`, "lane_id: http, attestation_class: local-process-weak"), "targets[1].attestation_class: local-process-weak covers same-host lanes only"],
      [nodeYaml(`${origin}/api`), "targets[1].endpoint: must be an origin (scheme://host[:port]) without path, query or fragment"],
    ];
    for (const [text, msg] of cases) {
      writeFileSync(join(dir, "bad.yaml"), text);
      const r = run(["plane", "describe", "--config", "bad.yaml"]);
      expect(r.status, msg).toBe(1);
      expect(r.err).toContain(`bad.yaml: ${msg}`);
    }
  });
});

describe("examples/plane: the http request of the README", () => {
  it("node.yaml + http-request.json (endpoint moved to the test server's port) succeed; another origin is rejected", async () => {
    const { cpSync } = await import("node:fs");
    const { fileURLToPath } = await import("node:url");
    await resetHits();
    const d = temps.make();
    cpSync(fileURLToPath(new URL("../../examples/plane/", import.meta.url)), d, { recursive: true });
    for (const f of ["node.yaml", "http-request.json"]) {
      const text = readFileSync(join(d, f), "utf8");
      expect(text).toContain("http://127.0.0.1:8080");
      writeFileSync(join(d, f), text.replaceAll("http://127.0.0.1:8080/", `${origin}/hello`).replaceAll("http://127.0.0.1:8080", origin));
    }
    const c = (args: string[]) => cairn(args, { cwd: d, env: { CAIRN_STORE: join(d, "store") } });
    expect(c(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
    const execute = (req: string) => {
      const signed = c(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "60", "--request", req]);
      expect(signed.status, signed.err).toBe(0);
      writeFileSync(join(d, "signed.json"), signed.out);
      return c(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"]);
    };
    const ok = execute("http-request.json");
    expect(ok.status, ok.err).toBe(0);
    expect(json(ok)).toMatchObject({ status: "succeeded", output: { status_code: 200, body: "hello from billing" } });
    const req = JSON.parse(readFileSync(join(d, "http-request.json"), "utf8")) as { payload: { url: string } };
    req.payload.url = `http://localhost:${port}/hello`;
    writeFileSync(join(d, "other.json"), JSON.stringify(req));
    const no = execute("other.json");
    expect(no.status).toBe(1);
    expect(json(no)).toMatchObject({ status: "rejected", error: { reason: "no_satisfying_attested_target", details: { reason: "endpoint_not_attested" } } });
    expect(await served()).toEqual(["GET /hello"]);
  });
});

describe("cairn wf run: a workflow step bound to the http lane", () => {
  function decl(url: string): Record<string, unknown> {
    return {
      cairn: "cairn.workflow/v1",
      namespace: "lanes",
      code: "WF_SHOUT_V0",
      entry: "shout",
      nodes: {
        shout: {
          steps: [{
            id: "up", ct: "hash", inputs: { value: "$.payload.text" },
            lane: {
              kind: "http", operation: "request",
              payload: { object: { url: { const: url }, method: { const: "POST" }, json: "$.inputs", timeout_ms: { const: 5000 } } },
              acceptable_attestation: { classes: ["declared-endpoint-weak"] },
              result_json: "body",
            },
          }],
          routes: { SUCCESS: { exit: "DONE", reason: "shouted" }, VIOLATION: { exit: "BAD", reason: "x" }, BACKEND_ERROR: { exit: "BROKEN", reason: "service failed" } },
        },
      },
    };
  }

  function setup(url: string): { dir: string; run: (args: string[]) => RunResult } {
    const dir = temps.make();
    const run = (args: string[]) => cairn(args, { cwd: dir });
    expect(run(["plane", "keygen", "--out", "keys", "--id", "ops"]).status).toBe(0);
    writeFileSync(join(dir, "node.yaml"), nodeYaml(origin));
    writeFileSync(join(dir, "wf.yaml"), stringify(decl(url)));
    writeFileSync(join(dir, "p.json"), JSON.stringify({ text: "hello" }));
    const c = run(["wf", "compile", "wf.yaml", "--out", "snap.json"]);
    expect(c.status, c.err).toBe(0);
    return { dir, run };
  }
  const PLANE = ["--plane-config", "node.yaml", "--plane-key", "keys/ops.key", "--plane-subject", "wf-runtime"];

  it("runs through the node against the declared endpoint; the trace lists the evidence", async () => {
    await resetHits();
    const { dir, run } = setup(`${origin}/shout`);
    const r = run(["--store", "st", "wf", "run", "--snapshot", "snap.json", "--payload", "p.json", ...PLANE, "--json", "--no-render"]);
    expect(r.status, r.err).toBe(0);
    const doc = JSON.parse(r.out) as { status: string; traceId: string; traceDir: string; surface: Record<string, unknown> };
    expect(doc.status).toBe("SUCCESS");
    expect(doc.surface).toEqual({ digest: "up:HELLO" });
    const events = readFileSync(join(dir, doc.traceDir, `${doc.traceId}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event_type: string; detail: Record<string, unknown> });
    const lane = events.find((e) => e.event_type === "CC_STEP")!.detail.lane as { evidence: string[]; status: string; lane_id: string };
    expect(lane).toMatchObject({ status: "succeeded", lane_id: "http" });
    const jsonl = readFileSync(join(dir, "evidence.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { evidence_id: string; evidence_type: string; target_id: string });
    expect(lane.evidence).toEqual(jsonl.map((e) => e.evidence_id));
    expect(jsonl.map((e) => [e.evidence_type, e.target_id])).toEqual([
      ["admission.accepted", "billing"],
      ["target.selected", "billing"],
      ["execution.started", "billing"],
      ["execution.completed", "billing"],
    ]);
    expect(await served()).toEqual(["POST /shout"]);
  });

  it("a step whose URL is on an undeclared origin is an admission ERROR, and the service is never called", async () => {
    await resetHits();
    const { run } = setup(`http://localhost:${port}/shout`);
    const r = run(["wf", "run", "--snapshot", "snap.json", "--payload", "p.json", ...PLANE, "--json", "--no-render"]);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ status: "ERROR" });
    expect(r.err).toContain("E_PLANE_REJECTED");
    expect(r.err).toContain("no_satisfying_attested_target");
    expect(await served()).toEqual([]);
  });
});
