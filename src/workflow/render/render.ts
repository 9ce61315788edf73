/**
 * Trace pictures (issue 4 §3.1): `<trace_id>.svg` (Graphviz, compiled to WebAssembly by
 * @hpcc-js/wasm-graphviz) and `<trace_id>.png` (the SVG rasterised by @resvg/resvg-js).
 *
 * Pictures are for humans. They are NOT part of the trace hash chain, the summary or the store
 * receipt. The DOT text (dot.ts) is deterministic; the SVG is produced by a pinned Graphviz
 * build from that text; the PNG uses resvg's default font handling (system fonts), so its
 * bytes may differ between machines.
 *
 * Both packages are loaded lazily (`loadTraceRenderer`), so library users, tests and `cairn
 * serve` that do not render never load the WebAssembly module or the native addon.
 */
import { join } from "node:path";
import { CairnError, ErrorCode } from "../../core/errors.js";
import { writeFileAtomicSync } from "../../store/fsutil.js";

export interface TraceRenderer {
  /** DOT text → SVG text. */
  svg(dot: string): string;
  /** SVG text → PNG bytes. */
  png(svg: string): Buffer;
}

let loaded: TraceRenderer | undefined;
let loading: Promise<TraceRenderer> | undefined;

/** Loads Graphviz (wasm) and resvg once per process; later calls return the same renderer. */
export function loadTraceRenderer(): Promise<TraceRenderer> {
  loading ??= (async () => {
    try {
      const [{ Graphviz }, { Resvg }] = await Promise.all([import("@hpcc-js/wasm-graphviz"), import("@resvg/resvg-js")]);
      const graphviz = await Graphviz.load();
      loaded = {
        svg: (dot) => graphviz.dot(dot, "svg"),
        png: (svg) => new Resvg(svg, { background: "#ffffff", fitTo: { mode: "zoom", value: 1.5 } }).render().asPng(),
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

/** Renders `dot` and writes `<traceId>.svg` and `<traceId>.png` into `dir`; returns the file names. */
export function writeTracePictures(renderer: TraceRenderer, dir: string, traceId: string, dot: string): { svg: string; png: string } {
  let svg: string;
  let png: Buffer;
  try {
    svg = renderer.svg(dot);
    png = renderer.png(svg);
  } catch (err) {
    throw new CairnError(ErrorCode.INTERNAL, `rendering the trace pictures of ${traceId} failed: ${(err as Error).message}`, { traceId });
  }
  const names = { svg: `${traceId}.svg`, png: `${traceId}.png` };
  // Each replaced whole (temp + rename): a run killed here leaves no torn picture.
  writeFileAtomicSync(join(dir, names.svg), svg, 0o644, false);
  writeFileAtomicSync(join(dir, names.png), png, 0o644, false);
  return names;
}
