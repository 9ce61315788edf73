/**
 * `examine` hash-chain verdicts (issue 4 §4.1) on a real trace tampered in every way the
 * diagnosis names: the first bad line and what happened to it.
 */
import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { examineTrace, type ChainBreakKind } from "../../src/workflow/examine/index.js";
import { verifyTraceChainText } from "../../src/workflow/pgs/index.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

let b: Sandbox;
let file: string;
let lines: string[];

beforeEach(() => {
  b = sandbox({ seedLicenseFacts: true });
  // 05 undeclared tool: 12 events; line 7 is CC_COMPLETE VIOLATION of CC_CHECK_TOOL_DECLARED_V0.
  const r = b.run(WF.govern, payload("agent_governance/05_undeclared_tool.json"));
  file = join(r.traceDirAbs, `${r.traceId}.jsonl`);
  const text = readFileSync(file, "utf8");
  lines = text.slice(0, -1).split("\n");
  expect(lines.length).toBe(12);
});
afterEach(() => b.cleanup());

function write(ls: string[], end = "\n"): void {
  writeFileSync(file, ls.join("\n") + end);
}
function broken(): { line: number; kind: ChainBreakKind; reason: string } {
  const x = examineTrace(file);
  expect(x.chain.ok).toBe(false);
  expect(x.exitCode).toBe(1);
  expect(x.hint).toMatch(/^the hash chain is broken at line \d+/);
  return x.chain.brokenAt as { line: number; kind: ChainBreakKind; reason: string };
}
const edited = (i: number, from: string, to: string): string[] => lines.map((l, k) => (k === i ? l.replace(from, to) : l));

describe("intact", () => {
  it("verifies with the runtime's verifier and the summary's head", () => {
    const x = examineTrace(file);
    expect(x.chain).toEqual({ ok: true, status: "verified", events: 12, head: verifyTraceChainText(`${lines.join("\n")}\n`).head, anchor: "summary" });
    expect(x.exitCode).toBe(0);
  });
});

describe("tampered", () => {
  it("a changed line is reported at that line (the verifier notices at the next one)", () => {
    write(edited(6, '"result_status":"VIOLATION"', '"result_status":"SUCCESS"'));
    const br = broken();
    expect(br).toMatchObject({ line: 7, kind: "changed_line" });
    expect(br.reason).toContain("line 7 was changed");
    expect(examineTrace(file).chain.brokenAt?.detected.line).toBe(8);
  });

  it("a changed last line is caught by the summary's chain head", () => {
    write(edited(11, '"result_status":"SUCCESS"', '"result_status":"VIOLATION"'));
    expect(broken()).toMatchObject({ line: 12, kind: "changed_line" });
  });

  it("a line whose own prev was rewritten is that line", () => {
    write(lines.map((l, k) => (k === 5 ? l.replace(/"prev":"sha256:[0-9a-f]{64}"/, `"prev":"sha256:${"0".repeat(64)}"`) : l)));
    expect(broken()).toMatchObject({ line: 6, kind: "changed_line" });
  });

  it("a deleted line in the middle, at the start, at the end", () => {
    write(lines.filter((_, k) => k !== 4));
    const mid = broken();
    expect(mid).toMatchObject({ line: 5, kind: "missing_line" });
    expect(mid.reason).toBe("line 5 has seq 5, expected 4: 1 line is missing before line 5 (seq 4)");
    write(lines.slice(1));
    expect(broken()).toMatchObject({ line: 1, kind: "missing_line" });
    write(lines.slice(0, -2));
    const end = broken();
    expect(end).toMatchObject({ line: 11, kind: "missing_line" });
    expect(end.reason).toBe("2 lines are missing at the end: the summary records 12 events, the trace has 10");
    expect(examineTrace(file).outcome.class).toBe("incomplete");
  });

  it("swapped lines", () => {
    const t = [...lines];
    [t[3], t[4]] = [t[4] as string, t[3] as string];
    write(t);
    const br = broken();
    expect(br).toMatchObject({ line: 4, kind: "reordered_line" });
    expect(br.reason).toContain("the event with seq 3 is at line 5");
  });

  it("an edited seq", () => {
    write(edited(5, '"seq":5', '"seq":9'));
    expect(broken()).toMatchObject({ line: 6, kind: "bad_seq" });
  });

  it("a duplicated line, an appended line", () => {
    const t = [...lines];
    t.splice(3, 0, lines[2] as string);
    write(t);
    const br = broken();
    expect(br).toMatchObject({ line: 4, kind: "extra_line" });
    expect(br.reason).toContain("repeats seq 2 of line 3 byte for byte");
    // A well-formed 13th event chained onto the end: only the summary can tell.
    const last = JSON.parse(lines[11] as string) as Record<string, unknown>;
    const extra = JSON.stringify({ ...last, seq: 12, ts_ns: 12, prev: sha256(lines[11] as string) });
    write([...lines, extra]);
    expect(broken()).toMatchObject({ line: 13, kind: "extra_line" });
  });

  it("a torn last line and a malformed line", () => {
    write(lines, "");
    expect(broken()).toMatchObject({ line: 12, kind: "torn_line" });
    write(lines.map((l, k) => (k === 2 ? "{not json" : l)));
    expect(broken()).toMatchObject({ line: 3, kind: "malformed_line" });
  });

  it("still classifies what it can read, behind the broken-chain hint", () => {
    write(lines.filter((_, k) => k !== 9));
    const x = examineTrace(file);
    expect(x.chain.brokenAt).toMatchObject({ line: 10, kind: "missing_line" });
    expect(x.outcome.class).toBe("business_violation");
    expect(x.exitCode).toBe(1);
    expect(x.hint).toContain("as far as it can be read: governed outcome");
  });

  it("without the summary the last line has no anchor: a truncated trace is 'incomplete'", () => {
    unlinkSync(file.replace(/\.jsonl$/, ".md"));
    write(lines.slice(0, -1));
    const x = examineTrace(file);
    expect(x.chain).toMatchObject({ ok: true, events: 11, anchor: "none" });
    expect(x.outcome).toEqual({ class: "incomplete", status: null });
    expect(x.exitCode).toBe(1);
  });
});
