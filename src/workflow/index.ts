/**
 * Governed workflows' public API, exported by the package root as the namespace `workflow`
 * (`import { workflow } from "cairn"`), in namespaces because the two runtimes share names
 * (`STATUS_ERROR`, run options and results):
 *
 * - `workflow.pgs`: PGS v0.3 workspaces — `runPgsWorkflow`, `loadSnapshot`, `verifyTraceChain`,
 *   trace ids, recording and `replayPgsRun`;
 * - `workflow.cairn`: Cairn's own declarations — `compileWorkflows`, sealed snapshots,
 *   `prepareSnapshot`, `runCairnWorkflow`, `runCairnWorkflowWithPlane`, `replayCairnRun`;
 * - `workflow.examine`: `examineTrace` and the classification behind `cairn examine`;
 * - `workflow.render`: the trace pictures (`loadTraceRenderer`, DOT builders);
 * - `replayRecordedRun`: replays a recorded run of either runtime (what `cairn wf replay` does);
 * - the data-root lock both runtimes take (`acquireDataRootLock`, `acquireDataRootLockAsync`,
 *   `DataRootLock`) and `EffectDurability`;
 * - `TornFile`: a data-root file a run left torn (what the server's `onTornFile` is given).
 */
export * as pgs from "./pgs/index.js";
export * as cairn from "./cairn/index.js";
export * as examine from "./examine/index.js";
export * as render from "./render/index.js";
export { replayRecordedRun } from "./cairn/replay.js";
export {
  acquireDataRootLock, acquireDataRootLockAsync, DataRootLock, dataRootLockDir, dataRootLockFile, dataRootRealPath,
  DATA_ROOT_LOCK_DIR_ENV, DEFAULT_DATA_ROOT_LOCK_WAIT_MS, MAX_DATA_ROOT_LOCK_WAIT_MS, type EffectDurability,
} from "./effects/index.js";
export type { TornFile } from "./effects/torn-files.js";
