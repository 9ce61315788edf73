/**
 * Number literals a declaration holds that the sealed snapshot (canonical JSON: IEEE doubles)
 * would not keep as written are compile diagnostics, in JSON and YAML declarations alike, by the
 * plane request files' rule (core/json-walk.ts `numberLiteralKept`): an integer literal beyond
 * ±(2^53−1) (as before), and now a literal with a fraction or an exponent whose double has
 * another value (`0.1000000000000000055511151231257827` → 0.1, `1e-400` → 0,
 * `123456789012345678.5` → 123456789012345680), each `E_COMPILE_SCHEMA` naming file, node,
 * field, line and column and telling the author to write a string. Literals a double keeps
 * (`0.1`, `2.0`, `1e22`, `5e-324`) compile as before, to the same digest, whole-valued floats
 * still marked (`floats`).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_QUOTED_NUMBER_CHARS, numberLiteralKept } from "../../src/core/json-walk.js";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { writeTree } from "./cairn-fixture.js";

const yamlDecl = (value: string): string =>
  `cairn: cairn.workflow/v1\nnamespace: dec\ncode: WF_DEC_V0\nentry: a\nnodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: ${value} }\n    routes:\n      default: { exit: X, reason: x }\n`;
const jsonDecl = (value: string): string =>
  `{"cairn": "cairn.workflow/v1", "namespace": "dec", "code": "WF_DEC_V0", "entry": "a",\n "nodes": {"a": {"steps": [{"id": "s", "ct": "hash",\n  "inputs": {"value": {"const": ${value}}}}],\n  "routes": {"default": {"exit": "X", "reason": "x"}}}}}\n`;

async function compileText(name: string, text: string) {
  const dir = writeTree({ [name]: text });
  const file = join(dir, name);
  return { file, r: await compileWorkflows([file]) };
}

/** Literals a double does not keep, and what they would be sealed as. */
const LOSSY: Array<[string, string]> = [
  ["0.1000000000000000055511151231257827", "0.1"],
  ["1e-400", "0"],
  ["-1e-400", "0"],
  ["123456789012345678.5", "123456789012345680"],
  ["3.14159265358979323846", "3.141592653589793"],
  ["1.00000000000000000000000001", "1"],
  ["9007199254740993.0", "9007199254740992"],
  ["123456789012345678901e0", "123456789012345680000"],
];

describe("lossy decimal literals in declarations are E_COMPILE_SCHEMA", () => {
  for (const [literal, sealed] of LOSSY) {
    for (const kind of ["json", "yaml"] as const) {
      it(`${kind}: ${literal}`, async () => {
        const { file, r } = await compileText(`wf.${kind}`, kind === "json" ? jsonDecl(literal) : yamlDecl(literal));
        expect(r.content).toBeUndefined();
        expect(r.diagnostics).toHaveLength(1);
        expect(r.diagnostics[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node: "a", field: "steps[0].inputs.value.const" });
        const at = kind === "json" ? "line 3, column 33" : "line 11, column 27";
        expect(r.diagnostics[0]!.message).toBe(
          `not JSON data, which a sealed snapshot cannot hold unchanged (${at}): the number ${literal} is not kept exactly (canonical JSON numbers are IEEE doubles): it would be sealed as ${sealed}; write it as a string`,
        );
      });
    }
  }

  it("nested values are named by their path; positions count code points; every one is reported", async () => {
    const json = await compileText("wf.json", jsonDecl('{"\u{1F600}": [1.5, 0.30000000000000000001],\n   "b": {"c": 1e-999}, "ok": 0.1}'));
    expect(json.r.diagnostics.map((d) => [d.node, d.field, /\(line (\d+), column (\d+)\)/.exec(d.message)?.slice(1).join(":")])).toEqual([
      ["a", "steps[0].inputs.value.const.\u{1F600}[1]", "3:45"],
      ["a", "steps[0].inputs.value.const.b.c", "4:15"],
    ]);
    const yaml = await compileText("wf.yaml", yamlDecl("{ list: [1.5, 0.30000000000000000001], b: { c: 1e-999 }, ok: 0.1 }"));
    expect(yaml.r.diagnostics.map((d) => [d.node, d.field])).toEqual([
      ["a", "steps[0].inputs.value.const.list[1]"],
      ["a", "steps[0].inputs.value.const.b.c"],
    ]);
  });

  it("YAML: judged on the literal as written — quoted with !!float, through an alias at its anchor", async () => {
    const tagged = await compileText("wf.yaml", yamlDecl('!!float "0.1000000000000000055511151231257827"'));
    expect(tagged.r.diagnostics.map((d) => d.field)).toEqual(["steps[0].inputs.value.const"]);
    expect(tagged.r.diagnostics[0]!.message).toMatch(/the number 0\.1000000000000000055511151231257827 is not kept exactly/);
    const text = yamlDecl("{ x: &n 1e-400, y: [*n, *n] }");
    const aliased = await compileText("wf.yaml", text);
    expect(aliased.r.diagnostics.map((d) => d.field)).toEqual(["steps[0].inputs.value.const.x"]);
    // A YAML string holding such digits is a string, as in JSON.
    const quoted = await compileText("wf.yaml", yamlDecl('{ a: "0.1000000000000000055511151231257827", b: \'1e-400\' }'));
    expect(quoted.r.diagnostics).toEqual([]);
  });

  it("a long literal is quoted cut, with its length", async () => {
    const long = `0.${"1".repeat(200)}`;
    const { r } = await compileText("wf.json", jsonDecl(long));
    expect(r.diagnostics[0]!.message).toContain(`the number ${long.slice(0, MAX_QUOTED_NUMBER_CHARS)}… (202 characters) is not kept exactly`);
  });

  it("1e400 is refused once, as not finite; integer literals beyond 2^53 keep their message", async () => {
    for (const kind of ["json", "yaml"] as const) {
      const { r } = await compileText(`wf.${kind}`, kind === "json" ? jsonDecl("[1e400, 12345678901234567890123]") : yamlDecl("[1e400, 12345678901234567890123]"));
      expect(r.diagnostics.map((d) => [d.field, d.message.replace(/^.*?: /, "")])).toEqual(
        expect.arrayContaining([
          ["steps[0].inputs.value.const[0]", "the number Infinity is not finite (YAML .inf / .nan, or beyond the double range like 1e400)"],
          ["steps[0].inputs.value.const[1]", "the integer 12345678901234567890123 is beyond ±(2^53−1), the largest integer a snapshot keeps exactly (canonical JSON numbers are IEEE doubles): write it as a string"],
        ]),
      );
      expect(r.diagnostics).toHaveLength(2);
    }
  });
});

describe("literals a double keeps compile as before", () => {
  // -0.0 was in this list: a float negative zero is refused now (uat-cairn-register.test.ts), 0.0 stands in for it.
  const kept = "[0.1, 0.10, 1.5e-7, 2.0, 1e3, 1E3, 0.0, 1e22, 6.02e23, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 9007199254740992.0]";

  it("JSON and YAML seal the same constant, whole-valued floats marked, to the digest the compiler gave before this rule", async () => {
    const json = await compileText("wf.json", jsonDecl(kept));
    const yaml = await compileText("wf.yaml", yamlDecl(kept));
    expect(json.r.diagnostics).toEqual([]);
    expect(yaml.r.diagnostics).toEqual([]);
    const value = (r: typeof json.r) => r.content!.workflows["dec::WF_DEC_V0"]!.nodes.a!.steps[0]!.inputs.value;
    expect(value(json.r)).toEqual({ const: [0.1, 0.1, 1.5e-7, 2, 1000, 1000, 0, 1e22, 6.02e23, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 9007199254740992], floats: ["/3", "/4", "/5", "/6"] });
    expect(value(yaml.r)).toEqual(value(json.r));
    // Computed with the compiler before lossy decimals were refused (git HEAD 395e324); with 0.0 for -0.0, by the compiler that refuses it (the digest of the same text before it).
    expect(json.r.digest).toBe("sha256:3e49b5ec19d3248a7f73ac92a14c91bf275e96f54deaf836dd1b83e5d990c54d");
    expect(yaml.r.digest).toBe("sha256:2608526ebd9f5c61a7cb6f19cb78756cf846fa34bd3589cd7196dffd278fb30e");
  });

  it("YAML's own float spellings are judged by value: .5, +1.5, 1., 1.e3", async () => {
    const { r } = await compileText("wf.yaml", yamlDecl("[.5, +1.5, 1., 1.e3, -.5]"));
    expect(r.diagnostics).toEqual([]);
    expect(r.content!.workflows["dec::WF_DEC_V0"]!.nodes.a!.steps[0]!.inputs.value).toEqual({ const: [0.5, 1.5, 1, 1000, -0.5], floats: ["/2", "/3"] });
  });
});

describe("numberLiteralKept (the one rule of request files and declarations)", () => {
  it("integer literals: within ±(2^53−1)", () => {
    for (const ok of ["0", "-0", "9007199254740991", "-9007199254740991"]) expect(numberLiteralKept(ok), ok).toBe(true);
    for (const bad of ["9007199254740992", "-9007199254740992", "100000000000000000000000"]) expect(numberLiteralKept(bad), bad).toBe(false);
  });
  it("fraction or exponent: the decimal value of the shortest text of its double", () => {
    for (const ok of ["0.1", "0.10", "1.5e-7", "2.0", "1e3", "1e22", "5e-324", "-0.0", ".5", "+1.5", "1.", "1.e3"]) expect(numberLiteralKept(ok), ok).toBe(true);
    for (const [bad] of LOSSY) expect(numberLiteralKept(bad), bad).toBe(false);
    for (const bad of ["1e400", "-1e400", "", ".", "e3", "0x10", "Infinity"]) expect(numberLiteralKept(bad), bad).toBe(false);
  });
  it("judged against the double given (a YAML scalar's value), not only the one the text reads as", () => {
    expect(numberLiteralKept("0.5", 0.5)).toBe(true);
    expect(numberLiteralKept("0.5", 0.25)).toBe(false);
    expect(numberLiteralKept("12", 13)).toBe(false);
  });
});
