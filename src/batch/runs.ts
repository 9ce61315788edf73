/** Listing runs recorded in a store (`cairn runs ls`). */
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import type { Store } from "../store/store.js";
import { manifestShapeProblem, requireReadableManifest, runStatus, type Manifest } from "./manifest.js";
import { manifestRoot, reportRoot, type RunPlan } from "./plan.js";
import { checkStore } from "./api-checks.js";

/** The prefix of every root a batch run pins (`run:<id>`, `run:<id>:manifest`, `run:<id>:report`). */
const RUN_ROOT_PREFIX = "run:";

export interface RunSummary {
  runId: string;
  state: "completed" | "incomplete";
  status?: "completed" | "failed";
  plan: string;
  manifest?: string;
  input: string;
  function: string;
  counts?: { total: number; completed: number; failed: number; retried: number };
  outputDigest?: string;
  /**
   * Set when the run's plan, report or manifest cannot be read back (too large to read, corrupt,
   * missing, not JSON, not shaped like one): the error. The run is still listed, with what could
   * be read (`input` and `function` are "-" when the plan could not be), and the listing goes on.
   */
  error?: { code: string; message: string };
}

/** Codes of the errors reading one run's artifacts can end in: that run is marked, not the listing stopped. */
const UNREADABLE_CODES: ReadonlySet<string> = new Set([ErrorCode.LIMIT_EXCEEDED, ErrorCode.STORE_CORRUPT, ErrorCode.NOT_FOUND, ErrorCode.DIGEST_INVALID]);

/** `err` as a run summary's `error` when it is a failure to read that run's artifacts; else rethrown. */
function unreadable(err: unknown, what: string): { code: string; message: string } {
  if (err instanceof SyntaxError) return { code: ErrorCode.STORE_CORRUPT, message: `its ${what} is not JSON: ${err.message}` };
  if (isCairnError(err) && UNREADABLE_CODES.has(err.code)) return { code: err.code, message: `its ${what} cannot be read: ${err.message}` };
  throw err;
}

/** How the run's input was named when it ran (from its report), else its artifact digest. */
function inputName(store: Store, runId: string, plan: RunPlan): string {
  const report = store.findRoot(reportRoot(runId));
  if (report !== undefined) {
    const body = JSON.parse(store.get(report.digest).toString("utf8")) as { source?: string };
    if (typeof body.source === "string") return body.source;
  }
  return plan.input.artifact;
}

/** Every batch run in the store, in the order they were planned, in one array (see `iterateRuns`). */
export function listRuns(store: Store): RunSummary[] {
  checkStore(store, "listRuns");
  return [...iterateRuns(store)];
}

/**
 * Every batch run in the store, in the order they were planned, read lazily: only the `run:`
 * roots are read from the catalog (a page at a time, `Store.iterateRoots`), never the other
 * roots (`plane:`, `pgs:`, user pins…), however many there are. A run whose plan, report or
 * manifest cannot be read back is listed with `error` set (a manifest over the store's
 * in-memory read limit, which runs before 2026-11-26 could store, made every listing fail).
 */
export function* iterateRuns(store: Store): Generator<RunSummary> {
  for (const root of store.iterateRoots({ prefix: RUN_ROOT_PREFIX })) {
    const m = /^run:([0-9a-f]{16})$/.exec(root.name);
    if (m === null) continue;
    const runId = m[1] as string;
    const s: RunSummary = { runId, state: "incomplete", plan: root.digest, input: "-", function: "-" };
    try {
      const plan = JSON.parse(store.get(root.digest).toString("utf8")) as RunPlan;
      if (typeof plan?.function?.name !== "string" || typeof plan.input?.artifact !== "string") throw new CairnError(ErrorCode.STORE_CORRUPT, `plan ${root.digest} is not a run plan`);
      s.function = plan.function.name;
      s.input = plan.input.artifact;
      s.input = inputName(store, runId, plan);
    } catch (err) {
      s.error = unreadable(err, "plan or report");
    }
    const done = store.findRoot(manifestRoot(runId));
    if (done !== undefined) {
      s.state = "completed";
      let manifest: Manifest | undefined;
      let failure: RunSummary["error"];
      try {
        requireReadableManifest(store, runId, done.digest); // an older build's oversized one: the error names the remedy
        const value = JSON.parse(store.get(done.digest).toString("utf8")) as unknown;
        const shape = manifestShapeProblem(value);
        if (shape !== undefined) throw new CairnError(ErrorCode.STORE_CORRUPT, `manifest ${done.digest} is not a run manifest: ${shape}`);
        manifest = value as Manifest;
      } catch (err) {
        failure = unreadable(err, "manifest");
      }
      if (manifest !== undefined) s.status = runStatus(manifest);
      s.manifest = done.digest;
      if (manifest !== undefined) {
        s.counts = manifest.counts;
        s.outputDigest = manifest.output.digest;
      }
      if (failure !== undefined) s.error ??= failure;
    }
    yield s;
  }
}
