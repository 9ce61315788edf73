/**
 * The data-root state a run depends on and changes: the files named by the CS policies of the
 * workflow's RB (A.10): each policy's `path`, and `module_data_root/entity_stores[*].path` of
 * a storage structure. Paths are relative to the data root (`/`-separated); files outside it
 * are ignored here (the CS runtimes refuse them).
 *
 * State digest = canonical digest of `{kind, version, files: [{path, digest|null}]}` sorted by
 * path; `null` marks an absent file.
 */
import { closeSync, constants as FS, fstatSync, openSync, readSync, realpathSync, statSync, type BigIntStats } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { canonicalDigest } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { MAX_STATE_FILE_BYTES } from "./constants.js";
import { cachedDigest, expandPolicy, normalizeDataRoot, osErrorText, remember, selectPolicy } from "../effects/index.js";
import type { PgsPackage } from "./snapshot.js";
import { dottedGet, type PyValue } from "./value.js";

export const STATE_KIND = "cairn.pgs.state";
export const STATE_VERSION = 1;

export interface StateFile {
  /** Relative to the data root, `/`-separated. */
  path: string;
  digest: Digest | null;
  /** null when the file is absent; undefined when not captured (`captureState(…, false)` asks for digests only). */
  bytes: Buffer | null | undefined;
}

function underRoot(root: string, p: PyValue): string | undefined {
  if (typeof p !== "string" || p === "") return undefined;
  const abs = resolve(root, p);
  const rel = relative(root, abs);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
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
    const p = underRoot(root, dottedGet(policy, "path"));
    if (p !== undefined) out.add(p);
    const base = dottedGet(policy, "module_data_root");
    const stores = dottedGet(policy, "storage_structure_artifact.frontmatter.core.entity_stores");
    if (typeof base === "string" && stores instanceof Map) {
      for (const entity of stores.values()) {
        const ep = dottedGet(entity, "path");
        if (typeof ep === "string" && ep !== "") {
          const q = underRoot(root, `${base}/${ep}`);
          if (q !== undefined) out.add(q);
        }
      }
    }
  }
  return [...out].sort();
}

/** Real paths remembered by `captureState` (path → its last `realpath`; oldest dropped first). */
const REAL_PATH_MEMO = 256;
const realPaths = new Map<string, string>();

function rememberRealPath(abs: string, real: string): void {
  realPaths.delete(abs);
  if (realPaths.size >= REAL_PATH_MEMO) realPaths.delete(realPaths.keys().next().value as string);
  realPaths.set(abs, real);
}

/**
 * Reads the current digests of `paths` under the data root, and their bytes unless `withBytes`
 * is false (a run recorded in no store needs only the digests; a large file's bytes are then not
 * read while the file cache follows it).
 */
export function captureState(dataRoot: string, paths: readonly string[], withBytes = true): StateFile[] {
  const root = normalizeDataRoot(dataRoot);
  return paths.map((path) => {
    const abs = resolve(root, path);
    // stat first: anything but a regular file (a device, a FIFO, a directory — also behind a
    // symlink) is refused before it is opened, since opening some devices has side effects.
    // Then open + fstat + read + close: the size checked is the size of the file read, and
    // O_NONBLOCK keeps a FIFO swapped in after the stat from blocking the open.
    // The file cache's key is the file's real path, as for the CS runtimes (fsio.ts): one file,
    // one entry, whichever symlinked directories lead to it.
    let real: string;
    try {
      const st = statSync(abs, { bigint: true });
      if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `data-root file ${path} is not a regular file`, { path });
      // Unchanged since this process last read or appended to it (same identity): no read. The
      // real path this path had last time is tried first: if the file there still has the
      // identity this stat gives, it is the very file `abs` names now, so no realpath is needed.
      const known = realPaths.get(abs);
      const quick = known === undefined ? undefined : cachedDigest(known, st);
      if (quick !== undefined && (quick.bytes !== undefined || !withBytes)) return { path, digest: quick.digest, bytes: quick.bytes };
      real = realpathSync.native(abs);
      rememberRealPath(abs, real);
      const hit = cachedDigest(real, st);
      if (hit !== undefined && (hit.bytes !== undefined || !withBytes)) return { path, digest: hit.digest, bytes: hit.bytes };
    } catch (err) {
      if (err instanceof CairnError) throw err;
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { path, digest: null, bytes: null };
      throw new CairnError(ErrorCode.STORE_IO, `cannot read data-root file ${path}: ${osErrorText(err)}`, { path });
    }
    let fd: number;
    try {
      fd = openSync(abs, FS.O_RDONLY | FS.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { path, digest: null, bytes: null };
      throw new CairnError(ErrorCode.STORE_IO, `cannot read data-root file ${path}: ${osErrorText(err)}`, { path });
    }
    try {
      let st: BigIntStats;
      try {
        st = fstatSync(fd, { bigint: true });
        if (!st.isFile()) throw new CairnError(ErrorCode.INVALID_INPUT, `data-root file ${path} is not a regular file`, { path });
      } catch (err) {
        throw err instanceof CairnError ? err : new CairnError(ErrorCode.STORE_IO, `cannot read data-root file ${path}: ${osErrorText(err)}`, { path });
      }
      const size = Number(st.size);
      if (size > MAX_STATE_FILE_BYTES) {
        throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `data-root file ${path} is ${size} bytes, more than the ${MAX_STATE_FILE_BYTES}-byte limit`, { path });
      }
      const bytes = readAll(fd, size, path);
      remember(real, st, bytes);
      const digest = cachedDigest(real, st)?.digest ?? sha256(bytes);
      return { path, digest, bytes };
    } finally {
      closeSync(fd);
    }
  });
}

/** Reads `size` bytes (from fstat) of an open file, or fewer if it ends sooner — as readFileSync does. */
function readAll(fd: number, size: number, path: string): Buffer {
  let buf = Buffer.allocUnsafe(Math.max(size, 1));
  let total = 0;
  try {
    for (;;) {
      if (total === buf.length) {
        if (buf.length >= MAX_STATE_FILE_BYTES) {
          throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `data-root file ${path} grew above the ${MAX_STATE_FILE_BYTES}-byte limit while being read`, { path });
        }
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
    throw err instanceof CairnError ? err : new CairnError(ErrorCode.STORE_IO, `cannot read data-root file ${path}: ${osErrorText(err)}`, { path });
  }
  return buf.subarray(0, total);
}

export function stateManifest(files: readonly StateFile[]): { kind: string; version: number; files: Array<{ path: string; digest: Digest | null }> } {
  return { kind: STATE_KIND, version: STATE_VERSION, files: files.map((f) => ({ path: f.path, digest: f.digest })) };
}

/** Recent state digests by their files' paths and digests (a run's posterior state is the next run's prior state). */
const STATE_DIGEST_MEMO = 64;
const stateDigests = new Map<string, Digest>();

export function stateDigest(files: readonly StateFile[]): Digest {
  const key = files.map((f) => `${JSON.stringify(f.path)}${f.digest ?? "null"}`).join(",");
  const known = stateDigests.get(key);
  if (known !== undefined) return known;
  const d = canonicalDigest(stateManifest(files));
  if (stateDigests.size >= STATE_DIGEST_MEMO) stateDigests.delete(stateDigests.keys().next().value as string);
  stateDigests.set(key, d);
  return d;
}
