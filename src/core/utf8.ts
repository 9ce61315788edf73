/**
 * Strict UTF-8 decoding: text read from a user's file is never decoded lossily (Buffer's
 * `toString("utf8")` turns invalid bytes into U+FFFD, so a run would see text that is not in
 * the file).
 */
import { isUtf8 } from "node:buffer";

const LF = 0x0a;

/**
 * The number of LFs before the first line of `buf` that is not valid UTF-8 (a multi-byte
 * sequence never contains an LF byte, so lines can be checked one by one). -1 if all valid.
 */
export function firstInvalidUtf8Line(buf: Buffer): number {
  let lines = 0;
  let start = 0;
  while (start <= buf.length) {
    let end = buf.indexOf(LF, start);
    if (end === -1) end = buf.length;
    if (!isUtf8(buf.subarray(start, end))) return lines;
    lines++;
    start = end + 1;
  }
  return -1;
}

/** The text of `bytes`, or the 1-based line holding the first byte sequence that is not UTF-8. */
export function strictUtf8(bytes: Buffer): { text: string } | { invalidLine: number } {
  if (isUtf8(bytes)) return { text: bytes.toString("utf8") };
  return { invalidLine: firstInvalidUtf8Line(bytes) + 1 };
}

/**
 * The offset of the first byte of the first ill-formed sequence in `bytes` (Unicode's Table 3-7
 * of well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, no sequence
 * cut short — at the end either), or -1 when `bytes` are all UTF-8 (then `isUtf8(bytes)`). The
 * gateway's 400 names it (src/server/app.ts).
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  const cont = (at: number, lo = 0x80, hi = 0xbf): boolean => at < n && (bytes[at] as number) >= lo && (bytes[at] as number) <= hi;
  while (i < n) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let len: number;
    if (b >= 0xc2 && b <= 0xdf) len = cont(i + 1) ? 2 : 0;
    else if (b >= 0xe0 && b <= 0xef) {
      const [lo, hi] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
      len = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const [lo, hi] = b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
      len = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    } else len = 0; // 80..C1 (a continuation byte or an overlong lead), F5..FF
    if (len === 0) return i;
    i += len;
  }
  return -1;
}

/** `text` without one leading byte order mark (U+FEFF), which a JSON reader may ignore (RFC 8259 §8.1). */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
