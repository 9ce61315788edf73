/**
 * The data-root state a run depends on and changes: the files named by the CS policies of the
 * workflow's RB (A.10): each policy's `path`, and `module_data_root + "/" + entity_stores[*].path`
 * of a storage structure (C.4). Paths are relative to the data root (`/`-separated), built by the
 * CS runtimes' own lexical rules (`runtimeFile`); a path they refuse (outside the data root, a
 * `..` segment…) is ignored here.
 *
 * Each file is reached under the CS runtimes' confinement rules (effects/confine.ts,
 * `preparePath`): parent directories walked from the real data root (a symlinked one only while
 * its real path stays inside it), the final component never a symlink, opened with
 * O_NOFOLLOW. Nothing outside the data root is read (as for the CS runtimes, a parent directory
 * swapped for a symlink between the walk and the open is not caught: confine.ts assumes one
 * writer per data root, ARCHITECTURE §11.6). A path that names something a CS
 * runtime could not use — a directory, a device/FIFO/socket, a symlink (final component, or a
 * parent leading out of the data root or unresolvable), a file above MAX_STATE_FILE_BYTES, an
 * open/read that fails — is an **unusable** file: not read, recorded as such (`unusable`), and
 * the run goes on (the reference runtime touches a file only when a step calls its CS; such a
 * step then fails in the CS runtime as it would without the capture).
 *
 * State digest = canonical digest of `{kind, version, files: [{path, digest|null}]}` sorted by
 * path; `null` marks an absent file. An unusable file's entry is `{path, digest: null,
 * unusable: {kind, …}}`: the member appears only there, so the digest of a state of regular and
 * absent files is what it always was, and an unusable file is never taken for an absent one.
 */
import { closeSync, constants as FS, fstatSync, openSync, readSync, type BigIntStats } from "node:fs";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { canonicalDigest, canonicalString } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { MAX_STATE_FILE_BYTES } from "./constants.js";
import {
  EffectErrorReason, cachedDigest, confineAbsolute, confineRelative, expandPolicy, keepBatchRoot, newBatchCheckedDirs, runBatchCheckedDirs, normalizeDataRoot, preparePath, refuseDirectoryPath, remember, selectPolicy, type CheckedDirs,
  type ConfinedPath,
} from "../effects/index.js";
import type { PgsPackage } from "./snapshot.js";
import { dottedGet } from "./value.js";

export const STATE_KIND = "cairn.pgs.state";
export const STATE_VERSION = 1;

/**
 * What makes a data-root path unusable (never read):
 * - `directory`: the final component is a directory;
 * - `special`: a device, FIFO or socket;
 * - `symlink`: the final component is a symlink (whatever its target), or, with `at`, a parent
 *   directory is a symlink leading out of the data root or (with `errno`) one that cannot be
 *   resolved;
 * - `too_large`: a regular file above MAX_STATE_FILE_BYTES (`size`);
 * - `unreadable`: inspecting, opening or reading it failed with the OS error `errno`
 *   (`EACCES`, `ENOTDIR`, `EIO`…), at the component `at` when that is a parent directory.
 */
export type UnusableKind = "directory" | "special" | "symlink" | "too_large" | "unreadable";

export interface UnusableFile {
  kind: UnusableKind;
  /** The parent directory at fault (relative to the data root), when it is not the file itself. */
  at?: string;
  /** The OS error code, for `unreadable` and an unresolvable symlinked parent. */
  errno?: string;
  /** The file's size in bytes, for `too_large`. */
  size?: number;
}

export interface StateFile {
  /** Relative to the data root, `/`-separated. */
  path: string;
  /** SHA-256 of a regular file; null when it is absent or unusable. */
  digest: Digest | null;
  /** null when the file is absent or unusable; undefined when not captured (`captureState(…, false)` asks for digests only). */
  bytes: Buffer | null | undefined;
  /** Set only for an unusable file (see UnusableKind); absent for regular and absent files. */
  unusable?: UnusableFile;
}

/**
 * The data-root file (relative path) a CS runtime builds from a policy, by the runtime's own
 * lexical rules (effects/confine.ts): `confineAbsolute` for a configured `path`,
 * `confineRelative` for `module_data_root + "/" + entity path` (SEMANTICS C.4, a leading `/` of
 * the entity path included). A path the runtime refuses (relative, outside the data root, a `..`
 * segment, a NUL, a directory path ending in `/` or `/.` under the PGS rule `pgsFile`) is no file
 * of the state: the step using it fails in the runtime.
 */
function runtimeFile(confine: () => ConfinedPath): string | undefined {
  try {
    return confine().rel;
  } catch (err) {
    if (isCairnError(err, ErrorCode.PATH_CONFINEMENT)) return undefined;
    throw err;
  }
}

/** `confined`, unless the PGS runtimes refuse `candidate` as a directory path (confine.ts `refuseDirectoryPath`). */
function pgsFile(confined: ConfinedPath, root: string, candidate: string): ConfinedPath {
  refuseDirectoryPath(root, candidate);
  return confined;
}

/** Data roots remembered per (snapshot, RB) by `relevantFiles` (oldest dropped first). */
const RELEVANT_ROOTS_PER_RB = 16;
const relevantCache = new WeakMap<PgsPackage, Map<string, readonly string[]>>();

/**
 * The data-root files the RB's CS policies name, sorted. Memoised per (snapshot, RB, data
 * root): a loaded snapshot is read-only, and the list depends on nothing else.
 */
export function relevantFiles(pkg: PgsPackage, rb: number, dataRoot: string): string[] {
  const root = normalizeDataRoot(dataRoot);
  let byKey = relevantCache.get(pkg);
  const key = `${rb}\0${root}`;
  const hit = byKey?.get(key);
  if (hit !== undefined) return [...hit];
  const files = computeRelevantFiles(pkg, rb, root);
  if (byKey === undefined) {
    byKey = new Map();
    relevantCache.set(pkg, byKey);
  } else if (byKey.size >= RELEVANT_ROOTS_PER_RB) {
    byKey.delete(byKey.keys().next().value as string);
  }
  byKey.set(key, Object.freeze([...files]));
  return files;
}

function computeRelevantFiles(pkg: PgsPackage, rb: number, root: string): string[] {
  const out = new Set<string>();
  for (const cs of [...(pkg.rbPolicy.get(rb)?.keys() ?? [])].sort((a, b) => a - b)) {
    const entry = pkg.rbPolicy.get(rb)?.get(cs);
    const policy = expandPolicy(selectPolicy(entry), root);
    const path = dottedGet(policy, "path");
    const p = typeof path === "string" && path !== "" ? runtimeFile(() => pgsFile(confineAbsolute(root, path), root, path)) : undefined;
    if (p !== undefined) out.add(p);
    const base = dottedGet(policy, "module_data_root");
    const stores = dottedGet(policy, "storage_structure_artifact.frontmatter.core.entity_stores");
    if (typeof base === "string" && stores instanceof Map) {
      for (const entity of stores.values()) {
        const ep = dottedGet(entity, "path");
        if (typeof ep === "string" && ep !== "") {
          const q = runtimeFile(() => pgsFile(confineRelative(root, base, ep), root, `${base}/${ep}`));
          if (q !== undefined) out.add(q);
        }
      }
    }
  }
  return [...out].sort();
}

function unusable(path: string, u: UnusableFile): StateFile {
  return { path, digest: null, bytes: null, unusable: u };
}

/** `errno` of an fs error (`"EIO"` when it has none). */
function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "" ? code : "EIO";
}

/**
 * The unusable record for a refusal of `preparePath` (confine.ts) on `rel`; any other error is
 * rethrown. `at` names a parent directory at fault (`details.path` when it is not `rel`).
 */
function refusal(path: string, rel: string, err: unknown): StateFile {
  if (!(err instanceof CairnError)) throw err;
  const d = err.details as { reason?: unknown; path?: unknown; errno?: unknown } | undefined;
  const at = typeof d?.path === "string" && d.path !== rel ? { at: d.path } : {};
  switch (d?.reason) {
    case EffectErrorReason.PATH_CONFINEMENT: {
      // Lexical refusals cannot reach here (`path` is inside the data root): a symlink, final or parent.
      const code = typeof d.errno === "string" ? d.errno : undefined; // a symlinked parent that cannot be resolved
      return unusable(path, { kind: "symlink", ...at, ...(code === undefined ? {} : { errno: code }) });
    }
    case EffectErrorReason.NOT_REGULAR:
      return unusable(path, { kind: "special" });
    case EffectErrorReason.IO:
      return unusable(path, { kind: "unreadable", ...at, errno: typeof d.errno === "string" ? d.errno : "EIO" });
    default:
      throw err;
  }
}

/**
 * Reads the current digests of `paths` under the data root, and their bytes unless `withBytes`
 * is false (a run recorded in no store needs only the digests; a large file's bytes are then not
 * read while the file cache follows it). An unusable path (see UnusableKind) is reported as such,
 * never read, never thrown for.
 */
export function captureState(dataRoot: string, paths: readonly string[], withBytes = true, run?: CheckedDirs): StateFile[] {
  const root = normalizeDataRoot(dataRoot);
  // The real data root, resolved once for this capture (confine.ts `CheckedDirs`).
  // One synchronous batch (confine.ts `newBatchCheckedDirs`): the data root is resolved once and
  // each parent directory walked once for all the files under it. Nothing is kept across
  // captures: a symlink on the way to the data root may be re-pointed between two of them —
  // except within one PGS run (runPgsWorkflow passes `run`; a Cairn run does not), whose memo `run` (the effect context's `checkedDirs`) the captures
  // share with its CS calls: the real root resolved once per run, each later use checked by
  // one `lstat` (confine.ts `runBatchCheckedDirs`); the parent directories are walked again.
  const checked = run === undefined ? newBatchCheckedDirs() : runBatchCheckedDirs(run, root);
  const files = paths.map((path) => captureOne(root, path, withBytes, checked));
  if (run !== undefined) keepBatchRoot(run, checked);
  return files;
}

function captureOne(root: string, path: string, withBytes: boolean, checked: CheckedDirs): StateFile {
  // The CS runtimes' rules (confine.ts): a lexical check (the path comes from `relevantFiles`,
  // so it lies below the root; anything else is a caller's error and thrown), the parent
  // directories walked from the real data root, an `lstat` of the final component.
  const confined = confineAbsolute(root, root === "/" ? `/${path}` : `${root}/${path}`);
  let real: string;
  let st: BigIntStats;
  try {
    const p = preparePath(confined, false, false, checked);
    if (p.stat === undefined || p.realFile === undefined) return { path, digest: null, bytes: null };
    if (p.stat.isDirectory()) return unusable(path, { kind: "directory" });
    real = p.realFile;
    st = p.stat;
  } catch (err) {
    return refusal(path, confined.rel, err);
  }
  if (st.size > BigInt(MAX_STATE_FILE_BYTES)) return unusable(path, { kind: "too_large", size: Number(st.size) });
  // Unchanged since this process last read or appended to it (same identity, from the lstat of
  // a final component that is no symlink): no read. The file cache's key is the real path, as
  // for the CS runtimes (fsio.ts): one file, one entry.
  const hit = cachedDigest(real, st);
  if (hit !== undefined && (hit.bytes !== undefined || !withBytes)) return { path, digest: hit.digest, bytes: hit.bytes };
  // open + fstat + read + close: O_NOFOLLOW refuses a symlink swapped in since the lstat, the
  // size checked is the size of the file read, and O_NONBLOCK keeps a FIFO swapped in from
  // blocking the open.
  let fd: number;
  try {
    fd = openSync(real, FS.O_RDONLY | FS.O_NONBLOCK | FS.O_NOFOLLOW);
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT") return { path, digest: null, bytes: null };
    return unusable(path, code === "ELOOP" ? { kind: "symlink" } : { kind: "unreadable", errno: code });
  }
  try {
    let fst: BigIntStats;
    try {
      fst = fstatSync(fd, { bigint: true });
    } catch (err) {
      return unusable(path, { kind: "unreadable", errno: errnoOf(err) });
    }
    if (fst.isDirectory()) return unusable(path, { kind: "directory" });
    if (!fst.isFile()) return unusable(path, { kind: "special" });
    const size = Number(fst.size);
    if (size > MAX_STATE_FILE_BYTES) return unusable(path, { kind: "too_large", size });
    const bytes = readAll(fd, size);
    if (typeof bytes === "string") return unusable(path, { kind: "unreadable", errno: bytes });
    if (bytes === undefined) return unusable(path, { kind: "too_large", size: Number(fstatSync(fd, { bigint: true }).size) });
    remember(real, fst, bytes);
    const digest = cachedDigest(real, fst)?.digest ?? sha256(bytes);
    return { path, digest, bytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads `size` bytes (from fstat) of an open file, or fewer if it ends sooner — as readFileSync
 * does. Returns the OS error code when a read fails, undefined when the file grew above
 * MAX_STATE_FILE_BYTES while being read.
 */
function readAll(fd: number, size: number): Buffer | string | undefined {
  let buf = Buffer.allocUnsafe(Math.max(size, 1));
  let total = 0;
  try {
    for (;;) {
      if (total === buf.length) {
        if (buf.length >= MAX_STATE_FILE_BYTES) return undefined;
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_STATE_FILE_BYTES));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total === size) break; // fstat's size reached: like readFileSync, do not read past it
    }
  } catch (err) {
    return errnoOf(err);
  }
  return buf.subarray(0, total);
}

/** One file's manifest entry: `{path, digest}`, plus `unusable` only for an unusable file. */
export interface StateManifestFile {
  path: string;
  digest: Digest | null;
  unusable?: UnusableFile;
}

export function stateManifest(files: readonly StateFile[]): { kind: string; version: number; files: StateManifestFile[] } {
  return {
    kind: STATE_KIND,
    version: STATE_VERSION,
    files: files.map((f) => (f.unusable === undefined ? { path: f.path, digest: f.digest } : { path: f.path, digest: f.digest, unusable: { ...f.unusable } })),
  };
}

/** Recent state digests by their canonical text (a run's posterior state is the next run's prior state). */
const STATE_DIGEST_MEMO = 64;
const stateDigests = new Map<string, Digest>();

/** The constant end of a state manifest's canonical text (members sorted: `files`, `kind`, `version`). */
const MANIFEST_TAIL = `],"kind":${canonicalString(STATE_KIND) as string},"version":${String(STATE_VERSION)}}`;

/**
 * `canonicalize(stateManifest(files))` written directly, for a state of regular and absent files
 * (every state a run normally has): RFC 8785 sorts the members (`digest` < `path`; `files` <
 * `kind` < `version`), and each string is written by `canonicalString`, the encoder's own.
 * Undefined otherwise (an unusable file, a lone surrogate): the caller takes the general encoder.
 * test/workflow/perf-state-digest.test.ts holds the two to the same text.
 */
function manifestText(files: readonly StateFile[]): string | undefined {
  let text = '{"files":[';
  for (let i = 0; i < files.length; i++) {
    const f = files[i] as StateFile;
    const path = f.unusable === undefined ? canonicalString(f.path) : undefined;
    const digest = f.digest === null ? "null" : canonicalString(f.digest);
    if (path === undefined || digest === undefined) return undefined;
    text += `${i === 0 ? "" : ","}{"digest":${digest},"path":${path}}`;
  }
  return text + MANIFEST_TAIL;
}

export function stateDigest(files: readonly StateFile[]): Digest {
  const text = manifestText(files);
  if (text === undefined) return canonicalDigest(stateManifest(files));
  const known = stateDigests.get(text);
  if (known !== undefined) return known;
  const d = sha256(text);
  if (stateDigests.size >= STATE_DIGEST_MEMO) stateDigests.delete(stateDigests.keys().next().value as string);
  stateDigests.set(text, d);
  return d;
}
