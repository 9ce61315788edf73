/**
 * The DOT text of one run of a sealed Cairn snapshot (docs/workflow-cairn.md §4): the
 * workflow's nodes and routes with the visited path highlighted, in the same visual language
 * as the PGS picture (dot.ts).
 *
 *  - nodes: every node of the workflow (boxes, `n<addr>`, sorted by address; the entry has a
 *    double border) and every named exit (ellipses, `x<i>`, sorted by name);
 *  - edges: one per (from, to), labelled with the outcomes that take it (in the snapshot's
 *    outcome order, so a `default` route expanded over four outcomes is one edge with four
 *    labels); an edge into an exit carries the exit's reason as its tooltip;
 *  - visited nodes are filled and numbered by hop (a node a runtime error aborted counts as
 *    visited, its hop marked `(aborted)`); the exit the run reached is filled; on exit status 1
 *    the node examine names as failing (`cairnFailingNode`: the node that raised a runtime error,
 *    else the node a hop-limit or max_visits error stopped the run from entering — the route into
 *    it drawn as taken —, else the last node run) is filled red, and so is a reached exit;
 *  - edges taken by the run are bold and coloured, the others grey.
 *
 * Deterministic: no timestamps, no absolute paths, fixed orders; the same run gives the same
 * bytes. Not part of the trace hash chain, the summary or the store receipt.
 */
import type { PathEntry } from "../pgs/engine.js";
import type { Route, SnapshotWorkflow } from "../cairn/model.js";
import { OUTCOMES } from "../cairn/schema.js";
import { DOT_FAILED, DOT_NODESEP, DOT_PAD, DOT_TAKEN_EDGE, DOT_VISITED, dotAttrs, dotPreamble, shortName } from "./dot.js";

/** A completed node of a Cairn run, as `cairnFailingNode` reads it. */
export interface FailingNodePathEntry {
  /** The node key. */
  key: string;
  status: string | null;
}

/**
 * The node key a failed Cairn run failed at — the one examine names (classify-error.ts) and the
 * picture paints red —, in order: the node in progress when a runtime error aborted the run
 * (entered, never completed: `inProgress`); else the node a hop-limit or max_visits error names
 * (`named`, read from the error by examine) or, without it, the node the last completed node's
 * route leads to (`routes`): such an error is raised as the run is about to enter that node,
 * not in the last node that completed; else the last completed node. Undefined when no node
 * ran and none is named.
 */
export function cairnFailingNode(i: {
  inProgress: string | null;
  named?: string | undefined;
  path: readonly FailingNodePathEntry[];
  routes?: (key: string, status: string) => Route | undefined;
}): string | undefined {
  if (i.inProgress !== null) return i.inProgress;
  if (i.named !== undefined) return i.named;
  const last = i.path[i.path.length - 1];
  if (last === undefined) return undefined;
  const next = last.status === null ? undefined : i.routes?.(last.key, last.status);
  return next !== undefined && "node" in next ? next.node : last.key;
}

export interface CairnTraceGraphInput {
  workflow: SnapshotWorkflow;
  /** `<namespace>::<CODE>`. */
  wfFqdn: string;
  traceId: string;
  status: string;
  exitCode: 0 | 1;
  path: readonly PathEntry[];
  /** The declared exit the run reached, if any. */
  exit: { name: string; reason: string } | null;
  /** FQDN (`<ns>::<CODE>::<node>`) of the node that raised a runtime error, if any. */
  errorNode: string | null;
}

const outcomeRank = (o: string): number => {
  const i = (OUTCOMES as readonly string[]).indexOf(o);
  return i < 0 ? OUTCOMES.length : i;
};

/** Builds the DOT text of a Cairn run (LF line endings, trailing newline). */
export function cairnTraceDot(g: CairnTraceGraphInput): string {
  const wf = g.workflow;
  const nodes = Object.entries(wf.nodes).sort((a, b) => a[1].addr - b[1].addr);
  const addrOf = new Map(nodes.map(([k, n]) => [k, n.addr]));
  const exitNames = [...new Set(nodes.flatMap(([, n]) => Object.values(n.routes).flatMap((r: Route) => ("exit" in r ? [r.exit] : []))))].sort();
  if (g.exit !== null && !exitNames.includes(g.exit.name)) exitNames.push(g.exit.name);
  const exitId = new Map(exitNames.map((x, i) => [x, `x${i + 1}`]));
  const idOf = (r: Route): string => ("node" in r ? `n${addrOf.get(r.node) ?? 0}` : (exitId.get(r.exit) as string));

  const hops = new Map<string, number[]>();
  g.path.forEach((p, i) => {
    const k = shortName(p.node);
    hops.set(k, [...(hops.get(k) ?? []), i + 1]);
  });
  const taken = new Set<string>();
  for (let i = 0; i < g.path.length; i++) {
    const a = g.path[i] as PathEntry;
    const b = g.path[i + 1];
    const from = `n${a.addr}`;
    if (b !== undefined) taken.add(`${from}|${a.status}|n${b.addr}`);
    else if (g.exit !== null) taken.add(`${from}|${a.status}|${exitId.get(g.exit.name) as string}`);
  }
  // A runtime error inside a node: the node was entered (CC_START) but never completed, so it is
  // not on the path; it still gets its hop number (marked aborted) and the edge that led to it.
  const entered = g.errorNode === null ? undefined : shortName(g.errorNode);
  const aborted = entered !== undefined && addrOf.has(entered) ? entered : undefined;
  const last = g.path[g.path.length - 1];
  if (aborted !== undefined) {
    hops.set(aborted, [...(hops.get(aborted) ?? []), g.path.length + 1]);
    if (last !== undefined) taken.add(`n${last.addr}|${last.status}|n${addrOf.get(aborted) as number}`);
  }
  let failed: string | undefined;
  if (g.exitCode !== 0) {
    // The node examine names as failing (`cairnFailingNode`, shared with examine's classify-error.ts).
    const routes = (key: string, status: string): Route | undefined => (Object.prototype.hasOwnProperty.call(wf.nodes, key) ? wf.nodes[key]?.routes[status] : undefined);
    failed = cairnFailingNode({ inProgress: aborted ?? null, path: g.path.map((p) => ({ key: shortName(p.node), status: p.status })), routes });
    // A limit error (hop limit, max_visits) stops a run as it is about to enter a node: the route
    // that led there was taken; the node did not run (no hop number).
    const next = aborted === undefined && g.exit === null && last !== undefined ? routes(shortName(last.node), last.status) : undefined;
    if (next !== undefined && "node" in next && next.node === failed) taken.add(`n${last?.addr ?? 0}|${last?.status ?? ""}|n${addrOf.get(failed) ?? 0}`);
  }

  const out = dotPreamble(g.wfFqdn, [["rankdir", "TB"], ["nodesep", DOT_NODESEP], ["pad", DOT_PAD], ["fontname", "Helvetica"], ["fontsize", "12"], ["labelloc", "t"], ["label", `${g.wfFqdn}\n${g.status}${g.exit === null ? "" : ` → ${g.exit.name}`} · ${g.traceId}`]]);
  for (const [key, n] of nodes) {
    const h = hops.get(key);
    const steps = n.steps.map((s) => (s.kind === "cs" ? `${s.store}:${s.op}` : s.handler.type === "atom" ? s.handler.name : `${s.handler.module}.${s.handler.capability}`));
    const a: Array<[string, string]> = [
      ["label", h === undefined ? key : `${key}\n#${h.join(", #")}${key === aborted ? " (aborted)" : ""}`],
      ["tooltip", `${g.wfFqdn}::${key}\n${steps.join(" → ")}`],
      ["shape", "box"],
    ];
    if (key === wf.entry) a.push(["peripheries", "2"]);
    if (key === failed) a.push(...DOT_FAILED);
    else if (h !== undefined) a.push(...DOT_VISITED);
    out.push(`  n${n.addr} ${dotAttrs(a)};`);
  }
  for (const x of exitNames) {
    const a: Array<[string, string]> = [["label", x], ["tooltip", `exit ${x}`], ["shape", "ellipse"]];
    if (g.exit?.name === x) a.push(...(g.exitCode === 0 ? DOT_VISITED : DOT_FAILED));
    else a.push(["style", "dashed"]);
    out.push(`  ${exitId.get(x) as string} ${dotAttrs(a)};`);
  }
  for (const [, n] of nodes) {
    const byTarget = new Map<string, { outcomes: string[]; reasons: string[] }>();
    for (const [outcome, r] of Object.entries(n.routes)) {
      const to = idOf(r);
      const e = byTarget.get(to) ?? { outcomes: [], reasons: [] };
      e.outcomes.push(outcome);
      if ("exit" in r && !e.reasons.includes(r.reason)) e.reasons.push(r.reason);
      byTarget.set(to, e);
    }
    const targets = [...byTarget.keys()].sort((a, b) => (a[0] === b[0] ? Number(a.slice(1)) - Number(b.slice(1)) : a < b ? -1 : 1));
    for (const to of targets) {
      const e = byTarget.get(to) as { outcomes: string[]; reasons: string[] };
      e.outcomes.sort((a, b) => outcomeRank(a) - outcomeRank(b) || (a < b ? -1 : a > b ? 1 : 0));
      const a: Array<[string, string]> = [["label", e.outcomes.join("\n")]];
      if (e.reasons.length > 0) a.push(["tooltip", e.reasons.join("\n")]);
      if (e.outcomes.some((o) => taken.has(`n${n.addr}|${o}|${to}`))) a.push(...DOT_TAKEN_EDGE);
      out.push(`  n${n.addr} -> ${to} ${dotAttrs(a)};`);
    }
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
