/**
 * What a batch module's bundle (its identity) depends on besides its files (ARCHITECTURE
 * §10.13, README "Batch runs"): esbuild's nearest tsconfig.json and, per bundled file, nearest
 * package.json, wherever they are. A folder above the project can change the bundle — and so
 * the function digest and the run id, never the output under one id —, and a tsconfig.json and
 * package.json in the module's own folder end the search.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bundleModule } from "../../src/batch/sandbox/bundle.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes files (path → text) under a fresh temp dir; returns it. */
function tree(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-bundle-env-"));
  dirs.push(d);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, p)), { recursive: true });
    writeFileSync(join(d, p), text);
  }
  return d;
}

/** A module with a side-effect-only import and a class field over an inherited accessor. */
const MODULE = {
  "proj/m.ts": [
    'import "./setup";',
    'class Base { log = "none"; set x(v: number) { this.log = `setter ran with ${v}`; } get x(): number { return 0; } }',
    "class D extends Base { x = 1; }",
    "export default () => ({ setup: (globalThis as Record<string, unknown>).__setup ?? null, log: new D().log });",
    "",
  ].join("\n"),
  "proj/setup.ts": '(globalThis as Record<string, unknown>).__setup = "ran";\n',
};

async function digestOf(files: Record<string, string>): Promise<{ digest: string; code: string }> {
  const b = await bundleModule(join(tree(files), "proj/m.ts"));
  return { digest: b.digest, code: b.code };
}

describe("batch bundles and the folders above the module", () => {
  it("a parent folder's sideEffects or tsconfig.json changes the bundle, so the function digest (and run id) too", async () => {
    const plain = await digestOf(MODULE);
    expect(plain.code).toContain('__setup = "ran"');
    const sideEffects = await digestOf({ ...MODULE, "package.json": '{"sideEffects":false}' });
    expect(sideEffects.code).not.toContain('__setup = "ran"'); // esbuild dropped the import
    const classFields = await digestOf({ ...MODULE, "tsconfig.json": '{"compilerOptions":{"useDefineForClassFields":false}}' });
    expect(new Set([plain.digest, sideEffects.digest, classFields.digest]).size).toBe(3);
  });

  it("a package.json and a tsconfig.json in the module's own folder end the search: the bundle is the plain one", async () => {
    const own = { "proj/package.json": "{}", "proj/tsconfig.json": "{}" };
    const shielded = await digestOf({ ...MODULE, ...own });
    const above = await digestOf({
      ...MODULE, ...own,
      "package.json": '{"sideEffects":false}',
      "tsconfig.json": '{"compilerOptions":{"useDefineForClassFields":false}}',
    });
    expect(above.digest).toBe(shielded.digest);
    expect(above.code).toContain('__setup = "ran"');
  });
});
