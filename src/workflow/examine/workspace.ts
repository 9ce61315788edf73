/**
 * Where examine finds declarations: the PGS workspace a trace was written into.
 *
 * `cairn wf run` writes `<workspace>/traces/<domain>/<WF_CODE>/<trace_id>/<trace_id>.jsonl`,
 * so walking up from the trace finds the workspace: the first ancestor holding
 * `tokenized_snapshot/<domain>/dispatch.json`. From it examine reads, read-only and
 * best-effort (a missing or unreadable file just means less detail):
 *
 * - compiled: `tokenized_snapshot/<d>/dispatch.json` (routing, bindings, pipeline),
 *   `handlers.json`, `topology.json`, and `vocabulary_snapshot/<d>/forward.json`;
 * - declared: `protocol_snapshot/artifacts/workflows/<ns>__<WF>.json` (nodes with `next`
 *   routes, EXIT terminals) and `protocol_snapshot/artifacts/capability_contracts/<ns>__<CC>.json`.
 *
 * The snapshot digest is recomputed the way the runtime defines it (snapshot.ts: the canonical
 * digest of `{kind: "cairn.pgs.snapshot", version: 1, domain, files: [{path, digest}]}` over
 * its eight files in reading order) and compared with the one the run's summary records, so a
 * workspace edited after the run is reported rather than trusted.
 *
 * `Declarations` is the interface the classifier uses; sealed Cairn snapshots implement it in
 * cairn.ts (`CairnSnapshotDeclarations`).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { canonicalDigest } from "../../core/canonical.js";
import { sha256, type Digest } from "../../core/digest.js";
import type { CairnNodeView } from "./cairn.js";

/** One node of a declared workflow. */
export interface DeclaredNode {
  key: string;
  type: string;
  /** The capability this node runs (`fqdn_id`), when it runs one. */
  fqdn: string | null;
  next: Record<string, string>;
  reason: string | null;
  inputs: unknown;
  /** An `EXIT` node of a Cairn snapshot: the exit's name (its key may be `<NAME>#<n>`). */
  exit?: string;
}

export interface WorkflowDeclaration {
  /** File, relative to the workspace. */
  file: string;
  start: string;
  nodes: Map<string, DeclaredNode>;
}

/** The declaration of a CC: its contract file (relative to the workspace) and content. */
export interface CcContract {
  file: string;
  doc: Record<string, unknown>;
}

export interface TopologyEntry {
  file: string;
  address: number;
  kind: string;
  edges: Array<{ kind: string; to: string }>;
}

/** A compiled route out of a node: the status it is taken on and where it leads. */
export interface CompiledRoute {
  status: string;
  condition: string;
  target: string;
}

export interface Declarations {
  /** Workspace root as shown to the user. */
  readonly display: string;
  /** FQDN of an address (or `0x%04X`). */
  fqdn(addr: number): string;
  /** The compiled binding of a CC in a workflow (`bindings[wf][cc]`). */
  binding(wfAddr: number, ccAddr: number): unknown;
  /** The compiled step list of a CC (`pipeline[cc]`). */
  pipeline(ccAddr: number): Array<Record<string, unknown>> | undefined;
  /** Compiled routes out of a node of a workflow. */
  routes(wfAddr: number, nodeAddr: number): CompiledRoute[];
  /** PGS workspaces only: the atom stream of a CT's CT-IR (`handlers.json` `ct[addr].ct_ir.atom_stream`). */
  ctAtomStream?(ctAddr: number): Array<Record<string, unknown>> | undefined;
  workflow(wfFqdn: string): WorkflowDeclaration | undefined;
  contract(ccFqdn: string): CcContract | undefined;
  topology(addr: number): TopologyEntry | undefined;
  /** Relative path of a compiled file of the domain (for hints). */
  compiledFile(name: "dispatch.json" | "handlers.json" | "topology.json"): string;
  /** The current snapshot digest, or undefined when it cannot be computed. */
  snapshotDigest(): Digest | undefined;
  /**
   * Sealed Cairn snapshots only (cairn.ts): the declaration of a node (and of its step
   * `stepIndex`, 0-based), shown instead of a capability contract / topology entry.
   */
  cairnNode?(fqdn: string, stepIndex?: number): CairnNodeView | undefined;
  /** Sealed Cairn snapshots only: the payload members read by a node's steps up to `upto`. */
  payloadReads?(fqdn: string, upto: number): Array<{ step: string; input: string; path: string; member: string }>;
}

/** The snapshot files in the runtime's reading order (snapshot.ts `SNAPSHOT_FILES`). */
const SNAPSHOT_FILES = [
  ["tokenized_snapshot", "dispatch.json"],
  ["tokenized_snapshot", "handlers.json"],
  ["tokenized_snapshot", "metadata.json"],
  ["trust_snapshot", "structure_attestation.json"],
  ["vocabulary_snapshot", "forward.json"],
  ["vocabulary_snapshot", "reverse.json"],
  ["tokenized_snapshot", "topology.json"],
  ["vocabulary_snapshot", "metadata.json"],
] as const;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The workspace holding `tracePath` for `domain`: the first ancestor with a compiled snapshot of it. */
export function findWorkspace(tracePath: string, domain: string): string | undefined {
  let dir = dirname(resolve(tracePath));
  for (;;) {
    if (existsSync(join(dir, "tokenized_snapshot", domain, "dispatch.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** True when `dir` looks like a PGS workspace for `domain`. */
export function isWorkspace(dir: string, domain: string): boolean {
  return isDir(join(dir, "tokenized_snapshot", domain));
}

function readJson(abs: string): unknown {
  try {
    return JSON.parse(readFileSync(abs, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function hex(addr: number): string {
  return `0x${addr.toString(16).toUpperCase().padStart(4, "0")}`;
}

function nsOf(fqdn: string): string {
  const i = fqdn.indexOf("::");
  return i < 0 ? "" : fqdn.slice(0, i);
}
function codeOf(fqdn: string): string {
  const i = fqdn.lastIndexOf("::");
  return i < 0 ? fqdn : fqdn.slice(i + 2);
}

/** Declarations of a compiled PGS v0.3 workspace (integer addresses). */
export class PgsWorkspaceDeclarations implements Declarations {
  readonly display: string;
  private readonly cache = new Map<string, unknown>();
  private vocab: Map<number, string> | undefined;

  constructor(
    readonly root: string,
    readonly domain: string,
  ) {
    const rel = relative(process.cwd(), root);
    this.display = rel === "" ? "." : rel.startsWith("..") ? root : rel;
  }

  private json(rel: string): unknown {
    if (!this.cache.has(rel)) this.cache.set(rel, readJson(join(this.root, rel)));
    return this.cache.get(rel);
  }

  compiledFile(name: "dispatch.json" | "handlers.json" | "topology.json"): string {
    return `tokenized_snapshot/${this.domain}/${name}`;
  }

  private section(file: "dispatch.json" | "handlers.json", name: string): Record<string, unknown> {
    return obj(obj(this.json(this.compiledFile(file)))?.[name]) ?? {};
  }

  fqdn(addr: number): string {
    if (this.vocab === undefined) {
      this.vocab = new Map();
      const fwd = obj(this.json(`vocabulary_snapshot/${this.domain}/forward.json`)) ?? {};
      for (const [k, v] of Object.entries(fwd)) {
        const n = parseInt(k, 16);
        if (Number.isSafeInteger(n) && typeof v === "string") this.vocab.set(n, v);
      }
    }
    return this.vocab.get(addr) ?? hex(addr);
  }

  binding(wfAddr: number, ccAddr: number): unknown {
    return obj(this.section("dispatch.json", "bindings")[String(wfAddr)])?.[String(ccAddr)];
  }

  pipeline(ccAddr: number): Array<Record<string, unknown>> | undefined {
    const steps = this.section("dispatch.json", "pipeline")[String(ccAddr)];
    return Array.isArray(steps) ? steps.map((s) => obj(s) ?? {}) : undefined;
  }

  ctAtomStream(ctAddr: number): Array<Record<string, unknown>> | undefined {
    const stream = obj(obj(this.section("handlers.json", "ct")[String(ctAddr)])?.ct_ir)?.atom_stream;
    return Array.isArray(stream) ? stream.map((s) => obj(s) ?? {}) : undefined;
  }

  routes(wfAddr: number, nodeAddr: number): CompiledRoute[] {
    const conds = obj(obj(this.section("dispatch.json", "routing")[String(wfAddr)])?.[String(nodeAddr)]) ?? {};
    return Object.entries(conds).map(([cond, target]) => {
      const c = this.fqdn(Number(cond));
      const status = c.startsWith("transition::") ? c.slice("transition::".length) : c.startsWith("outcome::") ? c.slice("outcome::".length) : c;
      return { status, condition: c, target: typeof target === "number" ? this.fqdn(target) : JSON.stringify(target) };
    });
  }

  workflow(wfFqdn: string): WorkflowDeclaration | undefined {
    const file = `protocol_snapshot/artifacts/workflows/${nsOf(wfFqdn)}__${codeOf(wfFqdn)}.json`;
    const core = obj(obj(obj(this.json(file))?.frontmatter)?.core);
    const nodesIn = obj(core?.nodes);
    if (core === undefined || nodesIn === undefined || typeof core.start_node !== "string") return undefined;
    const nodes = new Map<string, DeclaredNode>();
    for (const [key, v] of Object.entries(nodesIn)) {
      const n = obj(v) ?? {};
      const next: Record<string, string> = {};
      for (const [s, t] of Object.entries(obj(n.next) ?? {})) if (typeof t === "string") next[s] = t;
      const fq = typeof n.fqdn_id === "string" ? n.fqdn_id : typeof n.code === "string" ? `${nsOf(wfFqdn)}::${n.code}` : null;
      nodes.set(key, { key, type: typeof n.type === "string" ? n.type : "", fqdn: fq, next, reason: typeof n.reason === "string" ? n.reason : null, inputs: n.inputs });
    }
    return { file, start: core.start_node, nodes };
  }

  contract(ccFqdn: string): CcContract | undefined {
    const file = `protocol_snapshot/artifacts/capability_contracts/${nsOf(ccFqdn)}__${codeOf(ccFqdn)}.json`;
    const doc = obj(this.json(file));
    return doc === undefined ? undefined : { file, doc };
  }

  topology(addr: number): TopologyEntry | undefined {
    const file = this.compiledFile("topology.json");
    const t = obj(this.json(file));
    const nodes = Array.isArray(t?.nodes) ? t.nodes : [];
    const node = nodes.map(obj).find((n) => n?.address === addr);
    if (node === undefined) return undefined;
    const edges = (Array.isArray(t?.edges) ? t.edges : [])
      .map(obj)
      .filter((e): e is Record<string, unknown> => e !== undefined && e.from === addr)
      .map((e) => ({ kind: typeof e.kind === "number" ? this.fqdn(e.kind) : String(e.kind), to: typeof e.to === "number" ? this.fqdn(e.to) : String(e.to) }));
    // Edges repeat in topology.json (one per binding); keep each once.
    const seen = new Set<string>();
    const unique = edges.filter((e) => (seen.has(`${e.kind}>${e.to}`) ? false : (seen.add(`${e.kind}>${e.to}`), true)));
    return { file, address: addr, kind: typeof node.kind === "number" ? this.fqdn(node.kind) : String(node.kind), edges: unique };
  }

  snapshotDigest(): Digest | undefined {
    const files: Array<{ path: string; digest: Digest }> = [];
    for (const [dir, name] of SNAPSHOT_FILES) {
      const path = `${dir}/${this.domain}/${name}`;
      try {
        files.push({ path, digest: sha256(readFileSync(join(this.root, path))) });
      } catch {
        return undefined;
      }
    }
    return canonicalDigest({ kind: "cairn.pgs.snapshot", version: 1, domain: this.domain, files });
  }
}
