/** Listing runs recorded in a store (`cairn runs ls`). */
import { CairnError, ErrorCode, isCairnError } from "../core/errors.js";
import type { Store } from "../store/store.js";
import { manifestShapeProblem, requireOwnManifest, requireReadableManifest, runStatus, type Manifest } from "./manifest.js";
import { manifestRoot, readRunArtifact, reportRoot, type RunPlan } from "./plan.js";
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

/**
 * A run report (`cairn.batch.report`): the figures of the execution that finished the run, kept
 * out of the manifest (engine.ts). `peakPulsesRunning` and `peakOutputBytes` are in reports of
 * 2026-11-26 on.
 */
export interface RunReport {
  kind: "cairn.batch.report";
  runId: string;
  source?: string;
  manifest: string;
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  peakRssBytes: number;
  pulsesExecuted: number;
  pulsesReused: number;
  peakPulsesRunning?: number;
  peakOutputBytes?: number;
}

const REPORT_FIGURES = ["wallMs", "cpuUserMs", "cpuSystemMs", "peakRssBytes", "pulsesExecuted", "pulsesReused"] as const;
const isFigure = (x: unknown): boolean => typeof x === "number" && Number.isFinite(x) && x >= 0;
/** `wallMs` is a difference of wall-clock readings: negative when the clock stepped back during the run. */
const isFigureOf = (k: (typeof REPORT_FIGURES)[number], x: unknown): boolean => (k === "wallMs" ? typeof x === "number" && Number.isFinite(x) : isFigure(x));

/** The first way `v` is not a report of run `runId` as the engine writes one, or undefined. */
function reportProblem(v: unknown, runId: string): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "it is not a JSON object";
  const r = v as Record<string, unknown>;
  if (r.kind !== "cairn.batch.report") return `its kind is ${JSON.stringify(r.kind) ?? "undefined"}, not "cairn.batch.report"`;
  if (r.runId !== runId) return `it is the report of run ${JSON.stringify(r.runId) ?? "undefined"}`;
  const bad = REPORT_FIGURES.find((k) => !isFigureOf(k, r[k]));
  if (bad !== undefined) return `its ${bad} is not a ${bad === "wallMs" ? "finite" : "non-negative"} number`;
  if (r.source !== undefined && typeof r.source !== "string") return "its source is not a string";
  for (const k of ["peakPulsesRunning", "peakOutputBytes"] as const) if (r[k] !== undefined && !isFigure(r[k])) return `its ${k} is not a non-negative number`;
  return undefined;
}

/**
 * The report pinned for run `runId` (undefined when it has none). One that is not JSON, not shaped
 * like a run report (its kind, its figures as non-negative numbers) or another run's is
 * E_STORE_CORRUPT naming the run and the report (before, `runs show` printed "wall NaN s" for
 * a JSON value that is not a report, and ended with E_INTERNAL for bytes that are not JSON). One
 * tombstoned or collected by gc is E_NOT_FOUND naming the run and the remedy (plan.ts `readRunArtifact`).
 */
export function loadRunReport(store: Store, runId: string): { report: RunReport; digest: string } | undefined {
  const root = store.findRoot(reportRoot(runId));
  if (root === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readRunArtifact(store, runId, "run report", root.digest).toString("utf8"));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its run report ${root.digest} is not JSON: ${err.message}`, { runId, digest: root.digest });
  }
  const problem = reportProblem(value, runId);
  if (problem !== undefined) throw new CairnError(ErrorCode.STORE_CORRUPT, `run ${runId}: its run report ${root.digest} is not a run report: ${problem}`, { runId, digest: root.digest });
  return { report: value as RunReport, digest: root.digest };
}

/** How the run's input was named when it ran (from its report), else its artifact digest. */
function inputName(store: Store, runId: string, plan: RunPlan): string {
  const source = loadRunReport(store, runId)?.report.source;
  return typeof source === "string" ? source : plan.input.artifact;
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
      const plan = JSON.parse(readRunArtifact(store, runId, "plan", root.digest).toString("utf8")) as RunPlan;
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
        const value = JSON.parse(readRunArtifact(store, runId, "manifest", done.digest).toString("utf8")) as unknown;
        const shape = manifestShapeProblem(value);
        if (shape !== undefined) throw new CairnError(ErrorCode.STORE_CORRUPT, `manifest ${done.digest} is not a run manifest: ${shape}`);
        requireOwnManifest(value as Manifest, runId, done.digest); // another run's: not listed as this one's
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
