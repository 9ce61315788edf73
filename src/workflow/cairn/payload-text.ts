/**
 * A sealed Cairn snapshot run's payload must be text its effects can record faithfully. A string
 * or member name holding a lone surrogate (`"\ud800"`: valid JSON, not Unicode text) passes the
 * JSON parser, but the effects disagree on it — a registry line escapes it, a JSON document
 * store refuses to write it (py/json.ts `rawJsonString`) — so a run over it would apply its
 * first effects and abort at a later one, half-applied for good (every retry: ALREADY_EXISTS).
 * It is refused before anything runs, like a duplicate member (pgs/run.ts `parsePayloadBytes`)
 * and NaN (pgs/pyjson.ts): `E_INVALID_INPUT`, `details.reason` `lone_surrogate`, naming the
 * string's JSON path (`$.owner_email`, `$.tags[2]`; a member name is named at its member).
 *
 * PGS workspace runs do not take this check: the reference (Python's json) accepts such a
 * payload, and so does Cairn's PGS runtime (docs/workflow-pgs.md).
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { LONE_SURROGATE_REASON, loneSurrogatePath } from "../../core/lone-surrogate.js";
import { jsonPath } from "../../plane/contracts/base.js";
import type { PyValue } from "../py/value.js";

/** `details.reason` of a payload refused for a lone surrogate (one constant with the plane's, core/lone-surrogate.ts). */
export { LONE_SURROGATE_REASON };

/**
 * The JSON path of the first string or member name in `v` (depth-first, members in order)
 * holding a lone surrogate, or null (core/lone-surrogate.ts: iterative, a deep payload cannot
 * exhaust the call stack).
 */
export function payloadLoneSurrogatePath(v: PyValue): string | null {
  const path = loneSurrogatePath(v);
  return path === null ? null : jsonPath(path);
}

/** The words of the refusal, after the path: shared by the runtime's error and the HTTP gateway's 400. */
export function loneSurrogateText(path: string): string {
  return `the string at ${path} holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode text, which a sealed snapshot's effects cannot record faithfully; nothing was run`;
}

/**
 * Refuses (E_INVALID_INPUT) a sealed snapshot run's payload holding a lone surrogate. The message
 * names the payload, not the entry point: it is the data's fault, whichever way it came
 * (`wf run --snapshot`, the library, a replay).
 */
export function checkPayloadText(payload: PyValue): void {
  const path = payloadLoneSurrogatePath(payload);
  if (path !== null) throw new CairnError(ErrorCode.INVALID_INPUT, `Payload is not valid Unicode text: ${loneSurrogateText(path)}`, { field: "payload", path, reason: LONE_SURROGATE_REASON });
}
