/**
 * Lane payload records and a `"__proto__"` member: a `z.record` rebuilds its object by
 * assignment and drops an own `"__proto__"` silently, so what was signed (admission keeps the
 * member) would not be what is sent. JSON-RPC `params` keep it; env and header names refuse it.
 */
import { describe, expect, it } from "vitest";
import { jsonrpcPayloadSchema } from "../../src/plane/lanes/jsonrpc.js";
import { processPayloadSchema } from "../../src/plane/lanes/process.js";
import { httpPayloadSchema } from "../../src/plane/lanes/http.js";

const parsed = (text: string): unknown => JSON.parse(text) as unknown;

describe('"__proto__" in lane payload records', () => {
  it("JSON-RPC params keep an own __proto__ member (it was dropped)", () => {
    const p = jsonrpcPayloadSchema.parse({ method: "m", params: parsed('{"__proto__":{"admin":true},"a":1}') });
    const params = p.params as Record<string, unknown>;
    expect(Object.keys(params)).toEqual(["__proto__", "a"]);
    expect(Object.getOwnPropertyDescriptor(params, "__proto__")?.value).toEqual({ admin: true });
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
  });

  it("process env and HTTP header names refuse __proto__ (they were dropped)", () => {
    const env = processPayloadSchema.safeParse({ command: "/bin/true", env: parsed('{"__proto__":"x","A":"1"}') });
    expect(env.success).toBe(false);
    expect(env.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([["env.__proto__", 'must not be "__proto__"']]);
    const headers = httpPayloadSchema.safeParse({ method: "GET", url: "http://127.0.0.1:1/", headers: parsed('{"__proto__":"v","x-a":"1"}') });
    expect(headers.success).toBe(false);
    expect(headers.error?.issues.map((i) => i.message)).toContain('must not be "__proto__"');
  });
});
