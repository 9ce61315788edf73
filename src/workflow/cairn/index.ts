/**
 * Cairn's own workflows: the declaration format (schema.ts, published as
 * schema/cairn-workflow.schema.json), the compiler (compile.ts), sealed snapshots (seal.ts),
 * the runtime (run.ts), user CTs (usercts.ts) and store recording (record.ts).
 * Documentation: docs/workflow-cairn.md.
 */
export { CAIRN_WORKFLOW_FORMAT, CAIRN_WORKFLOW_SCHEMA, CAIRN_WORKFLOW_SCHEMA_ID, OUTCOMES, type Outcome } from "./schema.js";
export { CAIRN_ATOMS, STORE_KINDS, CT_OUTCOMES, atomNamed, atomByRef, operationOf, type AtomEntry, type StoreKind, type StoreKindEntry, type OperationEntry, type InputRule } from "./catalog.js";
export type { CtAtom, AtomInputs } from "../atoms/index.js";
// The CS runtimes a prepared snapshot holds (`PreparedSnapshot.cs`) and what they take and return.
export type {
  CsRuntime, CsCall, CsResult, CsRawResult, CsOutcome, CsCapabilityId, EffectContext, EffectRecord, LogReadLimit, OperationDialect, HandlerRef as CsHandlerRef,
} from "../effects/types.js";
export type { CheckedDirs } from "../effects/confine.js";
export { compileWorkflows, declarationFiles, formatDiagnostic, DECLARATION_EXTENSIONS, type CompileDiagnostic, type CompileResult, type CompiledWorkflowInfo } from "./compile.js";
export {
  sealedFileBytes, verifySealedBytes, reverifySealedSnapshot, loadSealedFile, loadSnapshotFromStore, storeSnapshot,
  SNAPSHOT_MEDIA_TYPE, MODULE_MEDIA_TYPE, SNAPSHOT_ROOT_PREFIX, SNAPSHOT_INTEGRITY_REASON, type SealedSnapshot, type SealCheck,
} from "./seal.js";
export { prepareSnapshot, runCairnWorkflow, selectWorkflow, storeFiles, STATUS_ERROR, type PreparedSnapshot, type CairnRunResult } from "./run.js";
export type { RunCairnOptions } from "./run-options.js";
export { recordCairnRun, CAIRN_ROOT_PREFIX, CAIRN_RUN_PARAMS_KIND, type CairnRecordedRun, type CairnRecordInput } from "./record.js";
export { UserModuleRunner, bundleCapabilityModule, USER_CT_LOGICAL_TIME_MS, USER_CT_TIMEOUT_MS, type UserCtDescriptor } from "./usercts.js";
export { parseBindingPath, follow } from "./paths.js";
export * from "./model.js";
export { replayCairnRun, recordedRunKind, type RecordedRunKind } from "./replay.js";
export { compileLaneBinding, laneBoundSteps, laneOutcomes, LANE_OPERATIONS, type LaneCompileReport, type LaneTemplate, type SnapshotLaneBinding } from "./lane-compile.js";
export {
  runCairnWorkflowWithPlane, executeLaneStep, lanePayload, LANE_EVIDENCE_EDGE_TYPE, PLANE_REJECTED_REASON, LANE_AUTHORITY_TTL_MS,
  type PlaneRunBinding, type PlaneAuthority, type RunCairnPlaneOptions, type LaneStepCall, type LaneStepOutcome,
} from "./lane-step.js";
