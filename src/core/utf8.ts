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
