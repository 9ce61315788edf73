/**
 * `files` format: a directory, one record per regular file found recursively.
 *
 * Order: byte order (UTF-8) of the '/'-separated path relative to the directory. A recursive
 * walk reaches exactly that order when each directory's entries are sorted by their name, with
 * '/' appended to subdirectory names (no name contains '/', so comparing `dir/` with a
 * sibling decides the order of everything under `dir`). Only one directory listing per level
 * is held in memory, and files are read one at a time, when the consumer asks for them.
 *
 * Symbolic links inside the directory are refused (an error naming the link), never followed;
 * so are FIFOs, sockets and devices. The directory named on the command line may itself be
 * reached through a link.
 */
import { type Dirent } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { canonicalize } from "../../core/canonical.js";
import { sha256 } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { inputIoError, type ReadAccounting } from "./source.js";
import type { EURecord } from "./types.js";

interface Level {
  dir: string;
  /** `dir` as shown in messages and `source.file`. */
  shown: string;
  /** Relative path of `dir` with a trailing '/', or "" for the root. */
  prefix: string;
  entries: Dirent[];
  next: number;
}

/** Entries of `dir`, sorted by UTF-8 bytes of `name` (+ '/' for directories). */
async function listSorted(dir: string, shown: string): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw inputIoError(err, shown);
  }
  const keyed = entries.map((e) => ({ e, key: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name, "utf8") }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

/** Reads one file, refusing files over the limit before reading them. */
async function readFileBounded(real: string, path: string, maxRecordBytes: number): Promise<Buffer> {
  try {
    const fh = await open(real, "r");
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegular(path);
      if (st.size > maxRecordBytes) throw tooBig(path, maxRecordBytes);
      const buf = await fh.readFile();
      if (buf.length > maxRecordBytes) throw tooBig(path, maxRecordBytes);
      return buf;
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw inputIoError(err, path);
  }
}

function tooBig(path: string, limit: number): CairnError {
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${path}: file is larger than the record size limit of ${limit} bytes`, {
    file: path,
    limit,
  });
}

function notRegular(path: string): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `${path}: not a regular file (FIFOs, sockets and devices cannot be inputs)`, {
    file: path,
  });
}

/** `files` format. With `idByName` the relative path is the id, otherwise the index. */
export async function* readFiles(
  root: string,
  displayRoot: string,
  idByName: boolean,
  maxRecordBytes: number,
  acct: ReadAccounting,
): AsyncGenerator<EURecord, void, undefined> {
  let st;
  try {
    st = await stat(root);
  } catch (err) {
    throw inputIoError(err, displayRoot);
  }
  if (!st.isDirectory()) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `input ${displayRoot} is not a directory (the files format reads a directory)`, {
      file: displayRoot,
    });
  }
  const stack: Level[] = [{ dir: root, shown: displayRoot, prefix: "", entries: await listSorted(root, displayRoot), next: 0 }];
  let index = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Level;
    const e = top.entries[top.next++];
    if (e === undefined) {
      stack.pop();
      continue;
    }
    const real = join(top.dir, e.name);
    const path = join(top.shown, e.name);
    const rel = top.prefix + e.name;
    if (e.isSymbolicLink()) {
      throw new CairnError(ErrorCode.INVALID_INPUT, `${path}: symbolic link (the files format does not follow links)`, {
        file: path,
        name: rel,
      });
    }
    if (e.isDirectory()) {
      stack.push({ dir: real, shown: path, prefix: `${rel}/`, entries: await listSorted(real, path), next: 0 });
      continue;
    }
    if (!e.isFile()) throw notRegular(path);
    const input = await readFileBounded(real, path, maxRecordBytes);
    if (acct.stats) acct.stats.bytes += input.length;
    acct.hasher.update(`${canonicalize([rel, sha256(input)])}\n`);
    const i = index++;
    acct.addRecord();
    yield { index: i, id: idByName ? rel : i, input, source: { file: path, name: rel } };
  }
  acct.finish();
}
