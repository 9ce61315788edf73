import { describe, expect, it } from "vitest";
import { canonicalize } from "../../src/core/canonical.js";
import { sha256 } from "../../src/core/digest.js";
import { SliceWriter, sliceBytes } from "../../src/batch/pulse.js";

describe("SliceWriter", () => {
  it("assembles exactly the bytes of sliceBytes (the memo key must not change)", () => {
    const inputs: unknown[] = [
      { n: 1, b: [1.5, -0, 1e21, "x"], a: { "é": "\u2028", "\ud83d\ude00": null } },
      "line with \"quotes\" and \\ and \t",
      42,
      [],
      { z: 1, aa: { y: true, x: false } },
    ];
    const ids = [0, "k\u00e9y", 7, "z", 123456789];
    const w = new SliceWriter();
    const entries: unknown[] = [];
    inputs.forEach((input, i) => {
      w.addInput(ids[i] as string | number, canonicalize(input));
      entries.push({ id: ids[i], input });
    });
    const d = sha256(Buffer.from("file bytes"));
    w.addArtifact(9, d);
    entries.push({ id: 9, input_artifact: d });
    expect(w.bytes().toString("utf8")).toBe(sliceBytes(entries).toString("utf8"));
  });

  it("an empty slice too", () => {
    expect(new SliceWriter().bytes().equals(sliceBytes([]))).toBe(true);
  });
});
