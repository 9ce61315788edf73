/**
 * Bounded trace pictures (render/render.ts `RenderLimits`): graphs over MAX_RENDER_NODES /
 * MAX_RENDER_EDGES / MAX_RENDER_DOT_BYTES are not drawn (a note, no files, the renderer never
 * called), a renderer failure is a note and never a failed run, and the PNG keeps to
 * MAX_PNG_PIXELS / MAX_PNG_SIDE (`pngZoom`).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { cairnTraceDot, dotGraphSize, loadTraceRenderer, MAX_PNG_PIXELS, MAX_PNG_SIDE, MAX_RENDER_DOT_BYTES, MAX_RENDER_EDGES, MAX_RENDER_NODES, PNG_ZOOM, pngZoom, writeTracePictures, type TraceRenderer } from "../../src/workflow/render/index.js";
import type { SnapshotWorkflow } from "../../src/workflow/cairn/model.js";
import { payload, sandbox, WF } from "./pgs-fixture.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-bound-render-"));
  dirs.push(d);
  return d;
}

/** A chain of `n` nodes; each also routes VIOLATION to one exit (the layout Graphviz finds hardest). */
function chainDot(n: number): string {
  const nodes: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    nodes[`n${i}`] = {
      addr: i + 1, maxVisits: null, steps: [{ kind: "ct", id: "v", handler: { type: "atom", name: "json_schema_validate" } }],
      routes: { SUCCESS: i + 1 < n ? { node: `n${i + 1}` } : { exit: "DONE", reason: "ok" }, VIOLATION: { exit: "STOP", reason: "stop" } },
    };
  }
  const workflow = { entry: "n0", nodes } as unknown as SnapshotWorkflow;
  return cairnTraceDot({ workflow, wfFqdn: "t::W", traceId: "TID", status: "SUCCESS", exitCode: 0, path: [], exit: null, errorNode: null });
}

/** A renderer that records its calls; `fail` makes `svg` throw. */
function fakeRenderer(fail?: string): TraceRenderer & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    svg: (dot) => {
      calls.push("svg");
      if (fail !== undefined) throw new Error(fail);
      return `<svg>${dot.length}</svg>`;
    },
    png: () => {
      calls.push("png");
      return Buffer.from("png");
    },
  };
}

function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe("render bounds", () => {
  it("has named constants", () => {
    expect([MAX_RENDER_NODES, MAX_RENDER_EDGES, MAX_RENDER_DOT_BYTES, MAX_PNG_PIXELS, MAX_PNG_SIDE, PNG_ZOOM]).toEqual([50, 100, 1024 * 1024, 16 * 1024 * 1024, 16_384, 1.5]);
  });

  it("dotGraphSize counts the nodes (with exits) and edges of a trace graph", () => {
    expect(dotGraphSize(chainDot(10))).toEqual({ nodes: 12, edges: 20 });
  });

  it("a graph over the node or edge bound is not drawn: a note, no files, the renderer not called", () => {
    const dot = chainDot(10); // 12 nodes, 20 edges
    const bytes = Buffer.byteLength(dot, "utf8"); // the label's "·" is two bytes
    expect(bytes).toBe(dot.length + 1);
    for (const [limits, what] of [[{ maxNodes: 11 }, "12 nodes, more than 11 (MAX_RENDER_NODES)"], [{ maxEdges: 19 }, "20 edges, more than 19 (MAX_RENDER_EDGES)"], [{ maxDotBytes: bytes - 1 }, `a DOT text of ${bytes} bytes, more than ${bytes - 1} (MAX_RENDER_DOT_BYTES)`]] as const) {
      const d = dir();
      const r = fakeRenderer();
      expect(writeTracePictures(r, d, "TID", dot, limits)).toEqual({ skipped: "too_large", note: `trace pictures of TID not drawn: the graph has ${what}` });
      expect(r.calls).toEqual([]);
      expect(readdirSync(d)).toEqual([]);
    }
    // at the bounds it is drawn
    const d = dir();
    const r = fakeRenderer();
    expect(writeTracePictures(r, d, "TID", dot, { maxNodes: 12, maxEdges: 20, maxDotBytes: bytes })).toEqual({ svg: "TID.svg", png: "TID.png" });
    expect(r.calls).toEqual(["svg", "png"]);
    expect(readdirSync(d).sort()).toEqual(["TID.png", "TID.svg"]);
  });

  it("with the default bounds, a chain of MAX_RENDER_NODES + 1 nodes is not drawn", () => {
    const r = fakeRenderer();
    const out = writeTracePictures(r, dir(), "TID", chainDot(MAX_RENDER_NODES + 1));
    expect(out).toMatchObject({ skipped: "too_large" });
    expect(r.calls).toEqual([]);
  });

  it("a renderer that throws (e.g. Graphviz out of memory) is a note, not an error; nothing is written", () => {
    const d = dir();
    const out = writeTracePictures(fakeRenderer("Program terminated with exit(1)"), d, "TID", chainDot(3));
    expect(out).toEqual({ skipped: "render_failed", note: "trace pictures of TID not drawn: rendering failed: Program terminated with exit(1)" });
    expect(readdirSync(d)).toEqual([]);
  });

  it("pngZoom keeps the PNG, each side rounded up, within the caps (property)", () => {
    fc.assert(
      fc.property(fc.double({ min: 1, max: 100_000, noNaN: true }), fc.double({ min: 1, max: 100_000, noNaN: true }), fc.integer({ min: 1000, max: 1 << 26 }), fc.integer({ min: 100, max: 1 << 15 }), (w, h, maxPngPixels, maxPngSide) => {
        const z = pngZoom(w, h, { maxPngPixels, maxPngSide });
        expect(z).toBeLessThanOrEqual(PNG_ZOOM);
        expect(z).toBeGreaterThanOrEqual(0);
        expect((Math.floor(w * z) + 1) * (Math.floor(h * z) + 1)).toBeLessThanOrEqual(maxPngPixels * (1 + 1e-9));
        expect(Math.ceil(w * z)).toBeLessThanOrEqual(maxPngSide);
        expect(Math.ceil(h * z)).toBeLessThanOrEqual(maxPngSide);
      }),
      { numRuns: 500 },
    );
    expect(pngZoom(100, 100, { maxPngPixels: MAX_PNG_PIXELS, maxPngSide: MAX_PNG_SIDE })).toBe(PNG_ZOOM);
  });
});

describe("render bounds with Graphviz and resvg", () => {
  let renderer: TraceRenderer;
  beforeAll(async () => {
    renderer = await loadTraceRenderer();
  });

  it("the PNG is drawn at PNG_ZOOM under the caps, and scaled down to fit lowered ones", () => {
    const dot = chainDot(4);
    const big = dir();
    expect(writeTracePictures(renderer, big, "TID", dot)).toEqual({ svg: "TID.svg", png: "TID.png" });
    const full = pngSize(readFileSync(join(big, "TID.png")));
    const small = dir();
    const maxPngPixels = Math.floor((full.width * full.height) / 4);
    expect(writeTracePictures(renderer, small, "TID", dot, { maxPngPixels, maxPngSide: full.height })).toEqual({ svg: "TID.svg", png: "TID.png" });
    const capped = pngSize(readFileSync(join(small, "TID.png")));
    expect(capped.width * capped.height).toBeLessThanOrEqual(maxPngPixels);
    expect(capped.width * capped.height).toBeGreaterThan(maxPngPixels * 0.9);
    expect(readFileSync(join(small, "TID.svg"), "utf8")).toBe(readFileSync(join(big, "TID.svg"), "utf8"));
    const side = dir();
    writeTracePictures(renderer, side, "TID", dot, { maxPngSide: 200 });
    const s = pngSize(readFileSync(join(side, "TID.png")));
    expect(Math.max(s.width, s.height)).toBeLessThanOrEqual(200);
    expect(existsSync(join(side, "TID.svg"))).toBe(true);
  });
});

describe("a run whose pictures fail", () => {
  it("completes with its status's exit code and reports the failure as a note (runPgsWorkflow)", async () => {
    vi.resetModules(); // fresh modules: the run sees a loaded renderer whose Graphviz fails
    vi.doMock("../../src/workflow/render/render.js", async (original) => ({
      ...(await original<typeof import("../../src/workflow/render/render.js")>()),
      loadedTraceRenderer: () => fakeRenderer("Program terminated with exit(1)"),
    }));
    try {
      const { runPgsWorkflow, readPayloadFile } = await import("../../src/workflow/pgs/index.js");
      const b = sandbox({ seedLicenseFacts: true });
      try {
        const r = runPgsWorkflow({ workspace: b.workspace, workflow: WF.govern, payload: readPayloadFile(payload("agent_governance/01_valid_standard_action.json")), dataRoot: b.dataRoot, render: true });
        expect(r.status).toBe("SUCCESS");
        expect(r.exitCode).toBe(0);
        expect(r.pictures).toEqual({ skipped: "render_failed", note: `trace pictures of ${r.traceId} not drawn: rendering failed: Program terminated with exit(1)` });
        expect(readdirSync(r.traceDirAbs).sort()).toEqual([`${r.traceId}.jsonl`, `${r.traceId}.md`]);
      } finally {
        b.cleanup();
      }
    } finally {
      vi.doUnmock("../../src/workflow/render/render.js");
      vi.resetModules();
    }
  });
});
