/**
 * Linear-time regular expressions for the atoms that take patterns from declarations or
 * payloads (`regex_match`, and `pattern` / `patternProperties` in `json_schema_validate`).
 *
 * ECMAScript `RegExp` backtracks: `^(a+)+$` against 34 `a`s and a `!` runs for minutes, and a
 * workflow run (or `cairn serve`, whose runs are serialised) would hang on a payload. These
 * atoms use **RE2** semantics instead, through re2js (a pure-JavaScript port of RE2/J): matching
 * time is linear in the input, whatever the pattern. The pattern is first translated from
 * JavaScript spelling (`RE2JS.translateRegExp`: `\uXXXX`, `\u{…}`, `\cX`, `(?<name>…)`), then
 * compiled as RE2 syntax. What differs from `RegExp`:
 * - backreferences (`\1`) and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`) are syntax errors;
 * - repetition counts are at most 1000;
 * - `.`, classes and case folding work on code points (as `RegExp` with the `u` flag);
 * - `\d`, `\w`, `\s` and `\b` are ASCII-only (`\s` is `[\t\n\f\r ]`); `\p{…}` classes are Unicode;
 * - the leftmost match wins and, among matches starting there, the one a backtracking engine
 *   would prefer (RE2's "leftmost-first", as Perl and `RegExp`), so captures agree with
 *   `RegExp` on patterns both accept.
 * re2js is loaded on first use (one-shot CLI runs that match nothing do not pay its load time).
 */
import { createRequire } from "node:module";
import type { RE2JS as RE2JSClass } from "re2js";

/** Flags the linear engine takes: i (case-insensitive), m (multi-line ^ $), s (dot matches \n), u (accepted; matching is always by code point). */
export const LINEAR_REGEX_FLAGS = "imsu";

let engine: typeof RE2JSClass | undefined;

function re2js(): typeof RE2JSClass {
  engine ??= (createRequire(import.meta.url)("re2js") as { RE2JS: typeof RE2JSClass }).RE2JS;
  return engine;
}

/**
 * Compiles `pattern` (JavaScript spelling, RE2 semantics) with `flags` (a subset of
 * `LINEAR_REGEX_FLAGS`, checked by the caller). Throws an Error naming the problem for a pattern
 * RE2 cannot compile.
 */
export function compileLinearRegex(pattern: string, flags: string): RE2JSClass {
  const R = re2js();
  let mask = 0;
  if (flags.includes("i")) mask |= R.CASE_INSENSITIVE;
  if (flags.includes("m")) mask |= R.MULTILINE;
  if (flags.includes("s")) mask |= R.DOTALL;
  return R.compile(R.translateRegExp(pattern), mask);
}

/** The result of `exec`: like `RegExpExecArray` (groups `undefined` when they did not take part). */
export type LinearMatch = Array<string | undefined> & { index: number; groups?: Record<string, string | undefined> };

export function execLinear(re: RE2JSClass, input: string): LinearMatch | null {
  return re.exec(input) as LinearMatch | null;
}
