import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { duplicateJsonKey } from "../../src/core/json-keys.js";

describe("duplicateJsonKey", () => {
  it("finds nothing in JSON.stringify output (keys unique by construction), indented or not", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2), (v, indent) => {
        expect(duplicateJsonKey(JSON.stringify(v, null, indent))).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it("finds a key written twice in one object, at both positions, whatever the other members", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 }), fc.string(), fc.jsonValue(), (rest, key, v) => {
        const others = Object.entries(rest).filter(([k]) => k !== key);
        const members = [...others.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x)}`), `${JSON.stringify(key)}:1`];
        const text = `[0,{"n":{${members.join(",")},${JSON.stringify(key)}:${JSON.stringify(v)}}}]`;
        const dup = duplicateJsonKey(text);
        expect(dup?.key).toBe(key);
        const firstAt = text.indexOf(`${JSON.stringify(key)}:1,${JSON.stringify(key)}:`) + 1;
        expect(dup?.first).toEqual({ line: 1, column: firstAt });
        expect(dup?.at).toEqual({ line: 1, column: firstAt + JSON.stringify(key).length + 3 });
      }),
      { numRuns: 500 },
    );
  });

  it("compares keys after unescaping, and counts lines", () => {
    expect(duplicateJsonKey('{"a\\"b": 1,\n "a\\u0022b": 2}')).toEqual({ key: 'a"b', at: { line: 2, column: 2 }, first: { line: 1, column: 2 } });
    expect(duplicateJsonKey('{"a":{"a":1},"b":[{"a":1},{"a":2}]}')).toBeNull();
    // text that is not JSON (an unterminated string) ends the scan instead of looping
    expect(duplicateJsonKey('{"a":1,"b')).toBeNull();
    expect(duplicateJsonKey('{\\"}')).toBeNull();
  });
});
