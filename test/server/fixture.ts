/**
 * Shared setup of the gateway tests that serve PGS sandboxes: sandboxes, servers and raw
 * sockets made by a test are closed and removed after it. Call `gatewayScratch()` at the top
 * level of a test file.
 */
import { createServer as createNetServer, type Socket } from "node:net";
import { afterEach } from "vitest";
import { createServer, type CairnServer, type ServerOptions } from "../../src/server/index.js";
import { readPayloadFile, runPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { ACTOR_PAYLOAD, sandbox, WF, type Sandbox } from "../workflow/pgs-fixture.js";

export interface GatewayScratch {
  /** A fresh PGS sandbox (workspace + empty data root). */
  box(): Sandbox;
  /** A gateway over `b`, listening on a free loopback port (of `host`, default 127.0.0.1). */
  serve(b: Sandbox, opts?: Partial<ServerOptions>, host?: string): Promise<{ port: number; url: string; server: CairnServer }>;
  /** Registers a raw socket to destroy after the test. */
  track(socket: Socket): Socket;
}

export function gatewayScratch(): GatewayScratch {
  const boxes: Sandbox[] = [];
  const servers: CairnServer[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    for (const b of boxes.splice(0)) b.cleanup();
  });
  return {
    box: () => {
      const b = sandbox();
      boxes.push(b);
      return b;
    },
    serve: async (b, opts = {}, host = "127.0.0.1") => {
      const server = createServer({ workspace: b.workspace, dataRoot: b.dataRoot, ...opts });
      servers.push(server);
      const url = await server.listen(0, host);
      return { port: Number(new URL(url).port), url, server };
    },
    track: (socket) => {
      sockets.push(socket);
      return socket;
    },
  };
}

/** The fixture's unverified-actor payload as plain JSON, and a `POST /api/run` body for it. */
export const actorPayload = (): unknown => JSON.parse(JSON.stringify(Object.fromEntries(readPayloadFile(ACTOR_PAYLOAD) as Map<string, unknown>)));
export const actorBody = (): string => JSON.stringify({ workflow_code: WF.actor, payload: actorPayload() });

/** A runner whose first run waits (without blocking the event loop) until `release()`; `calls()` counts the runs started. */
export function gatedRunner(): { runner: (o: RunPgsOptions) => Promise<ReturnType<typeof runPgsWorkflow>>; release: () => void; calls: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const runner = async (o: RunPgsOptions) => {
    if (++calls === 1) await gate;
    return runPgsWorkflow(o);
  };
  return { runner, release, calls: () => calls };
}

/** Whether this machine can listen on ::1 (IPv6 loopback): the tests of `listen(port, "localhost")` are skipped without it. */
export async function hasIpv6Loopback(): Promise<boolean> {
  const probe = createNetServer();
  return new Promise((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(0, "::1", () => probe.close(() => resolve(true)));
  });
}
