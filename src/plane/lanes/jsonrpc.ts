/**
 * The jsonrpc lane: one JSON-RPC 2.0 call per execution (operation `call`), over a child
 * process's stdio (newline-delimited JSON, see jsonrpc-frame.ts) or over HTTP (one POST per
 * call). The peer is fixed by the lane's `transport` option (operator configuration); a request
 * supplies only `{ method, params?, timeout_ms? }`.
 *
 * stdio: every execution starts a FRESH peer process (own process group, argv, no shell), writes
 * the request frame, reads frames until the response whose id equals the request id (the
 * execution_ref), then closes stdin and TERM/KILLs the group. While waiting:
 * - a notification from the peer is emitted as an ExecutionEvent `jsonrpc.notification`
 *   (`{ method, params? }`), in order;
 * - a request from the peer is emitted as `jsonrpc.peer_request` and answered with error -32601
 *   (the lane serves no methods);
 * - an invalid frame (not JSON, not an object, a batch, `jsonrpc` not "2.0", a response with an
 *   unknown id, a malformed error object, a frame over `max_frame_bytes`) is
 *   `protocol_framing_failed` with `details.reason`; so is a frame whose bytes are not
 *   well-formed UTF-8 or whose JSON holds a lone surrogate (`"\ud800"`) or a number out of
 *   range (`invalid_json`, over both transports: nothing is decoded lossily, and an accepted
 *   result can always be canonically encoded).
 * The peer exiting (or closing stdout) before responding is `remote_disconnect`, also when a
 * process it left behind in another session still holds its stdout open (the lane stops
 * waiting once the peer has exited and its pipes were abandoned, CLOSE_AFTER_KILL_MS later); a
 * peer that cannot be started is `launch_failed`. The peer inherits the node's environment
 * (layered under `transport.env`) unless `transport.clear_env` is true.
 *
 * http: POST `application/json`, the body is the request object; the response body must be
 * the response object. The HTTP status is recorded as `http_status`. A body that is not a valid
 * response is `protocol_framing_failed` for a 2xx and a raw fact (failed, no class, output
 * `{ http_status, body, body_encoding }`) otherwise; a non-2xx body over `max_frame_bytes` is
 * that raw fact with the body cut at the cap and `body_truncated: true` (a 2xx one is
 * `frame_too_large`). The request carries `accept-encoding: identity`; a compressed response
 * (gzip, deflate, br) is `protocol_framing_failed` (`unexpected_content_coding`, output
 * `{ http_status }`), its body unread; every body read is raced against the deadline. There are
 * no notifications over HTTP (unary).
 *
 * Results: a `result` is `succeeded` with output `{ result }`; an error object is a raw fact:
 * `failed` WITHOUT a class, output `{ error: { code, message, data? } }`. That includes an error
 * response with `id: null` (JSON-RPC 2.0 §5: the peer could not read the request's id, e.g. -32700
 * parse error or -32600 invalid request): it answers this call, the only one in flight. A
 * `result` with `id: null` is still `unknown_id`.
 *
 * Timeouts: over HTTP the effective timeout is at most HTTP_MAX_TIMEOUT_MS (undici's own
 * 300 s limits must never fire first), whatever `max_timeout_ms` says; stdio keeps MAX_TIMEOUT_MS.
 */
import { isAbsolute } from "node:path";
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import { jsonObject, jsonValue } from "../contracts/base.js";
import type { ExecutionRequest } from "../contracts/execution.js";
import type { LaneCapabilities } from "../contracts/target.js";
import { LOCAL_PLACEMENT, PLACEMENT_SURFACES } from "../placements/placement.js";
import { BoundedBuffer, capabilities, checkLaneRequest, Deadline, deadlineFailure, effectiveTimeout, encodeBody, encodeStream, laneIdOption, parseLaneOptions, Run, timeoutField, timeoutOptions } from "./common.js";
import { GroupProcess } from "./group-process.js";
import { CONTENT_CODING_HEADER, disconnectFailure, headersField, httpUrl, NOT_PROTO_MESSAGE, notProto, readCapped, transportFailure, unexpectedCoding } from "./http-common.js";
import { decodeFrame, encodeMethodNotFound, encodeRequest, excerpt, frameText, LineFramer, type Inbound, type JsonRpcErrorObject } from "./jsonrpc-frame.js";
import type { Lane, LaneContext, LaneFailure, LaneOutcome } from "./lane.js";
import {
  CLOSE_AFTER_KILL_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_NOTIFICATIONS,
  HTTP_MAX_TIMEOUT_MS,
  KILL_GRACE_MS,
  MAX_EVENTS_PER_EXECUTION,
  MAX_FRAME_BYTES_LIMIT,
  MAX_PEER_STDERR_BYTES,
} from "./limits.js";

export const JSONRPC_OPERATIONS = ["call"] as const;

const stdioTransport = z
  .object({
    kind: z.literal("stdio"),
    command: z.string().min(1),
    argv: z.array(z.string()).default([]),
    env: z.record(z.string().regex(/^[^=\0]+$/).refine(notProto, { message: NOT_PROTO_MESSAGE }), z.string()).default({}),
    clear_env: z.boolean().default(false),
    cwd: z.string().refine(isAbsolute, { message: "must be an absolute path" }).optional(),
  })
  .strict();
const httpTransport = z.object({ kind: z.literal("http"), url: httpUrl, headers: headersField }).strict();

export const jsonrpcLaneOptionsSchema = z
  .object({
    id: laneIdOption.default("jsonrpc"),
    transport: z.discriminatedUnion("kind", [stdioTransport, httpTransport]),
    max_frame_bytes: z.number().int().positive().max(MAX_FRAME_BYTES_LIMIT).default(DEFAULT_MAX_FRAME_BYTES),
    max_notifications: z.number().int().min(0).max(MAX_EVENTS_PER_EXECUTION).default(DEFAULT_MAX_NOTIFICATIONS),
    ...timeoutOptions,
  })
  .strict();
export type JsonRpcLaneOptions = z.input<typeof jsonrpcLaneOptionsSchema>;

export const jsonrpcPayloadSchema = z
  .object({
    method: z.string().min(1),
    // jsonObject, not z.record: an own "__proto__" member is kept (it is signed and sent).
    params: z.union([z.array(jsonValue), jsonObject]).optional(),
    timeout_ms: timeoutField.optional(),
  })
  .strict();
type Payload = z.output<typeof jsonrpcPayloadSchema>;

function framing(reason: string, message: string, frame?: string): LaneFailure {
  return { class: "protocol_framing_failed", message, details: { reason, ...(frame === undefined ? {} : { frame: excerpt(frame) }) } };
}

function errorOutput(error: JsonRpcErrorObject): JsonValue {
  return { error: { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: error.data }) } };
}

export class JsonRpcLane implements Lane {
  readonly id: string;
  private readonly opts: z.output<typeof jsonrpcLaneOptionsSchema>;

  constructor(options: JsonRpcLaneOptions) {
    this.opts = parseLaneOptions("jsonrpc", jsonrpcLaneOptionsSchema, options);
    this.id = this.opts.id;
  }

  capabilities(): LaneCapabilities {
    return capabilities(this.id, ["jsonrpc", this.opts.transport.kind], [PLACEMENT_SURFACES.local], this.opts.transport.kind === "stdio");
  }

  /** Over HTTP: the origin of the configured `transport.url` (a request cannot choose it); stdio: null. */
  requestOrigin(): string | null {
    return this.opts.transport.kind === "http" ? new URL(this.opts.transport.url).origin : null;
  }

  async execute(request: ExecutionRequest, ctx: LaneContext): Promise<LaneOutcome> {
    const run = new Run(ctx, request);
    const parsed = checkLaneRequest(this.id, JSONRPC_OPERATIONS, ["local"], LOCAL_PLACEMENT, request, jsonrpcPayloadSchema);
    if (!parsed.ok) return run.failWith(parsed.failure);
    const t = this.opts.transport;
    run.timeoutMs = effectiveTimeout(parsed.value.timeout_ms, this.opts);
    if (t.kind === "http") run.timeoutMs = Math.min(run.timeoutMs, HTTP_MAX_TIMEOUT_MS);
    if (ctx.signal.aborted) return run.fail("cancellation", "cancelled before the call");
    return t.kind === "stdio" ? this.overStdio(run, t, parsed.value, ctx) : this.overHttp(run, t, parsed.value, ctx);
  }

  private async overStdio(run: Run, t: z.output<typeof stdioTransport>, p: Payload, ctx: LaneContext): Promise<LaneOutcome> {
    const env = t.clear_env ? { ...t.env } : { ...process.env, ...t.env };
    const started = await GroupProcess.start(t.command, t.argv, { env, ...(t.cwd === undefined ? {} : { cwd: t.cwd }) });
    if (!(started instanceof GroupProcess)) {
      return run.fail("launch_failed", `cannot start the JSON-RPC peer ${t.command}: ${started.error.message}`, null, { reason: "peer_launch_failed", code: started.error.code ?? "unknown", command: t.command });
    }
    const proc = started;
    const id = run.request.execution_ref;
    const stderr = new BoundedBuffer(MAX_PEER_STDERR_BYTES);
    proc.child.stderr.on("data", (c: Buffer) => stderr.push(c));
    proc.child.stdin.on("error", () => undefined);
    const framer = new LineFramer(this.opts.max_frame_bytes);
    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    let messages = 0;

    const settled = await new Promise<LaneOutcome>((resolve) => {
      let done = false;
      const finish = (o: LaneOutcome): void => {
        if (done) return;
        done = true;
        resolve(o);
      };
      const handle = (frame: Buffer): void => {
        const m: Inbound = decodeFrame(frame);
        switch (m.kind) {
          case "malformed":
            return finish(run.failWith(framing(m.reason, m.message, frameText(frame))));
          case "notification":
          case "peer_request":
            if (++messages > this.opts.max_notifications) {
              return finish(run.failWith(framing("too_many_messages", `more than ${this.opts.max_notifications} notifications/peer requests`)));
            }
            if (m.kind === "notification") {
              if (!run.emit("jsonrpc.notification", { method: m.method, ...(m.params === undefined ? {} : { params: m.params }) })) return finish(run.failWith(run.eventFailure as LaneFailure));
            } else {
              if (!run.emit("jsonrpc.peer_request", { id: m.id, method: m.method, ...(m.params === undefined ? {} : { params: m.params }) })) return finish(run.failWith(run.eventFailure as LaneFailure));
              proc.child.stdin.write(`${encodeMethodNotFound(m.id, m.method)}\n`);
            }
            return;
          case "response":
            if (m.id === null && m.error !== undefined) return finish(run.fact("failed", errorOutput(m.error)));
            if (m.id !== id) return finish(run.failWith(framing("unknown_id", `a response for unknown id ${JSON.stringify(m.id)}`, frameText(frame))));
            return finish(m.error === undefined ? run.fact("succeeded", { result: m.result ?? null }) : run.fact("failed", errorOutput(m.error)));
        }
      };
      proc.child.stdout.on("data", (chunk: Buffer) => {
        if (done) return;
        const { frames, tooLarge } = framer.push(chunk);
        for (const f of frames) {
          handle(f);
          if (done) return;
        }
        if (tooLarge) finish(run.failWith(framing("frame_too_large", `a frame exceeds ${this.opts.max_frame_bytes} bytes`)));
      });
      const disconnected = (): void => {
        // The peer's stderr is a raw fact: UTF-8 text, else base64 with `stderr_encoding` (encodeStream).
        const err = encodeStream(stderr.bytes(), stderr.truncated);
        const output = { exit_code: proc.exitCode, signal: proc.signal, stderr: err.text, ...(err.base64 ? { stderr_encoding: "base64" } : {}) };
        finish(run.fail("remote_disconnect", "the peer closed its output before responding", output, { reason: "peer_exited" }));
      };
      const onOutputClosed = (): void => {
        // Let an exit status arrive first (bounded: a peer may close stdout and keep running).
        const settle = new Promise<void>((r) => setTimeout(r, CLOSE_AFTER_KILL_MS).unref());
        void Promise.race([proc.closed, settle]).then(disconnected);
      };
      proc.child.stdout.once("end", onOutputClosed);
      proc.child.stdout.once("close", onOutputClosed);
      // The peer exited but something it left in another session (setsid) holds stdout open: the
      // supervisor abandons the pipes CLOSE_AFTER_KILL_MS after the exit and `closed` resolves.
      void proc.closed.then(disconnected);
      void deadline.fired.then((reason) => finish(deadlineFailure(run, reason, null)));
      proc.child.stdin.write(`${encodeRequest(id, p.method, p.params)}\n`);
    });
    deadline.dispose();
    proc.child.stdin.end();
    proc.terminate(KILL_GRACE_MS);
    await proc.closed;
    return settled;
  }

  private async overHttp(run: Run, t: z.output<typeof httpTransport>, p: Payload, ctx: LaneContext): Promise<LaneOutcome> {
    const id = run.request.execution_ref;
    const deadline = new Deadline(run.timeoutMs, ctx.signal);
    try {
      let res: Response;
      try {
        res = await fetch(t.url, {
          method: "POST",
          headers: { ...t.headers, ...CONTENT_CODING_HEADER, "content-type": "application/json", accept: "application/json" },
          body: encodeRequest(id, p.method, p.params),
          redirect: "manual",
          signal: deadline.signal,
        });
      } catch (err) {
        if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, null);
        return run.failWith(transportFailure(err, t.url));
      }
      const compressed = unexpectedCoding(res, "POST", { http_status: res.status }, run);
      if (compressed !== null) return compressed;
      let bytes: Buffer;
      let truncated: boolean;
      try {
        ({ bytes, truncated } = await readCapped(res.body, this.opts.max_frame_bytes, deadline.signal));
      } catch (err) {
        if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, null);
        return run.failWith(disconnectFailure(err));
      }
      if (truncated) {
        // A non-2xx keeps its raw fact: the status and the body up to the frame cap.
        if (!res.ok) return run.fact("failed", { http_status: res.status, ...encodeBody(bytes), body_truncated: true }, { bytes: bytes.length, truncated: true });
        return run.failWith(framing("frame_too_large", `the response exceeds ${this.opts.max_frame_bytes} bytes`));
      }
      const m = decodeFrame(bytes);
      const isResponse = m.kind === "response" && (m.id === id || (m.id === null && m.error !== undefined));
      if (!isResponse && !res.ok) return run.fact("failed", { http_status: res.status, ...encodeBody(bytes) });
      switch (m.kind) {
        case "malformed":
          return run.failWith(framing(m.reason, m.message, bytes.toString("utf8")));
        case "notification":
        case "peer_request":
          return run.failWith(framing("not_a_response", `expected a response, got a ${m.kind === "notification" ? "notification" : "request"}`, bytes.toString("utf8")));
        case "response":
          if (m.id !== id && !(m.id === null && m.error !== undefined)) return run.failWith(framing("unknown_id", `a response for unknown id ${JSON.stringify(m.id)}`, bytes.toString("utf8")));
          return m.error === undefined
            ? run.fact("succeeded", { result: m.result ?? null, http_status: res.status })
            : run.fact("failed", { ...(errorOutput(m.error) as Record<string, JsonValue>), http_status: res.status });
      }
    } finally {
      deadline.dispose();
    }
  }
}
