/**
 * The class of an aborted run's ERROR event (message, reason, code), and what it says of the
 * run's limits (hop limit, max_visits, trace size limit, untraced effect).
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
 * | `path confinement: …`, `… under the data root …`, `… torn line …`, `CS_<NAME>_V<n>…: …`, `rb_policy entry …`, `data root …`, `effect clock …`, `cannot serialise …`, `JSON nesting …` (effects errors.ts) | `path_confinement`, `data_root_io`, `cs_config`, `cs_input`, `torn_jsonl_tail`, `unserialisable_value`, `not_regular_file`, `cs_clock`, `read_limit` (appendonly.ts) | `cs_runtime_error` (`unserialisable_value` / `cannot serialise …` / `JSON nesting …` raised in a CT step: `ct_error`, `isUnserialisable`) |
 * | anything else                                                            | —                           | by location: in a CS step → `cs_runtime_error`, in a CT step → `ct_error`, in a CC whose step is unknown (no workspace) → `cs_runtime_error` (CT failures never abort a run: they are VIOLATIONs), outside a CC → `graph_structure_error` |
 */
import type { TraceEvent } from "./model.js";
import { UNTRACED_EFFECT_MEMBER } from "../pgs/trace.js";
import { obj, show } from "./helpers.js";
import type { OutcomeClass, UntracedEffectView } from "./outcome.js";

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
export function hasDefiniteCause(message: string, reason?: string, code?: string): boolean {
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

export function errorCause(err: TraceEvent): ErrorCause {
  const c: ErrorCause = { message: typeof err.detail.message === "string" ? err.detail.message : show(err.detail) };
  if (typeof err.detail.reason === "string") c.reason = err.detail.reason;
  if (typeof err.detail.code === "string") c.code = err.detail.code;
  return c;
}

/** Whether the ERROR is a snapshot-integrity failure (by reason, code, else the text outside quotes). */
export function isIntegrityError(c: ErrorCause): boolean {
  if (c.reason !== undefined || c.code !== undefined) return c.reason === "snapshot_integrity" || c.code === "E_SNAPSHOT_INTEGRITY";
  return INTEGRITY_TEXT.test(unquotedText(c.message));
}

/**
 * Whether the ERROR is a value that cannot be serialised (nested deeper than 512 levels, or
 * cyclic: reason `unserialisable_value`, else the text of a trace without a code). Its class
 * goes by where it happened: raised in a CT step it is `ct_error`, else `cs_runtime_error`
 * (classify-error.ts).
 */
export function isUnserialisable(c: ErrorCause): boolean {
  return c.reason === "unserialisable_value" || (c.reason === undefined && c.code === undefined && UNSERIALISABLE_TEXT.test(unquotedText(c.message)));
}

const UNSERIALISABLE_TEXT = /^cannot serialise |^JSON nesting deeper/;

/** Whether the ERROR is the trace writer's size limit (by reason, else the text of a trace without a code). */
export function isTraceLimit(c: ErrorCause): boolean {
  return c.reason === "trace_limit" || (c.reason === undefined && c.code === undefined && TRACE_LIMIT_TEXT.test(unquotedText(c.message)));
}

export function traceLimitHint(at: string, message: string, more: string, effect: UntracedEffectView | undefined): string {
  const applied = effect === undefined ? "" : ` ${untracedEffectSentence(effect)}`;
  return `the run's trace reached its size limit at ${at}: ${message}.${applied} Every CC_START and CC_STEP event records its inputs: bind smaller values there, or make the run visit fewer nodes${more}.`;
}

/** The applied but untraced effect an ERROR event records (`detail.untraced_effect`), when well-formed. */
export function untracedEffectOf(err: TraceEvent): UntracedEffectView | undefined {
  const e = obj(err.detail[UNTRACED_EFFECT_MEMBER]);
  if (e === undefined || typeof e.cc !== "string" || typeof e.step !== "string" || typeof e.status !== "string" || (e.op !== null && typeof e.op !== "string")) return undefined;
  return { cc: e.cc, step: e.step, op: e.op, status: e.status };
}

/** What examine says of an applied but untraced effect (hint and human output). */
export function untracedEffectSentence(e: UntracedEffectView): string {
  return `The side effect of step ${e.step}${e.op === null ? "" : ` (${e.op})`} of ${e.cc} WAS applied (${e.status}): its CC_STEP did not fit the trace, and the ERROR event records it (detail.${UNTRACED_EFFECT_MEMBER}); the data root holds that effect.`;
}

/** Which run limit the ERROR reports: Cairn's hop limit or a node's max_visits (by reason, else the text). */
export function limitOf(c: ErrorCause): "hop_limit" | "visit_bound" | undefined {
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
export function limitNodeKey(c: ErrorCause): string | undefined {
  const m = / \(hop limit\) at node ([A-Za-z_][A-Za-z0-9_]*): |^node ([A-Za-z_][A-Za-z0-9_]*) of WF '/.exec(c.message);
  return m === null ? undefined : (m[1] ?? m[2]);
}
