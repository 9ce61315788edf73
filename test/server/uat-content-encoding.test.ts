/**
 * UAT finding: the gateway decodes no content coding, yet it read a `Content-Encoding: gzip`
 * body as plain JSON (a confusing "Invalid JSON body" 400). A request whose Content-Encoding is
 * present and not `identity` is now 415 with the gateway's JSON error body (and
 * `Accept-Encoding: identity`), answered from its head, before any of its body is read. Over
 * real HTTP (src/server/app.ts, request.ts `contentEncodingRefusal`).
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { actorBody, gatewayScratch } from "./fixture.js";

const { box, serve, track } = gatewayScratch();

function post(port: number, headers: Record<string, string>, body: Buffer | string): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method: "POST", path: "/api/run", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("Content-Encoding on POST /api/run", () => {
  it("a coded body (gzip, br, a list naming one) is 415 with the usual error body, not parsed as JSON; identity or none is read as before", async () => {
    const { port } = await serve(box());
    const gz = gzipSync(actorBody());
    const cases: [string, Buffer | string, string][] = [
      ["gzip", gz, '"gzip"'],
      ["GZIP", gz, '"GZIP"'],
      ["br", actorBody(), '"br"'],
      ["identity, gzip", gz, '"identity, gzip"'],
    ];
    for (const [coding, body, quoted] of cases) {
      const framings: Record<string, string>[] = [{ "content-length": String(Buffer.byteLength(body)) }, { "transfer-encoding": "chunked" }];
      for (const extra of framings) {
        const r = await post(port, { "content-type": "application/json", "content-encoding": coding, ...extra }, body);
        expect(r.status).toBe(415);
        expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
        expect(r.headers["accept-encoding"]).toBe("identity");
        expect(r.headers["access-control-allow-origin"]).toBe("*");
        expect(r.body).toEqual({ status: "ERROR", error: `Unsupported Content-Encoding ${quoted}: send the request body uncompressed (identity)` });
      }
    }
    // identity (any case), an empty value or none: the body is read as before, whatever its Content-Type.
    const body = actorBody();
    const plain: Record<string, string>[] = [{ "content-encoding": "identity" }, { "content-encoding": "Identity" }, { "content-encoding": "" }, {}, { "content-type": "text/plain" }, { "content-type": "application/json" }];
    for (const headers of plain) {
      const r = await post(port, { "content-length": String(Buffer.byteLength(body)), ...headers }, body);
      expect(r.status).toBe(200);
      expect(r.headers["accept-encoding"]).toBeUndefined();
      expect(typeof r.body.status).toBe("string");
      expect(r.body.status).not.toBe("ERROR");
    }
  });

  it("is answered from the request's head, before its body arrives", async () => {
    const { port } = await serve(box());
    const socket = track(connect(port, "127.0.0.1"));
    const answer = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (/\r\n\r\n[\s\S]*\}$/.test(text)) resolve(text);
      });
    });
    // The head promises 1000 bytes that never come.
    socket.write(`POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 1000\r\n\r\n`);
    const text = await answer;
    expect(text.startsWith("HTTP/1.1 415 Unsupported Media Type\r\n")).toBe(true);
    expect(text.endsWith('{"status":"ERROR","error":"Unsupported Content-Encoding \\"gzip\\": send the request body uncompressed (identity)"}')).toBe(true);
  });
});
