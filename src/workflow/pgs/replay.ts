/**
 * `replayPgsRun`: re-executes a recorded PGS run (issue 4 §3.4) and confirms byte-identical
 * outputs.
 *
 * The run is found in the store through its root `pgs:<trace_id>` (the trace artifact) and the
 * receipt that produced it (program = snapshot manifest, inputs = [payload, prior-state
 * manifest], outputs = [trace, effects]). A fresh temp workspace receives the snapshot files
 * and a fresh temp data root the prior-state files (exact bytes; absent files stay absent; an
 * unusable file (state.ts) is recreated when it was a directory — empty: the CS runtimes never
 * look inside — and otherwise refuses the replay, `E_INVALID_INPUT` (exit 1: the command line
 * is fine, the recorded run is what cannot be replayed) with `details.reason =
 * "unreplayable_state"` naming the file, since a replay over another state would compare
 * nothing meaningful);
 * the workflow is re-run with the recorded payload through `runPgsWorkflow`, recording into a
 * throwaway temp store (never the user's), and the new trace and effects are compared byte for
 * byte with the recorded artifacts. When the run was named by a trace file whose sibling
 * `<trace_id>.md` exists, the summary is compared too.
 *
 * The payload is recorded as given (its key order is part of the run) and replayed as such.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { tempDirError } from "../../core/temp-dir-error.js";
import type { Digest } from "../../core/digest.js";
import { openStore, type Store } from "../../store/store.js";
import type { Receipt } from "../../store/receipts.js";
import { EffectErrorReason, PGS_DATA_ROOT_UNSUPPORTED_CHARS, withPrivateDataRootLock, type DataRootLock } from "../effects/index.js";
import { parsePyJson } from "./pyjson.js";
import { RECEIPT_PARAMS_KIND, ROOT_PREFIX, requireThisWorkflowEngine } from "./record.js";
import { PGS_SNAPSHOT_REMEDY, recordedBytes, recordedStateFile, type RecordedRole } from "./recorded-reads.js";
import { unrecordedRunError } from "./record-start.js";
import { runRecordedPgsWorkflow } from "./run.js";
import { earlierSummaryForm } from "./summary.js";
import { TRACE_ID_RE } from "./trace-id.js";
import { traceLimit, type TraceLimit } from "./trace.js";
import type { PyObject } from "./value.js";
import { makeDirs } from "../../core/dirs.js";

export interface ReplayDifference {
  /**
   * Which output differs: the recorded trace (`.jsonl`, as stored), the effects artifact, the
   * trace file the replay was named by (`trace-file`: edited or replaced after the run) or the
   * summary (`.md`) beside it.
   */
  artifact: "trace" | "effects" | "trace-file" | "summary";
  /** 1-based line number of the first differing line. */
  line: number;
  /** The recorded line (null when the recorded output has fewer lines). */
  recorded: string | null;
  /** The replayed line (null when the replayed output has fewer lines). */
  replayed: string | null;
}

export interface ReplayResult {
  identical: boolean;
  traceId: string;
  workflow: string;
  /** The status of the replayed run. */
  status: string;
  recordedTrace: Digest;
  replayedTrace: Digest | null;
  firstDifference?: ReplayDifference;
}

interface ManifestFile {
  path: string;
  digest: Digest | null;
}

function notFound(traceId: string, why: string): CairnError {
  return unrecordedRunError(undefined, "", traceId, why);
}

/** The trace id named by `arg`: a trace id, or a `.jsonl` trace file (its first event's `trace_id`). */
export function traceIdOf(arg: string): { traceId: string; tracePath: string | null; firstEvent?: unknown } {
  if (TRACE_ID_RE.test(arg) && !existsSync(arg)) return { traceId: arg, tracePath: null };
  let text: string;
  try {
    if (!statSync(arg).isFile()) throw new Error("not a regular file");
    text = readFileSync(arg, "utf8");
  } catch {
    if (TRACE_ID_RE.test(arg)) return { traceId: arg, tracePath: null };
    throw new CairnError(ErrorCode.NOT_FOUND, `Trace ${arg} not found (neither a trace id nor a trace .jsonl file)`, { trace: arg });
  }
  const first = text.split("\n", 1)[0] ?? "";
  let firstEvent: unknown;
  try {
    firstEvent = JSON.parse(first);
  } catch {
    firstEvent = undefined;
  }
  let id = (firstEvent as { trace_id?: unknown } | null | undefined)?.trace_id;
  if (typeof id !== "string" || !TRACE_ID_RE.test(id)) {
    const base = basename(arg).replace(/\.jsonl$/, "");
    if (!TRACE_ID_RE.test(base)) throw new CairnError(ErrorCode.INVALID_INPUT, `Trace file ${arg} names no trace id`, { trace: arg });
    id = base;
  }
  return { traceId: id as string, tracePath: resolve(arg), firstEvent };
}

/**
 * A recorded path (relative to the data root or the snapshot workspace) in its normal form, as
 * the runtime resolves it (effects/confine.ts): empty and `.` segments collapse (`r/./x.json`,
 * `r//x.json` and `r/x.json/` name the file `r/x.json` — state capture records a store path as
 * declared, pgs/state.ts), and whatever the runtime's confinement refuses is refused here too:
 * a non-string, an absolute path, a NUL, a `..` segment (even one that would normalise back
 * inside), and a path naming the root itself (nothing left: `.`, `./`).
 */
function safeRel(traceId: string, p: unknown): string {
  const norm = typeof p === "string" ? p.split("/").filter((s) => s !== "" && s !== ".").join("/") : "";
  if (typeof p !== "string" || norm === "" || isAbsolute(p) || p.includes("\0") || p.split("/").includes("..")) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `Recorded run ${traceId} names an unsafe path ${JSON.stringify(p)}`, { traceId, path: p });
  }
  return norm;
}

function manifestFiles(store: Store, digest: Digest, traceId: string, role: Extract<RecordedRole, "snapshot" | "prior-state manifest">): { body: Record<string, unknown>; files: ManifestFile[] } {
  const body = JSON.parse(recordedBytes(store, traceId, role, digest, role === "snapshot" ? { remedy: PGS_SNAPSHOT_REMEDY } : {}).toString("utf8")) as Record<string, unknown>;
  if (!Array.isArray(body.files)) throw notFound(traceId, `the ${role === "snapshot" ? "snapshot" : "prior-state"} manifest ${digest} has no files`);
  return { body, files: body.files as ManifestFile[] };
}

/**
 * The receipt with `params.kind` = `kind` and one of `inputCounts` inputs that produced `trace`
 * (and `effects`, when known) — how both runtimes find a recorded run.
 */
export function receiptOf(store: Store, trace: Digest, effects: Digest | undefined, kind: string, inputCounts: readonly number[] = [2]): Receipt | undefined {
  const lineage = store.lineage(trace, { direction: "up", depth: 1 });
  for (const e of lineage.edges) {
    if (e.type !== "execution" || e.role !== "output" || !e.to.includes(trace)) continue;
    for (const from of e.from) {
      let r: Receipt;
      try {
        r = store.getReceipt(from);
      } catch (err) {
        // Not a receipt: the next. A receipt that does not match its digest is refused (E_STORE_CORRUPT).
        if (isCairnError(err, ErrorCode.NOT_FOUND)) continue;
        throw err;
      }
      const params = r.params as { kind?: unknown } | null;
      if (params?.kind !== kind || r.outputs[0] !== trace || !inputCounts.includes(r.inputs.length)) continue;
      if (effects !== undefined && r.outputs[1] !== effects) continue;
      return r;
    }
  }
  return undefined;
}

function findReceipt(store: Store, trace: Digest, effects: Digest | undefined, traceId: string): Receipt {
  const r = receiptOf(store, trace, effects, RECEIPT_PARAMS_KIND);
  if (r === undefined) throw notFound(traceId, "no PGS receipt produced its trace");
  return r;
}

function firstDifference(artifact: ReplayDifference["artifact"], recorded: Buffer, replayed: Buffer): ReplayDifference | undefined {
  if (recorded.equals(replayed)) return undefined;
  const a = recorded.toString("utf8").split("\n");
  const b = replayed.toString("utf8").split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return { artifact, line: i + 1, recorded: a[i] ?? null, replayed: b[i] ?? null };
  }
  // Same lines but different bytes (cannot happen for valid UTF-8; kept for safety).
  return { artifact, line: 1, recorded: a[0] ?? null, replayed: b[0] ?? null };
}

/** `details.reason` of a PGS replay refused because the temp directory cannot hold a PGS data root. */
export const REPLAY_TMPDIR_REASON = "replay_tmpdir_unsupported";

/**
 * A PGS replay runs in a data root under `os.tmpdir()`; when that path holds a character the PGS
 * policy expansion refuses, the replay would fail inside the re-run (an error, not a
 * comparison). Refused before anything is written: `E_USAGE` naming TMPDIR and the character.
 * No other directory is chosen silently: the replay writes only where the user's TMPDIR says.
 */
function checkPgsReplayTmpdir(traceId: string): void {
  const base = tmpdir();
  const bad = PGS_DATA_ROOT_UNSUPPORTED_CHARS.exec(base);
  if (bad === null) return;
  throw new CairnError(
    ErrorCode.USAGE,
    `Recorded PGS run ${traceId} cannot be replayed under the temp directory ${JSON.stringify(base)} (TMPDIR): it contains ${JSON.stringify(bad[0])}, a character a PGS data root cannot hold (the policy expansion cannot carry a double quote, a backslash or a control character); set TMPDIR to a directory without them`,
    { reason: REPLAY_TMPDIR_REASON, traceId, tmpdir: base, character: bad[0] },
  );
}

/**
 * The trace limit a receipt's params record (record.ts: only one other than the default), or
 * undefined; a recorded value that is not a limit is `E_STORE_CORRUPT`.
 */
function recordedTraceLimit(params: unknown, traceId: string): TraceLimit | undefined {
  const recorded = (params as { traceLimit?: unknown } | null)?.traceLimit;
  if (recorded === undefined) return undefined;
  const { maxBytes, errorReserveBytes } = (recorded ?? {}) as { maxBytes?: unknown; errorReserveBytes?: unknown };
  try {
    if (typeof maxBytes !== "number" || typeof errorReserveBytes !== "number") throw new Error("its members must be numbers");
    return traceLimit({ maxBytes, errorReserveBytes });
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `the receipt of ${traceId} records a trace limit that is not one (${JSON.stringify(recorded)}): ${(err as Error).message}`, { traceId });
  }
}

/**
 * Replays the recorded run named by `traceIdOrPath` (a trace id, or a trace `.jsonl` file) from
 * `store`. Throws `E_NOT_FOUND` when the store holds no such run. Never writes to `store`.
 */
export function replayPgsRun(store: Store, traceIdOrPath: string): ReplayResult {
  const { traceId, tracePath } = traceIdOf(traceIdOrPath);
  const traceRoot = store.findRoot(`${ROOT_PREFIX}${traceId}`);
  if (traceRoot === undefined) throw unrecordedRunError(store, ROOT_PREFIX, traceId, `no root ${ROOT_PREFIX}${traceId}`);
  const effectsRoot = store.findRoot(`${ROOT_PREFIX}${traceId}:effects`);
  const receipt = findReceipt(store, traceRoot.digest, effectsRoot?.digest, traceId);
  requireThisWorkflowEngine(receipt.params, traceId);
  const workflow = (receipt.params as { workflow?: unknown } | null)?.workflow;
  if (typeof workflow !== "string") throw notFound(traceId, "its receipt names no workflow");
  const limit = recordedTraceLimit(receipt.params, traceId);
  const [payloadDigest, priorDigest] = receipt.inputs as [Digest, Digest];
  const recordedTrace = recordedBytes(store, traceId, "trace", traceRoot.digest);
  const recordedEffects = recordedBytes(store, traceId, "effects", receipt.outputs[1] as Digest);

  const snapshot = manifestFiles(store, receipt.program, traceId, "snapshot");
  const prior = manifestFiles(store, priorDigest, traceId, "prior-state manifest");
  const parsed = parsePyJson(recordedBytes(store, traceId, "payload", payloadDigest).toString("utf8"), `payload ${payloadDigest}`);
  if (!(parsed instanceof Map)) throw new CairnError(ErrorCode.INVALID_INPUT, `Recorded payload of ${traceId} is not a JSON object`, { traceId });
  const payload = parsed as PyObject; // recorded as given: key order is part of the run

  checkPgsReplayTmpdir(traceId);
  return replayInTemp(store, { traceId, tracePath, workflow, traceDigest: traceRoot.digest, trace: recordedTrace, effects: recordedEffects, priorFiles: prior.files, priorState: priorDigest }, "cairn-pgs-replay-", ({ tmp, dataRoot, scratch, dataRootLock }) => {
    const workspace = join(tmp, "workspace");
    mkdirSync(workspace);
    for (const f of snapshot.files) {
      const rel = safeRel(traceId, f.path);
      const abs = join(workspace, rel);
      makeDirs(dirname(abs));
      writeFileSync(abs, recordedBytes(store, traceId, "snapshot file", f.digest as Digest, { path: rel, remedy: PGS_SNAPSHOT_REMEDY }));
    }
    return runRecordedPgsWorkflow({ workspace, workflow, payload, dataRoot, store: scratch, dataRootLock, ...(limit === undefined ? {} : { traceLimit: limit }) });
  });
}

/** A recorded run as the replay compares against it. */
export interface RecordedRun {
  traceId: string;
  /** The trace file the run was named by (compared, with its sibling `<trace_id>.md`), or null. */
  tracePath: string | null;
  workflow: string;
  traceDigest: Digest;
  trace: Buffer;
  effects: Buffer;
  /** The prior-state manifest's files (path relative to the data root, digest or null, `unusable` for an unusable file: state.ts). */
  priorFiles: readonly { path?: unknown; digest?: unknown; unusable?: unknown }[];
  /** The prior-state manifest (a large file's chunks are found through it: record.ts `stateFileBytes`). */
  priorState: Digest;
}

/** `details.reason` of a replay refused because the recorded prior state holds an unusable file it cannot recreate. */
export const UNREPLAYABLE_STATE_REASON = "unreplayable_state";

/** A recorded unusable file the replay recreates: a directory (`{kind: "directory"}`, no digest). */
function isRecreatableDirectory(f: { digest?: unknown; unusable?: unknown }): boolean {
  const u = f.unusable;
  return f.digest === null && typeof u === "object" && u !== null && !Array.isArray(u) && Object.keys(u).length === 1 && (u as { kind?: unknown }).kind === "directory";
}

/**
 * The refusal of a recorded prior state holding an unusable file the replay cannot recreate:
 * `E_INVALID_INPUT` (exit 1), like the other faults of the recorded run (an unsafe recorded
 * path) — not a usage error, the command line being valid.
 */
function unreplayableState(traceId: string, path: string, unusable: unknown): CairnError {
  const kind = typeof unusable === "object" && unusable !== null ? (unusable as { kind?: unknown }).kind : undefined;
  const what = typeof kind === "string" ? kind : "unknown";
  return new CairnError(
    ErrorCode.INVALID_INPUT,
    `Recorded run ${traceId} cannot be replayed: its prior state holds the data-root file ${JSON.stringify(path)} as unusable (${what}), which a replay cannot recreate`,
    { reason: UNREPLAYABLE_STATE_REASON, traceId, path, unusable },
  );
}

/** What a re-execution reports back (the shape both runtimes' results share). */
export interface ReplayedRun {
  traceId: string;
  traceDirAbs: string;
  status: string;
  digests: { trace: Digest | null };
  recorded: { effects: Digest } | null;
}

/**
 * The part of a replay both runtimes share (PGS here, Cairn snapshots in cairn/replay.ts): a
 * fresh temp directory gets a data root with the recorded prior-state files (exact bytes;
 * absent files stay absent; an unusable directory recreated empty, any other unusable file
 * refused before anything runs) and a throwaway store; `run` re-executes there (recording into
 * that store, never the user's); the new trace, effects and (for a run named by its trace
 * file) that file and its summary are compared byte for byte with the recorded ones. The
 * temp directory is always removed. A working directory that cannot be made, written or read
 * back (TMPDIR missing, a file, not writable, full) is E_STORE_IO naming it and TMPDIR
 * (`replayTempError`), never the bare ENOSPC of an fs call (E_INTERNAL).
 */
export function replayInTemp(
  store: Store,
  rec: RecordedRun,
  tmpPrefix: string,
  run: (dirs: { tmp: string; dataRoot: string; scratch: Store; dataRootLock: DataRootLock }) => ReplayedRun,
): ReplayResult {
  let tmp: string;
  try {
    tmp = mkdtempSync(join(tmpdir(), tmpPrefix));
  } catch (err) {
    throw replayTempError(join(tmpdir(), `${tmpPrefix}XXXXXX`), err);
  }
  try {
    return compareReplay(rec, tmp, inTemp(tmp, () => setUpAndRun(store, rec, tmp, run)));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What the replay's error about its working directory calls it (core/temp-dir-error.ts). */
const REPLAY_TEMP_WHAT = "replay cannot use its working directory";

/**
 * `details.reason` of the E_STORE_IO errors a re-run reports about files that, in a replay, are
 * all under the working directory although the message names them relatively: a trace file
 * (pgs/trace.ts `traceWriteError`), a data-root file and the data root's lock (effects/errors.ts).
 */
const REPLAY_TEMP_IO_REASONS: ReadonlySet<unknown> = new Set(["trace_write", EffectErrorReason.IO, EffectErrorReason.LOCK_IO]);

/** A Node system error (an fs call's ENOSPC, ENOENT, ENOTDIR, EACCES, EFBIG…). */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException;
  return err instanceof Error && typeof e.code === "string" && typeof e.syscall === "string";
}

/**
 * `err`, met while a replay set up, ran or read back its run in its working directory `tmp`
 * (under TMPDIR), as the replay reports it: a system error (every file the replay itself writes
 * or reads there is under `tmp`; the user's store is read through its API, which reports its own
 * errors) or an E_STORE_IO about a file under `tmp` (naming it, such as the throwaway store's
 * catalog, or one of `REPLAY_TEMP_IO_REASONS`) is E_STORE_IO naming `tmp` and TMPDIR
 * (`tempDirError`, the error `cairn verify`'s scratch databases give); anything else — a refusal
 * of the recorded run, the user's store failing — is returned unchanged.
 */
function replayTempError(tmp: string, err: unknown): unknown {
  if (isCairnError(err)) {
    const reason = (err.details as { reason?: unknown } | undefined)?.reason;
    if (err.code !== ErrorCode.STORE_IO || !(err.message.includes(tmp) || REPLAY_TEMP_IO_REASONS.has(reason))) return err;
  } else if (!isSystemError(err)) {
    return err;
  }
  return tempDirError(REPLAY_TEMP_WHAT, tmp, err);
}

/** Fills the working directory `tmp` (the recorded prior state, a throwaway store) and re-runs the workflow there. */
function setUpAndRun(
  store: Store,
  rec: RecordedRun,
  tmp: string,
  run: (dirs: { tmp: string; dataRoot: string; scratch: Store; dataRootLock: DataRootLock }) => ReplayedRun,
): { r: ReplayedRun; scratchDir: string } {
  const dataRoot = join(tmp, "data");
  mkdirSync(dataRoot);
  for (const f of rec.priorFiles) {
    const rel = safeRel(rec.traceId, f.path);
    const abs = join(dataRoot, rel);
    if (f.unusable !== undefined) {
      // Only a directory is recreated (empty: the CS runtimes never look inside it); any other
      // unusable file cannot be set up faithfully, so the run is not replayed at all.
      if (!isRecreatableDirectory(f)) throw unreplayableState(rec.traceId, rel, f.unusable);
      makeDirs(abs);
      continue;
    }
    if (f.digest === null) continue;
    makeDirs(dirname(abs));
    writeFileSync(abs, recordedStateFile(store, rec.traceId, rec.priorState, rel, f.digest as Digest));
  }
  const scratchDir = join(tmp, "store");
  const scratch = openStore({ dir: scratchDir, create: true });
  try {
    // The temp data root is private: its lock file is removed with it (no lock files left behind).
    return { r: withPrivateDataRootLock(dataRoot, (dataRootLock) => run({ tmp, dataRoot, scratch, dataRootLock })), scratchDir };
  } finally {
    scratch.close();
  }
}

/** `f()`, its errors as a replay reports those about its working directory `tmp` (`replayTempError`). */
function inTemp<T>(tmp: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw replayTempError(tmp, err);
  }
}

/**
 * Compares the re-run `r` (made in `tmp`) with the recorded run `rec`. Reading the re-run's
 * outputs is work in `tmp` (`inTemp`); reading the trace file the user named is not.
 */
function compareReplay(rec: RecordedRun, tmp: string, { r, scratchDir }: { r: ReplayedRun; scratchDir: string }): ReplayResult {
  const replayedTrace = inTemp(tmp, () => readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`)));
  const base = { traceId: rec.traceId, workflow: rec.workflow, status: r.status, recordedTrace: rec.traceDigest, replayedTrace: r.digests.trace };
  let diff = firstDifference("trace", rec.trace, replayedTrace);
  if (diff === undefined && r.recorded !== null) {
    const effects = r.recorded.effects;
    const replayedEffects = inTemp(tmp, () => {
      const reopened = openStore({ dir: scratchDir, readOnly: true });
      try {
        return reopened.get(effects);
      } finally {
        reopened.close();
      }
    });
    diff = firstDifference("effects", rec.effects, replayedEffects);
  }
  if (diff === undefined && rec.tracePath !== null) {
    // The file the user named must be the run's trace too, not only the stored copy.
    diff = firstDifference("trace-file", readFileSync(rec.tracePath), replayedTrace);
  }
  if (diff === undefined && rec.tracePath !== null) {
    const md = join(dirname(rec.tracePath), `${rec.traceId}.md`);
    if (existsSync(md)) {
      const recordedMd = readFileSync(md);
      const replayedMd = inTemp(tmp, () => readFileSync(join(r.traceDirAbs, `${r.traceId}.md`)));
      diff = firstDifference("summary", recordedMd, replayedMd);
      // A summary an earlier build wrote for this run (summary.ts earlierSummaryForm) is still its own.
      if (diff !== undefined && earlierSummaryForm(replayedMd.toString("utf8")) === recordedMd.toString("utf8")) diff = undefined;
    }
  }
  return diff === undefined ? { identical: true, ...base } : { identical: false, ...base, firstDifference: diff };
}
