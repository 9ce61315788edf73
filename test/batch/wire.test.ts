/** The packed results between sandbox worker and pool (src/batch/sandbox/wire.ts). */
import { describe, expect, it } from "vitest";
import { ResultPacker, unpackResults } from "../../src/batch/sandbox/wire.js";
import { recordText, type EUResult } from "../../src/batch/records.js";

const ok = (id: string | number, json: string): EUResult => ({ id, ok: true, bytes: false, json });
const failed = (id: string | number, message: string): EUResult => ({ id, ok: false, error: { code: "E_EU_THREW", message, name: "TypeError" } });

function packed(results: EUResult[]): ReturnType<ResultPacker["take"]> {
  const p = new ResultPacker();
  for (const r of results) p.add(r, recordText(r));
  return p.take();
}

describe("packed results", () => {
  it("round-trips JSON outputs and failures (with the error's name) and carries each record text", () => {
    const rs = [ok(0, '{"a":"line\\nbreak"}'), failed(1, "no\nway"), ok("x\"y", "[1,2]"), failed("z", "")];
    const wire = packed(rs);
    expect(Array.isArray(wire)).toBe(false);
    const back = unpackResults(wire, [0, 1, 'x"y', "z"], 0) as EUResult[];
    expect(back).toEqual(rs.map((r) => ({ ...r, text: recordText(r) })));
  });

  it("a chunk with a bytes output travels as objects", () => {
    const bytes: EUResult = { id: 2, ok: true, bytes: true, output: new Uint8Array([1, 2]) };
    const wire = packed([ok(1, "1"), bytes]);
    expect(wire).toEqual([ok(1, "1"), bytes]);
    expect(unpackResults(wire, [1, 2], 0)).toEqual(wire);
  });

  it("the packer starts a new chunk after take(); an empty chunk is empty", () => {
    const p = new ResultPacker();
    p.add(failed(5, "x"), recordText(failed(5, "x")));
    p.take();
    expect(p.length).toBe(0);
    expect(unpackResults(p.take(), [5], 0)).toEqual([]);
  });

  it("refuses a chunk whose texts do not belong to the request's EUs at their positions", () => {
    const wire = packed([ok(3, "1"), ok(4, "2")]);
    expect(unpackResults(wire, [3, 4], 0)).toHaveLength(2);
    expect(unpackResults(wire, [9, 3, 4], 1)).toHaveLength(2); // `from` positions the chunk
    expect(unpackResults(wire, [4, 3], 0)).toBeUndefined(); // shifted or swapped
    expect(unpackResults(wire, [3], 0)).toBeUndefined(); // more results than EUs
    const f = packed([failed(3, "boom"), ok(4, "2")]);
    expect(unpackResults(f, [7, 4], 0)).toBeUndefined(); // a failure record of another EU
    expect(unpackResults({ texts: (f as { texts: string }).texts, errors: [] }, [3, 4], 0)).toBeUndefined(); // failure without its error
    expect(unpackResults({ ...(f as object), errors: [{ at: 0, error: { code: "E", message: "m", name: "Error" } }, { at: 1, error: { code: "E", message: "m", name: "Error" } }] }, [3, 4], 0)).toBeUndefined();
    const mismatched = { texts: recordText(failed(3, "boom")), errors: [{ at: 0, error: { code: "E_EU_THREW", message: "other", name: "Error" } }] };
    expect(unpackResults(mismatched, [3], 0)).toBeUndefined(); // the failure record is not its error's
    expect(unpackResults("nope", [3], 0)).toBeUndefined();
    expect(unpackResults({ texts: 1, errors: [] }, [3], 0)).toBeUndefined();
  });

  it("object-form chunks are checked by id and never carry a record text", () => {
    const bytes: EUResult = { id: 2, ok: true, bytes: true, output: new Uint8Array([1]) };
    expect(unpackResults([ok(1, "1"), bytes], [2, 1], 0)).toBeUndefined(); // swapped
    expect(unpackResults([ok(1, "1"), bytes], [1], 0)).toBeUndefined(); // too many
    const forged = { ...ok(1, "1"), text: '{"id":1,"output":"forged"}' } as EUResult;
    const back = unpackResults([forged, bytes], [1, 2], 0) as EUResult[];
    expect(back[0]).toEqual(ok(1, "1"));
    expect(recordText(back[0] as EUResult)).toBe('{"id":1,"output":1}');
  });
});
