/**
 * The text of a JSON.parse error as input errors show it (`invalid JSON: …`, jsonl and json).
 * V8 quotes the input in some of its messages — `Unexpected token 'x', "…" is not valid JSON`,
 * the whole text when it is short, else ten characters either side between `...` — raw, so a
 * form feed, a newline or an escape sequence of the input reached the terminal as it was (a
 * pretty-printed element made a multi-line message). Here the quoted fragment keeps V8's
 * presentation (between double quotes, its own quotes and backslashes as written, so the common
 * `"{"a":}"` reads as before) but every control character in it and in the token is escaped
 * JSON-style (`escapeControls`: `\f`, `\n`, `\u001b`, `\u0085`, `\u2028`), and a fragment
 * longer than MAX_ECHOED_CHARS is cut with its length stated (`echoed`). A message of another
 * shape, which quotes no input, gets the same escaping and bound.
 */
import { codePointCount, echoed, MAX_ECHOED_CHARS } from "../../core/echo.js";
import { escapeControls } from "../../core/describe.js";

/** `Unexpected token 'T', ` (optional), then `..."fragment"...` (dots optional), then ` is not valid JSON`. */
const QUOTING_MESSAGE_RE = /^(?:Unexpected token '([\s\S]*?)', )?(\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/;

/** `err`'s message (a JSON.parse error) with the input it quotes made printable and bounded. */
export function jsonParseMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const m = QUOTING_MESSAGE_RE.exec(message);
  if (m === null) return escapeControls(echoed(message, MAX_ECHOED_CHARS));
  const [, token, before, fragment, after] = m;
  const lead = token === undefined ? "" : `Unexpected token '${escapeControls(token)}', `;
  return `${lead}${before ?? ""}${quotedFragment(fragment as string)}${after ?? ""} is not valid JSON`;
}

/** `"fragment"` escaped, or its first MAX_ECHOED_CHARS characters quoted and `… (N characters)` after the quote. */
function quotedFragment(fragment: string): string {
  const cut = echoed(fragment, MAX_ECHOED_CHARS);
  if (cut === fragment) return `"${escapeControls(fragment)}"`;
  const mark = `… (${codePointCount(fragment)} characters)`;
  return `"${escapeControls(cut.slice(0, cut.length - mark.length))}"${mark}`;
}
