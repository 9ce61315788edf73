/**
 * A POST /api/run request as it arrives and as its turn comes (app.ts): the cheap checks on
 * arrival (`arrivedBody`), the parse and validation at its turn (`parseRunRequest`), the
 * gateway's JSON envelopes, and the messages of errors Node's HTTP server raises.
 */
import { isUtf8 } from "node:buffer";
import type { ConnectionError, FastifyReply } from "fastify";
import { codePointPosition, duplicateJsonKey } from "../core/json-keys.js";
import { firstInvalidUtf8 } from "../core/utf8.js";
import { echoed, echoedJson } from "../core/echo.js";
import { MAX_PAYLOAD_DEPTH, nestingDepth } from "../workflow/py/json.js";
import { parsePyJson, parseWorkflowFqdn, type PyObject, type PyValue, type WorkflowName } from "../workflow/pgs/index.js";
import { MAX_ECHOED_CHARS, MAX_ERROR_CHARS, STATUS_ERROR } from "./constants.js";
import { HttpError } from "./target.js";
import { loneSurrogateText, payloadLoneSurrogatePath } from "../workflow/cairn/payload-text.js";

interface RunRequest {
  name: WorkflowName;
  payload: PyObject;
}

/** What a parsed JSON value is, for error messages (numbers of any representation are "a number"). */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Map) return "an object";
  if (typeof v === "string" || typeof v === "boolean") return `a ${typeof v}`;
  return "a number";
}

/** The user values an error message about `workflowCode` may quote: the code, its domain and its WF code. */
export function echoedValues(workflowCode: string | undefined): string[] {
  if (workflowCode === undefined) return [];
  const first = workflowCode.indexOf("::");
  return first < 0 ? [workflowCode] : [workflowCode, workflowCode.slice(0, first), workflowCode.slice(workflowCode.lastIndexOf("::") + 2)];
}

/**
 * `message` with every quotation of a user value longer than MAX_ECHOED_CHARS — as is, or
 * JSON-escaped (`JSON.stringify(v)` inside quotes) — cut by `truncated`: a 1 MB workflow_code
 * was echoed twice (2 MB) in its 400 (src/workflow/pgs/run.ts quotes the code and the segment).
 */
export function boundEchoes(message: string, values: readonly string[]): string {
  const long = values.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]).filter((v) => v.length > MAX_ECHOED_CHARS);
  long.sort((a, b) => b.length - a.length); // the whole code before a segment of it
  return long.reduce((acc, v) => (acc.includes(v) ? acc.split(v).join(echoed(v, MAX_ECHOED_CHARS)) : acc), message);
}

const BODY_WHAT = "request body";
/** How `parsePyJson(text, BODY_WHAT)` starts its syntax-error messages. */
const JSON_ERROR_PREFIX = `${BODY_WHAT} is not valid JSON: `;

/**
 * The checks made as soon as a body has arrived (cheap, no value is built): it is valid UTF-8
 * and not blank. Returns the bytes the run queue holds until the request's turn (parseRunRequest).
 */
export function arrivedBody(raw: unknown): Buffer {
  // Read as bytes: decoding as a string would turn invalid UTF-8 into U+FFFD and run the
  // workflow on a payload the client never sent.
  const bytes = Buffer.isBuffer(raw) ? raw : typeof raw === "string" ? Buffer.from(raw, "utf8") : Buffer.alloc(0);
  if (!isUtf8(bytes)) {
    const at = Math.max(0, firstInvalidUtf8(bytes)); // (both follow Unicode's Table 3-7: never -1 here)
    throw new HttpError(400, `Invalid JSON body: the request body is not valid UTF-8 (byte offset ${at}: ${byteRun(bytes, at)})`);
  }
  if (isBlank(bytes)) throw new HttpError(400, "Invalid JSON body: the request body is empty");
  return bytes;
}

/** Up to 4 bytes of `bytes` from `at`, in hex (`0xff 0x22`), for the not-UTF-8 400. */
function byteRun(bytes: Buffer, at: number): string {
  return [...bytes.subarray(at, at + 4)].map((b) => `0x${b.toString(16).padStart(2, "0")}`).join(" ");
}

/** Whether UTF-8 `bytes` decode to a string that `trim()` empties; decodes only when the first non-blank byte is not plain ASCII. */
function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    if (b < 0x80 && b !== 0x0b && b !== 0x0c) return false; // `{`, or anything else trim() keeps
    return bytes.toString("utf8").trim() === ""; // other white space (U+00A0, U+FEFF, \v, \f…)
  }
  return true;
}

/** A queued request whose connection is gone when its turn comes: not run, not answered. */
export class ClientGone extends Error {
  constructor() {
    super("the client's connection is closed");
    this.name = "ClientGone";
  }
}

/** What is known of a request's workflow as its turn is taken, for the error mapping. */
export interface Parsed {
  /** The workflow_code string as sent (before it is checked). */
  code?: string;
  name?: WorkflowName;
}

/**
 * Parses and validates a body that passed `arrivedBody` (A.12 gateway order: JSON, workflow
 * code, payload), when the request's turn in the run queue comes; records what it learns in `seen`.
 * `sealedSnapshot`: the server runs a sealed Cairn snapshot, whose payload takes that runtime's
 * checks (each member named once, no lone surrogate), not a PGS workspace (the reference's rules).
 */
export function parseRunRequest(bytes: Buffer, seen: Parsed, sealedSnapshot: boolean): RunRequest {
  const body = bytes.toString("utf8");
  let doc: PyValue;
  try {
    doc = parsePyJson(body, BODY_WHAT);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new HttpError(400, `Invalid JSON body: ${why.startsWith(JSON_ERROR_PREFIX) ? why.slice(JSON_ERROR_PREFIX.length) : why}`);
  }
  // A sealed snapshot's payload names each member once, as `wf run --snapshot` requires
  // (pgs/run.ts PayloadParseOptions); a PGS workspace keeps the reference's last-wins.
  const dup = sealedSnapshot ? duplicateJsonKey(body) : null;
  if (dup !== null) {
    const at = codePointPosition(body, dup.at); // code points, as the parser's messages count them
    const first = codePointPosition(body, dup.first);
    throw new HttpError(400, `Invalid JSON body: member ${echoedJson(dup.key)} written twice in one object (line ${at.line}, column ${at.column}; first at line ${first.line}, column ${first.column})`);
  }
  if (!(doc instanceof Map)) throw new HttpError(400, `The request body must be a JSON object {"workflow_code", "payload"}, got ${describe(doc)}`);
  const code = doc.get("workflow_code");
  if (typeof code !== "string") {
    throw new HttpError(400, code === undefined ? "workflow_code is required: \"<domain>::<WF_CODE>\"" : `workflow_code must be a string "<domain>::<WF_CODE>", got ${describe(code)}`);
  }
  seen.code = code;
  let name: WorkflowName;
  try {
    name = parseWorkflowFqdn(code);
  } catch (err) {
    throw new HttpError(400, err instanceof Error ? err.message : String(err));
  }
  seen.name = name;
  const payload = doc.has("payload") ? (doc.get("payload") as PyValue) : new Map<string, PyValue>();
  if (!(payload instanceof Map)) throw new HttpError(400, `payload must be a JSON object, got ${describe(payload)}`);
  // The runtimes refuse it too (E_INVALID_INPUT, no trace): a bad request, not a server error.
  if (nestingDepth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH) throw new HttpError(400, `payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  // A sealed snapshot's payload must be Unicode text its effects record faithfully, as `wf run
  // --snapshot` requires (cairn/payload-text.ts); a PGS workspace accepts it, as the reference does.
  const lone = sealedSnapshot ? payloadLoneSurrogatePath(payload) : null;
  if (lone !== null) throw new HttpError(400, `Invalid payload: ${loneSurrogateText(lone)}`);
  return { name, payload };
}

/**
 * Why a request's `Content-Encoding` is refused (415), or null: the gateway decodes no content
 * coding, so a body sent compressed would be read as its compressed bytes (a confusing invalid
 * JSON, or worse). Absent, empty, or only `identity` (any case) is accepted.
 */
export function contentEncodingRefusal(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  const value = Array.isArray(header) ? header.join(", ") : header;
  const codings = value.split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "");
  if (codings.every((c) => c === "identity")) return null;
  return `Unsupported Content-Encoding ${echoedJson(value)}: send the request body uncompressed (identity)`;
}

/** Sends JSON text as is (already serialised). */
export function sendText(reply: FastifyReply, statusCode: number, text: string): FastifyReply {
  return reply.code(statusCode).type("application/json; charset=utf-8").send(text);
}

/** Sends a plain JSON document (the gateway's own envelopes: strings, numbers, null, booleans). */
export function sendJson(reply: FastifyReply, statusCode: number, doc: Record<string, unknown>): FastifyReply {
  return sendText(reply, statusCode, JSON.stringify(doc));
}

/** The gateway's error body; the message cut to MAX_ERROR_CHARS. */
export function errorDoc(message: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { status: STATUS_ERROR, error: echoed(message, MAX_ERROR_CHARS), ...extra };
}

/** Status and message of an error Node's HTTP server raises before any route (the 'clientError' event), but a request timeout. */
export function clientErrorOf(err: ConnectionError): [number, string] {
  if (err.code === "HPE_HEADER_OVERFLOW") return [431, "Request header fields too large"];
  if (err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW") return [413, "Request chunk extensions too large"];
  const reason = (err as { reason?: unknown }).reason;
  return [400, `Malformed HTTP request: ${typeof reason === "string" ? reason : err.code}`];
}
