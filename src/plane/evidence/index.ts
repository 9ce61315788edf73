/** Evidence: redaction, sinks (memory, JSONL, store). */
export * from "./redact.js";
export * from "./sinks.js";
export * from "./store-sink.js";
