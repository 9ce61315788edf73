/**
 * The verified reads of artifacts: the bodies of `Artifacts.get`, `openFile`, `openReadStream`
 * and `getToFile` (artifacts.ts) past their row lookup, and the files of large artifacts
 * (`openArtifactFile`: a regular file of the recorded size, never read past it; `verifyFd`,
 * `fdChunks`), also used by fsck.
 */
import { closeSync, fstatSync, openSync, read, readSync, renameSync, constants as fsConstants, type Stats } from "node:fs";
import { open as openAsync, type FileHandle } from "node:fs/promises";
import { basename, dirname, relative } from "node:path";
import { Readable } from "node:stream";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { identityHasher } from "./identity.js";
import { MAX_BUFFERED_GET_BYTES, STREAM_CHUNK_BYTES, objectPath, readyPath } from "./layout.js";
import { fsyncDir } from "./fsutil.js";
import { sweepDeadWriterTemps, taggedTempWriter, tempFileName } from "./temp-files.js";
import { corrupt, rowToInfo, storedTypeTag, type ArtifactInfo, type ArtifactRow } from "./artifact-rows.js";
import { unlinkQuiet } from "./artifact-writes.js";

/** `Artifacts.get` past its row lookup: the verified bytes of the present row `r`. */
export function verifiedBytes(root: string, digest: Digest, r: ArtifactRow & { bytes?: Buffer | null }): Buffer {
  let bytes: Buffer;
  if (r.storage === 0) {
    if (r.bytes === null || r.bytes === undefined) throw corrupt(digest, "packed bytes are missing from the catalog");
    bytes = r.bytes;
  } else {
    if (r.size > MAX_BUFFERED_GET_BYTES) {
      throw new CairnError(
        ErrorCode.LIMIT_EXCEEDED,
        `artifact ${digest} is ${r.size} bytes, above the in-memory limit of ${MAX_BUFFERED_GET_BYTES}; stream it instead`,
        { digest, size: r.size, limit: MAX_BUFFERED_GET_BYTES },
      );
    }
    const file = requireArtifactFile(root, digest);
    try {
      bytes = readRecordedSize(digest, r, file);
    } finally {
      closeSync(file.fd);
    }
  }
  verifyBytes(digest, r, bytes);
  return bytes;
}

/** `Artifacts.openFile`: the open file of a large artifact; E_STORE_CORRUPT when there is none. */
export function requireArtifactFile(root: string, digest: Digest): ArtifactFile {
  const file = openArtifactFile(root, digest);
  if (file === undefined) throw corrupt(digest, `its file ${relative(root, objectPath(root, digest))} is missing`);
  return file;
}

/** `Artifacts.openReadStream` of a large artifact (the present row `r`, stored as a file). */
export function fileReadStream(root: string, digest: Digest, r: ArtifactRow): Readable {
  const tag = storedTypeTag(digest, r);
  const file = requireArtifactFile(root, digest);
  const { fd } = file;
  let closed = false;
  const closeOnce = (): void => {
    if (!closed) {
      closed = true;
      closeSync(fd);
    }
  };
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      await verifyFd(digest, r, file);
      const h = identityHasher(tag);
      let n = 0;
      let held: Buffer | undefined; // emitted only once the whole file has checked out
      for await (const chunk of fdChunks(digest, fd, r.size + 1)) {
        h.update(chunk);
        n += chunk.length;
        if (n > r.size) throw corrupt(digest, "bytes changed while streaming");
        if (held !== undefined) yield held;
        held = chunk;
      }
      if (n !== r.size || h.digest() !== digest) throw corrupt(digest, "bytes changed while streaming");
      if (held !== undefined) yield held;
    } finally {
      closeOnce();
    }
  }
  const stream = Readable.from(gen(), { objectMode: false });
  // A stream destroyed before its first read never starts the generator: close the file here.
  stream.once("close", closeOnce);
  return stream;
}

/** `Artifacts.getToFile` past its row lookup (the present row `r`); `packed` is `Artifacts.get` of a packed artifact. */
export async function verifiedCopy(root: string, digest: Digest, r: ArtifactRow, dest: string, packed: () => Buffer): Promise<ArtifactInfo> {
  const tag = storedTypeTag(digest, r);
  const prefix = `${basename(dest)}.`;
  sweepDeadWriterTemps(dirname(dest), (name) => taggedTempWriter(name, prefix));
  const tmp = tempFileName(`${dest}.`);
  let fh: FileHandle | undefined;
  try {
    try {
      fh = await openAsync(tmp, "wx", 0o644);
    } catch (err) {
      throw new CairnError(ErrorCode.STORE_IO, `cannot write ${dest}: ${(err as Error).message}`, { path: dest }, { cause: err });
    }
    const h = identityHasher(tag);
    let n = 0;
    if (r.storage === 0) {
      const bytes = packed();
      h.update(bytes);
      n = bytes.length;
      await fh.write(bytes);
    } else {
      const file = requireArtifactFile(root, digest);
      try {
        checkFileSize(digest, r, file);
        // at most one byte past the recorded size: enough to tell that the file grew
        for await (const chunk of fdChunks(digest, file.fd, r.size + 1)) {
          h.update(chunk);
          n += chunk.length;
          if (n > r.size) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
          await fh.write(chunk);
        }
      } finally {
        closeSync(file.fd);
      }
    }
    if (n !== r.size || h.digest() !== digest) throw corrupt(digest, "stored bytes do not match the digest");
    await fh.sync();
    await fh.close();
    fh = undefined;
    renameSync(tmp, dest);
  } catch (err) {
    if (fh !== undefined) await fh.close().catch(() => undefined);
    unlinkQuiet(tmp);
    throw err;
  }
  try {
    fsyncDir(dirname(dest)); // the rename made durable
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_IO, `cannot write ${dest}: ${(err as Error).message}`, { path: dest }, { cause: err });
  }
  return rowToInfo(r);
}

export function verifyBytes(digest: Digest, r: ArtifactRow, bytes: Uint8Array): void {
  if (bytes.length !== r.size) throw corrupt(digest, `stored size ${bytes.length} differs from recorded size ${r.size}`);
  const actual = identityHasher(storedTypeTag(digest, r)).update(bytes).digest();
  if (actual !== digest) throw corrupt(digest, `stored bytes hash to ${actual}`);
}

/** An open file of a large artifact: its descriptor and its size when opened. */
export interface ArtifactFile {
  fd: number;
  size: number;
}

/** O_NONBLOCK: opening a FIFO planted where an object file goes must not wait for a writer. */
const OPEN_OBJECT_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/**
 * Opens the file of a large artifact: undefined when there is none. A committed file only ever
 * moves from tmp/<hex>.ready to objects/, so trying objects/, then .ready, then objects/ again
 * finds it even while the writer places it; the descriptor stays valid through that rename.
 * What is found must be a regular file (a symlink is followed): a directory, device, FIFO or
 * socket there is E_STORE_CORRUPT, never read; a file that cannot be opened is E_STORE_CORRUPT
 * (E_STORE_IO when permission is denied or no descriptor is left: EMFILE, ENFILE).
 */
export function openArtifactFile(root: string, digest: Digest): ArtifactFile | undefined {
  const final = objectPath(root, digest);
  for (const p of [final, readyPath(root, digest), final]) {
    let fd: number;
    try {
      fd = openSync(p, OPEN_OBJECT_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: objects/ab is not a directory, so it holds no file
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      const why = `its file ${relative(root, p)} cannot be opened: ${(err as Error).message}`;
      // Permission, or the process's or system's open files used up: the file is not at fault.
      if (code === "EACCES" || code === "EPERM" || code === "EMFILE" || code === "ENFILE") {
        throw new CairnError(ErrorCode.STORE_IO, `artifact ${digest}: ${why}`, { digest, path: p }, { cause: err });
      }
      throw corrupt(digest, why);
    }
    let st: Stats;
    try {
      st = fstatSync(fd);
    } catch (err) {
      closeSync(fd);
      throw new CairnError(ErrorCode.STORE_IO, `artifact ${digest}: cannot inspect its file ${relative(root, p)}: ${(err as Error).message}`, { digest, path: p }, { cause: err });
    }
    if (!st.isFile()) {
      closeSync(fd);
      throw corrupt(digest, `its file ${relative(root, p)} is not a regular file (${fileKind(st)})`);
    }
    return { fd, size: st.size };
  }
  return undefined;
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a file";
}

/** E_STORE_CORRUPT when the file's size (when opened) is not the recorded size: nothing is read. */
export function checkFileSize(digest: Digest, r: ArtifactRow, file: ArtifactFile): void {
  if (file.size !== r.size) throw corrupt(digest, `stored size ${file.size} differs from recorded size ${r.size}`);
}

/**
 * The file's bytes, which must be exactly `r.size` of them: its size when opened is checked first,
 * then the recorded size is read and one byte past it probed (a file that grew since), never more.
 */
function readRecordedSize(digest: Digest, r: ArtifactRow, file: ArtifactFile): Buffer {
  checkFileSize(digest, r, file);
  const buf = Buffer.allocUnsafe(r.size);
  const read = (into: Buffer, off: number, len: number, pos: number): number => {
    try {
      return readSync(file.fd, into, off, len, pos);
    } catch (err) {
      throw readError(digest, err);
    }
  };
  for (let n = 0; n < r.size; ) {
    const got = read(buf, n, r.size - n, n);
    if (got === 0) throw corrupt(digest, `stored size ${n} differs from recorded size ${r.size}`);
    n += got;
  }
  if (read(Buffer.allocUnsafe(1), 0, 1, r.size) !== 0) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
  return buf;
}

function readError(digest: Digest, err: unknown): CairnError {
  return new CairnError(ErrorCode.STORE_IO, `artifact ${digest}: cannot read its file: ${(err as Error).message}`, { digest }, { cause: err });
}

/**
 * Reads a file descriptor from offset 0 in STREAM_CHUNK_BYTES pieces (positional reads, so it can
 * be read twice), at most `limit` bytes: callers pass one past the recorded size, so a file that
 * grew (or a device that never ends) is noticed without reading on.
 */
export async function* fdChunks(digest: Digest, fd: number, limit: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < limit) {
    const buf = Buffer.allocUnsafe(Math.min(STREAM_CHUNK_BYTES, limit - pos));
    let n: number;
    try {
      n = await new Promise<number>((res, rej) => read(fd, buf, 0, buf.length, pos, (err, bytes) => (err ? rej(err) : res(bytes))));
    } catch (err) {
      throw readError(digest, err);
    }
    if (n === 0) return;
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
}

/** Re-hashes a large artifact's open file without holding it in memory, reading at most one byte past its recorded size. */
export async function verifyFd(digest: Digest, r: ArtifactRow, file: ArtifactFile): Promise<void> {
  checkFileSize(digest, r, file);
  const h = identityHasher(storedTypeTag(digest, r));
  let n = 0;
  for await (const chunk of fdChunks(digest, file.fd, r.size + 1)) {
    h.update(chunk);
    n += chunk.length;
  }
  checkHashed(digest, r, n, h.digest());
}

/** The end of a full hash of a file: `n` bytes read (at most one past the recorded size) hashing to `actual`. */
export function checkHashed(digest: Digest, r: ArtifactRow, n: number, actual: Digest): void {
  if (n > r.size) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
  if (n !== r.size) throw corrupt(digest, `stored size ${n} differs from recorded size ${r.size}`);
  if (actual !== digest) throw corrupt(digest, `stored bytes hash to ${actual}`);
}
