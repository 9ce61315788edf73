/** Small filesystem helpers for atomic, durable writes. */
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { makeDirs } from "../core/dirs.js";
import { tempFileName, trackExitTemp, untrackExitTemp } from "./temp-files.js";

export { processRuns } from "./temp-files.js";

/** fsync a directory so a rename or unlink inside it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes all of `bytes` at the file position of `fd`: a write may take fewer bytes than asked (a
 * full disk, a file-size limit), so it is continued, and the next write fails rather than a
 * short file being kept.
 */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/**
 * Write `data` to `path` atomically: temp file, fsync, rename, fsync the directory. The temp file
 * is `<path>.<pid>-<pid space>-<16 hex>.tmp` (temp-files.ts `tempFileName`, ARCHITECTURE §5.16):
 * a killed writer's is removed by the sweeps of the store's root (`FORMAT`, artifact-recovery.ts
 * `recoverArtifacts`) and of trace directories (summaries and pictures, pgs/trace.ts). With
 * `durable` false there is no fsync: readers and a killed process still see the old file or the
 * new one, never a torn one, but an OS crash may lose the new one (trace summaries and pictures,
 * which are derived from the trace and rewritten by a re-run).
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, mode = 0o644, durable = true): void {
  stageFileAtomicSync(path, data, { mode, durable }).commit();
}

/** How `stageFileAtomicSync` writes its temp file. */
export interface StageFileOptions {
  /** The temp file's mode (less the umask unless `exactMode`); default 0o644. */
  mode?: number;
  /** fsync the temp file before, and the directory after, the rename; default true. */
  durable?: boolean;
  /** Give the file exactly `mode`, whatever the umask (a replacement keeping FILE's mode). */
  exactMode?: boolean;
  /** Remove the temp file at process exit until it is committed or aborted (temp-files.ts `trackExitTemp`): for a stage held across other work. */
  trackExit?: boolean;
}

/** A file written beside its destination but not yet in place (`stageFileAtomicSync`). */
export interface StagedFile {
  /** Renames it over the destination (a failed rename removes it), then fsyncs the directory when durable. */
  commit(): void;
  /** Removes it: the destination stays as it was. Does nothing after a commit or an abort. */
  abort(): void;
}

/**
 * The first half of `writeFileAtomicSync`: `data` written whole to a fresh temp file beside
 * `path` (fsynced when durable); `commit` puts it in place. A failure removes the temp file. For
 * a writer that must know the file can be written before it does something else, and put it in
 * place only after (`cairn wf compile --out` with `--store`).
 */
export function stageFileAtomicSync(path: string, data: Uint8Array | string, opts: StageFileOptions = {}): StagedFile {
  const { mode = 0o644, durable = true, exactMode = false, trackExit = false } = opts;
  // A fresh, exclusively created name: never follows a symlink planted at the temp path.
  const tmp = tempFileName(`${path}.`);
  if (trackExit) trackExitTemp(tmp); // before it exists: an exit while it is created still removes it
  let settled = false;
  const drop = (): void => {
    settled = true;
    rmSync(tmp, { force: true }); // the temp file is not left behind
    if (trackExit) untrackExitTemp(tmp);
  };
  try {
    const fd = openSync(tmp, "wx", mode);
    try {
      writeAllSync(fd, typeof data === "string" ? Buffer.from(data) : data);
      if (exactMode && (fstatSync(fd).mode & 0o7777) !== mode) fchmodSync(fd, mode);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    drop();
    throw err;
  }
  return {
    commit: () => {
      if (settled) return;
      try {
        renameSync(tmp, path);
      } catch (err) {
        drop();
        throw err;
      }
      settled = true;
      if (trackExit) untrackExitTemp(tmp);
      if (durable) fsyncDir(dirname(path));
    },
    abort: () => {
      if (!settled) drop();
    },
  };
}

export function ensureDir(dir: string): void {
  makeDirs(dir);
}

/**
 * `makeDirs`, made durable: each directory it creates has its entry fsynced in its parent (top
 * down), so a file later renamed into it — and made durable by an fsync of `dir` — cannot be
 * lost with a directory entry that never reached the disk (file systems that do not order
 * directory metadata). A directory that exists already costs one `stat` and no fsync: the
 * store's fan-out directories `objects/ab/` are fsynced in `objects/` once, when made (at most
 * 256), never per file. The exception: an existing parent that cannot be opened (mode -wx).
 */
export function ensureDirDurable(dir: string): void {
  const made = makeDirs(dir);
  for (let i = 0; i < made.length; i++) {
    try {
      fsyncDir(dirname(made[i]!));
    } catch (err) {
      // The first one's parent was there already and may be one this process can write but not
      // read (mode -wx): it cannot be opened to fsync, and the new entry's durability is left to
      // the file system's ordering, as it was before the store fsynced parents. Directories made
      // here are always readable by their maker, so any other failure is real.
      if (i === 0 && isAccessDenied(err)) continue;
      throw err;
    }
  }
}

/** True when an fs error means "permission denied" (EACCES, or EPERM from some file systems). */
export function isAccessDenied(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "EACCES" || code === "EPERM";
}

/** True when an fs error means "no such file or directory". */
export function isNotFound(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "ENOENT";
}

/**
 * Whether the process's stdin (fd 0) is a directory (`cmd < dir`): reading it just ends, so a
 * reader would take it for empty input. False when fd 0 cannot be inspected.
 */
export function stdinIsDirectory(): boolean {
  try {
    return fstatSync(0).isDirectory();
  } catch {
    return false;
  }
}
