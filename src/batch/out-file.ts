/**
 * `--out FILE`: the ordered output, also written to a file. The file is written under a fresh
 * temp name in FILE's directory and renamed into place only once complete and synced, so a
 * failed or interrupted run never leaves a partial FILE (an existing FILE stays as it was).
 * `checkOutFile` runs before any work: a path that cannot be written fails the run at once,
 * not after every pulse has executed.
 */
import { randomBytes } from "node:crypto";
import { open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { CairnError, ErrorCode } from "../core/errors.js";
import { fsyncDir } from "../store/fsutil.js";

function cannotWrite(path: string, err: unknown): CairnError {
  return new CairnError(ErrorCode.STORE_IO, `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
}

const tempName = (path: string): string => `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;

/** Fails (E_STORE_IO) unless `path` can be created or replaced: its directory takes a new file, and it is not a directory. */
export async function checkOutFile(path: string): Promise<void> {
  try {
    if ((await stat(path)).isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw cannotWrite(path, err);
  }
  const probe = tempName(path);
  try {
    await (await open(probe, "wx", 0o644)).close();
  } catch (err) {
    throw cannotWrite(path, err);
  }
  await unlink(probe).catch(() => {});
}

export class OutFile {
  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string): Promise<OutFile> {
    const tmp = tempName(path);
    try {
      return new OutFile(path, tmp, await open(tmp, "wx", 0o644));
    } catch (err) {
      throw cannotWrite(path, err);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    try {
      await this.fh.write(chunk);
    } catch (err) {
      throw cannotWrite(this.path, err);
    }
  }

  /** Syncs the temp file and renames it to the path (then syncs the directory). */
  async commit(): Promise<void> {
    try {
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.path);
      fsyncDir(dirname(this.path));
    } catch (err) {
      await this.abort();
      throw cannotWrite(this.path, err);
    }
  }

  /** Drops the temp file (the path is left as it was). Idempotent. */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
    await unlink(this.tmp).catch(() => {});
  }
}
