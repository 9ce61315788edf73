/**
 * The PGS v0.3 runtime: runs compiled PGS workspaces (SEMANTICS Part A) with Cairn's
 * determinism and integrity rules.
 *
 * - `runPgsWorkflow(opts)`: one run end to end (snapshot load + trust, prior state, trace id,
 *   scheduler/dispatcher, chained trace + summary, optional store receipt).
 * - `loadSnapshot(workspace, domain)`: the trusted, read-only package of one domain.
 * - `verifyTraceChain(path)`: checks the seq numbering and hash chain of a trace file.
 * - `acquireDataRootLock(dataRoot)`: the data root's cross-process lock, to hold across many
 *   runs (`dataRootLock`); re-exported from src/workflow/effects/data-root-lock.ts.
 */
export {
  runPgsWorkflow, readPayloadFile, parseWorkflowFqdn, STATUS_ERROR, MIN_TRACE_ERROR_RESERVE_BYTES, type RunPgsOptions, type PgsRunResult, type WorkflowName, type PayloadParseOptions,
} from "./run.js";
export { loadSnapshot, snapshotManifest, SNAPSHOT_FILES, UNSUPPORTED_FORMAT_REASON, type PgsPackage, type SnapshotFile, type SnapshotRole, type EntryPoint } from "./snapshot.js";
export { verifyTrust, projectionHash, SNAPSHOT_INTEGRITY_REASON, type IntegrityCheck } from "./trust.js";
export { Vocabulary, hexAddr } from "./vocab.js";
export {
  TraceWriter, verifyTraceChain, verifyTraceChainText, summaryChainHead, TRACE_SCHEMA_VERSION, TRACE_EVENT_TYPES, MAX_TRACE_BYTES, TRACE_ERROR_RESERVE_BYTES,
  TRACE_LIMIT_REASON, traceLimit, isTraceLimitError, emitRunError, type TraceLimit, type TraceEventType, type TraceEventFields, type TraceChainReport, UNTRACED_EFFECT_MEMBER, type UntracedEffect,
} from "./trace.js";
export { makeTraceId, pgsSuffix, runKey, TRACE_ID_RE, type TraceIdInputs } from "./trace-id.js";
export { relevantFiles, captureState, stateDigest, type StateFile, type UnusableFile, type UnusableKind } from "./state.js";
export { recordRun, effectsBody, ROOT_PREFIX, type RecordedRun, type RecordedInputs, type RecordInput, type RunRecordBody } from "./record.js";
export { replayPgsRun, type ReplayResult, type ReplayDifference } from "./replay.js";
export { resolveBinding, resolveStepInputs, resolveOutput } from "./grammar.js";
export { UNMAPPED_HANDLER_REASON, type CtAtomTable, type EffectFile, type HandlerRef } from "./handlers.js";
export type { PathEntry, EffectCall, ViolationRecord } from "./engine.js";
export { parsePyJson, canonicalPy, compactPy, spacedPy, prettyPy, pyFloatRepr } from "./pyjson.js";
export { fromPlain, toPlain, type PyValue, type PyObject } from "./value.js";
export type { PyDict } from "../py/value.js";
export * from "./constants.js";
export {
  DataRootLock, acquireDataRootLock, acquireDataRootLockAsync, dataRootLockFile, dataRootRealPath, DEFAULT_DATA_ROOT_LOCK_WAIT_MS, MAX_DATA_ROOT_LOCK_WAIT_MS,
} from "../effects/data-root-lock.js";
