/**
 * Classification of a run aborted by a runtime error (the trace ends with `ERROR`): the class
 * (error-rules.ts, the table there), the failing node and step, and the hint.
 *
 * In every case a structural binding problem found at the failing CC (bindings.ts) takes precedence
 * over `ct_error` / `cs_runtime_error`: it is the cause.
 *
 * The failing node of an aborted run is the CC in progress; else, for a Cairn run, the node
 * render/cairn-dot.ts `cairnFailingNode` decides — the one the run's picture paints red —: for a
 * hop-limit or max_visits error (checked before the node starts) the node the error names (`…
 * (hop limit) at node <key>: …`, `node <key> of WF '…' would run …`), else (with the snapshot
 * the run used) the node the last completed node's route leads to — the node the run was about to
 * enter, not the last one that completed —, else the last node; for a PGS run an address the
 * message names, else the last CC.
 */
import { codeOf, type CcVisit, type TraceEvent, type TraceModel } from "./model.js";
import type { Declarations } from "./workspace.js";
import type { BindingProblem, Classification, Failure, StepRef } from "./outcome.js";
import { classifyErrorMessage, errorCause, hasDefiniteCause, isIntegrityError, isTraceLimit, isUnserialisable, limitNodeKey, limitOf, traceLimitHint, unquotedText, untracedEffectOf } from "./error-rules.js";
import { eventRef, obj, stepName, stepOf } from "./helpers.js";
import { bindingHint, firstStructural } from "./bindings.js";
import { compiledRoutesText, declarationOf, pathOf, type Walk } from "./declared.js";
import { cairnFailingNode } from "../render/cairn-dot.js";
import type { Route } from "../cairn/model.js";

function cycleText(visits: CcVisit[]): string {
  const counts = new Map<string, number>();
  for (const v of visits) counts.set(v.fqdn, (counts.get(v.fqdn) ?? 0) + 1);
  const looped = [...counts.entries()].filter(([, n]) => n > 1).map(([f, n]) => `${codeOf(f)} ×${n}`);
  return looped.length === 0 ? "" : ` (repeated: ${looped.join(", ")})`;
}

/** Classifies an aborted run (trace ending with ERROR). */
export function classifyError(model: TraceModel, err: TraceEvent, decl: Declarations | undefined, walk: Walk | undefined): Classification {
  const cause = errorCause(err);
  const { message, reason, code } = cause;
  const open = [...model.visits].reverse().find((v) => v.complete === null);
  const notes: string[] = [];
  // The ERROR event names no step: the step that raised is the one after the CC's last CC_STEP,
  // known only from a declaration (or a CC_STEP the limit error cut). Unknown: said so, no placeholder.
  const guessed = open === undefined ? undefined : stepOf(open, open.steps.length, decl);
  const effect = isTraceLimit(cause) ? untracedEffectOf(err) : undefined;
  const fromEffect: StepRef | undefined = guessed === undefined || effect === undefined || effect.cc !== open?.fqdn ? undefined : { ...guessed, id: guessed.id ?? effect.step, op: guessed.op ?? effect.op, kind: guessed.kind ?? (effect.op === null ? "CT" : "CS") };
  const step = fromEffect ?? (guessed?.kind === null ? undefined : guessed);
  if (open !== undefined && step === undefined) {
    notes.push(
      `the trace does not say which step of ${open.fqdn} raised: its ERROR event names no step, and no declaration was read to infer it ` +
        `(${open.steps.length === 0 ? "no step of the node had completed" : `${open.steps.length} step${open.steps.length === 1 ? "" : "s"} of the node had completed`}; give --snapshot for a Cairn run, --workspace for a PGS run)`,
    );
  }
  let cls = classifyErrorMessage(message, reason, code);
  if (cls === "by_location") cls = step?.kind === "CS" ? "cs_runtime_error" : step?.kind === "CT" ? "ct_error" : open !== undefined ? "cs_runtime_error" : "graph_structure_error";
  // A value that cannot be serialised (too deep, cyclic) is not a store's failure when a CT step
  // raised it (its inputs or its result): where it happened decides.
  if (cls === "cs_runtime_error" && step?.kind === "CT" && isUnserialisable(cause)) cls = "ct_error";
  let binding: BindingProblem | undefined;
  if (open !== undefined && (cls === "ct_error" || cls === "cs_runtime_error")) {
    const found = firstStructural(open, model, decl, open.steps.length);
    if (found !== undefined && hasDefiniteCause(message, reason, code)) {
      notes.push(`${open.fqdn} also has a binding problem (input "${found.input}" ← ${found.path}: ${found.problem}), but it did not cause this error.`);
    } else if (found !== undefined) {
      binding = found;
      cls = "expression_binding_error";
    }
  }
  // Where: the CC in progress, else the node a Cairn limit error names (the node the run was
  // about to enter), else an address the message names, else the last CC.
  let node: string;
  let address: number | null;
  const named = /(?:bindings|pipeline|cs|ct)\["?\d+"?\]\["(\d+)"\]|pipeline\["(\d+)"\]/.exec(message);
  const last = model.visits[model.visits.length - 1];
  const limitKey = open === undefined && model.wfAddr === null && model.workflow !== null && limitOf(cause) !== undefined ? limitNodeKey(cause) : undefined;
  // A Cairn run: the node the picture paints red too (render/cairn-dot.ts `cairnFailingNode`).
  const cairnKey = open === undefined && model.wfAddr === null && model.workflow !== null ? cairnFailingNode({ inProgress: null, named: limitKey, path: model.visits.map((v) => ({ key: codeOf(v.fqdn), status: v.status })), routes: runRoutes(model, decl) }) : undefined;
  if (open !== undefined) {
    node = open.fqdn;
    address = open.addr;
  } else if (cairnKey !== undefined) {
    node = `${model.workflow as string}::${cairnKey}`;
    address = decl?.cairnNode?.(node)?.address ?? model.visits.find((v) => v.fqdn === node)?.addr ?? null;
  } else if (named !== null && decl !== undefined) {
    address = Number(named[1] ?? named[2]);
    node = decl.fqdn(address);
  } else if (last !== undefined) {
    node = last.fqdn;
    address = last.addr;
  } else {
    node = model.workflow ?? "(workflow)";
    address = model.wfAddr;
  }
  const failure: Failure = { node, address, event: eventRef(err), message };
  if (effect !== undefined) failure.untracedEffect = effect;
  if (step !== undefined) failure.step = step;
  if (binding !== undefined) failure.binding = binding;
  const d = declarationOf(open ?? (address === last?.addr ? last : undefined), address, node, step, model, decl, walk);
  if (d !== undefined) failure.declaration = d;
  const at = `${node}${address === null ? "" : ` (addr ${address})`}${step === undefined ? "" : `, ${stepName(step)}`}`;
  const handlers = decl?.compiledFile("handlers.json") ?? "handlers.json";
  const dispatch = decl?.compiledFile("dispatch.json") ?? "dispatch.json";
  let hint: string;
  switch (cls) {
    case "expression_binding_error":
      hint = binding !== undefined && open !== undefined ? `${bindingHint(open, binding, model, decl, walk)} The run was then aborted: ${message}` : `the run was aborted at ${at} by a malformed binding: ${message}. Fix it in ${dispatch}.`;
      break;
    case "admission_error":
      hint = isIntegrityError(cause)
        ? `the snapshot failed its integrity check, so nothing may run on it: ${message}. Restore or recompile the snapshot.`
        : `the run was refused at ${at}: ${message}. Every handler_ref must name an entry of Cairn's sealed tables: fix ${handlerRefField(step, message, decl)} in ${handlers} (or map the handler).`;
      break;
    case "graph_structure_error":
      if (isTraceLimit(cause)) hint = traceLimitHint(at, message, "", effect);
      else if (limitOf(cause) === "hop_limit") hint = `the run visited ${model.visits.length} CCs and hit the hop limit${cycleText(model.visits)}: a compiled route loops. Check routing["${model.wfAddr ?? "?"}"] in ${dispatch}; last CC: ${last === undefined ? "none" : `${last.fqdn} ended with ${last.status ?? "?"}, ${compiledRoutesText(decl, model, last.addr)}`}.`;
      else if (/^C[TS] addr/.test(unquotedText(message))) hint = `${at} names an address that ${handlers} does not define: ${message}. dispatch.json and handlers.json are from different compilations (neither is covered by the trust hash).`;
      else hint = `the run was aborted at ${at}: ${message}. Check the node's entry in ${dispatch}.`;
      break;
    case "ct_error":
      hint = `${at} failed: ${message}. The CT-IR is ct["${step?.address ?? "?"}"] in ${handlers}.`;
      break;
    default:
      hint = `${at} raised: ${message}. A CS exception aborts the run (it is not an outcome a route can handle): check the RB policy (${handlers} rb_policy), the step's inputs and the data root.`;
  }
  return { class: cls, status: "ERROR", path: pathOf(model, walk), failure, hint, notes };
}

/**
 * The routes of the snapshot the Cairn run used (the declarations are that snapshot's: the digest
 * `WF_START` names), as `cairnFailingNode` reads them; undefined for any other declarations — the
 * routes of another snapshot say nothing of where this run went.
 */
function runRoutes(model: TraceModel, decl: Declarations | undefined): ((key: string, status: string) => Route | undefined) | undefined {
  const wf = decl?.cairnNode === undefined || model.workflow === null || decl.snapshotDigest() !== model.start?.detail.snapshot ? undefined : decl.workflow(model.workflow);
  if (wf === undefined) return undefined;
  return (key, status) => {
    const to = wf.nodes.get(key)?.type === "CC" ? wf.nodes.get(key)?.next[status] : undefined;
    const n = to === undefined ? undefined : wf.nodes.get(to);
    return n === undefined ? undefined : n.type === "CC" ? { node: n.key } : { exit: n.key, reason: n.reason ?? "" };
  };
}

/**
 * Where the handler_ref an admission error names sits in handlers.json: `cs["<addr>"].handler_ref`
 * for a CS; for a CT, the atom of its CT-IR, `ct["<addr>"].ct_ir.atom_stream[<i>].handler_ref` (the
 * atom whose ref the message names, read from the workspace's handlers.json; `[…]` when unknown).
 */
function handlerRefField(step: StepRef | undefined, message: string, decl: Declarations | undefined): string {
  const addr = step?.address ?? null;
  if (step?.kind === "CS" || /\bCS\b|cs\[/.test(unquotedText(message))) return `cs["${addr ?? "?"}"].handler_ref`;
  const ref = /^unmapped CT handler_ref (\S+) \(/.exec(message)?.[1];
  const stream = addr === null ? undefined : decl?.ctAtomStream?.(addr);
  const i = ref === undefined || stream === undefined ? -1 : stream.findIndex((a) => {
    const h = obj(a.handler_ref);
    return typeof h?.module === "string" && typeof h.callable === "string" && `${h.module}:${h.callable}` === ref;
  });
  return `ct["${addr ?? "?"}"].ct_ir.atom_stream[${i < 0 ? "…" : i}].handler_ref`;
}
