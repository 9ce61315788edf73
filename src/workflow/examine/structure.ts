/**
 * The trace's own structure, checked before its outcome is read (classify.ts rule S): a line a
 * runtime never writes makes the trace one that departs from trace v0 or from the declarations,
 * so `graph_structure_error` (exit 1), naming the line — however well its hash chain verifies
 * (a chain recomputed after an edit verifies; only the store's record or the summary anchors it).
 *
 * - a JSON object whose `event_type` is none of the trace v0 events (model.ts `outside`; also a
 *   CC event whose `cc_addr` is not an integer);
 * - with the declarations at hand (a sealed Cairn snapshot holding the workflow, a PGS
 *   workspace's topology): a `cc_addr` of a `CC_START` / `CC_STEP` / `CC_COMPLETE` that is no
 *   node's address there, or the address of another node than the one the event names
 *   (`detail.cc_fqdn`; a `CC_STEP`, the CC it sits in).
 *
 * The first such line (in file order) is reported; the others are counted.
 */
import { codeOf, EVENT_TYPES, type CcVisit, type TraceModel } from "./model.js";
import type { Declarations } from "./workspace.js";
import type { Classification, Failure } from "./outcome.js";
import { declarationOf, pathOf, walkDeclared } from "./declared.js";

interface Problem {
  line: number;
  seq: number | null;
  type: string;
  kind: "format" | "address";
  /** The CC the line names or sits in (its fqdn), when known. */
  node: string | null;
  address: number | null;
  message: string;
}

/** The node at `addr` in the declarations (its fqdn), or undefined when there is none. */
function nodeAt(decl: Declarations, addr: number): string | undefined {
  if (decl.cairnNode !== undefined) {
    const f = decl.fqdn(addr);
    return decl.cairnNode(f) === undefined ? undefined : f;
  }
  return decl.topology(addr) === undefined ? undefined : decl.fqdn(addr);
}

/** The visit a line sits in (between its CC_START and its CC_COMPLETE, or the next CC_START). */
function visitAt(model: TraceModel, line: number): CcVisit | undefined {
  return model.visits.find((v, i) => {
    const next = model.visits[i + 1];
    const end = v.complete?.line ?? next?.start.line ?? Infinity;
    return v.start.line < line && line < end;
  });
}

function problems(model: TraceModel, decl: Declarations | undefined): Problem[] {
  const out: Problem[] = [];
  for (const o of model.outside) {
    const v = visitAt(model, o.line);
    out.push({
      line: o.line,
      seq: o.seq,
      type: o.type ?? "(no event_type)",
      kind: "format",
      node: v?.fqdn ?? null,
      address: v?.addr ?? null,
      message: `line ${o.line}${o.seq === null ? "" : ` (seq ${o.seq})`}: ${o.what}`,
    });
  }
  // Addresses: only with declarations of the run's workflow (a Cairn snapshot that lacks it is
  // not used, cairn.ts; a PGS workspace's topology covers its domain).
  const usable = decl !== undefined && model.workflow !== null && (decl.cairnNode === undefined || decl.workflow(model.workflow) !== undefined);
  if (usable) {
    const where = decl.cairnNode !== undefined ? `workflow ${model.workflow ?? "?"} of the snapshot` : `the topology (${decl.compiledFile("topology.json")})`;
    let current: string | null = null;
    for (const ev of model.events) {
      if (ev.type === "CC_START") current = typeof ev.detail.cc_fqdn === "string" ? ev.detail.cc_fqdn : null;
      if ((ev.type !== "CC_START" && ev.type !== "CC_STEP" && ev.type !== "CC_COMPLETE") || ev.ccAddr === null) continue;
      const named = ev.type === "CC_STEP" ? current : typeof ev.detail.cc_fqdn === "string" ? ev.detail.cc_fqdn : null;
      const at = nodeAt(decl, ev.ccAddr);
      const declared = named === null ? undefined : decl.cairnNode?.(named)?.address;
      const ref = `${ev.type} at line ${ev.line}${ev.seq === null ? "" : ` (seq ${ev.seq})`} records cc_addr ${ev.ccAddr}${named === null ? "" : ` for ${named}`}`;
      let message: string | undefined;
      if (at === undefined) message = `${ref}, but no node of ${where} has that address${declared === undefined ? "" : ` (it gives ${codeOf(named ?? "")} address ${declared})`}`;
      else if (named !== null && at !== named) message = `${ref}, but in ${where} that is the address of ${at}${declared === undefined ? "" : ` (it gives ${codeOf(named)} address ${declared})`}`;
      if (message !== undefined) out.push({ line: ev.line, seq: ev.seq, type: ev.type, kind: "address", node: named, address: ev.ccAddr, message });
      if (ev.type === "CC_COMPLETE") current = null;
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * The structural verdict of a trace that departs from trace v0 or from its declarations
 * (module comment), or undefined when it does not.
 */
export function structureProblem(model: TraceModel, decl: Declarations | undefined): Classification | undefined {
  const all = problems(model, decl);
  const p = all[0];
  if (p === undefined) return undefined;
  const wfDecl = decl !== undefined && model.workflow !== null ? decl.workflow(model.workflow) : undefined;
  const walk = wfDecl === undefined ? undefined : walkDeclared(wfDecl, model.visits);
  const status = model.complete?.resultStatus ?? (model.error === null ? null : "ERROR");
  const more = all.length === 1 ? "" : ` (and ${all.length - 1} more such line${all.length === 2 ? "" : "s"}: ${all.slice(1, 4).map((x) => `line ${x.line}`).join(", ")}${all.length > 4 ? ", …" : ""})`;
  const failure: Failure = { node: p.node ?? model.workflow ?? "?", address: p.address, event: { line: p.line, seq: p.seq, type: p.type }, message: p.message };
  const v = model.visits.find((x) => x.start.line === p.line || x.complete?.line === p.line || x.steps.some((e) => e.line === p.line)) ?? visitAt(model, p.line);
  if (p.node !== null) {
    const d = declarationOf(v, p.address, p.node, undefined, model, decl, walk);
    if (d !== undefined) failure.declaration = d;
  }
  const unchanged = "the trace is not as a run wrote it: a line was inserted or changed (with its hash chain recomputed, when the chain verifies), and its outcome cannot be read from it — compare it with the store's record of the run (--store) or its summary";
  let hint: string;
  if (p.kind === "format") {
    hint = `the trace departs from trace v0: ${p.message}${more}. A runtime writes only the events ${EVENT_TYPES.join(", ")}, each CC event with its node's address, so ${unchanged}.`;
  } else if (decl?.cairnNode !== undefined) {
    const used = typeof model.start?.detail.snapshot === "string" ? model.start.detail.snapshot : undefined;
    const why = used !== undefined && decl.snapshotDigest() === used
      ? `It is the snapshot the run used (${used}, named by WF_START), so ${unchanged}`
      : `Check that it is the snapshot the run used (${used ?? "see WF_START.detail.snapshot"}); if it is, ${unchanged}`;
    hint = `the trace departs from the snapshot (sealed snapshot ${decl.display}): ${p.message}${more}. ${why}.`;
  } else {
    hint = `the trace departs from the workspace's topology: ${p.message}${more}. Either the workspace's snapshot is not the one the run used, or ${unchanged}.`;
  }
  return { class: "graph_structure_error", status, path: pathOf(model, walk), failure, hint, notes: [] };
}
