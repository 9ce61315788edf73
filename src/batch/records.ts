/**
 * EU output records and pulse checksums.
 *
 * Every EU ends as exactly one record, a canonical JSON object:
 *   completed: {"id":<id>,"output":<value>}         (bytes outputs: {"bytes":"<base64>","id":<id>})
 *   failed:    {"error":{"code":"…","message":"…"},"id":<id>}
 * The record's leaf digest is SHA-256 of its canonical bytes. A pulse's checksum is the
 * RFC 6962 Merkle root of its records' leaves in pulse order; the run's output digest is the
 * Merkle root of all leaves in EU-id order, so it does not depend on partitions, pulse size,
 * worker count or resume point.
 */
import { canonicalize } from "../core/canonical.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { canonicalText, wellFormed } from "./canonical-text.js";
import { sha256Raw, type Digest } from "../core/digest.js";
import { merkleRootRaw } from "../core/merkle.js";
import type { EUResult } from "./sandbox/protocol.js";
import type { EUId } from "./input/types.js";

/** The most characters of an error message kept in a record. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

export type { EUResult };

export interface EUError {
  code: string;
  message: string;
}

const OUTPUT_KEY = ',"output":';

/**
 * E_STORE_CORRUPT for a pulse's records artifact that does not hold its records: each record
 * ends with a newline, and there are exactly as many as the pulse's EUs (merge and reuse).
 */
export function recordsArtifactCorrupt(pulse: { partition: number; index: number }, records: Digest, why: string): CairnError {
  return new CairnError(ErrorCode.STORE_CORRUPT, `pulse ${pulse.partition}/${pulse.index}: records artifact ${records} ${why}`);
}

/** Canonical text of an EU record (no trailing newline). */
export function recordText(o: EUResult): string {
  if ("text" in o && o.text !== undefined) return o.text; // the worker's, checked by the pool (sandbox/wire.ts)
  if (!o.ok) return canonicalize({ error: { code: o.error.code, message: truncate(o.error.message) }, id: o.id });
  if (o.bytes) return canonicalize({ bytes: Buffer.from(o.output).toString("base64"), id: o.id });
  // o.json is already canonical and "id" < "output", so concatenation is canonical.
  return `{"id":${canonicalText(o.id)}${OUTPUT_KEY}${o.json}}`;
}

const ID_KEY = '{"id":';
/** Digits of the largest safe integer. */
const MAX_ID_DIGITS = 16;

/**
 * For a record text and an index-like id (a non-negative safe integer): the position just past
 * the id when the text starts `{"id":` followed by exactly the canonical digits of `id` (no
 * leading zero), else -1. The same test as `text.startsWith(`{"id":${id}`)` followed by a check
 * of the next character, by character codes: no string is built per record (the merge and the
 * pool's unpacking call it once per EU).
 */
export function indexIdEnd(text: string, id: number): number {
  if (!text.startsWith(ID_KEY)) return -1;
  const start = ID_KEY.length;
  let v = 0;
  let k = start;
  for (; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  const digits = k - start;
  // Up to 16 digits the value is exact below 2^53 and rounds to at least 2^53 above it, so it
  // equals a safe integer only when the digits are that integer's.
  if (digits === 0 || digits > MAX_ID_DIGITS || (digits > 1 && text.charCodeAt(start) === 0x30) || v !== id) return -1;
  return k;
}

/** Whether `id` is one `indexIdEnd` takes: a non-negative safe integer. */
export function isIndexLikeId(id: unknown): id is number {
  return typeof id === "number" && Number.isSafeInteger(id) && id >= 0;
}

export function isFailedRecord(text: string): boolean {
  return text.startsWith('{"error":');
}

/** The parts of a record text the engine needs without keeping the parsed value. */
export function parseRecord(text: string): { id: EUId; error?: EUError; json?: string; bytes?: Buffer } {
  const rec = JSON.parse(text) as { id: EUId; error?: EUError; bytes?: string };
  if (rec.error !== undefined) return { id: rec.id, error: rec.error };
  if (rec.bytes !== undefined) return { id: rec.id, bytes: Buffer.from(rec.bytes, "base64") };
  const prefix = `{"id":${canonicalize(rec.id)}${OUTPUT_KEY}`;
  return { id: rec.id, json: text.slice(prefix.length, -1) };
}

export { wellFormed };

/**
 * "Name: message" of an uncaught error ("value: String(v)" of anything else), well-formed (lone
 * surrogates become U+FFFD: it ends up in a failure record, which must be canonical JSON); never
 * throws. Used by the sandbox worker (its report) and the pool (a crash without one).
 */
export function describeUncaught(err: unknown): string {
  try {
    if (err instanceof Error) return wellFormed(`${String(err.name)}: ${String(err.message)}`);
    return wellFormed(`value: ${String(err)}`);
  } catch {
    return "value that cannot be described";
  }
}

/**
 * An error message as records keep it: well-formed (lone surrogates → U+FFFD) and cut to
 * MAX_ERROR_MESSAGE_CHARS UTF-16 code units plus `…`, never between the two halves of a
 * surrogate pair (the cut then keeps one unit less). Idempotent.
 */
export function truncate(msg: string): string {
  const s = wellFormed(msg);
  if (s.length <= MAX_ERROR_MESSAGE_CHARS) return s;
  let end = MAX_ERROR_MESSAGE_CHARS;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a high surrogate whose low half would be cut off
  return `${s.slice(0, end)}…`;
}

/** The record's leaf: SHA-256 of its canonical text, as 32 raw bytes. */
export function leafOf(text: string): Buffer {
  return sha256Raw(text);
}

export function checksumOf(texts: readonly string[]): Digest {
  return merkleRootRaw(texts.map(leafOf));
}
