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
import { ARTIFACT_LOSS_TEXT, artifactLoss } from "../store/artifact-loss.js";
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
 * its own, each pinned by a root of its own, or what its plan holds (the function bundle and the
 * input, kept by the plan's root through its `contains` edge).
 */
export type RunArtifactRole = "plan" | "manifest" | "run report" | "function bundle" | "input";

const RUN_ARTIFACT_ROOT: Readonly<Record<RunArtifactRole, (runId: string) => string>> = Object.freeze({
  plan: planRoot,
  manifest: manifestRoot,
  "run report": reportRoot,
  "function bundle": planRoot,
  input: planRoot,
});

/** The roles kept by the plan's root rather than a root of their own. */
const HELD_BY_PLAN: ReadonlySet<RunArtifactRole> = new Set(["function bundle", "input"]);


/**
 * How a run gets one of its artifacts back once it is tombstoned or collected. The plan: the same
 * `cairn run` command stores the same plan again (a put of the same bytes revives a tombstone or
 * stores swept bytes again) and the run goes on from its committed pulses. The function bundle
 * and the input: the same `cairn run` command stores them again first (ingest and bundling come
 * before the plan), whether the run is unfinished or finished. The manifest and the
 * report: with both roots unpinned, `resume` writes them again from the committed pulses,
 * executing nothing (as for an oversized manifest, manifest.ts `requireReadableManifest`); the
 * report root too, so that the new report takes the old one's place.
 */
export function lostRunArtifactRemedy(runId: string, role: RunArtifactRole): string {
  if (role === "plan") return "To store it again, run the same cairn run command again (the same input, function and options make the same plan; the run goes on from its committed pulses)";
  if (HELD_BY_PLAN.has(role)) {
    return "To store it again, run the same cairn run command again (it stores the same input and function bundle before anything else; the run goes on from its committed pulses, or is reported as finished)";
  }
  return `To write it again from the run's committed pulses: cairn store unpin ${manifestRoot(runId)} and cairn store unpin ${reportRoot(runId)}, then cairn resume ${runId}`;
}

/**
 * The bytes of run `runId`'s `role` artifact `digest` (`store.get`). One the store knows but
 * cannot return — tombstoned (`cairn store rm`) or its bytes collected by gc — is E_NOT_FOUND
 * naming the run, the artifact and its root, that it is deleted, and the remedy
 * (`lostRunArtifactRemedy`); `details`: `runId`, `role`, `digest`, `root`, `reason`
 * (`tombstoned` | `collected`). Before, `run`, `resume` and `runs show` ended with the store's
 * bare "artifact … not found (deleted: tombstoned)". Any other error is the store's own.
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
 * Before a run's function bundle or input is read back (resume, verify, replay): one the store
 * knows but cannot return is `readRunArtifact`'s E_NOT_FOUND naming the run, the role, the
 * plan's root that holds it and the remedy, instead of the store's bare "not found" from deep
 * in the read.
 */
export function requireRunArtifact(store: Store, runId: string, role: RunArtifactRole, digest: Digest): void {
  const lost = lostRunArtifact(store, runId, role, digest);
  if (lost !== undefined) throw lost;
}

function lostRunArtifact(store: Store, runId: string, role: RunArtifactRole, digest: Digest): CairnError | undefined {
  const loss = artifactLoss(store, digest);
  if (loss === undefined) return undefined;
  const root = RUN_ARTIFACT_ROOT[role](runId);
  const where = HELD_BY_PLAN.has(role) ? `held by ${root}` : root;
  return new CairnError(ErrorCode.NOT_FOUND, `run ${runId}: its ${role} ${digest} (${where}) ${ARTIFACT_LOSS_TEXT[loss]}. ${lostRunArtifactRemedy(runId, role)}`, {
    runId, role, digest, root, reason: loss,
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

/** Loads a run's plan by id (a tombstoned or collected plan: `readRunArtifact`'s E_NOT_FOUND naming the remedy). */
export function loadPlan(store: Store, runId: string): { plan: RunPlan; planDigest: Digest } {
  checkRunId(runId);
  const root = store.findRoot(planRoot(runId));
  if (root === undefined) throw new CairnError(ErrorCode.NOT_FOUND, `run ${runId} not found in store ${store.root}`, { runId });
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
