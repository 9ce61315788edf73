/**
 * UAT findings on the general atoms (src/workflow/atoms/general.ts):
 * - `json_schema_validate` (ajv 8): ajv reads `properties` / `patternProperties` / `dependencies`
 *   without their `__proto__` member (`allSchemaProperties`), so a property named `__proto__`
 *   went unchecked; and strict mode looked keywords up in a plain object (`RULES.keywords[key]`),
 *   so `__proto__`, `constructor`, `toString`, `hasOwnProperty` passed as keywords and were
 *   ignored. Both are now invalid schemas (a VIOLATION at run time, E_COMPILE_SCHEMA for a
 *   constant schema). `const` / `enum` compared with fast-deep-equal, which called a member
 *   named `toString` / `valueOf` ("validator failed") and compared `constructor` members by
 *   identity: they now use JSON equality.
 * - `regex_match` accepted repeated flags ("ii"), which `RegExp` refuses.
 */
import { describe, expect, it } from "vitest";
import { AtomViolation, CAIRN_GENERAL_ATOMS, GENERAL_ATOMS, type CtAtomTable } from "../../src/workflow/atoms/index.js";
import { compactJson, parsePyJson, type PyDict } from "../../src/workflow/py/index.js";
import { baseDecl, compileDecl } from "./cairn-fixture.js";

const M = "cairn.workflow.atoms.general";

function call(table: CtAtomTable, callable: string, inputs: string): string {
  const a = table[`${M}:${callable}`];
  if (a === undefined) throw new Error(`no atom ${callable}`);
  const given = parsePyJson(inputs) as PyDict;
  return compactJson(a.execute(new Map(a.args.map((n) => [n, given.get(n) ?? null]))));
}
function fails(table: CtAtomTable, callable: string, inputs: string): AtomViolation {
  try {
    call(table, callable, inputs);
  } catch (err) {
    if (err instanceof AtomViolation) return err;
    throw err;
  }
  throw new Error(`${callable} did not raise for ${inputs}`);
}
const valid = (schema: string, value: string): string => call(CAIRN_GENERAL_ATOMS, "json_schema_validate", `{"schema":${schema},"value":${value}}`);
const invalid = (schema: string, value: string): AtomViolation => fails(CAIRN_GENERAL_ATOMS, "json_schema_validate", `{"schema":${schema},"value":${value}}`);
const PROTO_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

const done = { default: { exit: "DONE", reason: "done" } };
const oneStep = (step: Record<string, unknown>): Record<string, unknown> => baseDecl({ nodes: { start: { steps: [step], routes: done } } });
/** A declaration whose schema constant is `schemaJson` (parsed: a `__proto__` member stays an own member). */
const schemaStep = (schemaJson: string): Record<string, unknown> =>
  oneStep({ id: "shape", ct: "json_schema_validate", inputs: { schema: { const: JSON.parse(schemaJson) as unknown }, value: "$.payload" } });
const refusals = (r: Awaited<ReturnType<typeof compileDecl>>): string[][] => r.r.diagnostics.map((d) => [d.code, d.field ?? "", d.message.split("refuse: ").pop() ?? ""]);

describe("json_schema_validate: names ajv would mis-handle", () => {
  it.each(PROTO_NAMES)("%s as a keyword is an unknown keyword (strict mode), not a silently ignored one", (name) => {
    for (const value of ["1", '"s"', "{}"]) {
      const v = invalid(`{${JSON.stringify(name)}:{"type":"string"}}`, value);
      expect(v.pyException).toBe("ValueError");
      expect(v.reason).toBe(`invalid schema: strict mode: unknown keyword: ${JSON.stringify(name)}`);
    }
    expect(invalid(`{"items":{"type":"integer",${JSON.stringify(name)}:1}}`, "[1]").reason).toBe(`invalid schema: strict mode: unknown keyword: ${JSON.stringify(name)}`);
  });

  it("__proto__ under properties, patternProperties or dependencies is an invalid schema (ajv ignored it); other names work", () => {
    const cases: [string, string][] = [
      ['{"properties":{"__proto__":{"type":"string"}}}', `unsupported name "__proto__" in "properties" at #/properties (ajv would ignore it)`],
      ['{"type":"object","properties":{"__proto__":{}},"additionalProperties":false}', `unsupported name "__proto__" in "properties" at #/properties (ajv would ignore it)`],
      ['{"patternProperties":{"__proto__":{"type":"string"}}}', `unsupported name "__proto__" in "patternProperties" at #/patternProperties (ajv would ignore it)`],
      ['{"dependencies":{"__proto__":["zz"]}}', `unsupported name "__proto__" in "dependencies" at #/dependencies (ajv would ignore it)`],
      ['{"dependencies":{"__proto__":{"required":["zz"]}}}', `unsupported name "__proto__" in "dependencies" at #/dependencies (ajv would ignore it)`],
      ['{"items":[{"allOf":[{"properties":{"a":{"properties":{"__proto__":{}}}}}]}]}', `unsupported name "__proto__" in "properties" at #/items/0/allOf/0/properties/a/properties (ajv would ignore it)`],
      ['{"definitions":{"x/y":{"not":{"patternProperties":{"__proto__":{}}}}}}', `unsupported name "__proto__" in "patternProperties" at #/definitions/x~1y/not/patternProperties (ajv would ignore it)`],
    ];
    for (const [schema, reason] of cases) {
      for (const value of ['{"__proto__":1}', "{}", "[{}]"]) {
        const v = invalid(schema, value);
        expect(v.pyException).toBe("ValueError");
        expect(v.reason).toBe(`invalid schema: ${reason}`);
      }
    }
    // What ajv gets right stays: required, $ref into definitions, a pattern matching __proto__,
    // additionalProperties, the other Object.prototype names as properties / dependencies.
    expect(invalid('{"required":["__proto__"]}', "{}").reason).toBe("value does not match the schema at '': must have required property '__proto__'");
    expect(valid('{"required":["__proto__"]}', '{"__proto__":1}')).toBe('{"valid":true}');
    expect(invalid('{"definitions":{"__proto__":{"type":"string"}},"$ref":"#/definitions/__proto__"}', "1").reason).toBe("value does not match the schema at '': must be string");
    expect(invalid('{"patternProperties":{"^__proto__$":{"type":"string"}}}', '{"__proto__":1}').reason).toBe("value does not match the schema at '/__proto__': must be string");
    expect(invalid('{"additionalProperties":false}', '{"__proto__":1}').reason).toBe("value does not match the schema at '': must NOT have additional properties");
    for (const name of PROTO_NAMES.slice(1)) {
      const n = JSON.stringify(name);
      expect(invalid(`{"properties":{${n}:{"type":"string"}}}`, `{${n}:1}`).reason).toBe(`value does not match the schema at '/${name}': must be string`);
      expect(valid(`{"properties":{${n}:{"type":"string"}}}`, "{}")).toBe('{"valid":true}');
      expect(valid(`{"properties":{${n}:{}},"additionalProperties":false}`, `{${n}:1}`)).toBe('{"valid":true}');
      expect(invalid(`{"dependencies":{${n}:["zz"]}}`, `{${n}:1}`).reason).toBe(`value does not match the schema at '': must have property zz when property ${name} is present`);
    }
  });

  it("const and enum compare by JSON equality, whatever the member names (toString / valueOf members crashed, constructor members compared by identity)", () => {
    for (const name of PROTO_NAMES) {
      const n = JSON.stringify(name);
      for (const member of ["1", "{}", '{"a":[1]}', '"s"']) {
        const obj = `{${n}:${member}}`;
        expect(valid(`{"const":${obj}}`, obj)).toBe('{"valid":true}');
        expect(valid(`{"enum":[0,${obj}]}`, obj)).toBe('{"valid":true}');
        expect(invalid(`{"const":${obj}}`, `{${n}:2}`).reason).toBe("value does not match the schema at '': must be equal to constant");
        expect(invalid(`{"enum":[0,${obj}]}`, "{}").reason).toBe("value does not match the schema at '': must be equal to one of the allowed values");
        // A payload member of that name against an unrelated constant is a plain mismatch.
        expect(invalid('{"const":{"a":1}}', obj).reason).toBe("value does not match the schema at '': must be equal to constant");
      }
    }
    // JSON equality as before: numbers by value, members in any order; booleans are not numbers.
    expect(valid('{"const":{"a":1,"b":[2.0]}}', '{"b":[2],"a":1.0}')).toBe('{"valid":true}');
    expect(valid('{"enum":[null,{"x":[1,{"y":2}]}]}', '{"x":[1.0,{"y":2}]}')).toBe('{"valid":true}');
    expect(invalid('{"const":1}', "true").reason).toBe("value does not match the schema at '': must be equal to constant");
    expect(invalid('{"enum":[1,"a"]}', '"b"').reason).toBe("value does not match the schema at '': must be equal to one of the allowed values");
    expect(invalid('{"properties":{"k":{"const":0}}}', '{"k":1}').reason).toBe("value does not match the schema at '/k': must be equal to constant");
  });

  it("a constant schema holding such a name is E_COMPILE_SCHEMA", async () => {
    const cases: [string, string][] = [
      ['{"properties":{"__proto__":{"type":"string"}}}', `invalid schema: unsupported name "__proto__" in "properties" at #/properties (ajv would ignore it)`],
      ['{"__proto__":{"type":"string"}}', 'invalid schema: strict mode: unknown keyword: "__proto__"'],
      ['{"type":"object","constructor":{"type":"string"}}', 'invalid schema: strict mode: unknown keyword: "constructor"'],
      ['{"toString":1}', 'invalid schema: strict mode: unknown keyword: "toString"'],
      ['{"hasOwnProperty":true}', 'invalid schema: strict mode: unknown keyword: "hasOwnProperty"'],
    ];
    for (const [schema, message] of cases) {
      expect(refusals(await compileDecl(schemaStep(schema), "wf.json"))).toEqual([["E_COMPILE_SCHEMA", "steps[0].inputs.schema", message]]);
    }
    // Names ajv handles compile.
    expect((await compileDecl(schemaStep('{"required":["__proto__"],"properties":{"constructor":{"const":{"toString":1}}}}'), "wf.json")).lines).toEqual([]);
  });
});

describe("regex_match: a flag twice", () => {
  it("is refused like an unknown flag, at run time", () => {
    for (const flags of ["ii", "imi", "uu", "msm"]) {
      const v = fails(GENERAL_ATOMS, "regex_match", `{"pattern":"a","input":"A","flags":${JSON.stringify(flags)}}`);
      expect(v.pyException).toBe("ValueError");
      expect(v.reason).toBe('flags may use each of "imsu" only once');
    }
    expect(fails(GENERAL_ATOMS, "regex_match", '{"pattern":"a","input":"A","flags":"ig"}').reason).toBe('flags may only use "imsu"');
    expect(call(GENERAL_ATOMS, "regex_match", '{"pattern":"a","input":"A","flags":"imsu"}')).toBe('{"matched":true,"match":"A","groups":[],"named":{}}');
  });

  it("and at compile time for a constant", async () => {
    const r = await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: "$.payload.p", input: "$.payload.name", flags: { const: "ii" } } }));
    expect(refusals(r)).toEqual([["E_COMPILE_SCHEMA", "steps[0].inputs.flags", 'flags may use each of "imsu" only once']]);
    expect((await compileDecl(oneStep({ id: "m", ct: "regex_match", inputs: { pattern: "$.payload.p", input: "$.payload.name", flags: { const: "is" } } }))).lines).toEqual([]);
  });
});

describe("json_schema_validate: const and enum as ajv's (review of the JSON-equality keywords)", () => {
  it("report their error where ajv's stood, before not/anyOf/allOf/if (the first error is the VIOLATION's message)", () => {
    expect(invalid('{"allOf":[{"type":"string"}],"const":"a"}', "1").message).toContain("must be equal to constant");
    expect(invalid('{"anyOf":[{"type":"string"}],"enum":["a","b"]}', "1").message).toContain("must be equal to one of the allowed values");
    expect(invalid('{"not":{"type":"number"},"const":"a"}', "1").message).toContain("must be equal to constant");
  });

  it("compare by JSON value: numbers by value, members in any order, arrays in order, no method of the data called", () => {
    expect(valid('{"const":1}', "1.0")).toBe('{"valid":true}');
    expect(valid('{"const":{"a":[1,{"b":null}],"c":"x"}}', '{"c":"x","a":[1.0,{"b":null}]}')).toBe('{"valid":true}');
    expect(invalid('{"const":[1,2]}', "[2,1]").message).toContain("must be equal to constant");
    expect(invalid('{"const":{"a":1}}', '{"a":1,"b":2}').message).toContain("must be equal to constant");
    expect(invalid('{"const":[]}', "{}").message).toContain("must be equal to constant");
    expect(valid('{"enum":[1,"1",null,[1],{"toString":1}]}', '{"toString":1.0}')).toBe('{"valid":true}');
    expect(valid('{"enum":[1,"1",null,[1]]}', '"1"')).toBe('{"valid":true}');
    expect(invalid('{"enum":[1,"1",null,[1]]}', "true").message).toContain("must be equal to one of the allowed values");
    expect(invalid('{"enum":[[1]]}', "[1,1]").message).toContain("must be equal to one of the allowed values");
  });
});
