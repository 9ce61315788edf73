/**
 * Helpers of the classification: values (objects, key paths, leaves, short renderings), and the
 * steps of a CC visit (which step, its name, whether its CT failed).
 */
import type { CcVisit, TraceEvent } from "./model.js";
import type { Declarations } from "./workspace.js";
import { ATOM_RAISED, VIOLATION, type Failure, type StepRef } from "./outcome.js";

export function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function show(v: unknown, max = 160): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Calls `f` for every leaf of a binding value, with its key path. */
export function leaves(v: unknown, path: string[], f: (path: string[], leaf: unknown) => void): void {
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...path, String(i)], f));
  else if (obj(v) !== undefined) for (const [k, x] of Object.entries(v as Record<string, unknown>)) leaves(x, [...path, k], f);
  else f(path, v);
}

export function getPath(v: unknown, path: string[]): unknown {
  let cur: unknown = v;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (obj(cur) !== undefined) cur = (cur as Record<string, unknown>)[seg];
    else return undefined;
  }
  return cur;
}

export const firstSegment = (s: string): string => s.split(".")[0] as string;

export function eventRef(e: TraceEvent): Failure["event"] {
  return { line: e.line, seq: e.seq, type: e.type };
}

export function stepOf(v: CcVisit, index: number, decl: Declarations | undefined): StepRef {
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

export function stepName(s: StepRef | undefined): string {
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

export function isUnexpectedCtFailure(v: CcVisit): boolean {
  const s = causeStep(v);
  if (s === undefined || s.stepOp !== null || v.status !== VIOLATION) return false;
  const err = s.detail.error;
  return typeof err === "string" && !err.startsWith(ATOM_RAISED);
}

export function isCtViolation(v: CcVisit): boolean {
  const s = causeStep(v);
  return v.status === VIOLATION && s !== undefined && s.stepOp === null;
}
