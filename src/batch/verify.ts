/**
 * `verify` re-checks a finished run from the store alone: the manifest against the run's plan
 * and input (verify-input.ts), every pulse's records against its checksum and receipt, and the
 * ordered output against the output digest (recomputed by merging the pulses' records again). `--reexecute` re-runs a sample
 * of pulses on fresh workers and compares every record. `replay` re-executes one pulse.
 * Both only read the store; verify's scratch databases (the input coverage's and the ordering
 * index) live in the OS temp directory, named and cleaned up as verify-input.ts describes.
 *
 * Every artifact the run depends on is read back through the store, which re-hashes it: the
 * function bundle (whose digest alone the plan check compares), the input, slices, records,
 * attempt logs and output. One that does not verify is a finding (`artifact_tampered`, or
 * `receipt_mismatch` for a receipt whose stored body does not hash to its digest), never a
 * crash, with `--reexecute` too: nothing is re-executed from a tampered function bundle. The
 * run receipt must record the pinned manifest, its output and its status (`checkRunReceipt`). The
 * failures and attempts artifacts the manifest names must also be its `contains` members, so
 * that gc keeps them (`not_contained`, checkNamedMembers).
 */
import { createHash } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import { canonicalize } from "../core/canonical.js";
import { canonicalText } from "./canonical-text.js";
import { MerkleBuilder } from "../core/merkle.js";
import { isDigest, type Digest } from "../core/digest.js";
import { deriveSeed } from "../core/prng.js";
import type { Store } from "../store/store.js";
import type { Receipt } from "../store/receipts.js";
import { CONTAINS_EDGE_TYPE } from "../store/gc.js";
import { failureLine, foreignManifestProblem, RUN_RECEIPT_KIND, inlinesAttempts, isAttemptLog, manifestShapeProblem, requireOwnManifest, requireReadableManifest, runReceiptStatus, MAX_INLINE_ATTEMPTS_BYTES, MAX_MANIFEST_BYTES, MAX_MANIFEST_FAILURES, type Manifest, type ManifestPulse } from "./manifest.js";
import {
  checkRunId, isLostRunArtifact, loadPlan, lostRunArtifactFinding, manifestRoot, planRoot, namedRunArtifactError, readRunArtifact, requireRunArtifact, requireThisEngine, runNotFound, unpinAndResume, type RunArtifactRole, type RunPlan,
} from "./plan.js";
import { checkReplayOptions, checkStore, checkVerifyOptions, type ReplayOptions, type VerifyOptions } from "./api-checks.js";
import { AbortPoint } from "./abort.js";
import { describeArgument } from "../core/describe.js";
import type { RunConfig } from "./config.js";
import { OrderIndex } from "./order-index.js";
import { RecordWindows } from "./record-windows.js";
import { checksumOf, isFailedRecord, leafOf, parseRecord, recordText, truncate, type EUError } from "./records.js";
import { echoed, echoedJson } from "../core/echo.js";
import { executePulse, legacyPulseParams, MAX_ATTEMPT_LOG_BYTES, pulseParams, shown, type AttemptLog, type WorkEU } from "./pulse.js";
import { foldOrdered, loadFunction, reduceItemOf, type RunnerHandle } from "./runner.js";
import type { ReduceItem } from "./sandbox/pool.js";
import { checkInputCoverage, checkPlan, isSliceShapeError, isSqliteError, removeScratch, scratchError, scratchPath, sliceEntries, sweepVerifyScratch, VERIFY_ORDER_TEMP_PREFIX } from "./verify-input.js";
import type { EUId } from "./input/types.js";
import { artifactLoss, ARTIFACT_LOSS_TEXT } from "../store/artifact-loss.js";

/** Problems listed one by one before verify only counts the rest. */
export const MAX_VERIFY_PROBLEMS = 1000;

export interface VerifyProblem {
  code:
    | "manifest_invalid"
    | "plan_mismatch"
    | "input_mismatch"
    | "artifact_tampered"
    | "checksum_mismatch"
    | "receipt_mismatch"
    | "output_mismatch"
    | "count_mismatch"
    | "reexecution_mismatch"
    | "reduce_mismatch"
    | "not_contained";
  message: string;
  pulse?: string;
}

/**
 * A check `--reexecute` asked for that could not be made, for a reason that says nothing about
 * the run (the machine): not a problem, so it does not make `ok` false, but listed so that a
 * "verified" never hides it. `reduce_not_checked`: the reduce folded again timed out or crashed
 * its worker (E_EU_TIMEOUT, E_WORKER_CRASHED), so its value was not compared.
 * `eu_not_checked`: a re-executed EU whose record differs from the stored one, where an
 * attempt of it timed out or crashed its worker (in the run or on re-execution): it was not
 * compared (a record made after such an attempt may legitimately differ: it is the failure, or
 * it ran with another `ctx.attempt`). `output_not_checked` (also without --reexecute): a pulse's
 * records cannot be read (a problem) and where its EUs' records lie in the output is unknown (its
 * slice cannot be read or is not one, reason `records_unreadable`; the leaves of such pulses
 * would pass MAX_UNREADABLE_LEAF_BYTES, reason E_LIMIT_EXCEEDED), so the output was compared
 * with nothing; or the output cannot be read either (a problem), so the output digest and the
 * failures were not compared (reason `records_unreadable`). `run_receipt_not_recorded` (also
 * without --reexecute): the run receipt is not in the store (reason E_NOT_FOUND): runs finished
 * before 2026-11-26 recorded none (`checkRunReceipt`). Notes are listed up to MAX_VERIFY_PROBLEMS.
 */
export interface VerifyNote {
  code: "reduce_not_checked" | "eu_not_checked" | "output_not_checked" | "run_receipt_not_recorded";
  message: string;
  /** The error code that stopped the check. */
  reason: string;
  /** eu_not_checked: the pulse (`partition/index`) and the EU's id. */
  pulse?: string;
  id?: EUId;
}

export interface VerifyReport {
  ok: boolean;
  runId: string;
  manifestDigest: Digest;
  pulsesChecked: number;
  recordsChecked: number;
  pulsesReexecuted: number;
  /** With --reexecute: whether the reduce was folded again over the stored output and compared. */
  reduceRefolded: boolean;
  /**
   * Whether the manifest's reduce value was checked: `refolded` (folded again and compared,
   * `reduceRefolded`), `none` (the manifest records no reduce value), or `not_checked` — plain
   * verify never folds the reduce again, and `--reexecute` does not when the output or function
   * does not verify or the fold timed out or crashed (then `unchecked` says why). Absent when
   * the manifest could not be read (nothing else was checked).
   */
  reduceCheck?: "refolded" | "none" | "not_checked";
  problems: VerifyProblem[];
  /** Checks that could not be made (VerifyNote); without --reexecute only `output_not_checked` and `run_receipt_not_recorded`. */
  unchecked: VerifyNote[];
}

/**
 * The manifest pinned for a finished run, read back and parsed: `problem` (a finding, with its
 * code) when its bytes do not verify or read back, when it is not JSON, or when it is not shaped
 * like a manifest (manifestShapeProblem) — then nothing else can be checked. E_NOT_FOUND when
 * the run is unknown or unfinished; E_LIMIT_EXCEEDED naming the remedy when the manifest is
 * over MAX_MANIFEST_BYTES (`requireReadableManifest`: an older build's, which cannot be read).
 */
function readManifest(store: Store, runId: string): { digest: Digest; manifest: Manifest; text: string } | { digest: Digest; problem: VerifyProblem } {
  checkRunId(runId);
  const root = store.findRoot(manifestRoot(runId));
  if (root === undefined) {
    const started = store.findRoot(`run:${runId}`) !== undefined;
    if (!started) throw runNotFound(store, runId);
    throw new CairnError(ErrorCode.NOT_FOUND, `run ${runId} in store ${store.root} has not completed (resume it first)`, { runId });
  }
  const digest = root.digest;
  // A manifest too large to read (an older build's) is an error naming the remedy, not a finding.
  requireReadableManifest(store, runId, digest);
  let text: string;
  try {
    text = readRunArtifact(store, runId, "manifest", digest).toString("utf8");
  } catch (err) {
    if (!isCairnError(err)) throw err;
    // Deleted (tombstoned) or collected: nothing to check, and not a tampering; the error names
    // the remedy (plan.ts `readRunArtifact`). Before 2026-11-27 it was reported artifact_tampered.
    if (isLostRunArtifact(err)) throw err;
    return { digest, problem: { code: "artifact_tampered", message: `manifest ${digest}: ${err.message}` } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { digest, problem: { code: "manifest_invalid", message: `manifest ${digest} is not JSON: ${(err as Error).message}` } };
  }
  const shape = manifestShapeProblem(value);
  if (shape !== undefined) return { digest, problem: { code: "manifest_invalid", message: `manifest ${digest} is not a run manifest: ${shape}` } };
  return { digest, manifest: value as Manifest, text };
}

/** The manifest for `replay`: a finding of readManifest is thrown (E_STORE_CORRUPT, or the store's own error). */
function requireManifest(store: Store, runId: string): { manifest: Manifest; digest: Digest } {
  const r = readManifest(store, runId);
  if ("problem" in r) {
    if (r.problem.code === "artifact_tampered") store.get(r.digest); // throws the store's own error
    throw new CairnError(ErrorCode.STORE_CORRUPT, r.problem.message, { runId, digest: r.digest });
  }
  // Another run's manifest (a re-pinned root): replaying its pulses would say "matches" for them.
  requireOwnManifest(r.manifest, runId, r.digest);
  return r;
}

/** Codes of the errors reading an artifact the manifest names can end in: findings for verify, not crashes. */
const ARTIFACT_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.STORE_CORRUPT, ErrorCode.NOT_FOUND, ErrorCode.DIGEST_INVALID]);

/** Whether `err` is a failure to read back an artifact (missing, tombstoned, corrupt, malformed digest). */
function isArtifactError(err: unknown): err is CairnError {
  return isCairnError(err) && ARTIFACT_ERROR_CODES.has(err.code);
}

/**
 * The run's pinned plan (bound to the run id by its hash) names the engine that made it; another
 * engine version's run is refused. A plan that cannot be read is left to `checkPlan` to report,
 * and a manifest that names another engine than its plan is a `plan_mismatch` problem.
 */
function requirePlannedHere(store: Store, runId: string, action: "verified" | "replayed"): void {
  let engine: RunPlan["engine"];
  try {
    engine = loadPlan(store, runId).plan.engine;
  } catch (err) {
    if (isCairnError(err) || err instanceof SyntaxError) return;
    throw err;
  }
  requireThisEngine(engine, runId, action);
}

function pulseName(p: { partition: number; index: number }): string {
  return `${p.partition}/${p.index}`;
}

/**
 * The role of each artifact of pulse `p` a read may fail on (plan.ts `lostRunArtifactFinding`):
 * its slice, records and attempt log; and, when the pulse is executed again with the function
 * bundle `fn`, that bundle and (any other digest) a file of a files input its slice names.
 */
function pulseRoles(p: ManifestPulse, fn?: Digest): (digest: Digest) => RunArtifactRole | undefined {
  return (d) => {
    if (d === p.slice) return "slice";
    if (d === p.records) return "records";
    if (d === p.attemptsArtifact) return "attempt log";
    if (fn === undefined) return undefined;
    return d === fn ? "function bundle" : "input file";
  };
}

/**
 * A pulse's records (one per line), a window's at a time (`RecordWindows`). Each ends with a
 * newline; a last one without it comes as it is, alone and last (`windows.tail` is then not
 * empty: a finding of verify's), never cut by a character.
 */
function* windowsOf(windows: RecordWindows): Generator<string[]> {
  for (let texts = windows.next(); texts !== undefined; texts = windows.next()) yield texts;
  if (windows.tail.length > 0) yield [windows.tail.toString("utf8")];
}

/** `windowsOf`'s records one at a time. */
function* recordsIn(windows: RecordWindows): Generator<string> {
  for (const texts of windowsOf(windows)) yield* texts;
}

/**
 * verify's error for a failure of its ordering index at `path` (only what the index's own calls
 * threw comes here: a store error with a driver's code must not be blamed on TMPDIR): the
 * driver's error, or the index's E_STORE_IO naming it (`runScratchError`), as `scratchError`
 * (naming TMPDIR); any other error as it is.
 */
function scratchFailure(path: string, err: unknown): unknown {
  if (isSqliteError(err)) return scratchError(path, err);
  if (isCairnError(err, ErrorCode.STORE_IO) && err.details?.path === path && isSqliteError(err.cause)) return scratchError(path, err.cause);
  return err;
}

/** The ordering index's texts in EU-id order; a failure of the index's scan is `scratchFailure`. */
function* orderedTexts(index: OrderIndex, path: string): Generator<string> {
  const rows = index.ordered();
  try {
    for (;;) {
      let r: IteratorResult<string>;
      try {
        r = rows.next();
      } catch (err) {
        throw scratchFailure(path, err);
      }
      if (r.done === true) return;
      yield r.value;
    }
  } finally {
    rows.return(undefined); // the scan's statement ends with it (also when verify stops early)
  }
}

/** A record's id and failure: what verify keeps of each record of a pulse (not its output). */
type RecordFacts = { id: EUId; error?: { code: string; message: string } };

/** What one pass over a pulse's records artifact found. */
interface PulseRecords {
  /** Records read (a last one without its newline included). */
  count: number;
  /** Its last record has no newline (the engine ends every record with one). */
  unterminated: boolean;
  /** The Merkle root of its records: the pulse checksum they give. */
  checksum: Digest;
  /** Each record's id and failure, in order; undefined when a line is not a record (`notRecord` says why). */
  recs: RecordFacts[] | undefined;
  notRecord?: string;
  /** Why its records could not join the ordering index (a duplicate id), if so. */
  indexError?: CairnError;
}

/** A records artifact that cannot be read, or does not verify: a finding, not a failure of verify. */
interface UnreadableRecords {
  unreadable: CairnError;
}

/**
 * A pulse whose records artifact cannot be read (deleted, corrupt): its EUs stand in the ordering
 * index as place markers (`UNREADABLE_MARK`, which no record line starts with: a record is a JSON
 * object), and the output's records at those places are hashed into `leaves` (32 bytes per EU, at
 * the EU's place in the pulse's slice): their Merkle root must be the pulse's checksum.
 */
interface UnreadablePulse {
  p: ManifestPulse;
  eus: number;
  leaves: Buffer;
  seen: number;
  failed: number;
}

const UNREADABLE_MARK = "#unreadable ";

/**
 * The most bytes the leaves of the pulses whose records cannot be read may take together (32 per
 * EU, held until the merge walk ends): past it, a further such pulse is not placed, and the output
 * is not compared (`output_not_checked`, reason E_LIMIT_EXCEEDED). 64 MiB: two million EUs.
 */
export const MAX_UNREADABLE_LEAF_BYTES = 64 * 1024 * 1024;

/**
 * Puts pulse `p`'s EUs (read from its slice) in the ordering index as markers of pulse number
 * `k` of `UnreadablePulse`s, their leaves counted against `budget` (bytes left of
 * MAX_UNREADABLE_LEAF_BYTES). When it cannot (nothing added), why not, as `output_not_checked`
 * says it (`reason`): its slice cannot be read or is not a slice (reported by the coverage
 * check), holds ids of the wrong kind or ids already merged, or its leaves would exceed `budget`.
 */
function placeUnreadablePulse(store: Store, p: ManifestPulse, byIndex: boolean, index: OrderIndex, indexPath: string, k: number, budget: { left: number; cap: number }): UnreadablePulse | { why: string; reason: string } {
  const notPlaced = (why: string, reason = "records_unreadable"): { why: string; reason: string } => ({ why: `pulse ${pulseName(p)}'s records cannot be read, and ${why}`, reason });
  let ids: EUId[];
  try {
    ids = sliceEntries(store.get(p.slice)).map((e) => e.id);
  } catch (err) {
    if (isArtifactError(err)) return notPlaced(`its slice ${p.slice} cannot be read either`);
    if (isSliceShapeError(err)) return notPlaced(`its slice ${p.slice} is not a batch slice`);
    throw err;
  }
  if (byIndex && ids.some((id) => !Number.isSafeInteger(id) || (id as number) < 0)) return notPlaced(`its slice ${p.slice} holds ids that are not record indexes`);
  const bytes = ids.length * 32;
  if (bytes > budget.left) return notPlaced(`the output's records of its ${ids.length} EUs would take the leaves held for such pulses past ${budget.cap} bytes (MAX_UNREADABLE_LEAF_BYTES)`, ErrorCode.LIMIT_EXCEEDED);
  try {
    index.addOutputs(ids, ids.map((_, at) => `${UNREADABLE_MARK}${k} ${at}`));
  } catch (err) {
    if (isCairnError(err, ErrorCode.INTERNAL)) return notPlaced(`its slice ${p.slice} holds an id already merged from another pulse`);
    throw scratchFailure(indexPath, err);
  }
  budget.left -= bytes;
  return { p, eus: ids.length, leaves: Buffer.alloc(bytes), seen: 0, failed: 0 };
}

/** The place a marker of `placeUnreadablePulse` stands for, or undefined for a record line. */
function unreadablePlace(text: string): { pulse: number; at: number } | undefined {
  if (!text.startsWith(UNREADABLE_MARK)) return undefined;
  const [pulse, at] = text.slice(UNREADABLE_MARK.length).split(" ").map(Number);
  return { pulse: pulse as number, at: at as number };
}

/** A failure record line parsed, or undefined when it is not JSON. */
function failedRecordOf(text: string): ReturnType<typeof parseRecord> | undefined {
  try {
    return parseRecord(text);
  } catch {
    return undefined;
  }
}

/** Thrown inside `OrderIndex.atomically` to roll back a pulse's records. */
const ROLL_BACK = new Error("roll back the pulse's records");

/**
 * Reads a pulse's records artifact once, a window at a time (so verify holds one window of
 * records, not the pulse): counts and hashes the records, keeps each one's id and failure, and
 * adds them to the ordering index — all of them, or (a line that is not a record, an id already
 * there) none. A records artifact that cannot be read is `unreadable` (nothing added), and any
 * other failure of the store's read is thrown as it is; a failure of the ordering index itself
 * (its scratch database at `indexPath` cannot be written) is thrown as `scratchFailure`.
 */
function scanPulseRecords(store: Store, digest: Digest, byIndex: boolean, index: OrderIndex, indexPath: string): PulseRecords | UnreadableRecords {
  const builder = new MerkleBuilder();
  const out: PulseRecords = { count: 0, unterminated: false, checksum: builder.root(), recs: [] };
  const take = (texts: string[]): void => {
    const ids: EUId[] = [];
    for (const text of texts) {
      builder.addRaw(leafOf(text));
      out.count++;
      if (out.recs === undefined) continue;
      try {
        const rec = checkedRecord(text, byIndex);
        out.recs.push(rec);
        ids.push(rec.id);
      } catch (err) {
        out.recs = undefined;
        out.notRecord = (err as Error).message;
      }
    }
    if (out.recs === undefined || out.indexError !== undefined) return;
    try {
      index.addOutputs(ids, texts);
    } catch (err) {
      // A duplicate id is E_INTERNAL there; E_STORE_IO (the scratch database) is thrown on.
      if (!isCairnError(err, ErrorCode.INTERNAL)) throw err;
      out.indexError = err;
    }
  };
  let windows: RecordWindows;
  try {
    windows = new RecordWindows(store.openReader(digest));
  } catch (err) {
    if (isCairnError(err)) return { unreadable: err };
    throw err;
  }
  let readFailure: unknown;
  /** The windows, with a failure of the reader (not of the index) remembered. */
  function* read(): Generator<string[]> {
    try {
      yield* windowsOf(windows);
    } catch (err) {
      readFailure = err;
      throw err;
    }
  }
  try {
    index.atomically(() => {
      for (const texts of read()) take(texts);
      out.unterminated = windows.tail.length > 0;
      if (out.recs === undefined || out.indexError !== undefined) throw ROLL_BACK;
    });
  } catch (err) {
    if (err === ROLL_BACK) {
      // rolled back: a line that is not a record, or an id already merged
    } else if (readFailure !== undefined && err === readFailure) {
      if (isCairnError(err)) return { unreadable: err };
      throw err;
    } else {
      throw scratchFailure(indexPath, err);
    }
  } finally {
    windows.close();
  }
  out.checksum = builder.root();
  return out;
}

/**
 * The lines of a stored JSONL artifact, streamed (verified by the store before any byte). A last
 * line without its newline is yielded too, and `end.unterminated` then set (the engine ends
 * every line with one).
 */
async function* artifactLines(store: Store, digest: Digest, end?: { unterminated: boolean }): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of store.openReadStream(digest)) {
    const lines = (rest + decoder.write(chunk as Buffer)).split("\n");
    rest = lines.pop() as string;
    yield* lines;
  }
  rest += decoder.end();
  if (rest.length > 0) {
    if (end !== undefined) end.unterminated = true;
    yield rest;
  }
}

/**
 * Reads the function bundle back through the store (streamed, so re-hashed in bounded memory).
 * The plan check compares its digest only; this checks its bytes. False (with a finding) when it
 * does not verify.
 */
async function checkFunction(store: Store, m: Manifest, add: (p: VerifyProblem) => void): Promise<boolean> {
  const fn = m.function.artifact;
  try {
    for await (const chunk of store.openReadStream(fn)) void chunk;
    return true;
  } catch (err) {
    if (!isCairnError(err)) throw err;
    add({ code: "artifact_tampered", message: `function artifact ${fn}: ${err.message}` });
    return false;
  }
}

/** The members a record has, sorted: a completed EU's, a bytes output's, a failed EU's. */
const RECORD_MEMBERS: ReadonlySet<string> = new Set([["id", "output"], ["bytes", "id"], ["error", "id"]].map((m) => JSON.stringify(m)));

/**
 * A record line's id and failure, when it has the shape the engine writes (a JSON object with
 * those members, an id of the run's kind, a failure with a code and a message, bytes as a
 * string); throws an Error saying what it is instead (JSON.parse's own message for a line
 * that is not JSON).
 */
function checkedRecord(text: string, byIndex: boolean): RecordFacts {
  const rec = JSON.parse(text) as unknown;
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) throw new Error(`a line that is not a JSON object: ${shown(text)}`);
  const keys = Object.keys(rec).sort();
  if (!RECORD_MEMBERS.has(JSON.stringify(keys))) throw new Error(`a record with the members ${echoed(keys.join(", "))} (a record has id and output, id and bytes, or id and error)`);
  const { id, error: e, bytes } = rec as { id: unknown; error?: unknown; bytes?: unknown };
  const idOk = byIndex ? Number.isSafeInteger(id) && (id as number) >= 0 : typeof id === "string" || Number.isSafeInteger(id);
  if (!idOk) throw new Error(`a record with the id ${echoedJson(id)}`);
  if (bytes !== undefined && typeof bytes !== "string") throw new Error(`a bytes record of id ${echoedJson(id)} whose bytes are not a string`);
  if (e !== undefined) {
    if (e === null || typeof (e as { code?: unknown }).code !== "string" || typeof (e as { message?: unknown }).message !== "string") {
      throw new Error(`a failure record of id ${echoedJson(id)} without a code and a message`);
    }
    return { id: id as EUId, error: e as EUError };
  }
  return { id: id as EUId };
}

/**
 * The receipt's own artifact (a receipt's body is also stored as an artifact under its digest),
 * read back through the store, which re-hashes it: undefined when it verifies, else why not.
 * (The store's receipt load checks the catalog row's copy of the body, not this one.)
 */
function receiptArtifactProblem(store: Store, digest: Digest): string | undefined {
  try {
    store.get(digest);
    return undefined;
  } catch (err) {
    if (!isArtifactError(err)) throw err;
    return err.message;
  }
}

/**
 * Pulse `p`'s receipt, which the manifest names and contains: found by its digest, its catalog
 * body and its stored artifact intact (the store re-hashes both, and checks the body's shape), and recording function →
 * slice ⇒ records (and attempt log) with this run's params. Each failure is a `receipt_mismatch` finding; the receipt is returned when it could
 * be read (the attempt-log checks use it), else undefined. A receipt deleted from the catalog
 * (`pruneReceipt`) names its remedy: with the manifest and report roots unpinned, `resume`
 * executes a pulse it finds no receipt for again and records its receipt (which restores the
 * run only when the pulse gives the same records again: not after a timeout or a worker crash,
 * then the rebuilt manifest differs and recording its run receipt conflicts). A receipt whose
 * stored artifact alone is deleted (`cairn store rm`, or collected) says that resume does not
 * store it again (the catalog still holds the receipt, so resume reuses the pulse): only the
 * run made again in a new store verifies.
 */
function checkPulseReceipt(store: Store, runId: string, m: Manifest, p: ManifestPulse, expectParams: ReadonlySet<string>, add: (p: VerifyProblem) => void): Receipt | undefined {
  const name = pulseName(p);
  let r: Receipt;
  try {
    r = store.getReceipt(p.receipt);
  } catch (err) {
    if (!isCairnError(err)) throw err;
    const message = err.code === ErrorCode.NOT_FOUND
      ? `pulse ${name}: receipt ${p.receipt} is not in the store (deleted from its catalog, or never recorded): nothing records that the pulse's records came from its slice. To record it again, execute its pulse again: ${unpinAndResume(runId)} (resume executes again a pulse whose receipt it does not find, and records its receipt; this restores the run when its pulse gives the same records again)`
      : `pulse ${name}: receipt ${p.receipt} cannot be read: ${err.message}`;
    add({ code: "receipt_mismatch", pulse: name, message });
    return undefined;
  }
  const stored = receiptArtifactProblem(store, p.receipt);
  if (stored !== undefined) {
    const loss = artifactLoss(store, p.receipt);
    const message =
      loss === undefined
        ? `pulse ${name}: the stored artifact of receipt ${p.receipt} cannot be read: ${stored}`
        : `pulse ${name}: the stored artifact of receipt ${p.receipt} ${ARTIFACT_LOSS_TEXT[loss]}: the catalog still holds the receipt, so resume reuses the pulse and does not store it again; for a run that verifies, run the same cairn run command into a new store (--store <dir>)`;
    add({ code: "receipt_mismatch", pulse: name, message });
  }
  if (r.program !== m.function.artifact || r.inputs.length !== 1 || r.inputs[0] !== p.slice || r.outputs[0] !== p.records || !expectParams.has(canonicalize(r.params))) {
    add({ code: "receipt_mismatch", pulse: name, message: `pulse ${name}: receipt ${p.receipt} does not record function → slice ⇒ records` });
  }
  return r;
}

/**
 * The run receipt recordManifest records beside the manifest (function + input, params
 * {kind: RUN_RECEIPT_KIND, plan} ⇒ output + manifest), looked up by the pinned plan's action
 * (`plan`, the run's: a manifest naming others is plan_mismatch): its catalog body and stored
 * artifact intact, and what it records the pinned manifest `m` (digest `manifest`): its
 * outputs the manifest's output artifact and the manifest itself, its status the manifest's
 * run status (`runReceiptStatus`: "failed" when EUs failed without allowFailures, else "succeeded").
 * A receipt the store cannot read (its catalog body not its identity, or not shaped as a receipt:
 * `checkedReceiptBody`) is one finding, and nothing else is compared.
 * Each failure is one `receipt_mismatch` finding: a manifest forged and pinned in place of the
 * one the run recorded (changing what nothing else re-derives without --reexecute: resource
 * figures, attempts, failure messages, the reduce value) is caught here unless the receipt was
 * re-recorded for it as well. Such a manifest (only when the digest the receipt records reads
 * back as a manifest of this run, `recordedManifestProblem`: else the receipt itself is suspect,
 * and no remedy is named), and a run receipt whose stored artifact is deleted, name the remedy: with the manifest and report roots unpinned, `resume` rebuilds the
 * manifest from the committed pulses and records the run receipt again (storing its artifact
 * again). One that is not in the store is a `run_receipt_not_recorded`
 * note, not a finding: runs finished before 2026-11-26 (commit d3b1144) recorded none, and
 * nothing tells them apart from a later run whose receipt was deleted — the engine version
 * (plan and manifest) was "1" before and after, and the manifest's format did not change with it.
 */
function checkRunReceipt(store: Store, runId: string, plan: RunPlan, manifest: Digest, m: Manifest, add: (p: VerifyProblem) => void, note: (n: VerifyNote) => void): void {
  const planDigest = store.findRoot(planRoot(runId))?.digest;
  if (planDigest === undefined) return; // checkPlan reported it
  const action = `the run receipt (function ${plan.function.artifact} + input ${plan.input.artifact}, plan ${planDigest})`;
  let r: Receipt | undefined;
  try {
    r = store.findReceipt(plan.function.artifact, [plan.input.artifact], { kind: RUN_RECEIPT_KIND, plan: planDigest });
  } catch (err) {
    if (!isCairnError(err)) throw err;
    add({ code: "receipt_mismatch", message: `${action} cannot be read: ${err.message}` });
    return;
  }
  if (r === undefined) {
    note({ code: "run_receipt_not_recorded", reason: ErrorCode.NOT_FOUND, message: `${action} is not in the store: a run finished before 2026-11-26 recorded none (or it was deleted from the catalog), so it was not checked` });
    return;
  }
  // The remedy of a run receipt deleted from the store and of a manifest pinned in place of the
  // run's: resume rebuilds the manifest from the committed pulses and records the run receipt.
  const remedy = `${unpinAndResume(runId)} (resume rebuilds the manifest from the run's committed pulses and records the run receipt again)`;
  const stored = receiptArtifactProblem(store, r.digest);
  if (stored !== undefined) {
    const loss = artifactLoss(store, r.digest);
    const message =
      loss === undefined ? `the stored artifact of the run receipt ${r.digest} cannot be read: ${stored}` : `the stored artifact of the run receipt ${r.digest} ${ARTIFACT_LOSS_TEXT[loss]}. To store it again: ${remedy}`;
    add({ code: "receipt_mismatch", message });
  }
  const [recordedOutput, recordedManifest] = r.outputs;
  const status = runReceiptStatus(m);
  if (recordedManifest !== manifest) {
    const output = m.output.artifact === recordedOutput ? "" : `, whose output is ${m.output.artifact}`;
    const recorded = `the run receipt ${r.digest} records manifest ${recordedManifest ?? "<none>"} and output ${recordedOutput ?? "<none>"}; the manifest pinned for run ${runId} is ${manifest}${output}`;
    // The remedy unpins the pinned manifest: given only when the receipt names a manifest of
    // this run, which resume then rebuilds. A receipt naming anything else is itself suspect:
    // following the remedy would unpin the run's genuine manifest, and resume would then fail
    // with E_CONFLICT recording the run receipt, leaving the run unpinned.
    const notOwn = recordedManifestProblem(store, runId, planDigest, recordedManifest);
    add({
      code: "receipt_mismatch",
      message:
        notOwn === undefined
          ? `${recorded} (a manifest pinned in place of the one the run recorded). To pin the run's own again: ${remedy}`
          : `${recorded}; the run receipt names no manifest of run ${runId} (${notOwn}), so it is itself suspect (re-recorded or forged in the catalog) and no remedy unpins the pinned manifest: compare the pinned manifest with the run's own records; cairn verify ${runId} --reexecute re-derives its outputs`,
    });
  } else if (recordedOutput !== m.output.artifact || r.outputs.length !== 2) {
    add({
      code: "receipt_mismatch",
      message: `the run receipt ${r.digest} records manifest ${manifest}, the one pinned for run ${runId}, but the outputs ${r.outputs.join(", ")}, not the manifest's output ${m.output.artifact} and the manifest`,
    });
  } else if (r.status !== status) {
    add({
      code: "receipt_mismatch",
      message: `the run receipt ${r.digest} records status ${r.status}; the manifest ${manifest} pinned for run ${runId} gives status ${status} (${m.counts.failed} failed EUs, allowFailures ${String(m.config.allowFailures)})`,
    });
  }
}

/**
 * Why `recorded` (the manifest digest a run receipt records, one other than the pinned manifest)
 * is not a manifest of run `runId` with its pinned plan `planDigest`, or undefined when it is:
 * in the store, readable (at most MAX_MANIFEST_BYTES), JSON shaped like a manifest
 * (`manifestShapeProblem`), of this run (`foreignManifestProblem`) and naming the pinned plan.
 * Only then is the pinned manifest the suspect one, and unpinning it and resuming (which
 * rebuilds the manifest the receipt records) the remedy.
 */
function recordedManifestProblem(store: Store, runId: string, planDigest: Digest, recorded: string | undefined): string | undefined {
  if (recorded === undefined) return "it records none";
  if (!isDigest(recorded)) return `${echoedJson(recorded)} is not a digest`;
  let text: string;
  try {
    const size = store.stat(recorded).size;
    if (size > MAX_MANIFEST_BYTES) return `${recorded} is ${size} bytes, more than a manifest (${MAX_MANIFEST_BYTES})`;
    text = store.get(recorded).toString("utf8");
  } catch (err) {
    if (!isCairnError(err)) throw err;
    const loss = err.code === ErrorCode.NOT_FOUND ? artifactLoss(store, recorded) : undefined;
    if (loss !== undefined) return `${recorded} ${ARTIFACT_LOSS_TEXT[loss]}`;
    return err.code === ErrorCode.NOT_FOUND ? `${recorded} is not in the store` : `${recorded} cannot be read: ${err.message}`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `${recorded} is not JSON`;
  }
  const shape = manifestShapeProblem(value);
  if (shape !== undefined) return `${recorded} is not a run manifest: ${shape}`;
  const foreign = foreignManifestProblem(value as Manifest, runId);
  if (foreign !== undefined) return `${recorded} is not this run's: ${foreign}`;
  const named = (value as Manifest).plan;
  if (named !== planDigest) return `${recorded} names the plan ${named}, not the run's pinned plan ${planDigest}`;
  return undefined;
}

/**
 * Reads a pulse's EUs back from its stored slice. A JSON input goes to the worker as its
 * canonical text (`inputJson`), as in the run: the run sends that text (engine.ts toSpec), and
 * a structured clone of the parsed value would overflow the stack on inputs nested a few
 * thousand levels deep, which the run handled.
 */
export function sliceEUs(store: Store, slice: Digest): WorkEU[] {
  const bytes = store.get(slice);
  let eus: Array<{ id: EUId; input?: unknown; input_artifact?: Digest }>;
  try {
    eus = sliceEntries(bytes) as typeof eus;
  } catch (err) {
    // Bytes that verify but are not a slice: only a manifest that names the wrong artifact.
    throw new CairnError(ErrorCode.STORE_CORRUPT, `slice ${slice} is not a batch slice: ${(err as Error).message}`, { digest: slice });
  }
  return eus.map((e): WorkEU => {
    if (e.input_artifact !== undefined) return { id: e.id, input: store.get(e.input_artifact) };
    let inputJson: string;
    try {
      inputJson = canonicalText(e.input);
    } catch {
      return { id: e.id, input: e.input }; // no canonical form (a tampered slice): sent as the value
    }
    return { id: e.id, input: undefined, inputJson };
  });
}

/**
 * Re-checks a finished run from the store alone. `opts` (api-checks.ts `checkVerifyOptions`):
 * `reexecute` (a boolean), `sample` (a non-negative integer, with `reexecute: true` only) and
 * `signal` (an AbortSignal: its abort rejects with E_INTERRUPTED, at once during a
 * re-execution, else at the next pulse checked); any other key or type, and a store that is
 * not a Store, is E_USAGE naming it.
 */
export async function verifyRun(store: Store, runId: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  return verifyRunCapped(store, runId, options, MAX_UNREADABLE_LEAF_BYTES);
}

/**
 * `verifyRun` with the cap on the leaves held for pulses whose records cannot be read
 * (MAX_UNREADABLE_LEAF_BYTES) given, and the size past which an attempt log is not read
 * (`attemptLogCap`, MAX_ATTEMPT_LOG_BYTES): for tests of what happens past them.
 * @internal
 */
export async function verifyRunCapped(store: Store, runId: string, options: VerifyOptions, leafCap: number, attemptLogCap: number = MAX_ATTEMPT_LOG_BYTES): Promise<VerifyReport> {
  checkStore(store, "verifyRun");
  checkRunId(runId);
  const opts = checkVerifyOptions(options);
  // An abort stops the verify at its next check (VerifyOptions.signal): nothing is written.
  const stop = new AbortPoint(opts.signal, `verify aborted (run ${runId}: nothing was written to the store)`, { runId });
  stop.check();
  const read = readManifest(store, runId);
  requirePlannedHere(store, runId, "verified");
  const problems: VerifyProblem[] = [];
  const add = (p: VerifyProblem): void => {
    if (problems.length < MAX_VERIFY_PROBLEMS) problems.push(p);
  };
  const report: VerifyReport = { ok: false, runId, manifestDigest: read.digest, pulsesChecked: 0, recordsChecked: 0, pulsesReexecuted: 0, reduceRefolded: false, reduceCheck: "not_checked", problems, unchecked: [] };
  if ("problem" in read) {
    // Nothing else can be checked against a manifest that is not one.
    delete report.reduceCheck;
    add(read.problem);
    return report;
  }
  const { manifest: m, text } = read;
  if (canonicalize(m) !== text) add({ code: "manifest_invalid", message: "manifest is not canonical JSON" });
  // The manifest against the run's plan and input: a self-consistent manifest that left out
  // records would pass every check below.
  if (m.runId !== runId) add({ code: "plan_mismatch", message: `the manifest pinned for run ${runId} describes run ${m.runId}` });
  else if (foreignManifestProblem(m, runId) !== undefined) add({ code: "plan_mismatch", message: `the manifest pinned for run ${runId} names the plan ${m.plan}, which does not hash to the run id` });
  // The run's config is the pinned plan's (bound to the run id by its hash): a manifest whose
  // config differs is reported above and not used.
  const plan = checkPlan(store, runId, m, add);
  const cfg = plan?.config ?? m.config;
  const misnumbered = checkPulseLayout(m, cfg, add);
  // The run's function bundle or input (the pinned plan's, named alike by the manifest) deleted
  // since the run cannot be checked: an error naming the remedy (plan.ts `requireRunArtifact`),
  // not a finding of tampering or a mismatch. A manifest naming another artifact than the plan
  // is a plan_mismatch finding above, and what it names is checked as a finding below.
  if (plan !== undefined && plan.function.artifact === m.function.artifact) requireRunArtifact(store, runId, "function bundle", plan.function.artifact);
  if (plan !== undefined && plan.input.artifact === m.input.artifact) requireRunArtifact(store, runId, "input", plan.input.artifact);
  const functionOk = await checkFunction(store, m, add);
  stop.check();
  // A SIGKILLed verify's scratch databases, before this one makes its own (verify-input.ts).
  sweepVerifyScratch();
  const unreadableSlices = await checkInputCoverage(store, m, add, cfg, misnumbered, runId, plan !== undefined && plan.input.artifact === m.input.artifact, stop);

  // The receipt params a pulse of this run may carry: today's, or those of a pulse committed
  // before the worker heap limit joined them (2026-11-26), which other runs may have reused.
  const expectParams = new Set([canonicalize(pulseParams(cfg)), canonicalize(legacyPulseParams(cfg))]);
  const byIndex = cfg.idField === null;
  let outputOk = true;
  /**
   * The pulses' artifacts (records, attempt logs, slices) already reported as unreadable: a
   * pulse that `--reexecute` cannot re-execute for one of them is not reported a second time.
   * Its slices are those the coverage check reported: none when it could not read the input back.
   */
  const reported = new Set<string>(unreadableSlices);
  const indexPath = scratchPath(VERIFY_ORDER_TEMP_PREFIX);
  let index: OrderIndex;
  try {
    index = new OrderIndex(indexPath, byIndex);
  } catch (err) {
    removeScratch(indexPath);
    throw scratchFailure(indexPath, err);
  }
  /**
   * The artifacts read line by line below (the output, the failures artifact), closed however
   * the comparison ends: one left suspended mid-read (an abort, `stop`) kept its file descriptor
   * open for the life of the process (a review finding).
   */
  const lineReaders: AsyncGenerator<string>[] = [];
  try {
    let total = 0;
    let failed = 0;
    let retried = 0;
    let retriedUnknown = false; // an attempts artifact that cannot be read (reported) has no count
    /** Pulses whose records cannot be read: their EUs' output records are checked against their checksums. */
    const unreadable: UnreadablePulse[] = [];
    const leafBudget = { left: leafCap, cap: leafCap };
    /**
     * The first pulse whose records cannot be read and whose EUs cannot be placed in the output
     * either (`placeUnreadablePulse`: why, and the note's reason): the output is compared with nothing.
     */
    let outputUncheckable: { why: string; reason: string } | undefined;
    for (const p of m.pulses) {
      if (stop.due()) await stop.pause();
      const name = pulseName(p);
      report.pulsesChecked++;
      const scan = scanPulseRecords(store, p.records, byIndex, index, indexPath);
      if ("unreadable" in scan) {
        add({ code: "artifact_tampered", pulse: name, message: lostRunArtifactFinding(store, runId, scan.unreadable, `pulse ${name}: records ${p.records}`, pulseRoles(p)) });
        reported.add(p.records);
        checkPulseReceipt(store, runId, m, p, expectParams, add);
        // Its EUs' records are taken from the output and checked against its checksum instead.
        // Once one cannot be placed, the output is compared with nothing: no further one is placed.
        const placed = outputUncheckable === undefined ? placeUnreadablePulse(store, p, byIndex, index, indexPath, unreadable.length, leafBudget) : undefined;
        if (placed === undefined) continue;
        if ("why" in placed) {
          outputUncheckable = placed;
          continue;
        }
        unreadable.push(placed);
        total += placed.eus;
        failed += p.failed; // compared with the output's records once they are checked (below)
        try {
          retried += storedAttemptLog(store, p, attemptLogCap).length;
        } catch (err) {
          if (!isArtifactError(err) && !isAttemptLogTooLarge(err, p)) throw err;
          retriedUnknown = true;
        }
        continue;
      }
      const count = scan.count;
      if (scan.unterminated) add({ code: "count_mismatch", pulse: name, message: `pulse ${name}: records artifact ${p.records} does not end with a newline: its last record is cut` });
      if (count !== p.eus) add({ code: "count_mismatch", pulse: name, message: `pulse ${name} holds ${count} records, manifest says ${p.eus}` });
      const sum = scan.checksum;
      if (sum !== p.checksum) add({ code: "checksum_mismatch", pulse: name, message: `pulse ${name}: records hash to ${sum}, manifest says ${p.checksum}` });
      const r = checkPulseReceipt(store, runId, m, p, expectParams, add);
      // The records must be the slice's EUs, in its order, and their failures the manifest's.
      const recs = scan.recs;
      if (recs === undefined) {
        add({ code: "artifact_tampered", pulse: name, message: `pulse ${name}: records ${p.records} hold a line that is not a record: ${scan.notRecord as string}` });
        continue;
      }
      const sliceIds = (() => {
        try {
          return sliceEntries(store.get(p.slice)).map((e) => canonicalize(e.id));
        } catch (err) {
          // Reported by the coverage check when it read the input back (then in `reported`), else
          // by --reexecute, which cannot re-execute the pulse. A bug's error (a TypeError) is thrown.
          if (!isCairnError(err) && !isSliceShapeError(err)) throw err;
          return undefined;
        }
      })();
      const recIds = recs.map((x) => canonicalize(x.id));
      if (sliceIds !== undefined && (sliceIds.length !== recIds.length || sliceIds.some((id, k) => id !== recIds[k]))) {
        const k = sliceIds.findIndex((id, j) => id !== recIds[j]);
        add({ code: "output_mismatch", pulse: name, message: `pulse ${name}: its records are not its slice's EUs in order (position ${k < 0 ? Math.min(sliceIds.length, recIds.length) : k}: slice ${echoed(sliceIds[k] ?? "<none>")}, records ${echoed(recIds[k] ?? "<none>")})` });
      }
      const failedHere = recs.filter((x) => x.error !== undefined).length;
      if (failedHere !== p.failed || p.completed !== count - failedHere) {
        add({ code: "count_mismatch", pulse: name, message: `pulse ${name} holds ${failedHere} failed and ${count - failedHere} completed records, manifest says ${p.failed} and ${p.completed}` });
      }
      failed += failedHere;
      // The attempt log: the receipt's attempts artifact, byte for byte (none: no attempts),
      // inline or named by its digest.
      let log: AttemptLog[] | undefined = p.attempts;
      if (p.attemptsArtifact !== undefined) {
        const named = p.attemptsArtifact;
        if (r !== undefined && (r.outputs.length !== 2 || r.outputs[1] !== named)) {
          add({ code: "receipt_mismatch", pulse: name, message: `pulse ${name}: its attempt log ${named} is not the one its receipt records` });
        }
        try {
          log = storedAttemptLog(store, p, attemptLogCap);
        } catch (err) {
          if (isAttemptLogTooLarge(err, p)) {
            add({ code: "artifact_tampered", pulse: name, message: `pulse ${name}: ${err.message}` });
          } else {
            if (!isArtifactError(err)) throw err;
            add({ code: "artifact_tampered", pulse: name, message: lostRunArtifactFinding(store, runId, err, `pulse ${name}: attempt log ${named}`, pulseRoles(p)) });
          }
          reported.add(named);
          log = undefined;
          retriedUnknown = true;
        }
        if (log !== undefined && inlinesAttempts(log)) {
          add({ code: "manifest_invalid", pulse: name, message: `pulse ${name}: its attempt log is named by its digest, but a log of at most ${MAX_INLINE_ATTEMPTS_BYTES} bytes is held inline` });
        }
      } else {
        // Held inline, and also stored as the attempts artifact the receipt records: one deleted
        // (or collected) is that finding with its remedy, as for one the manifest names (before
        // 2026-11-28: "… is not the one its receipt records").
        const attemptsOk = (() => {
          if (r === undefined) return true; // no receipt: reported above
          if (r.outputs.length !== 2) return r.outputs.length === 1 && p.attempts.length === 0;
          const stored = r.outputs[1] as Digest;
          try {
            return store.get(stored).toString("utf8") === canonicalize(p.attempts);
          } catch (err) {
            if (!isCairnError(err, ErrorCode.NOT_FOUND) || artifactLoss(store, stored) === undefined) return false;
            add({ code: "artifact_tampered", pulse: name, message: lostRunArtifactFinding(store, runId, err, `pulse ${name}: attempt log ${stored}`, (d) => (d === stored ? "attempt log" : undefined)) });
            reported.add(stored);
            return true;
          }
        })();
        if (!attemptsOk) add({ code: "receipt_mismatch", pulse: name, message: `pulse ${name}: its attempt log is not the one its receipt records` });
      }
      if (log !== undefined) {
        const logProblem = attemptLogProblem(log, recs, cfg.retries);
        if (logProblem !== undefined) add({ code: "count_mismatch", pulse: name, message: `pulse ${name}: its attempt log does not fit its records: ${logProblem}` });
        retried += log.length;
      }
      if (scan.indexError !== undefined) {
        add({ code: "output_mismatch", pulse: name, message: `pulse ${name}: ${scan.indexError.message}` });
        continue;
      }
      total += count;
      report.recordsChecked += count;
    }
    const c = m.counts;
    if (outputUncheckable === undefined && (c.completed + c.failed !== c.total || c.total !== total || m.input.records !== c.total || c.failed !== failed || (c.retried !== retried && !retriedUnknown) || m.output.records !== c.total)) {
      add({
        code: "count_mismatch",
        message: `counts do not add up: ${c.completed} completed + ${c.failed} failed (records: ${failed} failed), total ${c.total}, records in pulses ${total}, read ${m.input.records}, output ${m.output.records}, retried ${c.retried} (attempt logs: ${retried})`,
      });
    }
    // The ordered output, recomputed from the pulses, must match the stored output (streamed:
    // it may be larger than memory) and the output digest.
    const builder = new MerkleBuilder();
    // The output artifact's bytes as the engine writes them (every record's line and its
    // newline), hashed as they are merged: the stored artifact must be exactly those bytes.
    const expectedBytes = createHash("sha256");
    const storedEnd = { unterminated: false };
    const stored = artifactLines(store, m.output.artifact, storedEnd);
    lineReaders.push(stored);
    let storedOk = true;
    const nextStored = async (): Promise<string | undefined> => {
      if (!storedOk) return undefined;
      try {
        const r = await stored.next();
        return r.done === true ? undefined : r.value;
      } catch (err) {
        if (!isCairnError(err)) throw err;
        storedOk = false;
        add({ code: "artifact_tampered", message: lostRunArtifactFinding(store, runId, err, `output artifact ${m.output.artifact}`, (d) => (d === m.output.artifact ? "output" : undefined)) });
        return undefined;
      }
    };
    let i = 0;
    let mismatched = false;
    let f = 0; // failed records so far: the manifest lists the first ones (or, before 2026-11-26, all), in output order
    let failureMismatch = false;
    // The failures artifact, when the manifest names one: a line per failed record, in output
    // order (streamed, re-hashed by the store before any byte). Its first lines are the inline
    // list, which is compared with the same records.
    const named = m.failuresArtifact;
    const failureLines = named === undefined ? undefined : artifactLines(store, named);
    if (failureLines !== undefined) lineReaders.push(failureLines);
    let failuresOk = named !== undefined;
    let failureLinesRead = 0;
    let failureLineMismatch = false;
    const nextFailureLine = async (): Promise<string | undefined> => {
      if (failureLines === undefined || !failuresOk) return undefined;
      try {
        const r = await failureLines.next();
        if (r.done === true) return undefined;
        failureLinesRead++;
        return r.value;
      } catch (err) {
        if (!isCairnError(err)) throw err;
        failuresOk = false;
        add({ code: "artifact_tampered", message: lostRunArtifactFinding(store, runId, err, `failures artifact ${named as string}`, (d) => (d === named ? "failures artifact" : undefined)) });
        return undefined;
      }
    };
    if (outputUncheckable !== undefined) {
      // A pulse whose records cannot be read and whose EUs could not be placed (reported, or past
      // the cap): where its EUs' records lie in the output is unknown, so the output is compared
      // with nothing (not: found to differ).
      report.unchecked.push({
        code: "output_not_checked",
        reason: outputUncheckable.reason,
        message: `the output ${m.output.artifact} was not compared with the pulses' records: ${outputUncheckable.why}`,
      });
    }
    /**
     * The first pulse whose records cannot be read met in the merge once the output cannot be read
     * either (reported): the merged records lack its EUs', so the merge is incomplete from there
     * and what it would be compared with (the output digest, the failures) is not compared.
     */
    let mergeLost: UnreadablePulse | undefined;
    for (const merged of outputUncheckable === undefined ? orderedTexts(index, indexPath) : []) {
      if (stop.due()) await stop.pause();
      let text = merged;
      let line: string | undefined;
      const place = unreadablePlace(merged);
      if (place !== undefined) {
        // An EU of a pulse whose records cannot be read: the output's record is taken as it is
        // and its leaf kept at the EU's place in the pulse, for the pulse's checksum (below).
        line = await nextStored();
        if (line === undefined && !storedOk) {
          mergeLost = unreadable[place.pulse] as UnreadablePulse;
          break;
        }
        if (line === undefined) {
          if (!mismatched) {
            mismatched = true;
            add({ code: "output_mismatch", message: `output record ${i} is missing: the output artifact holds ${i} records` });
          }
          i++;
          continue;
        }
        const u = unreadable[place.pulse] as UnreadablePulse;
        u.leaves.set(leafOf(line), place.at * 32);
        u.seen++;
        if (isFailedRecord(line)) u.failed++;
        text = line;
      }
      builder.addRaw(leafOf(text));
      expectedBytes.update(`${text}\n`, "utf8");
      // (An output line at an unreadable pulse's place that is not a record fails its checksum.)
      const rec = isFailedRecord(text) ? failedRecordOf(text) : undefined;
      if (rec !== undefined) {
        const listed = m.failures[f];
        if (listed !== undefined && !failureMismatch && canonicalize(listed) !== canonicalize({ id: rec.id, code: rec.error?.code, message: rec.error?.message })) {
          failureMismatch = true; // the first one only
          add({ code: "count_mismatch", message: `failure ${f} of the manifest, ${shown(canonicalize(listed))}, is not the output's failed record ${shown(text)}` });
        }
        if (failureLines !== undefined) {
          const line = await nextFailureLine();
          const want = failureLine({ id: rec.id, code: rec.error?.code as string, message: rec.error?.message as string });
          if (failuresOk && line !== undefined && line !== want && !failureLineMismatch) {
            failureLineMismatch = true; // the first one only
            add({ code: "count_mismatch", message: `failure ${f} of the failures artifact ${named as string}, ${shown(line)}, is not the output's failed record ${shown(text)}` });
          }
        }
        f++;
      }
      if (place === undefined) line = await nextStored();
      if (storedOk && line !== text && !mismatched) {
        mismatched = true; // report the first difference only; the digest check covers the rest
        add({ code: "output_mismatch", message: `output record ${i} differs from the merged pulse records: ${line === undefined ? "<missing>" : shown(line)} vs ${shown(text)}` });
      }
      i++;
    }
    for (const u of unreadable) {
      const name = pulseName(u.p);
      if (u.seen !== u.eus) continue; // the output is short or unreadable: reported above
      const tree = new MerkleBuilder();
      for (let k = 0; k < u.eus; k++) tree.addRaw(u.leaves.subarray(k * 32, (k + 1) * 32));
      const sum = tree.root();
      if (sum !== u.p.checksum) {
        mismatched = true;
        add({ code: "output_mismatch", pulse: name, message: `pulse ${name}: the output's records of its ${u.eus} EUs hash to ${sum}, not to its checksum ${u.p.checksum} (its records cannot be read to compare them with)` });
        continue;
      }
      // They are the records the pulse committed (its checksum is their Merkle root).
      report.recordsChecked += u.eus;
      if (u.failed !== u.p.failed || u.p.completed !== u.eus - u.failed) {
        add({ code: "count_mismatch", pulse: name, message: `pulse ${name} holds ${u.failed} failed and ${u.eus - u.failed} completed records (in the output), manifest says ${u.p.failed} and ${u.p.completed}` });
      }
    }
    if (outputUncheckable === undefined && storedOk && (await nextStored()) !== undefined) {
      mismatched = true;
      add({ code: "output_mismatch", message: `output artifact holds more records than the pulses (${i})` });
    }
    if (outputUncheckable === undefined && storedOk && !mismatched && storedEnd.unterminated) {
      mismatched = true;
      add({ code: "output_mismatch", message: `output artifact ${m.output.artifact} does not end with a newline: its last record is cut (the engine ends every record with one)` });
    }
    const expectedArtifact = `sha256:${expectedBytes.digest("hex")}`;
    if (outputUncheckable === undefined && storedOk && !mismatched && expectedArtifact !== m.output.artifact) {
      mismatched = true;
      add({ code: "output_mismatch", message: `the pulses' records merged (a line each, ending with a newline) hash to ${expectedArtifact}, not to the output artifact ${m.output.artifact}` });
    }
    if (mergeLost !== undefined) {
      const name = pulseName(mergeLost.p);
      report.unchecked.push({
        code: "output_not_checked",
        reason: "records_unreadable",
        message: `the output ${m.output.artifact} cannot be read, and pulse ${name}'s records cannot be read either: the pulses' records merged lack its EUs', so the output digest, the count of failed records and the failures list were not compared with them`,
      });
    }
    // The merged records are not all known (a pulse's EUs not placed, or their records in an
    // output that cannot be read): the failures and the output digest are compared with nothing.
    const mergeKnown = outputUncheckable === undefined && mergeLost === undefined;
    if (!mergeKnown) {
      // The output's failed records were not all read: the failures list is compared with nothing.
    } else if (failuresOk) {
      while ((await nextFailureLine()) !== undefined) if (stop.due()) await stop.pause(); // counts the lines past the output's failures
      if (failuresOk && (failureLinesRead !== f || failureLinesRead !== m.counts.failed)) {
        add({ code: "count_mismatch", message: `the failures artifact ${named as string} holds ${failureLinesRead} failures, the output ${f} failed records (counts.failed ${m.counts.failed})` });
      }
    }
    const cut = Math.min(f, MAX_MANIFEST_FAILURES);
    if (!mergeKnown) {
      // as above
    } else if (m.failures.length !== cut && m.failures.length !== f) {
      add({ code: "count_mismatch", message: `the manifest lists ${m.failures.length} failures, the output holds ${f} failed records (a manifest lists the first ${MAX_MANIFEST_FAILURES}, or all of them)` });
    } else if (named !== undefined && (f <= MAX_MANIFEST_FAILURES || m.failures.length !== cut)) {
      add({
        code: "manifest_invalid",
        message: `the manifest names a failures artifact ${named} beside ${m.failures.length} of the output's ${f} failures listed inline: one is named only when more than ${MAX_MANIFEST_FAILURES} EUs failed, beside the first ${MAX_MANIFEST_FAILURES}`,
      });
    } else if (named === undefined && m.failures.length !== f) {
      add({
        code: "manifest_invalid",
        message: `the manifest lists the first ${m.failures.length} of the output's ${f} failures and names no failures artifact holding them all`,
      });
    }
    if (mergeKnown && builder.root() !== m.output.digest) add({ code: "output_mismatch", message: `recomputed output digest ${builder.root()} differs from the manifest's ${m.output.digest}` });
    outputOk = storedOk && !mismatched && mergeKnown;
  } finally {
    try {
      // Closing only releases the stream; a failure to close must not hide the comparison's own result or error.
      for (const lines of lineReaders) await lines.return(undefined).catch(() => undefined);
    } finally {
      index.close();
      removeScratch(indexPath);
    }
  }
  stop.check();
  checkNamedMembers(store, read.digest, m, add);
  if (plan !== undefined) {
    checkRunReceipt(store, runId, plan, read.digest, m, add, (n) => {
      if (report.unchecked.length < MAX_VERIFY_PROBLEMS) report.unchecked.push(n);
    });
  }

  if (opts.reexecute === true) {
    const chosen = samplePulses(m, opts.sample);
    // A function bundle that does not verify is reported above: there is nothing to re-execute.
    for (const p of functionOk ? chosen : []) {
      stop.check();
      let diff: string | undefined;
      try {
        let notChecked: VerifyNote[];
        ({ diff, notChecked } = await reexecutePulse(store, m, cfg, p, attemptLogCap, stop));
        for (const n of notChecked) if (report.unchecked.length < MAX_VERIFY_PROBLEMS) report.unchecked.push(n);
      } catch (err) {
        // A slice, records artifact or attempt log that does not verify, is missing or is not one:
        // a finding, and the other pulses are still re-executed. One already reported above (its
        // records, attempt log or slice unreadable) is not reported again: one deleted artifact
        // is one finding (before 2026-11-27 also "cannot re-execute: …").
        if (!isArtifactError(err) && !isAttemptLogTooLarge(err, p)) throw err;
        const digest = err.details?.digest;
        if (typeof digest === "string" && reported.has(digest)) continue;
        add({ code: "artifact_tampered", pulse: pulseName(p), message: lostRunArtifactFinding(store, runId, err, `pulse ${pulseName(p)}: cannot re-execute`, pulseRoles(p, m.function.artifact)) });
        continue;
      }
      report.pulsesReexecuted++;
      if (diff !== undefined) add({ code: "reexecution_mismatch", pulse: pulseName(p), message: diff });
    }
    // The reduce is folded over the stored output only when that output is the pulses' records
    // merged (else it is reported above, and the fold would compare nothing meaningful).
    if (functionOk && outputOk) {
      stop.check();
      const { folded, diff, notChecked } = await refoldReduce(store, m, cfg, stop);
      report.reduceRefolded = folded;
      if (diff !== undefined) add({ code: "reduce_mismatch", message: diff });
      if (notChecked !== undefined) report.unchecked.push(notChecked);
    }
  }
  report.reduceCheck = report.reduceRefolded ? "refolded" : m.reduce === null ? "none" : "not_checked";
  report.ok = problems.length === 0;
  return report;
}

/**
 * Folds the module's reduce again over the stored output (completed records in output order,
 * on a fresh worker, in the engine's chunks) and compares it with the manifest's `reduce`:
 * `folded` when it did, `diff` describing a difference. Nothing is folded when neither the
 * function nor the manifest has a reduce, or when the output artifact does not verify
 * (reported above). The whole output is folded whatever `--sample` says: a reduce has no
 * smaller unit to sample. A fold that times out or crashes its worker (machine facts, as for
 * attempt logs) compares nothing: `notChecked`, not a difference. A fold that throws is a
 * difference (the run's reduce completed over the same output).
 */
async function refoldReduce(store: Store, m: Manifest, cfg: RunConfig, stop: AbortPoint): Promise<{ folded: boolean; diff?: string; notChecked?: VerifyNote }> {
  const runner = await loadRunner(store, m.function.artifact, cfg, stop);
  try {
    const r = runner.reducer;
    if (r === undefined) return m.reduce === null ? { folded: false } : { folded: false, diff: `the manifest has a reduce value, ${shown(canonicalize(m.reduce.value))}, but the function exports no reduce` };
    if (m.reduce === null) return { folded: false, diff: "the function exports reduce, but the manifest has no reduce value" };
    const output = async function* (): AsyncGenerator<ReduceItem> {
      for await (const line of artifactLines(store, m.output.artifact)) {
        const rec = parseRecord(line);
        if (rec.error === undefined) yield reduceItemOf(rec); // failed EUs are not folded
      }
    };
    const session = r.open();
    try {
      let acc: string;
      try {
        // An abort terminates the reduce's worker at once (the fold may never settle by itself).
        acc = await stop.race(foldOrdered(session, r.initial, output()), () => runner.close());
      } catch (err) {
        if (stop.signal?.aborted === true && isCairnError(err, ErrorCode.INTERRUPTED)) throw err;
        // An output artifact that does not verify (or is gone) is reported above: nothing to compare.
        if (isArtifactError(err)) return { folded: false };
        if (!isCairnError(err) || err.code === ErrorCode.INTERNAL) throw err;
        if (MACHINE_FAILURE_CODES.has(err.code)) {
          return {
            folded: false,
            notChecked: { code: "reduce_not_checked", reason: err.code, message: `reduce folded again over the output did not complete (${err.code}: ${err.message}): the manifest's reduce value was not compared` },
          };
        }
        return { folded: true, diff: `reduce folded again over the output failed: ${err.message}` };
      }
      const stored = canonicalize(m.reduce.value);
      return acc === stored ? { folded: true } : { folded: true, diff: `reduce folded again over the output gives ${shown(acc)}, the manifest says ${shown(stored)}` };
    } finally {
      await session.close();
    }
  } finally {
    await runner.close();
  }
}

/**
 * The artifacts a manifest names beyond its pulses' slices, records and receipts — its failures
 * artifact (`failuresArtifact`) and each pulse's attempts artifact (`attemptsArtifact`) — must be
 * `contains` members of the manifest, as `recordManifest` links them (beside the plan, the output
 * and every pulse's receipt, slice and records): gc keeps a pinned manifest's `contains` members.
 * Nothing else keeps a failures artifact (gc sweeps one the manifest does not contain, and the
 * run then no longer verifies); an attempts artifact is also contained by the run's plan
 * (`linkToPlan`: a receipt's outputs are not kept through the receipt). One that is not is
 * `not_contained`. Only the `contains` edges from the manifest are read (`edgesOfType`, any
 * role), and only when the manifest names such an artifact.
 */
function checkNamedMembers(store: Store, manifest: Digest, m: Manifest, add: (p: VerifyProblem) => void): void {
  const named: Array<{ digest: Digest; what: string; pulse?: string }> = [];
  if (m.failuresArtifact !== undefined) named.push({ digest: m.failuresArtifact, what: `the failures artifact ${m.failuresArtifact}` });
  for (const p of m.pulses) {
    if (p.attemptsArtifact !== undefined) named.push({ digest: p.attemptsArtifact, what: `pulse ${pulseName(p)}: its attempts artifact ${p.attemptsArtifact}`, pulse: pulseName(p) });
  }
  if (named.length === 0) return;
  const wanted = new Set(named.map((n) => n.digest));
  const contained = new Set<Digest>();
  try {
    for (const e of store.edgesOfType(manifest, CONTAINS_EDGE_TYPE, "down")) for (const t of e.to) if (wanted.has(t)) contained.add(t);
  } catch (err) {
    // Too many to list, or an edge that does not match its content (catalog damage): a finding
    // in the report like any other corruption verify meets, not a thrown error without a report.
    if (!isCairnError(err, ErrorCode.LIMIT_EXCEEDED) && !isCairnError(err, ErrorCode.STORE_CORRUPT)) throw err;
    add({ code: "not_contained", message: `the contains edges of manifest ${manifest} cannot be listed: ${err.message}` });
    return;
  }
  for (const n of named) {
    if (contained.has(n.digest)) continue;
    const p: VerifyProblem = {
      code: "not_contained",
      message: `${n.what} is not a member of the run: manifest ${manifest} has no contains edge to it (a finished run's manifest contains every artifact it names, so that gc keeps them with the run)`,
    };
    if (n.pulse !== undefined) p.pulse = n.pulse;
    add(p);
  }
}

/**
 * A deterministic sample of K pulses (all when K is undefined or ≥ the pulse count; none when K
 * is 0, for the API: `--reexecute` then only folds the reduce again — the CLI refuses
 * `--sample 0`, which re-executes no pulse).
 */
export function samplePulses(m: Manifest, k: number | undefined): ManifestPulse[] {
  if (k === undefined || k >= m.pulses.length) return m.pulses;
  if (!Number.isInteger(k) || k < 0) throw new CairnError(ErrorCode.USAGE, `sample must be a non-negative integer, got ${String(k)}`, { field: "sample" });
  const keyed = m.pulses.map((p) => ({ p, h: deriveSeed("verify-sample", m.runId, p.partition, p.index) }));
  keyed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
  return keyed.slice(0, k).map((x) => x.p).sort((a, b) => a.partition - b.partition || a.index - b.index);
}

/** Codes of failures that are machine facts (a timeout, running out of memory, a crash): attempt logs holding one are not compared. */
const MACHINE_FAILURE_CODES: ReadonlySet<string> = new Set([ErrorCode.EU_TIMEOUT, ErrorCode.WORKER_CRASHED]);

/**
 * A pulse's stored attempt log: inline in the manifest, or read from the attempts artifact the
 * manifest names (E_STORE_CORRUPT when that artifact is not an attempt log). That artifact is
 * read whole only when its recorded size is at most `limit` (MAX_ATTEMPT_LOG_BYTES, the most the
 * engine reads back, pulse.ts `readAttemptLog`), else E_LIMIT_EXCEEDED without reading it.
 */
function storedAttemptLog(store: Store, p: ManifestPulse, limit: number): AttemptLog[] {
  if (p.attemptsArtifact === undefined) return p.attempts;
  const size = store.stat(p.attemptsArtifact).size;
  if (size > limit) {
    throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `attempt log ${p.attemptsArtifact} is ${size} bytes, more than the ${limit} an attempt log is read back (MAX_ATTEMPT_LOG_BYTES): it was not read`, {
      digest: p.attemptsArtifact,
      size,
      limit,
    });
  }
  const text = store.get(p.attemptsArtifact).toString("utf8");
  let log: unknown;
  try {
    log = JSON.parse(text);
  } catch (err) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `attempts artifact ${p.attemptsArtifact} is not JSON: ${(err as Error).message}`, { digest: p.attemptsArtifact });
  }
  if (!isAttemptLog(log)) throw new CairnError(ErrorCode.STORE_CORRUPT, `attempts artifact ${p.attemptsArtifact} is not an attempt log`, { digest: p.attemptsArtifact });
  return log as AttemptLog[];
}

/** Whether `err` is `storedAttemptLog`'s refusal of pulse `p`'s attempt log as too large to read. */
function isAttemptLogTooLarge(err: unknown, p: ManifestPulse): err is CairnError {
  return isCairnError(err, ErrorCode.LIMIT_EXCEEDED) && p.attemptsArtifact !== undefined && err.details?.digest === p.attemptsArtifact;
}

/**
 * The machine failure (a timeout or a crash: MACHINE_FAILURE_CODES) one EU met in one
 * execution of its pulse, if any: its record's error, else an error in its attempt log entry.
 */
function machineFailure(text: string, entry: AttemptLog | undefined): EUError | undefined {
  if (isFailedRecord(text)) {
    const e = parseRecord(text).error;
    if (e !== undefined && MACHINE_FAILURE_CODES.has(e.code)) return e;
  }
  return entry?.errors.find((x) => MACHINE_FAILURE_CODES.has(x.code));
}

/** The id of a stored record, or undefined when it does not parse (a tampered one: reported as a difference). */
function recordId(text: string): EUId | undefined {
  try {
    return parseRecord(text).id;
  } catch {
    return undefined;
  }
}

/**
 * Re-executes one pulse on fresh workers. `diff` describes the first difference, if any: a
 * record, or else the attempt log (the EUs that needed retries, and their errors) — unless
 * either log holds a timeout or a crash, which depend on the machine as much as on the
 * function. A record that differs where either execution of that EU met a timeout or a crash
 * is not compared: it is listed in `notChecked`
 * (`eu_not_checked`), and the pulse's other records still are compared.
 */
async function reexecutePulse(store: Store, m: Manifest, cfg: RunConfig, p: ManifestPulse, attemptLogCap: number, stop: AbortPoint): Promise<{ diff?: string; notChecked: VerifyNote[] }> {
  // The stored records are hashed now (before anything runs) and read a window at a time.
  const windows = new RecordWindows(store.openReader(p.records));
  try {
    return await compareReexecuted(store, m, cfg, p, recordsIn(windows), attemptLogCap, stop);
  } finally {
    windows.close();
  }
}

async function compareReexecuted(store: Store, m: Manifest, cfg: RunConfig, p: ManifestPulse, stored: Generator<string>, attemptLogCap: number, stop: AbortPoint): Promise<{ diff?: string; notChecked: VerifyNote[] }> {
  const storedLog = storedAttemptLog(store, p, attemptLogCap);
  const { texts, log } = await replayPulse(store, m, cfg, p, stop);
  const name = pulseName(p);
  const notChecked: VerifyNote[] = [];
  const byId = (l: AttemptLog[]): Map<string, AttemptLog> => new Map(l.map((e) => [canonicalize(e.id), e]));
  const storedEntries = byId(storedLog);
  const rerunEntries = byId(log);
  for (let i = 0; ; i++) {
    const next = stored.next();
    const a = next.done === true ? undefined : next.value;
    if (a === undefined && i >= texts.length) break;
    const b = texts[i];
    if (a === b) continue;
    const id = a === undefined || b === undefined ? undefined : recordId(a);
    if (a !== undefined && b !== undefined && id !== undefined) {
      const key = canonicalize(id);
      const inRun = machineFailure(a, storedEntries.get(key));
      const inRerun = machineFailure(b, rerunEntries.get(key));
      if (inRun !== undefined || inRerun !== undefined) {
        const e = (inRerun ?? inRun) as EUError;
        const where = inRun === undefined ? "on re-execution (not in the run)" : inRerun === undefined ? "in the run (not on re-execution)" : "both in the run and on re-execution";
        notChecked.push({
          code: "eu_not_checked",
          pulse: name,
          id,
          reason: e.code,
          message: `pulse ${name}: EU ${echoedJson(id)}: an attempt ended in ${e.code} (${shown(e.message)}) ${where}: its record was not compared`,
        });
        continue;
      }
    }
    return { diff: `pulse ${name}: EU record ${i} differs on re-execution:\n  stored:      ${a === undefined ? "<missing>" : shown(a)}\n  re-executed: ${b === undefined ? "<missing>" : shown(b)}`, notChecked };
  }
  const a = canonicalize(storedLog);
  const b = canonicalize(log);
  const machine = (l: AttemptLog[]): boolean => l.some((e) => e.errors.some((x) => MACHINE_FAILURE_CODES.has(x.code)));
  if (a !== b && !machine(storedLog) && !machine(log)) {
    return { diff: `pulse ${name}: the attempt log differs on re-execution:\n  stored:      ${shown(a)}\n  re-executed: ${shown(b)}`, notChecked };
  }
  return { notChecked };
}

/**
 * The run's function on one fresh worker, for a re-execution. An abort of `stop`'s signal (also
 * given before) ends the start at once — the importing worker terminated (WorkerPoolOptions.signal)
 * — with `stop`'s E_INTERRUPTED.
 */
async function loadRunner(store: Store, artifact: Digest, cfg: RunConfig, stop: AbortPoint): Promise<RunnerHandle> {
  stop.check();
  try {
    return await loadFunction(store, artifact, { ...cfg, workers: 1 }, undefined, undefined, stop.signal);
  } catch (err) {
    if (stop.signal?.aborted === true && isCairnError(err, ErrorCode.INTERRUPTED)) throw stop.error();
    throw err;
  }
}

/**
 * Executes pulse `p` again on a fresh worker. An abort of `stop`'s signal terminates its worker
 * threads at once (also in the middle of user code that never settles) and rejects with
 * `stop`'s E_INTERRUPTED.
 */
async function replayPulse(store: Store, m: Manifest, cfg: RunConfig, p: ManifestPulse, stop: AbortPoint): Promise<{ texts: string[]; log: AttemptLog[] }> {
  const eus = sliceEUs(store, p.slice);
  const runner = await loadRunner(store, m.function.artifact, cfg, stop);
  try {
    const { outcomes, log } = await stop.race(executePulse(runner.fresh, eus, cfg.retries, { partition: p.partition, index: p.index }), () => runner.close());
    return { texts: outcomes.map(recordText), log };
  } finally {
    await runner.close();
  }
}

/**
 * The pulses as the engine lists them: in (partition, index) order, each partition's numbered
 * from 0 without gaps, partitions within the config's, and 1..pulseSize EUs each (what the cut
 * rule, §10.5, allows). Which records share a pulse is not checked (only that each is in its
 * partition and in read order there, checkInputCoverage). Returns the partitions whose pulses
 * are listed or numbered out of order (reported here: their EUs' read order is not judged again).
 */
function checkPulseLayout(m: Manifest, cfg: RunConfig, add: (p: VerifyProblem) => void): Set<number> {
  const misnumbered = new Set<number>();
  let prev: ManifestPulse | undefined;
  for (const p of m.pulses) {
    const name = pulseName(p);
    const expected = prev !== undefined && prev.partition === p.partition ? prev.index + 1 : 0;
    if (p.partition >= cfg.partitions) {
      add({ code: "manifest_invalid", pulse: name, message: `pulse ${name}: partition ${p.partition} is not one of the run's ${cfg.partitions}` });
    } else if (prev !== undefined && p.partition < prev.partition) {
      misnumbered.add(p.partition);
      add({ code: "manifest_invalid", pulse: name, message: `pulse ${name} is listed after pulse ${pulseName(prev)}: pulses are not in (partition, index) order` });
    } else if (p.index !== expected) {
      misnumbered.add(p.partition);
      add({ code: "manifest_invalid", pulse: name, message: `pulse ${name}: expected pulse ${p.partition}/${expected} here (each partition's pulses are numbered from 0, in order)` });
    }
    if (p.eus < 1 || p.eus > cfg.pulseSize) add({ code: "manifest_invalid", pulse: name, message: `pulse ${name} has ${p.eus} EUs, not 1..${cfg.pulseSize} (the pulse size)` });
    prev = p;
  }
  return misnumbered;
}

/**
 * The first way a pulse's attempt log cannot be the one its execution wrote, or undefined:
 * entries of EUs of the pulse, in pulse order, each with 2..1 + retries attempts and one error
 * per failed attempt — `attempts - 1` for an EU that completed, `attempts` (= 1 + retries, the
 * last being the failure record's) for one that failed — and an entry for every EU that failed
 * after retries. What the errors say is compared only by `--reexecute`.
 */
function attemptLogProblem(log: AttemptLog[], recs: readonly RecordFacts[], retries: number): string | undefined {
  const pos = new Map<string, number>();
  recs.forEach((r, k) => pos.set(canonicalize(r.id), k));
  const logged = new Set<number>();
  let last = -1;
  for (const e of log) {
    const id = canonicalize(e.id);
    const k = pos.get(id);
    if (k === undefined) return `EU ${id} is not in the pulse`;
    if (k <= last) return `EU ${id} is not in pulse order`;
    last = k;
    logged.add(k);
    if (e.attempts < 2 || e.attempts > 1 + retries) return `EU ${id}: ${e.attempts} attempts, not 2..${1 + retries}`;
    const err = (recs[k] as RecordFacts).error;
    if (err === undefined && e.errors.length !== e.attempts - 1) return `EU ${id}: completed after ${e.attempts} attempts but ${e.errors.length} errors are logged`;
    if (err !== undefined) {
      if (e.attempts !== 1 + retries || e.errors.length !== e.attempts) return `EU ${id}: failed after ${e.attempts} attempts with ${e.errors.length} errors logged, not ${1 + retries} of each`;
      // The record keeps the message cut (records.ts truncate); the log keeps it whole.
      const lastErr = e.errors[e.errors.length - 1] as { code: string; message: string };
      if (lastErr.code !== err.code || truncate(lastErr.message) !== err.message) return `EU ${id}: its last logged error is not its failure record's`;
    }
  }
  if (retries > 0) {
    const k = recs.findIndex((r, j) => r.error !== undefined && !logged.has(j));
    if (k >= 0) return `EU ${canonicalize((recs[k] as RecordFacts).id)} failed but is not in the attempt log (with ${retries} retries it had ${1 + retries} attempts)`;
  }
  return undefined;
}

/** A pulse argument, parsed: `partition/index` (e.g. `0/0`) or an ordinal in the manifest (`0`, `1`, …). */
export type PulseSpec = { partition: number; index: number } | { ordinal: number };

/** A pulse argument: `P/I` or an ordinal, each a canonical decimal (no sign, space or leading zero). */
const PULSE_ARG_RE = /^(?:(0|[1-9]\d*)\/(0|[1-9]\d*)|(0|[1-9]\d*))$/;

/**
 * Parses a pulse argument, a string; a malformed one (not `P/I` or `N`, each a canonical
 * decimal: `01` named ordinal 1 while ` 1` was refused) is E_USAGE, and so is a value that is
 * not a string (a number `0` is not the ordinal `"0"`: the message says to pass a string).
 * `field` names the argument in the error (the CLI passes `--pulse`: the one parser of both).
 */
export function parsePulseSpec(which: string, field = "pulse"): PulseSpec {
  if (typeof which !== "string") {
    throw new CairnError(
      ErrorCode.USAGE,
      `invalid ${field} ${describeArgument(which)}: expected a string, "partition/index" (e.g. "0/0") or an ordinal in the manifest ("0", "1", …)`,
      { field, value: String(which) },
    );
  }
  const m = PULSE_ARG_RE.exec(which);
  if (m === null) {
    throw new CairnError(ErrorCode.USAGE, `invalid ${field} ${JSON.stringify(which)}: expected partition/index (e.g. 0/0) or an ordinal in the manifest (0, 1, …), in decimal digits without leading zeros`, { field, value: which });
  }
  return m[3] !== undefined ? { ordinal: Number(m[3]) } : { partition: Number(m[1]), index: Number(m[2]) };
}

/** Finds a pulse by `partition/index` or by its position in the manifest: E_USAGE if malformed, E_NOT_FOUND if absent. */
export function findPulse(m: Manifest, which: string): ManifestPulse {
  const spec = parsePulseSpec(which);
  const p = "ordinal" in spec ? m.pulses[spec.ordinal] : m.pulses.find((x) => x.partition === spec.partition && x.index === spec.index);
  if (p === undefined) {
    const first = m.pulses[0];
    const use = first === undefined ? "it has no pulses: its input had no records" : `use partition/index, e.g. ${first.partition}/${first.index}, or an ordinal ${m.pulses.length === 1 ? "0" : `0..${m.pulses.length - 1}`}`;
    throw new CairnError(ErrorCode.NOT_FOUND, `pulse ${JSON.stringify(which)} not found in run ${m.runId} (${use})`, {
      field: "pulse",
      value: which,
      runId: m.runId,
    });
  }
  return p;
}

export interface ReplayResult {
  runId: string;
  pulse: { partition: number; index: number };
  records: string[];
  checksum: Digest;
  storedChecksum: Digest;
  matches: boolean;
}

/**
 * Re-executes one pulse of a finished run and compares it with what was stored. `options`
 * (api-checks.ts `checkReplayOptions`): `signal`, an AbortSignal whose abort rejects with
 * E_INTERRUPTED at once, the worker threads terminated; any other key or type is E_USAGE.
 */
export async function replay(store: Store, runId: string, which: string, options?: ReplayOptions): Promise<ReplayResult> {
  checkStore(store, "replay");
  checkRunId(runId);
  parsePulseSpec(which); // a malformed argument is E_USAGE before the store is read
  const opts = checkReplayOptions(options);
  const stop = new AbortPoint(opts.signal, `replay aborted (run ${runId}, pulse ${which}: nothing was written to the store)`, { runId, pulse: which });
  stop.check();
  const { manifest: m } = requireManifest(store, runId);
  requirePlannedHere(store, runId, "replayed");
  const p = findPulse(m, which);
  // The pinned plan's config and function (bound to the run id by its hash; a manifest's may be
  // forged): a plan that cannot be read is its error (E_STORE_CORRUPT, E_NOT_FOUND), and a
  // manifest naming another function or config than the plan is E_STORE_CORRUPT (verify:
  // plan_mismatch), never re-executed as if it were the run's.
  const { plan, planDigest } = loadPlan(store, runId);
  const differs = [m.plan !== planDigest ? "plan" : "", m.function.artifact !== plan.function.artifact ? "function" : "", canonicalize(m.config) !== canonicalize(plan.config) ? "config" : ""].filter((x) => x !== "");
  if (differs.length > 0) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its manifest differs from its pinned plan ${planDigest} in: ${differs.join(", ")} (run cairn verify ${runId})`, { runId, plan: planDigest, differs });
  }
  requireRunArtifact(store, runId, "function bundle", plan.function.artifact);
  // The pulse's slice (and a files input's files it names) deleted since: named with the remedy.
  requireRunArtifact(store, runId, "slice", p.slice, pulseName(p));
  let texts: string[];
  try {
    ({ texts } = await replayPulse(store, m, plan.config, p, stop));
  } catch (err) {
    throw namedRunArtifactError(store, runId, err, pulseRoles(p, plan.function.artifact), pulseName(p));
  }
  const checksum = checksumOf(texts);
  return { runId, pulse: { partition: p.partition, index: p.index }, records: texts, checksum, storedChecksum: p.checksum, matches: checksum === p.checksum };
}
