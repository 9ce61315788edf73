/**
 * What the declaration parsers leave unsaid, for compile.ts `parseFile`:
 *
 *  - where JSON text `JSON.parse` refuses goes wrong, as line and column (V8 says only
 *    `position N`, in wording that changes with the Node version): the text is parsed again by
 *    the lossless parser (core/json-parse.ts, Python `json.loads` wording, as for payload files);
 *  - which key a YAML mapping holds twice, and where it first is (the yaml package says only
 *    "Map keys must be unique", at the second one);
 *  - YAML tags that do not resolve: the yaml package reads `!custom 5`, `!!int 1.5`,
 *    `!!bool yes`, `!!null x` as the string written and says so only in a warning; a
 *    declaration refuses them (`yamlTagProblems`) instead of sealing a string the tag does not
 *    mean. `!!float` takes what the YAML 1.2 core schema's float form allows, integers included
 *    (`!!float 1` is the float 1.0, which the yaml package's tags do not resolve:
 *    `CORE_FLOAT_TAG`).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type ScalarTag, type YAMLError } from "yaml";
import { isCairnError } from "../../core/errors.js";
import { parseLosslessJson } from "../../core/json-parse.js";

/** The YAML 1.2 core schema's float forms (§10.3.2): the number form (an integer's too) and the special values. */
const CORE_FLOAT_RE = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const CORE_FLOAT_SPECIAL_RE = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;

/**
 * `!!float` on a scalar: any text of the core schema's float form is the float it names
 * (`!!float 1` → 1.0, `!!float "1e3"` → 1000.0, `!!float .inf` → infinity, refused later as not
 * finite); any other text is a YAML error at the tag. Explicit only (`default: false`): an
 * untagged `1` is still the integer. Given as a custom tag, it is the one the yaml package uses
 * for every `!!float` (its own float tags resolve only by their patterns, which leave out the
 * integer form); the values it gives for their forms are the same (`parseFloat`).
 */
export const CORE_FLOAT_TAG: ScalarTag = {
  tag: "tag:yaml.org,2002:float",
  default: false,
  identify: () => false,
  resolve(str: string, onError: (message: string) => void): number | string {
    if (CORE_FLOAT_SPECIAL_RE.test(str)) return str.slice(-3).toLowerCase() === "nan" ? Number.NaN : str.startsWith("-") ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    if (CORE_FLOAT_RE.test(str)) return parseFloat(str);
    onError(`!!float ${JSON.stringify(str)} is not a YAML 1.2 float (digits with an optional fraction and exponent, .inf, -.inf or .nan)`);
    return str;
  },
};

/**
 * `not valid JSON (line L, column C): <what>` for `text`, which `JSON.parse` refused with
 * `v8Message`: the lossless parser's message and position (columns in code points, as for
 * payload files). Integers of any length are read (their length is no syntax error); when the
 * lossless parser accepts the text after all, V8's message is kept.
 */
export function jsonSyntaxMessage(text: string, v8Message: string): string {
  try {
    parseLosslessJson(text, { maxIntDigits: Number.MAX_SAFE_INTEGER });
  } catch (err) {
    if (isCairnError(err) && typeof err.details.line === "number" && typeof err.details.column === "number") {
      // Without the position (given first) and its lead-in ("Invalid control character at: …").
      const what = err.message.replace(/: line [0-9]+ column [0-9]+ \(char [0-9]+\)$/, "").replace(/ at$/, "");
      // The parser's words for a BOM are Python's advice (`utf-8-sig`); the reader skipped one
      // already (declaration.ts), so this is a second one.
      return `not valid JSON (line ${err.details.line}, column ${err.details.column}): ${what.startsWith("Unexpected UTF-8 BOM") ? "a second byte order mark (U+FEFF): a file may start with one, not more" : what}`;
    }
  }
  return `not valid JSON: ${v8Message}`;
}

type Ranged = { range?: [number, number, number] | null };
const startOf = (n: unknown): number => (n as Ranged | null)?.range?.[0] ?? -1;

type Path = { up: Path; seg: string | number } | null;
const segments = (path: Path): Array<string | number> => {
  const out: Array<string | number> = [];
  for (let p = path; p !== null; p = p.up) out.push(p.seg);
  return out.reverse();
};

/** Every node of `doc` (keys included, with their mapping's path) with its path, in document order; iterative. */
function* nodesOf(doc: Document): Generator<{ node: unknown; path: Path }> {
  const todo: Array<{ node: unknown; path: Path }> = [{ node: doc.contents, path: null }];
  while (todo.length > 0) {
    const f = todo.pop() as { node: unknown; path: Path };
    yield f;
    const { node, path } = f;
    const next: Array<{ node: unknown; path: Path }> = [];
    if (isMap(node)) {
      for (const p of node.items) next.push({ node: p.key, path }, { node: p.value, path: { up: path, seg: isScalar(p.key) ? String(p.key.value) : "?" } });
    } else if (isSeq(node)) node.items.forEach((x, i) => next.push({ node: x, path: { up: path, seg: i } }));
    else if (isPair(node)) next.push({ node: node.key, path }, { node: node.value, path });
    for (let i = next.length - 1; i >= 0; i--) todo.push(next[i] as { node: unknown; path: Path });
  }
}

/**
 * The key written twice that a `DUPLICATE_KEY` error at `error.pos` is about, and where its
 * first occurrence starts (offsets), or null: the first key, at or after the error, equal (as
 * the yaml package compares keys: the same node, or scalars of the same value) to an earlier
 * key of its mapping.
 */
export function yamlDuplicateKey(doc: Document, error: YAMLError): { key: string; first: number } | null {
  let best: { key: string; first: number; at: number } | null = null;
  for (const { node } of nodesOf(doc)) {
    if (!isMap(node)) continue;
    // Only scalars can be equal (no node is the key of two pairs): the first key of each value.
    const firstOf = new Map<unknown, number>();
    for (const p of node.items) {
      if (!isScalar(p.key)) continue;
      const first = firstOf.get(p.key.value);
      if (first === undefined) firstOf.set(p.key.value, startOf(p.key));
      else {
        const at = startOf(p.key);
        if (at >= error.pos[0] && (best === null || at < best.at)) best = { key: String(p.key.value), first, at };
      }
    }
  }
  return best === null ? null : { key: best.key, first: best.first };
}

/** A YAML tag that does not resolve: where (1-based), the path of the value it tags (when found), and why. */
export interface TagProblem {
  path: Array<string | number>;
  line: number;
  column: number;
  message: string;
}

/** Warnings of the yaml package that mean a tag was not applied (the value is kept untagged). */
const TAG_WARNINGS: readonly string[] = ["TAG_RESOLVE_FAILED", "BAD_COLLECTION_TYPE"];

/**
 * The tags of `doc` the yaml package could not resolve (its warnings `TAG_RESOLVE_FAILED`,
 * `BAD_COLLECTION_TYPE`), at most `limit`, in document order. The value a tag is on is the
 * first node after it carrying that tag.
 */
export function yamlTagProblems(doc: Document, text: string, lines: LineCounter, limit: number): TagProblem[] {
  const out: TagProblem[] = [];
  const warnings = doc.warnings.filter((w) => TAG_WARNINGS.includes(w.code));
  if (warnings.length === 0) return out;
  const tagged = [...nodesOf(doc)].filter(({ node }) => !isAlias(node) && typeof (node as { tag?: unknown } | null)?.tag === "string");
  for (const w of warnings.slice(0, limit)) {
    const written = text.slice(w.pos[0], w.pos[1]);
    const { line, col } = lines.linePos(w.pos[0]);
    const value = tagged.find(({ node }) => startOf(node) >= w.pos[1]);
    const source = value !== undefined && isScalar(value.node) && typeof value.node.source === "string" ? value.node.source : undefined;
    const read = source !== undefined ? `as the string ${JSON.stringify(source)}` : isMap(value?.node) ? "as the mapping written, untagged" : isSeq(value?.node) ? "as the sequence written, untagged" : "untagged";
    out.push({
      path: value === undefined ? [] : segments(value.path),
      line,
      column: col,
      message: `the YAML tag ${written} does not resolve (${w.message}): the value would be sealed ${read}, not as the tag says; a declaration takes the YAML 1.2 core schema's tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) on values of their form, and no other`,
    });
  }
  return out;
}
