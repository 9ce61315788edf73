/**
 * CT and CS steps as the dispatcher runs them (SEMANTICS A.8, A.10): thin adapters over the
 * atoms' `runCtStep` and the effects' `invokeCsStep`, which share the runtime's value model
 * (src/workflow/py), so values pass through unconverted. Unknown CT/CS addresses and unmapped
 * handler_refs are hard errors; CS exceptions propagate (they abort the run).
 */
import { CairnError, ErrorCode } from "../../core/errors.js";
import { runCtStep, type CtAtomTable } from "../atoms/index.js";
import { csRuntimeForHandlerRef, invokeCsStep, type EffectContext } from "../effects/index.js";
import { STATUS_SUCCESS } from "./constants.js";
import { checkCtRefs, readHandlerRef, unmappedHandler, type EffectFile } from "./handlers.js";
import type { PgsPackage } from "./snapshot.js";
import type { PyObject, PyValue } from "./value.js";

export interface StepOutcome {
  status: string;
  /** The step's raw result (`$.capability_result`). */
  raw: PyObject;
  /** Why a CT step is VIOLATION (for the trace). */
  error?: string;
  /** What a CS call did to a data-root file. */
  file?: EffectFile;
}

/** A CT step: `handlers.ct[addr]`, sealed-ref check, CT-IR execution and output adaptation. */
export function ctStep(pkg: PgsPackage, addr: number, inputs: PyObject, atoms: CtAtomTable, where: string): StepOutcome {
  const ct = pkg.ct.get(addr);
  if (ct === undefined) {
    throw new CairnError(ErrorCode.NOT_FOUND, `CT addr ${addr} not found in handlers — snapshot may be stale`, { reason: "unknown_ct_addr", addr, where });
  }
  const ctIr: PyValue = ct instanceof Map ? (ct.get("ct_ir") ?? null) : null;
  checkCtRefs(ctIr, atoms, where);
  const r = runCtStep(ctIr, inputs, { atoms });
  if (r.status === "SUCCESS") return { status: STATUS_SUCCESS, raw: r.outputs };
  return { status: r.status, raw: r.outputs, error: r.error.message };
}

/** A CS step: `handlers.cs[addr]`, sealed-ref check, policy, payload, one call. */
export function csStep(pkg: PgsPackage, rb: number, addr: number, op: string, inputs: PyObject, ctx: EffectContext, where: string): StepOutcome {
  const cs = pkg.cs.get(addr);
  if (cs === undefined) {
    throw new CairnError(ErrorCode.NOT_FOUND, `CS addr ${addr} not found in handlers — snapshot may be stale`, { reason: "unknown_cs_addr", addr, where });
  }
  const refValue: PyValue = cs instanceof Map ? (cs.get("handler_ref") ?? null) : null;
  const ref = readHandlerRef(refValue);
  if (ref === undefined) {
    throw new CairnError(ErrorCode.INVALID_INPUT, `handlers.json: cs["${addr}"].handler_ref lacks module or callable (${where})`, { reason: "bad_handler_ref", addr, where });
  }
  if (csRuntimeForHandlerRef(ref) === undefined) throw unmappedHandler("CS", ref, where);
  const md = cs instanceof Map ? cs.get("cs_metadata") : undefined;
  const entry = pkg.rbPolicy.get(rb)?.get(addr);
  const r = invokeCsStep(
    {
      handlerRef: ref,
      csMetadata: md,
      rbPolicyEntry: entry,
      op,
      stepInputs: inputs,
      capabilityCode: pkg.vocab.fqdn(addr),
    },
    ctx,
  );
  const outcome: StepOutcome = { status: r.outcome, raw: r.result };
  if (r.effect !== undefined) {
    const e = r.effect;
    outcome.file = { id: e.id, path: e.path, action: e.action, created: e.created, digest: e.digest, size: e.size };
  }
  return outcome;
}
