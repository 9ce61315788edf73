/**
 * `<trace_id>.md`: the human summary of one run (status, path, failure point, violations,
 * effects, surface). Deterministic: no times, no absolute paths.
 */
import type { Digest } from "../../core/digest.js";
import type { EffectCall, PathEntry, ViolationRecord } from "./engine.js";
import { prettyPy } from "./pyjson.js";
import type { StateFile } from "./state.js";
import type { PyObject } from "./value.js";

export interface SummaryInput {
  traceId: string;
  workflow: string;
  status: string;
  exitCode: number;
  error: { message: string; cc: string | null; step: string | null } | null;
  digests: { snapshot: Digest; payload: Digest; priorState: Digest; posteriorState: Digest };
  events: number;
  chainHead: Digest | null;
  path: readonly PathEntry[];
  violations: readonly ViolationRecord[];
  effects: readonly EffectCall[];
  before: readonly StateFile[];
  after: readonly StateFile[];
  surface: PyObject;
}

const SHORT = 19;
function short(d: Digest | null): string {
  return d === null ? "absent" : `\`${d.slice(0, SHORT)}…\``;
}

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function failurePoint(s: SummaryInput): string {
  if (s.error !== null) {
    const last = s.path[s.path.length - 1];
    const at =
      s.error.cc !== null
        ? `in \`${s.error.cc}\`${s.error.step === null ? "" : `, step \`${s.error.step}\``}`
        : last === undefined
          ? "before any node ran"
          : `after \`${last.node}\` (${last.status})`;
    return `The run was aborted by a runtime error ${at}: ${cell(s.error.message)}`;
  }
  if (s.exitCode === 0) return `None: the run ended with ${s.status}.`;
  const last = s.path[s.path.length - 1];
  if (last === undefined) return `The run ended with ${s.status} before visiting any node.`;
  return `\`${last.node}\` ended with ${s.status} and no route leads on from it for that status.`;
}

/** The Path section of a run that no node was entered in (a runtime error before the first node, or none). */
const NO_NODE_VISITED = "No node was visited.";

/**
 * The Path section of a run a runtime error aborted inside its first node: the path lists the
 * nodes that completed, so it is empty, but the node was entered (the Failure point names it).
 * Before 2026-11-28 it said `NO_NODE_VISITED`, contradicting the Failure point.
 */
function abortedBeforeAnyCompleted(cc: string): string {
  return `No node completed: the run was aborted in \`${cc}\`.`;
}

const ABORTED_PATH_RE = /^No node completed: the run was aborted in `[^\n]*`\.$/;
const PATH_HEADING = "\n## Path\n\n";

/**
 * The `<trace_id>.md` an earlier build wrote for the same run, when it differs from `md` (this
 * build's summary of it), else undefined. `wf replay` compares the summary beside a named trace
 * file byte for byte (pgs/replay.ts); a summary written before 2026-11-28 for a run aborted in
 * its first node has "No node was visited." where this build writes `abortedBeforeAnyCompleted`,
 * and is still that run's genuine summary. The header table above the Path section holds no line
 * break (trace id, workflow FQDN, status, digests), so the first Path heading is the section's.
 */
export function earlierSummaryForm(md: string): string | undefined {
  const at = md.indexOf(PATH_HEADING);
  if (at < 0) return undefined;
  const start = at + PATH_HEADING.length;
  const end = md.indexOf("\n", start);
  if (end < 0 || !ABORTED_PATH_RE.test(md.slice(start, end))) return undefined;
  return `${md.slice(0, start)}${NO_NODE_VISITED}${md.slice(end)}`;
}

export function renderSummary(s: SummaryInput): string {
  const out: string[] = [];
  out.push(`# Trace ${s.traceId}`, "");
  out.push("| | |", "|---|---|");
  out.push(`| Workflow | \`${s.workflow}\` |`);
  out.push(`| Status | **${s.status}** |`);
  out.push(`| Exit code | ${s.exitCode} |`);
  out.push(`| Snapshot | \`${s.digests.snapshot}\` |`);
  out.push(`| Payload | \`${s.digests.payload}\` |`);
  out.push(`| Prior state | \`${s.digests.priorState}\` |`);
  out.push(`| Posterior state | \`${s.digests.posteriorState}\` |`);
  out.push(`| Events | ${s.events} (chain head ${s.chainHead === null ? "none" : `\`${s.chainHead}\``}) |`);
  out.push("", "## Path", "");
  if (s.path.length === 0) out.push(s.error === null || s.error.cc === null ? NO_NODE_VISITED : abortedBeforeAnyCompleted(s.error.cc));
  s.path.forEach((p, i) => out.push(`${i + 1}. \`${p.node}\` (${p.kind === "cc" ? "CC" : "boundary"}, addr ${p.addr}): ${p.status}`));
  out.push("", "## Failure point", "", failurePoint(s));
  out.push("", "## Violations", "");
  if (s.violations.length === 0) out.push("None.");
  for (const v of s.violations) out.push(`- \`${v.cc}\` step \`${v.step}\` (${v.kind}): ${v.reason === null ? "VIOLATION" : cell(v.reason)}`);
  out.push("", "## Effects", "");
  if (s.effects.length === 0) out.push("No CS call was made.");
  else {
    out.push("| CC | step | CS | op | status |", "|---|---|---|---|---|");
    for (const e of s.effects) out.push(`| \`${e.cc}\` | ${cell(e.step)} | \`${e.cs}\` | ${e.op} | ${e.status} |`);
  }
  out.push("", "Data-root files (relative to the data root):", "");
  if (s.before.length === 0) out.push("None.");
  else {
    out.push("| file | before | after | |", "|---|---|---|---|");
    s.before.forEach((b, i) => {
      const a = s.after[i];
      const changed = a === undefined || a.digest !== b.digest ? "changed" : "unchanged";
      out.push(`| ${cell(b.path)} | ${short(b.digest)} | ${short(a?.digest ?? null)} | ${changed} |`);
    });
  }
  out.push("", "## Surface", "", "```json", prettyPy(s.surface), "```", "");
  return out.join("\n");
}
