/** Target attestation: the verifier seam and the honest weak classes `local-process-weak` (same host) and `declared-endpoint-weak` (operator-declared network endpoints). */
export * from "./verifier.js";
export * from "./local-weak.js";
export * from "./declared-endpoint.js";
