/** Streaming UTF-8 validation helpers (the readers reject invalid UTF-8 rather than replace it). */
export { firstInvalidUtf8Line } from "../../core/utf8.js";

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

/** Offset just past the `n`th LF of `buf` (0 for n = 0; n must not exceed the LF count). */
export function nthLfEnd(buf: Buffer, n: number): number {
  let pos = 0;
  for (let k = 0; k < n; k++) pos = buf.indexOf(LF, pos) + 1;
  return pos;
}
