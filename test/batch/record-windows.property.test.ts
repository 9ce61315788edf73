/**
 * `RecordWindows` (record-windows.ts): a records artifact read a window at a time, shared by the
 * ordered merge and `verify`. For any records (multi-byte UTF-8, empty ones, ones longer than a
 * window), any window size and a reader that hands out pieces shorter than asked (its contract
 * allows it), the windows give exactly the records of the whole text, in order; a last record
 * without its newline is the `tail`, never a record; no window decodes more than a window or
 * one record longer than it; a failure of the reader is thrown as it is, and `close` closes it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ArtifactReader } from "../../src/store/artifact-reader.js";
import { RECORD_WINDOW_BYTES, RecordWindows } from "../../src/batch/record-windows.js";

/** A reader over `bytes` whose pieces are `cut(asked)` long (1..asked). */
function readerOf(bytes: Buffer, cut: (asked: number) => number): ArtifactReader & { closed: boolean } {
  let at = 0;
  return {
    size: bytes.length,
    closed: false,
    read(maxBytes: number): Buffer | undefined {
      if (at >= bytes.length) return undefined;
      const n = Math.min(bytes.length - at, Math.max(1, Math.min(maxBytes, cut(maxBytes))));
      const piece = bytes.subarray(at, at + n);
      at += n;
      return piece;
    },
    close(): void {
      this.closed = true;
    },
  };
}

function readAll(windows: RecordWindows): string[][] {
  const out: string[][] = [];
  for (let texts = windows.next(); texts !== undefined; texts = windows.next()) out.push(texts);
  return out;
}

describe("RecordWindows", () => {
  it("gives the whole text's records in order for any window and piece sizes; a last record without its newline is the tail", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => s.replaceAll("\n", " ")), { maxLength: 30 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        (records, terminated, window, cuts) => {
          const text = records.length === 0 ? "" : terminated ? `${records.join("\n")}\n` : records.join("\n");
          const bytes = Buffer.from(text, "utf8");
          let k = 0;
          const windows = new RecordWindows(readerOf(bytes, () => cuts[k++ % cuts.length] as number), window);
          const got = readAll(windows);
          const ended = !terminated && records.length > 0;
          expect(got.flat()).toEqual(ended ? records.slice(0, -1) : records);
          expect(windows.tail.toString("utf8")).toBe(ended ? (records[records.length - 1] as string) : "");
          expect(windows.ended).toBe(true);
          expect(windows.next()).toBeUndefined();
          const longest = Math.max(0, ...records.map((r) => Buffer.byteLength(r)));
          expect(windows.maxDecodedBytes).toBeLessThanOrEqual(Math.max(window, longest));
          for (const w of got) expect(w.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("a record longer than a window comes alone; the window is RECORD_WINDOW_BYTES by default", () => {
    expect(RECORD_WINDOW_BYTES).toBe(1024 * 1024);
    const long = "é".repeat(20); // 40 bytes
    const bytes = Buffer.from(`a\nb\n${long}\nc\n`);
    const windows = new RecordWindows(readerOf(bytes, (n) => n), 8);
    expect(readAll(windows)).toEqual([["a", "b"], [long], ["c"]]);
    expect(windows.maxDecodedBytes).toBe(40);
    const whole = new RecordWindows(readerOf(bytes, (n) => n));
    expect(readAll(whole)).toEqual([["a", "b", long, "c"]]);
  });

  it("throws the reader's failure as it is and keeps the reader for close", () => {
    const failure = new Error("changed since it was verified");
    const reader = readerOf(Buffer.from("a\nb\n"), (n) => n);
    const windows = new RecordWindows({ size: 4, read: () => { throw failure; }, close: () => reader.close() }, 8);
    expect(() => windows.next()).toThrow(failure);
    expect(windows.ended).toBe(false);
    windows.close();
    expect(reader.closed).toBe(true);
    expect(windows.ended).toBe(true);
    windows.close(); // idempotent
  });
});
