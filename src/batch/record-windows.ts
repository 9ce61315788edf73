/**
 * A records artifact (one record per line, each ending with a newline) read a window at a time
 * through the store's verified sequential reader (`Store.openReader`), so a consumer holds one
 * window's bytes, text and records, not the artifact: the ordered merge (merge.ts) and `verify`
 * (verify.ts). A newline byte is never part of a multi-byte UTF-8 sequence, so each window
 * decodes as the whole text would.
 */
import type { ArtifactReader } from "../store/artifact-reader.js";

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * The most bytes of a records artifact read and decoded at a time (cut after a newline; a
 * record longer than this is read and decoded alone).
 */
export const RECORD_WINDOW_BYTES = 1024 * 1024;

/** The records of one records artifact, a window at a time. */
export class RecordWindows {
  /** The most bytes decoded into text at once (at most a window, or one record longer than it). */
  maxDecodedBytes = 0;
  /**
   * Once `next` has returned undefined: the bytes after the last newline — a last record
   * without its newline (the engine ends every record with one) — else empty.
   */
  tail: Buffer = EMPTY;
  private reader: ArtifactReader | undefined;
  /** The bytes read after the current window's last newline: the start of the next record. */
  private carry: Buffer = EMPTY;

  constructor(
    reader: ArtifactReader,
    /** RECORD_WINDOW_BYTES (at least 1); smaller only in tests. */
    private readonly windowBytes = RECORD_WINDOW_BYTES,
  ) {
    this.reader = reader;
  }

  /** True once the artifact has been read to its verified end (or closed). */
  get ended(): boolean {
    return this.reader === undefined;
  }

  /**
   * The next window's records (without their newlines): those that end within windowBytes of
   * the carried bytes' start, or the one record there if it alone is longer (then exactly it);
   * undefined at the end (see `tail`). A failure of the reader is thrown as it is (the reader
   * stays open until `close`).
   */
  next(): string[] | undefined {
    const reader = this.reader;
    if (reader === undefined) return undefined;
    const window = Math.max(1, this.windowBytes);
    // After a long record, the rest of its last piece (less than a window) may hold whole records.
    const carried = this.carry.lastIndexOf(NEWLINE);
    if (carried >= 0) {
      const texts = this.take(this.carry.subarray(0, carried));
      this.carry = this.carry.subarray(carried + 1);
      return texts;
    }
    const pieces: Buffer[] = this.carry.length > 0 ? [this.carry] : [];
    let held = this.carry.length;
    for (;;) {
      // Past a window without a newline, the record in progress is longer than a window: read
      // on in windows and decode it alone.
      const long = held >= window;
      const piece = reader.read(long ? window : window - held);
      if (piece === undefined) {
        this.reader = undefined;
        this.carry = EMPTY;
        this.tail = pieces.length === 0 ? EMPTY : pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, held);
        return undefined;
      }
      const nl = long ? piece.indexOf(NEWLINE) : piece.lastIndexOf(NEWLINE);
      if (nl < 0) {
        pieces.push(piece);
        held += piece.length;
        continue;
      }
      pieces.push(piece.subarray(0, nl));
      this.carry = nl + 1 < piece.length ? piece.subarray(nl + 1) : EMPTY;
      return this.take(pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, held + nl));
    }
  }

  /** Closes the reader (idempotent; also after a failure). */
  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }

  /** Decodes `bytes` (whole records without their last newline). */
  private take(bytes: Buffer): string[] {
    if (bytes.length > this.maxDecodedBytes) this.maxDecodedBytes = bytes.length;
    return bytes.toString("utf8").split("\n");
  }
}
