/**
 * Who may drive the gateway from a browser (src/server/origin.ts), over real HTTP: the Origin
 * check (403 unless allowed; `*` restores the reference's CORS), the CORS headers of each answer,
 * the preflight, and the Host check against DNS rebinding when listening on loopback (on
 * requests carrying Origin). Clients that send no Origin (curl, scripts, Node's fetch) are
 * served as before, whatever their Host (a port forward).
 */
import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { createServer, parseAllowedOrigin } from "../../src/server/index.js";
import { isLoopbackAddress, loopbackHosts } from "../../src/server/origin.js";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly `headers` (Origin, Host… as a browser or a script would send them). */
function send(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers: { connection: "close", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A "simple" cross-site POST as a page's `fetch(url, {method: "POST", body})` sends it: no preflight. */
const simplePost = (url: string, origin: string | undefined, extra: Record<string, string> = {}): Promise<Answer> =>
  send(url, "POST", "/api/run", { "content-type": "text/plain;charset=UTF-8", ...(origin === undefined ? {} : { origin }), ...extra }, actorBody());

const preflight = (url: string, origin: string | undefined, extra: Record<string, string> = {}): Promise<Answer> =>
  send(url, "OPTIONS", "/api/run", { ...(origin === undefined ? {} : { origin }), "access-control-request-method": "POST", "access-control-request-headers": "content-type", ...extra });

const EVIL = "https://evil.example";
const APP = "http://localhost:3000";
const ORIGIN_REFUSED = (o: string): string => `Cross-origin request refused: Origin '${o}' is not allowed (allow it with cairn serve --allow-origin <origin>, or ServerOptions.allowOrigins)`;

/** Nothing ran: no trace and nothing in the data root. */
function expectNothingRan(b: { workspace: string; dataRoot: string }): void {
  expect(existsSync(join(b.workspace, "traces"))).toBe(false);
  expect(existsSync(b.dataRoot) ? readdirSync(b.dataRoot) : []).toEqual([]);
}

describe("the default policy: no web origin is allowed", () => {
  it("a cross-site simple POST is refused 403 before anything runs, and its answer is unreadable (no Access-Control-Allow-Origin)", async () => {
    const b = box();
    const { url } = await serve(b);
    const r = await simplePost(url, EVIL);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: ORIGIN_REFUSED(EVIL) });
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    expect(r.headers.vary).toBe("Origin");
    expectNothingRan(b);
  });

  it.each([
    ["the opaque origin of a sandboxed frame or a file: page", "null"],
    ["a page on another port of localhost", "http://localhost:8081"],
    ["two Origin values joined", `${APP}, ${EVIL}`],
  ])("%s is refused too", async (_what, origin) => {
    const b = box();
    const { url } = await serve(b, { allowOrigins: [APP] });
    const r = await simplePost(url, origin);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: ORIGIN_REFUSED(origin) });
    expectNothingRan(b);
  });

  it("its preflight, a health check and an unknown path from that origin are refused 403 as well", async () => {
    const { url } = await serve(box());
    for (const r of [await preflight(url, EVIL), await send(url, "GET", "/api/health", { origin: EVIL }), await send(url, "GET", "/nope", { origin: EVIL })]) {
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: ORIGIN_REFUSED(EVIL) });
      expect(r.headers["access-control-allow-origin"]).toBeUndefined();
    }
  });

  it("a long Origin is quoted cut to MAX_ECHOED_CHARS", async () => {
    const { url } = await serve(box());
    const long = `https://${"a".repeat(1000)}.example`;
    const r = await simplePost(url, long);
    expect(r.status).toBe(403);
    expect((JSON.parse(r.body) as { error: string }).error).toContain(`Origin '${long.slice(0, 256)}… (${long.length} characters)' is not allowed`);
  });

  it("a client without Origin (curl, scripts) is served as before: 200 with Access-Control-Allow-Origin: *, and its preflight 204", async () => {
    const { url } = await serve(box());
    const r = await simplePost(url, undefined);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { status: string }).status).toBe("SUCCESS");
    expect(r.headers["access-control-allow-origin"]).toBe("*");
    expect(r.headers.vary).toBe("Origin"); // a cache never hands this answer to a page of some origin
    const p = await preflight(url, undefined);
    expect(p.status).toBe(204);
    expect(p.headers["access-control-allow-origin"]).toBe("*");
    expect(p.headers["access-control-allow-methods"]).toBe("POST, OPTIONS");
    expect(p.headers["access-control-allow-headers"]).toBe("Content-Type");
  });

  it("a malformed URL from a refused origin is a 400 without Access-Control-Allow-Origin", async () => {
    const { url } = await serve(box());
    const r = await send(url, "GET", "/api/%ZZ", { origin: EVIL });
    expect(r.status).toBe(400);
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("errors Node raises before any request exists carry no Access-Control-Allow-Origin (the Origin is not known), but with '*' allowed", async () => {
    const huge = (port: number): string => `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${EVIL}\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`;
    for (const [allowOrigins, acao] of [[undefined, undefined], [["*"], "*"]] as const) {
      const { port } = await serve(box(), allowOrigins === undefined ? {} : { allowOrigins: [...allowOrigins] });
      const raw = await new Promise<string>((resolve) => {
        const sock = track(connect(port, "127.0.0.1", () => sock.write(huge(port))));
        let data = "";
        sock.on("data", (d: Buffer) => (data += d.toString("utf8")));
        sock.on("error", () => {});
        sock.on("close", () => resolve(data));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 431 /);
      const line = raw.split("\r\n").find((l) => l.toLowerCase().startsWith("access-control-allow-origin:"));
      expect(line?.slice(line.indexOf(":") + 1).trim()).toBe(acao);
    }
  });
});

describe("allowed origins", () => {
  it("an origin allowed by name is served, and its answers name it (Vary: Origin); its preflight may reach a private network", async () => {
    const b = box();
    const { url } = await serve(b, { allowOrigins: [APP, "https://other.example"] });
    const r = await simplePost(url, APP);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { status: string }).status).toBe("SUCCESS");
    expect(r.headers["access-control-allow-origin"]).toBe(APP);
    expect(r.headers.vary).toBe("Origin");
    const p = await preflight(url, APP, { "access-control-request-private-network": "true" });
    expect(p.status).toBe(204);
    expect(p.headers["access-control-allow-origin"]).toBe(APP);
    expect(p.headers["access-control-allow-methods"]).toBe("POST, OPTIONS");
    expect(p.headers["access-control-allow-headers"]).toBe("Content-Type");
    expect(p.headers["access-control-allow-private-network"]).toBe("true");
    // another origin is still refused
    expect((await simplePost(url, EVIL)).status).toBe(403);
  });

  it("'*' restores the reference's behaviour: every origin is served with Access-Control-Allow-Origin: *, no Vary", async () => {
    const { url } = await serve(box(), { allowOrigins: ["*"] });
    const r = await simplePost(url, EVIL);
    expect(r.status).toBe(200);
    expect(r.headers["access-control-allow-origin"]).toBe("*");
    expect(r.headers.vary).toBeUndefined();
    const p = await preflight(url, EVIL, { "access-control-request-private-network": "true" });
    expect(p.status).toBe(204);
    expect(p.headers["access-control-allow-origin"]).toBe("*");
    expect(p.headers["access-control-allow-private-network"]).toBeUndefined(); // only for an origin named
  });

  it.each([
    ["https://app.example/", "is not how browsers send it: 'https://app.example'"],
    ["https://App.example", "is not how browsers send it: 'https://app.example'"],
    ["https://app.example:443", "is not how browsers send it: 'https://app.example'"],
    ["https://app.example/path", "is not how browsers send it: 'https://app.example'"],
    ["https://", "is not an origin"],
    ["chrome-extension://ABC", "is not an origin"],
    ["app.example", "is not an origin"],
    ["", "is not an origin"],
    ["null", "is the opaque origin of sandboxed frames and file: pages, which any page can take on: allow every origin with '*' instead"],
  ])("allowOrigins '%s' is refused: E_USAGE", (value, why) => {
    const b = box();
    let err: unknown;
    try {
      void createServer({ workspace: b.workspace, dataRoot: b.dataRoot, allowOrigins: [value] }).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.USAGE);
    expect((err as CairnError).message).toBe(`allowed origin '${value}' ${why}; expected '*' or an origin as browsers send it, <scheme>://<host>[:<port>] (e.g. http://localhost:3000)`);
  });

  it("origins as browsers send them are accepted as given", () => {
    for (const o of ["*", "http://localhost:3000", "https://app.example", "http://[::1]:8080", "chrome-extension://abcdefghijklmnop"]) expect(parseAllowedOrigin(o)).toBe(o);
  });
});

describe("the Host check (DNS rebinding) on a loopback address", () => {
  const HOST_REFUSED = (host: string, port: number, own = "127.0.0.1"): string =>
    `Request refused: Host '${host}' does not name this server's loopback address (expected one of ${[...new Set(["localhost", "127.0.0.1", "[::1]", own])].map((n) => `${n}:${port}`).join(", ")})`;

  it("a request whose Host is a re-bound DNS name is refused 403 before anything runs, even with every origin allowed", async () => {
    for (const allowOrigins of [[], ["*"]]) {
      const b = box();
      const { url, port } = await serve(b, { allowOrigins });
      // A page of http://rebound.example:PORT whose name now resolves to 127.0.0.1: same-origin for the browser.
      const r = await simplePost(url, `http://rebound.example:${port}`, { host: `rebound.example:${port}` });
      expect(r.status).toBe(403);
      const error = (JSON.parse(r.body) as { error: string }).error;
      expect(error).toBe(allowOrigins.length === 0 ? ORIGIN_REFUSED(`http://rebound.example:${port}`) : HOST_REFUSED(`rebound.example:${port}`, port));
      // A POST whose Origin is `null` (a no-referrer page, a sandboxed frame): Origin present, Host checked.
      if (allowOrigins.length > 0) {
        const nul = await simplePost(url, "null", { host: `rebound.example:${port}` });
        expect(nul.status).toBe(403);
        expect(JSON.parse(nul.body)).toEqual({ status: "ERROR", error: HOST_REFUSED(`rebound.example:${port}`, port) });
      }
      // The preflight carries Origin too.
      const pre = await preflight(url, `http://rebound.example:${port}`, { host: `rebound.example:${port}` });
      expect(pre.status).toBe(403);
      expectNothingRan(b);
      // A same-origin GET carries no Origin: what the re-bound page may read is the health check.
      const g = await send(url, "GET", "/api/health", { host: `rebound.example:${port}` });
      expect(g.status).toBe(200);
      expect(JSON.parse(g.body)).toEqual({ ok: true });
      expectNothingRan(b);
    }
  });

  it("a request without Origin (curl, a script) is served whatever its Host: through a port forward, a run is answered 200", async () => {
    const b = box();
    const { url } = await serve(b);
    // ssh -L 9000:127.0.0.1:PORT, then curl http://localhost:9000/…: Host names the forwarded port.
    const forwarded = { host: "localhost:9000" };
    const g = await send(url, "GET", "/api/health", forwarded);
    expect(g.status).toBe(200);
    const r = await send(url, "POST", "/api/run", { "content-type": "application/json", ...forwarded }, actorBody());
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { status: string }).status).toBe("SUCCESS");
    // The same request from a browser page (with Origin, even an allowed one) is refused.
    const s2 = box();
    const { url: url2, port: port2 } = await serve(s2, { allowOrigins: [APP] });
    const fromPage = await simplePost(url2, APP, forwarded);
    expect(fromPage.status).toBe(403);
    expect(JSON.parse(fromPage.body)).toEqual({ status: "ERROR", error: HOST_REFUSED("localhost:9000", port2) });
    expectNothingRan(s2);
  });

  it("with Origin, the loopback names with the port are served; without the port, or another port, refused", async () => {
    const { url, port } = await serve(box(), { allowOrigins: ["*"] });
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      expect((await send(url, "GET", "/api/health", { host, origin: APP })).status).toBe(200);
    }
    for (const host of ["localhost", "127.0.0.1", `localhost:${port + 1}`, `localhost.:${port}`, `127.0.0.2:${port}`]) {
      const r = await send(url, "GET", "/api/health", { host, origin: APP });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: HOST_REFUSED(host, port) });
    }
  });

  it("listening on another loopback address (127.0.0.2) also accepts that address as Host", async () => {
    const b = box();
    const s = createServer({ workspace: b.workspace, dataRoot: b.dataRoot, allowOrigins: ["*"] });
    try {
      const url = await s.listen(0, "127.0.0.2");
      const port = Number(new URL(url).port);
      expect((await send(url, "GET", "/api/health", { origin: APP })).status).toBe(200); // Host: 127.0.0.2:PORT
      expect((await send(url, "GET", "/api/health", { host: `localhost:${port}`, origin: APP })).status).toBe(200);
      const r = await send(url, "GET", "/api/health", { host: `evil.example:${port}`, origin: APP });
      expect(JSON.parse(r.body)).toEqual({ status: "ERROR", error: HOST_REFUSED(`evil.example:${port}`, port, "127.0.0.2") });
    } finally {
      await s.close();
    }
  });

  it("which addresses are loopback, and the names of one", () => {
    for (const a of ["127.0.0.1", "127.1.2.3", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", "localhost"]) expect(isLoopbackAddress(a)).toBe(false);
    expect(loopbackHosts("127.0.0.1", 8080)).toEqual(["localhost:8080", "127.0.0.1:8080", "[::1]:8080"]);
    expect(loopbackHosts("::1", 80)).toEqual(["localhost:80", "127.0.0.1:80", "[::1]:80", "localhost", "127.0.0.1", "[::1]"]);
  });
});
