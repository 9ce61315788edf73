/**
 * Targets and the node: TargetAttestation (an untrusted claim), TargetDescriptor (minted only
 * by a target verifier), LaneCapabilities and NodeDescriptor (what `describe()` returns).
 */
import { z } from "zod";
import { CONTRACT_VERSION, contract, contractVersion, epochMs, jsonObject, metadata, nonEmpty, stringSet } from "./base.js";

export const targetAttestationSchema = z
  .object({
    contract_version: contractVersion,
    attestation_id: nonEmpty,
    attestation_type: nonEmpty,
    target_id: nonEmpty.optional(),
    lane_id: nonEmpty.optional(),
    evidence: jsonObject.default({}),
    presented_at: epochMs,
    claimed_capability_classes: stringSet.default([]),
    metadata,
  })
  .strict();
export const TargetAttestation = contract("TargetAttestation", targetAttestationSchema);
export type TargetAttestation = z.output<typeof targetAttestationSchema>;
export const makeTargetAttestation = TargetAttestation.make;
export const parseTargetAttestation = TargetAttestation.parse;

export const targetDescriptorSchema = z
  .object({
    contract_version: contractVersion,
    target_id: nonEmpty,
    lane_id: nonEmpty,
    attested_capability_classes: stringSet,
    verifier_id: nonEmpty,
    attestation_id: nonEmpty,
    attested_at: epochMs,
    expires_at: epochMs.optional(),
    metadata,
    signature: nonEmpty.optional(),
  })
  .strict()
  .refine((d) => d.expires_at === undefined || d.expires_at > d.attested_at, {
    message: "must be after attested_at",
    path: ["expires_at"],
  });
export const TargetDescriptor = contract("TargetDescriptor", targetDescriptorSchema);
export type TargetDescriptor = z.output<typeof targetDescriptorSchema>;
export const makeTargetDescriptor = TargetDescriptor.make;
export const parseTargetDescriptor = TargetDescriptor.parse;

export const laneCapabilitiesSchema = z
  .object({
    contract_version: contractVersion,
    lane_id: nonEmpty,
    protocols: stringSet.default([]),
    surfaces: stringSet.default([]),
    supports_execute: z.boolean(),
    supports_stream: z.boolean(),
  })
  .strict();
export const LaneCapabilities = contract("LaneCapabilities", laneCapabilitiesSchema);
export type LaneCapabilities = z.output<typeof laneCapabilitiesSchema>;
export const makeLaneCapabilities = LaneCapabilities.make;
export const parseLaneCapabilities = LaneCapabilities.parse;

const verifierSummary = z
  .object({ verifier_id: nonEmpty, attestation_types: stringSet, capability_classes: stringSet })
  .strict();

export const nodeDescriptorSchema = z
  .object({
    contract_version: contractVersion,
    node_id: nonEmpty,
    contract_version_range: z
      .object({ min: z.literal(CONTRACT_VERSION), max: z.literal(CONTRACT_VERSION) })
      .strict()
      .default({ min: CONTRACT_VERSION, max: CONTRACT_VERSION }),
    registered_lanes: z.array(laneCapabilitiesSchema),
    registered_target_verifiers: z.array(verifierSummary),
    verified_targets: z.array(targetDescriptorSchema),
    authority_verifier: nonEmpty.nullable(),
    registration_complete: z.boolean(),
    metadata,
  })
  .strict();
export const NodeDescriptor = contract("NodeDescriptor", nodeDescriptorSchema);
export type NodeDescriptor = z.output<typeof nodeDescriptorSchema>;
export const makeNodeDescriptor = NodeDescriptor.make;
export const parseNodeDescriptor = NodeDescriptor.parse;
