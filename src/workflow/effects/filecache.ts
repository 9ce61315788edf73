/**
 * A per-process cache of data-root file contents, across runs, keyed on the file's real path
 * and checked against its identity.
 *
 * The CS runtimes read their files whole on every call, and a PGS run reads and hashes every
 * RB file twice more (prior and posterior state). Most of the time nothing changed since the
 * last read, or only this process's own append did. An entry, by the file's real path (the CS
 * runtimes and `captureState` pass `PreparedPath.realFile` (confine.ts): one file,
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
 * Files above FILE_CACHE_MAX_FILE_BYTES keep an entry without their bytes: the SHA-256 state
 * and the derived values below, so a large append-only log costs O(appended bytes) per run,
 * not O(file), while nothing else changes it.
 *
 * Derived values (`Derivation`): what a runtime computes from a file's whole bytes (the
 * append-only log's line summary, the registry's rebuilt state) is kept on the entry and
 * carried through this process's own appends by the derivation's `extend`, which sees only the
 * appended bytes; when `extend` cannot (it returns undefined) the value is dropped and
 * recomputed from the bytes on the next read. A derivation with `maxFileBytes` is not kept for
 * larger files (a parsed state can take several times the file's size in memory).
 *
 * Bounded: the oldest entries go first beyond FILE_CACHE_MAX_ENTRIES entries or
 * FILE_CACHE_MAX_BYTES bytes held. An entry holds its buffer's bytes plus the estimated size of
 * its derived values: a derivation's `retainedBytes(value, fileBytes)` (none: negligible, like
 * the log summary's three numbers; the registry state: registry.ts `REGISTRY_STATE`, from the
 * file's size and the records kept). A derived value that does not fit even after the older
 * entries went is not kept (it is recomputed from the bytes when asked again), so what the
 * cache holds stays within FILE_CACHE_MAX_BYTES up to the accuracy of the estimates.
 * Returned buffers are shared and must not be written to
 * (appends go past their end, never into them); derived values are the runtimes' own and are
 * not to be changed by callers either (`extend` may update them in place).
 */
import { createHash, type Hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import type { Digest } from "../../core/digest.js";

export const FILE_CACHE_MAX_FILE_BYTES = 16 * 1024 * 1024;
export const FILE_CACHE_MAX_BYTES = 64 * 1024 * 1024;
export const FILE_CACHE_MAX_ENTRIES = 256;

/** A value computed from a file's whole bytes and carried through appends. */
export interface Derivation<T> {
  /** The value for a file whose whole content is `bytes`. */
  of(bytes: Buffer): T;
  /** The value once `appended` was appended to a file whose value was `prev`, or undefined to recompute it. May update `prev` in place. */
  extend(prev: T, appended: Uint8Array): T | undefined;
  /** Not kept for files larger than this (default: no limit). */
  readonly maxFileBytes?: number;
  /**
   * An estimate of the memory `value` (of a file of `fileBytes` bytes) holds, counted against
   * FILE_CACHE_MAX_BYTES while the value is kept (default: 0, a value of a few numbers).
   */
  retainedBytes?(value: T, fileBytes: number): number;
}

interface Entry {
  /** The identity of the file when read (`stampOf`). */
  stamp: string;
  /** Holds the file's bytes in `[0, size)`, room after it for appends; undefined for files above FILE_CACHE_MAX_FILE_BYTES. */
  buf: Buffer | undefined;
  size: number;
  /** SHA-256 state over `[0, size)`: created on the first `cachedDigest` when the bytes are held, at once otherwise. */
  hash: Hash | undefined;
  digest: Digest | undefined;
  derived: Map<Derivation<unknown>, unknown>;
  /** What `totalBytes` counts for this entry (`weigh`): the buffer's length and the derived values' estimates. */
  held: number;
}

const entries = new Map<string, Entry>();
let totalBytes = 0;

/** What the cache holds now (bytes as counted against FILE_CACHE_MAX_BYTES, entries), for tests and diagnostics. */
export function fileCacheUsage(): { bytes: number; entries: number } {
  return { bytes: totalBytes, entries: entries.size };
}

function derivedBytes(d: Derivation<unknown>, value: unknown, fileBytes: number): number {
  return d.retainedBytes === undefined ? 0 : Math.max(0, Math.ceil(d.retainedBytes(value, fileBytes)));
}

/** Recounts `e` (held in `entries`) after its buffer, size or derived values changed. */
function reweigh(e: Entry): void {
  let n = e.buf?.length ?? 0;
  for (const [d, v] of e.derived) n += derivedBytes(d, v, e.size);
  totalBytes += n - e.held;
  e.held = n;
}

/** Drops the oldest entries other than `keep` while more than FILE_CACHE_MAX_BYTES is held. */
function evictFor(keep: string): void {
  for (const key of entries.keys()) {
    if (totalBytes <= FILE_CACHE_MAX_BYTES) return;
    if (key !== keep) drop(key);
  }
}

/** The identity compared: device, inode, size and the three timestamps in nanoseconds. */
function stampOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.birthtimeNs}`;
}

function drop(key: string): void {
  const e = entries.get(key);
  if (e === undefined) return;
  entries.delete(key);
  totalBytes -= e.held;
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
  return e?.buf?.subarray(0, e.size);
}

/**
 * The cached SHA-256 of the file at `path` (its real path), whose fresh stat is `st`, with its
 * bytes when they are held (undefined for a file above FILE_CACHE_MAX_FILE_BYTES), or undefined.
 */
export function cachedDigest(path: string, st: BigIntStats): { bytes: Buffer | undefined; digest: Digest } | undefined {
  const e = lookup(path, st);
  if (e === undefined) return undefined;
  const bytes = e.buf?.subarray(0, e.size);
  if (e.digest === undefined) {
    e.hash ??= createHash("sha256").update(bytes as Buffer); // an entry without bytes always has its hash
    e.digest = `sha256:${e.hash.copy().digest("hex")}`;
  }
  return { bytes, digest: e.digest };
}

/** The value of `d` for the file at `path` (its real path), whose fresh stat is `st`, computed from the held bytes if needed; undefined when not cached. */
export function cachedDerived<T>(path: string, st: BigIntStats, d: Derivation<T>): T | undefined {
  const e = lookup(path, st);
  if (e === undefined) return undefined;
  if (e.derived.has(d as Derivation<unknown>)) return e.derived.get(d as Derivation<unknown>) as T;
  if (e.buf === undefined) return undefined;
  const v = d.of(e.buf.subarray(0, e.size));
  if (d.maxFileBytes === undefined || e.size <= d.maxFileBytes) keepDerived(path, e, d as Derivation<unknown>, v);
  return v;
}

/** Keeps `v` on `e` (the entry of `path`) when it fits the bound, older entries going first. */
function keepDerived(path: string, e: Entry, d: Derivation<unknown>, v: unknown): void {
  e.derived.set(d, v);
  reweigh(e);
  evictFor(path);
  if (totalBytes > FILE_CACHE_MAX_BYTES) {
    e.derived.delete(d); // too large for the cache even alone: recomputed when asked again
    reweigh(e);
  }
}

/**
 * Remembers `bytes` as the content of the file at `path` (its real path), `st` being its fstat
 * when read, with the values of `derive` (computed here when the bytes are not kept).
 */
export function remember(path: string, st: BigIntStats, bytes: Buffer, digest?: Digest, derive: readonly Derivation<unknown>[] = []): void {
  // The same identity as the entry being replaced (a full read of a file whose bytes were not
  // kept): the same content, so its hash state and derived values still hold.
  const old = entries.get(path);
  const same = old !== undefined && old.stamp === stampOf(st) && old.size === bytes.length ? old : undefined;
  drop(path);
  if (!st.isFile() || BigInt(bytes.length) !== st.size) return;
  const keep = bytes.length <= FILE_CACHE_MAX_FILE_BYTES;
  const size = keep ? bytes.length : 0;
  while (entries.size > 0 && (entries.size >= FILE_CACHE_MAX_ENTRIES || totalBytes + size > FILE_CACHE_MAX_BYTES)) {
    drop(entries.keys().next().value as string);
  }
  const derived = new Map<Derivation<unknown>, unknown>();
  const e: Entry = {
    stamp: stampOf(st),
    buf: keep ? bytes : undefined,
    size: bytes.length,
    hash: same?.hash ?? (keep ? undefined : createHash("sha256").update(bytes)),
    digest: digest ?? same?.digest,
    derived,
    held: 0,
  };
  entries.set(path, e);
  reweigh(e);
  for (const [d, v] of same?.derived ?? []) keepDerived(path, e, d, v);
  if (!keep) for (const d of derive) if (!derived.has(d) && (d.maxFileBytes === undefined || bytes.length <= d.maxFileBytes)) keepDerived(path, e, d, d.of(bytes));
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
  if (e.buf !== undefined && size > FILE_CACHE_MAX_FILE_BYTES) {
    // Grown past the limit: keep the SHA-256 state and the derived values, not the bytes.
    e.hash ??= createHash("sha256").update(e.buf.subarray(0, e.size));
    e.buf = undefined;
  }
  if (e.buf !== undefined) {
    if (size > e.buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(size, Math.min(2 * e.buf.length, FILE_CACHE_MAX_FILE_BYTES)));
      e.buf.copy(grown, 0, 0, e.size);
      e.buf = grown;
    }
    e.buf.set(appended, e.size);
  }
  e.hash?.update(appended);
  for (const [d, v] of e.derived) {
    const next = d.maxFileBytes !== undefined && size > d.maxFileBytes ? undefined : d.extend(v, appended);
    if (next === undefined) e.derived.delete(d);
    else e.derived.set(d, next);
  }
  e.size = size;
  e.digest = undefined;
  e.stamp = stampOf(after);
  reweigh(e);
  evictFor(path);
  if (totalBytes > FILE_CACHE_MAX_BYTES) drop(path);
}

/** Forgets the file at `path` (it was replaced or a write failed). */
export function forget(path: string): void {
  drop(path);
}
