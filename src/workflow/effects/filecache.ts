/**
 * A per-process cache of data-root file contents, across runs, keyed on the file's real path
 * and checked against its identity.
 *
 * The CS runtimes read their files whole on every call, and a PGS run reads and hashes every
 * RB file twice more (prior and posterior state). Most of the time nothing changed since the
 * last read, or only this process's own append did. An entry, by the file's real path (the CS
 * runtimes pass `PreparedPath.realFile`, `captureState` the `realpath` of its path: one file,
 * one entry), holds the bytes (and, once asked, the SHA-256 state) together with the file's
 * identity when read: `dev`, `ino`, `size` and the `mtime`, `ctime` and birth time in
 * nanoseconds (`BigIntStats`, `stat` with `{bigint: true}`). A lookup is trusted only when the
 * caller's fresh `stat` of that path gives the same identity; any difference (another process
 * appended, truncated, rewrote, replaced or re-created the file) falls back to a full read. The
 * runtime's own appends update the entry (`rememberAppend`) only when the file's identity
 * before the write matches the entry and its size after the write is exactly the old size plus
 * the bytes written; anything else drops it. Replacements drop it.
 *
 * Assumption (ARCHITECTURE §11.6): a change to a file gives it another identity. Appends and
 * truncations change `size`; a replacement by rename changes `ino` (the old inode is still in use
 * when the new one is allocated). A same-size rewrite in place changes `mtime`/`ctime` only if
 * the kernel's timestamp moved: Linux ≥ 6.13 (multigrain timestamps on ext4, xfs, btrfs, tmpfs)
 * gives a file changed after a `stat` a newer `ctime`. Not seen: a change by another process
 * that keeps the size and the three timestamps, i.e. a same-size rewrite in place within one
 * timestamp tick of this process's last `stat` (on filesystems with coarse timestamps only, a
 * few ms), or a delete and re-create at the same path reusing the inode number with the same
 * size and timestamps. A missed change stays missed for the rest of the process (until another
 * change alters the identity): every later lookup returns the stale bytes, and this process's
 * own appends, which update the entry, build on them (the file gets the appended line; the entry
 * holds the stale bytes plus that line, under the file's new identity).
 *
 * Bounded: files above FILE_CACHE_MAX_FILE_BYTES are not cached, and the oldest entries go
 * first beyond FILE_CACHE_MAX_ENTRIES entries or FILE_CACHE_MAX_BYTES bytes. Returned buffers
 * are shared and must not be written to (appends go past their end, never into them).
 */
import { createHash, type Hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import type { Digest } from "../../core/digest.js";

export const FILE_CACHE_MAX_FILE_BYTES = 16 * 1024 * 1024;
export const FILE_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const FILE_CACHE_MAX_ENTRIES = 256;

interface Entry {
  /** The identity of the file when read (`stampOf`). */
  stamp: string;
  /** Holds the file's bytes in `[0, size)`; room after it for appends. */
  buf: Buffer;
  size: number;
  /** SHA-256 state over `[0, size)`, created on the first `cachedDigest`. */
  hash: Hash | undefined;
  digest: Digest | undefined;
}

const entries = new Map<string, Entry>();
let totalBytes = 0;

/** The identity compared: device, inode, size and the three timestamps in nanoseconds. */
function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.birthtimeNs}`;
}

function drop(key: string): void {
  const e = entries.get(key);
  if (e === undefined) return;
  entries.delete(key);
  totalBytes -= e.buf.length;
}

function lookup(key: string, st: BigIntStats): Entry | undefined {
  if (!st.isFile()) return undefined;
  const e = entries.get(key);
  if (e === undefined) return undefined;
  if (e.stamp !== stampOf(st)) {
    drop(key);
    return undefined;
  }
  return e;
}


/** The cached bytes of the file at `path` (its real path), whose fresh stat is `st`, or undefined. */
export function cachedBytes(path: string, st: BigIntStats): Buffer | undefined {
  const e = lookup(path, st);
  return e === undefined ? undefined : e.buf.subarray(0, e.size);
}

/** The cached bytes and SHA-256 of the file at `path` (its real path), whose fresh stat is `st`, or undefined. */
export function cachedDigest(path: string, st: BigIntStats): { bytes: Buffer; digest: Digest } | undefined {
  const e = lookup(path, st);
  if (e === undefined) return undefined;
  const bytes = e.buf.subarray(0, e.size);
  if (e.digest === undefined) {
    e.hash ??= createHash("sha256").update(bytes);
    e.digest = `sha256:${e.hash.copy().digest("hex")}`;
  }
  return { bytes, digest: e.digest };
}

/** Remembers `bytes` as the content of the file at `path` (its real path), `st` being its fstat when read. */
export function remember(path: string, st: BigIntStats, bytes: Buffer, digest?: Digest): void {
  drop(path);
  if (!st.isFile() || BigInt(bytes.length) !== st.size || bytes.length > FILE_CACHE_MAX_FILE_BYTES) return;
  while (entries.size > 0 && (entries.size >= FILE_CACHE_MAX_ENTRIES || totalBytes + bytes.length > FILE_CACHE_MAX_BYTES)) {
    drop(entries.keys().next().value as string);
  }
  entries.set(path, { stamp: stampOf(st), buf: bytes, size: bytes.length, hash: undefined, digest });
  totalBytes += bytes.length;
}

/**
 * Records this process's append of `appended` to the file at `path`, whose fstat was `before`
 * just before the write and is `after` just after it. Drops the entry unless it is exact.
 */
export function rememberAppend(path: string, before: BigIntStats, appended: Uint8Array, after: BigIntStats): void {
  const e = lookup(path, before);
  if (e === undefined || after.dev !== before.dev || after.ino !== before.ino || after.size !== before.size + BigInt(appended.length)) {
    drop(path);
    return;
  }
  const size = e.size + appended.length;
  if (size > e.buf.length) {
    const grown = Buffer.allocUnsafeSlow(Math.max(size, Math.min(2 * e.buf.length, FILE_CACHE_MAX_FILE_BYTES)));
    e.buf.copy(grown, 0, 0, e.size);
    totalBytes += grown.length - e.buf.length;
    e.buf = grown;
  }
  e.buf.set(appended, e.size);
  e.hash?.update(appended);
  e.size = size;
  e.digest = undefined;
  e.stamp = stampOf(after);
  if (size > FILE_CACHE_MAX_FILE_BYTES || totalBytes > FILE_CACHE_MAX_BYTES) drop(path);
}

/** Forgets the file at `path` (it was replaced or a write failed). */
export function forget(path: string): void {
  drop(path);
}
