/**
 * Evidence sinks. The node fans every Evidence record out to every registered sink, in
 * registration order, and awaits each. A sink that throws makes the node's call throw: nothing is
 * dispatched to a target unless `execution.started` reached every sink (fail closed).
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
 *    non-regular files too.)
 *  - StoreEvidenceSink (store-sink.ts): records evidence as artifacts with lineage edges.
 */
import { closeSync, constants as FS, fstatSync, openSync, statSync, writeSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { canonicalize } from "../../core/canonical.js";
import { CairnError, ErrorCode, osErrorText } from "../../core/errors.js";
import type { Evidence } from "../contracts/execution.js";
import { makeDirs } from "../../core/dirs.js";

export interface EvidenceSink {
  readonly sink_id: string;
  emit(evidence: Evidence): void | Promise<void>;
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

/** Opening for an append: O_NONBLOCK, so a FIFO without a reader fails (ENXIO) instead of blocking. */
const APPEND_FLAGS = FS.O_WRONLY | FS.O_APPEND | FS.O_CREAT | (FS.O_NONBLOCK ?? 0);
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

/** Appends canonical JSON lines to a regular file; the file and its folder are created on first use. */
export class JsonlEvidenceSink implements EvidenceSink {
  readonly sink_id: string;
  constructor(
    readonly path: string,
    sinkId?: string,
  ) {
    this.sink_id = sinkId ?? `jsonl:${path}`;
  }
  emit(evidence: Evidence): void {
    const bytes = Buffer.from(`${canonicalize(evidence)}\n`, "utf8");
    let fd: number;
    try {
      makeDirs(dirname(this.path));
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
      try {
        for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
      } catch (err) {
        throw this.ioError(err);
      }
    } finally {
      closeSync(fd);
    }
  }
  private ioError(err: unknown): CairnError {
    const code = (err as NodeJS.ErrnoException).code;
    return new CairnError(ErrorCode.STORE_IO, `cannot write evidence file ${this.path}: ${osErrorText(err)}`, { path: this.path, ...(typeof code === "string" ? { code } : {}) }, { cause: err });
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
