/**
 * The file side of a put: what `put` / `putBytes` take as bytes, step 1 of the large-write
 * protocol for bytes in memory (`writePartSync`), step 3 (`placeReady`, also run by recovery),
 * the E_STORE_IO of a large write's files and the removal of its temp files (artifacts.ts).
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { CairnError, ErrorCode, osErrorText } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { objectPath, readyPath } from "./layout.js";
import { ensureDirDurable, fsyncDir, isNotFound } from "./fsutil.js";

/**
 * The bytes `putBytes` stores: a Uint8Array (a Buffer is one), or any other view with one-byte
 * elements (Int8Array, Uint8ClampedArray, also from another realm) as its bytes. A view of wider
 * elements (Uint16Array, Float64Array, DataView…) is E_USAGE: its bytes depend on the host's
 * byte order, and its length is not its byte length.
 */
export function byteView(v: unknown, what = "putBytes"): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v) && (v as { BYTES_PER_ELEMENT?: unknown }).BYTES_PER_ELEMENT === 1) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const kind = v === null ? "null" : ArrayBuffer.isView(v) ? v.constructor.name : typeof v;
  throw new CairnError(
    ErrorCode.USAGE,
    `${what} takes bytes as a Uint8Array (or Buffer), got ${kind}${ArrayBuffer.isView(v) ? "; pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength) to store its bytes" : ""}`,
    { got: kind },
  );
}

/** Whether `v` can be read with `for await` (an async iterable, or a sync one such as an array of chunks). */
export function isChunkSource(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  const o = v as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  return typeof o[Symbol.asyncIterator] === "function" || typeof o[Symbol.iterator] === "function";
}

/**
 * Moves a committed .ready file into objects/ and makes the move durable: a fan-out directory
 * `objects/ab/` made now is fsynced in `objects/` first (`ensureDirDurable`; once per directory,
 * at most 256), then the rename, then `objects/ab/` and `tmp/`. Without the first fsync, a power
 * loss on a file system that does not order directory metadata could keep the `.ready` file's
 * removal from tmp/ and lose `objects/ab/` with the committed file in it.
 */
export function placeReady(root: string, digest: Digest): void {
  const ready = readyPath(root, digest);
  const final = objectPath(root, digest);
  ensureDirDurable(dirname(final));
  try {
    renameSync(ready, final);
  } catch (err) {
    if (isNotFound(err) && existsSync(final)) return;
    throw err;
  }
  fsyncDir(dirname(final));
  fsyncDir(dirname(ready));
}

/**
 * E_STORE_IO naming a file of a large write that cannot be created or written (a full disk, no
 * permission, `tmp` not a directory, a read-only file system), as `getToFile` names its
 * destination; never the raw fs error (E_INTERNAL).
 */
export function cannotWrite(path: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new CairnError(ErrorCode.STORE_IO, `cannot write ${path}: ${osErrorText(err)}`, { path }, { cause: err });
}

/** An fs step on the temp file `path` of a streamed put: its failure is `cannotWrite`. */
export async function onPart<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw cannotWrite(path, err);
  }
}

/** Step 1 of the large-write protocol for bytes in memory: `part` written, fsynced, closed; removed again on failure. */
export function writePartSync(part: string, bytes: Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(part, "wx", 0o644);
  } catch (err) {
    throw cannotWrite(part, err);
  }
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    dropTemp(part);
    throw cannotWrite(part, err);
  }
}

/** Removes a failed write's temp file; a failure to remove it never hides the write's error (recovery removes it, §5.6). */
export function dropTemp(path: string): void {
  try {
    unlinkQuiet(path);
  } catch {
    // left for the next writer's recovery
  }
}

/** Removes a file if it is there (ENOTDIR: a parent is not a directory, so it is not there either). */
export function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isNotFound(err) && (err as NodeJS.ErrnoException).code !== "ENOTDIR") throw err;
  }
}
