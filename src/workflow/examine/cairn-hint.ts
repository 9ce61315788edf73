/**
 * Runs of sealed Cairn snapshots: hints in terms of the declaration, not of dispatch.json /
 * handlers.json.
 */
import { codeOf, type TraceModel } from "./model.js";
import type { CairnNodeView } from "./cairn.js";
import { CAIRN_MAX_HOPS } from "../cairn/model.js";
import type { Declarations } from "./workspace.js";
import type { Classification } from "./outcome.js";
import { errorCause, isIntegrityError, isTraceLimit, isUnserialisable, limitNodeKey, limitOf, traceLimitHint, unquotedText } from "./error-rules.js";

/** A trace of the Cairn snapshot runtime (`wf_addr` null, `WF_START.detail.snapshot`), or a run examined with Cairn declarations. */
export function isCairnRun(model: TraceModel, decl: Declarations | undefined): boolean {
  return decl?.cairnNode !== undefined || (model.wfAddr === null && typeof model.start?.detail.snapshot === "string");
}

/** `detail.reason` of a user CT's time-out (cairn/usercts.ts `UserModuleRunner.call`). */
const CT_TIMEOUT_REASON = "ct_timeout";

const NO_DECLARATION_NOTE = "no workspace found: routes were not checked against a declaration";

function routesText(c: CairnNodeView): string {
  return Object.entries(c.routes).map(([o, r]) => `${o} → ${r}`).join(", ");
}

/**
 * The error a failure message carries, as a Cairn hint quotes it: a completed run's failure
 * message is "<STATUS> from step <id> (<name>): <error>", and the hint keeps the error; any other
 * message is quoted whole. (examine-commands.ts cuts a long one where a human line quotes it.)
 */
export function stepErrorText(message: string): string {
  return message.replace(/^[A-Z_]+ from step [^()]*(\([^()]*\))?: /, "");
}

/** Replaces the PGS-worded hint of a structural class with one about the Cairn declaration. */
export function withCairnHint(c: Classification, model: TraceModel, decl: Declarations | undefined): Classification {
  // examine's snapshot lookup (cairn.ts) says why no declaration was read; the PGS note would name a workspace.
  const notes = c.notes.filter((n) => n !== NO_DECLARATION_NOTE);
  if (c.class === "success" || c.class === "business_violation" || c.class === "incomplete") return { ...c, notes };
  const f = c.failure;
  const d = f?.declaration?.cairn;
  const file = d?.file ?? "the workflow declaration";
  const stepView = d?.step;
  const stepText = stepView !== undefined ? `step ${stepView.id} (${stepView.declared})` : f?.step !== undefined ? `step ${f.step.id ?? f.step.index}${f.step.fqdn === null ? "" : ` (${f.step.fqdn})`}` : "";
  const where = `${f === undefined ? (model.workflow ?? "the workflow") : d !== undefined ? `node ${d.node} of ${d.workflow}` : f.node}${stepText === "" ? "" : `, ${stepText}`}`;
  const message = stepErrorText(f?.message ?? "");
  const snapshot = decl === undefined ? "" : ` (sealed snapshot ${decl.display})`;
  const recompile = `fix ${file} and recompile it with \`cairn wf compile\``;
  let hint: string;
  const cause = model.error === null ? undefined : errorCause(model.error);
  switch (c.class) {
    case "admission_error":
      hint = cause !== undefined && isIntegrityError(cause)
        ? `the snapshot failed its integrity check, so nothing may run on it: ${message}. Run the sealed file exactly as \`cairn wf compile\` wrote it (or load it by digest from the store).`
        : /^plane admission rejected /.test(unquotedText(message))
        ? `the execution plane refused to admit the lane-bound step at ${where}: ${message}. Check the node config (authority policy for the signing subject, trusted key, a verified target on that lane attesting a class the step's lane.acceptable_attestation accepts) or the step's lane binding in ${file}; the evidence ids name the admission.rejected record.`
        : `the run was refused at ${where}: ${message}. A Cairn snapshot runs only handlers from the sealed tables (CAIRN_ATOMS, CS_RUNTIMES) and the module bundles inside it: ${recompile} (the compiler checks every capability).`;
      break;
    case "graph_structure_error": {
      const last = model.visits[model.visits.length - 1];
      const lastView = last === undefined ? undefined : decl?.cairnNode?.(last.fqdn);
      const lastText = last === undefined ? "none" : `${last.fqdn} ended with ${last.status ?? "?"}${lastView === undefined ? "" : ` (routes: ${routesText(lastView)})`}`;
      const limit = cause === undefined ? undefined : limitOf(cause);
      if (limit === "hop_limit") {
        const counts = new Map<string, number>();
        for (const v of model.visits) counts.set(codeOf(v.fqdn), (counts.get(codeOf(v.fqdn)) ?? 0) + 1);
        // The node the error names is the one the run was about to enter: its visit counts too
        // (a → b → a stopped as it re-enters a is a cycle, though a completed only once).
        const entering = cause === undefined ? undefined : limitNodeKey(cause);
        if (entering !== undefined) counts.set(entering, (counts.get(entering) ?? 0) + 1);
        const repeated = [...counts.entries()].filter(([, n]) => n > 1);
        const looped = repeated.map(([k, n]) => `${k} ×${n}`);
        const withEntering = entering === undefined ? "" : `, with the visit to ${entering} it was about to make`;
        // A node of the cycle that declares max_visits already: its bound is above what the hop
        // limit allows, so lowering it (not declaring one) makes the run stop at the bound.
        const bounded = repeated.flatMap(([k]) => {
          const n = model.workflow === null ? undefined : decl?.cairnNode?.(`${model.workflow}::${k}`)?.maxVisits;
          return n === undefined || n === null ? [] : [`${k} (max_visits ${n})`];
        });
        const maxHops = /exceeded (\d+) topology hops/.exec(unquotedText(cause?.message ?? ""))?.[1];
        const bound = bounded.length > 0
          ? `lower the max_visits of ${bounded.join(", ")} so that it stops the run before the hop limit${maxHops === undefined ? "" : ` (max_hops ${maxHops})`} does`
          : "declare max_visits on a node of it (the run then stops at that bound)";
        // Neutral about the cause: a cycle (nodes repeated) or a route longer than the hop limit (none repeated).
        hint = looped.length > 0
          ? `the run visited ${model.visits.length} nodes and hit the hop limit (repeated: ${looped.join(", ")}${withEntering}): a routing cycle in ${file} ran past it. Route an outcome out of the cycle, ${bound}, or raise max_hops (at most ${CAIRN_MAX_HOPS}) if the cycle needs more hops, and recompile; last node: ${lastText}.`
          : `the run visited ${model.visits.length} nodes, none twice, and hit the hop limit: the route it took through ${file} is longer than the hop limit. Raise max_hops (at most ${CAIRN_MAX_HOPS}) or shorten the route, and recompile; last node: ${lastText}.`;
      } else if (cause !== undefined && isTraceLimit(cause)) {
        hint = traceLimitHint(where, message, `, or declare a lower max_visits in ${file} and recompile`, f?.untracedEffect);
      } else if (limit === "visit_bound") {
        const bounded = cause === undefined ? undefined : limitNodeKey(cause);
        hint = `${message}: the cycle through ${bounded ?? (last === undefined ? "it" : codeOf(last.fqdn))} in ${file} ran past its declared bound. Route the repeating outcome out of the cycle, or raise max_visits, and recompile; last node: ${lastText}.`;
      } else {
        const used = typeof model.start?.detail.snapshot === "string" ? model.start.detail.snapshot : undefined;
        const why = decl !== undefined && used !== undefined && decl.snapshotDigest() === used
          ? `It is the snapshot the run used (${used}, named by WF_START), so the trace is not as the run wrote it: a line was changed (with its hash chain recomputed, when the chain verifies) or removed — anchor the trace with the store's record of the run or its summary`
          : `Check that it is the snapshot the run used (${used ?? "see WF_START.detail.snapshot"})`;
        // No failing node (no CC ran): say what the trace lacks, not an empty message.
        const entry = model.workflow === null ? undefined : decl?.workflow(model.workflow)?.start;
        const end = model.complete ?? model.error;
        const said = message !== "" ? message
          : model.visits.length === 0 ? `the trace has no node events (no CC_START between WF_START${model.start === null ? "" : ` at line ${model.start.line}`} and ${end === null ? "its end" : `${end.type} at line ${end.line}`}): the run ended with ${c.status ?? "?"} without entering ${entry === undefined ? "its entry node" : `its entry node ${entry}`}`
          : undefined;
        hint = `${where}${said === undefined ? "" : `: ${said}`}. The trace does not follow the routes of the snapshot${snapshot}${d === undefined ? "" : ` (node ${d.node}: ${routesText(d)})`}. ${why}.`;
      }
      break;
    }
    case "ct_error":
      if (cause?.reason === CT_TIMEOUT_REASON) {
        // A time-out aborts the run (usercts.ts): it is no outcome, so no route can take it.
        const ct = stepView?.module === undefined ? "the user CT the message names (<module alias>.<capability>)" : `capability ${stepView.module.name}.${stepView.declared.slice(stepView.declared.lastIndexOf(".") + 1)} in module ${stepView.module.path}`;
        hint = `${where} failed: ${message}. A user CT call that runs past its time limit aborts the run: it is not an outcome, so no route (routes.VIOLATION or routes.default) can take it. Make ${ct} finish within the limit, module evaluation included (no endless loop; less work per call), and recompile ${file}.`;
      } else if (cause !== undefined && isUnserialisable(cause)) {
        // Not a store's failure: a value nested too deep (or cyclic) reached a CT step.
        const inputs = stepView === undefined ? "its inputs" : `its inputs ${JSON.stringify(stepView.inputs)}`;
        hint = `${where} failed: ${message}. A value nested deeper than 512 levels (or cyclic) cannot be serialised, so it aborts the run: it is not an outcome, and no route can take it. The step's value comes from ${inputs} in ${file} (node ${d?.node ?? (f === undefined ? "?" : codeOf(f.node))}): make the value they read shallower — the payload, or the result of the step or node that built it${stepView?.module === undefined ? "" : ` (or capability ${stepView.module.name}.${stepView.declared.slice(stepView.declared.lastIndexOf(".") + 1)} in module ${stepView.module.path})`} — and recompile ${file} if you change it.`;
      } else if (stepView?.module !== undefined) {
        hint = `${where} failed: ${message}. A user CT must return, synchronously, a JSON object with its declared outputs (${stepView.module.outputs.join(", ") || "none"}): fix capability ${stepView.module.name}.${stepView.declared.slice(stepView.declared.lastIndexOf(".") + 1)} in module ${stepView.module.path} and recompile ${file}.`;
      } else {
        hint = `${where} failed: ${message}. Check the step's inputs in ${file} (node ${d?.node ?? (f === undefined ? "?" : codeOf(f.node))}${stepView === undefined ? "" : `, step ${stepView.id}: ${JSON.stringify(stepView.inputs)}`}), or route its VIOLATION (routes.VIOLATION or routes.default) and recompile.`;
      }
      break;
    case "cs_runtime_error": {
      const st = stepView?.store;
      const storeText = st === undefined ? "the store's declaration" : `store ${st.name} (${st.kind}, <data root>/${st.path}; stores.${st.name} in ${file})`;
      // The node was entered and aborted: effects its earlier steps applied stay in the data root.
      const open = c.status === "ERROR" ? [...model.visits].reverse().find((v) => v.complete === null && v.fqdn === f?.node) : undefined;
      const applied = (open?.steps ?? []).filter((e) => e.stepOp !== null).map((e) => `step ${typeof e.detail.step_id === "string" ? e.detail.step_id : (e.stepAddr ?? "?")} (${e.stepOp ?? "?"}, ${e.resultStatus ?? "?"})`);
      const appliedText = open === undefined || applied.length === 0 ? "" : ` The node was entered and aborted there, after ${applied.join(", ")} of it had run: ${applied.length === 1 ? "that effect stays" : "those effects stay"} in the data root (an abort undoes nothing), and no route was taken.`;
      hint = c.status === "ERROR"
        ? `${where} raised: ${message}. A CS hard error aborts the run (it is not an outcome a route can handle): check ${storeText}, the step's inputs and the data root.${appliedText}`
        : `${where} returned BACKEND_ERROR: ${message}. The store could not be read or written in its format: check ${storeText} under the data root (a torn or non-JSON line, a file of another kind), then rerun.`;
      break;
    }
    default:
      hint = `${where}: ${message}. Bindings of a sealed snapshot are checked by \`cairn wf compile\`: ${recompile}.`;
  }
  return { ...c, hint, notes };
}
