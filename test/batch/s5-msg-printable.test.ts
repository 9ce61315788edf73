/**
 * Messages that quote a member name or an id field's name never carry a raw control or line
 * separator: DEL (U+007F), C1 controls (U+0080–U+009F) and U+2028/2029, which `JSON.stringify`
 * leaves as they are, are escaped (`\u007f`), as C0 controls already were: the run errors made
 * of the canonical encoder's message (an input record, an in-memory dataset's element), the
 * id-field and duplicate-id messages of the readers (input/ids.ts, input/csv.ts,
 * order-index.ts) and of the API checks. The codes are unchanged. canonicalize's own message,
 * which an EU's stored E_CANONICAL failure holds, keeps JSON.stringify's quoting, so stored
 * records do not change with the build; the CLI escapes what it prints.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/core/errors.js";
import { canonicalize } from "../../src/core/canonical.js";
import { run, streamOutputs } from "../../src/batch/engine.js";
import { Scratch, expectCairnError, fixture } from "./fixtures/engine-helpers.js";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** A key holding DEL, NEL (a C1 control) and LINE SEPARATOR. */
const KEY = "a\u007f\u0085\u2028b";
const QUOTED = '"a\\u007f\\u0085\\u2028b"';
/** What no message may hold. */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const RAW = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function canonicalError(v: unknown): Error & { code: string; details: Record<string, unknown> } {
  try {
    canonicalize(v);
  } catch (err) {
    return err as Error & { code: string; details: Record<string, unknown> };
  }
  throw new Error("canonicalize did not throw");
}

describe("canonicalize's JSONPath; the run errors made of it are printable", () => {
  it("canonicalize keeps JSON.stringify's quoting (DEL, C1, U+2028 raw): an EU's stored E_CANONICAL failure holds it", () => {
    const e = canonicalError({ [KEY]: { "\u2029": [1, undefined] } });
    expect(e.code).toBe(ErrorCode.CANONICAL);
    expect(e.message).toBe(`cannot canonicalize undefined at $[${JSON.stringify(KEY)}]["\u2029"][1]`);
    expect(e.details).toEqual({ path: `$[${JSON.stringify(KEY)}]["\u2029"][1]` });
    // C0 controls as before; ordinary names unchanged.
    expect(canonicalError({ "x\ny": Number.NaN, ok: 1 }).message).toBe('cannot canonicalize NaN at $["x\\ny"]');
    expect(canonicalError({ a: { "b c": 1n } }).message).toBe('cannot canonicalize a BigInt at $.a["b c"]');
  });

  it("an in-memory dataset's element: E_INVALID_INPUT naming the element and the printable path", async () => {
    const { store } = scratch.store();
    const e = await expectCairnError(run(store, [{ ok: 1 }, { [KEY]: Number.NaN }], fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe(`dataset element 1: cannot canonicalize NaN at $[${QUOTED}]`);
    expect(e.message).not.toMatch(RAW);
  });

  it("an in-memory dataset's element whose getter throws: its message shown with controls escaped", async () => {
    const { store } = scratch.store();
    const el = Object.defineProperty({}, "k", {
      enumerable: true,
      get() {
        throw new Error("bad\u2028value\nhere\u0085");
      },
    });
    const e = await expectCairnError(run(store, [el], fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe("dataset element 0: bad\\u2028value\\nhere\\u0085");
  });

  it("a JSONL record with no canonical form: E_INVALID_INPUT naming the record, its path printable", async () => {
    const { store } = scratch.store();
    const input = scratch.text(`{"ok":1}\n{${JSON.stringify(KEY)}:1e400}\n`, "inf.jsonl");
    const e = await expectCairnError(run(store, input, fixture("engine-pure.mjs"), { workers: 1 }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe(`${input}:2: record 1: cannot canonicalize Infinity at $[${QUOTED}]`);
    expect(e.message).not.toMatch(RAW);
  });

  it("an EU output that is not canonical: the stored failure keeps canonicalize's text (the record's bytes do not change with the build)", async () => {
    const { store } = scratch.store();
    const code = `export default () => ({ ${JSON.stringify(KEY)}: Number.NaN });\n`;
    const r = await run(store, [1], { code, name: "nan.mjs" }, { workers: 1, allowFailures: true });
    expect(r.counts.failed).toBe(1);
    const records = [];
    for await (const rec of streamOutputs(store, r.runId)) records.push(rec);
    const error = (records[0] as { error: { code: string; message: string } }).error;
    expect(error.code).toBe(ErrorCode.CANONICAL);
    expect(error.message).toBe(`output is not canonical JSON: cannot canonicalize NaN at $[${JSON.stringify(KEY)}]`);
  });
});

describe("id field names are quoted printably", () => {
  it("jsonl: a missing id field, one of the wrong type, a record that is not an object", async () => {
    const { store } = scratch.store();
    const missing = scratch.text('{"n":1}\n', "missing.jsonl");
    const e1 = await expectCairnError(run(store, missing, fixture("engine-pure.mjs"), { workers: 1, idField: KEY }), ErrorCode.INVALID_INPUT);
    expect(e1.message).toBe(`${missing}:1: record 0: missing id field ${QUOTED}`);
    const wrong = scratch.text(`${JSON.stringify({ [KEY]: true })}\n`, "wrong.jsonl");
    const e2 = await expectCairnError(run(store, wrong, fixture("engine-pure.mjs"), { workers: 1, idField: KEY }), ErrorCode.INVALID_INPUT);
    expect(e2.message).toBe(`${wrong}:1: record 0: id field ${QUOTED} must be a string or an integer, got a boolean (true)`);
    const scalar = scratch.text("5\n", "scalar.jsonl");
    const e3 = await expectCairnError(run(store, scalar, fixture("engine-pure.mjs"), { workers: 1, idField: KEY }), ErrorCode.INVALID_INPUT);
    expect(e3.message).toMatch(new RegExp(`not an object, so it has no id field ${QUOTED.replace(/\\/g, "\\\\")}$`));
    for (const e of [e1, e2, e3]) expect(e.message).not.toMatch(RAW);
    expect(e1.details).toMatchObject({ field: KEY }); // details keep the name itself
  });

  it("jsonl: a duplicate id holding DEL, C1 and U+2028 is quoted printably (order-index.ts); details keep the id", async () => {
    const { store } = scratch.store();
    const dup = scratch.text(`${JSON.stringify({ id: KEY })}\n${JSON.stringify({ id: KEY })}\n`, "dup.jsonl");
    const e = await expectCairnError(run(store, dup, fixture("engine-pure.mjs"), { workers: 1, idField: "id" }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe(`${dup}:2: record 1: duplicate EU id ${QUOTED} (first at ${dup}:1: record 0)`);
    expect(e.message).not.toMatch(RAW);
    expect(e.details).toMatchObject({ id: KEY, first: 0, second: 1 });
  });

  it("csv: an id field that is not a column", async () => {
    const { store } = scratch.store();
    const csv = scratch.text("n,m\n1,2\n", "t.csv");
    const e = await expectCairnError(run(store, csv, fixture("engine-pure.mjs"), { workers: 1, format: "csv", idField: KEY }), ErrorCode.INVALID_INPUT);
    expect(e.message).toBe(`${csv}:1: id field ${QUOTED} is not a column of the header (columns: "n", "m")`);
  });

  it("the files format's idField, and an in-memory dataset's format (API checks)", async () => {
    const { store } = scratch.store();
    const e = await expectCairnError(run(store, scratch.dir(), fixture("engine-bytelen.mjs"), { format: "files", idField: KEY }), ErrorCode.USAGE);
    expect(e.message).toBe(`the files format takes idField (--id-field) "name" (the relative path) or none, got ${QUOTED}`);
  });
});
