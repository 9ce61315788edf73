/** What every command needs: its global options, an Output, and a store opened and closed for it. */
import type { Command } from "commander";
import { CairnError, ErrorCode } from "../core/errors.js";
import { checkOutPath, storeExclusion, type OutExclusion } from "../store/out-file.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { Output, type GlobalOptions } from "./output.js";

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
 * Refuses, with E_USAGE naming `flag` and the store, an output file (`--out`, `-o`) that would be
 * written in or below the store directory this command uses (by real path: through symlinks),
 * or that is a hard link to the store's catalog, FORMAT or lock — before the store is opened or
 * anything is written (store/out-file.ts `checkOutPath`: the one check of every output path).
 * `also` names the command's other files the output must not replace (`cairn run`: its module).
 */
export async function checkOutOutsideStore(cmd: Command, flag: string, path: string | undefined, also: readonly OutExclusion[] = []): Promise<void> {
  if (path === undefined) return;
  await checkOutPath(flag, path, [...also, storeExclusion(storeDirOf(cmd))]);
}

/**
 * Opens the store as `mode` says (writers wait up to --wait for the lock), runs `fn`, and
 * always closes the store.
 */
export async function withStore<T>(cmd: Command, mode: Mode, fn: (store: Store, out: Output) => T | Promise<T>): Promise<T> {
  const g = globalsOf(cmd);
  const out = new Output(g);
  const store = openStore({ dir: resolveStoreDir(g.store), readOnly: mode === "read", create: mode === "write", lockTimeoutMs: g.wait ?? 0 });
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
