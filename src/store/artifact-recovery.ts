/**
 * Crash recovery of the artifacts (`recoverArtifacts`, run by every writer that opens the store),
 * and `fsyncDirs`, which makes a sweep's removals durable before their rows are marked swept (gc
 * and recovery finishing an interrupted gc).
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { digestToBytes, type Digest } from "../core/digest.js";
import { isStoredDigest, type Catalog } from "./catalog.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { FORMAT_FILE, OBJECTS_DIR, READY_SUFFIX, TMP_DIR, isCairnTmpName, objectPath } from "./layout.js";
import { ensureDirDurable, fsyncDir } from "./fsutil.js";
import { legacyTempWriter, sweepDeadWriterTemps, taggedTempWriter, type TempWriter } from "./temp-files.js";
import { placeReady, unlinkQuiet } from "./artifact-writes.js";

/**
 * Crash recovery, run by every writer that opens the store (it holds the lock, so no other
 * writer has files in tmp/): drop *.part files and a batch run's scratch files, drop .ready
 * files with no catalog row, place .ready files that were committed, and finish files that gc
 * was removing (their directories fsynced before the rows are marked swept). Only the regular
 * files of tmp/ named as Cairn names its own (layout.ts `isCairnTmpName`) are touched: anything
 * else there (a user's file or directory, a store made inside tmp/, a symlink) is not the
 * store's and is left as it is (fsck reports it, `tmp_foreign`). A tmp/ that is not a real
 * directory (a symlink, a file: `tmpDirProblem`) is never listed or followed (the Store refuses
 * such a writer before recovery; checked here again). It never refuses to
 * open the store over a file it cannot move or remove (a stray file where objects/ab/ goes, a
 * directory where a file was, no permission): it leaves it as it is, for fsck to report and the
 * next writer to try again. Catalog errors (a damaged page) are thrown.
 */
export function recoverArtifacts(root: string, cat: Catalog): { removed: number; placed: number; finishedSweeps: number } {
  const tmp = join(root, TMP_DIR);
  const objects = join(root, OBJECTS_DIR);
  // lstat, not stat: a tmp that is a symlink (to a user's directory) is never followed.
  const tmpIsDir = tmpDirProblem(root) === undefined;
  if (tmpIsDir) attempt(() => ensureDirDurable(tmp));
  attempt(() => ensureDirDurable(objects));
  // A writer killed between making a fan-out directory and fsyncing objects/ (placeReady) left
  // an entry that may not be durable yet, and this writer will not fsync it again (it exists):
  // one fsync per open makes every entry of objects/ durable before anything is placed in it.
  attempt(() => fsyncDir(objects));
  let removed = 0;
  let placed = 0;
  for (const name of tmpIsDir ? listQuiet(tmp) : []) {
    // Only Cairn's own names, and only as the regular files Cairn makes: nothing else is the store's.
    if (!isCairnTmpFile(tmp, name)) continue;
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
    if (attempt(() => unlinkQuiet(path))) removed++;
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

/**
 * What the store's `tmp` is when it is there but not a real directory (by lstat: a symlink is
 * never followed), e.g. `a symbolic link to /data/shared`, `a regular file`; undefined when it is
 * a directory, is missing (a writer makes it again) or cannot be looked at (left for fsck).
 */
export function tmpDirProblem(root: string): string | undefined {
  const tmp = join(root, TMP_DIR);
  let st: Stats;
  try {
    st = lstatSync(tmp);
  } catch {
    return undefined;
  }
  if (st.isDirectory()) return undefined;
  if (st.isSymbolicLink()) {
    try {
      return `a symbolic link to ${readlinkSync(tmp)}`;
    } catch {
      return "a symbolic link";
    }
  }
  if (st.isFile()) return "a regular file";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "a device";
}

/**
 * The E_STORE_CORRUPT of a writer opening a store whose `tmp` is not a real directory
 * (`tmpDirProblem`): it is never followed or swept, and every operation but fsck and close
 * refuses the store until it is a directory again.
 */
export function tmpDirError(root: string, what: string): CairnError {
  const tmp = join(root, TMP_DIR);
  return new CairnError(
    ErrorCode.STORE_CORRUPT,
    `store directory ${tmp} is ${what}, not a directory: the store will not write through it (move it out of the store; the next writer makes ${TMP_DIR}/ again)`,
    { path: tmp },
  );
}

/**
 * Whether entry `name` of the store's tmp/ (`tmp`) is one of Cairn's own temp or scratch files:
 * named so (`isCairnTmpName`) and a regular file (lstat: a symlink is not, whatever it points
 * to). Recovery sweeps only these; fsck reports any other entry as `tmp_foreign`.
 */
export function isCairnTmpFile(tmp: string, name: string): boolean {
  if (!isCairnTmpName(name)) return false;
  try {
    return lstatSync(join(tmp, name)).isFile();
  } catch {
    return false;
  }
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
