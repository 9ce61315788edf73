/**
 * A declaration compiled through a symlink of another name, or named twice in either order,
 * seals the same snapshot digest as through its real path (docs/workflow-cairn.md: "compiling a
 * declaration … through a symlink to the file … seals the same path and digest as through its
 * real path"). Before, the sealed `source.file` was the typed base name.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileWorkflows } from "../../src/workflow/cairn/compile.js";

const ROOT = join(import.meta.dirname, "..", "..");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("wf compile: the digest does not depend on how the file is named", () => {
  it("through a symlink of another name, and with two spellings in either order", async () => {
    const d = mkdtempSync(join(tmpdir(), "cairn-spelling-"));
    dirs.push(d);
    cpSync(join(ROOT, "examples", "workflows"), join(d, "ex"), { recursive: true });
    mkdirSync(join(d, "sl"));
    symlinkSync("../ex/register-agent.yaml", join(d, "sl", "other-name.yaml"));
    const digestOf = async (paths: string[]): Promise<string | undefined> => {
      const r = await compileWorkflows(paths.map((p) => join(d, p)));
      expect(r.diagnostics).toEqual([]);
      return r.digest;
    };
    const real = await digestOf(["ex/register-agent.yaml"]);
    expect(await digestOf(["sl/other-name.yaml"])).toBe(real);
    expect(await digestOf(["ex", "sl"])).toBe(real);
    expect(await digestOf(["sl", "ex"])).toBe(real);
  });
});
