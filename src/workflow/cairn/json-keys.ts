/**
 * Duplicate keys in a JSON declaration. `JSON.parse` keeps the last of two equal keys without a
 * word; YAML declarations are parsed with unique keys (compile.ts), so a JSON declaration must
 * refuse them too. The scan runs on text `JSON.parse` has accepted, so it only has to tell keys
 * from values: a string is a key when it opens an object member. Keys are compared after
 * unescaping (`"a"` and `"\u0061"` are the same key, as `JSON.parse` sees them).
 */

/** Where a key is written (1-based line and column, columns in UTF-16 code units). */
export interface TextPosition {
  line: number;
  column: number;
}

export interface DuplicateJsonKey {
  key: string;
  /** The second occurrence. */
  at: TextPosition;
  /** The first occurrence, in the same object. */
  first: TextPosition;
}

/** The first key written twice in one object of `text` (valid JSON), or null. */
export function duplicateJsonKey(text: string): DuplicateJsonKey | null {
  // One entry per open container: the keys of an object, null for an array.
  const open: Array<Map<string, TextPosition> | null> = [];
  let expectKey = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") {
      line++;
      lineStart = i + 1;
    } else if (c === "{") {
      open.push(new Map());
      expectKey = true;
    } else if (c === "[") {
      open.push(null);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      open.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = open[open.length - 1] instanceof Map;
    } else if (c === '"') {
      // Valid JSON: the string ends at the next unescaped quote, on this line.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const keys = open[open.length - 1];
      if (expectKey && keys instanceof Map) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const at = { line, column: i - lineStart + 1 };
        const first = keys.get(key);
        if (first !== undefined) return { key, at, first };
        keys.set(key, at);
        expectKey = false;
      }
      i = j;
    }
  }
  return null;
}
