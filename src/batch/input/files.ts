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
 *
 * Names are read as bytes: a file or directory whose name is not valid UTF-8 is refused
 * (E_INVALID_INPUT naming it, its bytes escaped), since the listing and the ids hold names as
 * JSON strings. Before, such names were decoded with U+FFFD replacements, so the file could not
 * be opened by its decoded name (reported as "not found") and two such names could collapse
 * into one.
 *
 * A listed name goes into messages (and `source.file`, `details.file`) with its control
 * characters escaped (`escapeControls`: `q\nz`, `\u001b`, `\u0085`), so an error stays one line;
 * `details.name` and the ids keep the name as it is. Before 2026-11-28 a newline in a name split
 * the message. Every error about an entry that would be a record (a symbolic link, a FIFO, a
 * file name that is not UTF-8, a file over the limit) names it `record N`, N being the index it
 * would have had, with `details.index` (before 2026-11-28 the symlink and non-UTF-8 errors did not).
 *
 * `exclude` ('/'-separated relative paths) names directories skipped with everything under them,
 * also when the entry is a symlink: the engine passes the Cairn store when it lies inside the
 * input directory.
 */
import { isUtf8 } from "node:buffer";
import { type Dirent } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { canonicalize } from "../../core/canonical.js";
import { escapeControls } from "../../core/describe.js";
import { sha256 } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { recordPlace } from "./ids.js";
import { inputIoError, type ReadAccounting } from "./source.js";
import type { EURecord } from "./types.js";

interface Level {
  dir: string;
  /** `dir` as shown in messages and `source.file`. */
  shown: string;
  /** Relative path of `dir` with a trailing '/', or "" for the root. */
  prefix: string;
  entries: Entry[];
  next: number;
}

/** A directory entry: its name decoded (undefined when its bytes are not valid UTF-8) and its raw bytes. */
interface Entry {
  name: string | undefined;
  raw: Buffer;
  dirent: Dirent<Buffer>;
}

/** Entries of `dir`, sorted by the bytes of their name (+ '/' for directories): for UTF-8 names, UTF-8 byte order. */
async function listSorted(dir: string, shown: string, asGiven: boolean): Promise<Entry[]> {
  let entries: Array<Dirent<Buffer>>;
  try {
    entries = await readdir(dir, { withFileTypes: true, encoding: "buffer" });
  } catch (err) {
    throw inputIoError(err, shown, asGiven);
  }
  const slash = Buffer.from("/");
  const keyed = entries.map((e) => {
    const raw = Buffer.from(e.name);
    return { e: { name: isUtf8(raw) ? raw.toString("utf8") : undefined, raw, dirent: e }, key: e.isDirectory() ? Buffer.concat([raw, slash]) : raw };
  });
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

/** A name's bytes for messages: printable ASCII as is (a backslash doubled), every other byte as \xHH. */
export function escapedName(raw: Buffer): string {
  let out = "";
  for (const b of raw) {
    if (b === 0x5c) out += "\\\\";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Reads one file (record `index`), refusing files over the limit before reading them. */
async function readFileBounded(real: string, path: string, index: number, maxRecordBytes: number): Promise<Buffer> {
  try {
    const fh = await open(real, "r");
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegular(path, index);
      if (st.size > maxRecordBytes) throw tooBig(path, index, maxRecordBytes);
      const buf = await fh.readFile();
      if (buf.length > maxRecordBytes) throw tooBig(path, index, maxRecordBytes);
      return buf;
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw inputIoError(err, path, false);
  }
}

/** The file that would be record `index` is over the limit (`in/big: record 2: file is larger …`). */
function tooBig(path: string, index: number, limit: number): CairnError {
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${recordPlace(path, undefined, index, "record")}: file is larger than the record size limit of ${limit} bytes`, {
    file: path,
    index,
    limit,
  });
}

function notRegular(path: string, index: number): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `${recordPlace(path, undefined, index, "record")}: not a regular file (FIFOs, sockets and devices cannot be inputs)`, {
    file: path,
    index,
  });
}

/** `files` format. With `idByName` the relative path is the id, otherwise the index. */
export async function* readFiles(
  root: string,
  displayRoot: string,
  idByName: boolean,
  maxRecordBytes: number,
  acct: ReadAccounting,
  exclude: readonly string[] = [],
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
  const stack: Level[] = [{ dir: root, shown: displayRoot, prefix: "", entries: await listSorted(root, displayRoot, true), next: 0 }];
  let index = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Level;
    const entry = top.entries[top.next++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const e = entry.dirent;
    if (entry.name === undefined) {
      const shownName = escapedName(entry.raw);
      const path = join(top.shown, shownName);
      // A directory is no record; a file (or link, FIFO…) would have been record `index`.
      const dir = e.isDirectory();
      const place = dir ? path : recordPlace(path, undefined, index, "record");
      throw new CairnError(ErrorCode.INVALID_INPUT, `${place}: the ${dir ? "directory" : "file"} name is not valid UTF-8 (bytes shown escaped): the files format needs UTF-8 names; rename it`, {
        file: path,
        name: top.prefix + shownName,
        ...(dir ? {} : { index }),
      });
    }
    const real = join(top.dir, entry.name);
    // The name as messages show it: control characters escaped, so the error is one line.
    const path = join(top.shown, escapeControls(entry.name));
    const rel = top.prefix + entry.name;
    if ((e.isDirectory() || e.isSymbolicLink()) && exclude.includes(rel)) continue; // the store, when it lies inside the input directory
    if (e.isSymbolicLink()) {
      throw new CairnError(ErrorCode.INVALID_INPUT, `${recordPlace(path, undefined, index, "record")}: symbolic link (the files format does not follow links)`, {
        file: path,
        name: rel,
        index,
      });
    }
    if (e.isDirectory()) {
      stack.push({ dir: real, shown: path, prefix: `${rel}/`, entries: await listSorted(real, path, false), next: 0 });
      continue;
    }
    if (!e.isFile()) throw notRegular(path, index);
    const input = await readFileBounded(real, path, index, maxRecordBytes);
    if (acct.stats) acct.stats.bytes += input.length;
    acct.hasher.update(`${canonicalize([rel, sha256(input)])}\n`);
    const i = index++;
    acct.addRecord();
    yield { index: i, id: idByName ? rel : i, input, source: { file: path, name: rel } };
  }
  acct.finish();
}
