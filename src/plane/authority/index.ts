/** Authority: the verifier seam and the Ed25519 verifier with its keygen/sign/policy helpers. */
export * from "./verifier.js";
export * from "./ed25519.js";
export * from "./request-hash.js";
