/** Handler-ref modules of the PGS v0.3 CT atoms (SEMANTICS A.10 sealed registry). */

/** Module prefix of the generic transforms package (`pgs_transforms`). */
export const PGS_TRANSFORMS_MODULE = "pgs_transforms.implementation.transforms.atoms";
/** Module prefix of the AI-governance package's own atoms (`pgs_ai_governance`). */
export const PGS_AI_GOVERNANCE_MODULE = "pgs_ai_governance.implementation.capability_transforms.atoms";
/** Every PGS v0.3 atom module exposes its atom as `execute`. */
export const PGS_CALLABLE = "execute";
