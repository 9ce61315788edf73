/**
 * What `examine` says of a `<trace_id>.md` that does not anchor its trace (UAT u2 F7, F8) and of
 * a line without `seq` (F3), src/workflow/examine/chain.ts `summaryProblem`, index.ts:
 *  - a summary with CRLF line ends, or white space or text added after its end, is EDITED
 *    (changed after the run wrote it), not torn: the run was not killed writing it;
 *  - a summary whose `# Trace <id>` heading names another trace is ANOTHER TRACE'S, not
 *    "N line(s) were appended after the recorded end";
 *  - neither anchors the chain and both still fail the examination (exit 1): only the diagnosis
 *    changed; a summary missing any byte of its end is still torn;
 *  - without the workspace, the failing step is named by the id the summary's Effects table gives
 *    it (`read_license_record`), not by its index ("step 0") — from a whole or an edited summary.
 */
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { examineTrace, renderReport, summaryProblem } from "../../src/workflow/examine/index.js";
import { baseDecl, prepared, run } from "./cairn-fixture.js";
import { payload, scratchPerTest, traceFiles, WF } from "./pgs-fixture.js";

const scratch = scratchPerTest();

const files = traceFiles;

const PGS_END = "the closing fence of its Surface section";

describe("summaryProblem: what is added is an edit, what is missing is a tear", () => {
  it("no strict prefix of a summary is ever diagnosed other than torn; additions are edits", async () => {
    const b = scratch.box();
    const pgs = b.run(WF.provision, payload("ai_licensing/provision_ai_licensing_payload.json"));
    const { snap, dir } = await prepared(baseDecl());
    const cairn = run(snap, { n: 1 }, dir);
    for (const [kind, r] of [["pgs", pgs], ["cairn", cairn]] as const) {
      const { text } = files(r.traceDirAbs, r.traceId);
      expect(summaryProblem(text, kind, r.traceId)).toBeUndefined();
      for (const form of [text, text.replace(/\n/g, "\r\n")]) {
        const bytes = Buffer.from(form, "utf8");
        for (let n = 0; n < bytes.length; n++) {
          const p = summaryProblem(bytes.subarray(0, n).toString("utf8"), kind, r.traceId);
          if (p?.diagnosis !== "torn") expect.fail(`${kind}: a summary cut to ${n} of ${bytes.length} bytes is diagnosed ${JSON.stringify(p)}`);
        }
      }
      for (const edited of [`${text}\n`, `${text}\n\n  \n`, `${text}\r\n`, text.replace(/\n/g, "\r\n"), `${text.replace(/\n/g, "\r\n")}\r\n`, `${text}my note\n`]) {
        expect([kind, summaryProblem(edited, kind, r.traceId)?.diagnosis]).toEqual([kind, "edited"]);
      }
    }
    const { text } = files(pgs.traceDirAbs, pgs.traceId);
    expect(summaryProblem(`${text}\n`, "pgs", pgs.traceId)?.text).toBe(`1 byte of white space after its last line was added; without it, it ends with ${PGS_END}, so it is not torn`);
    expect(summaryProblem(text.replace(/\n/g, "\r\n"), "pgs", pgs.traceId)?.text).toBe(`CRLF line ends were added; without them, it ends with ${PGS_END}, so it is not torn`);
    expect(summaryProblem(`${text.replace(/\n/g, "\r\n")}\r\n`, "pgs", pgs.traceId)?.text).toBe(`CRLF line ends and 1 byte of white space after its last line were added; without them, it ends with ${PGS_END}, so it is not torn`);
    expect(summaryProblem(`${text}my note\n`, "pgs", pgs.traceId)?.text).toBe(`8 bytes of text follow ${PGS_END}, so it is not torn`);
    expect(summaryProblem(text.slice(0, -1), "pgs", pgs.traceId)).toEqual({ diagnosis: "torn", text: `it does not end with ${PGS_END}: torn or truncated` });
    expect(summaryProblem(text, "pgs", "other__WF_X__0000")).toEqual({ diagnosis: "foreign", text: `its heading names trace ${pgs.traceId}: another run's summary, copied or swapped in`, traceId: pgs.traceId, complete: true });
    // Another run's torn summary is not reported complete (review 2026-11-27).
    expect(summaryProblem(text.slice(0, -5), "pgs", "other__WF_X__0000")).toEqual({ diagnosis: "foreign", text: `its heading names trace ${pgs.traceId}: another run's summary, copied or swapped in (and torn)`, traceId: pgs.traceId, complete: false });
    // A summary naming the trace file's own id is that file's, whatever id the lines claim.
    expect(summaryProblem(text, "pgs", "other__WF_X__0000", pgs.traceId)).toBeUndefined();
  });
});

describe("examine on an edited summary (F8)", () => {
  it.each([
    ["a blank line appended", (t: string) => `${t}\n`, `1 byte of white space after its last line was added; without it, it ends with ${PGS_END}, so it is not torn`],
    ["CRLF line ends", (t: string) => t.replace(/\n/g, "\r\n"), `CRLF line ends were added; without them, it ends with ${PGS_END}, so it is not torn`],
  ])("%s: EDITED, not 'killed while writing it'; no anchor, exit 1", (_what, edit, problem) => {
    const b = scratch.box();
    const r = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    const f = files(r.traceDirAbs, r.traceId);
    writeFileSync(f.md, edit(f.text));
    const x = examineTrace(f.trace);
    expect([x.exitCode, x.chain.ok, x.chain.anchor]).toEqual([1, true, "none"]);
    expect(x.summary).toEqual({ file: f.md, complete: false, problem, diagnosis: "edited" });
    expect(x.hint).toMatch(new RegExp(`^the summary ${r.traceId}\\.md was changed after the run wrote it \\(.*\\): the run was not cut short writing it`));
    expect(x.hint).not.toContain("killed");
    const text = renderReport(x).join("\n");
    expect(text).toContain(`summary:     EDITED: ${f.md}: ${problem}`);
    expect(text).toContain("(the summary was changed after the run wrote it: nothing anchors the last line)");
    expect(text).not.toContain("INCOMPLETE");
  });
});

describe("examine on another trace's summary (F7)", () => {
  it("is reported as another trace's, not as lines appended after the recorded end; no anchor, exit 1", () => {
    const b = scratch.box();
    const g = b.run(WF.govern, payload("agent_governance/01_valid_standard_action.json"));
    const k = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    const fg = files(g.traceDirAbs, g.traceId);
    writeFileSync(fg.md, files(k.traceDirAbs, k.traceId).text);
    const x = examineTrace(fg.trace);
    expect([x.exitCode, x.chain.ok, x.chain.status, x.chain.anchor, x.chain.brokenAt]).toEqual([1, true, "verified", "none", undefined]);
    const problem = `its heading names trace ${k.traceId}: another run's summary, copied or swapped in`;
    expect(x.summary).toEqual({ file: fg.md, complete: true, problem, diagnosis: "foreign" });
    expect(x.hint).toMatch(new RegExp(`^the summary ${g.traceId}\\.md is another trace's \\(`));
    const text = renderReport(x).join("\n");
    expect(text).not.toContain("appended after the recorded end");
    expect(text).toContain(`summary:     ANOTHER TRACE'S: ${fg.md}: ${problem}`);
  });
});

describe("a line without seq (F3)", () => {
  it("is said to have no seq member, not 'seq undefined'", () => {
    const b = scratch.box();
    const r = b.run(WF.collatz, payload("collatz_conjecture/02_single_number.json"));
    const f = files(r.traceDirAbs, r.traceId);
    appendFileSync(f.trace, '{"x":1}\n');
    const x = examineTrace(f.trace);
    const line = r.events + 1;
    expect(x.chain.brokenAt?.kind).toBe("bad_seq");
    expect(x.chain.brokenAt?.reason).toBe(`line ${line} has no seq member (expected seq ${r.events})`);
    expect(renderReport(x).join("\n")).not.toContain("undefined");
  });
});

describe("the failing step's id, without the workspace (F8)", () => {
  it("is read from the summary's Effects table (whole, or edited); by index only without a summary", () => {
    const b = scratch.box();
    const r = b.run(WF.govern, payload("agent_governance/02_no_license.json"));
    const f = files(r.traceDirAbs, r.traceId);
    const away = mkdtempSync(join(tmpdir(), "cairn-examine-lone-"));
    try {
      const trace = join(away, basename(f.trace));
      const md = join(away, basename(f.md));
      copyFileSync(f.trace, trace);
      const named = (): string => {
        const x = examineTrace(trace);
        expect(x.workspace).toBeUndefined(); // no declarations at hand
        expect(x.failure?.node).toBe("ai_governance::CC_RESOLVE_LICENSE_TIER_V0");
        return `${String(x.failure?.step?.id)}|${x.failure?.message ?? ""}`;
      };
      expect(named()).toBe("null|NOT_FOUND from step 0 (capability_side_effects::CS_MUTABLE_JSON_V0 READ)");
      for (const text of [f.text, `${f.text}\n`, f.text.replace(/\n/g, "\r\n")]) {
        writeFileSync(md, text);
        expect(named()).toBe("read_license_record|NOT_FOUND from step read_license_record (capability_side_effects::CS_MUTABLE_JSON_V0 READ)");
      }
      // Another trace's summary, or one whose rows do not fit the trace's steps, names nothing.
      writeFileSync(md, f.text.replace(`# Trace ${r.traceId}`, "# Trace 0000000000000000__WF_X__0000"));
      expect(named().startsWith("null|")).toBe(true);
      writeFileSync(md, f.text.replace("| READ | NOT_FOUND |", "| WRITE | NOT_FOUND |"));
      expect(named().startsWith("null|")).toBe(true);
    } finally {
      rmSync(away, { recursive: true, force: true });
    }
  });
});
