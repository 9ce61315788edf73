/**
 * The bound on one append-only read (appendonly.ts `APPENDONLY_READ_MAX_ENTRIES`,
 * `APPENDONLY_READ_MAX_BYTES`, lowered through `createEffectContext({ logReadLimit })`): the
 * exact boundaries, E_LIMIT_EXCEEDED `read_limit` beyond them, entries a read skips not counted,
 * the reference's BACKEND_ERROR still answered, and the line-by-line scan giving the same
 * entries as splitting the whole text.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { APPENDONLY_READ_MAX_BYTES, APPENDONLY_READ_MAX_ENTRIES } from "../../src/workflow/effects/appendonly.js";
import { APPENDONLY_RUNTIME, createEffectContext, type CsResult, type EffectContext, type LogReadLimit } from "../../src/workflow/effects/index.js";
import { decodeUtf8, splitLines } from "../../src/workflow/effects/jsonl.js";
import { parsePyJson, type PyDict, type PyValue } from "../../src/workflow/py/index.js";
import { isPyBlank } from "../../src/workflow/py/value.js";
import { dict, type PyLiteral } from "./py-literal.js";

const HANDLERS = parsePyJson(readFileSync("/work/shared/fixtures/pgs/workspace/tokenized_snapshot/blockchain/handlers.json", "utf8")) as PyDict;
const LOG_MD = ((HANDLERS.get("cs") as PyDict).get("56") as PyDict).get("cs_metadata") as PyValue;
const LOG = "logs/audit.jsonl";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cairn-bound-log-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function ctx(limit?: Partial<LogReadLimit>): EffectContext {
  return createEffectContext({ dataRoot: root, traceId: "T", operationDialect: "declared", ...(limit === undefined ? {} : { logReadLimit: limit }) });
}
function log(op: string, payload: Record<string, PyLiteral>, c: EffectContext): CsResult {
  return APPENDONLY_RUNTIME.execute({ op, payload: dict(payload), config: dict({ path: `${root}/${LOG}` }), metadata: LOG_MD }, c);
}
function limitError(f: () => unknown): CairnError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CairnError);
    expect((e as CairnError).code).toBe("E_LIMIT_EXCEEDED");
    expect((e as CairnError).details.reason).toBe("read_limit");
    return e as CairnError;
  }
  throw new Error("expected E_LIMIT_EXCEEDED");
}
const seqs = (r: CsResult): PyValue[] => (r.result.get("entries") as PyDict[]).map((e) => e.get("sequence_number") ?? null);
/** Appends `n` records (stream a/b alternating) and returns the file's lines. */
function seed(n: number): string[] {
  const c = ctx();
  for (let i = 0; i < n; i++) log("APPEND", { record: BigInt(i), stream_id: i % 2 === 0 ? "a" : "b" }, c);
  return readFileSync(join(root, LOG), "utf8").trimEnd().split("\n");
}

describe("append-only read limit", () => {
  it("has named defaults", () => {
    expect(APPENDONLY_READ_MAX_ENTRIES).toBe(65_536);
    expect(APPENDONLY_READ_MAX_BYTES).toBe(8 * 1024 * 1024);
  });

  it("GET_ALL / READ_ALL: exactly maxEntries entries are returned, one more is E_LIMIT_EXCEEDED naming the file and line", () => {
    seed(10);
    expect(seqs(log("GET_ALL", {}, ctx({ maxEntries: 10 })))).toHaveLength(10);
    const e = limitError(() => log("GET_ALL", {}, ctx({ maxEntries: 9 })));
    expect(e.message).toBe(`"${LOG}": this read of the append-only log would return more than 9 entries (APPENDONLY_READ_MAX_ENTRIES), the limit of one read (passed at line 10); read it in parts with GET_RANGE or GET_SINCE`);
    expect(e.details).toMatchObject({ path: LOG, line: 10, maxEntries: 9 });
    limitError(() => log("READ_ALL", {}, createEffectContext({ dataRoot: root, traceId: "T", logReadLimit: { maxEntries: 9 } }))); // the reference dialect too
  });

  it("maxBytes counts the selected lines' UTF-8 bytes without terminators (exact boundary)", () => {
    const lines = seed(6);
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l, "utf8"), 0);
    expect(seqs(log("GET_ALL", {}, ctx({ maxBytes: bytes })))).toHaveLength(6);
    const e = limitError(() => log("GET_ALL", {}, ctx({ maxBytes: bytes - 1 })));
    expect(e.message).toContain(`would return entries of more than ${bytes - 1} bytes (APPENDONLY_READ_MAX_BYTES)`);
    expect(e.details.line).toBe(6);
    // by stream: only the stream's lines count
    const a = lines.filter((_, i) => i % 2 === 0).reduce((n, l) => n + Buffer.byteLength(l, "utf8"), 0);
    expect(seqs(log("GET_ALL", { stream_id: "a" }, ctx({ maxBytes: a })))).toEqual([1n, 3n, 5n]);
  });

  it("GET_RANGE / GET_SINCE count only what they select: a range of a log far over the limit is read", () => {
    seed(40);
    const c = ctx({ maxEntries: 5 });
    limitError(() => log("GET_ALL", {}, c));
    expect(seqs(log("GET_RANGE", { start_sequence: 20n, end_sequence: 24n }, c))).toEqual([20n, 21n, 22n, 23n, 24n]);
    limitError(() => log("GET_RANGE", { start_sequence: 20n, end_sequence: 25n }, c));
    expect(seqs(log("GET_SINCE", { timestamp: "2025-01-01T00:00:00.000035" }, c))).toEqual([36n, 37n, 38n, 39n, 40n]);
    limitError(() => log("GET_SINCE", { timestamp: "2025-01-01T00:00:00.000034" }, c));
  });

  it("over the limit, a later line the reference answers BACKEND_ERROR for is still BACKEND_ERROR", () => {
    seed(10);
    writeFileSync(join(root, LOG), `${readFileSync(join(root, LOG), "utf8")}{oops\n`);
    const r = log("GET_ALL", {}, ctx({ maxEntries: 3 }));
    expect(r.outcome).toBe("BACKEND_ERROR");
    expect(r.result.get("message")).toMatch(/^"logs\/audit\.jsonl" line 11: /);
  });

  it("a limit that is not a positive integer is E_USAGE", () => {
    seed(1);
    for (const bad of [{ maxEntries: 0 }, { maxBytes: -1 }, { maxEntries: 1.5 }]) {
      let err: unknown;
      try {
        log("GET_ALL", {}, ctx(bad));
      } catch (e) {
        err = e;
      }
      expect((err as CairnError).code).toBe("E_USAGE");
    }
  });

  it("the line-by-line scan returns what splitting the whole text gives (any terminators, blank lines, non-ASCII)", () => {
    const record = fc.record({ n: fc.nat({ max: 1000 }), s: fc.string({ unit: "grapheme", maxLength: 6 }) });
    const line = fc.oneof(record.map((r) => JSON.stringify({ stream_id: "s", record: r })), fc.constantFrom("", "  ", "\t"));
    const term = fc.constantFrom("\n", "\r\n", "\r");
    fc.assert(
      fc.property(fc.array(fc.tuple(line, term), { maxLength: 12 }), (parts) => {
        const text = parts.map(([l, t]) => l + t).join("");
        mkdirSync(join(root, "logs"), { recursive: true });
        writeFileSync(join(root, LOG), text);
        const expected = splitLines(decodeUtf8(Buffer.from(text, "utf8"))).filter((l) => !isPyBlank(l)).map((l) => parsePyJson(l));
        const r = log("GET_ALL", {}, ctx());
        expect(r.outcome).toBe("SUCCESS");
        expect(r.result.get("entries")).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
