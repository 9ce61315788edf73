/**
 * Linear-time regular expressions for the atoms that take patterns from declarations or
 * payloads (`regex_match`, and `pattern` / `patternProperties` in `json_schema_validate`).
 *
 * ECMAScript `RegExp` backtracks: `^(a+)+$` against 34 `a`s and a `!` runs for minutes, and a
 * workflow run (or `cairn serve`, whose runs are serialised) would hang on a payload. These
 * atoms use **RE2** (through re2js, a pure-JavaScript port of RE2/J): matching time is linear in
 * the input, whatever the pattern.
 *
 * A pattern is `RegExp` syntax with the `u` flag (flags `i`, `m`, `s` as in `RegExp`), and it
 * means what it means to `RegExp`, but for the known differences listed last; otherwise it is
 * refused with an Error naming the problem. Compiling takes three steps: `portablePattern`
 * rewrites what RE2 would read differently and refuses RE2-only syntax; `RE2JS.translateRegExp`
 * turns JavaScript spelling into RE2's (`\uXXXX`, `\u{…}`, `\cX`, `(?<name>…)`); and once RE2
 * has compiled it, the original text must also parse as a `RegExp` with the `u` flag (V8's
 * parser only: the `RegExp` never runs), so no RE2-only spelling (`[[:alpha:]]`, `\x{41}`,
 * `a{,3}`, `\_`, octal `\012`) slips through.
 *
 * Rewritten to agree with `RegExp`:
 * - `.` without `s` excludes all four line terminators `\n \r \u2028 \u2029` (RE2: `\n` only);
 * - `\s` is JavaScript's Unicode white space `[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029
 *   \u202f\u205f\u3000\ufeff]` (RE2: ASCII), in a class too; `\S` its complement (refused inside
 *   a class, where RE2 cannot express it: write `(?:\S|[…])`);
 * - an escaped surrogate pair `\ud83d\ude00` is one code point (😀), in a class too;
 * - `[` inside a class is a literal (RE2 would read `[[:alpha:]` as a POSIX class); `[]`
 *   matches nothing, `[^]` any code point; `[\b]` is a backspace.
 * Refused, because `RegExp` has no such syntax or RE2 cannot do what it means:
 * - backreferences (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`);
 * - RE2-only syntax: `\A \z \Z \G \Q…\E \a \C`, brace-less `\pL`, inline flags (`(?i)`,
 *   `(?i:…)`, `(?-s)`), `(?P<name>…)`, and anything else V8 rejects with the `u` flag;
 * - `\P{…}` with `i` (`RegExp` folds case after complementing, so `\P{Lu}` matches "A"; RE2
 *   complements the folded class); `[^\p{…}]` is accepted and agrees;
 * - `\p{…}` names RE2 lacks (`\p{Letter}`, `\p{Script=Greek}`, `\p{ASCII}`), repetition
 *   counts above 1000.
 * The same in both: `\d \w \b` are ASCII (with `i`, `\w` also takes ſ U+017F and K U+212A,
 * `\b` does not: below);
 * `\p{…}` for general categories, `Any` and the binary properties re2js has (`Alphabetic`,
 * `White_Space`, `Emoji`, `Uppercase`, …: every code point checked under Node 20); `i` is Unicode
 * simple case folding; classes, `.` and quantifiers work on code points; the leftmost match wins
 * and, among matches starting there, the one a backtracking engine prefers (leftmost-first).
 * Known differences, not cheaply fixable (the last one never changes whether a pattern matches):
 * - with `m`, `^` and `$` see only `\n` as a line end (`RegExp`: also `\r`, `\u2028`, `\u2029`):
 *   `^b` with `m` does not match "a\rb";
 * - with `i`, `\b` and `\B` take ſ and K as non-word characters (`RegExp`: word characters);
 * - Unicode data is re2js's (for `\p{…}` and case folding) and V8's for `RegExp`: identical today,
 *   they may drift by a Unicode version;
 * - a group under a quantifier keeps a capture from an earlier iteration (`(?:(a)|b)+` on "ab"
 *   captures "a"; `RegExp` resets captures each iteration: undefined), and an iteration that
 *   matches the empty string ends the loop where `RegExp` backtracks for a non-empty one, so
 *   the match can be shorter: `(|a)*` on "aa" matches "" (`RegExp`: "aa"); `(a*)*` on "b"
 *   captures "" (`RegExp`: undefined).
 * Compiled patterns are memoised (`LINEAR_REGEX_MEMO_SIZE`). re2js is loaded on first use
 * (one-shot CLI runs that match nothing do not pay its load time).
 */
import { createRequire } from "node:module";
import type { RE2JS as RE2JSClass } from "re2js";

/** Flags the linear engine takes: i (case-insensitive), m (multi-line ^ $), s (dot matches line terminators), u (accepted; matching is always by code point). */
export const LINEAR_REGEX_FLAGS = "imsu";

/** Compiled patterns kept (keyed by flags and pattern); the memo is emptied when full. */
export const LINEAR_REGEX_MEMO_SIZE = 256;

let engine: typeof RE2JSClass | undefined;

function re2js(): typeof RE2JSClass {
  engine ??= (createRequire(import.meta.url)("re2js") as { RE2JS: typeof RE2JSClass }).RE2JS;
  return engine;
}

const memo = new Map<string, RE2JSClass>();

/**
 * Compiles `pattern` (JavaScript `RegExp` syntax and meaning, `u` flag; see the module comment
 * for what differs) with `flags` (a subset of `LINEAR_REGEX_FLAGS`, checked by the caller).
 * Throws an Error naming the problem for a pattern it refuses.
 */
export function compileLinearRegex(pattern: string, flags: string): RE2JSClass {
  const R = re2js();
  let mask = 0;
  if (flags.includes("i")) mask |= R.CASE_INSENSITIVE;
  if (flags.includes("m")) mask |= R.MULTILINE;
  if (flags.includes("s")) mask |= R.DOTALL;
  const key = `${mask}/${pattern}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const re = R.compile(R.translateRegExp(portablePattern(pattern, flags)), mask);
  try {
    new RegExp(pattern, "u");
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(`error parsing regexp: not a valid JavaScript pattern (u flag): ${message.slice(message.lastIndexOf(": ") + 2)}`);
  }
  if (memo.size >= LINEAR_REGEX_MEMO_SIZE) memo.clear();
  memo.set(key, re);
  return re;
}

/** JavaScript's `\s` (WhiteSpace and LineTerminator), as class members. */
const JS_SPACE = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";
/** `.` without the `s` flag: anything but a line terminator. */
const JS_DOT = "[^\\n\\r\\u2028\\u2029]";
/** RE2-only escapes (`RegExp` with `u` has none of them). */
const RE2_ONLY_ESCAPES = "AzZGQEaC";

function refuse(what: string, fragment: string): never {
  throw new Error(`error parsing regexp: ${what}: \`${fragment}\``);
}

function hex4(p: string, at: number): number {
  return /^[0-9A-Fa-f]{4}$/.test(p.slice(at, at + 4)) ? parseInt(p.slice(at, at + 4), 16) : -1;
}

/**
 * `pattern` (JavaScript syntax, `u` flag) rewritten so that RE2, after `translateRegExp`, reads
 * it as `RegExp` would with `flags`; throws an Error for syntax `RegExp` lacks or RE2 cannot
 * match as `RegExp` would (the rules are in the module comment). Other text is copied: what is
 * invalid in both is left to RE2 and V8 to refuse.
 */
export function portablePattern(pattern: string, flags: string): string {
  const dotAll = flags.includes("s");
  const ignoreCase = flags.includes("i");
  const p = pattern;
  let out = "";
  let inClass = false;
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === "\\") {
      const e = p[i + 1];
      if (e === undefined) {
        out += c;
        i += 1;
        continue;
      }
      if (e >= "1" && e <= "9") refuse("invalid escape sequence", `\\${/^\d+/.exec(p.slice(i + 1))?.[0] ?? e}`);
      if (e === "k") refuse("named backreferences are not supported", /^\\k(<[^>]*>)?/.exec(p.slice(i))?.[0] ?? "\\k");
      if (RE2_ONLY_ESCAPES.includes(e)) refuse("invalid escape sequence (RE2 syntax, not JavaScript)", `\\${e}`);
      if (e === "p" || e === "P") {
        const close = p.indexOf("}", i + 2);
        if (p[i + 2] !== "{" || close < 0) refuse("invalid escape sequence (JavaScript writes \\p{…} with braces)", p.slice(i, i + 3));
        if (e === "P" && ignoreCase) refuse("\\P{…} is not supported with the i flag (RegExp folds case after complementing; write [^\\p{…}] or drop i)", p.slice(i, close + 1));
        out += p.slice(i, close + 1);
        i = close + 1;
        continue;
      }
      if (e === "u") {
        const lead = hex4(p, i + 2);
        const trail = p.startsWith("\\u", i + 6) ? hex4(p, i + 8) : -1;
        if (lead >= 0xd800 && lead <= 0xdbff && trail >= 0xdc00 && trail <= 0xdfff) {
          out += `\\u{${(0x10000 + ((lead - 0xd800) << 10) + (trail - 0xdc00)).toString(16)}}`;
          i += 12;
          continue;
        }
      }
      if (e === "s") out += inClass ? JS_SPACE : `[${JS_SPACE}]`;
      else if (e === "S" && !inClass) out += `[^${JS_SPACE}]`;
      else if (e === "S") refuse("\\S inside a character class is not supported (write (?:\\S|[…]))", "\\S");
      else if (e === "b" && inClass) out += "\\x08";
      else out += c + e;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c === "[" ? "\\[" : c;
      i += 1;
      continue;
    }
    if (c === "[") {
      if (p.startsWith("[]", i)) {
        out += "[^\\u{0}-\\u{10ffff}]";
        i += 2;
      } else if (p.startsWith("[^]", i)) {
        out += "[\\u{0}-\\u{10ffff}]";
        i += 3;
      } else {
        inClass = true;
        const negated = p[i + 1] === "^";
        out += negated ? "[^" : "[";
        i += negated ? 2 : 1;
      }
      continue;
    }
    if (c === "(" && p[i + 1] === "?") {
      const g = p[i + 2];
      const look = /^\(\?<?[=!]/.exec(p.slice(i, i + 4))?.[0];
      if (look !== undefined) refuse("lookahead and lookbehind are not supported", look);
      if (g === "P") refuse("(?P…) is not JavaScript syntax (a named group is (?<name>…))", p.slice(i, i + 4));
      if (g !== ":" && g !== "<") refuse("inline flags are not supported (use the flags)", /^\(\?[^):]{0,12}[):]?/.exec(p.slice(i))?.[0] ?? "(?");
    }
    out += c === "." && !dotAll ? JS_DOT : c;
    i += 1;
  }
  return out;
}

/** The result of `exec`: like `RegExpExecArray` (groups `undefined` when they did not take part). */
export type LinearMatch = Array<string | undefined> & { index: number; groups?: Record<string, string | undefined> };

export function execLinear(re: RE2JSClass, input: string): LinearMatch | null {
  return re.exec(input) as LinearMatch | null;
}
