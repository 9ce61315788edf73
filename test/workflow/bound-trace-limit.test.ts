/**
 * The trace size limit (pgs/trace.ts `MAX_TRACE_BYTES`, `TraceLimit`): an event that does not fit
 * is refused whole with E_LIMIT_EXCEEDED, the trace ends with an ERROR in the reserved bytes, a
 * trace under the limit is byte for byte what it was, and `compactJsonWithin` never builds more
 * than its budget. PGS runs through `runPgsWorkflow({ traceLimit })`.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CairnError } from "../../src/core/errors.js";
import { MAX_BUFFERED_GET_BYTES } from "../../src/store/layout.js";
import { MAX_EXAMINE_TRACE_BYTES, examineTrace } from "../../src/workflow/examine/index.js";
import {
  emitRunError, MAX_TRACE_BYTES, TRACE_ERROR_RESERVE_BYTES, TRACE_LIMIT_REASON, traceLimit, TraceWriter, verifyTraceChain, verifyTraceChainText,
} from "../../src/workflow/pgs/index.js";
import { compactJson, compactJsonWithin } from "../../src/workflow/py/json.js";
import type { PyValue } from "../../src/workflow/py/value.js";
import { cairnErrorOf, payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

const detail = (text: string) => new Map<string, PyValue>([["text", text]]);

/** A writer to `<dir>/t.jsonl` with the given limit. */
function writer(limit: { maxBytes: number; errorReserveBytes: number }): { w: TraceWriter; file: string } {
  const file = join(dir("cairn-trace-limit-"), "t.jsonl");
  return { w: new TraceWriter("TID", "dom", null, file, "t.jsonl", true, true, limit), file };
}

function limitErrorOf(f: () => unknown): CairnError {
  const e = cairnErrorOf(f);
  expect(e.code).toBe("E_LIMIT_EXCEEDED");
  expect(e.details.reason).toBe(TRACE_LIMIT_REASON);
  return e;
}

describe("MAX_TRACE_BYTES", () => {
  it("is at most a quarter of what examine reads and of what a store get buffers (replay)", () => {
    expect(MAX_TRACE_BYTES).toBe(64 * 1024 * 1024);
    expect(MAX_TRACE_BYTES * 4).toBeLessThanOrEqual(MAX_EXAMINE_TRACE_BYTES);
    expect(MAX_TRACE_BYTES * 4).toBeLessThanOrEqual(MAX_BUFFERED_GET_BYTES);
    expect(traceLimit()).toEqual({ maxBytes: MAX_TRACE_BYTES, errorReserveBytes: TRACE_ERROR_RESERVE_BYTES });
  });

  it("a limit above it, or a reserve not below the maximum, is E_USAGE", () => {
    expect(cairnErrorOf(() => traceLimit({ maxBytes: MAX_TRACE_BYTES + 1 })).code).toBe("E_USAGE");
    expect(cairnErrorOf(() => traceLimit({ maxBytes: 100, errorReserveBytes: 100 })).code).toBe("E_USAGE");
    expect(cairnErrorOf(() => traceLimit({ maxBytes: 1.5 })).code).toBe("E_USAGE");
    expect(traceLimit({ maxBytes: 1000 })).toEqual({ maxBytes: 1000, errorReserveBytes: 500 });
  });
});

describe("TraceWriter limit", () => {
  it("refuses the event that would pass the limit whole, accepts only an ERROR after it, and ends with a valid chain", () => {
    const { w, file } = writer({ maxBytes: 4000, errorReserveBytes: 1500 });
    w.emit("WF_START", { detail: detail("start") });
    let refused: CairnError | undefined;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        w.emit("CC_STEP", { ccAddr: 1, stepAddr: i, detail: detail("x".repeat(300)) });
      } catch (e) {
        refused = e as CairnError;
      }
    }
    expect(refused?.code).toBe("E_LIMIT_EXCEEDED");
    expect(refused?.details).toMatchObject({ reason: TRACE_LIMIT_REASON, limit: 4000, path: "t.jsonl", event: "CC_STEP", seq: w.events, written: w.byteLength });
    expect(refused?.message).toBe(
      `trace t.jsonl would exceed its size limit of 4000 bytes (MAX_TRACE_BYTES): event ${w.events} (CC_STEP) does not fit in the ${2500 - w.byteLength} bytes left before the 1500 bytes kept for the run's ERROR event (${w.byteLength} bytes written)`,
    );
    const before = { events: w.events, head: w.head, bytes: w.byteLength };
    expect(before.bytes).toBeLessThanOrEqual(2500);
    // nothing of the refused event was kept; a later small non-ERROR event is refused too
    limitErrorOf(() => w.emit("CC_COMPLETE", { ccAddr: 1, detail: new Map() }));
    expect({ events: w.events, head: w.head, bytes: w.byteLength }).toEqual(before);
    // the ERROR fits in the reserve
    w.emit("ERROR", { detail: new Map([["message", refused?.message ?? ""]]) });
    w.close();
    const bytes = readFileSync(file);
    expect(bytes.length).toBe(w.byteLength);
    expect(bytes.length).toBeLessThanOrEqual(4000);
    expect(bytes.equals(w.bytes())).toBe(true);
    const report = verifyTraceChainText(bytes.toString("utf8"));
    expect(report).toMatchObject({ ok: true, events: before.events + 1 });
    expect(JSON.parse(bytes.toString("utf8").trimEnd().split("\n").pop() as string)).toMatchObject({ event_type: "ERROR", seq: before.events });
  });

  it("counts bytes as written (a non-ASCII character is its six-byte escape) and fits an event exactly at the limit", () => {
    const probe = writer({ maxBytes: 10_000, errorReserveBytes: 100 });
    probe.w.emit("WF_START", { detail: detail("é".repeat(10)) });
    const one = probe.w.byteLength;
    probe.w.close();
    expect(one).toBe(readFileSync(probe.file).length);
    expect(readFileSync(probe.file, "utf8")).toContain("\\u00e9".repeat(10));
    // the same event into a trace of exactly that many non-ERROR bytes fits; one byte less does not
    const exact = writer({ maxBytes: one + 100, errorReserveBytes: 100 });
    exact.w.emit("WF_START", { detail: detail("é".repeat(10)) });
    expect(exact.w.byteLength).toBe(one);
    const short = writer({ maxBytes: one + 99, errorReserveBytes: 100 });
    limitErrorOf(() => short.w.emit("WF_START", { detail: detail("é".repeat(10)) }));
    expect(short.w.byteLength).toBe(0);
    expect(short.w.events).toBe(0);
  });

  it("refuses a detail far larger than the limit (pending lines never grow past it)", () => {
    const { w } = writer({ maxBytes: 64 * 1024, errorReserveBytes: 1024 });
    limitErrorOf(() => w.emit("CC_STEP", { detail: detail("y".repeat(8 * 1024 * 1024)) }));
    limitErrorOf(() => w.emit("CC_STEP", { detail: new Map([["list", Array.from({ length: 100_000 }, (_, i) => BigInt(i))]]) }));
    expect(w.byteLength).toBe(0);
  });

  it("emitRunError: an ERROR too long for the limit ends the trace with the limit's ERROR, naming the run's error code", () => {
    const { w, file } = writer({ maxBytes: 3000, errorReserveBytes: 1200 });
    w.emit("WF_START", { detail: detail("start") });
    const runError = new CairnError("E_INVALID_INPUT", `bad value ${"z".repeat(5000)}`);
    const ended = emitRunError(w, runError, (e) => new Map([["message", (e as Error).message]]));
    expect(ended).not.toBe(runError);
    const e = ended as CairnError;
    expect(e.code).toBe("E_LIMIT_EXCEEDED");
    expect(e.details).toMatchObject({ reason: TRACE_LIMIT_REASON, event: "ERROR", runError: "E_INVALID_INPUT" });
    expect(e.message).toMatch(/: the ERROR event of the run's E_INVALID_INPUT error \(not recorded in the trace\)$/);
    // an ERROR that fits is the run's own
    const ok = writer({ maxBytes: 3000, errorReserveBytes: 1200 });
    expect(emitRunError(ok.w, runError, () => new Map([["message", "short"]]))).toBe(runError);
    w.close();
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1] as string)).toMatchObject({ event_type: "ERROR", detail: { message: e.message } });
    expect(verifyTraceChainText(`${lines.join("\n")}\n`).ok).toBe(true);
  });
});

describe("compactJsonWithin", () => {
  it("is compactJson when that fits in the budget, else undefined (exact boundary)", () => {
    const v = new Map<string, PyValue>([["a", [1n, "é", null, true, 1.5]], ["b", new Map([["c", "d\n"]])]]);
    const text = compactJson(v);
    expect(compactJsonWithin(v, text.length)).toBe(text);
    expect(compactJsonWithin(v, text.length - 1)).toBeUndefined();
    expect(compactJsonWithin(v, 0)).toBeUndefined();
    expect(compactJsonWithin(new Map(), 2)).toBe("{}");
    expect(compactJsonWithin([], 1)).toBeUndefined();
  });

  it("matches compactJson for any value and budget (property)", () => {
    const leaf = fc.oneof(fc.constant(null), fc.boolean(), fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.double({ noNaN: true }), fc.string({ unit: "grapheme", maxLength: 8 }));
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("v"), { maxLength: 4 }), fc.array(fc.tuple(fc.string({ maxLength: 4 }), tie("v")), { maxLength: 4 }).map((es) => new Map(es))),
    })).v as fc.Arbitrary<PyValue>;
    fc.assert(
      fc.property(value, fc.nat({ max: 200 }), (v, budget) => {
        const full = compactJson(v);
        expect(compactJsonWithin(v, budget)).toBe(full.length <= budget ? full : undefined);
      }),
      { numRuns: 400 },
    );
  });
});

describe("runPgsWorkflow({ traceLimit })", () => {
  it("under the limit the trace is byte for byte the default's; one byte less ends the run with ERROR E_LIMIT_EXCEEDED in a valid trace", () => {
    const full = box().run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    expect(full.status).toBe("SUCCESS");
    const traceFile = (r: { traceDirAbs: string; traceId: string }) => join(r.traceDirAbs, `${r.traceId}.jsonl`);
    const bytes = readFileSync(traceFile(full));
    const reserve = 2048;

    const exact = box().run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { traceLimit: { maxBytes: bytes.length + reserve, errorReserveBytes: reserve } });
    expect(exact.status).toBe("SUCCESS");
    expect(readFileSync(traceFile(exact)).equals(bytes)).toBe(true);
    expect(exact.digests).toEqual(full.digests);

    const cut = box().run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { traceLimit: { maxBytes: bytes.length + reserve - 1, errorReserveBytes: reserve } });
    expect(cut.status).toBe("ERROR");
    expect(cut.exitCode).toBe(1);
    expect(cut.error?.code).toBe("E_LIMIT_EXCEEDED");
    expect(cut.error?.message).toMatch(/would exceed its size limit of \d+ bytes \(MAX_TRACE_BYTES\): event \d+ \(WF_COMPLETE\) does not fit/);
    const file = traceFile(cut);
    expect(statSync(file).size).toBeLessThanOrEqual(bytes.length + reserve - 1);
    expect(verifyTraceChain(file).ok).toBe(true); // the summary's chain head matches too
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    // every event but WF_COMPLETE, then the ERROR
    expect(lines.slice(0, -1).join("\n")).toBe(bytes.toString("utf8").trimEnd().split("\n").slice(0, -1).join("\n"));
    expect(JSON.parse(lines[lines.length - 1] as string)).toMatchObject({ event_type: "ERROR", detail: { message: cut.error?.message } });
    // examine: a run limit, not a CT error
    expect(examineTrace(file).outcome.class).toBe("graph_structure_error");
  });

  it("refuses a limit that is not one before anything runs", () => {
    const b = box();
    const e = cairnErrorOf(() => b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"), { traceLimit: { maxBytes: MAX_TRACE_BYTES * 2 } }));
    expect(e.code).toBe("E_USAGE");
  });
});
