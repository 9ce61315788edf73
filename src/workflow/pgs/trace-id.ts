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
import { canonicalDigest, canonicalString } from "../../core/canonical.js";
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

/** Suffixes of recent runs, by domain, WF FQDN and the payload's compact text (`SUFFIX_MEMO_MAX_TEXT` chars at most). */
const SUFFIX_MEMO = 64;
const SUFFIX_MEMO_MAX_TEXT = 4096;
const suffixes = new Map<string, string>();

/**
 * `pgsSuffix`, remembered by the payload's compact JSON text (`compactPy`, key order as given):
 * that text determines the payload value (strings ASCII-escaped, a float always written as a
 * float, a Map's keys distinct), so two payloads with one text have one suffix. Only texts up to
 * SUFFIX_MEMO_MAX_TEXT characters are kept; neither name holds a NUL (a WF FQDN is checked).
 */
function memoSuffix(domain: string, wfFqdn: string, payload: PyValue, payloadText: string): string {
  if (payloadText.length > SUFFIX_MEMO_MAX_TEXT || domain.includes("\0") || wfFqdn.includes("\0")) return pgsSuffix(domain, wfFqdn, payload);
  const key = `${domain}\0${wfFqdn}\0${payloadText}`;
  const known = suffixes.get(key);
  if (known !== undefined) return known;
  const suffix = pgsSuffix(domain, wfFqdn, payload);
  if (suffixes.size >= SUFFIX_MEMO) suffixes.delete(suffixes.keys().next().value as string);
  suffixes.set(key, suffix);
  return suffix;
}

export interface TraceIdInputs {
  snapshot: Digest;
  workflow: string;
  payload: Digest;
  priorState: Digest;
}

/** A member's canonical text (`canonicalString`), or undefined when it is not a string the encoder writes as one. */
function stringText(v: unknown): string | undefined {
  return typeof v === "string" ? canonicalString(v) : undefined;
}

export function runKey(i: TraceIdInputs): Digest {
  const { snapshot, workflow, payload, priorState } = i;
  // The canonical text written directly (RFC 8785: members sorted, each string by the encoder's
  // own `canonicalString`) when every member is such a string, as in every run; else the general
  // encoder. test/workflow/perf-state-digest.test.ts holds the two to the same digest.
  const [s, w, p, prior] = [stringText(snapshot), stringText(workflow), stringText(payload), stringText(priorState)];
  if (s !== undefined && w !== undefined && p !== undefined && prior !== undefined) {
    return sha256(`{"kind":${canonicalString(RUN_KEY_KIND) as string},"payload":${p},"priorState":${prior},"snapshot":${s},"version":${String(RUN_KEY_VERSION)},"workflow":${w}}`);
  }
  return canonicalDigest({ kind: RUN_KEY_KIND, version: RUN_KEY_VERSION, snapshot, workflow, payload, priorState });
}

/** `<run key's first RUN_KEY_HEX hex>__<WF code>__<PGS suffix>`. */
function traceIdOf(i: TraceIdInputs, wfCode: string, suffix: string): string {
  return `${digestHex(runKey(i)).slice(0, RUN_KEY_HEX)}__${wfCode}__${suffix}`;
}

/** The trace id (the package's `workflow.pgs.makeTraceId`). */
export function makeTraceId(i: TraceIdInputs, domain: string, wfCode: string, payload: PyValue): string {
  return traceIdOf(i, wfCode, pgsSuffix(domain, i.workflow, payload));
}

/**
 * `makeTraceId` for the two runtimes, given `payloadText`, the payload's compact JSON text
 * (`compactPy(payload)`, which the run hashes for `i.payload`): the PGS suffix is remembered by
 * it across runs of one payload. Internal (not exported by pgs/index.ts): the memo trusts that
 * the text is the payload's, so a caller passing another text would poison it for the process.
 */
export function runTraceId(i: TraceIdInputs, domain: string, wfCode: string, payload: PyValue, payloadText: string): string {
  return traceIdOf(i, wfCode, memoSuffix(domain, i.workflow, payload, payloadText));
}
