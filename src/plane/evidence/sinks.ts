/**
 * Evidence sinks. The node fans every Evidence record out to every registered sink, in
 * registration order, and awaits each. A sink that throws makes the node's call throw: nothing is
 * dispatched to a target unless `execution.started` reached every sink (fail closed). Before
 * each record reaches any sink, the node calls every sink's `open` (if it has one): a sink that
 * cannot be made ready (the store sink's store is locked) fails the call before any sink has
 * the record, so a refused execution leaves no `admission.accepted` behind in another sink.
 *
 *  - MemoryEvidenceSink: keeps the records (for embedding and tests).
 *  - JsonlEvidenceSink: appends one RFC 8785 canonical JSON record per line to a regular file; a
 *    file that cannot be written (its folder cannot be made, the path is a directory, EACCES,
 *    ENOSPC) is a CairnError `E_STORE_IO` naming the path. So is a path that is not a regular
 *    file — a FIFO, a device, a socket (`details.reason: "not_regular_file"`): the append is a
 *    synchronous write on the node's thread, and opening a FIFO nobody reads would block that
 *    thread forever, beyond the reach of signals (SIGINT/SIGTERM handlers never run). The file
 *    is opened O_NONBLOCK and checked with fstat, so a FIFO is refused at once, also one that
 *    appears between two records. (The rule of the data root's append-only files, which refuse
 *    non-regular files too.) An append lands whole or not at all (jsonl-tail.ts): after a failed
 *    or short write the bytes it wrote are truncated away again (if still the file's last bytes),
 *    and a file that does not end in `\n` — a torn line a crash or SIGKILL left mid-append — is
 *    refused before anything is appended to it: `E_STORE_CORRUPT`, `details.reason:
 *    "torn_jsonl_tail"`, naming the file, the line and offset of the torn line and the repair.
 *    The file is opened read-write (the tail is read), so it must be readable too. By default
 *    (`durability: "fsync"`) each append is on disk before `emit` returns: the file's data is
 *    fsynced (fdatasync), so are the entries of the folders it made and the file's entry in its
 *    folder (on the sink's first append, and when the file was empty: re-created); `"no-fsync"`
 *    skips those three (a failed append's truncation is fsynced either way).
 *  - StoreEvidenceSink (store-sink.ts): records evidence as artifacts with lineage edges.
 */
import { closeSync, constants as FS, fdatasyncSync, fstatSync, openSync, statSync, writeSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { canonicalize } from "../../core/canonical.js";
import { checkPathArgument, describeArgument, isOptionsObject } from "../../core/describe.js";
import { CairnError, ErrorCode, osErrorText } from "../../core/errors.js";
import type { Evidence } from "../contracts/execution.js";
import { makeDirs } from "../../core/dirs.js";
import { ensureDirDurable, fsyncDir, isAccessDenied } from "../../store/fsutil.js";

import { shellWord } from "../../core/shell-word.js";
import { tornTailWhat } from "../../core/torn-tail.js";
import { settledTornTail, TORN_TAIL_REASON, undoPartialAppend, type EvidenceTornTail, type UndoOutcome } from "./jsonl-tail.js";

export interface EvidenceSink {
  readonly sink_id: string;
  emit(evidence: Evidence): void | Promise<void>;
  /**
   * Makes the sink ready to record (opens what it writes to) without recording anything
   * (optional). Called on every sink before each record reaches any sink; must be idempotent.
   */
  open?(): void | PromiseLike<void>;
  /** Flushes buffered records (optional). */
  flush?(): void | Promise<void>;
}

export class MemoryEvidenceSink implements EvidenceSink {
  readonly records: Evidence[] = [];
  constructor(readonly sink_id = "memory") {}
  emit(evidence: Evidence): void {
    this.records.push(evidence);
  }
}

/**
 * Opening for an append: O_RDWR (the tail is read before the append and after a failed one) and
 * O_NONBLOCK, so opening a FIFO never blocks (Linux opens one O_RDWR at once; where a FIFO
 * without a reader fails with ENXIO instead, that is named too) and fstat then refuses it.
 */
const APPEND_FLAGS = FS.O_RDWR | FS.O_APPEND | FS.O_CREAT | (FS.O_NONBLOCK ?? 0);
/** Permission bits of a new evidence file before the umask (as `appendFileSync` created it). */
const NEW_FILE_MODE = 0o666;
/** `details.reason` of an evidence path that is not a regular file. */
export const NOT_REGULAR_FILE_REASON = "not_regular_file";



function fileKind(st: Stats | undefined): string {
  if (st === undefined) return "not a file";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a file";
}

/** What is at `path` (after an ENXIO open), for the message. */
function kindAt(path: string): string {
  try {
    return fileKind(statSync(path, { throwIfNoEntry: false }));
  } catch {
    return "not a file";
  }
}

/** `JsonlEvidenceSink`'s options. */
export interface JsonlEvidenceSinkOptions {
  /**
   * `"fsync"` (the default): every record is on disk when `emit` returns (fdatasync of the file,
   * fsync of the folders it created and of the file's entry in its folder: on the sink's first
   * append and for a re-created file). `"no-fsync"`: the same writes without them, so an OS
   * crash or power loss may lose the last records (a killed process cannot: the append is one
   * `write`).
   */
  durability?: "fsync" | "no-fsync";
}

/** Appends canonical JSON lines to a regular file; the file and its folder are created on first use. */
export class JsonlEvidenceSink implements EvidenceSink {
  readonly sink_id: string;
  readonly durable: boolean;
  /** Whether this sink has fsynced the file's entry in its folder (once, and again for a file found empty: re-created). */
  private folderSynced = false;
  constructor(
    readonly path: string,
    sinkId?: string,
    options: JsonlEvidenceSinkOptions = {},
  ) {
    checkPathArgument("JsonlEvidenceSink", "path", path);
    if (sinkId !== undefined && (typeof sinkId !== "string" || sinkId === "")) {
      throw new CairnError(ErrorCode.USAGE, `JsonlEvidenceSink: sinkId must be a non-empty string, got ${describeArgument(sinkId)}`, { field: "sinkId" });
    }
    if (!isOptionsObject(options)) throw new CairnError(ErrorCode.USAGE, `JsonlEvidenceSink: options must be an object {durability?}, got ${describeArgument(options)}`, { field: "options" });
    const unknown = Object.keys(options).find((k) => k !== "durability");
    if (unknown !== undefined) throw new CairnError(ErrorCode.USAGE, `JsonlEvidenceSink: unknown option ${JSON.stringify(unknown)} (known: durability)`, { field: unknown });
    const { durability = "fsync" } = options;
    if (durability !== "fsync" && durability !== "no-fsync") {
      throw new CairnError(ErrorCode.USAGE, `JsonlEvidenceSink: durability must be "fsync" or "no-fsync", got ${describeArgument(durability)}`, { field: "durability" });
    }
    this.sink_id = sinkId ?? `jsonl:${path}`;
    this.durable = durability === "fsync";
  }
  emit(evidence: Evidence): void {
    const bytes = Buffer.from(`${canonicalize(evidence)}\n`, "utf8");
    let fd: number;
    try {
      if (this.durable) ensureDirDurable(dirname(this.path));
      else makeDirs(dirname(this.path));
      fd = openSync(this.path, APPEND_FLAGS, NEW_FILE_MODE);
    } catch (err) {
      // ENXIO: a FIFO no one reads (or a socket); name what the path is rather than the errno
      if ((err as NodeJS.ErrnoException).code === "ENXIO") throw this.notRegular(kindAt(this.path), err);
      throw this.ioError(err);
    }
    try {
      let st: Stats;
      try {
        st = fstatSync(fd);
      } catch (err) {
        throw this.ioError(err);
      }
      if (!st.isFile()) throw this.notRegular(fileKind(st));
      let torn: EvidenceTornTail | undefined;
      try {
        torn = settledTornTail(fd, st.size);
      } catch (err) {
        throw this.ioError(err);
      }
      if (torn !== undefined) throw this.tornError(torn);
      let off = 0;
      try {
        while (off < bytes.length) {
          const n = writeSync(fd, bytes, off, bytes.length - off);
          if (n <= 0) throw new Error("write wrote no bytes");
          off += n;
        }
      } catch (err) {
        throw this.ioError(err, undoPartialAppend(fd, bytes, off));
      }
      if (this.durable) this.sync(fd, st.size === 0 || !this.folderSynced);
    } finally {
      closeSync(fd);
    }
  }
  /**
   * The durable append's end: the file's data, and its entry in its folder on this sink's first
   * durable append (whoever created the file) and whenever the file was empty before the append
   * (re-created). A folder this process cannot open (mode -wx) is left to the file system's
   * ordering, as `ensureDirDurable` leaves it. A failure is E_STORE_IO saying that the record
   * was appended but is not known to be on disk (`details.appended: true`).
   */
  private sync(fd: number, folder: boolean): void {
    try {
      fdatasyncSync(fd);
      if (folder) {
        try {
          fsyncDir(dirname(this.path));
        } catch (err) {
          if (!isAccessDenied(err)) throw err;
        }
        this.folderSynced = true;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CairnError(
        ErrorCode.STORE_IO,
        `cannot make evidence file ${this.path} durable: ${osErrorText(err)}; the record was appended but is not known to be on disk`,
        { path: this.path, ...(typeof code === "string" ? { code } : {}), appended: true },
        { cause: err },
      );
    }
  }
  /**
   * `E_STORE_IO` naming the file. After a failed append whose written bytes could not be cut off
   * again (`undo` "left"), the message says the file may now end in a partial record.
   */
  private ioError(err: unknown, undo?: UndoOutcome): CairnError {
    const code = (err as NodeJS.ErrnoException).code;
    const left = undo === "left" ? `; part of the record was written and could not be removed: the file may end in a torn line` : "";
    return new CairnError(
      ErrorCode.STORE_IO,
      `cannot write evidence file ${this.path}: ${osErrorText(err)}${left}`,
      { path: this.path, ...(typeof code === "string" ? { code } : {}), ...(undo === "left" ? { partial_record: true } : {}) },
      { cause: err },
    );
  }
  private tornError(t: EvidenceTornTail): CairnError {
    const what = `line ${t.line}: ${tornTailWhat(t)}`;
    // No other process may be appending to it meanwhile: its record would be the one cut.
    const repair = t.complete
      ? `repair it, with no other process appending to it, by adding the missing newline (printf '\\n' >> ${shellWord(this.path)})`
      : `repair it, with no other process appending to it, by truncating it to ${t.offset} bytes, which removes only the unfinished record (truncate -s ${t.offset} ${shellWord(this.path)}), or move it aside`;
    return new CairnError(
      ErrorCode.STORE_CORRUPT,
      `evidence file ${this.path} ends in a torn line (${what}): refusing to append to it; ${repair}`,
      { path: this.path, reason: TORN_TAIL_REASON, line: t.line, offset: t.offset, bytes: t.bytes, complete: t.complete },
    );
  }
  private notRegular(kind: string, cause?: unknown): CairnError {
    return new CairnError(
      ErrorCode.STORE_IO,
      `cannot write evidence file ${this.path}: not a regular file (${kind}); evidence is appended to a regular file only`,
      { path: this.path, reason: NOT_REGULAR_FILE_REASON },
      cause === undefined ? undefined : { cause },
    );
  }
}
