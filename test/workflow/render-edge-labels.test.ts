/**
 * Edge labels of the trace pictures stay readable: parallel PGS routes between the same two
 * nodes are one edge whose label lists the conditions one a line (they were drawn as two edges
 * whose labels touched, "VIOLATIONNOT_FOUND"), and routes in opposite directions between two
 * nodes (A→B on VIOLATION, B→A on SUCCESS) get their labels far enough apart (`nodesep`) that a
 * wider font than Graphviz's Helvetica estimate does not make them overlap ("VIOLATIONSUCCESS").
 */
import { mkdirSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadSnapshot, type PathEntry, type PgsPackage, type PgsRunResult } from "../../src/workflow/pgs/index.js";
import { cairnTraceDot, loadTraceRenderer, traceDot, type TraceRenderer } from "../../src/workflow/render/index.js";
import type { CairnRunResult, PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { baseDecl, prepared, run } from "./cairn-fixture.js";
import { payload, sandbox, WF, type Sandbox } from "./pgs-fixture.js";

const boxes: Sandbox[] = [];
function box(): Sandbox {
  const b = sandbox({ seedLicenseFacts: true });
  boxes.push(b);
  return b;
}
afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

let renderer: TraceRenderer;
beforeAll(async () => {
  renderer = await loadTraceRenderer();
});

const TAKEN = 'style="bold", penwidth="2.5", color="#1f6fd0", fontcolor="#1f6fd0"';
const GRAPH_SPACING = 'nodesep="0.75", pad="0.3"';

/**
 * Width of a label character in em, for the overlap check: Graphviz lays labels out with its
 * Helvetica estimate (about 0.6 em for these upper-case names), but the SVG is drawn with the
 * viewer's font and the PNG with the system's; the widest measured, resvg falling back to DejaVu
 * Serif on a machine without Helvetica or Arial, drew NOT_FOUND at 0.754 em a character.
 */
const DRAWN_EM = 0.8;

interface LabelBox {
  edge: string;
  text: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** The edge label lines of an SVG as drawn boxes (centred at the text's x, `DRAWN_EM` wide a character). */
function labelBoxes(svg: string): LabelBox[] {
  const out: LabelBox[] = [];
  for (const g of svg.matchAll(/<g id="(edge\d+)" class="edge">[\s\S]*?(?=<!-- |<\/svg>)/g)) {
    for (const t of g[0].matchAll(/<text [^>]*text-anchor="middle" x="([-\d.]+)" y="([-\d.]+)"[^>]*font-size="([\d.]+)"[^>]*>([^<]*)<\/text>/g)) {
      const [x, y, size, text] = [Number(t[1]), Number(t[2]), Number(t[3]), t[4] as string];
      const w = text.length * DRAWN_EM * size;
      out.push({ edge: g[1] as string, text, x0: x - w / 2, x1: x + w / 2, y0: y - size, y1: y + 0.25 * size });
    }
  }
  return out;
}

/** Pairs of label lines of different edges whose drawn boxes overlap. */
function overlaps(svg: string): string[] {
  const boxes = labelBoxes(svg);
  const found: string[] = [];
  boxes.forEach((a, i) => {
    for (const b of boxes.slice(i + 1)) {
      if (a.edge !== b.edge && a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) found.push(`${a.text} / ${b.text}`);
    }
  });
  return found;
}

const edgeLines = (dot: string): string[] => dot.split("\n").filter((l) => / -> /.test(l));

describe("PGS pictures (traceDot)", () => {
  const GOVERN = (n: string) => payload(`agent_governance/${n}.json`);
  function dotOf(b: Sandbox, r: PgsRunResult, edit?: (pkg: PgsPackage, wf: number) => PgsPackage): string {
    const loaded = loadSnapshot(b.workspace, r.domain);
    const wf = loaded.vocab.addr(r.workflow);
    const pkg = edit === undefined ? loaded : edit(loaded, wf);
    const start = pkg.entry.get(wf)?.start as number;
    return traceDot({ pkg, wf, wfFqdn: r.workflow, start, traceId: r.traceId, status: r.status, exitCode: r.exitCode, path: r.path, errorCc: r.error?.cc ?? null });
  }

  it("parallel routes (RESOLVE_LICENSE_TIER → RECORD_DENIED_ACTION on NOT_FOUND and VIOLATION) are one edge, its label one condition a line; taken when either was", () => {
    const b = box();
    const r = b.run(WF.govern, GOVERN("02_no_license"));
    expect(r.path.map((p) => `${p.addr}=${p.status}`)).toEqual(["31=ACK", "10=SUCCESS", "7=SUCCESS", "15=NOT_FOUND", "13=SUCCESS"]);
    const dot = dotOf(b, r);
    expect(dot.split("\n")[1]).toBe(`  graph [rankdir="TB", ${GRAPH_SPACING}, fontname="Helvetica", fontsize="12", labelloc="t", label="${WF.govern}\\nSUCCESS · ${r.traceId}"];`);
    expect(edgeLines(dot)).toEqual([
      '  n6 -> n18 [label="SUCCESS"];',
      '  n6 -> n13 [label="VIOLATION"];',
      `  n7 -> n15 [label="SUCCESS", ${TAKEN}];`,
      '  n7 -> n13 [label="VIOLATION"];',
      `  n10 -> n7 [label="SUCCESS", ${TAKEN}];`,
      `  n15 -> n13 [label="NOT_FOUND\\nVIOLATION", ${TAKEN}];`,
      '  n15 -> n6 [label="SUCCESS"];',
      '  n18 -> n14 [label="SUCCESS"];',
      '  n18 -> n13 [label="VIOLATION"];',
      `  n31 -> n10 [label="ACK", ${TAKEN}];`,
    ]);
    // A run that takes neither condition of the merged edge leaves it grey.
    const ok = b.run(WF.govern, GOVERN("01_valid_standard_action"));
    expect(edgeLines(dotOf(b, ok))).toContain('  n15 -> n13 [label="NOT_FOUND\\nVIOLATION"];');
  });

  it("the SVG of the governance workflow draws no two labels over each other", () => {
    const b = box();
    const svg = renderer.svg(dotOf(b, b.run(WF.govern, GOVERN("02_no_license"))));
    const texts = labelBoxes(svg).map((l) => l.text);
    expect(texts.filter((t) => t === "NOT_FOUND" || t === "VIOLATION")).toHaveLength(5);
    expect(overlaps(svg)).toEqual([]);
  });

  it("routes in opposite directions (RECORD_DENIED_ACTION → RESOLVE_LICENSE_TIER added on SUCCESS) keep their labels apart", () => {
    const b = box();
    const r = b.run(WF.govern, GOVERN("02_no_license"));
    // The fixtures have no such pair: one route is added to the loaded snapshot (the picture only reads `routing`).
    const back = (pkg: PgsPackage, wf: number): PgsPackage => {
      const routes = new Map([...(pkg.routing.get(wf) as Map<number, Map<number, number>>)].map(([from, conds]) => [from, new Map(conds)]));
      routes.set(13, new Map([[pkg.vocab.condition("SUCCESS"), 15]]));
      return { ...pkg, routing: new Map([...pkg.routing, [wf, routes]]) };
    };
    const dot = dotOf(b, r, back);
    expect(overlaps(renderer.svg(dot))).toEqual([]);
    expect(edgeLines(dot)).toContain('  n13 -> n15 [label="SUCCESS"];');
    expect(edgeLines(dot)).toContain(`  n15 -> n13 [label="NOT_FOUND\\nVIOLATION", ${TAKEN}];`);
  });
});

describe("Cairn pictures (cairnTraceDot)", () => {
  const WF_CYCLE = "test::WF_TEST_V0";
  /** check --VIOLATION--> fix --SUCCESS--> check, as a retry loop declares it; other outcomes end the run. */
  const CYCLE = baseDecl({
    entry: "check",
    nodes: {
      check: {
        steps: [{ id: "v", ct: "json_schema_validate", inputs: { value: "$.payload", schema: { const: { type: "object", required: ["name"] } } } }],
        routes: { SUCCESS: { exit: "DONE", reason: "valid" }, VIOLATION: "fix", default: { exit: "FAILED", reason: "failed" } },
        max_visits: 2,
      },
      fix: { steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }], routes: { SUCCESS: "check", default: { exit: "FAILED", reason: "failed" } } },
    },
  });
  const dotOf = (snap: PreparedSnapshot, r: CairnRunResult): string =>
    cairnTraceDot({ workflow: snap.sealed.content.workflows[WF_CYCLE]!, wfFqdn: r.workflow, traceId: r.traceId, status: r.status, exitCode: r.exitCode, path: r.path, exit: r.exit, errorNode: r.error?.cc ?? null });

  it("a loop check ⇄ fix: the DOT keeps its edges and highlighting, with the spacing; the SVG's labels do not overlap", async () => {
    const { snap, dir } = await prepared(CYCLE);
    mkdirSync(`${dir}/data`, { recursive: true });
    const r = run(snap, {}, dir);
    expect(r.path.slice(0, 2).map((p: PathEntry) => `${p.node}=${p.status}`)).toEqual([`${WF_CYCLE}::check=VIOLATION`, `${WF_CYCLE}::fix=SUCCESS`]);
    const dot = dotOf(snap, r);
    const svg = renderer.svg(dot);
    expect(labelBoxes(svg).map((l) => l.text)).toEqual(expect.arrayContaining(["VIOLATION", "SUCCESS"]));
    expect(overlaps(svg)).toEqual([]);
    expect(dot.split("\n")[1]).toBe(`  graph [rankdir="TB", ${GRAPH_SPACING}, fontname="Helvetica", fontsize="12", labelloc="t", label="${WF_CYCLE}\\n${r.status} · ${r.traceId}"];`);
    expect(edgeLines(dot)).toContain(`  n1 -> n2 [label="VIOLATION", ${TAKEN}];`);
    expect(edgeLines(dot)).toContain(`  n2 -> n1 [label="SUCCESS", ${TAKEN}];`);
  });
});
