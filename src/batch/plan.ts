/**
 * A run's plan: everything needed to (re)start it, fixed before the first EU runs. The plan
 * is a canonical JSON artifact pinned as the GC root `run:<runId>`; `resume` starts from it.
 * The run id is derived from the plan's content, so the same input, function, config and
 * engine always name the same run.
 */
import { canonicalBytes, canonicalDigest } from "../core/canonical.js";
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import { requireEngine } from "../core/engine-version.js";
import { ARTIFACT_LOSS_TEXT, artifactLoss, type ArtifactLoss } from "../store/artifact-loss.js";
import type { Store } from "../store/store.js";
import type { RunConfig } from "./config.js";
import type { InputFormat } from "./input/types.js";

export const ENGINE_NAME = "cairn.batch";
/**
 * The engine version, part of every plan (so of every run id) and manifest. It changes when the
 * same plan would commit other bytes or be checked by other rules: the record, slice, attempts
 * or manifest formats, the partition hash, the pulse cut rule, the checksum and Merkle rules, the
 * receipt params, what the function receives. It does not change for speed, messages, or inputs
 * newly refused (a refused run never completes, so it has no manifest to disagree with). Policy:
 * ARCHITECTURE §10.3.
 */
export const ENGINE_VERSION = "1";
export const PLAN_MEDIA_TYPE = "application/vnd.cairn.batch.plan+json";
export const RUN_ID_HEX_CHARS = 16;
const RUN_ID_RE = /^[0-9a-f]{16}$/;

export interface RunPlan {
  kind: "cairn.batch.plan";
  engine: { name: string; version: string };
  config: RunConfig;
  input: {
    /** Artifact holding the raw input bytes (stream formats) or the file listing (files). */
    artifact: Digest;
    format: InputFormat;
  };
  function: { artifact: Digest; name: string };
}

export function runIdOf(plan: RunPlan): string {
  // The plan holds no path: the same bytes read from another path are the same run.
  return canonicalDigest(plan).slice(7, 7 + RUN_ID_HEX_CHARS);
}

export function planRoot(runId: string): string {
  return `run:${runId}`;
}
export function manifestRoot(runId: string): string {
  return `run:${runId}:manifest`;
}
export function reportRoot(runId: string): string {
  return `run:${runId}:report`;
}

/**
 * Which of a run's artifacts is read (`readRunArtifact`, `requireRunArtifact`, `details.role`):
 * its own, each pinned by a root of its own; what its plan holds (the function bundle, the input
 * and a `files` input's files, kept by the plan's root through `contains` edges, and each
 * committed pulse's slice, records and attempt log, linked to the plan as it commits); and what
 * its manifest holds (the output and the failures artifact).
 */
export type RunArtifactRole =
  | "plan"
  | "manifest"
  | "run report"
  | "function bundle"
  | "input"
  | "input file"
  | "slice"
  | "records"
  | "attempt log"
  | "output"
  | "failures artifact";

const RUN_ARTIFACT_ROOT: Readonly<Record<RunArtifactRole, (runId: string) => string>> = Object.freeze({
  plan: planRoot,
  manifest: manifestRoot,
  "run report": reportRoot,
  "function bundle": planRoot,
  input: planRoot,
  "input file": planRoot,
  slice: planRoot,
  records: planRoot,
  "attempt log": planRoot,
  output: manifestRoot,
  "failures artifact": manifestRoot,
});

/** The roles pinned by a root of their own (the others are held by one: "held by <root>"). */
const OWN_ROOT: ReadonlySet<RunArtifactRole> = new Set(["plan", "manifest", "run report"]);

/**
 * How a run gets one of its artifacts back once it is tombstoned or collected. The plan:
 * the same `cairn run` command stores the same plan again (a put of the same bytes revives a
 * tombstone or stores swept bytes again, store §5.10) and the run goes on from its committed
 * pulses. The function bundle and the input (and a `files` input's files): the same `cairn run`
 * command stores them again first (ingest and bundling come before the plan), whether the run is
 * unfinished or finished. The manifest, the report, the output and the failures artifact: with
 * both roots unpinned, `resume` writes them again from the committed pulses, executing nothing
 * (as for an oversized manifest, manifest.ts `requireReadableManifest`); the report root too, so
 * that the new report takes the old one's place. A pulse's records or attempt log: the same, and
 * that pulse is executed again (pulse.ts `findCommittedPulse` reuses a pulse only while both are
 * present). Its records alone: each EU runs once at the attempt number that completed it (from
 * the committed attempt log), and the records are stored again when they are the committed bytes
 * (pulse.ts `rebuildLostRecords`). Its attempt log: the pulse is executed again with its retries,
 * and the log stored again only when the re-execution repeats it (and the records) exactly
 * (`checkLostPulseReexecution`); an attempt that failed for a reason that does not repeat (a
 * timeout, a worker crash) cannot be, and resume fails with E_NONDETERMINISTIC saying so (no
 * remedy in that store: the pulse's receipt commits it to that log). A pulse's slice: the same,
 * and resume, which reads the input again, stores it again as it reuses the pulse (pulse.ts
 * `restoreSlice`).
 */
/**
 * The commands that make `resume` write run `runId`'s manifest again from its committed pulses
 * (executing a pulse whose records, attempt log or receipt it does not find): the remedy the
 * manifest, verify and lost-artifact messages name.
 */
export function unpinAndResume(runId: string): string {
  return `cairn store unpin ${manifestRoot(runId)} and cairn store unpin ${reportRoot(runId)}, then cairn resume ${runId}`;
}

export function lostRunArtifactRemedy(runId: string, role: RunArtifactRole): string {
  const unpinResume = unpinAndResume(runId);
  switch (role) {
    case "plan":
      return "To store it again, run the same cairn run command again (the same input, function and options make the same plan; the run goes on from its committed pulses)";
    case "function bundle":
    case "input":
    case "input file":
      return "To store it again, run the same cairn run command again (it stores the same input and function bundle before anything else; the run goes on from its committed pulses, or is reported as finished)";
    case "slice":
      return `To store it again: ${unpinResume} (resume reads the input again and stores a reused pulse's missing slice again, executing nothing)`;
    case "records":
      return `To store it again, execute its pulse again: ${unpinResume} (a pulse whose records or attempt log is missing is executed again, the others are reused)`;
    case "attempt log":
      return `To store it again, execute its pulse again: ${unpinResume} (a pulse whose records or attempt log is missing is executed again, the others are reused; its attempt log is stored again only if its failed attempts fail again as they did, not one that failed for a reason that does not repeat, such as a timeout or a worker crash: resume then fails with E_NONDETERMINISTIC, and the run can only be run afresh in a new store)`;
    default:
      return `To write it again from the run's committed pulses: ${unpinResume}`;
  }
}

/**
 * The bytes of run `runId`'s `role` artifact `digest` (`store.get`). One the store knows but
 * cannot return — tombstoned (`cairn store rm`) or its bytes collected by gc — is E_NOT_FOUND
 * naming the run, the artifact and its root, that it is deleted, and the remedy
 * (`lostRunArtifactRemedy`); `details`: `runId`, `role`, `digest`, `root`, `reason`
 * (`tombstoned` | `collected`), and `pulse` (`partition/index`) for a pulse's artifact. Before,
 * `run`, `resume` and `runs show` ended with the store's bare "artifact … not found (deleted:
 * tombstoned)". Any other error is the store's own.
 */
export function readRunArtifact(store: Store, runId: string, role: RunArtifactRole, digest: Digest): Buffer {
  try {
    return store.get(digest);
  } catch (err) {
    if (!isCairnError(err, ErrorCode.NOT_FOUND)) throw err;
    throw lostRunArtifact(store, runId, role, digest) ?? err;
  }
}

/**
 * Before a run's artifact is read back (resume, verify, replay, `--out`): one the store knows but
 * cannot return is `readRunArtifact`'s E_NOT_FOUND naming the run, the role, the root that holds
 * it and the remedy, instead of the store's bare "not found" from deep in the read. `pulse`:
 * the pulse (`partition/index`) whose slice, records or attempt log it is.
 */
export function requireRunArtifact(store: Store, runId: string, role: RunArtifactRole, digest: Digest, pulse?: string): void {
  const lost = lostRunArtifact(store, runId, role, digest, pulse);
  if (lost !== undefined) throw lost;
}

/**
 * A read of run `runId`'s artifacts failed with `err`: when it is the store's E_NOT_FOUND for an
 * artifact (`details.digest`) the store knows but cannot return, `readRunArtifact`'s error for it,
 * its role given by `roleOf` (undefined: not one of the run's, `err` stands); else `err`.
 */
export function namedRunArtifactError(store: Store, runId: string, err: unknown, roleOf: (digest: Digest) => RunArtifactRole | undefined, pulse?: string): unknown {
  const lost = lostRunArtifactRead(store, err, roleOf);
  return lost === undefined ? err : (lostRunArtifact(store, runId, lost.role, lost.digest, pulse) ?? err);
}

/**
 * The text of a verify finding for a run's artifact that could not be read (`err`): for one the
 * store knows but cannot return, "<its role> <digest> is deleted from the store (tombstoned |
 * its bytes were collected by gc). <remedy>" (the finding's code stays what it was); else
 * "<what>: <err's message>", as before.
 */
export function lostRunArtifactFinding(store: Store, runId: string, err: CairnError, what: string, roleOf: (digest: Digest) => RunArtifactRole | undefined): string {
  const lost = lostRunArtifactRead(store, err, roleOf);
  if (lost === undefined) return `${what}: ${err.message}`;
  const subject = what.includes(lost.digest) ? what : `${what}: its ${lost.role} ${lost.digest}`;
  return `${subject} ${ARTIFACT_LOSS_TEXT[lost.loss]}. ${lostRunArtifactRemedy(runId, lost.role)}`;
}

function lostRunArtifactRead(store: Store, err: unknown, roleOf: (digest: Digest) => RunArtifactRole | undefined): { role: RunArtifactRole; digest: Digest; loss: ArtifactLoss } | undefined {
  if (!isCairnError(err, ErrorCode.NOT_FOUND)) return undefined;
  const digest = (err.details as { digest?: unknown } | undefined)?.digest;
  if (typeof digest !== "string" || !digest.startsWith("sha256:")) return undefined;
  const role = roleOf(digest as Digest);
  if (role === undefined) return undefined;
  const loss = artifactLoss(store, digest as Digest);
  return loss === undefined ? undefined : { role, digest: digest as Digest, loss };
}

function lostRunArtifact(store: Store, runId: string, role: RunArtifactRole, digest: Digest, pulse?: string): CairnError | undefined {
  const loss = artifactLoss(store, digest);
  if (loss === undefined) return undefined;
  const root = RUN_ARTIFACT_ROOT[role](runId);
  const where = `${pulse === undefined ? "" : `pulse ${pulse}, `}${OWN_ROOT.has(role) ? root : `held by ${root}`}`;
  return new CairnError(ErrorCode.NOT_FOUND, `run ${runId}: its ${role} ${digest} (${where}) ${ARTIFACT_LOSS_TEXT[loss]}. ${lostRunArtifactRemedy(runId, role)}`, {
    runId, role, digest, root, reason: loss, ...(pulse === undefined ? {} : { pulse }),
  });
}

/** Whether `err` is `readRunArtifact`'s error for a run's artifact deleted or collected. */
export function isLostRunArtifact(err: unknown): boolean {
  if (!isCairnError(err, ErrorCode.NOT_FOUND)) return false;
  const d = err.details as { role?: unknown; reason?: unknown } | undefined;
  return typeof d?.role === "string" && (d.reason === "tombstoned" || d.reason === "collected");
}

export function checkRunId(runId: string): string {
  if (!RUN_ID_RE.test(runId)) {
    throw new CairnError(ErrorCode.USAGE, `malformed run id ${JSON.stringify(runId)}: expected ${RUN_ID_HEX_CHARS} lowercase hex digits`, { runId });
  }
  return runId;
}

/** Stores and pins the plan (idempotent); returns the run id. */
export function recordPlan(store: Store, plan: RunPlan): { runId: string; planDigest: Digest } {
  const runId = runIdOf(plan);
  return store.transaction(() => {
    const art = store.putBytes(canonicalBytes(plan), { mediaType: PLAN_MEDIA_TYPE });
    store.addEdge({ from: [art.digest], to: [plan.input.artifact, plan.function.artifact], type: "contains", role: "plan" });
    if (store.findRoot(planRoot(runId)) === undefined) store.pin(planRoot(runId), art.digest, "run");
    return { runId, planDigest: art.digest };
  });
}

/**
 * A run planned (or finished) by another engine version is not resumed, verified or replayed by
 * this one: its bytes follow that version's rules. E_USAGE naming both versions.
 */
export function requireThisEngine(engine: { name?: unknown; version?: unknown } | undefined, runId: string, action: "resumed" | "verified" | "replayed"): void {
  requireEngine({ name: ENGINE_NAME, version: ENGINE_VERSION }, engine, `run ${runId}`, action, { runId });
}

/** E_NOT_FOUND for a run id the store has no plan (or manifest) of, naming the store: loadPlan's and verify's. */
export function runNotFound(store: Store, runId: string): CairnError {
  return new CairnError(ErrorCode.NOT_FOUND, `run ${runId} not found in store ${store.root}`, { runId });
}

/** Loads a run's plan by id (a tombstoned or collected plan: `readRunArtifact`'s E_NOT_FOUND naming the remedy). */
export function loadPlan(store: Store, runId: string): { plan: RunPlan; planDigest: Digest } {
  checkRunId(runId);
  const root = store.findRoot(planRoot(runId));
  if (root === undefined) throw runNotFound(store, runId);
  let plan: RunPlan;
  try {
    plan = JSON.parse(readRunArtifact(store, runId, "plan", root.digest).toString("utf8")) as RunPlan;
  } catch (err) {
    // Bytes that are not JSON (a root re-pinned by hand, catalog damage): the run's store is
    // corrupt, as `runs ls` says for it — not E_INTERNAL with JSON.parse's bare message.
    if (!(err instanceof SyntaxError)) throw err;
    throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its plan ${root.digest} is not JSON: ${err.message}`, { runId, digest: root.digest });
  }
  if (typeof plan !== "object" || plan === null || plan.kind !== "cairn.batch.plan" || runIdOf(plan) !== runId) {
    throw new CairnError(ErrorCode.STORE_CORRUPT, `plan ${root.digest} does not describe run ${runId}`, { runId, digest: root.digest });
  }
  return { plan, planDigest: root.digest };
}
