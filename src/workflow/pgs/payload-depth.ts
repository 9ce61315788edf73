/**
 * The payload depth check of a payload read from JSON text (a `--payload` file or stdin): the
 * decision of `checkPayloadDepth` (py/json.ts, on the parsed value: deeper than
 * `MAX_PAYLOAD_DEPTH` levels, the payload object being level 1, is refused), with a message that
 * names the file, the line and column of the first object or array opened past the limit, and
 * the member path leading to it — as every other payload refusal names its file.
 */
import { codePointPosition } from "../../core/json-keys.js";
import { jsonTextTooDeep } from "../../core/json-walk.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { MAX_PAYLOAD_DEPTH, nestingDepth } from "../py/json.js";
import type { PyValue } from "../py/value.js";

/** Most path segments of the too-deep container a message shows (the rest is `…`). */
export const PAYLOAD_DEPTH_PATH_SHOWN = 12;

/** `details.reason` of the refusal (as `checkPayloadDepth`'s). */
const PAYLOAD_TOO_DEEP_REASON = "payload_too_deep";

/** A path as the payload refusals write it (`$["x"][0]`), its first `PAYLOAD_DEPTH_PATH_SHOWN` segments. */
function memberText(path: readonly (string | number)[]): string {
  const shown = path.slice(0, PAYLOAD_DEPTH_PATH_SHOWN).map((seg) => `[${typeof seg === "number" ? seg : JSON.stringify(seg)}]`);
  return `$${shown.join("")}${path.length > PAYLOAD_DEPTH_PATH_SHOWN ? "…" : ""}`;
}

/**
 * E_INVALID_INPUT (`payload_too_deep`) when `payload`, parsed from `text`, nests deeper than
 * `MAX_PAYLOAD_DEPTH`; the message names `name` and where the text first goes past the limit
 * (columns in code points, as the payload's JSON errors count them), `details.field` is `field`
 * (what the caller of `parsePayloadBytes` passed: "payload", "path", the CLI's "--payload").
 */
export function checkPayloadTextDepth(payload: PyValue, text: string, name: string, field: string): void {
  if (nestingDepth(payload, MAX_PAYLOAD_DEPTH) <= MAX_PAYLOAD_DEPTH) return;
  const deep = jsonTextTooDeep(text, MAX_PAYLOAD_DEPTH);
  const base = { field, path: name, reason: PAYLOAD_TOO_DEEP_REASON, limit: MAX_PAYLOAD_DEPTH };
  if (deep === null) {
    // Not reached: the text nests at least as deep as the value parsed from it.
    throw new CairnError(ErrorCode.INVALID_INPUT, `Payload file is nested deeper than ${MAX_PAYLOAD_DEPTH} levels (${name})`, base);
  }
  const at = codePointPosition(text, { line: deep.line, column: deep.column });
  const member = memberText(deep.path);
  throw new CairnError(
    ErrorCode.INVALID_INPUT,
    `Payload file is nested deeper than ${MAX_PAYLOAD_DEPTH} levels: line ${at.line}, column ${at.column} opens level ${MAX_PAYLOAD_DEPTH + 1}, at ${member} (${name})`,
    { ...base, line: at.line, column: at.column, member },
  );
}
