/**
 * `parsePyJson` (core/json-parse.ts) names a bad `\uXXXX` escape where Python 3.11's
 * `json.loads` does (UAT5 F1): at the `u`, not at the backslash, also for the second escape of
 * a surrogate pair; and four hex digits that end the text are an invalid escape (CPython's
 * scanner wants a character after them), not an unterminated string. Fixed cases here (the
 * messages CPython 3.11.7 gives); with `python3` installed, also a grid of texts compared with
 * `json.loads` itself.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parsePyJson } from "../../src/workflow/py/json-parse.js";

/** The message `parsePyJson` raises for `text`, or "OK". */
function outcome(text: string): string {
  try {
    parsePyJson(text);
    return "OK";
  } catch (err) {
    return (err as Error).message;
  }
}

describe("invalid \\uXXXX escapes are placed as json.loads places them", () => {
  it.each<[string, string]>([
    [String.raw`"\u00zz"`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    [String.raw`"\ud800\u00zz"`, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"],
    [String.raw`"\u12"`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    [String.raw`"\u"`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    [String.raw`"\u12`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    [String.raw`"\u1234`, "Invalid \\uXXXX escape: line 1 column 3 (char 2)"],
    [String.raw`"\ud800\udc00`, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"],
    [String.raw`"\ud800\u12"`, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"],
    [String.raw`"\ud800\udc0g"`, "Invalid \\uXXXX escape: line 1 column 9 (char 8)"],
    [String.raw`["\u00zzzzzzz"]`, "Invalid \\uXXXX escape: line 1 column 4 (char 3)"],
    ['"é\\u00zz"', "Invalid \\uXXXX escape: line 1 column 4 (char 3)"],
    ['"😀\\u00zz"', "Invalid \\uXXXX escape: line 1 column 4 (char 3)"],
    ['{"a":\n "\\u00zz"}', "Invalid \\uXXXX escape: line 2 column 4 (char 9)"],
    // unchanged: other escapes are placed at the backslash; a backslash ending the text
    [String.raw`"\ud800\x"`, "Invalid \\escape: line 1 column 8 (char 7)"],
    ['"\\', "Unterminated string starting at: line 1 column 1 (char 0)"],
    [String.raw`"\u1234"`, "OK"],
    [String.raw`"\ud83d\ude00"`, "OK"],
  ])("%s", (text, message) => {
    expect(outcome(text)).toBe(message);
  });

  it("the error details carry the same place", () => {
    try {
      parsePyJson(String.raw`"\ud800\u00zz"`);
      expect.unreachable();
    } catch (err) {
      expect((err as { details?: unknown }).details).toEqual({ line: 1, column: 9, char: 8 });
    }
  });
});

const PYTHON = spawnSync("python3", ["-c", "import sys; print(sys.version_info[:2] == (3, 11))"], { encoding: "utf8" });
const PYTHON_REASON = PYTHON.status === 0 && PYTHON.stdout.trim() === "True" ? undefined : "python3 3.11 is not installed";
if (PYTHON_REASON !== undefined) console.log(`py-json-escape-position: comparison with json.loads skipped: ${PYTHON_REASON}`);

const JSON_LOADS = String.raw`
import json, sys
out = []
for t in json.load(sys.stdin):
    try:
        json.loads(t)
        out.append("OK")
    except json.JSONDecodeError as e:
        out.append(str(e))
json.dump(out, sys.stdout)
`;

describe("a grid of escapes against json.loads", () => {
  it.skipIf(PYTHON_REASON !== undefined)(`same message and place${PYTHON_REASON === undefined ? "" : ` (skipped: ${PYTHON_REASON})`}`, () => {
    const before = ["", "a", "é", "😀", "\\ud800", "\\ud83d", "\\n"];
    const escapes = ["\\", "\\u", "\\u0", "\\u00", "\\u00z", "\\u004", "\\u0041", "\\udc00", "\\uDE0G", "\\ude00", "\\x", "\\/"];
    const after = ["", '"', 'x"', '\\u0041"', "\\u", "0", '0"'];
    const wrap: ((s: string) => string)[] = [(s) => `"${s}`, (s) => `["${s}`, (s) => `{"k":\n "${s}`, (s) => `{"${s}`];
    const texts: string[] = [];
    for (const w of wrap) for (const b of before) for (const e of escapes) for (const a of after) texts.push(w(b + e + a));
    const r = spawnSync("python3", ["-c", JSON_LOADS], { input: JSON.stringify(texts), encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    expect(r.status, r.stderr).toBe(0);
    const expected = JSON.parse(r.stdout) as string[];
    const diffs = texts.map((t, i) => [t, outcome(t), expected[i]]).filter(([, ours, theirs]) => ours !== theirs);
    expect(diffs.slice(0, 10)).toEqual([]);
    expect(texts.length).toBe(wrap.length * before.length * escapes.length * after.length);
  }, 60_000);
});
