/**
 * The SQLite catalog: connection, pragmas, schema/version check, the logseq counter and
 * transactions. Only the writer (who holds the writer lock) allocates logseqs, so an
 * in-memory counter seeded from the tables' maxima is exact; it is restored when a
 * transaction rolls back, so logseqs never have gaps.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname } from "node:path";
import Database from "better-sqlite3";
import { CairnError, ErrorCode } from "../core/errors.js";
import { DIGEST_BYTES, type Digest } from "../core/digest.js";
import { LOGSEQ_TABLES, SCHEMA_V1 } from "./schema.js";
import { STORE_FORMAT_VERSION } from "./layout.js";
import { isVolumeFull, volumeFullError } from "./volume-full.js";

export type Durability = "full" | "normal";

/** The accepted durabilities, with the SQLite `synchronous` level each sets. */
const SYNCHRONOUS: Readonly<Record<Durability, string>> = Object.freeze({ full: "FULL", normal: "NORMAL" });

/** `value` if it is a `Durability`; E_USAGE naming the accepted values otherwise (never a silent default). */
export function checkDurability(value: unknown): Durability {
  if (typeof value === "string" && Object.hasOwn(SYNCHRONOUS, value)) return value as Durability;
  throw new CairnError(
    ErrorCode.USAGE,
    `durability must be ${Object.keys(SYNCHRONOUS).map((d) => JSON.stringify(d)).join(" or ")}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    { field: "durability", allowed: Object.keys(SYNCHRONOUS) },
  );
}

/** SQLite page cache of the catalog connection (grows lazily up to this). */
export const DEFAULT_CATALOG_CACHE_BYTES = 64 * 1024 * 1024;

/** SQLite's `PRAGMA temp_store` value that keeps a connection's temporary files in memory. */
const TEMP_STORE_MEMORY = 2;

/**
 * Set while `withMemoryJournal` runs: the outermost transaction a catalog starts then keeps its
 * savepoints' sub-journal in memory (`Catalog.tx`). Set and cleared around a synchronous call.
 */
let memoryJournalScope = false;

/**
 * Runs `run` (synchronous; it starts one outermost catalog transaction, e.g. `store.transaction`)
 * so that SQLite keeps that transaction's savepoint sub-journal in memory, not in a file it
 * creates, writes and unlinks in TMPDIR: the batch engine's group commit, whose pulses each open a
 * savepoint and nest ~ten more (each store write), re-journaling the pages they change (~28 pages
 * a one-EU pulse, past SQLite's 64 KiB in-memory spill threshold). The in-memory sub-journal is
 * truncated whenever the transaction's outermost savepoint is released (a pulse), so it holds at
 * most what one savepoint journaled (~0.5 MB for a 1024-EU pulse). Any other temporary storage of
 * that transaction (TEMP tables, sorts) would be in memory too: `run` only writes records.
 */
export function withMemoryJournal<T>(run: () => T): T {
  const outer = memoryJournalScope;
  memoryJournalScope = true;
  try {
    return run();
  } finally {
    memoryJournalScope = outer;
  }
}

/** Statement cache size bound (distinct SQL texts are few and fixed). */
const MAX_CACHED_STATEMENTS = 256;

export class Catalog {
  readonly db: Database.Database;
  readonly readOnly: boolean;
  private next = 0;
  private readonly statements = new Map<string, Database.Statement>();
  private depth = 0;
  /** One transaction wrapper, built once (better-sqlite3 picks BEGIN or SAVEPOINT per call). */
  private runTx: ((f: () => unknown) => unknown) | undefined;
  private afterCommit: Array<() => void> = [];
  private afterRollback: Array<() => void> = [];
  /**
   * Set when opening a writer met a damaged catalog page (SQLITE_CORRUPT) reading the highest
   * logseq: the E_STORE_CORRUPT every store operation but fsck and close then fails with (Store).
   */
  damaged: CairnError | undefined;

  /**
   * Opens the catalog at `path`. `create` is true only when the store is being created (it has
   * no FORMAT file yet, the init path): then a missing or empty database gets the schema, and a
   * catalog that already holds records is refused (a store's data without its FORMAT file). Every
   * other open requires the file to exist and to hold Cairn's tables: a missing or empty catalog
   * is E_STORE_CORRUPT naming it, and nothing is created or written before that check (fsck
   * included: it never repairs).
   */
  constructor(path: string, opts: { readOnly: boolean; durability: Durability; create: boolean }) {
    this.readOnly = opts.readOnly;
    if (!opts.create) requireCatalogFile(path);
    try {
      this.db = new Database(path, { readonly: opts.readOnly, fileMustExist: !opts.create, timeout: 5000 });
    } catch (err) {
      throw catalogError(path, err, "cannot open catalog");
    }
    try {
      // Before any pragma: setting WAL mode writes to an empty file.
      const tables = this.firstQuery(path, opts.readOnly);
      if (tables.length === 0 && !opts.create) {
        throw new CairnError(
          ErrorCode.STORE_CORRUPT,
          `catalog ${path} is empty: it holds no tables (emptied or replaced?); a store's catalog is created only with the store, never again (restore it from a backup; a store that never held anything, such as one an older Cairn's init left when killed before its catalog, can be removed and made again with cairn init)`,
          { path },
        );
      }
      if (!opts.readOnly) {
        this.db.pragma("journal_mode = WAL");
        // Creating a store: the schema commits durably (FULL) whatever the durability, as FORMAT,
        // written next and fsynced, must never describe a store whose catalog a power loss undid.
        const synchronous = SYNCHRONOUS[checkDurability(opts.durability)];
        this.db.pragma(`synchronous = ${opts.create ? SYNCHRONOUS.full : synchronous}`);
        this.db.pragma("foreign_keys = OFF");
        const hasMeta = tables.includes("meta");
        // never touch the schema of a catalog from another version; a catalog whose creation a
        // crash interrupted (before this was one transaction) holds a meta table but no version
        // and nothing else: it is created again
        if (hasMeta && !this.interruptedCreation()) {
          this.checkVersion(path);
          // Creating a store (no FORMAT file) adopts only a catalog that holds no record: the one
          // an init killed before writing FORMAT left behind.
          if (opts.create && this.holdsRecords()) {
            throw new CairnError(ErrorCode.STORE_CORRUPT, `catalog ${path} holds records but its store has no FORMAT file; refusing to adopt it`, { path });
          }
        }
        // No meta table: only a brand-new, empty database may be created. Every build creates
        // `meta` first (its own statement, before any other table; now all in one transaction),
        // so tables without it are not a creation cut short but a damaged or foreign catalog: it
        // is refused, never "repaired" by creating a version row for data nobody checked.
        if (!hasMeta) this.refuseTablesWithoutMeta(path, tables);
        // The schema and the version in one transaction: a crash leaves all of it or none.
        this.db.transaction(() => {
          this.db.exec(SCHEMA_V1);
          const row = this.db.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string } | undefined;
          if (row === undefined) this.db.prepare("INSERT INTO meta(key, value) VALUES ('format_version', ?)").run(String(STORE_FORMAT_VERSION));
        })();
        if (opts.create) this.db.pragma(`synchronous = ${synchronous}`);
      }
      this.db.pragma(`cache_size = -${Math.floor(DEFAULT_CATALOG_CACHE_BYTES / 1024)}`);
      this.checkVersion(path);
    } catch (err) {
      this.db.close();
      if (err instanceof CairnError) throw err;
      throw catalogError(path, err, "cannot use catalog");
    }
    if (!opts.readOnly) {
      // The highest logseq reads the last page of every record table. A damaged one is not
      // refused here: the writer opens with `damaged` set, so that fsck can still report it
      // (Store refuses every other operation with this error).
      try {
        this.next = this.maxLogseq() + 1;
      } catch (err) {
        if (!isCorruptionError(err)) {
          this.db.close();
          throw catalogError(path, err, "cannot use catalog");
        }
        this.damaged = storeErrorOf(path, err) as CairnError;
      }
    }
  }

  /** The catalog file's path. */
  get path(): string {
    return this.db.name;
  }

  /**
   * The catalog's tables: the first query, where a reader of a WAL catalog meets SQLite's need to
   * create or map the `-shm` (and `-wal`) file beside it. A reader that cannot (no write access
   * to the store directory, SQLITE_READONLY_DIRECTORY; an existing `-shm` it cannot open,
   * SQLITE_CANTOPEN) gets E_STORE_IO saying so, not SQLite's "attempt to write a readonly database".
   */
  private firstQuery(path: string, readOnly: boolean): string[] {
    try {
      return this.tables();
    } catch (err) {
      if (readOnly && isWalAccessError(err) && isWalCatalog(path)) throw walReaderError(path, err);
      throw err;
    }
  }

  /** Names of the database's own tables (not SQLite's internal ones), sorted. */
  private tables(): string[] {
    const rows = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as Array<{ name: string }>;
    return rows.map((r) => r.name);
  }

  /** Whether any record table exists and holds a row. */
  private holdsRecords(): boolean {
    for (const t of LOGSEQ_TABLES) {
      const exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined;
      if (exists && this.db.prepare(`SELECT 1 FROM ${t} LIMIT 1`).get() !== undefined) return true;
    }
    return false;
  }

  /** E_STORE_CORRUPT if the catalog (which has no meta table) holds any table at all. */
  private refuseTablesWithoutMeta(path: string, tables: string[]): void {
    if (tables.length === 0) return;
    throw new CairnError(
      ErrorCode.STORE_CORRUPT,
      `catalog ${path} has no meta table (no format_version) but holds tables (${tables.join(", ")}); refusing to give them a format_version`,
      { path, tables },
    );
  }

  /** A meta table without any row, and no row in any logseq table: a creation cut short. */
  private interruptedCreation(): boolean {
    if ((this.db.prepare("SELECT COUNT(*) AS n FROM meta").get() as { n: number }).n !== 0) return false;
    return !this.holdsRecords();
  }

  private checkVersion(path: string): void {
    let v: string | undefined;
    try {
      v = (this.db.prepare("SELECT value FROM meta WHERE key = 'format_version'").get() as { value: string } | undefined)?.value;
    } catch (err) {
      // Only a missing table is "has no meta table". A damaged page (of meta or its index) is
      // "catalog <path> is corrupt" (§5.2); any other failure (SQLITE_BUSY, SQLITE_IOERR …) is
      // E_STORE_IO "cannot use catalog <path>: <SQLite's message>", not a claim about the file.
      if (!isNoSuchMetaTable(err)) throw catalogError(path, err, "cannot use catalog");
      throw new CairnError(ErrorCode.STORE_CORRUPT, `catalog ${path} has no meta table: ${(err as Error).message}`, { path });
    }
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n)) {
      throw new CairnError(ErrorCode.STORE_CORRUPT, `catalog ${path} has no valid format_version`, { path });
    }
    if (n !== STORE_FORMAT_VERSION) {
      throw new CairnError(
        ErrorCode.STORE_VERSION,
        `catalog ${path} is format version ${n}, but this Cairn reads format version ${STORE_FORMAT_VERSION}`,
        { path, found: n, supported: STORE_FORMAT_VERSION },
      );
    }
  }

  /** Bounds the page cache (bytes); returns the previous bound so a caller can restore it. */
  setCacheBytes(bytes: number): number {
    const prev = this.db.pragma("cache_size", { simple: true }) as number;
    this.db.pragma(`cache_size = -${Math.max(1024, Math.floor(bytes / 1024))}`);
    return prev < 0 ? -prev * 1024 : prev * (this.db.pragma("page_size", { simple: true }) as number);
  }

  /** Highest logseq recorded in any table (0 for an empty store). */
  maxLogseq(): number {
    let max = 0;
    for (const t of LOGSEQ_TABLES) {
      const r = this.stmt(`SELECT MAX(logseq) AS m FROM ${t}`).get() as { m: number | null };
      if (r.m !== null && r.m > max) max = r.m;
    }
    return max;
  }

  /** A cached prepared statement. */
  stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      if (this.statements.size < MAX_CACHED_STATEMENTS) this.statements.set(sql, s);
    }
    return s;
  }

  /** Allocates the next logseq. Only valid inside `tx`. */
  allocLogseq(): number {
    if (this.readOnly) throw new CairnError(ErrorCode.INTERNAL, "logseq allocation on a read-only catalog");
    if (this.depth === 0) throw new CairnError(ErrorCode.INTERNAL, "logseq allocated outside a transaction");
    return this.next++;
  }

  /** The logseq the next record will get. */
  peekLogseq(): number {
    return this.next;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /**
   * Runs `fn` in a transaction (nested calls become savepoints). `onCommit` callbacks run
   * after the outermost transaction commits; `onRollback` ones run if it rolls back.
   */
  tx<T>(fn: () => T): T {
    if (this.readOnly) throw new CairnError(ErrorCode.USAGE, "store opened read-only");
    if (this.depth === 0 && memoryJournalScope) return this.withTempStore(TEMP_STORE_MEMORY, () => this.txNow(fn));
    return this.txNow(fn);
  }

  /**
   * Runs `fn` (an outermost transaction) with `PRAGMA temp_store = value`, then sets back the
   * previous value. SQLite fixes where a transaction's sub-journal lives when it starts writing,
   * and allows the change outside a transaction only (changing it closes the TEMP database: no
   * TEMP table outlives a call here, gc drops its own before it returns).
   */
  private withTempStore<T>(value: number, fn: () => T): T {
    const prev = (this.stmt("PRAGMA temp_store").get() as { temp_store: number }).temp_store;
    try {
      // Inside the try: SQLite applies a pragma when it prepares it, so a set whose run then
      // throws (the connection busy with an iterator) has changed it all the same.
      this.stmt(`PRAGMA temp_store = ${value}`).run();
      return fn();
    } finally {
      this.stmt(`PRAGMA temp_store = ${prev}`).run();
    }
  }

  private txNow<T>(fn: () => T): T {
    const saved = this.next;
    const outer = this.depth === 0;
    const commitMark = this.afterCommit.length;
    const rollbackMark = this.afterRollback.length;
    this.depth++;
    let result: T;
    try {
      this.runTx ??= this.db.transaction((f: () => unknown) => f());
      result = this.runTx(fn) as T;
    } catch (err) {
      this.depth--;
      this.next = saved;
      if (outer) {
        this.finish(false);
      } else {
        // A savepoint rolled back: forget its commit hooks, run its rollback hooks now.
        this.afterCommit.length = commitMark;
        runAll(this.afterRollback.splice(rollbackMark));
      }
      throw err;
    }
    this.depth--;
    if (outer) this.finish(true);
    return result;
  }

  onCommit(fn: () => void): void {
    this.afterCommit.push(fn);
  }

  onRollback(fn: () => void): void {
    this.afterRollback.push(fn);
  }

  private finish(committed: boolean): void {
    const run = committed ? this.afterCommit : this.afterRollback;
    this.afterCommit = [];
    this.afterRollback = [];
    runAll(run);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * A SQLite failure on the catalog as a CairnError: a damaged database file (SQLITE_CORRUPT,
 * SQLITE_NOTADB — truncated, overwritten, not SQLite) is E_STORE_CORRUPT naming the file;
 * anything else (cannot open, read or write it) is E_STORE_IO, saying so when the store's volume
 * is full (volume-full.ts `isVolumeFull`: free space outside the store first).
 */
export function catalogError(path: string, err: unknown, what: string): CairnError {
  const msg = err instanceof Error ? err.message : String(err);
  if (isCorruptionError(err)) {
    return new CairnError(ErrorCode.STORE_CORRUPT, `catalog ${path} is corrupt: ${msg}`, { path, sqliteCode: (err as { code: string }).code }, { cause: err });
  }
  // A full volume (SQLITE_FULL, or "disk I/O error" growing the -shm file) says so (volume-full.ts).
  if (isVolumeFull(err, dirname(path))) return volumeFullError(dirname(path), `${what} ${path}: ${msg}`, { path }, err);
  return new CairnError(ErrorCode.STORE_IO, `${what} ${path}: ${msg}`, { path }, { cause: err });
}

/**
 * E_STORE_CORRUPT naming `path` when the catalog file is missing: every open but the creation of
 * a store requires it (other failures to reach it are left to SQLite's open, E_STORE_IO).
 */
function requireCatalogFile(path: string): void {
  try {
    statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return;
    throw new CairnError(
      ErrorCode.STORE_CORRUPT,
      `catalog ${path} is missing (deleted?); a store's catalog is created only with the store, never again (restore it from a backup; a store that never held anything, such as one an older Cairn's init left when killed before its catalog, can be removed and made again with cairn init)`,
      { path },
    );
  }
}

/**
 * `err` as the store reports it, the one mapping of SQLite failures met by store operations:
 * SQLite finding the catalog damaged (SQLITE_CORRUPT*, SQLITE_NOTADB) at any query is
 * E_STORE_CORRUPT naming the catalog file (fsck reports it as sqlite_integrity); SQLite failing
 * to write or reach it (SQLITE_FULL, SQLITE_READONLY*, SQLITE_IOERR*, SQLITE_CANTOPEN*) is
 * E_STORE_IO naming it; any other error is returned unchanged.
 */
export function storeErrorOf(path: string, err: unknown): unknown {
  if (isCorruptionError(err)) {
    return new CairnError(ErrorCode.STORE_CORRUPT, `catalog ${path} is corrupt: ${(err as Error).message}; run cairn fsck`, {
      path,
      sqliteCode: (err as { code: string }).code,
    }, { cause: err });
  }
  const code = sqliteCodeOf(err);
  if (code === undefined || !CATALOG_IO_CODES.some((c) => code === c || code.startsWith(`${c}_`))) return err;
  const msg = (err as Error).message;
  const readOnly = code.startsWith("SQLITE_READONLY");
  const verb = readOnly || code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR_WRITE") || code.startsWith("SQLITE_IOERR_FSYNC") ? "write" : "use";
  if (code === "SQLITE_FULL") {
    // SQLite also writes temporary files (a large savepoint's journal, a sort) in the OS temp directory.
    const dir = tmpdir();
    const hint = `; the store's file system or the OS temp directory ${dir} ($TMPDIR), where SQLite writes its temporary files, is full: free space, or set TMPDIR to a directory with room`;
    return new CairnError(ErrorCode.STORE_IO, `cannot write catalog ${path}: ${msg}${hint}`, { path, sqliteCode: code, tmpdir: dir }, { cause: err });
  }
  const hint = readOnly
    ? `; this process needs write access to it, to its ${basename(path)}-wal and ${basename(path)}-shm files and to the store directory ${dirname(path)}`
    : "";
  return new CairnError(ErrorCode.STORE_IO, `cannot ${verb} catalog ${path}: ${msg}${hint}`, { path, sqliteCode: code }, { cause: err });
}

/** SQLite's own error (SQLITE_ERROR) preparing a statement on a database without a `meta` table. */
function isNoSuchMetaTable(err: unknown): boolean {
  return sqliteCodeOf(err) === "SQLITE_ERROR" && /^no such table: (main\.)?meta$/.test((err as Error).message);
}

/**
 * E_STORE_IO, before a writer opens the catalog at `path`, when this process may not write it:
 * the catalog file, its `-wal` and `-shm` files (each when it exists; a missing one is created
 * by SQLite, or the missing catalog refused by the open) and the store directory they live in
 * (SQLite creates and deletes the `-wal` and `-shm` there). Without it such a writer would open
 * (SQLite falls back to reading) and fail only at its first write. One probe per file, at open
 * only; `access` (default: `accessSync(p, W_OK)`, which checks the real user, root included on a
 * read-only file system) is a parameter for tests.
 */
export function checkCatalogWritable(path: string, access: (p: string) => void = (p) => accessSync(p, constants.W_OK)): void {
  const dir = dirname(path);
  const name = basename(path);
  for (const [p, mayBeMissing] of [[path, true], [dir, false], [`${path}-wal`, true], [`${path}-shm`, true]] as const) {
    try {
      access(p);
    } catch (err) {
      if (mayBeMissing && (err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new CairnError(
        ErrorCode.STORE_IO,
        `cannot open catalog ${path} for writing: ${(err as Error).message}; a writer needs write access to the catalog, to its ${name}-wal and ${name}-shm files and to the store directory ${dir} (to read the store only, open it read-only: openStore({ dir, readOnly: true }))`,
        { path, denied: p, ...((err as NodeJS.ErrnoException).code === undefined ? {} : { errno: (err as NodeJS.ErrnoException).code }) },
        { cause: err },
      );
    }
  }
}

/** SQLite's primary codes (and their extended ones) for a catalog it cannot write or reach. */
const CATALOG_IO_CODES = ["SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN"] as const;

/** The SQLite result code of a driver error ("SQLITE_…"), else undefined. */
function sqliteCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/** A reader's first query refused for want of the WAL index (`-shm`): SQLITE_READONLY*, SQLITE_CANTOPEN*. */
function isWalAccessError(err: unknown): boolean {
  const code = sqliteCodeOf(err);
  return code !== undefined && (code === "SQLITE_READONLY" || code.startsWith("SQLITE_READONLY_") || code === "SQLITE_CANTOPEN" || code.startsWith("SQLITE_CANTOPEN_"));
}

/** Bytes 18 and 19 of a SQLite header: the file format's write and read versions, 2 in WAL mode. */
const WAL_HEADER_OFFSET = 18;
const WAL_FORMAT_VERSION = 2;

/** Whether the database file at `path` says it is in WAL mode (its header's format versions are 2). */
function isWalCatalog(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const b = Buffer.alloc(2);
    if (readSync(fd, b, 0, 2, WAL_HEADER_OFFSET) !== 2) return false;
    return b[0] === WAL_FORMAT_VERSION && b[1] === WAL_FORMAT_VERSION;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** E_STORE_IO for a reader that cannot map a WAL catalog's index: what a reader needs, and SQLite's own words. */
function walReaderError(path: string, err: unknown): CairnError {
  const dir = dirname(path);
  const name = basename(path);
  return new CairnError(
    ErrorCode.STORE_IO,
    `cannot read store ${dir}: its catalog is in WAL mode, so readers need write access to the store directory (SQLite creates ${name}-shm there), or read access to its ${name}-shm and ${name}-wal files when they exist (SQLite: ${(err as Error).message})`,
    { path: dir, catalog: path, sqliteCode: sqliteCodeOf(err) },
    { cause: err },
  );
}

/** Whether a value read from a digest column is one: a 32-byte BLOB. */
export function isStoredDigest(raw: unknown): raw is Buffer {
  return Buffer.isBuffer(raw) && raw.length === DIGEST_BYTES;
}

/** A catalog value as text for a message: a BLOB as an SQL literal (x'…'), anything else as JSON. */
export function describeStored(raw: unknown): string {
  if (Buffer.isBuffer(raw)) return raw.length > 64 ? `x'${raw.subarray(0, 64).toString("hex")}…' (${raw.length} bytes)` : `x'${raw.toString("hex")}'`;
  // String for what JSON cannot write as itself: a BigInt, and non-finite numbers (JSON gives null).
  const text = typeof raw === "bigint" || (typeof raw === "number" && !Number.isFinite(raw)) ? String(raw) : JSON.stringify(raw) ?? String(raw);
  return text.length > 140 ? `${text.slice(0, 140)}…` : text;
}

/**
 * The digest held in a catalog digest column; E_STORE_CORRUPT naming `where` when it is not a
 * 32-byte BLOB (a damaged or edited catalog), never E_DIGEST_INVALID or a TypeError.
 */
export function storedDigest(raw: unknown, where: string): Digest {
  if (!isStoredDigest(raw)) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `the catalog is corrupt: ${where} holds ${describeStored(raw)}, not a 32-byte digest; run cairn fsck`, { where });
  }
  return `sha256:${raw.toString("hex")}`;
}

/** Whether `err` is SQLite reporting a damaged database file (SQLITE_CORRUPT*, SQLITE_NOTADB). */
export function isCorruptionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT" || code.startsWith("SQLITE_CORRUPT_"));
}

/** Runs every callback even if some throw; rethrows the first error. */
function runAll(fns: Array<() => void>): void {
  let first: unknown;
  for (const f of fns) {
    try {
      f();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
