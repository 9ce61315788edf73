/**
 * The gateway and the data-root lock: a server holds its data root's lock from `createServer`
 * until `close()` has finished, gives it to every run, and does not start while another holder
 * has it. Other processes are children (test/workflow/fixtures/data-root-lock-holder.mts).
 */
import { readFileSync, realpathSync } from "node:fs";
import { connect } from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { createServer, type CairnServer } from "../../src/server/index.js";
import { acquireDataRootLock, runPgsWorkflow, type DataRootLock, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { holdLock, killLockChildren, tryLockElsewhere } from "../workflow/fixtures/lock-child.js";
import { cairnErrorOf, payload, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

const boxes: Sandbox[] = [];
const servers: CairnServer[] = [];
const locks: DataRootLock[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await killLockChildren();
  for (const l of locks.splice(0)) l.release();
  for (const b of boxes.splice(0)) b.cleanup();
});

function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}

function track(s: CairnServer): CairnServer {
  servers.push(s);
  return s;
}

const DENY_BODY = JSON.stringify({ workflow_code: WF.deny, payload: JSON.parse(readFileSync(payload("ai_licensing/deny_provision_payload.json"), "utf8")) });

async function postRun(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body: DENY_BODY });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("the server's data-root lock", () => {
  it("is held from createServer until close() has finished; other processes cannot take it meanwhile", async () => {
    const b = box();
    const s = track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot }));
    expect((await tryLockElsewhere(b.dataRoot, 0)).code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    const url = await s.listen(0, "127.0.0.1");
    expect((await postRun(url)).status).toBe(200);
    expect(await tryLockElsewhere(b.dataRoot, 0)).toMatchObject({ ok: false, code: ErrorCode.DATA_ROOT_LOCKED, details: { holder: "another process" } });
    await s.close();
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
  });

  it("a second server on the same data root fails to start (in this process: at once)", () => {
    const b = box();
    track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot }));
    const t0 = Date.now();
    const e = cairnErrorOf(() => track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot })));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(`data root ${b.dataRoot} is already locked by this process (a run or a server in it holds the lock); pass that lock as \`dataRootLock\` instead of taking it again`);
  });

  it("createServer fails with E_DATA_ROOT_LOCKED after the wait while another process holds the lock; starts once it is free", async () => {
    const b = box();
    const child = await holdLock(b.dataRoot);
    const t0 = Date.now();
    const e = cairnErrorOf(() => track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot, dataRootLockWaitMs: 200 })));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.message).toBe(
      `data root ${b.dataRoot} is locked: another process is running workflows on it (waited 200 ms); retry when it finishes (a \`cairn serve\` holds its data root's lock until it stops)`,
    );
    await child.kill();
    const s = track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot, dataRootLockWaitMs: 0 }));
    expect((await postRun(await s.listen(0, "127.0.0.1"))).status).toBe(200);
  });

  it("gives every run the held lock; a direct run in the same process without it fails at once", async () => {
    const b = box();
    const given: Array<DataRootLock | undefined> = [];
    const s = track(
      createServer({
        workspace: b.workspace,
        dataRoot: b.dataRoot,
        runner: (o: RunPgsOptions) => {
          given.push(o.dataRootLock);
          return runPgsWorkflow(o);
        },
      }),
    );
    const url = await s.listen(0, "127.0.0.1");
    expect((await postRun(url)).status).toBe(200);
    expect((await postRun(url)).status).toBe(200);
    expect(given).toHaveLength(2);
    expect(given[0]).toBe(given[1]);
    expect(given[0]?.held).toBe(true);
    expect(given[0]?.dataRoot).toBe(b.dataRoot);
    expect(given[0]?.realPath).toBe(realpathSync(b.dataRoot));
    const e = cairnErrorOf(() =>
      runPgsWorkflow({ workspace: b.workspace, workflow: WF.deny, payload: new Map(), dataRoot: b.dataRoot, dataRootLockWaitMs: 5000 }),
    );
    expect(e.code).toBe(ErrorCode.DATA_ROOT_LOCKED);
    expect(e.details).toMatchObject({ holder: "this process", waitedMs: 0 });
    await s.close();
    expect(given[0]?.held).toBe(false);
  });

  it("uses a lock the caller holds, and leaves it held after close()", async () => {
    const b = box();
    const l = acquireDataRootLock(b.dataRoot);
    locks.push(l);
    const s = track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot, dataRootLock: l }));
    expect((await postRun(await s.listen(0, "127.0.0.1"))).status).toBe(200);
    await s.close();
    expect(l.held).toBe(true);
    expect((await tryLockElsewhere(b.dataRoot, 0)).ok).toBe(false);
    // A lock for another data root is a usage error, and no lock is taken.
    const other = box();
    const e = cairnErrorOf(() => track(createServer({ workspace: other.workspace, dataRoot: other.dataRoot, dataRootLock: l })));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.message).toBe(`the data-root lock given as dataRootLock is for ${b.dataRoot}, not for data root ${other.dataRoot}`);
    expect(await tryLockElsewhere(other.dataRoot, 0)).toEqual({ ok: true });
  });

  it("close() releases the lock only once every accepted run has finished (inject: fastify's close resolves at once)", async () => {
    const b = box();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const given: Array<boolean> = [];
    const s = track(
      createServer({
        workspace: b.workspace,
        dataRoot: b.dataRoot,
        runner: async (o: RunPgsOptions) => {
          await gate;
          given.push(o.dataRootLock?.held === true);
          return runPgsWorkflow(o); // refuses with E_USAGE if the lock was released meanwhile
        },
      }),
    );
    let fastifyClosed!: () => void;
    const appClosed = new Promise<void>((resolve) => (fastifyClosed = resolve));
    s.app.addHook("onClose", async () => fastifyClosed());
    const inject = () => s.app.inject({ method: "POST", url: "/api/run", payload: DENY_BODY, headers: { "content-type": "application/json" } });
    const replies = [inject(), inject(), inject()];
    await vi.waitFor(() => expect(s.runsInFlight).toBe(3), { timeout: 20_000, interval: 5 });
    const closed = s.close();
    // fastify has closed (no connections to wait for); the three runs have not run yet.
    await appClosed;
    await new Promise((resolve) => setImmediate(resolve));
    expect(await tryLockElsewhere(b.dataRoot, 0)).toMatchObject({ ok: false, code: ErrorCode.DATA_ROOT_LOCKED });
    open();
    const statuses = (await Promise.all(replies)).map((r) => r.statusCode);
    await closed;
    expect(statuses).toEqual([200, 200, 200]);
    expect(given).toEqual([true, true, true]);
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
  });

  it("close() during a run on a kept-alive connection: the reply asks the client to close it, and close() does not wait for the keep-alive timeout", async () => {
    const b = box();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let entered!: () => void;
    const inRun = new Promise<void>((resolve) => (entered = resolve));
    let runs = 0;
    const s = track(
      createServer({
        workspace: b.workspace,
        dataRoot: b.dataRoot,
        runner: async (o: RunPgsOptions) => {
          if (runs++ === 1) {
            entered();
            await gate; // the second run waits while close() begins
          }
          return runPgsWorkflow(o);
        },
      }),
    );
    const url = await s.listen(0, "127.0.0.1");
    expect((await postRun(url)).status).toBe(200); // the connection is now kept alive
    const pending = fetch(`${url}/api/run`, { method: "POST", headers: { "content-type": "application/json" }, body: DENY_BODY });
    await inRun;
    const closed = s.close();
    open();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get("connection")).toBe("close");
    await res.arrayBuffer();
    await closed; // fastify's keep-alive timeout is 72 s, beyond this test's timeout: it would fail here
    expect(await tryLockElsewhere(b.dataRoot, 0)).toEqual({ ok: true });
  });

  it("a request still arriving when close() begins gets the gateway's 503 (error body, Retry-After, CORS), and nothing runs", async () => {
    const b = box();
    let runs = 0;
    const s = track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot, runner: (o: RunPgsOptions) => (runs++, runPgsWorkflow(o)) }));
    const url = new URL(await s.listen(0, "127.0.0.1"));
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, "connect");
    let reply = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (reply += d));
    socket.write("POST /api/run HTTP/1.1\r\nHost: x\r\n"); // headers not finished yet
    await new Promise((resolve) => setTimeout(resolve, 200)); // let them reach the server (an idle connection would be dropped)
    const closed = s.close();
    socket.write(`Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(DENY_BODY)}\r\n\r\n${DENY_BODY}`);
    await once(socket, "end");
    await closed;
    const [head = "", body = ""] = reply.split("\r\n\r\n");
    expect(head.split("\r\n")[0]).toBe("HTTP/1.1 503 Service Unavailable");
    expect(head.toLowerCase()).toContain("retry-after: 1");
    expect(head.toLowerCase()).toContain("access-control-allow-origin: *");
    expect(head.toLowerCase()).toContain("connection: close");
    expect(JSON.parse(body)).toEqual({ status: "ERROR", error: "server is closing" });
    expect(runs).toBe(0);
  });

  it("different data roots: two servers run side by side", async () => {
    const a = box();
    const b = box();
    const sa = track(createServer({ workspace: a.workspace, dataRoot: a.dataRoot }));
    const sb = track(createServer({ workspace: b.workspace, dataRoot: b.dataRoot }));
    const [ua, ub] = await Promise.all([sa.listen(0, "127.0.0.1"), sb.listen(0, "127.0.0.1")]);
    expect((await Promise.all([postRun(ua), postRun(ub)])).map((r) => r.status)).toEqual([200, 200]);
  });
});
