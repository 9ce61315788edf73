/**
 * Path confinement: every file a CS runtime touches stays inside the data root.
 *
 * Rules (each refusal is E_PATH_CONFINEMENT, `details.reason = "path_confinement"`, naming the path):
 *
 *  1. Lexical: no NUL byte; a configured path must be absolute; an entity path is appended to
 *     its `module_data_root` as SEMANTICS C.4 builds it (`module_data_root + "/" + path`), so a
 *     leading `/` keeps it below that root (`/abs/x.json` names `<root>//abs/x.json`, that is
 *     `<root>/abs/x.json`); no `..` segment anywhere (even one that would normalise back inside);
 *     after collapsing `.` and repeated `/`, the path must lie strictly below the data root.
 *     Under the PGS rule (`EffectContext.refuseDirectoryPaths`, set by PGS runs) a path ending in
 *     `/` or `/.` names a directory and is refused (`refuseDirectoryPath`): the reference builds
 *     the path by concatenation and its open() fails; otherwise (Cairn snapshot runs, whose
 *     compiler accepts such a store path) it names the file without the ending, as always.
 *  2. Physical: the data root is resolved with `realpath`; the parent directories are walked
 *     from there one component at a time. A missing component is created (when the operation
 *     creates directories) as a real directory; an existing symlinked component is resolved
 *     with `realpath` and must stay inside the real data root (symlinks *inside* the root are
 *     permitted for directories — the spec does not forbid them).
 *  3. The final component must not be a symlink at all (even one pointing inside), and files
 *     are opened with O_NOFOLLOW so a symlink swapped in later is refused by the kernel.
 *
 * Single-writer assumption (capability metadata: `concurrency: single_writer`): a concurrent
 * process that swaps a checked directory for a symlink between the check and the open is not
 * defended against beyond rule 3.
 *
 * Per run (`CheckedDirs`), only the real data root is remembered, re-checked by one `lstat` on
 * every call; the parent directories and the final component are checked on every call, so a
 * swap between two calls of a run is refused as it would be without the memo.
 */
import { lstatSync, mkdirSync, realpathSync, statSync, type BigIntStats, type Stats } from "node:fs";
import { posix } from "node:path";
import { confinementError, ioError, effectError, EffectErrorReason } from "./errors.js";
import { MODULE_DATA_ROOT_TEMPLATE } from "./policy.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { fsyncDir, isNotFound } from "../../store/fsutil.js";
import { makeDirs } from "../../core/dirs.js";

/** A path known to be lexically inside the data root. */
export interface ConfinedPath {
  /** The data root as given (normalised, no trailing `/`). */
  readonly root: string;
  /** Path relative to the data root, `/`-separated, no `.`/`..`/empty segments. */
  readonly rel: string;
}

/** A confined path whose parent directory has been physically checked. */
export interface PreparedPath extends ConfinedPath {
  /** Real (symlink-free) path of the parent directory, or `undefined` when it does not exist. */
  readonly realParent: string | undefined;
  /** Real path of the file itself (`realParent` + base name), when the parent exists. */
  readonly realFile: string | undefined;
  /** lstat of the final component (nanosecond timestamps, for filecache.ts), `undefined` when absent. Never a symlink (refused). */
  readonly stat: BigIntStats | undefined;
}

/**
 * A configured path (expanded from `{{module_data_root}}/…`) as refusals show it: the data root
 * written back as `{{module_data_root}}`. Refusals end up in traces (`ERROR.message`), which must
 * not depend on where the data root is (`wf replay` runs in a temp data root) nor carry an
 * absolute host path; a path outside the data root is shown as configured (snapshot text).
 */
export function shownConfigured(root: string, p: string): string {
  if (p === root) return MODULE_DATA_ROOT_TEMPLATE;
  const prefix = root === "/" ? "/" : `${root}/`;
  return p.startsWith(prefix) ? `${MODULE_DATA_ROOT_TEMPLATE}/${p.slice(prefix.length)}` : p;
}

function checkNoNul(p: string, shown: string = p): void {
  if (p.includes("\0")) throw confinementError(shown, "contains a NUL byte");
}

function checkNoDotDot(p: string, shown: string = p): void {
  // A `..` segment of `p.split("/")`, found without splitting.
  if (p === ".." || p.startsWith("../") || p.endsWith("/..") || p.includes("/../")) throw confinementError(shown, "contains a '..' segment");
}

/** The last data root normalised, and its normal form (a run normalises the same root many times). */
let lastRoot: [string, string] | undefined;

/** Normalises a data root: absolute, no NUL, no `..`, trailing `/` removed (except for `/`). */
export function normalizeDataRoot(root: string): string {
  if (lastRoot !== undefined && lastRoot[0] === root) return lastRoot[1];
  if (typeof root !== "string" || root.length === 0) throw confinementError(String(root), "is not a data root path");
  checkNoNul(root);
  if (!posix.isAbsolute(root)) throw confinementError(root, "is not an absolute data root");
  checkNoDotDot(root);
  const n = posix.normalize(root);
  const out = n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
  lastRoot = [root, out];
  return out;
}

/**
 * Refuses a data root that exists but is not a directory (a regular file, a FIFO…), or whose
 * path runs through a file (`ENOTDIR`): `E_INVALID_INPUT` `data root <shown> cannot hold the
 * workflows' state: it is not a directory` (or `: a component of its path is not a directory`),
 * `details` `{ field, path: shown }`. A data root that does not exist yet passes (the CS runtimes
 * create it on first use), as does one this process may not `stat` (EACCES…: the run reports
 * it where it touches the data root, as before). The one check of `cairn wf run` (both
 * runtimes: `runCairnWorkflow` and the plane driver through `runCairnCore`, `runPgsWorkflow`)
 * and `cairn serve` at start: before it, a run on such a data root ran its pure steps and then
 * wrote an ERROR trace (`cannot inspect "logs" under the data root: ENOTDIR`, `E_STORE_IO`).
 * `shown` names the data root in the message (default: `dataRoot`); `field` is `details.field`.
 */
export function checkDataRootHoldsState(dataRoot: string, shown: string = dataRoot, field = "dataRoot"): void {
  let why: string | undefined;
  try {
    if (!statSync(dataRoot).isDirectory()) why = "it is not a directory";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") why = "a component of its path is not a directory";
  }
  if (why !== undefined) throw new CairnError(ErrorCode.INVALID_INPUT, `data root ${shown} cannot hold the workflows' state: ${why}`, { field, path: shown });
}

/**
 * Recent `confineAbsolute` results, by `dataRoot + NUL + candidate` (the function is pure, and
 * neither string of an accepted pair holds a NUL): a run confines the same few paths many times.
 * Refusals are not kept. The results are frozen and shared.
 */
const CONFINED_MEMO = 64;
const confinedMemo = new Map<string, ConfinedPath>();

/**
 * Confines an absolute path (a configured `path` after `{{module_data_root}}` expansion). A
 * refusal names the path with the data root written `{{module_data_root}}` (`shownConfigured`),
 * never the data root itself (it is in `details.dataRoot`).
 */
export function confineAbsolute(dataRoot: string, candidate: string): ConfinedPath {
  if (typeof dataRoot !== "string" || typeof candidate !== "string") return confineUncached(dataRoot, candidate);
  const key = `${dataRoot}\0${candidate}`;
  const known = confinedMemo.get(key);
  if (known !== undefined) return known;
  const confined = Object.freeze(confineUncached(dataRoot, candidate));
  if (confinedMemo.size >= CONFINED_MEMO) confinedMemo.delete(confinedMemo.keys().next().value as string);
  confinedMemo.set(key, confined);
  return confined;
}

function confineUncached(dataRoot: string, candidate: string): ConfinedPath {
  const root = normalizeDataRoot(dataRoot);
  const shown = shownConfigured(root, candidate);
  checkNoNul(candidate, shown);
  if (!posix.isAbsolute(candidate)) throw confinementError(shown, "is not an absolute path");
  checkNoDotDot(candidate, shown);
  const n = posix.normalize(candidate);
  const prefix = root === "/" ? "/" : `${root}/`;
  if (n === root || n === prefix) throw confinementError(shown, "names the data root itself, not a file");
  if (!n.startsWith(prefix)) {
    throw confinementError(shown, "is outside the data root", { dataRoot: root });
  }
  const rel = n.slice(prefix.length).replace(/\/+$/, "");
  if (rel.length === 0) throw confinementError(shown, "names the data root itself, not a file");
  return { root, rel };
}

/**
 * The PGS rule for a path a CS runtime opens as its file (module comment, rule 1): a configured
 * path (or `module_data_root + "/" + entity path`) whose last segment is empty or `.` names a
 * directory — the reference's open() of it fails (IsADirectoryError, NotADirectoryError) — and
 * is refused (`E_PATH_CONFINEMENT`, naming it as configured), never taken for the file without
 * the ending. Called after `confineAbsolute` / `confineRelative` accepted the path.
 */
export function refuseDirectoryPath(dataRoot: string, candidate: string): void {
  const ending = candidate.endsWith("/") ? "/" : candidate.endsWith("/.") ? "/." : undefined;
  if (ending === undefined) return;
  throw confinementError(shownConfigured(normalizeDataRoot(dataRoot), candidate), `ends with '${ending}': it names a directory, not a file`);
}

/**
 * Confines `base + "/" + relative` (an entity store path under its `module_data_root`, SEMANTICS
 * C.4 step 1): the concatenation, so a `relative` starting with `/` is no absolute path but one
 * more `/` under `base` (`pgs/state.ts` captures the same file). `relative` is checked on its own
 * for NUL and `..` (the refusal names it as configured), then the whole path as
 * `confineAbsolute` does.
 */
export function confineRelative(dataRoot: string, base: string, relative: string): ConfinedPath {
  checkNoNul(relative);
  checkNoDotDot(relative);
  checkNoNul(base, shownConfigured(normalizeDataRoot(dataRoot), base));
  return confineAbsolute(dataRoot, `${base}/${relative}`);
}

/**
 * What `preparePath` resolved during one run (`EffectContext.checkedDirs`): the real data root
 * (`realpath` of the configured root, created first in create mode) and its identity
 * (`dev`, `ino`). A later call of the same run skips the `mkdir` and `realpath` of the root after
 * one `lstat` of the real root: it must still be a directory (not a symlink) with the same
 * identity, else the root is resolved again as on the first call. Nothing else is remembered:
 * every call walks the parent directories with one `lstat` each (a real directory needs no more;
 * a missing one is created again in create mode; a symlinked one is resolved with `realpath`
 * and checked again) and checks the final component, so a directory swapped for a symlink
 * mid-run is refused exactly as without the memo.
 */
export interface CheckedDirs {
  root: string | undefined;
  realRoot: string | undefined;
  /** `dev:ino` of `realRoot` when resolved. */
  rootId: string | undefined;
  /**
   * Parent directories already walked (relative path → real path), only for a memo that lives
   * for ONE synchronous batch of `preparePath` calls in read mode (`captureState`: every state
   * file in one go, nothing running in between); undefined for a run's memo, whose calls are
   * spread over the run and must each walk their parents. Such a batch memo also trusts its real
   * root without the `lstat` re-check (`rootId` stays unset).
   */
  parents?: Map<string, string>;
}

/** A run's memo: the real data root only (see CheckedDirs). */
export function newCheckedDirs(): CheckedDirs {
  return { root: undefined, realRoot: undefined, rootId: undefined };
}

/** A memo for one synchronous batch of read-mode `preparePath` calls: the root and the parents walked. */
export function newBatchCheckedDirs(): CheckedDirs {
  return { root: undefined, realRoot: undefined, rootId: undefined, parents: new Map() };
}

/** `dev:ino` of the directory at `p` when it is one (not a symlink), else undefined (also when absent). */
function dirIdentity(p: string): string | undefined {
  const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
  return st?.isDirectory() === true ? `${st.dev}:${st.ino}` : undefined;
}

/** The memoised real data root, when `lstat` still finds that directory there. */
function memoisedRoot(memo: CheckedDirs | undefined): string | undefined {
  if (memo?.realRoot === undefined) return undefined;
  try {
    if (dirIdentity(memo.realRoot) === memo.rootId) return memo.realRoot;
  } catch {
    // resolved again below, with its own error handling
  }
  memo.realRoot = undefined;
  memo.rootId = undefined;
  return undefined;
}

/**
 * A batch memo (`newBatchCheckedDirs`) for one state capture of a run (pgs/state.ts
 * `captureState`), sharing the run's memo `run` of the real data root: when `run` resolved the
 * root `root` and one `lstat` still finds that directory there (as for every CS call of the run),
 * the capture starts from it instead of resolving the root again. A run's prior capture, its CS
 * calls and its posterior capture so resolve the data root once, every later use checked as
 * the run's calls always were (`CheckedDirs`). Captures outside a run share nothing.
 */
export function runBatchCheckedDirs(run: CheckedDirs, root: string): CheckedDirs {
  const batch = newBatchCheckedDirs();
  if (run.root !== root) return batch;
  const known = memoisedRoot(run);
  if (known !== undefined) {
    batch.root = root;
    batch.realRoot = known;
  }
  return batch;
}

/**
 * After a capture with `runBatchCheckedDirs`: the real root the capture resolved becomes the
 * run's (with its identity, `dirIdentity`), unless the run has one already — so the run's first
 * CS call does not resolve it again (checked by one `lstat` as every later call is).
 */
export function keepBatchRoot(run: CheckedDirs, batch: CheckedDirs): void {
  if (run.realRoot !== undefined || batch.realRoot === undefined || batch.root === undefined) return;
  if (run.root !== undefined && run.root !== batch.root) return;
  let id: string | undefined;
  try {
    id = dirIdentity(batch.realRoot);
  } catch {
    return; // resolved again by the next call, with its own error handling
  }
  if (id === undefined) return;
  run.root = batch.root;
  run.realRoot = batch.realRoot;
  run.rootId = id;
}

/** `posix.join(dir, name)` for a real (normalised, absolute) directory and one plain segment. */
function childOf(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function isInside(realRoot: string, p: string): boolean {
  return p === realRoot || p.startsWith(realRoot === "/" ? "/" : `${realRoot}/`);
}

/** The data root's real path; created first when missing and `create` is set (one syscall when it exists). */
function realRootOf(root: string, create: boolean): string {
  try {
    return realpathSync.native(root);
  } catch (err) {
    if (!create || !isNotFound(err)) throw err;
  }
  makeDirs(root);
  return realpathSync.native(root);
}

/**
 * Walks the parent directories of `p` from the real data root, creating missing ones when
 * `create` is set (each one fsynced into its parent unless `sync` is false, EffectDurability
 * "no-fsync"), and checks the final component. Throws on any confinement violation. With
 * `checked` (the run's memo, `CheckedDirs`), the real data root is not resolved again while
 * `lstat` finds the same directory there.
 */
export function preparePath(p: ConfinedPath, create: boolean, sync = true, checked?: CheckedDirs): PreparedPath {
  const memo = checked !== undefined && (checked.root === undefined || checked.root === p.root) ? checked : undefined;
  // A batch memo (read mode, one synchronous batch) trusts the real root it resolved, as it trusts
  // the parents it walked below it: nothing runs between its calls.
  const batch = memo?.parents !== undefined && !create;
  let cur: string;
  const known = batch ? memo?.realRoot : memoisedRoot(memo);
  if (known !== undefined) cur = known;
  else {
    let id: string | undefined;
    try {
      cur = realRootOf(p.root, create);
      if (memo !== undefined && !batch) id = dirIdentity(cur);
    } catch (err) {
      if (!create && isNotFound(err)) return { ...p, realParent: undefined, realFile: undefined, stat: undefined };
      throw ioError("resolve the data root for", p.rel, err);
    }
    if (memo !== undefined && (batch || id !== undefined)) {
      memo.root = p.root;
      memo.realRoot = cur;
      memo.rootId = id;
    }
  }
  const realRoot = cur;
  const segments = p.rel.split("/");
  const base = segments.pop() as string;
  let shown = "";
  const parents = memo?.parents !== undefined && !create ? memo.parents : undefined;
  for (let i = 0; i < segments.length; i++) {
    shown = i === 0 ? (segments[0] as string) : `${shown}/${segments[i] as string}`;
    const walked = parents?.get(shown);
    if (walked !== undefined) {
      cur = walked;
      continue;
    }
    const next = childOf(cur, segments[i] as string);
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch (err) {
      if (!isNotFound(err)) throw ioError("inspect", shown, err);
      if (!create) return { ...p, realParent: undefined, realFile: undefined, stat: undefined };
      try {
        mkdirSync(next);
        if (sync) fsyncDir(cur);
      } catch (mkErr) {
        throw ioError("create directory", shown, mkErr);
      }
      cur = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = realpathSync.native(next);
      } catch (err) {
        const errno = (err as NodeJS.ErrnoException).code ?? "error";
        throw confinementError(shown, `is a symlink that cannot be resolved (${errno})`, { cause: (err as Error).message, errno });
      }
      // The target stays out of the message (it goes to traces): an absolute host path.
      if (!isInside(realRoot, target)) throw confinementError(shown, "is a symlink leading outside the data root", { target });
      cur = target;
    } else {
      cur = next;
    }
    parents?.set(shown, cur);
  }
  const realFile = childOf(cur, base);
  let stat: BigIntStats | undefined;
  try {
    stat = lstatSync(realFile, { bigint: true });
  } catch (err) {
    if (!isNotFound(err)) throw ioError("inspect", p.rel, err);
  }
  if (stat?.isSymbolicLink()) throw confinementError(p.rel, "is a symlink (a symlinked final component is never followed)");
  if (stat !== undefined && !stat.isFile() && !stat.isDirectory()) {
    throw effectError(ErrorCode.INVALID_INPUT, EffectErrorReason.NOT_REGULAR, `${JSON.stringify(p.rel)} under the data root is not a regular file`, { path: p.rel });
  }
  // The members listed rather than spread (`{...p}`): the same object, built faster on this hot path.
  return { root: p.root, rel: p.rel, realParent: cur, realFile, stat };
}
