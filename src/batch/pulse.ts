/**
 * One pulse: a bounded batch of at most `pulseSize` EUs of one partition. This module runs a
 * pulse with deterministic retries, audits it, and commits it to the store.
 *
 * Retries: an EU that throws is re-executed (same seed, `ctx.attempt` + 1) up to `retries`
 * times; every attempt's error is logged.
 *
 * Crash handling: a worker crash (process.exit, out of memory, an EU timeout) fails only the
 * attempt in progress. The EU that was running is charged one attempt (an EU that exhausts
 * its attempts this way is failed with the crash's code) and every EU of the attempt that is
 * still pending, including those it finished, is re-executed on a fresh worker. The crashed
 * attempt's results are not simply thrown away, though: the worker
 * delivers results in chunks during a pulse (PARTIAL_RESULTS_CHUNK / _BYTES), and the crashed outcome
 * carries the results of the EUs the attempt finished before the crash (whole chunks only,
 * so possibly fewer than all of them). For each such EU the record text of the FIRST crashed
 * attempt that finished it is kept, with the `ctx.attempt` it ran with; whenever a later
 * attempt (a re-execution on a fresh worker, crashed or not) finishes the EU with the SAME
 * `ctx.attempt`, the two record texts must be identical, otherwise the run fails with
 * E_NONDETERMINISTIC naming the pulse, the EU and both records (a module-level counter, an
 * unseeded entropy source, or the state a used worker carried into the first attempt).
 * Why compare only equal attempt numbers: an EU's output may legitimately depend on
 * `ctx.attempt` (the retry contract), so records of different attempts are not comparable.
 * A crash discards the whole attempt without charging the EUs it finished, so those EUs run
 * again with the same number and ARE compared; only an EU that threw in the crashed attempt
 * and then throws again in the re-execution (compared there, equal) moves on to its next
 * attempt, whose record has no earlier counterpart (if a later crash cuts that attempt short,
 * its record becomes the reference for that number). An EU finished by the crashed attempt
 * but on which a re-execution itself crashes (a timeout, memory pressure) completed in only
 * one of them and is not compared; it is charged like any crash. Since a pulse's checksum is
 * the Merkle root of its records, the committed pulse's checksum is thereby validated
 * against the earlier attempt for every EU the earlier attempt finished (and delivered): its
 * leaf for that EU (at that attempt number) is the same. Before any crash nothing is kept and
 * nothing is compared, so a pulse without crashes pays nothing.
 *
 * Commit (one store transaction): the input slice artifact, the records artifact (JSONL of
 * the EU records in pulse order), an attempts artifact when any EU needed more than one
 * attempt, and a receipt (function → slice ⇒ records [+ attempts]) with its edges. The
 * receipt doubles as the memo: a resumed run finds it and skips the pulse.
 */
import { canonicalize } from "../core/canonical.js";
import { canonicalText } from "./canonical-text.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import { codePointsOver, echoed, echoedJson } from "../core/echo.js";
import { deriveSeed } from "../core/prng.js";
import { Hasher, sha256, type Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { ARTIFACT_LOSS_TEXT, artifactLoss } from "../store/artifact-loss.js";
import type { Params } from "../store/receipts.js";
import { MAX_BUFFERED_GET_BYTES } from "../store/layout.js";
import type { EUId } from "./input/types.js";
import { isFailedRecord, recordsArtifactCorrupt, recordText, type EUError, type EUResult } from "./records.js";
import { isAttemptLog } from "./manifest.js";
import { LEAF_HASH_BYTES, leafHashesOf, rootOfLeafHashes, writeLeafHash } from "./leaves.js";
import { workerHeapMb, type RunConfig } from "./config.js";
import { canonicalArrayPieces, PIECEWISE_RECORDS_MIN_CHARS, recordsPieces } from "./record-pieces.js";
import { RecordWindows } from "./record-windows.js";

export const SLICE_MEDIA_TYPE = "application/vnd.cairn.batch.slice+json";
export const RECORDS_MEDIA_TYPE = "application/vnd.cairn.batch.records+jsonl";
export const ATTEMPTS_MEDIA_TYPE = "application/vnd.cairn.batch.attempts+json";
/**
 * A worker that dies before any EU of a request started (a stray error or `process.exit` left
 * behind by an EU of its previous request, a worker that fails to start, a request not started
 * in time) cannot be blamed on an EU: whether it happens, and to which request, depends on
 * timing and on the pulse layout. Such a request is re-run on a fresh worker without charging
 * any EU an attempt, up to this many times in a row; after that its first EU is charged, so a
 * worker that can never run an EU does not stall the pulse.
 */
export const MAX_UNATTRIBUTED_CRASHES = 3;
/**
 * Widest output shown in an E_NONDETERMINISTIC message, and kept of each record in its details
 * (`first`, `second`: cut by the shared echo rule, `echoed`, which states the full length).
 */
const MAX_SHOWN_OUTPUT_CHARS = 2000;
/** Most ids of retried EUs an error about a lost attempt log names. */
const MAX_NAMED_RETRIED = 5;

/** An EU as handed to a worker. */
export interface WorkEU {
  id: EUId;
  input: unknown;
  /** The input's canonical JSON text (the pool then sends that instead of `input`; see EUTask). */
  inputJson?: string;
}

/** What a worker pool must provide to run pulses. */
export interface PulseRunner {
  /** Runs EUs in order on a pool worker. `attempts[i]` is the 1-based attempt number of eus[i]. */
  run(eus: WorkEU[], attempts: number[]): Promise<RunnerOutcome>;
  /** The same on a brand-new worker that is discarded afterwards (audits). */
  runFresh(eus: WorkEU[], attempts: number[]): Promise<RunnerOutcome>;
}

export type RunnerOutcome =
  | {
      kind: "ok";
      results: EUResult[];
      /** The results' Merkle leaf hashes (32 bytes each, in order) when the runner computed them. */
      leaves?: Uint8Array;
      /** Their Merkle root, when the runner computed it. */
      root?: Digest;
    }
  | {
      kind: "crashed";
      error: EUError;
      euIndex: number | undefined;
      /** Results of the EUs 0..k-1 of the request the worker finished and delivered before the crash (k ≤ euIndex). */
      completed: EUResult[];
    };

/**
 * A pulse's records are stored as one artifact, held in memory while it commits and read back
 * whole by the merge and by reuse, so they must fit the store's in-memory read limit.
 */
export const MAX_PULSE_RECORDS_BYTES = MAX_BUFFERED_GET_BYTES;

/**
 * Refuses a pulse whose records would exceed MAX_PULSE_RECORDS_BYTES (E_LIMIT_EXCEEDED, naming
 * the pulse and a pulse size that fits), before anything is stored: such a pulse could be
 * committed but never read back, and the run failed only in its final merge.
 */
export function checkRecordsSize(spec: PulseRef, texts: string[], limit = MAX_PULSE_RECORDS_BYTES, chars = recordsChars(texts)): void {
  // UTF-8 bytes are at least the UTF-16 length and at most 3 times it: measure only between.
  if (chars * 3 <= limit) return;
  let bytes = texts.length;
  for (const t of texts) bytes += Buffer.byteLength(t, "utf8");
  if (bytes <= limit) return;
  const fits = Math.max(1, Math.floor((limit / bytes) * texts.length));
  throw new CairnError(
    ErrorCode.LIMIT_EXCEEDED,
    `pulse ${spec.partition}/${spec.index}: its ${texts.length} records are ${bytes} bytes, more than the ${limit}-byte limit of a pulse's records; run with a smaller pulseSize (--pulse-size): about ${fits} EUs of outputs this size fit`,
    { partition: spec.partition, pulse: spec.index, bytes, limit },
  );
}

/**
 * The largest attempt log a pulse may commit, and the largest committed one read back whole (the
 * engine reads it to reuse or rebuild a pulse, verify to check it): the store's in-memory read
 * limit, checked from its recorded size before it is read.
 */
export const MAX_ATTEMPT_LOG_BYTES = MAX_BUFFERED_GET_BYTES;

/**
 * Refuses a pulse whose attempt log — `entries`, its entries' canonical texts, stored as `[`
 * them joined by `,` `]` — would exceed `limit` (MAX_ATTEMPT_LOG_BYTES) UTF-8 bytes:
 * E_LIMIT_EXCEEDED naming the pulse, the EUs retried and the size, before anything is stored.
 * Committed, no resume or verify could read it back. A pulse of many EUs that each fail
 * `--retries` times with long messages gets there while its records stay small.
 */
export function checkAttemptLogSize(spec: PulseRef, entries: readonly string[], limit = MAX_ATTEMPT_LOG_BYTES): void {
  const framing = 2 + Math.max(entries.length - 1, 0); // the brackets and the commas between entries
  let chars = framing;
  for (const e of entries) chars += e.length;
  if (chars * 3 <= limit) return; // UTF-8 bytes are at most 3 times the UTF-16 length
  let bytes = framing;
  for (const e of entries) bytes += Buffer.byteLength(e, "utf8");
  if (bytes <= limit) return;
  throw new CairnError(
    ErrorCode.LIMIT_EXCEEDED,
    `pulse ${spec.partition}/${spec.index}: its attempt log (${entries.length} retried EUs) is ${bytes} bytes, more than the ${limit}-byte limit of a pulse's attempt log; run with a smaller pulseSize (--pulse-size) or fewer retries (--retries)`,
    { partition: spec.partition, pulse: spec.index, bytes, limit, retried: entries.length },
  );
}

/**
 * A pulse's attempt log as its entries' canonical texts, checked (`checkAttemptLogSize`) before
 * anything of the pulse is stored; undefined when no EU ran more than once.
 */
function attemptLogEntries(spec: PulseRef, log: readonly AttemptLog[]): string[] | undefined {
  if (log.length === 0) return undefined;
  const entries = log.map((l) => canonicalize(l));
  checkAttemptLogSize(spec, entries);
  return entries;
}

/** Stores a pulse's attempt log from `attemptLogEntries`, in pieces (a log of failures with long messages can be as large as the records). */
function putAttemptLog(store: Store, entries: readonly string[] | undefined): Digest | undefined {
  return entries === undefined ? undefined : store.putPieces(canonicalArrayPieces(entries), { mediaType: ATTEMPTS_MEDIA_TYPE }).digest;
}

/**
 * Stores a pulse's records artifact: a small pulse's texts joined (fastest), a large one's in
 * pieces, so its commit holds the texts and one piece, not a second copy. Same bytes either way.
 */
function putRecords(store: Store, texts: readonly string[], chars: number): Digest {
  if (chars >= PIECEWISE_RECORDS_MIN_CHARS) return store.putPieces(recordsPieces(texts), { mediaType: RECORDS_MEDIA_TYPE }).digest;
  return store.putBytes(Buffer.from(texts.length === 0 ? "" : `${texts.join("\n")}\n`), { mediaType: RECORDS_MEDIA_TYPE }).digest;
}

/** The digest putRecords would store `texts` under, hashed a piece at a time (nothing stored). */
function recordsDigest(texts: readonly string[]): Digest {
  const h = new Hasher();
  for (const piece of recordsPieces(texts)) h.update(piece);
  return h.digest();
}

/** The UTF-16 length of a pulse's records artifact text: the records and a newline after each. */
export function recordsChars(texts: readonly string[]): number {
  let chars = texts.length; // the newlines
  for (const t of texts) chars += t.length;
  return chars;
}

/** Names a pulse in messages: `partition/index`. */
export interface PulseRef {
  partition: number;
  index: number;
}

function asFailure(id: EUId, error: EUError): EUResult {
  return { id, ok: false, error: { code: error.code, message: error.message, name: "Error" } };
}

export interface PulseSpec {
  partition: number;
  index: number;
  eus: WorkEU[];
  /** The canonical slice artifact bytes (ids and inputs in pulse order; see sliceBytes). */
  slice: Buffer;
  /** Its digest (slices are untyped artifacts: the plain SHA-256). */
  sliceDigest: Digest;
}

export interface AttemptLog {
  id: EUId;
  attempts: number;
  errors: EUError[];
}

export interface PulseResult {
  partition: number;
  index: number;
  eus: number;
  completed: number;
  failed: number;
  retried: number;
  checksum: Digest;
  slice: Digest;
  records: Digest;
  attempts: Digest | null;
  receipt: Digest;
  ids: EUId[];
  texts: string[];
  /** The records' Merkle leaf hashes, 32 bytes each, in pulse order (see leaves.ts). */
  leaves: Buffer;
  attemptLog: AttemptLog[];
}

/**
 * The receipt parameters of a pulse: everything besides the function and the slice that can
 * change its records. The worker heap limit is one (an EU may run out of memory under one
 * --max-memory and not another), so a pulse committed under one limit is not reused under
 * another; the EU timeout likewise.
 */
export function pulseParams(cfg: RunConfig): Params {
  return { ...legacyPulseParams(cfg), workerHeapMb: workerHeapMb(cfg) };
}

/**
 * The receipt parameters of pulses committed before the worker heap limit joined them
 * (2026-11-26): verify still accepts them (such runs verify as before); a run never reuses
 * them (its lookups use `pulseParams`).
 */
export function legacyPulseParams(cfg: RunConfig): { [k: string]: Params } {
  return { engine: "cairn.batch/1", euTimeoutMs: cfg.euTimeoutMs, logicalTimeMs: cfg.logicalTimeMs, retries: cfg.retries, seed: cfg.seed };
}

export function sliceBytes(slice: unknown[]): Buffer {
  return Buffer.from(canonicalize({ eus: slice, kind: "cairn.batch.slice" }));
}

/** One slice entry's canonical text: a JSON input (its canonical text) or a bytes input's artifact. */
export function sliceEntryText(id: EUId, input: { json: string } | { artifact: Digest }): string {
  return "json" in input ? `{"id":${canonicalText(id)},"input":${input.json}}` : `{"id":${canonicalText(id)},"input_artifact":${canonicalText(input.artifact)}}`;
}

/**
 * The same bytes as `sliceBytes`, assembled from each entry's canonical parts, so every input
 * is canonicalised once: `{"eus":[…],"kind":"cairn.batch.slice"}` with entries
 * `{"id":…,"input":…}` or `{"id":…,"input_artifact":"sha256:…"}` ("id" < "input" <
 * "input_artifact" and "eus" < "kind" in RFC 8785 key order).
 */
export class SliceWriter {
  private text = '{"eus":[';
  private first = true;

  /** Adds an entry; `canonicalInput` is the input's canonical JSON text. */
  addInput(id: EUId, canonicalInput: string): void {
    this.entry(sliceEntryText(id, { json: canonicalInput }));
  }

  /** Adds an entry for a bytes input stored as an artifact. */
  addArtifact(id: EUId, digest: Digest): void {
    this.entry(sliceEntryText(id, { artifact: digest }));
  }

  bytes(): Buffer {
    return Buffer.from(`${this.text}],"kind":"cairn.batch.slice"}`);
  }

  private entry(s: string): void {
    this.text += this.first ? s : `,${s}`;
    this.first = false;
  }
}

/**
 * Runs the pulse to completion: every EU ends completed or failed. `pulse` names the pulse in
 * an E_NONDETERMINISTIC error (see "Crash handling" above); without it the pulse is named by
 * its first and last EU ids. `first[i]`: the `ctx.attempt` EU i starts at (default 1; each EU
 * still has `retries` more after its first), for rebuilding a committed pulse's records at the
 * attempt numbers that completed them (`rebuildLostRecords`); the returned `attempts` are the
 * `ctx.attempt` each EU ended with, and `log` lists the EUs that ran more than once here.
 */
export async function executePulse(
  runner: PulseRunner,
  eus: WorkEU[],
  retries: number,
  pulse?: PulseRef,
  first?: readonly number[],
): Promise<{ outcomes: EUResult[]; log: AttemptLog[]; attempts: number[]; leaves: Buffer; checksum?: Digest }> {
  const n = eus.length;
  const final: Array<EUResult | undefined> = new Array(n);
  /** The final records' leaf hashes; `hasLeaf[i]` once the worker's leaf for final[i] is in. */
  let leaves: Buffer | undefined;
  const hasLeaf = new Uint8Array(n);
  if (first !== undefined && first.length !== n) throw new CairnError(ErrorCode.INTERNAL, `executePulse: ${first.length} first attempts for ${n} EUs`);
  /** Per EU, the attempts made before this execution (its ctx.attempt is one more). */
  const base = first === undefined ? new Array<number>(n).fill(0) : first.map((a) => a - 1);
  const attempts = [...base];
  const exhausted = (i: number): boolean => (attempts[i] as number) - (base[i] as number) > retries;
  /** Per EU, its attempts' errors (made on its first error). */
  const errors: Array<EUError[] | undefined> = new Array(n);
  const logError = (i: number, e: EUError): void => {
    (errors[i] ??= []).push({ code: e.code, message: e.message });
  };
  /** Per EU: the record text from the first crashed attempt that finished it, and its ctx.attempt. */
  const earlier: Array<{ attempt: number; text: string } | undefined> = new Array(n);
  let anyEarlier = false;
  /** Checks a result of EU `i` run with `attempt` against the earlier attempt's; `crashed`: keep it as the reference if there is none. */
  const validate = (i: number, attempt: number, r: EUResult, crashed: boolean): void => {
    const prev = earlier[i];
    if (prev !== undefined && prev.attempt === attempt) {
      const text = recordText(r);
      if (text !== prev.text) throw crashReexecutionMismatch(pulse, eus, eus[i] as WorkEU, attempt, prev.text, text);
    } else if (crashed) {
      earlier[i] = { attempt, text: recordText(r) };
      anyEarlier = true;
    }
  };
  let pending = eus.map((_, i) => i);
  let afterCrash = false;
  let requests = 0;
  let unattributed = 0;
  /** The runner's root of the first request, while that request alone settles the whole pulse. */
  let firstRoot: Digest | undefined;
  while (pending.length > 0) {
    const batch = pending;
    // After a crash the pulse is re-executed on a brand-new worker.
    const exec: PulseRunner["run"] = afterCrash ? runner.runFresh : runner.run;
    const out: RunnerOutcome = await exec(batch.map((i) => eus[i] as WorkEU), batch.map((i) => (attempts[i] as number) + 1));
    afterCrash = out.kind === "crashed";
    firstRoot = undefined; // any further request (retry or crash) changes the final records
    if (out.kind === "crashed") {
      const at = out.euIndex ?? 0;
      const done = out.completed;
      if (done.length > (out.euIndex ?? 0)) {
        throw new CairnError(ErrorCode.INTERNAL, `a crashed attempt reported ${done.length} finished EUs before EU index ${String(out.euIndex)}`);
      }
      if (out.euIndex === undefined && unattributed < MAX_UNATTRIBUTED_CRASHES) {
        unattributed++;
        continue; // the same request again, on a fresh worker; nobody is charged
      }
      unattributed = 0;
      done.forEach((r, k) => {
        const j = batch[k] as number;
        if (r.id !== (eus[j] as WorkEU).id) throw new CairnError(ErrorCode.INTERNAL, `a crashed attempt reported EU ${JSON.stringify(r.id)} at position ${k}`);
        validate(j, (attempts[j] as number) + 1, r, true);
      });
      const i = batch[at] as number;
      attempts[i] = (attempts[i] as number) + 1;
      logError(i, out.error);
      if (exhausted(i)) {
        final[i] = asFailure((eus[i] as WorkEU).id, out.error);
        pending = batch.filter((j) => j !== i);
      }
      continue;
    }
    unattributed = 0;
    if (out.results.length !== batch.length) {
      throw new CairnError(ErrorCode.INTERNAL, `worker returned ${out.results.length} results for ${batch.length} EUs`);
    }
    const next: number[] = [];
    const got = out.leaves !== undefined && out.leaves.length === batch.length * LEAF_HASH_BYTES ? Buffer.from(out.leaves.buffer, out.leaves.byteOffset, out.leaves.byteLength) : undefined;
    if (requests++ === 0 && got !== undefined && batch.length === n) {
      // The common case: the first request covers the pulse in order, so its buffer can be
      // kept as is (entries of EUs retried later are overwritten by keep()).
      leaves = got;
      firstRoot = out.root;
    }
    leaves ??= Buffer.alloc(n * LEAF_HASH_BYTES);
    const into = leaves;
    const keep = (i: number, k: number, r: EUResult): void => {
      final[i] = r;
      if (got === undefined) return;
      if (got !== into) got.copy(into, i * LEAF_HASH_BYTES, k * LEAF_HASH_BYTES, (k + 1) * LEAF_HASH_BYTES);
      hasLeaf[i] = 1;
    };
    out.results.forEach((r, k) => {
      const i = batch[k] as number;
      if (anyEarlier) validate(i, (attempts[i] as number) + 1, r, false);
      attempts[i] = (attempts[i] as number) + 1;
      if (r.ok) {
        keep(i, k, r);
        return;
      }
      logError(i, r.error);
      if (exhausted(i)) keep(i, k, r);
      else next.push(i);
    });
    pending = next;
  }
  leaves ??= Buffer.alloc(n * LEAF_HASH_BYTES);
  const log: AttemptLog[] = [];
  for (let i = 0; i < n; i++) {
    if ((attempts[i] as number) - (base[i] as number) > 1) log.push({ id: (eus[i] as WorkEU).id, attempts: attempts[i] as number, errors: errors[i] ?? [] });
    // Failures made here (crashes) and results of runners without leaves: hash on this thread.
    if (hasLeaf[i] === 0) writeLeafHash(recordText(final[i] as EUResult), leaves, i * LEAF_HASH_BYTES);
  }
  // The runner's root describes the request it ran. It is the pulse's checksum only when the
  // first request that returned (crashed attempts do not return: a crash followed by a whole
  // re-run on a fresh worker qualifies) covered every EU and left none to retry: then `leaves`
  // is exactly the buffer the root was computed over. Otherwise the commit combines them.
  if (firstRoot !== undefined && pending.length === 0 && requests === 1) return { outcomes: final as EUResult[], log, attempts, leaves, checksum: firstRoot };
  return { outcomes: final as EUResult[], log, attempts, leaves };
}

/** Whether this pulse is in the deterministic audit sample. */
export function inAuditSample(cfg: RunConfig, partition: number, index: number): boolean {
  if (cfg.auditRate <= 0) return false;
  if (cfg.auditRate >= 1) return true;
  const h = deriveSeed("audit", cfg.seed, partition, index);
  return Number(h >> 11n) / 2 ** 53 < cfg.auditRate;
}

/**
 * Re-runs the pulse's completed EUs on a fresh worker, each with the attempt number that
 * completed it, and compares their records.
 */
export async function auditPulse(
  runner: PulseRunner,
  spec: PulseSpec,
  outcomes: EUResult[],
  attempts: number[],
  leaves?: Buffer,
  checksum?: Digest,
): Promise<void> {
  const texts = outcomes.map(recordText);
  if (leaves !== undefined) {
    // The worker hashed the records (and may have supplied the checksum); an audited pulse
    // re-checks both here, so a function that tampers with the worker's hashing (it shares the
    // worker's realm) is caught during the run, not only by `verify`.
    const own = leafHashesOf(texts);
    for (let i = 0; i < texts.length; i++) {
      const a = i * LEAF_HASH_BYTES;
      if (own.compare(leaves, a, a + LEAF_HASH_BYTES, a, a + LEAF_HASH_BYTES) !== 0) {
        throw nondeterministic(spec, spec.eus[i] as WorkEU, texts[i] as string, "(the worker's record hash does not match this record)");
      }
    }
    if (checksum !== undefined && checksum !== rootOfLeafHashes(own, texts.length)) {
      throw new CairnError(ErrorCode.NONDETERMINISTIC, `pulse ${spec.partition}/${spec.index}: the worker's checksum ${checksum} is not the Merkle root of its records`, {
        partition: spec.partition,
        pulse: spec.index,
        checksum,
      });
    }
  }
  await auditRecords(runner, spec, texts, attempts);
}

/**
 * Audits a pulse that an earlier invocation committed (a resumed or repeated run reuses it):
 * its stored records are compared with a fresh execution, each EU at the attempt number that
 * completed it (from the stored attempt log; 1 when it needed only one).
 */
export async function auditCommittedPulse(runner: PulseRunner, spec: PulseSpec, result: PulseResult): Promise<void> {
  const byId = new Map(result.attemptLog.map((l) => [JSON.stringify(l.id), l.attempts]));
  await auditRecords(runner, spec, result.texts, spec.eus.map((e) => byId.get(JSON.stringify(e.id)) ?? 1));
}

/** Re-runs the completed EUs of `texts` on a fresh worker and compares record by record. */
async function auditRecords(runner: PulseRunner, spec: PulseSpec, texts: string[], attempts: number[]): Promise<void> {
  const idx = texts.map((t, i) => (isFailedRecord(t) ? -1 : i)).filter((i) => i >= 0);
  if (idx.length === 0) return;
  const again = await runner.runFresh(idx.map((i) => spec.eus[i] as WorkEU), idx.map((i) => attempts[i] as number));
  if (again.kind === "crashed") {
    const i = idx[again.euIndex ?? 0] as number;
    throw nondeterministic(spec, spec.eus[i] as WorkEU, texts[i] as string, `worker crashed: ${again.error.message}`);
  }
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k] as number;
    const a = texts[i] as string;
    const b = recordText(again.results[k] as EUResult);
    if (a !== b) throw nondeterministic(spec, spec.eus[i] as WorkEU, a, b);
  }
}

/** A record or value for a message, cut at MAX_SHOWN_OUTPUT_CHARS (never half of a surrogate pair) and marked `…`. */
export function shown(s: string): string {
  if (s.length <= MAX_SHOWN_OUTPUT_CHARS) return s;
  const last = s.charCodeAt(MAX_SHOWN_OUTPUT_CHARS - 1);
  return `${s.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_SHOWN_OUTPUT_CHARS - 1 : MAX_SHOWN_OUTPUT_CHARS)}…`;
}

/**
 * The details of an E_NONDETERMINISTIC error naming an EU and its two records, bounded: the id
 * as it is (a string id longer than MAX_ECHOED_CHARS: quoted cut, with its length, as the
 * duplicate-id errors give it), each record cut to MAX_SHOWN_OUTPUT_CHARS (`echoed`: `…
 * (N characters)` states its full length), and, when a record is cut, its length and SHA-256
 * (`firstLength`, `firstDigest`; `second…`), so that two records too long to show whole can
 * still be told apart. Before, both records were kept whole (a 1 MB record made a 2 MB error).
 */
function nondeterministicDetails(eu: WorkEU, first: string, second: string): Record<string, unknown> {
  const d: Record<string, unknown> = {
    id: typeof eu.id === "string" && codePointsOver(eu.id) ? echoedJson(eu.id) : eu.id,
    first: echoed(first, MAX_SHOWN_OUTPUT_CHARS),
    second: echoed(second, MAX_SHOWN_OUTPUT_CHARS),
  };
  for (const [k, text] of [["first", first], ["second", second]] as const) {
    if (text.length <= MAX_SHOWN_OUTPUT_CHARS) continue;
    d[`${k}Length`] = text.length;
    d[`${k}Digest`] = sha256(text);
  }
  return d;
}

function nondeterministic(spec: PulseSpec, eu: WorkEU, first: string, second: string): CairnError {
  return new CairnError(
    ErrorCode.NONDETERMINISTIC,
    `audit of pulse ${spec.partition}/${spec.index} found a nondeterministic result at EU ${echoedJson(eu.id)}:\n  run:   ${shown(first)}\n  audit: ${shown(second)}`,
    { partition: spec.partition, pulse: spec.index, ...nondeterministicDetails(eu, first, second) },
  );
}

/** A re-execution after a crash finished an EU differently from the crashed attempt. */
function crashReexecutionMismatch(pulse: PulseRef | undefined, eus: WorkEU[], eu: WorkEU, attempt: number, first: string, second: string): CairnError {
  const name =
    pulse !== undefined
      ? `pulse ${pulse.partition}/${pulse.index}`
      : `the pulse of EUs ${echoedJson((eus[0] as WorkEU).id)}…${echoedJson((eus[eus.length - 1] as WorkEU).id)}`;
  return new CairnError(
    ErrorCode.NONDETERMINISTIC,
    `re-execution of ${name} after a worker crash found a nondeterministic result at EU ${echoedJson(eu.id)}:\n  first attempt: ${shown(first)}\n  re-execution:  ${shown(second)}`,
    { ...(pulse === undefined ? {} : { partition: pulse.partition, pulse: pulse.index }), attempt, ...nondeterministicDetails(eu, first, second) },
  );
}

/** Commits an executed pulse in one store transaction and returns its summary. */
export function commitPulse(
  store: Store,
  fn: Digest,
  cfg: RunConfig,
  plan: Digest,
  spec: PulseSpec,
  outcomes: EUResult[],
  log: AttemptLog[],
  leaves?: Buffer,
  root?: Digest,
): PulseResult {
  const texts = outcomes.map(recordText);
  const chars = recordsChars(texts);
  checkRecordsSize(spec, texts, MAX_PULSE_RECORDS_BYTES, chars);
  const entries = attemptLogEntries(spec, log);
  const hashes = leaves ?? leafHashesOf(texts);
  const checksum = leaves !== undefined && root !== undefined ? root : rootOfLeafHashes(hashes, texts.length);
  const failed = outcomes.filter((o) => !o.ok).length;
  return store.transaction(() => {
    const slice = store.putBytes(spec.slice, { mediaType: SLICE_MEDIA_TYPE }).digest;
    const records = putRecords(store, texts, chars);
    const attempts = putAttemptLog(store, entries) ?? null;
    const receipt = store.recordReceipt({
      program: fn,
      inputs: [slice],
      params: pulseParams(cfg),
      outputs: attempts === null ? [records] : [records, attempts],
      status: failed === 0 ? "succeeded" : "failed",
      resources: { eus: outcomes.length, completed: outcomes.length - failed, failed, retried: log.length },
    });
    linkToPlan(store, plan, [slice, records, ...(attempts === null ? [] : [attempts])]);
    return summary(spec, texts, hashes, checksum, slice, records, attempts, receipt.digest, log, failed);
  });
}

/**
 * Makes a committed pulse reachable from its run's pinned plan, so gc keeps it while the run
 * is unfinished (the finished run's manifest links it again).
 */
export function linkToPlan(store: Store, plan: Digest, members: Digest[]): void {
  store.addEdge({ from: [plan], to: members, type: "contains", role: "pulse" });
}

/**
 * A reused pulse's slice, stored again from `spec` (the same bytes: a put revives a tombstone or
 * stores collected bytes again, store §5.10) when the store cannot return it: verify and replay
 * read it. Not by running the pulse again, which a pulse with retries may not reproduce (its
 * receipt would then conflict). In the caller's transaction.
 */
export function restoreSlice(store: Store, spec: PulseSpec): void {
  const d = spec.sliceDigest;
  if (isPresent(store, d)) return;
  const put = store.putBytes(spec.slice, { mediaType: SLICE_MEDIA_TYPE }).digest;
  if (put !== d) throw new CairnError(ErrorCode.INTERNAL, `pulse ${spec.partition}/${spec.index}: its slice stored as ${put}, expected ${d}`, { pulse: `${spec.partition}/${spec.index}` });
}

/** Whether the store can return artifact `d` (not unknown, tombstoned or collected). */
function isPresent(store: Store, d: Digest): boolean {
  return store.has(d) && store.stat(d).state === "present";
}

/**
 * What an earlier (interrupted) invocation committed of a pulse, from one receipt lookup:
 * `committed`, the pulse to reuse; `lost`, a committed pulse whose records or attempt log the
 * store cannot return (deleted, or collected by gc while the receipt stayed), which the engine
 * rebuilds what it can of; undefined when there is no receipt for it (every pulse of a fresh
 * run). A missing slice is neither: the engine stores it again from the pulse's spec when it
 * links the reused pulse (`restoreSlice`).
 */
export type FoundPulse = { committed: PulseResult; lost?: undefined } | { committed?: undefined; lost: LostPulse } | undefined;

export function findCommittedPulse(store: Store, fn: Digest, cfg: RunConfig, spec: PulseSpec): FoundPulse {
  const sliceDigest = spec.sliceDigest;
  const r = store.findReceipt(fn, [sliceDigest], pulseParams(cfg));
  if (r === undefined) return undefined;
  const [records, attempts] = r.outputs as [Digest, Digest | undefined];
  const recordsLost = !isPresent(store, records);
  const attemptsLost = attempts !== undefined && !isPresent(store, attempts);
  if (recordsLost || attemptsLost) {
    const retried = typeof r.resources?.retried === "number" ? r.resources.retried : 0;
    return { lost: { receipt: r.digest, records, attempts, recordsLost, attemptsLost, retried } };
  }
  const texts = readCommittedTexts(store, spec, records);
  const log = attempts === undefined ? [] : readAttemptLog(store, spec, attempts, cfg.retries);
  const failed = texts.filter(isFailedRecord).length;
  const leaves = leafHashesOf(texts);
  return { committed: summary(spec, texts, leaves, rootOfLeafHashes(leaves, texts.length), sliceDigest, records, attempts ?? null, r.digest, log, failed) };
}

/**
 * A committed pulse's records, read a window at a time: the pulse's texts are held (the
 * scheduler counts them), not also its bytes and their whole text. Never more than a pulse's
 * records may be (the engine writes no larger artifact) nor more records than the pulse's EUs:
 * a forged one is refused first.
 */
function readCommittedTexts(store: Store, spec: PulseSpec, records: Digest): string[] {
  const texts: string[] = [];
  eachCommittedText(store, spec, records, (t) => {
    texts.push(t);
    return true;
  });
  return texts;
}

/**
 * Walks a committed pulse's records a window at a time, calling `visit` with each record and
 * its position until it returns false; checked as `readCommittedTexts` says (the count and the
 * final newline once the walk reaches the end).
 */
function eachCommittedText(store: Store, spec: PulseSpec, records: Digest, visit: (text: string, k: number) => boolean): void {
  const size = store.stat(records).size;
  if (size > MAX_PULSE_RECORDS_BYTES) throw recordsArtifactCorrupt(spec, records, `is ${size} bytes, more than the ${MAX_PULSE_RECORDS_BYTES} a pulse's records may be`);
  let n = 0;
  const windows = new RecordWindows(store.openReader(records));
  try {
    for (let w = windows.next(); w !== undefined; w = windows.next()) {
      for (const t of w) {
        if (n >= spec.eus.length) throw recordsArtifactCorrupt(spec, records, `holds more than ${spec.eus.length} records, expected ${spec.eus.length}`);
        if (!visit(t, n++)) return;
      }
    }
  } finally {
    windows.close();
  }
  if (windows.tail.length > 0) throw recordsArtifactCorrupt(spec, records, "does not end with a newline");
  if (n !== spec.eus.length) throw recordsArtifactCorrupt(spec, records, `holds ${n} records, expected ${spec.eus.length}`);
}

/** E_STORE_CORRUPT for a pulse's committed attempt log that is not one the engine writes. */
function attemptLogCorrupt(spec: PulseRef, attempts: Digest, why: string): CairnError {
  return new CairnError(ErrorCode.STORE_CORRUPT, `pulse ${spec.partition}/${spec.index}: attempt log ${attempts} ${why}`, { partition: spec.partition, pulse: spec.index, digest: attempts });
}

/**
 * A committed pulse's attempt log, checked before anything uses it (its counts are the
 * `ctx.attempt` EUs start at when their records are rebuilt, `committedAttempts`): at most
 * MAX_ATTEMPT_LOG_BYTES (else E_LIMIT_EXCEEDED), an array of `{id, attempts, errors}`, each id
 * an EU of the pulse listed once, each count an integer in 2..retries+1 (a logged EU ran more
 * than once, and at most 1 + retries times). Else E_STORE_CORRUPT naming the pulse and the log.
 */
function readAttemptLog(store: Store, spec: PulseSpec, attempts: Digest, retries: number): AttemptLog[] {
  const size = store.stat(attempts).size;
  if (size > MAX_ATTEMPT_LOG_BYTES) {
    throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `pulse ${spec.partition}/${spec.index}: attempt log ${attempts} is ${size} bytes, more than the ${MAX_ATTEMPT_LOG_BYTES} an attempt log is read back`, {
      partition: spec.partition,
      pulse: spec.index,
      digest: attempts,
      size,
      limit: MAX_ATTEMPT_LOG_BYTES,
    });
  }
  let log: unknown;
  try {
    log = JSON.parse(store.get(attempts).toString("utf8"));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw attemptLogCorrupt(spec, attempts, `is not JSON: ${err.message}`);
  }
  if (!isAttemptLog(log)) throw attemptLogCorrupt(spec, attempts, "is not an attempt log: an array of {id, attempts, errors: [{code, message}]}");
  const inPulse = new Set(spec.eus.map((e) => JSON.stringify(e.id)));
  const seen = new Set<string>();
  for (const e of log) {
    const key = JSON.stringify(e.id);
    if (!inPulse.has(key)) throw attemptLogCorrupt(spec, attempts, `lists EU ${echoedJson(e.id)}, which is not in the pulse`);
    if (seen.has(key)) throw attemptLogCorrupt(spec, attempts, `lists EU ${echoedJson(e.id)} twice`);
    seen.add(key);
    if (e.attempts < 2 || e.attempts > 1 + retries) {
      throw attemptLogCorrupt(spec, attempts, `gives EU ${echoedJson(e.id)} ${e.attempts} attempts, where a logged EU has 2..${1 + retries} (retries ${retries})`);
    }
  }
  return log;
}

/**
 * A committed pulse (its receipt found) whose records or attempt log the store cannot return:
 * tombstoned (`cairn store rm`) or collected by gc.
 */
export interface LostPulse {
  receipt: Digest;
  records: Digest;
  /** The committed attempt log, if the pulse has one. */
  attempts: Digest | undefined;
  recordsLost: boolean;
  attemptsLost: boolean;
  /** How many EUs the receipt records as retried (its `resources.retried`). */
  retried: number;
}

/**
 * The `ctx.attempt` that completed each EU of a pulse whose records are lost but whose attempt
 * log is not: the log's count for an EU it lists, 1 for the others (they ran once). The log is
 * checked first (`readAttemptLog`).
 */
export function committedAttempts(store: Store, spec: PulseSpec, lost: LostPulse, retries: number): { log: AttemptLog[]; first: number[] } {
  if (lost.attemptsLost) throw new CairnError(ErrorCode.INTERNAL, `pulse ${spec.partition}/${spec.index}: its attempt log is lost too`);
  const log = lost.attempts === undefined ? [] : readAttemptLog(store, spec, lost.attempts, retries);
  const byId = new Map(log.map((l) => [JSON.stringify(l.id), l.attempts]));
  return { log, first: spec.eus.map((e) => byId.get(JSON.stringify(e.id)) ?? 1) };
}

/**
 * The error when a lost pulse artifact cannot be stored again. `differed`: what the
 * re-execution gave; `recordsDiffer`: whether its records differ (else only the attempt log).
 */
function notReproduced(store: Store, runId: string, spec: PulseSpec, lost: LostPulse, differed: string, recordsDiffer: boolean, extra: Record<string, unknown> = {}): CairnError {
  const role = lost.attemptsLost ? "attempt log" : "records";
  const digest = lost.attemptsLost ? (lost.attempts as Digest) : lost.records;
  const too = lost.attemptsLost && lost.recordsLost ? ` Its records ${lost.records} are deleted too.` : "";
  const why = recordsDiffer
    ? "an EU's output is not what it was: the function is nondeterministic or reads something that changed since, or an EU failed an attempt for a reason that does not repeat, a timeout, a worker crash"
    : "an EU failed an attempt for a reason that does not repeat: a timeout, a worker crash, a nondeterministic failure";
  const what = role === "records" ? "those records" : "that attempt log";
  const reason = artifactLoss(store, digest) ?? "tombstoned";
  const retry = recordsDiffer ? " If the function can give its committed outputs again (what it reads restored), resume again; otherwise no" : " No";
  return new CairnError(
    ErrorCode.NONDETERMINISTIC,
    `run ${runId}: pulse ${spec.partition}/${spec.index}: its ${role} ${digest} ${ARTIFACT_LOSS_TEXT[reason]} and cannot be stored again: ${differed} (${why}).${too}${retry} remedy exists in this store: the pulse's receipt commits it to ${what}, which only its original execution made. To run it afresh, run the same cairn run command with another --store (a new store)`,
    { runId, partition: spec.partition, pulse: spec.index, role, digest, reason, receipt: lost.receipt, ...extra },
  );
}

/**
 * Stores again the lost records of a committed pulse whose attempt log survives, from `outcomes`
 * (each EU run once at the attempt number that completed it, `committedAttempts`): only when
 * they are the committed bytes (the receipt's records digest), else E_NONDETERMINISTIC naming
 * the pulse and both digests (the deleted records are not there to name the EU that differs).
 * The committed receipt and attempt log stay as they are. In the caller's transaction (a group
 * commit's savepoint): what a refused rebuild stored is rolled back.
 */
export function rebuildLostRecords(store: Store, runId: string, plan: Digest, spec: PulseSpec, lost: LostPulse, outcomes: EUResult[], log: AttemptLog[]): PulseResult {
  const texts = outcomes.map(recordText);
  const chars = recordsChars(texts);
  checkRecordsSize(spec, texts, MAX_PULSE_RECORDS_BYTES, chars);
  return store.transaction(() => {
    const records = putRecords(store, texts, chars);
    if (records !== lost.records) {
      const from = lost.attempts === undefined ? "1, the pulse having no attempt log" : `from its attempt log ${lost.attempts}`;
      throw notReproduced(store, runId, spec, lost, `executing each EU again at the attempt number that completed it (${from}) gave the records ${records}, where its receipt ${lost.receipt} commits to ${lost.records} (the deleted records are not there to name the EU that differs)`, true, {
        expected: lost.records,
        actual: records,
      });
    }
    restoreSlice(store, spec);
    linkToPlan(store, plan, [spec.sliceDigest, records, ...(lost.attempts === undefined ? [] : [lost.attempts])]);
    const leaves = leafHashesOf(texts);
    return summary(spec, texts, leaves, rootOfLeafHashes(leaves, texts.length), spec.sliceDigest, records, lost.attempts ?? null, lost.receipt, log, texts.filter(isFailedRecord).length);
  });
}

/**
 * Before a committed pulse whose attempt log is lost is committed again from a full
 * re-execution (`outcomes`, `log`): its records and attempt log must be the committed ones, or
 * recording its receipt would conflict with the committed receipt. Else E_NONDETERMINISTIC
 * naming the pulse, the deleted attempt log and what differed: the first differing EU and both
 * records (records still present), both records digests (records deleted too), or the EUs
 * retried. In the caller's transaction: the artifacts it stores to compare are rolled back
 * with it when it throws.
 */
export function checkLostPulseReexecution(store: Store, runId: string, spec: PulseSpec, lost: LostPulse, outcomes: EUResult[], log: AttemptLog[]): void {
  const texts = outcomes.map(recordText);
  const entries = attemptLogEntries(spec, log);
  if (lost.recordsLost) {
    const chars = recordsChars(texts);
    checkRecordsSize(spec, texts, MAX_PULSE_RECORDS_BYTES, chars);
    const records = putRecords(store, texts, chars);
    if (records !== lost.records) {
      throw notReproduced(store, runId, spec, lost, `executing it again gave the records ${records}, where its receipt ${lost.receipt} commits to ${lost.records}`, true, { expected: lost.records, actual: records });
    }
  } else if (recordsDigest(texts) !== lost.records) {
    // Only on a mismatch are the committed records read, a window at a time, to name the first
    // EU that differs (not held whole inside the group commit).
    let at: { i: number; committed: string } | undefined;
    eachCommittedText(store, spec, lost.records, (t, k) => {
      if (t !== texts[k]) at = { i: k, committed: t };
      return at === undefined;
    });
    if (at === undefined) throw new CairnError(ErrorCode.INTERNAL, `pulse ${spec.partition}/${spec.index}: its re-executed records differ from the committed ${lost.records} by digest but not record by record`);
    const eu = spec.eus[at.i] as WorkEU;
    const a = at.committed;
    const b = texts[at.i] as string;
    throw notReproduced(store, runId, spec, lost, `executing it again gave other records, first at EU ${echoedJson(eu.id)}:\n  committed:   ${shown(a)}\n  re-executed: ${shown(b)}`, true, nondeterministicDetails(eu, a, b));
  }
  const attempts = putAttemptLog(store, entries);
  if (attempts === lost.attempts) return;
  const eus = (k: number): string => (k === 0 ? "no EU" : k === 1 ? "1 EU" : `${k} EUs`);
  const ids = log.slice(0, MAX_NAMED_RETRIED).map((l) => echoedJson(l.id)).join(", ");
  const named = log.length === 0 ? "" : ` (${ids}${log.length > MAX_NAMED_RETRIED ? ", …" : ""})`;
  const differed =
    log.length !== lost.retried
      ? `executing it again retried ${eus(log.length)}${named}, where its receipt ${lost.receipt} records ${lost.retried} retried ${lost.retried === 1 ? "EU" : "EUs"}`
      : `executing it again retried ${eus(log.length)}${named}, as its receipt ${lost.receipt} records, but with other attempts or errors: its attempt log would be ${String(attempts)}`;
  throw notReproduced(store, runId, spec, lost, differed, false, { retried: log.length, committedRetried: lost.retried, ...(attempts === undefined ? {} : { actual: attempts }) });
}

function summary(
  spec: PulseSpec,
  texts: string[],
  leaves: Buffer,
  checksum: Digest,
  slice: Digest,
  records: Digest,
  attempts: Digest | null,
  receipt: Digest,
  log: AttemptLog[],
  failed: number,
): PulseResult {
  return {
    partition: spec.partition,
    index: spec.index,
    eus: texts.length,
    completed: texts.length - failed,
    failed,
    retried: log.length,
    checksum,
    slice,
    records,
    attempts,
    receipt,
    ids: spec.eus.map((e) => e.id),
    texts,
    leaves,
    attemptLog: log,
  };
}
