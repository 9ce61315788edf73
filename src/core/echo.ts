/**
 * Quoting user-supplied values in error messages without echoing them whole: a 5 MB duplicate
 * key or EU id made a 5 MB message. A value longer than MAX_ECHOED_CHARS is cut and its full
 * length stated. The HTTP gateway's error messages (src/server/app.ts) and the batch input and
 * engine errors use it alike.
 */

/**
 * Longest user-supplied value (characters: Unicode code points, so an emoji is one, as the seed
 * and name limits count) an error message quotes in full; a longer one is cut to this many and
 * marked `… (N characters)`.
 */
export const MAX_ECHOED_CHARS = 256;

/**
 * One scan of `s`'s code units: `end`, the code unit index just past its first `max` code
 * points (`s.length` when it has no more; never inside a surrogate pair), and `count`, all its
 * code points (a surrogate pair counts once, a lone surrogate once). No copy of the string.
 */
function measure(s: string, max: number): { end: number; count: number } {
  let count = 0;
  let end = s.length;
  for (let i = 0; i < s.length; i++) {
    if (count === max) end = Math.min(end, i);
    count++;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return { end, count };
}

/**
 * Whether `s` has more than `max` code points (scanned only between `max` and 2 × `max` code
 * units: past that it has): the seed and function-name limits (batch/config.ts,
 * batch/api-checks.ts), and whether `echoed(s, max)` cuts `s` (the error details that carry an id
 * as it is, or quoted cut when it is long).
 */
export function codePointsOver(s: string, max = MAX_ECHOED_CHARS): boolean {
  if (s.length <= max) return false;
  if (s.length > 2 * max) return true;
  return measure(s, max).end < s.length;
}

/** The number of Unicode code points of `s` (`measure`): what the messages call characters. */
export function codePointCount(s: string): number {
  return measure(s, s.length).count;
}

/**
 * `s` itself, or its first `max` characters (code points: never half of a surrogate pair)
 * followed by `… (N characters)`, N being the length of `s` in code points. Before 2026-11-27
 * both were UTF-16 code units, so an emoji counted twice. A string of at most `max` code units
 * is returned at once; only a longer one is scanned.
 */
export function echoed(s: string, max = MAX_ECHOED_CHARS): string {
  if (s.length <= max) return s;
  const { end, count } = measure(s, max);
  return end === s.length ? s : `${s.slice(0, end)}… (${count} characters)`;
}

/**
 * A value quoted as JSON for a message: `JSON.stringify(v)`, except that a string longer than
 * `max` characters (code points) is quoted by its first `max` and marked:
 * `"abc"… (N characters)`, N in code points; any other value's JSON text is cut by `echoed`.
 */
export function echoedJson(v: unknown, max = MAX_ECHOED_CHARS): string {
  if (typeof v === "string") {
    if (v.length <= max) return JSON.stringify(v);
    const { end, count } = measure(v, max);
    return end === v.length ? JSON.stringify(v) : `${JSON.stringify(v.slice(0, end))}… (${count} characters)`;
  }
  return echoed(JSON.stringify(v) ?? String(v), max);
}
