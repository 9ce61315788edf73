/**
 * The trace writer keeps only what the chain and the run need (pgs/trace.ts `TraceWriter`):
 * the chain head, the event count and a running SHA-256; the trace's bytes only when asked
 * (`keepBytes`, which the runtimes set only when the run records to a store).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256, type Digest } from "../../src/core/digest.js";
import { openStore } from "../../src/store/store.js";
import { TraceWriter, verifyTraceChainText } from "../../src/workflow/pgs/index.js";
import { cairnErrorOf, payload, scratchPerTest, WF } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest();

function emitThree(w: TraceWriter): void {
  w.emit("WF_START", { detail: new Map([["payload_keys", ["é", "x"]]]) });
  w.flush();
  w.emit("CC_START", { ccAddr: 2, detail: new Map() });
  w.emit("WF_COMPLETE", { resultStatus: "SUCCESS", detail: new Map() });
}

describe("TraceWriter without keepBytes", () => {
  it("writes the same file, digests it from its running hash, and refuses bytes() and lines with E_INTERNAL", () => {
    const d = dir("cairn-tw-mem-");
    const kept = new TraceWriter("T", "d", 1, join(d, "kept.jsonl"));
    const lean = new TraceWriter("T", "d", 1, join(d, "lean.jsonl"), undefined, false, false);
    emitThree(kept);
    emitThree(lean);
    // Unflushed events count too.
    expect(lean.digest()).toBe(kept.digest());
    expect(lean.events).toBe(3);
    kept.close();
    lean.close();
    const bytes = readFileSync(join(d, "lean.jsonl"));
    expect(bytes).toEqual(readFileSync(join(d, "kept.jsonl")));
    expect(kept.bytes()).toEqual(bytes);
    expect(kept.lines).toEqual(bytes.toString("utf8").slice(0, -1).split("\n"));
    expect(lean.digest()).toBe(sha256(bytes));
    expect(lean.head).toBe(kept.head);
    expect(verifyTraceChainText(bytes.toString("utf8"))).toMatchObject({ ok: true, events: 3, head: lean.head });
    const err = cairnErrorOf(() => lean.bytes());
    expect(err.code).toBe("E_INTERNAL");
    expect(err.message).toBe("TraceWriter.bytes(): the trace's bytes were not kept (constructed with keepBytes false)");
    expect(cairnErrorOf(() => lean.lines).code).toBe("E_INTERNAL");
  });

  it("a writer without a file gives the bytes of its events, flushed or not", () => {
    const w = new TraceWriter("T", "d", null, undefined);
    emitThree(w);
    const text = w.bytes().toString("utf8");
    expect(verifyTraceChainText(text)).toMatchObject({ ok: true, events: 3, head: w.head });
    expect(w.digest()).toBe(sha256(text));
    w.close();
    expect(w.bytes().toString("utf8")).toBe(text);
  });
});

describe("a run's trace digest", () => {
  it("is the trace file's SHA-256 with and without a store; the store records those bytes", () => {
    const b = box();
    const p = payload("agent_governance/01_valid_standard_action.json");
    const plain = b.run(WF.govern, p);
    const file = readFileSync(join(plain.traceDirAbs, `${plain.traceId}.jsonl`));
    expect(plain.digests.trace).toBe(sha256(file));
    expect(plain.events).toBe(file.toString("utf8").split("\n").length - 1);
    const store = openStore({ dir: join(b.root, "store"), create: true });
    try {
      const recorded = b.run(WF.govern, p, { store });
      const again = readFileSync(join(recorded.traceDirAbs, `${recorded.traceId}.jsonl`));
      expect(recorded.digests.trace).toBe(sha256(again));
      expect(recorded.recorded?.trace).toBe(sha256(again));
      expect(store.get(recorded.recorded?.trace as Digest)).toEqual(again);
    } finally {
      store.close();
    }
  });
});
