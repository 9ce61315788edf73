/**
 * UAT 2026-11-27 (T2 F9): a module importing a FIFO hung `wf compile` (and `cairn run`) forever,
 * the read of the FIFO blocking the build. Both bundlers refuse a non-regular file at its import.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";
import { isCairnError } from "../../src/core/errors.js";
import { bundleCapabilityModule } from "../../src/workflow/cairn/usercts.js";

const dir = mkdtempSync(join(tmpdir(), "cairn-fifo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
execFileSync("mkfifo", [join(dir, "pipe.ts")]);

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("not refused");
}

describe("an import of a FIFO fails the build at once (it used to block forever)", () => {
  it("a batch module", async () => {
    writeFileSync(join(dir, "batch.ts"), 'import { x } from "./pipe.ts";\nexport default (i: unknown) => [i, x];\n');
    const e = await refusal(bundleModule(join(dir, "batch.ts")));
    expect(e.code).toBe("E_INVALID_INPUT");
    expect(e.message).toContain(`${join(dir, "pipe.ts")} is a FIFO, not a regular file: refusing to read it`);
  }, 20_000);

  it("a workflow capability module", async () => {
    writeFileSync(join(dir, "caps.ts"), 'import { x } from "./pipe.ts";\nexport const capabilities = { f: { outputs: ["y"], run: () => ({ y: x }) } };\n');
    const e = await refusal(bundleCapabilityModule(join(dir, "caps.ts"), "caps.ts"));
    expect(e.code).toBe("E_COMPILE_MODULE");
    expect(e.message).toContain(`${join(dir, "pipe.ts")} is a FIFO, not a regular file: refusing to read it`);
  }, 20_000);
});
