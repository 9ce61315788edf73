/**
 * File I/O of the CS runtimes, on paths already checked by confine.ts.
 *
 *  - Every open uses O_NOFOLLOW: a final component swapped for a symlink is refused (ELOOP).
 *  - Appends (JSON-lines files): one `write` of the whole line(s) in O_APPEND mode, then
 *    `fsync`; the call reports success only after the fsync. If the write or fsync fails the
 *    file is truncated back to its previous size (best effort) and the error propagates. A
 *    crash can still leave a prefix of the line without its `\n` — a *torn tail*; see jsonl.ts
 *    for how readers detect and refuse it.
 *  - Replacements (the mutable-JSON document): temp file in the same directory
 *    (`.<name>.<pid>-<pid space>-<16 hex>.tmp`, the naming rule of store/temp-files.ts, created
 *    O_EXCL), write, fsync, rename over the target, fsync the directory. A crash leaves either
 *    the old or the new document; a leftover temp file is never read (readers open only the
 *    target name), and is removed by `sweepDeadTemps` once its writer is provably gone (below).
 *  - Reads refuse non-regular files and files above MAX_DATA_FILE_BYTES.
 *  - Every fsync above (file, directory, created parent) is skipped when the caller passes
 *    `sync = false` — EffectDurability "no-fsync", an explicit opt-in of the run (types.ts):
 *    the same writes in the same order, durable against a crash of the process, not of the OS.
 */
import {
  type BigIntStats,
  closeSync,
  constants as FS,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
} from "node:fs";
import { posix } from "node:path";
import { ErrorCode } from "../../core/errors.js";
import { fsyncDir, writeAllSync } from "../../store/fsutil.js";
import { legacyTempWriter, MAX_WRITER_PID, sweepDeadWriterTemps, taggedTempWriter, tempFileName, type TempWriter } from "../../store/temp-files.js";
import { EffectErrorReason, effectError, ioError } from "./errors.js";
import type { PreparedPath } from "./confine.js";
import { cachedBytes, cachedDerived, cachedDigest, forget, remember, rememberAppend, type Derivation } from "./filecache.js";
import { sha256, type Digest } from "../../core/digest.js";

/** Largest data file (registry, log or mutable document) the runtimes read into memory. */
export const MAX_DATA_FILE_BYTES = 256 * 1024 * 1024;
/** How many temp names an atomic write tries before giving up. */
export const MAX_TEMP_NAME_ATTEMPTS = 16;
/** Mode of files the runtimes create. */
export const DATA_FILE_MODE = 0o644;

/** Largest pid a temp file's name can carry (`pid_t` is a signed 32-bit integer); a larger number is not this module's name. */
export const MAX_TEMP_PID = MAX_WRITER_PID;

/** The prefix of `replaceAtomic`'s temp files for the file named `base` (temp-files.ts `tempFileName`). */
function tempPrefix(base: string): string {
  return `.${base}.`;
}

/** `<pid>.<n>.tmp` as builds before the shared rule (ARCHITECTURE §5.16) wrote it: decimal, no sign, no leading zero. */
const LEGACY_SUFFIX_RE = /^([1-9][0-9]*)\.(0|[1-9][0-9]*)\.tmp$/;

/**
 * The writer of `name` when it is exactly a temp file name `replaceAtomic` gives for the file
 * named `base`: `.<base>.<pid>-<pid space>-<16 hex>.tmp` (the shared rule, temp-files.ts), or the
 * legacy `.<base>.<pid>.<n>.tmp` of older builds (space null: judged by the pid alone, as this
 * sweep always did). Else undefined.
 */
function docTempWriter(name: string, base: string): TempWriter | undefined {
  const prefix = tempPrefix(base);
  const tagged = taggedTempWriter(name, prefix);
  if (tagged !== undefined || !name.startsWith(prefix)) return tagged;
  const m = LEGACY_SUFFIX_RE.exec(name.slice(prefix.length));
  return m === null ? undefined : legacyTempWriter(m[1] as string);
}

/** The writer's pid when `name` is exactly a temp file name `replaceAtomic` gives (or gave) for the file named `base` (`docTempWriter`), else undefined. */
export function tempFileWriter(name: string, base: string): number | undefined {
  return docTempWriter(name, base)?.pid;
}

/**
 * Removes the temp files `replaceAtomic` left for the file `p` in its directory whose writer is
 * provably gone: a replacement killed between creating its temp file and the rename (SIGKILL, a
 * crash). Readers never open such a file and the state capture never names one (it reads only
 * the files the CS policies name), so removing it changes no result, trace or state digest. The
 * rule is the shared one (store/temp-files.ts `writerIsGone`, ARCHITECTURE §5.16): a tagged name
 * of this process's pid space whose pid no process has. Left alone: any name that is not exactly
 * this document's scheme (another file's temp, a differently spelled pid or counter), anything
 * but a regular file, the temp of a process that runs — this one included, and any process that
 * has the writer's pid now (a reused pid keeps the file until that process ends) — and a temp of
 * another pid space (a writer in another container or on another host sharing the data root:
 * its pid says nothing here). A legacy pid-only name keeps the old rule (its pid alone). Best
 * effort: a directory that cannot be listed or a file that cannot be removed is left as it is.
 * Returns the names removed.
 */
export function sweepDeadTemps(p: PreparedPath): string[] {
  const { dir, file } = requireParent(p);
  const base = posix.basename(file);
  return sweepDeadWriterTemps(dir, (name) => docTempWriter(name, base));
}

function requireParent(p: PreparedPath): { dir: string; file: string } {
  if (p.realParent === undefined || p.realFile === undefined) {
    throw effectError(ErrorCode.INTERNAL, EffectErrorReason.IO, `parent directory of ${JSON.stringify(p.rel)} was not prepared`, { path: p.rel });
  }
  return { dir: p.realParent, file: p.realFile };
}



/**
 * A data file above MAX_DATA_FILE_BYTES is refused whether or not the file cache follows it
 * (a cached summary must not let a file grow past the limit a fresh process would refuse).
 */
function refuseOversized(p: PreparedPath, bytes: bigint): void {
  if (bytes <= BigInt(MAX_DATA_FILE_BYTES)) return;
  const size = Number(bytes);
  throw effectError(ErrorCode.LIMIT_EXCEEDED, EffectErrorReason.IO, `${JSON.stringify(p.rel)} is ${size} bytes, above the ${MAX_DATA_FILE_BYTES}-byte limit`, { path: p.rel, size });
}

/**
 * Reads the whole file, or `undefined` when it does not exist. Throws CairnError (I/O) otherwise.
 * The values of `derive` are kept with the file's cache entry (filecache.ts).
 */
export function readData(p: PreparedPath, derive: readonly Derivation<unknown>[] = []): Buffer | undefined {
  if (p.realFile === undefined || p.stat === undefined) return undefined;
  // The final component was just lstat'ed (never a symlink): same identity, same bytes (filecache.ts).
  const hit = cachedBytes(p.realFile, p.stat);
  if (hit !== undefined) return hit;
  let fd: number;
  try {
    fd = openSync(p.realFile, FS.O_RDONLY | FS.O_NOFOLLOW);
  } catch (err) {
    throw ioError("open", p.rel, err);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw effectError(ErrorCode.STORE_IO, EffectErrorReason.IO, `cannot read ${JSON.stringify(p.rel)}: not a regular file`, { path: p.rel });
    refuseOversized(p, st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_DATA_FILE_BYTES) throw effectError(ErrorCode.LIMIT_EXCEEDED, EffectErrorReason.IO, `${JSON.stringify(p.rel)} grew above ${MAX_DATA_FILE_BYTES} bytes while being read`, { path: p.rel });
      chunks.push(chunk.subarray(0, n));
    }
    const bytes = Buffer.concat(chunks, total);
    remember(p.realFile, st, bytes, undefined, derive);
    return bytes;
  } catch (err) {
    throw ioError("read", p.rel, err);
  } finally {
    closeSync(fd);
  }
}

/**
 * The value of `d` for the file, and the bytes when they had to be read (undefined: the value
 * came from the file cache, whose entry for this identity also has the digest). Undefined when
 * the file does not exist.
 */
function derive<T>(p: PreparedPath, d: Derivation<T>): { value: T; bytes: Buffer | undefined; realFile: string; stat: BigIntStats } | undefined {
  const { realFile, stat } = p;
  if (realFile === undefined || stat === undefined) return undefined;
  refuseOversized(p, stat.size);
  const hit = cachedDerived(realFile, stat, d);
  if (hit !== undefined) return { value: hit, bytes: undefined, realFile, stat };
  const bytes = readData(p, [d as Derivation<unknown>]);
  if (bytes === undefined) return undefined;
  return { value: cachedDerived(realFile, stat, d) ?? d.of(bytes), bytes, realFile, stat };
}

/**
 * The value of `d` for the file: from the cache while the file is unchanged (or changed only by
 * this process's appends), else from a full read. `undefined` when the file does not exist.
 */
export function readDerived<T>(p: PreparedPath, d: Derivation<T>): T | undefined {
  return derive(p, d)?.value;
}

/** `readDerived` with the SHA-256 and size of the content the value was derived from. */
export function readDerivedContent<T>(p: PreparedPath, d: Derivation<T>): { value: T; digest: Digest; size: number } | undefined {
  const r = derive(p, d);
  if (r === undefined) return undefined;
  if (r.bytes !== undefined) return { value: r.value, digest: dataDigest(p, r.bytes), size: r.bytes.length };
  // The value came from the entry of this identity, which holds the bytes or the hash state.
  const hit = cachedDigest(r.realFile, r.stat);
  if (hit === undefined) throw effectError(ErrorCode.INTERNAL, EffectErrorReason.IO, `file cache entry of ${JSON.stringify(p.rel)} lost its digest`, { path: p.rel });
  return { value: r.value, digest: hit.digest, size: Number(r.stat.size) };
}

/** The SHA-256 of the file's content `bytes` (as read through `p`): the cache's incremental digest when it has one. */
export function dataDigest(p: PreparedPath, bytes: Buffer): Digest {
  const hit = p.realFile === undefined || p.stat === undefined ? undefined : cachedDigest(p.realFile, p.stat);
  return hit !== undefined && (hit.bytes === undefined ? BigInt(bytes.length) === p.stat?.size : hit.bytes.length === bytes.length) ? hit.digest : sha256(bytes);
}

/** Creates the file empty if it does not exist (durably unless `sync` is false). Returns true when it was created. */
export function createEmptyIfAbsent(p: PreparedPath, sync = true): boolean {
  const { dir, file } = requireParent(p);
  if (p.stat !== undefined) return false;
  try {
    closeSync(openSync(file, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, DATA_FILE_MODE));
    if (sync) fsyncDir(dir);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "EEXIST") return false;
    throw ioError("create", p.rel, err);
  }
}

/**
 * Appends `bytes` durably (write + fsync; truncate back on failure). Returns true if the file was
 * created. `sync = false` skips the fsyncs (EffectDurability "no-fsync"): still one O_APPEND write.
 */
export function appendDurable(p: PreparedPath, bytes: Uint8Array, sync = true): boolean {
  const { dir, file } = requireParent(p);
  let fd: number;
  try {
    fd = openSync(file, FS.O_WRONLY | FS.O_APPEND | FS.O_CREAT | FS.O_NOFOLLOW, DATA_FILE_MODE);
  } catch (err) {
    throw ioError("open for append", p.rel, err);
  }
  let before: BigIntStats | undefined;
  try {
    before = fstatSync(fd, { bigint: true });
    writeAllSync(fd, bytes);
    if (sync) fsyncSync(fd);
  } catch (err) {
    forget(file);
    try {
      ftruncateSync(fd, Number(before?.size ?? 0n));
      if (sync) fsyncSync(fd);
    } catch {
      // best effort: readers detect a torn tail (jsonl.ts)
    }
    closeSync(fd);
    throw ioError("append to", p.rel, err);
  }
  try {
    rememberAppend(file, before, bytes, fstatSync(fd, { bigint: true })); // the cached content follows this process's own append
  } catch {
    forget(file);
  } finally {
    closeSync(fd);
  }
  const created = p.stat === undefined;
  if (created && sync) {
    try {
      fsyncDir(dir);
    } catch (err) {
      throw ioError("sync the directory of", p.rel, err);
    }
  }
  return created;
}

/**
 * Replaces the file atomically with `bytes` (temp + fsync + rename + directory fsync).
 * `sync = false` skips both fsyncs (EffectDurability "no-fsync"): still temp + rename.
 */
export function replaceAtomic(p: PreparedPath, bytes: Uint8Array, sync = true): void {
  const { dir, file } = requireParent(p);
  const base = posix.basename(file);
  let tmp = "";
  let fd = -1;
  for (let attempt = 0; fd < 0; attempt++) {
    tmp = posix.join(dir, tempFileName(tempPrefix(base)));
    try {
      fd = openSync(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, DATA_FILE_MODE);
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST" || attempt + 1 >= MAX_TEMP_NAME_ATTEMPTS) throw ioError("create a temp file for", p.rel, err);
    }
  }
  try {
    writeAllSync(fd, bytes);
    if (sync) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, file);
    forget(file);
    if (sync) fsyncDir(dir);
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    throw ioError("replace", p.rel, err);
  }
}
