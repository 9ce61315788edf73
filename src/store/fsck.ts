/**
 * fsck: re-hashes every stored artifact and checks the catalog's consistency. It reports
 * every problem it finds (up to MAX_REPORTED_PROBLEMS, then a count of the rest) and never
 * repairs anything itself; crash recovery has already run because fsck opens the store as
 * the writer.
 *
 * Bounded memory: nothing fsck holds grows with the store. Artifacts are verified by paging
 * over the catalog (packed ones first, then file-stored ones, each in logseq order); files
 * under objects/ and tmp/ are read from streamed directory listings and each one is looked up
 * in the catalog by digest (an indexed query). Listings come back unordered, so the findings
 * are ordered by name through a selection that keeps only as many as the report can still
 * list, and counts the rest. Every other catalog check iterates its query row by row.
 */
import { closeSync, existsSync, lstatSync, opendirSync, statSync, type Dir, type Dirent } from "node:fs";
import { join } from "node:path";
import { digestToBytes, type Digest } from "../core/digest.js";
import { CairnError, ErrorCode, isCairnError, osErrorText } from "../core/errors.js";
import { describeStored, isCorruptionError, isStoredDigest, type Catalog } from "./catalog.js";
import { OBJECTS_DIR, READY_SUFFIX, TMP_DIR, objectPath } from "./layout.js";
import { isCairnTmpFile, tmpDirProblem } from "./artifact-recovery.js";
import { openArtifactFile, verifyBytes, verifyFd, type ArtifactFile } from "./artifact-reads.js";
import { corrupt, rowFault, type ArtifactRow } from "./artifact-rows.js";
import { edgeId } from "./edges.js";
import { checkedReceiptBody, checkedTiming, type ReceiptBody } from "./receipts.js";

/** Problems listed one by one before fsck only counts the rest. */
export const MAX_REPORTED_PROBLEMS = 10_000;
/** Artifacts verified per catalog read. */
const FSCK_PAGE = 1000;
const ROW_COLUMNS = "logseq, digest, size, media_type, type_tag, storage, state, deleted, events, created_at";
const DIGEST_HEX_RE = /^[0-9a-f]{64}$/;

export type FsckProblemCode =
  | "sqlite_integrity"
  | "artifact_corrupt"
  | "artifact_missing"
  | "swept_bytes_present"
  | "orphan_file"
  | "stray_file"
  | "tmp_foreign"
  | "dangling_reference"
  | "edge_invalid"
  | "receipt_invalid"
  | "logseq_gap"
  | "logseq_duplicate"
  | "unreadable_directory"
  | "too_many_problems";

export interface FsckProblem {
  code: FsckProblemCode;
  subject: string;
  message: string;
}

export interface FsckReport {
  ok: boolean;
  /**
   * Every problem found, whether listed or not: `problems` lists at most MAX_REPORTED_PROBLEMS
   * of them, then one `too_many_problems` entry (not itself counted here) with the count of the rest.
   */
  problemCount: number;
  problems: FsckProblem[];
  /**
   * What was checked: `artifacts` counts every artifact row, `swept` those among them whose bytes
   * gc collected (checked to be gone, nothing to re-hash), `bytes` the bytes re-hashed.
   */
  checked: { artifacts: number; swept: number; bytes: number; receipts: number; edges: number; maxLogseq: number };
}

type Checked = FsckReport["checked"];

class Problems {
  readonly list: FsckProblem[] = [];
  private extra = 0;
  add(code: FsckProblemCode, subject: string, message: string): void {
    if (this.list.length < MAX_REPORTED_PROBLEMS) this.list.push({ code, subject, message });
    else this.extra++;
  }
  /** How many more problems will be listed. */
  room(): number {
    return Math.max(0, MAX_REPORTED_PROBLEMS - this.list.length);
  }
  /** Counts problems found but never listed (they would have been past the limit). */
  addUnlisted(n: number): void {
    this.extra += n;
  }
  /** Every problem found, listed or not. */
  get count(): number {
    return this.list.length + this.extra;
  }
  done(): FsckProblem[] {
    if (this.extra > 0) this.list.push({ code: "too_many_problems", subject: "store", message: `${this.extra} more problems not listed` });
    return this.list;
  }
}

/**
 * The first `limit` of a stream of findings in key order, and how many there were in all, in
 * memory bounded by `limit` (it sorts and truncates whenever it holds twice that many).
 */
class FirstInOrder<T> {
  private items: Array<{ key: string; value: T }> = [];
  total = 0;
  constructor(private readonly limit: number) {}

  offer(key: string, value: T): void {
    this.total++;
    if (this.limit === 0) return;
    this.items.push({ key, value });
    if (this.items.length >= 2 * this.limit) this.trim();
  }

  /** The kept values in key order. */
  first(): T[] {
    this.trim();
    return this.items.map((i) => i.value);
  }

  private trim(): void {
    this.items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (this.items.length > this.limit) this.items.length = this.limit;
  }
}

/** Adds a selection's findings in order, and counts those it did not keep. */
function report<T>(p: Problems, found: FirstInOrder<T>, add: (value: T) => void): void {
  const first = found.first();
  for (const value of first) add(value);
  p.addUnlisted(found.total - first.length);
}

/**
 * A directory's entries, streamed: objects/ab/ holds as many files as the store has large
 * artifacts. A directory that cannot be opened or read (no permission, an I/O error) ends the
 * listing and is passed to `unreadable` (a finding, §5.15: never an error thrown); errors of the
 * caller's loop body are not caught here.
 */
function* entries(path: string, unreadable: (err: unknown) => void): Generator<Dirent> {
  let dir: Dir;
  try {
    dir = opendirSync(path);
  } catch (err) {
    unreadable(fsFailure(err));
    return;
  }
  try {
    for (;;) {
      let ent: Dirent | null;
      try {
        ent = dir.readSync();
      } catch (err) {
        unreadable(fsFailure(err));
        return;
      }
      if (ent === null) return;
      yield ent;
    }
  } finally {
    dir.closeSync();
  }
}

/** `err` if it is a file-system error (it has an errno code); anything else (a bug) is thrown on. */
function fsFailure(err: unknown): unknown {
  if (typeof (err as NodeJS.ErrnoException | null)?.code !== "string") throw err;
  return err;
}

/** The finding for a store directory fsck cannot list: its entries were not checked. */
function unreadableDir(subject: string, err: unknown): FsckProblem {
  return { code: "unreadable_directory", subject, message: `directory ${subject} cannot be read (${osErrorText(err)}): its entries were not checked` };
}

/** A digest column's value as a digest, or undefined when it is not a 32-byte BLOB. */
function digestOf(raw: unknown): Digest | undefined {
  return isStoredDigest(raw) ? `sha256:${raw.toString("hex")}` : undefined;
}

/**
 * Checks the store. `opening` is the E_STORE_CORRUPT a writer's opening met (a damaged catalog
 * page read for the highest logseq or by crash recovery), reported first. E_USAGE inside a
 * catalog transaction: its reads would mix uncommitted writes with a commit made while it runs.
 */
export async function fsck(root: string, cat: Catalog, opening?: CairnError): Promise<FsckReport> {
  if (cat.inTransaction) {
    throw new CairnError(ErrorCode.USAGE, "fsck cannot run inside store.transaction(): call it outside the transaction");
  }
  const p = new Problems();
  const checked: Checked = { artifacts: 0, swept: 0, bytes: 0, receipts: 0, edges: 0, maxLogseq: 0 };
  if (opening !== undefined) {
    const why = opening.cause instanceof Error ? opening.cause.message : opening.message;
    p.add("sqlite_integrity", "catalog", `opening the store as the writer could not read the catalog (${why}): crash recovery did not run`);
  }

  try {
    const integrity = cat.db.pragma("quick_check") as Array<{ quick_check: string }>;
    for (const r of integrity) if (r.quick_check !== "ok") p.add("sqlite_integrity", "catalog", r.quick_check);

    // 1. Artifacts: re-hash every present one; swept ones must hold no bytes.
    checkArtifactRows(root, cat, p, checked);
    await verifyFiles(root, cat, p, checked);
    // 2. Files nobody references.
    checkObjectFiles(root, cat, p);
    checkTmpFiles(root, cat, p);
    // 3. References must point at known artifacts.
    checkReferences(cat, p);
    // 4. Edges: every edge has nodes on both sides and its id matches its content.
    checkEdges(cat, p, checked);
    // 5. Receipts: canonical bodies whose digest and action key match, referencing known artifacts.
    checkReceipts(cat, p, checked);
    // 6. Logseq: every value 1..max accounted for exactly once.
    checked.maxLogseq = checkLogseqs(cat, p);
  } catch (err) {
    // A damaged catalog page that a check had to read: a finding, not a crash. The checks
    // after it cannot run on a catalog SQLite refuses to read.
    if (!isCorruptionError(err)) throw err;
    p.add("sqlite_integrity", "catalog", `the catalog cannot be read (${(err as Error).message}); the remaining checks were skipped`);
  }
  const problemCount = p.count;
  const problems = p.done();
  return { ok: problemCount === 0, problemCount, problems, checked };
}

/** Every row, paged: packed bytes re-hashed, swept rows hold no bytes. Present files are left to verifyFiles. */
function checkArtifactRows(root: string, cat: Catalog, p: Problems, checked: Checked): void {
  const pageStmt = cat.stmt(`SELECT ${ROW_COLUMNS}, bytes FROM artifacts WHERE logseq > ? ORDER BY logseq LIMIT ?`);
  let after = 0;
  for (;;) {
    const page = pageStmt.all(after, FSCK_PAGE) as Array<ArtifactRow & { bytes: Buffer | null }>; // rowFault checks the types
    if (page.length === 0) break;
    for (const r of page) {
      after = r.logseq;
      checked.artifacts++;
      checkArtifactRow(root, r, p, checked);
    }
  }
}

function checkArtifactRow(root: string, r: ArtifactRow & { bytes: Buffer | null }, p: Problems, checked: Checked): void {
  const d = digestOf(r.digest);
  if (d === undefined) {
    p.add("artifact_corrupt", `logseq ${r.logseq}`, `the artifact row at logseq ${r.logseq} holds ${describeStored(r.digest)}, not a 32-byte digest`);
    return;
  }
  // Values of types Cairn never writes (packed bytes as TEXT, a size of 'abc'): as a read refuses them
  const why = rowFault(r);
  if (why !== undefined) {
    p.add("artifact_corrupt", d, corrupt(d, why).message);
    return;
  }
  if (r.state !== 0) checked.swept++;
  if (r.storage === 1) {
    if (r.state !== 0 && existsSync(objectPath(root, d))) p.add("swept_bytes_present", d, `artifact ${d} was swept but its file is still present`);
    return;
  }
  if (r.state !== 0) {
    if (r.bytes !== null) p.add("swept_bytes_present", d, `artifact ${d} was swept but its packed bytes are still present`);
    return;
  }
  if (r.bytes === null) {
    p.add("artifact_missing", d, `artifact ${d}: packed bytes are missing`);
    return;
  }
  checked.bytes += r.bytes.length;
  try {
    verifyBytes(d, r, r.bytes);
  } catch (err) {
    if (!isCairnError(err)) throw err;
    p.add("artifact_corrupt", d, err.message);
  }
}

/** Present file-stored artifacts, paged in logseq order: each file re-hashed by streaming. */
async function verifyFiles(root: string, cat: Catalog, p: Problems, checked: Checked): Promise<void> {
  const pageStmt = cat.stmt(`SELECT ${ROW_COLUMNS} FROM artifacts WHERE storage = 1 AND state = 0 AND logseq > ? ORDER BY logseq LIMIT ?`);
  let after = 0;
  for (;;) {
    const page = pageStmt.all(after, FSCK_PAGE) as ArtifactRow[];
    if (page.length === 0) return;
    for (const r of page) {
      after = r.logseq;
      await verifyFile(root, r, p, checked);
    }
  }
}

/** One file re-hashed (read at most one byte past its recorded size); what is not a readable regular file is reported. */
async function verifyFile(root: string, r: ArtifactRow, p: Problems, checked: Checked): Promise<void> {
  const d = digestOf(r.digest);
  if (d === undefined || rowFault(r) !== undefined) return; // reported by checkArtifactRows
  let file: ArtifactFile | undefined;
  try {
    file = openArtifactFile(root, d);
  } catch (err) {
    if (!isCairnError(err)) throw err;
    p.add("artifact_corrupt", d, err.message);
    return;
  }
  if (file === undefined) {
    p.add("artifact_missing", d, `artifact ${d}: its file is missing`);
    return;
  }
  try {
    await verifyFd(d, r, file);
    checked.bytes += r.size;
  } catch (err) {
    if (isCairnError(err)) p.add("artifact_corrupt", d, err.message);
    else throw err;
  } finally {
    closeSync(file.fd);
  }
}

/** Whether `path` is there but is not a directory (then reported, and not listed). */
function notADirectory(path: string): boolean {
  try {
    return !statSync(path).isDirectory();
  } catch {
    return lstatExists(path);
  }
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Entries under objects/ that are not the file of a file-stored artifact row (any state),
 * ordered by (top-level name, file name). The sort key joins the two with NUL, which sorts
 * before every character a name can hold, so a directory's files follow it directly.
 */
function checkObjectFiles(root: string, cat: Catalog, p: Problems): void {
  const objects = join(root, OBJECTS_DIR);
  if (notADirectory(objects)) {
    p.add("orphan_file", OBJECTS_DIR, `${OBJECTS_DIR} is not a directory`);
    return;
  }
  if (!existsSync(objects)) return;
  const isFileArtifact = cat.stmt("SELECT 1 FROM artifacts WHERE digest = ? AND storage = 1");
  const found = new FirstInOrder<FsckProblem>(p.room());
  const orphan = (subject: string): FsckProblem => ({ code: "orphan_file", subject, message: `file ${subject} belongs to no artifact` });
  // objects/ itself unreadable: listed before its entries (its key sorts first).
  for (const ent of entries(objects, (err) => found.offer("", unreadableDir(OBJECTS_DIR, err)))) {
    const dir = ent.name;
    if (!ent.isDirectory()) {
      found.offer(dir, orphan(join(OBJECTS_DIR, dir)));
      continue;
    }
    // An unreadable fan-out directory is listed where its first file would be.
    for (const file of entries(join(objects, dir), (err) => found.offer(dir, unreadableDir(join(OBJECTS_DIR, dir), err)))) {
      const hex = `${dir}${file.name}`;
      if (!DIGEST_HEX_RE.test(hex) || isFileArtifact.get(Buffer.from(hex, "hex")) === undefined) {
        found.offer(`${dir}\0${file.name}`, orphan(join(OBJECTS_DIR, dir, file.name)));
      }
    }
  }
  report(p, found, (f) => p.add(f.code, f.subject, f.message));
}

/**
 * Anything left in tmp/ (recovery removes Cairn's own files when a writer opens the store). A
 * committed artifact's `<hex>.ready` that recovery could not move into objects/ says so. An
 * entry that is not one of Cairn's temp or scratch files (by name and as a regular file,
 * artifact-recovery.ts `isCairnTmpFile`) is `tmp_foreign`: recovery leaves it. A tmp that is a symlink is
 * reported, never followed (lstat).
 */
function checkTmpFiles(root: string, cat: Catalog, p: Problems): void {
  const tmp = join(root, TMP_DIR);
  const kind = tmpDirProblem(root);
  if (kind !== undefined && kind.startsWith("a symbolic link")) {
    p.add("stray_file", TMP_DIR, `${TMP_DIR} is ${kind}, not a directory: writers refuse the store (E_STORE_CORRUPT) until it is moved out of the store`);
    return;
  }
  if (notADirectory(tmp)) {
    p.add("stray_file", TMP_DIR, `${TMP_DIR} is not a directory`);
    return;
  }
  if (!existsSync(tmp)) return;
  const isFileArtifact = cat.stmt("SELECT 1 FROM artifacts WHERE digest = ? AND storage = 1 AND state = 0");
  const found = new FirstInOrder<string>(p.room());
  let unreadable: FsckProblem | undefined;
  for (const ent of entries(tmp, (err) => (unreadable = unreadableDir(TMP_DIR, err)))) found.offer(ent.name, join(TMP_DIR, ent.name));
  if (unreadable !== undefined) p.add(unreadable.code, unreadable.subject, unreadable.message);
  report(p, found, (subject) => {
    const name = subject.slice(TMP_DIR.length + 1);
    if (!isCairnTmpFile(tmp, name)) {
      p.add("tmp_foreign", subject, `${subject} is not a temporary file of Cairn's: crash recovery leaves it (move it out of the store)`);
      return;
    }
    const hex = name.endsWith(READY_SUFFIX) ? name.slice(0, -READY_SUFFIX.length) : "";
    if (DIGEST_HEX_RE.test(hex) && isFileArtifact.get(Buffer.from(hex, "hex")) !== undefined) {
      p.add("stray_file", subject, `file ${subject} of artifact sha256:${hex} was never moved into ${OBJECTS_DIR}/ (crash recovery could not place it; reads use it where it is)`);
    } else {
      p.add("stray_file", subject, `temporary file ${subject} was left behind`);
    }
  });
}

function checkReferences(cat: Catalog, p: Problems): void {
  const dangling = (sql: string, what: string): void => {
    for (const r of cat.stmt(sql).iterate() as Iterable<{ d: unknown }>) {
      const d = digestOf(r.d);
      if (d !== undefined) p.add("dangling_reference", d, `${what} references ${d}, which is not an artifact in this store`);
      else p.add("dangling_reference", describeStored(r.d), `${what} references ${describeStored(r.d)}, which is not a 32-byte digest`);
    }
  };
  const known = "NOT IN (SELECT digest FROM artifacts)";
  dangling(`SELECT DISTINCT node AS d FROM edge_nodes WHERE node ${known}`, "an edge");
  dangling(`SELECT DISTINCT digest AS d FROM roots WHERE digest ${known}`, "a root");
  dangling(`SELECT DISTINCT digest AS d FROM artifact_events WHERE digest ${known}`, "a tombstone");
  dangling(`SELECT DISTINCT digest AS d FROM receipts WHERE digest ${known}`, "a receipt record");
}

function checkEdges(cat: Catalog, p: Problems, checked: Checked): void {
  const orphanNodes = cat.stmt("SELECT DISTINCT edge_logseq AS l FROM edge_nodes WHERE edge_logseq NOT IN (SELECT logseq FROM edges)");
  for (const r of orphanNodes.iterate() as Iterable<{ l: number }>) p.add("edge_invalid", `logseq ${r.l}`, `edge nodes at logseq ${r.l} belong to no edge`);
  const nodesOf = cat.stmt("SELECT side, node FROM edge_nodes WHERE edge_logseq = ? ORDER BY side, pos");
  for (const e of cat.stmt("SELECT logseq, edge_id, edge_type, role FROM edges ORDER BY logseq").iterate() as Iterable<{
    logseq: number;
    edge_id: unknown;
    edge_type: string;
    role: string;
  }>) {
    checked.edges++;
    const nodes = nodesOf.all(e.logseq) as Array<{ side: number; node: unknown }>; // ≤ 2 × MAX_EDGE_NODES
    const id = digestOf(e.edge_id);
    const subject = id ?? `logseq ${e.logseq}`;
    if (id === undefined) {
      p.add("edge_invalid", subject, `the edge at logseq ${e.logseq} has id ${describeStored(e.edge_id)}, not a 32-byte digest`);
      continue;
    }
    const bad = nodes.find((n) => !isStoredDigest(n.node));
    if (bad !== undefined) {
      p.add("edge_invalid", id, `edge ${id} has a node ${describeStored(bad.node)} that is not a 32-byte digest`);
      continue;
    }
    const from = nodes.filter((n) => n.side === 0).map((n) => digestOf(n.node) as Digest);
    const to = nodes.filter((n) => n.side === 1).map((n) => digestOf(n.node) as Digest);
    if (from.length === 0 || to.length === 0) p.add("edge_invalid", id, `edge ${id} has no ${from.length === 0 ? "from" : "to"} nodes`);
    else if (edgeId({ from, to, type: e.edge_type, role: e.role }) !== id) p.add("edge_invalid", id, `edge ${id} does not match its content`);
  }
}

function checkReceipts(cat: Catalog, p: Problems, checked: Checked): void {
  const knownStmt = cat.stmt("SELECT 1 FROM artifacts WHERE digest = ?");
  for (const r of cat.stmt("SELECT logseq, digest, action_key, body, timing FROM receipts ORDER BY logseq").iterate() as Iterable<{
    logseq: number;
    digest: unknown;
    action_key: unknown;
    body: unknown;
    timing: unknown;
  }>) {
    checked.receipts++;
    const d = digestOf(r.digest);
    const key = digestOf(r.action_key);
    if (d === undefined || key === undefined) {
      const [column, value] = d === undefined ? ["digest", r.digest] : ["action key", r.action_key];
      p.add("receipt_invalid", d ?? `logseq ${r.logseq}`, `the receipt at logseq ${r.logseq} has ${column} ${describeStored(value)}, not a 32-byte digest`);
      continue;
    }
    let refs: Digest[];
    try {
      if (typeof r.body !== "string") throw new Error(`body is ${describeStored(r.body)}, not text`);
      const body: ReceiptBody = checkedReceiptBody(d, key, r.body); // the check every receipt load makes
      checkedTiming(r.timing);
      refs = [body.program, ...body.inputs, ...body.outputs];
    } catch (err) {
      p.add("receipt_invalid", d, `receipt ${d}: ${(err as Error).message}`);
      continue;
    }
    // Every one a digest: checkedReceiptBody checked the body's shape.
    for (const ref of refs) {
      if (knownStmt.get(digestToBytes(ref)) === undefined) {
        p.add("dangling_reference", ref, `receipt ${d} references ${ref}, which is not an artifact in this store`);
      }
    }
  }
}

/** Reports gaps and duplicates in 1..max (SQLite sorts the union, spilling to disk if it must); returns max. */
function checkLogseqs(cat: Catalog, p: Problems): number {
  const union = [
    "SELECT logseq AS l FROM artifacts",
    "SELECT logseq FROM artifact_events",
    "SELECT logseq FROM receipts",
    "SELECT logseq FROM edges",
    "SELECT logseq FROM snapshots",
    "SELECT logseq FROM roots",
    "SELECT logseq FROM removals",
    "SELECT target_logseq FROM removals",
  ].join(" UNION ALL ");
  let expect = 1;
  for (const r of cat.stmt(`SELECT l FROM (${union}) ORDER BY l`).iterate() as Iterable<{ l: number }>) {
    if (r.l < expect) p.add("logseq_duplicate", `logseq ${r.l}`, `logseq ${r.l} is used by more than one record`);
    else {
      if (r.l > expect) p.add("logseq_gap", `logseq ${expect}`, `logseq ${expect}${r.l - 1 > expect ? `..${r.l - 1}` : ""} missing: no record has it`);
      expect = r.l + 1;
    }
  }
  return expect - 1;
}
