/**
 * The outcome classes of a traced run (their table: classify.ts) and the shapes of a
 * classification: the path, the terminal, the failing node, its step, binding problem and
 * declaration.
 */
import type { CairnNodeView } from "./cairn.js";
import type { TopologyEntry } from "./workspace.js";

export const OUTCOME_CLASSES = [
  "success",
  "business_violation",
  "expression_binding_error",
  "ct_error",
  "cs_runtime_error",
  "graph_structure_error",
  "admission_error",
  "incomplete",
] as const;
export type OutcomeClass = (typeof OUTCOME_CLASSES)[number];

/** Classes that exit 0. */
export const PASSING_CLASSES: ReadonlySet<OutcomeClass> = new Set<OutcomeClass>(["success", "business_violation"]);

/** CC statuses that are not a "no". */
export const POSITIVE = new Set(["SUCCESS", "ALREADY_EXISTS", "ACK"]);
export const BACKEND_ERROR = "BACKEND_ERROR";
/** The status a boundary (IN_ / EXIT_) node gives a PGS run (SEMANTICS A.5). */
export const ACK = "ACK";
export const VIOLATION = "VIOLATION";
/** The executor's message for a CT whose atom raised (the deliberate violation channel, A.9). */
export const ATOM_RAISED = "Atom raised exception: ";

export interface StepRef {
  /** Index in the CC's pipeline. */
  index: number;
  id: string | null;
  address: number | null;
  fqdn: string | null;
  /** CS operation; null for a CT step. */
  op: string | null;
  kind: "CT" | "CS" | null;
}

export interface BindingProblem {
  level: "workflow" | "step";
  /** The CC input (workflow level) or step input (step level) concerned. */
  input: string;
  /** The path expression as compiled. */
  path: string;
  problem: string;
  structural: boolean;
  step?: string;
}

export interface DeclarationView {
  source: "capability_contract" | "topology" | "cairn_snapshot";
  file: string;
  node: string;
  /** Contract: the declared CC inputs (`frontmatter.core.inputs`). */
  inputs?: unknown;
  /** Contract: the declared pipeline step with the failing step's id. */
  step?: unknown;
  /** Topology: the node's entry. */
  topology?: TopologyEntry;
  /** The workflow declaration's node for this visit. */
  workflow?: { file: string; node: string; next: Record<string, string>; inputs?: unknown };
  /** What the runtime executed (dispatch.json). */
  compiled?: { file: string; binding?: unknown; step?: unknown; routes: Record<string, string> };
  /** A sealed Cairn snapshot's node (and failing step) declaration (source `cairn_snapshot`). */
  cairn?: CairnNodeView;
}

export interface Failure {
  node: string;
  address: number | null;
  event: { line: number; seq: number | null; type: string };
  message: string;
  step?: StepRef;
  binding?: BindingProblem;
  declaration?: DeclarationView;
  /**
   * A run that hit its trace limit at the `CC_STEP` of a step whose side effect was applied: the
   * effect its `ERROR` event records (`detail.untraced_effect`, pgs/trace.ts `emitRunError`).
   */
  untracedEffect?: UntracedEffectView;
}

/** An applied side effect whose `CC_STEP` is not in the trace (`ERROR.detail.untraced_effect`). */
export interface UntracedEffectView {
  cc: string;
  step: string;
  op: string | null;
  status: string;
}

export interface PathEntry {
  node: string;
  address: number;
  status: string | null;
  /** The declared node key, when a workflow declaration was walked. */
  declared?: string;
}

export interface Terminal {
  /** Declared EXIT node reached, if known. */
  exit?: string;
  reason?: string | null;
  /** True when a workflow declaration confirmed how the run ended. */
  declared: boolean;
}

export interface Classification {
  class: OutcomeClass;
  status: string | null;
  path: PathEntry[];
  terminal?: Terminal;
  failure?: Failure;
  hint: string;
  notes: string[];
}
