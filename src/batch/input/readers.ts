/**
 * The batch engine's input: `readRecords` turns a file, a directory or stdin into a stream of
 * EU records, one format at a time. Everything is streamed (pulled as the consumer asks):
 * memory holds at most one record plus one read chunk (files: one file; CSV: csv-parse's
 * buffer), never the whole input.
 *
 * Shared rules:
 *  - Text inputs must be UTF-8; invalid UTF-8 is an error naming the line (never replaced).
 *    A leading UTF-8 BOM is removed (it still counts in `stats.bytes` and the input digest).
 *  - Errors are CairnErrors: E_INVALID_INPUT naming `file:line` where the record starts and
 *    the 0-based record index (`file:line: record N: …`; `element N` for json, `file: record N:`
 *    for the files format, whose records have no lines; ids.ts recordPlace); E_LIMIT_EXCEEDED
 *    for a record over `maxRecordBytes`, in the same shape; E_NOT_FOUND for a missing input (ENOENT), E_INVALID_INPUT
 *    for one that cannot be read (source.ts inputIoError); E_USAGE for bad options (thrown by
 *    the call itself).
 *  - Records before an error are yielded before the error is thrown, and which error is
 *    reported does not depend on how the input happened to be chunked. A record over the limit
 *    is the size error even when it is malformed too (read in pieces, it is refused for its
 *    size before it is complete; ARCHITECTURE §10.15 "the size rule").
 *  - Duplicate ids are not detected here (the engine does that).
 */
import type { Readable } from "node:stream";
import { UsageError } from "../../core/errors.js";
import { readCsv } from "./csv.js";
import { readFiles } from "./files.js";
import { readJsonArray } from "./json-array.js";
import { readJsonl, readJsonlBatches, readLines, readLinesBatches } from "./lines.js";
import { inputChunks, ReadAccounting } from "./source.js";
import { INPUT_FORMATS, MAX_RECORD_BYTES, STDIN_NAME, type EURecord, type InputFormat, type ReaderOptions } from "./types.js";

/** The only `idField` the files format accepts: the relative path becomes the id. */
export const FILES_ID_FIELD = "name";

/**
 * Streams the records of `path` (or of `stdin`, default `process.stdin`, when `path` is "-").
 * Option errors throw E_USAGE immediately; everything else surfaces from the generator.
 * Pass `opts.stats` (e.g. `newReaderStats()`) to follow bytes and records read and to get the
 * input digest at the end.
 */
export function readRecords(path: string | "-", opts: ReaderOptions, stdin?: Readable): AsyncGenerator<EURecord, void, undefined> {
  return open(path, opts, stdin, false) as AsyncGenerator<EURecord, void, undefined>;
}

/**
 * The same records as `readRecords`, in arrays (jsonl and lines: one per input chunk; the
 * other formats: one record each), so a consumer pays one promise per chunk, not per record.
 */
export function readRecordBatches(path: string | "-", opts: ReaderOptions, stdin?: Readable): AsyncGenerator<EURecord[], void, undefined> {
  return open(path, opts, stdin, true) as AsyncGenerator<EURecord[], void, undefined>;
}

function open(path: string | "-", opts: ReaderOptions, stdin: Readable | undefined, batched: boolean): AsyncGenerator<EURecord | EURecord[], void, undefined> {
  const format: InputFormat = opts.format;
  if (!INPUT_FORMATS.includes(format)) {
    throw new UsageError(`unknown input format ${JSON.stringify(format)} (expected one of: ${INPUT_FORMATS.join(", ")})`, { format });
  }
  const maxRecordBytes = opts.maxRecordBytes ?? MAX_RECORD_BYTES;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1) {
    throw new UsageError(`maxRecordBytes must be a positive integer, got ${String(maxRecordBytes)}`);
  }
  const idField = opts.idField;
  if (idField !== undefined) {
    if (typeof idField !== "string" || idField === "") throw new UsageError("the id field must be a non-empty string");
    if (format === "lines") throw new UsageError("the lines format has no fields: ids are line indexes (drop the id field)");
    if (format === "files" && idField !== FILES_ID_FIELD) {
      throw new UsageError(`the files format only accepts the id field "${FILES_ID_FIELD}" (the file's relative path)`, { idField });
    }
  }
  if (typeof path !== "string" || path === "") throw new UsageError("an input path (or \"-\" for stdin) is required");

  if (opts.displayName !== undefined && (typeof opts.displayName !== "string" || opts.displayName === "")) {
    throw new UsageError("displayName must be a non-empty string");
  }

  const acct = new ReadAccounting(opts.stats);
  if (format === "files") {
    if (path === "-") throw new UsageError("the files format reads a directory and cannot read stdin");
    return single(readFiles(path, opts.displayName ?? path, idField === FILES_ID_FIELD, maxRecordBytes, acct, opts.excludeDirs ?? []), batched);
  }
  const display = opts.displayName ?? (path === "-" ? STDIN_NAME : path);
  const chunks = inputChunks(path, display, stdin, acct);
  switch (format) {
    case "jsonl":
      return batched
        ? readJsonlBatches(chunks, display, maxRecordBytes, idField, acct, true, opts.canonicalJsonLines === true, opts.allowDuplicateKeys === true, opts.lenientIds === true)
        : readJsonl(chunks, display, maxRecordBytes, idField, acct);
    case "csv":
      return single(readCsv(chunks, display, maxRecordBytes, idField, acct), batched);
    case "json":
      return single(readJsonArray(chunks, display, maxRecordBytes, idField, acct, opts.allowDuplicateKeys === true, opts.lenientIds === true), batched);
    case "lines":
      return batched ? readLinesBatches(chunks, display, maxRecordBytes, acct) : readLines(chunks, display, maxRecordBytes, acct);
  }
}

/** A per-record reader as is, or as one-record batches. */
function single(records: AsyncGenerator<EURecord, void, undefined>, batched: boolean): AsyncGenerator<EURecord | EURecord[], void, undefined> {
  return batched ? asBatches(records) : records;
}

async function* asBatches(records: AsyncIterable<EURecord>): AsyncGenerator<EURecord[], void, undefined> {
  for await (const r of records) yield [r];
}
