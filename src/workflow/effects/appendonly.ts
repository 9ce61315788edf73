/**
 * CS_APPENDONLY_JSONL_V0 (SEMANTICS C.3): an ordered event log, one record per line in the
 * *spaced* serialisation, `\n`-terminated, members in this order:
 *
 *   {"record_id": "<timestamp>_<c:06d>", "sequence_number": c+1, "timestamp": "YYYY-MM-DDTHH:MM:SS.ffffff",
 *    "actor_id": …, "stream_id": …, "record": …}
 *
 * where `c` is the number of lines already in the file (blank ones included). There is no
 * operation that rewrites or deletes a line. Deviations: the timestamp comes from the run's
 * logical clock, not the wall clock (context.ts), and is always rendered with six fraction
 * digits; a torn last line is a hard error (jsonl.ts) instead of being counted and appended to.
 *
 * Methods: `append` and `read_all` (reference). Under the "declared" operation dialect also
 * `read_range` (GET_RANGE: inclusive `[start_sequence, end_sequence]`) and `read_since`
 * (GET_SINCE: records whose `timestamp` is strictly after the given one) — Cairn extensions
 * the reference declares in its metadata but does not implement (under the reference dialect
 * they are BACKEND_ERROR "No backend handler for op", as in the reference).
 *
 * GET_SINCE compares instants, not text: the `timestamp` input and each record's `timestamp`
 * are read as Python 3.11 `datetime.fromisoformat` reads them (atoms/isodate.ts), a value
 * without an offset being UTC (the log's own timestamps are naive UTC), to the microsecond
 * (further fraction digits are dropped, as Python does). An input that is not a string, or a
 * string that does not parse, is VIOLATION; a record (of the selected stream) whose
 * `timestamp` is missing or does not parse is BACKEND_ERROR naming its line.
 *
 * Bounded reads (a Cairn limit; the reference returns every entry): one read (`read_all`,
 * `read_range`, `read_since`) returns at most `APPENDONLY_READ_MAX_ENTRIES` entries whose lines
 * hold at most `APPENDONLY_READ_MAX_BYTES` bytes (UTF-8, without terminators). A read that
 * would select more is the hard error `E_LIMIT_EXCEEDED` (`details.reason` `read_limit`,
 * naming the file, the line where the limit was passed and the limit) — unless the reference
 * would answer BACKEND_ERROR (a line that does not parse, a record GET_SINCE cannot judge),
 * which the scan, carried on to the end without keeping entries, still answers. Under the
 * limits results are the reference's. The log is scanned line by line from its bytes: only the
 * selected entries are kept (the lines a read skips, and those of other streams, are parsed and
 * dropped), never the whole text or its lines.
 */
import { isUtf8 } from "node:buffer";
import { confineAbsolute, preparePath, refuseDirectoryPath, type ConfinedPath, type PreparedPath } from "./confine.js";
import { parseIsoInstant } from "../atoms/isodate.js";
import { appendTimestamp } from "./context.js";
import { effectError, EffectErrorReason, ioError } from "./errors.js";
import { appendDurable, dataDigest, readData, readDerived } from "./fsio.js";
import type { Derivation } from "./filecache.js";
import { parsePyJson, spacedJson } from "../py/json.js";
import { getOrNull, isInt, isPyBlank, pyEquals, pyTypeName, type PyDict, type PyValue } from "../py/value.js";
import { defineCsRuntime, requirePathConfig, status, type EffectDraft, type Method, type MethodResult } from "./host.js";
import { decodeUtf8, describeTornTail, tornTail, tornTailError } from "./jsonl.js";
import { CairnError, ErrorCode } from "../../core/errors.js";
import type { EffectContext, LogReadLimit } from "./types.js";

/** Minimum digits of the counter in `record_id`. */
export const RECORD_ID_COUNTER_WIDTH = 6;
/** Most entries one read of the log returns (see the module comment). */
export const APPENDONLY_READ_MAX_ENTRIES = 65_536;
/** Most bytes of log lines (UTF-8, without terminators) one read returns (see the module comment). */
export const APPENDONLY_READ_MAX_BYTES = 8 * 1024 * 1024;

/** The read limit of `ctx` (its members default to the named constants); `E_USAGE` for a value that is not a positive safe integer. */
function readLimitOf(ctx: EffectContext): LogReadLimit {
  const maxEntries = ctx.logReadLimit?.maxEntries ?? APPENDONLY_READ_MAX_ENTRIES;
  const maxBytes = ctx.logReadLimit?.maxBytes ?? APPENDONLY_READ_MAX_BYTES;
  for (const [field, v] of [["maxEntries", maxEntries], ["maxBytes", maxBytes]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new CairnError(ErrorCode.USAGE, `logReadLimit.${field} must be a positive integer, got ${String(v)}`, { field: `logReadLimit.${field}` });
  }
  return { maxEntries, maxBytes };
}
const WHERE = "CS_APPENDONLY_JSONL_V0";
/** Why a GET_SINCE timestamp cannot be compared. */
const NOT_ISO = "is not an ISO 8601 date-time (as Python 3.11 datetime.fromisoformat reads it)";

/** The record id of the line appended after `linesBefore` lines. */
export function recordId(timestamp: string, linesBefore: number): string {
  return `${timestamp}_${String(linesBefore).padStart(RECORD_ID_COUNTER_WIDTH, "0")}`;
}

/** Line terminators in `bytes`: `\n`, `\r` and `\r\n` (one each). */
function countLines(bytes: Uint8Array): number {
  let n = 0;
  if (bytes.indexOf(0x0d) < 0) {
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) n++;
    return n;
  }
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a) n++;
    else if (b === 0x0d) {
      n++;
      if (bytes[i + 1] === 0x0a) i++;
    }
  }
  return n;
}

/** What an APPEND needs to know about the log, without its lines. */
interface LogSummary {
  /** Valid UTF-8, and empty or ending with a line terminator (no torn tail). */
  readonly usable: boolean;
  /** Lines in the file (`splitLines(decodeUtf8(bytes)).length` when usable). */
  readonly lines: number;
  /** The last byte is `\r` (an appended `\n` would join it). */
  readonly endsWithCR: boolean;
}

/**
 * The log summary, kept in the file cache and carried through this process's appends: the
 * appended bytes start at a character boundary (the log ended with a terminator), so the whole
 * is valid UTF-8 iff both parts are, and a `\n` right after a final `\r` ends no extra line.
 */
export const LOG_SUMMARY: Derivation<LogSummary> = {
  of(bytes) {
    const usable = tornTail(bytes) === undefined && isUtf8(bytes);
    return { usable, lines: usable ? countLines(bytes) : 0, endsWithCR: bytes.length > 0 && bytes[bytes.length - 1] === 0x0d };
  },
  extend(prev, appended) {
    if (!prev.usable || appended.length === 0 || tornTail(appended) !== undefined || !isUtf8(appended)) return undefined;
    const joined = prev.endsWithCR && appended[0] === 0x0a ? 1 : 0;
    return { usable: true, lines: prev.lines + countLines(appended) - joined, endsWithCR: appended[appended.length - 1] === 0x0d };
  },
};

/**
 * Opens the log at construction: its line count, from the cached summary when the file is
 * unchanged (or changed only by this process's appends), else from a full read. Failures are
 * hard errors (as in the reference): a torn tail, invalid UTF-8. The lines themselves (and the
 * bytes, for a read's effect) are read only when a read operation needs them.
 */
function openLog(confined: ConfinedPath, ctx: EffectContext): { prepared: PreparedPath; count: number; bytes: () => Buffer } {
  const prepared = preparePath(confined, false, true, ctx.checkedDirs);
  const summary = readDerived(prepared, LOG_SUMMARY);
  let bytes: Buffer | undefined;
  const all = (): Buffer => (bytes ??= readData(prepared) ?? Buffer.alloc(0));
  if (summary !== undefined && !summary.usable) {
    const torn = describeTornTail(all());
    if (torn !== undefined) throw tornTailError(confined.rel, torn);
    try {
      decodeUtf8(all()); // throws the decoder's own message
    } catch (err) {
      throw ioError("decode (UTF-8)", confined.rel, err);
    }
  }
  return { prepared, count: summary === undefined ? 0 : summary.usable ? summary.lines : countLines(all()), bytes: all };
}

/**
 * Calls `each(text, lineNumber)` for every line of `bytes` as `splitLines(decodeUtf8(bytes))`
 * gives them (terminators `\n`, `\r\n`, `\r`; 1-based numbers), decoding one line at a time;
 * stops early when `each` returns false. `bytes` is valid UTF-8 ending with a terminator (or
 * empty: `openLog` refused anything else), and a terminator byte is never inside a character.
 */
function forEachLine(bytes: Buffer, each: (line: string, n: number) => boolean): void {
  let cr = bytes.indexOf(0x0d); // the next `\r` at or after `start` (-1: none)
  let n = 0;
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let next = end + 1;
    if (cr >= 0 && cr < start) cr = bytes.indexOf(0x0d, start);
    if (cr >= 0 && cr < end) {
      end = cr;
      next = bytes[cr + 1] === 0x0a ? cr + 2 : cr + 1;
    }
    if (!each(decodeUtf8(bytes.subarray(start, end)), ++n)) return;
    start = next;
  }
}

function backend(confined: ConfinedPath, ctx: EffectContext) {
  const { prepared: opened, count, bytes: logBytes } = openLog(confined, ctx);
  const rel = confined.rel;
  const observed = (): EffectDraft => {
    const bytes = logBytes();
    return { action: "read", path: rel, bytes, digest: dataDigest(opened, bytes), created: false };
  };

  const append: Method = (payload) => {
    const c = count;
    const timestamp = appendTimestamp(ctx.clock.now(), c + 1);
    const id = recordId(timestamp, c);
    const sequenceNumber = BigInt(c + 1);
    const line = new Map<string, PyValue>([
      ["record_id", id],
      ["sequence_number", sequenceNumber],
      ["timestamp", timestamp],
      ["actor_id", getOrNull(payload, "actor_id")],
      ["stream_id", getOrNull(payload, "stream_id")],
      ["record", getOrNull(payload, "record")],
    ]);
    const out = Buffer.from(`${spacedJson(line)}\n`, "utf8");
    const sync = ctx.durability !== "no-fsync";
    // The parent directories checked when the log was opened (same call, single writer) are
    // reused; they are created (and checked, on a full walk) only when they did not exist then.
    const prepared = opened.realParent !== undefined ? opened : preparePath(confined, true, sync, ctx.checkedDirs);
    const created = appendDurable(prepared, out, sync);
    return { result: status("SUCCESS", { record_id: id, sequence_number: sequenceNumber }), effect: { action: "append", path: rel, bytes: out, created } };
  };

  /**
   * Parsed entries filtered by `stream_id` (when not null) and `keep`; BACKEND_ERROR when a line
   * does not parse, or when `keep` cannot judge an entry (it returns the reason); the read
   * limit's `E_LIMIT_EXCEEDED` when more would be selected (see the module comment).
   */
  const select = (payload: PyDict, keep: (e: PyDict) => boolean | { readonly problem: string }): MethodResult => {
    const stream = getOrNull(payload, "stream_id");
    const limit = readLimitOf(ctx);
    let entries: PyValue[] = [];
    let selectedBytes = 0;
    /** The line where the limit was passed (entries are no longer kept from there). */
    let overAt: { line: number; what: string } | undefined;
    let problem: string | undefined;
    forEachLine(logBytes(), (line, n) => {
      if (isPyBlank(line)) return true;
      let e: PyValue;
      try {
        e = parsePyJson(line, { allowNonFiniteConstants: true });
      } catch (err) {
        problem = `${JSON.stringify(rel)} line ${n}: ${(err as Error).message}`;
        return false;
      }
      if (!(e instanceof Map)) {
        problem = `${JSON.stringify(rel)} line ${n}: not a JSON object`;
        return false;
      }
      if (stream !== null && !pyEquals(e.get("stream_id") ?? null, stream)) return true;
      const k = keep(e);
      if (typeof k !== "boolean") {
        problem = `${JSON.stringify(rel)} line ${n}: ${k.problem}`;
        return false;
      }
      if (!k || overAt !== undefined) return true;
      selectedBytes += Buffer.byteLength(line, "utf8");
      if (entries.length + 1 > limit.maxEntries) overAt = { line: n, what: `more than ${limit.maxEntries} entries (APPENDONLY_READ_MAX_ENTRIES)` };
      else if (selectedBytes > limit.maxBytes) overAt = { line: n, what: `entries of more than ${limit.maxBytes} bytes (APPENDONLY_READ_MAX_BYTES)` };
      if (overAt === undefined) entries.push(e);
      else entries = []; // not returned: let them go while the scan looks for a BACKEND_ERROR line
      return true;
    });
    if (problem !== undefined) return { result: status("BACKEND_ERROR", { message: problem }), effect: observed() };
    if (overAt !== undefined) {
      throw effectError(
        ErrorCode.LIMIT_EXCEEDED,
        EffectErrorReason.READ_LIMIT,
        `${JSON.stringify(rel)}: this read of the append-only log would return ${overAt.what}, the limit of one read (passed at line ${overAt.line}); read it in parts with GET_RANGE or GET_SINCE`,
        { path: rel, line: overAt.line, maxEntries: limit.maxEntries, maxBytes: limit.maxBytes },
      );
    }
    return { result: status("SUCCESS", { entries }), effect: observed() };
  };

  const read_all: Method = (payload) => select(payload, () => true);

  const read_range: Method = (payload) => {
    const start = getOrNull(payload, "start_sequence");
    const end = getOrNull(payload, "end_sequence");
    if (!isInt(start) || !isInt(end) || start > end) {
      return { result: status("VIOLATION", { message: "GET_RANGE needs integers start_sequence <= end_sequence" }) };
    }
    return select(payload, (e) => {
      const n = e.get("sequence_number");
      return isInt(n) && n >= start && n <= end;
    });
  };

  const read_since: Method = (payload) => {
    const since = getOrNull(payload, "timestamp");
    if (typeof since !== "string") return { result: status("VIOLATION", { message: `GET_SINCE needs a string timestamp, got ${pyTypeName(since)}` }) };
    const after = parseIsoInstant(since);
    if (after === undefined) return { result: status("VIOLATION", { message: `GET_SINCE timestamp ${JSON.stringify(since)} ${NOT_ISO}` }) };
    return select(payload, (e) => {
      const t = e.get("timestamp");
      const at = typeof t === "string" ? parseIsoInstant(t) : undefined;
      if (at === undefined) return { problem: typeof t === "string" ? `timestamp ${JSON.stringify(t)} ${NOT_ISO}` : `no string timestamp (${pyTypeName(t ?? null)})` };
      return at > after;
    });
  };

  return { methods: Object.freeze({ append, read_all, read_range, read_since }) };
}

export const APPENDONLY_RUNTIME = defineCsRuntime({
  capability: "CS_APPENDONLY_JSONL_V0",
  handlerRef: { module: "pgs_side_effects.implementation.side_effects.persistent.CS_APPENDONLY_JSONL_V0.runtime", callable: "AppendOnlyJsonlRuntime" },
  referenceMethods: ["append", "read_all"],
  extensionMethods: ["read_range", "read_since"],
  requiresOperationsMetadata: false,
  construct(config, ctx) {
    const path = requirePathConfig(config, WHERE);
    const confined = confineAbsolute(ctx.dataRoot, path);
    if (ctx.refuseDirectoryPaths === true) refuseDirectoryPath(ctx.dataRoot, path);
    return backend(confined, ctx);
  },
});
