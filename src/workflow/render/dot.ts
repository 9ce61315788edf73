/**
 * The DOT text of one PGS run: the workflow's topology (`routing[wf]`: nodes, edges labelled
 * by routing condition) with the visited path highlighted.
 *
 *  - nodes: the entry node, every routing source and target, and every visited node; CC nodes
 *    (in `pipeline`) are boxes, boundary nodes ellipses; the entry node has a double border;
 *  - visited nodes are filled (green when the run ended with exit 0, else the last node — or
 *    the CC that raised a runtime error — is filled red); the label gains the hop numbers;
 *  - edges: one per (from, to), labelled with the routing conditions that take it, one a line
 *    (in address order); drawn as separate edges, parallel routes had their labels side by
 *    side, and Graphviz let them touch ("VIOLATIONNOT_FOUND");
 *  - edges taken by the run are bold and coloured, the others grey.
 *
 * Deterministic: nodes sorted by address, edges by (from, first condition, to), no timestamps
 * and no absolute paths; the same run gives the same bytes. The text is not part of the trace
 * hash chain or the store receipt.
 */
import type { PathEntry } from "../pgs/engine.js";
import type { PgsPackage } from "../pgs/snapshot.js";

export interface TraceGraphInput {
  pkg: PgsPackage;
  /** Workflow address and FQDN. */
  wf: number;
  wfFqdn: string;
  /** The entry node. */
  start: number;
  traceId: string;
  status: string;
  exitCode: 0 | 1;
  path: readonly PathEntry[];
  /** FQDN of the CC that raised a runtime error, if any. */
  errorCc: string | null;
}

const VISITED_FILL = "#c8f0c8";
const FAILED_FILL = "#f4a0a0";
const FAILED_LINE = "#c00000";
const TAKEN_EDGE = "#1f6fd0";
const IDLE = "#909090";

/** DOT attributes of a visited node, the node where the run failed, and a route the run took (shared with cairn-dot.ts). */
export const DOT_VISITED: ReadonlyArray<[string, string]> = [["style", "filled,bold"], ["fillcolor", VISITED_FILL], ["color", "#208020"], ["fontcolor", "#000000"]];
export const DOT_FAILED: ReadonlyArray<[string, string]> = [["style", "filled,bold"], ["fillcolor", FAILED_FILL], ["color", FAILED_LINE], ["fontcolor", "#000000"]];
export const DOT_TAKEN_EDGE: ReadonlyArray<[string, string]> = [["style", "bold"], ["penwidth", "2.5"], ["color", TAKEN_EDGE], ["fontcolor", TAKEN_EDGE]];

/**
 * The least horizontal space between two nodes of a rank, in inches (Graphviz `nodesep`, default
 * 0.25), shared with cairn-dot.ts. Graphviz lays an edge label out as a node of the rank its edge
 * crosses, sized by its own font estimate, and left as little as 3 pt between the labels of two
 * routes in opposite directions between the same nodes; the fonts the SVG and the PNG (resvg,
 * system fonts) are drawn with are up to a sixth wider, so such labels ran together
 * ("VIOLATIONSUCCESS"). 0.75 keeps them apart (measured with every route of the fixture
 * workflows also reversed: no two labels overlap at 0.8 em a character); the pictures grow about
 * a fifth wider. Not a guarantee: in dense graphs (five nodes, most outcomes routed, some back)
 * a few labels still touched at 0.75 em; a wider nodesep only halved those.
 */
export const DOT_NODESEP = "0.75";
/** The margin around the drawing, in inches (Graphviz `pad`), so a label on the outer edge is not cut by a wider font; shared with cairn-dot.ts. */
export const DOT_PAD = "0.3";

/**
 * Characters a DOT string or the SVG (XML 1.0) it becomes cannot hold — C0 controls but tab,
 * newline and carriage return, lone surrogates, U+FFFE/U+FFFF — matched to be shown as their
 * `\uXXXX` text: NUL ended the DOT string, and the others made the SVG unparsable, so a reason
 * holding one (schema-valid) stopped the pictures.
 */
// eslint-disable-next-line no-control-regex -- control characters are what is matched
const NOT_IN_PICTURE_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function q(s: string): string {
  const text = s.replace(NOT_IN_PICTURE_RE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

/** The last `::` segment of an FQDN. */
export function shortName(fqdn: string): string {
  const i = fqdn.lastIndexOf("::");
  return i < 0 ? fqdn : fqdn.slice(i + 2);
}

/** A DOT attribute list, every value quoted. */
export function dotAttrs(a: ReadonlyArray<readonly [string, string]>): string {
  return `[${a.map(([k, v]) => `${k}=${q(v)}`).join(", ")}]`;
}

/** A node statement (`  <id> [`) and an edge statement (`  <id> -> <id> [`) as the builders here write them, one per line. */
const NODE_STMT_RE = /^ {2}([A-Za-z_]\w*) \[/;
const EDGE_STMT_RE = /^ {2}[A-Za-z_]\w* -> [A-Za-z_]\w* \[/;
const DEFAULT_STMTS = new Set(["graph", "node", "edge"]);

/**
 * The nodes and edges of a trace graph's DOT text as `traceDot` and `cairnTraceDot` write it
 * (one statement per line; labels never hold a raw line break), for the render bounds
 * (render.ts `RenderLimits`).
 */
export function dotGraphSize(dot: string): { nodes: number; edges: number } {
  let nodes = 0;
  let edges = 0;
  for (const line of dot.split("\n")) {
    if (EDGE_STMT_RE.test(line)) edges++;
    else {
      const m = NODE_STMT_RE.exec(line);
      if (m !== null && !DEFAULT_STMTS.has(m[1] as string)) nodes++;
    }
  }
  return { nodes, edges };
}

/** The opening lines of a trace graph: `digraph`, its `graph` attributes, and the default node and edge styles. */
export function dotPreamble(name: string, graph: ReadonlyArray<readonly [string, string]>): string[] {
  return [
    `digraph ${q(name)} {`,
    `  graph ${dotAttrs(graph)};`,
    `  node ${dotAttrs([["fontname", "Helvetica"], ["fontsize", "11"], ["margin", "0.2,0.06"], ["color", IDLE], ["fontcolor", "#303030"]])};`,
    `  edge ${dotAttrs([["fontname", "Helvetica"], ["fontsize", "9"], ["color", IDLE], ["fontcolor", IDLE]])};`,
  ];
}

/** Builds the DOT text (LF line endings, trailing newline). */
export function traceDot(g: TraceGraphInput): string {
  const { pkg } = g;
  const routes = pkg.routing.get(g.wf) ?? new Map<number, Map<number, number>>();
  const nodes = new Set<number>([g.start]);
  // One edge per (from, to), its conditions in address order.
  const byPair = new Map<string, { from: number; to: number; conds: number[] }>();
  for (const [from, conds] of routes) {
    nodes.add(from);
    for (const [cond, to] of conds) {
      nodes.add(to);
      const e = byPair.get(`${from}|${to}`) ?? { from, to, conds: [] };
      e.conds.push(cond);
      byPair.set(`${from}|${to}`, e);
    }
  }
  const edges = [...byPair.values()];
  for (const e of edges) e.conds.sort((a, b) => a - b);
  for (const p of g.path) nodes.add(p.addr);
  const hops = new Map<number, number[]>();
  g.path.forEach((p, i) => hops.set(p.addr, [...(hops.get(p.addr) ?? []), i + 1]));
  const taken = new Set<string>();
  for (let i = 0; i + 1 < g.path.length; i++) {
    const a = g.path[i] as PathEntry;
    const b = g.path[i + 1] as PathEntry;
    taken.add(`${a.addr}|${pkg.vocab.condition(a.status)}|${b.addr}`);
  }
  let failed: number | undefined;
  if (g.exitCode !== 0) {
    failed = g.errorCc === null ? undefined : pkg.vocab.tryAddr(g.errorCc);
    failed ??= g.path[g.path.length - 1]?.addr;
    if (failed !== undefined) nodes.add(failed);
  }

  const out = dotPreamble(g.wfFqdn, [["rankdir", "TB"], ["nodesep", DOT_NODESEP], ["pad", DOT_PAD], ["fontname", "Helvetica"], ["fontsize", "12"], ["labelloc", "t"], ["label", `${g.wfFqdn}\n${g.status} · ${g.traceId}`]]);
  for (const n of [...nodes].sort((a, b) => a - b)) {
    const fqdn = pkg.vocab.fqdn(n);
    const h = hops.get(n);
    const a: Array<[string, string]> = [
      ["label", h === undefined ? shortName(fqdn) : `${shortName(fqdn)}\n#${h.join(", #")}`],
      ["tooltip", fqdn],
      ["shape", pkg.pipeline.has(n) ? "box" : "ellipse"],
    ];
    if (n === g.start) a.push(["peripheries", "2"]);
    if (n === failed) a.push(...DOT_FAILED);
    else if (h !== undefined) a.push(...DOT_VISITED);
    out.push(`  n${n} ${dotAttrs(a)};`);
  }
  edges.sort((x, y) => x.from - y.from || (x.conds[0] as number) - (y.conds[0] as number) || x.to - y.to);
  for (const e of edges) {
    const a: Array<[string, string]> = [["label", e.conds.map((c) => shortName(pkg.vocab.fqdn(c))).join("\n")]];
    if (e.conds.some((c) => taken.has(`${e.from}|${c}|${e.to}`))) a.push(...DOT_TAKEN_EDGE);
    out.push(`  n${e.from} -> n${e.to} ${dotAttrs(a)};`);
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
