/**
 * Input errors quote user data cut to MAX_ECHOED_CHARS with its full length (audit 6): a 5 MB
 * duplicate key or EU id was quoted whole (a 5 MB error message). The cut value is quoted as
 * JSON and marked `… (N characters)`; short values are quoted exactly as before.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/index.js";
import { run } from "../../src/batch/engine.js";
import { echoed, echoedJson, MAX_ECHOED_CHARS } from "../../src/core/echo.js";
import { Scratch, expectCairnError } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

const FN = { code: "export default (x) => x;\n", name: "id.mjs" };
const LONG = "k".repeat(100_000);
const CUT = `"${"k".repeat(MAX_ECHOED_CHARS)}"… (100000 characters)`;

describe("echoed / echoedJson", () => {
  it("quote short values whole, and cut long ones (never inside a surrogate pair) stating the length", () => {
    expect(echoed("abc", 3)).toBe("abc");
    expect(echoed("abcd", 3)).toBe("abc… (4 characters)");
    expect(echoed("ab\u{1F600}", 3)).toBe("ab\u{1F600}"); // 3 characters (code points): not cut
    expect(echoed("ab\u{1F600}c", 3)).toBe("ab\u{1F600}… (4 characters)");
    expect(echoedJson("a\"b", 3)).toBe('"a\\"b"');
    expect(echoedJson("abcd", 3)).toBe('"abc"… (4 characters)');
    expect(echoedJson(12345, 3)).toBe("123… (5 characters)");
    expect(echoedJson(7)).toBe("7");
    expect(echoedJson(LONG)).toBe(CUT);
  });
});

describe("input errors quote long user values cut", () => {
  it("a duplicate key in a JSONL record", async () => {
    const { store } = scratch.store();
    const path = scratch.text(`{"a":1}\n{"${LONG}":1,"${LONG}":2}\n`, "dup.jsonl");
    const err = await expectCairnError(run(store, path, FN, { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:2: record 1: duplicate key ${CUT} at column ${LONG.length + 7} (first at column 2): a record's keys must be unique (only the last value would be kept)`);
  });

  it("a duplicate key in an element of a JSON array", async () => {
    const { store } = scratch.store();
    const path = scratch.text(`[\n{"${LONG}":1,\n "${LONG}":2}\n]\n`, "dup.json");
    const err = await expectCairnError(run(store, path, FN, { workers: 1, format: "json" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:2: element 0: duplicate key ${CUT} at line 3 (first at line 2): a record's keys must be unique (only the last value would be kept)`);
  });

  it("a duplicate EU id (message and details.id)", async () => {
    const { store } = scratch.store();
    const path = scratch.text(`{"id":"${LONG}"}\n{"id":"x"}\n{"id":"${LONG}"}\n`, "ids.jsonl");
    const err = await expectCairnError(run(store, path, FN, { workers: 1, idField: "id" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${path}:3: record 2: duplicate EU id ${CUT} (first at ${path}:1: record 0)`);
    expect(err.details).toMatchObject({ id: CUT, first: 0, second: 2 });
    // A short id is quoted, and kept in details, as before.
    const short = scratch.text(`{"id":"a"}\n{"id":"a"}\n`, "short.jsonl");
    const e2 = await expectCairnError(run(store, short, FN, { workers: 1, idField: "id" }), ErrorCode.INVALID_INPUT);
    expect([e2.message, e2.details.id]).toEqual([`${short}:2: record 1: duplicate EU id "a" (first at ${short}:1: record 0)`, "a"]);
  });

  it("a duplicate CSV column name, and the columns listed for a missing id field", async () => {
    const { store } = scratch.store();
    const dup = scratch.text(`${LONG},b,${LONG}\n1,2,3\n`, "dup.csv");
    const err = await expectCairnError(run(store, dup, FN, { workers: 1, format: "csv" }), ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`${dup}:1: duplicate column name ${CUT} in the header (columns 1 and 3)`);
    expect(err.details.name).toBe(`${"k".repeat(MAX_ECHOED_CHARS)}… (100000 characters)`);
    const cols = scratch.text(`${LONG},b\n1,2\n`, "cols.csv");
    const e2 = await expectCairnError(run(store, cols, FN, { workers: 1, format: "csv", idField: "id" }), ErrorCode.INVALID_INPUT);
    expect(e2.message).toBe(`${cols}:1: id field "id" is not a column of the header (columns: ${CUT}, "b")`);
  });
});
