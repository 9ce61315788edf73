/**
 * Outcome classification of a traced run, and the failing node.
 *
 * The classes:
 *
 * | class                      | meaning                                                                 | exit |
 * |----------------------------|-------------------------------------------------------------------------|------|
 * | `success`                  | the run ended with SUCCESS / ALREADY_EXISTS at its terminal, no "no"    | 0    |
 * | `business_violation`       | a governed "no": a CC outcome such as VIOLATION / NOT_FOUND was routed   | 0    |
 * |                            | by the workflow (onward, or to a declared EXIT terminal)                |      |
 * | `expression_binding_error` | a binding path resolved to nothing or is not in the grammar             | 1    |
 * | `ct_error`                 | a CT failed unexpectedly, or its VIOLATION was not routed               | 1    |
 * | `cs_runtime_error`         | a CS raised (I/O, confinement, config, input) or returned BACKEND_ERROR | 1    |
 * | `graph_structure_error`    | missing route, hop limit, unknown node/address, routing ≠ declaration   | 1    |
 * | `admission_error`          | integrity/trust failure, unmapped or malformed handler_ref              | 1    |
 * | `incomplete`               | the trace ends without WF_COMPLETE or ERROR (broken chain if chained)   | 1    |
 *
 * ## Runs aborted by a runtime error (the trace ends with `ERROR`)
 *
 * The runtime writes `ERROR {message}` (run.ts `runErrorMessage`: the exception's text) and
 * no WF_COMPLETE. The message is all the v0.3 writer records, so the mapping is on the texts
 * its throw sites produce (first match wins). A Cairn ERROR (cairn/run.ts) also carries
 * `detail.code` (the CairnError code, `E_INTERNAL` for any other exception) and, when the error
 * has one, `detail.reason` (its `details.reason`): a known reason decides (the table's reason
 * column, plus `visit_bound` → `graph_structure_error`, `ct_timeout` → `ct_error`), else the code
 * (`CODE_CLASS`: `E_SNAPSHOT_INTEGRITY`, `E_HANDLER_UNMAPPED`, `E_PLANE_REJECTED` →
 * `admission_error`; `E_PATH_CONFINEMENT`, `E_STORE_CORRUPT`, `E_STORE_IO` →
 * `cs_runtime_error`), else the location (last row) — an ERROR with a code is never classified
 * by its text. The text rules serve traces without a code (PGS traces, Cairn traces of earlier
 * versions) and are matched against the message with its quoted parts emptied (`"…"`, and
 * `'…'` not inside a word: `unquotedText`), so a quoted path or value — a data root directory
 * named `audit-integrity` — never decides the class.
 *
 * | ERROR message (writer)                                                   | reason                      | class                      |
 * |--------------------------------------------------------------------------|-----------------------------|----------------------------|
 * | contains `snapshot integrity` (trust.ts, cairn/seal.ts)                  | `snapshot_integrity`        | `admission_error`          |
 * | `unmapped CT|CS handler_ref <ref> (<where>): …` (handlers.ts)            | `unmapped_handler_ref`      | `admission_error`          |
 * | `handlers.json: cs["N"].handler_ref lacks module or callable` (cs.ts)    | `bad_handler_ref`           | `admission_error`          |
 * | `CS handler "…" is not in the sealed CS registry` (effects)              | —                           | `admission_error`          |
 * | `… is not in the sealed atom|CS table`, `… user CT module … is not in the snapshot` (cairn/run.ts) | —  | `admission_error`          |
 * | `plane admission rejected lane-bound step …` (cairn/lane-step.ts)       | `plane_admission_rejected`  | `admission_error`          |
 * | `WF '…' exceeded N topology hops — possible cycle…` (engine.ts)          | `hop_limit`                 | `graph_structure_error`    |
 * | `trace … would exceed its size limit of N bytes (MAX_TRACE_BYTES): …` (pgs/trace.ts) | `trace_limit`   | `graph_structure_error`    |
 * | `CT addr N not found in handlers…` / `CS addr N …` (cs.ts)               | `unknown_ct_addr` / `_cs_`  | `graph_structure_error`    |
 * | `FQDN not in vocab: …` / `No entry point for WF …`                       | —                           | `graph_structure_error`    |
 * | `dispatch.json: bindings[…][…] must be an object` (engine.ts)            | `bad_binding`               | `expression_binding_error` |
 * | `dispatch.json: pipeline[…][i].inputs|outputs must be an object`         | `bad_step`                  | `expression_binding_error` |
 * | other `dispatch.json: …` (step not an object, addr, op, on_result)       | `bad_step`                  | `graph_structure_error`    |
 * | `CT-IR …`, `Atom raised exception: …`, `Atom returned None: …`, `CT output …`, `CT execution failed: …` (CT_EXECUTION_FAILED) | — | `ct_error` |
 * | `path confinement: …`, `… under the data root …`, `… torn line …`, `CS_<NAME>_V<n>…: …`, `rb_policy entry …`, `data root …`, `effect clock …`, `cannot serialise …`, `JSON nesting …` (effects errors.ts) | `path_confinement`, `data_root_io`, `cs_config`, `cs_input`, `torn_jsonl_tail`, `unserialisable_value`, `not_regular_file`, `cs_clock`, `read_limit` (appendonly.ts) | `cs_runtime_error` |
 * | anything else                                                            | —                           | by location: in a CS step → `cs_runtime_error`, in a CT step → `ct_error`, in a CC whose step is unknown (no workspace) → `cs_runtime_error` (CT failures never abort a run: they are VIOLATIONs), outside a CC → `graph_structure_error` |
 *
 * In every case a structural binding problem found at the failing CC (below) takes precedence
 * over `ct_error` / `cs_runtime_error`: it is the cause.
 *
 * The failing node of an aborted run is the CC in progress; else, for a Cairn hop-limit or
 * max_visits error (checked before the node starts), the node the error names (`… (hop limit) at
 * node <key>: …`, `node <key> of WF '…' would run …`) — the node the run was about to enter, not
 * the last one that completed; else an address the message names; else the last CC.
 *
 * ## Completed runs (the trace ends with `WF_COMPLETE {result_status}`)
 *
 * A CC status outside {SUCCESS, ALREADY_EXISTS, ACK} is a *negative outcome*. v0.3 compiles
 * the routes into EXIT nodes away (a missing compiled route ends the run), so whether the end
 * was declared is read from the workflow declaration
 * (`protocol_snapshot/artifacts/workflows/<ns>__<WF>.json`): the declared graph is walked along
 * the trace's CCs and statuses. In order:
 *
 * 1. a negative CC with a structural binding problem → `expression_binding_error`;
 * 2. declared walk: the trace diverges from the declared routes, or stops where the declaration
 *    routes on to a node, or no CC ran → `graph_structure_error`; the last outcome has no
 *    declared route → `ct_error` when it is a CT VIOLATION, `cs_runtime_error` for
 *    BACKEND_ERROR, else `graph_structure_error`;
 * 3. a negative CC with BACKEND_ERROR → `cs_runtime_error`; with a CT VIOLATION whose error is
 *    not an atom's deliberate raise (malformed CT-IR, `Atom returned None`, missing output) →
 *    `ct_error`;
 * 4. any other negative CC → `business_violation` (the failing node is the CC whose "no" ended
 *    the run — the last one, as the run's summary names it — else the first "no"; earlier "no"s
 *    routed onward are named in the hint, and the data note is the failing node's); a run
 *    routed to a declared EXIT whose reason is `FAILED` → `business_violation`;
 * 5. otherwise → `success`.
 *
 * Without a declaration the end of the run is assumed declared (that is how every v0.3
 * terminal looks) and the hint says so.
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
import { codeOf, type CcVisit, type TraceEvent, type TraceModel } from "./model.js";
import type { CairnNodeView } from "./cairn.js";
import { CAIRN_MAX_HOPS } from "../cairn/model.js";
import type { Declarations, DeclaredNode, TopologyEntry, WorkflowDeclaration } from "./workspace.js";
import { UNTRACED_EFFECT_MEMBER } from "../pgs/trace.js";

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
const POSITIVE = new Set(["SUCCESS", "ALREADY_EXISTS", "ACK"]);
const BACKEND_ERROR = "BACKEND_ERROR";
const VIOLATION = "VIOLATION";
/** The executor's message for a CT whose atom raised (the deliberate violation channel, A.9). */
const ATOM_RAISED = "Atom raised exception: ";

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

// ---------------------------------------------------------------------------------------------
// ERROR message mapping

type ErrorRule = { test: RegExp; cls: OutcomeClass | "by_location" };

const REASON_CLASS: Record<string, OutcomeClass> = {
  snapshot_integrity: "admission_error",
  unmapped_handler_ref: "admission_error",
  bad_handler_ref: "admission_error",
  plane_admission_rejected: "admission_error",
  hop_limit: "graph_structure_error",
  visit_bound: "graph_structure_error",
  trace_limit: "graph_structure_error",
  ct_timeout: "ct_error",
  unknown_ct_addr: "graph_structure_error",
  unknown_cs_addr: "graph_structure_error",
  bad_binding: "expression_binding_error",
  path_confinement: "cs_runtime_error",
  data_root_io: "cs_runtime_error",
  cs_config: "cs_runtime_error",
  cs_input: "cs_runtime_error",
  torn_jsonl_tail: "cs_runtime_error",
  unserialisable_value: "cs_runtime_error",
  not_regular_file: "cs_runtime_error",
  cs_clock: "cs_runtime_error",
  read_limit: "cs_runtime_error",
};

/**
 * `detail.code` of a Cairn ERROR event (the `CairnError` code) → class, when the reason does not
 * decide. Codes that several kinds of failure share (`E_LIMIT_EXCEEDED`, `E_INVALID_INPUT`,
 * `E_INTERNAL`…) are not here: without a known reason they go by location.
 */
const CODE_CLASS: Record<string, OutcomeClass> = {
  E_SNAPSHOT_INTEGRITY: "admission_error",
  E_HANDLER_UNMAPPED: "admission_error",
  E_PLANE_REJECTED: "admission_error",
  E_PATH_CONFINEMENT: "cs_runtime_error",
  E_STORE_CORRUPT: "cs_runtime_error",
  E_STORE_IO: "cs_runtime_error",
};

/**
 * The message with its quoted parts emptied — `"…"` (JSON strings: paths, keys, values) and
 * `'…'` (Python reprs, the quote not inside a word) —, so that a word inside a quoted path or value
 * (a data-root directory named `audit-integrity`) never decides a class or a hint. The text
 * rules below are matched against this.
 */
export function unquotedText(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"|(?<![\p{L}\p{N}_])'(?:[^'\\]|\\.)*'(?![\p{L}\p{N}_])/gu, (q) => q[0] === '"' ? '""' : "''");
}

/** The trace writer's size-limit error (pgs/trace.ts, `details.reason` `trace_limit`). */
const TRACE_LIMIT_TEXT = /would exceed its size limit of \d+ bytes \(MAX_TRACE_BYTES\)/;

/** The snapshot-integrity failures of the writers (trust.ts, cairn/seal.ts, cairn/run.ts). */
const INTEGRITY_TEXT = /\bsnapshot integrity\b/i;

const ERROR_RULES: ErrorRule[] = [
  { test: INTEGRITY_TEXT, cls: "admission_error" },
  { test: /^unmapped (CT|CS) handler_ref /, cls: "admission_error" },
  { test: /handler_ref lacks module or callable/, cls: "admission_error" },
  { test: /is not in the sealed CS registry/, cls: "admission_error" },
  { test: /is not in the sealed (atom|CS) table|: user CT module sha256:[0-9a-f]+ is not in the snapshot/, cls: "admission_error" },
  { test: /^plane admission rejected /, cls: "admission_error" },
  { test: /exceeded \d+ topology hops/, cls: "graph_structure_error" },
  { test: TRACE_LIMIT_TEXT, cls: "graph_structure_error" },
  { test: /^C[TS] addr -?\d+ not found in handlers/, cls: "graph_structure_error" },
  { test: /^FQDN not in vocab: |^No entry point for WF /, cls: "graph_structure_error" },
  { test: /^dispatch\.json: bindings\[/, cls: "expression_binding_error" },
  { test: /^dispatch\.json: pipeline\[[^\]]*\]\[\d+\]\.(inputs|outputs) must be an object/, cls: "expression_binding_error" },
  { test: /^dispatch\.json: /, cls: "graph_structure_error" },
  { test: /^(CT-IR |Atom raised exception: |Atom returned None: |CT output |CT execution failed: )|CT_EXECUTION_FAILED/, cls: "ct_error" },
  {
    test: /^path confinement: |under the data root|ends in a torn line|\bCS_[A-Z0-9_]+_V\d+\b|^rb_policy entry|^data root |^effect clock|^cannot serialise |^JSON nesting deeper|^parent directory of /,
    cls: "cs_runtime_error",
  },
];

/**
 * CS failures whose cause the error itself names, whatever the CC's inputs were: the data root's
 * state or the host (a torn log, a path that escapes, an I/O error, a clock). A binding problem
 * found at the same CC (e.g. the v0.3 binding collapse, present in successful runs too) does not
 * explain them, so it does not reclassify them.
 */
const DEFINITE_CS_REASONS: ReadonlySet<string> = new Set(["path_confinement", "data_root_io", "torn_jsonl_tail", "not_regular_file", "cs_clock", "read_limit"]);
const DEFINITE_CS_MESSAGE = /^path confinement: |under the data root|ends in a torn line|^data root |^effect clock|^parent directory of |is not a regular file|this read of the append-only log would return /;

/** Whether an ERROR's cause is definite (see DEFINITE_CS_REASONS). */
function hasDefiniteCause(message: string, reason?: string, code?: string): boolean {
  if (reason !== undefined) return DEFINITE_CS_REASONS.has(reason);
  return code === undefined && DEFINITE_CS_MESSAGE.test(unquotedText(message));
}

/**
 * The class of an ERROR event, or "by_location". A Cairn ERROR carries the error's `code` (and
 * its `reason`, when it has one): the reason decides when it is known, else the code; a trace
 * with a code is never classified by its text. Without a code (PGS traces, Cairn traces written
 * before the code was recorded) the first text rule matching the message outside its quoted
 * parts (`unquotedText`) decides.
 */
export function classifyErrorMessage(message: string, reason?: string, code?: string): OutcomeClass | "by_location" {
  if (reason !== undefined && REASON_CLASS[reason] !== undefined) return REASON_CLASS[reason];
  if (code !== undefined) return CODE_CLASS[code] ?? "by_location";
  const text = unquotedText(message);
  for (const r of ERROR_RULES) if (r.test.test(text)) return r.cls;
  return "by_location";
}

/** An ERROR event's message and structured cause (`detail.reason`, `detail.code`: Cairn traces). */
interface ErrorCause {
  message: string;
  reason?: string;
  code?: string;
}

function errorCause(err: TraceEvent): ErrorCause {
  const c: ErrorCause = { message: typeof err.detail.message === "string" ? err.detail.message : show(err.detail) };
  if (typeof err.detail.reason === "string") c.reason = err.detail.reason;
  if (typeof err.detail.code === "string") c.code = err.detail.code;
  return c;
}

/** Whether the ERROR is a snapshot-integrity failure (by reason, code, else the text outside quotes). */
function isIntegrityError(c: ErrorCause): boolean {
  if (c.reason !== undefined || c.code !== undefined) return c.reason === "snapshot_integrity" || c.code === "E_SNAPSHOT_INTEGRITY";
  return INTEGRITY_TEXT.test(unquotedText(c.message));
}

/** Whether the ERROR is the trace writer's size limit (by reason, else the text of a trace without a code). */
function isTraceLimit(c: ErrorCause): boolean {
  return c.reason === "trace_limit" || (c.reason === undefined && c.code === undefined && TRACE_LIMIT_TEXT.test(unquotedText(c.message)));
}

function traceLimitHint(at: string, message: string, more: string, effect: UntracedEffectView | undefined): string {
  const applied = effect === undefined ? "" : ` ${untracedEffectSentence(effect)}`;
  return `the run's trace reached its size limit at ${at}: ${message}.${applied} Every CC_START and CC_STEP event records its inputs: bind smaller values there, or make the run visit fewer nodes${more}.`;
}

/** The applied but untraced effect an ERROR event records (`detail.untraced_effect`), when well-formed. */
function untracedEffectOf(err: TraceEvent): UntracedEffectView | undefined {
  const e = obj(err.detail[UNTRACED_EFFECT_MEMBER]);
  if (e === undefined || typeof e.cc !== "string" || typeof e.step !== "string" || typeof e.status !== "string" || (e.op !== null && typeof e.op !== "string")) return undefined;
  return { cc: e.cc, step: e.step, op: e.op, status: e.status };
}

/** What examine says of an applied but untraced effect (hint and human output). */
export function untracedEffectSentence(e: UntracedEffectView): string {
  return `The side effect of step ${e.step}${e.op === null ? "" : ` (${e.op})`} of ${e.cc} WAS applied (${e.status}): its CC_STEP did not fit the trace, and the ERROR event records it (detail.${UNTRACED_EFFECT_MEMBER}); the data root holds that effect.`;
}

/** Which run limit the ERROR reports: Cairn's hop limit or a node's max_visits (by reason, else the text). */
function limitOf(c: ErrorCause): "hop_limit" | "visit_bound" | undefined {
  if (c.reason === "hop_limit" || c.reason === "visit_bound") return c.reason;
  if (c.reason !== undefined || c.code !== undefined) return undefined;
  const text = unquotedText(c.message);
  return /exceeded \d+ topology hops/.test(text) ? "hop_limit" : /\bmax_visits \d+$/.test(text) ? "visit_bound" : undefined;
}

/**
 * The Cairn node key a limit error names: the node the run was about to enter when it hit the
 * hop limit (`… (hop limit) at node <key>: …`) or the node past its max_visits (`node <key> of
 * WF '…' would run …`) — not the last node that completed (cairn/run.ts throw sites).
 */
function limitNodeKey(c: ErrorCause): string | undefined {
  const m = / \(hop limit\) at node ([A-Za-z_][A-Za-z0-9_]*): |^node ([A-Za-z_][A-Za-z0-9_]*) of WF '/.exec(c.message);
  return m === null ? undefined : (m[1] ?? m[2]);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function show(v: unknown, max = 160): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Calls `f` for every leaf of a binding value, with its key path. */
function leaves(v: unknown, path: string[], f: (path: string[], leaf: unknown) => void): void {
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...path, String(i)], f));
  else if (obj(v) !== undefined) for (const [k, x] of Object.entries(v as Record<string, unknown>)) leaves(x, [...path, k], f);
  else f(path, v);
}

function getPath(v: unknown, path: string[]): unknown {
  let cur: unknown = v;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (obj(cur) !== undefined) cur = (cur as Record<string, unknown>)[seg];
    else return undefined;
  }
  return cur;
}

const firstSegment = (s: string): string => s.split(".")[0] as string;

function eventRef(e: TraceEvent): Failure["event"] {
  return { line: e.line, seq: e.seq, type: e.type };
}

function stepOf(v: CcVisit, index: number, decl: Declarations | undefined): StepRef {
  const ev = v.steps[index];
  const compiled = decl?.pipeline(v.addr)?.[index];
  const addr = ev?.stepAddr ?? (typeof compiled?.addr === "number" ? compiled.addr : null);
  const op = ev !== undefined ? ev.stepOp : compiled === undefined ? null : typeof compiled.op === "string" ? compiled.op : null;
  const fq = typeof ev?.detail.step_fqdn === "string" ? ev.detail.step_fqdn : typeof compiled?.step_fqdn === "string" ? compiled.step_fqdn : addr !== null && decl !== undefined ? decl.fqdn(addr) : null;
  // The compiled step id; Cairn traces also record it in CC_STEP.detail.step_id; else the run's summary may name it.
  const id = typeof compiled?.step_id === "string" && compiled.step_id !== "" ? compiled.step_id : typeof ev?.detail.step_id === "string" && ev.detail.step_id !== "" ? ev.detail.step_id : (v.summaryStepIds?.get(index) ?? null);
  const known = ev !== undefined || compiled !== undefined;
  return { index, id, address: addr, fqdn: fq, op, kind: known ? (op === null ? "CT" : "CS") : null };
}

function stepName(s: StepRef | undefined): string {
  if (s === undefined) return "";
  return `step ${s.id ?? s.index}${s.fqdn === null ? "" : ` (${s.kind === "CS" ? withOp(s.fqdn, s.op) : s.fqdn})`}`;
}

/** `<fqdn> <op>`, unless the step name already ends with `:<op>` (Cairn's `<store>:<OP>`). */
export function withOp(fqdn: string, op: string | null): string {
  return op === null || op === "" || fqdn.endsWith(`:${op}`) ? fqdn : `${fqdn} ${op}`;
}

/** The CC_STEP whose status became the CC's: the last executed one. */
function causeStep(v: CcVisit): TraceEvent | undefined {
  return v.steps[v.steps.length - 1];
}

function isUnexpectedCtFailure(v: CcVisit): boolean {
  const s = causeStep(v);
  if (s === undefined || s.stepOp !== null || v.status !== VIOLATION) return false;
  const err = s.detail.error;
  return typeof err === "string" && !err.startsWith(ATOM_RAISED);
}

function isCtViolation(v: CcVisit): boolean {
  const s = causeStep(v);
  return v.status === VIOLATION && s !== undefined && s.stepOp === null;
}

// ---------------------------------------------------------------------------------------------
// Binding problems

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

// ---------------------------------------------------------------------------------------------
// The declared walk

type WalkEnd =
  | { kind: "exit"; key: string; reason: string | null }
  | { kind: "unrouted"; key: string; status: string }
  | { kind: "continues"; key: string; status: string; next: string }
  | { kind: "diverged"; visit: number; key: string | null; status: string | null; expected: string | null; actual: string }
  | { kind: "aborted" }
  | { kind: "undeclared"; key: string };

interface Walk {
  keys: Array<string | undefined>;
  end: WalkEnd;
  decl: WorkflowDeclaration;
}

/** Follows the declared graph along the trace's CCs and statuses. */
function walkDeclared(decl: WorkflowDeclaration, visits: CcVisit[]): Walk {
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

// ---------------------------------------------------------------------------------------------
// Declarations of the failing node

function declarationOf(v: CcVisit | undefined, addr: number | null, fqdn: string, step: StepRef | undefined, model: TraceModel, decl: Declarations | undefined, walk: Walk | undefined): DeclarationView | undefined {
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

// ---------------------------------------------------------------------------------------------
// Classification

function pathOf(model: TraceModel, walk: Walk | undefined): PathEntry[] {
  return model.visits.map((v) => {
    const e: PathEntry = { node: v.fqdn, address: v.addr, status: v.status };
    const k = walk?.keys[v.index];
    if (k !== undefined) e.declared = k;
    return e;
  });
}

/** `CODE=STATUS → …`, with the declared terminal when known. */
function routeText(visits: CcVisit[], from: number, terminal: Terminal | undefined): string {
  const parts = visits.slice(from).map((v) => `${codeOf(v.fqdn)}=${v.status ?? "(aborted)"}`);
  if (terminal?.exit !== undefined) parts.push(`${terminal.exit}${terminal.reason === null || terminal.reason === undefined ? "" : ` (${terminal.reason})`}`);
  return parts.join(" → ");
}

function bindingHint(v: CcVisit, p: BindingProblem, model: TraceModel, decl: Declarations | undefined, walk: Walk | undefined): string {
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

function firstStructural(v: CcVisit, model: TraceModel, decl: Declarations | undefined, upto: number): BindingProblem | undefined {
  return bindingProblems(v, model, decl, upto).find((p) => p.structural);
}

function cycleText(visits: CcVisit[]): string {
  const counts = new Map<string, number>();
  for (const v of visits) counts.set(v.fqdn, (counts.get(v.fqdn) ?? 0) + 1);
  const looped = [...counts.entries()].filter(([, n]) => n > 1).map(([f, n]) => `${codeOf(f)} ×${n}`);
  return looped.length === 0 ? "" : ` (repeated: ${looped.join(", ")})`;
}

function compiledRoutesText(decl: Declarations | undefined, model: TraceModel, addr: number): string {
  if (decl === undefined || model.wfAddr === null) return "";
  const r = decl.routes(model.wfAddr, addr);
  return r.length === 0 ? "it has no compiled route at all" : `its compiled routes: ${r.map((x) => `${x.status} → ${codeOf(x.target)}`).join(", ")}`;
}

/** Classifies an aborted run (trace ending with ERROR). */
function classifyError(model: TraceModel, err: TraceEvent, decl: Declarations | undefined, walk: Walk | undefined): Classification {
  const cause = errorCause(err);
  const { message, reason, code } = cause;
  const open = [...model.visits].reverse().find((v) => v.complete === null);
  const notes: string[] = [];
  // The ERROR event names no step: the step that raised is the one after the CC's last CC_STEP,
  // known only from a declaration (or a CC_STEP the limit error cut). Unknown: said so, no placeholder.
  const guessed = open === undefined ? undefined : stepOf(open, open.steps.length, decl);
  const effect = isTraceLimit(cause) ? untracedEffectOf(err) : undefined;
  const fromEffect: StepRef | undefined = guessed === undefined || effect === undefined || effect.cc !== open?.fqdn ? undefined : { ...guessed, id: guessed.id ?? effect.step, op: guessed.op ?? effect.op, kind: guessed.kind ?? (effect.op === null ? "CT" : "CS") };
  const step = fromEffect ?? (guessed?.kind === null ? undefined : guessed);
  if (open !== undefined && step === undefined) {
    notes.push(
      `the trace does not say which step of ${open.fqdn} raised: its ERROR event names no step, and no declaration was read to infer it ` +
        `(${open.steps.length === 0 ? "no step of the node had completed" : `${open.steps.length} step${open.steps.length === 1 ? "" : "s"} of the node had completed`}; give --snapshot for a Cairn run, --workspace for a PGS run)`,
    );
  }
  let cls = classifyErrorMessage(message, reason, code);
  if (cls === "by_location") cls = step?.kind === "CS" ? "cs_runtime_error" : step?.kind === "CT" ? "ct_error" : open !== undefined ? "cs_runtime_error" : "graph_structure_error";
  let binding: BindingProblem | undefined;
  if (open !== undefined && (cls === "ct_error" || cls === "cs_runtime_error")) {
    const found = firstStructural(open, model, decl, open.steps.length);
    if (found !== undefined && hasDefiniteCause(message, reason, code)) {
      notes.push(`${open.fqdn} also has a binding problem (input "${found.input}" ← ${found.path}: ${found.problem}), but it did not cause this error.`);
    } else if (found !== undefined) {
      binding = found;
      cls = "expression_binding_error";
    }
  }
  // Where: the CC in progress, else the node a Cairn limit error names (the node the run was
  // about to enter), else an address the message names, else the last CC.
  let node: string;
  let address: number | null;
  const named = /(?:bindings|pipeline|cs|ct)\["?\d+"?\]\["(\d+)"\]|pipeline\["(\d+)"\]/.exec(message);
  const last = model.visits[model.visits.length - 1];
  const limitKey = open === undefined && model.wfAddr === null && model.workflow !== null && limitOf(cause) !== undefined ? limitNodeKey(cause) : undefined;
  if (open !== undefined) {
    node = open.fqdn;
    address = open.addr;
  } else if (limitKey !== undefined) {
    node = `${model.workflow as string}::${limitKey}`;
    address = decl?.cairnNode?.(node)?.address ?? model.visits.find((v) => v.fqdn === node)?.addr ?? null;
  } else if (named !== null && decl !== undefined) {
    address = Number(named[1] ?? named[2]);
    node = decl.fqdn(address);
  } else if (last !== undefined) {
    node = last.fqdn;
    address = last.addr;
  } else {
    node = model.workflow ?? "(workflow)";
    address = model.wfAddr;
  }
  const failure: Failure = { node, address, event: eventRef(err), message };
  if (effect !== undefined) failure.untracedEffect = effect;
  if (step !== undefined) failure.step = step;
  if (binding !== undefined) failure.binding = binding;
  const d = declarationOf(open ?? (address === last?.addr ? last : undefined), address, node, step, model, decl, walk);
  if (d !== undefined) failure.declaration = d;
  const at = `${node}${address === null ? "" : ` (addr ${address})`}${step === undefined ? "" : `, ${stepName(step)}`}`;
  const handlers = decl?.compiledFile("handlers.json") ?? "handlers.json";
  const dispatch = decl?.compiledFile("dispatch.json") ?? "dispatch.json";
  let hint: string;
  switch (cls) {
    case "expression_binding_error":
      hint = binding !== undefined && open !== undefined ? `${bindingHint(open, binding, model, decl, walk)} The run was then aborted: ${message}` : `the run was aborted at ${at} by a malformed binding: ${message}. Fix it in ${dispatch}.`;
      break;
    case "admission_error":
      hint = isIntegrityError(cause)
        ? `the snapshot failed its integrity check, so nothing may run on it: ${message}. Restore or recompile the snapshot.`
        : `the run was refused at ${at}: ${message}. Every handler_ref must name an entry of Cairn's sealed tables: fix ${handlerRefField(step, message, decl)} in ${handlers} (or map the handler).`;
      break;
    case "graph_structure_error":
      if (isTraceLimit(cause)) hint = traceLimitHint(at, message, "", effect);
      else if (limitOf(cause) === "hop_limit") hint = `the run visited ${model.visits.length} CCs and hit the hop limit${cycleText(model.visits)}: a compiled route loops. Check routing["${model.wfAddr ?? "?"}"] in ${dispatch}; last CC: ${last === undefined ? "none" : `${last.fqdn} ended with ${last.status ?? "?"}, ${compiledRoutesText(decl, model, last.addr)}`}.`;
      else if (/^C[TS] addr/.test(unquotedText(message))) hint = `${at} names an address that ${handlers} does not define: ${message}. dispatch.json and handlers.json are from different compilations (neither is covered by the trust hash).`;
      else hint = `the run was aborted at ${at}: ${message}. Check the node's entry in ${dispatch}.`;
      break;
    case "ct_error":
      hint = `${at} failed: ${message}. The CT-IR is ct["${step?.address ?? "?"}"] in ${handlers}.`;
      break;
    default:
      hint = `${at} raised: ${message}. A CS exception aborts the run (it is not an outcome a route can handle): check the RB policy (${handlers} rb_policy), the step's inputs and the data root.`;
  }
  return { class: cls, status: "ERROR", path: pathOf(model, walk), failure, hint, notes };
}

/**
 * Where the handler_ref an admission error names sits in handlers.json: `cs["<addr>"].handler_ref`
 * for a CS; for a CT, the atom of its CT-IR, `ct["<addr>"].ct_ir.atom_stream[<i>].handler_ref` (the
 * atom whose ref the message names, read from the workspace's handlers.json; `[…]` when unknown).
 */
function handlerRefField(step: StepRef | undefined, message: string, decl: Declarations | undefined): string {
  const addr = step?.address ?? null;
  if (step?.kind === "CS" || /\bCS\b|cs\[/.test(unquotedText(message))) return `cs["${addr ?? "?"}"].handler_ref`;
  const ref = /^unmapped CT handler_ref (\S+) \(/.exec(message)?.[1];
  const stream = addr === null ? undefined : decl?.ctAtomStream?.(addr);
  const i = ref === undefined || stream === undefined ? -1 : stream.findIndex((a) => {
    const h = obj(a.handler_ref);
    return typeof h?.module === "string" && typeof h.callable === "string" && `${h.module}:${h.callable}` === ref;
  });
  return `ct["${addr ?? "?"}"].ct_ir.atom_stream[${i < 0 ? "…" : i}].handler_ref`;
}

/** Classifies a traced run. */
export function classify(model: TraceModel, decl: Declarations | undefined): Classification {
  const c = classifyRun(model, decl);
  return isCairnRun(model, decl) ? withCairnHint(c, model, decl) : c;
}

function classifyRun(model: TraceModel, decl: Declarations | undefined): Classification {
  const wfDecl = decl !== undefined && model.workflow !== null ? decl.workflow(model.workflow) : undefined;
  const walk = wfDecl === undefined ? undefined : walkDeclared(wfDecl, model.visits);
  const path = pathOf(model, walk);
  if (model.error !== null) return classifyError(model, model.error, decl, walk);
  if (model.complete === null) {
    const last = model.visits[model.visits.length - 1];
    return {
      class: "incomplete",
      status: null,
      path,
      hint: `the trace ends without WF_COMPLETE or ERROR${last === undefined ? "" : ` (last CC: ${last.fqdn}${last.status === null ? ", in progress" : ` = ${last.status}`})`}: the run was interrupted or the end of the file is missing.`,
      notes: [],
    };
  }
  const status = model.complete.resultStatus;
  const visits = model.visits;
  const notes: string[] = [];
  const dispatch = decl?.compiledFile("dispatch.json") ?? "dispatch.json";
  const terminal: Terminal = { declared: walk !== undefined && walk.end.kind === "exit" };
  if (walk?.end.kind === "exit") {
    terminal.exit = walk.end.key;
    terminal.reason = walk.end.reason;
  }
  if (walk === undefined) notes.push(decl === undefined ? "no workspace found: routes were not checked against a declaration" : `no workflow declaration for ${model.workflow ?? "?"}: the end of the run is assumed declared`);

  const failureAt = (v: CcVisit, message: string, extra: { step?: StepRef; binding?: BindingProblem } = {}): Failure => {
    const f: Failure = { node: v.fqdn, address: v.addr, event: eventRef(v.complete ?? v.start), message, ...extra };
    const d = declarationOf(v, v.addr, v.fqdn, extra.step, model, decl, walk);
    if (d !== undefined) f.declaration = d;
    return f;
  };
  const outcomeMessage = (v: CcVisit): { message: string; step?: StepRef } => {
    const idx = v.steps.length - 1;
    if (idx < 0) return { message: `${v.fqdn} ended with ${v.status ?? "?"} (no step ran)` };
    const s = stepOf(v, idx, decl);
    const ev = v.steps[idx] as TraceEvent;
    const err = typeof ev.detail.error === "string" ? `: ${ev.detail.error}` : "";
    return { message: `${v.status ?? "?"} from ${stepName(s)}${err}`, step: s };
  };
  const negatives = visits.filter((v) => v.status !== null && !POSITIVE.has(v.status));

  // 1. A binding that resolved to nothing at a CC that said "no".
  for (const v of negatives) {
    const b = firstStructural(v, model, decl, v.steps.length - 1);
    if (b !== undefined) {
      const m = outcomeMessage(v);
      return { class: "expression_binding_error", status, path, terminal, failure: failureAt(v, m.message, { ...(m.step === undefined ? {} : { step: m.step }), binding: b }), hint: bindingHint(v, b, model, decl, walk), notes };
    }
  }

  // 2. How the run ended, against the declaration.
  if (visits.length === 0) {
    return { class: "graph_structure_error", status, path, terminal, hint: `no CC ran: the run ended with ${status ?? "?"} at the entry of ${model.workflow ?? "the workflow"}, so the entry node has no route for it. Check entry and routing["${model.wfAddr ?? "?"}"] in ${dispatch}.`, notes };
  }
  if (walk !== undefined) {
    const end = walk.end;
    if (end.kind === "diverged") {
      const v = visits[end.visit] as CcVisit;
      const prev = visits[end.visit - 1];
      const fromNode = prev ?? v;
      const declaredTo = end.expected === null ? "nothing (no declared route)" : `${end.expected}${walk.decl.nodes.get(end.expected)?.fqdn ? ` (${walk.decl.nodes.get(end.expected)?.fqdn})` : ""}`;
      return {
        class: "graph_structure_error",
        status,
        path,
        terminal,
        failure: failureAt(fromNode, `compiled routing took ${end.status ?? "?"} → ${v.fqdn}; the declaration routes it to ${declaredTo}`),
        hint: `the compiled routing differs from the declaration: after ${end.key ?? "the entry"} = ${end.status ?? "?"} the run went to ${v.fqdn}, but ${walk.decl.file} routes ${end.status ?? "?"} to ${declaredTo}. Check routing["${model.wfAddr ?? "?"}"]["${fromNode.addr}"] in ${dispatch}.`,
        notes,
      };
    }
    if (end.kind === "continues") {
      const v = visits[visits.length - 1] as CcVisit;
      const target = walk.decl.nodes.get(end.next);
      return {
        class: "graph_structure_error",
        status,
        path,
        terminal,
        failure: failureAt(v, `missing route: ${v.fqdn} ended with ${v.status ?? "?"}; the declaration routes ${v.status ?? "?"} → ${end.next}, the compiled routing has no route for it`),
        hint: `missing route: ${v.fqdn} ended with ${v.status ?? "?"} and the run stopped there, but ${walk.decl.file} (node ${end.key}) routes ${v.status ?? "?"} → ${end.next}${target?.fqdn ? ` (${target.fqdn})` : ""}. routing["${model.wfAddr ?? "?"}"]["${v.addr}"] in ${dispatch} lacks transition::${v.status ?? "?"}; ${compiledRoutesText(decl, model, v.addr)}.`,
        notes,
      };
    }
    if (end.kind === "unrouted") {
      const v = visits[visits.length - 1] as CcVisit;
      const m = outcomeMessage(v);
      const step = m.step === undefined ? {} : { step: m.step };
      const fix = `declare a route for ${end.status} in node ${end.key} of ${walk.decl.file}`;
      if (end.status === BACKEND_ERROR) {
        return { class: "cs_runtime_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}; nothing handles BACKEND_ERROR there (no declared route). Check the CS call and the data root, or ${fix}.`, notes };
      }
      if (isCtViolation(v)) {
        return { class: "ct_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}. The CT's VIOLATION is not routed: ${fix}, or fix the CT input.`, notes };
      }
      return { class: "graph_structure_error", status, path, terminal, failure: failureAt(v, `missing route: ${m.message}`, step), hint: `missing route: ${v.fqdn} ended with ${end.status} and no route handles it (neither declared nor compiled): ${fix}.`, notes };
    }
    if (end.kind === "undeclared") notes.push(`the workflow declaration names node ${end.key}, which it does not declare: routes were not checked past it`);
  }

  // 3. Negative outcomes that are failures, not decisions.
  for (const v of negatives) {
    const m = outcomeMessage(v);
    const step = m.step === undefined ? {} : { step: m.step };
    if (v.status === BACKEND_ERROR) {
      return { class: "cs_runtime_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}: the CS backend failed (BACKEND_ERROR, e.g. an operation without a handler or a storage failure). Route taken: ${routeText(visits, v.index, terminal)}.`, notes };
    }
    if (isUnexpectedCtFailure(v)) {
      return { class: "ct_error", status, path, terminal, failure: failureAt(v, m.message, step), hint: `${v.fqdn}: ${m.message}. This is not an atom's rule violation but a CT execution failure (CT_EXECUTION_FAILED): check the CT-IR ct["${m.step?.address ?? "?"}"] in ${decl?.compiledFile("handlers.json") ?? "handlers.json"}.`, notes };
    }
  }

  // 4. A governed "no". The failing node is the one whose "no" ended the run (the last CC, as the
  // run's own summary names it), else — every "no" was routed onward to a node that said yes —
  // the first one; earlier "no"s routed onward are named in the hint.
  const lastV = visits[visits.length - 1] as CcVisit;
  const first = lastV.status !== null && !POSITIVE.has(lastV.status) ? lastV : negatives[0];
  if (first !== undefined) {
    const m = outcomeMessage(first);
    const step = m.step === undefined ? {} : { step: m.step };
    const nextV = visits[first.index + 1];
    const declaredKey = nextV === undefined ? undefined : walk?.keys[nextV.index];
    const routed =
      nextV !== undefined
        ? `the workflow routed ${first.status ?? "?"} → ${nextV.fqdn}${declaredKey !== undefined && declaredKey !== codeOf(nextV.fqdn) ? ` (declared node ${declaredKey})` : ""}`
        : terminal.exit !== undefined
          ? `the workflow routed it to its declared terminal ${terminal.exit}${terminal.reason ? ` (${terminal.reason})` : ""}`
          : `the run ended there${walk === undefined ? " (taken as a declared terminal: no workflow declaration to check it against)" : ""}`;
    const data = bindingProblems(first, model, decl, first.steps.length - 1).filter((p) => !p.structural);
    const dataNote = data.length === 0 ? "" : ` Note: input "${data[0]?.input}" ← ${data[0]?.path}: ${data[0]?.problem}.`;
    const earlier = negatives.filter((v) => v.index < first.index);
    const earlierNote = earlier.length === 0 ? "" : ` Earlier "no"${earlier.length === 1 ? "" : "s"} routed onward: ${earlier.map((v) => `${v.fqdn} returned ${v.status ?? "?"} (${outcomeMessage(v).message}) → ${visits[v.index + 1]?.fqdn ?? "?"}`).join("; ")}.`;
    return {
      class: "business_violation",
      status,
      path,
      terminal,
      failure: failureAt(first, m.message, step),
      hint: `governed outcome: ${first.fqdn} returned ${first.status ?? "?"} (${m.message}) and ${routed}. Route taken: ${routeText(visits, earlier[0]?.index ?? first.index, terminal)}.${dataNote}${earlierNote}`,
      notes,
    };
  }
  if (terminal.reason === "FAILED") {
    const v = visits[visits.length - 1] as CcVisit;
    const m = outcomeMessage(v);
    return {
      class: "business_violation",
      status,
      path,
      terminal,
      failure: failureAt(v, `${m.message}; the declaration routes ${v.status ?? "?"} to ${terminal.exit ?? "?"} (reason FAILED)`, m.step === undefined ? {} : { step: m.step }),
      hint: `governed outcome: ${v.fqdn} ended with ${v.status ?? "?"} and ${walk?.decl.file ?? "the declaration"} routes that to ${terminal.exit ?? "?"} (reason FAILED). Route taken: ${routeText(visits, 0, terminal)}.`,
      notes,
    };
  }
  return {
    class: "success",
    status,
    path,
    terminal,
    hint: `the run completed with ${status ?? "?"}: ${routeText(visits, 0, terminal)}${terminal.declared ? "" : " (terminal not checked against a workflow declaration)"}.`,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// Runs of sealed Cairn snapshots: hints in terms of the declaration, not of dispatch.json /
// handlers.json

/** A trace of the Cairn snapshot runtime (`wf_addr` null, `WF_START.detail.snapshot`), or a run examined with Cairn declarations. */
function isCairnRun(model: TraceModel, decl: Declarations | undefined): boolean {
  return decl?.cairnNode !== undefined || (model.wfAddr === null && typeof model.start?.detail.snapshot === "string");
}

/** `detail.reason` of a user CT's time-out (cairn/usercts.ts `UserModuleRunner.call`). */
const CT_TIMEOUT_REASON = "ct_timeout";

const NO_DECLARATION_NOTE = "no workspace found: routes were not checked against a declaration";

function routesText(c: CairnNodeView): string {
  return Object.entries(c.routes).map(([o, r]) => `${o} → ${r}`).join(", ");
}

/** Replaces the PGS-worded hint of a structural class with one about the Cairn declaration. */
function withCairnHint(c: Classification, model: TraceModel, decl: Declarations | undefined): Classification {
  // examine's snapshot lookup (cairn.ts) says why no declaration was read; the PGS note would name a workspace.
  const notes = c.notes.filter((n) => n !== NO_DECLARATION_NOTE);
  if (c.class === "success" || c.class === "business_violation" || c.class === "incomplete") return { ...c, notes };
  const f = c.failure;
  const d = f?.declaration?.cairn;
  const file = d?.file ?? "the workflow declaration";
  const stepView = d?.step;
  const stepText = stepView !== undefined ? `step ${stepView.id} (${stepView.declared})` : f?.step !== undefined ? `step ${f.step.id ?? f.step.index}${f.step.fqdn === null ? "" : ` (${f.step.fqdn})`}` : "";
  const where = `${f === undefined ? (model.workflow ?? "the workflow") : d !== undefined ? `node ${d.node} of ${d.workflow}` : f.node}${stepText === "" ? "" : `, ${stepText}`}`;
  // A completed run's failure message is "<STATUS> from step <id> (<name>): <error>": keep the error.
  const message = (f?.message ?? "").replace(/^[A-Z_]+ from step [^()]*(\([^()]*\))?: /, "");
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
        const looped = [...counts.entries()].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
        const withEntering = entering === undefined ? "" : `, with the visit to ${entering} it was about to make`;
        // Neutral about the cause: a cycle (nodes repeated) or a route longer than the hop limit (none repeated).
        hint = looped.length > 0
          ? `the run visited ${model.visits.length} nodes and hit the hop limit (repeated: ${looped.join(", ")}${withEntering}): a routing cycle in ${file} ran past it. Route an outcome out of the cycle, declare max_visits on a node of it (the run then stops at that bound), or raise max_hops (at most ${CAIRN_MAX_HOPS}) if the cycle needs more hops, and recompile; last node: ${lastText}.`
          : `the run visited ${model.visits.length} nodes, none twice, and hit the hop limit: the route it took through ${file} is longer than the hop limit. Raise max_hops (at most ${CAIRN_MAX_HOPS}) or shorten the route, and recompile; last node: ${lastText}.`;
      } else if (cause !== undefined && isTraceLimit(cause)) {
        hint = traceLimitHint(where, message, `, or declare a lower max_visits in ${file} and recompile`, f?.untracedEffect);
      } else if (limit === "visit_bound") {
        hint = `${message}: the cycle through ${last === undefined ? "it" : codeOf(last.fqdn)} in ${file} ran past its declared bound. Route the repeating outcome out of the cycle, or raise max_visits, and recompile; last node: ${lastText}.`;
      } else {
        hint = `${where}: ${message}. The trace does not follow the routes of the snapshot${snapshot}${d === undefined ? "" : ` (node ${d.node}: ${routesText(d)})`}: check that it is the snapshot the run used (${typeof model.start?.detail.snapshot === "string" ? model.start.detail.snapshot : "see WF_START.detail.snapshot"}).`;
      }
      break;
    }
    case "ct_error":
      if (cause?.reason === CT_TIMEOUT_REASON) {
        // A time-out aborts the run (usercts.ts): it is no outcome, so no route can take it.
        const ct = stepView?.module === undefined ? "the user CT the message names (<module alias>.<capability>)" : `capability ${stepView.module.name}.${stepView.declared.slice(stepView.declared.lastIndexOf(".") + 1)} in module ${stepView.module.path}`;
        hint = `${where} failed: ${message}. A user CT call that runs past its time limit aborts the run: it is not an outcome, so no route (routes.VIOLATION or routes.default) can take it. Make ${ct} finish within the limit, module evaluation included (no endless loop; less work per call), and recompile ${file}.`;
      } else if (stepView?.module !== undefined) {
        hint = `${where} failed: ${message}. A user CT must return, synchronously, a JSON object with its declared outputs (${stepView.module.outputs.join(", ") || "none"}): fix capability ${stepView.module.name}.${stepView.declared.slice(stepView.declared.lastIndexOf(".") + 1)} in module ${stepView.module.path} and recompile ${file}.`;
      } else {
        hint = `${where} failed: ${message}. Check the step's inputs in ${file} (node ${d?.node ?? (f === undefined ? "?" : codeOf(f.node))}${stepView === undefined ? "" : `, step ${stepView.id}: ${JSON.stringify(stepView.inputs)}`}), or route its VIOLATION (routes.VIOLATION or routes.default) and recompile.`;
      }
      break;
    case "cs_runtime_error": {
      const st = stepView?.store;
      const storeText = st === undefined ? "the store's declaration" : `store ${st.name} (${st.kind}, <data root>/${st.path}; stores.${st.name} in ${file})`;
      hint = c.status === "ERROR"
        ? `${where} raised: ${message}. A CS hard error aborts the run (it is not an outcome a route can handle): check ${storeText}, the step's inputs and the data root.`
        : `${where} returned BACKEND_ERROR: ${message}. The store could not be read or written in its format: check ${storeText} under the data root (a torn or non-JSON line, a file of another kind), then rerun.`;
      break;
    }
    default:
      hint = `${where}: ${message}. Bindings of a sealed snapshot are checked by \`cairn wf compile\`: ${recompile}.`;
  }
  return { ...c, hint, notes };
}
