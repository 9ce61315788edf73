/**
 * Large outputs (well under the per-record limit) must not exhaust a worker's heap: the worker
 * sends its results in chunks bounded by bytes as well as by count (PARTIAL_RESULTS_BYTES) and
 * holds each output once (its record text). Before, a chunk of 64 outputs of 700 KB held ~90 MB
 * in the default 64 MiB worker heap: the worker ran out of memory, and since Node's containment
 * of a worker's OOM is best-effort, V8 often aborted the whole process (exit 134).
 *
 * The pulse runs in a child process (`node --import tsx`), so a process abort fails the test
 * instead of killing the test runner.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { PARTIAL_RESULTS_BYTES, PARTIAL_RESULTS_CHUNK } from "../../src/batch/sandbox/pool.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The worker heap of these tests (MiB): the smallest a run gives (MIN_WORKER_HEAP_MB); an output may be a quarter of it. */
const HEAP_MB = 32;

const PROBE = [
  `import { WorkerPool } from ${JSON.stringify(join(SRC, "batch/sandbox/pool.ts"))};`,
  `import { sha256 } from ${JSON.stringify(join(SRC, "core/digest.ts"))};`,
  "const [n, chars, mode, heap] = process.argv.slice(2);",
  // Outputs are strings or (mode "bytes") every 10th one a Uint8Array: the chunk then travels as objects.
  "const code = mode === 'bytes'",
  "  ? `export default (x, ctx) => ctx.id % 10 === 3 ? new Uint8Array(${chars}).fill(ctx.id) : 'y'.repeat(${chars}) + ctx.id;`",
  "  : `export default (x, ctx) => 'y'.repeat(${chars}) + ctx.id;`;",
  "const pool = await WorkerPool.create({ size: 1, bundle: { code, digest: sha256(code) }, seed: 's', resourceLimits: { maxOldGenerationSizeMb: Number(heap), maxYoungGenerationSizeMb: 4 }, maxOutputBytes: Number(heap) * 1024 * 1024 / 4 });",
  "const eus = Array.from({ length: Number(n) }, (_, i) => ({ id: i, input: i }));",
  "const chunks = [];",
  "const r = await pool.runPulse(1, eus, { attempt: 1, onResults: (rs) => chunks.push(rs.map((x) => x.ok && !x.bytes ? (x.text ?? x.json).length : -1)) });",
  "await pool.close();",
  "const results = r.kind === 'ok' ? r.results.map((x) => x.ok ? (x.bytes ? { id: x.id, bytes: x.output.length, first: x.output[0] } : { id: x.id, json: x.json === JSON.stringify('y'.repeat(Number(chars)) + x.id) }) : { id: x.id, error: x.error.code }) : [];",
  "process.stdout.write(JSON.stringify({ kind: r.kind, error: r.kind === 'crashed' ? r.error : undefined, results, chunks }));",
  "",
].join("\n");

interface ProbeOut {
  kind: string;
  error?: { code: string; message: string };
  results: Array<{ id: number; json?: boolean; bytes?: number; first?: number; error?: string }>;
  chunks: number[][];
}

function probe(n: number, chars: number, mode: "strings" | "bytes"): { status: number | null; signal: string | null; stderr: string; out: ProbeOut | undefined } {
  const dir = mkdtempSync(join(tmpdir(), "cairn-large-outputs-"));
  dirs.push(dir);
  const file = join(dir, "probe.mts");
  writeFileSync(file, PROBE);
  const p = spawnSync(process.execPath, ["--import", "tsx", file, String(n), String(chars), mode, String(HEAP_MB)], { encoding: "utf8", timeout: 50_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 });
  let out: ProbeOut | undefined;
  try {
    out = JSON.parse(p.stdout) as ProbeOut;
  } catch {
    out = undefined;
  }
  return { status: p.status, signal: p.signal, stderr: p.stderr.slice(0, 2000), out };
}

describe("large outputs in a small worker heap", () => {
  it("a pulse of 150 outputs of 500 KB in a 32 MiB worker heap completes (before: out of memory, or a process abort)", () => {
    const r = probe(150, 500_000, "strings"); // 64 of them (one chunk by count) hold ~64 MB
    expect({ status: r.status, signal: r.signal, kind: r.out?.kind, error: r.out?.error }).toEqual({ status: 0, signal: null, kind: "ok", error: undefined });
    const out = r.out as ProbeOut;
    expect(out.results).toEqual(Array.from({ length: 150 }, (_, i) => ({ id: i, json: true })));
    // Chunks are cut by bytes: none of several records exceeds the bound, and they cover the pulse in order.
    const sizes = out.chunks;
    expect(sizes.flat()).toHaveLength(150);
    expect(sizes.length).toBeGreaterThan(Math.ceil(150 / PARTIAL_RESULTS_CHUNK));
    for (const c of sizes) {
      expect(c.length).toBeLessThanOrEqual(PARTIAL_RESULTS_CHUNK);
      if (c.length > 1) expect(c.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(PARTIAL_RESULTS_BYTES);
    }
  }, 60_000);

  it("outputs just under the per-record limit (a quarter of the heap), one after another, complete (before: the second ran out of memory)", () => {
    const chars = (HEAP_MB * 1024 * 1024) / 4 - 100;
    const r = probe(4, chars, "strings");
    expect({ status: r.status, signal: r.signal, kind: r.out?.kind, error: r.out?.error }).toEqual({ status: 0, signal: null, kind: "ok", error: undefined });
    expect((r.out as ProbeOut).results).toEqual(Array.from({ length: 4 }, (_, i) => ({ id: i, json: true })));
    // Each travels alone.
    expect((r.out as ProbeOut).chunks.map((c) => c.length)).toEqual([1, 1, 1, 1]);
  }, 60_000);

  it("the same with bytes outputs among them (the object form rebuilds each JSON output from its record text)", () => {
    const r = probe(100, 500_000, "bytes");
    expect({ status: r.status, signal: r.signal, kind: r.out?.kind, error: r.out?.error }).toEqual({ status: 0, signal: null, kind: "ok", error: undefined });
    expect((r.out as ProbeOut).results).toEqual(
      Array.from({ length: 100 }, (_, i) => (i % 10 === 3 ? { id: i, bytes: 500_000, first: i } : { id: i, json: true })),
    );
  }, 60_000);
});
