/**
 * Declarations of a **sealed Cairn snapshot** for examine (the `Declarations` interface of
 * workspace.ts), so examine locates the failing node of a `cairn wf run --snapshot` trace and
 * prints its declaration: the node, the step, the capability (atom, user CT with its module, or
 * store operation with the store's kind and data-root path) and the declaration file, all read
 * from the sealed snapshot the run used.
 *
 * A Cairn trace is recognised by its events: `wf_addr` is null and `WF_START.detail.snapshot`
 * names the snapshot digest (cairn/run.ts). Its node addresses are the 1-based index of the
 * node key in sorted order, its step addresses the 1-based step index, both within the
 * workflow, so the mapping back to keys needs only the workflow.
 *
 * Where the snapshot comes from (see `findCairnSnapshot`): `--snapshot FILE|sha256:…` when
 * given, else the store (`--store` / `$CAIRN_STORE`): the run record (root
 * `cairn-wf:<trace_id>` → its receipt's program) or, for a run that was not recorded, the
 * artifact named by the trace's `WF_START.detail.snapshot`. Every load verifies the whole
 * content (seal.ts); a snapshot that is not the one the trace names is reported (note), like a
 * PGS workspace edited after the run. A snapshot the store knows but cannot return (tombstoned
 * by `cairn store rm`, or its bytes collected by gc) is a note too, and the run is classified
 * from its events, as when the store holds none; given by `--snapshot sha256:…`, it is an error.
 */
import { isDigest, type Digest } from "../../core/digest.js";
import { CairnError, ErrorCode, isCairnError } from "../../core/errors.js";
import { ARTIFACT_LOSS_TEXT, artifactLoss, lossOfReadError, type ArtifactLoss } from "../../store/artifact-loss.js";
import type { Store } from "../../store/store.js";
import type { Binding, Route, SnapshotStep, SnapshotWorkflow } from "../cairn/model.js";
import { loadSealedFile, loadSnapshotFromStore, type SealedSnapshot } from "../cairn/seal.js";
import type { TraceModel } from "./model.js";
import type { CcContract, CompiledRoute, Declarations, DeclaredNode, TopologyEntry, WorkflowDeclaration } from "./workspace.js";

/** The root of a recorded Cairn run (cairn/record.ts `CAIRN_ROOT_PREFIX`). */
const RUN_ROOT_PREFIX = "cairn-wf:";
const RUN_PARAMS_KIND = "cairn.workflow.run";

/** One step of a Cairn node as examine shows it. */
export interface CairnStepView {
  /** 0-based index in the node's pipeline. */
  index: number;
  id: string;
  kind: "ct" | "cs";
  /** `atom json_schema_validate (general:json_schema_validate)`, `user CT agent.normalize_owner (module ./m.ts, bundle sha256:…)`, `store agents REGISTER (registry CS_REGISTRY_V0.register, data root registry/agents.jsonl)`. */
  capability: string;
  /** The step as declared: `ct: <name>` / `cs: <store>, op: <OP>`. */
  declared: string;
  /** Inputs as declared (paths as text, `{const}`, `{object}`, `{array}`). */
  inputs: Record<string, unknown>;
  /** Per-outcome `on_result` (after defaults). */
  onResult: Record<string, string>;
  /** The store a CS step uses. */
  store?: { name: string; kind: string; path: string };
  /** The capability module of a user CT. */
  module?: { name: string; path: string; digest: string; outputs: string[] };
}

/** The declaration of a Cairn node (DeclarationView.cairn). */
export interface CairnNodeView {
  snapshot: { source: string; digest: Digest };
  workflow: string;
  /** The declaration file (base name, as sealed) and its SHA-256. */
  file: string;
  fileDigest: string;
  node: string;
  address: number;
  entry: boolean;
  maxVisits: number | null;
  steps: string[];
  /** The failing step, when known. */
  step?: CairnStepView;
  /** outcome → `node <key>` or `exit <NAME> (<reason>)`. */
  routes: Record<string, string>;
}

function bindingText(b: Binding): unknown {
  if ("bind" in b) return b.bind.path;
  if ("const" in b) return { const: b.const };
  if ("object" in b) return { object: Object.fromEntries(Object.entries(b.object).map(([k, x]) => [k, bindingText(x)])) };
  return { array: b.array.map(bindingText) };
}

function routeText(r: Route): string {
  return "node" in r ? `node ${r.node}` : `exit ${r.exit} (${r.reason})`;
}

/** `<ns>::<CODE>::<node>` → node key. */
function keyOf(fqdn: string): string {
  const i = fqdn.lastIndexOf("::");
  return i < 0 ? fqdn : fqdn.slice(i + 2);
}

function stepFqdn(s: SnapshotStep): string {
  if (s.kind === "cs") return `${s.store}:${s.op}`;
  return s.handler.type === "atom" ? `atom:${s.handler.name}` : `${s.handler.module}.${s.handler.capability}`;
}

/** True when the trace was written by the Cairn snapshot runtime. */
export function isCairnTrace(model: TraceModel): boolean {
  return model.wfAddr === null && typeof model.start?.detail.snapshot === "string";
}

/** The snapshot digest a Cairn trace names (WF_START.detail.snapshot). */
export function traceSnapshotDigest(model: TraceModel): Digest | null {
  const d = model.start?.detail.snapshot;
  return typeof d === "string" && isDigest(d) ? (d as Digest) : null;
}

/** Declarations of one workflow of a sealed Cairn snapshot. */
export class CairnSnapshotDeclarations implements Declarations {
  readonly kind = "cairn" as const;
  private readonly wf: SnapshotWorkflow | undefined;
  private readonly byAddr: Map<number, string>;

  constructor(
    readonly sealed: SealedSnapshot,
    /** Where the snapshot came from, as shown (a file path, or `store artifact sha256:…`). */
    readonly display: string,
    readonly wfFqdn: string,
  ) {
    this.wf = Object.prototype.hasOwnProperty.call(sealed.content.workflows, wfFqdn) ? sealed.content.workflows[wfFqdn] : undefined;
    this.byAddr = new Map(Object.entries(this.wf?.nodes ?? {}).map(([k, n]) => [n.addr, k]));
  }

  /** True when the snapshot holds the trace's workflow. */
  hasWorkflow(): boolean {
    return this.wf !== undefined;
  }

  fqdn(addr: number): string {
    const k = this.byAddr.get(addr);
    return k === undefined ? `0x${addr.toString(16).toUpperCase().padStart(4, "0")}` : `${this.wfFqdn}::${k}`;
  }

  /** Cairn nodes have no workflow-level binding: inputs are bound per step. */
  binding(): unknown {
    return undefined;
  }

  /** The node's steps as `{addr, step_id, step_fqdn, op}` (what examine's step locator reads). */
  pipeline(ccAddr: number): Array<Record<string, unknown>> | undefined {
    const k = this.byAddr.get(ccAddr);
    const n = k === undefined ? undefined : this.wf?.nodes[k];
    return n?.steps.map((s, i) => ({ addr: i + 1, step_id: s.id, step_fqdn: stepFqdn(s), op: s.kind === "cs" ? s.op : null }));
  }

  /** Routes are keyed by node, not by workflow address (Cairn traces have `wf_addr` null). */
  routes(_wfAddr: number, nodeAddr: number): CompiledRoute[] {
    const k = this.byAddr.get(nodeAddr);
    const n = k === undefined ? undefined : this.wf?.nodes[k];
    return Object.entries(n?.routes ?? {}).map(([status, r]) => ({ status, condition: status, target: "node" in r ? `${this.wfFqdn}::${r.node}` : r.exit }));
  }

  /**
   * The workflow as examine's declared walk reads it: one `CC` node per node key (routes by
   * outcome), and one `EXIT` node per distinct (exit name, reason) — keyed by the exit name, or
   * `<NAME>#<n>` when one name is declared with several reasons or collides with a node key.
   */
  workflow(wfFqdn: string): WorkflowDeclaration | undefined {
    const wf = wfFqdn === this.wfFqdn ? this.wf : undefined;
    if (wf === undefined) return undefined;
    const exits = new Map<string, Array<{ reason: string; key: string }>>();
    for (const n of Object.values(wf.nodes)) {
      for (const r of Object.values(n.routes)) {
        if (!("exit" in r)) continue;
        const list = exits.get(r.exit) ?? [];
        if (!list.some((x) => x.reason === r.reason)) list.push({ reason: r.reason, key: "" });
        exits.set(r.exit, list);
      }
    }
    const nodes = new Map<string, DeclaredNode>();
    for (const [name, list] of [...exits.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      list.forEach((x, i) => {
        x.key = list.length === 1 && wf.nodes[name] === undefined ? name : `${name}#${i + 1}`;
        nodes.set(x.key, { key: x.key, type: "EXIT", fqdn: null, next: {}, reason: x.reason, inputs: undefined, exit: name });
      });
    }
    const exitKey = (r: { exit: string; reason: string }) => (exits.get(r.exit)?.find((x) => x.reason === r.reason)?.key ?? r.exit);
    for (const [key, n] of Object.entries(wf.nodes)) {
      const next: Record<string, string> = {};
      for (const [o, r] of Object.entries(n.routes)) next[o] = "node" in r ? r.node : exitKey(r);
      nodes.set(key, { key, type: "CC", fqdn: `${this.wfFqdn}::${key}`, next, reason: null, inputs: undefined });
    }
    return { file: wf.source.file, start: wf.entry, nodes };
  }

  contract(): CcContract | undefined {
    return undefined;
  }

  topology(): TopologyEntry | undefined {
    return undefined;
  }

  /** The sealed snapshot stands in for every compiled file. */
  compiledFile(): string {
    return this.display;
  }

  snapshotDigest(): Digest {
    return this.sealed.digest;
  }

  /** The declaration of node `fqdn` (and of its step `stepIndex`, 0-based), or undefined. */
  cairnNode(fqdn: string, stepIndex?: number): CairnNodeView | undefined {
    const wf = this.wf;
    const key = keyOf(fqdn);
    const n = wf === undefined || !fqdn.startsWith(`${this.wfFqdn}::`) ? undefined : wf.nodes[key];
    if (wf === undefined || n === undefined) return undefined;
    const view: CairnNodeView = {
      snapshot: { source: this.display, digest: this.sealed.digest },
      workflow: this.wfFqdn,
      file: wf.source.file,
      fileDigest: wf.source.digest,
      node: key,
      address: n.addr,
      entry: key === wf.entry,
      maxVisits: n.maxVisits,
      steps: n.steps.map((s) => `${s.id}: ${stepFqdn(s)}`),
      routes: Object.fromEntries(Object.entries(n.routes).map(([o, r]) => [o, routeText(r)])),
    };
    const s = stepIndex === undefined ? undefined : n.steps[stepIndex];
    if (s !== undefined) view.step = this.stepView(wf, s, stepIndex as number);
    return view;
  }

  /** Payload members the steps of node `fqdn` up to `upto` (inclusive) read: `$.payload.<member>…`. */
  payloadReads(fqdn: string, upto: number): Array<{ step: string; input: string; path: string; member: string }> {
    const n = this.wf?.nodes[keyOf(fqdn)];
    const out: Array<{ step: string; input: string; path: string; member: string }> = [];
    const visit = (step: string, input: string, b: Binding) => {
      if ("bind" in b) {
        const first = b.bind.segments[0];
        if (b.bind.root === "payload" && typeof first === "string") out.push({ step, input, path: b.bind.path, member: first });
      } else if ("object" in b) for (const [k, x] of Object.entries(b.object)) visit(step, `${input}.${k}`, x);
      else if ("array" in b) b.array.forEach((x, i) => visit(step, `${input}.${i}`, x));
    };
    n?.steps.slice(0, upto + 1).forEach((s) => {
      for (const [name, b] of Object.entries(s.inputs)) visit(s.id, name, b);
    });
    return out;
  }

  private stepView(wf: SnapshotWorkflow, s: SnapshotStep, index: number): CairnStepView {
    const base = { index, id: s.id, inputs: Object.fromEntries(Object.entries(s.inputs).map(([k, b]) => [k, bindingText(b)])), onResult: { ...s.onResult } };
    if (s.kind === "cs") {
      const st = wf.stores[s.store];
      return {
        ...base, kind: "cs", declared: `cs: ${s.store}, op: ${s.op}`,
        capability: `store ${s.store} ${s.op} (${st?.kind ?? "?"} ${s.capability}.${s.method}, data root ${st?.path ?? "?"})`,
        ...(st === undefined ? {} : { store: { name: s.store, kind: st.kind, path: st.path } }),
      };
    }
    if (s.handler.type === "atom") {
      return { ...base, kind: "ct", declared: `ct: ${s.handler.name}`, capability: `atom ${s.handler.name} (${s.handler.ref})` };
    }
    const h = s.handler;
    const m = wf.modules[h.module];
    const outputs = this.sealed.content.modules[h.digest]?.capabilities[h.capability]?.outputs ?? [];
    return {
      ...base, kind: "ct", declared: `ct: ${h.module}.${h.capability}`,
      capability: `user CT ${h.module}.${h.capability} (module ${m?.path ?? "?"}, bundle ${h.digest})`,
      module: { name: h.module, path: m?.path ?? "?", digest: h.digest, outputs: [...outputs] },
    };
  }
}

export const NO_SNAPSHOT_NOTE =
  "no sealed snapshot to read the declarations from (give --snapshot FILE, the sealed file the run used, or --store with the run recorded): routes were not checked against the declaration";

/** Where examine may look for a Cairn trace's snapshot. */
export interface CairnSnapshotSource {
  /** `--snapshot`: a sealed file, or a digest to load from the store. */
  snapshot?: string;
  /** Opens the store (read-only) when one is configured; undefined when none is. Called at most once per lookup (the snapshot; the recorded trace), each store closed after it. */
  openStore?: () => Store | undefined;
}

export interface FoundSnapshot {
  sealed: SealedSnapshot;
  display: string;
  from: "file" | "store";
}

function receiptProgram(store: Store, traceId: string): Digest | undefined {
  const root = store.findRoot(`${RUN_ROOT_PREFIX}${traceId}`);
  if (root === undefined) return undefined;
  for (const e of store.lineage(root.digest, { direction: "up", depth: 1 }).edges) {
    if (e.type !== "execution" || e.role !== "output") continue;
    for (const from of e.from) {
      try {
        const r = store.getReceipt(from);
        if ((r.params as { kind?: unknown } | null)?.kind === RUN_PARAMS_KIND && r.outputs[0] === root.digest) return r.program;
      } catch (err) {
        // Not a receipt: the next. A receipt that does not match its digest is refused (E_STORE_CORRUPT).
        if (!isCairnError(err, ErrorCode.NOT_FOUND)) throw err;
      }
    }
  }
  return undefined;
}

/**
 * How a snapshot the store knows but cannot return gets back: its sealed file, or storing it
 * again (a put of the same bytes revives a tombstone, or stores swept bytes again; `cairn store
 * pin` cannot: pinning a tombstoned artifact is E_NOT_FOUND).
 */
const LOST_SNAPSHOT_REMEDY =
  "give --snapshot FILE (the sealed file the run used), or store the snapshot again: cairn wf compile of its unchanged declarations with this store stores the same snapshot, which restores it";

/** The note of a run whose snapshot `digest` the store knows but cannot return: the run is classified from its events. */
export function lostSnapshotNote(digest: Digest, loss: ArtifactLoss): string {
  return `the run's snapshot ${digest} ${ARTIFACT_LOSS_TEXT[loss]}: routes were not checked against the declaration. To check them, ${LOST_SNAPSHOT_REMEDY}`;
}

/** `--snapshot sha256:…` names a snapshot the store knows but cannot return: E_NOT_FOUND saying it is the one given. */
function lostGivenSnapshotError(digest: Digest, loss: ArtifactLoss): CairnError {
  return new CairnError(ErrorCode.NOT_FOUND, `--snapshot ${digest}: the snapshot given by --snapshot ${ARTIFACT_LOSS_TEXT[loss]}. Instead, ${LOST_SNAPSHOT_REMEDY}`, {
    field: "--snapshot", role: "snapshot", digest, reason: loss,
  });
}

/**
 * The verified snapshot `digest` from `store`, or how it is lost when the store knows it but
 * cannot return it (tombstoned, collected by gc). Any other failure (never stored,
 * E_SNAPSHOT_INTEGRITY) is thrown as it is.
 */
function loadFromStore(store: Store, digest: Digest): { sealed: SealedSnapshot } | { loss: ArtifactLoss } {
  try {
    return { sealed: loadSnapshotFromStore(store, digest) };
  } catch (err) {
    const loss = lossOfReadError(store, err, digest);
    if (loss === undefined) throw err;
    return { loss };
  }
}

/**
 * Finds and verifies the snapshot of a Cairn trace (see the module comment). Returns undefined
 * (with a note) when there is nowhere to look, the store does not hold it, or the store knows
 * it but cannot return it (tombstoned, collected by gc: `lostSnapshotNote`); an explicit
 * `--snapshot` that cannot be loaded (for a digest, also one tombstoned or collected) or fails
 * its integrity check throws.
 */
export function findCairnSnapshot(model: TraceModel, src: CairnSnapshotSource, notes: string[]): FoundSnapshot | undefined {
  let store: Store | undefined;
  let opened = false;
  const open = (): Store | undefined => {
    if (!opened) {
      opened = true;
      store = src.openStore?.();
    }
    return store;
  };
  try {
    if (src.snapshot !== undefined) {
      if (isDigest(src.snapshot)) {
        const s = open();
        if (s === undefined) throw new CairnError(ErrorCode.USAGE, `--snapshot ${src.snapshot} is a digest: give --store (or $CAIRN_STORE) to load it`, { field: "--snapshot" });
        const digest = src.snapshot as Digest;
        const got = loadFromStore(s, digest);
        if ("loss" in got) throw lostGivenSnapshotError(digest, got.loss);
        return { sealed: got.sealed, display: `store artifact ${digest}`, from: "store" };
      }
      return { sealed: loadSealedFile(src.snapshot), display: src.snapshot, from: "file" };
    }
    if (src.openStore === undefined) {
      notes.push(NO_SNAPSHOT_NOTE);
      return undefined;
    }
    let s: Store | undefined;
    try {
      s = open();
    } catch (err) {
      notes.push(`the store could not be opened, so the run's snapshot was not looked up there (${(err as Error).message}): routes were not checked against the declaration`);
      return undefined;
    }
    if (s === undefined) {
      notes.push(NO_SNAPSHOT_NOTE);
      return undefined;
    }
    const named = traceSnapshotDigest(model);
    const digest = (model.traceId === null ? undefined : receiptProgram(s, model.traceId)) ?? (named !== null && s.has(named) ? named : undefined);
    if (digest === undefined) {
      // Not recorded, and the snapshot the trace names is not visible: tombstoned, or never stored.
      const loss = named === null ? undefined : artifactLoss(s, named);
      if (named !== null && loss !== undefined) notes.push(lostSnapshotNote(named, loss));
      else notes.push(`the store holds neither a record of run ${model.traceId ?? "?"} nor snapshot ${named ?? "?"} (give --snapshot FILE): routes were not checked against the declaration`);
      return undefined;
    }
    const got = loadFromStore(s, digest);
    if ("loss" in got) {
      notes.push(lostSnapshotNote(digest, got.loss));
      return undefined;
    }
    return { sealed: got.sealed, display: `store artifact ${digest}`, from: "store" };
  } finally {
    store?.close();
  }
}
