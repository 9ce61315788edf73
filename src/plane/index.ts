/**
 * The execution plane: contracts, lanes and placements, the node (registration, ordered
 * admission, single-target dispatch), authority (Ed25519 refs + policy), target attestation
 * (`local-process-weak` and the verifier seam), evidence (redaction, JSONL and store sinks) and
 * the node config file. See docs/plane.md.
 */
export * from "./contracts/index.js";
export * from "./lanes/index.js";
export * from "./node/index.js";
export * from "./authority/index.js";
export * from "./attestation/index.js";
export * from "./evidence/index.js";
export * from "./config/index.js";
export type { Placement, PlacementKind } from "./placements/index.js";
