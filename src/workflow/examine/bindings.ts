/**
 * Binding problems at the failing CC, and the hint that names the binding to fix.
 *
 * ## Binding problems (checked at the failing CC only)
 *
 * Structural (→ `expression_binding_error`): a compiled binding `$.results.<addr>.<field>` whose
 * CC has not run earlier on the path or whose result has no member `<field>` (the CC_COMPLETE
 * `output_keys`), a `$.results.` path without a field or with a non-integer address, a `$.`
 * string outside the grammar (passed on literally); a step input `$.inputs.<k>` the CC has no
 * input for, `$.results.<step_id>.…` naming no earlier step, or a `$.` string outside the step
 * grammar. Data (reported in the hint, not a class of its own): `$.payload.<k>` when the payload
 * has no member `<k>` — in v0.3 a CT raising on missing input *is* the validation mechanism.
 */
import type { CcVisit, TraceModel } from "./model.js";
import type { Declarations } from "./workspace.js";
import type { BindingProblem } from "./outcome.js";
import { firstSegment, getPath, leaves, show } from "./helpers.js";
import type { Walk } from "./declared.js";

/** Binding problems of CC visit `v`, checking its steps up to index `uptoStep` (inclusive). */
export function bindingProblems(v: CcVisit, model: TraceModel, decl: Declarations | undefined, uptoStep: number): BindingProblem[] {
  const out: BindingProblem[] = [];
  if (decl === undefined) return out;
  if (decl.payloadReads !== undefined) {
    // A sealed Cairn snapshot: every binding was checked by the compiler, so no structural
    // problem can remain; an absent payload member is data (reported in the hint).
    for (const r of decl.payloadReads(v.fqdn, uptoStep)) {
      if (model.payloadKeys !== null && !model.payloadKeys.includes(r.member)) {
        out.push({ level: "step", step: r.step, input: r.input, path: r.path, problem: `the payload has no member "${r.member}" (payload keys: ${model.payloadKeys.join(", ") || "none"})`, structural: false });
      }
    }
    return out;
  }
  const isNull = (x: unknown) => x === null || x === undefined;
  if (model.wfAddr !== null) {
    leaves(decl.binding(model.wfAddr, v.addr), [], (kp, leaf) => {
      if (typeof leaf !== "string" || !leaf.startsWith("$.")) return;
      const input = kp.join(".");
      const resolved = getPath(v.inputs, kp);
      const add = (problem: string, structural = true) => out.push({ level: "workflow", input, path: leaf, problem, structural });
      const payloadRest = leaf.startsWith("$.payload.") ? leaf.slice(10) : leaf.startsWith("$.inputs.") ? leaf.slice(9) : undefined;
      if (payloadRest !== undefined) {
        const seg = firstSegment(payloadRest);
        if (isNull(resolved) && model.payloadKeys !== null && !model.payloadKeys.includes(seg)) add(`the payload has no member "${seg}" (payload keys: ${model.payloadKeys.join(", ") || "none"})`, false);
        return;
      }
      if (leaf.startsWith("$.results.")) {
        if (!isNull(resolved)) return;
        const rest = leaf.slice("$.results.".length);
        const dot = rest.indexOf(".");
        if (dot < 0) return add(`"${leaf}" names no field ($.results.<addr>.<field>), so it always resolves to null`);
        const head = rest.slice(0, dot).trim();
        const field = firstSegment(rest.slice(dot + 1));
        if (!/^[-+]?\d+$/.test(head)) return add(`"${head}" is not a CC address: v0.3 bindings read results as $.results.<cc addr>.<field>, so this path resolves to null`);
        const addr = Number(head);
        const src = model.visits.filter((x) => x.index < v.index && x.addr === addr && x.complete !== null).pop();
        if (src === undefined) return add(`${decl.fqdn(addr)} (addr ${addr}) has not run before ${v.fqdn} on this path, so its result "${field}" does not exist`);
        if (!src.outputKeys.includes(field)) return add(`the result of ${src.fqdn} (addr ${addr}) has no member "${field}" (its members: ${src.outputKeys.join(", ") || "none"})`);
        return;
      }
      if (resolved === leaf) add(`"${leaf}" is not a path of the binding grammar ($.payload.…, $.inputs.…, $.results.<addr>.…): it was passed on as the literal string`);
    });
  }
  const steps = decl.pipeline(v.addr) ?? [];
  const ids: string[] = [];
  const ccInputs = Object.keys(v.inputs);
  for (let i = 0; i <= uptoStep && i < steps.length; i++) {
    const s = steps[i] as Record<string, unknown>;
    const sid = typeof s.step_id === "string" && s.step_id !== "" ? s.step_id : String(i);
    leaves(s.inputs, [], (kp, leaf) => {
      if (typeof leaf !== "string" || !leaf.startsWith("$.")) return;
      const add = (problem: string) => out.push({ level: "step", step: sid, input: kp.join("."), path: leaf, problem, structural: true });
      if (leaf.startsWith("$.inputs.")) {
        const k = firstSegment(leaf.slice("$.inputs.".length));
        if (!ccInputs.includes(k)) add(`${v.fqdn} has no input "${k}": the workflow binding does not provide it (CC inputs: ${ccInputs.join(", ") || "none"})`);
        return;
      }
      if (leaf.startsWith("$.results.")) {
        const rest = leaf.slice("$.results.".length);
        const dot = rest.indexOf(".");
        if (dot < 0) return add(`"${leaf}" names no field ($.results.<step_id>.<field>), so it always resolves to null`);
        const ref = rest.slice(0, dot);
        if (!ids.includes(ref)) add(`no earlier step of ${v.fqdn} has step_id "${ref}" (earlier steps: ${ids.join(", ") || "none"}), so the path resolves to null`);
        return;
      }
      add(`"${leaf}" is not a path of the step grammar ($.inputs.…, $.results.<step_id>.…): it is passed as the literal string`);
    });
    if (typeof s.step_id === "string" && s.step_id !== "") ids.push(s.step_id);
  }
  return out;
}

export function bindingHint(v: CcVisit, p: BindingProblem, model: TraceModel, decl: Declarations | undefined, walk: Walk | undefined): string {
  if (p.level === "step") {
    return `step ${p.step ?? "?"} of ${v.fqdn} reads input "${p.input}" from ${p.path}, but ${p.problem}. Fix pipeline["${v.addr}"] in ${decl?.compiledFile("dispatch.json") ?? "dispatch.json"}.`;
  }
  let declared = "";
  const key = walk?.keys[v.index];
  const n = key === undefined ? undefined : walk?.decl.nodes.get(key);
  const d = n === undefined ? undefined : getPath(n.inputs, p.input.split("."));
  if (d !== undefined && walk !== undefined) declared = ` The declaration (${walk.decl.file}, node ${key}) binds it to ${show(d)}.`;
  return `input "${p.input}" of ${v.fqdn} is bound to ${p.path}, but ${p.problem}; the CC received null and ended with ${v.status ?? "an error"}. Fix bindings["${model.wfAddr ?? "?"}"]["${v.addr}"] in ${decl?.compiledFile("dispatch.json") ?? "dispatch.json"}.${declared}`;
}

export function firstStructural(v: CcVisit, model: TraceModel, decl: Declarations | undefined, upto: number): BindingProblem | undefined {
  return bindingProblems(v, model, decl, upto).find((p) => p.structural);
}
