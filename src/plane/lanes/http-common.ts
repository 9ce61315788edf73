/**
 * Shared HTTP machinery for the http, jsonrpc (over HTTP) and sse lanes: URL checks (http/https
 * only, optional origin allow-list), a capped body reader, header projection and fetch error
 * classification.
 */
import { z } from "zod";
import type { JsonValue } from "../contracts/base.js";
import type { LaneFailure, LaneOutcome } from "./lane.js";
import { clip, deadlineFailure, encodeBody, errnoCode, errorMessage, type Deadline, type Run } from "./common.js";
import { CONTENT_ENCODING_QUOTE_CHARS } from "./limits.js";

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
/** Connection-level headers the client manages itself: no request of any lane may set them. */
export const CONNECTION_HEADERS = ["connection", "content-length", "expect", "host", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"] as const;
/**
 * Headers a request of a fetch-based lane (http, sse, jsonrpc over HTTP) may not set: the
 * connection-level ones, and `accept-encoding`, which those lanes always send as `identity`
 * (CONTENT_CODING_HEADER). The websocket lane, which never sends `identity`, reserves only the
 * connection-level ones.
 */
export const RESERVED_REQUEST_HEADERS = ["accept-encoding", ...CONNECTION_HEADERS] as const;
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

/** A request's headers: RFC 9110 token names, none of `reserved`, values of HEADER_VALUE characters. */
function headersFieldWithout(reserved: readonly string[]) {
  return z
    .record(
      z
        .string()
        .regex(TOKEN, { message: "must be an HTTP header name" })
        .refine((k) => !reserved.includes(k.toLowerCase()), { message: "is managed by the client and may not be set" })
        .refine(notProto, { message: NOT_PROTO_MESSAGE }),
      z.string().regex(HEADER_VALUE, { message: "must contain only tab and printable ASCII (\\t, \\x20-\\x7e)" }),
    )
    .default({});
}

/** The headers of a fetch-based lane's request (RESERVED_REQUEST_HEADERS refused). */
export const headersField = headersFieldWithout(RESERVED_REQUEST_HEADERS);
/** The headers of a websocket lane's handshake (only CONNECTION_HEADERS refused). */
export const websocketHeadersField = headersFieldWithout(CONNECTION_HEADERS);

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

/**
 * Response headers as a sorted plain object (lower-case names). A repeated header is one string,
 * its values joined with ", " by fetch — except `set-cookie`, whose values cannot be joined
 * (a cookie's `Expires` holds a comma): it is an array of every `Set-Cookie` value, in the order
 * received (`Headers.getSetCookie()`), whenever the response has one.
 */
export function headerObject(headers: Headers): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of [...headers.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = k === "set-cookie" ? [...headers.getSetCookie()] : v;
  return out;
}

/**
 * The fetch-based lanes (http, sse, jsonrpc over HTTP) send `accept-encoding: identity`: fetch
 * (undici) decodes a `gzip`/`deflate`/`br` body itself, so the lane would not see the bytes the
 * peer sent; it accepts a compressed stream cut before its end as complete; and on some
 * undecodable bodies its reader never settles. A response that is compressed all the same is
 * refused (`unexpectedCoding`) without reading its body.
 */
export const CONTENT_CODING_HEADER = { "accept-encoding": "identity" } as const;

/** The content codings fetch decodes (any other coding reaches the lane as sent). */
const DECODED_CODINGS = ["gzip", "x-gzip", "deflate", "br"];
/** Statuses fetch gives no body (it decodes none). */
const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];

/**
 * `protocol_framing_failed` (`unexpected_content_coding`) for a response whose body fetch would
 * decode although the request accepted only `identity` (CONTENT_CODING_HEADER), with the
 * response head as output; null for any other response (no body: HEAD, 204, 304…; no coding,
 * `identity`, or a coding fetch passes through unchanged). The body is cancelled, not read.
 */
export function unexpectedCoding(res: Response, method: string, head: Record<string, JsonValue>, run: Run): LaneOutcome | null {
  const value = res.headers.get("content-encoding");
  if (value === null || method === "HEAD" || NULL_BODY_STATUSES.includes(res.status)) return null;
  const codings = value.toLowerCase().split(",").map((c) => c.trim()).filter((c) => c !== "");
  if (!codings.some((c) => DECODED_CODINGS.includes(c))) return null;
  // Not awaited: undici may never settle a cancel on such a body either.
  if (res.body !== null) void res.body.cancel().catch(() => undefined);
  const shown = clip(value, CONTENT_ENCODING_QUOTE_CHARS);
  return run.fail(
    "protocol_framing_failed",
    `the response is compressed (content-encoding: ${shown}) although the request accepted only identity: its bytes cannot be kept as sent`,
    head,
    { reason: "unexpected_content_coding", content_encoding: shown },
  );
}
export interface CappedBody {
  readonly bytes: Buffer;
  readonly truncated: boolean;
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

/**
 * A stream reader whose `read()` also settles when `signal` aborts (with null), whatever the
 * stream does: undici's fetch may leave a body read pending forever after its signal aborted
 * (e.g. a compressed body it cannot decode), and the lane's deadline must still decide. One
 * abort listener per reader (not one per read: a stream of many small chunks must not pile up
 * reactions); on abort the reader is cancelled without waiting.
 */
export class DeadlineReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private wake: (() => void) | null = null;
  private readonly onAbort = (): void => {
    void this.reader.cancel().catch(() => undefined);
    this.wake?.();
  };

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly signal: AbortSignal,
  ) {
    this.reader = body.getReader();
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /** The next chunk, `{ done: true }` at the end, or null once `signal` aborted; rejects as the stream does. */
  read(): Promise<ReadResult | null> {
    if (this.signal.aborted) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.wake = () => resolve(null);
      this.reader.read().then(
        (r) => {
          this.wake = null;
          resolve(r);
        },
        (err: unknown) => {
          this.wake = null;
          reject(err);
        },
      );
    });
  }

  /** Cancels the stream (the rest is never read), without waiting for it; detaches from `signal`. */
  cancel(): void {
    this.dispose();
    void this.reader.cancel().catch(() => undefined);
  }

  dispose(): void {
    this.signal.removeEventListener("abort", this.onAbort);
  }
}

/**
 * Reads a response body up to `cap` bytes; on reaching the cap the stream is cancelled (the rest
 * is never read). Every read is raced against `signal` (the lane's deadline, DeadlineReader), so
 * this settles at the latest when it aborts. Errors (abort, a socket reset mid-body) propagate
 * with the bytes read so far attached as `partial`.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, cap: number, signal: AbortSignal): Promise<CappedBody> {
  if (body === null) return { bytes: Buffer.alloc(0), truncated: false };
  const reader = new DeadlineReader(body, signal);
  const chunks: Buffer[] = [];
  let kept = 0;
  try {
    for (;;) {
      const r = await reader.read();
      if (r === null) throw new Error("the deadline fired while the body was read");
      const { done, value } = r;
      if (done) return { bytes: Buffer.concat(chunks, kept), truncated: false };
      const room = cap - kept;
      if (value.length > room) {
        chunks.push(Buffer.from(value.buffer, value.byteOffset, room));
        kept += room;
        reader.cancel();
        return { bytes: Buffer.concat(chunks, kept), truncated: true };
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.length));
      kept += value.length;
    }
  } catch (err) {
    throw Object.assign(new Error(redactUrls(errorMessage(err)), { cause: err }), { partial: Buffer.concat(chunks, kept) });
  } finally {
    reader.dispose();
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
