/**
 * `--out FILE`: the ordered output, also written to a file. Opened before any work, so a path
 * that cannot be written fails the run at once, not after every pulse has executed.
 *
 * A regular file (or no file yet) is written **atomically**: under a fresh temp name next to
 * it (next to a symlink's target: the symlink stays, its target gets the output), synced and
 * renamed into place once the run has finished, so a failed or interrupted run never leaves a
 * partial FILE and an existing one keeps its contents; an existing file's permission bits
 * (and, when allowed, owner) carry over. Anything else — a FIFO, a character device
 * (`/dev/stdout`), a socket, a dangling symlink — is **written through** (opened with `w`, as
 * a shell redirection would), as is a regular file in a directory where no temp file can be
 * created: those get the output as it is produced, and a failed run leaves what was written.
 * Temp files are removed when the run fails, and on process exit (e.g. after Ctrl-C).
 */
import { randomBytes } from "node:crypto";
import { unlinkSync, type Stats } from "node:fs";
import { lstat, open, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { fsyncDir } from "../store/fsutil.js";

/** Default permission bits of a new FILE (before the umask), as for a shell redirection. */
const NEW_FILE_MODE = 0o666;

function cannotWrite(path: string, err: unknown): CairnError {
  return new CairnError(ErrorCode.STORE_IO, `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
}

const tempName = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;

/** Temp files not yet renamed or removed; removed at process exit (an interrupted run). */
const openTemps = new Set<string>();
let exitHook = false;
function trackTemp(path: string): void {
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const p of openTemps) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    });
  }
  openTemps.add(path);
}

async function statOrUndefined(f: (p: string) => Promise<Stats>, path: string): Promise<Stats | undefined> {
  try {
    return await f(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export class OutFile {
  private done = false;

  private constructor(
    /** The path as given (messages). */
    readonly path: string,
    private readonly fh: FileHandle,
    /** Atomic mode: the temp file and the path it is renamed to. */
    private readonly atomic: { tmp: string; target: string } | undefined,
  ) {}

  static async open(path: string): Promise<OutFile> {
    let existing: Stats | undefined;
    let link: Stats | undefined;
    try {
      existing = await statOrUndefined(stat, path);
      link = existing === undefined ? await statOrUndefined(lstat, path) : undefined;
    } catch (err) {
      throw cannotWrite(path, err);
    }
    if (existing?.isDirectory() === true) throw cannotWrite(path, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    // A FIFO, a device, a socket, a dangling symlink: written through.
    if ((existing !== undefined && !existing.isFile()) || link !== undefined) return OutFile.through(path);
    const target = existing === undefined ? path : await realpath(path).catch((err: unknown) => Promise.reject(cannotWrite(path, err)));
    const tmp = tempName(target);
    let fh: FileHandle;
    try {
      fh = await open(tmp, "wx", existing === undefined ? NEW_FILE_MODE : existing.mode & 0o7777);
    } catch (err) {
      // No temp file possible beside an existing file (a read-only directory): write through it.
      if (existing !== undefined) return OutFile.through(path);
      throw cannotWrite(path, err);
    }
    trackTemp(tmp);
    if (existing !== undefined) {
      try {
        await fh.chmod(existing.mode & 0o7777); // the umask applied at creation
        await fh.chown(existing.uid, existing.gid).catch(() => {}); // only where allowed
      } catch (err) {
        await fh.close().catch(() => {});
        await unlink(tmp).catch(() => {});
        openTemps.delete(tmp);
        throw cannotWrite(path, err);
      }
    }
    return new OutFile(path, fh, { tmp, target });
  }

  private static async through(path: string): Promise<OutFile> {
    try {
      return new OutFile(path, await open(path, "w", NEW_FILE_MODE), undefined);
    } catch (err) {
      throw cannotWrite(path, err);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      await this.fh.write(chunk);
    } catch (err) {
      throw cannotWrite(this.path, err);
    }
  }

  /** Finishes the file: syncs and renames the temp file into place, or closes a written-through one. */
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      if (this.atomic === undefined) {
        await this.fh.close();
        return;
      }
      await this.fh.sync();
      await this.fh.close();
      await rename(this.atomic.tmp, this.atomic.target);
      openTemps.delete(this.atomic.tmp);
      fsyncDir(dirname(this.atomic.target));
    } catch (err) {
      await this.drop();
      throw cannotWrite(this.path, err);
    }
  }

  /** Drops the temp file (the path stays as it was); a written-through file keeps what it got. Idempotent. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.drop();
  }

  private async drop(): Promise<void> {
    await this.fh.close().catch(() => {});
    if (this.atomic === undefined) return;
    await unlink(this.atomic.tmp).catch(() => {});
    openTemps.delete(this.atomic.tmp);
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
