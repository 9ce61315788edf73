/**
 * Audit 2 of the execution plane through the BUILT cli (`CAIRN_TEST_CLI` for a private build):
 * a worker blocked in a synchronous native call no longer holds `plane exec` past its deadline
 * (#1), a JSONL evidence file that cannot be written is E_STORE_IO (#6), and the store's writer
 * lock held for the whole execution is documented and behaves as documented (#3).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cairn, CLI, reapAfterEach, spawnCairn, TempDirs } from "../cli/helpers.js";

/** Safety net for waits (not a speed assertion). */
const WAIT_LIMIT_MS = 30_000;

const temps = new TempDirs();
const { children, pids } = reapAfterEach(temps);

async function until(cond: () => boolean, what: () => string, limit = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + limit;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A folder with keys, `node.yaml` (`config`, lanes/targets/evidence appended) and a signed request. */
function setup(configTail: string, request: Record<string, unknown>): string {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first`);
  const dir = temps.make();
  expect(cairn(["plane", "keygen", "--out", "keys", "--id", "ops"], { cwd: dir }).status).toBe(0);
  writeFileSync(
    join(dir, "node.yaml"),
    `node_id: n1
authority: { audience: aud, trusted_keys: [{ id: ops, public_key_file: keys/ops.pub }], policy: [{ subject: alice, lanes: ["*"], operations: ["*"] }] }
${configTail}`,
  );
  writeFileSync(join(dir, "req.json"), JSON.stringify({ contract_version: 1, acceptable_attestation: { classes: ["local-process-weak"] }, ...request }));
  const signed = cairn(["plane", "sign", "--key", "keys/ops.key", "--subject", "alice", "--audience", "aud", "--ttl", "300", "--request", "req.json"], { cwd: dir });
  expect(signed.status).toBe(0);
  writeFileSync(join(dir, "signed.json"), signed.out);
  return dir;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("plane exec: a worker blocked in a synchronous native call (audit2 #1)", () => {
  it("prints the timeout result at the deadline, warns that the process lingers, and an interrupt ends it at once", async () => {
    const dir = temps.make();
    const pidFile = join(dir, "sleep.pid");
    writeFileSync(join(dir, "block.mjs"), `import { execSync } from "node:child_process";\nexport function block() { execSync(${JSON.stringify(`echo $$ > '${pidFile}'; exec sleep 20`)}); return 1; }\n`);
    const cwd = setup(
      `lanes: [{ kind: worker, modules: { block: { module: ${JSON.stringify(join(dir, "block.mjs"))}, export: block } }, default_timeout_ms: 500 }]
targets: [{ target_id: w, lane_id: worker, attestation_class: local-process-weak }]
`,
      { lane_id: "worker", operation: "block", idempotency_key: "k" },
    );
    const c = spawnCairn(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd });
    children.push(c.child);
    await until(() => existsSync(pidFile) && /^\d+\n$/.test(readFileSync(pidFile, "utf8")), () => `the blocking call; stderr: ${c.stderr()}`);
    pids.push(Number(readFileSync(pidFile, "utf8").trim()));
    // The result is printed at the deadline (it used to wait for the call: 20 s here)…
    await until(() => parses(c.stdout()), () => `the result; stderr: ${c.stderr()}`, 10_000);
    const result = JSON.parse(c.stdout()) as { status: string; failure: unknown };
    expect(result.status).toBe("failed");
    expect(result.failure).toEqual({ class: "timeout", message: "no result within 500 ms", details: { timeout_ms: 500 } });
    // …and says why the process has not exited: Node joins worker threads at exit.
    await until(() => c.stderr().includes("blocked in a synchronous native call"), () => `the warning; stderr: ${c.stderr()}`, 10_000);
    expect(c.stderr()).toBe(
      "cairn: the result is final, but a worker of this execution is blocked in a synchronous native call that cannot be interrupted: the process exits when that call returns (interrupt to end it now)\n",
    );
    expect(c.child.exitCode).toBeNull();
    const t0 = Date.now();
    c.child.kill("SIGINT");
    expect(await c.exited).toEqual({ code: null, signal: "SIGINT" });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe("plane exec: JSONL evidence that cannot be written (audit2 #6)", () => {
  it("is E_STORE_IO naming the file, exit 1, nothing dispatched", () => {
    const cwd = setup(
      `lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { jsonl: evidence.jsonl }
`,
      { lane_id: "process", operation: "run", idempotency_key: "k", payload: { command: "/bin/sh", argv: ["-c", "touch ran"] } },
    );
    mkdirSync(join(cwd, "evidence.jsonl"));
    const r = cairn(["plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd });
    expect(r.status).toBe(1);
    const path = join(cwd, "evidence.jsonl");
    expect(JSON.parse(r.err)).toEqual({ error: { code: "E_STORE_IO", message: `cannot write evidence file ${path}: EISDIR: illegal operation on a directory`, details: { path, code: "EISDIR" } } });
    expect(r.out).toBe("");
    expect(existsSync(join(cwd, "ran"))).toBe(false);
  });
});

describe("plane exec: the store's writer lock is held for the whole execution (audit2 #3, documented)", () => {
  it("--help says so", () => {
    const r = cairn(["plane", "exec", "--help"], { cwd: temps.make() });
    expect(r.out.replace(/\s+/g, " ")).toContain(
      "With evidence.store the store's writer lock is held for the whole execution: a concurrent writer on that store (another exec) waits up to --wait, else fails E_STORE_LOCKED before anything is dispatched",
    );
  });

  it("a second exec on the same store fails E_STORE_LOCKED before dispatch; with --wait it runs after the first", async () => {
    const tail = `lanes: [process]
targets: [{ target_id: local, lane_id: process, attestation_class: local-process-weak }]
evidence: { store: true }
`;
    const first = setup(tail, { lane_id: "process", operation: "run", idempotency_key: "k1", payload: { command: "/bin/sh", argv: ["-c", "touch started; while [ ! -e release ]; do sleep 0.05; done"] } });
    const second = setup(tail, { lane_id: "process", operation: "run", idempotency_key: "k2", payload: { command: "/bin/sh", argv: ["-c", "touch ran"] } });
    const store = join(first, "store");
    const a = spawnCairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: first });
    children.push(a.child);
    await until(() => existsSync(join(first, "started")), () => `the first command; stderr: ${a.stderr()}`);
    const locked = cairn(["--store", store, "plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: second });
    expect(locked.status).toBe(1);
    expect((JSON.parse(locked.err) as { error: { code: string } }).error.code).toBe("E_STORE_LOCKED");
    expect(existsSync(join(second, "ran"))).toBe(false);
    const waited = spawnCairn(["--store", store, "--wait", "20s", "plane", "exec", "--config", "node.yaml", "--request", "signed.json", "--json"], { cwd: second });
    children.push(waited.child);
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(second, "ran"))).toBe(false); // still waiting for the lock
    writeFileSync(join(first, "release"), "");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await waited.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(join(second, "ran"))).toBe(true);
  });
});
