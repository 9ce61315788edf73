/**
 * The run manifest: a canonical JSON artifact holding what a third party needs to re-verify
 * the run — engine, full config, input and function artifacts, every pulse (checksum, slice,
 * records, receipt, attempts), the first failures, the counts, the output digest and the reduce
 * result. It holds no wall-clock figures, so an interrupted-and-resumed run writes the same
 * bytes as an uninterrupted one; measurements go to the separate run report.
 *
 * Its size is bounded by the number of pulses, never by the number of failed or retried EUs:
 * every failure's record is in the output (and its pulse's records), every attempt log in its
 * pulse's attempts artifact (named by the pulse's receipt); the manifest repeats the first
 * MAX_MANIFEST_FAILURES failures (and, when there are more, names its failures artifact, which
 * holds every one) and inlines an attempt log only up to MAX_INLINE_ATTEMPTS_BYTES (else it
 * names the artifact). A manifest over MAX_MANIFEST_BYTES,
 * which `loadManifest` could not read back, is refused before anything is stored.
 */
import { canonicalBytes, canonicalize } from "../core/canonical.js";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import { isDigest, type Digest } from "../core/digest.js";
import { echoedJson } from "../core/echo.js";
import type { Store } from "../store/store.js";
import { MAX_EDGE_NODES } from "../store/edges.js";
import { MAX_BUFFERED_GET_BYTES } from "../store/layout.js";
import type { EUId } from "./input/types.js";
import type { AttemptLog, PulseResult } from "./pulse.js";
import { ENGINE_NAME, ENGINE_VERSION, RUN_ID_HEX_CHARS, checkRunId, manifestRoot, readRunArtifact, unpinAndResume, type RunPlan } from "./plan.js";
import { checkStore } from "./api-checks.js";
import type { RunConfig } from "./config.js";

export const MANIFEST_MEDIA_TYPE = "application/vnd.cairn.batch.manifest+json";
export const OUTPUT_MEDIA_TYPE = "application/vnd.cairn.batch.output+jsonl";
/**
 * A run's failures artifact: every failure, one canonical `{"code","id","message"}` line each
 * (failureLine), in EU-id order. Stored only for a run with more than MAX_MANIFEST_FAILURES
 * failures, and named by its manifest's `failuresArtifact`.
 */
export const FAILURES_MEDIA_TYPE = "application/vnd.cairn.batch.failures+jsonl";

/**
 * Failures the manifest lists (the first ones in EU-id order, as their records hold them);
 * `counts.failed` is the exact number, and every failed record is in the output. Manifests
 * written before 2026-11-26 list every failure; verify accepts both.
 */
export const MAX_MANIFEST_FAILURES = 100;
/**
 * Largest attempt log (UTF-8 bytes of its canonical JSON) a manifest pulse holds inline; a
 * larger one is named by its attempts artifact's digest (the artifact the pulse's receipt
 * records as its second output). Manifests written before 2026-11-26 inline every log.
 */
export const MAX_INLINE_ATTEMPTS_BYTES = 4096;
/** Largest manifest a run stores: what `loadManifest` (the store's in-memory read limit) reads back. */
export const MAX_MANIFEST_BYTES = MAX_BUFFERED_GET_BYTES;

export interface ManifestPulse {
  partition: number;
  index: number;
  eus: number;
  completed: number;
  failed: number;
  checksum: Digest;
  slice: Digest;
  records: Digest;
  receipt: Digest;
  /**
   * The pulse's attempt log inline (`[]` when no EU needed a second attempt, or when the log is
   * named by `attemptsArtifact` instead).
   */
  attempts: AttemptLog[];
  /**
   * Only when the log's canonical JSON is over MAX_INLINE_ATTEMPTS_BYTES: the digest of the
   * pulse's attempts artifact, which holds it (`attempts` is then `[]`).
   */
  attemptsArtifact?: Digest;
}

/** A pulse's manifest entry, with the number of its EUs that needed more than one attempt (for `counts.retried`). */
export type PulseEntry = ManifestPulse & { retried: number };

/**
 * A committed pulse's manifest entry: what the engine keeps of each pulse until the manifest is
 * written (bounded: its attempt log only when small enough to be inlined).
 */
export function manifestPulse(p: PulseResult): PulseEntry {
  const e: PulseEntry = {
    partition: p.partition,
    index: p.index,
    eus: p.eus,
    completed: p.completed,
    failed: p.failed,
    checksum: p.checksum,
    slice: p.slice,
    records: p.records,
    receipt: p.receipt,
    attempts: [],
    retried: p.retried,
  };
  if (p.attempts !== null) {
    if (inlinesAttempts(p.attemptLog)) e.attempts = p.attemptLog;
    else e.attemptsArtifact = p.attempts;
  }
  return e;
}

/** Whether a manifest holds this attempt log inline (else it names its attempts artifact). */
export function inlinesAttempts(log: readonly AttemptLog[]): boolean {
  // canonicalize(log) is `[` the entries' canonical forms joined by `,` `]`: measured an entry at
  // a time, stopping past the limit (not a third copy of a large log).
  let bytes = 2 + Math.max(0, log.length - 1);
  for (const e of log) {
    bytes += Buffer.byteLength(canonicalize(e), "utf8");
    if (bytes > MAX_INLINE_ATTEMPTS_BYTES) return false;
  }
  return bytes <= MAX_INLINE_ATTEMPTS_BYTES;
}

export interface Counts {
  total: number;
  completed: number;
  failed: number;
  retried: number;
}

export interface Manifest {
  kind: "cairn.batch.manifest";
  version: 1;
  engine: { name: string; version: string };
  runId: string;
  plan: Digest;
  config: RunConfig;
  input: { artifact: Digest; format: string; records: number };
  function: { artifact: Digest };
  counts: Counts;
  pulses: ManifestPulse[];
  /** The first MAX_MANIFEST_FAILURES failed EUs in EU-id order (`counts.failed` counts them all). */
  failures: Array<{ id: EUId; code: string; message: string }>;
  /**
   * Only when `counts.failed` is over MAX_MANIFEST_FAILURES: the digest of the run's failures
   * artifact (FAILURES_MEDIA_TYPE), which holds every failure. Absent otherwise, so a run with
   * fewer failures writes the same bytes as before 2026-11-26.
   */
  failuresArtifact?: Digest;
  output: { digest: Digest; artifact: Digest; records: number };
  reduce: { value: unknown } | null;
}

/** One line of a failures artifact (without its newline): the failure's canonical JSON. */
export function failureLine(f: { id: EUId; code: string; message: string }): string {
  return canonicalize({ code: f.code, id: f.id, message: f.message });
}

/**
 * `failures`: the first failed EUs in EU-id order (only the first MAX_MANIFEST_FAILURES are
 * kept); `failuresArtifact`: the failures artifact, given exactly when more EUs failed.
 */
export function buildManifest(args: {
  runId: string;
  plan: RunPlan;
  planDigest: Digest;
  recordsRead: number;
  pulses: PulseEntry[];
  failures: Array<{ id: EUId; code: string; message: string }>;
  failuresArtifact?: Digest;
  output: { digest: Digest; artifact: Digest; records: number };
  reduce: { value: unknown } | null;
}): Manifest {
  const pulses = [...args.pulses].sort((a, b) => a.partition - b.partition || a.index - b.index);
  const counts: Counts = { total: 0, completed: 0, failed: 0, retried: 0 };
  for (const p of pulses) {
    counts.total += p.eus;
    counts.completed += p.completed;
    counts.failed += p.failed;
    counts.retried += p.retried;
  }
  // Exhaustiveness (PLEX G1): every record read ended in exactly one record of the output.
  if (counts.completed + counts.failed !== counts.total || counts.total !== args.recordsRead || args.output.records !== counts.total) {
    throw new CairnError(
      ErrorCode.INTERNAL,
      `exhaustiveness check failed: read ${args.recordsRead}, pulses hold ${counts.total} (${counts.completed} completed + ${counts.failed} failed), output holds ${args.output.records}`,
    );
  }
  if ((args.failuresArtifact !== undefined) !== counts.failed > MAX_MANIFEST_FAILURES) {
    throw new CairnError(
      ErrorCode.INTERNAL,
      `run ${args.runId}: ${counts.failed} EUs failed, but the merge ${args.failuresArtifact === undefined ? "stored no" : "stored a"} failures artifact (one is stored exactly when more than ${MAX_MANIFEST_FAILURES} failed)`,
    );
  }
  const manifest: Manifest = {
    kind: "cairn.batch.manifest",
    version: 1,
    engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
    runId: args.runId,
    plan: args.planDigest,
    config: args.plan.config,
    input: { artifact: args.plan.input.artifact, format: args.plan.input.format, records: args.recordsRead },
    function: { artifact: args.plan.function.artifact },
    counts,
    pulses: pulses.map((p) => {
      const { retried, ...entry } = p;
      void retried; // counted above
      return entry;
    }),
    failures: args.failures.slice(0, MAX_MANIFEST_FAILURES),
    output: args.output,
    reduce: args.reduce,
  };
  if (args.failuresArtifact !== undefined) manifest.failuresArtifact = args.failuresArtifact;
  return manifest;
}

/** A finished run's status: `failed` when EUs failed and the run did not allow failures. */
export function runStatus(m: Pick<Manifest, "counts" | "config">): "completed" | "failed" {
  return m.counts.failed > 0 && !m.config.allowFailures ? "failed" : "completed";
}

/** The status of a finished run's run receipt (`recordManifest`): `failed` when its `runStatus` is, else `succeeded`. */
export function runReceiptStatus(m: Pick<Manifest, "counts" | "config">): "succeeded" | "failed" {
  return runStatus(m) === "failed" ? "failed" : "succeeded";
}

/** Receipt params kind of a whole run's receipt (function + input ⇒ output + manifest). */
export const RUN_RECEIPT_KIND = "cairn.batch.run";

/**
 * Stores the manifest, links it to everything it accounts for, and pins it. Also records the
 * run's provenance beside the pulses' receipts (slice → receipt → records): a **run receipt**
 * (program: the function; inputs: the input artifact; params `{kind: "cairn.batch.run", plan}`;
 * outputs: the output artifact and the manifest), so lineage goes input → run receipt → output,
 * and `derived_from` edges from the pulses' records to the output artifact (role `merge`). The
 * run receipt is scoped to the run (its plan): slices and records, content-addressed and shared
 * by runs over overlapping inputs, get no edge to an input, so neither gc nor lineage ties one
 * run's input to another run's output through a shared pulse. A manifest over `limit` bytes
 * (MAX_MANIFEST_BYTES: what `loadManifest` reads back) is refused with E_LIMIT_EXCEEDED before
 * anything is stored.
 */
export function recordManifest(store: Store, m: Manifest, limit = MAX_MANIFEST_BYTES): Digest {
  const bytes = canonicalBytes(m);
  if (bytes.length > limit) throw manifestTooLarge(m.runId, bytes.length, m.pulses.length, limit);
  return store.transaction(() => {
    const art = store.putBytes(bytes, { mediaType: MANIFEST_MEDIA_TYPE });
    const members: Digest[] = [m.plan, m.output.artifact];
    for (const p of m.pulses) {
      members.push(p.receipt, p.slice, p.records);
      if (p.attemptsArtifact !== undefined) members.push(p.attemptsArtifact); // named, so contained
    }
    if (m.failuresArtifact !== undefined) members.push(m.failuresArtifact); // kept (gc) as long as the manifest
    const unique = [...new Set(members)];
    for (let i = 0; i < unique.length; i += MAX_EDGE_NODES) {
      store.addEdge({ from: [art.digest], to: unique.slice(i, i + MAX_EDGE_NODES), type: "contains", role: "manifest" });
    }
    store.recordReceipt({
      program: m.function.artifact,
      inputs: [m.input.artifact],
      params: { kind: RUN_RECEIPT_KIND, plan: m.plan },
      outputs: [m.output.artifact, art.digest],
      status: runReceiptStatus(m),
    });
    const records = [...new Set(m.pulses.map((p) => p.records))];
    for (let i = 0; i < records.length; i += MAX_EDGE_NODES) {
      store.addEdge({ from: records.slice(i, i + MAX_EDGE_NODES), to: [m.output.artifact], type: "derived_from", role: "merge" });
    }
    if (store.findRoot(manifestRoot(m.runId)) === undefined) store.pin(manifestRoot(m.runId), art.digest, "run");
    return art.digest;
  });
}

/**
 * E_LIMIT_EXCEEDED for a run whose manifest would be over `limit` bytes (`loadManifest` could
 * not read it back, so the run could never be reported): it names the size and the pulse count,
 * which is what makes a manifest large, and how to have fewer pulses.
 */
function manifestTooLarge(runId: string, bytes: number, pulses: number, limit: number, partial = false): CairnError {
  return new CairnError(
    ErrorCode.LIMIT_EXCEEDED,
    `run ${runId}: its manifest ${partial ? "would be over" : "is"} ${bytes} bytes${partial ? ` after ${pulses} pulses` : ` (${pulses} pulses)`}, more than the ${limit}-byte limit of a manifest (what can be read back); run with a larger pulseSize (--pulse-size), so that there are fewer pulses`,
    { runId, bytes, pulses, limit },
  );
}

/**
 * Adds up a run's manifest entries as its pulses commit and refuses the run (E_LIMIT_EXCEEDED)
 * as soon as they alone exceed `limit`, rather than after every pulse has run: the manifest
 * could not be stored (`recordManifest` checks the whole manifest before storing it).
 */
export class ManifestSizeGuard {
  private bytes = 0;
  private pulses = 0;

  constructor(
    private readonly runId: string,
    private readonly limit = MAX_MANIFEST_BYTES,
  ) {}

  add(p: ManifestPulse): void {
    this.bytes += Buffer.byteLength(canonicalize(p), "utf8") + 1; // and its comma
    this.pulses++;
    if (this.bytes > this.limit) throw manifestTooLarge(this.runId, this.bytes, this.pulses, this.limit, true);
  }
}

const MANIFEST_KEYS = ["config", "counts", "engine", "failures", "function", "input", "kind", "output", "plan", "pulses", "reduce", "runId", "version"];
/** The keys of a manifest that names its failures artifact. */
const MANIFEST_KEYS_WITH_FAILURES_ARTIFACT = ["config", "counts", "engine", "failures", "failuresArtifact", "function", "input", "kind", "output", "plan", "pulses", "reduce", "runId", "version"];
const PULSE_KEYS = ["attempts", "checksum", "completed", "eus", "failed", "index", "partition", "receipt", "records", "slice"];
/** The keys of a pulse whose attempt log is named by its artifact. */
const PULSE_KEYS_OUT_OF_LINE = ["attempts", "attemptsArtifact", "checksum", "completed", "eus", "failed", "index", "partition", "receipt", "records", "slice"];

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const count = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
const isId = (x: unknown): boolean => typeof x === "string" || Number.isSafeInteger(x);
const keysAre = (o: Record<string, unknown>, keys: readonly string[]): boolean => {
  const own = Object.keys(o).sort();
  return own.length === keys.length && own.every((k, i) => k === keys[i]);
};
const isError = (e: unknown): boolean => isObject(e) && typeof e.code === "string" && typeof e.message === "string" && keysAre(e, ["code", "message"]);

/** Whether `v` is shaped like an attempt log: an array of `{id, attempts, errors: [{code, message}]}`. */
export function isAttemptLog(v: unknown): v is AttemptLog[] {
  return Array.isArray(v) && v.every((a: unknown) => isObject(a) && isId(a.id) && count(a.attempts) && Array.isArray(a.errors) && a.errors.every(isError) && keysAre(a, ["attempts", "errors", "id"]));
}

/**
 * The first way `v` (a parsed manifest) is not shaped like one the engine writes, or undefined:
 * exactly the manifest's keys, `kind` "cairn.batch.manifest" and `version` 1, digests where
 * digests go, non-negative integers for counts and positions, strings where strings go, every
 * pulse `{partition, index, eus, completed, failed, checksum, slice, records, receipt,
 * attempts}` with an attempt log of `{id, attempts, errors: [{code, message}]}` (or `[]` and an
 * `attemptsArtifact` digest), failures
 * `{id, code, message}`, an optional `failuresArtifact` digest, and `reduce` null or `{value}`. `verify` reports it as
 * `manifest_invalid` and checks nothing else (a forged manifest that lacked `pulses` used to
 * crash it with E_INTERNAL). Whether the values are RIGHT is for verify's other checks.
 */
export function manifestShapeProblem(v: unknown): string | undefined {
  if (!isObject(v)) return "it is not a JSON object";
  if (!keysAre(v, MANIFEST_KEYS) && !keysAre(v, MANIFEST_KEYS_WITH_FAILURES_ARTIFACT)) {
    const missing = MANIFEST_KEYS.filter((k) => !Object.prototype.hasOwnProperty.call(v, k));
    const extra = Object.keys(v).filter((k) => !MANIFEST_KEYS_WITH_FAILURES_ARTIFACT.includes(k)).sort();
    return [missing.length > 0 ? `it lacks ${missing.join(", ")}` : "", extra.length > 0 ? `it has ${extra.map((k) => JSON.stringify(k)).join(", ")}, which a manifest has not` : ""].filter((x) => x !== "").join("; ");
  }
  if (v.kind !== "cairn.batch.manifest") return `its kind is ${JSON.stringify(v.kind)}, not "cairn.batch.manifest"`;
  if (v.version !== 1) return `its version is ${JSON.stringify(v.version)}, not 1`;
  const { engine, config, input, counts, pulses, failures, output, reduce } = v;
  if (!isObject(engine) || typeof engine.name !== "string" || typeof engine.version !== "string") return "engine is not {name, version}";
  if (typeof v.runId !== "string") return "runId is not a string";
  if (!isDigest(v.plan)) return "plan is not a digest";
  if (!isObject(config)) return "config is not an object";
  if (!Number.isSafeInteger(config.partitions) || (config.partitions as number) < 1) return "config.partitions is not a positive integer";
  if (!count(config.retries)) return "config.retries is not a non-negative integer";
  if (config.idField !== null && typeof config.idField !== "string") return "config.idField is neither a string nor null";
  if (!isObject(input) || !isDigest(input.artifact) || typeof input.format !== "string" || !count(input.records)) return "input is not {artifact, format, records}";
  if (!isObject(v.function) || !isDigest(v.function.artifact)) return "function is not {artifact}";
  if (!isObject(counts) || !count(counts.total) || !count(counts.completed) || !count(counts.failed) || !count(counts.retried)) return "counts is not {total, completed, failed, retried}";
  if (!isObject(output) || !isDigest(output.digest) || !isDigest(output.artifact) || !count(output.records)) return "output is not {digest, artifact, records}";
  if (reduce !== null && !(isObject(reduce) && keysAre(reduce, ["value"]))) return "reduce is neither null nor {value}";
  if (!Array.isArray(failures)) return "failures is not an array";
  if (v.failuresArtifact !== undefined && !isDigest(v.failuresArtifact)) return `failuresArtifact ${echoedJson(v.failuresArtifact)} is not a digest`;
  for (let i = 0; i < failures.length; i++) {
    const f = failures[i] as unknown;
    if (!isObject(f) || !isId(f.id) || typeof f.code !== "string" || typeof f.message !== "string" || !keysAre(f, ["code", "id", "message"])) return `failure ${i} is not {id, code, message}`;
  }
  if (!Array.isArray(pulses)) return "pulses is not an array";
  for (let i = 0; i < pulses.length; i++) {
    const p = pulses[i] as unknown;
    const at = `pulse ${i} (in manifest order)`;
    if (!isObject(p) || !(keysAre(p, PULSE_KEYS) || keysAre(p, PULSE_KEYS_OUT_OF_LINE))) return `${at} is not {${PULSE_KEYS.join(", ")}}`;
    if (!count(p.partition) || !count(p.index) || !count(p.eus) || !count(p.completed) || !count(p.failed)) return `${at}: partition, index, eus, completed and failed are not all non-negative integers`;
    for (const k of ["checksum", "slice", "records", "receipt"] as const) if (!isDigest(p[k])) return `${at}: ${k} ${JSON.stringify(p[k])} is not a digest`;
    if (!Array.isArray(p.attempts)) return `${at}: attempts is not an array`;
    if (p.attemptsArtifact !== undefined && (!isDigest(p.attemptsArtifact) || p.attempts.length > 0)) return `${at}: attemptsArtifact is not a digest beside an empty attempts`;
    if (!isAttemptLog(p.attempts)) return `${at}: an attempt log entry is not {id, attempts, errors: [{code, message}]}`;
  }
  return undefined;
}

/**
 * E_LIMIT_EXCEEDED when the manifest `digest` pinned for run `runId` is over `limit` bytes
 * (MAX_MANIFEST_BYTES: the store's in-memory read limit), checked from its recorded size before
 * any byte is read. Builds before 2026-11-26 stored manifests of any size (every failure and every
 * attempt log inline); such a run could then not be shown, verified, replayed or reported again
 * (the store's own "stream it instead", or for `verify` an `artifact_tampered` finding). The
 * error names the run, the manifest and its size, and the remedy: unpin the manifest root and
 * resume the run, which writes its manifest again, bounded, from its committed pulses (nothing
 * is executed again; the report root is unpinned too, so the resume's report takes its place). A
 * manifest that cannot even be stat'ed is left to the read that follows.
 */
export function requireReadableManifest(store: Store, runId: string, digest: Digest, limit = MAX_MANIFEST_BYTES): void {
  let size: number;
  try {
    size = store.stat(digest).size;
  } catch (err) {
    if (isCairnError(err)) return; // reported by the read (missing, tombstoned…)
    throw err;
  }
  if (size <= limit) return;
  throw new CairnError(
    ErrorCode.LIMIT_EXCEEDED,
    `run ${runId}: its manifest ${digest} is ${size} bytes, more than the ${limit}-byte limit of a manifest (what can be read back into memory); builds before 2026-11-26 stored manifests of any size. To write it again, bounded, from the run's committed pulses: ${unpinAndResume(runId)}`,
    { runId, digest, bytes: size, limit, root: manifestRoot(runId) },
  );
}

/**
 * The manifest pinned for a finished run (undefined when it has none). One over `limit` bytes is
 * E_LIMIT_EXCEEDED naming the remedy (`requireReadableManifest`); one that is not JSON, or not
 * shaped like a manifest (`manifestShapeProblem`), is E_STORE_CORRUPT naming the run and the
 * manifest (before, a bare JSON.parse error came out as E_INTERNAL, or a later TypeError); one
 * tombstoned or collected by gc is E_NOT_FOUND naming the run and the remedy (plan.ts
 * `readRunArtifact`). A `store` that is not a Store, or a malformed run id, is E_USAGE (it was
 * a raw TypeError, or undefined as if the run had no manifest).
 */
export function loadManifest(store: Store, runId: string, limit = MAX_MANIFEST_BYTES): { manifest: Manifest; digest: Digest } | undefined {
  checkStore(store, "loadManifest");
  checkRunId(runId);
  const root = store.findRoot(manifestRoot(runId));
  if (root === undefined) return undefined;
  requireReadableManifest(store, runId, root.digest, limit);
  let value: unknown;
  try {
    value = JSON.parse(readRunArtifact(store, runId, "manifest", root.digest).toString("utf8"));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its manifest ${root.digest} is not JSON: ${err.message}`, { runId, digest: root.digest });
  }
  const shape = manifestShapeProblem(value);
  if (shape !== undefined) throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its manifest ${root.digest} is not a run manifest: ${shape}`, { runId, digest: root.digest });
  requireOwnManifest(value as Manifest, runId, root.digest);
  return { manifest: value as Manifest, digest: root.digest };
}

/**
 * The first way a manifest (shaped like one) is not run `runId`'s, or undefined: its `runId` is
 * another run's, or its `plan` is not the plan that hashes to this run id (a plan's artifact
 * digest is the SHA-256 of its canonical bytes, whose first RUN_ID_HEX_CHARS hex digits are the
 * run id: plan.ts `runIdOf`). Checked without reading anything else, so every reader of a
 * finished run refuses a manifest root re-pinned at another run's manifest (catalog damage, a
 * bad restore); `verify` reports the same as `plan_mismatch`.
 */
export function foreignManifestProblem(m: Pick<Manifest, "runId" | "plan">, runId: string): string | undefined {
  if (m.runId !== runId) return `it describes run ${m.runId}`;
  if (m.plan.slice("sha256:".length, "sha256:".length + RUN_ID_HEX_CHARS) !== runId) return `it names the plan ${m.plan}, which is not run ${runId}'s`;
  return undefined;
}

/**
 * E_STORE_CORRUPT naming both runs when the manifest `digest` pinned for run `runId` is not that
 * run's (`foreignManifestProblem`): reusing, streaming, showing or replaying it would hand back
 * another computation's result as this run's.
 */
export function requireOwnManifest(m: Manifest, runId: string, digest: Digest): void {
  const problem = foreignManifestProblem(m, runId);
  if (problem === undefined) return;
  throw new CairnError(
    ErrorCode.STORE_CORRUPT,
    `run ${runId}: the manifest ${digest} pinned for it (${manifestRoot(runId)}) is not this run's: ${problem}; the root points at another run's manifest (run cairn verify ${runId})`,
    { runId, digest, manifestRunId: m.runId, plan: m.plan },
  );
}
