/**
 * The DOT text of one PGS run: the workflow's topology (`routing[wf]`: nodes, edges labelled
 * by routing condition) with the visited path highlighted.
 *
 *  - nodes: the entry node, every routing source and target, and every visited node; CC nodes
 *    (in `pipeline`) are boxes, boundary nodes ellipses; the entry node has a double border;
 *  - visited nodes are filled (green when the run ended with exit 0, else the last node — or
 *    the CC that raised a runtime error — is filled red); the label gains the hop numbers;
 *  - edges taken by the run are bold and coloured, the others grey.
 *
 * Deterministic: nodes sorted by address, edges by (from, condition, to), no timestamps and no
 * absolute paths; the same run gives the same bytes. The text is not part of the trace hash
 * chain or the store receipt.
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
  const edges: Array<{ from: number; cond: number; to: number }> = [];
  for (const [from, conds] of routes) {
    nodes.add(from);
    for (const [cond, to] of conds) {
      nodes.add(to);
      edges.push({ from, cond, to });
    }
  }
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

  const out = dotPreamble(g.wfFqdn, [["rankdir", "TB"], ["fontname", "Helvetica"], ["fontsize", "12"], ["labelloc", "t"], ["label", `${g.wfFqdn}\n${g.status} · ${g.traceId}`]]);
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
  edges.sort((x, y) => x.from - y.from || x.cond - y.cond || x.to - y.to);
  for (const e of edges) {
    const a: Array<[string, string]> = [["label", shortName(pkg.vocab.fqdn(e.cond))]];
    if (taken.has(`${e.from}|${e.cond}|${e.to}`)) a.push(...DOT_TAKEN_EDGE);
    out.push(`  n${e.from} -> n${e.to} ${dotAttrs(a)};`);
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
