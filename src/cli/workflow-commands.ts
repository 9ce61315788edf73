/**
 * Governed workflows: `cairn wf run` (PGS v0.3 workspaces; sealed Cairn snapshots with
 * `--snapshot`, see wf-compile.ts) and `cairn wf compile` (wf-compile.ts).
 *
 * Exit codes (the PGS reference rule): 0 when the run ends with SUCCESS or ALREADY_EXISTS;
 * 1 for any other terminal status (VIOLATION, NOT_FOUND, BACKEND_ERROR, ACK…), for a runtime
 * error (the trace then ends with an ERROR event) and for every fatal error (bad --wf, missing
 * payload, snapshot missing or failing its integrity check…); 2 for usage errors (missing
 * --workspace, unknown option, an empty --payload…).
 *
 * `cairn wf repair-tail` (wf-repair.ts) repairs a data-root JSON-lines file a killed run left
 * with a torn last line; runs refuse such a file and name that command.
 */
import { join, resolve } from "node:path";
import { Command } from "commander";
import { escapeControls } from "../core/describe.js";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../core/errors.js";
import { STDIN_NAME } from "../batch/input/types.js";
import { stdinIsDirectory } from "../store/fsutil.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { acquireDataRootLock } from "../workflow/effects/data-root-lock.js";
import { REPAIR_TAIL_COMMAND } from "../workflow/effects/jsonl.js";
import { repairCommandFor, tornFileNote, tornFilesOf, type TornFile } from "../workflow/effects/torn-files.js";
import { DATA_ROOT_ENV, DEFAULT_DATA_ROOT_NAME, MAX_PAYLOAD_BYTES, WORKSPACE_ENV } from "../workflow/pgs/constants.js";
import { prettyPy } from "../workflow/pgs/pyjson.js";
import { parsePayloadBytes, parseWorkflowFqdn, readPayloadFileAs, runPgsWorkflow, type PayloadParseOptions, type PgsRunResult } from "../workflow/pgs/run.js";
import { loadTraceRenderer } from "../workflow/render/render.js";
import { fromPlain, type PyObject, type PyValue } from "../workflow/pgs/value.js";
import { globalsOf, outputFor } from "./context.js";
import { DATA_ROOT_WAIT_DESCRIPTION, DATA_ROOT_WAIT_FLAG, DEFAULT_DATA_ROOT_LOCK_WAIT_MS, parseDataRootWait } from "./data-root-wait.js";
import { nonEmptyArg, withCliFields } from "./args.js";
import { printError, SHOWN_VALUE_CHARS, type Output } from "./output.js";
import { wfRepairTailCommand } from "./wf-repair.js";
import { wfReplayCommand } from "./wf-replay.js";
import { checkDataRootArg, printRunLines, printSnapshotRun, requireWorkspaceDir, runSnapshot, wfCompileCommand } from "./wf-compile.js";
import { planeFlags, type PlaneFlags } from "./wf-plane-flags.js";

interface WfRunOpts extends PlaneFlags {
  workspace?: string;
  /** Optional with --snapshot (a snapshot holding one workflow); else required. */
  wf?: string;
  /** A sealed Cairn snapshot (file or digest): runs it instead of a PGS workspace (wf-compile.ts). */
  snapshot?: string;
  payload?: string;
  dataRoot?: string;
  /** How long to wait for the data root's lock held by another process (ms). */
  dataRootWait: number;
  render: boolean;
}

const WF_RUN_HELP = `
Notes:
  Runs one workflow of a compiled PGS v0.3 workspace (a --workspace or $${WORKSPACE_ENV} that
  is not a directory is E_NOT_FOUND, exit 1): loads tokenized_snapshot/<domain>/,
  vocabulary_snapshot/<domain>/ and trust_snapshot/<domain>/ (domain = the part of --wf before
  "::"), checks the trust rule (also recomputing projection_hash from topology.json), then
  executes from the workflow's entry node. State lives under the data root (default
  $${DATA_ROOT_ENV}, else <workspace>/${DEFAULT_DATA_ROOT_NAME}); seed files must be placed there first. One
  that exists but is not a directory is refused before the run (E_INVALID_INPUT, exit 1), named
  as given (details.field "--data-root"; "(from $${DATA_ROOT_ENV})" and details.env when read from it).
  --payload - reads the payload from stdin (at most ${MAX_PAYLOAD_BYTES} bytes, like a file).
  Every run writes <workspace>/traces/<domain>/<WF_CODE>/<trace_id>/<trace_id>.jsonl (PGS
  trace v0 + seq + hash chain) and <trace_id>.md (summary). The trace id derives from the
  snapshot, the workflow, the payload and the prior state of the data-root files the
  workflow's policies name: the same inputs give the same trace, byte for byte.
  One holder per data root: the run holds the data root's lock, so another \`cairn wf run\` or
  a \`cairn serve\` on the same data root (on this host, as this user, with the same
  $TMPDIR or $CAIRN_DATA_ROOT_LOCK_DIR) cannot interleave with
  it; while another process holds it, the run waits up to --data-root-wait (default
  ${DEFAULT_DATA_ROOT_LOCK_WAIT_MS / 1000}s) and then fails with E_DATA_ROOT_LOCKED (exit 1). A running \`cairn serve\`
  holds its data root's lock until it stops.
  With --store or $CAIRN_STORE the trace, the effects and a receipt are recorded in the store.
  It also writes <trace_id>.svg and <trace_id>.png: the workflow graph (Graphviz) with the
  visited path highlighted (visited nodes filled, taken edges bold, the failing node red).
  The pictures are for humans: not part of the hash chain, the summary or the store receipt
  (the PNG uses system fonts, so its bytes may differ between machines). --no-render skips them.
  With --snapshot <file|digest> it runs a sealed Cairn snapshot (cairn wf compile) instead:
  traces under <--workspace, default .>/traces/<namespace>/<WF_CODE>/<trace_id>/ (the
  workspace must be an existing directory, else E_NOT_FOUND and nothing is written), data
  root default <workspace>/data, --wf optional when the snapshot holds one workflow, and the
  same pictures (nodes and named exits; --no-render skips them) (docs/workflow-cairn.md).
  A snapshot with lane-bound steps needs an execution-plane node: --plane-config node.yaml
  --plane-key KEY --plane-subject SUBJECT [--plane-key-id ID]; the runtime signs each lane
  request with KEY for SUBJECT (the node's policy decides), evidence goes to the config's sinks
  and the trace's CC_STEP events name the evidence ids ("Lane-bound steps" in workflow-cairn.md).
  A run killed while appending to a registry or append-only log can leave its last line torn;
  later runs refuse that file (BACKEND_ERROR, or E_STORE_CORRUPT for a log) and name the repair,
  \`${REPAIR_TAIL_COMMAND} --data-root <dir> <file>\` (see \`cairn wf repair-tail --help\`).
  The human output escapes every control character of a value it prints (ESC shows as
  \\u001b) and shows at most ${SHOWN_VALUE_CHARS} characters of the surface, the rest cut and its
  full length stated ("… (N characters)"): the whole surface is in --json and <trace_id>.md.
  Exit status: 0 for a terminal SUCCESS or ALREADY_EXISTS, 1 for any other status or an
  error, 2 on a usage error.`;

/** \`details.field\` of every payload refusal of \`wf run\`: the flag (the library names its argument). */
const PAYLOAD_FLAG = "--payload";

/**
 * The library options a `wf run` error may name (`details.field`) and the flags the user gave
 * instead: a malformed `--wf` (parseWorkflowFqdn), a snapshot of several workflows without `--wf`
 * (selectWorkflow), a refused payload (a lone surrogate, runCairnWorkflow).
 */
const WF_RUN_FLAGS: Readonly<Record<string, string>> = { workflow: "--wf", payload: PAYLOAD_FLAG };

/**
 * The payload JSON object of \`--payload\`: a file (\`readPayloadFile\`'s checks, pgs/run.ts), or
 * stdin for \`-\` (\`readPayloadStdin\`); either way a refusal's \`details.field\` is the flag.
 */
async function readPayloadArg(payload: string, opts: PayloadParseOptions = {}): Promise<PyObject> {
  return payload === "-" ? readPayloadStdin(opts) : readPayloadFileAs(payload, PAYLOAD_FLAG, opts);
}

/**
 * \`--payload -\`: the payload read from stdin, at most MAX_PAYLOAD_BYTES (E_LIMIT_EXCEEDED as soon
 * as more arrive; nothing beyond is buffered), then checked exactly as \`readPayloadFile\` checks a
 * file, with the same messages naming \`<stdin>\` instead of the path: strict UTF-8 (the line of
 * the first invalid byte), JSON (line and column), a JSON object.
 */
async function readPayloadStdin(opts: PayloadParseOptions): Promise<PyObject> {
  const name = STDIN_NAME;
  if (stdinIsDirectory()) throw new CairnError(ErrorCode.INVALID_INPUT, `Payload ${name} is a directory (stdin redirected from a directory)`, { field: PAYLOAD_FLAG, path: name });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    size += b.length;
    if (size > MAX_PAYLOAD_BYTES) {
      throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `Payload ${name} is more than the ${MAX_PAYLOAD_BYTES}-byte limit`, { field: PAYLOAD_FLAG, path: name });
    }
    chunks.push(b);
  }
  return parsePayloadBytes(Buffer.concat(chunks, size), name, opts, PAYLOAD_FLAG); // the checks and messages of a payload file
}

/** `doc` with its `tornFiles` member (`[{path, offset, bytes, repair}]`) when there are torn files. */
function withTornFiles(doc: PyObject, torn: TornFile[], dataRootShown: string): PyObject {
  if (torn.length > 0) doc.set("tornFiles", torn.map((t) => fromPlain({ path: t.path, offset: t.offset, bytes: t.bytes, repair: repairCommandFor(dataRootShown, t.path) })));
  return doc;
}

/** One human `note:` per torn file, naming its repair (the paths' control characters escaped). */
function printTornNotes(out: Output, torn: TornFile[], dataRootShown: string): void {
  for (const t of torn) out.note(escapeControls(tornFileNote(t, dataRootShown)));
}

/** The JSON document `wf run --json` prints (keys in this order). */
export function runJson(r: PgsRunResult, traceDirShown: string): PyObject {
  const doc = new Map<string, PyValue>([
    ["status", r.status],
    ["exitCode", BigInt(r.exitCode)],
    ["traceId", r.traceId],
    ["workflow", r.workflow],
    ["path", r.path.map((p) => new Map<string, PyValue>([["node", p.node], ["status", p.status], ["kind", p.kind]]))],
    ["surface", r.surface],
    ["traceDir", traceDirShown],
    ["events", BigInt(r.events)],
    ["effects", r.effects.map((e) => fromPlain({ cc: e.cc, step: e.step, cs: e.cs, op: e.op, status: e.status }))],
    ["violations", r.violations.map((v) => fromPlain({ cc: v.cc, step: v.step, kind: v.kind, reason: v.reason }))],
    ["digests", fromPlain(r.digests)],
  ]);
  if (r.error !== null) doc.set("error", fromPlain(r.error));
  if (r.recorded !== null) doc.set("receipt", r.recorded.receipt);
  const note = picturesNote(r);
  if (note !== undefined) doc.set("picturesNote", note);
  return doc;
}

/** Why the run's trace pictures were not drawn (too large, or rendering failed: render.ts), if they were not. */
export function picturesNote(r: PgsRunResult): string | undefined {
  return r.pictures !== null && "note" in r.pictures ? r.pictures.note : undefined;
}

function printHuman(out: Output, r: PgsRunResult, traceDirShown: string): void {
  printRunLines(out, r, traceDirShown, { note: picturesNote(r) });
}

export function wfCommand(): Command {
  const run = new Command("run")
    .description("run a workflow of a PGS v0.3 workspace over a payload, writing a chained trace")
    .option("--workspace <dir>", `PGS workspace root (default $${WORKSPACE_ENV})`)
    .option("--wf <fqdn>", "workflow FQDN, <domain>::<WF_CODE> (required, except with --snapshot holding one workflow)")
    .option("--snapshot <file|digest>", "run a sealed Cairn snapshot (cairn wf compile) instead of a PGS workspace; traces under --workspace (default .)")
    .option("--payload <file>", "payload JSON object, a file or - for stdin (default {})", nonEmptyArg("--payload"))
    .option("--data-root <dir>", `data root for CS state (default $${DATA_ROOT_ENV}, else <workspace>/${DEFAULT_DATA_ROOT_NAME})`)
    .option("--no-render", "skip the trace pictures (<trace_id>.svg/.png)")
    .option(DATA_ROOT_WAIT_FLAG, DATA_ROOT_WAIT_DESCRIPTION, parseDataRootWait, DEFAULT_DATA_ROOT_LOCK_WAIT_MS)
    .option("--plane-config <file>", "execution-plane node config (YAML) for the snapshot's lane-bound steps (see wf-plane.ts, docs/workflow-cairn.md)")
    .option("--plane-key <file>", "Ed25519 private key the runtime signs each lane request with (cairn plane keygen)")
    .option("--plane-subject <subject>", "authority subject of the signed lane requests (matched against the node's policy)")
    .option("--plane-key-id <id>", "key id the node knows the public key by (default: the key file's name without extension)")
    .addHelpText("after", WF_RUN_HELP)
    .action(async (opts: WfRunOpts, cmd: Command) => {
      const plane = planeFlags(opts, opts.snapshot !== undefined);
      if (opts.snapshot !== undefined) {
        if (opts.snapshot === "") throw new CairnError(ErrorCode.USAGE, "--snapshot must not be empty", { field: "--snapshot" });
        // A sealed snapshot's payload names each member once (pgs/run.ts PayloadParseOptions).
        const snapPayload = opts.payload === undefined ? new Map<string, PyValue>() : await readPayloadArg(opts.payload, { uniqueKeys: true });
        if (opts.render) await loadTraceRenderer();
        const snapOpts = { snapshot: opts.snapshot, wf: opts.wf, payload: snapPayload, dataRoot: opts.dataRoot, workspace: opts.workspace, render: opts.render, dataRootWaitMs: opts.dataRootWait };
        // The data root as the run resolved it (wf-compile.ts snapshotSourceSetup), to name torn files as the PGS path does.
        const { result, shown, dataRootArg: snapDataRootArg } = await withCliFields(WF_RUN_FLAGS, async () =>
          plane === null ? await runSnapshot(cmd, snapOpts) : await (await import("./wf-plane.js")).runSnapshotWithPlane(cmd, snapOpts, plane),
        );
        const snapTorn = tornFilesOf(result.effects, resolve(snapDataRootArg));
        const out = outputFor(cmd);
        printSnapshotRun(out, result, shown, (r, dir) => withTornFiles(runJson(r, dir), snapTorn, snapDataRootArg), picturesNote);
        if (!out.json) printTornNotes(out, snapTorn, snapDataRootArg);
        return;
      }
      if (opts.wf === undefined) throw new CairnError(ErrorCode.USAGE, "required option '--wf <fqdn>' not specified", { field: "--wf" });
      // The reference's order (SEMANTICS A.12 steps 1-4): the FQDN, the data root, the
      // workspace (given), the payload — so a malformed --wf is reported first, before any lock
      // wait; whether the workspace is a directory is checked after the payload (step 5, the load).
      await withCliFields(WF_RUN_FLAGS, () => parseWorkflowFqdn(opts.wf as string));
      const dataRootGiven = opts.dataRoot ?? process.env[DATA_ROOT_ENV];
      if (dataRootGiven === "") throw new CairnError(ErrorCode.USAGE, `--data-root (or $${DATA_ROOT_ENV}) must not be empty`, { field: "--data-root" });
      const workspaceArg = opts.workspace ?? process.env[WORKSPACE_ENV];
      if (workspaceArg === undefined || workspaceArg === "") {
        throw new CairnError(ErrorCode.USAGE, `--workspace <dir> (or $${WORKSPACE_ENV}) is required`, { field: "--workspace" });
      }
      const dataRootArg = dataRootGiven ?? join(workspaceArg, DEFAULT_DATA_ROOT_NAME);
      const payload = opts.payload === undefined ? new Map<string, PyValue>() : await readPayloadArg(opts.payload);
      // Step 5 loads the snapshot from the workspace: one that is not a directory is named here, as
      // `cairn serve` names it (not by the loader's "Required snapshot file missing: …"), before any lock.
      requireWorkspaceDir(workspaceArg, opts.workspace === undefined ? WORKSPACE_ENV : undefined);
      // A data root that is a file is named as given, field --data-root, as `serve` names it (not by its absolute path).
      checkDataRootArg(dataRootArg, opts.dataRoot);
      const g = globalsOf(cmd);
      const storeDir = g.store ?? process.env.CAIRN_STORE;
      if (opts.render) await loadTraceRenderer();
      // The data root's lock first, then the store's (the order `cairn serve` takes them in).
      const dataRootLock = acquireDataRootLock(resolve(dataRootArg), { waitMs: opts.dataRootWait });
      let r: PgsRunResult;
      let torn: TornFile[] = [];
      try {
        let store: Store | undefined;
        if (storeDir !== undefined && storeDir !== "") store = openStore({ dir: resolveStoreDir(g.store), create: true, lockTimeoutMs: g.wait ?? 0 });
        try {
          r = runPgsWorkflow({ workspace: resolve(workspaceArg), workflow: opts.wf, payload, dataRoot: resolve(dataRootArg), store, render: opts.render, dataRootLock });
        } finally {
          store?.close();
        }
        torn = tornFilesOf(r.effects, resolve(dataRootArg));
      } finally {
        dataRootLock.release();
      }
      const out = outputFor(cmd);
      const shown = join(workspaceArg, r.traceDir);
      if (out.json) {
        out.line(prettyPy(withTornFiles(runJson(r, shown), torn, dataRootArg)));
      } else {
        printHuman(out, r, shown);
        printTornNotes(out, torn, dataRootArg);
      }
      if (r.error !== null) printError(new CairnError(r.error.code as ErrorCodeValue, `Runtime error: ${r.error.message}`, { traceId: r.traceId, traceDir: shown }), out.json);
      process.exitCode = r.exitCode;
    });
  return new Command("wf").description("governed workflows: run PGS v0.3 workspaces and sealed Cairn snapshots, compile Cairn declarations").addCommand(run).addCommand(wfReplayCommand()).addCommand(wfCompileCommand()).addCommand(wfRepairTailCommand());
}
