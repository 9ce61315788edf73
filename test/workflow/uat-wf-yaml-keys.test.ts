/**
 * UAT F10: a YAML mapping key that is not a string (an integer, a boolean, null `~`, a float or
 * `.inf`, hex, a collection `? [a, b]`) is E_COMPILE_SCHEMA naming file, line / column and the
 * key — never silently turned into text (colliding members dropped) — and the yaml library's
 * "Keys with collection values will be stringified" warning is never emitted.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { writeTree } from "./cairn-fixture.js";

const HEAD = "cairn: cairn.workflow/v1\nnamespace: aud\ncode: WF_KEYS_V0\nentry: a\n";
const constDecl = (value: string): string =>
  `${HEAD}nodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: ${value} }\n    routes:\n      default: { exit: X, reason: x }\n`;

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  warn = vi.spyOn(process, "emitWarning");
});
afterEach(() => {
  warn.mockRestore();
});

async function diagnose(text: string): Promise<{ file: string; diags: Array<{ code: string; file: string; node: string | null; field: string; message: string }> }> {
  const dir = writeTree({ "wf.yaml": text });
  const file = join(dir, "wf.yaml");
  const r = await compileWorkflows([file]);
  expect(r.content).toBeUndefined();
  return { file, diags: r.diagnostics };
}

describe("YAML mapping keys that are not strings (UAT F10)", () => {
  // On line 11 of constDecl the value starts at column 27: a key `{ k` at 29, `{ ? k` at 31.
  const keys: Array<[string, string, string, RegExp]> = [
    ["an integer", "{ 1: one-int }", "1", /the mapping key 1 is an integer, not a string/],
    ["a boolean", "{ true: t }", "true", /the mapping key true is a boolean/],
    ["null ~", "{ ~: nothing }", "~", /the mapping key ~ is null/],
    ["a float", "{ 1e3: w }", "1e3", /the mapping key 1e3 is a number/],
    [".inf", "{ .inf: v }", ".inf", /the mapping key \.inf is a non-finite number/],
    ["hex", "{ 0x10: z }", "0x10", /the mapping key 0x10 is an integer/],
    ["a sequence", "{ ? [a, b] : x }", "[a, b]", /the mapping key \[a, b\] is a sequence/],
    ["a mapping", "{ ? {k: v} : y }", "{k: v}", /the mapping key \{k: v\} is a mapping/],
  ];
  for (const [what, value, key, message] of keys) {
    it(`${what} key: E_COMPILE_SCHEMA naming file, line, column and the key`, async () => {
      const { file, diags } = await diagnose(constDecl(value));
      expect(diags).toHaveLength(1);
      expect(diags[0]).toMatchObject({ code: "E_COMPILE_SCHEMA", file, node: "a", field: "steps[0].inputs.value.const" });
      expect(diags[0]!.message).toMatch(message);
      expect(diags[0]!.message).toContain(`(line 11, column ${29 + (value.startsWith("{ ?") ? 2 : 0)})`);
      expect(diags[0]!.message).toContain(key);
      expect(warn).not.toHaveBeenCalled();
    });
  }

  it("the finding's example: every non-string key is reported, none dropped silently; quoted keys are strings", async () => {
    const { diags } = await diagnose(constDecl('{ 1: one-int, "1": one-str, true: t-bool, "true": t-str, ~: nothing }'));
    expect(diags.map((d) => d.message.match(/the mapping key (\S+)/)?.[1])).toEqual(["1", "true", "~"]);
    expect(diags.every((d) => d.code === "E_COMPILE_SCHEMA" && d.field === "steps[0].inputs.value.const")).toBe(true);
  });

  it("a non-string key anywhere (top level, nested under a sequence, an alias key) is found; its mapping is named", async () => {
    const text = `${HEAD}x: &k 7\n1: top\nnodes:\n  a:\n    steps:\n      - id: s\n        ct: hash\n        inputs:\n          value: { const: [ { ok: 1 }, { deep: { *k : 2 } } ] }\n    routes:\n      default: { exit: X, reason: x }\n`;
    const { diags } = await diagnose(text);
    expect(diags.map((d) => [d.node, d.field, d.message.match(/\(line (\d+), column (\d+)\)/)?.slice(1).join(":")])).toEqual([
      [null, "", "6:1"],
      ["a", "steps[0].inputs.value.const[1].deep", "13:50"],
    ]);
    expect(diags[1]!.message).toMatch(/the mapping key \*k is an integer/);
  });

  it("string keys, quoted numbers and a !!str key still compile; a !!set is refused as a value, as before", async () => {
    const ok = writeTree({ "wf.yaml": constDecl('{ "1": a, !!str 2: b, plain: c, "~": d }') });
    const r = await compileWorkflows([join(ok, "wf.yaml")]);
    expect(r.diagnostics).toEqual([]);
    const step = r.content!.workflows["aud::WF_KEYS_V0"]!.nodes.a!.steps[0]!;
    expect(step.inputs.value).toEqual({ const: { "1": "a", "2": "b", plain: "c", "~": "d" } });
    const { diags } = await diagnose(constDecl("!!set {1, 2}"));
    expect(diags).toHaveLength(1);
    expect(diags[0]!.message).toMatch(/a set \(YAML !!set\)/);
    expect(warn).not.toHaveBeenCalled();
  });
});
