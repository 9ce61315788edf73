/**
 * `listen(0, "localhost")` (`cairn serve --host localhost --port 0`): the system picks a port
 * free on 127.0.0.1 only, and it may be in use on ::1. The gateway then closes that attempt's
 * listeners and lets the system pick again, up to LOCALHOST_PORT_ATTEMPTS times; a fixed port in
 * use on ::1 still fails at once, naming the address. The system's choice is made to collide
 * deterministically: ports are held on ::1 by this test, and the first port-0 listens on
 * 127.0.0.1 are redirected to them (a spy on `net.Server.prototype.listen`).
 */
import { createServer as createNetServer, Server as NetServer, type ListenOptions } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CairnError, ErrorCode, isCairnError } from "../../src/core/errors.js";
import { createServer, LOCALHOST_PORT_ATTEMPTS } from "../../src/server/index.js";
import { gatewayScratch, hasIpv6Loopback } from "./fixture.js";

const { box, serve } = gatewayScratch();

/** Servers this test listens on itself (the blockers on ::1), closed after each test. */
const held: NetServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listenNet(port: number, host: string): Promise<NetServer> {
  const s = createNetServer();
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, host, () => resolve(s));
  });
}

/** Whether `port` can be listened on at `host` now. */
async function isFree(port: number, host: string): Promise<boolean> {
  try {
    const s = await listenNet(port, host);
    await new Promise((r) => s.close(r));
    return true;
  } catch {
    return false;
  }
}

/** `n` ports held on ::1 (by this test) that are free on 127.0.0.1. */
async function heldOnIpv6(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const s = await listenNet(0, "::1");
    held.push(s);
    const port = (s.address() as { port: number }).port;
    if (await isFree(port, "127.0.0.1")) ports.push(port);
  }
  return ports;
}

/** Makes the next port-0 listens on 127.0.0.1 (the system's choice) take `ports`, in order; returns the 127.0.0.1 ports listened on. */
function forceChoices(ports: number[]): number[] {
  const queue = [...ports];
  const listened: number[] = [];
  const real = NetServer.prototype.listen;
  vi.spyOn(NetServer.prototype, "listen").mockImplementation(function (this: NetServer, ...args: unknown[]) {
    const o = args[0] as ListenOptions | undefined;
    if (typeof o === "object" && o !== null && o.host === "127.0.0.1" && o.port === 0) {
      const port = queue.shift();
      if (port !== undefined) args[0] = { ...o, port };
      this.once("listening", () => listened.push((this.address() as { port: number }).port));
    }
    return real.apply(this, args as Parameters<typeof real>) as NetServer;
  });
  return listened;
}

const ipv6 = await hasIpv6Loopback();

describe.skipIf(!ipv6)("listen(port, 'localhost'): a port free on both loopback addresses", () => {
  it("port 0: a choice in use on ::1 is given up (its 127.0.0.1 listener closed) and another is picked; both addresses served", async () => {
    const [taken] = await heldOnIpv6(1);
    const listened = forceChoices([taken as number]);
    const { port, url } = await serve(box(), {}, "localhost");
    expect(listened[0]).toBe(taken);
    expect(listened).toHaveLength(2);
    expect(port).toBe(listened[1]);
    expect(port).not.toBe(taken);
    expect(url).toBe(`http://127.0.0.1:${port}`);
    for (const host of ["127.0.0.1", "[::1]"]) {
      const res = await fetch(`http://${host}:${port}/api/health`);
      expect(await res.json()).toEqual({ ok: true });
    }
    expect(await isFree(taken as number, "127.0.0.1")).toBe(true); // the first listener is closed
  });

  it(`port 0: after ${LOCALHOST_PORT_ATTEMPTS} choices in use on ::1, E_INVALID_INPUT naming them; every listener closed, the data root released`, async () => {
    const b = box();
    const ports = await heldOnIpv6(LOCALHOST_PORT_ATTEMPTS);
    const listened = forceChoices(ports);
    const server = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
    let err: unknown;
    try {
      await server.listen(0, "localhost");
    } catch (e) {
      err = e;
    }
    expect(listened).toEqual(ports);
    expect(isCairnError(err, ErrorCode.INVALID_INPUT)).toBe(true);
    expect((err as CairnError).message).toBe(
      `cannot listen on localhost with a free port: each of the ${LOCALHOST_PORT_ATTEMPTS} ports the system chose on 127.0.0.1 (${ports.join(", ")}) ` +
        "was in use on ::1 (LOCALHOST_PORT_ATTEMPTS); name a port free on every address",
    );
    expect(server.url).toBeNull();
    for (const port of ports) expect(await isFree(port, "127.0.0.1")).toBe(true);
    // The server closed and released its data root: another one takes it at once.
    createServer({ workspace: b.workspace, dataRoot: b.dataRoot, dataRootLockWaitMs: 0 }).close();
  });

  it("a fixed port in use on ::1 fails at once with E_INVALID_INPUT naming ::1; nothing is left listening", async () => {
    const b = box();
    const [taken] = (await heldOnIpv6(1)) as [number];
    const server = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
    let err: unknown;
    try {
      await server.listen(taken, "localhost");
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "E_INVALID_INPUT", message: `cannot listen on localhost:${taken}: address already in use ([::1]:${taken})`, details: { errno: "EADDRINUSE", address: "::1", port: taken } });
    expect(server.url).toBeNull();
    expect(await isFree(taken, "127.0.0.1")).toBe(true);
  });
});
