/**
 * Parsing declarations, at the limits (compile.ts `parseFile`, depth.ts, parse-errors.ts):
 *
 *  - nesting past MAX_DECLARATION_DEPTH (JSON text, YAML syntax tree, YAML aliases) is
 *    E_COMPILE_SCHEMA naming the file and where — never a stack overflow at compile or at run
 *    time — and the deepest declaration accepted runs;
 *  - a YAML tag that does not resolve is refused, not sealed as the text written; `!!float 1`
 *    is the float 1.0 (YAML 1.2 core schema);
 *  - a JSON syntax error names line and column; a YAML key written twice is named, with where
 *    it first is.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileWorkflows, formatDiagnostic, type CompileResult } from "../../src/workflow/cairn/compile.js";
import { MAX_DECLARATION_DEPTH } from "../../src/workflow/cairn/depth.js";
import { MAX_PAYLOAD_DEPTH } from "../../src/workflow/py/json.js";
import { baseDecl, prepared, run, writeTree } from "./cairn-fixture.js";

async function compileText(name: string, text: string): Promise<{ r: CompileResult; file: string; lines: string[] }> {
  const file = join(writeTree({ [name]: text }), name);
  const r = await compileWorkflows([file]);
  return { r, file, lines: r.diagnostics.map(formatDiagnostic) };
}

/** A one-line JSON declaration whose step `s` (ct hash) takes `value` (JSON text) as its input `value`. */
const jsonDecl = (value: string): string =>
  `{"cairn":"cairn.workflow/v1","namespace":"t2","code":"WF_DC_V1","entry":"a","nodes":{"a":{"steps":[{"id":"s","ct":"hash","inputs":{"value":${value}}}],"routes":{"default":{"exit":"X","reason":"r"}}}}}`;
/** The same in YAML (block style); the `value` text is written after `value: ` on line 8. */
const yamlDecl = (value: string): string =>
  ["cairn: cairn.workflow/v1", "namespace: t2", "code: WF_TAG_V1", "entry: a", "nodes:", "  a:", "    steps:", `      - {id: s, ct: hash, inputs: {value: ${value}}}`, "    routes: {default: {exit: X, reason: r}}", ""].join("\n");
const nested = (n: number, inner = ""): string => `${"[".repeat(n)}${inner}${"]".repeat(n)}`;
/** `n` levels of arrays around null, as data. */
const nestedValue = (n: number): unknown => {
  let v: unknown = null;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

/** A constant sits 7 levels down (the top mapping, nodes, the node, steps, the step, inputs, the binding). */
const CONST_ROOM = MAX_DECLARATION_DEPTH - 7;
const DEEP = (file: string, line: number, column: number, field: string, what: string): string =>
  `${file}: ${field}nested deeper than ${MAX_DECLARATION_DEPTH} levels (line ${line}, column ${column}): a declaration nests at most ${MAX_DECLARATION_DEPTH} levels of ${what} (MAX_DECLARATION_DEPTH, the deepest payload a run accepts), so that every constant in it is a value a run can take [E_COMPILE_SCHEMA]`;

describe("nesting depth (MAX_DECLARATION_DEPTH)", () => {
  it("is the payload limit, so that a constant is never deeper than a payload a run accepts", () => {
    expect(MAX_DECLARATION_DEPTH).toBe(MAX_PAYLOAD_DEPTH);
    expect(CONST_ROOM).toBe(249);
  });

  it("JSON: a {const} nested 250 to 200000 levels is refused at the first level too deep, naming node, field, line and column", async () => {
    // The const's first "[" is at column 134; the first one past the limit is CONST_ROOM further.
    const column = jsonDecl("").indexOf('"value":') + '"value":{"const":'.length + 1 + CONST_ROOM;
    for (const n of [CONST_ROOM + 1, 5000, 200_000]) {
      const { r, file, lines } = await compileText("dc.json", jsonDecl(`{"const":${nested(n)}}`));
      expect(r.content).toBeUndefined();
      expect(lines).toEqual([DEEP(file, 1, column, "node a: steps[0].inputs.value.const[0][0][0][0][0]…: ", "objects and arrays")]);
    }
  });

  it("JSON: input builders nested 5000 levels are refused, not a stack overflow in the compiler", async () => {
    const n = 5000;
    const { file, lines } = await compileText("do.json", jsonDecl(`${'{"array":['.repeat(n)}"$.payload"${"]}".repeat(n)}`));
    // The binding is level 7; each builder is two levels, `{"array":[` (10 characters): the
    // container at level MAX_DECLARATION_DEPTH + 1 opens the ((MAX_DECLARATION_DEPTH - 6) / 2 + 1)th builder.
    const column = jsonDecl("").indexOf('"value":') + '"value":'.length + 1 + 10 * ((MAX_DECLARATION_DEPTH - 6) / 2);
    expect(lines).toEqual([DEEP(file, 1, column, "node a: steps[0].inputs.value.array[0].array[0].array[0]…: ", "objects and arrays")]);
  });

  it("YAML: a flow {const} nested 5000 levels is refused with its line and column (the yaml composer would overflow)", async () => {
    const { file, lines } = await compileText("dc.yaml", yamlDecl(`{const: ${nested(5000)}}`));
    const column = `      - {id: s, ct: hash, inputs: {value: {const: `.length + 1 + CONST_ROOM;
    expect(lines).toEqual([DEEP(file, 8, column, "", "mappings and sequences")]);
  });

  it("YAML: block mappings nested one level too deep are refused; one level less compiles", async () => {
    const block = (n: number): string => {
      const head = ["cairn: cairn.workflow/v1", "namespace: t2", "code: WF_BLK_V1", "entry: a", "nodes:", "  a:", "    steps:", "      - id: s", "        ct: hash", "        inputs:", "          value:", "            const:"];
      const body = Array.from({ length: n }, (_, i) => `${" ".repeat(14 + i)}k:${i === n - 1 ? " 1" : ""}`);
      return [...head, ...body, "    routes: {default: {exit: X, reason: r}}", ""].join("\n");
    };
    const ok = await compileText("blk.yaml", block(CONST_ROOM));
    expect(ok.lines).toEqual([]);
    const { file, lines } = await compileText("blk.yaml", block(CONST_ROOM + 1));
    // The map past the limit starts at its key: the (CONST_ROOM + 1)th `k`, on line 13 + CONST_ROOM.
    expect(lines).toEqual([DEEP(file, 13 + CONST_ROOM, 15 + CONST_ROOM, "", "mappings and sequences")]);
  });

  it("YAML: an alias counts as the value it names, so anchors cannot nest past the limit", async () => {
    // Each of the two values nests 200 levels in the text; the second holds the first through *a.
    const value = `{const: [&a ${nested(200, "1")}, ${nested(100, "*a")}]}`;
    const { file, lines } = await compileText("al.yaml", yamlDecl(value));
    const prefix = `      - {id: s, ct: hash, inputs: {value: {const: [&a `;
    const aliasColumn = yamlDecl(value).split("\n")[7]!.indexOf("*a") + 1;
    // The first container past the limit is inside the anchored value (at level 8 + 1 + 100 + (256 - 109)).
    const inner = prefix.length + 1 + (MAX_DECLARATION_DEPTH - 8 - 100);
    expect(lines).toEqual([
      `${file}: node a: steps[0].inputs.value.const[1][0][0][0][0]…: nested deeper than ${MAX_DECLARATION_DEPTH} levels (line 8, column ${inner}, through the alias at line 8, column ${aliasColumn}): a declaration nests at most ${MAX_DECLARATION_DEPTH} levels of mappings and sequences (MAX_DECLARATION_DEPTH, the deepest payload a run accepts), so that every constant in it is a value a run can take [E_COMPILE_SCHEMA]`,
    ]);
    // Within the limit, the alias is fine.
    expect((await compileText("al.yaml", yamlDecl(`{const: [&a ${nested(100, "1")}, ${nested(100, "*a")}]}`))).lines).toEqual([]);
  });

  it("the deepest constant and the deepest builders accepted run (hash) with SUCCESS, with a payload as deep as a run accepts", async () => {
    const deepConst = baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value: { const: nestedValue(CONST_ROOM) } } }], routes: { default: { exit: "DONE", reason: "r" } } } } });
    const a = await prepared(deepConst);
    expect(run(a.snap, {}, a.dir).status).toBe("SUCCESS");
    // (MAX_DECLARATION_DEPTH - 6) / 2 builder levels around the whole payload, itself MAX_PAYLOAD_DEPTH deep.
    let builders: unknown = "$.payload";
    for (let i = 0; i < (MAX_DECLARATION_DEPTH - 6) / 2; i++) builders = { array: [builders] };
    const b = await prepared(baseDecl({ nodes: { start: { steps: [{ id: "h", ct: "hash", inputs: { value: builders } }], routes: { default: { exit: "DONE", reason: "r" } } } } }));
    expect(run(b.snap, { k: nestedValue(MAX_PAYLOAD_DEPTH - 1) }, b.dir).status).toBe("SUCCESS");
  });
});

describe("YAML tags that do not resolve", () => {
  const refused = (file: string, column: number, tag: string, why: string, sealedAs: string): string =>
    `${file}: node a: steps[0].inputs.value.const: not JSON data, which a sealed snapshot cannot hold unchanged (line 8, column ${column}): the YAML tag ${tag} does not resolve (${why}): the value would be sealed ${sealedAs}, not as the tag says; a declaration takes the YAML 1.2 core schema's tags (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) on values of their form, and no other [E_COMPILE_SCHEMA]`;
  const column = `      - {id: s, ct: hash, inputs: {value: {const: `.length + 1;

  it("an unknown tag, or a core tag on a value not of its form, is refused naming node, field, line and column", async () => {
    const cases: Array<[string, string, string, string]> = [
      ["!custom 5", "!custom", "Unresolved tag: !custom", 'as the string "5"'],
      ["!<tag:example.com,2000:x> 5", "!<tag:example.com,2000:x>", "Unresolved tag: tag:example.com,2000:x", 'as the string "5"'],
      ["!!int 1.5", "!!int", "Unresolved tag: tag:yaml.org,2002:int", 'as the string "1.5"'],
      ["!!int abc", "!!int", "Unresolved tag: tag:yaml.org,2002:int", 'as the string "abc"'],
      ["!!bool yes", "!!bool", "Unresolved tag: tag:yaml.org,2002:bool", 'as the string "yes"'],
      ["!!null x", "!!null", "Unresolved tag: tag:yaml.org,2002:null", 'as the string "x"'],
      ["!custom {a: 1}", "!custom", "Unresolved tag: !custom", "as the mapping written, untagged"],
      ["!!map [1]", "!!map", "Unresolved tag: tag:yaml.org,2002:map", "as the sequence written, untagged"],
    ];
    for (const [value, tag, why, sealedAs] of cases) {
      const { r, file, lines } = await compileText("t.yaml", yamlDecl(`{const: ${value}}`));
      expect(r.content).toBeUndefined();
      expect(lines).toEqual([refused(file, column, tag, why, sealedAs)]);
    }
  });

  it("!!float takes the YAML 1.2 core float form, integers included: !!float 1 is the float 1.0, as 1.0 is", async () => {
    const sealed = async (value: string): Promise<unknown> => {
      const { r, lines } = await compileText("t.yaml", yamlDecl(`{const: ${value}}`));
      expect(lines).toEqual([]);
      return r.content!.workflows["t2::WF_TAG_V1"]!.nodes.a!.steps[0]!.inputs.value;
    };
    expect(await sealed("!!float 1")).toEqual({ const: 1, floats: [""] });
    expect(await sealed('!!float "1"')).toEqual(await sealed("1.0"));
    expect(await sealed("!!float 1e3")).toEqual({ const: 1000, floats: [""] });
    expect(await sealed("[!!float -2, !!float .5, !!int 3, !!str 4, ! 5]")).toEqual({ const: [-2, 0.5, 3, "4", "5"], floats: ["/0"] });
    const { file, lines } = await compileText("t.yaml", yamlDecl("{const: !!float abc}"));
    expect(lines).toEqual([`${file}: not valid YAML (line 8, column ${column}): !!float "abc" is not a YAML 1.2 float (digits with an optional fraction and exponent, .inf, -.inf or .nan) [E_COMPILE_SCHEMA]`]);
  });
});

describe("where a declaration is not JSON or YAML", () => {
  it("JSON: a syntax error names line and column (the payload loader's wording), not V8's position", async () => {
    const { file, lines } = await compileText("y7.json", '{\n "cairn": "cairn.workflow/v1",\n "namespace": "t2"\n "code": "X"\n}\n');
    expect(lines).toEqual([`${file}: not valid JSON (line 4, column 2): Expecting ',' delimiter [E_COMPILE_SCHEMA]`]);
    expect((await compileText("e.json", '{"cairn": }')).lines).toEqual([expect.stringMatching(/: not valid JSON \(line 1, column 11\): Expecting value \[E_COMPILE_SCHEMA\]$/)]);
    expect((await compileText("e.json", '{"a": "x\ny"}')).lines).toEqual([expect.stringMatching(/: not valid JSON \(line 1, column 9\): Invalid control character \[E_COMPILE_SCHEMA\]$/)]);
    expect((await compileText("e.json", "")).lines).toEqual([expect.stringMatching(/: not valid JSON \(line 1, column 1\): Expecting value \[E_COMPILE_SCHEMA\]$/)]);
  });

  it("YAML: a key written twice is named, with where it first is, as in JSON", async () => {
    const { file, lines } = await compileText("wf.yaml", "cairn: cairn.workflow/v1\nnamespace: test\ncode: WF_TEST_V0\nentry: zz\nentry: a\n");
    expect(lines).toEqual([`${file}: not valid YAML (line 5, column 1): duplicate key "entry" (first at line 4, column 1) [E_COMPILE_SCHEMA]`]);
    const flow = await compileText("wf.yaml", yamlDecl("{const: {b: 1, c: 2, b: 3}}"));
    const at = (s: string): number => yamlDecl("{const: {b: 1, c: 2, b: 3}}").split("\n")[7]!.indexOf(s) + 1;
    expect(flow.lines).toEqual([`${flow.file}: not valid YAML (line 8, column ${at("b: 3")}): duplicate key "b" (first at line 8, column ${at("b: 1")}) [E_COMPILE_SCHEMA]`]);
  });
});

describe("the %YAML directive", () => {
  it("%YAML 1.1 is refused (it would read yes as true, 010 as 8); %YAML 1.2 and none compile, yes staying the string", async () => {
    const body = yamlDecl("{ const: yes }");
    const old = await compileText("w.yaml", `%YAML 1.1\n---\n${body}`);
    expect(old.lines).toEqual([`${old.file}: not valid YAML (line 1, column 1): a %YAML 1.1 directive; Cairn declarations are YAML 1.2 (core schema), under which values read differently (YAML 1.1 reads yes as true and 010 as 8): remove the directive [E_COMPILE_SCHEMA]`]);
    for (const text of [`%YAML 1.2\n---\n${body}`, body]) {
      const ok = await compileText("w.yaml", text);
      expect(ok.lines).toEqual([]);
      expect(JSON.stringify(ok.r.content)).toContain('"const":"yes"');
    }
  });
});
