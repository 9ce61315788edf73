/**
 * Binding paths of Cairn declarations: a small, strict JSONPath subset.
 *
 *   $.payload(.<name>|[<index>])*            the run's payload
 *   $.results.<node>(.<name>|[<index>])*     the result of a node that ran before (bind by node key)
 *   $.steps.<step>(.<name>|[<index>])*       the result of an earlier step of the same node
 *
 * `<name>` is `[A-Za-z_][A-Za-z0-9_-]*` or a quoted member `['any text']` (`\'` and `\\`
 * escapes); `<index>` a non-negative integer. No wildcards, filters or recursive descent: a
 * binding always names one value. At run time "missing means null": a member or index that
 * does not exist resolves to null (the compiler has already checked that the node, step and
 * first field exist).
 */
import type { PyValue } from "../py/value.js";
import type { PathBinding } from "./model.js";

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*/;

/** Parses a binding path; returns an error message for a malformed one. */
export function parseBindingPath(text: string): PathBinding | string {
  if (!text.startsWith("$.")) return "a binding path starts with $.";
  let i = 2;
  const segs: Array<string | number> = [];
  let first = true;
  while (i < text.length || first) {
    if (first) {
      const m = NAME_RE.exec(text.slice(i));
      if (m === null) return `expected a name at offset ${i}`;
      segs.push(m[0]);
      i += m[0].length;
      first = false;
      continue;
    }
    const c = text[i];
    if (c === ".") {
      const m = NAME_RE.exec(text.slice(i + 1));
      if (m === null) return `expected a name after '.' at offset ${i}`;
      segs.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === "[") {
      if (text[i + 1] === "'") {
        let j = i + 2;
        let name = "";
        for (; j < text.length && text[j] !== "'"; j++) {
          if (text[j] === "\\" && (text[j + 1] === "'" || text[j + 1] === "\\")) j++;
          name += text[j];
        }
        if (text[j] !== "'" || text[j + 1] !== "]") return `unterminated ['…'] at offset ${i}`;
        segs.push(name);
        i = j + 2;
      } else {
        const m = /^\[(0|[1-9][0-9]{0,8})\]/.exec(text.slice(i));
        if (m === null) return `expected [<index>] or ['<name>'] at offset ${i}`;
        segs.push(Number(m[1]));
        i += m[0].length;
      }
    } else return `unexpected '${c ?? ""}' at offset ${i}`;
  }
  const [root, ...rest] = segs;
  if (root !== "payload" && root !== "results" && root !== "steps") return `the root must be payload, results or steps, not ${JSON.stringify(root)}`;
  if (root === "payload") return { path: text, root, name: null, segments: rest };
  const [name, ...tail] = rest;
  if (typeof name !== "string") return `$.${root} must be followed by a ${root === "results" ? "node key" : "step id"}`;
  return { path: text, root, name, segments: tail };
}

/** Follows `segments` from `v`; null when a member or index is missing. */
export function follow(v: PyValue | undefined, segments: ReadonlyArray<string | number>): PyValue {
  let cur: PyValue | undefined = v;
  for (const s of segments) {
    if (cur === undefined || cur === null) return null;
    if (typeof s === "number") cur = Array.isArray(cur) ? cur[s] : undefined;
    else cur = cur instanceof Map ? cur.get(s) : undefined;
  }
  return cur ?? null;
}
