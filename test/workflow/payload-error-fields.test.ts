/**
 * Payload refusals name what their caller passed (ARCHITECTURE.md §7, "Naming options"): the
 * library's `readPayloadFile(path)` names `path`, `parsePayloadBytes(bytes, name)` the payload
 * (or the field its caller passes in), and `cairn wf run --payload FILE|-` its flag, with the same
 * messages. (Until 2026-11-28 the library said `field: "--payload"` too, and the size refusal of
 * a file named no field at all.)
 */
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_PAYLOAD_BYTES } from "../../src/workflow/pgs/constants.js";
import { parsePayloadBytes, readPayloadFile } from "../../src/workflow/pgs/run.js";
import { MAX_PAYLOAD_DEPTH } from "../../src/workflow/py/json.js";
import { cairnErrorOf } from "../cairn-error-of.js";
import { cairn, jsonError, type RunResult } from "../cli/helpers.js";
import { scratchPerTest, WF, type Sandbox } from "./pgs-fixture.js";

const { box, dir } = scratchPerTest({});

const TOO_DEEP = `{"x":\n  ${"[".repeat(MAX_PAYLOAD_DEPTH)}${"]".repeat(MAX_PAYLOAD_DEPTH)}}`;
const DEEP_MESSAGE = (name: string) =>
  `Payload file is nested deeper than ${MAX_PAYLOAD_DEPTH} levels: line 2, column ${2 + MAX_PAYLOAD_DEPTH} opens level ${MAX_PAYLOAD_DEPTH + 1}, at $["x"]${"[0]".repeat(11)}… (${name})`;

/** The refusals a payload's text earns, as [file name, text, code, message of `name`, details but the field, parse options]. */
const TEXT_CASES: Array<[string, Buffer | string, (name: string) => string, Record<string, unknown>, { uniqueKeys?: boolean }]> = [
  ["utf8.json", Buffer.from([0x7b, 0x0a, 0xff, 0x7d]), (n) => `Payload file is not valid UTF-8 (line 2) (${n})`, { line: 2 }, {}],
  ["json.json", '{"a": 1,\n "b": }', (n) => `Payload file is not valid JSON: Expecting value: line 2 column 7 (char 15) (${n})`, {}, {}],
  ["array.json", "[1]", (n) => `Payload file ${n} must hold a JSON object`, {}, {}],
  ["deep.json", TOO_DEEP, DEEP_MESSAGE, { reason: "payload_too_deep", limit: MAX_PAYLOAD_DEPTH, line: 2 }, {}],
  [
    "dup.json", '{"k":"d2",\n "k":"d3"}',
    (n) => `Payload file has a member written twice: "k" at line 2, column 2 (first at line 1, column 2): a sealed snapshot's payload must name each member once (${n})`,
    { key: "k", line: 2, column: 2 }, { uniqueKeys: true },
  ],
];

describe("the library names its own argument", () => {
  it("readPayloadFile: field \"path\" for every refusal (missing, not a file, too large, the text's), the messages as before", () => {
    const d = dir();
    const missing = join(d, "nope.json");
    const e = cairnErrorOf(() => readPayloadFile(missing));
    expect([e.code, e.message, e.details]).toEqual(["E_NOT_FOUND", `Payload file not found: ${missing}`, { field: "path", path: missing }]);
    mkdirSync(join(d, "sub"));
    const notFile = cairnErrorOf(() => readPayloadFile(join(d, "sub")));
    expect([notFile.code, notFile.message, notFile.details]).toEqual(["E_INVALID_INPUT", `Payload file ${join(d, "sub")} is not a regular file`, { field: "path", path: join(d, "sub") }]);
    const big = join(d, "big.json");
    writeFileSync(big, "");
    truncateSync(big, MAX_PAYLOAD_BYTES + 1); // sparse: the size is checked before a byte is read
    const large = cairnErrorOf(() => readPayloadFile(big));
    expect([large.code, large.message, large.details]).toEqual([
      "E_LIMIT_EXCEEDED", `Payload file ${big} is ${MAX_PAYLOAD_BYTES + 1} bytes, more than the ${MAX_PAYLOAD_BYTES}-byte limit`, { field: "path", path: big },
    ]);
    for (const [file, text, message, details, opts] of TEXT_CASES) {
      const p = join(d, file);
      writeFileSync(p, text);
      const err = cairnErrorOf(() => readPayloadFile(p, opts));
      expect([file, err.code, err.message]).toEqual([file, "E_INVALID_INPUT", message(p)]);
      expect(err.details).toMatchObject({ ...details, field: "path" });
    }
  });

  it("parsePayloadBytes: field \"payload\" by default, else the field its caller passes", () => {
    for (const [file, text, message, details, opts] of TEXT_CASES) {
      const bytes = Buffer.from(text);
      const err = cairnErrorOf(() => parsePayloadBytes(bytes, file, opts));
      expect([file, err.code, err.message]).toEqual([file, "E_INVALID_INPUT", message(file)]);
      expect(err.details).toMatchObject({ ...details, field: "payload" });
      expect(err.details?.field).toBe("payload");
      const named = cairnErrorOf(() => parsePayloadBytes(bytes, "<stdin>", opts, "--payload"));
      expect([file, named.message, named.details?.field]).toEqual([file, message("<stdin>"), "--payload"]);
    }
  });
});

describe("cairn wf run --payload names its flag, from a file and from stdin", () => {
  function wfRun(b: Sandbox, payloadArg: string, input?: Buffer | string, extra: string[] = []): RunResult {
    return cairn(["wf", "run", "--no-render", "--json", "--workspace", "workspace", "--wf", WF.deny, "--payload", payloadArg, "--data-root", "data", ...extra], {
      cwd: b.root, env: { PGS_DATA_ROOT: undefined, PGS_WORKSPACE: undefined }, ...(input === undefined ? {} : { input }),
    });
  }

  it("field \"--payload\" for every refusal of a file (missing, not a file, too large, the text's) and of stdin's text; messages as the library's", () => {
    const b = box();
    const missing = wfRun(b, "nope.json");
    expect([missing.status, jsonError(missing)]).toEqual([1, { code: "E_NOT_FOUND", message: "Payload file not found: nope.json", details: { field: "--payload", path: "nope.json" } }]);
    mkdirSync(join(b.root, "sub"));
    expect(jsonError(wfRun(b, "sub"))).toEqual({ code: "E_INVALID_INPUT", message: "Payload file sub is not a regular file", details: { field: "--payload", path: "sub" } });
    writeFileSync(join(b.root, "big.json"), "");
    truncateSync(join(b.root, "big.json"), MAX_PAYLOAD_BYTES + 1);
    expect(jsonError(wfRun(b, "big.json"))).toEqual({
      code: "E_LIMIT_EXCEEDED", message: `Payload file big.json is ${MAX_PAYLOAD_BYTES + 1} bytes, more than the ${MAX_PAYLOAD_BYTES}-byte limit`, details: { field: "--payload", path: "big.json" },
    });
    // The text's refusals (a member written twice is refused for a sealed snapshot only: uat-wf-compile.test.ts).
    for (const [file, text, message, details, opts] of TEXT_CASES) {
      if (opts.uniqueKeys === true) continue;
      writeFileSync(join(b.root, file), text);
      for (const [arg, name, input] of [[file, file, undefined], ["-", "<stdin>", text]] as const) {
        const r = wfRun(b, arg, input);
        expect([file, arg, r.status, r.out]).toEqual([file, arg, 1, ""]);
        const err = jsonError(r);
        expect([file, arg, err.code, err.message]).toEqual([file, arg, "E_INVALID_INPUT", message(name)]);
        expect(err.details).toMatchObject({ ...details, field: "--payload" });
      }
    }
  });
});
