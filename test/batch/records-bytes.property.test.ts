/**
 * A pulse's records artifact bytes (pulse.ts `recordsArtifactBytes`): large pulses are encoded
 * straight into one buffer instead of joining their texts first (a commit held the joined text
 * as a second copy of the records). Both paths give exactly the bytes of the joined text, each
 * record followed by a newline, for any well-formed text (fast-check), and the real threshold
 * picks the direct path only from DIRECT_RECORDS_ENCODE_MIN_CHARS characters.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DIRECT_RECORDS_ENCODE_MIN_CHARS, recordsArtifactBytes } from "../../src/batch/pulse.js";

const joined = (texts: string[]): Buffer => Buffer.from(texts.length === 0 ? "" : `${texts.join("\n")}\n`);

describe("recordsArtifactBytes", () => {
  it("gives the joined text's bytes on both paths, for any well-formed records", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 30 }), (texts) => {
        const want = joined(texts);
        expect(recordsArtifactBytes(texts, 0).equals(want)).toBe(true); // always direct
        expect(recordsArtifactBytes(texts, Number.MAX_SAFE_INTEGER).equals(want)).toBe(true); // always joined
        expect(recordsArtifactBytes(texts).equals(want)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("large pulses (ASCII, 2-, 3- and 4-byte UTF-8, records longer than a MiB) take the direct path with the same bytes", () => {
    const big = ["a".repeat(DIRECT_RECORDS_ENCODE_MIN_CHARS + 3), `é中𝄞${"ÿ".repeat(70_000)}`, "", '{"id":2,"output":"𝄞"}'];
    const direct = recordsArtifactBytes(big);
    expect(direct.equals(joined(big))).toBe(true);
    expect(direct.length).toBe(Buffer.byteLength(big.join("\n")) + 1);
    expect(recordsArtifactBytes([]).length).toBe(0);
  });
});
