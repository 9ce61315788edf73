/**
 * Types of the batch engine's input layer: how a dataset on disk (or stdin) becomes a stream
 * of execution-unit records.
 */
import type { Digest } from "../../core/digest.js";

/** The input formats `cairn run --format` accepts. */
export type InputFormat = "jsonl" | "csv" | "json" | "lines" | "files";

/** Every supported format, in documentation order. */
export const INPUT_FORMATS: readonly InputFormat[] = ["jsonl", "csv", "json", "lines", "files"];

/**
 * An execution unit's id. Index ids (the default) are the 0-based record index, a number.
 * With `idField` the id is the field's value, which must be a string or a safe integer
 * (`Number.isSafeInteger`) written as an integer literal (jsonl/json: not `5.0`, `1e3`);
 * anything else (objects, arrays, floats, booleans, null, a missing field) is rejected with
 * E_INVALID_INPUT naming the record and the field.
 */
export type EUId = number | string;

/** One record of the input: the unit of work handed to the user function. */
export interface EURecord {
  /** 0-based record index, in input order (blank JSONL lines and CSV empty lines are not records). */
  index: number;
  /** The EU id: `index`, or the `idField` value. */
  id: EUId;
  /**
   * jsonl/json: the parsed JSON value; csv: an object of strings keyed by the header's column
   * names; lines: the line as a string (without its terminator); files: a Buffer of the bytes.
   */
  input: unknown;
  /**
   * Where the record came from. `file` is the path as given (`<stdin>` for `-`; for the files
   * format the path of the file itself); `line` is the 1-based line where the record starts
   * (not set for files); `name` is the '/'-separated path relative to the input directory
   * (files format only).
   */
  source: { file: string; line?: number; name?: string };
  /**
   * Engine reads only (`canonicalJsonLines`): a JSONL line that already was the RFC 8785
   * canonical text of its value, taken as is — `input` is then not parsed (undefined) and
   * `inputSize` is what `estimateSize` of the parsed value would be (canonical-line.ts).
   */
  inputJson?: string;
  inputSize?: number;
  /**
   * The record's length in the input (characters of a JSONL line, bytes of a JSON array
   * element), where the reader knows it: it bounds a pulse's input (scheduler.ts) where
   * `estimateSize`, which walks at most 1024 values, would undercount a big record.
   */
  rawBytes?: number;
}

/**
 * Running figures of one read, updated by the reader as it goes (the engine passes an object
 * in and reads it for progress and for the manifest).
 */
export interface ReaderStats {
  /**
   * Raw input bytes read so far (files format: file contents read so far). The text readers
   * count a read chunk's bytes as its records are handed out (jsonl and lines: in proportion
   * to the chunk's lines; csv and json: up to the end of the last record), so with `records`
   * it estimates the input's record count. Every byte (a BOM included) once `done`.
   */
  bytes: number;
  /** Records yielded so far. */
  records: number;
  /** True once the input was read to its end without error. */
  done: boolean;
  /**
   * Set when `done`: SHA-256 of the raw input bytes exactly as read (a BOM included).
   * For the files format: SHA-256 over, for each file in order, the UTF-8 of
   * `canonicalize([relativePath, sha256(contents)]) + "\n"`.
   */
  inputDigest?: Digest;
}

export interface ReaderOptions {
  format: InputFormat;
  /**
   * jsonl/json: a top-level member of each (object) record; csv: a column of the header;
   * files: only `"name"` (the relative path becomes the id); lines: not supported.
   */
  idField?: string;
  /**
   * Largest record accepted, in bytes (a record over it is E_LIMIT_EXCEEDED). Default
   * MAX_RECORD_BYTES. A record's bytes: jsonl/lines, the line without its terminator (LF or
   * CR LF); csv, the record's raw bytes (quotes, commas and line breaks inside quoted fields
   * included) without its terminator and the empty lines before it, the header's likewise;
   * json, the element's own text, from its first to its last non-whitespace byte; files, the
   * file's size. A leading BOM is not part of the first record.
   */
  maxRecordBytes?: number;
  /** Updated while reading (see ReaderStats). */
  stats?: ReaderStats;
  /**
   * The name used in messages and `source.file` instead of the path (or `<stdin>`), e.g. the
   * original file name when the bytes are read back from a stored copy. Files format: the
   * name shown for the directory.
   */
  displayName?: string;
  /**
   * jsonl without `idField` (the engine's read loop only): a line that is already canonical
   * JSON (within canonical-line.ts's subset) is not parsed; its record carries the line as
   * `inputJson` and `input` is undefined. Other lines, and every other reader, parse as usual.
   */
  canonicalJsonLines?: boolean;
  /**
   * files: subdirectories ('/'-separated paths relative to the input directory) skipped with
   * everything under them, also when the entry is a symlink — the Cairn store, when it lies
   * inside the input directory (ingest.ts).
   */
  excludeDirs?: readonly string[];
  /**
   * jsonl/json (batched reading only): accept a record with a key written twice (JSON.parse
   * keeps the last value). Runs refuse them; `verify` re-reads a run's stored input with this
   * set, so a run made before that rule verifies against the input it actually read.
   */
  allowDuplicateKeys?: boolean;
  /**
   * jsonl/json (batched reading only): take a number id as parsed, even when its text is not an
   * integer literal (`5.0`, `1e3`, `1.0000000000000001`: runs refuse those, ids.ts). Set with
   * `allowDuplicateKeys` by `verify`'s re-read, for runs made before that rule.
   */
  lenientIds?: boolean;
}

/** Default bound on one record's size: 64 MiB. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** Display name of standard input in messages and in `source.file`. */
export const STDIN_NAME = "<stdin>";

/** Creates a fresh stats object. */
export function newReaderStats(): ReaderStats {
  return { bytes: 0, records: 0, done: false };
}
