/**
 * On-disk layout of a Cairn store (format version 1). See ARCHITECTURE.md "On-disk formats".
 *
 *   <store>/FORMAT          JSON {"format":"cairn-store","version":1}; written once at init
 *   <store>/catalog.sqlite  SQLite catalog (WAL): artifact rows, packed small artifacts,
 *                           receipts, edges, snapshots, roots, removals
 *   <store>/writer.lock     SQLite file whose EXCLUSIVE lock marks the single writer
 *   <store>/objects/ab/cd…  large artifacts, one read-only file each, named by digest hex
 *   <store>/tmp/            in-progress large writes (`*.part`) and committed-but-not-yet-
 *                           placed ones (`<hex>.ready`), a batch run's scratch files; Cairn's
 *                           own names (`isCairnTmpName`) recovered when a writer opens
 */
import { join } from "node:path";
import { digestHex, type Digest } from "../core/digest.js";

/** The on-disk format version this build writes and reads. */
export const STORE_FORMAT_VERSION = 1;
export const STORE_FORMAT_NAME = "cairn-store";
/** Default store directory, relative to the working directory. */
export const DEFAULT_STORE_DIR = ".cairn";
/** Environment variable that overrides the default store directory. */
export const STORE_ENV_VAR = "CAIRN_STORE";

/** Artifacts up to this many bytes are packed into the catalog; larger ones get their own file. */
export const SMALL_ARTIFACT_MAX_BYTES = 64 * 1024;
/** `get()` returns a Buffer only up to this size; larger artifacts must be streamed. */
export const MAX_BUFFERED_GET_BYTES = 256 * 1024 * 1024;
/** Chunk size for streaming reads and hashing of large artifact files. */
export const STREAM_CHUNK_BYTES = 1024 * 1024;
/** Default GC grace period: artifacts younger than this are never swept. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export const FORMAT_FILE = "FORMAT";
export const CATALOG_FILE = "catalog.sqlite";
export const LOCK_FILE = "writer.lock";
export const OBJECTS_DIR = "objects";
export const TMP_DIR = "tmp";
export const PART_SUFFIX = ".part";
export const READY_SUFFIX = ".ready";

/**
 * The names Cairn itself writes in a store's `tmp/` (ARCHITECTURE §5.6), each a regular file:
 * a put's `<pid>-<16 hex>.part` (artifacts.ts), a committed artifact's `<64 hex>.ready`, and a
 * batch run's scratch files `run-<run id: 16 hex>-<8 hex>.order.sqlite` (and the `-journal` of
 * an older build's ordering index), `.leaves` and `.failures.jsonl` (batch/engine.ts), and the
 * `verify-<16 hex>-<8 hex>.order.sqlite` (+ `-journal`) of builds of 2026-11-25/26. Crash
 * recovery removes (or places) only these; anything else in `tmp/` is not the store's and is
 * left where it is (fsck reports it as `tmp_foreign`).
 */
const TMP_SCRATCH_NAMES: readonly RegExp[] = [
  /^[0-9]+-[0-9a-f]{16}\.part$/,
  /^[0-9a-f]{64}\.ready$/,
  /^run-[0-9a-f]{16}-[0-9a-f]{8}\.(?:order\.sqlite(?:-journal)?|leaves|failures\.jsonl)$/,
  // verify's scratch ordering index of builds of 2026-11-25/26 (it lives in the OS temp directory since)
  /^verify-[0-9a-f]{16}-[0-9a-f]{8}\.order\.sqlite(?:-journal)?$/,
];

/** Whether `name` (an entry of `tmp/`) is named as one of Cairn's own temp or scratch files. */
export function isCairnTmpName(name: string): boolean {
  return TMP_SCRATCH_NAMES.some((re) => re.test(name));
}

/** Final path of a large artifact's file. */
export function objectPath(root: string, digest: Digest): string {
  const hex = digestHex(digest);
  return join(root, OBJECTS_DIR, hex.slice(0, 2), hex.slice(2));
}

/** Path where a committed large artifact waits to be renamed into objects/. */
export function readyPath(root: string, digest: Digest): string {
  return join(root, TMP_DIR, `${digestHex(digest)}${READY_SUFFIX}`);
}
