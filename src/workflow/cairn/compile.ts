/**
 * The Cairn workflow compiler: YAML/JSON declarations → one sealed snapshot, with every check
 * done before any execution.
 *
 * Pipeline, per file: parse (YAML 1.2 core schema with unique keys and integers as BigInt, or
 * JSON, also with unique keys: core/json-keys.ts) → JSON data only (`jsonDataProblems`,
 * `jsonNumberProblems`, `yamlNumberProblems`: nothing canonical JSON would refuse or round;
 * number literals by core/json-walk.ts `numberLiteralKept`) → validate against
 * the published JSON Schema (schema.ts, ajv) → the grammar its patterns miss
 * (`grammarDiagnostics`, snapshot-grammar.ts) — these first stages are in declaration.ts — →
 * semantic checks → resolution. Semantic
 * diagnostics (each names file, node and field; codes in src/core/errors.ts):
 *
 * | code                           | what                                                                      |
 * |--------------------------------|---------------------------------------------------------------------------|
 * | `E_COMPILE_SCHEMA`             | not YAML/JSON (a key twice in one mapping/object, in YAML and JSON alike, named with its first place: parse-errors.ts); nested deeper than MAX_DECLARATION_DEPTH (depth.ts); not JSON data (a YAML tag that does not resolve: parse-errors.ts; a YAML mapping key that is not a string, or a plain `<<` merge key: yaml-keys.ts; YAML !!binary/!!timestamp/!!set…, non-finite numbers, lone surrogates, integers beyond ±(2^53−1), a fraction/exponent literal whose double has another value, a float negative zero `-0.0`); not matching the schema (a bad member name reported at the member), or its grammar (`__proto__` as a node/store/module/input name, control characters in store paths); a CS input whose compile-time value its runtime always refuses (catalog.ts `inputRules`) |
 * | `E_COMPILE_DUPLICATE`          | two declarations of one workflow; a step id used twice in a node           |
 * | `E_COMPILE_STORE_PATH`         | a store path naming the data root, or another store's file or one of its directories (store-paths.ts, across the snapshot) |
 * | (lane bindings)                | a step's `lane` is checked by lane-compile.ts (kind, operation, payload inputs: the codes below) |
 * | `E_COMPILE_MODULE`             | a capability module that does not bundle or does not export `capabilities` |
 * | `E_COMPILE_UNKNOWN_CAPABILITY` | an unknown atom, module, user CT or store                                  |
 * | `E_COMPILE_UNKNOWN_OPERATION`  | an operation the store kind does not have                                  |
 * | `E_COMPILE_UNKNOWN_INPUT`      | a step input the atom or store operation does not declare (user CTs take any inputs) |
 * | `E_COMPILE_UNBOUND_INPUT`      | a binding to nothing (unknown node/step/field, a node that does not always run before — it must dominate the binding node —, a later step, a field the result does not hold on every outcome that reaches the binding: see below), or a required input left unbound |
 * | `E_COMPILE_MISSING_NODE`       | the entry or a route names an undeclared node                               |
 * | `E_COMPILE_UNHANDLED_OUTCOME`  | an outcome the node can end with, no route for it and no `default`          |
 * | `E_COMPILE_IMPOSSIBLE_ROUTE`   | a route for an outcome the node can never end with; an `on_result` entry for an outcome its step can never produce |
 * | `E_COMPILE_UNREACHABLE_NODE`   | a node no route from the entry reaches (only routes of outcomes the node can end with count) |
 * | `E_COMPILE_UNREACHABLE_STEP`   | a step after one whose every possible outcome exits the node (it never runs; the first such step) |
 * | `E_COMPILE_HOP_LIMIT`          | no exit within the hop limit: the shortest route from the entry to an exit is longer, or there is none (`hopLimitProblem`) |
 * | `E_COMPILE_UNBOUNDED_CYCLE`    | a routing cycle none of whose nodes declares `max_visits` (shown in route order from its smallest node, `a → c → b → a`) |
 *
 * A node's possible outcomes: for each step but the last, the outcomes its `on_result` (default:
 * SUCCESS continues, any other outcome exits) turns into an exit, plus every outcome of the last
 * step.
 *
 * Fields are bound **per outcome** (`carries`): a step's result holds its declared fields only
 * when it ends with SUCCESS (a CT's VIOLATION, a store's ALREADY_EXISTS / NOT_FOUND / VIOLATION /
 * BACKEND_ERROR carry none of them), and a CS step's `message` only on its operation's
 * `messageOn` outcomes (catalog.ts). `$.steps.<s>.<f>` binds when every outcome of `s` whose
 * `on_result` continues carries `f`. `$.results.<n>.<f>` binds when every way node `n` can end
 * with an outcome whose route leads to the binding node without running `n` again — the last
 * step run and its outcome, each earlier step having continued — leaves `f` in the node's
 * result: the ending step carries it on that outcome, or an earlier step carries it on every
 * outcome that continues (a node's result merges the fields of the steps it ran). One analysis
 * (`carries` per step and outcome, `resultField` per node) serves declared fields and `message`
 * alike; only the diagnostics' wording differs. Anything else
 * would silently resolve to null at run time ("missing means null" is for the payload only). Nothing in the snapshot depends on where the files live: sources are named by base
 * name and digest, modules by their path relative to the declaration file's real directory (an
 * absolute declared path is made relative; symlinks resolved: `declarationDir`) and bundle digest.
 */
import { basename, isAbsolute, relative, resolve, sep } from "node:path";
import { GENERAL_CONSTANT_CHECKS, type ConstantInputProblem } from "../atoms/general.js";
import { canonicalBytes } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import { checkPathArgument, describeArgument } from "../../core/describe.js";
import { atomNamed, CAIRN_ATOMS, CT_OUTCOMES, operationOf, STORE_KINDS, type InputRule, type OperationEntry } from "./catalog.js";
import { compileLaneBinding, laneOutcomes } from "./lane-compile.js";
import {
  CAIRN_MAX_HOPS, SNAPSHOT_KIND, SNAPSHOT_VERSION,
  type Binding, type OnResult, type Route, type SnapshotContent, type SnapshotModule, type SnapshotNode, type SnapshotStep, type SnapshotStore, type SnapshotWorkflow,
} from "./model.js";
import { parseBindingPath } from "./paths.js";
import { constBindingValue, sealConst, type SealedConst } from "./sealed-value.js";
import { CAIRN_WORKFLOW_FORMAT, OUTCOMES, type Outcome } from "./schema.js";
import { StorePathTable } from "./store-paths.js";
import { closestName } from "../../core/suggest.js";
import { bundleCapabilityModule, UserModuleRunner, userCtOutputsProblem } from "./usercts.js";
import type { PyValue } from "../py/value.js";
import { compactJson } from "../py/json.js";
import {
  declarationDir, declarationFiles, grammarDiagnostics, parseFile, realPathOf, schemaDiagnostics, validateSchema,
  type CompileDiagnostic, type NodeDecl, type RouteDecl, type StepDecl, type WorkflowDecl,
} from "./declaration.js";

export { DECLARATION_EXTENSIONS, MAX_DECLARATION_BYTES, declarationFiles, formatDiagnostic, type CompileDiagnostic } from "./declaration.js";

export interface CompiledWorkflowInfo {
  fqdn: string;
  file: string;
  nodes: number;
}

export interface CompileResult {
  diagnostics: CompileDiagnostic[];
  /** Present when there is no diagnostic. */
  content?: SnapshotContent;
  digest?: Digest;
  workflows: CompiledWorkflowInfo[];
  /** The module bundles (digest → code), to store as artifacts. */
  modules: Array<{ digest: Digest; code: string }>;
  /**
   * Every file this compile read, absolute: the declaration files and, of each capability module,
   * the files its bundle was built from (`wf compile --out` must not write over one of them).
   */
  sources: string[];
}

/** A record member set without `=` (which, for `__proto__`, would set the prototype instead). */
function setOwn<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/* ----------------------------------------------------------------------------------------- */
/* Checks and resolution of one workflow.                                                     */

interface StepInfo {
  /** Unknown when the capability could not be resolved (its own diagnostic is reported). */
  known: boolean;
  outputs: readonly string[];
  outcomes: readonly Outcome[];
  /** Inputs that must be bound. */
  required: readonly string[];
  /** Every input the capability declares (required and optional); null: any input (user CTs, unresolved capabilities). */
  accepts: readonly string[] | null;
  resolved?: ResolvedCapability;
  /** A CS step's operation (its `message` outcomes and input rules: catalog.ts). */
  op?: OperationEntry;
}

type ResolvedCapability =
  | { kind: "ct"; handler: { type: "atom"; name: string; ref: string } }
  | { kind: "ct"; handler: { type: "user"; module: string; digest: string; capability: string } }
  | { kind: "cs"; store: string; capability: string; op: string; method: string };

interface ModuleInfo {
  path: string;
  digest: Digest;
  code: string;
  capabilities: Record<string, { outputs: readonly string[] }>;
}

function defaultAction(o: Outcome): OnResult {
  return o === "SUCCESS" ? "continue" : "exit";
}

/** Nodes reachable from `from` in one or more hops. */
function reachableFrom(from: string, edges: Map<string, Set<string>>): Set<string> {
  const seen = new Set<string>();
  const todo = [...(edges.get(from) ?? [])];
  while (todo.length > 0) {
    const n = todo.pop() as string;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const m of edges.get(n) ?? []) if (!seen.has(m)) todo.push(m);
  }
  return seen;
}

/**
 * Dominators of every node reachable from `entry` (iterative data-flow over `edges`): node d
 * dominates n when every route from the entry to n passes d. Each set includes the node itself.
 */
function dominators(entry: string, reach: ReadonlySet<string>, edges: Map<string, Set<string>>): Map<string, Set<string>> {
  const nodes = [...reach];
  const into = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const n of nodes) for (const m of edges.get(n) ?? []) if (reach.has(m)) into.get(m)?.push(n);
  const dom = new Map<string, Set<string>>(nodes.map((n) => [n, n === entry ? new Set([entry]) : new Set(nodes)]));
  for (let changed = true; changed;) {
    changed = false;
    for (const n of nodes) {
      if (n === entry) continue;
      const ps = into.get(n) ?? [];
      const next = new Set<string>(ps.length === 0 ? [] : [...(dom.get(ps[0] as string) as Set<string>)].filter((d) => ps.every((p) => dom.get(p)?.has(d) === true)));
      next.add(n);
      if (next.size !== (dom.get(n) as Set<string>).size) {
        dom.set(n, next);
        changed = true;
      }
    }
  }
  return dom;
}

/** A cycle diagnostic names at most this many nodes of a strongly connected component larger than the cycle it shows. */
const COMPONENT_NODES_SHOWN = 8;

/**
 * One routing cycle through a strongly connected component (`comp`, sorted, as `cycles` gives
 * it), in route order: the shortest one from its smallest node back to it (breadth-first, each
 * node's routes in name order, so it is deterministic), that node written again at the end
 * (`a → c → b → a`, a self-loop `a → a`).
 */
function cycleRoute(comp: readonly string[], edges: Map<string, Set<string>>): string[] {
  const start = comp[0] as string;
  const inComp = new Set(comp);
  const parent = new Map<string, string>();
  for (let queue = [start], i = 0; i < queue.length; i++) {
    const n = queue[i] as string;
    for (const w of [...(edges.get(n) ?? [])].filter((x) => inComp.has(x)).sort()) {
      if (w === start) {
        const route = [start];
        for (let m = n; m !== start; m = parent.get(m) as string) route.unshift(m);
        route.unshift(start);
        return route;
      }
      if (parent.has(w)) continue;
      parent.set(w, n);
      queue.push(w);
    }
  }
  return [...comp, start]; // not reached: every node of a component with a cycle lies on one
}

/** The E_COMPILE_UNBOUNDED_CYCLE message of a strongly connected component without a bounded node. */
function unboundedCycleMessage(comp: readonly string[], edges: Map<string, Set<string>>): string {
  const route = cycleRoute(comp, edges);
  const shown = comp.length <= COMPONENT_NODES_SHOWN ? comp.join(", ") : `${comp.slice(0, COMPONENT_NODES_SHOWN).join(", ")}, …`;
  const more = route.length - 1 < comp.length ? ` (one of the cycles among ${comp.length} nodes that all route to one another: ${shown})` : "";
  return `routing cycle ${route.join(" → ")}${more} has no declared bound: give one of its nodes max_visits`;
}

/** Strongly connected components that contain a cycle (Tarjan), each sorted, in order of their first node. */
function cycles(nodes: readonly string[], edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of [...(edges.get(v) ?? [])].sort()) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || edges.get(v)?.has(v) === true) out.push(comp.sort());
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return out.sort((a, b) => nodes.indexOf(a[0] as string) - nodes.indexOf(b[0] as string));
}

/** The result member of a CS step's error (catalog.ts `messageOn`). */
const MESSAGE_FIELD = "message";

/**
 * Whether a step's result always holds `field` when the step ends with `o` (run.ts): its
 * declared output fields only on SUCCESS (an atom's result, a user CT's or a lane's checked by
 * `missingOutputs`, a store operation's SUCCESS result; any other outcome of a CT has no field),
 * and a CS step's `message` on the outcomes its operation's result carries one (catalog.ts
 * `messageOn`; not when lane-bound: a lane's answer need not have one).
 */
function carries(info: StepInfo, s: StepDecl, o: Outcome, field: string): boolean {
  if (o === "SUCCESS" && info.outputs.includes(field)) return true;
  return field === MESSAGE_FIELD && info.op !== undefined && s.lane === undefined && info.op.messageOn.includes(o);
}
/** The compile-time check of a built-in atom's constant inputs (atoms/general.ts `GENERAL_CONSTANT_CHECKS`), if it has one. */
function constantCheckOf(atom: string): ((known: ReadonlyMap<string, PyValue>) => ConstantInputProblem | null) | undefined {
  return Object.prototype.hasOwnProperty.call(GENERAL_CONSTANT_CHECKS, atom) ? GENERAL_CONSTANT_CHECKS[atom] : undefined;
}

/** A constant longer than this (as JSON) is shown abbreviated in a diagnostic. */
const MAX_CONSTANT_SHOWN = 60;

/** A value of the runtime's model, named for a diagnostic. */
function pyTypeName(v: PyValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "bigint") return "an integer";
  if (typeof v === "number") return "a float";
  if (typeof v === "string") return v.trim() === "" ? "a blank string" : "a string";
  return Array.isArray(v) ? "a list" : "an object";
}

/**
 * The value an input has at run time when the compiler knows it: a constant (converted as the
 * runtime converts it: sealed-value.ts), or a stand-in of the type an `{object: …}` (an object)
 * or `{array: …}` (a list) always builds; undefined for a path binding.
 */
function knownValue(b: Binding): { value: PyValue; what: string; constant: boolean } | undefined {
  if ("const" in b) {
    const value = constBindingValue(b);
    // A constant holding a whole-valued float is shown as the runtime sees it (`2.0`).
    const text = (b as SealedConst).floats === undefined ? JSON.stringify(b.const) : compactJson(value);
    return { value, what: `the constant ${text.length <= MAX_CONSTANT_SHOWN ? text : `${text.slice(0, MAX_CONSTANT_SHOWN)}…`}`, constant: true };
  }
  // Its member names are known (a member bound to a missing value is there, as null: run.ts `resolveBinding`).
  if ("object" in b) return { value: new Map(Object.keys(b.object).map((n) => [n, null])), what: "the {object: …} binding", constant: false };
  if ("array" in b) return { value: [], what: "the {array: …} binding", constant: false };
  return undefined;
}

/** Inputs of a CS step whose known value breaks a static rule of its runtime (catalog.ts `inputRules`, `constantRule`). */
function constantInputProblems(op: OperationEntry, inputs: Record<string, Binding>): Array<{ input: string; message: string }> {
  const out: Array<{ input: string; message: string }> = [];
  const known = new Map<string, PyValue>();
  for (const [name, b] of Object.entries(inputs)) {
    const k = knownValue(b);
    if (k === undefined) continue;
    const rules = Object.prototype.hasOwnProperty.call(op.inputRules, name) ? op.inputRules[name] : undefined;
    const rule = (rules === undefined ? [] : Array.isArray(rules) ? (rules as readonly InputRule[]) : [rules as InputRule]).find((r) => !r.accepts(k.value));
    if (rule !== undefined) out.push({ input: name, message: `input ${name} must be ${rule.requires}, and ${k.what} is ${rule.describe?.(k.value) ?? pyTypeName(k.value)}: ${typeof rule.otherwise === "function" ? rule.otherwise(k.value) : rule.otherwise}` });
    else if (k.constant) known.set(name, k.value);
  }
  const cross = op.constantRule?.(known) ?? null;
  if (cross !== null) out.push(cross);
  return out;
}

/** A hop-limit diagnostic shows a route of more nodes than these plus one abbreviated, as its first and last nodes. */
const ROUTE_HEAD_SHOWN = 4;
const ROUTE_TAIL_SHOWN = 3;

/**
 * The hop limit against the routing graph: the runtime (run.ts) counts one hop per node visited
 * and fails the run on the hop past `maxHops` (the declared `max_hops`, else CAIRN_MAX_HOPS), so
 * a workflow whose **shortest** route from the entry to a node where a run ends (an outcome
 * routed to an exit) visits more nodes than that can never finish: every run fails with
 * `E_LIMIT_EXCEEDED`. Breadth-first over the routes the nodes' possible outcomes take (the
 * `edges` of checkWorkflow), nodes and routes in declaration and OUTCOMES order, so the route
 * shown is deterministic. A longer route beyond the limit is not a problem (a run may take the
 * shorter one); neither is a cycle (bounded by `max_visits`, checked above).
 */
function hopLimitProblem(decl: WorkflowDecl, edges: Map<string, Set<string>>, ends: Map<string, string>): { field: string; message: string } | null {
  const limit = decl.max_hops ?? CAIRN_MAX_HOPS;
  const field = decl.max_hops === undefined ? "entry" : "max_hops";
  const parent = new Map<string, string | null>([[decl.entry, null]]);
  const depth = new Map<string, number>([[decl.entry, 1]]);
  let found: string | undefined;
  for (let queue = [decl.entry], i = 0; i < queue.length && found === undefined; i++) {
    const n = queue[i] as string;
    if (ends.has(n)) found = n;
    else {
      for (const m of edges.get(n) ?? []) {
        if (parent.has(m)) continue;
        parent.set(m, n);
        depth.set(m, (depth.get(n) as number) + 1);
        queue.push(m);
      }
    }
  }
  if (found === undefined) {
    return { field: "entry", message: `no route from the entry ${decl.entry} reaches an exit: every outcome of every node it reaches leads on to another node, so no run can finish (each ends with E_LIMIT_EXCEEDED, at the hop limit or a node's max_visits); route an outcome to an {exit, reason}` };
  }
  const hops = depth.get(found) as number;
  if (hops <= limit) return null;
  const route: string[] = [];
  for (let n: string | null = found; n !== null; n = parent.get(n) ?? null) route.unshift(n);
  const hidden = route.length - ROUTE_HEAD_SHOWN - ROUTE_TAIL_SHOWN;
  const shown = hidden <= 1 ? route : [...route.slice(0, ROUTE_HEAD_SHOWN), `… ${hidden} more …`, ...route.slice(-ROUTE_TAIL_SHOWN)];
  const limitText = decl.max_hops === undefined ? `the hop limit ${CAIRN_MAX_HOPS} (CAIRN_MAX_HOPS, the limit without max_hops)` : `max_hops ${limit}`;
  const fix = hops <= CAIRN_MAX_HOPS ? `raise max_hops to at least ${hops}` : `shorten the route to at most ${CAIRN_MAX_HOPS} nodes (CAIRN_MAX_HOPS, the most max_hops allows)`;
  return {
    field,
    message: `the shortest route from the entry to an exit takes ${hops} hops (${[...shown, ends.get(found) as string].join(" → ")}; one hop per node visited), more than ${limitText}: no run can finish within the hop limit; ${fix}`,
  };
}

function checkWorkflow(file: string, shown: string, decl: WorkflowDecl, modules: Map<string, ModuleInfo | null>, diags: CompileDiagnostic[]): SnapshotWorkflow {
  const add = (code: ErrorCodeValue, node: string | null, field: string, message: string) => diags.push({ code, file: shown, node, field, message });
  const nodeKeys = Object.keys(decl.nodes);
  const stores = decl.stores ?? {};

  if (!Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry)) add(ErrorCode.COMPILE_MISSING_NODE, null, "entry", `the entry node ${JSON.stringify(decl.entry)} is not declared (nodes: ${nodeKeys.join(", ")})`);

  // Capabilities of every step, and the node → node edges.
  const infos = new Map<string, StepInfo[]>();
  const nodeOutcomes = new Map<string, { outcomes: Set<Outcome>; sourceOf: Map<Outcome, string> }>();
  const edges = new Map<string, Set<string>>();
  /** Node → how a run can end there (the first such outcome's exit, in OUTCOMES order); absent: every outcome leads on to a node. */
  const ends = new Map<string, string>();
  for (const key of nodeKeys) {
    const node = decl.nodes[key] as NodeDecl;
    const list: StepInfo[] = [];
    const ids = new Set<string>();
    node.steps.forEach((s, i) => {
      const at = `steps[${i}]`;
      if (ids.has(s.id)) add(ErrorCode.COMPILE_DUPLICATE, key, `${at}.id`, `step id ${JSON.stringify(s.id)} is used twice in this node`);
      ids.add(s.id);
      let info: StepInfo = { known: false, outputs: [], outcomes: [], required: [], accepts: null };
      if (s.ct !== undefined) {
        const dot = s.ct.indexOf(".");
        if (dot < 0) {
          const a = atomNamed(s.ct);
          if (a === undefined) add(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, key, `${at}.ct`, `unknown atom ${JSON.stringify(s.ct)} (built-in atoms: ${Object.keys(CAIRN_ATOMS).join(", ")}; a user CT is written <module>.<capability>)`);
          else info = { known: true, outputs: a.outputs, outcomes: a.outcomes, required: a.atom.args.filter((x) => x !== "flags"), accepts: a.atom.args, resolved: { kind: "ct", handler: { type: "atom", name: a.name, ref: a.ref } } };
        } else {
          const modName = s.ct.slice(0, dot);
          const cap = s.ct.slice(dot + 1);
          if (!Object.prototype.hasOwnProperty.call(decl.modules ?? {}, modName)) {
            add(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, key, `${at}.ct`, `unknown capability module ${JSON.stringify(modName)} (declare it under modules:)`);
          } else {
            const m = modules.get(modName);
            if (m === null || m === undefined) info = { known: false, outputs: [], outcomes: CT_OUTCOMES, required: [], accepts: null }; // the module error is reported once, under modules
            else if (!Object.prototype.hasOwnProperty.call(m.capabilities, cap)) {
              add(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, key, `${at}.ct`, `capability module ${modName} (${m.path}) registers no CT ${JSON.stringify(cap)} (it registers: ${Object.keys(m.capabilities).join(", ") || "nothing"})`);
            } else {
              info = { known: true, outputs: (m.capabilities[cap] as { outputs: readonly string[] }).outputs, outcomes: CT_OUTCOMES, required: [], accepts: null, resolved: { kind: "ct", handler: { type: "user", module: modName, digest: m.digest, capability: cap } } };
              const reserved = userCtOutputsProblem(modName, cap, info.outputs);
              if (reserved !== null) add(ErrorCode.COMPILE_SCHEMA, key, `${at}.ct`, `step ${s.id}: ${reserved}`);
            }
          }
        }
      } else if (s.cs !== undefined) {
        const st = Object.prototype.hasOwnProperty.call(stores, s.cs) ? stores[s.cs] : undefined;
        if (st === undefined) add(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, key, `${at}.cs`, `unknown store ${JSON.stringify(s.cs)} (declared stores: ${Object.keys(stores).join(", ") || "none"})`);
        else {
          const o = operationOf(st.kind, s.op as string);
          if (o === undefined) add(ErrorCode.COMPILE_UNKNOWN_OPERATION, key, `${at}.op`, `a ${st.kind} store has no operation ${JSON.stringify(s.op)} (operations: ${Object.keys(STORE_KINDS[st.kind].operations).join(", ")})`);
          else info = { known: true, outputs: o.outputs, outcomes: o.outcomes, required: o.required, accepts: o.inputs, op: o, resolved: { kind: "cs", store: s.cs, capability: STORE_KINDS[st.kind].capability, op: o.op, method: o.method } };
        }
      }
      if (s.lane !== undefined) {
        // A lane-bound step: the contract above, implemented by an execution-plane lane (lane-compile.ts).
        const lane = compileLaneBinding(s.lane, Object.keys(s.inputs), (code, field, message) => add(code, key, `${at}.lane${field}`, message));
        if (lane !== null && info.resolved !== undefined) info = { ...info, outcomes: laneOutcomes(info.outcomes), resolved: Object.assign({}, info.resolved, { lane }) };
        // A bad binding is reported above; the step still can end BACKEND_ERROR (no cascade of impossible routes).
        else info = { ...info, outcomes: laneOutcomes(info.outcomes) };
      }
      if (info.known) {
        // An on_result entry for an outcome the step can never produce is as dead as a route for one.
        for (const o of Object.keys(s.on_result ?? {})) {
          if (!info.outcomes.includes(o as Outcome)) {
            add(ErrorCode.COMPILE_IMPOSSIBLE_ROUTE, key, `${at}.on_result.${o}`, `step ${s.id}: on_result ${o}, but ${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`}${s.lane === undefined ? "" : " (lane-bound)"} can never end with ${o} (it can end with: ${OUTCOMES.filter((x) => info.outcomes.includes(x)).join(", ") || "nothing"})`);
          }
        }
      }
      list.push(info);
    });
    infos.set(key, list);
    // The outcomes the node can end with (module comment) and which step each comes from.
    const outcomes = new Set<Outcome>();
    const sourceOf = new Map<Outcome, string>();
    node.steps.forEach((s, i) => {
      for (const o of (list[i] as StepInfo).outcomes) {
        if ((s.on_result?.[o] ?? defaultAction(o)) === "exit" || i === node.steps.length - 1) {
          outcomes.add(o);
          if (!sourceOf.has(o)) sourceOf.set(o, `step ${s.id} (${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`})`);
        }
      }
    });
    nodeOutcomes.set(key, { outcomes, sourceOf });
    // A step after one that exits the node with every outcome it can end with never runs.
    for (let i = 0; i < node.steps.length - 1; i++) {
      const s = node.steps[i] as StepDecl;
      const info = list[i] as StepInfo;
      if (!info.known || info.outcomes.length === 0 || info.outcomes.some((o) => (s.on_result?.[o] ?? defaultAction(o)) === "continue")) continue;
      const next = node.steps[i + 1] as StepDecl;
      const exits = info.outcomes.map((o) => `on_result ${o}: exit${s.on_result?.[o] === undefined ? ", the default" : ""}`).join("; ");
      add(ErrorCode.COMPILE_UNREACHABLE_STEP, key, `steps[${i + 1}]`, `step ${next.id} never runs: step ${s.id} (${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`}) exits the node with every outcome it can end with (${exits}); remove the steps after it or let one of its outcomes continue`);
      break;
    }
    const known = list.every((i) => i.known);
    for (const [outcome, r] of Object.entries(node.routes)) {
      if (typeof r === "string" && !Object.prototype.hasOwnProperty.call(decl.nodes, r)) add(ErrorCode.COMPILE_MISSING_NODE, key, `routes.${outcome}`, `routes ${outcome} to node ${JSON.stringify(r)}, which is not declared`);
      if (known && outcome !== "default" && !outcomes.has(outcome as Outcome)) {
        add(ErrorCode.COMPILE_IMPOSSIBLE_ROUTE, key, `routes.${outcome}`, `routes ${outcome}, but no step can end this node with ${outcome} (it can end with: ${OUTCOMES.filter((o) => outcomes.has(o)).join(", ") || "nothing"})`);
      }
    }
    // Edges: the routes the node's possible outcomes actually take (a route for an outcome it
    // cannot produce, or a default every outcome already covers, leads nowhere). With an
    // unresolved step the outcomes are unknown: every route counts, so that one error does not
    // cascade into unreachable nodes.
    const targets = new Set<string>();
    const used: Array<RouteDecl | undefined> = known ? OUTCOMES.filter((o) => outcomes.has(o)).map((o) => node.routes[o] ?? node.routes.default) : Object.values(node.routes);
    for (const r of used) if (typeof r === "string" && Object.prototype.hasOwnProperty.call(decl.nodes, r)) targets.add(r);
    edges.set(key, targets);
    // Where a run can end at this node (run.ts: an outcome routed to an exit, or with no route).
    // With unknown outcomes, or a route to an undeclared node (both reported above), the node
    // counts as an end, so that those errors do not cascade into a hop-limit error.
    if (!known) ends.set(key, "(outcomes unknown)");
    else {
      for (const o of OUTCOMES) {
        if (!outcomes.has(o)) continue;
        const r = node.routes[o] ?? node.routes.default;
        const end = r === undefined ? `(no route for ${o})` : typeof r !== "string" ? `exit ${r.exit}` : Object.prototype.hasOwnProperty.call(decl.nodes, r) ? undefined : `(${o} to undeclared node ${r})`;
        if (end !== undefined) {
          ends.set(key, end);
          break;
        }
      }
    }
  }

  // Bindings (precedence is not checked inside unreachable nodes: they are reported once, below).
  const entryReach = Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry) ? reachableFrom(decl.entry, edges).add(decl.entry) : new Set(nodeKeys);
  const preds = new Map(nodeKeys.map((k) => [k, new Set<string>()]));
  for (const k of nodeKeys) for (const r of reachableFrom(k, edges)) preds.get(r)?.add(k);
  const doms = Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry) ? dominators(decl.entry, entryReach, edges) : new Map<string, Set<string>>();
  const nodeOutputs = (k: string): Set<string> => new Set((infos.get(k) ?? []).flatMap((i) => [...i.outputs]));
  const nodeKnown = (k: string): boolean => (infos.get(k) ?? []).every((i) => i.known);
  // The outcomes of `target` whose route leads to `to` without passing `target` again (so the
  // result `to` reads is the one of a visit of `target` that ended with that outcome).
  const reachingOutcomes = (target: string, to: string): Outcome[] => {
    const node = decl.nodes[target] as NodeDecl;
    const possible = nodeOutcomes.get(target)?.outcomes ?? new Set<Outcome>();
    return OUTCOMES.filter((o) => {
      if (!possible.has(o)) return false;
      const r = node.routes[o] ?? node.routes.default;
      if (typeof r !== "string" || r === target || !Object.prototype.hasOwnProperty.call(decl.nodes, r)) return false;
      const seen = new Set([r]);
      for (const todo = [r]; todo.length > 0;) {
        const n = todo.pop() as string;
        if (n === to) return true;
        for (const m of edges.get(n) ?? []) {
          if (m === target || seen.has(m)) continue;
          seen.add(m);
          todo.push(m);
        }
      }
      return false;
    });
  };
  // Per-outcome binding (the rule of the module comment), one analysis for every field, a
  // declared output or a CS step's `message` (`carries` says which outcomes of a step hold it):
  // how node `target` can end (the step run last and its outcome, each earlier step having
  // continued), and which of those ways leave no `field` in its result (`gaps`, in the order the
  // steps run, each step's outcomes in its order): the ending step does not carry it on that
  // outcome and no earlier step carries it on every outcome that continues. `carried`: the
  // outcomes every way of ending with leaves the field (OUTCOMES order).
  const resultField = (target: string, field: string): { gaps: Array<{ outcome: Outcome; step: number }>; carried: Outcome[] } => {
    const node = decl.nodes[target] as NodeDecl;
    const list = infos.get(target) ?? [];
    const gaps: Array<{ outcome: Outcome; step: number }> = [];
    const ending = new Set<Outcome>();
    // Whether every run that reaches step i has the field in the node's result (an earlier step always provides it).
    let before = false;
    for (let i = 0; i < node.steps.length; i++) {
      const s = node.steps[i] as StepDecl;
      const info = list[i] as StepInfo;
      for (const o of info.outcomes) {
        if (i !== node.steps.length - 1 && (s.on_result?.[o] ?? defaultAction(o)) !== "exit") continue;
        ending.add(o);
        if (!before && !carries(info, s, o, field)) gaps.push({ outcome: o, step: i });
      }
      const cont = info.outcomes.filter((o) => (s.on_result?.[o] ?? defaultAction(o)) === "continue");
      if (cont.length === 0) break; // no later step runs
      if (cont.every((o) => carries(info, s, o, field))) before = true;
    }
    return { gaps, carried: OUTCOMES.filter((o) => ending.has(o) && !gaps.some((g) => g.outcome === o)) };
  };
  const capOf = (s: StepDecl): string => s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`;
  const onResultText = (s: StepDecl, o: Outcome): string => `on_result ${o}: ${s.on_result?.[o] ?? defaultAction(o)}${s.on_result?.[o] === undefined ? ", the default" : ""}`;
  const compileBinding = (key: string, stepIndex: number, field: string, v: unknown): Binding => {
    if (typeof v === "string") {
      const p = parseBindingPath(v);
      if (typeof p === "string") {
        add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `malformed binding ${JSON.stringify(v)}: ${p}`);
        return { const: null };
      }
      if (p.root === "results") {
        const target = p.name as string;
        if (!Object.prototype.hasOwnProperty.call(decl.nodes, target)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: there is no node ${JSON.stringify(target)}`);
        else if (entryReach.has(key) && !preds.get(key)?.has(target)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: node ${target} never runs before node ${key} (no route leads from it to ${key})`);
        else if (entryReach.has(key) && (target === key || doms.get(key)?.has(target) !== true)) {
          add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is not always bound: node ${target} does not always run before node ${key} (a route from the entry ${decl.entry} reaches ${key} without running ${target} first)`);
        } else {
          const first = p.segments[0];
          const outs = nodeOutputs(target);
          if (typeof first === "string" && nodeKnown(target)) {
            // Bound only when every way the target can end, with an outcome routed here without
            // running the target again, leaves the field in the result (`resultField`).
            const declared = outs.has(first);
            const tnode = decl.nodes[target] as NodeDecl;
            const routeOf = (o: Outcome): string => `routes.${tnode.routes[o] === undefined ? "default" : o}`;
            const { gaps, carried } = resultField(target, first);
            if (!declared && carried.length === 0) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: node ${target} has no result field ${JSON.stringify(first)} (its fields: ${[...outs].join(", ") || "none"})`);
            else if (entryReach.has(key)) {
              const reaching = reachingOutcomes(target, key);
              if (declared) {
                const gap = gaps.find((g) => reaching.includes(g.outcome));
                if (gap !== undefined) {
                  const s = tnode.steps[gap.step] as StepDecl;
                  const how = `step ${s.id} (${capOf(s)}) ends it with ${gap.outcome}${gap.step === tnode.steps.length - 1 ? "" : ` (${onResultText(s, gap.outcome)})`}`;
                  add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is not always bound: node ${target} can end with ${gap.outcome} without a result field ${JSON.stringify(first)} (${how}, and no step run up to there always provides it: a step's result carries its declared fields only when it ends with SUCCESS), and node ${key} is reached after node ${target} ends with ${gap.outcome} (${routeOf(gap.outcome)}); route that outcome elsewhere, or bind the field where it is always there`);
                }
              } else {
                // A CS step's `message` (the only field outside the declared ones a step can carry).
                const other = reaching.find((o) => !carried.includes(o));
                if (other !== undefined) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is not always bound: node ${target}'s result carries "message" only when it ends with ${carried.join(" or ")} (the error of a CS step), and node ${key} is also reached after node ${target} ends with ${other} (${routeOf(other)})`);
              }
            }
          }
        }
      } else if (p.root === "steps") {
        const steps = (decl.nodes[key] as NodeDecl).steps;
        const j = steps.findIndex((s) => s.id === p.name);
        if (j < 0) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: node ${key} has no step ${JSON.stringify(p.name)}`);
        else if (j >= stepIndex) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: step ${p.name} does not run before step ${(steps[stepIndex] as StepDecl).id}`);
        else {
          const first = p.segments[0];
          const info = (infos.get(key) ?? [])[j];
          if (typeof first === "string" && info?.known === true) {
            // Bound only when every outcome of the step after which this step runs carries the field (`carries`).
            const outs = info.outputs;
            const sd = steps[j] as StepDecl;
            const here = (steps[stepIndex] as StepDecl).id;
            const carriers = info.outcomes.filter((o) => carries(info, sd, o, first));
            const cont = info.outcomes.filter((o) => (sd.on_result?.[o] ?? defaultAction(o)) === "continue");
            const other = cont.find((o) => !carriers.includes(o));
            const only = `step ${p.name}'s result carries ${JSON.stringify(first)} only when it ends with ${carriers.join(" or ")}`;
            if (carriers.length === 0) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: step ${p.name} has no result field ${JSON.stringify(first)} (its fields: ${outs.join(", ") || "none"})`);
            else if (cont.length === 0) {
              // Every outcome of step j exits the node: this step never runs after it.
              add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: step ${p.name} exits the node with every outcome it can end with (${info.outcomes.map((o) => onResultText(sd, o)).join("; ")}), so step ${here} never runs after it`);
            } else if (other !== undefined && !cont.some((o) => carriers.includes(o))) {
              const after = outs.includes(first)
                ? `(${onResultText(sd, carriers[0] as Outcome)}), so step ${here} runs after it only when it ends with ${cont.join(" or ")}, without ${JSON.stringify(first)}`
                : `(on_result), so step ${here} never runs after it`;
              add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: ${only}, which exits the node ${after}`);
            } else if (other !== undefined) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is not always bound: ${only}, and step ${here} also runs after it ends with ${other} (${onResultText(sd, other)})`);
          }
        }
      }
      return { bind: p };
    }
    const o = v as Record<string, unknown>;
    if ("const" in o) return sealConst(o) as Binding;
    if ("object" in o) return { object: Object.fromEntries(Object.entries(o.object as Record<string, unknown>).map(([n, b]) => [n, compileBinding(key, stepIndex, `${field}.object.${n}`, b)])) };
    return { array: (o.array as unknown[]).map((b, i) => compileBinding(key, stepIndex, `${field}.array[${i}]`, b)) };
  };

  // Nodes: steps, outcomes, routes.
  const out: Record<string, SnapshotNode> = {};
  const sorted = [...nodeKeys].sort();
  for (const key of nodeKeys) {
    const node = decl.nodes[key] as NodeDecl;
    const list = infos.get(key) ?? [];
    const steps: SnapshotStep[] = [];
    const { outcomes, sourceOf } = nodeOutcomes.get(key) as { outcomes: Set<Outcome>; sourceOf: Map<Outcome, string> };
    node.steps.forEach((s, i) => {
      const info = list[i] as StepInfo;
      const inputs: Record<string, Binding> = {};
      for (const [name, b] of Object.entries(s.inputs)) {
        if (info.accepts !== null && !info.accepts.includes(name)) {
          const near = closestName(name, info.accepts);
          add(ErrorCode.COMPILE_UNKNOWN_INPUT, key, `steps[${i}].inputs.${name}`, `step ${s.id}: ${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`} has no input ${JSON.stringify(name)} (its inputs: ${info.accepts.join(", ") || "none"})${near === undefined ? "" : `; did you mean ${JSON.stringify(near)}?`}`);
        } else setOwn(inputs, name, compileBinding(key, i, `steps[${i}].inputs.${name}`, b));
      }
      for (const r of info.required) {
        if (!Object.prototype.hasOwnProperty.call(s.inputs, r)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, `steps[${i}].inputs`, `input ${JSON.stringify(r)} of ${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`} is not bound`);
      }
      // The CS runtime's static rules on input values (catalog.ts), for inputs whose value is
      // known now; a lane-bound step is implemented by its lane, not by the runtime.
      if (info.op !== undefined && s.lane === undefined) {
        for (const p of constantInputProblems(info.op, inputs)) add(ErrorCode.COMPILE_SCHEMA, key, `steps[${i}].inputs.${p.input}`, `step ${s.id}: ${s.cs ?? "?"} ${info.op.op} ${p.message}`);
      }
      // The same for a built-in atom: a constant every run would refuse (an invalid schema or
      // pattern, unknown flags, a zero divisor) is a compile error, not a VIOLATION on every run.
      const atomCheck = info.resolved?.kind === "ct" && info.resolved.handler.type === "atom" && s.lane === undefined ? constantCheckOf(info.resolved.handler.name) : undefined;
      if (atomCheck !== undefined) {
        const known = new Map<string, PyValue>();
        for (const [name, b] of Object.entries(inputs)) {
          const k = knownValue(b);
          if (k?.constant === true) known.set(name, k.value);
        }
        const p = atomCheck(known);
        if (p !== null) add(ErrorCode.COMPILE_SCHEMA, key, `steps[${i}].inputs.${p.input}`, `step ${s.id}: ${s.ct ?? "?"}: input ${p.input} is a constant every run would refuse: ${p.message}`);
      }
      const onResult: Record<string, OnResult> = {};
      for (const o of info.outcomes) onResult[o] = s.on_result?.[o] ?? defaultAction(o);
      if (info.resolved !== undefined) steps.push({ id: s.id, inputs, outputs: [...info.outputs], outcomes: [...info.outcomes], onResult, ...info.resolved } as SnapshotStep);
    });
    const routes: Record<string, Route> = {};
    const toRoute = (r: RouteDecl): Route => (typeof r === "string" ? { node: r } : { exit: r.exit, reason: r.reason });
    for (const o of OUTCOMES) {
      const r = node.routes[o] ?? (outcomes.has(o) ? node.routes.default : undefined);
      if (r !== undefined) routes[o] = toRoute(r);
      else if (outcomes.has(o)) add(ErrorCode.COMPILE_UNHANDLED_OUTCOME, key, "routes", `${sourceOf.get(o) ?? "a step"} can end this node with ${o}, and no route handles it (add routes.${o} or routes.default)`);
    }
    setOwn(out, key, { addr: sorted.indexOf(key) + 1, maxVisits: node.max_visits ?? null, steps, outcomes: OUTCOMES.filter((o) => outcomes.has(o)), routes });
  }

  // Reachability and cycles.
  if (Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry)) {
    const reach = reachableFrom(decl.entry, edges);
    reach.add(decl.entry);
    for (const k of nodeKeys) if (!reach.has(k)) add(ErrorCode.COMPILE_UNREACHABLE_NODE, k, `nodes.${k}`, `node ${k} is unreachable: no route from the entry ${decl.entry} leads to it (routes for outcomes a node cannot end with do not count)`);
  }
  const unbounded = new Map<string, Set<string>>();
  for (const k of nodeKeys) {
    if ((decl.nodes[k] as NodeDecl).max_visits !== undefined) continue;
    unbounded.set(k, new Set([...(edges.get(k) ?? [])].filter((t) => (decl.nodes[t] as NodeDecl | undefined)?.max_visits === undefined)));
  }
  for (const c of cycles(nodeKeys.filter((k) => unbounded.has(k)), unbounded)) {
    add(ErrorCode.COMPILE_UNBOUNDED_CYCLE, c[0] as string, "routes", unboundedCycleMessage(c, unbounded));
  }
  if (Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry)) {
    const p = hopLimitProblem(decl, edges, ends);
    if (p !== null) add(ErrorCode.COMPILE_HOP_LIMIT, null, p.field, p.message);
  }

  const wfStores: Record<string, SnapshotStore> = {};
  for (const [name, s] of Object.entries(stores)) setOwn(wfStores, name, { kind: s.kind, capability: STORE_KINDS[s.kind].capability, path: s.path });
  const wfModules: Record<string, { path: string; digest: string }> = {};
  for (const [name, m] of modules) if (m !== null) setOwn(wfModules, name, { path: m.path, digest: m.digest });
  return {
    namespace: decl.namespace,
    code: decl.code,
    description: decl.description ?? null,
    source: { file: basename(realPathOf(file)), digest: "" }, // the real name: a symlink of another name seals the same digest
    entry: decl.entry,
    maxHops: decl.max_hops ?? CAIRN_MAX_HOPS,
    stores: wfStores,
    modules: wfModules,
    nodes: out,
  };
}

/**
 * A last guard (every value was checked as JSON data after parsing): a compiled workflow that
 * has no canonical form would fail at sealing with a bare `E_CANONICAL`; it is a diagnostic
 * naming the file, node and field instead.
 */
function sealingProblem(file: string, wf: SnapshotWorkflow): CompileDiagnostic | null {
  try {
    canonicalBytes(wf);
    return null;
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    const at = typeof err.details.path === "string" ? err.details.path : "$";
    const m = /^\$\.nodes(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\])\.?(.*)$/.exec(at);
    const node = m === null ? null : (m[1] ?? (JSON.parse(m[2] as string) as string));
    return { code: ErrorCode.COMPILE_SCHEMA, file, node, field: m === null ? at.replace(/^\$\.?/, "") : (m[3] as string), message: `cannot be sealed as canonical JSON: ${err.message}` };
  }
}

/**
 * A module path as sealed: the declared one when relative, else relative to the declaration's
 * real directory (`declarationDir`), both sides with symlinks resolved (`/` separators).
 */
export function sealedModulePath(file: string, declared: string): string {
  if (!isAbsolute(declared)) return declared;
  const rel = relative(declarationDir(file), realPathOf(declared)).split(sep).join("/");
  return rel.startsWith("../") || rel === ".." ? rel : `./${rel}`;
}

/**
 * Compiles declaration files (or directories) into one snapshot. Never throws for problems in
 * the declarations (they are diagnostics); throws for usage errors and unreadable paths.
 */
export async function compileWorkflows(inputs: readonly string[]): Promise<CompileResult> {
  if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === "string")) {
    throw new CairnError(ErrorCode.USAGE, `compileWorkflows: inputs must be an array of paths (strings), got ${Array.isArray(inputs) ? "an array holding a non-string" : describeArgument(inputs)}`, { field: "inputs" });
  }
  inputs.forEach((p, i) => checkPathArgument("compileWorkflows", `inputs[${i}]`, p));
  const files = declarationFiles(inputs);
  const diags: CompileDiagnostic[] = [];
  const workflows: Record<string, SnapshotWorkflow> = {};
  const infos: CompiledWorkflowInfo[] = [];
  const bundles = new Map<string, SnapshotModule>();
  const seen = new Map<string, string>();
  const storePaths = new StorePathTable();
  const sources = new Set<string>(files.map((f) => resolve(f)));
  for (const file of files) {
    const parsed = parseFile(file);
    if (parsed.errors !== undefined) {
      diags.push(...parsed.errors);
      continue;
    }
    const errors = validateSchema(parsed.doc);
    if (errors.length > 0) {
      diags.push(...schemaDiagnostics(file, errors));
      continue;
    }
    const decl = parsed.doc as WorkflowDecl;
    if (decl.cairn !== CAIRN_WORKFLOW_FORMAT) continue; // unreachable: the schema pins it
    const grammar = grammarDiagnostics(file, decl);
    if (grammar.length > 0) {
      diags.push(...grammar);
      continue;
    }
    const fqdn = `${decl.namespace}::${decl.code}`;
    const before = seen.get(fqdn);
    if (before !== undefined) {
      diags.push({ code: ErrorCode.COMPILE_DUPLICATE, file, node: null, field: "code", message: `workflow ${fqdn} is already declared in ${before}` });
      continue;
    }
    seen.set(fqdn, file);
    for (const p of storePaths.add(fqdn, file, decl.stores ?? {})) diags.push({ code: ErrorCode.COMPILE_STORE_PATH, file, node: null, field: `stores.${p.store}.path`, message: p.message });
    // Capability modules: bundled and described before the steps that use them are checked.
    const modules = new Map<string, ModuleInfo | null>();
    for (const [name, rel] of Object.entries(decl.modules ?? {})) {
      try {
        const b = await bundleCapabilityModule(resolve(declarationDir(file), rel), rel);
        for (const p of b.inputs) sources.add(p);
        const caps = new UserModuleRunner(name, b.code).describe();
        // Sealed relative to the declaration file: an absolute path would make the digest depend on where the files live.
        modules.set(name, { path: sealedModulePath(file, rel), digest: b.digest, code: b.code, capabilities: caps });
        bundles.set(b.digest, { code: b.code, capabilities: Object.fromEntries(Object.entries(caps).map(([k, v]) => [k, { outputs: [...v.outputs] }])) });
      } catch (err) {
        modules.set(name, null);
        diags.push({ code: ErrorCode.COMPILE_MODULE, file, node: null, field: `modules.${name}`, message: err instanceof CairnError ? err.message : String(err) });
      }
    }
    const wf = checkWorkflow(file, file, decl, modules, diags);
    wf.source.digest = sha256(parsed.text as Buffer);
    const unsealable = sealingProblem(file, wf);
    if (unsealable !== null) diags.push(unsealable);
    setOwn(workflows, fqdn, wf);
    infos.push({ fqdn, file, nodes: Object.keys(wf.nodes).length });
  }
  if (diags.length > 0) return { diagnostics: diags, workflows: infos, modules: [], sources: [...sources] };
  const sortedModules: Record<string, SnapshotModule> = {};
  for (const d of [...bundles.keys()].sort()) sortedModules[d] = bundles.get(d) as SnapshotModule;
  const content: SnapshotContent = {
    kind: SNAPSHOT_KIND,
    version: SNAPSHOT_VERSION,
    format: CAIRN_WORKFLOW_FORMAT,
    maxHops: CAIRN_MAX_HOPS,
    workflows,
    modules: sortedModules,
  };
  let digest: Digest;
  try {
    digest = sha256(canonicalBytes(content));
  } catch (err) {
    if (!(err instanceof CairnError)) throw err;
    return { diagnostics: [{ code: ErrorCode.COMPILE_SCHEMA, file: files.join(", "), node: null, field: "", message: `cannot be sealed as canonical JSON: ${err.message}` }], workflows: infos, modules: [], sources: [...sources] };
  }
  return { diagnostics: [], content, digest, workflows: infos, modules: [...bundles].map(([d, m]) => ({ digest: d as Digest, code: m.code })), sources: [...sources] };
}
