/**
 * The catalog side of an artifact: its public shape (`ArtifactInfo`, the put, read and list
 * options), its catalog row (`ArtifactRow`) and how a row becomes an `ArtifactInfo`, the checks of
 * the options (media type, `asOf`), and the E_NOT_FOUND / E_STORE_CORRUPT errors of artifacts.
 */
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { describeStored, storedDigest } from "./catalog.js";
import { TYPE_TAG_MAX } from "./identity.js";

export const DEFAULT_MEDIA_TYPE = "application/octet-stream";
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;\s*[^\r\n]{1,200})?$/;

export type ArtifactState = "present" | "swept";
export type ArtifactStorage = "packed" | "file";

export interface ArtifactInfo {
  digest: Digest;
  size: number;
  mediaType: string;
  /** The 32-bit type tag; absent for untyped artifacts. */
  typeTag?: number;
  storage: ArtifactStorage;
  /** `swept` = the bytes were collected by gc; the record (and its provenance) remains. */
  state: ArtifactState;
  /** Logseq of the artifact's first put. */
  logseq: number;
}

export interface PutOptions {
  mediaType?: string;
  typeTag?: number;
}

export interface PutResult extends ArtifactInfo {
  /** False when the store already had these bytes (puts are idempotent). */
  created: boolean;
}

export interface ReadOptions {
  /** Read as of this logseq (a snapshot's pinned value). Default: the head. */
  asOf?: number;
}

export interface ListOptions extends ReadOptions {
  mediaType?: string;
  typeTag?: number;
  /** Only artifacts with logseq greater than this (for paging). */
  afterLogseq?: number;
  limit?: number;
}

export interface ArtifactRow {
  logseq: number;
  digest: Buffer;
  size: number;
  media_type: string;
  type_tag: number | null;
  storage: 0 | 1;
  state: 0 | 1 | 2;
  deleted: 0 | 1;
  events: number;
  created_at: number;
}

/**
 * What is wrong with the values of an artifact row as read from the catalog, or undefined when
 * they are the types Cairn writes: storage 0|1, state 0|1|2, deleted 0|1, size and events
 * non-negative integers, created_at a finite number, media_type text and, when `bytes` was read for a
 * present packed artifact, a BLOB (or NULL, reported where the bytes are used: "missing"). A
 * tampered or damaged row (bytes changed to TEXT, a size of 'abc') is refused where it is read
 * (`checkRow`; fsck reports it), so no reader meets a string where it expects a Buffer or a NaN
 * size. A few type checks per row: no query. The type tag is checked by `storedTypeTag`, the
 * digest by `storedDigest`.
 */
export function rowFault(r: ArtifactRow & { bytes?: unknown }): string | undefined {
  const v = r as unknown as Record<keyof ArtifactRow | "bytes", unknown>;
  if (v.storage !== 0 && v.storage !== 1) return `its recorded storage ${describeStored(v.storage)} is not 0 or 1`;
  if (v.state !== 0 && v.state !== 1 && v.state !== 2) return `its recorded state ${describeStored(v.state)} is not 0, 1 or 2`;
  if (!isCount(v.size)) return `its recorded size ${describeStored(v.size)} is not a non-negative integer`;
  if (typeof v.media_type !== "string") return `its recorded media type ${describeStored(v.media_type)} is not text`;
  if (v.deleted !== 0 && v.deleted !== 1) return `its recorded deleted flag ${describeStored(v.deleted)} is not 0 or 1`;
  if (!isCount(v.events)) return `its recorded event count ${describeStored(v.events)} is not a non-negative integer`;
  // A number, not necessarily an integer: a caller's `clock` (openStore) may give fractional ms.
  if (typeof v.created_at !== "number" || !Number.isFinite(v.created_at)) return `its recorded creation time ${describeStored(v.created_at)} is not a number`;
  if (v.storage === 0 && v.state === 0 && v.bytes !== undefined && v.bytes !== null && !Buffer.isBuffer(v.bytes)) {
    return `its packed bytes are ${sqlType(v.bytes)} in the catalog, not a BLOB`;
  }
  return undefined;
}

/** `r`, read from the catalog; E_STORE_CORRUPT "artifact … is corrupt: …" when `rowFault` finds something wrong. */
export function checkRow<R extends ArtifactRow & { bytes?: unknown }>(r: R): R & { bytes?: Buffer | null } {
  const why = rowFault(r);
  if (why !== undefined) throw corrupt(storedDigest(r.digest, `the artifact row at logseq ${r.logseq}`), why);
  return r as R & { bytes?: Buffer | null };
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** The SQLite storage class better-sqlite3 read `v` from, for a message. */
function sqlType(v: unknown): string {
  if (typeof v === "string") return "TEXT";
  if (typeof v === "bigint" || Number.isInteger(v)) return "an INTEGER";
  if (typeof v === "number") return "a REAL";
  return typeof v;
}

/** Artifacts read per catalog query by `list` (at most this many rows are held at once). */
export const LIST_PAGE = 1000;

export const ROW_COLUMNS = "logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at";

export function checkMediaType(mt: string | undefined): string {
  if (mt === undefined) return DEFAULT_MEDIA_TYPE;
  if (!MEDIA_TYPE_RE.test(mt)) {
    throw new CairnError(ErrorCode.USAGE, `invalid media type ${JSON.stringify(mt)}: expected type/subtype`, { mediaType: mt });
  }
  return mt;
}

export function rowToInfo(r: ArtifactRow): ArtifactInfo {
  const digest = storedDigest(r.digest, `the artifact row at logseq ${r.logseq}`);
  const info: ArtifactInfo = {
    digest,
    size: r.size,
    mediaType: r.media_type,
    storage: r.storage === 0 ? "packed" : "file",
    state: r.state === 0 ? "present" : "swept",
    logseq: r.logseq,
  };
  const tag = storedTypeTag(digest, r);
  if (tag !== undefined) info.typeTag = tag;
  return info;
}

/**
 * A row's type tag (undefined for untyped); E_STORE_CORRUPT when the catalog holds something
 * that is not a 32-bit unsigned integer (it would otherwise reach the identity frame).
 */
export function storedTypeTag(digest: string, r: ArtifactRow): number | undefined {
  const t = r.type_tag as unknown;
  if (t === null) return undefined;
  if (typeof t === "number" && Number.isInteger(t) && t >= 0 && t <= TYPE_TAG_MAX) return t;
  throw corrupt(digest, `its recorded type tag ${shownOption(t)} is not a 32-bit unsigned integer`);
}

/** An `asOf` read option: undefined (the head) or a non-negative integer logseq, else E_USAGE (as `store.at`). */
export function checkAsOf(asOf: unknown): number | undefined {
  return checkCount(asOf, "as-of logseq", {
    // JSON-safe: a non-finite number or a bigint as text, an object (maybe circular) as shown
    asOf: (typeof asOf === "number" && !Number.isFinite(asOf)) || typeof asOf === "bigint" ? String(asOf) : asOf !== null && typeof asOf === "object" ? shownOption(asOf) : asOf,
  });
}

/** `v` when undefined or a non-negative integer, else E_USAGE "<what> must be a non-negative integer, got …" with `details`. */
export function checkCount(v: unknown, what: string, details: Record<string, unknown>): number | undefined {
  if (v === undefined || (typeof v === "number" && Number.isInteger(v) && v >= 0)) return v;
  throw new CairnError(ErrorCode.USAGE, `${what} must be a non-negative integer, got ${shownOption(v)}`, details);
}

/** An option value in a message: numbers and bigints as written, anything else as JSON or its type; never throws. */
export function shownOption(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

export function notFound(digest: string, why: string): CairnError {
  return new CairnError(ErrorCode.NOT_FOUND, `artifact ${digest} ${why}`, { digest });
}

export function corrupt(digest: string, why: string): CairnError {
  return new CairnError(ErrorCode.STORE_CORRUPT, `artifact ${digest} is corrupt: ${why}`, { digest });
}
