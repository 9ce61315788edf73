/**
 * The member names and number literals of JSON text, with the path of each, and the one rule of
 * which number literals an IEEE double keeps exactly. `JSON.parse` reads every number as a
 * double and says nothing when that changes it; plane request files (plane/contracts/
 * request-text.ts) and Cairn workflow declarations (workflow/cairn/compile.ts, YAML floats
 * included) refuse such literals by this rule, and are told to write the value as a string:
 *
 *  - an integer literal (no fraction, no exponent) is kept within ±(2^53−1), the largest
 *    integers a double holds exactly (`9007199254740993` would read as `9007199254740992`;
 *    `1e21`-sized integer literals are refused too, exact or not: the rule is the range);
 *  - a literal with a fraction or an exponent is kept when its decimal value is that of the
 *    shortest text naming the double it reads as (`0.1`, `1.5e-7`, `2.0`, `1e3`, `0.10`, `1e22`
 *    are kept; `0.1000000000000000055511151231257827`, `1e400`, `1e-400`,
 *    `123456789012345678.5` are not: they read as `0.1`, `Infinity`, `0`,
 *    `123456789012345680`).
 *
 * The walker tells keys from values as core/json-keys.ts does: a string is a key when it opens an
 * object member; outside strings, a `-` or a digit can only start a number. It runs on any text
 * without recursing: `jsonTextTooDeep` uses it before `JSON.parse` to find how deep a text nests
 * (workflow declarations, workflow/cairn/depth.ts, and sealed snapshots, workflow/cairn/seal.ts,
 * are refused past their limits before anything walks them recursively); on text that is not
 * JSON, a key that does not unescape is taken as written and an unterminated string ends the walk.
 */

export type JsonPathSegment = string | number;

/** Longest number literal quoted whole in a message; a longer one is cut, with its length. */
export const MAX_QUOTED_NUMBER_CHARS = 64;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A JSON number (sticky: matched at `lastIndex`); group 1 the fraction, group 2 the exponent. */
const JSON_NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]+))?/y;
/** A decimal literal, JSON's or YAML 1.2's (`+1.5`, `.5`, `1.`): sign, integer digits, fraction digits, exponent. */
const DECIMAL_RE = /^([-+]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([-+]?[0-9]+))?$/;
const INTEGER_RE = /^[-+]?[0-9]+$/;

type Frame = { object: true; key: string; expectKey: boolean } | { object: false; index: number };

/**
 * Walks `text` (module comment), calling `visit` with each member name (`kind` "key", `token` the
 * name unescaped, the path including it) and each number literal (`kind` "number", `token` the
 * literal as written, the path of its value), and `onOpen` with each object or array opened
 * (`depth` the number of containers it is inside, `path` the path to it), at its UTF-16 offset,
 * in text order; stops when either returns true. `path` builds the path only when called.
 */
export function walkJson(
  text: string,
  visit: (kind: "key" | "number", at: number, token: string, path: () => JsonPathSegment[]) => boolean,
  onOpen?: (at: number, depth: number, path: () => JsonPathSegment[]) => boolean,
): void {
  const stack: Frame[] = [];
  const path = (): JsonPathSegment[] => stack.map((f) => (f.object ? f.key : f.index));
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "{" || c === "[") {
      if (onOpen?.(i, stack.length, path) === true) return;
      stack.push(c === "{" ? { object: true, key: "", expectKey: true } : { object: false, index: 0 });
    } else if (c === "}" || c === "]") stack.pop();
    else if (c === ",") {
      const top = stack[stack.length - 1];
      if (top?.object === true) top.expectKey = true;
      else if (top !== undefined) top.index++;
    } else if (c === '"') {
      // The string ends at the next quote not escaped (preceded by an even number of backslashes).
      let j = text.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return; // an unterminated string: not JSON, nothing more to report
        let k = j - 1;
        while (text[k] === "\\") k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const top = stack[stack.length - 1];
      if (top?.object === true && top.expectKey) {
        top.key = keyText(text, i, j);
        top.expectKey = false;
        if (visit("key", i, top.key, path)) return;
      }
      i = j;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      JSON_NUMBER_RE.lastIndex = i;
      const m = JSON_NUMBER_RE.exec(text);
      if (m === null) continue; // not JSON (a lone "-"): no number here
      if (visit("number", i, m[0], path)) return;
      i += m[0].length - 1;
    }
  }
}

/** The member name quoted at `text[open..close]`, unescaped; as written when it does not unescape (text that is not JSON). */
function keyText(text: string, open: number, close: number): string {
  const raw = text.slice(open + 1, close);
  if (!raw.includes("\\")) return raw;
  try {
    return JSON.parse(text.slice(open, close + 1)) as string;
  } catch {
    return raw;
  }
}

/** Where JSON text (or a YAML declaration) first nests past a limit: the path to the container (as far as known) and its position (1-based). */
export interface TooDeep {
  /** The path segments of the first container past the limit, from the top (empty when unknown: the YAML syntax check). */
  path: Array<string | number>;
  line: number;
  column: number;
  /** Where the path crossed an alias to reach it (YAML), if it did. */
  alias?: { line: number; column: number };
}

/**
 * The first object or array of JSON `text` opened past `limit` levels, or null. Runs on any text
 * (before `JSON.parse`, `walkJson`): brackets inside strings do not count; an unterminated string
 * ends the scan. Lines end at LF (also inside a string, which JSON does not allow); columns count
 * UTF-16 code units, as for duplicate keys (core/json-keys.ts).
 */
export function jsonTextTooDeep(text: string, limit: number): TooDeep | null {
  let deep: TooDeep | null = null;
  walkJson(
    text,
    () => false,
    (at, depth, path) => {
      if (depth < limit) return false;
      const lineStart = text.lastIndexOf("\n", at - 1) + 1;
      let line = 1;
      for (let n = text.indexOf("\n"); n >= 0 && n < lineStart; n = text.indexOf("\n", n + 1)) line++;
      deep = { path: path(), line, column: at - lineStart + 1 };
      return true;
    },
  );
  return deep;
}

/** Whether `literal` is exactly one JSON number. */
export function isJsonNumber(literal: string): boolean {
  JSON_NUMBER_RE.lastIndex = 0;
  const m = JSON_NUMBER_RE.exec(literal);
  return m !== null && m[0] === literal;
}

/** Whether `literal` (a number's text) is an integer literal: no fraction, no exponent. */
export function isIntegerLiteral(literal: string): boolean {
  return INTEGER_RE.test(literal);
}

/** Whether the integer `n` is within ±(2^53−1), where a double holds every integer exactly. */
export function isSafeBigInt(n: bigint): boolean {
  return n <= MAX_SAFE && -n <= MAX_SAFE;
}

/** `[sign]digits e exponent` with no leading or trailing zero digit: equal exactly when the decimal values are ("0" for zero, of either sign); null when `literal` is not a decimal literal. */
function decimalValue(literal: string): string | null {
  const m = DECIMAL_RE.exec(literal);
  if (m === null || (m[2] === "" && (m[3] ?? "") === "")) return null;
  const frac = m[3] ?? "";
  let digits = `${m[2] as string}${frac}`.replace(/^0+/, "");
  if (digits === "") return "0";
  let exp = BigInt(m[4] ?? "0") - BigInt(frac.length);
  const kept = digits.replace(/0+$/, "");
  exp += BigInt(digits.length - kept.length);
  digits = kept;
  return `${m[1] === "-" ? "-" : ""}${digits}e${exp}`;
}

/**
 * Whether the number literal `literal` (JSON's, or a YAML 1.2 float's source text), read as the
 * double `read` (by default `Number(literal)`, as `JSON.parse` reads it), keeps its value
 * (module comment). A text that is not a decimal literal is not kept.
 */
export function numberLiteralKept(literal: string, read: number = Number(literal)): boolean {
  if (isIntegerLiteral(literal)) return isSafeBigInt(BigInt(literal)) && Number(literal) === read;
  if (!Number.isFinite(read)) return false;
  const written = decimalValue(literal);
  return written !== null && written === decimalValue(String(read));
}

/** A number literal for a message: whole up to `MAX_QUOTED_NUMBER_CHARS`, else cut, with its length. */
export function quotedNumber(literal: string): string {
  return literal.length <= MAX_QUOTED_NUMBER_CHARS ? literal : `${literal.slice(0, MAX_QUOTED_NUMBER_CHARS)}… (${literal.length} characters)`;
}
