/**
 * The PLEX engine on one machine: `run(dataset, fn, config)`.
 *
 *   ingest input → bundle function → plan (run id) → read records from the store →
 *   schedule pulses → execute (workers) / reuse committed pulses → commit each pulse →
 *   ordered merge → output artifact + Merkle root → reduce → manifest → report
 *
 * A run that is interrupted at any moment is continued by `resume(runId)` (or by running the
 * same command again): committed pulses are found by their receipts and not re-executed,
 * and the output and manifest come out byte-identical to an uninterrupted run.
 */
import { dirname, extname, join, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { lstat, open, readlink, rm, stat, type FileHandle } from "node:fs/promises";
import { createReadStream, type Stats } from "node:fs";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { canonicalBytes } from "../core/canonical.js";
import { CairnError, ErrorCode, isCairnError, osErrorText } from "../core/errors.js";
import { escapeControls } from "../core/describe.js";
import { digestStream, isDigest, sha256, type Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { lossOfReadError } from "../store/artifact-loss.js";
import { TMP_DIR } from "../store/layout.js";
import { trackExitTemp, untrackExitTemp } from "../store/temp-files.js";
import { normalizeConfig, recordLimitExplanation, workerInputBytes, type RunConfig, type RunConfigInput } from "./config.js";
import { canonicalText } from "./canonical-text.js";
import { ingest, storedRecordBatches, type Dataset, type IngestedInput } from "./ingest.js";
import { throwIfAborted } from "./abort.js";
import { checkDataset, checkDatasetConfig, checkFunctionSource, checkHooks, checkStore } from "./api-checks.js";
import { MAX_RECORD_BYTES, newReaderStats, type EURecord } from "./input/types.js";
import { OrderIndex } from "./order-index.js";
import { recordNoun, recordPlace, type RecordLocation } from "./input/ids.js";
import { PulseScheduler, type ScheduledPulse } from "./scheduler.js";
import {
  auditCommittedPulse, auditPulse, checkLostPulseReexecution, commitPulse, committedAttempts, executePulse, findCommittedPulse, inAuditSample, linkToPlan, rebuildLostRecords, restoreSlice, SliceWriter, type PulseSpec, type WorkEU,
} from "./pulse.js";
import {
  buildManifest, failureLine, loadManifest, manifestPulse, recordManifest, runStatus, ManifestSizeGuard, FAILURES_MEDIA_TYPE, MAX_MANIFEST_FAILURES, OUTPUT_MEDIA_TYPE, type Counts, type Manifest,
  type PulseEntry,
} from "./manifest.js";
import {
  checkRunId, ENGINE_NAME, ENGINE_VERSION, loadPlan, namedRunArtifactError, planRoot, recordPlan, reportRoot, requireRunArtifact, requireThisEngine, runIdOf, type RunPlan,
} from "./plan.js";
import { claimRun } from "./claims.js";
import { loadFunction, reduceItemOf, storeFunction, REDUCE_CHUNK_SIZE, type FunctionSource, type RunnerHandle, type StoredFunction } from "./runner.js";
import { bundleModule, MODULE_EXTENSIONS } from "./sandbox/bundle.js";
import { isFailedRecord, parseRecord } from "./records.js";
import { outputTree } from "./output-tree.js";
import { GroupCommitter, GROUP_COMMIT_MAX } from "./group-commit.js";
import { HeapGuard } from "./heap-guard.js";
import { cannotWrite, checkOutPath, namesOwnStream, outFileLocation, storeExclusion, withOutFile, within, type OutExclusion, type OutFile } from "../store/out-file.js";
import { IndexIdMerge, LeafSpill, OrderIndexMerge, type MergeCursor, type MergePulse } from "./merge.js";
import { heldBytes, type ReduceItem } from "./sandbox/pool.js";

/** Failures listed in the ExecutionResult: the manifest's (its first MAX_MANIFEST_FAILURES). */
export const MAX_RESULT_FAILURES = MAX_MANIFEST_FAILURES;
/** The ordered merge hands output to the store (and --out) in chunks of about this size. */
export const MERGE_CHUNK_BYTES = 256 * 1024;
export const REPORT_MEDIA_TYPE = "application/vnd.cairn.batch.report+json";
/** Progress reports sample the process RSS (for the run report's peak) at most this often. */
const RSS_SAMPLE_MS = 50;
/**
 * How --max-memory is shared out: buffered records and the records of in-flight pulses get this
 * share each, the results running pulses hold ENGINE_OUTPUT_SHARE, the store's page cache
 * CATALOG_CACHE_SHARE, each worker's heap WORKER_HEAP_SHARE (config.ts); the rest is left for
 * the process itself (Node, V8 isolates, SQLite, the ordering index).
 */
const ENGINE_BUFFER_SHARE = 0.1;
/**
 * The results running pulses hold on the main thread (record texts, error messages, bytes
 * outputs, from the first chunk that arrives until the pulse has committed) get this share of
 * --max-memory: pulses start only while those of the running ones fit it (scheduler.ts; one
 * pulse always runs).
 */
export const ENGINE_OUTPUT_SHARE = 0.1;
const CATALOG_CACHE_SHARE = 0.06;

export interface Progress {
  phase: "ingest" | "execute" | "merge" | "done";
  /** Known once the plan is recorded (after ingest). */
  runId: string | undefined;
  /** Input bytes read so far, and in all (known after ingest; for progress and ETA). */
  inputBytesRead: number;
  inputBytesTotal: number | undefined;
  eusDone: number;
  eusFailed: number;
  /** Records read from the input so far (all of them once `eusTotal` is known). */
  eusRead: number;
  /** Known once the whole input has been read. */
  eusTotal: number | undefined;
  pulsesDone: number;
  pulsesReused: number;
}

export interface RunHooks {
  onProgress?: (p: Progress) => void;
  /**
   * Stops the run when aborted: it rejects with E_INTERRUPTED at the next pulse boundary or
   * merge step, and at once while a text input or an in-memory dataset is ingested (also while
   * the dataset source has not produced its next element: abort.ts `abortable`; between files
   * for `files`). Pulses already running finish and commit
   * first (each EU is bounded by `euTimeoutMs`), so `resume(runId)` continues from them
   * (`details.runId`, once known).
   */
  signal?: AbortSignal;
  /** Also write the ordered output (JSONL) to this file. */
  outFile?: string;
  stdin?: Readable;
}

export interface ExecutionResult {
  runId: string;
  status: "completed" | "failed";
  counts: Counts;
  outputDigest: Digest;
  outputArtifact: Digest;
  manifestDigest: Digest;
  reduce?: unknown;
  failures: Manifest["failures"];
  /** True when the run had already completed and nothing was executed. */
  reused: boolean;
}

function resultOf(m: Manifest, digest: Digest, reused: boolean): ExecutionResult {
  const r: ExecutionResult = {
    runId: m.runId,
    status: runStatus(m),
    counts: { total: m.counts.total, completed: m.counts.completed, failed: m.counts.failed, retried: m.counts.retried },
    outputDigest: m.output.digest,
    outputArtifact: m.output.artifact,
    manifestDigest: digest,
    // One key order whether the manifest was just built or parsed from its canonical JSON (code, id, message).
    failures: m.failures.slice(0, MAX_RESULT_FAILURES).map((f) => ({ id: f.id, code: f.code, message: f.message })),
    reused,
  };
  if (m.reduce !== null) r.reduce = m.reduce.value;
  return r;
}

/**
 * Runs `fn` over every record of `dataset`. `store` must be open for writing. Wrong arguments
 * (not a Store, a dataset that is neither a path nor an iterable, a bad config or hook) are
 * E_USAGE naming them (`details.field`, api-checks.ts) before any store work.
 */
export async function run(store: Store, dataset: Dataset, fn: FunctionSource, config: RunConfigInput = {}, hooks: RunHooks = {}): Promise<ExecutionResult> {
  return runNamingOut(OUT_FILE_HOOK, store, dataset, fn, config, hooks);
}

/**
 * How the errors about `hooks.outFile` name it (`<name> <path> is the input file`, and
 * `details.field`): the library's `run` and `resume` say `outFile`, the hook's name; the CLI's
 * `cairn run` / `cairn resume`, which pass their `--out` as that hook, say `--out`
 * (`runNamingOut` / `resumeNamingOut`). Before 2026-11-27 a library caller was told `--out`.
 */
export const OUT_FILE_HOOK = "outFile";

/**
 * `run`, with `hooks.outFile` called `outName` in its errors (`OUT_FILE_HOOK`; the CLI: `--out`).
 * `outChecked`: the caller has made `checkOutFile`'s checks of `hooks.outFile` itself, with this
 * store's directory, before opening the store (the CLI's `cairn run`: `runOutExclusions`,
 * `checkOutTarget`, so that a refusal creates no store); they are not made twice. The files the
 * module imports are still checked once it is bundled, and the output file is still opened
 * before any work.
 */
export async function runNamingOut(outName: string, store: Store, dataset: Dataset, fn: FunctionSource, config: RunConfigInput = {}, hooks: RunHooks = {}, outChecked = false): Promise<ExecutionResult> {
  checkStore(store, "run");
  checkDataset(dataset);
  checkFunctionSource(fn);
  const cfg = normalizeConfig(config);
  checkHooks(hooks, dataset);
  throwIfAborted(hooks.signal, undefined);
  checkDatasetConfig(dataset, cfg.format, cfg.idField);
  if (!outChecked) await checkOutFile(outName, store, hooks.outFile, fn, dataset, cfg.format);
  // --out is opened before any work (out-file.ts) and completed when the run has finished.
  return withOutFile(hooks.outFile, (out) => planAndExecute(store, dataset, fn, cfg, hooks, out, outName));
}

/**
 * Refuses, with E_USAGE naming `outName` (`--out`, `outFile`) and the path, an output path that
 * is a directory — an existing one (through symlinks), or a path that ends in `/` — before
 * anything runs or is written. It was E_STORE_IO (EISDIR) when the output file was opened, after
 * the store was opened (or created); a missing path ending in `/` failed only when the run had
 * finished (ENOTDIR, renaming the output into place). This process's stdout/stderr names pass.
 */
export async function refuseDirectoryOut(outName: string, path: string): Promise<void> {
  if (namesOwnStream(path)) return;
  const st = await stat(path).catch(() => undefined);
  if (st?.isDirectory() === true) throw new CairnError(ErrorCode.USAGE, `${outName} ${path} is a directory; give a file path`, { field: outName, path });
  if (path.endsWith("/")) throw new CairnError(ErrorCode.USAGE, `${outName} ${path} names a directory (it ends in /); give a file path`, { field: outName, path });
}

/**
 * Refuses an output path that does not exist and whose directory does not exist (`--out
 * nodir/x`, `--out outdir/x/..`) or is not a directory (`--out file.txt/x`) with the error its
 * open would give — E_STORE_IO `cannot write <path>: ENOENT: no such file or directory` /
 * `ENOTDIR: not a directory` (out-file.ts `cannotWrite`, the one rule of every output a
 * command cannot write, ARCHITECTURE §7) — but before the store is opened or created: the CLI's
 * `cairn run` calls it first (before 2026-11-28 that error came once the store was open,
 * leaving a new store; `checkOutTarget`). A symlink is followed: a dangling one is written
 * through, creating its target (out-file.ts), so its target's directory must exist — else the
 * same E_STORE_IO, the message naming the link's target (`cannot write l: ENOENT: … (a symlink
 * to nodir/x)`); a symlink loop is E_STORE_IO `cannot write l: ELOOP: …`, as its open gave. Both
 * failed only when the output was written, the run done (ELOOP: once the store was open), before
 * 2026-11-28. An existing path, this process's stdout/stderr names, and a directory that cannot
 * be examined (EACCES…: the open reports it) pass.
 */
export async function refuseMissingOutDirectory(path: string): Promise<void> {
  if (namesOwnStream(path)) return;
  const link = await lstat(path).catch(() => undefined);
  if (link !== undefined && !link.isSymbolicLink()) return;
  let dir = dirname(path);
  if (link !== undefined) {
    try {
      await stat(path);
      return; // a symlink to an existing file
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP") throw cannotWrite(path, err);
      // ENOTDIR: its target lies below a file (`f.txt/x`), which the check below names.
      if (code !== "ENOENT" && code !== "ENOTDIR") return;
    }
    // Dangling: where the write creates the file, through any chain of links (out-file.ts).
    dir = dirname(await outFileLocation(path));
  }
  try {
    // `<dir>/.`: ENOENT when the directory is missing, ENOTDIR when it is a file, ELOOP through a loop (`loop/x`).
    await stat(`${dir}${sep}.`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR" && code !== "ELOOP") return;
    if (link === undefined) throw cannotWrite(path, err);
    const target = await readlink(path).catch(() => "?");
    const e = cannotWrite(path, err);
    throw new CairnError(e.code, `${e.message} (a symlink to ${target})`, { path, target }, { cause: err });
  }
}

/**
 * Refuses, with E_USAGE naming `outName`, an output path that the store directory `storeDir` lies
 * below (`--out SX --store SX/inner`): once the store is created there the path is a directory.
 * Before 2026-11-28 `cairn run` created the store and only then refused the directory, leaving
 * the new store behind. Compared by where the output would be written and the store's real
 * path as far as it exists (store/out-file.ts `outFileLocation`). An output in or at the store
 * is `checkOutPath`'s refusal. This process's stdout/stderr names pass.
 */
export async function refuseOutHoldingStore(outName: string, path: string, storeDir: string): Promise<void> {
  if (namesOwnStream(path)) return;
  const out = await outFileLocation(path);
  const store = await outFileLocation(storeDir);
  if (store === out || !within(out, store)) return;
  throw new CairnError(ErrorCode.USAGE, `${outName} ${path} would be a directory: the store ${storeDir} lies inside it; give a file path`, { field: outName, path });
}

/**
 * The checks of an output path that need no open store, only its directory `storeDir`, made by
 * the CLI's `cairn run` before the store is opened or created (after `checkOutPath`'s): not a
 * directory (`refuseDirectoryOut`), nor one the store would lie in (`refuseOutHoldingStore`), nor
 * in a directory that does not exist, also through a dangling symlink, nor a symlink loop
 * (`refuseMissingOutDirectory`). `runNamingOut` then does not check again (`outChecked`). The
 * library's `run` / `resume`, and so the CLI's `cairn resume` (after the run is found), make the
 * same checks in `checkOutFile` (with an open store, one it would lie in is a directory).
 */
export async function checkOutTarget(outName: string, path: string, storeDir: string): Promise<void> {
  await refuseDirectoryOut(outName, path);
  await refuseOutHoldingStore(outName, path, storeDir);
  await refuseMissingOutDirectory(path);
}

/**
 * The files of a run that its --out must not replace or be written inside, besides the store
 * (store/out-file.ts `OutExclusion`): the module file (`fn` a path), the input file (`dataset` a
 * path, not stdin) and, for the `files` format, the input directory (the output would be read as
 * input). Known from the arguments alone: the CLI's `cairn run` checks them before the store is
 * opened or created (`checkOutPath`; `runNamingOut` then skips `checkOutFile`: `outChecked`).
 */
export async function runOutExclusions(fn: FunctionSource | undefined, dataset: Dataset | undefined, format: RunConfig["format"] | undefined): Promise<OutExclusion[]> {
  const exclusions: OutExclusion[] = [];
  if (typeof fn === "string") exclusions.push({ file: fn, what: "the module file" });
  if (typeof dataset === "string" && dataset !== "-") {
    exclusions.push({ file: dataset, what: "the input file" });
    if (format === "files" && (await stat(dataset).catch(() => undefined))?.isDirectory() === true) exclusions.push({ dir: dataset, what: `the input directory ${dataset}` });
  }
  return exclusions;
}

/**
 * What --out must not replace or be written inside (store/out-file.ts `checkOutPath`, the one check
 * of every output path, as the CLI applies it): the store (its catalog, FORMAT, lock; anything
 * under it), the module file, the input file, and an input directory of the `files` format
 * (`runOutExclusions`); nor be a directory (`refuseDirectoryOut`); `also` (resume:
 * `checkOutNotRunSource`); nor lie in a directory that does not exist, also through a dangling
 * symlink, nor be a symlink loop (`refuseMissingOutDirectory`: the E_STORE_IO its open gives,
 * after the E_USAGE refusals). Checked before anything is written; the files the module imports
 * are checked once it is bundled (planAndExecute), still before the output is written.
 * `outName` names it in the errors.
 */
async function checkOutFile(
  outName: string,
  store: Store,
  outFile: string | undefined,
  fn: FunctionSource | undefined,
  dataset: Dataset | undefined,
  format: RunConfig["format"] | undefined,
  also?: (outFile: string) => Promise<void>,
): Promise<void> {
  if (outFile === undefined) return;
  const exclusions: OutExclusion[] = [storeExclusion(store.root), ...(await runOutExclusions(fn, dataset, format))];
  await checkOutPath(outName, outFile, exclusions);
  await refuseDirectoryOut(outName, outFile);
  await also?.(outFile);
  await refuseMissingOutDirectory(outFile);
}

/**
 * How many files of a `files` input's listing `checkOutNotRunSource` looks for in each directory
 * above --out: the first ones (in path order) that are not empty; all of them must be there, as
 * the run read them, for the directory to be taken for the input directory. Bounded work however
 * large the input.
 */
export const OUT_INPUT_DIR_PROBES = 3;

/**
 * An existing --out with a module extension larger than this is not bundled by
 * `checkOutNotRunSource` (it is not plausibly a module's entry source, and bundling it in full,
 * with its imports, is unbounded work): it is not taken for the run's module.
 */
export const OUT_MODULE_PROBE_MAX_BYTES = 4 * 1024 * 1024;

/** The digest of no bytes: an empty file, which tells nothing about where it lies. */
const EMPTY_DIGEST = sha256(new Uint8Array(0));

/** Module-bundling errors that mean the file is not a module that bundles (not the run's module). */
const NOT_A_MODULE_CODES: readonly string[] = [ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND, ErrorCode.USAGE];

/** Whether an fs error says the path is not there (nothing to compare with). */
function isMissingPath(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * The recorded size of a run's artifact, or undefined when it is deleted from the store
 * (tombstoned: `artifactLoss`); one whose bytes were collected keeps its size. Any other error
 * is the store's own.
 */
function recordedSize(store: Store, digest: Digest): number | undefined {
  try {
    return store.stat(digest).size;
  } catch (err) {
    if (lossOfReadError(store, err, digest) !== undefined) return undefined;
    throw err;
  }
}

/**
 * The `[name, digest]` entries of run `runId`'s `files` input listing (ingest.ts: canonical JSON
 * `{ files: [[name, digest], …], kind: "cairn.batch.files" }`), or undefined when it is deleted
 * from the store (tombstoned or collected). A listing that is not JSON or not of that shape (a
 * name that is not a relative path of `/`-separated segments, a digest that is not one) is
 * E_STORE_CORRUPT; any other error (E_STORE_IO, E_LIMIT_EXCEEDED…) is the store's own.
 */
function readFilesListing(store: Store, runId: string, digest: Digest): Array<[string, Digest]> | undefined {
  let bytes: Buffer;
  try {
    bytes = store.get(digest);
  } catch (err) {
    if (lossOfReadError(store, err, digest) !== undefined) return undefined;
    throw err;
  }
  const corrupt = (why: string): CairnError =>
    new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its input listing ${digest} ${why}`, { runId, digest });
  let listing: unknown;
  try {
    listing = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw corrupt(`is not JSON: ${err.message}`);
  }
  const files = (listing as { files?: unknown } | null)?.files;
  if (typeof listing !== "object" || listing === null || (listing as { kind?: unknown }).kind !== "cairn.batch.files" || !Array.isArray(files)) {
    throw corrupt("is not a files listing");
  }
  for (const [i, entry] of (files as unknown[]).entries()) {
    const ok =
      Array.isArray(entry) && entry.length === 2 && typeof entry[0] === "string" && isDigest(entry[1]) &&
      entry[0].split("/").every((s) => s !== "" && s !== "." && s !== "..");
    if (!ok) throw corrupt(`is not a files listing: entry ${i} is not [relative name, digest]`);
  }
  return files as Array<[string, Digest]>;
}

/**
 * resume's --out check of what the run read (`checkOutFile` knows no paths there: the plan and
 * manifest record digests, not paths, and must not). By content, before anything is written,
 * --out (its real location, through symlinks) must not be:
 *  - a regular file holding the run's input artifact (same size, then same digest): the input file,
 *    or a byte-identical copy of it — resume cannot tell them apart. An empty input is not
 *    compared (nothing to destroy; any empty file would match);
 *  - a module file (a MODULE_EXTENSIONS name, at most OUT_MODULE_PROBE_MAX_BYTES) that bundles
 *    to the run's function artifact: the module file, or a copy that bundles the same (the bundle
 *    records the entry file's name: a copy under another name is not detected; the store records
 *    the bundle, not the sources' digests, so a file the module imports is not detected either);
 *    one that does not bundle (E_INVALID_INPUT, E_NOT_FOUND, E_USAGE from bundling) is not it;
 *  - for a `files` input, inside a directory A (any ancestor of --out's location) that holds each
 *    of the listing's first OUT_INPUT_DIR_PROBES non-empty files at its relative path, a regular
 *    file of the recorded size and digest: the input directory as the run read it. Empty files
 *    are not probed (an empty `__init__.py` or `.gitkeep` is in many directories); an input
 *    directory one of whose probed files changed since, or whose files are all empty, is not
 *    detected.
 * Files are hashed only when their size matches. An input, listing or probed file deleted from the
 * store (tombstoned; a listing also when collected) cannot be compared and is not checked. A path
 * that is not there (ENOENT, ENOTDIR) holds nothing; any other fs error is E_STORE_IO, and the
 * store's errors are its own.
 */
async function checkOutNotRunSource(flag: string, store: Store, runId: string, outFile: string, plan: RunPlan): Promise<void> {
  if (namesOwnStream(outFile)) return;
  const refuse = (why: string): CairnError => new CairnError(ErrorCode.USAGE, `${flag} ${outFile} ${why}`, { field: flag, path: outFile });
  const cannotCheck = (path: string, err: unknown): CairnError =>
    new CairnError(ErrorCode.STORE_IO, `${flag} ${outFile}: cannot compare ${path} with what run ${runId} read: ${osErrorText(err)}`, { field: flag, path: outFile, runId }, { cause: err });
  const location = await outFileLocation(outFile);
  const fileStat = async (path: string): Promise<Stats | undefined> => {
    try {
      return await lstat(path);
    } catch (err) {
      if (isMissingPath(err)) return undefined;
      throw cannotCheck(path, err);
    }
  };
  const holds = async (path: string, digest: Digest, bytes: number): Promise<boolean> => {
    const st = await fileStat(path);
    if (st === undefined || !st.isFile() || st.size !== bytes) return false;
    try {
      return (await digestStream(createReadStream(path))).digest === digest;
    } catch (err) {
      if (isMissingPath(err)) return false; // removed since
      throw cannotCheck(path, err);
    }
  };
  if (plan.input.format !== "files") {
    const input = plan.input.artifact;
    const bytes = recordedSize(store, input);
    if (bytes !== undefined && bytes > 0 && (await holds(location, input, bytes))) {
      throw refuse(`holds this run's input (${input}): writing the output there would replace it`);
    }
  } else {
    const listing = readFilesListing(store, runId, plan.input.artifact);
    const probes: Array<{ name: string; digest: Digest; bytes: number }> = [];
    for (const [name, digest] of listing ?? []) {
      if (probes.length === OUT_INPUT_DIR_PROBES) break;
      if (digest === EMPTY_DIGEST) continue;
      const bytes = recordedSize(store, digest);
      if (bytes === undefined) {
        probes.length = 0; // a listed file deleted from the store: the directory cannot be compared
        break;
      }
      probes.push({ name, digest, bytes });
    }
    for (let dir = dirname(location); probes.length > 0; ) {
      let all = true;
      for (const p of probes) {
        if (!(await holds(join(dir, ...p.name.split("/")), p.digest, p.bytes))) {
          all = false;
          break;
        }
      }
      if (all) {
        throw refuse(`is inside ${dir}, which holds this run's input files (${probes.map((p) => p.name).join(", ")} as the run read them): the output would be read as input by the next run of the directory`);
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  if (MODULE_EXTENSIONS.includes(extname(location).toLowerCase())) {
    const st = await fileStat(location);
    if (st?.isFile() === true && st.size <= OUT_MODULE_PROBE_MAX_BYTES) {
      let bundled: Digest | undefined;
      try {
        bundled = (await bundleModule(location)).digest;
      } catch (err) {
        if (!(isCairnError(err) && NOT_A_MODULE_CODES.includes(err.code))) throw err;
      }
      if (bundled === plan.function.artifact) throw refuse(`is this run's module: it bundles to the run's function ${plan.function.artifact}; writing the output there would replace it`);
    }
  }
}

async function planAndExecute(store: Store, dataset: Dataset, fn: FunctionSource, cfg: RunConfig, hooks: RunHooks, out: OutFile | undefined, outName: string): Promise<ExecutionResult> {
  hooks.onProgress?.({ phase: "ingest", runId: undefined, inputBytesRead: 0, inputBytesTotal: undefined, eusDone: 0, eusFailed: 0, eusRead: 0, eusTotal: undefined, pulsesDone: 0, pulsesReused: 0 });
  // A file input is ingested while the module is bundled, and the workers start (and import
  // the bundle) while the rest of the input is ingested: they need only the stored bundle and
  // the config. Stdin and in-memory datasets are read only once the module has bundled, so a
  // broken module consumes nothing. The pool is this call's (`RunPool`): execute() uses it, and
  // the finally below closes it on every way out — before 2026-11-28 each failure path closed
  // it itself, and one that did not (the store closed under an in-memory run while the pool
  // started) left a worker thread keeping the process alive.
  const concurrent = typeof dataset === "string" && dataset !== "-";
  const ingesting = concurrent ? ingest(store, dataset, cfg.format, hooks.stdin, hooks.signal, workerInputBytes(cfg)) : undefined;
  ingesting?.catch(() => {}); // observed below
  let func: StoredFunction;
  try {
    func = await storeFunction(store, fn);
    // Nor over a file the module imports (known once it is bundled; the output is written to a
    // temp file and renamed over its path only when the run ends, so nothing is replaced yet).
    if (hooks.outFile !== undefined && func.sources !== undefined) {
      await checkOutPath(outName, hooks.outFile, func.sources.map((f) => ({ file: f, what: `a file the module imports (${f})` })));
    }
  } catch (err) {
    await ingesting?.catch(() => {}); // the module's error comes first, as if read in order
    throw err;
  }
  const stored = func;
  const pool = new RunPool(hooks.signal, (signal) => loadFunction(store, stored.artifact, cfg, stored.name, stored.locate, signal));
  try {
    pool.start(); // observed in execute(), or closed below
    let input: IngestedInput;
    try {
      input = await (ingesting ?? ingest(store, dataset, cfg.format, hooks.stdin, hooks.signal, workerInputBytes(cfg)));
      throwIfAborted(hooks.signal, undefined);
    } catch (err) {
      throw withRecordLimitHint(err, cfg); // a line over the limit, refused while stored: as when read
    }
    const plan: RunPlan = {
      kind: "cairn.batch.plan",
      engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
      config: cfg,
      input: { artifact: input.artifact, format: input.format },
      function: { artifact: func.artifact, name: func.name },
    };
    const runId = runIdOf(plan);
    // One execution of a run id at a time on this store handle (claims.ts): a call of the same
    // run id already executing is waited for, with the pool closed meanwhile (restarted if needed).
    const claim = await claimRun(store, runId, hooks.signal, () => pool.close());
    try {
      recordPlan(store, plan);
      // Continue with the pinned plan: a run first planned from another spelling of the input
      // path has the same id, and its manifest must name the same plan.
      const pinned = loadPlan(store, runId);
      // The run id is reported as soon as the plan is recorded (Progress.runId), before the first
      // worker may have imported the module (which may take long): a caller stopped meanwhile
      // (the CLI's ^C) names the run to resume, not "before the run started" (until 2026-11-28
      // the first report naming it came once the module was imported).
      hooks.onProgress?.({ phase: "ingest", runId, inputBytesRead: 0, inputBytesTotal: undefined, eusDone: 0, eusFailed: 0, eusRead: 0, eusTotal: undefined, pulsesDone: 0, pulsesReused: 0 });
      return await execute(store, runId, pinned.plan, pinned.planDigest, hooks, out, pool, input.source);
    } finally {
      // Closed before the claim is released: a call waiting for this run id starts its own pool
      // only once this one's workers are gone (never twice --workers threads at once).
      await pool.close();
      claim.release();
    }
  } finally {
    await pool.close(); // the paths before the claim (ingest, bundling, planning failed); a no-op after it
  }
}

/**
 * The worker pool of one `run` or `resume` call. Started at most once at a time (`start`, or
 * the first `runner()`), possibly before it is needed (beside ingest); closed by the call's
 * `finally` whatever happens (`close` is idempotent, and a later `runner()` starts a new one:
 * a run that waited for another execution of its id). A pool that failed to start has nothing
 * to close; that failure is reported by `runner()`, or is moot if the run failed otherwise.
 * A start in progress (the first worker importing the module) ends at once — the worker
 * terminated — when the call's signal aborts or the pool is closed (the start's own signal,
 * WorkerPoolOptions.signal): before 2026-11-28 an abort, and the `finally` that closes the
 * pool, waited for the import to finish or time out (up to 60 s after a ^C).
 */
class RunPool {
  private pool: Promise<RunnerHandle> | undefined;
  /** Ends the start in progress (close()). */
  private stop: AbortController | undefined;

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly load: (signal: AbortSignal) => Promise<RunnerHandle>,
  ) {}

  start(): void {
    if (this.pool !== undefined) return;
    const stop = new AbortController();
    // The call's abort reaches the start through `stop` (its listener removed once the start
    // settles: a caller's long-lived signal keeps nothing of this pool).
    const signal = this.signal;
    const forward = (): void => stop.abort(signal?.reason);
    if (signal?.aborted === true) forward();
    else signal?.addEventListener("abort", forward, { once: true });
    const p = this.load(stop.signal);
    p.then(
      () => signal?.removeEventListener("abort", forward),
      () => signal?.removeEventListener("abort", forward),
    );
    this.pool = p;
    this.stop = stop;
  }

  /**
   * The started pool (a module that cannot be imported rejects here). A start the call's signal
   * ended rejects with the E_INTERRUPTED an abort gives at this point of run `runId`.
   */
  async runner(runId: string): Promise<RunnerHandle> {
    this.start();
    try {
      return await (this.pool as Promise<RunnerHandle>);
    } catch (err) {
      if (isCairnError(err, ErrorCode.INTERRUPTED)) throwIfAborted(this.signal, runId);
      throw err;
    }
  }

  async close(): Promise<void> {
    const p = this.pool;
    const stop = this.stop;
    this.pool = undefined;
    this.stop = undefined;
    if (p === undefined) return;
    stop?.abort(new CairnError(ErrorCode.USAGE, "the run's worker pool is closed")); // a start in progress ends now
    let handle: RunnerHandle;
    try {
      handle = await p;
    } catch {
      return; // the pool never started: nothing to close
    }
    await handle.close();
  }
}

/** Continues (or reports) a run from its stored plan. */
export async function resume(store: Store, runId: string, hooks: RunHooks = {}): Promise<ExecutionResult> {
  return resumeNamingOut(OUT_FILE_HOOK, store, runId, hooks);
}

/** `resume`, with `hooks.outFile` called `outName` in its errors (`OUT_FILE_HOOK`; the CLI: `--out`). */
export async function resumeNamingOut(outName: string, store: Store, runId: string, hooks: RunHooks = {}): Promise<ExecutionResult> {
  checkStore(store, "resume");
  checkHooks(hooks);
  const planned = loadPlan(store, runId).plan; // a malformed or unknown run id first
  throwIfAborted(hooks.signal, runId);
  await checkOutFile(outName, store, hooks.outFile, undefined, undefined, undefined, (outFile) => checkOutNotRunSource(outName, store, runId, outFile, planned));
  return withOutFile(hooks.outFile, async (out) => {
    const claim = await claimRun(store, runId, hooks.signal); // waits for a call executing this run id (claims.ts)
    try {
      // Read after the wait: a run that failed on its input meanwhile is forgotten (E_NOT_FOUND).
      const { plan, planDigest } = loadPlan(store, runId);
      // Started by execute() once it knows the run must execute; closed here on every way out.
      const pool = new RunPool(hooks.signal, (signal) => loadFunction(store, plan.function.artifact, plan.config, plan.function.name, undefined, signal));
      try {
        return await execute(store, runId, plan, planDigest, hooks, out, pool);
      } finally {
        await pool.close();
      }
    } finally {
      claim.release();
    }
  });
}

/**
 * Continues (or reports) the run `runId` on `pool` (started here if the run must execute; its
 * owner, the caller, closes it). `source` names the input in messages and in the run report (for
 * `runs ls`) as the caller gave it; a resumed run has none, so its messages name the input
 * artifact (`input sha256:…`) and its report the bare digest, as `runs ls` names an unfinished
 * run's input (until 2026-11-28 the report held "input sha256:…"). The store closed under the run (by the caller, mid-run) is E_USAGE naming the
 * run to resume (`closedStoreError`).
 */
async function execute(
  store: Store,
  runId: string,
  plan: RunPlan,
  planDigest: Digest,
  hooks: RunHooks,
  out: OutFile | undefined,
  pool: RunPool,
  source?: string,
): Promise<ExecutionResult> {
  try {
    return await executeRun(store, runId, plan, planDigest, hooks, out, pool, source);
  } catch (err) {
    throw closedStoreError(store, runId, err);
  }
}

/**
 * A run whose store was closed under it (the store's E_USAGE "store is closed" / "store was
 * closed while … was in flight") stopped where an interrupted run stops: its plan and committed
 * pulses are in the store and `resume` continues it. The error stays E_USAGE (closing the store
 * under a running run is the caller's misuse, not an interrupt it asked for), now naming the run
 * as E_INTERRUPTED does: `details.runId`, and a message ending with how to continue (before
 * 2026-11-28 it did not name the run). A run that had finished (`finished`: answered from its
 * manifest, its output being copied to `outFile`) is said to be finished, not incomplete. Other
 * errors pass unchanged.
 */
function closedStoreError(store: Store, runId: string, err: unknown, finished = false): unknown {
  if (!(err instanceof CairnError) || err.code !== ErrorCode.USAGE || err.details.runId !== undefined || !store.closed) return err;
  const next = finished
    ? "the run is finished: open the store again to read its output"
    : `the run is incomplete, its committed pulses are kept: open the store again and resume it (resume(store, "${runId}"))`;
  return new CairnError(ErrorCode.USAGE, `run ${runId}: ${err.message}; ${next}`, { ...err.details, runId }, { cause: err });
}

async function executeRun(
  store: Store,
  runId: string,
  plan: RunPlan,
  planDigest: Digest,
  hooks: RunHooks,
  out: OutFile | undefined,
  pool: RunPool,
  typedSource: string | undefined,
): Promise<ExecutionResult> {
  const source = typedSource ?? `input ${plan.input.artifact}`;
  const done = loadManifest(store, runId);
  if (done !== undefined) {
    await pool.close(); // a pool started beside ingest is not needed
    try {
      // An output deleted since the run: named with the remedy, not the store's bare not-found
      // (with --out), nor a finished run reported whose output cannot be read (without).
      requireRunArtifact(store, runId, "output", done.manifest.output.artifact);
      if (out !== undefined) for await (const chunk of store.openReadStream(done.manifest.output.artifact)) await out.write(chunk as Buffer);
      // The final `done` report, as a run that executed sends it: a progress display completes.
      hooks.onProgress?.(reusedProgress(store, runId, plan, done.manifest));
      return resultOf(done.manifest, done.digest, true);
    } catch (err) {
      throw closedStoreError(store, runId, err, true);
    }
  }
  // A finished run is reported whatever made it; continuing one needs the engine that planned it,
  // and its function bundle and input (a resume reads them back: name one deleted since).
  requireThisEngine(plan.engine, runId, "resumed");
  requireRunArtifact(store, runId, "function bundle", plan.function.artifact);
  requireRunArtifact(store, runId, "input", plan.input.artifact);
  const started = Date.now();
  const cpu0 = process.cpuUsage();
  let peakRss = process.memoryUsage().rss;
  const cfg = plan.config;
  const fnDigest = plan.function.artifact;
  let runner: RunnerHandle;
  try {
    runner = await pool.runner(runId);
  } catch (err) {
    forgetIfHopeless(store, runId, err); // e.g. a module without a default export
    throw err;
  }
  const input: IngestedInput = { artifact: plan.input.artifact, format: plan.input.format, source };
  const inputBytesTotal = store.stat(input.artifact).size;
  const previousCache = store.setCacheBytes(Math.floor(cfg.maxMemoryBytes * CATALOG_CACHE_SHARE));
  /** The catalog cache bound put back; nothing to put back on a store closed meanwhile (its error is the run's). */
  const restoreCache = (): void => {
    try {
      store.setCacheBytes(previousCache);
    } catch (err) {
      if (!store.closed) throw err;
    }
  };
  const byIndex = cfg.idField === null;
  const noun = recordNoun(plan.input.format);
  const tmpBase = join(store.root, TMP_DIR, `run-${runId}-${randomBytes(4).toString("hex")}`);
  let index: OrderIndex | undefined;
  let spill: LeafSpill | undefined;
  try {
    index = new OrderIndex(`${tmpBase}.order.sqlite`, byIndex, noun);
    // Index ids merge straight from the committed pulses; only their leaf hashes wait on disk.
    if (byIndex) spill = new LeafSpill(`${tmpBase}.leaves`);
  } catch (err) {
    index?.close();
    restoreCache();
    throw err; // the pool is closed by its owner
  }
  const mergePulses: MergePulse[] = [];
  // Commits of executed pulses may wait for more to join their group while other pulses still
  // execute and nothing waits on them (scheduler.ts `commitUrgent`): one store transaction then
  // commits many small pulses, not the one to four in flight (a run of 51 000 one-EU pulses paid
  // ~20 000 commits, and their fsyncs, on its main thread).
  const committer = new GroupCommitter(store, () => !scheduler.commitUrgent());
  /** Each committed pulse's manifest entry (its attempt log only when small: manifest.ts). */
  const pulses: PulseEntry[] = [];
  const manifestSize = new ManifestSizeGuard(runId);
  const stats = newReaderStats();
  const progress: Progress = {
    phase: "execute",
    runId,
    inputBytesRead: 0,
    inputBytesTotal,
    eusDone: 0,
    eusFailed: 0,
    eusRead: 0,
    eusTotal: undefined,
    pulsesDone: 0,
    pulsesReused: 0,
  };
  let rssAt = 0;
  const heapGuard = new HeapGuard(cfg.maxMemoryBytes);
  /**
   * Samples the RSS (at most every RSS_SAMPLE_MS) for the peak figure and the heap guard; called
   * as each chunk of a pulse's results arrives (a long pulse makes garbage too), never throws.
   */
  const sampleRss = (): void => {
    const now = Date.now();
    if (now - rssAt < RSS_SAMPLE_MS) return;
    rssAt = now;
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    heapGuard.check(rss, now);
  };
  /** sampleRss after every pulse and merge chunk, which is also where an aborted signal stops the run. */
  const sampleMemory = (): void => {
    throwIfAborted(hooks.signal, runId);
    sampleRss();
  };
  /** Reports progress; all but the final report also sample memory and stop on an abort. */
  const report = (final = false): void => {
    if (!final) sampleMemory();
    progress.inputBytesRead = input.format === "files" ? (progress.inputBytesTotal as number) : stats.bytes;
    hooks.onProgress?.({ ...progress });
  };

  /**
   * `commit`, the pulse's queued commit: from here `sp` no longer executes (another may start on
   * its slot, scheduler.ts `executed`) but holds its partition and budgets until it settles.
   */
  const awaitingCommit = <T>(sp: ScheduledPulse, commit: Promise<T>): Promise<T> => {
    scheduler.executed(sp);
    return commit;
  };

  const runPulse = async (sp: ScheduledPulse): Promise<void> => {
    const spec = toSpec(sp, noun);
    // Every chunk of results this pulse's requests (attempts, audit) return is held until the
    // pulse settles: the scheduler counts it against the output budget. A failure is projected
    // `retries` more times (its retries come back, and its message stays in the attempt log).
    const pulseRunner = runner.pulsesTelling((rs) => {
      const held = heldBytes(rs);
      scheduler.addOutput(sp, held.all, rs.length, held.all + cfg.retries * held.failures);
      sampleRss();
    });
    // One receipt lookup: the pulse committed (reused), committed but its records or attempt
    // log deleted since or collected by gc (`lost`), or not committed.
    const found = findCommittedPulse(store, fnDigest, cfg, spec);
    let result = found?.committed;
    const lost = found?.lost;
    if (lost !== undefined && !lost.attemptsLost) {
      // Only its records: each EU runs once again at the attempt number that completed it (its
      // committed attempt log says which), and the records are stored again only when they are
      // the committed bytes; its receipt and attempt log stay. Not a plain re-execution: an EU
      // that passed on retry for a reason that does not repeat would then pass at once.
      const { log, first } = committedAttempts(store, spec, lost, cfg.retries);
      const { outcomes, attempts, leaves, checksum } = await executePulse(pulseRunner, spec.eus, 0, spec, first);
      if (inAuditSample(cfg, spec.partition, spec.index)) await auditPulse(pulseRunner, spec, outcomes, attempts, leaves, checksum);
      result = await awaitingCommit(sp, committer.commit(() => rebuildLostRecords(store, runId, planDigest, spec, lost, outcomes, log)));
    } else if (result === undefined) {
      const { outcomes, log, attempts, leaves, checksum } = await executePulse(pulseRunner, spec.eus, cfg.retries, spec);
      if (inAuditSample(cfg, spec.partition, spec.index)) await auditPulse(pulseRunner, spec, outcomes, attempts, leaves, checksum);
      result = await awaitingCommit(
        sp,
        committer.commit(() => {
          // Its attempt log lost: committed again only when the re-execution repeats it exactly.
          if (lost !== undefined) checkLostPulseReexecution(store, runId, spec, lost, outcomes, log);
          return commitPulse(store, fnDigest, cfg, planDigest, spec, outcomes, log, leaves, checksum);
        }),
      );
    } else {
      const r = result;
      let held = 0;
      for (const t of r.texts) held += t.length;
      scheduler.addOutput(sp, held, r.texts.length); // its records, held as texts
      // Reused pulses are audited too: a resumed run samples the same pulses as a fresh one.
      if (inAuditSample(cfg, spec.partition, spec.index)) await auditCommittedPulse(pulseRunner, spec, r);
      store.transaction(() => {
        restoreSlice(store, spec); // deleted since it was committed: stored again, so verify and replay can read it
        linkToPlan(store, planDigest, [r.slice, r.records, ...(r.attempts === null ? [] : [r.attempts])]);
      });
      progress.pulsesReused++;
    }
    if (spill !== undefined) {
      mergePulses.push({ partition: result.partition, index: result.index, records: result.records, eus: result.eus, leafOffset: spill.append(result.leaves) });
    } else index.addOutputs(result.ids, result.texts, result.leaves);
    const entry = manifestPulse(result);
    manifestSize.add(entry); // a manifest too large to read back fails the run now, not at its end
    pulses.push(entry);
    progress.pulsesDone++;
    progress.eusDone += result.eus;
    progress.eusFailed += result.failed;
    report();
  };

  const memoryShare = Math.floor(cfg.maxMemoryBytes * ENGINE_BUFFER_SHARE);
  const scheduler = new PulseScheduler(
    {
      partitions: cfg.partitions,
      pulseSize: cfg.pulseSize,
      maxPulsesInFlight: cfg.maxPulsesInFlight,
      bufferBudgetBytes: memoryShare,
      pulseBudgetBytes: workerInputBytes(cfg),
      inFlightBudgetBytes: memoryShare,
      outputBudgetBytes: Math.floor(cfg.maxMemoryBytes * ENGINE_OUTPUT_SHARE),
      maxPulsesAwaitingCommit: GROUP_COMMIT_MAX,
    },
    runPulse,
    () => committer.recheck(),
  );
  let recordsRead = 0;
  let manifest: Manifest;
  try {
    // The run id is known from here: say so before the first pulse (an interrupted run names it).
    report();
    try {
      for await (const batch of storedRecordBatches(store, input, cfg.idField, stats, workerInputBytes(cfg))) {
        throwIfAborted(hooks.signal, runId);
        for (const r of batch) {
          index.addRecord(r);
          recordsRead++;
          progress.eusRead = recordsRead;
          if (!scheduler.push(r)) await scheduler.room();
        }
      }
      index.flushIds();
      progress.eusTotal = recordsRead;
      await scheduler.finish();
    } catch (err) {
      await scheduler.drain();
      forgetIfHopeless(store, runId, err);
      // A file of a files input deleted since the run was planned: named with the remedy.
      const inputFile = (d: Digest): "input file" | undefined => (plan.input.format === "files" && d !== fnDigest && d !== plan.input.artifact ? "input file" : undefined);
      throw namedRunArtifactError(store, runId, withNondeterministicRun(withRecordLimitHint(err, cfg), runId), inputFile);
    }
    progress.phase = "merge";
    report();
    const cursor: MergeCursor = spill !== undefined ? new IndexIdMerge(store, spill, cfg.partitions, mergePulses, recordsRead) : new OrderIndexMerge(index);
    let merged: Awaited<ReturnType<typeof mergeOutputs>>;
    try {
      merged = await mergeOutputs(store, cursor, recordsRead, cfg.maxMemoryBytes, runner, out, sampleMemory, `${tmpBase}.failures.jsonl`);
    } catch (err) {
      forgetIfHopeless(store, runId, err); // e.g. a reduce that throws: it throws again on resume
      throw err;
    } finally {
      cursor.close(); // the records artifacts a failed merge was reading
    }
    manifest = buildManifest({ runId, plan, planDigest, recordsRead, pulses, failures: merged.failures, failuresArtifact: merged.failuresArtifact, output: merged.output, reduce: merged.reduce });
  } finally {
    try {
      index.close();
    } finally {
      try {
        spill?.close();
      } finally {
        try {
          await pool.close(); // the workers are done with (its owner's close is then a no-op)
        } finally {
          restoreCache();
        }
      }
    }
  }
  // The last point an abort stops the run: from here it is recorded as finished, and resolves.
  throwIfAborted(hooks.signal, runId);
  // The run's figures, measured before it is recorded: the manifest and its report commit in
  // ONE store transaction, so a kill between them cannot leave a finished run without a report
  // (a resume of a finished run reports it as it is and writes nothing).
  const cpu = process.cpuUsage(cpu0);
  const figures = {
    wallMs: Date.now() - started,
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    peakRssBytes: Math.max(peakRss, process.memoryUsage().rss),
    pulsesExecuted: progress.pulsesDone - progress.pulsesReused,
    pulsesReused: progress.pulsesReused,
    heapCollections: heapGuard.collections,
    // The output admission's figures (scheduler.ts): they depend on timing, like the rest.
    peakPulsesRunning: scheduler.stats.peakRunning,
    peakOutputBytes: scheduler.stats.peakOutputBytes,
  };
  let manifestDigest: Digest;
  try {
    manifestDigest = store.transaction(() => {
      const digest = recordManifest(store, manifest);
      const rep = store.putBytes(canonicalBytes({ kind: "cairn.batch.report", runId, source: typedSource ?? plan.input.artifact, manifest: digest, ...figures }), { mediaType: REPORT_MEDIA_TYPE });
      store.addEdge({ from: [rep.digest], to: [digest], type: "describes", role: "report" });
      if (store.findRoot(reportRoot(runId)) === undefined) store.pin(reportRoot(runId), rep.digest, "run");
      return digest;
    });
  } catch (err) {
    forgetIfHopeless(store, runId, err); // a manifest too large to store is as large next time
    throw err;
  }
  progress.phase = "done";
  report(true); // never stops: an abort now would reject a finished run
  return resultOf(manifest, manifestDigest, false);
}

/**
 * The `done` progress of a run answered from its manifest: every EU and pulse done, every pulse
 * reused (nothing executed), the input's size as read and total (unknown if it cannot be stat'ed).
 */
function reusedProgress(store: Store, runId: string, plan: RunPlan, m: Manifest): Progress {
  let inputBytes: number | undefined;
  try {
    inputBytes = store.stat(plan.input.artifact).size;
  } catch (err) {
    if (!isCairnError(err)) throw err;
  }
  const total = m.counts.total;
  return {
    phase: "done",
    runId,
    inputBytesRead: inputBytes ?? 0,
    inputBytesTotal: inputBytes,
    eusDone: total,
    eusFailed: m.counts.failed,
    eusRead: total,
    eusTotal: total,
    pulsesDone: m.pulses.length,
    pulsesReused: m.pulses.length,
  };
}

/**
 * A record over the run's limit (a share of a worker's heap, below the readers' own): say what the
 * limit is and, where a larger --max-memory raises it, from what value (config.ts
 * `recordLimitExplanation`, which the worker's output-size failures use too).
 */
function withRecordLimitHint(err: unknown, cfg: RunConfig): unknown {
  const limit = workerInputBytes(cfg);
  if (!isCairnError(err, ErrorCode.LIMIT_EXCEEDED) || err.details.limit !== limit || limit >= MAX_RECORD_BYTES) return err;
  const size = typeof err.details.size === "number" ? err.details.size : undefined;
  return new CairnError(ErrorCode.LIMIT_EXCEEDED, `${err.message} ${recordLimitExplanation(limit, "records", size)}`, err.details, { cause: err });
}

/**
 * An E_NONDETERMINISTIC failure of the run's pulses — the audit's (§10.8 of ARCHITECTURE.md), a
 * pulse re-executed after a worker crash, a worker's hashes not those of its records — named by
 * its run (`run <id>: …`, `details.runId`), with what a resume would do; one that names its run
 * already (a lost pulse that cannot be stored again, pulse.ts) is left as it is. The plan is kept
 * (the code is not in HOPELESS_CODES): a resume executes the pulse again on a fresh pool, and a
 * difference that does not repeat (a race, state a long-lived worker carried into the pulse) can
 * pass; a function that differs every time fails the same way. Before 2026-11-28 the error did
 * not name the run, which then listed as `incomplete` with nothing saying which.
 */
function withNondeterministicRun(err: unknown, runId: string): unknown {
  if (!isCairnError(err, ErrorCode.NONDETERMINISTIC) || err.details.runId !== undefined) return err;
  return new CairnError(
    ErrorCode.NONDETERMINISTIC,
    `run ${runId}: ${err.message}\nThe function gave different results for the same input (state kept between calls, such as a module-level counter, or a race). Fix it, which makes another run; cairn resume ${runId} executes the pulse again and fails the same way unless the difference does not repeat`,
    { runId, ...err.details },
    { cause: err },
  );
}

const HOPELESS_CODES: ReadonlySet<string> = new Set([ErrorCode.INVALID_INPUT, ErrorCode.LIMIT_EXCEEDED, ErrorCode.CANONICAL]);

/**
 * A run that failed on its input (malformed record, duplicate id, oversized record, a value
 * JSON cannot hold), on its module (no default export, throws at import) or on its manifest's
 * size (E_LIMIT_EXCEEDED: more pulses than a readable manifest holds) can never complete:
 * resuming reads the same bytes. Its plan is unpinned so it neither lists as a run
 * to resume nor keeps its input from gc. Other failures (a crash, a full disk) keep the plan.
 */
function forgetIfHopeless(store: Store, runId: string, err: unknown): void {
  if (!isCairnError(err) || !HOPELESS_CODES.has(err.code)) return;
  if (store.findRoot(planRoot(runId)) !== undefined) store.unpin(planRoot(runId));
}

/** `noun`: how the run's input errors name a record (ids.ts recordNoun). */
function toSpec(sp: ScheduledPulse, noun: RecordLocation["noun"]): PulseSpec {
  const records = sp.records as EURecord[];
  const writer = new SliceWriter();
  const eus = new Array<WorkEU>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as EURecord;
    if (Buffer.isBuffer(r.input)) {
      writer.addArtifact(r.id, sha256(r.input));
      eus[i] = { id: r.id, input: r.input };
      continue;
    }
    let text: string;
    try {
      // A canonical JSONL line is its own text (canonical-line.ts); any other input must have a
      // canonical form: name the record if not.
      text = r.inputJson ?? canonicalText(r.input);
    } catch (err) {
      const at = recordPlace(r.source.file, r.source.line, r.index, noun);
      // Its JSONPath may hold DEL, C1 controls or U+2028 raw (canonical.ts): escaped here.
      throw new CairnError(ErrorCode.INVALID_INPUT, `${at}: ${escapeControls((err as Error).message)}`, { file: r.source.file, line: r.source.line, index: r.index });
    }
    writer.addInput(r.id, text);
    // The worker gets the canonical text, so the function sees exactly what a replay from the
    // slice sees, and the parsed value need not be kept or cloned.
    eus[i] = { id: r.id, input: undefined, inputJson: text };
  }
  const slice = writer.bytes();
  return { partition: sp.partition, index: sp.index, eus, slice, sliceDigest: sha256(slice) };
}


/**
 * The run's failures artifact as the ordered merge meets the failures: nothing while there are
 * at most MAX_MANIFEST_FAILURES (the manifest lists them all); from the next one on, every
 * failure line (failureLine), the first ones included, goes to a temp file at `path` in chunks
 * of about MERGE_CHUNK_BYTES, so memory holds only the manifest's list and one chunk. `store`
 * stores the file as an artifact (FAILURES_MEDIA_TYPE) when it was written.
 */
class FailuresFile {
  private fh: FileHandle | undefined;
  private pending = "";
  private count = 0;

  /** `first`: the manifest's list, which the caller fills with the first failures. */
  constructor(
    private readonly path: string,
    private readonly first: Manifest["failures"],
  ) {}

  async add(f: Manifest["failures"][number]): Promise<void> {
    this.count++;
    if (this.count <= MAX_MANIFEST_FAILURES) return; // only in the manifest's list so far
    if (this.fh === undefined) {
      trackExitTemp(this.path); // removed if a signal ends the process (cli/signals.ts)
      this.fh = await open(this.path, "wx");
      for (const g of this.first) this.pending += `${failureLine(g)}\n`;
    }
    this.pending += `${failureLine(f)}\n`;
    if (this.pending.length >= MERGE_CHUNK_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.fh === undefined || this.pending.length === 0) return;
    const chunk = this.pending;
    this.pending = "";
    await this.fh.write(chunk);
  }

  /** The failures artifact's digest, once stored; undefined when there were at most MAX_MANIFEST_FAILURES. */
  async store(store: Store): Promise<Digest | undefined> {
    if (this.fh === undefined) return undefined;
    await this.flush();
    const fh = this.fh;
    this.fh = undefined;
    await fh.close();
    return (await store.put(createReadStream(this.path), { mediaType: FAILURES_MEDIA_TYPE })).digest;
  }

  /** Removes the temp file (stored or not). */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    try {
      await fh?.close();
    } finally {
      await rm(this.path, { force: true });
      untrackExitTemp(this.path);
    }
  }
}

/**
 * Scans the records once, in EU-id order: output artifact, Merkle root, failures (the first
 * ones for the manifest; every one in the failures artifact when there are more, written to
 * `failuresPath` meanwhile), reduce.
 */
async function mergeOutputs(
  store: Store,
  cursor: MergeCursor,
  expected: number,
  maxMemoryBytes: number,
  runner: RunnerHandle,
  out: OutFile | undefined,
  onChunk: () => void,
  failuresPath: string,
): Promise<{
  output: { digest: Digest; artifact: Digest; records: number };
  failures: Manifest["failures"];
  failuresArtifact: Digest | undefined;
  reduce: { value: unknown } | null;
}> {
  const failures: Manifest["failures"] = [];
  const allFailures = new FailuresFile(failuresPath, failures);
  const reducer = runner.reducer?.open();
  let acc = runner.reducer?.initial;
  let batch: ReduceItem[] = [];
  let pending = "";
  async function* lines(): AsyncGenerator<Buffer> {
    while (cursor.next()) {
      const text = cursor.text;
      if (!builder.add(cursor.leaves, cursor.leafOffset)) await builder.drain();
      // The manifest lists the first failures (the pulses count them all); when there are
      // more, the failures artifact holds every one.
      const failed = isFailedRecord(text);
      if (failed || reducer !== undefined) {
        const rec = parseRecord(text);
        if (rec.error !== undefined) {
          const f = { id: rec.id, code: rec.error.code, message: rec.error.message };
          if (failures.length < MAX_MANIFEST_FAILURES) failures.push(f);
          await allFailures.add(f);
        } else if (reducer !== undefined) {
          batch.push(reduceItemOf(rec));
          if (batch.length >= REDUCE_CHUNK_SIZE) {
            acc = await reducer.chunk(acc as string, batch);
            batch = [];
          }
        }
      }
      // One string per chunk (UTF-16 units ≤ UTF-8 bytes, so chunks stay near the size).
      pending += `${text}\n`;
      if (pending.length >= MERGE_CHUNK_BYTES) yield* flush();
    }
    yield* flush();
  }
  async function* flush(): AsyncGenerator<Buffer> {
    onChunk();
    if (pending.length === 0) return;
    const chunk = Buffer.from(pending);
    pending = "";
    if (out !== undefined) await out.write(chunk);
    yield chunk;
  }
  const builder = outputTree(expected, maxMemoryBytes);
  try {
    const art = await store.put(lines(), { mediaType: OUTPUT_MEDIA_TYPE });
    const failuresArtifact = await allFailures.store(store);
    if (reducer !== undefined && batch.length > 0) acc = await reducer.chunk(acc as string, batch);
    return {
      output: { digest: await builder.root(), artifact: art.digest, records: builder.size },
      failures,
      failuresArtifact,
      reduce: acc === undefined ? null : { value: JSON.parse(acc) as unknown },
    };
  } finally {
    try {
      await builder.close();
    } finally {
      try {
        await reducer?.close();
      } finally {
        await allFailures.close();
      }
    }
  }
}

/** One line of a run's ordered output, parsed. */
export interface OutputRecord {
  id: EURecord["id"];
  output?: unknown;
  bytes?: Buffer;
  error?: { code: string; message: string };
}

/**
 * The streaming variant: yields a finished run's EU records in EU-id order, read from the
 * verified output artifact with bounded memory (run `run`/`resume` first). An output artifact
 * that is not the engine's — a line that is not a record, a last record without its newline,
 * more or fewer records than the manifest's `output.records` — is E_STORE_CORRUPT naming the
 * run and the artifact: the stream never ends short as if the run had fewer records (before, a
 * last line without a newline was dropped silently, and a truncated output ended early).
 */
export async function* streamOutputs(store: Store, runId: string): AsyncGenerator<OutputRecord> {
  checkStore(store, "streamOutputs");
  checkRunId(runId); // a malformed run id is E_USAGE, as for resume, verifyRun and replay
  const done = loadManifest(store, runId);
  if (done === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `run ${runId} has no manifest (not found or not finished)`, { runId });
  const { artifact, records } = done.manifest.output;
  requireRunArtifact(store, runId, "output", artifact); // deleted since the run: named with the remedy
  const corrupt = (why: string): CairnError =>
    new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its output artifact ${artifact} ${why} (run cairn verify ${runId})`, { runId, digest: artifact, records });
  let yielded = 0;
  let rest = "";
  const decoder = new StringDecoder("utf8"); // keeps characters split across chunks whole
  for await (const chunk of store.openReadStream(artifact)) {
    const text = rest + decoder.write(chunk as Buffer);
    const lines = text.split("\n");
    rest = lines.pop() as string;
    for (const line of lines) {
      if (yielded === records) throw corrupt(`holds more than the manifest's ${records} records`);
      let rec: { id: EURecord["id"]; output?: unknown; bytes?: string; error?: { code: string; message: string } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch (err) {
        throw corrupt(`holds a line that is not JSON at record ${yielded}: ${(err as Error).message}`);
      }
      if (typeof rec !== "object" || rec === null || !("id" in rec)) throw corrupt(`holds a line that is not a record at record ${yielded}`);
      const o: OutputRecord = { id: rec.id };
      if (rec.error !== undefined) o.error = rec.error;
      else if (rec.bytes !== undefined) o.bytes = Buffer.from(rec.bytes, "base64");
      else o.output = rec.output;
      yield o;
      yielded++;
    }
  }
  if (rest + decoder.end() !== "") throw corrupt(`does not end with a newline after record ${yielded} (its last record is cut)`);
  if (yielded !== records) throw corrupt(`holds ${yielded} records, the manifest says ${records}`);
}
