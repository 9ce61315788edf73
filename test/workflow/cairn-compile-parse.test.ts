/** Parsing declarations: a key twice in one mapping is refused in JSON as in YAML (E_COMPILE_SCHEMA, with the line, naming the key and its first line). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileWorkflows, formatDiagnostic } from "../../src/workflow/cairn/compile.js";
import { duplicateJsonKey } from "../../src/core/json-keys.js";
import { baseDecl, writeTree } from "./cairn-fixture.js";

async function linesOf(name: string, text: string): Promise<{ file: string; lines: string[] }> {
  const file = join(writeTree({ [name]: text }), name);
  return { file, lines: (await compileWorkflows([file])).diagnostics.map(formatDiagnostic) };
}

/** The base declaration as pretty JSON, with `"entry": "zz",` inserted before its entry member (line 5). */
const jsonWithTwoEntries = (first = '"entry": "zz"'): string => JSON.stringify(baseDecl(), null, 2).replace('  "entry"', `  ${first},\n  "entry"`);

describe("duplicate keys", () => {
  it("JSON: the issue's repro is refused, naming file, line and column of both", async () => {
    const { file, lines } = await linesOf("wf.json", jsonWithTwoEntries());
    expect(lines).toEqual([`${file}: not valid JSON (line 6, column 3): duplicate key "entry" (first at line 5, column 3) [E_COMPILE_SCHEMA]`]);
    // keys are compared as JSON.parse reads them: an escaped spelling is the same key
    const escaped = await linesOf("wf.json", jsonWithTwoEntries('"\\u0065ntry": "zz"'));
    expect(escaped.lines).toEqual([`${escaped.file}: not valid JSON (line 6, column 3): duplicate key "entry" (first at line 5, column 3) [E_COMPILE_SCHEMA]`]);
  });

  it("JSON: inside a node and inside a const value too; one key in two objects, or a key's text as a value, is fine", async () => {
    const nested = '{"a": {"x": 1, "y": [{"k": "k", "v": 1}, {"k": 2}], "x": 2}}';
    expect(duplicateJsonKey(nested)).toEqual({ key: "x", at: { line: 1, column: 53 }, first: { line: 1, column: 8 } });
    expect(duplicateJsonKey('{"a": {"b": 1}, "b": "a", "c": ["a", "a"], "d": {"b": "b\\"b"}}')).toBeNull();
    const text = JSON.stringify(baseDecl(), null, 2).replace('"value": "$.payload"', '"value": {"const": {"n": 1, "n": 2}}');
    const { file, lines } = await linesOf("wf.json", text);
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^${file}: not valid JSON \\(line \\d+, column \\d+\\): duplicate key "n" \\(first at line \\d+, column \\d+\\) \\[E_COMPILE_SCHEMA\\]$`))]);
  });

  it("a declaration that is not UTF-8 names the line (it was decoded with U+FFFD replacements)", async () => {
    const file = join(writeTree({ "wf.yaml": "" }), "wf.yaml");
    writeFileSync(file, Buffer.concat([Buffer.from("cairn: cairn.workflow/v1\nnamespace: t\xe9st\ncode: WF_"), Buffer.from([0xff]), Buffer.from("\n")]));
    expect((await compileWorkflows([file])).diagnostics.map(formatDiagnostic)).toEqual([`${file}: line 3: not valid UTF-8 [E_COMPILE_SCHEMA]`]);
  });

  it("YAML: the same code, now with the line and column", async () => {
    const { file, lines } = await linesOf("wf.yaml", "cairn: cairn.workflow/v1\nnamespace: test\ncode: WF_TEST_V0\nentry: zz\nentry: a\n");
    expect(lines).toEqual([`${file}: not valid YAML (line 5, column 1): duplicate key "entry" (first at line 4, column 1) [E_COMPILE_SCHEMA]`]);
  });

  it("other JSON errors name their line and column, in the payload loader's wording (not V8's)", async () => {
    const { file, lines } = await linesOf("wf.json", '{"cairn": }');
    expect(lines).toEqual([`${file}: not valid JSON (line 1, column 11): Expecting value [E_COMPILE_SCHEMA]`]);
  });
});
