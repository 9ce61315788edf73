/**
 * The end of a JSONL evidence file: an append lands whole or not at all, and nothing is ever
 * appended after a torn line.
 *
 *  - `findTornTail`: before every append the sink reads the file's last byte; a non-empty file
 *    whose last byte is not `\n` ends in a torn line — an append cut by a crash, a SIGKILL or an
 *    OS crash mid-write (which no truncation can undo), or a hand edit — and the sink refuses it
 *    rather than glue its record onto that line (the rule of the workflow data root's JSON-lines
 *    files, workflow/effects/jsonl.ts). Only a torn file is scanned further: backwards for the
 *    start of its last line, forwards to count the lines before it. Another process appending
 *    to the same file may be caught mid-write (a reader can see part of a write), so the sink
 *    refuses only a torn tail that stays put (`settledTornTail`: the size unchanged over
 *    TORN_TAIL_RECHECKS waits of TORN_TAIL_RECHECK_MS, 150 ms); a record being written ends
 *    within microseconds, a torn tail never does. On a heavily loaded machine a writer can be
 *    descheduled mid-write for longer (a settle of 6 ms refused one append in ~30,000 of two
 *    busy writers at load 7 on 2 cores; 150 ms none in 180,000): a refused exec fails before it
 *    dispatches anything (E_STORE_CORRUPT), and can be retried.
 *  - `undoPartialAppend`: after a failed or short write (ENOSPC, EFBIG, EIO) the bytes this
 *    append did write are cut off again (ftruncate, then fsync), but only if they are still the
 *    last bytes of the file, so a record another process appended after them (O_APPEND) is
 *    kept. The check and the truncation are two system calls (Node has no file lock): a record
 *    another process appends in the instant between them — on a disk that has just refused
 *    this sink's bytes — would be cut with them. That window is documented (docs/plane.md).
 */
import { fsyncSync, fstatSync, ftruncateSync, readSync } from "node:fs";

/** `details.reason` of an evidence file refused because it ends in a torn line (as the data root's files). */
export const TORN_TAIL_REASON = "torn_jsonl_tail";
/** Bytes read per step while scanning a torn evidence file for the start of its last line and counting lines. */
export const TAIL_SCAN_CHUNK_BYTES = 64 * 1024;
/** Largest unterminated last line parsed to tell a complete record (only its `\n` missing) from a torn one. */
export const MAX_TAIL_PARSE_BYTES = 1024 * 1024;
/** How many waits a torn tail must outlast, its file's size unchanged, before it is refused (`settledTornTail`). */
export const TORN_TAIL_RECHECKS = 30;
/** Each wait of `settledTornTail` (ms). */
export const TORN_TAIL_RECHECK_MS = 5;
/** Most looks `settledTornTail` takes at a file that other processes keep appending to. */
const MAX_TAIL_LOOKS = 200;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

const LF = 0x0a;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The unterminated end of an evidence file. */
export interface EvidenceTornTail {
  /** Where the last line starts (the size of the file up to its last `\n`). */
  readonly offset: number;
  /** Bytes after `offset` (no `\n` among them). */
  readonly bytes: number;
  /** The 1-based number of that line. */
  readonly line: number;
  /** True when those bytes are one complete JSON object: a record whose `\n` is missing. */
  readonly complete: boolean;
}

/** Reads exactly `len` bytes at `pos` (a regular file: a short read only at its end, then fewer). */
function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/** Where the last line of a file of `size` bytes starts: after its last `\n`, else 0. */
function lastLineStart(fd: number, size: number): number {
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - TAIL_SCAN_CHUNK_BYTES);
    const chunk = readAt(fd, start, end - start);
    const i = chunk.lastIndexOf(LF);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

/** Number of `\n` in the first `end` bytes. */
function countLines(fd: number, end: number): number {
  let n = 0;
  for (let pos = 0; pos < end; ) {
    const chunk = readAt(fd, pos, Math.min(TAIL_SCAN_CHUNK_BYTES, end - pos));
    if (chunk.length === 0) break;
    for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) n++;
    pos += chunk.length;
  }
  return n;
}

/** Whether `buf` is strict UTF-8 holding one JSON object (what every record is; no proper prefix of one parses). */
function isCompleteRecord(buf: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(UTF8.decode(buf));
    return v !== null && typeof v === "object" && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** The torn tail of the open file `fd` of `size` bytes, or undefined when it is empty or ends in `\n`. */
export function findTornTail(fd: number, size: number): EvidenceTornTail | undefined {
  if (!endsTorn(fd, size)) return undefined;
  const offset = lastLineStart(fd, size);
  const bytes = size - offset;
  const complete = bytes <= MAX_TAIL_PARSE_BYTES && isCompleteRecord(readAt(fd, offset, bytes));
  return { offset, bytes, line: countLines(fd, offset) + 1, complete };
}

/**
 * `findTornTail`, refused only when it stays put: while the last byte is not `\n`, wait and look
 * again; a size that changed (another process's append was caught mid-write) is looked at anew;
 * the tail is torn once the size has stayed the same over TORN_TAIL_RECHECKS waits (or after
 * MAX_TAIL_LOOKS looks at a file that never stops changing).
 */
export function settledTornTail(fd: number, size: number): EvidenceTornTail | undefined {
  if (!endsTorn(fd, size)) return undefined;
  for (let stable = 0, looks = 0; stable < TORN_TAIL_RECHECKS && looks < MAX_TAIL_LOOKS; looks++) {
    Atomics.wait(SLEEPER, 0, 0, TORN_TAIL_RECHECK_MS);
    const now = fstatSync(fd).size;
    if (now === size) {
      stable++;
      continue;
    }
    size = now;
    stable = 0;
    if (!endsTorn(fd, size)) return undefined;
  }
  return findTornTail(fd, size); // described (scanned) once, when refused
}

/** Whether a file of `size` bytes is non-empty and its last byte is not `\n` (one byte read). */
function endsTorn(fd: number, size: number): boolean {
  if (size === 0) return false;
  const last = readAt(fd, size - 1, 1);
  return !(last.length === 1 && last[0] === LF);
}

/** What `undoPartialAppend` did. */
export type UndoOutcome = "nothing_written" | "truncated" | "left";

/**
 * Cuts the first `written` bytes of `bytes`, written by a failed append to `fd`, off the end of
 * the file again (ftruncate + fsync) if they are still its last bytes; otherwise (another
 * writer's bytes follow them, or the file cannot be read or truncated) leaves the file as it is
 * (`"left"`: the next append finds the torn tail, unless another record already follows it).
 */
export function undoPartialAppend(fd: number, bytes: Uint8Array, written: number): UndoOutcome {
  if (written <= 0) return "nothing_written";
  try {
    const size = fstatSync(fd).size;
    const start = size - written;
    if (start < 0 || !readAt(fd, start, written).equals(bytes.subarray(0, written))) return "left";
    ftruncateSync(fd, start);
  } catch {
    return "left";
  }
  try {
    fsyncSync(fd);
  } catch {
    // the truncation is done (in the page cache); only its durability over an OS crash is unsure
  }
  return "truncated";
}
