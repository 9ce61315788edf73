/**
 * `Artifacts.openReader`: a synchronous, sequential read of an artifact's verified bytes in
 * pieces, for a consumer that must not hold a large artifact whole (the batch engine's ordered
 * merge). The guarantees are `openReadStream`'s: a file is hashed once in full before the first
 * piece, and again while it is read; the piece that reaches the end is returned only once that
 * second hash matches and the file has not grown, so a reader that fails has handed out fewer
 * bytes than the artifact's size, and after a failure every read throws that failure again
 * (`undefined` means the verified end, nothing else). A packed artifact is verified whole (it is
 * small) and handed out from memory.
 *
 * No file stays open between reads: each read opens the object file, reads its piece and
 * closes it, so a consumer may hold many readers (one per partition) without holding as many
 * descriptors. A file replaced or changed between reads fails the second hash; one gone because
 * gc swept the artifact since (another writer, for a read-only handle) is the store's
 * E_NOT_FOUND, not corruption.
 */
import { closeSync, readSync } from "node:fs";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest, Hasher } from "../core/digest.js";
import { identityHasher } from "./identity.js";
import { STREAM_CHUNK_BYTES } from "./layout.js";
import { corrupt, storedTypeTag, type ArtifactRow } from "./artifact-rows.js";
import { checkFileSize, checkHashed, openArtifactFile, requireArtifactFile, type ArtifactFile } from "./artifact-reads.js";

/** A sequential read of one artifact's verified bytes. */
export interface ArtifactReader {
  /** The artifact's size in bytes. */
  readonly size: number;
  /**
   * The next piece, at most `maxBytes` (a positive integer, else E_USAGE) long; undefined once
   * all of it has been handed out and verified. Throws E_STORE_CORRUPT when the bytes changed
   * since they were verified (the last piece is never returned then), E_STORE_IO when the file
   * cannot be read, E_NOT_FOUND when its file was swept by gc since (a tombstone alone leaves the
   * file: the read goes on); after such a failure every read throws it again, and after `close`
   * (before the end) every read is E_USAGE.
   */
  read(maxBytes: number): Buffer | undefined;
  /** Ends the read (idempotent). */
  close(): void;
}

/** `openReader`'s options beyond `asOf`. */
export interface ReaderOptions {
  /**
   * Called with each chunk of the first, full hash pass, in order, before the first piece is
   * returned (a packed artifact: once, with all its verified bytes): a consumer can check what
   * the whole holds (the batch merge counts its records) before handing out any of it. When
   * the hash then does not match, `openReader` throws, so what was observed belongs to no
   * reader. A chunk is valid only during the call; what the callback throws fails `openReader`.
   */
  onVerify?: (chunk: Buffer) => void;
}

function checkMaxBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new CairnError(ErrorCode.USAGE, `a reader's piece size must be a positive integer, got ${String(maxBytes)}`, { field: "maxBytes" });
  }
  return maxBytes;
}

/**
 * The reader's state: reading; done (verified end: undefined from now on); failed (the failure,
 * thrown again); closed before its end (E_USAGE).
 */
type ReaderState = { kind: "reading" } | { kind: "done" } | { kind: "failed"; err: unknown } | { kind: "closed" };

/**
 * Reads through `next` while `state` allows it, recording a failure or the end (the piece that
 * completes `size` bytes: `next` returns it only once they are verified).
 */
function guardedReader(size: number, next: (maxBytes: number) => Buffer | undefined): ArtifactReader {
  let state: ReaderState = { kind: "reading" };
  let handed = 0;
  return {
    size,
    read(maxBytes: number): Buffer | undefined {
      switch (state.kind) {
        case "done":
          return undefined;
        case "failed":
          throw state.err;
        case "closed":
          throw new CairnError(ErrorCode.USAGE, "this artifact reader is closed: it was closed before its end", { field: "reader" });
        default:
      }
      const n = checkMaxBytes(maxBytes);
      try {
        const piece = next(n);
        if (piece !== undefined) handed += piece.length;
        if (piece === undefined || handed >= size) state = { kind: "done" };
        return piece;
      } catch (err) {
        state = { kind: "failed", err };
        throw err;
      }
    },
    close(): void {
      if (state.kind === "reading") state = { kind: "closed" };
    },
  };
}

/** A reader over bytes already verified in memory (a packed artifact). */
export function bytesReader(bytes: Buffer, opts: ReaderOptions = {}): ArtifactReader {
  opts.onVerify?.(bytes);
  let pos = 0;
  return guardedReader(bytes.length, (n) => {
    if (pos >= bytes.length) return undefined;
    const piece = bytes.subarray(pos, Math.min(bytes.length, pos + n));
    pos += piece.length;
    return piece;
  });
}

function readAt(digest: Digest, fd: number, into: Buffer, pos: number): number {
  try {
    return readSync(fd, into, 0, into.length, pos);
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_IO, `artifact ${digest}: cannot read its file: ${(err as Error).message}`, { digest }, { cause: err });
  }
}

/** Fills `into` from `pos`; the count read (short only at the file's end). */
function readFull(digest: Digest, fd: number, into: Buffer, pos: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readAt(digest, fd, into.subarray(done), pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Hashes the open file in full, reading at most one byte past the recorded size. */
function verifyFileSync(digest: Digest, r: ArtifactRow, file: ArtifactFile, onVerify?: (chunk: Buffer) => void): void {
  checkFileSize(digest, r, file);
  const h = identityHasher(storedTypeTag(digest, r));
  const buf = Buffer.allocUnsafe(Math.min(STREAM_CHUNK_BYTES, r.size + 1));
  let n = 0;
  while (n <= r.size) {
    const got = readFull(digest, file.fd, buf.subarray(0, Math.min(buf.length, r.size + 1 - n)), n);
    if (got === 0) break;
    const chunk = buf.subarray(0, got);
    h.update(chunk);
    // Never past the recorded size (a grown file fails below, before the reader exists).
    if (onVerify !== undefined && n < r.size) onVerify(n + got > r.size ? chunk.subarray(0, r.size - n) : chunk);
    n += got;
  }
  checkHashed(digest, r, n, h.digest());
}

/**
 * Runs `use` on the artifact's file, opened for it and closed after. A file that is gone calls
 * `onMissing` first (it throws when the store no longer has the artifact: deleted or collected
 * since the reader opened), else it is E_STORE_CORRUPT.
 */
function withFile<T>(root: string, digest: Digest, use: (file: ArtifactFile) => T, onMissing?: () => void): T {
  const found = openArtifactFile(root, digest);
  if (found === undefined) onMissing?.();
  const file = found ?? requireArtifactFile(root, digest);
  try {
    return use(file);
  } finally {
    closeSync(file.fd);
  }
}

/**
 * A reader over a large artifact's file (the present row `r`, stored as a file). `recheck`
 * throws the store's own error (E_NOT_FOUND: tombstoned, collected by gc) when the artifact is
 * no longer present: a file gone between reads is then that, not corruption.
 */
export function fileReader(root: string, digest: Digest, r: ArtifactRow, opts: ReaderOptions = {}, recheck?: () => void): ArtifactReader {
  withFile(root, digest, (file) => verifyFileSync(digest, r, file, opts.onVerify));
  const h: Hasher = identityHasher(storedTypeTag(digest, r));
  let pos = 0;
  const changed = (): CairnError => corrupt(digest, "bytes changed while reading");
  return guardedReader(r.size, (n) => {
    if (pos >= r.size) return undefined;
    return withFile(root, digest, (file) => {
      checkFileSize(digest, r, file); // a file replaced by one of another size since
      const piece = Buffer.allocUnsafe(Math.min(n, r.size - pos));
      if (readFull(digest, file.fd, piece, pos) !== piece.length) throw changed();
      h.update(piece);
      if (pos + piece.length === r.size) {
        if (readFull(digest, file.fd, Buffer.allocUnsafe(1), r.size) !== 0) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
        if (h.digest() !== digest) throw changed();
      }
      pos += piece.length;
      return piece;
    }, recheck);
  });
}
