/**
 * `mkdir -p` that always ends. Node 20's `mkdirSync(dir, { recursive: true })` loops forever on
 * a path whose parent exists but refuses children with ENOENT (`/proc/self/x`): it takes the
 * ENOENT for a missing parent, creates the parent (EEXIST) and retries the child, again and
 * again. Here the nearest existing ancestor is found first, then each missing directory is made
 * once, top down, so every error (ENOENT, EACCES, ENOTDIR, EEXIST for a file at `dir`) is thrown
 * as the system reports it.
 */
import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";

export function makeDirs(dir: string): void {
  const missing: string[] = [];
  // The path as given, parent by parent (`dirname`, not `resolve`): `link/../x` must be the
  // kernel's `..` of where the link points, as mkdir sees it, not `x` beside the link.
  for (let p = dir; ; ) {
    try {
      if (!statSync(p).isDirectory()) mkdirSync(p); // throws EEXIST (or ENOTDIR), as Node's does
      break;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== "ENOENT") {
        if (e.syscall === "mkdir") throw err;
        mkdirSync(p); // mkdir's own error (ENOTDIR, EACCES…), as Node's recursive mkdir reports it
        break;
      }
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by someone else is fine, if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !isDirectory(d)) throw err;
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
