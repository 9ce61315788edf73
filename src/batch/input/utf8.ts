/** Streaming UTF-8 validation helpers (the readers reject invalid UTF-8 rather than replace it). */
import { isUtf8 } from "node:buffer";

const LF = 0x0a;

/** Number of LF bytes in `buf[from, to)`. */
export function countLf(buf: Buffer, from = 0, to = buf.length): number {
  let n = 0;
  let i = from;
  while (i < to) {
    const j = buf.indexOf(LF, i);
    if (j === -1 || j >= to) break;
    n++;
    i = j + 1;
  }
  return n;
}

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

/** Offset just past the `n`th LF of `buf` (0 for n = 0; n must not exceed the LF count). */
export function nthLfEnd(buf: Buffer, n: number): number {
  let pos = 0;
  for (let k = 0; k < n; k++) pos = buf.indexOf(LF, pos) + 1;
  return pos;
}
