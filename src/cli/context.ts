/** What every command needs: its global options, an Output, and a store opened and closed for it. */
import { fstatSync, statSync, type Stats } from "node:fs";
import type { Command } from "commander";
import { CairnError, ErrorCode, UsageError } from "../core/errors.js";
import { checkOutPath, storeExclusion, type OutExclusion } from "../store/out-file.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { Output, type GlobalOptions } from "./output.js";
import { openStoreInterruptibly } from "./signals.js";

/**
 * read: read-only, no lock, the store must exist. write: take the writer lock, creating the
 * store if missing. update: take the writer lock on an existing store only (for commands
 * that can only act on what is already there, e.g. rm, gc, fsck: a mistyped --store should
 * be E_STORE_MISSING, not a fresh empty store).
 */
export type Mode = "read" | "write" | "update";

/** The root program's options merged with `cmd`'s own (root options may follow subcommands). */
export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function outputFor(cmd: Command): Output {
  return new Output(globalsOf(cmd));
}

/** The store directory the command will use (--store, else $CAIRN_STORE, else ./.cairn). */
export function storeDirOf(cmd: Command): string {
  return resolveStoreDir(globalsOf(cmd).store);
}

/**
 * With --json, refuses (E_USAGE) an output file (`--out`, `-o`) that is this process's stdout:
 * stdout holds exactly one JSON value, the command's document, so the file's bytes cannot go
 * there too (`cairn run --json --out /dev/stdout` printed the records and then the result).
 */
export function refuseStdoutUnderJson(cmd: Command, flag: string, path: string | undefined): void {
  if (path === undefined || globalsOf(cmd).json !== true || !namesStdout(path)) return;
  throw new UsageError(`${flag} ${path} names stdout, where --json prints its document: give ${flag} another file, or drop --json`, { field: flag, path });
}

/**
 * Refuses (E_USAGE) an output file (`--out`, `-o`) given as `-`: for `--input` it means stdin,
 * but an output file is written to a temp file renamed into place, and stdout holds the
 * command's summary; `-` would be a file named "-". `stdoutHint` says how to reach stdout.
 */
export function refuseDashOut(flag: string, path: string | undefined, stdoutHint: string): void {
  if (path !== "-") return;
  throw new UsageError(`${flag} - is not stdout (it would write a file named "-"): ${stdoutHint}, or give ${flag} ./- for a file of that name`, { field: flag, path });
}

/** This process's stdout named as a path (store/out-file.ts `ownStream`'s names). */
const STDOUT_NAME_RE = /^(?:\/dev\/stdout|\/dev\/fd\/1|\/proc\/self\/fd\/1)$/;

/**
 * Whether an `--out` path is this process's stdout: one of its names, or (when stdout is a
 * pipe, a socket or a regular file, which a reader parses) any other path to the same file
 * (`/proc/<pid>/fd/1`, a symlink, the file stdout is redirected to).
 */
function namesStdout(path: string): boolean {
  if (STDOUT_NAME_RE.test(path)) return true;
  let own: Stats;
  try {
    own = fstatSync(1);
  } catch {
    return false; // stdout closed: nothing to keep parseable
  }
  if (!(own.isFIFO() || own.isSocket() || own.isFile())) return false;
  try {
    const st = statSync(path);
    return st.dev === own.dev && st.ino === own.ino;
  } catch {
    return false; // not there or not reachable: not stdout (the write reports what it meets)
  }
}

/**
 * Refuses, with E_USAGE naming `flag` and the store, an output file (`--out`, `-o`) that would be
 * written in or below the store directory this command uses (by real path: through symlinks),
 * or that is a hard link to the store's catalog, FORMAT or lock — before the store is opened or
 * anything is written (store/out-file.ts `checkOutPath`: the one check of every output path).
 * `also` names the command's other files the output must not replace (`cairn run`: its module).
 * With --json, stdout is refused too (`refuseStdoutUnderJson`).
 */
export async function checkOutOutsideStore(cmd: Command, flag: string, path: string | undefined, also: readonly OutExclusion[] = []): Promise<void> {
  if (path === undefined) return;
  refuseStdoutUnderJson(cmd, flag, path);
  await checkOutPath(flag, path, [...also, storeExclusion(storeDirOf(cmd))]);
}

/**
 * Opens the store as `mode` says, runs `fn`, and always closes the store. Writers wait up to
 * --wait for another process's writer lock by polling it (signals.ts `openStoreInterruptibly`),
 * so a signal handler (`exitOnSignal`) runs during the wait, not when it is over; a reader takes
 * no lock and does not wait.
 */
export async function withStore<T>(cmd: Command, mode: Mode, fn: (store: Store, out: Output) => T | Promise<T>): Promise<T> {
  const g = globalsOf(cmd);
  const out = new Output(g);
  const dir = resolveStoreDir(g.store);
  const store = mode === "read" ? openStore({ dir, readOnly: true, create: false }) : await openStoreInterruptibly({ dir, create: mode === "write", lockTimeoutMs: g.wait ?? 0 });
  try {
    return await fn(store, out);
  } finally {
    store.close();
  }
}

/**
 * Wraps an operating-system error about a user-named file into a CairnError naming the path.
 * The code follows the rule of every command (ARCHITECTURE §7, "Files named by the user"): a
 * file to read that does not exist is E_NOT_FOUND, one that cannot be read E_INVALID_INPUT; a
 * file or directory that cannot be written (`direction` "write") is E_STORE_IO.
 */
export function fileError(what: string, path: string, err: unknown, direction: "read" | "write" = "read"): CairnError {
  if (err instanceof CairnError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason = e.code === "ENOENT" ? "no such file or directory" : e.code === "EISDIR" ? "is a directory" : e.code === "EACCES" ? "permission denied" : e.message;
  const code = direction === "write" ? ErrorCode.STORE_IO : e.code === "ENOENT" ? ErrorCode.NOT_FOUND : ErrorCode.INVALID_INPUT;
  return new CairnError(code, `cannot ${what} ${path}: ${reason}`, { path, errno: e.code }, { cause: err });
}
