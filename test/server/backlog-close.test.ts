/**
 * The gateway under the audit of `cairn serve` of 2026-11-26 (/tmp/aud-serve/report.md), over
 * real HTTP with raw sockets (src/server/app.ts). Asserts behaviour — status codes, bytes and the
 * ORDER in which answers arrive — never how long anything takes.
 *  F3. close() lets a response still being written finish (a slow reader gets the whole body),
 *      and cuts it only after closeResponseDeadlineMs (a client that stopped reading).
 *  F2. Clients opening one connection per request, sent while a run blocks the event loop: the
 *      queue bound answers 503 (Retry-After) and /api/health is answered between runs.
 *  F6. A body waits in the queue as its raw bytes: it is parsed when its turn comes, so a bad one
 *      is answered 400 after the runs ahead of it.
 *  F9. A long workflow_code is not echoed back in full; no error message is unbounded.
 *  F11. A data root that is a regular file (or under one) stops createServer (E_INVALID_INPUT).
 *  F7. Errors Node's HTTP server raises before routing (408, 431, 400) use the gateway's format and CORS.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import {
  CLOSE_GRACE_MS, createServer, MAX_ECHOED_CHARS, MAX_ERROR_CHARS,
} from "../../src/server/index.js";
import { acquireDataRootLock, runPgsWorkflow, type RunPgsOptions } from "../../src/workflow/pgs/index.js";
import { WF, type Sandbox } from "../workflow/pgs-fixture.js";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

/** A raw HTTP/1.1 request to the server on loopback `port`, sent in one write. */
function rawRequest(port: number, method: string, path: string, body = "", extra = ""): string {
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function parseRaw(text: string): RawReply {
  const end = text.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
  return { status: Number(statusLine.split(" ")[1]), headers, body: text.slice(end + 4) };
}

/** Sends `text` on a new connection and resolves with everything received until the server closes it. */
function exchange(port: number, text: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1", () => sock.write(text));
    track(sock);
    const chunks: Buffer[] = [];
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => {}); // a reset after the answer: what was received counts
    sock.on("close", () => (chunks.length === 0 ? reject(new Error("connection closed without an answer")) : resolve(parseRaw(Buffer.concat(chunks).toString("utf8")))));
  });
}

/**
 * A client in ANOTHER process (its event loop is not blocked by the server's runs). `spec` lists,
 * in order, requests — each sent on a new connection, whole in one write, once the kernel has
 * taken the previous one — and `{waitFor: file}` steps that wait until that file exists. Then it
 * creates `flag`, and prints per request the status, Retry-After, CORS and body, and the order
 * in which the answers were complete (0, 1, …).
 */
const CLIENT = `
import { connect } from "node:net";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
const [port, flag, spec] = [Number(process.argv[2]), process.argv[3], JSON.parse(process.argv[4])];
let done = 0;
const results = [];
const answered = [];
for (const step of spec) {
  if (typeof step !== "string") {
    while (!existsSync(step.waitFor)) await new Promise((r) => setTimeout(r, 5));
    continue;
  }
  const r = { chunks: [] };
  results.push(r);
  const sock = connect(port, "127.0.0.1");
  sock.on("data", (d) => r.chunks.push(d));
  sock.on("error", () => {});
  answered.push(new Promise((resolve) => sock.on("close", () => { r.order = done++; resolve(); })));
  await new Promise((sent) => sock.once("connect", () => sock.write(step, () => sent())));
}
writeFileSync(flag, "");
await Promise.all(answered);
process.stdout.write(JSON.stringify(results.map((r) => {
  const text = Buffer.concat(r.chunks).toString("utf8");
  const head = text.slice(0, text.indexOf("\\r\\n\\r\\n")).split("\\r\\n");
  const header = (n) => head.find((l) => l.toLowerCase().startsWith(n + ":"))?.slice(n.length + 1).trim() ?? null;
  return { status: Number((head[0] ?? "").split(" ")[1]), retryAfter: header("retry-after"), cors: header("access-control-allow-origin"), body: text.slice(text.indexOf("\\r\\n\\r\\n") + 4), order: r.order };
})));
`;

interface ClientResult {
  status: number;
  retryAfter: string | null;
  cors: string | null;
  body: string;
  order: number;
}

/** Runs CLIENT against `port` with `spec`; resolves with its results. */
function runClient(b: Sandbox, port: number, flag: string, spec: Array<string | { waitFor: string }>): Promise<ClientResult[]> {
  const script = join(b.root, "client.mjs");
  writeFileSync(script, CLIENT);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, String(port), flag, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as ClientResult[]) : reject(new Error(`client exited ${code}: ${err}`))));
  });
}

/** Spins for `ms` of CPU (a synchronous run's work). */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Sleeps synchronously (the event loop stays blocked, as during a real run) until `flag` exists. */
function blockUntil(flag: string): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 6000 && !existsSync(flag); i++) Atomics.wait(cell, 0, 0, 5);
}

describe("F3. close() and responses still being written", () => {
  /** A runner whose result carries a `pad` string of `bytes` bytes in its surface (a large 200). */
  const bigRunner = (bytes: number) => (o: RunPgsOptions) => {
    const r = runPgsWorkflow(o);
    return { ...r, surface: new Map([["pad", "x".repeat(bytes)]]) };
  };
  const BIG = 16 * 1024 * 1024; // far more than the loopback socket buffers hold

  /** A kept-alive connection that POSTs one run, reads the first chunk of the answer, then stops reading. */
  function slowReader(port: number): { started: Promise<void>; resume: () => void; received: Promise<Buffer> } {
    const sock = connect(port, "127.0.0.1", () => sock.write(rawRequest(port, "POST", "/api/run", actorBody())));
    track(sock);
    const chunks: Buffer[] = [];
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      if (chunks.length === 1) {
        sock.pause();
        started();
      }
    });
    sock.on("error", () => {});
    const received = new Promise<Buffer>((r) => sock.on("close", () => r(Buffer.concat(chunks))));
    return { started: startedP, resume: () => sock.resume(), received };
  }

  it("a large 200 read slowly while the server closes arrives whole and valid; then close() ends and the lock is free", async () => {
    const b = box();
    const { port, server } = await serve(b, { runner: bigRunner(BIG) });
    const client = slowReader(port);
    await client.started; // the run has answered; its response is being written
    const closed = server.close();
    // Stay stalled past the cut (CLOSE_GRACE_MS after the queue went idle, which was before
    // close() was called: that timer fires before this one), then read on.
    await new Promise((r) => setTimeout(r, CLOSE_GRACE_MS + 500));
    client.resume();
    const reply = parseRaw((await client.received).toString("utf8"));
    expect(reply.status).toBe(200);
    expect(Buffer.byteLength(reply.body)).toBe(Number(reply.headers["content-length"]));
    const doc = JSON.parse(reply.body) as { status: string; result_payload: { pad: string } };
    expect(doc.status).toBe("SUCCESS");
    expect(doc.result_payload.pad.length).toBe(BIG);
    await closed;
    acquireDataRootLock(b.dataRoot).release();
  });

  it("a client that stops reading is cut after closeResponseDeadlineMs: close() ends and the lock is free", async () => {
    const b = box();
    const { port, server } = await serve(b, { runner: bigRunner(BIG), closeResponseDeadlineMs: 200 });
    const client = slowReader(port); // stalled until the server has closed
    await client.started;
    await server.close();
    client.resume(); // only what the kernel held when the connection was cut is left to read
    expect((await client.received).length).toBeLessThan(BIG);
    acquireDataRootLock(b.dataRoot).release();
  });
});

describe("F2. a backlog of one-connection-per-request clients while runs block the event loop", () => {
  it("excess requests get 503 with Retry-After, and /api/health is answered before the backlog's last run", async () => {
    const b = box();
    const [started, allSent] = [join(b.root, "first-run-started"), join(b.root, "all-sent")];
    let calls = 0;
    // Synchronous, like runPgsWorkflow. The first run holds the event loop from before the
    // backlog is sent until all of it has been: the backlog waits in the kernel (its accept
    // queue, its sockets), unseen by the server. The next runs take some CPU each, so that
    // their answers are well apart.
    const runner = (o: RunPgsOptions) => {
      if (++calls === 1) {
        writeFileSync(started, "");
        blockUntil(allSent);
      } else busy(20);
      return runPgsWorkflow(o);
    };
    const maxQueuedRuns = 3;
    const { port } = await serve(b, { runner, maxQueuedRuns });
    const N = 24;
    const run = rawRequest(port, "POST", "/api/run", actorBody(), "Connection: close\r\n");
    const health = rawRequest(port, "GET", "/api/health", "", "Connection: close\r\n");
    const results = await runClient(b, port, allSent, [run, { waitFor: started }, ...Array.from({ length: N - 1 }, () => run), health]);
    const runs = results.slice(0, N);
    const healthReply = results[N] as ClientResult;
    const ok = runs.filter((r) => r.status === 200);
    const refused = runs.filter((r) => r.status === 503);
    expect(ok.length + refused.length).toBe(N);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.retryAfter).toBe("1");
      expect(r.cors).toBe("*");
      expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: `server busy: ${maxQueuedRuns} run(s) already waiting; retry later` });
    }
    // The whole backlog was waiting when the first run ended, and the drain before the next run
    // saw all of it: only that run and the queue's bound were accepted after the first.
    expect(ok.length).toBeLessThanOrEqual(maxQueuedRuns + 2);
    expect(healthReply.status).toBe(200);
    expect(JSON.parse(healthReply.body)).toEqual({ ok: true });
    expect(healthReply.order).toBeLessThan(Math.max(...ok.map((r) => r.order)));
  });
});

describe("F6. a waiting request holds its raw body, parsed when its turn comes", () => {
  it("a bad body queued behind runs is answered 400 (same message) after them, not at once", async () => {
    const b = box();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const runner = async (o: RunPgsOptions) => {
      if (++calls === 1) await gate; // hold the first run while the others queue
      return runPgsWorkflow(o);
    };
    const { url, server } = await serve(b, { runner });
    const post = (body: string) => fetch(`${url}/api/run`, { method: "POST", body }).then(async (res) => ({ status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> }));
    let arrived = 0;
    const first = post(actorBody()).then((r) => ({ ...r, order: arrived++ }));
    while (server.runsInFlight < 1) await new Promise((r) => setTimeout(r, 10));
    const second = post(actorBody()).then((r) => ({ ...r, order: arrived++ }));
    while (server.runsInFlight < 2) await new Promise((r) => setTimeout(r, 10));
    let badAnswered = false;
    const bad = post('{"workflow_code": ').then((r) => {
      badAnswered = true;
      return { ...r, order: arrived++ };
    });
    // The bad body is queued (not answered) while the first run holds the queue.
    while (server.runsInFlight < 3 && !badAnswered) await new Promise((r) => setTimeout(r, 10));
    const [answeredEarly, inFlight] = [badAnswered, server.runsInFlight];
    release();
    expect(answeredEarly).toBe(false);
    expect(inFlight).toBe(3);
    const [a, c, x] = await Promise.all([first, second, bad]);
    expect([a.status, c.status, x.status]).toEqual([200, 200, 400]);
    expect(x.body).toEqual({ status: "ERROR", error: "Invalid JSON body: Expecting value: line 1 column 19 (char 18)" });
    expect(x.order).toBeGreaterThan(c.order);
  });

  it("an empty body or one that is not UTF-8 is still refused at once, before the queue", async () => {
    const b = box();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runner = async (o: RunPgsOptions) => {
      await gate;
      return runPgsWorkflow(o);
    };
    const { url, server } = await serve(b, { runner });
    const held = fetch(`${url}/api/run`, { method: "POST", body: actorBody() });
    while (server.runsInFlight < 1) await new Promise((r) => setTimeout(r, 10));
    for (const [body, error] of [
      ["  ", "Invalid JSON body: the request body is empty"],
      [Buffer.from([0x7b, 0xff, 0x7d]), "Invalid JSON body: the request body is not valid UTF-8 (byte offset 1: 0xff 0x7d)"],
    ] as const) {
      const res = await fetch(`${url}/api/run`, { method: "POST", body });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ status: "ERROR", error });
    }
    release();
    expect((await held).status).toBe(200);
  });
});

describe("F9. bounded echoes", () => {
  const post = async (url: string, doc: unknown) => {
    const res = await fetch(`${url}/api/run`, { method: "POST", body: JSON.stringify(doc) });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };

  it.each([
    ["a 1 MB WF code", `a::${"B".repeat(1_000_000)}`, /^Invalid WF FQDN 'a::B+… \(1000003 characters\)': the code "B+… \(1000000 characters\)" must be 1\.\.80 characters/],
    ["a 1 MB domain", `${"a".repeat(1_000_000)}::WF_X`, /^Invalid WF FQDN 'a+… \(1000006 characters\)': the domain "a+… \(1000000 characters\)" must be/],
    ["a 1 MB middle", `ai_governance::${"x".repeat(1_000_000)}::WF_X`, /^WF FQDN not in vocab: 'ai_governance::x+… \(1000021 characters\)'$/],
    ["a 1 MB middle, unknown domain", `nope::${"x".repeat(1_000_000)}::WF_X`, /^Unknown domain 'nope' in 'nope::x+… \(1000012 characters\)'/],
  ])("%s: the 400 quotes at most MAX_ECHOED_CHARS of it", async (_what, code, message) => {
    const { url } = await serve(box());
    const r = await post(url, { workflow_code: code, payload: {} });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(message);
    expect(r.text.length).toBeLessThan(3 * MAX_ECHOED_CHARS + 500);
  });

  it("a short workflow_code is still quoted in full", async () => {
    const { url } = await serve(box());
    const code = `a::${"B".repeat(100)}`;
    const r = await post(url, { workflow_code: code, payload: {} });
    expect(r.body.error).toBe(`Invalid WF FQDN '${code}': the code "${"B".repeat(100)}" must be 1..80 characters of A-Z a-z 0-9 _ . - (not starting with . or -)`);
  });

  it("any error message is cut at MAX_ERROR_CHARS (a runtime error quoting a huge value)", async () => {
    const { url } = await serve(box(), {
      runner: () => {
        throw new Error(`no such licence '${"L".repeat(1_000_000)}'`);
      },
    });
    const r = await post(url, { workflow_code: WF.deny, payload: {} });
    expect(r.status).toBe(500);
    const error = r.body.error as string;
    expect(error.startsWith("Internal error: no such licence 'LLL")).toBe(true);
    expect(error.endsWith(`… (${"Internal error: no such licence ''".length + 1_000_000} characters)`)).toBe(true);
    expect(error.length).toBeLessThan(MAX_ERROR_CHARS + 100);
    expect(r.body.workflow_code).toBe(WF.deny);
  });
});

describe("F11. a data root that cannot be a directory", () => {
  it.each([
    ["a regular file", (root: string) => {
      writeFileSync(join(root, "drFile"), "x");
      return join(root, "drFile");
    }, "it is not a directory"],
    ["a path under a regular file", (root: string) => {
      writeFileSync(join(root, "drFile"), "x");
      return join(root, "drFile", "sub");
    }, "a component of its path is not a directory"],
  ])("%s: createServer fails with E_INVALID_INPUT naming it, and holds no lock", (_what, make, why) => {
    const b = box();
    const dataRoot = make(b.root);
    let err: unknown;
    try {
      void createServer({ workspace: b.workspace, dataRoot }).close(); // (closed should it start)
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.INVALID_INPUT);
    expect((err as CairnError).message).toBe(`data root ${dataRoot} cannot hold the workflows' state: ${why}`);
    acquireDataRootLock(dataRoot).release();
  });

  it("a data root that does not exist yet is fine (the runs create it)", async () => {
    const b = box();
    const dataRoot = join(b.root, "fresh", "data");
    const { url } = await serve(b, { dataRoot });
    const res = await fetch(`${url}/api/run`, { method: "POST", body: actorBody() });
    expect(res.status).toBe(200);
  });
});

describe("a closed server", () => {
  it("refuses to listen again (its data root's lock is released): E_USAGE", async () => {
    const { server } = await serve(box());
    await server.close();
    await expect(server.listen(0, "127.0.0.1")).rejects.toMatchObject({ code: "E_USAGE", message: "the server is closed: create another one to listen again" });
  });
});

describe("F7. errors raised before routing", () => {
  /** `r` is an error in the gateway's format, without CORS (the request's Origin is unknown): see "ACAO on errors raised before routing". */
  const expectGatewayError = (r: RawReply, status: number, error: RegExp): void => {
    expect(r.status).toBe(status);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(Buffer.byteLength(r.body)).toBe(Number(r.headers["content-length"]));
    const doc = JSON.parse(r.body) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(["status", "error"]);
    expect(doc.status).toBe("ERROR");
    expect(doc.error).toMatch(error);
  };

  it("431: headers too large", async () => {
    const { port } = await serve(box());
    const r = await exchange(port, `GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`);
    expectGatewayError(r, 431, /^Request header fields too large$/);
  });

  it("400: a request Node's parser refuses (an invalid method, Content-Length with Transfer-Encoding)", async () => {
    const { port } = await serve(box());
    expectGatewayError(await exchange(port, "FOO@ /api/run HTTP/1.1\r\nHost: x\r\n\r\n"), 400, /^Malformed HTTP request: /);
    expectGatewayError(
      await exchange(port, "POST /api/run HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
      400,
      /^Malformed HTTP request: /,
    );
  });

  it("a malformed request pipelined after a valid one: the connection is closed without an answer, and the queued run is not started", async () => {
    const b = box();
    const { port } = await serve(b);
    // One write: a valid run request, then bytes Node's parser refuses. The error must not be
    // written as if it answered the first request (its response is still open, queued), and the
    // first request, whose client is gone, must not run.
    const received = await new Promise<Buffer>((resolve) => {
      const sock = connect(port, "127.0.0.1", () => sock.write(`${rawRequest(port, "POST", "/api/run", actorBody())}BLAH / HTTP/1.1\r\n\r\n`));
      track(sock);
      const chunks: Buffer[] = [];
      sock.on("data", (d: Buffer) => chunks.push(d));
      sock.on("error", () => {});
      sock.on("close", () => resolve(Buffer.concat(chunks)));
    });
    expect(received.toString("utf8")).toBe("");
    // the next request on a new connection runs (and so the first one's turn has passed)
    const next = await exchange(port, rawRequest(port, "POST", "/api/run", actorBody(), "Connection: close\r\n"));
    expect(next.status).toBe(200);
    expect((JSON.parse(next.body) as { status: string }).status).toBe("SUCCESS");
    // only that one left a trace: the first request's run never started
    const traces = readdirSync(join(b.workspace, "traces", "blockchain", "WF_REGISTER_ACTOR_UNVERIFIED_V0"));
    expect(traces).toHaveLength(1);
  });

  it("408: a request still arriving after requestTimeoutMs", async () => {
    const { port } = await serve(box(), { requestTimeoutMs: 200 });
    const r = await exchange(port, `POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100\r\n\r\n{`);
    expectGatewayError(r, 408, /^Request timeout: the request did not arrive within 200 ms$/);
  });
});
