/**
 * The sealed Cairn snapshot: what `cairn wf compile` produces and `cairn wf run --snapshot`
 * executes. Plain JSON (RFC 8785 canonical form on disk and in the store), every capability
 * binding resolved: atoms by handler ref, user CTs by module digest (the bundle text is part of
 * the content), CS steps by runtime, operation → method, and the expanded-at-run-time config;
 * routes expanded so that every outcome a node can end with maps to a node or an exit.
 */
import type { SnapshotLaneBinding } from "./lane-compile.js";
import type { Outcome } from "./schema.js";

/** Hop limit of the Cairn runtime: the 65th visited node fails the run (E_LIMIT_EXCEEDED, reason hop_limit). */
export const CAIRN_MAX_HOPS = 64;
export const SNAPSHOT_KIND = "cairn.workflow.snapshot";
export const SNAPSHOT_VERSION = 1;
/** The envelope written to `--out`: `{format, digest, content}` (canonical JSON). */
export const SNAPSHOT_FILE_FORMAT = "cairn.workflow.sealed/v1";

/** A parsed binding path: `$.<root>[.<name>](.<seg>|[<n>])*`. */
export interface PathBinding {
  path: string;
  root: "payload" | "results" | "steps";
  /** The node (results) or step (steps) named after the root; null for payload. */
  name: string | null;
  segments: Array<string | number>;
}

export type Binding = { bind: PathBinding } | { const: unknown; floats?: string[] } | { object: Record<string, Binding> } | { array: Binding[] };

export type OnResult = "continue" | "exit";

export interface StepBase {
  id: string;
  /** Resolved step inputs, by input name. */
  inputs: Record<string, Binding>;
  /** Fields of the step's result. */
  outputs: string[];
  /** The declared outcome set of the capability. */
  outcomes: Outcome[];
  /** Action per outcome of `outcomes`. */
  onResult: Record<string, OnResult>;
  /** Present when the step is bound to an execution-plane lane (lane-compile.ts, lane-step.ts). */
  lane?: SnapshotLaneBinding;
}

export interface AtomStep extends StepBase {
  kind: "ct";
  handler: { type: "atom"; name: string; ref: string };
}

export interface UserCtStep extends StepBase {
  kind: "ct";
  handler: { type: "user"; module: string; digest: string; capability: string };
}

export interface CsStep extends StepBase {
  kind: "cs";
  store: string;
  capability: string;
  op: string;
  method: string;
}

export type SnapshotStep = AtomStep | UserCtStep | CsStep;

export type Route = { node: string } | { exit: string; reason: string };

export interface SnapshotNode {
  /** Integer address in traces (1-based index of the node key in sorted order). */
  addr: number;
  maxVisits: number | null;
  steps: SnapshotStep[];
  /** Outcomes the node can end with. */
  outcomes: Outcome[];
  /** Every outcome of `outcomes` → where it leads (a `default` route is expanded here). */
  routes: Record<string, Route>;
}

export interface SnapshotStore {
  kind: "registry" | "appendonly" | "mutable";
  capability: string;
  /** Relative to the data root. */
  path: string;
}

export interface SnapshotWorkflow {
  namespace: string;
  code: string;
  description: string | null;
  source: { file: string; digest: string };
  entry: string;
  maxHops: number;
  stores: Record<string, SnapshotStore>;
  modules: Record<string, { path: string; digest: string }>;
  nodes: Record<string, SnapshotNode>;
}

export interface SnapshotModule {
  /** The CommonJS bundle text; its SHA-256 is the key of this entry. */
  code: string;
  capabilities: Record<string, { outputs: string[] }>;
}

export interface SnapshotContent {
  kind: typeof SNAPSHOT_KIND;
  version: typeof SNAPSHOT_VERSION;
  format: string;
  maxHops: number;
  workflows: Record<string, SnapshotWorkflow>;
  /** User CT bundles by digest. */
  modules: Record<string, SnapshotModule>;
}
