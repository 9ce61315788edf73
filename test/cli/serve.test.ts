/** `cairn serve` through the built CLI (run `npm run build` first): listen, one request, SIGTERM. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, CLI } from "./helpers.js";
import { payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await new Promise((r) => c.once("exit", r));
    }
  }
  for (const b of boxes.splice(0)) b.cleanup();
});

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `cairn serve` and resolves once it has printed its URL on stderr. */
async function startServe(b: Sandbox, extra: string[] = []): Promise<Served> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.CAIRN_STORE;
  delete env.PGS_WORKSPACE;
  delete env.PGS_DATA_ROOT;
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--host", "127.0.0.1", "--workspace", "workspace", "--data-root", "data", ...extra], {
    cwd: b.root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 20 s; stderr: ${err}`)), 20_000);
    const check = (): void => {
      const m = /cairn: listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    child.stderr?.on("data", check);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`cairn serve exited (${code}) before listening; stderr: ${err}`));
    });
  });
  return { child, url, stdout: () => out, stderr: () => err, exited };
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
    await new Promise((r) => setTimeout(r, 50));
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
    expect(badPort.err).toContain("--port must be an integer 0..65535");
    const missing = cairn(["serve", "--port", "0", "--workspace", "nope"], { cwd: b.root });
    expect(missing.status).toBe(1);
    expect(missing.err).toContain("workspace nope is not a directory [E_NOT_FOUND]");
  });
});
