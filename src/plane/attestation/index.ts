/** Target attestation: the verifier seam and the honest weak `local-process-weak` class. */
export * from "./verifier.js";
export * from "./local-weak.js";
