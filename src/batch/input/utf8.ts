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

/** The UTF-8 byte order mark: the readers remove one at the start of the input (source.ts). */
export const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/** Whether `b` could be the start of a BOM (its bytes so far are the BOM's). */
export function isBomPrefix(b: Buffer): boolean {
  for (let i = 0; i < b.length && i < UTF8_BOM.length; i++) if (b[i] !== UTF8_BOM[i]) return false;
  return true;
}

export function startsWithBom(b: Buffer): boolean {
  return b.length >= UTF8_BOM.length && b[0] === UTF8_BOM[0] && b[1] === UTF8_BOM[1] && b[2] === UTF8_BOM[2];
}

/**
 * Removes a leading UTF-8 BOM from a stream of chunks: the readers' rule (source.ts
 * inputChunks), which the ingest's bounds apply to the raw bytes they measure (line-bound.ts,
 * json-array.ts JsonArrayBound). The first bytes are held while they could still be a BOM.
 */
export class BomStrip {
  /** Bytes held back while it cannot yet be told whether the input starts with a BOM; undefined once it can. */
  private head: Buffer | undefined = Buffer.alloc(0);

  /** The next chunk, without the BOM's bytes and with the bytes held before it (possibly empty). */
  push(chunk: Buffer): Buffer {
    const head = this.head;
    if (head === undefined) return chunk;
    const all = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    if (all.length < UTF8_BOM.length && isBomPrefix(all)) {
      this.head = all;
      return Buffer.alloc(0);
    }
    this.head = undefined;
    return startsWithBom(all) ? all.subarray(UTF8_BOM.length) : all;
  }

  /** The end of the input: the held bytes (an input shorter than a BOM that looked like its start is data after all). */
  end(): Buffer {
    const head = this.head ?? Buffer.alloc(0);
    this.head = undefined;
    return head;
  }
}
