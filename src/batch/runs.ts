/** Listing runs recorded in a store (`cairn runs ls`). */
import type { Store } from "../store/store.js";
import { loadManifest, runStatus } from "./manifest.js";
import { reportRoot, type RunPlan } from "./plan.js";

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
  return [...iterateRuns(store)];
}

/**
 * Every batch run in the store, in the order they were planned, read lazily: only the `run:`
 * roots are read from the catalog (a page at a time, `Store.iterateRoots`), never the other
 * roots (`plane:`, `pgs:`, user pins…), however many there are.
 */
export function* iterateRuns(store: Store): Generator<RunSummary> {
  for (const root of store.iterateRoots({ prefix: RUN_ROOT_PREFIX })) {
    const m = /^run:([0-9a-f]{16})$/.exec(root.name);
    if (m === null) continue;
    const runId = m[1] as string;
    const plan = JSON.parse(store.get(root.digest).toString("utf8")) as RunPlan;
    const s: RunSummary = { runId, state: "incomplete", plan: root.digest, input: inputName(store, runId, plan), function: plan.function.name };
    const done = loadManifest(store, runId);
    if (done !== undefined) {
      s.state = "completed";
      s.status = runStatus(done.manifest);
      s.manifest = done.digest;
      s.counts = done.manifest.counts;
      s.outputDigest = done.manifest.output.digest;
    }
    yield s;
  }
}
