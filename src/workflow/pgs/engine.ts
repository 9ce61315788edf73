/**
 * The scheduler (SEMANTICS A.5) and the dispatcher of one CC (A.7).
 *
 * Traversal is blind: start at the entry node, run CCs, route by the status through
 * `routing[wf][node][condition]`; a missing route ends the run. Boundary nodes (not in
 * `pipeline`) report ACK and emit nothing. The hop limit is MAX_HOPS.
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { MAX_HOPS, STATUS_ACK, STATUS_SUCCESS, STORE_ENTITY_KEY, STORE_KEY } from "./constants.js";
import type { CtAtomTable } from "../atoms/index.js";
import type { EffectContext } from "../effects/index.js";
import { csStep, ctStep, type StepOutcome } from "./cs.js";
import { resolveBinding, resolveOutput, resolveStepInputs } from "./grammar.js";
import type { EffectFile } from "./handlers.js";
import type { PgsPackage } from "./snapshot.js";
import type { TraceWriter } from "./trace.js";
import { copyObject, type PyObject, type PyValue } from "./value.js";
import { pyValueRepr } from "../py/repr.js";
import { pyHashable, pyTruthy, pyTypeName } from "../py/value.js";

export interface PathEntry {
  /** FQDN of the visited node. */
  node: string;
  addr: number;
  kind: "cc" | "boundary";
  status: string;
}

/** One CS call, as recorded for the effects artifact and the summary. */
export interface EffectCall {
  cc: string;
  step: string;
  cs: string;
  op: string;
  status: string;
  /** What the call did to a data-root file, when the handler reports it. */
  file?: EffectFile;
}

/** One step that reported VIOLATION. */
export interface ViolationRecord {
  cc: string;
  step: string;
  kind: "CT" | "CS";
  reason: string | null;
}

export interface EngineRun {
  pkg: PgsPackage;
  wf: number;
  wfFqdn: string;
  rb: number;
  payload: PyObject;
  /** The sealed CT atom table. */
  atoms: CtAtomTable;
  /** The per-run effect context (data root, logical clock, effect ids) of every CS call. */
  effects: EffectContext;
  trace: TraceWriter;
  path: PathEntry[];
  calls: EffectCall[];
  violations: ViolationRecord[];
  /** The CC (and step) being executed, for locating a hard failure. */
  current: { cc: string; step: string | null } | null;
}

/** `v` as an object, `{}` when missing/null; anything else is a hard error naming the field. */
function objOrEmpty(v: PyValue | undefined, what: string): PyObject {
  if (v === undefined || v === null) return new Map();
  if (!(v instanceof Map)) throw new CairnError(ErrorCode.INVALID_INPUT, `dispatch.json: ${what} must be an object`, { reason: "bad_step", field: what });
  return v;
}

interface StepSpec {
  addr: number;
  op: string | null;
  inputs: PyObject;
  outputs: PyObject;
  onResult: PyObject;
  /** The step's name in messages, calls and violations: `step_id` (a non-string shown as text), `""` when falsy. */
  stepId: string;
  /** The key of the step's record (A.7 3.5), or undefined when it records nothing `$.results.` can find (`stepIdOf`). */
  recordKey: string | undefined;
  /** Set when recording the step must fail as it does in the reference (an unhashable `step_id`): the error. */
  recordError: CairnError | undefined;
}

/**
 * A.7 3.1/3.5 as the reference does them, with `step_id` taken from the JSON as it is
 * (`step.get("step_id") or ""`, recorded when truthy as `records[step_id]`): a falsy value
 * (missing, null, `""`, `0`, `false`, `[]`, `{}`) names no step and records nothing; a string
 * records under itself; any other truthy value that Python can hash (an int, a float, `true`)
 * records under a key no `$.results.<step_id>` text finds (the grammar looks the id up as a
 * string), so nothing; a non-empty list or object cannot key a dict: the reference raises
 * TypeError when it records the step (after the step ran), and so does Cairn (E_INVALID_INPUT,
 * `bad_step`, naming the field).
 */
function stepIdOf(raw: PyValue, field: string): Pick<StepSpec, "stepId" | "recordKey" | "recordError"> {
  if (typeof raw === "string") return { stepId: raw, recordKey: raw === "" ? undefined : raw, recordError: undefined };
  if (!pyTruthy(raw)) return { stepId: "", recordKey: undefined, recordError: undefined };
  if (pyHashable(raw)) return { stepId: String(raw), recordKey: undefined, recordError: undefined };
  const type = pyTypeName(raw);
  const recordError = new CairnError(
    ErrorCode.INVALID_INPUT,
    `dispatch.json: ${field} is a ${type} (${pyValueRepr(raw)}), which cannot key the step records: the reference raises TypeError: unhashable type: '${type}'`,
    { reason: "bad_step", field },
  );
  return { stepId: "", recordKey: undefined, recordError };
}

/** Steps already read, by their (read-only) snapshot object: a step is validated once per loaded snapshot. */
const readSteps = new WeakMap<PyObject, StepSpec>();

function readStep(step: PyValue, cc: number, index: number): StepSpec {
  if (step instanceof Map) {
    const known = readSteps.get(step);
    if (known !== undefined) return known;
  }
  const where = `pipeline["${cc}"][${index}]`;
  if (!(step instanceof Map)) throw new CairnError(ErrorCode.INVALID_INPUT, `dispatch.json: ${where} is not an object`, { reason: "bad_step", field: where });
  const addr = step.get("addr");
  if (typeof addr !== "bigint") throw new CairnError(ErrorCode.INVALID_INPUT, `dispatch.json: ${where}.addr must be an integer`, { reason: "bad_step", field: `${where}.addr` });
  const op = step.get("op") ?? null;
  if (op !== null && typeof op !== "string") throw new CairnError(ErrorCode.INVALID_INPUT, `dispatch.json: ${where}.op must be a string or null`, { reason: "bad_step", field: `${where}.op` });
  const spec: StepSpec = {
    addr: Number(addr),
    op,
    inputs: objOrEmpty(step.get("inputs"), `${where}.inputs`),
    outputs: objOrEmpty(step.get("outputs"), `${where}.outputs`),
    onResult: objOrEmpty(step.get("on_result"), `${where}.on_result`),
    ...stepIdOf(step.get("step_id") ?? null, `${where}.step_id`),
  };
  readSteps.set(step, spec);
  return spec;
}

/** Runs one CC (A.7); returns its status and surface. */
export function dispatchCc(run: EngineRun, cc: number, ccInputs: PyObject): { status: string; surface: PyObject } {
  const { pkg, trace } = run;
  const ccFqdn = pkg.vocab.fqdn(cc);
  run.current = { cc: ccFqdn, step: null };
  trace.emit("CC_START", { ccAddr: cc, detail: new Map<string, PyValue>([["cc_fqdn", ccFqdn], ["inputs", ccInputs]]) });
  const steps = pkg.pipeline.get(cc) ?? [];
  const records = new Map<string, PyValue>();
  const surface: PyObject = new Map();
  let status = STATUS_SUCCESS;
  for (let i = 0; i < steps.length; i++) {
    const s = readStep(steps[i] as PyValue, cc, i);
    const where = `${ccFqdn} step ${s.stepId === "" ? i : s.stepId}`;
    const stepFqdn = pkg.vocab.fqdn(s.addr);
    run.current = { cc: ccFqdn, step: s.stepId === "" ? String(i) : s.stepId };
    const inputs = resolveStepInputs(s.inputs, ccInputs, records) as PyObject;
    let outcome: StepOutcome;
    if (s.op === null) outcome = ctStep(pkg, s.addr, inputs, run.atoms, where);
    else {
      run.trace.flush(); // the trace is on disk up to this side effect (§11.7)
      outcome = csStep(pkg, run.rb, s.addr, s.op, inputs, run.effects, where);
      const call: EffectCall = { cc: ccFqdn, step: s.stepId, cs: stepFqdn, op: s.op, status: outcome.status };
      if (outcome.file !== undefined) call.file = outcome.file;
      run.calls.push(call);
    }
    const fragment: PyObject = new Map();
    for (const [name, mapping] of s.outputs) fragment.set(name, resolveOutput(mapping, outcome.raw, records));
    if (s.recordError !== undefined) throw s.recordError;
    if (s.recordKey !== undefined) {
      const rec = copyObject(fragment);
      rec.set("capability_result", outcome.raw);
      records.set(s.recordKey, rec);
    }
    for (const [k, v] of fragment) surface.set(k, v);
    const detail = new Map<string, PyValue>([["step_fqdn", stepFqdn], ["result_keys", [...fragment.keys()]]]);
    // Verbatim: the atom's reason, often payload text (a path in it is data, not a host path).
    if (outcome.error !== undefined) detail.set("error", outcome.error);
    const stepEvent = { ccAddr: cc, stepAddr: s.addr, stepOp: s.op, detail };
    // A CS call's effect is applied: should its CC_STEP not fit the trace limit, the run's ERROR event names it (trace.ts).
    if (s.op === null) trace.emit("CC_STEP", stepEvent);
    else trace.emitEffectStep(stepEvent, { cc: ccFqdn, step: s.stepId === "" ? String(i) : s.stepId, op: s.op, status: outcome.status });
    if (s.op !== null) trace.flush(); // the side effect's own CC_STEP is on disk too (§11.7)
    status = outcome.status;
    if (status === "VIOLATION") run.violations.push({ cc: ccFqdn, step: s.stepId, kind: s.op === null ? "CT" : "CS", reason: outcome.error ?? null });
    const action = s.onResult.get(status);
    if (action === "exit") break;
  }
  for (const [k, v] of ccInputs) {
    if (!surface.has(k) && k !== STORE_KEY && k !== STORE_ENTITY_KEY) surface.set(k, v);
  }
  trace.emit("CC_COMPLETE", { ccAddr: cc, resultStatus: status, detail: new Map<string, PyValue>([["cc_fqdn", ccFqdn], ["output_keys", [...surface.keys()]]]) });
  run.current = null;
  return { status, surface };
}

/** Runs the workflow from its entry (A.5 steps 2–4); returns the terminal status and surface. */
export function schedule(run: EngineRun, start: number): { status: string; surface: PyObject } {
  const { pkg, wf, trace } = run;
  const context = copyObject(run.payload);
  trace.emit("WF_START", { detail: new Map<string, PyValue>([["wf_fqdn", run.wfFqdn], ["payload_keys", [...run.payload.keys()]]]) });
  const results = new Map<number, PyValue>();
  const routes = pkg.routing.get(wf);
  let status = STATUS_SUCCESS;
  let surface: PyObject = new Map();
  let hops = 0;
  let node: number | undefined = start;
  while (node !== undefined) {
    if (hops >= MAX_HOPS) {
      throw new CairnError(ErrorCode.LIMIT_EXCEEDED, `WF '${run.wfFqdn}' exceeded ${MAX_HOPS} topology hops — possible cycle in compiled routing`, {
        reason: "hop_limit",
        limit: MAX_HOPS,
        node: pkg.vocab.fqdn(node),
      });
    }
    hops++;
    if (pkg.pipeline.has(node)) {
      const binding = pkg.bindings.get(wf)?.get(node);
      const ccInputs = binding === undefined ? new Map<string, PyValue>() : resolveBinding(binding, context, results);
      if (!(ccInputs instanceof Map)) {
        throw new CairnError(ErrorCode.INVALID_INPUT, `dispatch.json: bindings["${wf}"]["${node}"] must be an object`, { reason: "bad_binding", field: `bindings.${wf}.${node}` });
      }
      ({ status, surface } = dispatchCc(run, node, ccInputs));
      results.set(node, surface);
      run.path.push({ node: pkg.vocab.fqdn(node), addr: node, kind: "cc", status });
    } else {
      status = STATUS_ACK;
      run.path.push({ node: pkg.vocab.fqdn(node), addr: node, kind: "boundary", status });
    }
    node = routes?.get(node)?.get(pkg.vocab.condition(status));
  }
  trace.emit("WF_COMPLETE", { resultStatus: status, detail: new Map<string, PyValue>([["wf_fqdn", run.wfFqdn]]) });
  return { status, surface };
}
