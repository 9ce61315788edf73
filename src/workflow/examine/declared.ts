/**
 * The declared walk (the workflow declaration's graph followed along the trace's CCs and
 * statuses), the run's path with its declared node keys, the compiled routes of a CC, and the
 * declarations of the failing node.
 */
import { codeOf, type CcVisit, type TraceModel } from "./model.js";
import type { Declarations, DeclaredNode, WorkflowDeclaration } from "./workspace.js";
import type { DeclarationView, PathEntry, StepRef } from "./outcome.js";
import { obj } from "./helpers.js";

type WalkEnd =
  | { kind: "exit"; key: string; reason: string | null }
  | { kind: "unrouted"; key: string; status: string }
  | { kind: "continues"; key: string; status: string; next: string }
  | { kind: "diverged"; visit: number; key: string | null; status: string | null; expected: string | null; actual: string }
  | { kind: "aborted" }
  | { kind: "undeclared"; key: string };

export interface Walk {
  keys: Array<string | undefined>;
  end: WalkEnd;
  decl: WorkflowDeclaration;
}

/** Follows the declared graph along the trace's CCs and statuses. */
export function walkDeclared(decl: WorkflowDeclaration, visits: CcVisit[]): Walk {
  const keys: Array<string | undefined> = [];
  let key: string | undefined = decl.start;
  let from: string | null = null;
  let fromStatus: string | null = null;
  let i = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    if (key === undefined) break;
    const n: DeclaredNode | undefined = decl.nodes.get(key);
    if (n === undefined) return { keys, end: { kind: "undeclared", key }, decl };
    if (n.type === "EXIT") {
      const v = visits[i];
      if (v !== undefined) return { keys, end: { kind: "diverged", visit: i, key: from, status: fromStatus, expected: key, actual: v.fqdn }, decl };
      return { keys, end: { kind: "exit", key, reason: n.reason }, decl };
    }
    let status: string;
    if (n.type === "CC") {
      const v = visits[i];
      if (v === undefined) return { keys, end: { kind: "continues", key: from ?? key, status: fromStatus ?? "", next: key }, decl };
      if (n.fqdn !== null && n.fqdn !== v.fqdn) return { keys, end: { kind: "diverged", visit: i, key: from, status: fromStatus, expected: key, actual: v.fqdn }, decl };
      keys[i] = key;
      if (v.status === null) return { keys, end: { kind: "aborted" }, decl };
      status = v.status;
      i++;
    } else {
      status = "ACK"; // boundary nodes (IN_…) report ACK and emit no event
    }
    const next: string | undefined = n.next[status] ?? n.next.default;
    if (next === undefined) {
      const v = visits[i];
      if (v !== undefined) return { keys, end: { kind: "diverged", visit: i, key, status, expected: null, actual: v.fqdn }, decl };
      return { keys, end: { kind: "unrouted", key, status }, decl };
    }
    from = key;
    fromStatus = status;
    key = next;
  }
  return { keys, end: { kind: "undeclared", key: key ?? "" }, decl };
}

export function declarationOf(v: CcVisit | undefined, addr: number | null, fqdn: string, step: StepRef | undefined, model: TraceModel, decl: Declarations | undefined, walk: Walk | undefined): DeclarationView | undefined {
  if (decl === undefined) return undefined;
  if (decl.cairnNode !== undefined) {
    const c = decl.cairnNode(fqdn, step?.index);
    return c === undefined ? undefined : { source: "cairn_snapshot", file: c.file, node: fqdn, cairn: c };
  }
  const compiled: DeclarationView["compiled"] =
    addr === null
      ? undefined
      : {
          file: decl.compiledFile("dispatch.json"),
          routes: Object.fromEntries((model.wfAddr === null ? [] : decl.routes(model.wfAddr, addr)).map((r) => [r.status, r.target])),
        };
  if (compiled !== undefined && model.wfAddr !== null && addr !== null) {
    const b = decl.binding(model.wfAddr, addr);
    if (b !== undefined) compiled.binding = b;
    if (step !== undefined) {
      const s = decl.pipeline(addr)?.[step.index];
      if (s !== undefined) compiled.step = s;
    }
  }
  let workflow: DeclarationView["workflow"];
  const key = v === undefined ? undefined : walk?.keys[v.index];
  if (walk !== undefined && key !== undefined) {
    const n = walk.decl.nodes.get(key);
    if (n !== undefined) workflow = { file: walk.decl.file, node: key, next: n.next, ...(n.inputs === undefined ? {} : { inputs: n.inputs }) };
  }
  const contract = decl.contract(fqdn);
  let view: DeclarationView | undefined;
  if (contract !== undefined) {
    const core = obj(obj(contract.doc.frontmatter)?.core);
    view = { source: "capability_contract", file: contract.file, node: fqdn };
    if (core?.inputs !== undefined) view.inputs = core.inputs;
    if (step?.id !== undefined && step.id !== null && Array.isArray(core?.pipeline)) {
      const ds = (core.pipeline as unknown[]).find((p) => obj(p)?.step === step.id);
      if (ds !== undefined) view.step = ds;
    }
  } else if (addr !== null) {
    const t = decl.topology(addr);
    if (t !== undefined) view = { source: "topology", file: t.file, node: fqdn, topology: t };
  }
  if (view === undefined) {
    if (compiled === undefined) return undefined;
    const t = addr === null ? undefined : decl.topology(addr);
    view = { source: "topology", file: t?.file ?? decl.compiledFile("topology.json"), node: fqdn };
  }
  if (workflow !== undefined) view.workflow = workflow;
  if (compiled !== undefined) view.compiled = compiled;
  return view;
}

export function pathOf(model: TraceModel, walk: Walk | undefined): PathEntry[] {
  return model.visits.map((v) => {
    const e: PathEntry = { node: v.fqdn, address: v.addr, status: v.status };
    const k = walk?.keys[v.index];
    if (k !== undefined) e.declared = k;
    return e;
  });
}

export function compiledRoutesText(decl: Declarations | undefined, model: TraceModel, addr: number): string {
  if (decl === undefined || model.wfAddr === null) return "";
  const r = decl.routes(model.wfAddr, addr);
  return r.length === 0 ? "it has no compiled route at all" : `its compiled routes: ${r.map((x) => `${x.status} → ${codeOf(x.target)}`).join(", ")}`;
}
