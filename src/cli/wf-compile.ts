/**
 * Cairn's own workflows on the command line:
 *
 * - `cairn wf compile <files|dirs…> [--out FILE] [--json]`: compiles YAML/JSON declarations
 *   (src/workflow/cairn) into one sealed snapshot, before any execution. Every problem is one
 *   line on stderr, `<file>: node <n>: <field>: <message> [E_COMPILE_…]` (with `--json`, the
 *   list is in `{"ok": false, "errors": [...]}` on stdout and one `E_COMPILE_FAILED` error on
 *   stderr). On success it prints the snapshot digest, writes the sealed file to `--out` and,
 *   with `--store`/`$CAIRN_STORE`, stores the snapshot (content artifact + module bundles,
 *   root `cairn-wf-snapshot:<digest>`). In order: an existing store is opened (locked), `--out`
 *   staged (`stageSealedOut`: its temp file written and synced, or the path checked — access
 *   W_OK — for one opened and written only at the commit), a new store created, `--out`
 *   committed: a store that cannot be opened leaves nothing written. A store that does not
 *   exist yet is created after the stage, so an `--out` that cannot be written leaves no new
 *   store (except a path written through out-file.ts — a device, a FIFO, another user's file —
 *   whose write fails only at the commit); an existing one is opened before the stage, so a
 *   signal while it waits for the store's lock leaves no temp file. SIGINT, SIGTERM and SIGHUP
 *   end the command through signals.ts `exitOnSignal` (the staged temp file removed, the same
 *   signal re-raised), also during a lock wait (`openStoreInterruptibly` polls the lock, so the
 *   handler runs at once). A store failure after the
 *   commit says the file was written (`writtenOutError`). `--out` is written atomically: a failed or killed
 *   write leaves the previous FILE as it was. `--out`
 *   naming stdout together with `--json` is a usage error (context.ts `refuseStdoutUnderJson`):
 *   stdout holds exactly one JSON value.
 *   Exit codes (house rule): 0 compiled; 1 compile errors (the declarations are bad input,
 *   like E_INVALID_INPUT), an unreadable/missing path or an --out that cannot be written;
 *   2 usage errors (no file, an empty path or --out, bad flag).
 * - `cairn wf run --snapshot FILE|digest`: `runSnapshot` below, called by workflow-commands.ts;
 *   `snapshotSourceSetup` (which snapshot, where traces and state go) is shared with
 *   `cairn serve --snapshot` (serve-command.ts).
 *   Same `--json` document and exit rule as the PGS path: 0 for a terminal SUCCESS or
 *   ALREADY_EXISTS, 1 otherwise (other statuses, runtime errors, integrity failures), 2 usage.
 */
import { accessSync, constants, existsSync, lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Command } from "commander";
import { CairnError, ErrorCode, UsageError, isCairnError, osErrorText, type ErrorCodeValue } from "../core/errors.js";
import { escapeControls, escapeControlsByLine } from "../core/describe.js";
import { isDigest, type Digest } from "../core/digest.js";
import { openStore, resolveStoreDir, type Store } from "../store/store.js";
import { FORMAT_FILE } from "../store/layout.js";
import { stageFileAtomicSync } from "../store/fsutil.js";
import { checkOutPath, OutFile } from "../store/out-file.js";
import { sweepDeadWriterTemps, taggedTempWriter } from "../store/temp-files.js";
import type { SealedSnapshot } from "../workflow/cairn/seal.js";
import type { CairnRunResult, PreparedSnapshot } from "../workflow/cairn/run.js";
import { checkDataRootHoldsState } from "../workflow/effects/confine.js";
import { acquireDataRootLock } from "../workflow/effects/data-root-lock.js";
import { DATA_ROOT_ENV, DEFAULT_DATA_ROOT_NAME } from "../workflow/pgs/constants.js";
import { prettyPy } from "../workflow/pgs/pyjson.js";
import type { PgsRunResult } from "../workflow/pgs/run.js";
import type { PyObject, PyValue } from "../workflow/pgs/value.js";
import { nonEmptyArg, requireNonEmpty } from "./args.js";
import { checkOutOutsideStore, globalsOf, outputFor, refuseStdoutUnderJson } from "./context.js";
import { printError, shownValue, type Output } from "./output.js";
import { exitOnSignal, openStoreInterruptibly } from "./signals.js";

const COMPILE_HELP = `
Notes:
  Compiles Cairn workflow declarations (YAML or JSON, format cairn.workflow/v1, schema
  schema/cairn-workflow.schema.json; a directory means its .yaml/.yml/.json files) into one
  sealed snapshot. Checked before anything runs: the schema; unknown capabilities (atoms, user
  CTs, modules, stores) and operations; inputs bound to nothing; routes to missing nodes;
  outcomes a node can end with that no route handles (unless routes.default exists);
  unreachable nodes; routing cycles without max_visits; no exit within the hop limit
  (max_hops, else 64); constant store inputs the runtime always refuses; lane bindings (kind,
  operation, inputs).
  Each error names the file, the node and the field, with a stable E_COMPILE_* code.
  The snapshot is RFC 8785 canonical JSON with every capability binding resolved (user CT
  bundles included); its digest is printed, --out writes the sealed file (atomically: a failed
  or interrupted write leaves the previous file as it was), and with --store (or $CAIRN_STORE)
  it is stored as an artifact (a store that cannot be opened leaves nothing written; a new
  store is created only after the --out temp file is written, so an --out that cannot be
  created creates no store). Docs: docs/workflow-cairn.md.
  Exit status: 0 compiled, 1 compile errors, unreadable input or an --out that cannot be
  written, 2 usage error (an empty path or --out is one, and so is --out naming stdout with
  --json: stdout then holds exactly one JSON value). SIGINT, SIGTERM or SIGHUP (also while
  waiting for the store's lock) removes the --out temp file and ends the command by that
  signal (a shell reports 130, 143, 129).`;

interface CompileOpts {
  out?: string;
}

export function wfCompileCommand(): Command {
  return new Command("compile")
    .description("compile Cairn workflow declarations (YAML/JSON) into a sealed snapshot")
    .argument("<paths...>", "declaration files or directories")
    .option("--out <file>", "write the sealed snapshot to this file (atomically)", nonEmptyArg("--out"))
    .addHelpText("after", COMPILE_HELP)
    // SIGINT, SIGTERM and SIGHUP end it as they end the other writing commands (signals.ts
    // `exitOnSignal`): --out's staged temp file removed, then the same signal re-raised.
    .action((paths: string[], opts: CompileOpts, cmd: Command) => exitOnSignal(() => {}, () => compileAction(paths, opts, cmd)));
}

/** `cairn wf compile`'s action (see the module comment). */
async function compileAction(paths: string[], opts: CompileOpts, cmd: Command): Promise<void> {
  const out = outputFor(cmd);
  paths.forEach((p, i) => requireNonEmpty(p, paths.length === 1 ? "argument <paths...>" : `argument <paths...> #${i + 1}`));
  // --json promises exactly one JSON value on stdout: the sealed file cannot go there too.
  refuseStdoutUnderJson(cmd, "--out", opts.out);
  // Checked before the store (when one is named) is opened or anything is written: the
  // sealed file never goes into it.
  const named = globalsOf(cmd).store ?? process.env.CAIRN_STORE;
  if (named !== undefined && named !== "") await checkOutOutsideStore(cmd, "--out", opts.out);
  // Loaded here, not at module load: `cairn wf run` of a PGS workspace never needs the compiler.
  const { compileWorkflows, formatDiagnostic } = await import("../workflow/cairn/compile.js");
  const { sealedFileBytes, storeSnapshot, SNAPSHOT_ROOT_PREFIX } = await import("../workflow/cairn/seal.js");
  const r = await compileWorkflows(paths);
  if (r.diagnostics.length > 0 || r.content === undefined) {
    if (out.json) out.line(JSON.stringify({ ok: false, errors: r.diagnostics }, null, 2));
    // A diagnostic quotes the declaration (its file name, keys): printed for a terminal, each line
    // with its control characters escaped (describe.ts `escapeControlsByLine`), as `printError` does.
    else for (const d of r.diagnostics) process.stderr.write(`cairn: ${escapeControlsByLine(formatDiagnostic(d))}\n`);
    printError(new CairnError(ErrorCode.COMPILE_FAILED, `${r.diagnostics.length} compile error${r.diagnostics.length === 1 ? "" : "s"}`, { errors: r.diagnostics.length }), out.json);
    process.exitCode = 1;
    return;
  }
  const { digest, bytes } = sealedFileBytes(r.content);
  // Never over a file the compile read: a declaration, a module or a file a module imports
  // (before 2026-11-27 `--out decl.yaml` replaced the declaration with the sealed snapshot).
  if (opts.out !== undefined) await checkOutPath("--out", opts.out, r.sources.map((f) => ({ file: f, what: `a file this compile reads (${f})` })));
  const g = globalsOf(cmd);
  const storeDir = g.store ?? process.env.CAIRN_STORE;
  // A store that does not exist yet is created only after --out is staged, so an --out that
  // cannot be written creates no store (earlier builds left a new, empty one); an existing
  // store is opened (locked: the wait may be long) before it, so a signal during the wait
  // leaves no temp file. Either way a store that cannot be opened fails the command with
  // nothing written (earlier builds wrote --out, then failed unnamed).
  const storePath = storeDir !== undefined && storeDir !== "" ? resolveStoreDir(g.store) : undefined;
  // The lock wait lets the signal handler run (`openStoreInterruptibly`): a signal during it
  // removes the staged temp file and ends the command, not --wait later.
  const open = async (): Promise<Store | undefined> => (storePath === undefined ? undefined : openStoreInterruptibly({ dir: storePath, create: true, lockTimeoutMs: g.wait ?? 0 }));
  let store = storePath !== undefined && existsSync(join(storePath, FORMAT_FILE)) ? await open() : undefined;
  let staged: StagedOut | undefined;
  try {
    if (opts.out !== undefined) staged = await stageSealedOut(opts.out, bytes);
    store ??= await open();
  } catch (err) {
    await staged?.abort();
    store?.close();
    throw err;
  }

  let stored = false;
  try {
    await staged?.commit();
    if (store !== undefined) {
      try {
        if (storeSnapshot(store, r.content) !== digest) throw new CairnError(ErrorCode.INTERNAL, "stored snapshot digest differs from the sealed one");
      } catch (err) {
        throw opts.out === undefined ? err : writtenOutError(err, opts.out);
      }
      stored = true;
    }
  } finally {
    store?.close();
  }
  if (out.json) {
    out.line(JSON.stringify({ ok: true, digest, out: opts.out ?? null, stored, root: stored ? `${SNAPSHOT_ROOT_PREFIX}${digest}` : null, workflows: r.workflows.map((w) => ({ workflow: w.fqdn, file: w.file, nodes: w.nodes })), modules: r.modules.map((m) => m.digest) }, null, 2));
  } else {
    // The names come from the declarations and the command line: their control characters escaped.
    for (const w of r.workflows) out.note(`compiled ${escapeControls(w.fqdn)} (${w.nodes} node${w.nodes === 1 ? "" : "s"}) from ${escapeControls(w.file)}`);
    if (opts.out !== undefined) out.note(`sealed snapshot written to ${escapeControls(opts.out)}`);
    if (stored) out.note(`stored in the store (root ${SNAPSHOT_ROOT_PREFIX}${digest})`);
    out.line(digest);
  }
}

/**
 * A store failure after `--out` was written: the same code, the message saying the sealed file
 * is there (and `details.out` naming it), so a failed command does not leave it behind unsaid.
 */
function writtenOutError(err: unknown, out: string): CairnError {
  const written = `; the sealed snapshot was written to --out ${out}`;
  if (isCairnError(err)) return new CairnError(err.code, `${err.message}${written}`, { ...err.details, out }, { cause: err });
  return new CairnError(ErrorCode.INTERNAL, `${(err as Error).message}${written}`, { out }, { cause: err });
}

/** Permission bits of a new `--out` file before the umask, as for a shell redirection. */
const NEW_OUT_FILE_MODE = 0o666;

function statOrUndefined(stat: (p: string) => Stats, path: string): Stats | undefined {
  try {
    return stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function writableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The file an `--out` of `path` replaces atomically and the mode it gets: a new file (in a
 * directory that takes one), or an existing regular file of this user (through a symlink: its
 * target) in a directory that takes a new file. Undefined for everything else, which is written
 * the way store/out-file.ts writes it (a path under /dev or /proc, a FIFO, a device, a dangling
 * symlink, another user's file…). The criteria are out-file.ts's.
 */
function atomicOutTarget(path: string): { target: string; mode: number; replaces: boolean } | undefined {
  if (/^\/(?:dev|proc)\//.test(path)) return undefined;
  const existing = statOrUndefined(statSync, path);
  if (existing === undefined) {
    return statOrUndefined(lstatSync, path) === undefined && writableDir(dirname(resolve(path))) ? { target: path, mode: NEW_OUT_FILE_MODE, replaces: false } : undefined;
  }
  if (existing.isDirectory()) throw Object.assign(new Error("EISDIR: is a directory"), { code: "EISDIR" });
  if (!existing.isFile() || existing.uid !== process.geteuid?.()) return undefined;
  const target = realpathSync(path);
  return writableDir(dirname(target)) ? { target, mode: existing.mode & 0o7777, replaces: true } : undefined;
}

/** A sealed `--out` prepared but not yet in place (`stageSealedOut`). */
interface StagedOut {
  /** Puts it in place (a failure removes the temp file: FILE stays as it was). */
  commit(): Promise<void>;
  /** Drops it: FILE stays as it was. Idempotent. */
  abort(): Promise<void>;
}

/** The `--out` failure: E_STORE_IO naming --out, like every output file's (`run --out`, `store get -o`). */
function cannotWriteOut(path: string, err: unknown): CairnError {
  const cause = isCairnError(err) && err.cause !== undefined ? err.cause : err;
  return new CairnError(ErrorCode.STORE_IO, `cannot write --out ${path}: ${osErrorText(cause)}`, { field: "--out", path }, { cause: err });
}

/**
 * Stages the sealed snapshot for `--out`; `commit` puts it in place. A new file, or an existing
 * regular file of this user, is replaced atomically (`atomicOutTarget`), as store/fsutil.ts
 * `writeFileAtomicSync` writes: the stage writes a temp file `<FILE>.<pid>-<pid space>-<16
 * hex>.tmp` beside it whole (a short write is continued, so ENOSPC or EFBIG fails the write
 * rather than truncating it), with FILE's mode for a replacement, and fsyncs it; the commit
 * renames it over FILE and fsyncs the directory. A failed write or a killed process leaves the
 * previous FILE as it was; the temp file is removed on failure and at exit (temp-files.ts
 * `trackExitTemp`), and one left by a killed writer by the next `--out` of the same FILE (the
 * dead-writer rule of store/temp-files.ts). Everything else goes through store/out-file.ts:
 * the stage checks it (access W_OK; store/out-file.ts `OutFile.open` opens it at the first write), the commit writes `/dev/stdout` (and the
 * other names of this process's stdout/stderr) to the stream and other paths through, as a
 * shell redirection would (such a write failing after the store was created, or a rename
 * failing, is the one way a failed `--out` can still leave a new store). A failure is
 * `cannotWriteOut`.
 */
async function stageSealedOut(path: string, bytes: Uint8Array): Promise<StagedOut> {
  try {
    const atomic = atomicOutTarget(path);
    if (atomic === undefined) return stageThrough(path, await OutFile.open(path), bytes);
    const { target, mode, replaces } = atomic;
    sweepDeadWriterTemps(dirname(resolve(target)), (name) => taggedTempWriter(name, `${basename(target)}.`));
    const file = stageFileAtomicSync(target, bytes, { mode, exactMode: replaces, trackExit: true });
    return {
      commit: async () => {
        try {
          file.commit();
        } catch (err) {
          throw cannotWriteOut(path, err);
        }
      },
      abort: async () => file.abort(),
    };
  } catch (err) {
    throw cannotWriteOut(path, err);
  }
}

/** The stage of an `--out` store/out-file.ts writes (opened: checked); the commit writes it. */
function stageThrough(path: string, file: OutFile, bytes: Uint8Array): StagedOut {
  return {
    commit: async () => {
      try {
        await file.write(bytes);
        await file.commit();
      } catch (err) {
        await file.abort();
        throw cannotWriteOut(path, err);
      }
    },
    abort: () => file.abort(),
  };
}

/** Where a snapshot is read from and where its runs write: `wf run --snapshot` and `serve --snapshot`. */
export interface SnapshotSourceOpts {
  /** `--snapshot`: a sealed file, or a `sha256:` digest loaded from the store. */
  snapshot: string;
  /** `--data-root`. */
  dataRoot?: string;
  /** `--workspace`: the base directory of `traces/` (default `.`; `$PGS_WORKSPACE` is not read). */
  workspace?: string;
}

export interface SnapshotRunOpts extends SnapshotSourceOpts {
  wf?: string;
  payload: PyObject;
  /** Write the trace pictures (the caller has awaited `loadTraceRenderer()`). */
  render?: boolean;
  /** How long the run waits for the data root's lock (`--data-root-wait`; default DEFAULT_DATA_ROOT_LOCK_WAIT_MS). */
  dataRootWaitMs?: number;
}

export async function loadSnapshotArg(arg: string, openRead: () => Store | undefined): Promise<SealedSnapshot> {
  const { loadSealedFile, loadSnapshotFromStore } = await import("../workflow/cairn/seal.js");
  if (isDigest(arg)) {
    const store = openRead();
    if (store === undefined) throw new UsageError(`--snapshot ${arg} is a digest: give --store (or $CAIRN_STORE) to load it`, { field: "--snapshot" });
    try {
      return loadSnapshotFromStore(store, arg as Digest);
    } finally {
      store.close();
    }
  }
  return loadSealedFile(arg);
}

/**
 * What `wf run --snapshot` and `serve --snapshot` share before anything runs: the global
 * options, whether a store is configured (`--store`, else `$CAIRN_STORE`), the snapshot loaded
 * and verified (a digest is read from that store, opened read-only), the base directory of
 * `traces/` (`--workspace`, default `.`, which must be a directory: `requireWorkspaceDir`) and
 * the data root (`--data-root`, else `$PGS_DATA_ROOT`, else `<base>/data`).
 */
export async function snapshotSourceSetup(cmd: Command, o: SnapshotSourceOpts): Promise<{ g: ReturnType<typeof globalsOf>; hasStore: boolean; sealed: SealedSnapshot; base: string; dataRootArg: string }> {
  requireNonEmpty(o.snapshot, "--snapshot");
  if (o.workspace !== undefined) requireNonEmpty(o.workspace, "--workspace");
  const g = globalsOf(cmd);
  const storeDir = g.store ?? process.env.CAIRN_STORE;
  const hasStore = storeDir !== undefined && storeDir !== "";
  const sealed = await loadSnapshotArg(o.snapshot, () => (hasStore ? openStore({ dir: resolveStoreDir(g.store), readOnly: true }) : undefined));
  const base = o.workspace ?? ".";
  // Traces go under it: a typo never creates a new tree (`cairn serve` refused it, `wf run` created it).
  requireWorkspaceDir(base);
  const dataRootArg = o.dataRoot ?? process.env[DATA_ROOT_ENV] ?? join(base, DEFAULT_DATA_ROOT_NAME);
  if (dataRootArg === "") throw new UsageError("--data-root must not be empty", { field: "--data-root" });
  checkDataRootArg(dataRootArg, o.dataRoot);
  return { g, hasStore, sealed, base, dataRootArg };
}

/**
 * The CLI's `checkDataRootHoldsState` (effects/confine.ts): a data root that exists but is not a
 * directory is refused before anything runs, named as the user gave it (`dataRootArg`: the
 * --data-root value, the environment's, or the default <workspace>/pgs_data) with the option as
 * `details.field` (`--data-root`), as `cairn serve` names it; one read from `$PGS_DATA_ROOT` (no
 * `dataRootFlag`, the variable set) says so, as `requireWorkspaceDir` does: `data root <dir>
 * (from $PGS_DATA_ROOT) cannot hold …`, `details.env`. (The library's own check names the
 * absolute path, field `dataRoot`.)
 */
export function checkDataRootArg(dataRootArg: string, dataRootFlag: string | undefined): void {
  const env = dataRootFlag === undefined && process.env[DATA_ROOT_ENV] !== undefined ? DATA_ROOT_ENV : undefined;
  try {
    checkDataRootHoldsState(resolve(dataRootArg), env === undefined ? dataRootArg : `${dataRootArg} (from $${env})`, "--data-root");
  } catch (err) {
    if (env === undefined || !(err instanceof CairnError)) throw err;
    throw new CairnError(err.code, err.message, { ...err.details, path: dataRootArg, env: `$${env}` });
  }
}

/** As serve's check (server/pgs-target.ts `isDirectory`): a path that cannot be stat'ed is no directory. */
function isDirectoryPath(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Refuses a workspace that is not a directory (missing, a regular file, a path through a file):
 * `E_NOT_FOUND` naming `--workspace`, in `cairn serve`'s words (server/app.ts `createServer`).
 * `env` names the variable the value came from when no `--workspace` was given.
 * `wf run` (both paths) and `serve --snapshot` check it before taking any lock or writing anything.
 */
export function requireWorkspaceDir(dir: string, env?: string): void {
  if (isDirectoryPath(dir)) return;
  const from = env === undefined ? "" : ` (from $${env})`;
  throw new CairnError(ErrorCode.NOT_FOUND, `workspace ${dir}${from} is not a directory`, { field: "--workspace", path: dir, ...(env === undefined ? {} : { env: `$${env}` }) });
}

/** `snapshotSourceSetup` plus the snapshot prepared for a run (`wf run --snapshot`, with or without a plane). */
export async function snapshotRunSetup(cmd: Command, o: SnapshotRunOpts): Promise<{ g: ReturnType<typeof globalsOf>; hasStore: boolean; prepared: PreparedSnapshot; base: string; dataRootArg: string }> {
  const { prepareSnapshot } = await import("../workflow/cairn/run.js");
  const { g, hasStore, sealed, base, dataRootArg } = await snapshotSourceSetup(cmd, o);
  return { g, hasStore, prepared: prepareSnapshot(sealed), base, dataRootArg };
}

/** `cairn wf run --snapshot …` (see the module comment). Returns the result as the PGS path's shape. */
export async function runSnapshot(cmd: Command, o: SnapshotRunOpts): Promise<{ result: CairnRunResult; shown: string; dataRootArg: string }> {
  const { runCairnWorkflow } = await import("../workflow/cairn/run.js");
  const { g, hasStore, prepared, base, dataRootArg } = await snapshotRunSetup(cmd, o);
  // The data root's lock first, then the store's (the order `cairn serve` takes them in).
  const dataRootLock = acquireDataRootLock(resolve(dataRootArg), o.dataRootWaitMs === undefined ? {} : { waitMs: o.dataRootWaitMs });
  let r: CairnRunResult;
  try {
    let store: Store | undefined;
    if (hasStore) store = openStore({ dir: resolveStoreDir(g.store), create: true, lockTimeoutMs: g.wait ?? 0 });
    try {
      r = runCairnWorkflow({
        snapshot: prepared, ...(o.wf === undefined ? {} : { workflow: o.wf }), payload: o.payload, dataRoot: resolve(dataRootArg), baseDir: resolve(base),
        ...(store === undefined ? {} : { store }), render: o.render === true, dataRootLock,
      });
    } finally {
      store?.close();
    }
  } finally {
    dataRootLock.release();
  }
  return { result: r, shown: join(base, r.traceDir), dataRootArg };
}

/**
 * The human lines of a run shared by both paths (workflow-commands.ts `printHuman`, `printSnapshotRun`),
 * `snapshot` and `exit` a sealed snapshot's digest and named exit, `note` why the pictures were not drawn. Every value comes
 * from user data (the declarations, the payload, a CT's result, --workspace): each one's control
 * characters are escaped (describe.ts `escapeControls`) before any color is painted, and the
 * surface is shown cut past SHOWN_VALUE_CHARS characters (output.ts `shownValue`); --json and the
 * trace files keep the real text.
 */
export function printRunLines(out: Output, r: PgsRunResult, traceDirShown: string, more: { snapshot?: string; exit?: { name: string; reason: string } | null; note?: string }): void {
  const status = out.paint(r.exitCode === 0 ? "green" : "red", escapeControls(r.status));
  out.line(`workflow: ${escapeControls(r.workflow)}`);
  if (more.snapshot !== undefined) out.line(`snapshot: ${escapeControls(more.snapshot)}`);
  out.line(`status: ${status}`);
  if (more.exit !== undefined && more.exit !== null) out.line(`exit: ${escapeControls(more.exit.name)} (${escapeControls(more.exit.reason)})`);
  out.line(`trace id: ${escapeControls(r.traceId)}`);
  out.line(`trace dir: ${escapeControls(traceDirShown)}`);
  const key = (node: string): string => node.slice(node.lastIndexOf("::") + 2);
  const hops = r.path.map((p) => `${key(p.node)} ${p.status}`);
  // A node a runtime error aborted inside its pipeline was entered (its earlier steps' effects
  // stand): shown, as examine shows it, though it has no status (it printed an empty path).
  if (r.error !== null && r.error.cc !== null && r.error.step !== null) hops.push(`${key(r.error.cc)} (aborted at step ${r.error.step})`);
  out.line(`path: ${escapeControls(hops.join(" → "))}`);
  if (r.surface.size > 0) out.line(`surface: ${shownValue(prettyPy(r.surface))}`);
  if (r.recorded !== null) out.note(`receipt: ${escapeControls(r.recorded.receipt)}`);
  if (more.note !== undefined) out.note(escapeControls(more.note));
}

/** Prints a snapshot run like the PGS path (`printRunLines`) and sets the exit code. */
export function printSnapshotRun(
  out: Output,
  r: CairnRunResult,
  shown: string,
  runJson: (r: PgsRunResult, shown: string) => PyObject,
  picturesNote: (r: PgsRunResult) => string | undefined,
): void {
  if (out.json) {
    const doc = runJson(r, shown);
    doc.set("snapshot", r.digests.snapshot);
    doc.set("exit", r.exit === null ? null : new Map<string, PyValue>([["name", r.exit.name], ["reason", r.exit.reason]]));
    out.line(prettyPy(doc));
  } else {
    printRunLines(out, r, shown, { snapshot: r.digests.snapshot, exit: r.exit, note: picturesNote(r) });
  }
  if (r.error !== null) printError(new CairnError(r.error.code as ErrorCodeValue, `Runtime error: ${r.error.message}`, { traceId: r.traceId, traceDir: shown }), out.json);
  process.exitCode = r.exitCode;
}
