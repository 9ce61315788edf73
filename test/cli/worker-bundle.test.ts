/**
 * The build bundles the batch sandbox worker into one file (scripts/bundle-worker.mjs) and the
 * pool of the built package starts that file. The CLI suites then exercise the bundled worker
 * (every `cairn run` in them), against the same pinned digests as the source-level suites.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { CLI } from "./helpers.js";

const SANDBOX_DIR = join(dirname(CLI), "..", "batch", "sandbox");

describe("the bundled sandbox worker", () => {
  it("is built, imports nothing but node: builtins, and is what the built pool starts", async () => {
    const text = readFileSync(join(SANDBOX_DIR, "worker.bundle.js"), "utf8");
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;"']*?\bfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s!.startsWith("node:"))).toEqual([]);
    expect(text).not.toMatch(/\bimport\(\s*["'][^"']*\.js["']\s*\)/); // no dynamic import of a sibling module
    const pool = (await import(pathToFileURL(join(SANDBOX_DIR, "pool.js")).href)) as { builtWorker(): URL; WORKER_BUNDLE_FILE: string };
    expect(pool.WORKER_BUNDLE_FILE).toBe("worker.bundle.js");
    expect(pool.builtWorker().href).toBe(pathToFileURL(join(SANDBOX_DIR, "worker.bundle.js")).href);
  });
});
