/** The execution-plane node: registration, ordered admission, single-target dispatch, evidence. */
export * from "./node.js";
