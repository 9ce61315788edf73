/**
 * A run killed while writing its first `<trace_id>.md` (written in place, pgs/trace.ts
 * `writeTraceSummary`) leaves a torn summary beside a complete trace; a copy can be cut later.
 * `examine` must never pass such a summary as matching: it checks that the summary ends as a
 * complete one of its runtime does (examine/chain.ts `summaryIncomplete`), reports it, does not
 * use it as the chain's anchor, and exits 1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { examineTrace, renderReport, summaryIncomplete } from "../../src/workflow/examine/index.js";
import { baseDecl, prepared, run } from "./cairn-fixture.js";
import { payload, scratchPerTest, traceFiles, WF } from "./pgs-fixture.js";

const scratch = scratchPerTest();

/** The trace file and summary of a run, and a way to put a cut summary in place. */
function files(traceDirAbs: string, traceId: string): { trace: string; md: string; text: string; cut: (n: number) => void } {
  const f = traceFiles(traceDirAbs, traceId);
  return { ...f, cut: (n) => writeFileSync(f.md, Buffer.from(f.text, "utf8").subarray(0, n)) };
}

describe("summaryIncomplete: no strict prefix of a summary passes as complete", () => {
  it("PGS summaries (ending with the Surface section) and Cairn summaries (ending with the Exit section)", async () => {
    const b = scratch.box();
    const pgs = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const { snap, dir } = await prepared(baseDecl());
    const cairn = run(snap, { n: 1 }, dir);
    for (const [kind, r] of [["pgs", pgs], ["cairn", cairn]] as const) {
      const { text } = files(r.traceDirAbs, r.traceId);
      expect([kind, summaryIncomplete(text, kind)]).toEqual([kind, undefined]);
      const bytes = Buffer.from(text, "utf8");
      for (let n = 0; n < bytes.length; n++) {
        const cut = bytes.subarray(0, n).toString("utf8");
        if (summaryIncomplete(cut, kind) === undefined) expect.fail(`${kind}: a summary cut to ${n} of ${bytes.length} bytes passes as complete`);
      }
    }
    // A Cairn summary cut right after its Surface section has a PGS summary's end: still incomplete for a Cairn run.
    const { text } = files(cairn.traceDirAbs, cairn.traceId);
    const atSurfaceEnd = text.slice(0, text.indexOf("\n## Exit\n"));
    expect(summaryIncomplete(atSurfaceEnd, "pgs")).toBeUndefined();
    expect(summaryIncomplete(atSurfaceEnd, "cairn")).toBe("it does not end with its Exit section: torn or truncated");
    expect(summaryIncomplete("", "pgs")).toBe("it is empty");
  });
});

describe("examine on a run whose summary is torn", () => {
  it("PGS: the chain head survives in the cut summary, yet it is reported INCOMPLETE, never 'matches the summary', exit 1", () => {
    const b = scratch.box();
    const r = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const f = files(r.traceDirAbs, r.traceId);
    const whole = examineTrace(f.trace);
    expect([whole.exitCode, whole.chain.anchor, whole.summary]).toEqual([0, "summary", { file: f.md, complete: true }]);
    expect(renderReport(whole).join("\n")).toContain("matches the summary");

    // Cut after the Events line (which records the chain head), before the rest: the kill of a run mid-write.
    const afterHead = Buffer.byteLength(f.text.slice(0, f.text.indexOf("\n## Path")), "utf8");
    for (const n of [0, 40, afterHead, Buffer.byteLength(f.text, "utf8") - 1]) {
      f.cut(n);
      const x = examineTrace(f.trace);
      const problem = n === 0 ? "it is empty" : "it does not end with the closing fence of its Surface section: torn or truncated";
      expect([n, x.exitCode, x.chain.ok, x.chain.anchor, x.summary]).toEqual([n, 1, true, "none", { file: f.md, complete: false, problem }]);
      expect(x.hint).toMatch(new RegExp(`^the summary ${r.traceId}\\.md is incomplete \\(${problem.replace(/[()]/g, "\\$&")}\\): the run was killed while writing it`));
      expect(x.outcome.class).toBe("success");
      const text = renderReport(x).join("\n");
      expect(text).not.toContain("matches the summary");
      expect(text).toContain(`chain:       ok, last line unanchored: ${r.events} events, head ${r.digests.chainHead} (the summary is incomplete: nothing anchors the last line)`);
      expect(text).toContain(`summary:     INCOMPLETE: ${f.md}: ${problem}`);
    }
  });

  it("a broken chain beside a torn summary: the chain break leads, the summary is noted", () => {
    const b = scratch.box();
    const r = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const f = files(r.traceDirAbs, r.traceId);
    const lines = readFileSync(f.trace, "utf8").split("\n");
    lines[2] = (lines[2] as string).replace('"seq":2', '"seq":2 ');
    writeFileSync(f.trace, lines.join("\n"));
    f.cut(100);
    const x = examineTrace(f.trace);
    expect([x.exitCode, x.chain.status, x.summary?.complete]).toEqual([1, "broken", false]);
    expect(x.hint).toMatch(/^the hash chain is broken at line 3/);
    expect(x.notes).toContain(`the summary ${r.traceId}.md is incomplete (it does not end with the closing fence of its Surface section: torn or truncated)`);
  });

  it("Cairn: a summary cut at the end of its Surface section is incomplete (its Exit section is missing)", async () => {
    const { snap, dir, bytes } = await prepared(baseDecl());
    const snapFile = join(dir, "snap.json");
    writeFileSync(snapFile, bytes);
    const r = run(snap, { n: 1 }, dir);
    const f = files(r.traceDirAbs, r.traceId);
    expect(examineTrace(f.trace, { snapshot: snapFile })).toMatchObject({ exitCode: 0, chain: { anchor: "summary" }, summary: { complete: true } });
    f.cut(Buffer.byteLength(f.text.slice(0, f.text.indexOf("\n## Exit\n")), "utf8"));
    const x = examineTrace(f.trace, { snapshot: snapFile });
    expect([x.exitCode, x.chain.anchor, x.summary]).toEqual([1, "none", { file: f.md, complete: false, problem: "it does not end with its Exit section: torn or truncated" }]);
  });
});
