/**
 * Outcome classification of a traced run, and the failing node.
 *
 * The classes:
 *
 * | class                      | meaning                                                                 | exit |
 * |----------------------------|-------------------------------------------------------------------------|------|
 * | `success`                  | the run ended with SUCCESS / ALREADY_EXISTS at its terminal, no "no"    | 0    |
 * | `business_violation`       | a governed "no": a CC outcome such as VIOLATION / NOT_FOUND was routed   | 0    |
 * |                            | by the workflow (onward, or to a declared EXIT terminal)                |      |
 * | `expression_binding_error` | a binding path resolved to nothing or is not in the grammar             | 1    |
 * | `ct_error`                 | a CT failed unexpectedly, or its VIOLATION was not routed               | 1    |
 * | `cs_runtime_error`         | a CS raised (I/O, confinement, config, input) or returned BACKEND_ERROR | 1    |
 * | `graph_structure_error`    | missing route, hop limit, unknown node/address, routing ≠ declaration   | 1    |
 * | `admission_error`          | integrity/trust failure, unmapped or malformed handler_ref              | 1    |
 * | `incomplete`               | the trace ends without WF_COMPLETE or ERROR (broken chain if chained)   | 1    |
 *
 * ## Every run, first (structure.ts)
 *
 * S. a line outside trace v0 (an `event_type` none of WF_START, CC_START, CC_STEP, CC_COMPLETE,
 *    WF_COMPLETE, ERROR, or none; a CC event without an integer `cc_addr`), or — with the
 *    declarations at hand — a CC event whose `cc_addr` is no node's address in the snapshot /
 *    topology, or another node's than the one it names → `graph_structure_error`, exit 1, naming
 *    the line (its seq, event type, address). A runtime never writes such a line: the trace was
 *    changed (its chain recomputed, when it verifies), or the declarations are not the run's.
 *
 * ## Completed runs (the trace ends with `WF_COMPLETE {result_status}`)
 *
 * A CC status outside {SUCCESS, ALREADY_EXISTS, ACK} is a *negative outcome*. v0.3 compiles
 * the routes into EXIT nodes away (a missing compiled route ends the run), so whether the end
 * was declared is read from the workflow declaration
 * (`protocol_snapshot/artifacts/workflows/<ns>__<WF>.json`): the declared graph is walked along
 * the trace's CCs and statuses. In order:
 *
 * 0. the end status (`WF_COMPLETE.result_status`) is neither the last CC's status nor ACK (a
 *    route on to a boundary node): a runtime never writes that (SEMANTICS A.5: a run ends with
 *    its last node's status), so the trace was changed → `graph_structure_error`, exit 1 — a
 *    `success` is always a run that ended with SUCCESS / ALREADY_EXISTS (or ACK);
 *    0b. the same for the exit a Cairn run's `WF_COMPLETE` records (`detail.exit`, `detail.reason`;
 *    none when the last outcome had no route): one that is not what the snapshot routes the last
 *    node's outcome to (another name or reason, an exit where none is declared or none where one
 *    is) → `graph_structure_error`, exit 1. The terminal shown is always the recorded exit;
 * 1. a negative CC with a structural binding problem → `expression_binding_error`;
 * 2. declared walk: the trace diverges from the declared routes, or stops where the declaration
 *    routes on to a node, or no CC ran → `graph_structure_error`; the last outcome has no
 *    declared route → `ct_error` when it is a CT VIOLATION, `cs_runtime_error` for
 *    BACKEND_ERROR, else `graph_structure_error`;
 * 3. a negative CC with BACKEND_ERROR → `cs_runtime_error`; with a CT VIOLATION whose error is
 *    not an atom's deliberate raise (malformed CT-IR, `Atom returned None`, missing output) →
 *    `ct_error`;
 * 4. any other negative CC → `business_violation` (the failing node is the CC whose "no" ended
 *    the run — the last one, as the run's summary names it — else the first "no"; earlier "no"s
 *    routed onward are named in the hint, and the data note is the failing node's); a run
 *    routed to a declared EXIT whose reason is `FAILED` → `business_violation`;
 * 5. otherwise → `success`.
 *
 * Without a declaration the end of the run is assumed declared (that is how every v0.3
 * terminal looks) and the hint says so.
 *
 * The parts: outcome.ts (the classes and the shapes of a classification), error-rules.ts (an
 * ERROR event's class: the table of runs aborted by a runtime error), classify-error.ts (an
 * aborted run's failing node and hint), bindings.ts (binding problems: their rules),
 * declared.ts (the declared walk, the failing node's declarations), cairn-hint.ts (hints for
 * runs of sealed Cairn snapshots), helpers.ts.
 */
import { codeOf, type CcVisit, type TraceEvent, type TraceModel } from "./model.js";
import type { Declarations } from "./workspace.js";
import { ACK, BACKEND_ERROR, POSITIVE, type BindingProblem, type Classification, type Failure, type StepRef, type Terminal } from "./outcome.js";
import { eventRef, isCtViolation, isUnexpectedCtFailure, stepName, stepOf } from "./helpers.js";
import { bindingHint, bindingProblems, firstStructural } from "./bindings.js";
import { compiledRoutesText, declarationOf, pathOf, walkDeclared } from "./declared.js";
import { classifyError } from "./classify-error.js";
import { isCairnRun, withCairnHint } from "./cairn-hint.js";
import { structureProblem } from "./structure.js";

/** `CODE=STATUS → …`, with the declared terminal when known. */
function routeText(visits: CcVisit[], from: number, terminal: Terminal | undefined): string {
  const parts = visits.slice(from).map((v) => `${codeOf(v.fqdn)}=${v.status ?? "(aborted)"}`);
  if (terminal?.exit !== undefined) parts.push(`${terminal.exit}${terminal.reason === null || terminal.reason === undefined ? "" : ` (${terminal.reason})`}`);
  return parts.join(" → ");
}

/**
 * The exit a Cairn run's `WF_COMPLETE` records (`detail.exit` / `detail.reason`, cairn/run.ts):
 * `null` when it records none (the last outcome had no route), undefined for a trace of another
 * runtime (PGS runs record no exit there).
 */
function recordedExit(model: TraceModel): { name: string; reason: string } | null | undefined {
  if (model.complete === null || !isCairnRun(model, undefined)) return undefined;
  const d = model.complete.detail;
  if (d.exit === undefined && d.reason === undefined) return null;
  return { name: typeof d.exit === "string" ? d.exit : JSON.stringify(d.exit) ?? "?", reason: typeof d.reason === "string" ? d.reason : JSON.stringify(d.reason) ?? "?" };
}

/** Classifies a traced run. */
export function classify(model: TraceModel, decl: Declarations | undefined): Classification {
  // S. A line outside trace v0 or the declarations (structure.ts): nothing after it can be read as the run's.
  const s = structureProblem(model, decl);
  if (s !== undefined) {
    const recorded = recordedExit(model);
    return recorded === undefined || recorded === null ? s : { ...s, terminal: { declared: false, exit: recorded.name, reason: recorded.reason } };
  }
  const c = classifyRun(model, decl);
  return isCairnRun(model, decl) ? withCairnHint(c, model, decl) : c;
}

function classifyRun(model: TraceModel, decl: Declarations | undefined): Classification {
  const wfDecl = decl !== undefined && model.workflow !== null ? decl.workflow(model.workflow) : undefined;
  const walk = wfDecl === undefined ? undefined : walkDeclared(wfDecl, model.visits);
  const path = pathOf(model, walk);
  if (model.error !== null) return classifyError(model, model.error, decl, walk);
  if (model.complete === null) {
    const last = model.visits[model.visits.length - 1];
    return {
      class: "incomplete",
      status: null,
      path,
      hint: `the trace ends without WF_COMPLETE or ERROR${last === undefined ? "" : ` (last CC: ${last.fqdn}${last.status === null ? ", in progress" : ` = ${last.status}`})`}: the run was interrupted or the end of the file is missing.`,
      notes: [],
    };
  }
  const status = model.complete.resultStatus;
  const visits = model.visits;
  const notes: string[] = [];
  const dispatch = decl?.compiledFile("dispatch.json") ?? "dispatch.json";
  const terminal: Terminal = { declared: walk !== undefined && walk.end.kind === "exit" };
  if (walk?.end.kind === "exit") {
    terminal.exit = walk.end.key;
    terminal.reason = walk.end.reason;
  }
  // A Cairn run records the exit it reached in WF_COMPLETE (cairn/run.ts): the terminal shown is
  // that record, never the declaration's (rule 0b compares them).
  const recorded = recordedExit(model);
  const declaredExit = walk?.end.kind === "exit" ? { name: walk.decl.nodes.get(walk.end.key)?.exit ?? walk.end.key, reason: walk.end.reason } : undefined;
  if (recorded !== undefined) {
    delete terminal.exit;
    delete terminal.reason;
    if (recorded !== null) {
      terminal.exit = recorded.name;
      terminal.reason = recorded.reason;
    }
  }
  if (walk === undefined) notes.push(decl === undefined ? "no workspace found: routes were not checked against a declaration" : `no workflow declaration for ${model.workflow ?? "?"}: the end of the run is assumed declared`);

  const failureAt = (v: CcVisit, message: string, extra: { step?: StepRef; binding?: BindingProblem } = {}): Failure => {
    const f: Failure = { node: v.fqdn, address: v.addr, event: eventRef(v.complete ?? v.start), message, ...extra };
    const d = declarationOf(v, v.addr, v.fqdn, extra.step, model, decl, walk);
    if (d !== undefined) f.declaration = d;
    return f;
  };
  const outcomeMessage = (v: CcVisit): { message: string; step?: StepRef } => {
    const idx = v.steps.length - 1;
    if (idx < 0) return { message: `${v.fqdn} ended with ${v.status ?? "?"} (no step ran)` };
    const s = stepOf(v, idx, decl);
    const ev = v.steps[idx] as TraceEvent;
    const err = typeof ev.detail.error === "string" ? `: ${ev.detail.error}` : "";
    return { message: `${v.status ?? "?"} from ${stepName(s)}${err}`, step: s };
  };
  const negatives = visits.filter((v) => v.status !== null && !POSITIVE.has(v.status));

  // 0. A runtime ends a completed run with the status of the last node it visited (SEMANTICS
  // A.5 step 4; cairn/run.ts): the last CC's, or ACK when the route went on to a boundary node.
  // Any other end status contradicts the trace's own CC_COMPLETE: the run's outcome cannot be
  // read from it (its WF_COMPLETE line was changed, or lines were removed).
  const lastVisit = visits[visits.length - 1];
  if (lastVisit !== undefined && lastVisit.status !== null && status !== lastVisit.status && status !== ACK) {
    const end = model.complete;
    return {
      class: "graph_structure_error",
      status,
      path,
      terminal,
      failure: failureAt(lastVisit, `WF_COMPLETE records ${status ?? "no status"}, but the last CC ${lastVisit.fqdn} ended with ${lastVisit.status}`),
      hint: `the run's end contradicts its trace: WF_COMPLETE (line ${end.line}) records ${status ?? "no status"}, but the last CC ${lastVisit.fqdn} ended with ${lastVisit.status} (line ${lastVisit.complete?.line ?? "?"}), and a run ends with its last node's status. The trace is not as a run wrote it (its last line was changed, or lines are missing before it): its outcome cannot be read from it.`,
      notes,
    };
  }

  // 0b. The same rule for the exit of a Cairn run: WF_COMPLETE records the exit (name and reason)
  // the last node's route led to, or none when its outcome has no route. One that is not what the
  // snapshot's routes give for the trace's own nodes and outcomes departs from the snapshot: the
  // trace was changed, or the snapshot is not the run's.
  if (recorded !== undefined && lastVisit !== undefined && walk !== undefined && (walk.end.kind === "exit" || walk.end.kind === "unrouted")) {
    const declaredText = declaredExit === undefined ? `no route for ${walk.end.kind === "unrouted" ? walk.end.status : "?"} (no exit)` : `exit ${declaredExit.name} (${declaredExit.reason ?? ""})`;
    const recordedText = recorded === null ? "no exit" : `exit ${recorded.name} (${recorded.reason})`;
    const same = recorded === null ? declaredExit === undefined : declaredExit !== undefined && declaredExit.name === recorded.name && declaredExit.reason === recorded.reason;
    if (!same) {
      const end = model.complete;
      const at = `${walk.keys[lastVisit.index] ?? codeOf(lastVisit.fqdn)}=${lastVisit.status ?? "?"}`;
      terminal.declared = false;
      return {
        class: "graph_structure_error",
        status,
        path,
        terminal,
        failure: failureAt(lastVisit, `WF_COMPLETE records ${recordedText}, but the snapshot routes ${at} to ${declaredText}`),
        hint: `the run's end departs from the declaration: WF_COMPLETE (line ${end.line}) records ${recordedText}, but ${walk.decl.file} routes ${at} (line ${lastVisit.complete?.line ?? "?"}) to ${declaredText}. Either the declaration is not the one the run used, or the trace is not as a run wrote it (its last line was changed): its end cannot be read from it.`,
        notes,
      };
    }
  }

  // 1. A binding that resolved to nothing at a CC that said "no".
  for (const v of negatives) {
    const b = firstStructural(v, model, decl, v.steps.length - 1);
    if (b !== undefined) {
      const m = outcomeMessage(v);
      return { class: "expression_binding_error", status, path, terminal, failure: failureAt(v, m.message, { ...(m.step === undefined ? {} : { step: m.step }), binding: b }), hint: bindingHint(v, b, model, decl, walk), notes };
    }
  }

  // 2. How the run ended, against the declaration.
  if (visits.length === 0) {
    return { class: "graph_structure_error", status, path, terminal, hint: `no CC ran: the run ended with ${status ?? "?"} at the entry of ${model.workflow ?? "the workflow"}, so the entry node has no route for it. Check entry and routing["${model.wfAddr ?? "?"}"] in ${dispatch}.`, notes };
  }
  if (walk !== undefined) {
    const end = walk.end;
    if (end.kind === "diverged") {
      const v = visits[end.visit] as CcVisit;
      const prev = visits[end.visit - 1];
      const fromNode = prev ?? v;
      const declaredTo = end.expected === null ? "nothing (no declared route)" : `${end.expected}${walk.decl.nodes.get(end.expected)?.fqdn ? ` (${walk.decl.nodes.get(end.expected)?.fqdn})` : ""}`;
      return {
        class: "graph_structure_error",
        status,
        path,
        terminal,
        failure: failureAt(fromNode, `compiled routing took ${end.status ?? "?"} → ${v.fqdn}; the declaration routes it to ${declaredTo}`),
        hint: `the compiled routing differs from the declaration: after ${end.key ?? "the entry"} = ${end.status ?? "?"} the run went to ${v.fqdn}, but ${walk.decl.file} routes ${end.status ?? "?"} to ${declaredTo}. Check routing["${model.wfAddr ?? "?"}"]["${fromNode.addr}"] in ${dispatch}.`,
        notes,
      };
    }
    if (end.kind === "continues") {
      const v = visits[visits.length - 1] as CcVisit;
      const target = walk.decl.nodes.get(end.next);
      return {
        class: "graph_structure_error",
        status,
        path,
        terminal,
        failure: failureAt(v, `missing route: ${v.fqdn} ended with ${v.status ?? "?"}; the declaration routes ${v.status ?? "?"} → ${end.next}, the compiled routing has no route for it`),
        hint: `missing route: ${v.fqdn} ended with ${v.status ?? "?"} and the run stopped there, but ${walk.decl.file} (node ${end.key}) routes ${v.status ?? "?"} → ${end.next}${target?.fqdn ? ` (${target.fqdn})` : ""}. routing["${model.wfAddr ?? "?"}"]["${v.addr}"] in ${dispatch} lacks transition::${v.status ?? "?"}; ${compiledRoutesText(decl, model, v.addr)}.`,
        notes,
      };
    }
    if (end.kind === "unrouted") {
      const v = visits[visits.length - 1] as CcVisit;
      const m = outcomeMessage(v);
      const step = m.step === undefined ? {} : { step: m.step };
      const fix = `declare a route for ${end.status} in node ${end.key} of ${walk.decl.file}`;
      if (end.status === BACKEND_ERROR) {
        return { class: "cs_runtime_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}; nothing handles BACKEND_ERROR there (no declared route). Check the CS call and the data root, or ${fix}.`, notes };
      }
      if (isCtViolation(v)) {
        return { class: "ct_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}. The CT's VIOLATION is not routed: ${fix}, or fix the CT input.`, notes };
      }
      return { class: "graph_structure_error", status, path, terminal, failure: failureAt(v, `missing route: ${m.message}`, step), hint: `missing route: ${v.fqdn} ended with ${end.status} and no route handles it (neither declared nor compiled): ${fix}.`, notes };
    }
    if (end.kind === "undeclared") notes.push(`the workflow declaration names node ${end.key}, which it does not declare: routes were not checked past it`);
  }

  // 3. Negative outcomes that are failures, not decisions.
  for (const v of negatives) {
    const m = outcomeMessage(v);
    const step = m.step === undefined ? {} : { step: m.step };
    if (v.status === BACKEND_ERROR) {
      return { class: "cs_runtime_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}: the CS backend failed (BACKEND_ERROR, e.g. an operation without a handler or a storage failure). Route taken: ${routeText(visits, v.index, terminal)}.`, notes };
    }
    if (isUnexpectedCtFailure(v)) {
      return { class: "ct_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}. This is not an atom's rule violation but a CT execution failure (CT_EXECUTION_FAILED): check the CT-IR ct["${m.step?.address ?? "?"}"] in ${decl?.compiledFile("handlers.json") ?? "handlers.json"}.`, notes };
    }
  }

  // 4. A governed "no". The failing node is the one whose "no" ended the run (the last CC, as the
  // run's own summary names it), else — every "no" was routed onward to a node that said yes —
  // the first one; earlier "no"s routed onward are named in the hint.
  const lastV = visits[visits.length - 1] as CcVisit;
  const first = lastV.status !== null && !POSITIVE.has(lastV.status) ? lastV : negatives[0];
  if (first !== undefined) {
    const m = outcomeMessage(first);
    const step = m.step === undefined ? {} : { step: m.step };
    const nextV = visits[first.index + 1];
    const declaredKey = nextV === undefined ? undefined : walk?.keys[nextV.index];
    const routed =
      nextV !== undefined
        ? `the workflow routed ${first.status ?? "?"} → ${nextV.fqdn}${declaredKey !== undefined && declaredKey !== codeOf(nextV.fqdn) ? ` (declared node ${declaredKey})` : ""}`
        : terminal.exit !== undefined
          ? `the workflow routed it to its declared terminal ${terminal.exit}${terminal.reason ? ` (${terminal.reason})` : ""}`
          : `the run ended there${walk === undefined ? " (taken as a declared terminal: no workflow declaration to check it against)" : ""}`;
    const data = bindingProblems(first, model, decl, first.steps.length - 1).filter((p) => !p.structural);
    const dataNote = data.length === 0 ? "" : ` Note: input "${data[0]?.input}" ← ${data[0]?.path}: ${data[0]?.problem}.`;
    const earlier = negatives.filter((v) => v.index < first.index);
    const earlierNote = earlier.length === 0 ? "" : ` Earlier "no"${earlier.length === 1 ? "" : "s"} routed onward: ${earlier.map((v) => `${v.fqdn} returned ${v.status ?? "?"} (${outcomeMessage(v).message}) → ${visits[v.index + 1]?.fqdn ?? "?"}`).join("; ")}.`;
    return {
      class: "business_violation",
      status,
      path,
      terminal,
      failure: failureAt(first, m.message, step),
      hint: `governed outcome: ${first.fqdn} returned ${first.status ?? "?"} (${m.message}) and ${routed}. Route taken: ${routeText(visits, earlier[0]?.index ?? first.index, terminal)}.${dataNote}${earlierNote}`,
      notes,
    };
  }
  if (terminal.reason === "FAILED") {
    const v = visits[visits.length - 1] as CcVisit;
    const m = outcomeMessage(v);
    return {
      class: "business_violation",
      status,
      path,
      terminal,
      failure: failureAt(v, `${m.message}; the declaration routes ${v.status ?? "?"} to ${terminal.exit ?? "?"} (reason FAILED)`, m.step === undefined ? {} : { step: m.step }),
      hint: `governed outcome: ${v.fqdn} ended with ${v.status ?? "?"} and ${walk?.decl.file ?? "the declaration"} routes that to ${terminal.exit ?? "?"} (reason FAILED). Route taken: ${routeText(visits, 0, terminal)}.`,
      notes,
    };
  }
  return {
    class: "success",
    status,
    path,
    terminal,
    hint: `the run completed with ${status ?? "?"}: ${routeText(visits, 0, terminal)}${terminal.declared ? "" : " (terminal not checked against a workflow declaration)"}.`,
    notes,
  };
}
