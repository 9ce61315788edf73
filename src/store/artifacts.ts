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
import { chmodSync, closeSync, fsyncSync, openSync, renameSync } from "node:fs";
import { open as openAsync, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { CairnError, ErrorCode, isCairnError, osErrorText } from "../core/errors.js";
import { digestToBytes, parseDigest, type Digest } from "../core/digest.js";
import { describeStored, type Catalog } from "./catalog.js";
import { checkTypeTag, checkUntypedPrefix, identityHasher, TYPE_TAG_MAX } from "./identity.js";
import { PART_SUFFIX, SMALL_ARTIFACT_MAX_BYTES, TMP_DIR, readyPath } from "./layout.js";
import { fsyncDir, writeAllSync } from "./fsutil.js";
import type { Clock } from "../core/clock.js";
import {
  LIST_PAGE, ROW_COLUMNS, checkAsOf, checkRow, checkCount, checkMediaType, notFound, rowToInfo, shownOption,
  type ArtifactInfo, type ArtifactRow, type ListOptions, type PutOptions, type PutResult, type ReadOptions,
} from "./artifact-rows.js";
import { byteView, cannotWrite, dropTemp, isChunkSource, onPart, onPartSync, placeReady, PutHead, unlinkQuiet, writePartSync } from "./artifact-writes.js";
import { fileReadStream, requireArtifactFile, verifiedBytes, verifiedCopy, type ArtifactFile } from "./artifact-reads.js";
import { bytesReader, fileReader, type ArtifactReader, type ReaderOptions } from "./artifact-reader.js";
import { trackExitTemp, untrackExitTemp } from "./temp-files.js";

/** After a put: its temp file, unless committed (`part` then undefined), is removed, and it is no longer tracked. */
function endPart(part: string | undefined, tracked: string | undefined): void {
  if (part !== undefined) dropTemp(part);
  if (tracked !== undefined) untrackExitTemp(tracked);
}



/** What `putPieces` got instead of an iterable of pieces, for its E_USAGE. */
function describePieces(v: unknown): string {
  if (v === null) return "null";
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v;
}

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

/** The artifact half of the store. */
export class Artifacts {
  constructor(private readonly ctx: StoreContext) {}

  private get cat(): Catalog {
    return this.ctx.catalog;
  }

  /**
   * The store clock's now, for `created_at`: E_USAGE (field `clock`) unless a finite number, so
   * a put never writes a row every read then refuses (`rowFault`: `created_at` a finite number).
   */
  private createdAt(): number {
    const t: unknown = this.ctx.clock.now();
    if (typeof t !== "number" || !Number.isFinite(t)) {
      throw new CairnError(ErrorCode.USAGE, `the store's clock gave ${describeStored(t)}, not a finite number of milliseconds`, { field: "clock" });
    }
    return t;
  }

  row(digest: Digest, withBytes = false): (ArtifactRow & { bytes?: Buffer | null }) | undefined {
    const sql = withBytes ? `SELECT ${ROW_COLUMNS}, bytes FROM artifacts WHERE digest = ?` : `SELECT ${ROW_COLUMNS} FROM artifacts WHERE digest = ?`;
    const r = this.cat.stmt(sql).get(digestToBytes(digest)) as (ArtifactRow & { bytes?: unknown }) | undefined;
    return r === undefined ? undefined : checkRow(r); // a tampered row (bytes as TEXT, …) is refused here
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
    const head = new PutHead(tag);
    let part: string | undefined;
    let tracked: string | undefined;
    let fh: FileHandle | undefined;
    try {
      for await (const raw of source) {
        const view = typeof raw === "string" ? raw : byteView(raw, "put (a chunk)");
        const chunk = typeof view === "string" ? Buffer.from(view) : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
        if (chunk.length === 0) continue;
        if (head.add(chunk, fh !== undefined)) {
          const path = this.newTrackedPart();
          tracked = path;
          fh = await onPart(path, () => openAsync(path, "wx", 0o644));
          part = path;
          for (const b of head.spill()) await onPart(path, () => (fh as FileHandle).write(b));
        } else if (fh !== undefined) {
          await onPart(part as string, () => (fh as FileHandle).write(chunk));
        }
      }
      if (fh === undefined) return this.commit(head.hasher.digest(), head.size, mediaType, tag, { bytes: head.whole() });
      const done = fh;
      await onPart(part as string, () => done.sync());
      fh = undefined;
      await onPart(part as string, () => done.close());
      const p = part as string;
      part = undefined; // commit owns it now
      return this.commit(head.hasher.digest(), head.size, mediaType, tag, { part: p });
    } finally {
      if (fh !== undefined) await fh.close().catch(() => undefined);
      endPart(part, tracked);
    }
  }

  /**
   * Stores bytes given as pieces (any iterable of `Uint8Array`s), synchronously: as `put`, at
   * most SMALL_ARTIFACT_MAX_BYTES is held, and past it every piece is written to the temp file
   * before the next is asked for, so a source may reuse its buffer for the next piece. May be
   * called inside `store.transaction`. What the source throws is thrown (nothing is stored).
   */
  putPieces(pieces: Iterable<Uint8Array>, opts: PutOptions = {}): PutResult {
    if (pieces === null || typeof pieces !== "object" || typeof (pieces as Partial<Iterable<unknown>>)[Symbol.iterator] !== "function" || ArrayBuffer.isView(pieces)) {
      throw new CairnError(ErrorCode.USAGE, `putPieces takes an iterable of Uint8Array pieces (use putBytes for one), got ${describePieces(pieces)}`);
    }
    const tag = checkTypeTag(opts.typeTag);
    const mediaType = checkMediaType(opts.mediaType);
    const head = new PutHead(tag);
    let part: string | undefined;
    let tracked: string | undefined;
    let fd: number | undefined;
    try {
      for (const raw of pieces) {
        const view = byteView(raw, "putPieces (a piece)");
        const piece = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
        if (piece.length === 0) continue;
        if (head.add(piece, fd !== undefined)) {
          const path = this.newTrackedPart();
          tracked = path;
          fd = onPartSync(path, () => openSync(path, "wx", 0o644));
          part = path;
          for (const b of head.spill()) onPartSync(path, () => writeAllSync(fd as number, b));
        } else if (fd !== undefined) {
          onPartSync(part as string, () => writeAllSync(fd as number, piece));
        }
      }
      if (fd === undefined) return this.commit(head.hasher.digest(), head.size, mediaType, tag, { bytes: head.whole() });
      const done = fd;
      onPartSync(part as string, () => fsyncSync(done));
      fd = undefined;
      onPartSync(part as string, () => closeSync(done));
      const p = part as string;
      part = undefined; // commit owns it now
      return this.commit(head.hasher.digest(), head.size, mediaType, tag, { part: p });
    } finally {
      if (fd !== undefined) {
        try {
          closeSync(fd);
        } catch {
          // the failure being thrown says more
        }
      }
      endPart(part, tracked);
    }
  }

  /**
   * A new temp file path of a put, removed if a signal ends the process meanwhile
   * (cli/signals.ts), as a crash's would be by the next writer's recovery.
   */
  private newTrackedPart(): string {
    const path = this.newPartPath();
    trackExitTemp(path);
    return path;
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
          .run(logseq, key, size, mediaType, tag ?? null, storage, this.createdAt(), bytes);
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
    this.cat.stmt("UPDATE artifacts SET created_at = ? WHERE digest = ?").run(this.createdAt(), key);
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
    return verifiedBytes(this.ctx.root, digest, this.presentRow(digest, opts.asOf, true));
  }

  /**
   * Opens the file of a large artifact (see `openArtifactFile`); E_STORE_CORRUPT when it is
   * missing, is not a regular file or cannot be opened.
   */
  openFile(digest: Digest): ArtifactFile {
    return requireArtifactFile(this.ctx.root, digest);
  }

  /**
   * A synchronous sequential read of the verified bytes in pieces (artifact-reader.ts), for
   * artifacts too large to hold whole: the guarantees of `openReadStream`, without a stream.
   */
  openReader(digest: Digest, opts: ReadOptions & ReaderOptions = {}): ArtifactReader {
    const r = this.presentRow(digest, opts.asOf, true);
    if (r.storage === 0) return bytesReader(verifiedBytes(this.ctx.root, digest, r), opts);
    // A file gone between reads: E_NOT_FOUND if gc swept the artifact since (anything else,
    // e.g. a catalog closed since, leaves it E_STORE_CORRUPT "missing").
    const recheck = (): void => {
      try {
        this.presentRow(digest, opts.asOf);
      } catch (err) {
        if (isCairnError(err, ErrorCode.NOT_FOUND)) throw err;
      }
    };
    return fileReader(this.ctx.root, digest, r, opts, recheck);
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
    return fileReadStream(this.ctx.root, digest, r);
  }

  /**
   * Writes the verified bytes to `dest` atomically (temp + fsync + rename + directory fsync);
   * nothing lands if verification fails. The temp file beside `dest` is
   * `<dest>.<pid>-<space>-<16 hex>.tmp` (temp-files.ts, ARCHITECTURE §5.16); a killed writer's
   * is removed by the next `getToFile` to the same `dest` once its writer is provably gone.
   */
  async getToFile(digest: Digest, dest: string, opts: ReadOptions = {}): Promise<ArtifactInfo> {
    const r = this.presentRow(digest, opts.asOf);
    return verifiedCopy(this.ctx.root, digest, r, dest, () => this.get(digest, opts));
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
        yield rowToInfo(checkRow(r));
      }
      if (rows.length < LIST_PAGE) return;
      after = (rows[rows.length - 1] as ArtifactRow).logseq;
    }
  }
}
