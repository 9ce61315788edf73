/**
 * `cairn plane exec` interrupted by SIGTERM/SIGINT/SIGHUP (the BUILT cli): the running
 * execution is cancelled (a process-lane command's process group is stopped, never left
 * running past the CLI), `execution.cancelled` and `execution.completed` reach the evidence,
 * and the CLI then ends by the same signal (a shell reports 128 + its number).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cairn, CLI, reapAfterEach, spawnCairn, TempDirs } from "./helpers.js";
import { processRuns } from "../../src/store/fsutil.js";

/** Safety net for a child that never starts its command (not a speed assertion). */
const WAIT_LIMIT_MS = 30_000;

const CONFIG = `node_id: local-1
authority: { audience: cairn-local, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }],
             policy: [{ subject: alice, lanes: [process], operations: ["*"] }] }
lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl }
`;

const temps = new TempDirs();
const { children, pids } = reapAfterEach(temps);
const alive = processRuns;

async function until(cond: () => boolean, what: string, limit = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limit;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Starts `cairn plane exec --json` on a signed process-lane request running `/bin/sh -c <script>`
 * (`script(pidFile)` must write the shell's pid to pidFile first) and waits until it runs.
 */
async function startExec(key: string, script: (pidFile: string) => string): Promise<{ dir: string; pid: number } & ReturnType<typeof spawnCairn>> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const dir = temps.make();
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
  writeFileSync(join(dir, "node.yaml"), CONFIG);
  const pidFile = join(dir, "command.pid");
  const request = {
    contract_version: 1,
    lane_id: "process",
    operation: "run",
    idempotency_key: key,
    payload: { command: "/bin/sh", argv: ["-c", script(pidFile)], timeout_ms: 60_000 },
    acceptable_attestation: { classes: ["local-process-weak"] },
  };
  writeFileSync(join(dir, "req.json"), JSON.stringify(request));
  const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "cairn-local", "--ttl", "120", "--request", "req.json"], { cwd: dir });
  expect(signed.status).toBe(0);
  writeFileSync(join(dir, "signed.json"), signed.out);
  const spawned = spawnCairn(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: dir });
  children.push(spawned.child);
  await until(() => existsSync(pidFile) && /^\d+\n$/.test(readFileSync(pidFile, "utf8")), `the command to start; stderr: ${spawned.stderr()}`);
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  pids.push(pid);
  return { dir, pid, ...spawned };
}

describe("cairn plane exec: SIGTERM, SIGINT, SIGHUP", () => {
  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)("%s cancels the running process-lane command, records execution.completed, then ends by that signal", async (signal) => {
    const { dir, pid, child, stdout, stderr, exited } = await startExec("k1", (pidFile) => `echo $$ > ${pidFile}; exec sleep 60`);
    expect(alive(pid)).toBe(true);

    child.kill(signal);
    expect(await exited).toEqual({ code: null, signal });
    expect(alive(pid)).toBe(false); // the command did not outlive the CLI
    expect(stdout()).toBe("");
    const error = (JSON.parse(stderr().trimEnd().split("\n").at(-1) as string) as { error: { code: string; message: string; details: Record<string, unknown> } }).error;
    expect(error).toEqual({
      code: "E_INTERRUPTED",
      message: expect.stringMatching(new RegExp(`^interrupted by ${signal}: execution exec-\\d+-[0-9a-f]{16}-\\d+ ended failed \\(cancellation\\); evidence: ev-`)),
      details: { signal, execution_ref: expect.stringMatching(/^exec-/), status: "failed", failure_class: "cancellation", evidence: expect.any(Array) },
    });

    const evidence = readFileSync(join(dir, "evidence.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { evidence_type: string; payload: Record<string, unknown> });
    expect(evidence.map((e) => e.evidence_type)).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
    expect(evidence.at(-1)?.payload).toMatchObject({ status: "failed", failure_class: "cancellation" });
    expect(error.details.evidence).toHaveLength(5);
  });

  it("a command that ignores TERM: one execution.cancelled (not one per poll), and a second ^C does not orphan it", async () => {
    const { dir, pid, child, exited } = await startExec("k2", (pidFile) => `trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 0.05; done`);
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 30));
    child.kill("SIGINT"); // before: the CLI died at once, leaving the shell (TERM ignored) running
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
    expect(alive(pid)).toBe(false);
    const evidence = readFileSync(join(dir, "evidence.jsonl"), "utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as { evidence_type: string }).evidence_type);
    // before: one execution.cancelled per 10 ms poll until the KILL (about 20)
    expect(evidence).toEqual(["admission.accepted", "target.selected", "execution.started", "execution.cancelled", "execution.completed"]);
  });
});
