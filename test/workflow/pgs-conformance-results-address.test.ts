/**
 * SEMANTICS A.6: the `<int>` of `$.results.<int>.<path>` is read as Python's `int(str)` reads it
 * (CPython 3.11): whitespace of the Unicode White_Space property stripped (not U+FEFF, not
 * U+001C..U+001F), an optional sign, decimal digits of any script, single `_` between digits.
 * A string `int()` refuses is a "non-integer address" (null).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compactPy, fromPlain, resolveBinding, runPgsWorkflow, type PyValue } from "../../src/workflow/pgs/index.js";
import { scratchPerTest, WF } from "./pgs-fixture.js";

const { box } = scratchPerTest();

/**
 * `int(s)` per CPython 3.11.7 (null where it raises ValueError), computed with
 * `for s in cases: try: r = int(s) except ValueError: r = None; print(json.dumps(s), json.dumps(r))`.
 */
const PY_INT: Array<[string, number | null]> = [
  ["8", 8],
  ["\uff18", 8], // fullwidth ８
  ["\u0668", 8], // Arabic-Indic ٨
  ["\ud835\udfd6", 8], // MATHEMATICAL BOLD DIGIT EIGHT (astral)
  ["\ud801\udca8", 8], // OSMANYA DIGIT EIGHT (astral)
  ["\ufeff8", null], // BOM: not whitespace for Python (JS trim() strips it)
  ["8\ufeff", null],
  ["\u200b8", null], // ZERO WIDTH SPACE
  ["\u180e8", null], // MONGOLIAN VOWEL SEPARATOR (no longer White_Space)
  ["\u001c8", null], // str.isspace() is true, but int() does not strip it
  ["8\u001f", null],
  [" 8 ", 8],
  ["\t8\n", 8],
  ["\u000b8\f", 8],
  ["\u00858", 8],
  ["\u00a08", 8],
  ["\u20288", 8],
  ["\u30008", 8],
  ["+8", 8],
  ["-8", -8],
  ["- 8", null],
  ["1_1", 11],
  ["1__1", null],
  ["_11", null],
  ["11_", null],
  ["\u0668_\u0668", 88],
  ["\uff18_8", 88],
  ["\u0967\u0967", 11], // Devanagari ११
  ["0x8", null],
  ["08", 8],
  ["00_8", 8],
  ["8.0", null],
  ["8e0", null],
  ["", null],
];

describe("$.results.<int> reads the address as Python int() does (A.6)", () => {
  const surfaceOf = (addr: number): PyValue => fromPlain({ a: `cc${addr}` });
  const results = new Map<number, PyValue>([8, -8, 11, 88].map((n) => [n, surfaceOf(n)]));

  it.each(PY_INT)("%j → %j", (addr, expected) => {
    const got = resolveBinding(`$.results.${addr}.a`, fromPlain({}), results);
    expect(got).toBe(expected === null ? null : `cc${expected}`);
  });

  it("a WF binding with a fullwidth, an Arabic-Indic and a BOM-prefixed address (the audit's t17)", () => {
    const b = box();
    const p = join(b.workspace, "tokenized_snapshot/ai_governance/dispatch.json");
    const d = JSON.parse(readFileSync(p, "utf8")) as Record<string, Record<string, unknown>>;
    // WF 42: IN node 32 → CC 8 → CC 19, both without steps (a CC's surface is then its inputs).
    d.entry!["42"] = { rb: 37, start: 32 };
    d.routing!["42"] = { "32": { "24576": 8 }, "8": { "24582": 19 } };
    d.bindings!["42"] = {
      "8": { a: "$.payload.a" },
      "19": { fullwidth: "$.results.\uff18.a", arabic: "$.results.\u0668.a", bom: "$.results.\ufeff8.a", plain: "$.results.8.a" },
    };
    d.pipeline!["8"] = [];
    d.pipeline!["19"] = [];
    writeFileSync(p, JSON.stringify(d));
    const r = runPgsWorkflow({ workspace: b.workspace, workflow: WF.collatz, payload: fromPlain({ a: "A" }) as Map<string, PyValue>, dataRoot: b.dataRoot });
    expect(r.status).toBe("SUCCESS");
    expect(compactPy(r.surface)).toBe('{"fullwidth":"A","arabic":"A","bom":null,"plain":"A"}');
  });
});
