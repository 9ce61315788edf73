/**
 * The one error of a file or directory Cairn makes in the OS temp directory (`os.tmpdir()`, the
 * user's `$TMPDIR`) that cannot be created or written — TMPDIR missing, a file, not writable,
 * full: E_STORE_IO naming the path and TMPDIR, with the way out (another TMPDIR), never the
 * driver's bare error (E_INTERNAL). Used by `cairn verify`'s scratch databases
 * (batch/verify-input.ts `scratchError`) and by the replays' working directories
 * (workflow/pgs/replay.ts `replayInTemp`).
 */
import { tmpdir } from "node:os";
import { CairnError, ErrorCode } from "./errors.js";

/**
 * E_STORE_IO "`<what>` `<path>` in the OS temp directory `<tmpdir>` ($TMPDIR): `<err's message>`;
 * set TMPDIR to a writable directory", details `{path, tmpdir}`, caused by `err`.
 */
export function tempDirError(what: string, path: string, err: Error): CairnError {
  return new CairnError(
    ErrorCode.STORE_IO,
    `${what} ${path} in the OS temp directory ${tmpdir()} ($TMPDIR): ${err.message}; set TMPDIR to a writable directory`,
    { path, tmpdir: tmpdir() },
    { cause: err },
  );
}
