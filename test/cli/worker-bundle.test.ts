/**
 * The build bundles the batch sandbox worker into one file (scripts/bundle-worker.mjs) and the
 * pool of the built package starts that file while it is current. The CLI suites then exercise
 * the bundled worker (every `cairn run` in them), against the same pinned digests as the
 * source-level suites.
 */
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CLI } from "./helpers.js";

const DIST = join(dirname(CLI), "..");
const SANDBOX_DIR = join(DIST, "batch", "sandbox");

interface PoolModule {
  builtWorker(): URL;
  bundleIsCurrent(path: string): boolean;
  WORKER_BUNDLE_FILE: string;
  WORKER_BUNDLE_HEADER: string;
}

const loadPool = async (dist: string): Promise<PoolModule> => (await import(pathToFileURL(join(dist, "batch", "sandbox", "pool.js")).href)) as PoolModule;

describe("the bundled sandbox worker", () => {
  it("is built, imports nothing but node: builtins, and is what the built pool starts", async () => {
    const text = readFileSync(join(SANDBOX_DIR, "worker.bundle.js"), "utf8");
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;"']*?\bfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s!.startsWith("node:"))).toEqual([]);
    expect(text).not.toMatch(/\bimport\(\s*["'][^"']*\.js["']\s*\)/); // no dynamic import of a sibling module
    const pool = await loadPool(DIST);
    expect(pool.WORKER_BUNDLE_FILE).toBe("worker.bundle.js");
    const head = JSON.parse(text.slice(pool.WORKER_BUNDLE_HEADER.length, text.indexOf("\n"))) as { inputs: string[] };
    expect(head.inputs).toContain("worker.js");
    expect(head.inputs).toContain("shims.js");
    expect(pool.builtWorker().href).toBe(pathToFileURL(join(SANDBOX_DIR, "worker.bundle.js")).href);
  });

  it("a bundle whose inputs changed since it was built (a later bare tsc) is not used: the pool falls back to worker.js", async () => {
    // A copy inside the repository, so the copied modules resolve node_modules as dist/ does.
    const copy = mkdtempSync(join(fileURLToPath(new URL("../..", import.meta.url)), ".test-dist-"));
    try {
      cpSync(DIST, copy, { recursive: true });
      const bundle = join(copy, "batch", "sandbox", "worker.bundle.js");
      const pool = await loadPool(copy);
      expect(pool.bundleIsCurrent(bundle)).toBe(true);
      appendFileSync(join(copy, "core", "canonical.js"), "\n// rebuilt\n"); // an input other than worker.js
      expect(pool.bundleIsCurrent(bundle)).toBe(false);
      expect(pool.builtWorker().href).toBe(pathToFileURL(join(copy, "batch", "sandbox", "worker.js")).href);
      expect(pool.bundleIsCurrent(join(copy, "batch", "sandbox", "missing.js"))).toBe(false);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
