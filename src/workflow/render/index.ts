/**
 * Trace pictures of PGS runs: the DOT text of a run (deterministic) and its SVG/PNG renderings
 * (for humans; not part of the trace hash chain or the store receipt).
 */
export { traceDot, dotGraphSize, type TraceGraphInput } from "./dot.js";
export {
  loadTraceRenderer, loadedTraceRenderer, writeTracePictures, pngZoom, MAX_RENDER_NODES, MAX_RENDER_EDGES, MAX_RENDER_DOT_BYTES, MAX_PNG_PIXELS, MAX_PNG_SIDE, PNG_ZOOM,
  type TraceRenderer, type TracePictures, type RenderLimits, type PngCap,
} from "./render.js";
export { cairnTraceDot, cairnFailingNode, type CairnTraceGraphInput, type FailingNodePathEntry } from "./cairn-dot.js";
