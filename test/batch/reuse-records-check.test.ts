/**
 * A resume (or another run) reuses a pulse committed before only when its records artifact
 * holds the pulse's records: one per EU, each ending with a newline (`findCommittedPulse`, as
 * the merge checks). Before 2026-11-27 a records artifact without its final newline lost its
 * last character on reuse. It is read a window at a time, and one larger than any pulse's
 * records, or holding more records than the pulse's EUs, is refused without holding it whole.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { isCairnError } from "../../src/core/errors.js";
import { sha256 } from "../../src/core/digest.js";
import { openStore } from "../../src/index.js";
import { normalizeConfig } from "../../src/batch/config.js";
import { findCommittedPulse, MAX_PULSE_RECORDS_BYTES, pulseParams, RECORDS_MEDIA_TYPE, type PulseSpec } from "../../src/batch/pulse.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-reuse-records-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("findCommittedPulse checks the records it reuses", () => {
  const cfg = normalizeConfig({ workers: 1 });
  const records = ['{"id":0,"output":"a"}', '{"id":1,"output":"b"}'];
  let n = 0;
  function committed(body: string, statSize?: number): { err: unknown; texts?: string[] } {
    const store = openStore({ dir: join(dir, `s${n++}`), durability: "normal" });
    if (statSize !== undefined) {
      // What the catalog says of a records artifact larger than any the engine writes.
      const stat = store.stat.bind(store);
      vi.spyOn(store, "stat").mockImplementation((d, o) => ({ ...stat(d, o), size: statSize }));
    }
    try {
      const fn = store.putBytes(Buffer.from("export default (x) => x;")).digest;
      const slice = Buffer.from('{"eus":[{"id":0,"input":"a"},{"id":1,"input":"b"}],"kind":"test"}');
      const sliceDigest = store.putBytes(slice).digest;
      expect(sliceDigest).toBe(sha256(slice));
      const out = store.putBytes(Buffer.from(body), { mediaType: RECORDS_MEDIA_TYPE }).digest;
      store.recordReceipt({ program: fn, inputs: [sliceDigest], params: pulseParams(cfg), outputs: [out], status: "succeeded" });
      const spec = { partition: 3, index: 5, eus: [{ id: 0 }, { id: 1 }], slice, sliceDigest } as unknown as PulseSpec;
      try {
        return { err: undefined, texts: findCommittedPulse(store, fn, cfg, spec)?.committed?.texts };
      } catch (err) {
        return { err };
      }
    } finally {
      store.close();
    }
  }

  it("reuses records that end with a newline, one per EU", () => {
    expect(committed(`${records.join("\n")}\n`)).toEqual({ err: undefined, texts: records });
  });

  for (const [what, body, message] of [
    ["without its final newline", records.join("\n"), "does not end with a newline"],
    ["with a record too few", `${records[0]}\n`, "holds 1 records, expected 2"],
    ["with a record too many", `${records.join("\n")}\n${records[1]}\n`, "holds more than 2 records, expected 2"],
  ] as const) {
    it(`a records artifact ${what} is E_STORE_CORRUPT naming the pulse`, () => {
      const { err } = committed(body);
      expect(isCairnError(err) && err.code, String(err)).toBe("E_STORE_CORRUPT");
      expect((err as Error).message).toMatch(new RegExp(`^pulse 3/5: records artifact sha256:[0-9a-f]{64} ${message}$`));
    });
  }

  it("a records artifact larger than a pulse's records may be is E_STORE_CORRUPT before it is read", () => {
    const { err } = committed(`${records.join("\n")}\n`, MAX_PULSE_RECORDS_BYTES + 1);
    expect(isCairnError(err) && err.code, String(err)).toBe("E_STORE_CORRUPT");
    expect((err as Error).message).toMatch(new RegExp(`^pulse 3/5: records artifact sha256:[0-9a-f]{64} is ${MAX_PULSE_RECORDS_BYTES + 1} bytes, more than the ${MAX_PULSE_RECORDS_BYTES} a pulse's records may be$`));
  });
});
