/** Cairn's general-purpose atoms (general.ts). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalDigest } from "../../src/core/canonical.js";
import {
  ARITH_MAX_INT_BITS,
  AtomViolation,
  CAIRN_GENERAL_ATOMS,
  CONCAT_MAX_ITEMS,
  createGeneralAtomTable,
  CT_ATOMS,
  GENERAL_ATOMS,
  JSON_SCHEMA_CACHE_MAX_ENTRIES,
  jsonEquals,
  REGEX_MAX_INPUT_LENGTH,
  REGEX_MAX_PATTERN_LENGTH,
  runCtStep,
  type CtAtomTable,
  type JsonSchemaCompiler,
} from "../../src/workflow/atoms/index.js";
import {
  compactJson,
  parsePyJson,
  type PyDict,
} from "../../src/workflow/py/index.js";

const M = "cairn.workflow.atoms.general";

function call(table: CtAtomTable, callable: string, inputs: string): string {
  const a = table[`${M}:${callable}`];
  if (a === undefined) throw new Error(`no atom ${callable}`);
  const given = parsePyJson(inputs, { allowNonFiniteConstants: true }) as PyDict;
  return compactJson(a.execute(new Map(a.args.map((n) => [n, given.get(n) ?? null]))));
}
const g = (callable: string, inputs: string): string => call(GENERAL_ATOMS, callable, inputs);
const fails = (callable: string, inputs: string, table: CtAtomTable = GENERAL_ATOMS): AtomViolation => {
  try {
    call(table, callable, inputs);
  } catch (err) {
    if (err instanceof AtomViolation) return err;
    throw err;
  }
  throw new Error(`${callable} did not raise for ${inputs}`);
};

describe("GENERAL_ATOMS table", () => {
  it("is frozen, keyed by handler ref, and disjoint from the PGS table", () => {
    expect(Object.isFrozen(GENERAL_ATOMS)).toBe(true);
    for (const [k, a] of Object.entries(GENERAL_ATOMS)) {
      expect(a.handlerRef).toBe(k);
      expect(a.fqdn).toBe(`cairn::${a.code}`);
      expect(Object.hasOwn(CT_ATOMS, k)).toBe(false);
    }
    expect(Object.keys(GENERAL_ATOMS).map((k) => k.split(":")[1])).toEqual(["compare", "equals", "hash", "concat", "add", "sub", "mul", "div", "regex_match"]);
  });

  it("runs through the CT-IR executor with a combined table", () => {
    const ctIr = parsePyJson(`{"atom_stream":[{"atom":"cairn::CAIRN_ADD_V0","args":{"a":"$.inputs.x","b":2},
      "handler_ref":{"module":"${M}","callable":"add"},"out":"sum"}],"outputs":{"result":{"from":"sum"}}}`);
    const r = runCtStep(ctIr, parsePyJson('{"x":40}') as PyDict, { atoms: { ...CT_ATOMS, ...GENERAL_ATOMS } });
    expect(compactJson(r.outputs)).toBe('{"result":42}');
    expect(runCtStep(ctIr, parsePyJson('{"x":"40"}') as PyDict, { atoms: GENERAL_ATOMS }).status).toBe("VIOLATION");
  });
});

describe("compare / equals", () => {
  it("compares numbers exactly across int/float and strings by code point", () => {
    expect(g("compare", '{"a":1,"b":1.0}')).toBe('{"result":0}');
    expect(g("compare", '{"a":9007199254740993,"b":9007199254740992.0}')).toBe('{"result":1}');
    expect(g("compare", '{"a":"\uffff","b":"😀"}')).toBe('{"result":-1}');
    for (const bad of ['{"a":true,"b":1}', '{"a":"1","b":1}', '{"a":null,"b":null}', '{"a":NaN,"b":1}', '{"a":[1],"b":[1]}']) {
      expect(fails("compare", bad).atom).toBe("CAIRN_COMPARE_V0");
    }
  });

  it("equals: numbers by value, booleans distinct, objects unordered, lists ordered", () => {
    expect(g("equals", '{"a":{"x":[1,2.0],"y":null},"b":{"y":null,"x":[1.0,2]}}')).toBe('{"equal":true}');
    expect(g("equals", '{"a":true,"b":1}')).toBe('{"equal":false}');
    expect(g("equals", '{"a":[1,2],"b":[2,1]}')).toBe('{"equal":false}');
    expect(g("equals", '{"a":"1","b":1}')).toBe('{"equal":false}');
    expect(g("equals", '{"a":NaN,"b":NaN}')).toBe('{"equal":false}');
  });

  it("equals is reflexive and symmetric on NaN-free values", () => {
    const v = fc.jsonValue().map((x) => parsePyJson(JSON.stringify(x)));
    fc.assert(fc.property(v, v, (a, b) => {
      expect(jsonEquals(a, a)).toBe(true);
      expect(jsonEquals(a, b)).toBe(jsonEquals(b, a));
    }));
  });
});

describe("hash", () => {
  it("is Cairn's digest of the RFC 8785 canonical form", () => {
    expect(g("hash", '{"value":{"b":[1,2.5,"é"],"a":null}}')).toBe(`{"digest":"${canonicalDigest({ a: null, b: [1, 2.5, "é"] })}"}`);
    expect(g("hash", '{"value":1}')).toBe(g("hash", '{"value":1.0}'));
    expect(g("hash", '{"value":{"27":1,"3":2}}')).toBe(g("hash", '{"value":{"3":2,"27":1}}'));
  });

  it("refuses values RFC 8785 cannot represent exactly", () => {
    expect(fails("hash", '{"value":9007199254740992}').pyException).toBe("ValueError");
    expect(fails("hash", '{"value":[Infinity]}').pyException).toBe("ValueError");
    expect(fails("hash", '{"value":"\\ud800"}').pyException).toBe("ValueError");
  });
});

describe("concat", () => {
  it("joins strings or lists", () => {
    expect(g("concat", '{"values":["a","","b"]}')).toBe('{"result":"ab"}');
    expect(g("concat", '{"values":[[1],[],[2,[3]]]}')).toBe('{"result":[1,2,[3]]}');
  });

  it("refuses mixtures, empty input and oversized input", () => {
    expect(fails("concat", '{"values":["a",[1]]}').pyException).toBe("TypeError");
    expect(fails("concat", '{"values":[]}').pyException).toBe("CTExecutionError");
    expect(fails("concat", '{"values":"ab"}').pyException).toBe("CTExecutionError");
    expect(fails("concat", `{"values":[${Array(CONCAT_MAX_ITEMS + 1).fill('"a"').join(",")}]}`).pyException).toBe("CairnLimit");
  });
});

describe("arithmetic", () => {
  it.each([
    ["add", "2", "3", "5"],
    ["sub", "2", "3", "-1"],
    ["mul", "99999999999999999999", "10", "999999999999999999990"],
    ["div", "12", "-4", "-3"],
    ["add", "0.1", "0.2", "0.30000000000000004"],
    ["mul", "2", "1.5", "3.0"],
    ["div", "1", "4.0", "0.25"],
  ])("%s(%s, %s) = %s", (op, a, b, want) => expect(g(op, `{"a":${a},"b":${b}}`)).toBe(`{"result":${want}}`));

  it("fails closed: inexact int division, division by zero, overflow, booleans, non-finite, unsafe int with float", () => {
    expect(fails("div", '{"a":7,"b":2}').reason).toMatch(/not divisible/);
    expect(fails("div", '{"a":7,"b":0}').reason).toBe("division by zero");
    expect(fails("div", '{"a":7.0,"b":0.0}').reason).toBe("division by zero");
    expect(fails("mul", `{"a":${2n ** BigInt(ARITH_MAX_INT_BITS - 1)},"b":2}`).pyException).toBe("CairnLimit");
    expect(fails("add", `{"a":${2n ** BigInt(ARITH_MAX_INT_BITS)},"b":0}`).pyException).toBe("CairnLimit");
    expect(fails("add", '{"a":true,"b":1}').pyException).toBe("TypeError");
    expect(fails("add", '{"a":Infinity,"b":1}').pyException).toBe("TypeError");
    expect(fails("mul", '{"a":1e308,"b":10.0}').reason).toBe("result is not finite");
    expect(fails("add", '{"a":9007199254740993,"b":0.5}').pyException).toBe("ValueError");
  });

  it("int arithmetic is exact", () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), fc.bigInt({ min: 1n, max: 2n ** 200n }), (a, b) => {
      expect(g("add", `{"a":${a},"b":${b}}`)).toBe(`{"result":${a + b}}`);
      expect(g("div", `{"a":${a * b},"b":${b}}`)).toBe(`{"result":${a}}`);
    }));
  });
});

describe("regex_match", () => {
  it("searches (unanchored) and reports match, groups and named groups", () => {
    expect(g("regex_match", '{"pattern":"(\\\\d+)-(?<w>[a-z]+)?","input":"id 42-"}')).toBe('{"matched":true,"match":"42-","groups":["42",null],"named":{"w":null}}');
    expect(g("regex_match", '{"pattern":"^abc$","input":"ABC","flags":"i"}')).toBe('{"matched":true,"match":"ABC","groups":[],"named":{}}');
    expect(g("regex_match", '{"pattern":"^x","input":"abc"}')).toBe('{"matched":false,"match":null,"groups":[],"named":{}}');
  });

  it("bounds pattern and input length, limits flags, rejects invalid patterns", () => {
    expect(fails("regex_match", `{"pattern":"${"a".repeat(REGEX_MAX_PATTERN_LENGTH + 1)}","input":""}`).pyException).toBe("CairnLimit");
    expect(fails("regex_match", `{"pattern":"a","input":"${"a".repeat(REGEX_MAX_INPUT_LENGTH + 1)}"}`).pyException).toBe("CairnLimit");
    expect(fails("regex_match", '{"pattern":"a","input":"a","flags":"g"}').pyException).toBe("ValueError");
    expect(fails("regex_match", '{"pattern":"(","input":"a"}').reason).toMatch(/^invalid pattern/);
    expect(fails("regex_match", '{"pattern":1,"input":"a"}').pyException).toBe("TypeError");
  });
});

describe("regex_match: RE2 semantics in linear time", () => {
  it("a backtracking pattern over a payload-sized input answers at once (RegExp took minutes)", () => {
    const input = `${"a".repeat(REGEX_MAX_INPUT_LENGTH - 1)}!`;
    expect(g("regex_match", `{"pattern":"^(a+)+$","input":"${input}"}`)).toBe('{"matched":false,"match":null,"groups":[],"named":{}}');
    expect(g("regex_match", `{"pattern":"(a|aa)*b","input":"${"a".repeat(REGEX_MAX_INPUT_LENGTH)}"}`)).toBe('{"matched":false,"match":null,"groups":[],"named":{}}');
  });

  it("JavaScript spellings are translated: \\u escapes, (?<name>), \\cX; captures agree with RegExp (leftmost-first)", () => {
    expect(g("regex_match", '{"pattern":"\\\\u00e9(?<rest>\\\\w+)","input":"caf\u00e9s12"}')).toBe('{"matched":true,"match":"\\u00e9s12","groups":["s12"],"named":{"rest":"s12"}}');
    expect(g("regex_match", '{"pattern":"a\\\\cJb","input":"a\\nb"}')).toBe('{"matched":true,"match":"a\\nb","groups":[],"named":{}}');
    expect(g("regex_match", '{"pattern":"(a|ab)(c|bcd)(d*)","input":"abcd"}')).toBe('{"matched":true,"match":"abcd","groups":["a","bcd",""],"named":{}}');
    expect(g("regex_match", '{"pattern":"^.$","input":"\ud83d\ude00"}')).toBe('{"matched":true,"match":"\\ud83d\\ude00","groups":[],"named":{}}');
    expect(g("regex_match", '{"pattern":"^a.b$","input":"a\\nb","flags":"s"}')).toBe('{"matched":true,"match":"a\\nb","groups":[],"named":{}}');
    expect(g("regex_match", '{"pattern":"^b","input":"a\\nb","flags":"m"}')).toBe('{"matched":true,"match":"b","groups":[],"named":{}}');
  });

  it("backreferences and lookaround are invalid patterns (ValueError), not silently different", () => {
    for (const p of ["(a)\\\\1", "a(?=b)", "a(?!b)", "(?<=a)b", "(?<!a)b", "a{1001}"]) {
      const v = fails("regex_match", `{"pattern":"${p}","input":"aab"}`);
      expect(v.pyException, p).toBe("ValueError");
      expect(v.reason, p).toMatch(/^invalid pattern: error parsing regexp: /);
    }
  });
});

describe("json_schema_validate (ajv, as Cairn workflows reach it)", () => {
  const A = CAIRN_GENERAL_ATOMS;
  const valid = (schema: string, value: string): string => call(A, "json_schema_validate", `{"schema":${schema},"value":${value}}`);
  const invalid = (schema: string, value: string): AtomViolation => fails("json_schema_validate", `{"schema":${schema},"value":${value}}`, A);

  it("pattern and patternProperties use the linear engine: a backtracking pattern answers at once", () => {
    const v = invalid('{"type":"string","pattern":"^(a+)+$"}', `"${"a".repeat(40)}!"`);
    expect(v.reason).toBe(`value does not match the schema at '': must match pattern "^(a+)+$"`);
    expect(valid('{"type":"string","pattern":"^(a+)+$"}', `"${"a".repeat(40)}"`)).toBe('{"valid":true}');
    expect(invalid('{"patternProperties":{"^(x+)+$":{"type":"integer"}}}', `{"${"x".repeat(40)}":"s"}`).reason).toMatch(/must be integer$/);
    // Strict mode's check of `properties` names against `patternProperties` used a native RegExp
    // (11 s for 28 characters, exponential): it is off, so nothing but the linear engine runs.
    expect(valid(`{"type":"object","properties":{"${"a".repeat(40)}!":{}},"patternProperties":{"^(a+)+$":{"type":"string"}}}`, "{}")).toBe('{"valid":true}');
    expect(valid('{"type":"object","properties":{"x":{}},"patternProperties":{"[\\\\u{1F600}-\\\\u{1F64F}]":{"type":"string"}}}', '{"\ud83d\ude01":"s"}')).toBe('{"valid":true}');
    // Two patterns in one schema stay two patterns (ajv keys compiled patterns by their text).
    expect(invalid('{"properties":{"a":{"pattern":"^a$"},"b":{"pattern":"^b$"}}}', '{"a":"a","b":"a"}').reason).toBe(`value does not match the schema at '/b': must match pattern "^b$"`);
  });

  it("uniqueItems is linear and reports ajv's pair; equality is JSON equality", () => {
    const many = `[${Array.from({ length: 40_000 }, (_, i) => `{"k":${i},"v":[${i}]}`).join(",")}]`;
    expect(valid('{"type":"array","uniqueItems":true}', many)).toBe('{"valid":true}');
    expect(invalid('{"type":"array","uniqueItems":true}', '[{"a":1,"b":2},3,{"b":2,"a":1.0},3]').reason).toBe("value does not match the schema at '': must NOT have duplicate items (items ## 1 and 3 are identical)");
    expect(invalid('{"type":"array","uniqueItems":true}', '[1,[2],[2]]').reason).toBe("value does not match the schema at '': must NOT have duplicate items (items ## 1 and 2 are identical)");
    expect(valid('{"type":"array","uniqueItems":true}', '[1,"1",true,null,[1],{"1":1}]')).toBe('{"valid":true}');
    expect(valid('{"type":"array","uniqueItems":false}', "[1,1]")).toBe('{"valid":true}');
    // Any string, a lone surrogate included (RFC 8785 has no form for it: it failed the validator).
    expect(valid('{"type":"array","uniqueItems":true}', '["\\ud800","x",{"k":"\\udc00"}]')).toBe('{"valid":true}');
    expect(invalid('{"type":"array","uniqueItems":true}', '["\\ud800","\\ud800"]').reason).toBe("value does not match the schema at '': must NOT have duplicate items (items ## 0 and 1 are identical)");
  });

  it("only own members are present: required and properties do not see Object.prototype", () => {
    expect(invalid('{"type":"object","required":["constructor","toString"]}', "{}").reason).toBe("value does not match the schema at '': must have required property 'constructor'");
    expect(valid('{"type":"object","properties":{"constructor":{"type":"string"}}}', "{}")).toBe('{"valid":true}');
  });

  it("an $async schema is an invalid schema (its validator answered with a Promise, and a rejected one crashed the process)", () => {
    for (const value of ['{"name":"x"}', "{}"]) {
      const v = invalid('{"$async":true,"type":"object","required":["name"]}', value);
      expect(v.pyException).toBe("ValueError");
      expect(v.reason).toBe("invalid schema: asynchronous schemas ($async) are not supported");
    }
  });
});

describe("json_schema_validate (injected compiler)", () => {
  /** A toy compiler standing in for ajv: supports {"type": ...} and {"required": [...]}. */
  let compiles = 0;
  const toy: JsonSchemaCompiler = (schema) => {
    compiles++;
    const s = schema as { type?: string; required?: string[] };
    if (s.type !== undefined && !["object", "string", "number"].includes(s.type)) throw new Error(`unknown type ${s.type}`);
    return (data) => {
      const errors: { instancePath: string; message: string }[] = [];
      if (s.type === "object" && (typeof data !== "object" || data === null || Array.isArray(data))) errors.push({ instancePath: "", message: "must be object" });
      if (s.type === "string" && typeof data !== "string") errors.push({ instancePath: "", message: "must be string" });
      for (const r of s.required ?? []) if (typeof data === "object" && data !== null && !(r in data)) errors.push({ instancePath: "", message: `must have required property '${r}'` });
      return { valid: errors.length === 0, errors };
    };
  };
  const table = createGeneralAtomTable({ jsonSchema: toy });

  it("is only present when a compiler is injected", () => {
    expect(createGeneralAtomTable()).toBe(GENERAL_ATOMS);
    expect(Object.keys(table)).toContain(`${M}:json_schema_validate`);
  });

  it("returns {valid:true} or raises a violation listing the errors", () => {
    expect(call(table, "json_schema_validate", '{"schema":{"type":"object","required":["a"]},"value":{"a":1}}')).toBe('{"valid":true}');
    const v = fails("json_schema_validate", '{"schema":{"type":"object","required":["a"]},"value":{"b":1}}', table);
    expect(v.reason).toBe("value does not match the schema at '': must have required property 'a'");
    expect(v.details.errors).toEqual([{ instancePath: "", message: "must have required property 'a'" }]);
  });

  it("reports invalid schemas and unrepresentable values as violations", () => {
    expect(fails("json_schema_validate", '{"schema":{"type":"widget"},"value":1}', table).reason).toMatch(/^invalid schema: unknown type/);
    expect(fails("json_schema_validate", '{"schema":[],"value":1}', table).pyException).toBe("TypeError");
    expect(fails("json_schema_validate", '{"schema":{},"value":99999999999999999999}', table).pyException).toBe("ValueError");
  });

  it("memoises compiled schemas by canonical text (bounded)", () => {
    const before = compiles;
    call(table, "json_schema_validate", '{"schema":{"type":"string","required":[]},"value":"x"}');
    call(table, "json_schema_validate", '{"schema":{"required":[],"type":"string"},"value":"y"}');
    expect(compiles - before).toBe(1);
    for (let i = 0; i <= JSON_SCHEMA_CACHE_MAX_ENTRIES; i++) call(table, "json_schema_validate", `{"schema":{"type":"string","required":[],"n${i}":1},"value":"x"}`);
    const afterFill = compiles;
    call(table, "json_schema_validate", '{"schema":{"type":"string","required":[]},"value":"x"}');
    expect(compiles - afterFill).toBe(1);
  });
});
