/**
 * Byte sources for the text readers: a file or stdin as a stream of Buffers, with the raw
 * bytes counted and hashed on the way (ReaderStats), a leading UTF-8 BOM removed, and I/O
 * errors turned into CairnErrors that name the input.
 */
import { createReadStream } from "node:fs";
import { isMainThread } from "node:worker_threads";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Hasher } from "../../core/digest.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { stdinIsDirectory } from "../../store/fsutil.js";
import type { ReaderStats } from "./types.js";
import { BomStrip } from "./utf8.js";

/** Read size for input files. */
export const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Errno codes that mean "this input cannot be read as given" rather than a failing device
 * (ENXIO: a socket, or a device with nothing behind it, which cannot be opened).
 */
const INPUT_ERRNOS: ReadonlySet<string> = new Set(["EACCES", "EPERM", "EISDIR", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "ENXIO"]);

/**
 * Why a path holding U+FFFD is not found, appended to its E_NOT_FOUND message: Node decodes argv
 * (and a path is a string) as UTF-8 with replacements, so a name whose bytes are not valid
 * UTF-8 (`dir\xff`) arrives as `dir\uFFFD`, a path that does not exist. Before 2026-11-28 the
 * error said only "input not found".
 */
export const REPLACEMENT_CHAR_HINT =
  "(the path holds U+FFFD, the replacement character: a name that is not valid UTF-8 cannot be given on the command line or as a string; rename it)";

/**
 * Maps an error met while opening or reading input `display` to a CairnError: ENOENT →
 * E_NOT_FOUND; permission and "not a file" errors → E_INVALID_INPUT; other I/O errors →
 * E_STORE_IO. CairnErrors pass through unchanged. `asGiven`: `display` is the path as the caller
 * gave it (not an entry the files reader listed, whose name is valid UTF-8): a missing one that
 * holds U+FFFD is explained (`REPLACEMENT_CHAR_HINT`).
 */
export function inputIoError(err: unknown, display: string, asGiven = true): CairnError {
  if (err instanceof CairnError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = err instanceof Error ? err.message : String(err);
  const details = { file: display, errno };
  if (errno === "ENOENT") {
    const hint = asGiven && display.includes("\uFFFD") ? ` ${REPLACEMENT_CHAR_HINT}` : "";
    return new CairnError(ErrorCode.NOT_FOUND, `input not found: ${display}${hint}`, details, { cause: err });
  }
  if (errno !== undefined && INPUT_ERRNOS.has(errno)) {
    return new CairnError(ErrorCode.INVALID_INPUT, `cannot read input ${display}: ${reason}`, details, { cause: err });
  }
  return new CairnError(ErrorCode.STORE_IO, `cannot read input ${display}: ${reason}`, details, { cause: err });
}

/** A chunk from any readable (strings and typed arrays included) as a Buffer. */
export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new CairnError(ErrorCode.INVALID_INPUT, `input stream yielded a ${typeof chunk}, expected bytes or strings`);
}

/**
 * Stats plus the running hash of the raw bytes. `stats.bytes` follows the bytes read, or, after
 * `holdBytes()`, only the bytes whose records have been handed out (`consumedTo`), so that
 * records-read / bytes-counted estimates the input's record count even when one read chunk
 * holds many batches of records (progress; every byte is counted once the read is done).
 */
export class ReadAccounting {
  readonly hasher = new Hasher();
  /** Raw bytes read so far. */
  private raw = 0;
  /** Raw bytes counted in `stats.bytes` so far. */
  private counted = 0;
  private holding = false;
  constructor(readonly stats: ReaderStats | undefined) {}

  addBytes(chunk: Buffer): void {
    this.hasher.update(chunk);
    this.raw += chunk.length;
    if (!this.holding) this.count(this.raw);
  }

  /** From now on the reader tells (`consumedTo`) which of the bytes read to count in the stats. */
  holdBytes(): void {
    this.holding = true;
  }

  /** Raw bytes read so far, and the part of them counted in the stats. */
  get bytesRead(): number {
    return this.raw;
  }
  get bytesCounted(): number {
    return this.counted;
  }

  /** The records handed out so far came from the first `offset` raw bytes (clamped; never backwards). */
  consumedTo(offset: number): void {
    this.count(Math.min(this.raw, offset));
  }

  addRecord(): void {
    if (this.stats) this.stats.records++;
  }

  /** Marks the read complete and publishes the input digest. */
  finish(): void {
    this.count(this.raw);
    if (this.stats) {
      this.stats.inputDigest = this.hasher.digest();
      this.stats.done = true;
    }
  }

  private count(to: number): void {
    if (to <= this.counted) return;
    if (this.stats) this.stats.bytes += to - this.counted;
    this.counted = to;
  }
}

/**
 * The stream to read for input `-`: `stdin` as given, else the process's stdin — refused when
 * that is a directory (`cairn run … --input - < dir`), which would read as an empty input.
 */
export function stdinSource(stdin: Readable | undefined, display: string): Readable {
  // fd 0 is the process's stdin only on the main thread (a worker's process.stdin is its own stream).
  if ((stdin === undefined || stdin === process.stdin) && isMainThread && stdinIsDirectory()) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `input ${display} is a directory (stdin redirected from a directory)`, { file: display });
  }
  return stdin ?? process.stdin;
}

/**
 * Opens the input: a path (which must exist and not be a directory) or, for "-", `stdin`.
 * Resolves before any byte is read so "not found" errors come first.
 */
export async function openInput(path: string, display: string, stdin: Readable | undefined): Promise<AsyncIterable<unknown>> {
  if (path === "-") return stdinSource(stdin, display);
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw inputIoError(err, display);
  }
  if (st.isDirectory()) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `input ${display} is a directory (use the files format to read a directory)`, {
      file: display,
    });
  }
  return createReadStream(path, { highWaterMark: READ_CHUNK_BYTES });
}

/**
 * The input's bytes as Buffers (pulled on demand: nothing is read ahead of the consumer
 * beyond the stream's own buffer). Every raw byte is counted and hashed; a leading UTF-8 BOM
 * is then removed from what is yielded.
 */
export async function* inputChunks(
  path: string,
  display: string,
  stdin: Readable | undefined,
  acct: ReadAccounting,
): AsyncGenerator<Buffer, void, undefined> {
  const source = await openInput(path, display, stdin);
  const bom = new BomStrip();
  try {
    for await (const raw of source) {
      const chunk = toBuffer(raw);
      if (chunk.length === 0) continue;
      acct.addBytes(chunk);
      const out = bom.push(chunk);
      if (out.length > 0) yield out;
    }
  } catch (err) {
    throw inputIoError(err, display);
  }
  // Input shorter than a BOM that looked like its start: it is data after all.
  const rest = bom.end();
  if (rest.length > 0) yield rest;
}
