/**
 * What the JSON text of a request file must be besides valid JSON, so that what `cairn plane
 * sign` signs and `cairn plane exec` executes is what the file says (`JSON.parse` would change
 * it without a word):
 *
 *  - no member name twice in one object: `JSON.parse` keeps the last value and drops the other,
 *    and RFC 8785's canonical form presumes unique names — the rule of batch records and
 *    workflow declarations, found by the same scan (core/json-keys.ts);
 *  - every number kept unchanged by the IEEE double it is read as (canonical JSON numbers are
 *    doubles): an integer literal (no fraction, no exponent) within ±(2^53−1); a literal with a
 *    fraction or an exponent whose value is exactly that of the double it reads as, written the
 *    shortest way (`0.1`, `1.5e-7`, `2.0`, `1e3` are kept; `0.1000000000000000055511151231257827`,
 *    `1e400`, `1e-400` are not: they would be signed as `0.1`, `Infinity`, `0`) — the rule of
 *    workflow declarations too (docs/workflow-cairn.md "JSON data only"), one predicate and one
 *    walker for both (core/json-walk.ts `numberLiteralKept`, `walkJson`).
 *
 * A value that cannot be kept is to be written as a string. Positions are 1-based lines and
 * columns counted in code points, as the lossless parser's (core/json-parse.ts `textPosition`).
 */
import { duplicateJsonKey, keyOffset } from "../../core/json-keys.js";
import { textPosition } from "../../core/json-parse.js";
import { isIntegerLiteral, isJsonNumber, numberLiteralKept, quotedNumber, walkJson } from "../../core/json-walk.js";
import { jsonPath } from "./base.js";

export { MAX_QUOTED_NUMBER_CHARS } from "../../core/json-walk.js";

export interface RequestTextProblem {
  /** The member, as a contract path (`$.payload.argv`, `$.metadata.ids[2]`). */
  readonly member: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** Where the member was first written, for a duplicate. */
  readonly first?: { readonly line: number; readonly column: number };
}

/** Why the number `literal` cannot be kept unchanged (core/json-walk.ts `numberLiteralKept`), or null. */
export function numberLiteralProblem(literal: string): string | null {
  if (!isJsonNumber(literal)) return `${quotedNumber(literal)} is not a JSON number`;
  if (numberLiteralKept(literal)) return null;
  const read = String(Number(literal));
  if (isIntegerLiteral(literal)) return `the integer ${quotedNumber(literal)} is beyond ±(2^53−1), the largest integer kept exactly (canonical JSON numbers are IEEE doubles): it would become ${read}; write it as a string`;
  return `the number ${quotedNumber(literal)} is not kept exactly (canonical JSON numbers are IEEE doubles): it would become ${read}; write it as a string`;
}

/**
 * The first thing in `text` (valid JSON, as `JSON.parse` accepted it) that `JSON.parse` would
 * not keep as written — a member name written twice in one object, else the first number a
 * double changes — or null (module comment).
 */
export function requestTextProblem(text: string): RequestTextProblem | null {
  const dup = duplicateJsonKey(text);
  if (dup !== null) {
    const at = keyOffset(text, dup.at);
    let member = "$";
    walkJson(text, (kind, offset, _token, path) => {
      if (kind !== "key" || offset !== at) return false;
      member = jsonPath(path());
      return true;
    });
    const { line, column } = textPosition(text, at);
    const first = textPosition(text, keyOffset(text, dup.first));
    return {
      member,
      line,
      column,
      first: { line: first.line, column: first.column },
      message: `member ${JSON.stringify(dup.key)} written twice in one object (first at line ${first.line}, column ${first.column}): JSON.parse would keep the last value and drop the other`,
    };
  }
  let found: RequestTextProblem | null = null;
  walkJson(text, (kind, offset, token, path) => {
    if (kind !== "number") return false;
    const message = numberLiteralProblem(token);
    if (message === null) return false;
    const { line, column } = textPosition(text, offset);
    found = { member: jsonPath(path()), line, column, message };
    return true;
  });
  return found;
}
