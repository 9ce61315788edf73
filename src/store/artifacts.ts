/**
 * ASL artifacts: immutable bytes addressed by digest. Small ones are packed into the
 * catalog's `artifacts.bytes` column; large ones get their own read-only file. Every read
 * re-hashes the bytes and refuses a mismatch with E_STORE_CORRUPT before returning anything.
 *
 * Large-write protocol (crash-safe at every step; see ARCHITECTURE.md):
 *   1. stream into tmp/<random>.part while hashing; fsync; close
 *   2. in the catalog transaction: rename .part → tmp/<hex>.ready, insert the row, commit
 *   3. after commit: rename .ready → objects/ab/<rest>, fsync both directories (a fan-out
 *      directory objects/ab/ made now is fsynced in objects/ first)
 * A writer opening the store deletes *.part files and .ready files without a row, and
 * finishes step 3 for .ready files that have one. Readers fall back to the .ready path.
 * Removals of swept files (gc, and recovery finishing an interrupted gc) are fsynced per
 * directory before their rows are marked swept.
 */
import {
  closeSync, fsyncSync, openSync, read, readSync, renameSync, rmSync, fstatSync,
  unlinkSync, writeSync, chmodSync, readdirSync, existsSync, constants as fsConstants, type Stats,
} from "node:fs";
import { open as openAsync, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { CairnError, ErrorCode, osErrorText } from "../core/errors.js";
import { digestToBytes, parseDigest, type Digest } from "../core/digest.js";
import { isStoredDigest, storedDigest, type Catalog } from "./catalog.js";
import { checkTypeTag, checkUntypedPrefix, identityHasher, TYPE_TAG_MAX, TYPED_FRAME_MAGIC } from "./identity.js";
import {
  MAX_BUFFERED_GET_BYTES, OBJECTS_DIR, PART_SUFFIX, READY_SUFFIX, SMALL_ARTIFACT_MAX_BYTES, STREAM_CHUNK_BYTES,
  FORMAT_FILE, TMP_DIR, objectPath, readyPath,
} from "./layout.js";
import { ensureDirDurable, fsyncDir, isNotFound } from "./fsutil.js";
import { legacyTempWriter, sweepDeadWriterTemps, taggedTempWriter, tempFileName, type TempWriter } from "./temp-files.js";
import type { Clock } from "../core/clock.js";

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

/** Artifacts read per catalog query by `list` (at most this many rows are held at once). */
export const LIST_PAGE = 1000;

const ROW_COLUMNS = "logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at";

export interface StoreContext {
  root: string;
  catalog: Catalog;
  clock: Clock;
  /**
   * When the store handle opened (its gc writer session, gc.ts `WriterSession.startTime`): a put
   * that finds its bytes already present, recorded before then, renews the artifact's
   * `created_at`, so that gc (grace and writer session) sees the put (`commit`).
   */
  sessionStartTime?: number;
}

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
function checkCount(v: unknown, what: string, details: Record<string, unknown>): number | undefined {
  if (v === undefined || (typeof v === "number" && Number.isInteger(v) && v >= 0)) return v;
  throw new CairnError(ErrorCode.USAGE, `${what} must be a non-negative integer, got ${shownOption(v)}`, details);
}

/** An option value in a message: numbers and bigints as written, anything else as JSON or its type; never throws. */
function shownOption(v: unknown): string {
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
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
function isChunkSource(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  const o = v as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  return typeof o[Symbol.asyncIterator] === "function" || typeof o[Symbol.iterator] === "function";
}

/** The artifact half of the store. */
export class Artifacts {
  constructor(private readonly ctx: StoreContext) {}

  private get cat(): Catalog {
    return this.ctx.catalog;
  }

  row(digest: Digest, withBytes = false): (ArtifactRow & { bytes?: Buffer | null }) | undefined {
    const sql = withBytes ? `SELECT ${ROW_COLUMNS}, bytes FROM artifacts WHERE digest = ?` : `SELECT ${ROW_COLUMNS} FROM artifacts WHERE digest = ?`;
    return this.cat.stmt(sql).get(digestToBytes(digest)) as ArtifactRow | undefined;
  }

  /** True when the digest is recorded at all (any state) — used for referential integrity. */
  known(digest: Digest): boolean {
    return this.cat.stmt("SELECT 1 FROM artifacts WHERE digest = ?").get(digestToBytes(digest)) !== undefined;
  }

  /** The logseq of the artifact's first put, if it is recorded at all (any state). */
  firstLogseq(digest: Digest): number | undefined {
    return (this.cat.stmt("SELECT logseq FROM artifacts WHERE digest = ?").get(digestToBytes(digest)) as { logseq: number } | undefined)?.logseq;
  }

  /** Whether the artifact is tombstoned as of `asOf` (undefined = head). */
  private tombstoned(r: ArtifactRow, asOf: number | undefined): boolean {
    if (asOf === undefined) return r.deleted === 1;
    if (r.events === 0) return false;
    const ev = this.cat
      .stmt("SELECT kind FROM artifact_events WHERE digest = ? AND logseq <= ? ORDER BY logseq DESC LIMIT 1")
      .get(r.digest, asOf) as { kind: number } | undefined;
    return ev?.kind === 1;
  }

  /** The row if the artifact is visible as of `asOf`, else E_NOT_FOUND explaining why. */
  visibleRow(digest: Digest, asOf?: number, withBytes = false): ArtifactRow & { bytes?: Buffer | null } {
    parseDigest(digest, "artifact digest");
    checkAsOf(asOf);
    const r = this.row(digest, withBytes);
    if (r === undefined) throw notFound(digest, "not found");
    if (asOf !== undefined && r.logseq > asOf) throw notFound(digest, `not found as of logseq ${asOf}`);
    if (this.tombstoned(r, asOf)) throw notFound(digest, "not found (deleted: tombstoned)");
    return r;
  }

  isVisible(digest: Digest, asOf?: number): boolean {
    checkAsOf(asOf);
    const r = this.row(digest);
    return r !== undefined && (asOf === undefined || r.logseq <= asOf) && !this.tombstoned(r, asOf);
  }

  stat(digest: Digest, opts: ReadOptions = {}): ArtifactInfo {
    return rowToInfo(this.visibleRow(digest, opts.asOf));
  }

  private presentRow(digest: Digest, asOf?: number, withBytes = false): ArtifactRow & { bytes?: Buffer | null } {
    const r = this.visibleRow(digest, asOf, withBytes);
    if (r.state !== 0) throw notFound(digest, "not found (its bytes were collected by gc)");
    return r;
  }

  // ---------------------------------------------------------------- writes

  /** Stores bytes held in memory. Synchronous; may be called inside `store.transaction`. */
  putBytes(input: Uint8Array, opts: PutOptions = {}): PutResult {
    const bytes = byteView(input);
    const tag = checkTypeTag(opts.typeTag);
    const mediaType = checkMediaType(opts.mediaType);
    checkUntypedPrefix(bytes, tag);
    const digest = identityHasher(tag).update(bytes).digest();
    // Small bytes, or bytes already stored (present): no temp file. The writer lock keeps the
    // row as it is until the commit, which returns the existing artifact without using `bytes`.
    if (bytes.length <= SMALL_ARTIFACT_MAX_BYTES || this.row(digest)?.state === 0) {
      return this.commit(digest, bytes.length, mediaType, tag, { bytes });
    }
    const part = this.newPartPath();
    writePartSync(part, bytes);
    return this.commit(digest, bytes.length, mediaType, tag, { part });
  }

  /**
   * Stores a stream. Memory stays bounded: up to SMALL_ARTIFACT_MAX_BYTES is buffered; past
   * that the bytes go to a temp file as they arrive (awaiting each write = backpressure).
   */
  async put(source: AsyncIterable<Uint8Array | string> | Uint8Array | string, opts: PutOptions = {}): Promise<PutResult> {
    if (typeof source === "string") return this.putBytes(Buffer.from(source), opts);
    if (ArrayBuffer.isView(source)) return this.putBytes(byteView(source, "put"), opts);
    if (!isChunkSource(source)) {
      throw new CairnError(ErrorCode.USAGE, `put takes a string, a Uint8Array or an (async) iterable of chunks, got ${source === null ? "null" : typeof source}`);
    }
    const tag = checkTypeTag(opts.typeTag);
    const mediaType = checkMediaType(opts.mediaType);
    const hasher = identityHasher(tag);
    const buffered: Buffer[] = [];
    let size = 0;
    let headChecked = false;
    let part: string | undefined;
    let fh: FileHandle | undefined;
    try {
      for await (const raw of source) {
        const view = typeof raw === "string" ? raw : byteView(raw, "put (a chunk)");
        const chunk = typeof view === "string" ? Buffer.from(view) : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
        if (chunk.length === 0) continue;
        hasher.update(chunk);
        size += chunk.length;
        if (fh === undefined) {
          buffered.push(Buffer.from(chunk)); // copy: the source may reuse its buffer
          if (!headChecked && size >= TYPED_FRAME_MAGIC.length) {
            checkUntypedPrefix(Buffer.concat(buffered), tag);
            headChecked = true;
          }
          if (size > SMALL_ARTIFACT_MAX_BYTES) {
            const path = this.newPartPath();
            fh = await onPart(path, () => openAsync(path, "wx", 0o644));
            part = path;
            for (const b of buffered) await onPart(path, () => (fh as FileHandle).write(b));
            buffered.length = 0;
          }
        } else {
          await onPart(part as string, () => (fh as FileHandle).write(chunk));
        }
      }
      if (fh === undefined) {
        const bytes = Buffer.concat(buffered);
        if (!headChecked) checkUntypedPrefix(bytes, tag);
        return this.commit(hasher.digest(), size, mediaType, tag, { bytes });
      }
      const done = fh;
      await onPart(part as string, () => done.sync());
      fh = undefined;
      await onPart(part as string, () => done.close());
      const p = part as string;
      part = undefined; // commit owns it now
      return this.commit(hasher.digest(), size, mediaType, tag, { part: p });
    } finally {
      if (fh !== undefined) await fh.close().catch(() => undefined);
      if (part !== undefined) dropTemp(part);
    }
  }

  private newPartPath(): string {
    const dir = join(this.ctx.root, TMP_DIR);
    return join(dir, `${process.pid}-${randomBytes(8).toString("hex")}${PART_SUFFIX}`);
  }

  /** Records the artifact; `part` (a fully written, fsynced temp file) is consumed. */
  private commit(
    digest: Digest,
    size: number,
    mediaType: string,
    tag: number | undefined,
    data: { bytes: Uint8Array } | { part: string },
  ): PutResult {
    const key = digestToBytes(digest);
    const cat = this.cat;
    try {
      return cat.tx(() => {
        const existing = this.row(digest);
        if (existing !== undefined && existing.state === 0) {
          if ("part" in data) unlinkQuiet(data.part);
          if (existing.deleted === 1) {
            this.addEvent(key, 2);
            this.touch(key);
          } else if (existing.created_at < (this.ctx.sessionStartTime ?? Number.NEGATIVE_INFINITY)) {
            // A put that de-duplicated is this handle's write too: the caller holds its digest
            // and may reference it next, so gc's writer session and grace must keep it. Renewed
            // once per handle (a put already renewed is at or after the session start).
            this.touch(key);
          }
          return { ...rowToInfo(existing), created: false };
        }
        let storage: 0 | 1 = 0;
        let bytes: Uint8Array | null = null;
        if ("bytes" in data) {
          bytes = data.bytes;
        } else {
          storage = 1;
          this.stage(digest, data.part);
        }
        if (existing !== undefined) {
          // Swept earlier: restore the bytes under the original record.
          cat.stmt("UPDATE artifacts SET state = 0, storage = ?, bytes = ? WHERE digest = ?").run(storage, bytes, key);
          if (existing.deleted === 1) this.addEvent(key, 2);
          this.touch(key);
          return { ...rowToInfo({ ...existing, state: 0, storage }), created: false };
        }
        const logseq = cat.allocLogseq();
        cat
          .stmt(
            "INSERT INTO artifacts(logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at, bytes) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?)",
          )
          .run(logseq, key, size, mediaType, tag ?? null, storage, this.ctx.clock.now(), bytes);
        const info: ArtifactInfo = { digest, size, mediaType, storage: storage === 0 ? "packed" : "file", state: "present", logseq };
        if (tag !== undefined) info.typeTag = tag;
        return { ...info, created: true };
      });
    } catch (err) {
      if ("part" in data) dropTemp(data.part);
      throw err;
    }
  }

  /** Step 2 and 3 of the large-write protocol (called inside the transaction). */
  private stage(digest: Digest, part: string): void {
    const ready = readyPath(this.ctx.root, digest);
    try {
      chmodSync(part, 0o444);
    } catch (err) {
      throw cannotWrite(part, err);
    }
    try {
      renameSync(part, ready);
    } catch (err) {
      throw cannotWrite(ready, err);
    }
    this.cat.onRollback(() => unlinkQuiet(ready));
    try {
      fsyncDir(dirname(ready)); // the .ready name must be durable before the row commits
    } catch (err) {
      throw new CairnError(ErrorCode.STORE_IO, `cannot fsync ${dirname(ready)}: ${osErrorText(err)}`, { path: dirname(ready) }, { cause: err });
    }
    // After the commit the artifact is stored (its .ready name is durable): a failure to move it
    // into objects/ (a stray file where its directory goes, a full disk) does not make the put
    // fail. Readers find it in tmp/; the next writer's recovery places it, or leaves it for fsck.
    this.cat.onCommit(() => {
      try {
        placeReady(this.ctx.root, digest);
      } catch {
        // left to recovery (above)
      }
    });
  }

  /** A revived, restored or re-put artifact counts as freshly written for gc's grace period. */
  private touch(key: Buffer): void {
    this.cat.stmt("UPDATE artifacts SET created_at = ? WHERE digest = ?").run(this.ctx.clock.now(), key);
  }

  private addEvent(key: Buffer, kind: 1 | 2): void {
    const logseq = this.cat.allocLogseq();
    this.cat.stmt("INSERT INTO artifact_events(logseq, digest, kind) VALUES (?, ?, ?)").run(logseq, key, kind);
    this.cat.stmt("UPDATE artifacts SET deleted = ?, events = events + 1 WHERE digest = ?").run(kind === 1 ? 1 : 0, key);
  }

  /** Writes a tombstone. Reads at the head (and as of later snapshots) then miss it. */
  delete(digest: Digest): { digest: Digest; logseq: number } {
    return this.cat.tx(() => {
      this.visibleRow(digest);
      const logseq = this.cat.peekLogseq();
      this.addEvent(digestToBytes(digest), 1);
      return { digest, logseq };
    });
  }

  // ---------------------------------------------------------------- reads

  /** Returns the verified bytes. Large artifacts above MAX_BUFFERED_GET_BYTES must be streamed. */
  get(digest: Digest, opts: ReadOptions = {}): Buffer {
    const r = this.presentRow(digest, opts.asOf, true);
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
      const file = this.openFile(digest);
      try {
        bytes = readRecordedSize(digest, r, file);
      } finally {
        closeSync(file.fd);
      }
    }
    verifyBytes(digest, r, bytes);
    return bytes;
  }

  /**
   * Opens the file of a large artifact (see `openArtifactFile`); E_STORE_CORRUPT when it is
   * missing, is not a regular file or cannot be opened.
   */
  openFile(digest: Digest): ArtifactFile {
    const file = openArtifactFile(this.ctx.root, digest);
    if (file === undefined) throw corrupt(digest, `its file ${relative(this.ctx.root, objectPath(this.ctx.root, digest))} is missing`);
    return file;
  }

  /**
   * A stream of the verified bytes. Large files are hashed once in full before the first byte
   * is emitted, then hashed again while streaming (a change in between fails the stream). The
   * last chunk is held back until that second hash matches, and a file that grew fails as soon
   * as it passes the recorded size, so a stream that fails has emitted fewer bytes than the
   * artifact's size: a consumer never receives a complete-looking copy of changed bytes.
   */
  openReadStream(digest: Digest, opts: ReadOptions = {}): Readable {
    const r = this.presentRow(digest, opts.asOf);
    if (r.storage === 0) return Readable.from([this.get(digest, opts)]);
    const tag = storedTypeTag(digest, r);
    const file = this.openFile(digest);
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

  /**
   * Writes the verified bytes to `dest` atomically (temp + fsync + rename + directory fsync);
   * nothing lands if verification fails. The temp file beside `dest` is
   * `<dest>.<pid>-<space>-<16 hex>.tmp` (temp-files.ts, ARCHITECTURE §5.16); a killed writer's
   * is removed by the next `getToFile` to the same `dest` once its writer is provably gone.
   */
  async getToFile(digest: Digest, dest: string, opts: ReadOptions = {}): Promise<ArtifactInfo> {
    const r = this.presentRow(digest, opts.asOf);
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
        const bytes = this.get(digest, opts);
        h.update(bytes);
        n = bytes.length;
        await fh.write(bytes);
      } else {
        const file = this.openFile(digest);
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

  /** Visible artifacts in logseq order, read lazily (the options are checked at the call). */
  list(opts: ListOptions = {}): Generator<ArtifactInfo> {
    checkAsOf(opts.asOf);
    // paging options (NaN meant "no limit")
    checkCount(opts.afterLogseq, "list afterLogseq", { field: "afterLogseq" });
    checkCount(opts.limit, "list limit", { field: "limit" });
    if (opts.mediaType !== undefined && typeof opts.mediaType !== "string") throw new CairnError(ErrorCode.USAGE, `list mediaType must be a string, got ${typeof opts.mediaType}`, { field: "mediaType" });
    if (opts.typeTag !== undefined && !(Number.isInteger(opts.typeTag) && opts.typeTag >= 0 && opts.typeTag <= TYPE_TAG_MAX)) {
      throw new CairnError(ErrorCode.USAGE, `list typeTag must be an integer in 0..${TYPE_TAG_MAX}, got ${shownOption(opts.typeTag)}`, { field: "typeTag" });
    }
    return this.listRows(opts);
  }

  /**
   * The listing, read a page of LIST_PAGE rows at a time (keyset on logseq, as `iterateRoots`):
   * no catalog query stays open between two artifacts, so the caller may write the store while
   * iterating (an open better-sqlite3 iterator made every write on the connection throw the
   * driver's TypeError "connection is busy"). An artifact put meanwhile (a higher logseq) is
   * listed when its page is read after the put (not once the last page has been read); one
   * deleted or swept before its page is read is not.
   */
  private *listRows(opts: ListOptions): Generator<ArtifactInfo> {
    const where: string[] = ["state = 0", "logseq > ?"];
    const args: unknown[] = [];
    if (opts.asOf !== undefined) {
      where.push("logseq <= ?");
      args.push(opts.asOf);
    } else {
      where.push("deleted = 0");
    }
    if (opts.mediaType !== undefined) {
      where.push("media_type = ?");
      args.push(opts.mediaType);
    }
    if (opts.typeTag !== undefined) {
      where.push("type_tag = ?");
      args.push(opts.typeTag);
    }
    const sql = `SELECT ${ROW_COLUMNS} FROM artifacts WHERE ${where.join(" AND ")} ORDER BY logseq LIMIT ?`;
    let after = opts.afterLogseq ?? 0;
    let n = 0;
    for (;;) {
      const rows = this.cat.stmt(sql).all(after, ...args, LIST_PAGE) as ArtifactRow[];
      for (const r of rows) {
        if (opts.asOf !== undefined && this.tombstoned(r, opts.asOf)) continue;
        if (opts.limit !== undefined && n >= opts.limit) return;
        n++;
        yield rowToInfo(r);
      }
      if (rows.length < LIST_PAGE) return;
      after = (rows[rows.length - 1] as ArtifactRow).logseq;
    }
  }
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
 * Crash recovery, run by every writer that opens the store (it holds the lock, so no other
 * writer has files in tmp/): drop *.part files, drop .ready files with no catalog row, place
 * .ready files that were committed, and finish files that gc was removing (their directories
 * fsynced before the rows are marked swept). It never refuses to
 * open the store over a file it cannot move or remove (a stray file where objects/ab/ goes, a
 * directory where a file was, no permission): it leaves it as it is, for fsck to report and the
 * next writer to try again. Catalog errors (a damaged page) are thrown.
 */
export function recoverArtifacts(root: string, cat: Catalog): { removed: number; placed: number; finishedSweeps: number } {
  const tmp = join(root, TMP_DIR);
  const objects = join(root, OBJECTS_DIR);
  attempt(() => ensureDirDurable(tmp));
  attempt(() => ensureDirDurable(objects));
  // A writer killed between making a fan-out directory and fsyncing objects/ (placeReady) left
  // an entry that may not be durable yet, and this writer will not fsync it again (it exists):
  // one fsync per open makes every entry of objects/ durable before anything is placed in it.
  attempt(() => fsyncDir(objects));
  let removed = 0;
  let placed = 0;
  for (const name of listQuiet(tmp)) {
    const path = join(tmp, name);
    if (name.endsWith(READY_SUFFIX) && /^[0-9a-f]{64}\.ready$/.test(name)) {
      const digest = `sha256:${name.slice(0, 64)}` as Digest;
      const r = cat.stmt("SELECT state, storage FROM artifacts WHERE digest = ?").get(digestToBytes(digest)) as
        | { state: number; storage: number }
        | undefined;
      if (r !== undefined && r.state === 0 && r.storage === 1) {
        if (attempt(() => placeReady(root, digest))) placed++;
        continue;
      }
    }
    if (attempt(() => rmSync(path, { recursive: true, force: true }))) removed++;
  }
  // A killed `init` (or format upgrade) leaves the FORMAT file's temp beside it in the root
  // (writeFileAtomicSync): removed like the temp files under tmp/ when its writer is provably
  // gone (temp-files.ts `writerIsGone`, ARCHITECTURE §5.16) — not while it runs (an older
  // build's init writes FORMAT before it takes the writer lock, and would fail its rename), nor
  // when it ran in another pid space (a container sharing the store: its pid says nothing here).
  removed += sweepDeadWriterTemps(root, formatTempWriter).length;
  // An interrupted sweep, finished a page at a time in logseq order (memory does not grow with
  // the size of the sweep). A row whose file cannot be removed, or whose digest is malformed,
  // stays `sweeping` (fsck reports it; the next writer tries again).
  let finishedSweeps = 0;
  // `state <> 0` lets SQLite use the partial index artifacts_state (state = 1 alone does not):
  // a writer's open reads only the sweeping rows, not the whole table.
  const pageStmt = cat.stmt("SELECT logseq, digest FROM artifacts WHERE state <> 0 AND state = 1 AND logseq > ? ORDER BY logseq LIMIT ?");
  for (let after = 0; ; ) {
    const page = pageStmt.all(after, RECOVERY_SWEEP_PAGE) as Array<{ logseq: number; digest: unknown }>;
    if (page.length === 0) break;
    after = (page[page.length - 1] as { logseq: number }).logseq;
    const gone: Array<{ logseq: number; dir: string }> = [];
    for (const s of page) {
      if (!isStoredDigest(s.digest)) continue;
      const file = objectPath(root, `sha256:${s.digest.toString("hex")}`);
      if (attempt(() => unlinkQuiet(file))) gone.push({ logseq: s.logseq, dir: dirname(file) });
    }
    // The removals made durable before the rows say swept (once per directory of the page): a
    // file back after a power loss under a swept row would stay forever, as recovery revisits
    // only sweeping rows. A directory that cannot be fsynced keeps its rows sweeping.
    const durable = fsyncDirs(new Set(gone.map((g) => g.dir))).failed;
    const done = gone.filter((g) => !durable.has(g.dir));
    cat.tx(() => {
      const mark = cat.stmt("UPDATE artifacts SET state = 2 WHERE logseq = ? AND state = 1");
      for (const g of done) mark.run(g.logseq);
    });
    finishedSweeps += done.length;
  }
  return { removed, placed, finishedSweeps };
}

/**
 * fsyncs each directory of `dirs` (those a sweep removed files from), so that the removals are
 * durable before the catalog marks their artifacts swept. A directory that is not there (or
 * whose parent is not a directory) holds nothing to make durable. The others that cannot be
 * fsynced are returned in `failed`, with the first error: their rows must stay sweeping.
 */
export function fsyncDirs(dirs: Iterable<string>): { failed: Set<string>; first?: { dir: string; err: unknown } } {
  const failed = new Set<string>();
  let first: { dir: string; err: unknown } | undefined;
  for (const dir of dirs) {
    try {
      fsyncDir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      failed.add(dir);
      first ??= { dir, err };
    }
  }
  return first === undefined ? { failed } : { failed, first };
}

/** Runs a file-system step of recovery: false when it fails (the problem is left for fsck). */
function attempt(f: () => void): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

/** A directory's entries; none when it cannot be listed (left for fsck). */
function listQuiet(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A legacy (pid-only) temp file of a FORMAT write, as builds before §5.16's rule named it: `FORMAT.<pid>.<hex>.tmp`. */
const LEGACY_FORMAT_TEMP_RE = new RegExp(`^${FORMAT_FILE}\\.([0-9]+)\\.[0-9a-f]+\\.tmp$`);

/**
 * The writer of a temp file of a FORMAT write (fsutil.ts `writeFileAtomicSync`): a tagged
 * `FORMAT.<pid>-<space>-<16 hex>.tmp`, or a legacy `FORMAT.<pid>.<hex>.tmp`, which this sweep
 * removed by its pid alone before and still does (temp-files.ts).
 */
function formatTempWriter(name: string): TempWriter | undefined {
  const tagged = taggedTempWriter(name, `${FORMAT_FILE}.`);
  if (tagged !== undefined) return tagged;
  const m = LEGACY_FORMAT_TEMP_RE.exec(name);
  return m === null ? undefined : legacyTempWriter(m[1] as string);
}

/** Rows of an interrupted sweep finished per catalog transaction when a writer opens the store. */
const RECOVERY_SWEEP_PAGE = 1000;

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
 * (E_STORE_IO when permission is denied).
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
      if (code === "EACCES" || code === "EPERM") throw new CairnError(ErrorCode.STORE_IO, `artifact ${digest}: ${why}`, { digest, path: p }, { cause: err });
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
  if (n > r.size) throw corrupt(digest, `its file holds more than the recorded ${r.size} bytes`);
  if (n !== r.size) throw corrupt(digest, `stored size ${n} differs from recorded size ${r.size}`);
  const actual = h.digest();
  if (actual !== digest) throw corrupt(digest, `stored bytes hash to ${actual}`);
}

export function notFound(digest: string, why: string): CairnError {
  return new CairnError(ErrorCode.NOT_FOUND, `artifact ${digest} ${why}`, { digest });
}

export function corrupt(digest: string, why: string): CairnError {
  return new CairnError(ErrorCode.STORE_CORRUPT, `artifact ${digest} is corrupt: ${why}`, { digest });
}

/**
 * E_STORE_IO naming a file of a large write that cannot be created or written (a full disk, no
 * permission, `tmp` not a directory, a read-only file system), as `getToFile` names its
 * destination; never the raw fs error (E_INTERNAL).
 */
function cannotWrite(path: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  return new CairnError(ErrorCode.STORE_IO, `cannot write ${path}: ${osErrorText(err)}`, { path }, { cause: err });
}

/** An fs step on the temp file `path` of a streamed put: its failure is `cannotWrite`. */
async function onPart<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw cannotWrite(path, err);
  }
}

/** Step 1 of the large-write protocol for bytes in memory: `part` written, fsynced, closed; removed again on failure. */
function writePartSync(part: string, bytes: Uint8Array): void {
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
function dropTemp(path: string): void {
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
