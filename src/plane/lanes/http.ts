/**
 * The http lane: one unary HTTP request per execution (operation `request`), with the global
 * fetch (undici). Redirects are NOT followed (`redirect: "manual"`): a 3xx is reported as is.
 *
 * Payload: `{ url, method?, headers?, body? | json?, timeout_ms? }`. `json` is sent as
 * `application/json` (JSON.stringify); `body` as given. Either is at most MAX_REQUEST_BODY_BYTES
 * (`json` measured after stringifying). GET and HEAD carry no body (fetch would throw): a body on
 * them is an invalid lane request. The timeout is at most HTTP_MAX_TIMEOUT_MS (kept under
 * undici's own 300 s header/body timeouts, so the lane's deadline is the one that fires).
 *
 * Status decision (documented in docs/plane-lanes.md): every response that arrived is a raw fact,
 * `{ status_code, headers, body, body_encoding, body_truncated }`. A 2xx is `succeeded`; any
 * other status is `failed` WITHOUT a failure class (the caller interprets it). Classified
 * failures happen only when no (complete) response exists: `transport_failed` (refused, DNS,
 * TLS, reset before the response), `remote_disconnect` (the body broke off; partial body kept),
 * `timeout`, `cancellation`. A method outside the lane's allow-list is an invalid lane request
 * (`protocol_framing_failed`, before any I/O); a URL outside `allowed_origins` (when configured)
 * is `policy_denied`, before any I/O.
 *
 * The body is read up to `max_response_bytes`; beyond it the stream is cancelled and
 * `body_truncated` / `metrics.output_truncated` are true (the status stays the status's). Every
 * read is raced against the deadline (fetch may never settle some reads). The request carries
 * `accept-encoding: identity` (a reserved header); a response compressed all the same (gzip,
 * deflate, br) is `protocol_framing_failed` (`unexpected_content_coding`, output the head),
 * its body unread: fetch would decode it, so its bytes could not be kept as sent.
 */
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import { jsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { capabilities, checkLaneRequest, Deadline, deadlineFailure, effectiveTimeout, encodeBody, invalidRequest, laneIdOption, parseLaneOptions, Run, timeoutField, timeoutOptionsUpTo } from "./common.js";
import { allowedOriginsOption, bodyReadFailure, checkOrigin, CONTENT_CODING_HEADER, headerObject, headersField, httpUrl, payloadUrlOrigin, readCapped, transportFailure, unexpectedCoding } from "./http-common.js";
import type { Lane, LaneContext, LaneOutcome } from "./lane.js";
import { DEFAULT_HTTP_METHODS, DEFAULT_MAX_RESPONSE_BYTES, HTTP_MAX_TIMEOUT_MS, HTTP_METHODS, MAX_REQUEST_BODY_BYTES, MAX_RESPONSE_BYTES_LIMIT } from "./limits.js";

export const HTTP_OPERATIONS = ["request"] as const;

export const httpLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("http"),
    allowed_methods: z.array(z.enum(HTTP_METHODS)).min(1).default([...DEFAULT_HTTP_METHODS]),
    allowed_origins: allowedOriginsOption,
    max_response_bytes: z.number().int().positive().max(MAX_RESPONSE_BYTES_LIMIT).default(DEFAULT_MAX_RESPONSE_BYTES),
    ...timeoutOptionsUpTo(HTTP_MAX_TIMEOUT_MS),
  })
  .strict();
export type HttpLaneOptions = z.input<typeof httpLaneOptionsSchema>;

const bodyLimit = { message: `must be at most ${MAX_REQUEST_BODY_BYTES} bytes` };
export const httpPayloadSchema = z
  .object({
    url: httpUrl,
    method: z.string().default("GET"),
    headers: headersField,
    body: z.string().refine((s) => Buffer.byteLength(s) <= MAX_REQUEST_BODY_BYTES, bodyLimit).optional(),
    json: jsonValue.optional(),
    timeout_ms: timeoutField.optional(),
  })
  .strict()
  .refine((p) => p.body === undefined || p.json === undefined, { message: "body and json are mutually exclusive", path: ["json"] })
  .superRefine((p, ctx) => {
    const method = p.method.toUpperCase();
    if ((method === "GET" || method === "HEAD") && (p.body !== undefined || p.json !== undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [p.body !== undefined ? "body" : "json"], message: `a ${method} request cannot carry a body` });
    }
  });

export class HttpLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof httpLaneOptionsSchema>;

  constructor(options: HttpLaneOptions = {}) {
    this.opts = parseLaneOptions("http", httpLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["http"], [PLACEMENT_SURFACES.local], false);
  }

  /** The origin of `payload.url` (null if it is not an absolute http(s) URL). */
  requestOrigin(payload: JsonValue): string | null {
    return payloadUrlOrigin(payload, ["http:", "https:"]);
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const parsed = checkLaneRequest(this.id, HTTP_OPERATIONS, ["local"], LOCAL_PLACEMENT, request, httpPayloadSchema);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const p = parsed.value;
    const method = p.method.toUpperCase();
    if (!(this.opts.allowed_methods as string[]).includes(method)) {
      return run.failWith(invalidRequest("$.payload.method", `${JSON.stringify(p.method)} is not allowed`, { allowed: this.opts.allowed_methods }));
    }
    const denied = checkOrigin(p.url, this.opts.allowed_origins);
    if (denied !== null) return run.failWith(denied);
    const headers: Record<string, string> = { ...p.headers, ...CONTENT_CODING_HEADER };
    let body: string | undefined = p.body;
    if (p.json !== undefined) {
      body = JSON.stringify(p.json);
      if (Buffer.byteLength(body) > MAX_REQUEST_BODY_BYTES) return run.failWith(invalidRequest("$.payload.json", bodyLimit.message));
      if (!Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    }
    run.timeoutMs = effectiveTimeout(p.timeout_ms, this.opts);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before the request");

    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    try {
      let res: Response;
      try {
        res = await fetch(p.url, { method, headers, ...(body === undefined ? {} : { body }), redirect: "manual", signal: deadline.signal });
      } catch (err) {
        if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, null);
        return run.failWith(transportFailure(err, p.url));
      }
      const head: Record<string, JsonValue> = { status_code: res.status, headers: headerObject(res.headers) };
      const compressed = unexpectedCoding(res, method, head, run);
      if (compressed !== null) return compressed;
      try {
        const { bytes, truncated } = await readCapped(res.body, this.opts.max_response_bytes, deadline.signal);
        const output = { ...head, ...encodeBody(bytes), body_truncated: truncated };
        return run.fact(res.ok ? "succeeded" : "failed", output, { bytes: bytes.length, truncated });
      } catch (err) {
        return bodyReadFailure(run, deadline, head, err);
      }
    } finally {
      deadline.dispose();
    }
  }
}
