/**
 * `cairn serve --max-connections N --max-body SIZE --max-queued N --max-inflight-body SIZE
 * --max-response SIZE` through the built CLI (CAIRN_TEST_CLI, else dist/): the bounds reach the
 * server (ServerOptions.maxConnections, maxBodyBytes, maxInflightBodyBytes, maxResponseBytes;
 * maxQueuedRuns is tested on the server in test/server/api.test.ts) and are checked as they are
 * read (E_USAGE, exit 2, naming the flag; --max-inflight-body at least --max-body). And `--host
 * localhost` with a fixed port in use on ::1 fails naming that address.
 */
import { createServer as createNetServer, connect, type Server as NetServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/server/index.js";
import { actorBody, gatewayScratch, hasIpv6Loopback } from "../server/fixture.js";
import { cairn, reapAfterEach, serveCairn, spawnCairn, TempDirs } from "./helpers.js";

const { box, track } = gatewayScratch();
const { children } = reapAfterEach(new TempDirs());
const held: NetServer[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const SERVE = ["--workspace", "workspace", "--data-root", "data"];

/** A raw connection to 127.0.0.1:`port`; resolves once `text` is written, with what it receives so far. */
async function rawClient(port: number, text: string): Promise<{ sock: Socket; received: () => string; until: (s: string) => Promise<void> }> {
  const sock = track(connect(port, "127.0.0.1"));
  sock.on("error", () => {});
  let got = "";
  const waiters: Array<() => void> = [];
  sock.on("data", (d: Buffer) => {
    got += d.toString("utf8");
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write(text);
  const until = async (s: string): Promise<void> => {
    while (!got.includes(s)) await new Promise<void>((r) => waiters.push(r));
  };
  return { sock, received: () => got, until };
}

describe("cairn serve: the bounds' flags", () => {
  it("--max-connections 1: a second connection is answered 503 naming the limit", async () => {
    const b = box();
    const s = await serveCairn(b.root, [...SERVE, "--max-connections", "1"], (c) => children.push(c));
    const port = Number(new URL(s.url).port);
    const kept = await rawClient(port, `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await kept.until('{"ok":true}'); // answered, kept alive: 1 connection open
    const res = await fetch(`${s.url}/api/health`);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ status: "ERROR", error: "server busy: 1 connections already open (the 1-connection limit, MAX_CONNECTIONS); retry later" });
  });

  it("--max-response 100: a run's larger answer is a 500 naming it; --max-inflight-body 1MiB: a body over what is held is a 503", async () => {
    const b = box();
    const s = await serveCairn(b.root, [...SERVE, "--max-response", "100", "--max-inflight-body", "1MiB"], (c) => children.push(c));
    const body = actorBody();
    const ran = await fetch(`${s.url}/api/run`, { method: "POST", body });
    expect(ran.status).toBe(500);
    const doc = (await ran.json()) as { error: string; trace_id: string };
    expect(doc.error).toMatch(/^Response too large: the answer to this run is \d+ bytes, over the 100-byte response limit \(MAX_RESPONSE_BYTES\); the run itself completed with status SUCCESS: /);
    expect(doc.trace_id).toMatch(/\S/);

    // An upload declaring the whole budget (1 MiB): once its head is read (100 Continue), nothing more fits.
    const port = Number(new URL(s.url).port);
    const upload = await rawClient(
      port,
      `POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${MAX_BODY_BYTES}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await upload.until("HTTP/1.1 100 Continue");
    const refused = await fetch(`${s.url}/api/run`, { method: "POST", body });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({
      status: "ERROR",
      error: `server busy: request bodies of ${MAX_BODY_BYTES} bytes are already arriving or waiting to run, and this one's ${Buffer.byteLength(body)} bytes would exceed the ${MAX_BODY_BYTES}-byte limit (MAX_INFLIGHT_BODY_BYTES); retry later`,
    });
  });

  it("--max-body N: a body of N bytes runs; one byte more is answered 413 naming the limit", async () => {
    const b = box();
    const body = actorBody();
    const limit = Buffer.byteLength(body);
    const s = await serveCairn(b.root, [...SERVE, "--max-body", String(limit), "--max-inflight-body", String(limit)], (c) => children.push(c));
    const ran = await fetch(`${s.url}/api/run`, { method: "POST", body });
    expect(ran.status).toBe(200);
    const refused = await fetch(`${s.url}/api/run`, { method: "POST", body: `${body} ` });
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ status: "ERROR", error: `Request body is larger than the ${limit}-byte limit` });
  });

  it("bad values are usage errors (exit 2) naming the flag, before anything listens", () => {
    const b = box();
    const cases: Array<[string[], string]> = [
      [["--max-connections", "0"], 'invalid --max-connections "0": expected an integer in 1..9007199254740991 [E_USAGE]'],
      [["--max-connections=-1"], 'invalid --max-connections "-1": expected an integer in 1..9007199254740991 [E_USAGE]'],
      [["--max-connections", "many"], 'invalid --max-connections "many": expected an integer in 1..9007199254740991 [E_USAGE]'],
      [["--max-response", "0"], 'invalid --max-response "0": must be at least 1 byte [E_USAGE]'],
      [["--max-response=-5"], 'invalid --max-response "-5": use e.g. 48MiB, 512KiB or a byte count [E_USAGE]'],
      [["--max-response", "lots"], 'invalid --max-response "lots": use e.g. 48MiB, 512KiB or a byte count [E_USAGE]'],
      [["--max-inflight-body", "0"], 'invalid --max-inflight-body "0": must be at least 1 byte [E_USAGE]'],
      // the server requires the in-flight budget to hold one body of the largest size it accepts
      [["--max-inflight-body", "512KiB"], `--max-inflight-body (524288 bytes) must be at least --max-body (${MAX_BODY_BYTES} bytes): a body the server accepts must fit in it [E_USAGE]`],
      [["--max-body", "2MiB", "--max-inflight-body", "1MiB"], "--max-inflight-body (1048576 bytes) must be at least --max-body (2097152 bytes): a body the server accepts must fit in it [E_USAGE]"],
      [["--max-body", "1GiB"], "--max-inflight-body (136314880 bytes) must be at least --max-body (1073741824 bytes): a body the server accepts must fit in it [E_USAGE]"],
      [["--max-inflight-body", "1e9"], 'invalid --max-inflight-body "1e9": use e.g. 48MiB, 512KiB or a byte count [E_USAGE]'],
      [["--max-body", "0"], 'invalid --max-body "0": must be at least 1 byte [E_USAGE]'],
      [["--max-body", "big"], 'invalid --max-body "big": use e.g. 48MiB, 512KiB or a byte count [E_USAGE]'],
      [["--max-queued=-1"], 'invalid --max-queued "-1": expected an integer in 0..9007199254740991 [E_USAGE]'],
      [["--max-queued", "some"], 'invalid --max-queued "some": expected an integer in 0..9007199254740991 [E_USAGE]'],
    ];
    for (const [flags, message] of cases) {
      const r = cairn(["serve", "--port", "0", ...SERVE, ...flags], { cwd: b.root });
      expect({ flags, status: r.status }).toEqual({ flags, status: 2 });
      expect(r.err).toContain(message);
      expect(r.err).not.toContain("listening");
    }
  });

  it("--help names the bounds' flags and their defaults", () => {
    const r = cairn(["serve", "--help"], { cwd: box().root });
    expect(r.status).toBe(0);
    const help = r.out.replace(/\s+/g, " "); // commander wraps the descriptions
    expect(help).toContain("--max-connections <n> most connections open at once, on every address (one more is answered 503 and closed) (default: 256)");
    expect(help).toContain("--max-body <size> largest request body (e.g. 4MiB; a larger one is answered 413) (default: 1048576)");
    expect(help).toContain("--max-queued <n> most runs waiting behind the running one (0: none; one more is answered 503) (default: 64)");
    expect(help).toContain(
      "--max-inflight-body <size> most request-body bytes held at once, arriving, queued and running (e.g. 64MiB; at least --max-body; " +
        "a request over it is answered 503 before its body is read) (default: 136314880)",
    );
    expect(help).toContain("--max-response <size> largest answer sent (e.g. 16MiB; a run whose answer is larger is answered 500 naming its trace) (default: 50331648)");
    expect(help).toContain("request whose client disconnects while it waits for its turn leaves the queue and is never run");
  });
});

const ipv6 = await hasIpv6Loopback();

describe.skipIf(!ipv6)("cairn serve --host localhost", () => {
  it("a fixed --port in use on ::1 (free on 127.0.0.1) fails with exit 1 naming [::1]:PORT", async () => {
    // A port held on ::1 by this test, free on 127.0.0.1.
    let port = 0;
    for (;;) {
      const blocker = createNetServer();
      await new Promise<void>((r) => blocker.listen(0, "::1", () => r()));
      held.push(blocker);
      port = (blocker.address() as { port: number }).port;
      const probe = createNetServer();
      const free = await new Promise<boolean>((r) => {
        probe.once("error", () => r(false));
        probe.listen(port, "127.0.0.1", () => probe.close(() => r(true)));
      });
      if (free) break;
    }
    const b = box();
    const c = spawnCairn(["serve", "--host", "localhost", "--port", String(port), ...SERVE], { cwd: b.root, unset: ["CAIRN_STORE", "PGS_WORKSPACE", "PGS_DATA_ROOT"] });
    children.push(c.child);
    expect(await c.exited).toEqual({ code: 1, signal: null });
    expect(c.stderr()).toContain(`cannot listen on localhost:${port}: address already in use ([::1]:${port}) [E_INVALID_INPUT]`);
    expect(c.stderr()).not.toContain("listening");
  });
});
