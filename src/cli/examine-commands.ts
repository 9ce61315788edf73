/**
 * `cairn examine <trace.jsonl>`: verify a trace's hash chain, classify the run's outcome and
 * point at the failing node and its declaration (src/workflow/examine).
 *
 * Exit codes: 0 when the chain verifies and the outcome is `success` or `business_violation`;
 * 1 for a structural failure, a broken chain (a file that is not the trace the store recorded
 * for the run, with --store, is one), an incomplete summary, or a trace that cannot be
 * read (a missing file is named); 2 for usage errors (no argument, an empty path, unknown option).
 */
import { Command } from "commander";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { echoed } from "../core/echo.js";
import { examineTrace, renderReport, type ExamineReport } from "../workflow/examine/index.js";
import { stepErrorText } from "../workflow/examine/cairn-hint.js";
import { nonEmptyArg } from "./args.js";
import { globalsOf, outputFor } from "./context.js";
import { SHOWN_VALUE_CHARS, shownLine } from "./output.js";

/**
 * Longest human report line, once the values it quotes are cut (`shownReportLines`): room for a
 * hint's own words around one or two values of SHOWN_VALUE_CHARS. Only a line quoting a long
 * value the report does not hold apart (an earlier "no"'s message in a business_violation hint)
 * reaches it; it is then cut there, its length stated.
 */
export const REPORT_LINE_CHARS = 4 * SHOWN_VALUE_CHARS;

/**
 * The user values longer than SHOWN_VALUE_CHARS the report's lines quote, longest first (the
 * whole message before the error a Cairn hint keeps of it, cairn-hint.ts `stepErrorText`): the
 * failure message, its binding problem, the chain break's reason and the summary's problem, each
 * as it is and JSON-escaped (a value quoted with JSON.stringify), as server/request.ts
 * `boundEchoes` finds the values it cuts.
 */
function longQuotedValues(r: ExamineReport): string[] {
  const f = r.failure;
  const values = [f?.message, f === undefined ? undefined : stepErrorText(f.message), f?.binding?.problem, f?.binding?.path, r.chain.brokenAt?.reason, r.summary?.problem];
  const long = values.flatMap((v) => (v === undefined ? [] : [v, JSON.stringify(v).slice(1, -1)])).filter((v) => v.length > SHOWN_VALUE_CHARS);
  return [...new Set(long)].sort((a, b) => b.length - a.length);
}

/**
 * The human report's lines: each long value a line quotes is cut where it is quoted, at
 * SHOWN_VALUE_CHARS with its length stated (core/echo.ts `echoed`: `… (N characters)`), so the
 * words around it — a hint's remedy ("check the CT-IR ct["2"] in handlers.json") — are printed
 * whole; then every control character is escaped and the line is bounded (output.ts `shownLine`,
 * REPORT_LINE_CHARS). A message of several lines stays inside its report line, its newlines
 * shown as \n: one report line is one terminal line.
 */
export function shownReportLines(r: ExamineReport): string[] {
  const long = longQuotedValues(r);
  return renderReport(r).map((line) => shownLine(long.reduce((acc, v) => (acc.includes(v) ? acc.split(v).join(echoed(v, SHOWN_VALUE_CHARS)) : acc), line), REPORT_LINE_CHARS));
}

const EXAMINE_HELP = `
Notes:
  Reads a trace written by \`cairn wf run\` (<workspace>/traces/<domain>/<WF_CODE>/<trace_id>/
  <trace_id>.jsonl; a trace directory is accepted too) and:
  - verifies the hash chain (seq 0, 1, 2…; each prev = sha256 of the previous line; the last
    line against the head recorded in <trace_id>.md) and names the first bad line and what
    happened to it (changed_line, missing_line, reordered_line, bad_seq, extra_line,
    malformed_line, torn_line);
  - with a store (--store or $CAIRN_STORE, read-only) that recorded the run (root
    cairn-wf:<trace_id> or pgs:<trace_id>, as wf replay finds it), compares the file byte for
    byte with the recorded trace: the strongest anchor. A difference breaks the chain at the
    first differing line, naming the recorded and the file's digests (exit 1; when the recorded
    bytes are deleted from the store only the digests are compared: another digest is
    not_the_recorded_trace at line 1); a store without a record of the trace is a note. With neither a store record nor a complete summary, the
    chain reads "ok, last line unanchored" (chain.anchor "none");
  - classifies the outcome: success, business_violation (a governed "no": VIOLATION,
    NOT_FOUND… routed by the workflow), or a structural failure: expression_binding_error,
    ct_error, cs_runtime_error, graph_structure_error, admission_error (incomplete when the
    trace has no end);
  - locates the failing node (FQDN, address, trace line) and, when the trace lies inside its
    workspace (or --workspace is given), its declaration: the CC contract under
    protocol_snapshot/artifacts/capability_contracts/, else its topology.json entry, plus
    the workflow declaration's node and the compiled dispatch.json entry;
  - for a trace of a sealed Cairn snapshot (cairn wf run --snapshot), reads the declarations
    from that snapshot instead: --snapshot FILE (the sealed file) or --snapshot sha256:… (from
    the store), else the store (--store or $CAIRN_STORE, read-only): the run's record (root
    cairn-wf:<trace_id> → its receipt's program), else the snapshot artifact the trace's
    WF_START names. It shows the failing node, its step, the capability and the declaration
    file, verifies the snapshot over its whole content, and notes a snapshot that is not the
    one the run used; --snapshot given for any other trace is loaded and verified all the
    same (a missing file is E_NOT_FOUND, a digest needs a store: the errors above), then
    noted as not used;
  - prints a hint.
  The human report escapes every control character it quotes (ESC shows as \\u001b, a newline
  inside a message as \\n: a report line stays one line) and cuts a quoted value (the failure
  message, also where the hint quotes it) past ${SHOWN_VALUE_CHARS} characters, stating its
  length, so the hint's own words are printed whole (a line past ${REPORT_LINE_CHARS} characters
  is cut too); --json keeps the real text.
  --json prints {chain: {ok, status, events, brokenAt?, head, anchor}, outcome: {class,
  status}, failure?: {node, address, event, message, declaration?, …}, store?: {root, recorded,
  file, matches}, hint, …}; chain.anchor is "store", "summary" or "none"; chain.status is "verified",
  "broken", or "unchained" (a reference pgs_runtime v0 trace without seq/prev: its integrity is
  not verified, and chain.ok is false).
  Exit status: 0 for success or business_violation with an intact (or unchained) chain; 1 for
  a structural failure, a broken chain, an incomplete <trace_id>.md summary (torn by a kill, or
  cut: it does not end as a complete one does) or an unreadable trace; 2 on a usage error (an
  empty <trace>, --workspace or --snapshot is one).`;

export function examineCommand(): Command {
  return new Command("examine")
    .description("verify a workflow trace's hash chain, classify its outcome and locate the failing node")
    .argument("<trace>", "trace file (<trace_id>.jsonl) or trace directory", nonEmptyArg("argument <trace>"))
    .option("--workspace <dir>", "workspace holding the declarations (default: found by walking up from the trace)", nonEmptyArg("--workspace"))
    .option("--snapshot <file|digest>", "sealed Cairn snapshot the run used (default: looked up in the store, if one is configured)", nonEmptyArg("--snapshot"))
    .addHelpText("after", EXAMINE_HELP)
    .action(async (trace: string, opts: { workspace?: string; snapshot?: string }, cmd: Command) => {
      const out = outputFor(cmd);
      const g = globalsOf(cmd);
      const storeDir = g.store ?? process.env.CAIRN_STORE;
      // Opened lazily (only for a Cairn trace, or a --snapshot digest), read-only.
      const openRead = storeDir === undefined || storeDir === "" ? undefined : (): Store => openStore({ dir: resolveStoreDir(g.store), readOnly: true });
      const report = examineTrace(trace, {
        ...(opts.workspace === undefined ? {} : { workspace: opts.workspace }),
        ...(opts.snapshot === undefined ? {} : { snapshot: opts.snapshot }),
        ...(openRead === undefined ? {} : { openStore: openRead }),
      });
      // A Cairn trace loads and verifies --snapshot (or fails); any other trace does not use it.
      // A flag the user named is never dropped unchecked: it is loaded and verified the same
      // way, with the same errors (a missing file E_NOT_FOUND, a digest without a store
      // E_USAGE…), before anything is printed; then the report's note says it was not used.
      if (opts.snapshot !== undefined && report.snapshot === undefined) {
        const { loadSnapshotArg } = await import("./wf-compile.js");
        await loadSnapshotArg(opts.snapshot, () => openRead?.());
      }
      if (out.json) out.printJson(report);
      // Each line quotes the trace and the declarations (a message carrying payload data, an exit
      // reason, node ids, paths): every character a terminal would not show as itself (ESC, BEL,
      // DEL, C1, U+2028, a newline inside a value…) is escaped, one report line staying one line,
      // and a long quoted value is cut where it is quoted (`shownReportLines`); --json keeps the real text.
      else for (const line of shownReportLines(report)) out.line(line);
      process.exitCode = report.exitCode;
    });
}
