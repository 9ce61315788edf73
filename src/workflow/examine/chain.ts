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
 *
 * Chain status (`ChainVerdict.status`):
 *  - `verified`: the chain verifies (`ok`);
 *  - `broken`: it does not (`brokenAt` says where and why);
 *  - `unchained`: a reference v0 trace (SEMANTICS A.11, as pgs_runtime 0.3.1 writes it), which
 *    has no hash chain at all, so its integrity cannot be verified — NOT a verdict that it is
 *    intact (`ok` is false). A trace is unchained only when no line carries a `seq` or a `prev`
 *    member, no `<trace_id>.md` next to it records a chain head, and its first line's
 *    `trace_id` has the reference's shape (`YYYYMMDDTHHMMSSmmmZ__<WF_CODE>__<SUFFIX>`, A.11; a
 *    Cairn trace id starts with a 16-hex-digit run key, and Cairn always writes the chain). It
 *    must still be a file of JSON objects, newline-terminated, with one `trace_id`: otherwise
 *    it is `broken` (`malformed_line`, `torn_line`, `changed_line`). A trace where some lines
 *    carry `seq`/`prev` and others do not is `broken`.
 */
import type { Digest } from "../../core/digest.js";
import { sha256 } from "../../core/digest.js";
import { summaryChainHead, verifyTraceChainText } from "../pgs/index.js";

/**
 * How a chain breaks. `not_the_recorded_trace`: the file's digest is not the one the store
 * recorded for the run, whose bytes are deleted, so no line can be named (`line` is 1).
 */
export type ChainBreakKind = "changed_line" | "missing_line" | "reordered_line" | "bad_seq" | "extra_line" | "malformed_line" | "torn_line" | "not_the_recorded_trace";

export interface ChainBreak {
  /** 1-based line number of the first bad line. */
  line: number;
  kind: ChainBreakKind;
  /** What is wrong, in words. */
  reason: string;
  /** The verifier's own finding (its line may be the one after a changed line). */
  detected: { line: number; reason: string };
}

/** What the chain check concluded (module comment). */
export type ChainStatus = "verified" | "unchained" | "broken";

/** How reports name an unchained trace. */
export const UNCHAINED_TEXT = "unchained (a v0 trace without a hash chain: not verifiable)";

/** The trace id shape of the reference runtime (A.11): a UTC wall-clock timestamp, the WF code, the suffix. */
const REFERENCE_TRACE_ID_RE = /^\d{8}T\d{9}Z__[A-Z0-9_]+__[0-9A-F]{4}$/;

export interface ChainVerdict {
  /** The chain verifies (`status` "verified"); false for a broken and for an unchained trace. */
  ok: boolean;
  status: ChainStatus;
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

/**
 * How a complete summary ends. `renderSummary` (pgs/summary.ts) ends with its Surface section,
 * whose closing fence is the only line that is exactly three backticks (the surface is pretty
 * JSON, whose lines are never that); a Cairn run's summary (cairn/run.ts) appends an Exit
 * section: `## Exit`, an empty line, one line of text. No strict prefix of a summary ends like
 * the whole does, so a summary cut anywhere — a run killed while writing it (the first summary
 * of a trace id is written in place, pgs/trace.ts `writeTraceSummary`), a truncated copy — fails
 * the check.
 */
const SUMMARY_END: Readonly<Record<"pgs" | "cairn", { re: RegExp; what: string }>> = {
  pgs: { re: /\n```\n$/, what: "the closing fence of its Surface section" },
  cairn: { re: /\n```\n\n## Exit\n\n[^\n]+\n$/, what: "its Exit section" },
};

/**
 * What is wrong with a summary beside a chained trace (`summaryProblem`), which then anchors
 * nothing and fails the examination:
 *  - `torn`: it does not end as a complete summary does, and no edit below explains it — a
 *    run killed while writing it, or a cut copy;
 *  - `edited`: its content ends as a complete summary does once what was ADDED to it is taken
 *    away — CR before each LF (CRLF line ends: git's autocrlf, a Windows editor), white space
 *    after its last line (a blank line appended), or text after its end — so it was changed
 *    after the run wrote it, not cut. Only additions count: a file missing any byte of the end
 *    (`…` + three backticks without the final LF, a CRLF file cut between CR and LF) is torn;
 *  - `foreign`: its first line, `# Trace <id>`, names another trace: another run's summary,
 *    copied or swapped in (its chain head and event count are that run's).
 */
export type SummaryDiagnosis = "torn" | "edited" | "foreign";

export interface SummaryProblem {
  diagnosis: SummaryDiagnosis;
  /** What is wrong, in words (`it does not end with …: torn or truncated`, …). */
  text: string;
  /** The trace id its heading names (`foreign`). */
  traceId?: string;
  /** Whether a `foreign` summary ends as a complete summary does (another run's, whole or torn). */
  complete?: boolean;
}

/** The first line of a summary: `# Trace <trace id>` (pgs/summary.ts `renderSummary`). */
const HEADING_RE = /^# Trace (\S+)\r?\n/;

/** White space that a benign edit may add after a summary's last line. */
const ADDED_TAIL_RE = /\n[ \t\r\n]*$/;

/**
 * What is wrong with `md`, the summary beside the trace `traceId` written by a Cairn runtime
 * (`kind`: a PGS workspace run or a sealed Cairn snapshot run), or undefined when it is whole
 * and its heading names that trace (`SummaryDiagnosis`). `fileTraceId`, the trace id the trace
 * file is named by, counts too: a summary naming it is that file's own, even when the trace's
 * lines were changed to claim another id (the chain check then judges them against it).
 */
export function summaryProblem(md: string, kind: "pgs" | "cairn", traceId: string | null, fileTraceId?: string): SummaryProblem | undefined {
  if (md.length === 0) return { diagnosis: "torn", text: "it is empty" };
  const heading = HEADING_RE.exec(md)?.[1];
  if (heading !== undefined && traceId !== null && heading !== traceId && heading !== fileTraceId) {
    const whole = SUMMARY_END[kind].re.test(md);
    return { diagnosis: "foreign", text: `its heading names trace ${heading}: another run's summary, copied or swapped in${whole ? "" : " (and torn)"}`, traceId: heading, complete: whole };
  }
  const end = SUMMARY_END[kind];
  if (end.re.test(md)) return undefined;
  const lf = md.replace(/\r\n/g, "\n");
  const crlf = lf.length !== md.length;
  const trimmed = lf.replace(ADDED_TAIL_RE, "\n");
  if (end.re.test(trimmed)) {
    const added = [crlf ? "CRLF line ends" : "", trimmed.length < lf.length ? `${bytes(lf.length - trimmed.length)} of white space after its last line` : ""].filter((x) => x !== "");
    const one = added.length === 1 && !crlf;
    return { diagnosis: "edited", text: `${added.join(" and ")} ${one ? "was" : "were"} added; without ${one ? "it" : "them"}, it ends with ${end.what}, so it is not torn` };
  }
  const at = lastCompleteEnd(lf, kind);
  if (at !== undefined) {
    return { diagnosis: "edited", text: `${bytes(lf.length - at)} of text follow ${end.what}${crlf ? " (and it has CRLF line ends)" : ""}, so it is not torn` };
  }
  return { diagnosis: "torn", text: `it does not end with ${end.what}: torn or truncated` };
}

const bytes = (n: number): string => `${n} byte${n === 1 ? "" : "s"}`;

/** Where the last complete summary's end (`SUMMARY_END`, matched anywhere) in `text` stops, or undefined. */
function lastCompleteEnd(text: string, kind: "pgs" | "cairn"): number | undefined {
  const re = new RegExp(SUMMARY_END[kind].re.source.slice(0, -1), "g");
  let at: number | undefined;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) at = m.index + m[0].length;
  return at;
}

/**
 * Why `md` is incomplete (torn), or undefined when it ends as a complete summary does
 * (`SUMMARY_END`). Kept for callers that only ask that; `summaryProblem` tells edits apart.
 */
export function summaryIncomplete(md: string, kind: "pgs" | "cairn"): string | undefined {
  if (md.length === 0) return "it is empty";
  const end = SUMMARY_END[kind];
  if (end.re.test(md)) return undefined;
  return `it does not end with ${end.what}: torn or truncated`;
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
    if (seq === undefined) return br(problem.line, "bad_seq", `line ${problem.line} has no seq member (expected seq ${i})`);
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
 * The verdict on a trace none of whose lines carries `seq` or `prev` (module comment), or
 * undefined when the trace is not such a reference v0 trace.
 */
function unchainedVerdict(text: string, lines: string[], summary: SummaryFacts | undefined): ChainVerdict | undefined {
  if (lines.length === 0 || summary?.head !== undefined) return undefined;
  const events = lines.map(parseObject);
  if (events.some((ev) => ev !== undefined && ("seq" in ev || "prev" in ev))) return undefined;
  const first = events[0]?.trace_id;
  if (typeof first !== "string" || !REFERENCE_TRACE_ID_RE.test(first)) return undefined;
  const broken = (line: number, kind: ChainBreakKind, reason: string): ChainVerdict => ({
    ok: false, status: "broken", events: lines.length, head: null, anchor: "none", brokenAt: { line, kind, reason, detected: { line, reason } },
  });
  if (!text.endsWith("\n")) return broken(lines.length, "torn_line", `line ${lines.length} is not newline-terminated: the last write was interrupted or the file was cut`);
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (ev === undefined) return broken(i + 1, "malformed_line", `line ${i + 1} is not a JSON object`);
    if (ev.trace_id !== first) return broken(i + 1, "changed_line", `line ${i + 1} has trace_id ${JSON.stringify(ev.trace_id)}, line 1 ${JSON.stringify(first)}: lines of another trace were mixed in, or one was changed`);
  }
  return { ok: false, status: "unchained", events: lines.length, head: null, anchor: "none" };
}

/**
 * Verifies `text` (a trace's bytes as UTF-8) with the runtime's verifier and, when `summary`
 * records a chain head, anchors the last line to it. A reference v0 trace (no `seq`/`prev`
 * anywhere) is `unchained`: not verifiable, reported as such rather than as broken.
 */
export function checkChain(text: string, summary: SummaryFacts | undefined): ChainVerdict {
  const anchor = summary?.head === undefined ? "none" : "summary";
  const report = verifyTraceChainText(text);
  const lines = splitLines(text);
  if (!report.ok) {
    const unchained = unchainedVerdict(text, lines, summary);
    if (unchained !== undefined) return unchained;
    const problem = report.problem ?? { line: 1, reason: "unknown problem" };
    return { ok: false, status: "broken", events: lines.length, head: null, anchor, brokenAt: diagnose(lines, problem, summary?.head) };
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
    return { ok: false, status: "broken", events: have, head: null, anchor, brokenAt };
  }
  return { ok: true, status: "verified", events: report.events, head: report.head, anchor };
}
