/**
 * Trace pictures (issue 4 §3.1): `<trace_id>.svg` (Graphviz, compiled to WebAssembly by
 * @hpcc-js/wasm-graphviz) and `<trace_id>.png` (the SVG rasterised by @resvg/resvg-js).
 *
 * Pictures are for humans. They are NOT part of the trace hash chain, the summary or the store
 * receipt. The DOT text (dot.ts) is deterministic; the SVG is produced by a pinned Graphviz
 * build from that text; the PNG uses resvg's default font handling (system fonts), so its
 * bytes may differ between machines.
 *
 * Bounded (`RenderLimits`): Graphviz's layout time and memory grow much faster than the graph
 * (measured on a chain whose nodes all also route to one exit: 50 nodes under a second, 75
 * nodes 18 s, 100 nodes about a minute; 1,000 nodes ran the WebAssembly module out of memory
 * at 2.2 GB), and a large PNG takes 4 bytes a pixel while it is drawn, so a graph of more than
 * `MAX_RENDER_NODES` nodes or `MAX_RENDER_EDGES` edges, or a DOT text of more than
 * `MAX_RENDER_DOT_BYTES`, is not drawn; the PNG is scaled down (from `PNG_ZOOM`) to at most
 * `MAX_PNG_PIXELS` pixels and `MAX_PNG_SIDE` pixels a side. Pictures never fail a run:
 * `writeTracePictures` returns a note instead of the file names when it skips the graph or
 * when Graphviz or resvg fail (`TracePictures`), and the run's exit code stays its status's.
 *
 * Both packages are loaded lazily (`loadTraceRenderer`), so library users, tests and `cairn
 * serve` that do not render never load the WebAssembly module or the native addon.
 */
import { join } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { writeFileAtomicSync } from "../../store/fsutil.js";
import { dotGraphSize } from "./dot.js";

/** Most nodes (workflow nodes, boundary nodes, named exits) a trace picture is drawn with. */
export const MAX_RENDER_NODES = 50;
/** Most edges (routes) a trace picture is drawn with. */
export const MAX_RENDER_EDGES = 100;
/** Longest DOT text a trace picture is drawn from (long labels and tooltips make large layouts too). */
export const MAX_RENDER_DOT_BYTES = 1024 * 1024;
/** Most pixels (width × height) of the PNG. */
export const MAX_PNG_PIXELS = 16 * 1024 * 1024;
/** Longest side of the PNG in pixels. */
export const MAX_PNG_SIDE = 16_384;
/** The PNG's scale over the SVG's size (in CSS pixels) when that fits the PNG caps. */
export const PNG_ZOOM = 1.5;

/** The bounds of one picture; `writeTracePictures` defaults each to the named constant. */
export interface RenderLimits {
  maxNodes: number;
  maxEdges: number;
  maxDotBytes: number;
  maxPngPixels: number;
  maxPngSide: number;
}

/** The PNG caps `TraceRenderer.png` keeps to. */
export type PngCap = Pick<RenderLimits, "maxPngPixels" | "maxPngSide">;

export interface TraceRenderer {
  /** DOT text → SVG text. */
  svg(dot: string): string;
  /** SVG text → PNG bytes, at `PNG_ZOOM` or scaled down to fit `cap` (default the named constants). */
  png(svg: string, cap?: PngCap): Buffer;
}

/**
 * What `writeTracePictures` did: the two file names (in the trace directory), or why it wrote
 * none — `too_large` (over a `RenderLimits` bound, checked before drawing) or `render_failed`
 * (Graphviz or resvg threw, e.g. out of memory) — with a note for the run's output.
 */
export type TracePictures = { svg: string; png: string } | { skipped: "too_large" | "render_failed"; note: string };

let loaded: TraceRenderer | undefined;
let loading: Promise<TraceRenderer> | undefined;

/**
 * The zoom of an SVG of `w` × `h` CSS pixels for its PNG: `PNG_ZOOM`, or less so that the PNG,
 * each side rounded up by at most one pixel, keeps to `cap`.
 */
export function pngZoom(w: number, h: number, cap: PngCap): number {
  if (!(w > 0 && h > 0)) return PNG_ZOOM;
  // (w·z + 1)(h·z + 1) ≤ maxPngPixels: the positive root of w·h·z² + (w + h)·z + 1 − M = 0.
  const m = cap.maxPngPixels;
  const byPixels = (-(w + h) + Math.sqrt((w + h) * (w + h) - 4 * w * h * (1 - m))) / (2 * w * h);
  return Math.max(0, Math.min(PNG_ZOOM, byPixels, (cap.maxPngSide - 1) / w, (cap.maxPngSide - 1) / h));
}

const DEFAULT_PNG_CAP: PngCap = { maxPngPixels: MAX_PNG_PIXELS, maxPngSide: MAX_PNG_SIDE };

/** Loads Graphviz (wasm) and resvg once per process; later calls return the same renderer. */
export function loadTraceRenderer(): Promise<TraceRenderer> {
  loading ??= (async () => {
    try {
      const [{ Graphviz }, { Resvg }] = await Promise.all([import("@hpcc-js/wasm-graphviz"), import("@resvg/resvg-js")]);
      const graphviz = await Graphviz.load();
      const raster = (svg: string, zoom: number) => new Resvg(svg, { background: "#ffffff", fitTo: { mode: "zoom", value: zoom } });
      loaded = {
        svg: (dot) => graphviz.dot(dot, "svg"),
        png: (svg, cap = DEFAULT_PNG_CAP) => {
          const r = raster(svg, PNG_ZOOM);
          const zoom = pngZoom(r.width, r.height, cap); // the SVG's own size, before the zoom
          return (zoom === PNG_ZOOM ? r : raster(svg, zoom)).render().asPng();
        },
      };
      return loaded;
    } catch (err) {
      loading = undefined;
      throw new CairnError(ErrorCode.INTERNAL, `cannot load the trace renderer (Graphviz wasm / resvg): ${(err as Error).message}`);
    }
  })();
  return loading;
}

/** The renderer, once `loadTraceRenderer()` has resolved in this process. */
export function loadedTraceRenderer(): TraceRenderer | undefined {
  return loaded;
}

/**
 * Renders `dot` and writes `<traceId>.svg` and `<traceId>.png` into `dir`; returns the file
 * names, or a note when the graph is over `limits` (nothing drawn) or drawing it failed
 * (nothing written). A failure to write the files is thrown, as for the summary.
 */
export function writeTracePictures(renderer: TraceRenderer, dir: string, traceId: string, dot: string, limits: Partial<RenderLimits> = {}): TracePictures {
  const max: RenderLimits = {
    maxNodes: limits.maxNodes ?? MAX_RENDER_NODES,
    maxEdges: limits.maxEdges ?? MAX_RENDER_EDGES,
    maxDotBytes: limits.maxDotBytes ?? MAX_RENDER_DOT_BYTES,
    maxPngPixels: limits.maxPngPixels ?? MAX_PNG_PIXELS,
    maxPngSide: limits.maxPngSide ?? MAX_PNG_SIDE,
  };
  const size = dotGraphSize(dot);
  const dotBytes = Buffer.byteLength(dot, "utf8");
  const over =
    size.nodes > max.maxNodes ? `${size.nodes} nodes, more than ${max.maxNodes} (MAX_RENDER_NODES)`
    : size.edges > max.maxEdges ? `${size.edges} edges, more than ${max.maxEdges} (MAX_RENDER_EDGES)`
    : dotBytes > max.maxDotBytes ? `a DOT text of ${dotBytes} bytes, more than ${max.maxDotBytes} (MAX_RENDER_DOT_BYTES)`
    : undefined;
  if (over !== undefined) return { skipped: "too_large", note: `trace pictures of ${traceId} not drawn: the graph has ${over}` };
  let svg: string;
  let png: Buffer;
  try {
    svg = renderer.svg(dot);
    png = renderer.png(svg, { maxPngPixels: max.maxPngPixels, maxPngSide: max.maxPngSide });
  } catch (err) {
    return { skipped: "render_failed", note: `trace pictures of ${traceId} not drawn: rendering failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const names = { svg: `${traceId}.svg`, png: `${traceId}.png` };
  // Each replaced whole (temp + rename): a run killed here leaves no torn picture.
  writeFileAtomicSync(join(dir, names.svg), svg, 0o644, false);
  writeFileAtomicSync(join(dir, names.png), png, 0o644, false);
  return names;
}
