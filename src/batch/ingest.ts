/**
 * Ingest: the run's input becomes an artifact before any EU runs, so the run (and a later
 * resume, verify or replay) reads the same immutable bytes from the store whatever happens
 * to the original file or stream.
 *
 * - jsonl, csv, json, lines: the raw bytes, streamed into one artifact (digest = SHA-256).
 * - files: every file becomes an artifact; the input artifact is the canonical JSON listing
 *   `{"files":[[relativePath, digest], …],"kind":"cairn.batch.files"}` in path byte order.
 * - an in-memory dataset (library use): each element as a canonical JSON line (format jsonl); a
 *   Buffer/Uint8Array is E_USAGE (it would iterate as one number per byte).
 *
 * The record size limit (`maxRecordBytes`, the run's `workerInputBytes`) is applied while the
 * bytes are stored: for jsonl, lines (and an in-memory dataset) a line over the limit
 * (input/line-bound.ts), for csv a record over it, header included, line breaks inside quoted
 * fields included (input/csv-bound.ts, by the reader's own scan, input/csv-span.ts), for json an
 * element over it (input/json-array.ts JsonArrayBound, the reader's scanner measuring), stops
 * the copy with E_LIMIT_EXCEEDED and the reader's own error, so an input without a newline
 * (`--input /dev/zero`), a csv quoted field left open over endless short lines or an endless
 * json element cannot grow the store without end; a json input the reader
 * refuses at a byte (`/dev/zero`: not a JSON array) stops the copy with that error once more
 * than the limit has come after it. The failed put leaves no temp file. A files input refuses a
 * file over MAX_RECORD_BYTES before reading it (input/files.ts).
 */
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { relative, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { canonicalBytes, canonicalize } from "../core/canonical.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { escapeControls } from "../core/describe.js";
import type { Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { within } from "../store/out-file.js";
import { MAX_EDGE_NODES } from "../store/edges.js";
import type { EURecord, InputFormat, ReaderOptions, ReaderStats } from "./input/types.js";
import { STDIN_NAME } from "./input/types.js";
import { inputIoError, stdinSource, toBuffer } from "./input/source.js";
import { LineBound } from "./input/line-bound.js";
import { JsonArrayBound } from "./input/json-array.js";
import { recordPlace } from "./input/ids.js";
import { readRecordBatches, readRecords } from "./input/readers.js";
import { abortable, throwIfAborted } from "./abort.js";

/**
 * An in-memory dataset's canonical lines are handed to the store in pieces of at least this many
 * bytes (the last piece may be smaller): the bytes stored, and so the input artifact and the run
 * id, are the same however they are cut.
 */
export const MEMORY_INGEST_PIECE_BYTES = 64 * 1024;

export const INPUT_MEDIA_TYPES: Record<InputFormat, string> = {
  jsonl: "application/x-ndjson",
  csv: "text/csv",
  json: "application/json",
  lines: "text/plain",
  files: "application/vnd.cairn.batch.files+json",
};

export interface IngestedInput {
  artifact: Digest;
  source: string;
  format: InputFormat;
}

export type Dataset = string | Iterable<unknown> | AsyncIterable<unknown>;

/** The source an in-memory dataset's records name. */
const MEMORY_SOURCE = "<memory>";

export async function ingest(
  store: Store,
  dataset: Dataset,
  format: InputFormat,
  stdin?: Readable,
  signal?: AbortSignal,
  maxRecordBytes?: number,
): Promise<IngestedInput> {
  if (typeof dataset !== "string") {
    // Bytes are iterable too, but as numbers (one EU per byte): never what was meant.
    if (dataset instanceof Uint8Array) {
      throw new CairnError(
        ErrorCode.USAGE,
        `a ${Buffer.isBuffer(dataset) ? "Buffer" : "Uint8Array"} dataset would be read byte by byte (one EU per byte); write the bytes to a file and pass its path, or pass the records (an array or iterable of values)`,
        { field: "dataset" },
      );
    }
    if (format !== "jsonl") throw new CairnError(ErrorCode.USAGE, "an in-memory dataset is ingested as jsonl; do not set another format");
    const bound = maxRecordBytes === undefined ? undefined : new LineBound(maxRecordBytes, MEMORY_SOURCE, "jsonl");
    async function* lines(): AsyncGenerator<Buffer> {
      let i = 0;
      // Lines are stored in pieces of about MEMORY_INGEST_PIECE_BYTES: one write per element cost
      // ~100 µs each (an fs write per line), 6 s for 50 000 small elements (1 s from a file).
      let piece: Buffer[] = [];
      let pieceBytes = 0;
      // Each element raced against the abort: a source that stalls does not hold the run (abortable).
      for await (const v of abortable(dataset as AsyncIterable<unknown> | Iterable<unknown>, signal, undefined)) {
        let line: Buffer;
        try {
          line = Buffer.from(`${canonicalize(v)}\n`);
        } catch (err) {
          // canonicalize's message (its JSONPath may hold DEL, C1 or U+2028 raw, canonical.ts) or
          // another error (a getter of the element threw), shown with its controls escaped.
          const message = escapeControls(err instanceof Error ? err.message : String(err));
          throw new CairnError(ErrorCode.INVALID_INPUT, `dataset element ${i}: ${message}`, { index: i });
        }
        bound?.push(line);
        piece.push(line);
        pieceBytes += line.length;
        if (pieceBytes >= MEMORY_INGEST_PIECE_BYTES) {
          yield Buffer.concat(piece, pieceBytes);
          piece = [];
          pieceBytes = 0;
        }
        i++;
      }
      if (pieceBytes > 0) yield Buffer.concat(piece, pieceBytes);
    }
    const a = await store.put(lines(), { mediaType: INPUT_MEDIA_TYPES.jsonl });
    throwIfAborted(signal, undefined); // a put that ended at the last element
    return { artifact: a.digest, source: MEMORY_SOURCE, format };
  }
  if (format === "files") {
    if (dataset === "-") throw new CairnError(ErrorCode.USAGE, "the files format reads a directory, not stdin");
    const files: Array<[string, Digest]> = [];
    const excludeDirs = await storeInsideInput(store, dataset);
    for await (const r of readRecords(dataset, { format: "files", excludeDirs })) {
      throwIfAborted(signal, undefined);
      const a = store.putBytes(r.input as Buffer);
      files.push([r.source.name as string, a.digest]);
    }
    const listing = store.transaction(() => {
      const l = store.putBytes(canonicalBytes({ files, kind: "cairn.batch.files" }), { mediaType: INPUT_MEDIA_TYPES.files });
      const members = [...new Set(files.map(([, d]) => d))];
      for (let i = 0; i < members.length; i += MAX_EDGE_NODES) {
        store.addEdge({ from: [l.digest], to: members.slice(i, i + MAX_EDGE_NODES), type: "contains", role: "file" });
      }
      return l;
    });
    return { artifact: listing.digest, source: dataset, format };
  }
  let src: AsyncIterable<Uint8Array>;
  const display = dataset === "-" ? STDIN_NAME : dataset;
  if (dataset === "-") src = stdinSource(stdin, STDIN_NAME) as AsyncIterable<Uint8Array>;
  else {
    // The readers' rules (input/source.ts inputIoError): only ENOENT is "not found"; a file that
    // cannot be read (EACCES, ELOOP, ENOTDIR, a socket's ENXIO…) is E_INVALID_INPUT naming it.
    let st;
    try {
      st = await stat(dataset);
    } catch (err) {
      throw inputIoError(err, display);
    }
    if (st.isDirectory()) throw new CairnError(ErrorCode.INVALID_INPUT, `input ${dataset} is a directory; use format "files" (--format files)`, { path: dataset });
    // Opened when the put starts reading it: an open error surfaces from the put (readInput).
    src = createReadStream(dataset);
  }
  const bound = maxRecordBytes === undefined ? undefined : format === "json" ? new JsonArrayBound(maxRecordBytes, display) : new LineBound(maxRecordBytes, display, format);
  const a = await store.put(readInput(src, display, signal, bound), { mediaType: INPUT_MEDIA_TYPES[format] });
  return { artifact: a.digest, source: display, format };
}

/**
 * `src`, stopping with E_INTERRUPTED once `signal` is aborted, also while a read is pending (a
 * stalled stdin: `abortable`, which then destroys the stream, as leaving the loop early does);
 * the put then stores nothing. An error of the source (the file's open, which happens when the stream
 * starts, or a read) becomes the readers' input error (inputIoError), whether the ingest runs
 * beside the module's bundling or after it. With `bound`, each chunk is measured before it is
 * stored: a line (a `csv` record, a `json` element) over the record size limit stops the put with
 * its size error.
 */
async function* readInput(src: AsyncIterable<Uint8Array>, display: string, signal: AbortSignal | undefined, bound: LineBound | JsonArrayBound | undefined): AsyncGenerator<Uint8Array> {
  try {
    // On an abort the stream is dropped: an error it emits afterwards (its file's open, still in
    // flight when an abort came before the first read, failing once the file is gone) is not the
    // run's, whose error is the abort; without a listener it would be an uncaught exception.
    const destroy = src instanceof Readable ? () => void src.on("error", () => {}).destroy() : undefined;
    for await (const raw of abortable(src, signal, undefined, destroy)) {
      if (bound === undefined) {
        yield raw;
        continue;
      }
      const chunk = toBuffer(raw);
      bound.push(chunk);
      yield chunk;
    }
    bound?.end();
  } catch (err) {
    throw inputIoError(err, display);
  }
}

/**
 * Where the store lies inside a `files` input directory: its '/'-separated paths relative to the
 * directory, which the walk skips (the store's catalog, WAL and lock are not input, and they
 * change with every run, which would give every run a new input and run id). Two paths: the
 * store's real path under the directory's real path, and the store path as given under the
 * input path as given — the entry the walk meets when that entry is a symlink to the store
 * (`.cairn` linked to another disk), which the files format would otherwise refuse as a link.
 * The input directory being the store or inside it is E_USAGE. Empty when the store is
 * elsewhere (or the input is missing or not a directory: the reader reports that).
 */
async function storeInsideInput(store: Store, dataset: string): Promise<string[]> {
  let dir: string;
  let root: string;
  try {
    if (!(await stat(dataset)).isDirectory()) return [];
    [dir, root] = await Promise.all([realpath(dataset), realpath(store.root)]);
  } catch {
    return [];
  }
  if (within(root, dir)) {
    throw new CairnError(ErrorCode.USAGE, `the input directory ${dataset} is the store ${store.root} or inside it`, { path: dataset });
  }
  const found = new Set<string>();
  for (const [d, s] of [[dir, root], [resolve(dataset), resolve(store.root)]] as const) if (d !== s && within(d, s)) found.add(relative(d, s).split(sep).join("/"));
  return [...found];
}

/**
 * The run's records, read back from the ingested artifact, in arrays (one per input chunk for
 * jsonl and lines), for the engine's read loop. A canonical JSONL line comes as `inputJson`
 * with `input` undefined (ReaderOptions.canonicalJsonLines).
 */
export async function* storedRecordBatches(
  store: Store,
  input: IngestedInput,
  idField: string | null,
  stats?: ReaderStats,
  maxRecordBytes?: number,
  lenient = false,
): AsyncGenerator<EURecord[]> {
  if (input.format === "files") {
    const listing = JSON.parse(store.get(input.artifact).toString("utf8")) as { files: Array<[string, Digest]> };
    let index = 0;
    for (const [name, digest] of listing.files) {
      const id = idField === "name" ? name : index;
      const size = maxRecordBytes === undefined ? 0 : store.stat(digest).size;
      if (maxRecordBytes !== undefined && size > maxRecordBytes) {
        // The name with its control characters escaped, as the files reader shows it (one line).
        const shown = `${input.source}/${escapeControls(name)}`;
        throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `${recordPlace(shown, undefined, index, "record")}: file is larger than the record size limit of ${maxRecordBytes} bytes`, {
          file: shown,
          name,
          index,
          limit: maxRecordBytes,
        });
      }
      yield [{ index, id, input: store.get(digest), source: { file: input.source, name } }];
      index++;
    }
    return;
  }
  // The engine's read loop: canonical JSONL lines are taken as their own canonical text.
  const opts: ReaderOptions = { format: input.format, displayName: input.source, canonicalJsonLines: true };
  if (idField !== null) opts.idField = idField;
  if (stats !== undefined) opts.stats = stats;
  if (maxRecordBytes !== undefined) opts.maxRecordBytes = maxRecordBytes;
  // verify's re-read of a run made before the duplicate-key and integer-id rules: accept what it read.
  if (lenient) {
    opts.allowDuplicateKeys = true;
    opts.lenientIds = true;
  }
  yield* readRecordBatches("-", opts, store.openReadStream(input.artifact));
}
