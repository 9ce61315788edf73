/**
 * YAML mapping keys a declaration refuses (compile.ts `parseFile`, declaration.ts), on the
 * parsed document, before `toJS`:
 *
 *  - keys that are not strings. A declaration is JSON data, whose member names are strings;
 *    the yaml library's `toJS` turns any other key into text (`1` → "1", `true` → "true",
 *    `~` → "", `.inf` → "Infinity", `0x10` → "16", `? [a, b]` → "[ a, b ]", with a Node warning
 *    on stderr for a collection key), so `{1: a, "1": b}` silently loses a member;
 *  - YAML 1.1 merge keys: a plain (unquoted, untagged) `<<`. Declarations are read as YAML 1.2
 *    (core schema), which has no merge keys, so `{<<: *base, x: 2}` would be sealed as a member
 *    named "<<" holding the base mapping, not as the base's members merged in — what the author
 *    of a YAML 1.1 habit means (the reason a `%YAML 1.1` directive is refused too). A quoted
 *    `"<<"` (or `!!str <<`) is a member named << and is kept.
 *
 * Iterative (an explicit stack), so nesting depth is not limited by the call stack. The
 * members of a `!!set`, `!!omap` or `!!pairs` are not looked at: the value itself is refused as
 * not JSON data (declaration.ts `jsonDataProblems`). An alias used as a key is judged by the
 * node it names.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode } from "yaml";

/**
 * A refused key: what kind (`not_string`, or `merge_key`: a plain `<<`), where its mapping is
 * (the path segments from the root), where the key is, and what it is.
 */
export interface KeyProblem {
  kind: "not_string" | "merge_key";
  path: Array<string | number>;
  line: number;
  column: number;
  message: string;
}

/** The YAML 1.1 merge key, as the plain scalar that writes it. */
export const MERGE_KEY = "<<";
/** The one tag under which a plain `<<` is plainly a string (`!!str <<`). */
const STR_TAG = "tag:yaml.org,2002:str";

/** At most this many characters of a key's source text are quoted in a diagnostic. */
export const MAX_KEY_TEXT = 40;
const NOT_WALKED_TAGS: readonly string[] = ["tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"];

function what(key: unknown): string {
  if (key === null || key === undefined) return "null (an empty key, `~` or `null`)";
  if (isMap(key)) return "a mapping";
  if (isSeq(key)) return "a sequence";
  if (!isScalar(key)) return "not a scalar";
  const v = key.value;
  if (v === null) return "null (an empty key, `~` or `null`)";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "bigint") return "an integer";
  if (typeof v === "number") return Number.isFinite(v) ? "a number" : "a non-finite number";
  const proto: unknown = typeof v === "object" ? Object.getPrototypeOf(v) : undefined;
  const ctor = proto !== null && typeof proto === "object" && Object.prototype.hasOwnProperty.call(proto, "constructor") ? (proto as { constructor: { name?: unknown } }).constructor.name : undefined;
  return `a value of type ${typeof ctor === "string" && ctor !== "" ? ctor : typeof v}`;
}

function sourceText(text: string, node: { range?: [number, number, number] | null } | null | undefined): string {
  const r = node?.range;
  if (r === undefined || r === null) return "";
  const s = text.slice(r[0], r[1]).replace(/\s+/g, " ").trim();
  return s.length > MAX_KEY_TEXT ? `${s.slice(0, MAX_KEY_TEXT)}…` : s;
}

/** A path as a linked list (a member's shares its container's), made into segments only for a problem. */
type Path = { up: Path; seg: string | number } | null;
function segments(path: Path): Array<string | number> {
  const out: Array<string | number> = [];
  for (let p = path; p !== null; p = p.up) out.push(p.seg);
  return out.reverse();
}

/**
 * The mapping keys of `doc` that are not strings, and its plain `<<` keys (YAML 1.1 merge
 * keys), in document order, at most `limit`.
 */
export function mappingKeyProblems(doc: Document, text: string, lines: LineCounter, limit: number): KeyProblem[] {
  const out: KeyProblem[] = [];
  const todo: Array<{ node: unknown; path: Path }> = [{ node: doc.contents, path: null }];
  const seen = new Set<unknown>();
  while (todo.length > 0 && out.length < limit) {
    const { node, path } = todo.pop() as { node: unknown; path: Path };
    if (seen.has(node)) continue;
    seen.add(node);
    if (isSeq(node)) {
      if (typeof node.tag === "string" && NOT_WALKED_TAGS.includes(node.tag)) continue;
      for (let i = node.items.length - 1; i >= 0; i--) todo.push({ node: node.items[i], path: { up: path, seg: i } });
    } else if (isMap(node)) {
      if (typeof node.tag === "string" && NOT_WALKED_TAGS.includes(node.tag)) continue;
      const next: Array<{ node: unknown; path: Path }> = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = pair.key as YamlNode | null;
        const resolved: unknown = isAlias(k) ? k.resolve(doc) : k;
        const posOf = (): { line: number; col: number } => {
          const at = k?.range ?? (pair.value as YamlNode | null)?.range ?? node.range;
          return at === undefined || at === null ? { line: 0, col: 0 } : lines.linePos(at[0]);
        };
        if (isScalar(resolved) && typeof resolved.value === "string") {
          if (resolved.value === MERGE_KEY && resolved.type === "PLAIN" && resolved.tag !== STR_TAG) {
            const pos = posOf();
            out.push({
              kind: "merge_key",
              path: segments(path),
              line: pos.line,
              column: pos.col,
              message: `the plain key ${MERGE_KEY} merges a mapping in YAML 1.1 only; Cairn declarations are YAML 1.2 (core schema), which has no merge keys, so it would be sealed as a member named "${MERGE_KEY}" holding its value instead of merging that value's members into this mapping. Write the members out, or quote the key ("${MERGE_KEY}") if a member named ${MERGE_KEY} is meant`,
            });
            if (out.length >= limit) break;
          }
          next.push({ node: pair.value, path: { up: path, seg: resolved.value } });
          continue;
        }
        const pos = posOf();
        const shown = sourceText(text, k);
        const hint = isScalar(resolved) && shown !== "" ? `; write ${JSON.stringify(shown)} if the text is meant` : "";
        out.push({
          kind: "not_string",
          path: segments(path),
          line: pos.line,
          column: pos.col,
          message: `the mapping key ${shown === "" ? "(empty)" : shown} is ${what(resolved)}, not a string: JSON member names are strings, and the key would silently become text (a member it then collides with is lost)${hint}`,
        });
        if (out.length >= limit) break;
      }
      for (let i = next.length - 1; i >= 0; i--) todo.push(next[i] as { node: unknown; path: Path });
    }
  }
  return out;
}
