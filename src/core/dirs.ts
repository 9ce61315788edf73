/**
 * `mkdir -p` that always ends. Node 20's `mkdirSync(dir, { recursive: true })` loops forever on
 * a path whose parent exists but refuses children with ENOENT (`/proc/self/x`): it takes the
 * ENOENT for a missing parent, creates the parent (EEXIST) and retries the child, again and
 * again. Here the nearest existing ancestor is found first, then each missing directory is made
 * once, top down, so every error (ENOENT, EACCES, ENOTDIR, EEXIST for a file at `dir`) is thrown
 * as the system reports it. Returns the directories that were missing, top down (empty when `dir`
 * existed), for a caller that makes their entries durable (store/fsutil.ts `ensureDirDurable`).
 */
import { mkdirSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";

export function makeDirs(dir: string): string[] {
  const missing: string[] = [];
  // The path as given, parent by parent (`dirname`, not `resolve`): `link/../x` must be the
  // kernel's `..` of where the link points, as mkdir sees it, not `x` beside the link.
  // (`throwIfNoEntry: false`: a missing directory costs no exception, which costs more than the
  // system call.)
  for (let p = dir; ; ) {
    let st: Stats | undefined;
    try {
      st = statSync(p, { throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR, EACCES…: mkdir's own error, as Node's recursive mkdir reports it
      mkdirSync(p);
      throw err; // (not reached: mkdir fails the same way)
    }
    if (st !== undefined) {
      if (!st.isDirectory()) mkdirSync(missing.at(-1) ?? p); // ENOTDIR under a file, EEXIST for a file at `dir`
      break;
    }
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  missing.reverse();
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by someone else is fine, if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !isDirectory(d)) throw err;
    }
  }
  return missing;
}

/**
 * Makes one directory whose parent usually exists already (a run's new trace directory):
 * `true` when it was made now (so nothing is in it), `false` when it was there. One system call
 * in the usual case; a missing parent is made by `makeDirs`.
 */
export function makeDir(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && isDirectory(dir)) return false;
    if (code !== "ENOENT") throw err;
  }
  makeDirs(dir);
  return true;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
