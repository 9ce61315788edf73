/**
 * `cairn run` / `cairn resume` interrupted by SIGINT while the first worker still imports the
 * module (the BUILT cli; CAIRN_TEST_CLI names another build). The module's top level blocks for
 * SLOW_IMPORT_MS (Atomics.wait in a loop: the sandbox freezes Date before the module's first
 * line, so a busy-wait on a clock would never end). By then the run's plan is recorded, so
 * `cairn resume <runId>` continues it: the message must name the run and that command, not say
 * it was interrupted "before the run started" (as it did before 2026-11-28: the CLI learns the
 * run id from the engine's progress, which named it only once the first worker had imported the
 * module). With --json the E_INTERRUPTED error carries `details.runId`.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listRuns, openStore } from "../../src/index.js";
import { cairn, CLI, json, spawnCairn, TempDirs, reapAfterEach } from "./helpers.js";

/** How long the module's import blocks: far longer than the test needs. */
const SLOW_IMPORT_MS = 30_000;
/** Safety net for a child that never gets there (not a speed assertion). */
const WAIT_LIMIT_MS = 60_000;
/** The module: writes the file `marker` when its import starts, then blocks. */
const slowModule = (marker: string): string => `import { writeFileSync } from "node:fs";
writeFileSync(${JSON.stringify(marker)}, "");
const ia = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < ${SLOW_IMPORT_MS / 10}; i++) Atomics.wait(ia, 0, 0, 10);
export default (x) => x;
`;

const temps = new TempDirs();
const { children } = reapAfterEach(temps);

/** The run ids `store` lists (read-only; none while the store does not exist yet). */
function runIds(store: string): string[] {
  let s;
  try {
    s = openStore({ dir: store, readOnly: true, create: false });
  } catch {
    return []; // not created yet
  }
  try {
    return listRuns(s).map((r) => r.runId);
  } finally {
    s.close();
  }
}

/** Resolves once `file` exists (polled). */
async function appears(file: string, stderr: () => string): Promise<void> {
  const until = Date.now() + WAIT_LIMIT_MS;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`${file} never appeared; stderr: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the run id once `store` lists a run (its plan recorded), polling. */
async function planRecorded(store: string, stderr: () => string): Promise<string> {
  const until = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const ids = runIds(store);
    if (ids.length > 0) return ids[0] as string;
    if (Date.now() > until) throw new Error(`no run was planned; stderr: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const resumeHint = (runId: string): string => `interrupted; committed pulses are kept: run the same command again, or \`cairn resume ${runId}\`, to continue`;

/** The last line of stderr: the interruption's message (plain, or the JSON error with --json). */
function expectResumeHint(stderr: string, runId: string, asJson: boolean): void {
  const last = stderr.trimEnd().split("\n").at(-1) as string;
  if (asJson) expect(JSON.parse(last)).toEqual({ error: { code: "E_INTERRUPTED", message: resumeHint(runId), details: { runId } } });
  else expect(last).toBe(`cairn: ${resumeHint(runId)}`);
}

/**
 * `cairn run` of the slow module in `dir`, SIGINTed once the worker imports the module and the
 * run's plan is recorded (the engine reports the run id right after recording it, with no await
 * between). Returns the run id and the child's stderr and stdout.
 */
async function interruptedRun(dir: string, globals: string[]): Promise<{ runId: string; stderr: string; stdout: string; marker: string }> {
  const store = join(dir, "store");
  const marker = join(dir, "importing");
  writeFileSync(join(dir, "slow.mjs"), slowModule(marker));
  writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n{"n":2}\n');
  const started = spawnCairn([...globals, "run", "slow.mjs", "--input", "in.jsonl", "--workers", "1"], { cwd: dir });
  children.push(started.child);
  await appears(marker, started.stderr); // imported beside ingest, for SLOW_IMPORT_MS
  const runId = await planRecorded(store, started.stderr);
  await new Promise((r) => setTimeout(r, 200));
  started.child.kill("SIGINT");
  expect(await started.exited).toEqual({ code: null, signal: "SIGINT" });
  expect(json<Array<{ runId: string; state: string }>>(cairn(["--store", store, "runs", "ls", "--json"], { cwd: dir })).map((r) => [r.runId, r.state])).toEqual([[runId, "incomplete"]]);
  return { runId, stderr: started.stderr(), stdout: started.stdout(), marker };
}

describe("SIGINT while the first worker imports the module, the plan recorded", () => {
  it.each([false, true])("cairn run (--json %s): names the run id and `cairn resume <runId>`", async (asJson) => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const r = await interruptedRun(dir, ["--store", join(dir, "store"), ...(asJson ? ["--json"] : [])]);
    expectResumeHint(r.stderr, r.runId, asJson);
    expect(r.stdout).toBe("");
  }, 120_000);

  it.each([false, true])("cairn resume <runId> (--json %s): names the run it was given", async (asJson) => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const globals = ["--store", join(dir, "store"), ...(asJson ? ["--json"] : [])];
    const { runId, marker } = await interruptedRun(dir, globals);
    rmSync(marker);
    const resumed = spawnCairn([...globals, "resume", runId], { cwd: dir });
    children.push(resumed.child);
    await appears(marker, resumed.stderr); // the store open (the signal handler in place), the worker importing
    resumed.child.kill("SIGINT");
    expect(await resumed.exited).toEqual({ code: null, signal: "SIGINT" });
    expectResumeHint(resumed.stderr(), runId, asJson);
    expect(resumed.stdout()).toBe("");
  }, 120_000);
});
