/**
 * Compiling a step's `lane` binding (issue 5 §6.1) into the sealed snapshot.
 *
 * A lane-bound step keeps its `ct` / `cs`+`op`: that names the **contract** — the inputs it
 * must bind, the result fields later bindings may read, the outcomes routes must handle. The
 * lane is the **implementation**: at run time (lane-step.ts) the step becomes one
 * AdmissionRequest to the execution-plane node instead of a call of the local atom / user CT /
 * CS runtime. The binding is sealed into the step (`SnapshotStep.lane`), so the snapshot digest
 * covers it: changing the lane, operation, payload mapping or accepted classes changes the
 * digest.
 *
 * Checks (each diagnostic names file, node and `steps[i].lane.<field>`):
 *
 * | code                           | what                                                                |
 * |--------------------------------|---------------------------------------------------------------------|
 * | `E_COMPILE_SCHEMA`             | the binding's shape (schema.ts); `priority_order` not ⊆ `classes`; `result_json` naming a member the lane kind's output has no text in |
 * | `E_COMPILE_UNKNOWN_CAPABILITY` | a lane kind the plane does not have (`LANE_KINDS`)                   |
 * | `E_COMPILE_UNKNOWN_OPERATION`  | an operation the lane kind does not serve (process: run, http: request, jsonrpc: call, sse: subscribe, websocket: session; inline / worker: any name) |
 * | `E_COMPILE_UNBOUND_INPUT`      | a payload leaf `$.inputs.<name>` naming no input of the step         |
 *
 * A lane-bound step can also end with BACKEND_ERROR (the lane reported `failed`: a raw fact such
 * as a non-zero exit or an HTTP 500, or a classified infrastructure failure), so the compiler
 * adds it to the step's outcome set and the node's routes must handle it.
 */
import { ErrorCode, type ErrorCodeValue } from "../../core/errors.js";
import { LANE_KINDS, type LaneKind } from "../../plane/lanes/index.js";
import type { SnapshotStep, SnapshotWorkflow } from "./model.js";
import { parseBindingPath } from "./paths.js";
import { sealConst } from "./sealed-value.js";
import { OUTCOMES, type Outcome } from "./schema.js";

/** A compiled payload template: leaves read the step's resolved inputs. */
export type LaneTemplate =
  | { input: { name: string | null; segments: Array<string | number> } }
  | { const: unknown; floats?: string[] }
  | { object: Record<string, LaneTemplate> }
  | { array: LaneTemplate[] }
  | { json: LaneTemplate };

/** The sealed lane binding of a step. */
export interface SnapshotLaneBinding {
  /** The lane id registered on the node. */
  laneId: string;
  kind: LaneKind;
  operation: string;
  payload: LaneTemplate;
  acceptableAttestation: { classes: string[]; priorityOrder: string[] };
  /** The output member holding the JSON text of the step result; null: the output itself. */
  resultJson: string | null;
}

/** The single operation of each fixed-operation lane kind (inline and worker serve registered names). */
export const LANE_OPERATIONS: Readonly<Partial<Record<LaneKind, string>>> = Object.freeze({
  process: "run",
  http: "request",
  jsonrpc: "call",
  sse: "subscribe",
  websocket: "session",
});

/** Output members that carry text a step result can be parsed from, per lane kind (absent: any). */
const TEXT_MEMBERS: Readonly<Partial<Record<LaneKind, readonly string[]>>> = Object.freeze({
  process: ["stdout", "stderr"],
  http: ["body"],
  sse: [],
  websocket: [],
});

/** The outcome set of a lane-bound step: its contract's, plus BACKEND_ERROR (declared order). */
export function laneOutcomes(contract: readonly Outcome[]): Outcome[] {
  return OUTCOMES.filter((o) => contract.includes(o) || o === "BACKEND_ERROR");
}

/** How `compileLaneBinding` reports a problem: a compile error code, the field (dotted path) and a message. */
export type LaneCompileReport = (code: ErrorCodeValue, field: string, message: string) => void;

interface LaneDecl {
  kind: string;
  lane_id?: string;
  operation: string;
  payload?: unknown;
  acceptable_attestation: { classes: string[]; priority_order?: string[] };
  result_json?: string;
}

function compileTemplate(v: unknown, field: string, inputs: readonly string[], report: LaneCompileReport): LaneTemplate {
  if (typeof v === "string") {
    // `$.inputs…` has the grammar of `$.payload…` (paths.ts): parse it as such.
    const p = parseBindingPath(`$.payload${v.slice("$.inputs".length)}`);
    if (typeof p === "string") {
      report(ErrorCode.COMPILE_UNBOUND_INPUT, field, `malformed payload binding ${JSON.stringify(v)}: ${p}`);
      return { const: null };
    }
    const [first, ...rest] = p.segments;
    if (first === undefined) return { input: { name: null, segments: [] } };
    if (typeof first !== "string" || !inputs.includes(first)) {
      report(ErrorCode.COMPILE_UNBOUND_INPUT, field, `${v} is bound to nothing: the step has no input ${JSON.stringify(first)} (its inputs: ${inputs.join(", ") || "none"})`);
    }
    return { input: { name: String(first), segments: rest } };
  }
  const o = v as Record<string, unknown>;
  if ("const" in o) return sealConst(o);
  if ("object" in o) return { object: Object.fromEntries(Object.entries(o.object as Record<string, unknown>).map(([k, x]) => [k, compileTemplate(x, `${field}.object.${k}`, inputs, report)])) };
  if ("array" in o) return { array: (o.array as unknown[]).map((x, i) => compileTemplate(x, `${field}.array[${i}]`, inputs, report)) };
  return { json: compileTemplate(o.json, `${field}.json`, inputs, report) };
}

/**
 * Checks and compiles a schema-valid `lane` member. `report` gets fields relative to the binding
 * (`.kind`, `.payload.object.argv`); returns null when the binding has an error.
 */
export function compileLaneBinding(raw: unknown, inputs: readonly string[], report: LaneCompileReport): SnapshotLaneBinding | null {
  const d = raw as LaneDecl;
  let ok = true;
  const fail: LaneCompileReport = (code, field, message) => {
    ok = false;
    report(code, field, message);
  };
  const kind = d.kind as LaneKind;
  if (!(LANE_KINDS as readonly string[]).includes(d.kind)) {
    fail(ErrorCode.COMPILE_UNKNOWN_CAPABILITY, ".kind", `unknown lane kind ${JSON.stringify(d.kind)} (execution-plane lanes: ${LANE_KINDS.join(", ")})`);
  } else {
    const only = LANE_OPERATIONS[kind];
    if (only !== undefined && d.operation !== only) fail(ErrorCode.COMPILE_UNKNOWN_OPERATION, ".operation", `a ${kind} lane has no operation ${JSON.stringify(d.operation)} (its operation: ${only})`);
    const text = TEXT_MEMBERS[kind];
    if (d.result_json !== undefined && text !== undefined && !text.includes(d.result_json)) {
      fail(ErrorCode.COMPILE_SCHEMA, ".result_json", `a ${kind} lane's output has no text member ${JSON.stringify(d.result_json)}${text.length === 0 ? " (its output is not text: omit result_json)" : ` (text members: ${text.join(", ")})`}`);
    }
  }
  const acc = d.acceptable_attestation;
  (acc.priority_order ?? []).forEach((c, i) => {
    if (!acc.classes.includes(c)) fail(ErrorCode.COMPILE_SCHEMA, `.acceptable_attestation.priority_order[${i}]`, `class ${JSON.stringify(c)} is not in classes`);
  });
  const payload = d.payload === undefined ? ({ input: { name: null, segments: [] } } as LaneTemplate) : compileTemplate(d.payload, ".payload", inputs, fail);
  if (!ok) return null;
  return {
    laneId: d.lane_id ?? d.kind,
    kind,
    operation: d.operation,
    payload,
    acceptableAttestation: { classes: [...acc.classes], priorityOrder: [...(acc.priority_order ?? acc.classes)] },
    resultJson: d.result_json ?? null,
  };
}

const boundCache = new WeakMap<SnapshotWorkflow, readonly string[]>();

/** The lane-bound steps of a workflow, as `node/step` names (cached per loaded workflow: the runtime asks on every run). */
export function laneBoundSteps(wf: SnapshotWorkflow): readonly string[] {
  const hit = boundCache.get(wf);
  if (hit !== undefined) return hit;
  const out: string[] = [];
  for (const [key, node] of Object.entries(wf.nodes)) for (const s of node.steps as SnapshotStep[]) if (s.lane !== undefined) out.push(`${key}/${s.id}`);
  boundCache.set(wf, Object.freeze(out));
  return out;
}
