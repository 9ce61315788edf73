/**
 * JSON-lines helpers shared by CS_REGISTRY_V0 and CS_APPENDONLY_JSONL_V0.
 *
 * Lines are split like Python text-mode iteration (universal newlines: `\n`, `\r\n`, `\r`).
 *
 * Crash behaviour — a torn last line is REFUSED, never silently repaired. An append is one
 * write of `<line>\n` followed by fsync, and the runtime reports success only after the fsync,
 * so a file whose last byte is not a line terminator holds an append that never completed
 * (or a hand edit). Readers detect it (`tornTail`) and refuse to use the file: the registry
 * reports BACKEND_ERROR (SEMANTICS C.2 maps read/parse failures to that status), the
 * append-only log raises a hard error (C.3: failures while counting lines at construction are
 * exceptions). Nothing is appended after a torn tail, so a partial line can never be glued to
 * the next record. The refusal (`tornTailMessage`) names the way out: the operator command
 * `cairn wf repair-tail` (src/cli/wf-repair.ts) or, in a program, `repairTornTail` (exported by
 * the package root), which take the data root's lock like a run and repair the tail
 * (`repairTail`): an unterminated last line that is a complete record — one JSON object, what
 * every runtime record is — gets its missing `\n` (nothing acknowledged is ever dropped); any
 * other unterminated bytes (a torn append: no prefix of a record parses as JSON) are truncated
 * and reported.
 */
import { closeSync, constants as FS, fsyncSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { posix, resolve } from "node:path";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { checkOptions } from "../../store/api-checks.js";
import { tornTailWhat } from "../../core/torn-tail.js";
import { parsePyJson, prettyJson } from "../py/json.js";
import { isDict } from "../py/value.js";
import { confineAbsolute, confineRelative, normalizeDataRoot, preparePath, type PreparedPath } from "./confine.js";
import { lockForRun, type DataRootLock } from "./data-root-lock.js";
import { EffectErrorReason, effectError, ioError } from "./errors.js";
import { readData } from "./fsio.js";
import { forget } from "./filecache.js";

const LF = 0x0a;
const CR = 0x0d;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly (invalid sequences throw; a BOM is kept and later fails to parse). */
export function decodeUtf8(buf: Uint8Array): string {
  return UTF8.decode(buf);
}

/** The lines of `text` without terminators, as Python iterates a text file (a final unterminated line included). */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The unterminated bytes at the end of `buf` (a torn last line), or `undefined` if it ends cleanly. */
export function tornTail(buf: Uint8Array): { offset: number; bytes: number } | undefined {
  if (buf.length === 0) return undefined;
  const last = buf[buf.length - 1];
  if (last === LF || last === CR) return undefined;
  let i = buf.length - 1;
  while (i >= 0 && buf[i] !== LF && buf[i] !== CR) i--;
  return { offset: i + 1, bytes: buf.length - (i + 1) };
}

/** An unterminated end of a JSON-lines file (`tornTail`), and what it holds. */
export interface TornTail {
  /** Where the last line starts (the end of the last complete line). */
  readonly offset: number;
  /** Bytes after `offset` without a line terminator. */
  readonly bytes: number;
  /**
   * True when those bytes are a complete record (`isCompleteRecord`): a JSON object missing only
   * its newline (an append cut right before it, or a hand edit). The repair adds the newline.
   */
  readonly complete: boolean;
}

/**
 * True when `line` (one line's bytes, without terminator) is a complete record: strict UTF-8
 * holding one JSON value, read as the CS runtimes read their lines (NaN/Infinity allowed), that
 * is an object — every record a runtime appends is one. No proper prefix of such a line parses
 * (it starts with `{` and its value ends at its last byte), so a torn append never passes.
 */
function isCompleteRecord(line: Uint8Array): boolean {
  const v = jsonValue(line);
  return v !== undefined && isDict(v.value);
}

/** `tornTail` with what the unterminated bytes hold (`TornTail.complete`); parses only a torn file's last line. */
export function describeTornTail(buf: Uint8Array): TornTail | undefined {
  const t = tornTail(buf);
  return t === undefined ? undefined : { ...t, complete: isCompleteRecord(buf.subarray(t.offset)) };
}

/**
 * The torn tail of the data-root file `rel` (relative to `dataRoot`, confined like every CS
 * path), or undefined when it ends cleanly, does not exist or cannot be read. For hints only
 * (`cairn wf run` names the repair of a file its registry calls refused), never a decision.
 */
export function tornTailOf(dataRoot: string, rel: string): TornTail | undefined {
  try {
    const root = normalizeDataRoot(dataRoot);
    const buf = readData(preparePath(confineRelative(root, root, rel), false));
    return buf === undefined ? undefined : describeTornTail(buf);
  } catch {
    return undefined;
  }
}

/** The operator command that repairs a torn tail (src/cli/wf-repair.ts), as messages name it. */
export const REPAIR_TAIL_COMMAND = "cairn wf repair-tail";

/**
 * The message readers use when refusing a torn file. It names the repair — the CLI command and
 * the library function — with the path relative to the data root and `<data root>` as a
 * placeholder: the message goes into traces (`ERROR.message`, `CC_STEP.detail.error`), which
 * must not depend on where the data root is (`wf replay` runs in a temp one). It says what the
 * repair will do: add the newline of a complete last record, else truncate the torn bytes.
 */
export function tornTailMessage(rel: string, t: TornTail): string {
  return (
    `${JSON.stringify(rel)} ends in a torn line (${tornTailWhat(t)}): refusing to use it; ` +
    `repair it with \`${REPAIR_TAIL_COMMAND} --data-root <data root> ${JSON.stringify(rel)}\` ` +
    `or repairTornTail (${t.complete ? "adds the missing newline" : `truncates to ${t.offset} bytes`})`
  );
}

export { tornTailWhat };

/** Result of an explicit repair (`repairTornTail`). */
export interface TornTailRepair {
  /** The file, relative to the data root. */
  readonly path: string;
  /** Bytes removed (0 when the file ended cleanly, does not exist or had its last line completed). */
  readonly removedBytes: number;
  /**
   * Present (true) when the last line was a complete record missing only its newline
   * (`TornTail.complete`): the repair appended `\n` and removed nothing.
   */
  readonly completedLine?: true;
  /** Digest of the removed bytes (for the operator's record), when any were removed. */
  readonly removedDigest?: Digest;
  /** File size after the repair. */
  readonly size: number;
}

/** What `repairTail` reports: `TornTailRepair`, whether the file exists, and the start of what it removed. */
export interface TailRepairReport extends TornTailRepair {
  /** False when there is no such file (nothing was done). */
  readonly exists: boolean;
  /**
   * The first `REPAIR_TAIL_HEAD_BYTES` bytes of the removed tail, decoded as UTF-8 (a sequence cut
   * at either end, or invalid, becomes U+FFFD), when any were removed — to show the operator.
   */
  readonly removedHead?: string;
}

/** How many bytes of a removed tail `repairTail` shows (`removedHead`). */
export const REPAIR_TAIL_HEAD_BYTES = 64;

/** `details.reason` of a repair refused because the file is not a JSON-lines file (`E_INVALID_INPUT`). */
export const NOT_JSON_LINES_REASON = "not_json_lines";

/** Lenient UTF-8 (U+FFFD for anything invalid), for showing removed bytes only. */
const LENIENT_UTF8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** `buf` (strict UTF-8) parsed as one JSON value the way the CS runtimes read their files (NaN/Infinity allowed), or undefined. */
function jsonValue(buf: Uint8Array): { value: ReturnType<typeof parsePyJson>; text: string } | undefined {
  try {
    const text = decodeUtf8(buf);
    return { value: parsePyJson(text, { allowNonFiniteConstants: true }), text };
  } catch {
    return undefined;
  }
}

/**
 * Why `buf` (a file with a torn tail `t`) is not a JSON-lines file a repair may touch, or
 * undefined. A repair cuts everything after the last line terminator (or completes a last
 * record), which would damage a file of another kind — above all a CS_MUTABLE_JSON_V0 document,
 * which by design ends without a newline (mutable.ts) and would lose its whole last line. Refused:
 *  - a file whose first non-blank line is not one JSON value and whose whole content is one JSON value:
 *    a multi-line JSON document (a JSON-lines record never spans lines: the serialiser escapes
 *    every line break inside strings);
 *  - a file whose first non-blank line is not one JSON value at all (not what the runtimes write);
 *  - a file of a single unterminated line that is exactly the pretty form the mutable store
 *    writes (`{}`, an empty document, or a scalar);
 *  - a file whose unterminated last line is one JSON value that is not an object (a single such
 *    line is one JSON document): no runtime writes it as a record, and no prefix of a record
 *    parses, so it is neither a record to complete nor a torn append to cut.
 * A single unterminated record as the registry or the log writes it (spaced form, one line) is
 * a JSON-lines file of one record and gets its newline; a single unterminated line that is not
 * JSON is a torn first append and is cut (to an empty file). Only the first non-blank line (and
 * the torn last line) is parsed unless the first is not JSON, so a large log costs two lines.
 */
function notJsonLines(buf: Uint8Array, t: TornTail): string | undefined {
  if (t.offset === 0) {
    const whole = jsonValue(buf);
    if (whole !== undefined && prettyJson(whole.value) === whole.text) {
      return "it is a single unterminated line in the pretty form of a CS_MUTABLE_JSON_V0 document (which has no trailing newline by design), not a torn JSON line";
    }
  } else {
    const first = firstNonBlankLine(buf, t.offset);
    if (first !== undefined && jsonValue(first) === undefined) {
      return jsonValue(buf) !== undefined
        ? "it is one multi-line JSON document (e.g. a CS_MUTABLE_JSON_V0 document, which has no trailing newline by design), not JSON lines"
        : "its first line is not a JSON value: not a JSON-lines file the CS runtimes write";
    }
  }
  if (!t.complete && jsonValue(buf.subarray(t.offset)) !== undefined) {
    return (
      `its last line (${t.bytes} bytes after offset ${t.offset}, without a newline) is a complete JSON value that is not an object: ` +
      "neither a record the CS runtimes write (to complete) nor a torn one (to cut: no prefix of a record is JSON); edit the file by hand"
    );
  }
  return undefined;
}

/** The first complete line of `buf` (before `end`) holding more than JSON whitespace, or undefined when every one is blank. */
function firstNonBlankLine(buf: Uint8Array, end: number): Uint8Array | undefined {
  let start = 0;
  for (let i = 0; i < end; i++) {
    const b = buf[i];
    if (b === LF || b === CR) {
      start = i + 1;
    } else if (b !== 0x20 && b !== 0x09) {
      let stop = i;
      while (stop < end && buf[stop] !== LF && buf[stop] !== CR) stop++;
      return buf.subarray(start, stop);
    }
  }
  return undefined;
}

/**
 * The repair itself, on a prepared path, then fsynced: a last line that is a complete record
 * (`TornTail.complete`) gets its missing `\n` appended (`completedLine`, nothing removed); any
 * other torn tail is truncated to the last complete line and reported. A missing file reports
 * `exists: false` and is left absent; a file ending cleanly is not touched. A file that is not
 * JSON lines (`notJsonLines`) is refused with `E_INVALID_INPUT` (`details.reason`
 * `not_json_lines`), untouched.
 */
function repairPrepared(prepared: PreparedPath): TailRepairReport {
  const buf = readData(prepared);
  if (buf === undefined || prepared.realFile === undefined) return { path: prepared.rel, exists: false, removedBytes: 0, size: 0 };
  const t = describeTornTail(buf);
  if (t === undefined) return { path: prepared.rel, exists: true, removedBytes: 0, size: buf.length };
  const why = notJsonLines(buf, t);
  if (why !== undefined) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `refusing to repair ${JSON.stringify(prepared.rel)}: ${why}; nothing was changed`, {
      reason: NOT_JSON_LINES_REASON, path: prepared.rel, offset: t.offset, bytes: t.bytes,
    });
  }
  try {
    const fd = openSync(prepared.realFile, FS.O_WRONLY | FS.O_NOFOLLOW | (t.complete ? FS.O_APPEND : 0));
    try {
      if (t.complete) {
        if (writeSync(fd, NEWLINE) !== NEWLINE.length) throw new Error("short write");
      } else {
        ftruncateSync(fd, t.offset);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw ioError(t.complete ? "append" : "truncate", prepared.rel, err);
  } finally {
    forget(prepared.realFile); // the file cache must not serve the old bytes (it would notice the new size anyway)
  }
  if (t.complete) return { path: prepared.rel, exists: true, removedBytes: 0, completedLine: true, size: buf.length + NEWLINE.length };
  const removed = buf.subarray(t.offset);
  return {
    path: prepared.rel,
    exists: true,
    removedBytes: t.bytes,
    removedDigest: sha256(removed),
    removedHead: LENIENT_UTF8.decode(removed.subarray(0, REPAIR_TAIL_HEAD_BYTES)),
    size: t.offset,
  };
}

/** The terminator a repair adds to a complete last record (the one every append writes). */
const NEWLINE = Buffer.from("\n");

/** The keys of `RepairTailOptions`, for `repairTornTail`'s options check. */
const REPAIR_TAIL_OPTION_KEYS: readonly string[] = Object.freeze(["dataRootLock", "dataRootLockWaitMs"]);

/** Options of `repairTornTail` / `repairTail`: the data root's lock, as for a run. */
export interface RepairTailOptions {
  /** A lock on this data root the caller holds (`acquireDataRootLock`); else the repair takes one for its duration. */
  readonly dataRootLock?: DataRootLock;
  /** How long to wait for the lock held elsewhere (default `DEFAULT_DATA_ROOT_LOCK_WAIT_MS`), as `dataRootLockWaitMs` of a run. */
  readonly dataRootLockWaitMs?: number;
}

/**
 * Repairs the torn tail of a JSON-lines file under the data root — completes a last record that
 * lacks only its newline, else truncates to the last complete line — and reports what it did
 * (`TailRepairReport`). Never called implicitly: the runtimes only refuse a torn file.
 *
 * - `file`: relative to `dataRoot`, or absolute inside it; confined like every CS path
 *   (confine.ts: no `..`, NUL, symlinked final component, symlinked directory leading out;
 *   `E_PATH_CONFINEMENT`). `dataRoot` must be absolute.
 * - The data root's lock is held for the repair (`opts.dataRootLock`, else taken here, waiting up
 *   to `opts.dataRootLockWaitMs`; `E_DATA_ROOT_LOCKED`): no run on this host can read or append
 *   to the file while it is cut.
 * - A file ending cleanly (or empty) is not touched; a missing file reports `exists: false`; a
 *   file that is not JSON lines is refused (`E_INVALID_INPUT`, `not_json_lines`).
 */
export function repairTail(dataRoot: string, file: string, opts: RepairTailOptions = {}): TailRepairReport {
  const root = normalizeDataRoot(dataRoot);
  const confined = posix.isAbsolute(file) ? confineAbsolute(root, file) : confineRelative(root, root, file);
  const lock = lockForRun(root, opts.dataRootLock, opts.dataRootLockWaitMs);
  try {
    return repairPrepared(preparePath(confined, false));
  } finally {
    lock?.release();
  }
}

/**
 * `repairTail` reporting `TornTailRepair` (the library entry point the refusal names; the
 * package root exports it). `relPath` is relative to `dataRoot` (or absolute inside it). A
 * relative `dataRoot` is resolved against the working directory, as `runPgsWorkflow`,
 * `runCairnWorkflow` and the CLI's `--data-root` take it (until 2026-11-28 it was refused here
 * alone: "is not an absolute data root").
 */
export function repairTornTail(dataRoot: string, relPath: string, opts?: RepairTailOptions): TornTailRepair {
  const root = typeof dataRoot === "string" && dataRoot.length > 0 ? resolve(dataRoot) : dataRoot; // an empty or non-string one: normalizeDataRoot's refusal
  // The check of every options object of the library: a Map (no own keys) was read as {} until 2026-11-28.
  const r = repairTail(root, relPath, checkOptions<RepairTailOptions>(opts, REPAIR_TAIL_OPTION_KEYS, "repairTornTail"));
  // As `cairn wf repair-tail` says it: a mistyped path or data root is not a clean file (until
  // 2026-11-28 it returned removedBytes 0, size 0, as for one).
  if (!r.exists) throw new CairnError(ErrorCode.NOT_FOUND, `no file ${JSON.stringify(r.path)} under the data root ${String(root)}`, { path: r.path, dataRoot: root });
  return {
    path: r.path,
    removedBytes: r.removedBytes,
    ...(r.completedLine === true ? { completedLine: true } : {}),
    ...(r.removedDigest === undefined ? {} : { removedDigest: r.removedDigest }),
    size: r.size,
  };
}

/** A hard error for a torn file (used where the reference would raise). */
export function tornTailError(rel: string, t: TornTail): Error {
  return effectError(ErrorCode.STORE_CORRUPT, EffectErrorReason.TORN_TAIL, tornTailMessage(rel, t), { path: rel, offset: t.offset, bytes: t.bytes });
}
