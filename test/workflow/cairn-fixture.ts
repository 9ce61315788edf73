/** Helpers for the Cairn workflow tests: temp directories, declarations, compile + seal + run. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll } from "vitest";
import { stringify } from "yaml";
import { compileWorkflows, formatDiagnostic, type CompileResult } from "../../src/workflow/cairn/compile.js";
import { prepareSnapshot, runCairnWorkflow, type CairnRunResult, type PreparedSnapshot } from "../../src/workflow/cairn/run.js";
import { sealedFileBytes, verifySealedBytes } from "../../src/workflow/cairn/seal.js";
import { fromPlain, type PyObject } from "../../src/workflow/pgs/value.js";
import { isCairnError } from "../../src/core/errors.js";

export const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = "cairn-wf-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Writes files (path → text) under a new temp dir; returns the dir. */
export function writeTree(files: Record<string, string>): string {
  const d = tempDir();
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, p)), { recursive: true });
    writeFileSync(join(d, p), text);
  }
  return d;
}

/** A minimal valid declaration (one node, one atom step, routes for both CT outcomes). */
export function baseDecl(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cairn: "cairn.workflow/v1",
    namespace: "test",
    code: "WF_TEST_V0",
    entry: "start",
    nodes: {
      start: {
        steps: [{ id: "h", ct: "hash", inputs: { value: "$.payload" } }],
        routes: { SUCCESS: { exit: "DONE", reason: "hashed" }, VIOLATION: { exit: "BAD", reason: "not hashable" } },
      },
    },
    ...overrides,
  };
}

/**
 * A declaration whose one node REGISTERs `$.payload.name` in a registry store through a
 * lane-bound step (an HTTP POST of the step's inputs to `url`, attested by `attestation`).
 */
export function laneRegistryDecl(
  url: string,
  attestation: string,
  routes: Record<string, unknown> = { default: { exit: "DONE", reason: "done" } },
): Record<string, unknown> {
  return baseDecl({
    entry: "reg",
    stores: { agents: { kind: "registry", path: "r/agents.jsonl" } },
    nodes: {
      reg: {
        steps: [{
          id: "bind", cs: "agents", op: "REGISTER", inputs: { key: "$.payload.name", value: "$.payload" },
          lane: {
            kind: "http", operation: "request",
            payload: { object: { url: { const: url }, method: { const: "POST" }, json: "$.inputs" } },
            acceptable_attestation: { classes: [attestation] },
            result_json: "body",
          },
        }],
        routes,
      },
    },
  });
}

export async function compileDecl(decl: unknown, name = "wf.yaml", extra: Record<string, string> = {}): Promise<{ r: CompileResult; dir: string; file: string; lines: string[] }> {
  const text = name.endsWith(".json") ? JSON.stringify(decl, null, 2) : stringify(decl);
  const dir = writeTree({ [name]: text, ...extra });
  const file = join(dir, name);
  const r = await compileWorkflows([file]);
  return { r, dir, file, lines: r.diagnostics.map(formatDiagnostic) };
}

/** Compiles `decl` (must be valid), seals and prepares it. */
export async function prepared(decl: unknown, extra: Record<string, string> = {}): Promise<{ snap: PreparedSnapshot; bytes: Buffer; dir: string }> {
  const { r, dir, lines } = await compileDecl(decl, "wf.yaml", extra);
  if (r.content === undefined) throw new Error(`compile failed:\n${lines.join("\n")}`);
  const { bytes } = sealedFileBytes(r.content);
  return { snap: prepareSnapshot(verifySealedBytes(bytes, "snapshot")), bytes, dir };
}

export function payload(v: Record<string, unknown>): PyObject {
  return fromPlain(v) as PyObject;
}

export function run(snap: PreparedSnapshot, p: Record<string, unknown>, dir: string, extra: Partial<Parameters<typeof runCairnWorkflow>[0]> = {}): CairnRunResult {
  return runCairnWorkflow({ snapshot: snap, payload: payload(p), dataRoot: join(dir, "data"), baseDir: dir, ...extra });
}

export function traceText(r: CairnRunResult): string {
  return readFileSync(join(r.traceDirAbs, `${r.traceId}.jsonl`), "utf8");
}

/** One event of a run's trace, as the tests read it. */
export interface TraceEvent {
  event_type: string;
  result_status?: string | null;
  detail: Record<string, unknown>;
}

/** The events of a run's trace, in order. */
export function events(r: CairnRunResult): TraceEvent[] {
  return traceText(r).trim().split("\n").map((l) => JSON.parse(l) as TraceEvent);
}

/** The first CC_STEP event of step `id`; throws when there is none. */
export function stepEvent(r: CairnRunResult, id: string): TraceEvent {
  const e = events(r).find((x) => x.event_type === "CC_STEP" && x.detail.step_id === id);
  if (e === undefined) throw new Error(`no CC_STEP for ${id}`);
  return e;
}

/** The code, message and details of the CairnError `fn` throws; throws when it throws something else or nothing. */
export function thrownCairnError(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    if (isCairnError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error("not refused");
}

/** The code, message and `details.check` of the CairnError `fn` throws (a snapshot refusal); throws when it does not. */
export function refusal(fn: () => unknown): { code: string; message: string; check: unknown } {
  const e = thrownCairnError(fn);
  return { code: e.code, message: e.message, check: e.details.check };
}
