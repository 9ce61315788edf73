/**
 * The file side of a put: what `put` / `putBytes` take as bytes, step 1 of the large-write
 * protocol for bytes in memory (`writePartSync`), step 3 (`placeReady`, also run by recovery),
 * the E_STORE_IO of a large write's files and the removal of its temp files (artifacts.ts).
 */
import { closeSync, existsSync, fsyncSync, openSync, renameSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { CairnError, ErrorCode, osErrorText } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { objectPath, readyPath, SMALL_ARTIFACT_MAX_BYTES } from "./layout.js";
import { ensureDirDurable, fsyncDir, isNotFound, writeAllSync } from "./fsutil.js";
import { checkUntypedPrefix, identityHasher, TYPED_FRAME_MAGIC } from "./identity.js";

/**
 * The start of a put given in chunks (`put`, `putPieces`): every chunk is hashed; the first ones
 * are held (copied: a source may reuse its buffer) until they pass SMALL_ARTIFACT_MAX_BYTES —
 * then the caller writes them to a temp file (`spill`) and every later chunk straight after
 * them; bytes that never pass it are stored packed (`whole`). The reserved typed-frame magic is
 * refused at the start of untyped bytes as soon as enough of them have come.
 */
export class PutHead {
  readonly hasher: ReturnType<typeof identityHasher>;
  size = 0;
  private held: Buffer[] = [];
  private checked = false;

  constructor(private readonly tag: number | undefined) {
    this.hasher = identityHasher(tag);
  }

  /**
   * Hashes `chunk` (not empty); while nothing is spilled, holds a copy. True when the caller
   * must spill now: with `chunk`, the bytes have just passed SMALL_ARTIFACT_MAX_BYTES. That
   * chunk is held as it is, not copied (however large): the caller writes it, with the copies
   * before it, before it asks its source for another.
   */
  add(chunk: Buffer, spilled: boolean): boolean {
    this.hasher.update(chunk);
    this.size += chunk.length;
    if (spilled) return false;
    const spill = this.size > SMALL_ARTIFACT_MAX_BYTES;
    this.held.push(spill ? chunk : Buffer.from(chunk));
    if (!this.checked && this.size >= TYPED_FRAME_MAGIC.length) {
      checkUntypedPrefix(Buffer.concat(this.held, TYPED_FRAME_MAGIC.length), this.tag);
      this.checked = true;
    }
    return spill;
  }

  /** The held bytes, to write first to the temp file; nothing is held after. */
  spill(): Buffer[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /** All the bytes, when they were never spilled (at most SMALL_ARTIFACT_MAX_BYTES). */
  whole(): Buffer {
    const bytes = Buffer.concat(this.held);
    if (!this.checked) checkUntypedPrefix(bytes, this.tag);
    return bytes;
  }
}

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



/** `onPart` for a synchronous step (a put in pieces). */
export function onPartSync<T>(path: string, step: () => T): T {
  try {
    return step();
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
      writeAllSync(fd, bytes);
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
