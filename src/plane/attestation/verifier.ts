/**
 * The target-verifier seam. A TargetAttestation is an untrusted claim a target presents; only a
 * registered TargetVerifier can turn it into a TargetDescriptor, and only descriptors minted that
 * way enter the node's routing table. Claimed capability classes are never believed: the classes
 * in a descriptor are the ones the verifier itself attests.
 *
 * Stronger classes (a container runtime, a microVM, a TEE quote) plug in by implementing this
 * interface with a verifier that checks real evidence (a signed quote, a measured boot log) and
 * registering it on the node. The node enforces for every verifier that
 *   - the descriptor's `verifier_id` is the verifier's own,
 *   - every attested class is one the verifier declares in `capability_classes`,
 *   - the descriptor is not already expired.
 */
import type { JsonValue } from "../contracts/base.js";
import type { TargetAttestation, TargetDescriptor } from "../contracts/target.js";

export interface TargetVerifyContext {
  /** Milliseconds since the epoch, from the node's injected Clock. */
  readonly now: number;
}

export type TargetVerdict =
  | { readonly ok: true; readonly descriptor: TargetDescriptor }
  | { readonly ok: false; readonly message: string; readonly details: Record<string, JsonValue> };

export interface TargetVerifier {
  readonly verifier_id: string;
  /** The attestation types this verifier reads. */
  readonly attestation_types: readonly string[];
  /** The only capability classes this verifier may mint. */
  readonly capability_classes: readonly string[];
  handles(attestation: TargetAttestation): boolean;
  verify(attestation: TargetAttestation, ctx: TargetVerifyContext): TargetVerdict;
}
