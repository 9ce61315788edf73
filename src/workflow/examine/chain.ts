/**
 * Hash-chain verdict of a trace for `cairn examine`.
 *
 * The verdict itself is the runtime's: `verifyTraceChainText` (seq contiguous from 0, each
 * `prev` = `sha256:` of the previous line's UTF-8 bytes without its `\n`, `null` on the first
 * line, one trace_id), plus the chain-head anchor of the sibling `<trace_id>.md` exactly as
 * `verifyTraceChain` applies it. This module only adds the *diagnosis*: which line is bad and
 * what happened to it.
 *
 * | kind             | meaning (line = the first bad line, 1-based)                                  |
 * |------------------|-------------------------------------------------------------------------------|
 * | `changed_line`   | the line's bytes changed: its digest no longer matches the next line's `prev` |
 * |                  | (or, for the last line, the head recorded in the summary)                     |
 * | `missing_line`   | one or more lines were dropped before this line (seq jumps, link broken), or  |
 * |                  | at the end (fewer events than the summary records)                            |
 * | `reordered_line` | the line is out of place: the event with the expected seq comes later         |
 * | `bad_seq`        | the seq member itself was changed (the line still links to its predecessor),  |
 * |                  | or it is not an integer / no line carries the expected seq                    |
 * | `extra_line`     | a line was duplicated or inserted (seq repeats), or appended after the end     |
 * | `malformed_line` | the line is not a JSON object                                                 |
 * | `torn_line`      | the last line is not newline-terminated (interrupted write)                   |
 */
import type { Digest } from "../../core/digest.js";
import { sha256 } from "../../core/digest.js";
import { summaryChainHead, verifyTraceChainText } from "../pgs/index.js";

export type ChainBreakKind = "changed_line" | "missing_line" | "reordered_line" | "bad_seq" | "extra_line" | "malformed_line" | "torn_line";

export interface ChainBreak {
  /** 1-based line number of the first bad line. */
  line: number;
  kind: ChainBreakKind;
  /** What is wrong, in words. */
  reason: string;
  /** The verifier's own finding (its line may be the one after a changed line). */
  detected: { line: number; reason: string };
}

export interface ChainVerdict {
  ok: boolean;
  /** Number of lines (events) in the file. */
  events: number;
  /** Digest of the last line when the chain verifies. */
  head: Digest | null;
  /** What vouches for the last line: the head recorded in `<trace_id>.md`, or nothing. */
  anchor: "summary" | "none";
  brokenAt?: ChainBreak;
}

/** What a `<trace_id>.md` summary records about its trace. */
export interface SummaryFacts {
  head?: Digest;
  events?: number;
  snapshot?: Digest;
}

const EVENTS_RE = /^\| Events \| (\d+) \(chain head/m;
const SNAPSHOT_RE = /^\| Snapshot \| `(sha256:[0-9a-f]{64})` \|/m;

/** Reads the chain head, the event count and the snapshot digest a summary records. */
export function readSummaryFacts(md: string): SummaryFacts {
  const facts: SummaryFacts = {};
  const head = summaryChainHead(md);
  if (head !== undefined) facts.head = head;
  const ev = EVENTS_RE.exec(md);
  if (ev !== null) facts.events = Number(ev[1]);
  const snap = SNAPSHOT_RE.exec(md);
  if (snap !== null) facts.snapshot = snap[1] as Digest;
  return facts;
}

/** The lines exactly as the verifier splits them. */
function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  return (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
}

function parseObject(line: string | undefined): Record<string, unknown> | undefined {
  if (line === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Explains the verifier's first problem (1-based `line`). */
function diagnose(lines: string[], problem: { line: number; reason: string }, head: Digest | undefined): ChainBreak {
  const detected = { ...problem };
  const br = (line: number, kind: ChainBreakKind, reason: string): ChainBreak => ({ line, kind, reason, detected });
  if (problem.reason.startsWith("last line is not newline-terminated")) {
    return br(problem.line, "torn_line", `line ${problem.line} is not newline-terminated: the last write was interrupted or the file was cut`);
  }
  const i = problem.line - 1;
  const line = lines[i];
  const ev = parseObject(line);
  if (ev === undefined) return br(problem.line, "malformed_line", `line ${problem.line} is not a JSON object (${problem.reason})`);
  const expectedPrev: Digest | null = i === 0 ? null : sha256(lines[i - 1] as string);
  const linked = ev.prev === expectedPrev;
  if (ev.seq !== i) {
    const seq = ev.seq;
    if (typeof seq !== "number" || !Number.isInteger(seq)) return br(problem.line, "bad_seq", `line ${problem.line} has seq ${JSON.stringify(seq)}, not an integer (expected ${i})`);
    if (linked) {
      return br(problem.line, "bad_seq", `line ${problem.line} has seq ${seq}, expected ${i}, yet its prev still links to ${i === 0 ? "the start of the chain" : `line ${i}`}: the seq member itself was changed`);
    }
    if (seq < i) {
      const earlier = lines.findIndex((l, k) => k < i && parseObject(l)?.seq === seq);
      if (earlier >= 0) {
        return br(problem.line, "extra_line", `line ${problem.line} repeats seq ${seq} of line ${earlier + 1}${lines[earlier] === line ? " byte for byte" : ""} (expected ${i}): a line was duplicated or inserted here`);
      }
    }
    const later = lines.findIndex((l, k) => k > i && parseObject(l)?.seq === i);
    if (later >= 0) {
      return br(problem.line, "reordered_line", `line ${problem.line} has seq ${seq}, expected ${i}; the event with seq ${i} is at line ${later + 1}: lines were moved`);
    }
    if (seq > i) {
      const n = seq - i;
      return br(problem.line, "missing_line", `line ${problem.line} has seq ${seq}, expected ${i}: ${n} line${n === 1 ? " is" : "s are"} missing before line ${problem.line} (seq ${i}${n === 1 ? "" : `..${seq - 1}`})`);
    }
    return br(problem.line, "bad_seq", `line ${problem.line} has seq ${seq}, expected ${i}, and no line carries seq ${i}`);
  }
  if (!linked) {
    if (i === 0) return br(1, "changed_line", `line 1 was changed: the first event's prev must be null, got ${JSON.stringify(ev.prev)}`);
    // Line i+1 (1-based) holds the digest line i had when it was written. If line i+1 is itself
    // intact (its successor, or the recorded head, still vouches for it), line i was changed.
    const next = lines[i + 1];
    const thisDigest = sha256(line as string);
    const intact = next !== undefined ? parseObject(next)?.prev === thisDigest : head === thisDigest;
    if (!intact && (next !== undefined || head !== undefined)) {
      return br(problem.line, "changed_line", `line ${problem.line} was changed: its prev ${JSON.stringify(ev.prev)} does not link to line ${i}, and its own digest no longer matches ${next !== undefined ? `line ${i + 2}'s prev` : "the recorded chain head"}`);
    }
    return br(
      i,
      "changed_line",
      `line ${i} was changed: its digest ${expectedPrev} differs from the prev ${JSON.stringify(ev.prev)} line ${problem.line} recorded when it was written${next === undefined && head === undefined ? ` (or line ${problem.line}'s prev was edited)` : ""}`,
    );
  }
  return br(problem.line, "changed_line", `line ${problem.line} was changed: ${problem.reason}`);
}

/**
 * Verifies `text` (a trace's bytes as UTF-8) with the runtime's verifier and, when `summary`
 * records a chain head, anchors the last line to it.
 */
export function checkChain(text: string, summary: SummaryFacts | undefined): ChainVerdict {
  const anchor = summary?.head === undefined ? "none" : "summary";
  const report = verifyTraceChainText(text);
  const lines = splitLines(text);
  if (!report.ok) {
    const problem = report.problem ?? { line: 1, reason: "unknown problem" };
    return { ok: false, events: lines.length, head: null, anchor, brokenAt: diagnose(lines, problem, summary?.head) };
  }
  const recorded = summary?.head;
  if (recorded !== undefined && recorded !== report.head) {
    const detected = { line: report.events, reason: `chain head ${String(report.head)} differs from the recorded ${recorded}` };
    const have = report.events;
    const want = summary?.events;
    let brokenAt: ChainBreak;
    if (want !== undefined && have < want) {
      const n = want - have;
      brokenAt = { line: have + 1, kind: "missing_line", reason: `${n} line${n === 1 ? " is" : "s are"} missing at the end: the summary records ${want} events, the trace has ${have}`, detected };
    } else if (want !== undefined && have > want) {
      brokenAt = { line: want + 1, kind: "extra_line", reason: `${have - want} line(s) were appended after the recorded end: the summary records ${want} events, the trace has ${have}`, detected };
    } else {
      brokenAt = { line: Math.max(have, 1), kind: "changed_line", reason: `line ${have} (the last) was changed: its digest ${String(report.head)} differs from the chain head ${recorded} recorded in the summary`, detected };
    }
    return { ok: false, events: have, head: null, anchor, brokenAt };
  }
  return { ok: true, events: report.events, head: report.head, anchor };
}
