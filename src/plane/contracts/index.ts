/** Execution-plane contracts: versioned value types with validating constructors and canonical JSON. */
export * from "./base.js";
export * from "./ids.js";
export * from "./failure.js";
export * from "./authority.js";
export * from "./target.js";
export * from "./lineage.js";
export * from "./admission.js";
export * from "./execution.js";
