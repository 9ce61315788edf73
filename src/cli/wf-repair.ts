/**
 * `cairn wf repair-tail <file>`: the operator's way out of a torn JSON-lines data-root file.
 *
 * A run killed in the middle of an append (a multi-MB registry line, an audit-log record) can
 * leave the file's last line without its newline. Every later run refuses the file — the
 * registry answers BACKEND_ERROR, the append-only log raises E_STORE_CORRUPT — and the refusal
 * names this command (effects/jsonl.ts `tornTailMessage`). The command (`repairTail`) adds the
 * missing newline when the last line is a complete record (one JSON object: an append cut right
 * before its newline, or a hand edit), else truncates the file to its last complete line: such a
 * torn line never completed (the runtime reports an append only after it is whole and synced, and
 * no prefix of a record parses), so nothing acknowledged is lost.
 *
 * Rules: `<file>` is relative to the data root (or absolute inside it), confined like every CS
 * path (E_PATH_CONFINEMENT: `..`, a path outside the data root, a symlinked file); the data root
 * comes as for `wf run` (--data-root, $PGS_DATA_ROOT, <--workspace or $PGS_WORKSPACE>/data) but
 * is never guessed from the working directory; the data root's lock is held like a run's
 * (--data-root-wait, E_DATA_ROOT_LOCKED); a missing file is E_NOT_FOUND; a file that ends
 * cleanly is left alone (exit 0, "nothing to repair"); a file that is not JSON lines (a
 * CS_MUTABLE_JSON_V0 document ends without a newline by design), or whose unterminated last line
 * is a JSON value other than an object, is refused (E_INVALID_INPUT, details.reason
 * `not_json_lines`), untouched.
 *
 * Exit status: 0 repaired or nothing to repair; 1 refused or failed; 2 on a usage error.
 */
import { join, resolve } from "node:path";
import { Command } from "commander";
import { escapeControls } from "../core/describe.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { REPAIR_TAIL_HEAD_BYTES, repairTail, type TailRepairReport } from "../workflow/effects/jsonl.js";
import { DATA_ROOT_ENV, DEFAULT_DATA_ROOT_NAME, WORKSPACE_ENV } from "../workflow/pgs/constants.js";
import { asciiJsonString } from "../workflow/py/json.js";
import { nonEmptyArg } from "./args.js";
import { outputFor } from "./context.js";
import { DATA_ROOT_WAIT_DESCRIPTION, DATA_ROOT_WAIT_FLAG, DEFAULT_DATA_ROOT_LOCK_WAIT_MS, parseDataRootWait } from "./data-root-wait.js";

interface RepairTailOpts {
  dataRoot?: string;
  workspace?: string;
  dataRootWait: number;
}

const WF_REPAIR_TAIL_HELP = `
Notes:
  Repairs a JSON-lines data-root file (a CS registry or append-only log) whose last line lacks
  its newline. Runs refuse such a file (the registry answers BACKEND_ERROR, the log fails with
  E_STORE_CORRUPT) and name this command. A last line that is a complete record (one JSON
  object) gets its missing newline, nothing removed. Any other unterminated last line is torn —
  a run was killed while appending it — and the file is truncated to its last complete line:
  the torn line never completed, so no acknowledged record is lost; the command prints how many
  bytes it removed, their SHA-256 and their first ${REPAIR_TAIL_HEAD_BYTES} bytes.
  <file> is relative to the data root (as the refusal names it) or absolute inside it. The data
  root is --data-root, else $${DATA_ROOT_ENV}, else <--workspace or $${WORKSPACE_ENV}>/${DEFAULT_DATA_ROOT_NAME}.
  The command holds the data root's lock like \`cairn wf run\` (waiting up to --data-root-wait,
  then E_DATA_ROOT_LOCKED): stop a \`cairn serve\` on that data root first.
  A file that ends cleanly is left alone; a missing file is E_NOT_FOUND; a path outside the data
  root or a symlinked file is E_PATH_CONFINEMENT; a file that is not JSON lines (e.g. a mutable
  JSON document, which ends without a newline by design), or whose last line is a JSON value
  other than an object, is refused with E_INVALID_INPUT.
  Exit status: 0 when repaired or nothing to repair, 1 when refused or failed, 2 on a usage error.`;

/** The data root the command acts on (module comment), or E_USAGE. */
function dataRootOf(opts: RepairTailOpts): string {
  const given = opts.dataRoot ?? process.env[DATA_ROOT_ENV];
  if (given === "") throw new CairnError(ErrorCode.USAGE, `--data-root (or $${DATA_ROOT_ENV}) must not be empty`, { field: "--data-root" });
  if (given !== undefined) return given;
  const workspace = opts.workspace ?? process.env[WORKSPACE_ENV];
  if (workspace === undefined || workspace === "") {
    throw new CairnError(ErrorCode.USAGE, `--data-root <dir> (or $${DATA_ROOT_ENV}, or --workspace / $${WORKSPACE_ENV}) is required`, { field: "--data-root" });
  }
  return join(workspace, DEFAULT_DATA_ROOT_NAME);
}

/** The `--json` document (keys in this order). */
function repairJson(dataRoot: string, r: TailRepairReport): Record<string, unknown> {
  return {
    dataRoot,
    path: r.path,
    repaired: r.removedBytes > 0 || r.completedLine === true,
    ...(r.completedLine === true ? { completedLine: true } : {}),
    removedBytes: r.removedBytes,
    ...(r.removedDigest === undefined ? {} : { removedDigest: r.removedDigest }),
    ...(r.removedHead === undefined ? {} : { removedHead: r.removedHead }),
    size: r.size,
  };
}

export function wfRepairTailCommand(): Command {
  return new Command("repair-tail")
    .description("repair a data-root JSON-lines file whose last line lacks its newline: complete a whole last record, else truncate a torn one (an interrupted append)")
    .argument("<file>", "the file, relative to the data root (as the refusal names it) or absolute inside it", nonEmptyArg("argument <file>"))
    .option("--data-root <dir>", `data root (default $${DATA_ROOT_ENV}, else <workspace>/${DEFAULT_DATA_ROOT_NAME})`, nonEmptyArg("--data-root"))
    .option("--workspace <dir>", `workspace whose ${DEFAULT_DATA_ROOT_NAME}/ is the data root when --data-root and $${DATA_ROOT_ENV} are not set (default $${WORKSPACE_ENV})`, nonEmptyArg("--workspace"))
    .option(DATA_ROOT_WAIT_FLAG, DATA_ROOT_WAIT_DESCRIPTION, parseDataRootWait, DEFAULT_DATA_ROOT_LOCK_WAIT_MS)
    .addHelpText("after", WF_REPAIR_TAIL_HELP)
    .action((file: string, opts: RepairTailOpts, cmd: Command) => {
      const shown = dataRootOf(opts);
      const r = repairTail(resolve(shown), file, { dataRootLockWaitMs: opts.dataRootWait });
      if (!r.exists) throw new CairnError(ErrorCode.NOT_FOUND, `no file ${JSON.stringify(r.path)} under the data root ${shown}`, { path: r.path, dataRoot: shown });
      const out = outputFor(cmd);
      if (out.json) {
        out.printJson(repairJson(shown, r));
        return;
      }
      // The path comes from the command line: its control characters escaped (describe.ts).
      const path = escapeControls(r.path);
      if (r.completedLine === true) {
        out.line(`${path}: completed the last line: it is a complete JSON object (a record) that lacked only its newline; added the newline after offset ${r.size - 1}`);
        out.line(`  nothing was removed; the file now ends with a complete line (${r.size} bytes)`);
        return;
      }
      if (r.removedBytes === 0) {
        out.line(`${path}: ends with a complete line (${r.size} bytes): nothing to repair`);
        return;
      }
      const more = r.removedBytes > REPAIR_TAIL_HEAD_BYTES ? `, the first ${REPAIR_TAIL_HEAD_BYTES}` : "";
      out.line(`${path}: removed the torn last line: ${r.removedBytes} bytes after offset ${r.size} (${r.removedDigest ?? "?"})`);
      out.line(`  removed bytes${more}: ${asciiJsonString(r.removedHead ?? "")}`);
      out.line(`  the file now ends with its last complete line (${r.size} bytes)`);
    });
}
