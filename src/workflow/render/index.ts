/**
 * Trace pictures of PGS runs: the DOT text of a run (deterministic) and its SVG/PNG renderings
 * (for humans; not part of the trace hash chain or the store receipt).
 */
export { traceDot, type TraceGraphInput } from "./dot.js";
export { loadTraceRenderer, loadedTraceRenderer, writeTracePictures, type TraceRenderer } from "./render.js";
export { cairnTraceDot, type CairnTraceGraphInput } from "./cairn-dot.js";
