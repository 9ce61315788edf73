/** Evidence: redaction, sinks (memory, JSONL, store). */
export * from "./redact.js";
export * from "./sinks.js";
export { TORN_TAIL_REASON, TAIL_SCAN_CHUNK_BYTES, MAX_TAIL_PARSE_BYTES } from "./jsonl-tail.js";
export * from "./store-sink.js";
