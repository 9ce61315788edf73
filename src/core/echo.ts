/**
 * Quoting user-supplied values in error messages without echoing them whole: a 5 MB duplicate
 * key or EU id made a 5 MB message. A value longer than MAX_ECHOED_CHARS is cut and its full
 * length stated. The HTTP gateway's error messages (src/server/app.ts) and the batch input and
 * engine errors use it alike.
 */

/**
 * Longest user-supplied value (UTF-16 code units) an error message quotes in full; a longer one
 * is cut to this many and marked `… (N characters)`.
 */
export const MAX_ECHOED_CHARS = 256;

/** The first `max` code units of `s`, one less when that would split a surrogate pair. */
function head(s: string, max: number): string {
  const last = s.charCodeAt(max - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/**
 * `s` itself, or its first `max` characters (never half of a surrogate pair) followed by
 * `… (N characters)`, N being the length of `s`.
 */
export function echoed(s: string, max = MAX_ECHOED_CHARS): string {
  return s.length <= max ? s : `${head(s, max)}… (${s.length} characters)`;
}

/**
 * A value quoted as JSON for a message: `JSON.stringify(v)`, except that a string longer than
 * `max` is quoted by its first `max` characters and marked: `"abc"… (N characters)`; any
 * other value's JSON text is cut by `echoed`.
 */
export function echoedJson(v: unknown, max = MAX_ECHOED_CHARS): string {
  if (typeof v === "string") return v.length <= max ? JSON.stringify(v) : `${JSON.stringify(head(v, max))}… (${v.length} characters)`;
  return echoed(JSON.stringify(v) ?? String(v), max);
}
