/**
 * How deep a workflow declaration nests, measured before anything walks it recursively.
 *
 * A declaration nests at most `MAX_DECLARATION_DEPTH` levels of mappings and sequences (JSON
 * objects and arrays), counted from the top (the top-level mapping is level 1; an alias counts
 * as the value it names). The limit is `MAX_PAYLOAD_DEPTH` (py/json.ts, 256), the deepest payload
 * a run accepts, so that:
 *
 *  - a `{const: …}` value, which sits at least 7 levels down (`nodes`, the node, `steps`, the
 *    step, `inputs`, the binding), nests at most 249 levels: never deeper than a payload a run
 *    accepts, so it stays serialisable wherever a payload value does (CS records, audit entries,
 *    trace details, under `PYJSON_MAX_DEPTH` = 512) and `hash`/`equals`/the trace take it;
 *  - an `array:`/`object:` input builder costs two declaration levels for one level of the value
 *    it builds (at most 125 of them), so a built value holding the whole payload nests at most
 *    256 + 125 = 381 levels, below the serialisers' 512;
 *  - the sealed content nests a constant two levels deeper than its declaration does (the sealed
 *    file three), and the recursive steps after parsing (the yaml composer and `toJS`, ajv,
 *    sealing, the runtime's conversions) stay far from the call stack's limit, so a deep file is
 *    `E_COMPILE_SCHEMA` naming where, never a stack overflow (`E_INTERNAL`) at compile or run time.
 *
 * Every check here is iterative (explicit stacks): JSON text before `JSON.parse` (which does
 * not recurse), YAML on the parser's syntax tree before it is composed (`parseYamlDocument`: the
 * yaml package's composer recurses once per level and overflows near 800 levels) and again on
 * the composed document, with aliases (`yamlDocumentTooDeep`).
 */
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, Parser, YAMLParseError, type Document, type DocumentOptions, type LineCounter, type ParseOptions, type SchemaOptions } from "yaml";
import { MAX_PAYLOAD_DEPTH } from "../py/json.js";

/** Deepest nesting of mappings/sequences (objects/arrays) in a declaration (module comment). */
export const MAX_DECLARATION_DEPTH = MAX_PAYLOAD_DEPTH;

export { jsonTextTooDeep, type TooDeep } from "../../core/json-walk.js";
import type { TooDeep } from "../../core/json-walk.js";

/** A node of the yaml package's concrete syntax tree, as far as nesting goes. */
interface CstToken {
  type: string;
  offset: number;
  value?: CstToken;
  items?: Array<{ key?: CstToken | null; value?: CstToken }>;
}
const CST_COLLECTIONS: ReadonlySet<string> = new Set(["block-map", "block-seq", "flow-collection"]);

/**
 * Where the first collection of a YAML syntax tree (the parser's top-level tokens) nested past
 * `limit` levels starts (no path: keys are not resolved yet), or null. A flow sequence's
 * `[a: b]` becomes a one-pair mapping only when composed, so this can count fewer levels than
 * the document has, never more (`yamlDocumentTooDeep` counts them all).
 */
function yamlTokensTooDeep(text: string, tokens: readonly unknown[], limit: number): TooDeep | null {
  for (const top of tokens) {
    const todo: Array<{ t: CstToken; depth: number }> = [{ t: top as CstToken, depth: 0 }];
    while (todo.length > 0) {
      const { t, depth } = todo.pop() as { t: CstToken; depth: number };
      const d = CST_COLLECTIONS.has(t.type) ? depth + 1 : depth;
      if (d > limit) {
        // As the yaml package's LineCounter counts: lines end at LF, columns in UTF-16 code units.
        const lineStart = text.lastIndexOf("\n", t.offset - 1) + 1;
        let line = 1;
        for (let n = text.indexOf("\n"); n >= 0 && n < lineStart; n = text.indexOf("\n", n + 1)) line++;
        return { path: [], line, column: t.offset - lineStart + 1 };
      }
      if (t.value !== undefined) todo.push({ t: t.value, depth: d });
      for (const item of t.items ?? []) {
        if (item.value !== undefined) todo.push({ t: item.value, depth: d });
        if (item.key !== undefined && item.key !== null) todo.push({ t: item.key, depth: d });
      }
    }
  }
  return null;
}

/**
 * The yaml package's `parseDocument(text, options)` (yaml 2.x: parse, then compose, the first
 * document kept and a second one an error), with the syntax tree's depth checked between the
 * two: the composer recurses once per level (and overflows the call stack near 800 levels),
 * the parser does not. `options.lineCounter` is fed as `parseDocument` feeds it; errors are not
 * prettified (`prettyErrors: false`). A tree nested past `limit` is not composed.
 */
export function parseYamlDocument(text: string, options: ParseOptions & DocumentOptions & SchemaOptions, limit: number): { doc: Document } | { deep: TooDeep } {
  const tokens = [...new Parser(options.lineCounter?.addNewLine).parse(text)];
  const deep = yamlTokensTooDeep(text, tokens, limit);
  if (deep !== null) return { deep };
  let doc: Document | null = null;
  for (const d of new Composer(options).compose(tokens, true, text.length)) {
    if (doc === null) doc = d;
    else {
      doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], "MULTIPLE_DOCS", "Source contains multiple documents; please use YAML.parseAllDocuments()"));
      break;
    }
  }
  return { doc: doc as Document };
}

type YamlNode = { range?: [number, number, number] | null; anchor?: string };

/**
 * The first container of a composed YAML document nested past `limit` levels, or null. An
 * alias counts as the node it names (the last anchor of that name before it, as the yaml
 * package resolves it), so nesting built from anchors is counted as `toJS` would build it; an
 * alias inside its own anchor (a cycle, refused as not JSON data) counts as a scalar. Each
 * node's height is computed once (iterative, post-order), so aliases cost nothing extra.
 */
export function yamlDocumentTooDeep(doc: Document, lines: LineCounter, limit: number): TooDeep | null {
  const anchors = new Map<string, unknown>();
  const target = new Map<unknown, unknown>();
  const height = new Map<unknown, number>();
  const childrenOf = (n: unknown): unknown[] => {
    if (isMap(n)) return n.items.flatMap((p) => [p.key, p.value]);
    if (isSeq(n)) return n.items;
    if (isPair(n)) return [n.key, n.value];
    return [];
  };
  const resolved = (n: unknown): unknown => (isAlias(n) ? target.get(n) : n);
  type Frame = { node: unknown; children: unknown[]; next: number; top: number };
  const stack: Frame[] = [];
  const enter = (n: unknown): void => {
    if (isAlias(n)) {
      target.set(n, anchors.get(n.source));
      return;
    }
    const anchor = (n as YamlNode | null)?.anchor;
    if (typeof anchor === "string") anchors.set(anchor, n);
    if (isMap(n) || isSeq(n) || isPair(n)) stack.push({ node: n, children: childrenOf(n), next: 0, top: 0 });
  };
  enter(doc.contents);
  while (stack.length > 0) {
    const f = stack[stack.length - 1] as Frame;
    if (f.next < f.children.length) {
      const child = f.children[f.next++];
      enter(child);
      // An alias names a node entered before it: finished (its height is known) or still open
      // (an ancestor: a cycle, counted 0). A container child is counted when it is finished.
      if (isAlias(child)) f.top = Math.max(f.top, height.get(target.get(child)) ?? 0);
      continue;
    }
    stack.pop();
    const h = f.top + 1;
    height.set(f.node, h);
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.top = Math.max(parent.top, h);
  }
  const rootHeight = height.get(doc.contents) ?? 0;
  if (rootHeight <= limit) return null;
  // Down from the top along the first child deep enough, to the container at level limit + 1.
  const path: Array<string | number> = [];
  let cur: unknown = doc.contents;
  let alias: { line: number; column: number } | undefined;
  const at = (n: unknown): { line: number; column: number } => {
    const r = (n as YamlNode).range;
    const pos = r === undefined || r === null ? { line: 0, col: 0 } : lines.linePos(r[0]);
    return { line: pos.line, column: pos.col };
  };
  for (let level = 1; level <= limit; level++) {
    const need = limit + 1 - level;
    let found: { child: unknown; seg: string | number } | undefined;
    if (isMap(cur)) {
      for (const p of cur.items) {
        const k = resolved(p.key);
        const seg = isScalar(k) ? String(k.value) : "?";
        if ((height.get(k) ?? 0) >= need) found = { child: p.key, seg };
        else if ((height.get(resolved(p.value)) ?? 0) >= need) found = { child: p.value, seg };
        if (found !== undefined) break;
      }
    } else if (isSeq(cur)) {
      const i = cur.items.findIndex((x) => (height.get(resolved(x)) ?? 0) >= need);
      if (i >= 0) found = { child: cur.items[i], seg: i };
    } else if (isPair(cur)) {
      const k = (height.get(resolved(cur.key)) ?? 0) >= need;
      found = { child: k ? cur.key : cur.value, seg: k ? 0 : 1 };
    }
    if (found === undefined) break; // unreachable: the heights say there is one
    if (isAlias(found.child) && alias === undefined) alias = at(found.child);
    path.push(found.seg);
    cur = resolved(found.child);
  }
  return { path, ...at(cur), ...(alias === undefined ? {} : { alias }) };
}

/** Most path segments of a too-deep container shown in a diagnostic's field (the rest is `…`). */
export const MAX_DEPTH_PATH_SHOWN = 12;

/** The message of a declaration nested too deep (`what`: "mappings and sequences", "objects and arrays"). */
export function tooDeepMessage(d: TooDeep, what: string): string {
  const alias = d.alias === undefined ? "" : `, through the alias at line ${d.alias.line}, column ${d.alias.column}`;
  return `nested deeper than ${MAX_DECLARATION_DEPTH} levels (line ${d.line}, column ${d.column}${alias}): a declaration nests at most ${MAX_DECLARATION_DEPTH} levels of ${what} (MAX_DECLARATION_DEPTH, the deepest payload a run accepts), so that every constant in it is a value a run can take`;
}
