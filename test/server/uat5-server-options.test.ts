/**
 * uat5 (F4, F10, F14, F17): `createServer` checks every ServerOptions member before it takes the
 * data root's lock (E_USAGE naming it: unknown keys with did-you-mean, wrong types, empty paths,
 * a closed Store, a request timeout of 0 or less); `listen` fails coded (a port in use closes the
 * server, a second listen is E_USAGE); `close()` resolves with no connection open.
 */
import { join } from "node:path";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { ErrorCode, isCairnError } from "../../src/core/errors.js";
import { createServer, type ServerOptions } from "../../src/server/index.js";
import { openStore } from "../../src/store/store.js";
import { acquireDataRootLock } from "../../src/workflow/pgs/index.js";
import { actorBody, gatedRunner, gatewayScratch, hasIpv6Loopback } from "./fixture.js";

const { box, serve } = gatewayScratch();
const ipv6 = await hasIpv6Loopback();

/** The error `createServer(opts)` throws (a server it returns is closed, and the test fails). */
function refusal(opts: unknown): { code: string; message: string; details: Record<string, unknown> } {
  let err: unknown;
  try {
    void createServer(opts as ServerOptions).close();
  } catch (e) {
    err = e;
  }
  expect(isCairnError(err)).toBe(true);
  return err as { code: string; message: string; details: Record<string, unknown> };
}

describe("F4/F14/F17: every option is checked by createServer, before the data root's lock", () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ["maxbodyBytes", { maxbodyBytes: 1000 }, /^unknown ServerOptions member "maxbodyBytes" \(did you mean "maxBodyBytes"\?\)/],
    ["requestTimeoutMs", { requestTimeoutMs: "5" }, /^ServerOptions\.requestTimeoutMs must be an integer number of milliseconds in 1\.\.2147483647, got a string "5"$/],
    ["requestTimeoutMs", { requestTimeoutMs: 1.5 }, /^ServerOptions\.requestTimeoutMs must be .* got 1\.5$/],
    ["requestTimeoutMs", { requestTimeoutMs: 0 }, /^ServerOptions\.requestTimeoutMs must be .* got 0$/],
    ["requestTimeoutMs", { requestTimeoutMs: -1 }, /^ServerOptions\.requestTimeoutMs must be .* got -1$/],
    ["closeResponseDeadlineMs", { closeResponseDeadlineMs: -1 }, /^ServerOptions\.closeResponseDeadlineMs must be an integer number of milliseconds in 0\.\.2147483647, got -1$/],
    ["closeResponseDeadlineMs", { closeResponseDeadlineMs: "x" }, /^ServerOptions\.closeResponseDeadlineMs must be/],
    ["dataRoot", { dataRoot: 5 }, /^ServerOptions\.dataRoot must be a non-empty string \(a directory path\), got 5$/],
    ["dataRoot", { dataRoot: "" }, /^ServerOptions\.dataRoot must be a non-empty string/],
    ["workspace", { workspace: null }, /^ServerOptions\.workspace must be a non-empty string \(a directory path\), got null$/],
    ["workspace", { workspace: "" }, /^ServerOptions\.workspace must be a non-empty string/],
    ["effectDurability", { effectDurability: "x" }, /^ServerOptions\.effectDurability must be "fsync" or "no-fsync", got a string "x"$/],
    ["store", { store: {} }, /^ServerOptions\.store must be a Store \(from openStore\) or a function that opens one, got an object$/],
    ["runner", { runner: 5 }, /^ServerOptions\.runner must be a function, got 5$/],
    ["onTornFile", { onTornFile: 5 }, /^ServerOptions\.onTornFile must be a function, got 5$/],
    ["cacheSnapshots", { cacheSnapshots: "no" }, /^ServerOptions\.cacheSnapshots must be a boolean, got a string "no"$/],
    ["maxQueuedRuns", { maxQueuedRuns: -1 }, /^ServerOptions\.maxQueuedRuns must be a non-negative integer, got -1$/],
    ["maxBodyBytes", { maxBodyBytes: 1e15 }, /^ServerOptions\.maxBodyBytes must be at most maxInflightBodyBytes \(default MAX_INFLIGHT_BODY_BYTES = \d+\) unless that is raised too, got 1000000000000000/],
    ["dataRootLockWaitMs", { dataRootLockWaitMs: -1 }, /^ServerOptions\.dataRootLockWaitMs must be/],
  ];
  it.each(bad)("%s %j → E_USAGE naming it, even while another holder has the lock", (field, extra, message) => {
    const b = box();
    // Held here: a check made after the lock would fail E_DATA_ROOT_LOCKED instead.
    const held = acquireDataRootLock(b.dataRoot, { waitMs: 0 });
    try {
      const err = refusal({ workspace: b.workspace, dataRoot: b.dataRoot, ...extra });
      expect(err.code).toBe(ErrorCode.USAGE);
      expect(err.message).toMatch(message);
      expect(err.details.field).toBe(field);
    } finally {
      held.release();
    }
  });

  it("an unknown key names the one it probably meant (details.suggestion)", () => {
    const b = box();
    expect(refusal({ workspace: b.workspace, maxbodyBytes: 1000 }).details).toMatchObject({ field: "maxbodyBytes", suggestion: "maxBodyBytes" });
  });

  it("options that are not an object: E_USAGE, not a raw TypeError", () => {
    for (const opts of [null, undefined, "ws", 5]) expect(refusal(opts).code).toBe(ErrorCode.USAGE);
  });

  it("a closed Store is refused at start (it answered every run 500 'store is closed')", () => {
    const b = box();
    const store = openStore({ dir: join(b.root, "store"), create: true });
    store.close();
    const err = refusal({ workspace: b.workspace, dataRoot: b.dataRoot, store });
    expect(err.code).toBe(ErrorCode.USAGE);
    expect(err.message).toMatch(/^ServerOptions\.store must be an open Store: store is closed/);
  });

  it("an open Store, a factory, 0 ms closeResponseDeadlineMs and the valid durabilities start", async () => {
    const b = box();
    const store = openStore({ dir: join(b.root, "store"), create: true });
    try {
      for (const extra of [{ store }, { store: () => store }, { closeResponseDeadlineMs: 0 }, { effectDurability: "no-fsync" as const }, { requestTimeoutMs: 1 }]) {
        await createServer({ workspace: b.workspace, dataRoot: b.dataRoot, ...extra }).close();
      }
    } finally {
      store.close();
    }
  });
});

describe("F4: listen", () => {
  it("a port in use: E_INVALID_INPUT naming the address, and the server is closed (lock released, no second listen)", async () => {
    const b = box();
    const blocker = createNetServer();
    blocker.listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as AddressInfo).port;
    try {
      const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
      const err = await s.listen(port, "127.0.0.1").then(() => null, (e: unknown) => e);
      expect(isCairnError(err, ErrorCode.INVALID_INPUT)).toBe(true);
      expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${port}: address already in use (127.0.0.1:${port})`);
      acquireDataRootLock(b.dataRoot, { waitMs: 0 }).release(); // free: the failed listen closed the server
      await expect(s.listen(0, "127.0.0.1")).rejects.toMatchObject({ code: "E_USAGE", message: "the server is closed: create another one to listen again" });
      expect(s.url).toBeNull();
    } finally {
      blocker.close();
    }
  });

  it.skipIf(!ipv6)("localhost with the port in use on ::1 only: the same E_INVALID_INPUT, naming [::1] (errno in details)", async () => {
    const b = box();
    const blocker = createNetServer();
    blocker.listen(0, "::1");
    await once(blocker, "listening");
    const port = (blocker.address() as AddressInfo).port;
    try {
      const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
      const err = await s.listen(port, "localhost").then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({
        code: "E_INVALID_INPUT",
        message: `cannot listen on localhost:${port}: address already in use ([::1]:${port})`,
        details: { errno: "EADDRINUSE", address: "::1", port },
      });
      expect(s.url).toBeNull();
    } finally {
      blocker.close();
    }
  });

  it("a second listen() is E_USAGE; the server keeps serving on its first address", async () => {
    const { server, url } = await serve(box());
    await expect(server.listen(0, "127.0.0.1")).rejects.toMatchObject({ code: "E_USAGE", message: `the server is already listening on ${url}: listen() is called once per server` });
    expect(server.url).toBe(url);
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
  });

  it("a bad port or host: E_USAGE", async () => {
    const b = box();
    const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot });
    try {
      await expect(s.listen(-1, "127.0.0.1")).rejects.toMatchObject({ code: "E_USAGE", details: { field: "port" } });
      await expect(s.listen(0, "")).rejects.toMatchObject({ code: "E_USAGE", details: { field: "host" } });
    } finally {
      await s.close();
    }
  });
});

describe("F10: close() resolves once every connection is closed", () => {
  it("connectionsOpen is 0 when close() resolves, with runs answered during it", async () => {
    const gate = gatedRunner();
    const { server, url } = await serve(box(), { runner: gate.runner });
    const answers = [1, 2, 3].map(() => fetch(`${url}/api/run`, { method: "POST", body: actorBody() }).then((r) => r.status));
    while (server.runsInFlight < 3) await new Promise((r) => setTimeout(r, 5));
    const closing = server.close();
    gate.release();
    expect(await Promise.all(answers)).toEqual([200, 200, 200]);
    await closing;
    expect(server.connectionsOpen).toBe(0);
  });
});
