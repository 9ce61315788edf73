/** Cairn's public API. Everything not exported here is internal. */
export { CairnError, UsageError, ErrorCode, exitCodeFor, isCairnError, type ErrorCodeValue } from "./core/errors.js";
export {
  type Digest, isDigest, parseDigest, sha256, digestStream, Hasher, DigestStream, digestToBytes, digestFromBytes,
} from "./core/digest.js";
export { canonicalize, canonicalBytes, canonicalDigest, parseCanonical } from "./core/canonical.js";
export { merkleRoot, inclusionProof, verifyInclusion, MerkleBuilder, type InclusionProof } from "./core/merkle.js";
export { type Clock, systemClock, fixedClock, steppingClock } from "./core/clock.js";
export { Xoshiro128, splitmix64, deriveSeed } from "./core/prng.js";

// A Store is made with openStore (its constructor takes internal parts and is @internal).
export { openStore, resolveStoreDir, Store, StoreView, type OpenStoreOptions } from "./store/store.js";
export type { Durability } from "./store/catalog.js";
export type { ArtifactInfo, ArtifactState, ArtifactStorage, PutOptions, PutResult, ReadOptions, ListOptions } from "./store/artifact-rows.js";
export type { ArtifactReader, ReaderOptions } from "./store/artifact-reader.js";
export type { ArtifactLoss } from "./store/artifact-loss.js";
export type { EdgeInput, EdgeRecord, Lineage, LineageNode, LineageOptions, Direction } from "./store/edges.js";
export { RECEIPT_MEDIA_TYPE, actionKey, type Receipt, type ReceiptInput, type ReceiptStatus, type Params } from "./store/receipts.js";
export type { Snapshot, Root, RootKind } from "./store/refs.js";
export { CONTAINS_EDGE_TYPE, type GcReport, type SweptArtifact } from "./store/gc.js";
export type { FsckReport, FsckProblem, FsckProblemCode } from "./store/fsck.js";
export { TYPED_FRAME_MAGIC } from "./store/identity.js";
export {
  STORE_FORMAT_VERSION, SMALL_ARTIFACT_MAX_BYTES, MAX_BUFFERED_GET_BYTES, DEFAULT_GC_GRACE_MS, DEFAULT_STORE_DIR, STORE_ENV_VAR,
} from "./store/layout.js";

// Batch runs (PLEX).
export { run, resume, streamOutputs, type ExecutionResult, type OutputRecord, type Progress, type RunHooks } from "./batch/engine.js";
export { verifyRun, replay, type VerifyReport, type VerifyProblem, type VerifyNote, type ReplayResult } from "./batch/verify.js";
export type { ReplayOptions, VerifyOptions } from "./batch/api-checks.js";
export { normalizeConfig, parseSize, type RunConfig, type RunConfigInput } from "./batch/config.js";
export type { Manifest, ManifestPulse, Counts } from "./batch/manifest.js";
export type { AttemptLog } from "./batch/pulse.js";
export { loadManifest } from "./batch/manifest.js";
export type { FunctionSource } from "./batch/runner.js";
export type { Dataset } from "./batch/ingest.js";
export type { EUId, EURecord, InputFormat } from "./batch/input/types.js";
export type { EUError } from "./batch/records.js";
export { idHash64, partitionOf, stableHash64 } from "./batch/partition.js";
export { listRuns, type RunSummary } from "./batch/runs.js";

// The execution plane, as one namespace (its ExecutionResult is not the batch engine's).
export * as plane from "./plane/index.js";

// Governed workflows (PGS v0.3 workspaces and Cairn's own declarations) and their HTTP gateway.
export * as workflow from "./workflow/index.js";
// The way out of a torn JSON-lines data-root file, which every run refuses until it is repaired
// (ARCHITECTURE §11.6; the CLI's `cairn wf repair-tail`): takes the data root's lock like a run.
export { repairTornTail, type RepairTailOptions, type TornTailRepair } from "./workflow/effects/jsonl.js";
export * as server from "./server/index.js";
