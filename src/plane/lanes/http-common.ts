/**
 * Shared HTTP machinery for the http, jsonrpc (over HTTP) and sse lanes: URL checks (http/https
 * only, optional origin allow-list), a capped body reader, header projection and fetch error
 * classification.
 */
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import type { LaneFailure, LaneOutcome } from "./lane.js";
import { deadlineFailure, encodeBody, errnoCode, errorMessage, type Deadline, type Run } from "./common.js";

/**
 * An absolute URL of one of `schemes` WITHOUT credentials (`user:password@`): fetch and ws refuse
 * such URLs by throwing an error that repeats the URL, and a credential has no place in a
 * request, a config or a failure message. Rejected before any I/O (an invalid lane request for
 * a payload, a config error for lane options).
 */
export function urlOf(schemes: readonly string[], what: string): z.ZodType<string, z.ZodTypeDef, unknown> {
  return z.string().superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute ${what} URL` });
      return;
    }
    if (!schemes.includes(u.protocol)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute ${what} URL` });
    else if (u.username !== "" || u.password !== "") ctx.addIssue({ code: z.ZodIssueCode.custom, message: "must not contain credentials (user:password@)" });
  });
}

/** An http(s) URL without credentials. */
export const httpUrl = urlOf(["http:", "https:"], "http: or https:");

/**
 * `text` (an error message from fetch, ws, undici…) with every URL in it reduced to its origin
 * (trailing punctuation is not part of a URL; a URL without an origin becomes `<url>`):
 * a URL's userinfo, path, query or fragment may hold a secret, so failure messages never repeat
 * them.
 */
export function redactUrls(text: string): string {
  // No `\b` before the scheme: `x_http://…` has none (an underscore is a word character).
  return text.replace(/(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/(?:[^\s"'<>]*[^\s"'<>.,;:!?)\]}])?/gi, (m) => {
    try {
      const origin = new URL(m).origin;
      return origin === "null" ? "<url>" : origin;
    } catch {
      return "<url>";
    }
  });
}

/** An origin allow-list option (`scheme://host[:port]`), normalised through URL. */
export const allowedOriginsOption = z
  .array(httpUrl.transform((s) => new URL(s).origin))
  .optional();

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Connection-level headers the client manages itself; a request may not set them. */
export const RESERVED_REQUEST_HEADERS = ["connection", "content-length", "expect", "host", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"] as const;
/**
 * Header values a request may carry: HTAB and visible ASCII plus space (`\t`, `\x20`-`\x7e`).
 * Stricter than RFC 9110 (which also allows obs-text `\x80`-`\xff`): fetch rejects anything
 * beyond a ByteString and ws/node:http reject control characters, both by THROWING, so the lane
 * checks first and reports an invalid lane request instead of a (retryable) transport failure.
 */
export const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Request headers: RFC 9110 token names (not reserved), values of HEADER_VALUE characters. */
/**
 * A `z.record` rebuilds its object by assignment, so an own `"__proto__"` member would be
 * dropped silently (what was signed would not be what is sent): record keys refuse it.
 */
export const notProto = (k: string): boolean => k !== "__proto__";
export const NOT_PROTO_MESSAGE = "must not be \"__proto__\"";

export const headersField = z
  .record(
    z
      .string()
      .regex(TOKEN, { message: "must be an HTTP header name" })
      .refine((k) => !(RESERVED_REQUEST_HEADERS as readonly string[]).includes(k.toLowerCase()), { message: "is managed by the client and may not be set" })
      .refine(notProto, { message: NOT_PROTO_MESSAGE }),
    z.string().regex(HEADER_VALUE, { message: "must contain only tab and printable ASCII (\\t, \\x20-\\x7e)" }),
  )
  .default({});

/**
 * The origin of a payload's `url` member (`Lane.requestOrigin` of the http, sse and websocket
 * lanes), or null when the payload has no absolute `url` of one of `schemes` (`"http:"`…).
 */
export function payloadUrlOrigin(payload: unknown, schemes: readonly string[]): string | null {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return null;
  const url = (payload as { url?: unknown }).url;
  if (typeof url !== "string") return null;
  try {
    const u = new URL(url);
    return schemes.includes(u.protocol) ? u.origin : null;
  } catch {
    return null;
  }
}

/** `policy_denied` when `url`'s origin is not allowed (only when an allow-list is configured). */
export function checkOrigin(url: string, allowed: readonly string[] | undefined): LaneFailure | null {
  if (allowed === undefined) return null;
  const origin = new URL(url).origin;
  if (allowed.includes(origin)) return null;
  return { class: "policy_denied", message: `origin ${origin} is not allowed by this lane`, details: { reason: "origin_not_allowed", origin, allowed: [...allowed] } };
}

/** Response headers as a sorted plain object (lower-case names; repeated headers joined by fetch). */
export function headerObject(headers: Headers): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of [...headers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v;
  return out;
}

export interface CappedBody {
  readonly bytes: Buffer;
  readonly truncated: boolean;
}

/**
 * Reads a response body up to `cap` bytes; on reaching the cap the stream is cancelled (the rest
 * is never read). Errors (abort, a socket reset mid-body) propagate with the bytes read so far
 * attached as `partial`.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, cap: number): Promise<CappedBody> {
  if (body === null) return { bytes: Buffer.alloc(0), truncated: false };
  const reader = body.getReader();
  const chunks: Buffer[] = [];
  let kept = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks, kept), truncated: false };
      const room = cap - kept;
      if (value.length > room) {
        chunks.push(Buffer.from(value.buffer, value.byteOffset, room));
        kept += room;
        await reader.cancel().catch(() => undefined);
        return { bytes: Buffer.concat(chunks, kept), truncated: true };
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
      kept += value.length;
    }
  } catch (err) {
    throw Object.assign(new Error(redactUrls(errorMessage(err)), { cause: err }), { partial: Buffer.concat(chunks, kept) });
  }
}

/** `transport_failed` for a fetch that produced no response (refused, DNS, TLS, reset). */
export function transportFailure(err: unknown, url: string): LaneFailure {
  const code = errnoCode(err) ?? "unknown";
  return { class: "transport_failed", message: `no response from ${new URL(url).origin}: ${redactUrls(errorMessage(err))}`, details: { reason: "no_response", code } };
}

/** `remote_disconnect` for a response whose body broke off. */
export function disconnectFailure(err: unknown): LaneFailure {
  return { class: "remote_disconnect", message: `the response body broke off: ${redactUrls(errorMessage(err))}`, details: { reason: "body_interrupted", code: errnoCode(err) ?? "unknown" } };
}

/**
 * The outcome of a response body that `readCapped` could not finish (`err` carries the bytes
 * read so far in `partial`): the deadline's failure if it fired, else `remote_disconnect`, with
 * the response head and the partial body as output (http and sse lanes).
 */
export function bodyReadFailure(run: Run, deadline: Deadline, head: Record<string, JsonValue>, err: unknown): LaneOutcome {
  const partial = (err as { partial?: Buffer }).partial ?? Buffer.alloc(0);
  const output = { ...head, ...encodeBody(partial), body_truncated: false };
  const io = { bytes: partial.length, truncated: false };
  if (deadline.reason !== null) return deadlineFailure(run, deadline.reason, output, io);
  return run.failWith(disconnectFailure(err), output, io);
}
