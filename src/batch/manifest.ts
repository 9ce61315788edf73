/**
 * The run manifest: a canonical JSON artifact holding what a third party needs to re-verify
 * the run — engine, full config, input and function artifacts, every pulse (checksum, slice,
 * records, receipt, attempts), every failure, the counts, the output digest and the reduce
 * result. It holds no wall-clock figures, so an interrupted-and-resumed run writes the same
 * bytes as an uninterrupted one; measurements go to the separate run report.
 */
import { canonicalBytes } from "../core/canonical.js";
import { CairnError, ErrorCode } from "../core/errors.js";
import type { Digest } from "../core/digest.js";
import type { Store } from "../store/store.js";
import { MAX_EDGE_NODES } from "../store/edges.js";
import type { EUId } from "./input/types.js";
import type { AttemptLog, PulseResult } from "./pulse.js";
import { ENGINE_NAME, ENGINE_VERSION, manifestRoot, type RunPlan } from "./plan.js";
import type { RunConfig } from "./config.js";

export const MANIFEST_MEDIA_TYPE = "application/vnd.cairn.batch.manifest+json";
export const OUTPUT_MEDIA_TYPE = "application/vnd.cairn.batch.output+jsonl";

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
  attempts: AttemptLog[];
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
  failures: Array<{ id: EUId; code: string; message: string }>;
  output: { digest: Digest; artifact: Digest; records: number };
  reduce: { value: unknown } | null;
}

export function buildManifest(args: {
  runId: string;
  plan: RunPlan;
  planDigest: Digest;
  recordsRead: number;
  pulses: PulseResult[];
  failures: Array<{ id: EUId; code: string; message: string }>;
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
  return {
    kind: "cairn.batch.manifest",
    version: 1,
    engine: { name: ENGINE_NAME, version: ENGINE_VERSION },
    runId: args.runId,
    plan: args.planDigest,
    config: args.plan.config,
    input: { artifact: args.plan.input.artifact, format: args.plan.input.format, records: args.recordsRead },
    function: { artifact: args.plan.function.artifact },
    counts,
    pulses: pulses.map((p) => ({
      partition: p.partition,
      index: p.index,
      eus: p.eus,
      completed: p.completed,
      failed: p.failed,
      checksum: p.checksum,
      slice: p.slice,
      records: p.records,
      receipt: p.receipt,
      attempts: p.attemptLog,
    })),
    failures: args.failures,
    output: args.output,
    reduce: args.reduce,
  };
}

/** A finished run's status: `failed` when EUs failed and the run did not allow failures. */
export function runStatus(m: Pick<Manifest, "counts" | "config">): "completed" | "failed" {
  return m.counts.failed > 0 && !m.config.allowFailures ? "failed" : "completed";
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
 * run's input to another run's output through a shared pulse.
 */
export function recordManifest(store: Store, m: Manifest): Digest {
  return store.transaction(() => {
    const art = store.putBytes(canonicalBytes(m), { mediaType: MANIFEST_MEDIA_TYPE });
    const members: Digest[] = [m.plan, m.output.artifact];
    for (const p of m.pulses) members.push(p.receipt, p.slice, p.records);
    const unique = [...new Set(members)];
    for (let i = 0; i < unique.length; i += MAX_EDGE_NODES) {
      store.addEdge({ from: [art.digest], to: unique.slice(i, i + MAX_EDGE_NODES), type: "contains", role: "manifest" });
    }
    store.recordReceipt({
      program: m.function.artifact,
      inputs: [m.input.artifact],
      params: { kind: RUN_RECEIPT_KIND, plan: m.plan },
      outputs: [m.output.artifact, art.digest],
      status: runStatus(m) === "failed" ? "failed" : "succeeded",
    });
    const records = [...new Set(m.pulses.map((p) => p.records))];
    for (let i = 0; i < records.length; i += MAX_EDGE_NODES) {
      store.addEdge({ from: records.slice(i, i + MAX_EDGE_NODES), to: [m.output.artifact], type: "derived_from", role: "merge" });
    }
    if (store.findRoot(manifestRoot(m.runId)) === undefined) store.pin(manifestRoot(m.runId), art.digest, "run");
    return art.digest;
  });
}

export function loadManifest(store: Store, runId: string): { manifest: Manifest; digest: Digest } | undefined {
  const root = store.findRoot(manifestRoot(runId));
  if (root === undefined) return undefined;
  return { manifest: JSON.parse(store.get(root.digest).toString("utf8")) as Manifest, digest: root.digest };
}
