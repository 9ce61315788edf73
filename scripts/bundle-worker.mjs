// Bundles the batch sandbox worker (dist/batch/sandbox/worker.js and the 11 modules it
// imports) into one file, dist/batch/sandbox/worker.bundle.js, which the worker pool starts
// instead: a fresh worker then loads one module instead of resolving and compiling the graph,
// about 15–20 ms less per worker start on a 2-core machine (every run starts its pool; audits,
// crash replacements, `verify --reexecute` and `replay` start a fresh worker per pulse).
// Same code, same evaluation order (esbuild keeps ESM evaluation order); node: builtins stay
// imports. Runs after tsc in `npm run build`.
//
// The first line records the bundle's inputs (paths relative to the bundle) and one SHA-256
// over them; the pool uses the bundle only while those files still hash to it (a later bare
// `tsc` rebuild makes it fall back to worker.js instead of running stale code).
import { writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const entry = fileURLToPath(new URL("../dist/batch/sandbox/worker.js", import.meta.url));
const out = fileURLToPath(new URL("../dist/batch/sandbox/worker.bundle.js", import.meta.url));
const options = {
  entryPoints: [entry],
  outfile: out,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  write: false,
};
const { bundleInputsDigest, WORKER_BUNDLE_HEADER } = await import(new URL("../dist/batch/sandbox/pool.js", import.meta.url).href);
const inputsOf = (r) => Object.keys(r.metafile.inputs).map((p) => relative(dirname(out), resolve(p))).sort();
// Built twice around the digest: if an input changes meanwhile (a tsc --watch), the two builds
// or their input lists differ and nothing is written, rather than a stale bundle stamped current.
const first = await build(options);
const inputs = inputsOf(first);
const sha256 = bundleInputsDigest(dirname(out), inputs);
const second = await build(options);
const text = first.outputFiles[0]?.text ?? "";
if (text === "" || second.outputFiles[0]?.text !== text || JSON.stringify(inputsOf(second)) !== JSON.stringify(inputs)) {
  console.error("bundle-worker: the worker's modules changed during the build; run it again");
  process.exit(1);
}
writeFileSync(out, `${WORKER_BUNDLE_HEADER}${JSON.stringify({ inputs, sha256 })}\n${text}`);
