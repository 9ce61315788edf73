/**
 * How deep JSON text nests, found by an iterative scan of the text (no recursion, before
 * `JSON.parse`): workflow declarations (workflow/cairn/depth.ts) and sealed snapshots
 * (workflow/cairn/seal.ts) are refused past their limits before anything walks them recursively.
 */

/** Where JSON text (or a YAML declaration) first nests past a limit: the path to the container (as far as known) and its position (1-based). */
export interface TooDeep {
  /** The path segments of the first container past the limit, from the top (empty when unknown: the YAML syntax check). */
  path: Array<string | number>;
  line: number;
  column: number;
  /** Where the path crossed an alias to reach it (YAML), if it did. */
  alias?: { line: number; column: number };
}

type JsonFrame = { object: true; key: string; expectKey: boolean } | { object: false; index: number };

/**
 * The first object or array of JSON `text` opened past `limit` levels, or null. Runs on any text
 * (before `JSON.parse`): brackets inside strings do not count; an unterminated string ends the
 * scan. Columns count UTF-16 code units, as for duplicate keys (core/json-keys.ts).
 */
export function jsonTextTooDeep(text: string, limit: number): TooDeep | null {
  const stack: JsonFrame[] = [];
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      lineStart = i + 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (stack.length >= limit) return { path: stack.map((f) => (f.object ? f.key : f.index)), line, column: i - lineStart + 1 };
      stack.push(c === 0x7b ? { object: true, key: "", expectKey: true } : { object: false, index: 0 });
    } else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top?.object === true) top.expectKey = true;
      else if (top !== undefined) top.index++;
    } else if (c === 0x22) {
      let j = text.indexOf('"', i + 1);
      for (;;) {
        if (j < 0) return null;
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
        j = text.indexOf('"', j + 1);
      }
      const top = stack[stack.length - 1];
      if (top?.object === true && top.expectKey) {
        const raw = text.slice(i + 1, j);
        let key = raw;
        if (raw.includes("\\")) {
          try {
            key = JSON.parse(text.slice(i, j + 1)) as string;
          } catch {
            // not valid JSON: the key as written
          }
        }
        top.key = key;
        top.expectKey = false;
      }
      // A string holding a line break is not valid JSON, but its lines still count.
      for (let n = text.indexOf("\n", i + 1); n >= 0 && n < j; n = text.indexOf("\n", n + 1)) {
        line++;
        lineStart = n + 1;
      }
      i = j;
    }
  }
  return null;
}

