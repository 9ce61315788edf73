/**
 * The run's ordering index: a temporary SQLite database (in the store's tmp/ directory, so
 * it lives on disk, not in memory) keyed by each EU's sort key. It detects duplicate ids as
 * records are read and holds every finished EU record until the final merge scans it in
 * EU-id order. It is derived state: a resumed run rebuilds it.
 *
 * Sort keys: index ids → 8-byte big-endian index (numeric order); `--id-field` ids → the
 * canonical JSON bytes of the id (byte order).
 */
import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import { trackExitTemp, untrackExitTemp } from "../store/temp-files.js";
import { canonicalBytes } from "../core/canonical.js";
import { CairnError, ErrorCode, isCairnError, osErrorText } from "../core/errors.js";
import { printableJson } from "../core/describe.js";
import { codePointsOver } from "../core/echo.js";
import type { EUId, EURecord } from "./input/types.js";
import { recordPlace, type RecordLocation } from "./input/ids.js";
import { LEAF_HASH_BYTES } from "./leaves.js";

/** Rows written per index transaction while reading. */
export const INDEX_BATCH_ROWS = 4096;
/**
 * A scratch SQLite database (the ordering index, verify's input coverage): rollback journal in
 * memory (no `-journal` file; `journal_mode = OFF` is refused by better-sqlite3's defensive mode
 * and silently stays DELETE), no fsync, a `cacheKiB` page cache. Its data is thrown away with the
 * run or the check, so neither a crash nor a power loss can leave anything that matters.
 */
export function openScratchDatabase(path: string, cacheKiB: number): Database.Database {
  const db = new Database(path);
  try {
    const mode = db.pragma("journal_mode = MEMORY", { simple: true }) as string;
    if (mode !== "memory") throw new CairnError(ErrorCode.INTERNAL, `scratch database ${path}: journal_mode is ${mode}, not memory`);
    db.pragma("synchronous = OFF");
    db.pragma(`cache_size = -${cacheKiB}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * E_STORE_IO for a run's scratch file in the store's `tmp/` (the ordering index `what` =
 * "ordering index", the leaf spill "leaf spill") that cannot be created or written: a full
 * disk (ENOSPC, SQLite's SQLITE_FULL "database or disk is full"), an I/O error, no permission.
 * It names the file, as the store's own temp files do (artifact-writes.ts `cannotWrite`), never the
 * bare fs or SQLite error (E_INTERNAL). CairnErrors (a duplicate id) and errors that are neither
 * an OS error nor a SQLite I/O error (a bug) are returned as they are.
 */
export function runScratchError(what: string, path: string, err: unknown): unknown {
  if (isCairnError(err) || !(err instanceof Error)) return err;
  // better-sqlite3 checks the folder itself and throws a TypeError without a code.
  if (err instanceof TypeError && MISSING_FOLDER_RE.test(err.message)) {
    return new CairnError(ErrorCode.STORE_IO, `cannot write the run's ${what} ${path}: its folder does not exist`, { path, errno: "ENOENT" }, { cause: err });
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string") return err;
  const sqlite = err.name === "SqliteError";
  if (sqlite ? !SCRATCH_SQLITE_IO_CODES.some((c) => code === c || code.startsWith(`${c}_`)) : typeof (err as NodeJS.ErrnoException).syscall !== "string") return err;
  return new CairnError(ErrorCode.STORE_IO, `cannot write the run's ${what} ${path}: ${osErrorText(err)}`, { path, ...(sqlite ? { sqliteCode: code } : { errno: code }) }, { cause: err });
}

/** better-sqlite3's error for a database whose folder does not exist. */
const MISSING_FOLDER_RE = /^Cannot open database because the directory does not exist/;

/** SQLite result codes (and their extended `_…` codes) of a scratch database that cannot be written or reached. */
const SCRATCH_SQLITE_IO_CODES = ["SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_NOMEM"] as const;

/** The name of the ordering index in `runScratchError`'s messages. */
const INDEX_NAME = "ordering index";

/** Page cache of the ordering index (KiB, negative = KiB in SQLite terms). */
const INDEX_CACHE_KIB = 4 * 1024;

export function sortKey(id: EUId, byIndex: boolean): Buffer {
  if (byIndex) {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(id as number));
    return b;
  }
  return canonicalBytes(id);
}

export class OrderIndex {
  private readonly db: Database.Database;
  private readonly insertId: Database.Statement;
  private readonly findId: Database.Statement;
  private readonly insertOut: Database.Statement;
  private pending: EURecord[] = [];

  /**
   * `noun`: how input errors name a record of the run's format (`element` for json,
   * ids.ts recordNoun), for the duplicate-id error.
   */
  constructor(
    private readonly path: string,
    private readonly byIndex: boolean,
    private readonly noun: RecordLocation["noun"] = "record",
  ) {
    let db: Database.Database | undefined;
    trackExitTemp(path); // removed if a signal ends the process (cli/signals.ts)
    try {
      rmSync(path, { force: true });
      db = openScratchDatabase(path, INDEX_CACHE_KIB);
      db.exec(`
        CREATE TABLE ids (key BLOB PRIMARY KEY, idx INTEGER NOT NULL, file TEXT NOT NULL, line INTEGER) WITHOUT ROWID;
        CREATE TABLE out (key BLOB PRIMARY KEY, text TEXT NOT NULL, leaf BLOB);
      `);
    } catch (err) {
      db?.close();
      untrackExitTemp(path);
      throw runScratchError(INDEX_NAME, path, err);
    }
    this.db = db;
    this.insertId = this.db.prepare("INSERT INTO ids(key, idx, file, line) VALUES (?, ?, ?, ?)");
    this.findId = this.db.prepare("SELECT idx, file, line FROM ids WHERE key = ?");
    this.insertOut = this.db.prepare("INSERT INTO out(key, text, leaf) VALUES (?, ?, ?)");
  }

  /** Registers a record read from input; duplicates are detected (at the latest) on flush. */
  addRecord(r: EURecord): void {
    if (this.byIndex) return; // index ids are unique by construction
    this.pending.push(r);
    if (this.pending.length >= INDEX_BATCH_ROWS) this.flushIds();
  }

  /**
   * Writes pending ids; a duplicate raises E_INVALID_INPUT naming both records, in the shape of
   * the readers' errors: `data.jsonl:5: record 3: duplicate EU id "x" (first at data.jsonl:2: record 1)`.
   * The id is quoted printably (`printableJson`: DEL, C1 controls and U+2028/2029 escaped); one
   * longer than MAX_ECHOED_CHARS code points is quoted cut, with its length, in the message and
   * in `details.id` (then that marked text, not the id).
   */
  flushIds(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.insertIds(batch);
    } catch (err) {
      throw runScratchError(INDEX_NAME, this.path, err);
    }
  }

  private insertIds(batch: readonly EURecord[]): void {
    this.db.transaction(() => {
      for (const r of batch) {
        const key = sortKey(r.id, false);
        try {
          this.insertId.run(key, r.index, r.source.file, r.source.line ?? null);
        } catch (err) {
          if ((err as { code?: string }).code !== "SQLITE_CONSTRAINT_PRIMARYKEY") throw err;
          const first = this.findId.get(key) as { idx: number; file: string; line: number | null };
          const at = recordPlace(r.source.file, r.source.line, r.index, this.noun);
          const quoted = printableJson(r.id);
          throw new CairnError(ErrorCode.INVALID_INPUT, `${at}: duplicate EU id ${quoted} (first at ${recordPlace(first.file, first.line, first.idx, this.noun)})`, {
            file: r.source.file,
            line: r.source.line ?? null,
            index: r.index,
            id: typeof r.id === "string" && codePointsOver(r.id) ? quoted : r.id,
            first: first.idx,
            second: r.index,
          });
        }
      }
    })();
  }

  /**
   * Stores the finished records of one pulse (ids and record texts, same order), with their
   * packed Merkle leaf hashes (32 bytes each, leaves.ts) when given.
   */
  addOutputs(ids: readonly EUId[], texts: readonly string[], leaves?: Buffer): void {
    try {
      this.db.transaction(() => {
        for (let i = 0; i < ids.length; i++) {
          const leaf = leaves === undefined ? null : leaves.subarray(i * LEAF_HASH_BYTES, (i + 1) * LEAF_HASH_BYTES);
          this.insertOut.run(sortKey(ids[i] as EUId, this.byIndex), texts[i], leaf);
        }
      })();
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_CONSTRAINT_PRIMARYKEY") throw runScratchError(INDEX_NAME, this.path, err);
      // A duplicate id whose pulse finished before the id check ran: every record of the
      // pulse is read (hence pending), so flushing names both records.
      this.flushIds();
      throw new CairnError(ErrorCode.INTERNAL, "duplicate EU output without a duplicate id", { ids: ids.length });
    }
  }

  /**
   * Runs `fn` in one transaction of the index (`addOutputs` within it is a savepoint): what it
   * adds stays only if it returns; what it throws rolls all of it back and is re-thrown. A
   * failure to begin or commit the transaction is E_STORE_IO naming the index.
   */
  atomically<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      if (err instanceof Database.SqliteError) throw runScratchError(INDEX_NAME, this.path, err);
      throw err;
    }
  }

  /** Every record text in EU-id order. */
  *ordered(): Generator<string> {
    for (const r of this.db.prepare("SELECT text FROM out ORDER BY key").iterate() as Iterable<{ text: string }>) yield r.text;
  }

  /** Every record text in EU-id order, with its leaf hash (null when none was stored). */
  orderedWithLeaves(): Iterator<{ text: string; leaf: Buffer | null }> {
    return (this.db.prepare("SELECT text, leaf FROM out ORDER BY key").iterate() as Iterable<{ text: string; leaf: Buffer | null }>)[Symbol.iterator]();
  }

  count(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM out").get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
    rmSync(this.path, { force: true });
    untrackExitTemp(this.path);
  }
}
