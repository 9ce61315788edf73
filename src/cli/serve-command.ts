/**
 * `cairn serve`: the HTTP gateway (src/server) over a PGS workspace or, with `--snapshot`, a
 * sealed Cairn snapshot (its source, traces directory and data root resolved as for `cairn wf
 * run --snapshot`: `snapshotSourceSetup`, wf-compile.ts). Takes its data root's lock (held until
 * it stops; E_DATA_ROOT_LOCKED after `--data-root-wait` if another process holds it), listens
 * until SIGINT, SIGTERM or SIGHUP (`INTERRUPT_SIGNALS` of signals.ts, as every long-running
 * command), then closes gracefully (accepted runs finish; requests sent meanwhile —
 * waiting in the accept queue during a run — and those still arriving get 503 `server is closing`,
 * never a reset: `close()`), releases the lock and exits 0. A second signal while closing exits 1 at once. `--allow-origin` (repeatable) names the
 * origins whose web pages may use it (`ServerOptions.allowOrigins`; src/server/origin.ts).
 * `--max-connections`, `--max-body`, `--max-queued`, `--max-inflight-body` and `--max-response` set
 * the gateway's bounds (`ServerOptions.maxConnections`, `maxBodyBytes`, `maxQueuedRuns`,
 * `maxInflightBodyBytes`, `maxResponseBytes`), checked as they are read, and
 * `--max-inflight-body` against `--max-body` before anything listens (E_USAGE, exit 2, naming the
 * flags).
 */
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { CairnError, ErrorCode } from "../core/errors.js";
import { parseSize } from "../batch/config.js";
import { openStore, resolveStoreDir } from "../store/store.js";
import {
  createServer, DEFAULT_HOST, DEFAULT_PORT, LOCALHOST_PORT_ATTEMPTS, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_INFLIGHT_BODY_BYTES, MAX_QUEUED_RUNS, MAX_RESPONSE_BYTES, parseAllowedOrigin, type CairnServer,
} from "../server/index.js";
import { DATA_ROOT_ENV, DEFAULT_DATA_ROOT_NAME, WORKSPACE_ENV } from "../workflow/pgs/index.js";
import { escapeControls } from "../core/describe.js";
import { tornFileNote, type TornFile } from "../workflow/effects/torn-files.js";
import { globalsOf, outputFor } from "./context.js";
import { DATA_ROOT_WAIT_DESCRIPTION, DATA_ROOT_WAIT_FLAG, DEFAULT_DATA_ROOT_LOCK_WAIT_MS, parseDataRootWait } from "./data-root-wait.js";
import { repeatable } from "./args.js";
import { parseCount } from "./duration.js";
import { printError, type Output } from "./output.js";
import { INTERRUPT_SIGNALS } from "./signals.js";
import { checkDataRootArg, requireWorkspaceDir, snapshotSourceSetup } from "./wf-compile.js";

interface ServeOpts {
  port: number;
  host: string;
  workspace?: string;
  /** A sealed Cairn snapshot (file or digest): served instead of a PGS workspace. */
  snapshot?: string;
  dataRoot?: string;
  dataRootWait: number;
  /** Origins whose browser pages may use the server (repeatable; `*` = any). */
  allowOrigin: string[];
  maxConnections: number;
  maxBody: number;
  maxQueued: number;
  maxInflightBody: number;
  maxResponse: number;
}

const SERVE_HELP = `
Notes:
  POST /api/run with {"workflow_code": "<domain>::<WF_CODE>", "payload": {...}} runs one workflow
  (as \`cairn wf run\` does, writing the same traces) and answers
    200 {status, trace_id, duration_ms, workflow_code, result_payload} for every completed run
        (SUCCESS, ALREADY_EXISTS, VIOLATION, NOT_FOUND…; result_payload = the run's surface);
    400 {status:"ERROR", error} for an empty or non-UTF-8 body (at once), and, when the
        request's turn in the run queue comes, invalid JSON, a workflow_code without "::", a
        payload that is not an object or is nested deeper than 256 levels, or a domain/workflow
        the workspace (or the snapshot) does not have;
    403 {status:"ERROR", error} for a request carrying an Origin header (a web page's) that
        is not allowed (below), or, on a loopback address, carrying one with a Host that is not
        localhost/127.0.0.1/[::1]:PORT (requests without Origin, curl and scripts, are served);
    413 for a body over --max-body (default ${MAX_BODY_BYTES} bytes); 503 when --max-queued
        (default ${MAX_QUEUED_RUNS}) runs are already waiting behind the running one,
        while closing, or when the store is locked by another writer; 503 (before the body is
        read) when the bodies of the requests arriving, queued and running would exceed
        --max-inflight-body (default ${MAX_INFLIGHT_BODY_BYTES} bytes); a connection beyond
        --max-connections (default ${MAX_CONNECTIONS}) open is answered 503 and closed;
    500 {status:"ERROR", error, trace_id, workflow_code} when a PGS domain's snapshot fails to
        load, a runtime error aborts the run (trace_id null when no trace was started), or the
        answer would exceed --max-response (default ${MAX_RESPONSE_BYTES} bytes; the run happened:
        its trace_id is given).
  Browsers: a request carrying an Origin header (every browser sends one with a POST) is refused
  403 unless --allow-origin names that origin (scheme://host[:port], as the browser sends it;
  repeatable), and then answered with Access-Control-Allow-Origin: <origin>; --allow-origin '*'
  lets every web page drive the server (the PGS reference gateway's CORS). Clients that send no
  Origin (curl, scripts) are served as always, with Access-Control-Allow-Origin: *.
  GET /api/health answers {"ok": true}. Runs are serialised (one at a time on the data root): a
  request whose client disconnects while it waits for its turn leaves the queue and is never
  run (nobody could receive the answer); one whose run has started runs to completion.
  With --snapshot <file|digest> it serves a sealed Cairn snapshot (cairn wf compile) instead of
  a PGS workspace, resolved as \`cairn wf run --snapshot\` resolves it: a sha256: digest is read
  from --store or $CAIRN_STORE, traces go under --workspace (default ., $${WORKSPACE_ENV} is not
  read; the directory must exist), the data root is --data-root, else $${DATA_ROOT_ENV}, else
  <workspace>/${DEFAULT_DATA_ROOT_NAME}. workflow_code names one of the snapshot's workflows
  (<namespace>::<WF_CODE>; a 400 lists them). The snapshot is verified and prepared once at
  start: a tampered one fails to start with E_SNAPSHOT_INTEGRITY (exit 1), and one with
  lane-bound steps with E_USAGE (exit 2; serve has no execution-plane node, use \`cairn wf run
  --snapshot … --plane-config\`).
  The server holds the data root's lock from start to stop, so no other \`cairn wf run\` or
  \`cairn serve\` (on this host, as this user, with the same
  $TMPDIR or $CAIRN_DATA_ROOT_LOCK_DIR) runs workflows on that data root meanwhile; if
  another process holds it, serve waits up to --data-root-wait (default ${DEFAULT_DATA_ROOT_LOCK_WAIT_MS / 1000}s) and then
  fails to start with E_DATA_ROOT_LOCKED (exit 1).
  Prints "cairn: listening on http://HOST:PORT" to stderr, after "cairn: serving snapshot
  <digest>" with --snapshot (with --json also {"url"} to stdout, {"url", "snapshot"} with
  --snapshot); --port 0 picks a free port (with --host localhost, one free on both addresses:
  up to ${LOCALHOST_PORT_ATTEMPTS} tries). With --store or
  $CAIRN_STORE each run is recorded in the store. SIGINT, SIGTERM and SIGHUP stop the server
  gracefully (accepted runs finish; exit 0); a second one exits 1 at once.`;

/**
 * The stderr line telling the operator a run could not use a torn data-root file: the data root
 * as given and the file's path escaped (describe.ts `escapeControls`, ESC shows as \u001b, a
 * newline as \n), so a path cannot forge terminal output or a line of its own.
 */
export function tornFileLine(t: TornFile, dataRootShown: string): string {
  return `cairn: ${escapeControls(tornFileNote(t, dataRootShown))} (stop the server first)`;
}

/**
 * The start-up lines on stderr: "cairn: serving snapshot <digest>" (with --snapshot), then
 * "cairn: listening on <url>", escaped as `tornFileLine` (the URL carries the --host given).
 */
export function startLines(snapshot: string | null, url: string): string[] {
  return [...(snapshot === null ? [] : [`cairn: serving snapshot ${escapeControls(snapshot)}`]), `cairn: listening on ${escapeControls(url)}`];
}

/** Largest TCP port. */
const MAX_PORT = 65535;

/** An empty --host would make Node listen on every interface (its "unspecified address"), not the default. */
function parseHost(v: string): string {
  if (v.trim() === "") throw new InvalidArgumentError(`--host must not be empty (the default is ${DEFAULT_HOST}; listen on every interface with 0.0.0.0 or ::)`);
  return v;
}

/**
 * A byte size given to `flag` (`256KiB`, `48MiB`, `1GiB`, a byte count: `parseSize`, as for
 * `cairn run --max-memory`), at least one byte; E_USAGE naming the flag.
 */
function parseBytes(text: string, flag: string): number {
  let n: number;
  try {
    n = parseSize(text);
  } catch (err) {
    // parseSize says why (details.reason): out of range, or not a size at all
    const reason = err instanceof CairnError ? err.details.reason : undefined;
    if (reason === "too_large") throw new CairnError(ErrorCode.USAGE, `invalid ${flag} ${JSON.stringify(text)}: must be at most ${Number.MAX_SAFE_INTEGER} bytes (2^53 - 1)`, { field: flag, value: text });
    if (reason !== "too_small") throw new CairnError(ErrorCode.USAGE, `invalid ${flag} ${JSON.stringify(text)}: use e.g. 48MiB, 512KiB or a byte count`, { field: flag, value: text });
    n = 0; // below any size: refused as too small below
  }
  if (n < 1) throw new CairnError(ErrorCode.USAGE, `invalid ${flag} ${JSON.stringify(text)}: must be at least 1 byte`, { field: flag, value: text });
  return n;
}

/** One more --allow-origin: checked (`parseAllowedOrigin`) as it is read. */
function collectOrigin(v: string, previous: string[]): string[] {
  try {
    return [...previous, parseAllowedOrigin(v)];
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("serve a PGS workspace or a sealed Cairn snapshot over HTTP: POST /api/run, GET /api/health")
    .option("--port <n>", `TCP port (0 picks a free one)`, (v: string) => parseCount(v, "--port", MAX_PORT), DEFAULT_PORT)
    .option("--host <addr>", "address to listen on (localhost: both 127.0.0.1 and ::1)", parseHost, DEFAULT_HOST)
    .option("--workspace <dir>", `PGS workspace root (default $${WORKSPACE_ENV}); with --snapshot, where traces/ goes (default .)`)
    .option("--snapshot <file|digest>", "serve a sealed Cairn snapshot (cairn wf compile) instead of a PGS workspace")
    .option("--data-root <dir>", `data root for CS state (default $${DATA_ROOT_ENV}, else <workspace>/${DEFAULT_DATA_ROOT_NAME})`)
    .option(DATA_ROOT_WAIT_FLAG, DATA_ROOT_WAIT_DESCRIPTION, parseDataRootWait, DEFAULT_DATA_ROOT_LOCK_WAIT_MS)
    .addOption(repeatable(new Option("--allow-origin <origin>", "let web pages of this origin use the server (repeatable; '*' = every origin)").argParser(collectOrigin).default([])))
    .option(
      "--max-connections <n>",
      "most connections open at once, on every address (one more is answered 503 and closed)",
      (v: string) => parseCount(v, "--max-connections", Number.MAX_SAFE_INTEGER, 1),
      MAX_CONNECTIONS,
    )
    .option(
      "--max-body <size>",
      "largest request body (e.g. 4MiB; a larger one is answered 413)",
      (v: string) => parseBytes(v, "--max-body"),
      MAX_BODY_BYTES,
    )
    .option(
      "--max-queued <n>",
      "most runs waiting behind the running one (0: none; one more is answered 503)",
      (v: string) => parseCount(v, "--max-queued"),
      MAX_QUEUED_RUNS,
    )
    .option(
      "--max-inflight-body <size>",
      "most request-body bytes held at once, arriving, queued and running (e.g. 64MiB; at least --max-body; a request over it is answered 503 before its body is read)",
      (v: string) => parseBytes(v, "--max-inflight-body"),
      MAX_INFLIGHT_BODY_BYTES,
    )
    .option(
      "--max-response <size>",
      "largest answer sent (e.g. 16MiB; a run whose answer is larger is answered 500 naming its trace)",
      (v: string) => parseBytes(v, "--max-response"),
      MAX_RESPONSE_BYTES,
    )
    .addHelpText("after", SERVE_HELP)
    .action(async (opts: ServeOpts, cmd: Command) => {
      const g = globalsOf(cmd);
      const out = outputFor(cmd);
      const storeDir = g.store ?? process.env.CAIRN_STORE;
      const store = storeDir !== undefined && storeDir !== ""
        ? () => openStore({ dir: resolveStoreDir(g.store), create: true, lockTimeoutMs: g.wait ?? 0 })
        : undefined;
      if (opts.maxInflightBody < opts.maxBody) {
        throw new CairnError(
          ErrorCode.USAGE,
          `--max-inflight-body (${opts.maxInflightBody} bytes) must be at least --max-body (${opts.maxBody} bytes): a body the server accepts must fit in it`,
          { field: "--max-inflight-body", maxInflightBody: opts.maxInflightBody, maxBody: opts.maxBody },
        );
      }
      // A run that could not use a torn data-root file: the operator is told once per file (stderr, even under --quiet).
      // Its paths (the data root as given, the file under it) are escaped, as every line quoting user text (`wf run`'s notes).
      const onTornFile = (dataRootShown: string) => (t: TornFile): void => void process.stderr.write(`${tornFileLine(t, dataRootShown)}\n`);
      const limits = {
        allowOrigins: opts.allowOrigin, maxConnections: opts.maxConnections, maxBodyBytes: opts.maxBody, maxQueuedRuns: opts.maxQueued,
        maxInflightBodyBytes: opts.maxInflightBody, maxResponseBytes: opts.maxResponse,
      };
      // createServer takes the data root's lock for the server's life (E_DATA_ROOT_LOCKED if another process keeps it).
      let server: CairnServer;
      if (opts.snapshot !== undefined) {
        // As `wf run --snapshot`: the snapshot verified (a digest read from the store), traces under --workspace (default .).
        const { sealed, base, dataRootArg } = await snapshotSourceSetup(cmd, { snapshot: opts.snapshot, workspace: opts.workspace, dataRoot: opts.dataRoot });
        server = createServer({ snapshot: sealed, workspace: base, dataRoot: dataRootArg, store, dataRootLockWaitMs: opts.dataRootWait, onTornFile: onTornFile(dataRootArg), ...limits });
      } else {
        const workspaceArg = opts.workspace ?? process.env[WORKSPACE_ENV];
        if (workspaceArg === undefined || workspaceArg === "") {
          throw new CairnError(ErrorCode.USAGE, `--workspace <dir> (or $${WORKSPACE_ENV}) is required`, { field: "--workspace" });
        }
        const dataRootArg = opts.dataRoot ?? process.env[DATA_ROOT_ENV] ?? join(workspaceArg, DEFAULT_DATA_ROOT_NAME);
        if (dataRootArg === "") throw new CairnError(ErrorCode.USAGE, "--data-root must not be empty", { field: "--data-root" });
        // As `wf run`: a workspace that is not a directory is named first (the default data root
        // lies in it), then a data root that is a file, as given (field --data-root).
        requireWorkspaceDir(workspaceArg, opts.workspace === undefined ? WORKSPACE_ENV : undefined);
        checkDataRootArg(dataRootArg, opts.dataRoot);
        server = createServer({ workspace: workspaceArg, dataRoot: dataRootArg, store, dataRootLockWaitMs: opts.dataRootWait, onTornFile: onTornFile(dataRootArg), ...limits });
      }
      let url: string;
      try {
        url = await server.listen(opts.port, opts.host);
      } catch (err) {
        // listen() names what failed (server/app.ts `listenError`: the address in use, with
        // --host localhost perhaps ::1 only) and has closed the server; close() again is a no-op.
        await server.close();
        throw err;
      }
      // Before the URL is printed: once it is, a signal closes the server (never the default action).
      const closed = closeOnSignal(server, out);
      for (const line of startLines(server.snapshot, url)) process.stderr.write(`${line}\n`);
      if (out.json) out.line(JSON.stringify(server.snapshot === null ? { url } : { url, snapshot: server.snapshot }));
      await closed;
    });
}

/**
 * Resolves once `server` has closed after a signal: SIGINT, SIGTERM and SIGHUP (a closed
 * terminal) alike, as every long-running command (`INTERRUPT_SIGNALS`), so accepted runs finish
 * rather than the process dying mid-run; exit 0, or 1 if the close failed. A second signal
 * meanwhile exits 1 at once: its handlers are in place before the first ones are removed, so
 * no signal meets the default action while the server closes.
 */
function closeOnSignal(server: CairnServer, out: Output): Promise<void> {
  return new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals): void => {
      const force = (): void => {
        process.stderr.write("cairn: second signal, exiting without waiting\n");
        process.exit(1);
      };
      for (const s of INTERRUPT_SIGNALS) process.once(s, force);
      for (const s of INTERRUPT_SIGNALS) process.off(s, stop);
      // After a hang-up stderr's terminal is gone: a write to it fails (EIO) with an 'error'
      // event that, unheard, would end the process before the runs finish; nothing can be told.
      process.stderr.on("error", () => {});
      if (!out.quiet) process.stderr.write(`cairn: ${signal}, closing the server\n`);
      const finish = (): void => {
        for (const s of INTERRUPT_SIGNALS) process.off(s, force);
        done();
      };
      server.close().then(finish, (err: unknown) => {
        printError(err, out.json);
        process.exitCode = 1;
        finish();
      });
    };
    for (const s of INTERRUPT_SIGNALS) process.on(s, stop);
  });
}
