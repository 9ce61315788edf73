/**
 * The authority verifier seam. The node has exactly one; it turns an AuthorityRef carried by an
 * AdmissionRequest into claims (accepted) or a stable rejection reason (refused). The node never
 * interprets a ref itself: it only runs the registered verifier at step 8 of its admission order.
 */
import type { JsonValue } from "../contracts/base.js";
import type { AdmissionRequest } from "../contracts/admission.js";
import type { AuthorityRef } from "../contracts/authority.js";

/** What the verifier sees besides the ref: the whole (validated) request and the node's clock. */
export interface AuthorityContext {
  readonly request: AdmissionRequest;
  /** Milliseconds since the epoch, from the node's injected Clock. */
  readonly now: number;
}

/** What an accepted ref establishes. */
export interface AuthorityClaims {
  readonly ref: string;
  readonly subject: string;
  readonly key_id: string | null;
}

/**
 * A refused ref: `reason` is a top-level rejection code, `details.reason` the specific cause
 * (a snake_case code; the node fills it from `reason` if missing). The node validates the
 * verdict: anything else (a throw, a malformed verdict, a reason outside these three, non-JSON
 * details) is `authority_rejected` with details.reason `verifier_error`.
 */
export interface AuthorityRefusal {
  readonly reason: "authority_rejected" | "authority_expired" | "policy_denied";
  readonly message: string;
  readonly details: Record<string, JsonValue>;
}

export type AuthorityVerdict = { readonly ok: true; readonly claims: AuthorityClaims } | ({ readonly ok: false } & AuthorityRefusal);

export interface AuthorityVerifier {
  readonly verifier_id: string;
  /**
   * Digest of the canonical policy + trusted-keys configuration this verifier enforces; stamped
   * on every evidence record as `policy_bundle_hash`. Null if the verifier has no such bundle.
   */
  readonly policy_bundle_hash: string | null;
  verify(ref: AuthorityRef, ctx: AuthorityContext): AuthorityVerdict;
}
