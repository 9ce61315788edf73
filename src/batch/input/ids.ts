/** EU id extraction for `idField` and the shared shape of "this record is bad" errors. */
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { EUId } from "./types.js";
import type { DuplicateJsonKey, TextPosition } from "../../core/json-keys.js";

/** Where a record sits, for error messages: `${file}:${line}: ${noun} ${index}: …`. */
export interface RecordLocation {
  file: string;
  line: number;
  index: number;
  /** "record" (jsonl, csv) or "element" (json array). */
  noun: "record" | "element";
}

/** E_INVALID_INPUT `${file}:${line}: ${noun} ${index}: ${what}` with the location in details. */
export function recordError(loc: RecordLocation, what: string, extra: Record<string, unknown> = {}): CairnError {
  return new CairnError(ErrorCode.INVALID_INPUT, `${loc.file}:${loc.line}: ${loc.noun} ${loc.index}: ${what}`, {
    file: loc.file,
    line: loc.line,
    index: loc.index,
    ...extra,
  });
}

/**
 * The message for a duplicate key in a JSON record: `JSON.parse` would keep the last value
 * silently. A JSONL record is one line, so its keys are named by column; an element of a JSON
 * array by its line in the file (`firstLine`: the line its text starts on).
 */
export function duplicateKeyMessage(dup: DuplicateJsonKey, firstLine?: number): string {
  const pos = (p: TextPosition): string => (firstLine === undefined ? `column ${p.column}` : `line ${firstLine + p.line - 1}`);
  return `duplicate key ${JSON.stringify(dup.key)} at ${pos(dup.at)} (first at ${pos(dup.first)}): a record's keys must be unique (only the last value would be kept)`;
}

/** A short description of a JSON value's kind, for error messages. */
export function describeJsonValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "boolean":
      return `a boolean (${String(v)})`;
    case "number":
      if (Number.isSafeInteger(v)) return `an integer (${String(v)})`;
      if (!Number.isInteger(v)) return `a non-integer number (${String(v)})`;
      return `an integer outside the safe range ±(2^53-1) (${String(v)})`;
    case "string":
      return "a string";
    case "object":
      return "an object";
    default:
      return typeof v;
  }
}

/**
 * The id held by `value` (a member of a record), or throws naming the record and field.
 * Accepted: well-formed strings (no lone surrogates) and safe integers (-0 becomes 0).
 */
export function idFromFieldValue(value: unknown, field: string, loc: RecordLocation): EUId {
  if (typeof value === "string") {
    // An id is hashed and stored as canonical JSON, which a lone surrogate has no form in
    // (a JSON escape such as "\ud800" can produce one).
    if (!(value as unknown as { isWellFormed(): boolean }).isWellFormed()) {
      throw recordError(loc, `id field ${JSON.stringify(field)} is a string with a lone surrogate (an id must have a canonical JSON form)`, { field });
    }
    return value;
  }
  if (typeof value === "number" && Number.isSafeInteger(value)) return value === 0 ? 0 : value;
  throw recordError(loc, `id field ${JSON.stringify(field)} must be a string or an integer, got ${describeJsonValue(value)}`, {
    field,
  });
}

/** The `field` member of a parsed JSON record as an EU id (jsonl and json formats). */
export function idFromJsonRecord(record: unknown, field: string, loc: RecordLocation): EUId {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw recordError(loc, `is ${describeJsonValue(record)}, not an object, so it has no id field ${JSON.stringify(field)}`, {
      field,
    });
  }
  if (!Object.prototype.hasOwnProperty.call(record, field)) {
    throw recordError(loc, `missing id field ${JSON.stringify(field)}`, { field });
  }
  return idFromFieldValue((record as Record<string, unknown>)[field], field, loc);
}
