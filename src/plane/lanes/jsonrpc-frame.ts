/**
 * JSON-RPC 2.0 framing and message classification, shared by the stdio and HTTP transports.
 *
 * stdio framing: newline-delimited JSON. Each message is one line of UTF-8 JSON terminated by
 * `\n` (a trailing `\r` is tolerated, blank lines are ignored); a message never contains a raw
 * newline (JSON.stringify escapes them). One line is at most `max_frame_bytes`.
 *
 * Inbound messages are classified as `response` (id + result xor error), `notification` (method,
 * no id), `peer_request` (method + id) or `malformed` (anything else, with a reason code).
 *
 * Depth: a JSON value may nest at most JSON_VALUE_MAX_DEPTH levels, counted from where the node
 * checks it — an event's `payload`, the execution's `output`. The lane puts peer values one or
 * two levels down there (`{method, params}`, `{result}`, `{error: {…, data}}`), so the frame check
 * counts those levels too (`*_NESTING`): whatever a frame check accepts fits where the lane puts
 * it, and a value one level too deep is a framing failure here, never an invalid event or outcome
 * later.
 */
import { isUtf8 } from "node:buffer";
import { canonicalBytes } from "../../core/canonical.js";
import { JSON_VALUE_MAX_DEPTH, type JsonValue } from "../contracts/base.js";
import { requestTextProblem } from "../contracts/request-text.js";
import { clip, isJsonValue } from "./common.js";
import { FRAME_EXCERPT_CHARS } from "./limits.js";

export const JSONRPC_VERSION = "2.0";
/** The error code the lane answers peer requests with (it serves no methods). */
export const JSONRPC_METHOD_NOT_FOUND = -32601;

/** Levels above `params` in the event payload the lane emits (`{method, params}`, `{id, method, params}`). */
export const PARAMS_NESTING = 1;
/** Levels above `result` in the lane's output (`{result}`, plus `http_status` over HTTP). */
export const RESULT_NESTING = 1;
/** Levels above an error's `data` in the lane's output (`{error: {code, message, data}}`). */
export const ERROR_DATA_NESTING = 2;

/** True when `v` is a JSON value that still fits JSON_VALUE_MAX_DEPTH once nested `levels` deep. */
export function fitsNested(v: unknown, levels: number): boolean {
  let w: unknown = v;
  for (let i = 0; i < levels; i++) w = [w];
  return isJsonValue(w);
}

const tooDeep = (what: string, levels: number): string => `${what} nests deeper than ${JSON_VALUE_MAX_DEPTH - levels} levels (the lane nests it ${levels} deeper; JSON values nest at most ${JSON_VALUE_MAX_DEPTH})`;

export type JsonRpcId = string | number;

export interface JsonRpcErrorObject {
  readonly code: number;
  readonly message: string;
  readonly data?: JsonValue;
}

export type Inbound =
  | { kind: "response"; id: JsonRpcId | null; result?: JsonValue; error?: JsonRpcErrorObject }
  | { kind: "notification"; method: string; params?: JsonValue }
  | { kind: "peer_request"; id: JsonRpcId; method: string; params?: JsonValue }
  | { kind: "malformed"; reason: string; message: string };

const bad = (reason: string, message: string): Inbound => ({ kind: "malformed", reason, message });

function isId(v: unknown): v is JsonRpcId {
  return typeof v === "string" || (typeof v === "number" && Number.isFinite(v));
}

/** Classifies one decoded JSON value. */
export function classify(msg: unknown): Inbound {
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    return bad(Array.isArray(msg) ? "batch_not_supported" : "not_an_object", Array.isArray(msg) ? "batch messages are not supported" : "a message must be a JSON object");
  }
  const m = msg as Record<string, unknown>;
  if (m.jsonrpc !== JSONRPC_VERSION) return bad("wrong_version", `jsonrpc must be "2.0", got ${JSON.stringify(m.jsonrpc) ?? "nothing"}`);
  const params = m.params;
  if (params !== undefined && (params === null || typeof params !== "object" || !isJsonValue(params))) return bad("invalid_params", "params must be an array or object");
  if (params !== undefined && !fitsNested(params, PARAMS_NESTING)) return bad("invalid_params", tooDeep("params", PARAMS_NESTING));
  if ("method" in m) {
    if (typeof m.method !== "string") return bad("invalid_method", "method must be a string");
    const withParams = params === undefined ? {} : { params: params as JsonValue };
    if (!("id" in m)) return { kind: "notification", method: m.method, ...withParams };
    if (!isId(m.id)) return bad("invalid_id", "a request id must be a string or number");
    return { kind: "peer_request", id: m.id, method: m.method, ...withParams };
  }
  if (!("id" in m) || (m.id !== null && !isId(m.id))) return bad("invalid_id", "a response id must be a string, number or null");
  const hasResult = "result" in m;
  const hasError = "error" in m;
  if (hasResult === hasError) return bad("invalid_response", "a response must have exactly one of result and error");
  if (hasResult) {
    if (!isJsonValue(m.result)) return bad("invalid_response", "result must be a JSON value");
    if (!fitsNested(m.result, RESULT_NESTING)) return bad("invalid_response", tooDeep("result", RESULT_NESTING));
    return { kind: "response", id: m.id as JsonRpcId | null, result: m.result };
  }
  const e = m.error as Record<string, unknown> | null;
  if (e === null || typeof e !== "object" || Array.isArray(e) || !Number.isInteger(e.code) || typeof e.message !== "string" || ("data" in e && !isJsonValue(e.data))) {
    return bad("invalid_error_object", "error must be { code: integer, message: string, data? }");
  }
  if ("data" in e && !fitsNested(e.data, ERROR_DATA_NESTING)) return bad("invalid_error_object", tooDeep("error.data", ERROR_DATA_NESTING));
  const error: JsonRpcErrorObject = { code: e.code as number, message: e.message, ...("data" in e ? { data: e.data as JsonValue } : {}) };
  return { kind: "response", id: m.id as JsonRpcId | null, error };
}

/**
 * Decodes one frame (its bytes, or text already decoded) and classifies it. Fails closed with
 * `invalid_json` when the bytes are not well-formed UTF-8 (never replaced by U+FFFD), when the
 * text is not JSON, or when the parsed value cannot be canonically encoded (RFC 8785): a string
 * or member name holding a lone surrogate (`"\ud800"`) or a number out of range (`1e400`); and
 * when `JSON.parse` would not keep the text as sent, by the rule of request files
 * (contracts/request-text.ts `requestTextProblem`): a member name written twice in one object
 * (the first value would be dropped) or a number a double changes (an integer beyond
 * ±(2^53−1), `0.1000000000000000055511151231257827`). Whatever the lane accepts is what the
 * peer sent, and can be fingerprinted in evidence and printed as JSON.
 */
export function decodeFrame(frame: string | Buffer): Inbound {
  let text: string;
  if (typeof frame === "string") text = frame;
  else if (isUtf8(frame)) text = frame.toString("utf8");
  else return bad("invalid_json", "the frame is not valid UTF-8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad("invalid_json", "the frame is not valid JSON");
  }
  try {
    canonicalBytes(value);
  } catch {
    return bad("invalid_json", "the frame holds a value JSON cannot carry canonically (a lone surrogate or a number out of range)");
  }
  // What JSON.parse would change without a word: the request files' rule (contracts/request-text.ts).
  const changed = requestTextProblem(text);
  if (changed !== null) return bad("invalid_json", `the frame cannot be kept as sent: ${changed.member}: ${changed.message}`);
  return classify(value);
}

/** A frame's bytes as text for failure excerpts (lossy: invalid UTF-8 becomes U+FFFD). */
export function frameText(frame: Buffer): string {
  return frame.toString("utf8");
}

/** The request frame (no trailing newline). */
export function encodeRequest(id: JsonRpcId, method: string, params: JsonValue | undefined): string {
  return JSON.stringify({ jsonrpc: JSONRPC_VERSION, id, method, ...(params === undefined ? {} : { params }) });
}

/** The lane's reply to a peer request: method not found. */
export function encodeMethodNotFound(id: JsonRpcId, method: string): string {
  return JSON.stringify({ jsonrpc: JSONRPC_VERSION, id, error: { code: JSONRPC_METHOD_NOT_FOUND, message: `method not found: ${method}` } });
}

/** A short quote of an offending frame for failure details. */
export function excerpt(text: string): string {
  // Never cuts a surrogate pair in two (a lone surrogate cannot be canonically encoded).
  return clip(text, FRAME_EXCERPT_CHARS);
}

/**
 * Splits a byte stream into newline-delimited frames, enforcing the per-frame cap.
 * `push` returns the complete frames (their bytes, undecoded: decodeFrame checks UTF-8) or
 * `too_large` once a frame exceeds the cap.
 */
export class LineFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Buffer): { frames: Buffer[]; tooLarge: boolean } {
    const frames: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.pendingBytes + piece.length > this.maxFrameBytes) return { frames, tooLarge: true };
      const line = Buffer.concat([...this.pending, piece]);
      this.pending = [];
      this.pendingBytes = 0;
      const frame = line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line;
      if (!isBlank(frame)) frames.push(frame);
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    this.pending.push(rest);
    this.pendingBytes += rest.length;
    return { frames, tooLarge: this.pendingBytes > this.maxFrameBytes };
  }
}

/** True when the bytes are only JSON whitespace (a blank line is ignored). */
function isBlank(b: Buffer): boolean {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  return true;
}
