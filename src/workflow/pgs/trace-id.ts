/**
 * Deterministic trace ids.
 *
 *   trace_id = <run key: 16 lowercase hex>__<WF_CODE>__<PGS suffix: 4 uppercase hex>
 *
 * run key = first 16 hex digits of the canonical digest of
 * `{kind: "cairn.pgs.run", version: 1, snapshot, workflow, payload, priorState}` (snapshot
 * digest, WF FQDN, digest of the payload as given — compact JSON in its own key order, which
 * the run's outputs follow —, prior-state digest). The PGS suffix
 * is the reference's (A.11): SHA-256 of the canonical JSON of `{domain, wf, payload}`. The
 * reference's leading UTC wall-clock stamp is replaced by the run key, so the same snapshot,
 * payload and prior state give the same id on every machine, and any difference gives another.
 */
import { canonicalDigest } from "../../core/canonical.js";
import { digestHex, sha256, type Digest } from "../../core/digest.js";
import { canonicalPy } from "./pyjson.js";
import type { PyValue } from "./value.js";

export const RUN_KEY_KIND = "cairn.pgs.run";
export const RUN_KEY_VERSION = 1;
/** Hex digits of the run key in a trace id. */
export const RUN_KEY_HEX = 16;
/** Hex digits of the PGS payload suffix. */
export const SUFFIX_HEX = 4;
export const TRACE_ID_RE = /^[0-9a-f]{16}__[A-Za-z0-9_.-]+__[0-9A-F]{4}$/;

/** The reference's 4-hex suffix (A.11). */
export function pgsSuffix(domain: string, wfFqdn: string, payload: PyValue): string {
  const text = canonicalPy(new Map<string, PyValue>([["domain", domain], ["wf", wfFqdn], ["payload", payload]]));
  return digestHex(sha256(text)).slice(0, SUFFIX_HEX).toUpperCase();
}

export interface TraceIdInputs {
  snapshot: Digest;
  workflow: string;
  payload: Digest;
  priorState: Digest;
}

export function runKey(i: TraceIdInputs): Digest {
  return canonicalDigest({ kind: RUN_KEY_KIND, version: RUN_KEY_VERSION, snapshot: i.snapshot, workflow: i.workflow, payload: i.payload, priorState: i.priorState });
}

export function makeTraceId(i: TraceIdInputs, domain: string, wfCode: string, payload: PyValue): string {
  return `${digestHex(runKey(i)).slice(0, RUN_KEY_HEX)}__${wfCode}__${pgsSuffix(domain, i.workflow, payload)}`;
}
