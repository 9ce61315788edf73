import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpLane } from "../../src/plane/lanes/http.js";
import { redactUrls, transportFailure } from "../../src/plane/lanes/http-common.js";
import { JsonRpcLane } from "../../src/plane/lanes/jsonrpc.js";
import { HTTP_MAX_TIMEOUT_MS, MAX_REQUEST_BODY_BYTES, MAX_TIMEOUT_MS, UNDICI_DEFAULT_TIMEOUT_MS } from "../../src/plane/lanes/limits.js";
import { exec, harness, metrics, request } from "./fixtures/lanes/harness.js";
import { freePort, startServer, type TestServer } from "./fixtures/lanes/servers.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv.close();
});

const lane = new HttpLane({ default_timeout_ms: 2000 });

/** Headers minus the ones that vary per run (date, keep-alive). */
function stable(output: unknown): unknown {
  const o = output as { headers: Record<string, string> };
  const { date: _d, connection: _c, "keep-alive": _k, ...headers } = o.headers;
  return { ...o, headers };
}

describe("http lane: statuses are raw facts", () => {
  it("200 is succeeded with status, headers and body", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/ok` });
    expect({ ...outcome, output: stable(outcome.output) }).toEqual({
      status: "succeeded",
      output: {
        status_code: 200,
        headers: { "content-type": "text/plain", "transfer-encoding": "chunked", "x-test": "yes" },
        body: "hello",
        body_encoding: "utf8",
        body_truncated: false,
      },
      metrics: metrics(2000, { output_bytes: 5, output_truncated: false }),
    });
  });

  it("a 500 (and a 404) is failed WITHOUT a failure class", async () => {
    const five = await exec(lane, "request", { url: `${srv.url}/status/500` });
    expect(five.outcome.status).toBe("failed");
    expect(five.outcome.failure).toBeUndefined();
    expect(five.outcome.output).toMatchObject({ status_code: 500, body: "status 500" });
    const four = await exec(lane, "request", { url: `${srv.url}/status/404` });
    expect(four.outcome).toMatchObject({ status: "failed", output: { status_code: 404 } });
    expect(four.outcome.failure).toBeUndefined();
  });

  it("redirects are not followed: a 302 is reported as is", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/redirect` });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toBeUndefined();
    expect(outcome.output).toMatchObject({ status_code: 302, headers: { location: "/ok" }, body: "" });
  });

  it("sends method, headers, body and json", async () => {
    const posted = await exec(lane, "request", { url: `${srv.url}/echo`, method: "post", headers: { "x-req": "1", "content-type": "text/plain" }, body: "raw" });
    expect(JSON.parse((posted.outcome.output as { body: string }).body)).toEqual({ method: "POST", content_type: "text/plain", x_req: "1", body: "raw" });
    const json = await exec(lane, "request", { url: `${srv.url}/echo`, method: "PUT", json: { a: [1, "two"] } });
    expect(JSON.parse((json.outcome.output as { body: string }).body)).toEqual({ method: "PUT", content_type: "application/json", x_req: null, body: '{"a":[1,"two"]}' });
  });

  it("non-UTF-8 bodies are base64", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/binary` });
    expect(outcome.output).toMatchObject({ body: "//4A", body_encoding: "base64" });
  });
});

describe("http lane: bounds and classified failures", () => {
  it("the body is capped at max_response_bytes and flagged", async () => {
    const small = new HttpLane({ max_response_bytes: 100 });
    const { outcome } = await exec(small, "request", { url: `${srv.url}/big` });
    expect(outcome.status).toBe("succeeded");
    expect(outcome.output).toMatchObject({ status_code: 200, body: "x".repeat(100), body_truncated: true });
    expect(outcome.metrics).toMatchObject({ output_bytes: 100, output_truncated: true });
  });

  it("no response within the timeout is timeout", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/slow`, timeout_ms: 150 });
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: { class: "timeout", message: "no result within 150 ms", details: { timeout_ms: 150 } },
      metrics: metrics(150),
    });
  });

  it("a refused connection is transport_failed", async () => {
    const { outcome } = await exec(lane, "request", { url: `http://127.0.0.1:${await freePort()}/x` });
    expect(outcome.status).toBe("failed");
    expect(outcome.output).toBeNull();
    expect(outcome.failure).toMatchObject({ class: "transport_failed", details: { reason: "no_response", code: "ECONNREFUSED" } });
  });

  it("an unresolvable host is transport_failed", async () => {
    // The timeout is not what is under test: it leaves a slow resolver ample time to answer.
    const { outcome } = await exec(lane, "request", { url: "http://cairn-no-such-host.invalid/", timeout_ms: 30_000 });
    expect(outcome.failure?.class).toBe("transport_failed");
  });

  it("a body that breaks off is remote_disconnect with the partial body", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/break` });
    expect(outcome.failure?.class).toBe("remote_disconnect");
    expect(outcome.output).toMatchObject({ status_code: 200, body: "partial" });
  });

  it("a disallowed method fails before any I/O, naming the field", async () => {
    const getOnly = new HttpLane({ allowed_methods: ["GET"] });
    const { outcome } = await exec(getOnly, "request", { url: "http://127.0.0.1:1/never", method: "DELETE" });
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: 'invalid lane request: $.payload.method: "DELETE" is not allowed',
      details: { reason: "invalid_lane_request", path: "$.payload.method", allowed: ["GET"] },
    });
    const trace = await exec(lane, "request", { url: `${srv.url}/ok`, method: "TRACE" });
    expect(trace.outcome.failure?.details).toMatchObject({ path: "$.payload.method" });
  });

  it("an origin outside allowed_origins is policy_denied before any I/O", async () => {
    const fenced = new HttpLane({ allowed_origins: [srv.url] });
    expect((await exec(fenced, "request", { url: `${srv.url}/ok` })).outcome.status).toBe("succeeded");
    const { outcome } = await exec(fenced, "request", { url: "http://127.0.0.1:1/x" });
    expect(outcome.failure).toEqual({
      class: "policy_denied",
      message: "origin http://127.0.0.1:1 is not allowed by this lane",
      details: { reason: "origin_not_allowed", origin: "http://127.0.0.1:1", allowed: [srv.url] },
    });
  });

  it("rejects connection-level request headers before any I/O", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/ok`, headers: { Host: "evil.example" } });
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: "invalid lane request: $.payload.headers.Host: is managed by the client and may not be set",
      details: { reason: "invalid_lane_request", path: "$.payload.headers.Host" },
    });
  });

  it("rejects a body on GET/HEAD and header values fetch would throw on, before any I/O", async () => {
    for (const [method, extra, path] of [
      ["GET", { body: "x" }, "$.payload.body"],
      ["head", { json: { a: 1 } }, "$.payload.json"],
    ] as const) {
      const { outcome } = await exec(lane, "request", { url: "http://127.0.0.1:1/never", method, ...extra });
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path } });
    }
    for (const value of ["caf\u00e9\u0100", "bell\u0007", "del\u007f"]) {
      const { outcome } = await exec(lane, "request", { url: "http://127.0.0.1:1/never", headers: { "x-v": value } });
      expect(outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: '$.payload.headers["x-v"]' } });
    }
    const tab = await exec(lane, "request", { url: `${srv.url}/ok`, headers: { "x-v": "a\tb ~" } });
    expect(tab.outcome.status).toBe("succeeded");
  });

  it("a json body is held to MAX_REQUEST_BODY_BYTES once stringified", async () => {
    const { outcome } = await exec(lane, "request", { url: "http://127.0.0.1:1/never", method: "POST", json: { big: "x".repeat(MAX_REQUEST_BODY_BYTES) } });
    expect(outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: `invalid lane request: $.payload.json: must be at most ${MAX_REQUEST_BODY_BYTES} bytes`,
      details: { reason: "invalid_lane_request", path: "$.payload.json" },
    });
  });

  it("timeouts stay under undici's 300 s limits (HTTP_MAX_TIMEOUT_MS), so the lane's deadline decides", async () => {
    expect(HTTP_MAX_TIMEOUT_MS).toBeLessThan(UNDICI_DEFAULT_TIMEOUT_MS);
    expect(() => new HttpLane({ max_timeout_ms: MAX_TIMEOUT_MS })).toThrow();
    const widest = new HttpLane();
    expect((await exec(widest, "request", { url: `${srv.url}/ok`, timeout_ms: MAX_TIMEOUT_MS })).outcome.metrics.timeout_ms).toBe(HTTP_MAX_TIMEOUT_MS);
  });

  it("rejects non-http URLs and body+json", async () => {
    expect((await exec(lane, "request", { url: "file:///etc/passwd" })).outcome.failure?.details).toMatchObject({ path: "$.payload.url" });
    expect((await exec(lane, "request", { url: `${srv.url}/ok`, body: "a", json: 1 })).outcome.failure?.details).toMatchObject({ path: "$.payload.json" });
  });

  it("a URL with credentials (user:password@) is an invalid lane request before any I/O, never repeating the password", async () => {
    for (const url of [srv.url.replace("http://", "http://svc:TOPSECRETPW@") + "/ok", srv.url.replace("http://", "http://svc@") + "/ok"]) {
      const { outcome } = await exec(lane, "request", { url });
      expect(outcome.status).toBe("failed");
      expect(outcome.output).toBeNull();
      expect(outcome.failure).toEqual({
        class: "protocol_framing_failed",
        message: "invalid lane request: $.payload.url: must not contain credentials (user:password@)",
        details: { reason: "invalid_lane_request", path: "$.payload.url" },
      });
    }
  });

  it("URLs in a transport error's text are reduced to their origin", () => {
    const err = new TypeError("Request cannot be constructed from a URL that includes credentials: http://u:PW@h.example:81/p?token=T#f", { cause: new Error("see https://a:b@x.example/q?k=v") });
    const f = transportFailure(err, "http://h.example:81/p");
    expect(f).toEqual({
      class: "transport_failed",
      message: "no response from http://h.example:81: Request cannot be constructed from a URL that includes credentials: http://h.example:81: see https://x.example",
      details: { reason: "no_response", code: "unknown" },
    });
    expect(redactUrls("a file:///etc/passwd b")).toBe("a <url> b");
    expect(redactUrls("x_http://u:p@h.example/p?t=S")).toBe("x_http://h.example"); // no word boundary before the scheme
  });

  it("lane options and config reject credentials in URLs", () => {
    expect(() => new HttpLane({ allowed_origins: ["http://u:p@h.example"] })).toThrow(/must not contain credentials/);
    expect(() => new JsonRpcLane({ transport: { kind: "http", url: "http://svc:PW@127.0.0.1:1/rpc" } })).toThrow(/must not contain credentials/);
  });

  it("cancellation aborts the request", async () => {
    const h = harness();
    const pending = lane.execute(request("http", "request", { url: `${srv.url}/slow` }), h.ctx);
    setTimeout(() => h.controller.abort(), 50);
    expect((await pending).failure).toEqual({ class: "cancellation", message: "cancelled" });
  });

  it("an unsupported placement is placement_unavailable", async () => {
    const { outcome } = await exec(lane, "request", { url: `${srv.url}/ok` }, { kind: "ssh" });
    expect(outcome.failure).toMatchObject({ class: "placement_unavailable", details: { requested: "ssh", placement: "local" } });
  });
});
