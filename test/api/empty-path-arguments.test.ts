/**
 * A library entry point given an empty path refuses it as a usage error naming the argument,
 * instead of reading the working directory or answering E_NOT_FOUND with an empty name.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";
import { loadSealedFile } from "../../src/workflow/cairn/seal.js";
import { readPayloadFile } from "../../src/workflow/pgs/run.js";
import { JsonlEvidenceSink } from "../../src/plane/evidence/sinks.js";
import { CairnError } from "../../src/core/errors.js";
import { cairnErrorOf } from "../cairn-error-of.js";

async function rejection(p: Promise<unknown>): Promise<CairnError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CairnError) return e;
    throw e;
  }
  throw new Error("expected a rejection");
}

describe("empty path arguments", () => {
  it("loadSealedFile, readPayloadFile and JsonlEvidenceSink refuse \"\" and non-strings with E_USAGE naming the path", () => {
    for (const [what, f] of [
      ["loadSealedFile", () => loadSealedFile("")],
      ["readPayloadFile", () => readPayloadFile("")],
      ["JsonlEvidenceSink", () => new JsonlEvidenceSink("")],
    ] as const) {
      const err = cairnErrorOf(f);
      expect(err.toJSON()).toEqual({ code: "E_USAGE", message: `${what}: path must be a non-empty string (a path), got a string ""`, details: { field: "path" } });
    }
    const notString = cairnErrorOf(() => loadSealedFile(undefined as unknown as string));
    expect([notString.code, notString.message]).toEqual(["E_USAGE", "loadSealedFile: path must be a non-empty string (a path), got undefined"]);
  });

  it("compileWorkflows refuses an empty input path by its index, before reading anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-empty-path-"));
    const err = await rejection(compileWorkflows([dir, ""]));
    expect(err.toJSON()).toEqual({ code: "E_USAGE", message: 'compileWorkflows: inputs[1] must be a non-empty string (a path), got a string ""', details: { field: "inputs[1]" } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a sink with a real path is still built, and names its path", () => {
    const path = join(mkdtempSync(join(tmpdir(), "cairn-empty-path-")), "e.jsonl");
    expect(new JsonlEvidenceSink(path).sink_id).toBe(`jsonl:${path}`);
  });
});
