/**
 * An output file a command writes at the user's request — `cairn run --out FILE` (the ordered
 * output), `cairn store get -o FILE` (an artifact's verified bytes). Opened (checked) before any
 * work, so a path that cannot be written fails at once, not after the work is done. Three ways,
 * chosen at open:
 *
 * - **Atomic**, for a new file, or an existing regular file this process's user owns and may
 *   write: the output goes to a hidden temp file in FILE's directory (the directory of a
 *   symlink's target: the symlink stays) — for a new file created 0666 less the umask, for an
 *   existing one created 0600 and then given FILE's group and mode —, synced and renamed over
 *   FILE once the work has succeeded. A failure or an interruption never leaves a partial FILE,
 *   and an existing one keeps its contents. The temp file is removed on failure, at process
 *   exit and by the CLI's signal handler (temp-files.ts `trackExitTemp` / `removeExitTemps`). SIGKILL leaves
 *   `.cairn-out-<pid>-<space>-<hex>.tmp` beside FILE (the naming rule of temp-files.ts); the next
 *   atomic write into that directory removes the temp files whose writer provably no longer runs
 *   (`removeStaleTemps`, the shared dead-writer rule of temp-files.ts). An
 *   existing FILE's hard links are not kept.
 * - **This process's own stdout or stderr** (`/dev/stdout`, `/dev/stderr`, `/dev/fd/1|2`,
 *   `/proc/self/fd/1|2`): written to the stream, so a redirection of it (`>`, `>>`, a pipe)
 *   behaves as usual.
 * - **Written through**, as a shell redirection would (`w`: created or truncated), for
 *   anything else: a FIFO, a device, a socket, another inherited descriptor (`/dev/fd/N`), a
 *   dangling symlink, a file of another user, or a file in a directory that takes no new file.
 *   It is opened at the first write (for a batch run: the merge), not at open, so a failure
 *   before that leaves it untouched; a failure after it leaves what was written.
 *
 * What an output path must not be — the store in use (its catalog replaced under the open
 * database destroys the store), the module of `cairn run` — is refused by `checkOutPath` before
 * any work, judged by where the file would really be written (`outFileLocation`) and by inode.
 */
import { constants, type Stats } from "node:fs";
import { access, lstat, open, readlink, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Writable } from "node:stream";
import { CairnError, ErrorCode, osErrorText } from "../core/errors.js";
import { fsyncDir } from "./fsutil.js";
import { CATALOG_FILE, FORMAT_FILE, LOCK_FILE } from "./layout.js";
import { sweepDeadWriterTemps, taggedTempWriter, tempFileName, trackExitTemp, untrackExitTemp, type TempWriter } from "./temp-files.js";

export { pidSpace } from "./temp-files.js";

/** Permission bits of a new FILE before the umask, as for a shell redirection. */
const NEW_FILE_MODE = 0o666;
/** The temp file's mode until it is given FILE's group and mode. */
const TEMP_FILE_MODE = 0o600;

/** The E_STORE_IO of an output file that cannot be written: `cannot write <path>: <OS error>`. */
export function cannotWrite(path: string, err: unknown): CairnError {
  return new CairnError(ErrorCode.STORE_IO, `cannot write ${path}: ${osErrorText(err)}`, { path }, { cause: err });
}


/** The prefix of an atomic write's temp file (temp-files.ts `tempFileName`): `.cairn-out-<pid>-<space>-<16 hex>.tmp`. */
const TEMP_PREFIX = ".cairn-out-";

/**
 * The writer of a temp file of an atomic write (temp-files.ts, ARCHITECTURE §5.16): tagged names
 * only. The legacy names are never removed by `removeStaleTemps`: `.cairn-out-<16 hex>.tmp` (a
 * writer whose pid space is unknown, and builds before 2026-11-26) and
 * `.cairn-out-<pid>-<16 hex>.tmp` (builds of 2026-11-26 that named the pid only: a pid alone does
 * not say which host or container ran it).
 */
function outTempWriter(name: string): TempWriter | undefined {
  return taggedTempWriter(name, TEMP_PREFIX);
}

/**
 * Removes, from `dir`, the temp files of atomic writes whose writer provably no longer runs (a
 * SIGKILLed `cairn run --out`, which cannot clean up): the shared rule of temp-files.ts
 * (`writerIsGone`: this process's pid space and a pid that no process of it has). Left alone:
 * this process's own, a live process's (also one that reused a dead writer's pid), those of
 * another pid space (another container or host, or before a reboot) and every other name
 * (`outTempWriter`), regular files only. Best effort: a directory that cannot be listed, or a
 * file that cannot be removed, is skipped.
 */
export function removeStaleTemps(dir: string): void {
  sweepDeadWriterTemps(dir, outTempWriter);
}


async function statOrUndefined(f: (p: string) => Promise<Stats>, path: string): Promise<Stats | undefined> {
  try {
    return await f(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** This process's stdout or stderr named as a path, if `path` is one of those names. */
function ownStream(path: string): Writable | undefined {
  const m = /^(?:\/dev\/(?:std(out|err)|fd\/([12]))|\/proc\/self\/fd\/([12]))$/.exec(path);
  if (m === null) return undefined;
  return m[1] === "out" || m[2] === "1" || m[3] === "1" ? process.stdout : process.stderr;
}

/** Whether `path` names this process's stdout or stderr (not a file: the output checks pass it). */
export function namesOwnStream(path: string): boolean {
  return ownStream(path) !== undefined;
}

/** Most symlinks followed to find where a path that does not exist yet would be created. */
const MAX_LINK_HOPS = 40;

/**
 * `path` made absolute without normalising it: a `..` after a symlink (`lnk/../x`) is the
 * kernel's `..` of where the link points, so it must reach `realpath` as written (`resolve`
 * would drop `lnk/..` as text first; core/dirs.ts has the same rule).
 */
function absolute(path: string): string {
  return isAbsolute(path) ? path : `${process.cwd()}${sep}${path}`;
}

/** Where a missing `path` would be created: through any chain of (dangling) symlinks, the last target. */
async function linkTarget(path: string): Promise<string> {
  let p = absolute(path);
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined || !st.isSymbolicLink()) return p;
    // A relative target starts where the link really is.
    const target = await readlink(p);
    p = isAbsolute(target) ? target : `${await realAsFarAsExists(dirname(p))}${sep}${target}`;
  }
  return p;
}

/** `path`'s real path as far as it exists: the longest existing prefix's real path (the kernel resolving it), then the rest. */
async function realAsFarAsExists(path: string): Promise<string> {
  const abs = absolute(path);
  const real = await realpath(abs).catch(() => undefined);
  if (real !== undefined) return real;
  const parent = dirname(abs);
  // Past the real prefix nothing exists, so no symlink is left: `join` may normalise the rest.
  return parent === abs ? resolve(abs) : join(await realAsFarAsExists(parent), basename(abs));
}

/**
 * Where writing `path` really puts the file (an atomic write's temp file goes beside it): for an
 * existing file its real path, through symlinks; for a missing one — through any chain of
 * dangling symlinks — the last target, in its directory's real path (as far as that exists).
 */
export async function outFileLocation(path: string): Promise<string> {
  const real = await realpath(path).catch(() => undefined);
  if (real !== undefined) return real;
  const target = await linkTarget(path);
  return join(await realAsFarAsExists(dirname(target)), basename(target));
}

/** Whether `p` is `dir` or lies below it (both absolute real paths): a subdirectory may be named "..sub". */
export function within(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * What an output file must not be (`checkOutPath`): `file`, a file it must not replace (the same
 * file: compared by device and inode, so through symlinks and hard links), or `dir`, a directory
 * it must not be written in or below (compared by real path: through symlinks, also a dangling
 * one's target); `sameAs` lists files of `dir` that are also compared by inode (a hard link to
 * one of them elsewhere). `what` names it in the error (`the input file`, `the store /s`).
 */
export type OutExclusion = { file: string; what: string } | { dir: string; what: string; sameAs?: readonly string[] };

/**
 * Refuses, with E_USAGE naming `flag` and what it would overwrite, an output path (`--out`, `-o`)
 * that is an excluded file or lies inside an excluded directory (`OutExclusion`), before anything
 * is written. This process's stdout/stderr names are not files and pass.
 */
export async function checkOutPath(flag: string, path: string, exclusions: readonly OutExclusion[]): Promise<void> {
  if (ownStream(path) !== undefined || exclusions.length === 0) return;
  const out = await stat(path).catch(() => undefined);
  const same = async (file: string): Promise<boolean> => {
    if (out === undefined) return false;
    const st = await stat(file).catch(() => undefined);
    return st !== undefined && st.dev === out.dev && st.ino === out.ino;
  };
  let location: string | undefined;
  for (const x of exclusions) {
    if ("file" in x) {
      if (await same(x.file)) throw new CairnError(ErrorCode.USAGE, `${flag} ${path} is ${x.what}`, { field: flag, path });
      continue;
    }
    location ??= await outFileLocation(path);
    if (within(await realAsFarAsExists(x.dir), location)) throw new CairnError(ErrorCode.USAGE, `${flag} ${path} is inside ${x.what}`, { field: flag, path });
    for (const f of x.sameAs ?? []) {
      if (await same(join(x.dir, f))) throw new CairnError(ErrorCode.USAGE, `${flag} ${path} is ${f} of ${x.what} (a hard link to it)`, { field: flag, path });
    }
  }
}

/**
 * The store directory `dir` as an output exclusion (`checkOutPath`): no output file in or below
 * it, nor a hard link elsewhere to its catalog (with its WAL and shared-memory files), FORMAT or
 * writer lock. (A hard link to an object file elsewhere is not looked for: an atomic write
 * replaces the link's directory entry, not the object.)
 */
export function storeExclusion(dir: string): OutExclusion {
  return { dir, what: `the store ${dir}`, sameAs: [CATALOG_FILE, `${CATALOG_FILE}-wal`, `${CATALOG_FILE}-shm`, FORMAT_FILE, LOCK_FILE] };
}

type Mode =
  | { kind: "atomic"; fh: FileHandle; tmp: string; target: string }
  | { kind: "stream"; stream: Writable }
  | { kind: "through"; fh: FileHandle | undefined };

export class OutFile {
  private done = false;

  private constructor(
    /** The path as given (messages). */
    readonly path: string,
    private readonly mode: Mode,
  ) {}

  static async open(path: string): Promise<OutFile> {
    const stream = ownStream(path);
    if (stream !== undefined) return new OutFile(path, { kind: "stream", stream });
    let existing: Stats | undefined;
    let link: Stats | undefined;
    try {
      existing = await statOrUndefined(stat, path);
      link = existing === undefined ? await statOrUndefined(lstat, path) : undefined;
      if (existing?.isDirectory() === true) throw Object.assign(new Error("EISDIR: is a directory"), { code: "EISDIR" });
      if (existing !== undefined) await access(path, constants.W_OK);
      else if (link === undefined) await access(dirname(path), constants.W_OK); // a new file: its directory must take it
    } catch (err) {
      throw cannotWrite(path, err);
    }
    const ours = existing !== undefined && existing.isFile() && existing.uid === process.geteuid?.();
    if (link !== undefined || (existing !== undefined && !ours) || /^\/(?:dev|proc)\//.test(path)) return new OutFile(path, { kind: "through", fh: undefined });
    const target = existing === undefined ? path : await realpath(path).catch((err: unknown) => Promise.reject(cannotWrite(path, err)));
    removeStaleTemps(dirname(target));
    const tmp = join(dirname(target), tempFileName(TEMP_PREFIX));
    trackExitTemp(tmp); // before it exists: an interruption during the open still removes it
    let fh: FileHandle;
    try {
      // A new file gets its final mode at once (the umask applies); a replacement is private
      // until it has FILE's group and mode.
      fh = await open(tmp, "wx", existing === undefined ? NEW_FILE_MODE : TEMP_FILE_MODE);
    } catch (err) {
      untrackExitTemp(tmp);
      if (existing !== undefined) return new OutFile(path, { kind: "through", fh: undefined }); // a directory that takes no new file
      throw cannotWrite(path, err);
    }
    if (existing !== undefined) {
      try {
        // The temp file's group is the process's, or a setgid directory's: give it FILE's.
        if ((await fh.stat()).gid !== existing.gid) await fh.chown(existing.uid, existing.gid);
        await fh.chmod(existing.mode & 0o7777);
      } catch {
        await fh.close().catch(() => {});
        await unlink(tmp).catch(() => {});
        untrackExitTemp(tmp);
        return new OutFile(path, { kind: "through", fh: undefined }); // FILE's group or mode cannot be had: write through FILE
      }
    }
    return new OutFile(path, { kind: "atomic", fh, tmp, target });
  }

  async write(chunk: Uint8Array): Promise<void> {
    const m = this.mode;
    try {
      if (m.kind === "stream") {
        if (!m.stream.write(chunk)) await new Promise<void>((resolve) => m.stream.once("drain", resolve));
        return;
      }
      if (m.kind === "through") m.fh ??= await open(this.path, "w", NEW_FILE_MODE);
      // One write(2) may write less than asked (a file size limit, a full disk): write the rest,
      // so that the error it then meets is reported, never a short file committed.
      const fh = m.fh as FileHandle;
      for (let at = 0; at < chunk.length; ) {
        const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
        if (bytesWritten <= 0) throw new CairnError(ErrorCode.STORE_IO, `${this.path}: a write made no progress`, { path: this.path });
        at += bytesWritten;
      }
    } catch (err) {
      throw cannotWrite(this.path, err);
    }
  }

  /** Finishes the file: the temp file synced and renamed into place, or a written-through file closed. */
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const m = this.mode;
    if (m.kind === "stream") return;
    try {
      if (m.kind === "through") {
        m.fh ??= await open(this.path, "w", NEW_FILE_MODE); // an empty output still makes the file
        await m.fh.close();
        return;
      }
      await m.fh.sync();
      await m.fh.close();
      await rename(m.tmp, m.target);
      untrackExitTemp(m.tmp);
    } catch (err) {
      await this.drop();
      throw cannotWrite(this.path, err);
    }
    try {
      fsyncDir(dirname(m.target)); // the rename made durable
    } catch (err) {
      throw cannotWrite(this.path, err);
    }
  }

  /** Drops the temp file (FILE stays as it was); a written-through file keeps what it got. Idempotent. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.drop();
  }

  private async drop(): Promise<void> {
    const m = this.mode;
    if (m.kind === "stream") return;
    await m.fh?.close().catch(() => {});
    if (m.kind !== "atomic") return;
    await unlink(m.tmp).catch(() => {});
    untrackExitTemp(m.tmp);
  }
}

/** Opens `path` (if given) before `body`, commits it after `body` succeeds, drops it if `body` throws. */
export async function withOutFile<T>(path: string | undefined, body: (out: OutFile | undefined) => Promise<T>): Promise<T> {
  const out = path === undefined ? undefined : await OutFile.open(path);
  let result: T;
  try {
    result = await body(out);
  } catch (err) {
    await out?.abort();
    throw err;
  }
  await out?.commit();
  return result;
}
