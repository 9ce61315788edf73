/**
 * `indexIdEnd` (src/batch/records.ts): the merge's and the pool's per-EU check that a record
 * text starts with `{"id":<id>` for an index-like id, by character codes. It must agree with
 * the string test it replaced, `text.startsWith(`{"id":${id}`)` plus the character after.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { indexIdEnd, isIndexLikeId } from "../../src/batch/records.js";
import { unpackResults } from "../../src/batch/sandbox/wire.js";

/** The reference: where `{"id":<String(id)>` ends when the text starts with it and no digit follows, else -1. */
function reference(text: string, id: number): number {
  const prefix = `{"id":${String(id)}`;
  if (!text.startsWith(prefix)) return -1;
  const next = text.charCodeAt(prefix.length);
  return next >= 0x30 && next <= 0x39 ? -1 : prefix.length;
}

const ids = fc.oneof(fc.nat(20), fc.nat(), fc.maxSafeNat(), fc.constantFrom(0, 9, 10, 99, 100, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1));

describe("indexIdEnd", () => {
  it("finds the end of the id exactly where the string test does", () => {
    const texts = (id: number) =>
      fc.oneof(
        fc.constant(`{"id":${id},"output":1}`),
        fc.constant(`{"id":${id}}`),
        fc.constant(`{"id":0${id},"output":1}`),
        fc.constant(`{"id":${id}0,"output":1}`),
        fc.constant(`{"id":${id + 1},"output":1}`),
        fc.constant(`{"id":${id * 10 + 7}}`),
        fc.constant(`{"id":"${id}"}`),
        fc.constant(`{"error":{"code":"E","message":"m"},"id":${id}}`),
        fc.constant(`{"id":${id}${"9".repeat(20)}}`),
        fc.string().map((s) => `{"id":${s}`),
        fc.string(),
      );
    fc.assert(
      fc.property(
        ids.chain((id) => fc.tuple(fc.constant(id), texts(id))),
        ([id, text]) => {
          expect(indexIdEnd(text, id)).toBe(reference(text, id));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("does not take digits beyond the safe integers for a safe id", () => {
    // 2^53 and 2^53 + 1 are one double: a longer digit run must not round onto a safe id.
    expect(indexIdEnd(`{"id":9007199254740993,"output":1}`, Number.MAX_SAFE_INTEGER)).toBe(-1);
    expect(indexIdEnd(`{"id":90071992547409910,"output":1}`, Number.MAX_SAFE_INTEGER)).toBe(-1);
    expect(indexIdEnd(`{"id":9007199254740991,"output":1}`, Number.MAX_SAFE_INTEGER)).toBe(22);
    expect(indexIdEnd(`{"id":00,"output":1}`, 0)).toBe(-1);
    expect(indexIdEnd(`{"id":0,"output":1}`, 0)).toBe(7);
    expect(indexIdEnd(`{"id":,"output":1}`, 0)).toBe(-1);
  });

  it("takes only non-negative safe integers as index-like ids", () => {
    expect([0, 1, Number.MAX_SAFE_INTEGER].every(isIndexLikeId)).toBe(true);
    expect([-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN, Infinity, "1", null].some(isIndexLikeId)).toBe(false);
  });

  it("keeps the pool refusing a record of another EU, number ids and string ids alike", () => {
    const wire = (texts: string[]) => ({ texts: texts.join("\n"), errors: [] });
    expect(unpackResults(wire(['{"id":12,"output":1}']), [12], 0)?.[0]).toMatchObject({ id: 12, json: "1" });
    expect(unpackResults(wire(['{"id":12,"output":1}']), [1], 0)).toBeUndefined();
    expect(unpackResults(wire(['{"id":12,"output":1}']), [123], 0)).toBeUndefined();
    expect(unpackResults(wire(['{"id":012,"output":1}']), [12], 0)).toBeUndefined();
    expect(unpackResults(wire(['{"id":12,"outputs":1}']), [12], 0)).toBeUndefined();
    expect(unpackResults(wire(['{"id":-3,"output":[]}']), [-3], 0)?.[0]).toMatchObject({ id: -3, json: "[]" });
    expect(unpackResults(wire(['{"id":"12","output":1}']), [12], 0)).toBeUndefined();
    expect(unpackResults(wire(['{"id":"12","output":1}']), ["12"], 0)?.[0]).toMatchObject({ id: "12", json: "1" });
  });
});
