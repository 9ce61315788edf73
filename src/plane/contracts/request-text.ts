/**
 * What the JSON text of a request file must be besides valid JSON, so that what `cairn plane
 * sign` signs and `cairn plane exec` executes is what the file says (`JSON.parse` would change
 * it without a word):
 *
 *  - no member name twice in one object: `JSON.parse` keeps the last value and drops the other,
 *    and RFC 8785's canonical form presumes unique names — the rule of batch records and
 *    workflow declarations, found by the same scan (core/json-keys.ts);
 *  - every number kept unchanged by the IEEE double it is read as (canonical JSON numbers are
 *    doubles): an integer literal (no fraction, no exponent) within ±(2^53−1), the rule of
 *    workflow declarations (docs/workflow-cairn.md "JSON data only"); a literal with a fraction
 *    or an exponent whose value is exactly that of the double it reads as, written the shortest
 *    way (`0.1`, `1.5e-7`, `2.0`, `1e3` are kept; `0.1000000000000000055511151231257827`,
 *    `1e400`, `1e-400` are not: they would be signed as `0.1`, `Infinity`, `0`).
 *
 * A value that cannot be kept is to be written as a string. Positions are 1-based lines and
 * columns counted in code points, as the lossless parser's (core/json-parse.ts `textPosition`).
 */
import { duplicateJsonKey, keyOffset } from "../../core/json-keys.js";
import { textPosition } from "../../core/json-parse.js";
import { jsonPath } from "./base.js";

export interface RequestTextProblem {
  /** The member, as a contract path (`$.payload.argv`, `$.metadata.ids[2]`). */
  readonly member: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** Where the member was first written, for a duplicate. */
  readonly first?: { readonly line: number; readonly column: number };
}

/** Longest number literal quoted whole in a message; a longer one is cut, with its length. */
export const MAX_QUOTED_NUMBER_CHARS = 64;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?/y;

type PathSeg = string | number;
type Frame = { object: true; key: string; expectKey: boolean } | { object: false; index: number };

/**
 * Walks `text` (valid JSON), calling `visit` with each member name (its path includes it) and
 * each number literal (with the path of its value), at its UTF-16 offset; stops when `visit`
 * returns true. Strings are skipped as core/json-keys.ts skips them; outside strings, a `-` or
 * digit can only start a number.
 */
function walk(text: string, visit: (kind: "key" | "number", at: number, token: string, path: () => PathSeg[]) => boolean): void {
  const stack: Frame[] = [];
  const path = (): PathSeg[] => stack.map((f) => (f.object ? f.key : f.index));
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "{") stack.push({ object: true, key: "", expectKey: true });
    else if (c === "[") stack.push({ object: false, index: 0 });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.object === true) top.expectKey = true;
      else if (top !== undefined) top.index++;
    } else if (c === '"') {
      let j = text.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return; // not valid JSON: nothing to report
        let k = j - 1;
        while (text[k] === "\\") k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const top = stack[stack.length - 1];
      if (top?.object === true && top.expectKey) {
        top.key = JSON.parse(text.slice(i, j + 1)) as string;
        top.expectKey = false;
        if (visit("key", i, top.key, path)) return;
      }
      i = j;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(text);
      if (m === null) return;
      if (visit("number", i, m[0], path)) return;
      i += m[0].length - 1;
    }
  }
}

/** `[sign]digits e exponent` with no leading or trailing zero digit: equal exactly when the decimal values are ("0" for zero, of either sign). */
function decimalValue(literal: string): string {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?$/.exec(literal);
  if (m === null) return literal; // not a finite number's text (Infinity): equal to no literal
  const frac = m[3] ?? "";
  let digits = `${m[2] as string}${frac}`.replace(/^0+/, "");
  if (digits === "") return "0";
  let exp = BigInt(m[4] ?? "0") - BigInt(frac.length);
  const kept = digits.replace(/0+$/, "");
  exp += BigInt(digits.length - kept.length);
  digits = kept;
  return `${m[1] as string}${digits}e${exp}`;
}

function quoted(literal: string): string {
  return literal.length <= MAX_QUOTED_NUMBER_CHARS ? literal : `${literal.slice(0, MAX_QUOTED_NUMBER_CHARS)}… (${literal.length} characters)`;
}

/** Why the number `literal` cannot be kept unchanged, or null. */
export function numberLiteralProblem(literal: string): string | null {
  NUMBER_RE.lastIndex = 0;
  const m = NUMBER_RE.exec(literal);
  if (m === null || m[0] !== literal) return `${quoted(literal)} is not a JSON number`;
  const read = Number(literal);
  if (m[1] === undefined && m[2] === undefined) {
    const n = BigInt(literal);
    if (n <= MAX_SAFE && -n <= MAX_SAFE) return null;
    return `the integer ${quoted(literal)} is beyond ±(2^53−1), the largest integer kept exactly (canonical JSON numbers are IEEE doubles): it would become ${String(read)}; write it as a string`;
  }
  if (Number.isFinite(read) && decimalValue(String(read)) === decimalValue(literal)) return null;
  return `the number ${quoted(literal)} is not kept exactly (canonical JSON numbers are IEEE doubles): it would become ${String(read)}; write it as a string`;
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
    walk(text, (kind, offset, _token, path) => {
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
  walk(text, (kind, offset, token, path) => {
    if (kind !== "number") return false;
    const message = numberLiteralProblem(token);
    if (message === null) return false;
    const { line, column } = textPosition(text, offset);
    found = { member: jsonPath(path()), line, column, message };
    return true;
  });
  return found;
}
