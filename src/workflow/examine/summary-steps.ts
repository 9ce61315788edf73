/**
 * Step ids from a run's summary, for a trace examined without its declarations (no workspace
 * found, no snapshot): a PGS trace's CC_STEP events do not carry the step id (`step_id` is in the
 * compiled pipeline), so the failing step was named by its index ("step 0") where the summary
 * beside the trace names it (`read_license_record`). The summary's Effects table
 * (pgs/summary.ts) has one row per CS call, in call order — `| \`<cc>\` | <step id> | \`<cs>\` |
 * <op> | <status> |` — and the trace one CS CC_STEP per call, in the same order. The k-th CS step
 * of the trace takes the k-th row's id only while every row so far names the same CC, CS and op
 * as its event: at the first disagreement the mapping stops (nothing is guessed).
 */
import type { TraceModel } from "./model.js";

/** One row of a summary's Effects table. */
export interface EffectRow {
  cc: string;
  step: string;
  cs: string;
  op: string;
}

/** `| \`cc\` | step | \`cs\` | op | status |`; the step cell has `|` escaped as `\|` (summary.ts `cell`). */
const ROW_RE = /^\| `([^`]*)` \| ((?:\\\||[^|])*) \| `([^`]*)` \| ([^|\s]+) \| [^|\s]+ \|$/;

/** The rows of the Effects section of summary text `md` (LF or CRLF line ends), in order. */
export function summaryEffectRows(md: string): EffectRow[] {
  const lines = md.replace(/\r\n/g, "\n").split("\n");
  const start = lines.indexOf("## Effects");
  if (start < 0) return [];
  const rows: EffectRow[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("## ") || line.startsWith("Data-root files")) break;
    const m = ROW_RE.exec(line);
    if (m !== null) rows.push({ cc: m[1] as string, step: (m[2] as string).replace(/\\\|/g, "|"), cs: m[3] as string, op: m[4] as string });
  }
  return rows;
}

/**
 * The step id of each CS step of `model` that the summary's rows name (module comment), keyed by
 * visit index, then step index within the visit.
 */
export function summaryStepIds(model: TraceModel, rows: readonly EffectRow[]): Map<number, Map<number, string>> {
  const ids = new Map<number, Map<number, string>>();
  let k = 0;
  for (const v of model.visits) {
    for (let i = 0; i < v.steps.length; i++) {
      const ev = v.steps[i];
      if (ev === undefined || ev.stepOp === null) continue;
      const row = rows[k++];
      if (row === undefined || row.cc !== v.fqdn || row.cs !== ev.detail.step_fqdn || row.op !== ev.stepOp) return ids;
      if (row.step === "") continue;
      const forVisit = ids.get(v.index) ?? new Map<number, string>();
      forVisit.set(i, row.step);
      ids.set(v.index, forVisit);
    }
  }
  return ids;
}
