/**
 * `cairn wf replay <trace-id|trace.jsonl>` (issue 4 §3.4): re-executes a run recorded in the
 * store (--store / $CAIRN_STORE, opened read-only) from its recorded snapshot, payload and prior
 * state in a temp workspace and data root, and confirms the trace (and effects) are byte-identical.
 * PGS workspace runs (root pgs:<id>) replay through src/workflow/pgs/replay.ts, sealed Cairn
 * snapshot runs (root cairn-wf:<id>, receipt kind cairn.workflow.run) through
 * src/workflow/cairn/replay.ts.
 * The replay is never recorded into the user's store.
 *
 * Exit status: 0 when identical; 1 when different, when the run is not found or cannot be
 * replayed (a refused snapshot, an unusable prior-state file: E_INVALID_INPUT `unreplayable_state`);
 * 2 on usage errors.
 */
import { Command } from "commander";
import { escapeControls } from "../core/describe.js";
import { nonEmptyArg } from "./args.js";
import { withStore } from "./context.js";
import { SHOWN_VALUE_CHARS, shownLine } from "./output.js";

const WF_REPLAY_HELP = `
Notes:
  Finds the run through the store root pgs:<trace_id> (a PGS workspace run) or
  cairn-wf:<trace_id> (a sealed Cairn snapshot run, receipt kind cairn.workflow.run) and its
  receipt (a run not recorded is E_NOT_FOUND naming the root looked for: the one of the trace
  file's runtime, both for a bare trace id), materialises the recorded snapshot (PGS: its
  files in a temp workspace; Cairn: the snapshot artifact, re-verified over its whole
  content — a changed one is refused with E_SNAPSHOT_INTEGRITY) and the recorded prior-state
  files (exact bytes; absent files stay absent) in a temp data root, re-runs the workflow
  with the recorded payload and compares the new trace and effects (and <trace_id>.md next to
  a given trace file) byte for byte with the recorded ones. The user's store is only read.
  A prior state holding a file the replay cannot recreate (a symlink, a device or FIFO, a
  file too large or unreadable when recorded) is refused before anything runs:
  E_INVALID_INPUT, details.reason unreplayable_state, exit 1.
  The human output escapes every control character it quotes (ESC shows as \\u001b) and cuts a
  differing line past ${SHOWN_VALUE_CHARS} characters, stating its length; --json keeps them whole.
  Exit status: 0 when identical, 1 when different, not found or not replayable, 2 on a usage
  error (an empty <trace> is one).`;

export function wfReplayCommand(): Command {
  return new Command("replay")
    .description("re-execute a recorded workflow run (PGS or Cairn snapshot) from the store and confirm a byte-identical trace")
    .argument("<trace>", "trace id, or a <trace_id>.jsonl trace file", nonEmptyArg("argument <trace>"))
    .addHelpText("after", WF_REPLAY_HELP)
    .action(async (trace: string, _opts: unknown, cmd: Command) => {
      const { replayRecordedRun } = await import("../workflow/cairn/replay.js");
      await withStore(cmd, "read", (store, out) => {
        // Dispatch by the recorded run kind: a receipt of kind cairn.workflow.run (root
        // cairn-wf:<id>) is a sealed Cairn snapshot run, one of kind cairn.pgs.run (root pgs:<id>) a
        // PGS run; a run not recorded is refused naming the root its trace file's runtime uses
        // (both roots for a bare trace id).
        const r = replayRecordedRun(store, trace);
        if (out.json) {
          out.line(JSON.stringify(r, null, 2));
        } else {
          // The values come from the recorded run (trace lines quote the payload): their control
          // characters escaped, a differing line cut past SHOWN_VALUE_CHARS (output.ts `shownLine`).
          out.line(`trace id: ${escapeControls(r.traceId)}`);
          out.line(`workflow: ${escapeControls(r.workflow)}`);
          out.line(`status: ${escapeControls(r.status)}`);
          out.line(`replay: ${r.identical ? out.paint("green", "identical") : out.paint("red", "DIFFERENT")}`);
          const d = r.firstDifference;
          if (d !== undefined) {
            out.line(`first difference: ${escapeControls(d.artifact)} line ${d.line}`);
            out.line(`  recorded: ${d.recorded === null ? "(end of file)" : shownLine(d.recorded)}`);
            out.line(`  replayed: ${d.replayed === null ? "(end of file)" : shownLine(d.replayed)}`);
          }
        }
        process.exitCode = r.identical ? 0 : 1;
      });
    });
}
