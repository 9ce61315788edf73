/**
 * `run`'s function argument `{ code, name? }` is checked like the config, hooks and verify
 * options: an unknown key (`nam`) is E_USAGE naming it with the key it probably meant (it was
 * ignored, the run labelled `<inline>`); `name` must be a non-empty string (`""` gave `runs ls`
 * an empty FUNCTION cell) of at most MAX_FUNCTION_NAME_CHARS characters without control
 * characters or lone surrogates. A name with path separators is a label and stays allowed;
 * a module path (the CLI's argument) is unaffected.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { checkFunctionSource, FUNCTION_SOURCE_KEYS, MAX_FUNCTION_NAME_CHARS } from "../../src/batch/api-checks.js";
import { usage } from "./fixtures/engine-helpers.js";

const code = "export default (x) => x;\n";

describe("run's function argument is checked strictly", () => {
  it("an unknown key is refused with did-you-mean, as config keys are", () => {
    expect(FUNCTION_SOURCE_KEYS).toEqual(["code", "name"]);
    const e = usage(() => checkFunctionSource({ code, nam: "x" }));
    expect(e.code).toBe(ErrorCode.USAGE);
    expect(e.message).toBe('unknown function key "nam" (did you mean "name"?); the keys are code, name');
    expect(e.details).toEqual({ field: "nam", suggestion: "name" });
    const other = usage(() => checkFunctionSource({ code, module: "m.mjs" }));
    expect(other.message).toBe('unknown function key "module"; the keys are code, name');
    expect(other.details).toEqual({ field: "module" });
  });

  it("name must be a non-empty string", () => {
    for (const [name, shown] of [["", 'a string ""'], [5, "5"], [null, "null"], [["a"], "an array"]] as const) {
      const e = usage(() => checkFunctionSource({ code, name }));
      expect(e.message).toBe(`fn.name must be a non-empty string (a label for the function), got ${shown}`);
      expect(e.details).toEqual({ field: "name" });
    }
  });

  it("name is at most MAX_FUNCTION_NAME_CHARS characters, counted as code points", () => {
    expect(MAX_FUNCTION_NAME_CHARS).toBe(256);
    expect(() => checkFunctionSource({ code, name: "n".repeat(MAX_FUNCTION_NAME_CHARS) })).not.toThrow();
    expect(() => checkFunctionSource({ code, name: "\u{1F600}".repeat(MAX_FUNCTION_NAME_CHARS) })).not.toThrow();
    for (const name of ["n".repeat(MAX_FUNCTION_NAME_CHARS + 1), "\u{1F600}".repeat(MAX_FUNCTION_NAME_CHARS + 1), "n".repeat(1_000_000)]) {
      const e = usage(() => checkFunctionSource({ code, name }));
      expect(e.message).toMatch(/^fn\.name must be at most 256 characters, got "n+"… \(\d+ characters\)$|^fn\.name must be at most 256 characters, got "(\u{1F600}){256}"… \(257 characters\)$/u);
      expect(e.message.length).toBeLessThan(2000);
      expect(e.details).toEqual({ field: "name" });
    }
  });

  it("name has no control characters or lone surrogates; the message shows it escaped", () => {
    const cases: Array<[string, string]> = [
      ["a\nb", '"a\\nb"'],
      ["\u001b[31mred", '"\\u001b[31mred"'],
      ["x\u007f", '"x\\u007f"'],
      ["x\u0085", '"x\\u0085"'],
      ["x\u2028", '"x\\u2028"'],
      ["x\ud800", '"x\\ud800"'],
    ];
    for (const [name, shown] of cases) {
      const e = usage(() => checkFunctionSource({ code, name }));
      expect(e.message).toBe(`fn.name must not contain control characters or lone surrogates, got ${shown}`);
      expect(e.details).toEqual({ field: "name" });
    }
  });

  it("a name with path separators is a label and is accepted; so is no name", () => {
    for (const name of ["lib/fn.mjs", "../../etc/passwd", "C:\\fn.mjs", "fn \u00e9\u{1F600}.mjs", undefined]) {
      expect(() => checkFunctionSource(name === undefined ? { code } : { code, name })).not.toThrow();
    }
  });

  it("code must be a string; the argument a module path or an object", () => {
    const c = usage(() => checkFunctionSource({ code: Buffer.from(code) }));
    expect(c.message).toBe("the execution function must be a module path or { code, name? }: fn.code must be a string (a self-contained ES module text), got an instance of Buffer");
    expect(c.details).toEqual({ field: "code" });
    expect(usage(() => checkFunctionSource({ name: "x" })).details).toEqual({ field: "code" });
    for (const fn of [null, 5, new Map(), [code], () => 1]) expect(usage(() => checkFunctionSource(fn)).details).toEqual({ field: "fn" });
    expect(usage(() => checkFunctionSource(() => 1)).message).toMatch(/must be a module path or \{ code, name\? \} \(a self-contained ES module text\), got a function value, which can be neither sent to a worker thread nor stored/);
    expect(usage(() => checkFunctionSource("")).details).toEqual({ field: "fn" });
    // the CLI passes the module path: any non-empty path, its base name becoming the label
    expect(() => checkFunctionSource("examples/zip-fips/validate.ts")).not.toThrow();
    expect(() => checkFunctionSource("dir/with\nnewline.mjs")).not.toThrow();
  });
});
