/**
 * The load-time cross-checks of a sealed snapshot's steps and nodes against the sealed tables
 * (catalog.ts) and against each other: what the compiler derived, derived again, so that a
 * re-sealed content whose digest was recomputed cannot make the runtime execute one thing while
 * the trace (and examine) name another (seal.ts `structureProblem`, check `structure`).
 *
 * Re-derived or cross-checked, per step:
 * - a built-in atom (its `handler.ref` in the sealed atom table): `handler.name` is that atom's
 *   name (the trace's `step_fqdn` shows the name, the runtime runs the ref), `outputs` its result
 *   fields, `outcomes` its outcome set (with BACKEND_ERROR when lane-bound), its `inputs` among
 *   the atom's arguments and every required one bound;
 * - a user CT: the workflow's module `handler.module` is recorded under `handler.digest`, that
 *   bundle registers `handler.capability`, `outputs` are its declared outputs, `outcomes` the CT
 *   outcome set;
 * - a CS step (its `capability` a CS runtime of the sealed table): the step's store is of the
 *   kind whose runtime that is, the store's own `capability` too, `op` is an operation of that
 *   kind and `method` its method (the runtime dispatches on the method, the trace shows `op`),
 *   `outputs` / `outcomes` / `inputs` as for an atom;
 * - every step: `onResult` maps exactly its outcomes; ids are distinct in a node; a binding
 *   `$.results.<node>` names a node of the workflow and `$.steps.<step>` an earlier step of the
 *   same node (the path text itself is re-parsed in seal.ts `bindingProblem`).
 * Per node: `addr` is its 1-based index in the sorted node keys (the trace's `cc_addr`),
 * `outcomes` are those its steps can end it with (each step's outcomes whose `onResult` is
 * `exit`, and all of the last step's), and `routes` maps exactly those.
 *
 * An atom ref or CS capability missing from its sealed table is left to `prepareSnapshot`
 * (`E_HANDLER_UNMAPPED`, as documented). Not re-derived (see docs/workflow-cairn.md §3): the
 * bundles' `capabilities` (that would evaluate user code at load; a SUCCESS result lacking a
 * declared output is a VIOLATION at run time anyway), the compiler's data-flow analysis of
 * bindings (whether a field is bound on every route: missing means null at run time), the
 * compile-time rules on constant inputs (the runtimes apply them on every run), lane bindings
 * beyond their shape (lane-step.ts checks a lane's answers against the step's contract).
 */
import { atomByRef, CT_OUTCOMES, operationOf, STORE_KINDS, type StoreKind } from "./catalog.js";
import { laneOutcomes } from "./lane-compile.js";
import { OUTCOMES, type Outcome } from "./schema.js";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const own = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const CS_CAPABILITIES: readonly string[] = Object.values(STORE_KINDS).map((k) => k.capability);

/** Whether `actual` holds exactly the members of `expected`, each once. */
function sameSet(actual: readonly string[], expected: readonly string[]): boolean {
  return actual.length === expected.length && new Set(actual).size === actual.length && expected.every((x) => actual.includes(x));
}
/** Whether `actual` holds the members of `expected` as often as it does (a user CT may declare an output twice; the compiler keeps the list as declared). */
function sameMembers(actual: readonly string[], expected: readonly string[]): boolean {
  if (actual.length !== expected.length) return false;
  const a = [...actual].sort();
  const e = [...expected].sort();
  return a.every((x, i) => x === e[i]);
}
const list = (xs: readonly string[]): string => `[${xs.join(", ")}]`;

/** The binding paths (`{bind}`) of a step input, however deeply nested. */
function bindsOf(b: unknown, out: Obj[] = []): Obj[] {
  if (!isObj(b)) return out;
  if (own(b, "bind") && isObj(b.bind)) out.push(b.bind);
  else if (own(b, "object") && isObj(b.object)) for (const x of Object.values(b.object)) bindsOf(x, out);
  else if (own(b, "array") && Array.isArray(b.array)) for (const x of b.array) bindsOf(x, out);
  return out;
}

/** The contract of a step's capability: outputs, outcomes, inputs it may bind (null: any), inputs it must bind. */
interface Contract {
  what: string;
  outputs: readonly string[];
  outcomes: readonly Outcome[];
  accepts: readonly string[] | null;
  required: readonly string[];
}

/** The first contract problem of step `s` (already shape-checked by seal.ts), or null. */
function stepContract(content: Obj, wf: Obj, s: Obj, sat: string): { problem: string } | { contract: Contract } | null {
  if (s.kind === "ct") {
    const h = s.handler as Obj;
    if (h.type === "atom") {
      const a = atomByRef(h.ref as string);
      if (a === undefined) return null; // E_HANDLER_UNMAPPED at prepareSnapshot
      if (h.name !== a.name) return { problem: `${sat}.handler.name ${JSON.stringify(h.name)} is not the atom its ref ${String(h.ref)} runs (${JSON.stringify(a.name)})` };
      return { contract: { what: `atom ${a.name}`, outputs: a.outputs, outcomes: a.outcomes, accepts: a.atom.args, required: a.atom.args.filter((x) => x !== "flags") } };
    }
    const mods = wf.modules as Obj;
    const m = own(mods, h.module as string) ? mods[h.module as string] : undefined;
    if (!isObj(m)) return { problem: `${sat}.handler.module ${JSON.stringify(h.module)} is not a module of the workflow` };
    if (m.digest !== h.digest) return { problem: `${sat}.handler.digest ${String(h.digest)} is not the digest of the workflow's module ${String(h.module)} (${String(m.digest)})` };
    const caps = ((content.modules as Obj)[h.digest as string] as Obj).capabilities as Obj;
    if (!own(caps, h.capability as string)) return { problem: `${sat}.handler.capability ${JSON.stringify(h.capability)} is not registered by module ${String(h.module)} (it registers: ${Object.keys(caps).sort().join(", ") || "nothing"})` };
    return { contract: { what: `user CT ${String(h.module)}.${String(h.capability)}`, outputs: (caps[h.capability as string] as { outputs: string[] }).outputs, outcomes: CT_OUTCOMES, accepts: null, required: [] } };
  }
  if (!CS_CAPABILITIES.includes(s.capability as string)) return null; // E_HANDLER_UNMAPPED at prepareSnapshot
  const st = (wf.stores as Obj)[s.store as string] as Obj;
  const kind = STORE_KINDS[st.kind as StoreKind];
  if (s.capability !== kind.capability) return { problem: `${sat}.capability ${String(s.capability)} is not the runtime of its store ${String(s.store)}, a ${kind.kind} store (${kind.capability})` };
  const o = operationOf(kind.kind, s.op as string);
  if (o === undefined) return { problem: `${sat}.op ${JSON.stringify(s.op)} is not an operation of a ${kind.kind} store (operations: ${Object.keys(kind.operations).join(", ")})` };
  if (s.method !== o.method) return { problem: `${sat}.method ${JSON.stringify(s.method)} is not the method of ${kind.kind} ${o.op} (${JSON.stringify(o.method)})` };
  return { contract: { what: `${kind.kind} ${o.op}`, outputs: o.outputs, outcomes: o.outcomes, accepts: o.inputs, required: o.required } };
}

/**
 * The first contract problem of the steps and nodes of workflow `wf` (at `at`), or null. Called
 * by seal.ts `structureProblem` once the workflow's members have their types.
 */
export function workflowContractProblem(content: Obj, wf: Obj, at: string): string | null {
  const stores = wf.stores as Obj;
  for (const [k, st] of Object.entries(stores)) {
    const kind = STORE_KINDS[(st as Obj).kind as StoreKind];
    if ((st as Obj).capability !== kind.capability) return `${at}.stores.${k}.capability ${String((st as Obj).capability)} is not the runtime of a ${kind.kind} store (${kind.capability})`;
  }
  for (const [k, m] of Object.entries(wf.modules as Obj)) {
    if (!own(content.modules as Obj, (m as Obj).digest as string)) return `${at}.modules.${k}.digest ${String((m as Obj).digest)} names no bundle of the snapshot`;
  }
  const nodes = wf.nodes as Obj;
  const sorted = Object.keys(nodes).sort();
  for (const [key, nv] of Object.entries(nodes)) {
    const n = nv as Obj;
    const nat = `${at}.nodes.${key}`;
    if (n.addr !== sorted.indexOf(key) + 1) return `${nat}.addr ${String(n.addr)} is not the node's place in the sorted node keys (${sorted.indexOf(key) + 1})`;
    const steps = n.steps as Obj[];
    const ids: string[] = [];
    const ends = new Set<string>();
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i] as Obj;
      const sat = `${nat}.steps[${i}]`;
      if (ids.includes(s.id as string)) return `${sat}.id ${JSON.stringify(s.id)} is used by an earlier step of the node`;
      const r = stepContract(content, wf, s, sat);
      if (r !== null && "problem" in r) return r.problem;
      const outcomes = s.outcomes as string[];
      if (r !== null) {
        const c = r.contract;
        const expected = s.lane === undefined ? c.outcomes : laneOutcomes(c.outcomes);
        if (!sameMembers(s.outputs as string[], c.outputs)) return `${sat}.outputs ${list(s.outputs as string[])} are not the result fields of ${c.what} ${list(c.outputs)}`;
        if (!sameSet(outcomes, expected)) return `${sat}.outcomes ${list(outcomes)} are not the outcomes of ${c.what}${s.lane === undefined ? "" : " (lane-bound)"} ${list(expected)}`;
        const names = Object.keys(s.inputs as Obj);
        const extra = c.accepts === null ? undefined : names.find((x) => !(c.accepts as readonly string[]).includes(x));
        if (extra !== undefined) return `${sat}.inputs: ${c.what} has no input ${JSON.stringify(extra)} (its inputs: ${(c.accepts as readonly string[]).join(", ") || "none"})`;
        const unbound = c.required.find((x) => !names.includes(x));
        if (unbound !== undefined) return `${sat}.inputs: input ${JSON.stringify(unbound)} of ${c.what} is not bound`;
      } else if (!outcomes.every((o) => (OUTCOMES as readonly string[]).includes(o)) || new Set(outcomes).size !== outcomes.length) {
        return `${sat}.outcomes ${list(outcomes)} are not distinct outcomes`;
      }
      if (!sameSet(Object.keys(s.onResult as Obj), outcomes)) return `${sat}.onResult maps ${list(Object.keys(s.onResult as Obj))}, not the step's outcomes ${list(outcomes)}`;
      for (const [name, b] of Object.entries(s.inputs as Obj)) {
        for (const p of bindsOf(b)) {
          if (p.root === "results" && !own(nodes, p.name as string)) return `${sat}.inputs.${name}: ${String(p.path)} names no node of the workflow`;
          if (p.root === "steps" && !ids.includes(p.name as string)) return `${sat}.inputs.${name}: ${String(p.path)} names no earlier step of the node`;
        }
      }
      for (const o of outcomes) if ((s.onResult as Obj)[o] === "exit" || i === steps.length - 1) ends.add(o);
      ids.push(s.id as string);
    }
    const nodeOutcomes = OUTCOMES.filter((o) => ends.has(o));
    if (!sameSet(n.outcomes as string[], nodeOutcomes)) return `${nat}.outcomes ${list(n.outcomes as string[])} are not the outcomes its steps can end it with ${list(nodeOutcomes)}`;
    if (!sameSet(Object.keys(n.routes as Obj), nodeOutcomes)) return `${nat}.routes map ${list(Object.keys(n.routes as Obj))}, not the node's outcomes ${list(nodeOutcomes)}`;
  }
  return null;
}
