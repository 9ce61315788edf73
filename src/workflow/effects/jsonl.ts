/**
 * JSON-lines helpers shared by CS_REGISTRY_V0 and CS_APPENDONLY_JSONL_V0.
 *
 * Lines are split like Python text-mode iteration (universal newlines: `\n`, `\r\n`, `\r`).
 *
 * Crash behaviour — a torn last line is REFUSED, never silently repaired. An append is one
 * write of `<line>\n` followed by fsync, and the runtime reports success only after the fsync,
 * so a file whose last byte is not a line terminator holds an append that never completed
 * (or a hand edit). Readers detect it (`tornTail`) and refuse to use the file: the registry
 * reports BACKEND_ERROR (SEMANTICS C.2 maps read/parse failures to that status), the
 * append-only log raises a hard error (C.3: failures while counting lines at construction are
 * exceptions). Nothing is appended after a torn tail, so a partial line can never be glued to
 * the next record. An operator repairs the file explicitly with `repairTornTail`, which
 * truncates the unterminated bytes and reports what it removed.
 */
import { closeSync, constants as FS, fsyncSync, ftruncateSync, openSync } from "node:fs";
import { sha256, type Digest } from "../../core/digest.js";
import { ErrorCode } from "../../core/errors.js";
import { confineRelative, normalizeDataRoot, preparePath } from "./confine.js";
import { EffectErrorReason, effectError, ioError } from "./errors.js";
import { readData } from "./fsio.js";

const LF = 0x0a;
const CR = 0x0d;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly (invalid sequences throw; a BOM is kept and later fails to parse). */
export function decodeUtf8(buf: Uint8Array): string {
  return UTF8.decode(buf);
}

/** The lines of `text` without terminators, as Python iterates a text file (a final unterminated line included). */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The unterminated bytes at the end of `buf` (a torn last line), or `undefined` if it ends cleanly. */
export function tornTail(buf: Uint8Array): { offset: number; bytes: number } | undefined {
  if (buf.length === 0) return undefined;
  const last = buf[buf.length - 1];
  if (last === LF || last === CR) return undefined;
  let i = buf.length - 1;
  while (i >= 0 && buf[i] !== LF && buf[i] !== CR) i--;
  return { offset: i + 1, bytes: buf.length - (i + 1) };
}

/** The message readers use when refusing a torn file. */
export function tornTailMessage(rel: string, t: { offset: number; bytes: number }): string {
  return (
    `${JSON.stringify(rel)} ends in a torn line (${t.bytes} bytes after offset ${t.offset} without a newline, ` +
    `an interrupted append): refusing to use it; repair with repairTornTail (truncates to ${t.offset} bytes)`
  );
}

/** Result of an explicit repair. */
export interface TornTailRepair {
  readonly path: string;
  /** Bytes removed (0 when the file ended cleanly or does not exist). */
  readonly removedBytes: number;
  /** Digest of the removed bytes (for the operator's record), when any were removed. */
  readonly removedDigest?: Digest;
  /** File size after the repair. */
  readonly size: number;
}

/**
 * Truncates a JSON-lines file under the data root to its last complete line. `relPath` is
 * relative to `dataRoot` and confined like every CS path. Never called implicitly.
 */
export function repairTornTail(dataRoot: string, relPath: string): TornTailRepair {
  const root = normalizeDataRoot(dataRoot);
  const prepared = preparePath(confineRelative(root, root, relPath), false);
  const buf = readData(prepared);
  if (buf === undefined || prepared.realFile === undefined) return { path: prepared.rel, removedBytes: 0, size: 0 };
  const t = tornTail(buf);
  if (t === undefined) return { path: prepared.rel, removedBytes: 0, size: buf.length };
  try {
    const fd = openSync(prepared.realFile, FS.O_WRONLY | FS.O_NOFOLLOW);
    try {
      ftruncateSync(fd, t.offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw ioError("truncate", prepared.rel, err);
  }
  return { path: prepared.rel, removedBytes: t.bytes, removedDigest: sha256(buf.subarray(t.offset)), size: t.offset };
}

/** A hard error for a torn file (used where the reference would raise). */
export function tornTailError(rel: string, t: { offset: number; bytes: number }): Error {
  return effectError(ErrorCode.STORE_CORRUPT, EffectErrorReason.TORN_TAIL, tornTailMessage(rel, t), { path: rel, offset: t.offset, bytes: t.bytes });
}
