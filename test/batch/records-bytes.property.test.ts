/**
 * A pulse's artifacts in pieces (record-pieces.ts, stored with `store.putPieces`): a large
 * pulse's commit no longer holds a second copy of its records (a joined text, then one buffer
 * of them all) or of its attempt log (its canonical JSON, then its bytes). The pieces, joined,
 * are exactly the joined text's bytes, each record followed by a newline, for any well-formed
 * text and any piece size (fast-check); no piece is longer than the piece size unless it is one
 * string; the attempt log's pieces are `canonicalize(log)`'s bytes; `inlinesAttempts`, which now
 * measures a log an entry at a time, decides as measuring its whole canonical form did; and a
 * large pulse committed through the pieces stores the same artifact as `putBytes` of the
 * joined text.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalArrayPieces, PIECEWISE_RECORDS_MIN_CHARS, RECORDS_PIECE_BYTES, recordsPieces } from "../../src/batch/record-pieces.js";
import { inlinesAttempts, MAX_INLINE_ATTEMPTS_BYTES } from "../../src/batch/manifest.js";
import { checkAttemptLogSize, type AttemptLog } from "../../src/batch/pulse.js";
import { canonicalize } from "../../src/core/canonical.js";
import { freshStore } from "../store/helpers.js";

const joined = (texts: string[]): Buffer => Buffer.from(texts.length === 0 ? "" : `${texts.join("\n")}\n`);

/** The pieces, each copied as it comes (the generator reuses its buffer). */
const piecesOf = (texts: string[], size?: number): Buffer[] => Array.from(recordsPieces(texts, size), (p) => Buffer.from(p));

describe("recordsPieces", () => {
  it("joined, gives the joined text's bytes for any well-formed records and piece size", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 30 }), fc.integer({ min: 1, max: 200 }), (texts, size) => {
        const pieces = piecesOf(texts, size);
        expect(Buffer.concat(pieces).equals(joined(texts))).toBe(true);
        const longest = Math.max(0, ...texts.map((t) => Buffer.byteLength(t)));
        for (const p of pieces) expect(p.length).toBeLessThanOrEqual(Math.max(size, longest));
        expect(pieces.every((p) => p.length > 0)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("large pulses (ASCII, 2-, 3- and 4-byte UTF-8, records longer than a piece) give the same bytes; the real sizes are 1 MiB and 1 Mi characters", () => {
    expect([RECORDS_PIECE_BYTES, PIECEWISE_RECORDS_MIN_CHARS]).toEqual([1024 * 1024, 1024 * 1024]);
    const big = ["a".repeat(RECORDS_PIECE_BYTES + 3), `é中𝄞${"ÿ".repeat(70_000)}`, "", '{"id":2,"output":"𝄞"}', "中".repeat(400_000)];
    const pieces = piecesOf(big);
    expect(Buffer.concat(pieces).equals(joined(big))).toBe(true);
    expect(pieces.map((p) => p.length)).toEqual([RECORDS_PIECE_BYTES + 3, 1 + 140_010 + 1 + 25, 1_200_000, 1]);
    expect(piecesOf([]).length).toBe(0);
  });

  it("an attempt log's pieces are its canonical JSON; inlinesAttempts decides as the whole canonical form's length did", () => {
    const entry = fc.record({
      id: fc.oneof(fc.nat(), fc.string({ maxLength: 8 })),
      attempts: fc.integer({ min: 2, max: 4 }),
      errors: fc.array(fc.record({ code: fc.constantFrom("E_EU_THREW", "E_EU_TIMEOUT"), message: fc.string({ unit: "grapheme", maxLength: 900 }) }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.integer({ min: 1, max: 300 }), (log, size) => {
        const whole = canonicalize(log);
        const entries = log.map((e) => canonicalize(e));
        expect(Buffer.concat(Array.from(canonicalArrayPieces(entries, size), (p) => Buffer.from(p))).toString("utf8")).toBe(whole);
        // The size check measures exactly those bytes: passes at them, refuses one byte under.
        const bytes = Buffer.byteLength(whole, "utf8");
        expect(() => checkAttemptLogSize({ partition: 0, index: 0 }, entries, bytes)).not.toThrow();
        expect(() => checkAttemptLogSize({ partition: 0, index: 0 }, entries, bytes - 1)).toThrow(expect.objectContaining({ code: "E_LIMIT_EXCEEDED", details: expect.objectContaining({ bytes, limit: bytes - 1 }) }));
        expect(inlinesAttempts(log as AttemptLog[])).toBe(Buffer.byteLength(whole, "utf8") <= MAX_INLINE_ATTEMPTS_BYTES);
      }),
      { numRuns: 500 },
    );
    // At the limit exactly, and one byte past it.
    const at = (n: number): AttemptLog[] => [{ id: 1, attempts: 2, errors: [{ code: "E", message: "x".repeat(n) }] }];
    const fixed = Buffer.byteLength(canonicalize(at(0)));
    expect(inlinesAttempts(at(MAX_INLINE_ATTEMPTS_BYTES - fixed))).toBe(true);
    expect(inlinesAttempts(at(MAX_INLINE_ATTEMPTS_BYTES - fixed + 1))).toBe(false);
    expect(inlinesAttempts([])).toBe(true);
  });

  it("stored with putPieces: the artifact putBytes of the joined text stores", () => {
    const texts = Array.from({ length: 40 }, (_, i) => `{"id":${i},"output":"${"é".repeat(30_000)}"}`);
    const a = freshStore();
    const b = freshStore();
    try {
      const viaPieces = a.store.putPieces(recordsPieces(texts), { mediaType: "application/x-ndjson" });
      const viaBytes = b.store.putBytes(joined(texts), { mediaType: "application/x-ndjson" });
      expect(viaPieces).toEqual(viaBytes);
      expect(a.store.get(viaPieces.digest).equals(joined(texts))).toBe(true);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });
});
