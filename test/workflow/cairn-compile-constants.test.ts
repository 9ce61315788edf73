/**
 * Constant inputs of built-in atoms that every run would refuse are compile errors
 * (E_COMPILE_SCHEMA naming file, node, field): an invalid JSON Schema (ajv strict mode: a typo'd
 * keyword), an invalid or oversized regex pattern, unknown regex flags, a zero divisor. Before,
 * such a step compiled and ended VIOLATION on every run, which `examine` called a business
 * violation. Inputs bound to the payload are checked at run time as before.
 */
import { describe, expect, it } from "vitest";
import { REGEX_MAX_PATTERN_LENGTH } from "../../src/workflow/atoms/general.js";
import { baseDecl, compileDecl } from "./cairn-fixture.js";

const done = { default: { exit: "DONE", reason: "done" } };
const oneStep = (step: Record<string, unknown>): Record<string, unknown> => baseDecl({ nodes: { start: { steps: [step], routes: done } } });

describe("constant atom inputs every run would refuse", () => {
  it("json_schema_validate: a schema with a typo'd keyword, or a schema that is not an object", async () => {
    const a = await compileDecl(oneStep({ id: "shape", ct: "json_schema_validate", inputs: { schema: { const: { type: "object", requried: ["name"] } }, value: "$.payload" } }));
    expect(a.lines).toEqual([
      `${a.file}: node start: steps[0].inputs.schema: step shape: json_schema_validate: input schema is a constant every run would refuse: invalid schema: strict mode: unknown keyword: "requried" [E_COMPILE_SCHEMA]`,
    ]);
    const b = await compileDecl(oneStep({ id: "shape", ct: "json_schema_validate", inputs: { schema: { const: [1] }, value: "$.payload" } }));
    expect(b.r.diagnostics.map((d) => [d.code, d.field, d.message.split(": ").pop()])).toEqual([["E_COMPILE_SCHEMA", "steps[0].inputs.schema", "schema must be an object or a boolean"]]);
    const c = await compileDecl(oneStep({ id: "shape", ct: "json_schema_validate", inputs: { schema: { const: { $async: true, type: "object" } }, value: "$.payload" } }));
    expect(c.r.diagnostics.map((d) => d.message.split("refuse: ").pop())).toEqual(["invalid schema: asynchronous schemas ($async) are not supported"]);
  });

  it("regex_match: an invalid pattern, a pattern over the limit, unknown flags", async () => {
    const a = await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: { const: "^[a-z]+(" }, input: "$.payload.name" } }));
    expect(a.lines).toEqual([
      `${a.file}: node start: steps[0].inputs.pattern: step m: regex_match: input pattern is a constant every run would refuse: invalid pattern: error parsing regexp: missing closing ): \`^[a-z]+(\` [E_COMPILE_SCHEMA]`,
    ]);
    const b = await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: { const: "a".repeat(REGEX_MAX_PATTERN_LENGTH + 1) }, input: "$.payload.name" } }));
    expect(b.r.diagnostics.map((d) => d.message.split("refuse: ").pop())).toEqual([`pattern longer than ${REGEX_MAX_PATTERN_LENGTH}`]);
    const c = await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: "$.payload.p", input: "$.payload.name", flags: { const: "g" } } }));
    expect(c.r.diagnostics.map((d) => [d.field, d.message.split("refuse: ").pop()])).toEqual([["steps[0].inputs.flags", 'flags may only use "imsu"']]);
    const d = await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: { const: "(a)\\1" }, input: "$.payload.name" } }));
    expect(d.r.diagnostics.map((x) => x.message.split("refuse: ").pop())).toEqual(["invalid pattern: error parsing regexp: invalid escape sequence: `\\1`"]);
  });

  it("div: a zero divisor; a constant zero dividend is fine", async () => {
    const r = await compileDecl(oneStep({ id: "d", ct: "div", inputs: { a: "$.payload.n", b: { const: 0 } } }));
    expect(r.r.diagnostics.map((x) => [x.field, x.message.split("refuse: ").pop()])).toEqual([["steps[0].inputs.b", "division by zero"]]);
    expect((await compileDecl(oneStep({ id: "d", ct: "div", inputs: { a: { const: 0 }, b: "$.payload.n" } }))).lines).toEqual([]);
  });

  it("valid constants and payload-bound inputs compile", async () => {
    const d = baseDecl({
      nodes: {
        start: {
          steps: [
            { id: "shape", ct: "json_schema_validate", inputs: { schema: { const: { type: "object", required: ["name"], properties: { name: { pattern: "^(a+)+$" } } } }, value: "$.payload" } },
            { id: "m", ct: "regex_match", inputs: { pattern: { const: "^(?<w>[a-z]+)$" }, input: "$.payload.name", flags: { const: "i" } } },
            { id: "d", ct: "div", inputs: { a: "$.payload.n", b: { const: 4 } } },
            { id: "e", ct: "div", inputs: { a: "$.payload.n", b: "$.payload.m" } },
          ],
          routes: done,
        },
      },
    });
    expect((await compileDecl(d)).lines).toEqual([]);
  });
});
