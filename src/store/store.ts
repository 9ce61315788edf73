/**
 * The Store: Cairn's embedded content-addressed store (ASL artifacts + TGK edges + receipts,
 * snapshots, roots, gc, fsck). Open it with `openStore`. A writer holds the store's single
 * writer lock for as long as it is open; any number of readers may read alongside.
 */
import { existsSync, readFileSync, statSync, accessSync, constants } from "node:fs";
import { resolve, join } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { systemClock, type Clock } from "../core/clock.js";
import type { Digest } from "../core/digest.js";
import { Catalog, checkCatalogWritable, checkDurability, isCorruptionError, storeErrorOf, type Durability } from "./catalog.js";
import { checkLockWait, WriterLock } from "./lock.js";
import {
  CATALOG_FILE, DEFAULT_GC_GRACE_MS, DEFAULT_STORE_DIR, FORMAT_FILE, OBJECTS_DIR, STORE_ENV_VAR, STORE_FORMAT_NAME,
  STORE_FORMAT_VERSION, TMP_DIR,
} from "./layout.js";
import { ensureDirDurable, fsyncDir, writeFileAtomicSync } from "./fsutil.js";
import { Artifacts } from "./artifacts.js";
import { checkAsOf, type ArtifactInfo, type ListOptions, type PutOptions, type PutResult, type ReadOptions } from "./artifact-rows.js";
import type { ArtifactReader, ReaderOptions } from "./artifact-reader.js";
import { recoverArtifacts, tmpDirError, tmpDirProblem } from "./artifact-recovery.js";
import { Edges, type EdgeInput, type EdgeRecord, type Lineage, type LineageOptions } from "./edges.js";
import { Receipts, type Params, type Receipt, type ReceiptInput } from "./receipts.js";
import { Refs, type Root, type RootKind, type Snapshot } from "./refs.js";
import { collectGarbage, type GcReport, type WriterSession } from "./gc.js";
import { fsck, type FsckReport } from "./fsck.js";
import type { Readable } from "node:stream";
import { makeDirs } from "../core/dirs.js";
import { refuseUnknownKeys } from "../core/suggest.js";
import { describeArgument, isOptionsObject } from "../core/describe.js";
import {
  asyncTransaction, checkAtArgument, checkCacheBytes, checkDest, checkDirection, checkGcOptions, checkOptions, checkRecord, checkTransactionFunction,
  isThenable, STORE_OPTION_KEYS,
} from "./api-checks.js";
import { checkOutPath, storeExclusion } from "./out-file.js";

export interface OpenStoreOptions {
  /** Store directory. Default: $CAIRN_STORE, else `.cairn` under the working directory. */
  dir?: string;
  /** Open for reading only (no lock; many readers may share a store with one writer). */
  readOnly?: boolean;
  /** Create the store if it does not exist (writers only). Default true for writers. */
  create?: boolean;
  /**
   * How long (integer ms, at most 2147483647) a writer waits for another writer to finish before
   * E_STORE_LOCKED. Default 0. The wait blocks the calling thread (SQLite's busy handler: no
   * timers, I/O callbacks or promises run meanwhile), so wait for writers in other processes
   * only: when this process already holds the store's writer lock (another open handle on the
   * same real path), openStore fails at once with E_STORE_LOCKED instead of waiting. A
   * non-integer or negative one is E_USAGE, before anything is created.
   */
  lockTimeoutMs?: number;
  /**
   * SQLite synchronous level: "full" (default, survives power loss) or "normal"; anything else is
   * E_USAGE, before anything is created.
   */
  durability?: Durability;
  /** Wall clock used for created_at and gc grace (never for identity). */
  clock?: Clock;
}

/** The option names `openStore` accepts; any other is E_USAGE (a misspelt `dir` must not open the default store). */
const OPEN_STORE_KEYS: readonly (keyof OpenStoreOptions)[] = Object.freeze(
  Object.keys({
    dir: true, readOnly: true, create: true, lockTimeoutMs: true, durability: true, clock: true,
  } satisfies Record<keyof OpenStoreOptions, true>) as (keyof OpenStoreOptions)[],
);

/**
 * `opts` if it is undefined or an options object (core/describe.ts `isOptionsObject`: a plain
 * object or an instance of the caller's class, not a Map, Date…) whose own keys are all
 * `OPEN_STORE_KEYS`, with values of their types; E_USAGE naming the field otherwise, before
 * anything is read or created. A JavaScript caller's `openStore("/some/dir")` or
 * `openStore({ directory })` would otherwise open the default store ($CAIRN_STORE or `.cairn`).
 * (`lockTimeoutMs` and `durability` are checked by `checkLockWait` and `checkDurability`.)
 */
function checkOpenStoreOptions(opts: unknown): OpenStoreOptions {
  if (opts === undefined) return {};
  if (!isOptionsObject(opts)) {
    const hint = typeof opts === "string" ? `; pass the store directory as { dir: ${JSON.stringify(opts)} }` : "; pass { dir } (the store directory)";
    throw new CairnError(ErrorCode.USAGE, `the openStore options must be an object, got ${describeArgument(opts)}${hint}`, { field: "options" });
  }
  const o = opts as Record<string, unknown>;
  refuseUnknownKeys(o, OPEN_STORE_KEYS, "openStore option", "options");
  if (o.dir !== undefined && typeof o.dir !== "string") {
    throw new CairnError(ErrorCode.USAGE, `dir must be a string (the store directory), got ${describeArgument(o.dir)}`, { field: "dir" });
  }
  for (const field of ["readOnly", "create"] as const) {
    if (o[field] !== undefined && typeof o[field] !== "boolean") {
      throw new CairnError(ErrorCode.USAGE, `${field} must be a boolean, got ${describeArgument(o[field])}`, { field });
    }
  }
  const clock = o.clock as { now?: unknown } | null | undefined;
  if (clock !== undefined && (clock === null || typeof clock !== "object" || typeof clock.now !== "function")) {
    throw new CairnError(ErrorCode.USAGE, `clock must be an object with a now() method, got ${describeArgument(clock)}`, { field: "clock" });
  }
  return o as OpenStoreOptions;
}

/** Resolves the store directory from an explicit option, $CAIRN_STORE, or the default. */
export function resolveStoreDir(dir?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const chosen = dir ?? env[STORE_ENV_VAR] ?? DEFAULT_STORE_DIR;
  if (chosen === "") {
    // Name where the empty value came from: the CLI refuses an empty --store itself.
    if (dir === undefined) throw new CairnError(ErrorCode.USAGE, `$${STORE_ENV_VAR} is set but empty: name a store directory, or unset it for the default ./${DEFAULT_STORE_DIR}`, { field: `$${STORE_ENV_VAR}` });
    throw new CairnError(ErrorCode.USAGE, "store directory must not be empty", { field: "dir" });
  }
  return resolve(cwd, chosen);
}

interface FormatFile {
  format: string;
  version: number;
}

function readFormat(root: string): FormatFile | undefined {
  const path = join(root, FORMAT_FILE);
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `${path} is not valid JSON: ${(err as Error).message}`, { path });
  }
  const f = parsed as Partial<FormatFile>;
  if (f === null || typeof f !== "object" || f.format !== STORE_FORMAT_NAME || !Number.isInteger(f.version)) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `${path} does not describe a Cairn store`, { path });
  }
  if (f.version !== STORE_FORMAT_VERSION) {
    throw new CairnError(
      ErrorCode.STORE_VERSION,
      `store ${root} is format version ${String(f.version)}, but this Cairn reads format version ${STORE_FORMAT_VERSION}; ${
        (f.version as number) > STORE_FORMAT_VERSION ? "upgrade Cairn" : "it is too old to open"
      }`,
      { path: root, found: f.version, supported: STORE_FORMAT_VERSION },
    );
  }
  return f as FormatFile;
}

/**
 * The directory of a store being created: the one thing made before its writer lock, as the
 * lock file (`writer.lock`) lives in it. Nothing here makes it a store: only the FORMAT file
 * does, written last (`openStore`).
 */
function makeStoreRoot(root: string): void {
  try {
    // The root's name and any parents made for it are fsynced into their parents: a store
    // whose FORMAT is durable is never lost with its directory's entry after a power loss.
    ensureDirDurable(root);
    accessSync(root, constants.W_OK);
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_IO, `cannot create store directory ${root}: ${(err as Error).message}`, { path: root }, { cause: err });
  }
}

/**
 * The layout directories of a store being created (`objects/`, `tmp/`), made under its writer
 * lock, after its catalog and before its FORMAT file (their entries are made durable by the
 * fsync of the root that precedes FORMAT): an open refused for the lock, or failing before
 * that, leaves none of them, and two writers creating one store never both make them. A path
 * that cannot be made a directory (a file named `objects`, no permission) is E_STORE_IO, and so
 * is a `tmp` already there that is not a real directory (a symlink, a file: by lstat).
 */
function makeLayoutDirs(root: string): void {
  // A tmp already there that is not a real directory (lstat: a symlink to a user's directory
  // would otherwise pass as one, and be the store's tmp/) is refused before the store exists.
  const tmpProblem = tmpDirProblem(root);
  if (tmpProblem !== undefined) {
    const tmp = join(root, TMP_DIR);
    throw new CairnError(ErrorCode.STORE_IO, `cannot create store directory ${tmp}: it is ${tmpProblem}, not a directory`, { path: tmp });
  }
  for (const sub of [OBJECTS_DIR, TMP_DIR]) {
    const dir = join(root, sub);
    try {
      makeDirs(dir);
    } catch (err) {
      throw new CairnError(ErrorCode.STORE_IO, `cannot create store directory ${dir}: ${(err as Error).message}`, { path: dir }, { cause: err });
    }
  }
}

/**
 * Opens (and for writers, by default creates) a store.
 *
 * Creating a store (a writer finding no FORMAT file, checked again under the writer lock):
 * the store directory, then the lock (its file lives in that directory), then under the lock the
 * catalog (schema and version in one durable transaction), then `objects/` and `tmp/`, then the
 * FORMAT file, atomically and last. An open refused for the lock (or failing before the layout)
 * leaves at most the store directory and its `writer.lock`. A store is a store once FORMAT exists; an init
 * killed before that left no FORMAT, and the next writer finishes it (adopting a catalog that
 * holds no record). Every open of a store that has FORMAT requires its catalog: missing or
 * empty, it is E_STORE_CORRUPT, never created again.
 *
 * `options` must be undefined or a plain object of `OpenStoreOptions` (checked before anything is
 * read or created; anything else, an unknown option or a value of the wrong type is E_USAGE). A
 * writer probes, before taking the lock, that it may write the catalog, its `-wal` and `-shm`
 * files and the store directory (`checkCatalogWritable`): if not, E_STORE_IO at the open, not at
 * its first write.
 */
export function openStore(options?: OpenStoreOptions): Store {
  const opts = checkOpenStoreOptions(options);
  const root = resolveStoreDir(opts.dir);
  const readOnly = opts.readOnly === true;
  const clock = opts.clock ?? systemClock;
  // Options are checked before anything is created.
  // Checked for a reader too, which takes no writer lock: a bad value is refused, never ignored.
  checkLockWait(opts.lockTimeoutMs ?? 0, "lockTimeoutMs");
  const durability = checkDurability(opts.durability ?? "full");
  let format = existsSync(root) ? readFormat(root) : undefined;
  if (format === undefined) {
    if (existsSync(root) && !statSync(root).isDirectory()) {
      throw new CairnError(ErrorCode.STORE_IO, `store path ${root} is not a directory`, { path: root });
    }
    if (readOnly || opts.create === false) {
      throw new CairnError(ErrorCode.STORE_MISSING, `no Cairn store at ${root} (create one with \`cairn init\`, or openStore({ dir, create: true }))`, { path: root });
    }
  }
  let lock: WriterLock | undefined;
  if (!readOnly) {
    // Only the root before the lock (its file is there); objects/ and tmp/ under it (below).
    if (format === undefined) makeStoreRoot(root);
    // A writer that could not write the catalog would open and fail at its first write.
    checkCatalogWritable(join(root, CATALOG_FILE));
    lock = WriterLock.acquire(root, opts.lockTimeoutMs ?? 0);
  }
  try {
    // Under the lock, and inside the try that releases it should the FORMAT file not read:
    // another writer may have created the store meanwhile.
    if (!readOnly) format = readFormat(root);
    const creating = format === undefined;
    const catalogPath = join(root, CATALOG_FILE);
    const catalog = new Catalog(catalogPath, { readOnly, durability, create: creating });
    try {
      if (creating) {
        makeLayoutDirs(root);
        fsyncDir(root); // the catalog's and the layout's names are durable before FORMAT says the store exists
        writeFileAtomicSync(join(root, FORMAT_FILE), `${JSON.stringify({ format: STORE_FORMAT_NAME, version: STORE_FORMAT_VERSION })}\n`);
      }
      return new Store(root, catalog, clock, lock);
    } catch (err) {
      catalog.close();
      throw err;
    }
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** A view of the store as of a logseq (a snapshot): reads only. */
export class StoreView {
  constructor(
    private readonly store: Store,
    readonly asOf: number,
  ) {}

  get(digest: Digest): Buffer {
    return this.store.get(digest, { asOf: this.asOf });
  }
  stat(digest: Digest): ArtifactInfo {
    return this.store.stat(digest, { asOf: this.asOf });
  }
  has(digest: Digest): boolean {
    return this.store.has(digest, { asOf: this.asOf });
  }
  list(opts?: Omit<ListOptions, "asOf">): Generator<ArtifactInfo> {
    return this.store.list({ ...checkOptions<Omit<ListOptions, "asOf">>(opts, STORE_OPTION_KEYS.viewList, "list"), asOf: this.asOf });
  }
  openReadStream(digest: Digest): Readable {
    return this.store.openReadStream(digest, { asOf: this.asOf });
  }
  openReader(digest: Digest, opts?: ReaderOptions): ArtifactReader {
    return this.store.openReader(digest, { ...checkOptions<ReaderOptions>(opts, STORE_OPTION_KEYS.viewReader, "openReader"), asOf: this.asOf });
  }
  lineage(digest: Digest, opts?: Omit<LineageOptions, "asOf">): Lineage {
    return this.store.lineage(digest, { ...checkOptions<Omit<LineageOptions, "asOf">>(opts, STORE_OPTION_KEYS.viewLineage, "lineage"), asOf: this.asOf });
  }
  findReceipt(program: Digest, inputs: Digest[], params: Params = {}): Receipt | undefined {
    return this.store.findReceipt(program, inputs, params, this.asOf);
  }
}

/** A read method's options (`asOf` only, checked by the artifacts as an `asOf`). */
function readOptions(opts: unknown, method: string): ReadOptions {
  return checkOptions<ReadOptions>(opts, STORE_OPTION_KEYS.read, method);
}

/** `openReader`'s options: `asOf` (checked by the artifacts as any read's) and `onVerify`, a function. */
function checkReaderOptions(opts: unknown): ReadOptions & ReaderOptions {
  const o = checkOptions<ReadOptions & ReaderOptions>(opts, STORE_OPTION_KEYS.reader, "openReader");
  if (o.onVerify !== undefined && typeof o.onVerify !== "function") {
    throw new CairnError(ErrorCode.USAGE, `openReader onVerify must be a function, got ${describeArgument(o.onVerify)}`, { field: "onVerify" });
  }
  return o;
}

/** Unfinished listings tracked before the collected ones are dropped from the set. */
const MAX_LISTINGS_BEFORE_PRUNE = 64;

/** better-sqlite3's error for a statement on a closed connection ("The database connection is not open"). */
const CLOSED_CONNECTION_RE = /database connection is not open/i;

/** The parts of an open store; reached only through `Store.open` (the closed-store guard). */
interface StoreParts {
  readonly catalog: Catalog;
  readonly artifacts: Artifacts;
  readonly edges: Edges;
  readonly receipts: Receipts;
  readonly refs: Refs;
}

/**
 * An open store (made by `openStore`). Every method but `close` throws E_USAGE "store is closed"
 * once the handle is closed (`close` again is a no-op); so do the methods of its `StoreView`s.
 */
export class Store {
  /** The catalog and the components built on it: every method reaches them through `open`. */
  private readonly parts: StoreParts;
  /** When this handle opened; gc never sweeps what this handle wrote since. */
  private readonly session: WriterSession;
  readonly recovery: { removed: number; placed: number; finishedSweeps: number } | undefined;
  /**
   * A writer whose opening met a damaged catalog page (reading the highest logseq, or in crash
   * recovery), or a `tmp` that is not a real directory (a symlink, a file; recovery did not run):
   * E_STORE_CORRUPT, thrown by every operation but `fsck` (which reports it) and `close`.
   */
  private readonly failure: CairnError | undefined;
  /**
   * Whether `failure` is a `tmp` that is not a real directory (a symlink, a file: never followed
   * or swept), which fsck reports from the file system itself, not as a catalog finding.
   */
  private readonly tmpRefused: boolean;
  private isClosed = false;
  /**
   * Listings (`list`) not yet finished, held weakly (an abandoned one is collected as before):
   * `close` ends them first, as a catalog query still open keeps the connection busy.
   */
  private readonly listings = new Set<WeakRef<Generator<ArtifactInfo>>>();

  /**
   * @internal Stores are made with `openStore`: this constructor takes Cairn's internal catalog
   * and writer lock, and is not part of the public API.
   */
  constructor(
    readonly root: string,
    catalog: Catalog,
    private readonly clock: Clock,
    private readonly lock: WriterLock | undefined,
  ) {
    // The session starts before recovery (which records no artifact): a put that de-duplicates
    // renews an artifact recorded before it (artifacts.ts `StoreContext.sessionStartTime`).
    const startTime = clock.now();
    const ctx = { root, catalog, clock, sessionStartTime: startTime };
    const artifacts = new Artifacts(ctx);
    const edges = new Edges(catalog, artifacts);
    this.parts = { catalog, artifacts, edges, receipts: new Receipts(catalog, artifacts, edges), refs: new Refs(catalog, artifacts, clock) };
    let failure = catalog.damaged;
    let recovery: Store["recovery"];
    let tmpRefused = false;
    // A tmp that is not a real directory (lstat): a symlink would lead recovery, and every
    // large put, into a directory that is not the store's. Refused like a damaged catalog: every
    // operation but fsck (which reports it) and close; recovery does not run.
    const tmpProblem = catalog.readOnly || failure !== undefined ? undefined : tmpDirProblem(root);
    if (tmpProblem !== undefined) {
      failure = tmpDirError(root, tmpProblem);
      tmpRefused = true;
    } else if (!catalog.readOnly && failure === undefined) {
      try {
        recovery = recoverArtifacts(root, catalog);
      } catch (err) {
        // A damaged catalog page stops recovery; the writer still opens so that fsck can report it.
        // Any other catalog failure (a full disk, no write access) fails the open, naming the catalog.
        if (!isCorruptionError(err)) throw storeErrorOf(catalog.path, err);
        failure = storeErrorOf(catalog.path, err) as CairnError;
      }
    }
    this.recovery = recovery;
    this.failure = failure;
    this.tmpRefused = tmpRefused;
    this.session = { startLogseq: catalog.peekLogseq(), startTime };
  }

  /**
   * Runs a store operation on the open parts; a damaged catalog page it meets is E_STORE_CORRUPT,
   * a catalog SQLite cannot write or reach E_STORE_IO (`storeErrorOf`).
   */
  private run<T>(op: (parts: StoreParts) => T): T {
    const parts = this.open;
    try {
      return op(parts);
    } catch (err) {
      throw storeErrorOf(parts.catalog.path, err);
    }
  }

  /**
   * The closed-store guard: the store's parts, or E_USAGE once `close` has run (instead of the
   * database driver's TypeError). Every method but `close` goes through it, so none reaches the
   * closed catalog.
   */
  private get open(): StoreParts {
    const parts = this.unlessClosed;
    if (this.failure !== undefined) throw this.failure;
    return parts;
  }

  /** The closed-store guard alone: fsck runs on a writer whose opening met a damaged catalog (and reports it). */
  private get unlessClosed(): StoreParts {
    if (this.isClosed) {
      throw new CairnError(ErrorCode.USAGE, `store is closed: ${this.root} (this handle was closed; open the store again with openStore)`, { path: this.root });
    }
    return this.parts;
  }

  get readOnly(): boolean {
    return this.parts.catalog.readOnly;
  }

  /** The highest logseq recorded so far. */
  headLogseq(): number {
    return this.run((p) => p.catalog.maxLogseq());
  }

  /**
   * Bounds the catalog's page cache (bytes) — engines lower it while they run under a memory
   * ceiling — and returns the previous bound.
   */
  setCacheBytes(bytes: number): number {
    return this.run((p) => p.catalog.setCacheBytes(checkCacheBytes(bytes)));
  }

  /**
   * Runs `fn` in one catalog transaction: all its writes commit together or not at all. `fn`
   * must be synchronous: an async function, or one that returns a promise, is E_USAGE (and
   * what it wrote before returning is rolled back).
   */
  transaction<T>(fn: () => T): T {
    return this.run((p) => {
      checkTransactionFunction(fn);
      return p.catalog.tx(() => {
        const result = fn();
        if (isThenable(result)) throw asyncTransaction("a function that returned a promise", true);
        return result;
      });
    });
  }

  // artifacts
  // The promise-returning methods are async so that a closed store rejects them, as any other failure.
  async put(source: AsyncIterable<Uint8Array | string> | Uint8Array | string, opts?: PutOptions): Promise<PutResult> {
    const { artifacts } = this.open;
    return this.untilClosed("put", artifacts.put(source, checkOptions<PutOptions>(opts, STORE_OPTION_KEYS.put, "put")));
  }
  putBytes(bytes: Uint8Array, opts?: PutOptions): PutResult {
    return this.run((p) => p.artifacts.putBytes(bytes, checkOptions<PutOptions>(opts, STORE_OPTION_KEYS.put, "putBytes")));
  }
  /**
   * Stores bytes given as an iterable of `Uint8Array` pieces, synchronously (so also inside
   * `transaction`), holding at most 64 KiB of them: past that each piece is written to the
   * temp file before the next is asked for (a source may reuse its buffer). Same result as
   * `putBytes` of the pieces joined.
   */
  putPieces(pieces: Iterable<Uint8Array>, opts?: PutOptions): PutResult {
    return this.run((p) => p.artifacts.putPieces(pieces, checkOptions<PutOptions>(opts, STORE_OPTION_KEYS.put, "putPieces")));
  }

  get(digest: Digest, opts?: ReadOptions): Buffer {
    return this.run((p) => p.artifacts.get(digest, readOptions(opts, "get")));
  }
  openReadStream(digest: Digest, opts?: ReadOptions): Readable {
    return this.run((p) => p.artifacts.openReadStream(digest, readOptions(opts, "openReadStream")));
  }
  /** A synchronous sequential read of the verified bytes in pieces (`ArtifactReader`: `openReadStream`'s guarantees). */
  openReader(digest: Digest, opts?: ReadOptions & ReaderOptions): ArtifactReader {
    const o = checkReaderOptions(opts);
    const user = o.onVerify;
    if (user === undefined) return this.run((p) => p.artifacts.openReader(digest, o));
    // What the callback throws is the caller's, passed on as it is (never read as a catalog error).
    let thrown: { err: unknown } | undefined;
    const onVerify = (chunk: Buffer): void => {
      try {
        user(chunk);
      } catch (err) {
        thrown = { err };
        throw err;
      }
    };
    try {
      return this.run((p) => p.artifacts.openReader(digest, { ...o, onVerify }));
    } catch (err) {
      throw thrown !== undefined ? thrown.err : err;
    }
  }
  /**
   * Writes the artifact's verified bytes to `dest` (artifacts.ts `getToFile`: atomically). A
   * `dest` in or below this store's directory, or a hard link to its catalog, FORMAT or lock, is
   * E_USAGE before anything is written (out-file.ts `checkOutPath` with `storeExclusion`, the
   * rule of the CLI's `store get -o` and of `run`'s `--out`): renamed over the catalog it would
   * destroy the store.
   */
  async getToFile(digest: Digest, dest: string, opts?: ReadOptions): Promise<ArtifactInfo> {
    const { artifacts } = this.open;
    const o = readOptions(opts, "getToFile");
    checkDest(dest);
    const write = async (): Promise<ArtifactInfo> => {
      await checkOutPath("getToFile dest", dest, [storeExclusion(this.root)]);
      return artifacts.getToFile(digest, dest, o);
    };
    return this.untilClosed("getToFile", write());
  }
  stat(digest: Digest, opts?: ReadOptions): ArtifactInfo {
    return this.run((p) => p.artifacts.stat(digest, readOptions(opts, "stat")));
  }
  has(digest: Digest, opts?: ReadOptions): boolean {
    return this.run((p) => p.artifacts.isVisible(digest, readOptions(opts, "has").asOf));
  }
  /**
   * Visible artifacts in logseq order, read lazily a page of LIST_PAGE at a time: no catalog
   * query stays open between two artifacts, so the store may be read and written while
   * iterating (as with `iterateRoots`). A listing still being read when the store is
   * closed is ended by `close` (its catalog query cannot outlive the connection); reading on
   * from it is E_USAGE "store is closed".
   */
  list(opts?: ListOptions): Generator<ArtifactInfo> {
    const rows = this.run((p) => p.artifacts.list(checkOptions<ListOptions>(opts, STORE_OPTION_KEYS.list, "list")));
    const ref = new WeakRef(rows);
    if (this.listings.size >= MAX_LISTINGS_BEFORE_PRUNE) for (const l of this.listings) if (l.deref() === undefined) this.listings.delete(l);
    this.listings.add(ref);
    // Not a generator method: the closed-store guard above runs at the call, not at the first next().
    return Store.guarded(this, rows, () => this.listings.delete(ref));
  }
  delete(digest: Digest): { digest: Digest; logseq: number } {
    return this.run((p) => p.artifacts.delete(digest));
  }

  // edges
  addEdge(e: EdgeInput): EdgeRecord {
    return this.run((p) => p.edges.add(checkRecord<EdgeInput>(e, STORE_OPTION_KEYS.edge, "addEdge", "edge")));
  }
  getEdge(id: Digest): EdgeRecord | undefined {
    return this.run((p) => p.edges.byId(id));
  }
  lineage(digest: Digest, opts?: LineageOptions): Lineage {
    return this.run((p) => {
      const o = checkOptions<LineageOptions>(opts, STORE_OPTION_KEYS.lineage, "lineage");
      checkDirection(o.direction);
      return p.edges.lineage(digest, o);
    });
  }
  /**
   * The edges of type `type` listing `digest` among their from-nodes (`direction` "down", the
   * default) or to-nodes ("up"), in logseq order, read with one query that skips the node's
   * edges of other types (unlike a depth-1 `lineage`, which crosses them all). At most
   * MAX_LINEAGE_EDGES; more is E_LIMIT_EXCEEDED.
   */
  edgesOfType(digest: Digest, type: string, direction: "down" | "up" = "down"): EdgeRecord[] {
    return this.run((p) => p.edges.ofType(digest, type, direction));
  }
  pruneEdge(id: Digest): { edgeId: Digest; logseq: number } {
    return this.run((p) => p.edges.prune(id));
  }

  // receipts
  recordReceipt(r: ReceiptInput): Receipt & { created: boolean } {
    return this.run((p) => p.receipts.record(checkRecord<ReceiptInput>(r, STORE_OPTION_KEYS.receipt, "recordReceipt", "receipt")));
  }
  findReceipt(program: Digest, inputs: Digest[], params: Params = {}, asOf?: number): Receipt | undefined {
    return this.run((p) => p.receipts.find(program, inputs, params, asOf));
  }
  getReceipt(digest: Digest): Receipt {
    return this.run((p) => p.receipts.get(digest));
  }
  pruneReceipt(digest: Digest): { digest: Digest; logseq: number } {
    return this.run((p) => p.receipts.prune(digest));
  }

  // snapshots and roots
  createSnapshot(name: string): Snapshot {
    return this.run((p) => p.refs.createSnapshot(name));
  }
  snapshot(name: string): Snapshot {
    return this.run((p) => p.refs.snapshot(name));
  }
  listSnapshots(): Snapshot[] {
    return this.run((p) => p.refs.listSnapshots());
  }
  deleteSnapshot(name: string): { name: string; logseq: number } {
    return this.run((p) => p.refs.deleteSnapshot(name));
  }
  /** A read view as of a snapshot (by name) or a logseq. */
  at(snapshotOrLogseq: string | number): StoreView {
    const asOf = this.run((p) => {
      checkAtArgument(snapshotOrLogseq);
      return typeof snapshotOrLogseq === "number" ? snapshotOrLogseq : p.refs.snapshot(snapshotOrLogseq).asOf;
    });
    return new StoreView(this, checkAsOf(asOf) as number);
  }
  /**
   * Pins `digest` under `name` (a gc root). The artifact must be visible at the head (not
   * tombstoned) whatever the name: pinning it again under a name that already pins it is a
   * no-op only while it is visible, and E_NOT_FOUND "(deleted: tombstoned)" once it is
   * tombstoned, as under a new name (the existing root stays). See ARCHITECTURE §5.13.
   */
  pin(name: string, digest: Digest, kind?: RootKind): Root {
    return this.run((p) =>
      p.catalog.tx(() => {
        const root = p.refs.pin(name, digest, kind); // name, digest, kind and conflict checks first
        p.artifacts.visibleRow(digest); // also for the root that was there (refs.pin returns it unchecked)
        return root;
      }),
    );
  }
  unpin(name: string): { name: string; logseq: number } {
    return this.run((p) => p.refs.unpin(name));
  }
  /** Every root, in logseq order, in one array: for many roots, iterate with `iterateRoots`. */
  listRoots(): Root[] {
    return this.run((p) => p.refs.listRoots());
  }
  /**
   * The roots (only those whose name starts with `prefix`, when given: `run:`, `plane:` …), in
   * logseq order, read lazily a page of ROOTS_PAGE at a time; no catalog query stays open between
   * two roots, so the store may be read and written while iterating. Once the store is closed,
   * reading on is E_USAGE "store is closed". A prefix holding a character no root name can hold
   * is E_USAGE, at the call.
   */
  iterateRoots(opts?: { prefix?: string }): Generator<Root> {
    // Not a generator method: the closed-store guard and the prefix check run at the call.
    return Store.guarded(this, this.run((p) => p.refs.iterateRoots(checkOptions<{ prefix?: string }>(opts, STORE_OPTION_KEYS.iterateRoots, "iterateRoots"))));
  }

  /**
   * `inner` read on through `store`'s closed-store guard (each step E_USAGE "store is closed" once
   * the store is closed); `onEnd` runs when the reading ends, is abandoned or fails. (Static: not
   * one of the store's operations.)
   */
  private static guarded<T>(store: Store, inner: Generator<T>, onEnd?: () => void): Generator<T> {
    const read = function* (store: Store): Generator<T> {
      try {
        for (;;) {
          const r = store.run(() => inner.next());
          if (r.done === true) return;
          yield r.value;
        }
      } finally {
        onEnd?.();
        inner.return(undefined);
      }
    };
    return read(store);
  }
  findRoot(name: string): Root | undefined {
    return this.run((p) => p.refs.findRoot(name));
  }

  // maintenance
  /**
   * Sweeps what no root keeps (gc.ts). `opts`: `dryRun` (a boolean: decide and report, sweep
   * nothing) and `graceMs` (keep artifacts written less than this long ago; default
   * DEFAULT_GC_GRACE_MS). Anything else — an unknown key such as `dryrun`, a `dryRun` that is
   * not a boolean — is E_USAGE before anything is decided: a misread dry run would sweep.
   */
  gc(opts?: { dryRun?: boolean; graceMs?: number }): GcReport {
    this.requireWriter("gc");
    const o = checkGcOptions(opts);
    return this.run((p) =>
      collectGarbage(this.root, p.catalog, this.clock, this.session, {
        dryRun: o.dryRun,
        graceMs: o.graceMs ?? DEFAULT_GC_GRACE_MS,
      }),
    );
  }
  /**
   * Checks the store and reports problems; never repairs. Runs on a writer whose opening met a
   * damaged catalog too (every other operation refuses it), reporting that as `sqlite_integrity`.
   */
  async fsck(): Promise<FsckReport> {
    const { catalog } = this.unlessClosed;
    if (catalog.readOnly) throw new CairnError(ErrorCode.USAGE, `fsck needs the store opened for writing`);
    return this.untilClosed("fsck", fsck(this.root, catalog, this.tmpRefused ? undefined : this.failure));
  }

  /**
   * An async operation that was started on an open store: if the store is closed before it
   * settles and it fails (its next catalog statement meets the closed connection, the driver's
   * TypeError), the failure is E_USAGE "store was closed while <what> was in flight". Such an
   * operation commits nothing: a put's catalog transaction never ran, so it leaves no row and
   * removes its temp file (§5.6).
   */
  private async untilClosed<T>(what: string, op: Promise<T>): Promise<T> {
    void this.unlessClosed; // E_USAGE when called on a closed store
    try {
      return await op;
    } catch (err) {
      const mapped = storeErrorOf(this.parts.catalog.path, err); // a catalog failure (§5.2, §7)
      if (mapped !== err) throw mapped;
      // Only the driver's own refusal of the closed connection (not, say, a TypeError of the
      // caller's chunk source that happens to come after close).
      if (!this.closed || !(err instanceof TypeError) || !CLOSED_CONNECTION_RE.test(err.message)) throw err;
      throw new CairnError(ErrorCode.USAGE, `store was closed while ${what} was in flight: ${this.root} (await the store's operations before close)`, {
        path: this.root,
      }, { cause: err });
    }
  }

  private requireWriter(what: string): void {
    if (this.open.catalog.readOnly) throw new CairnError(ErrorCode.USAGE, `${what} needs the store opened for writing`);
  }

  /**
   * Whether `close` has run on this handle (every method but `close` then throws E_USAGE "store
   * is closed"). A question, not a probe: before 2026-11-28 callers asked by calling a method
   * and catching that error.
   */
  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      for (const l of this.listings) l.deref()?.return(undefined);
      this.listings.clear();
      this.parts.catalog.close();
    } finally {
      this.lock?.release();
    }
  }
}
