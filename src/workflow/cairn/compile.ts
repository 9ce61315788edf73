/**
 * The Cairn workflow compiler: YAML/JSON declarations → one sealed snapshot, with every check
 * done before any execution.
 *
 * Pipeline, per file: parse (YAML 1.2 core schema with unique keys, or JSON, also with unique
 * keys: json-keys.ts) → validate against
 * the published JSON Schema (schema.ts, ajv) → semantic checks → resolution. Semantic
 * diagnostics (each names file, node and field; codes in src/core/errors.ts):
 *
 * | code                           | what                                                                      |
 * |--------------------------------|---------------------------------------------------------------------------|
 * | `E_COMPILE_SCHEMA`             | not YAML/JSON (a key twice in one mapping/object, in YAML and JSON alike), or not matching the schema |
 * | `E_COMPILE_DUPLICATE`          | two declarations of one workflow; a step id used twice in a node           |
 * | `E_COMPILE_STORE_PATH`         | a store path naming the data root, or another store's file or one of its directories (store-paths.ts, across the snapshot) |
 * | (lane bindings)                | a step's `lane` is checked by lane-compile.ts (kind, operation, payload inputs: the codes below) |
 * | `E_COMPILE_MODULE`             | a capability module that does not bundle or does not export `capabilities` |
 * | `E_COMPILE_UNKNOWN_CAPABILITY` | an unknown atom, module, user CT or store                                  |
 * | `E_COMPILE_UNKNOWN_OPERATION`  | an operation the store kind does not have                                  |
 * | `E_COMPILE_UNKNOWN_INPUT`      | a step input the atom or store operation does not declare (user CTs take any inputs) |
 * | `E_COMPILE_UNBOUND_INPUT`      | a binding to nothing (unknown node/step/field, a node that does not always run before — it must dominate the binding node —, a later step), or a required input left unbound |
 * | `E_COMPILE_MISSING_NODE`       | the entry or a route names an undeclared node                               |
 * | `E_COMPILE_UNHANDLED_OUTCOME`  | an outcome the node can end with, no route for it and no `default`          |
 * | `E_COMPILE_IMPOSSIBLE_ROUTE`   | a route for an outcome the node can never end with                          |
 * | `E_COMPILE_UNREACHABLE_NODE`   | a node no route from the entry reaches (only routes of outcomes the node can end with count) |
 * | `E_COMPILE_UNBOUNDED_CYCLE`    | a routing cycle none of whose nodes declares `max_visits`                   |
 *
 * A node's possible outcomes: for each step but the last, the outcomes its `on_result` (default:
 * SUCCESS continues, any other outcome exits) turns into an exit, plus every outcome of the last
 * step. Nothing in the snapshot depends on where the files live: sources are named by base
 * name and digest, modules by their path relative to the declaration file (an absolute declared
 * path is made relative) and bundle digest.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Ajv, ErrorObject } from "ajv";
import { loadAjv } from "../atoms/general.js";
import { LineCounter, parseDocument } from "yaml";
import { canonicalBytes } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import { atomNamed, CAIRN_ATOMS, CT_OUTCOMES, operationOf, STORE_KINDS, type StoreKind } from "./catalog.js";
import { duplicateJsonKey } from "./json-keys.js";
import { compileLaneBinding, laneOutcomes } from "./lane-compile.js";
import {
  CAIRN_MAX_HOPS, SNAPSHOT_KIND, SNAPSHOT_VERSION,
  type Binding, type OnResult, type Route, type SnapshotContent, type SnapshotModule, type SnapshotNode, type SnapshotStep, type SnapshotStore, type SnapshotWorkflow,
} from "./model.js";
import { parseBindingPath } from "./paths.js";
import { CAIRN_WORKFLOW_FORMAT, CAIRN_WORKFLOW_SCHEMA, OUTCOMES, type Outcome } from "./schema.js";
import { StorePathTable } from "./store-paths.js";
import { closestName } from "./suggest.js";
import { bundleCapabilityModule, UserModuleRunner } from "./usercts.js";

/** Declaration file extensions. */
export const DECLARATION_EXTENSIONS: readonly string[] = [".yaml", ".yml", ".json"];
/** Largest declaration file read. */
export const MAX_DECLARATION_BYTES = 4 * 1024 * 1024;

export interface CompileDiagnostic {
  code: ErrorCodeValue;
  /** The file as given (or found in a given directory). */
  file: string;
  /** The node key, when the problem is inside a node. */
  node: string | null;
  /** The field: relative to the node when `node` is set (`steps[1].cs`), else from the top (`entry`). */
  field: string;
  message: string;
}

/** `<file>: node <n>: <field>: <message> [<code>]` (one line). */
export function formatDiagnostic(d: CompileDiagnostic): string {
  return `${d.file}: ${d.node === null ? "" : `node ${d.node}: `}${d.field === "" ? "" : `${d.field}: `}${d.message} [${d.code}]`;
}

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
}

/* ----------------------------------------------------------------------------------------- */
/* Declaration types (after schema validation).                                               */

type RouteDecl = string | { exit: string; reason: string };
interface StepDecl {
  id: string;
  ct?: string;
  cs?: string;
  op?: string;
  inputs: Record<string, unknown>;
  on_result?: Partial<Record<Outcome, OnResult>>;
  lane?: unknown;
}
interface NodeDecl {
  steps: StepDecl[];
  routes: Partial<Record<Outcome | "default", RouteDecl>>;
  max_visits?: number;
}
interface WorkflowDecl {
  cairn: string;
  namespace: string;
  code: string;
  description?: string;
  entry: string;
  max_hops?: number;
  modules?: Record<string, string>;
  stores?: Record<string, { kind: StoreKind; path: string }>;
  nodes: Record<string, NodeDecl>;
}

/* ----------------------------------------------------------------------------------------- */
/* Files.                                                                                     */

/** The declaration files named by `inputs` (files, or directories: their .yaml/.yml/.json files, sorted, not recursive). */
export function declarationFiles(inputs: readonly string[]): string[] {
  if (inputs.length === 0) throw new CairnError(ErrorCode.USAGE, "wf compile needs at least one declaration file or directory");
  const out: string[] = [];
  for (const p of inputs) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CairnError(ErrorCode.NOT_FOUND, `declaration not found: ${p}`, { path: p });
    }
    if (st.isDirectory()) {
      const found = readdirSync(p).filter((f) => DECLARATION_EXTENSIONS.includes(extname(f).toLowerCase())).sort();
      for (const f of found) if (statSync(join(p, f)).isFile()) out.push(join(p, f));
      if (found.length === 0) throw new CairnError(ErrorCode.NOT_FOUND, `no declaration (.yaml, .yml, .json) in directory ${p}`, { path: p });
    } else if (st.isFile()) out.push(p);
    else throw new CairnError(ErrorCode.INVALID_INPUT, `${p} is not a regular file or directory`, { path: p });
  }
  return [...new Set(out)];
}

let schemaValidator: ReturnType<Ajv["compile"]> | undefined;
function validateSchema(doc: unknown): ErrorObject[] {
  schemaValidator ??= new (loadAjv())({ allErrors: true, strict: true, strictRequired: false, logger: false }).compile(CAIRN_WORKFLOW_SCHEMA as unknown as Record<string, unknown>);
  return schemaValidator(doc) === true ? [] : [...(schemaValidator.errors ?? [])];
}

/** `/nodes/a/steps/0/op` → node `a`, field `steps[0].op`. */
function locate(pointer: string): { node: string | null; field: string } {
  const parts = pointer === "" ? [] : pointer.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  const fmt = (ps: string[]) => ps.reduce((acc, p) => (/^[0-9]+$/.test(p) ? `${acc}[${p}]` : acc === "" ? p : `${acc}.${p}`), "");
  if (parts[0] === "nodes" && parts.length >= 2) return { node: parts[1] as string, field: fmt(parts.slice(2)) };
  return { node: null, field: fmt(parts) };
}

function schemaDiagnostics(file: string, errors: ErrorObject[]): CompileDiagnostic[] {
  // Report, per branch of the document, the deepest failures: an error is dropped when another
  // one lies strictly under it (oneOf/anyOf wrappers say less than the branch errors under
  // them), never because an unrelated branch is deeper. A missing (or unknown) member counts
  // as lying at that member, so a missing top-level `entry` is reported next to node errors.
  const at = (e: ErrorObject): string => {
    const p = e.params as { missingProperty?: unknown; additionalProperty?: unknown };
    const member = e.keyword === "required" ? p.missingProperty : e.keyword === "additionalProperties" ? p.additionalProperty : undefined;
    return typeof member === "string" ? `${e.instancePath}/${member.replace(/~/g, "~0").replace(/\//g, "~1")}` : e.instancePath;
  };
  const paths = errors.map(at);
  const deepest = errors.filter((_, i) => !paths.some((q) => q.startsWith(`${paths[i] as string}/`)));
  const byPath = new Map<string, string[]>();
  for (const e of deepest) {
    let msg = e.message ?? e.keyword;
    if (e.keyword === "additionalProperties") msg = `unknown member ${JSON.stringify((e.params as { additionalProperty?: string }).additionalProperty)}`;
    else if (e.keyword === "enum") msg = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
    else if (e.keyword === "const") msg = `must be ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`;
    const list = byPath.get(e.instancePath) ?? [];
    if (!list.includes(msg)) list.push(msg);
    byPath.set(e.instancePath, list);
  }
  return [...byPath].map(([ptr, msgs]) => {
    const { node, field } = locate(ptr);
    return { code: ErrorCode.COMPILE_SCHEMA, file, node, field, message: `does not match the Cairn workflow schema: ${msgs.slice(0, 4).join("; ")}` };
  });
}

function parseFile(file: string): { doc?: unknown; text?: Buffer; error?: CompileDiagnostic } {
  const fail = (message: string): { error: CompileDiagnostic } => ({ error: { code: ErrorCode.COMPILE_SCHEMA, file, node: null, field: "", message } });
  let bytes: Buffer;
  try {
    const st = statSync(file);
    if (st.size > MAX_DECLARATION_BYTES) return fail(`larger than ${MAX_DECLARATION_BYTES} bytes`);
    bytes = readFileSync(file);
  } catch (err) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `cannot read declaration ${file}: ${(err as Error).message}`, { path: file });
  }
  const text = bytes.toString("utf8");
  if (extname(file).toLowerCase() === ".json") {
    let doc: unknown;
    try {
      doc = JSON.parse(text) as unknown;
    } catch (err) {
      return fail(`not valid JSON: ${(err as Error).message}`);
    }
    // JSON.parse keeps the last of two equal keys: refuse them, as YAML declarations do.
    const dup = duplicateJsonKey(text);
    if (dup !== null) return fail(`not valid JSON (line ${dup.at.line}, column ${dup.at.column}): duplicate key ${JSON.stringify(dup.key)} (first at line ${dup.first.line}, column ${dup.first.column})`);
    return { doc, text: bytes };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, version: "1.2", lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e === undefined ? undefined : lines.linePos(e.pos[0]);
    return fail(`not valid YAML${at === undefined ? "" : ` (line ${at.line}, column ${at.col})`}: ${e?.message.split("\n")[0] ?? "parse error"}`);
  }
  try {
    return { doc: doc.toJS({ maxAliasCount: 100 }) as unknown, text: bytes };
  } catch (err) {
    return fail(`not valid YAML: ${(err as Error).message}`);
  }
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

function checkWorkflow(file: string, shown: string, decl: WorkflowDecl, modules: Map<string, ModuleInfo | null>, diags: CompileDiagnostic[]): SnapshotWorkflow {
  const add = (code: ErrorCodeValue, node: string | null, field: string, message: string) => diags.push({ code, file: shown, node, field, message });
  const nodeKeys = Object.keys(decl.nodes);
  const stores = decl.stores ?? {};

  if (!Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry)) add(ErrorCode.COMPILE_MISSING_NODE, null, "entry", `the entry node ${JSON.stringify(decl.entry)} is not declared (nodes: ${nodeKeys.join(", ")})`);

  // Capabilities of every step, and the node → node edges.
  const infos = new Map<string, StepInfo[]>();
  const nodeOutcomes = new Map<string, { outcomes: Set<Outcome>; sourceOf: Map<Outcome, string> }>();
  const edges = new Map<string, Set<string>>();
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
            }
          }
        }
      } else if (s.cs !== undefined) {
        const st = Object.prototype.hasOwnProperty.call(stores, s.cs) ? stores[s.cs] : undefined;
        if (st === undefined) add(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, key, `${at}.cs`, `unknown store ${JSON.stringify(s.cs)} (declared stores: ${Object.keys(stores).join(", ") || "none"})`);
        else {
          const o = operationOf(st.kind, s.op as string);
          if (o === undefined) add(ErrorCode.COMPILE_UNKNOWN_OPERATION, key, `${at}.op`, `a ${st.kind} store has no operation ${JSON.stringify(s.op)} (operations: ${Object.keys(STORE_KINDS[st.kind].operations).join(", ")})`);
          else info = { known: true, outputs: o.outputs, outcomes: o.outcomes, required: o.required, accepts: o.inputs, resolved: { kind: "cs", store: s.cs, capability: STORE_KINDS[st.kind].capability, op: o.op, method: o.method } };
        }
      }
      if (s.lane !== undefined) {
        // A lane-bound step: the contract above, implemented by an execution-plane lane (lane-compile.ts).
        const lane = compileLaneBinding(s.lane, Object.keys(s.inputs), (code, field, message) => add(code, key, `${at}.lane${field}`, message));
        if (lane !== null && info.resolved !== undefined) info = { ...info, outcomes: laneOutcomes(info.outcomes), resolved: Object.assign({}, info.resolved, { lane }) };
        // A bad binding is reported above; the step still can end BACKEND_ERROR (no cascade of impossible routes).
        else info = { ...info, outcomes: laneOutcomes(info.outcomes) };
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
  }

  // Bindings (precedence is not checked inside unreachable nodes: they are reported once, below).
  const entryReach = Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry) ? reachableFrom(decl.entry, edges).add(decl.entry) : new Set(nodeKeys);
  const preds = new Map(nodeKeys.map((k) => [k, new Set<string>()]));
  for (const k of nodeKeys) for (const r of reachableFrom(k, edges)) preds.get(r)?.add(k);
  const doms = Object.prototype.hasOwnProperty.call(decl.nodes, decl.entry) ? dominators(decl.entry, entryReach, edges) : new Map<string, Set<string>>();
  const nodeOutputs = (k: string): Set<string> => new Set((infos.get(k) ?? []).flatMap((i) => [...i.outputs]));
  const nodeKnown = (k: string): boolean => (infos.get(k) ?? []).every((i) => i.known);
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
          if (typeof first === "string" && nodeKnown(target) && !outs.has(first)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: node ${target} has no result field ${JSON.stringify(first)} (its fields: ${[...outs].join(", ") || "none"})`);
        }
      } else if (p.root === "steps") {
        const steps = (decl.nodes[key] as NodeDecl).steps;
        const j = steps.findIndex((s) => s.id === p.name);
        if (j < 0) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: node ${key} has no step ${JSON.stringify(p.name)}`);
        else if (j >= stepIndex) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: step ${p.name} does not run before step ${(steps[stepIndex] as StepDecl).id}`);
        else {
          const first = p.segments[0];
          const info = (infos.get(key) ?? [])[j];
          const outs = info?.outputs ?? [];
          if (typeof first === "string" && info?.known === true && !outs.includes(first)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, field, `${v} is bound to nothing: step ${p.name} has no result field ${JSON.stringify(first)} (its fields: ${outs.join(", ") || "none"})`);
        }
      }
      return { bind: p };
    }
    const o = v as Record<string, unknown>;
    if ("const" in o) return { const: o.const };
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
        } else inputs[name] = compileBinding(key, i, `steps[${i}].inputs.${name}`, b);
      }
      for (const r of info.required) {
        if (!Object.prototype.hasOwnProperty.call(s.inputs, r)) add(ErrorCode.COMPILE_UNBOUND_INPUT, key, `steps[${i}].inputs`, `input ${JSON.stringify(r)} of ${s.ct ?? `${s.cs ?? "?"} ${s.op ?? "?"}`} is not bound`);
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
    out[key] = { addr: sorted.indexOf(key) + 1, maxVisits: node.max_visits ?? null, steps, outcomes: OUTCOMES.filter((o) => outcomes.has(o)), routes };
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
    add(ErrorCode.COMPILE_UNBOUNDED_CYCLE, c[0] as string, "routes", `routing cycle ${c.join(" → ")} has no declared bound: give one of its nodes max_visits`);
  }

  const wfStores: Record<string, SnapshotStore> = {};
  for (const [name, s] of Object.entries(stores)) wfStores[name] = { kind: s.kind, capability: STORE_KINDS[s.kind].capability, path: s.path };
  const wfModules: Record<string, { path: string; digest: string }> = {};
  for (const [name, m] of modules) if (m !== null) wfModules[name] = { path: m.path, digest: m.digest };
  return {
    namespace: decl.namespace,
    code: decl.code,
    description: decl.description ?? null,
    source: { file: basename(file), digest: "" },
    entry: decl.entry,
    maxHops: decl.max_hops ?? CAIRN_MAX_HOPS,
    stores: wfStores,
    modules: wfModules,
    nodes: out,
  };
}

/** A module path as sealed: the declared one when relative, else relative to the declaration's directory (`/` separators). */
export function sealedModulePath(file: string, declared: string): string {
  if (!isAbsolute(declared)) return declared;
  const rel = relative(dirname(resolve(file)), declared).split(sep).join("/");
  return rel.startsWith("../") || rel === ".." ? rel : `./${rel}`;
}

/**
 * Compiles declaration files (or directories) into one snapshot. Never throws for problems in
 * the declarations (they are diagnostics); throws for usage errors and unreadable paths.
 */
export async function compileWorkflows(inputs: readonly string[]): Promise<CompileResult> {
  const files = declarationFiles(inputs);
  const diags: CompileDiagnostic[] = [];
  const workflows: Record<string, SnapshotWorkflow> = {};
  const infos: CompiledWorkflowInfo[] = [];
  const bundles = new Map<string, SnapshotModule>();
  const seen = new Map<string, string>();
  const storePaths = new StorePathTable();
  for (const file of files) {
    const parsed = parseFile(file);
    if (parsed.error !== undefined) {
      diags.push(parsed.error);
      continue;
    }
    const errors = validateSchema(parsed.doc);
    if (errors.length > 0) {
      diags.push(...schemaDiagnostics(file, errors));
      continue;
    }
    const decl = parsed.doc as WorkflowDecl;
    if (decl.cairn !== CAIRN_WORKFLOW_FORMAT) continue; // unreachable: the schema pins it
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
        const b = await bundleCapabilityModule(resolve(dirname(file), rel), rel);
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
    workflows[fqdn] = wf;
    infos.push({ fqdn, file, nodes: Object.keys(wf.nodes).length });
  }
  if (diags.length > 0) return { diagnostics: diags, workflows: infos, modules: [] };
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
  const digest = sha256(canonicalBytes(content));
  return { diagnostics: [], content, digest, workflows: infos, modules: [...bundles].map(([d, m]) => ({ digest: d as Digest, code: m.code })) };
}
