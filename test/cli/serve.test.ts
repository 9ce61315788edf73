/**
 * `cairn serve` through the built CLI (run `npm run build` first): listen, one request, SIGTERM;
 * `cairn serve --snapshot` over a sealed Cairn snapshot (file or store digest) and its start-up
 * refusals.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cairn, killChildrenAfterEach, serveCairn, TempDirs } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
const dirs = new TempDirs();
const children = killChildrenAfterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
  dirs.cleanup();
});

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `cairn serve` over the sandbox's workspace and resolves once it has printed its URL on stderr. */
async function startServe(b: Sandbox, extra: string[] = []): Promise<Served> {
  return spawnServe(b.root, ["--workspace", "workspace", "--data-root", "data", ...extra]);
}

/** Safety net for the --json line (not a speed assertion). */
const STDOUT_LIMIT_MS = 20_000;

/**
 * Waits until `s` has printed a whole line on stdout. The server writes it just after the
 * "listening on" line on stderr (another pipe, read separately): it may arrive later, by as long
 * as the server is descheduled between the two writes on a loaded machine.
 */
async function stdoutLine(s: Served): Promise<void> {
  const deadline = Date.now() + STDOUT_LIMIT_MS;
  while (!s.stdout().endsWith("\n")) {
    if (Date.now() > deadline || s.child.exitCode !== null) throw new Error(`no line on stdout; stdout: ${s.stdout()}; stderr: ${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `cairn [args before serve] serve --port 0 --host 127.0.0.1 <args>` in `cwd`, once it listens. */
function spawnServe(cwd: string, args: string[], globals: string[] = []): Promise<Served> {
  return serveCairn(cwd, args, (c) => children.push(c), globals);
}

describe("cairn serve", () => {
  it("listens on a free port, serves POST /api/run, and exits 0 on SIGTERM", async () => {
    const b = sandbox();
    boxes.push(b);
    const s = await startServe(b);
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.url.endsWith(":0")).toBe(false);

    const health = await fetch(`${s.url}/api/health`);
    expect(await health.json()).toEqual({ ok: true });

    const res = await fetch(`${s.url}/api/run`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ workflow_code: WF.deny, payload: JSON.parse(readFileSync(payload("ai_licensing/deny_provision_payload.json"), "utf8")) }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "SUCCESS", workflow_code: WF.deny });
    expect(body.result_payload).toEqual({ result_status: "SUCCESS", decision: "DENIED", employee_id: "e-7526", event_type: "EV_PROVISION_DENIED_V0", reason_code: "TRAINING_INCOMPLETE" });
    // Same trace id as a one-shot `cairn wf run` on a fresh copy.
    const other = sandbox();
    boxes.push(other);
    const ref = cairn(["wf", "run", "--workspace", "workspace", "--wf", WF.deny, "--payload", payload("ai_licensing/deny_provision_payload.json"), "--data-root", "data", "--json"], { cwd: other.root });
    expect(body.trace_id).toBe((JSON.parse(ref.out) as { traceId: string }).traceId);

    s.child.kill("SIGTERM");
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toContain("SIGTERM, closing the server");
    expect(s.stdout()).toBe("");
  });

  it("--json prints {url} on stdout; SIGINT also stops it with exit 0", async () => {
    const b = sandbox();
    boxes.push(b);
    const s = await startServe(b, ["--json"]);
    await stdoutLine(s);
    expect(JSON.parse(s.stdout())).toEqual({ url: s.url });
    s.child.kill("SIGINT");
    expect((await s.exited).code).toBe(0);
  });

  it("usage errors exit 2: no workspace, bad port", () => {
    const b = sandbox();
    boxes.push(b);
    const noWs = cairn(["serve", "--port", "0"], { cwd: b.root, env: { PGS_WORKSPACE: undefined } });
    expect(noWs.status).toBe(2);
    expect(noWs.err).toContain("--workspace <dir> (or $PGS_WORKSPACE) is required [E_USAGE]");
    const badPort = cairn(["serve", "--port", "70000", "--workspace", "workspace"], { cwd: b.root });
    expect(badPort.status).toBe(2);
    expect(badPort.err).toContain(`invalid --port "70000": expected an integer in 0..65535 [E_USAGE]`);
    // surrounding spaces are allowed, as for every integer flag (parseCount)
    expect(cairn(["serve", "--port", " 70000 ", "--workspace", "workspace"], { cwd: b.root }).err).toContain(`invalid --port " 70000 ": expected an integer in 0..65535`);
    // an empty --host (a script's unset "$HOST") would listen on every interface: refused
    for (const host of ["", " "]) {
      const emptyHost = cairn(["serve", "--port", "0", "--host", host, "--workspace", "workspace"], { cwd: b.root });
      expect(emptyHost.status).toBe(2);
      expect(emptyHost.err).toContain("--host must not be empty (the default is 127.0.0.1; listen on every interface with 0.0.0.0 or ::)");
    }
    const missing = cairn(["serve", "--port", "0", "--workspace", "nope"], { cwd: b.root });
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("workspace nope is not a directory [E_NOT_FOUND]");
  });
});

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
const CAIRN_WF = "registry::WF_REGISTER_AGENT_V0";
const examplePayload = (file: string): unknown => JSON.parse(readFileSync(join(EXAMPLES, "payloads", file), "utf8"));

/** `cairn [globals] wf compile EXAMPLES --out snap.json` in `cwd`; returns the digest. */
function compileExample(cwd: string, globals: string[] = []): string {
  const c = cairn([...globals, "wf", "compile", EXAMPLES, "--out", "snap.json"], { cwd });
  expect(c.status).toBe(0);
  return c.out.trim().split("\n").pop()!;
}

async function postRun(url: string, workflowCode: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", body: JSON.stringify({ workflow_code: workflowCode, payload: body }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const traceBytes = (base: string, traceId: string): Buffer => readFileSync(join(base, "traces/registry/WF_REGISTER_AGENT_V0", traceId, `${traceId}.jsonl`));

describe("cairn serve --snapshot", () => {
  it("serves a sealed snapshot file: the trace of `wf run --snapshot`, byte for byte; {url, snapshot} with --json; exit 0 on SIGTERM", async () => {
    const cwd = dirs.make();
    const digest = compileExample(cwd);
    const s = await spawnServe(cwd, ["--snapshot", "snap.json", "--json"]);
    expect(s.stderr()).toContain(`cairn: serving snapshot ${digest}\ncairn: listening on ${s.url}\n`);
    await stdoutLine(s);
    expect(JSON.parse(s.stdout())).toEqual({ url: s.url, snapshot: digest });

    const r = await postRun(s.url, CAIRN_WF, examplePayload("register-ok.json"));
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(["status", "trace_id", "duration_ms", "workflow_code", "result_payload"]);
    expect(r.body).toMatchObject({ status: "SUCCESS", workflow_code: CAIRN_WF, result_payload: { record_id: "2025-01-01T00:00:00.000001_000000", sequence_number: 1 } });

    const other = dirs.make();
    compileExample(other);
    const ref = cairn(["wf", "run", "--snapshot", "snap.json", "--payload", join(EXAMPLES, "payloads/register-ok.json"), "--no-render", "--json"], { cwd: other });
    expect(ref.status).toBe(0);
    const doc = JSON.parse(ref.out) as { traceId: string; surface: unknown };
    expect(r.body.trace_id).toBe(doc.traceId);
    expect(r.body.result_payload).toEqual(doc.surface);
    expect(traceBytes(cwd, doc.traceId).equals(traceBytes(other, doc.traceId))).toBe(true);
    expect(existsSync(join(cwd, "data/registry/agents.jsonl"))).toBe(true); // data root default: <workspace = .>/data

    s.child.kill("SIGTERM");
    expect(await s.exited).toEqual({ code: 0, signal: null });
  });

  it("--snapshot <digest> reads it from --store; traces and data under --workspace; runs are recorded (wf replay: identical)", async () => {
    const cwd = dirs.make();
    const digest = compileExample(cwd, ["--store", "st"]);
    mkdirSync(join(cwd, "ws"));
    const s = await spawnServe(cwd, ["--snapshot", digest, "--workspace", "ws"], ["--store", "st"]);
    const r = await postRun(s.url, CAIRN_WF, examplePayload("register-ok.json"));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "SUCCESS", workflow_code: CAIRN_WF });
    const traceId = r.body.trace_id as string;
    expect(traceBytes(join(cwd, "ws"), traceId).length).toBeGreaterThan(0);
    expect(existsSync(join(cwd, "ws/data/registry/agents.jsonl"))).toBe(true);
    expect(existsSync(join(cwd, "traces"))).toBe(false);
    s.child.kill("SIGTERM");
    expect((await s.exited).code).toBe(0);
    const replay = cairn(["--store", "st", "wf", "replay", traceId], { cwd });
    expect(replay.status).toBe(0);
    expect(replay.out).toBe(`trace id: ${traceId}\nworkflow: ${CAIRN_WF}\nstatus: SUCCESS\nreplay: identical\n`);
  });

  it("refuses to start: a tampered file (exit 1), lane-bound steps (exit 2), a digest without a store (exit 2), an empty --snapshot (exit 2)", () => {
    const cwd = dirs.make();
    const digest = compileExample(cwd);
    const bytes = readFileSync(join(cwd, "snap.json"));
    bytes[bytes.indexOf("malformed")] = "M".charCodeAt(0);
    writeFileSync(join(cwd, "bad.json"), bytes);
    const tampered = cairn(["serve", "--port", "0", "--snapshot", "bad.json"], { cwd });
    expect(tampered.status).toBe(1);
    expect(tampered.err).toContain("snapshot integrity check failed (digest): bad.json: the content's digest is sha256:");
    expect(tampered.err).toContain("[E_SNAPSHOT_INTEGRITY]");
    expect(tampered.err).not.toContain("listening");

    const lane = {
      cairn: "cairn.workflow/v1", namespace: "test", code: "WF_LANE_V0", entry: "start",
      nodes: {
        start: {
          steps: [{
            id: "up", ct: "hash", inputs: { value: "$.payload" },
            lane: { kind: "process", operation: "run", payload: { object: { command: { const: process.execPath }, stdin: { json: "$.inputs" } } }, acceptable_attestation: { classes: ["local-process-weak"] }, result_json: "stdout" },
          }],
          routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "no" }, BACKEND_ERROR: { exit: "BROKEN", reason: "lane failed" } },
        },
      },
    };
    writeFileSync(join(cwd, "lane.json"), JSON.stringify(lane));
    expect(cairn(["wf", "compile", "lane.json", "--out", "lane-snap.json"], { cwd }).status).toBe(0);
    const bound = cairn(["serve", "--port", "0", "--snapshot", "lane-snap.json"], { cwd });
    expect(bound.status).toBe(2);
    expect(bound.err).toMatch(/has lane-bound steps \(test::WF_LANE_V0 start\/up\): a server \(createServer, cairn serve\) has no execution-plane node to run them; .* \[E_USAGE\]/);

    const noStore = cairn(["serve", "--port", "0", "--snapshot", digest], { cwd });
    expect(noStore.status).toBe(2);
    expect(noStore.err).toContain(`--snapshot ${digest} is a digest: give --store (or $CAIRN_STORE) to load it [E_USAGE]`);
    const empty = cairn(["serve", "--port", "0", "--snapshot", ""], { cwd });
    expect(empty.status).toBe(2);
    expect(empty.err).toContain("--snapshot must not be empty [E_USAGE]");
    expect(existsSync(join(cwd, "traces"))).toBe(false);
  });
});
