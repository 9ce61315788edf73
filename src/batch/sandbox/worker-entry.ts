/** Which file a pool worker starts: worker.ts through tsx (sources), or the built bundle when current, else worker.js. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { CairnError, ErrorCode } from "../../core/errors.js";

/** How the parent starts a worker: the compiled worker.js, or worker.ts through tsx when running from sources. */
export function workerEntry(): { filename: string | URL; eval: boolean } {
  if (import.meta.url.endsWith(".ts")) {
    // Running TypeScript sources (vitest, tsx). On Node 20, `execArgv: ["--import", "tsx"]` does
    // not apply tsx's ESM hooks to a worker's main module, so the worker starts from a CommonJS
    // bootstrap that installs tsx's require hook and requires worker.ts (tsx compiles it to CJS).
    let tsx: string;
    try {
      tsx = createRequire(import.meta.url).resolve("tsx/cjs");
    } catch (err) {
      throw new CairnError(ErrorCode.INTERNAL, "running the sandbox from TypeScript sources needs the tsx package", {}, { cause: err });
    }
    const worker = fileURLToPath(new URL("./worker.ts", import.meta.url));
    return { filename: `require(${JSON.stringify(tsx)});\nrequire(${JSON.stringify(worker)});\n`, eval: true };
  }
  return { filename: builtWorker(), eval: false };
}

/** The one-file worker `npm run build` writes (scripts/bundle-worker.mjs). */
export const WORKER_BUNDLE_FILE = "worker.bundle.js";
let builtWorkerUrl: URL | undefined;

/** First-line prefix of the bundle, followed by `{"inputs": [paths], "sha256": hex}`. */
export const WORKER_BUNDLE_HEADER = "// cairn-worker-bundle ";

/**
 * The built worker: `worker.bundle.js` (worker.js with its imports in one file, which starts
 * ~15–20 ms faster) when it is current — its first line lists its input modules and one SHA-256
 * over them, and they must still hash to it — else `worker.js` itself (a build without the
 * bundle, or one rebuilt by a bare `tsc` since): the same code either way. Looked up once per
 * process.
 */
export function builtWorker(): URL {
  if (builtWorkerUrl === undefined) {
    const bundled = new URL(`./${WORKER_BUNDLE_FILE}`, import.meta.url);
    builtWorkerUrl = bundleIsCurrent(bundled) ? bundled : new URL("./worker.js", import.meta.url);
  }
  return builtWorkerUrl;
}

/** Whether the bundle at `where` exists and its recorded inputs still hash to its recorded digest. */
export function bundleIsCurrent(where: string | URL): boolean {
  try {
    const path = typeof where === "string" ? where : fileURLToPath(where);
    const text = readFileSync(path, "utf8");
    const end = text.indexOf("\n");
    if (!text.startsWith(WORKER_BUNDLE_HEADER) || end < 0) return false;
    const head = JSON.parse(text.slice(WORKER_BUNDLE_HEADER.length, end)) as { inputs?: unknown; sha256?: unknown };
    if (!Array.isArray(head.inputs) || head.inputs.length === 0 || typeof head.sha256 !== "string") return false;
    if (!head.inputs.every((p): p is string => typeof p === "string")) return false;
    return bundleInputsDigest(dirname(path), head.inputs) === head.sha256;
  } catch {
    return false; // missing, unreadable or malformed: worker.js
  }
}

/**
 * One SHA-256 (hex) over a bundle's input modules: for each path (relative to `dir`, in the
 * given order) `path \0 sha256(bytes) \n`. scripts/bundle-worker.mjs records it; `bundleIsCurrent`
 * recomputes it.
 */
export function bundleInputsDigest(dir: string, inputs: readonly string[]): string {
  const h = createHash("sha256");
  for (const p of inputs) h.update(`${p}\0${createHash("sha256").update(readFileSync(resolve(dir, p))).digest("hex")}\n`);
  return h.digest("hex");
}
