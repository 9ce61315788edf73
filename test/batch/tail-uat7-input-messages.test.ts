/**
 * Input errors put only printable text in their messages. V8's JSON.parse messages quote the
 * input raw (`Unexpected token '', "" is not valid JSON` held an invisible form feed; a
 * pretty-printed element made a multi-line message), and keys and column names were quoted by
 * JSON.stringify, which leaves DEL, C1 controls and U+2028/2029 as they are. Now every quoted
 * fragment of the input has its control characters escaped JSON-style and is cut past
 * MAX_ECHOED_CHARS (V8's fragment keeps its look otherwise: `"{"a":}"`); line and record
 * numbers and codes are unchanged.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CairnError, ErrorCode } from "../../src/core/errors.js";
import { readRecords } from "../../src/batch/input/readers.js";
import type { InputFormat } from "../../src/batch/input/types.js";
import { jsonParseMessage } from "../../src/batch/input/json-error.js";
import { escapeControls, printableJson } from "../../src/core/describe.js";
import { MAX_ECHOED_CHARS } from "../../src/core/echo.js";

/** The error reading `text` from stdin ends with. */
async function readError(format: InputFormat, text: string, opts: { idField?: string } = {}): Promise<CairnError> {
  try {
    for await (const r of readRecords("-", { format, ...opts }, Readable.from([Buffer.from(text)]))) void r;
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error("expected the read to fail");
}

// eslint-disable-next-line no-control-regex -- what must not be in a message
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("input error messages are printable", () => {
  it("jsonl: a form feed line is named escaped, on one line, with its record and line", async () => {
    const err = await readError("jsonl", "1\n\f\n2\n");
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`<stdin>:2: record 1: invalid JSON: Unexpected token '\\f', "\\f" is not valid JSON`);
    expect(err.message).not.toMatch(UNPRINTABLE);
    expect(err.details).toEqual({ file: "<stdin>", line: 2, index: 1 });
  });

  it("jsonl: an escape sequence, DEL, C1 and U+2028 in the quoted line are escaped", async () => {
    const err = await readError("jsonl", "x\u001b[31m\u007f\u0085\u2028\n");
    expect(err.message).toBe(`<stdin>:1: record 0: invalid JSON: Unexpected token 'x', "x\\u001b[31m\\u007f\\u0085\\u2028" is not valid JSON`);
    expect(err.message).not.toMatch(UNPRINTABLE);
  });

  it("jsonl: a token that is half of a surrogate pair is escaped, the fragment keeps the pair", async () => {
    const err = await readError("jsonl", "\u{1F600}x\n");
    expect(err.message).toBe(`<stdin>:1: record 0: invalid JSON: Unexpected token '\\ud83d', "\u{1F600}x" is not valid JSON`);
  });

  it("json: a pretty-printed element with a trailing comma reads on one line", async () => {
    const err = await readError("json", "[\n  [1,\n  2,\n]\n]");
    expect(err.code).toBe(ErrorCode.INVALID_INPUT);
    expect(err.message).toBe(`<stdin>:2: element 0: invalid JSON: Unexpected token ']', "[1,\\n  2,\\n]\\n" is not valid JSON`);
    expect(err.message).not.toContain("\n");
    expect(err.details).toEqual({ file: "<stdin>", line: 2, index: 0 });
  });

  it("json: a long element is quoted by V8's context, escaped, between its dots", async () => {
    const err = await readError("json", `[[1,\n  2,\n  3,\n  4,\n  5,\n]]`);
    expect(err.message).toBe(`<stdin>:1: element 0: invalid JSON: Unexpected token ']', ..."  4,\\n  5,\\n]" is not valid JSON`);
  });

  it("jsonl and json: a duplicate key with DEL, C1 or U+2028 is quoted escaped", async () => {
    const jsonl = await readError("jsonl", `{"a\u0085\u2028":1,"a\u0085\u2028":2}\n`);
    expect(jsonl.message).toBe(`<stdin>:1: record 0: duplicate key "a\\u0085\\u2028" at column 10 (first at column 2): a record's keys must be unique (only the last value would be kept)`);
    const json = await readError("json", `[{"\u007f":1,\n"\u007f":2}]`);
    expect(json.message).toMatch(/^<stdin>:1: element 0: duplicate key "\\u007f" at line 2 /);
    expect(json.message).not.toMatch(UNPRINTABLE);
  });

  it("csv: a duplicate column name and the columns listed for a missing id field are quoted escaped", async () => {
    const dup = await readError("csv", "a\u007f,b,a\u007f\n1,2,3\n");
    expect(dup.code).toBe(ErrorCode.INVALID_INPUT);
    expect(dup.message).toBe(`<stdin>:1: duplicate column name "a\\u007f" in the header (columns 1 and 3)`);
    const missing = await readError("csv", "a\u009b,b\u2029\n1,2\n", { idField: "id" });
    expect(missing.message).toBe(`<stdin>:1: id field "id" is not a column of the header (columns: "a\\u009b", "b\\u2029")`);
  });
});

describe("the helpers", () => {
  it("jsonParseMessage: a quoted fragment is cut past MAX_ECHOED_CHARS; other messages are escaped", () => {
    const long = "y".repeat(MAX_ECHOED_CHARS + 10);
    const msg = jsonParseMessage(new SyntaxError(`Unexpected token 'y', "${long}\n" is not valid JSON`));
    expect(msg).toBe(`Unexpected token 'y', "${"y".repeat(MAX_ECHOED_CHARS)}"… (${MAX_ECHOED_CHARS + 11} characters) is not valid JSON`);
    expect(jsonParseMessage(new SyntaxError("Unexpected end of JSON input"))).toBe("Unexpected end of JSON input");
    expect(jsonParseMessage(new SyntaxError(`Unexpected token '}', "{"a":"\\n\n}" is not valid JSON`))).toBe(`Unexpected token '}', "{"a":"\\n\\n}" is not valid JSON`);
    expect(jsonParseMessage(new SyntaxError("odd\u0007 message"))).toBe("odd\\u0007 message");
    // the token may be a quote: the fragment is what follows it
    let quoteToken = "";
    try {
      JSON.parse("'a\n");
    } catch (err) {
      quoteToken = jsonParseMessage(err);
    }
    expect(quoteToken).toBe(`Unexpected token ''', "'a\\n" is not valid JSON`);
  });

  it("escapeControls and printableJson", () => {
    expect(escapeControls("a\b\t\n\f\r\u0000\u001f\u007f\u0080\u009f\u2028\u2029\\\"\u{1F600}\udc00")).toBe(
      "a\\b\\t\\n\\f\\r\\u0000\\u001f\\u007f\\u0080\\u009f\\u2028\\u2029\\\"\u{1F600}\\udc00",
    );
    expect(printableJson("q\"\\\n\u0085")).toBe('"q\\"\\\\\\n\\u0085"');
    expect(printableJson(["\u2028"])).toBe('["\\u2028"]');
  });
});
