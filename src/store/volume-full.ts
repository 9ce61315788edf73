/**
 * A store whose volume is full (ARCHITECTURE §5.2): SQLite cannot take the writer lock or open
 * the catalog, and says only "database or disk is full" (SQLITE_FULL) or, when it cannot grow
 * the catalog's `-shm` file, "disk I/O error" (SQLITE_IOERR_SHMSIZE: the driver does not expose
 * the errno). Either way nothing that writes the store — gc, the command that frees space,
 * included: it must write the catalog before it removes anything — can start until space is
 * freed on that volume outside the store. `volumeFullError` says so.
 *
 * Taken as a full volume: a Node ENOSPC or EDQUOT, SQLITE_FULL, and SQLITE_IOERR* or
 * SQLITE_CANTOPEN* while the file system holding the store has less than
 * `STORE_VOLUME_LOW_BYTES` available to this user (or no free inode), by `statfs`.
 */
import { statfsSync } from "node:fs";
import { CairnError, ErrorCode } from "../core/errors.js";

/** Below this many available bytes, an I/O error of SQLite on the store is reported as its volume being full. */
export const STORE_VOLUME_LOW_BYTES = 1024 * 1024;

/** `details.reason` of the E_STORE_IO of a store whose volume is full. */
export const STORE_VOLUME_FULL_REASON = "store_volume_full";

/** Space available to this user on the file system holding `dir` (statfs), or undefined when it cannot be read. */
export interface VolumeSpace {
  bytes: number;
  inodes: number;
}

/** `statfs` of `dir`: available bytes and free inodes, or undefined. */
export function volumeSpace(dir: string): VolumeSpace | undefined {
  try {
    const s = statfsSync(dir);
    return { bytes: s.bavail * s.bsize, inodes: s.ffree };
  } catch {
    return undefined;
  }
}

/** SQLite's result code of a driver error ("SQLITE_…"), or a Node errno code ("E…"), else undefined. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether `err`, met locking or opening the store in `dir`, is its volume being full (see the
 * module comment); `space` reads the volume (a parameter for tests).
 */
export function isVolumeFull(err: unknown, dir: string, space: (dir: string) => VolumeSpace | undefined = volumeSpace): boolean {
  const code = codeOf(err);
  if (code === undefined) return false;
  if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL") return true;
  const ioOrOpen = code === "SQLITE_IOERR" || code.startsWith("SQLITE_IOERR_") || code === "SQLITE_CANTOPEN" || code.startsWith("SQLITE_CANTOPEN_");
  if (!ioOrOpen) return false;
  const s = space(dir);
  return s !== undefined && (s.bytes < STORE_VOLUME_LOW_BYTES || s.inodes === 0);
}

/**
 * E_STORE_IO "`<message>`; the volume holding the store `<root>` is full (`<n>` bytes
 * available): free space on it outside the store, then retry (…)", details `details` with
 * `reason: STORE_VOLUME_FULL_REASON`, `availableBytes` (when statfs answers) and the error's
 * `sqliteCode` or `errno`, caused by `err`.
 */
export function volumeFullError(
  root: string,
  message: string,
  details: Record<string, unknown>,
  err: unknown,
  space: (dir: string) => VolumeSpace | undefined = volumeSpace,
): CairnError {
  const s = space(root);
  const code = codeOf(err);
  const avail = s === undefined ? "" : ` (${s.bytes} bytes available${s.inodes === 0 ? ", no free inode" : ""})`;
  return new CairnError(
    ErrorCode.STORE_IO,
    `${message}; the volume holding the store ${root} is full${avail}: free space on it outside the store, then retry (SQLite needs room there for its lock and catalog files before any command, gc included, can use the store)`,
    {
      ...details,
      reason: STORE_VOLUME_FULL_REASON,
      ...(s === undefined ? {} : { availableBytes: s.bytes }),
      ...(code === undefined ? {} : { [code.startsWith("SQLITE_") ? "sqliteCode" : "errno"]: code }),
    },
    { cause: err },
  );
}
