/**
 * `Artifacts.openReader`: a synchronous, sequential read of an artifact's verified bytes in
 * pieces, for a consumer that must not hold a large artifact whole (the batch engine's ordered
 * merge). The guarantees are `openReadStream`'s: a file is hashed once in full before the first
 * piece, and again while it is read; the piece that reaches the end is returned only once that
 * second hash matches and the file has not grown, so a reader that fails has handed out fewer
 * bytes than the artifact's size. A packed artifact is verified whole (it is small) and handed
 * out from memory.
 */
import { closeSync, readSync } from "node:fs";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import type { Hasher } from "../core/digest.js";
import { identityHasher } from "./identity.js";
import { STREAM_CHUNK_BYTES } from "./layout.js";
import { corrupt, storedTypeTag, type ArtifactRow } from "./artifact-rows.js";
import { checkFileSize, checkHashed, requireArtifactFile, type ArtifactFile } from "./artifact-reads.js";

/** A sequential read of one artifact's verified bytes. */
export interface ArtifactReader {
  /** The artifact's size in bytes. */
  readonly size: number;
  /**
   * The next piece, at most `maxBytes` (at least 1) long; undefined after the last. Throws
   * E_STORE_CORRUPT when the bytes changed since they were verified (the last piece is never
   * returned then), E_STORE_IO when the file cannot be read.
   */
  read(maxBytes: number): Buffer | undefined;
  /** Releases the file; idempotent, and done by the read that reaches the end or fails. */
  close(): void;
}

function checkMaxBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new CairnError(ErrorCode.USAGE, `a reader's piece size must be a positive integer, got ${String(maxBytes)}`, { field: "maxBytes" });
  }
  return maxBytes;
}

/** A reader over bytes already verified in memory (a packed artifact). */
export function bytesReader(bytes: Buffer): ArtifactReader {
  let pos = 0;
  return {
    size: bytes.length,
    read(maxBytes: number): Buffer | undefined {
      const n = checkMaxBytes(maxBytes);
      if (pos >= bytes.length) return undefined;
      const piece = bytes.subarray(pos, Math.min(bytes.length, pos + n));
      pos += piece.length;
      return piece;
    },
    close(): void {
      pos = bytes.length;
    },
  };
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
function verifyFileSync(digest: Digest, r: ArtifactRow, file: ArtifactFile): void {
  checkFileSize(digest, r, file);
  const h = identityHasher(storedTypeTag(digest, r));
  const buf = Buffer.allocUnsafe(Math.min(STREAM_CHUNK_BYTES, r.size + 1));
  let n = 0;
  while (n <= r.size) {
    const got = readFull(digest, file.fd, buf.subarray(0, Math.min(buf.length, r.size + 1 - n)), n);
    if (got === 0) break;
    h.update(buf.subarray(0, got));
    n += got;
  }
  checkHashed(digest, r, n, h.digest());
}

/** A reader over a large artifact's file (the present row `r`, stored as a file). */
export function fileReader(root: string, digest: Digest, r: ArtifactRow): ArtifactReader {
  const file = requireArtifactFile(root, digest);
  let open = true;
  const close = (): void => {
    if (open) {
      open = false;
      closeSync(file.fd);
    }
  };
  let h: Hasher;
  try {
    verifyFileSync(digest, r, file);
    h = identityHasher(storedTypeTag(digest, r));
  } catch (err) {
    close();
    throw err;
  }
  let pos = 0;
  const changed = (): CairnError => corrupt(digest, "bytes changed while reading");
  return {
    size: r.size,
    read(maxBytes: number): Buffer | undefined {
      const n = checkMaxBytes(maxBytes);
      if (!open) return undefined;
      try {
        if (pos >= r.size) {
          close();
          return undefined;
        }
        const piece = Buffer.allocUnsafe(Math.min(n, r.size - pos));
        if (readFull(digest, file.fd, piece, pos) !== piece.length) throw changed();
        h.update(piece);
        pos += piece.length;
        if (pos === r.size) {
          if (readFull(digest, file.fd, Buffer.allocUnsafe(1), pos) !== 0) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
          if (h.digest() !== digest) throw changed();
          close();
        }
        return piece;
      } catch (err) {
        close();
        throw err;
      }
    },
    close,
  };
}
