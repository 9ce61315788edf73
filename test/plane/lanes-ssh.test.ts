/**
 * The ssh placement of the process lane against a REAL sshd on a loopback port. If sshd cannot
 * start here, every test in the sshd block is skipped with the reason printed (never passed).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { buildLane } from "../../src/plane/lanes/index.js";
import { ProcessLane } from "../../src/plane/lanes/process.js";
import { remoteScript, shQuote, sshArgv } from "../../src/plane/placements/ssh.js";
import { exec, isDead, metrics } from "./fixtures/lanes/harness.js";
import { freePort } from "./fixtures/lanes/servers.js";
import { startSshd, type Sshd } from "./fixtures/lanes/sshd.js";

let sshd: Sshd | undefined;
let skipReason: string | undefined;
let lane: ProcessLane;

beforeAll(async () => {
  const r = await startSshd();
  if ("skip" in r) {
    skipReason = r.skip;
    console.warn(`\n*** SKIPPING ssh placement tests: ${r.skip} ***\n`);
    return;
  }
  sshd = r;
  lane = new ProcessLane({
    id: "remote",
    default_timeout_ms: 5000,
    placement: { kind: "ssh", destination: `${r.user}@127.0.0.1`, port: r.port, identity_file: r.identityFile, known_hosts_file: r.knownHostsFile },
  });
});
afterAll(async () => {
  await sshd?.stop();
});

function needSshd(ctx: TestContext): void {
  if (skipReason !== undefined) {
    console.warn(`*** SKIPPED (${ctx.task.name}): ${skipReason} ***`);
    ctx.skip();
  }
}

describe("process lane on an ssh placement (real sshd)", () => {
  it("runs argv remotely, quoting every word (no shell injection)", async (ctx) => {
    needSshd(ctx);
    const { outcome } = await exec(lane, "run", { command: "printf", argv: ["%s|", "a b", "it's", "$HOME", "; echo pwned"] });
    expect(outcome).toEqual({
      status: "succeeded",
      output: { exit_code: 0, signal: null, stdout: "a b|it's|$HOME|; echo pwned|", stderr: "", stdout_truncated: false, stderr_truncated: false },
      metrics: metrics(5000, { output_bytes: 28, output_truncated: false }),
    });
  });

  it("a remote non-zero exit is a raw fact; stdin, cwd and env projection reach the command", async (ctx) => {
    needSshd(ctx);
    const fail = await exec(lane, "run", { command: "sh", argv: ["-c", "echo err >&2; exit 3"] });
    expect(fail.outcome.status).toBe("failed");
    expect(fail.outcome.failure).toBeUndefined();
    expect(fail.outcome.output).toMatchObject({ exit_code: 3, stderr: "err\n" });
    const io = await exec(lane, "run", { command: "sh", argv: ["-c", 'pwd; echo "$P"; cat'], cwd: "/tmp", env: { P: "projected" }, stdin: "in" });
    expect(io.outcome.output).toMatchObject({ exit_code: 0, stdout: "/tmp\nprojected\nin" });
    const cleared = await exec(lane, "run", { command: "/usr/bin/env", env: { ONLY: "this" }, clear_env: true });
    expect(cleared.outcome.output).toMatchObject({ exit_code: 0, stdout: "ONLY=this\n" });
  });

  it("a missing remote command or cwd is launch_failed", async (ctx) => {
    needSshd(ctx);
    const cmd = await exec(lane, "run", { command: "cairn-no-such-command-xyz" });
    expect(cmd.outcome.failure).toEqual({
      class: "launch_failed",
      message: "cannot launch cairn-no-such-command-xyz on the ssh placement: command missing",
      details: { reason: "command_not_found", command: "cairn-no-such-command-xyz" },
    });
    const cwd = await exec(lane, "run", { command: "pwd", cwd: "/nonexistent/cairn" });
    expect(cwd.outcome.failure).toMatchObject({ class: "launch_failed", details: { reason: "cwd_missing" } });
  });

  it("timeout is `timeout` with partial output, and the remote command is reaped by the remote bound", async (ctx) => {
    needSshd(ctx);
    // ssh's own connection set-up takes a few hundred ms, so the timeout leaves room for it.
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "echo $$; sleep 30"], timeout_ms: 1500 });
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 1500 ms", details: { timeout_ms: 1500 } });
    const pid = Number((outcome.output as { stdout: string }).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(isDead(pid)).toBe(false); // killing the local ssh client does not reach it...
    // ...the remote bound does: 1500 + 200 (grace) + 500 (margin) ms after the remote start.
    const until = Date.now() + 3000;
    while (!isDead(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(isDead(pid)).toBe(true);
  });

  it("a host key that is not in known_hosts fails closed as transport_failed", async (ctx) => {
    needSshd(ctx);
    const s = sshd as Sshd;
    const strict = new ProcessLane({
      placement: { kind: "ssh", destination: `${s.user}@127.0.0.1`, port: s.port, identity_file: s.identityFile, known_hosts_file: join(s.dir, "empty_known_hosts") },
    });
    const { outcome } = await exec(strict, "run", { command: "true" });
    expect(outcome.failure).toMatchObject({ class: "transport_failed", details: { reason: "ssh_failed", exit_code: 255 } });
    expect((outcome.output as { stderr: string }).stderr).toMatch(/Host key verification failed/);
  });

  it("a request for the local placement on an ssh lane is placement_unavailable", async (ctx) => {
    needSshd(ctx);
    const { outcome } = await exec(lane, "run", { command: "true" }, { kind: "local" });
    expect(outcome.failure).toEqual({
      class: "placement_unavailable",
      message: "lane remote runs on ssh, not local",
      details: { lane_id: "remote", requested: "local", placement: "ssh", supported: ["ssh"] },
    });
    expect(lane.capabilities().surfaces).toEqual(["ssh_exec"]);
  });
});

describe("ssh placement without a server", () => {
  it("no sshd listening is transport_failed (ssh exits 255)", async () => {
    const port = await freePort();
    const l = new ProcessLane({ placement: { kind: "ssh", destination: "nobody@127.0.0.1", port, connect_timeout_s: 2 } });
    const { outcome } = await exec(l, "run", { command: "true" });
    expect(outcome.failure).toMatchObject({ class: "transport_failed", details: { reason: "ssh_failed", exit_code: 255 } });
  });

  it("a request placement must be { kind } only", async () => {
    const l = new ProcessLane();
    expect((await exec(l, "run", { command: "true" }, { kind: "local", host: "elsewhere" })).outcome.failure).toEqual({
      class: "placement_unavailable",
      message: "admission_request.placement must be { kind } only",
      details: { lane_id: "process", requested: { kind: "local", host: "elsewhere" } },
    });
  });

  it("a guest placement is placement_unavailable for every lane", async () => {
    const l = new ProcessLane({ placement: { kind: "guest" } });
    expect((await exec(l, "run", { command: "true" })).outcome.failure).toMatchObject({ class: "placement_unavailable", details: { placement: "guest", supported: ["local", "ssh"] } });
  });

  it("builds the remote script with every word quoted and the ssh argv fail-closed", () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(remoteScript({ command: "ls", argv: ["-l", "a b"], env: { B: "2", A: "1" }, clearEnv: true, cwd: "/srv", timeoutMs: 1000, killGraceMs: 200 })).toBe(
      [
        "cd '/srv' 2>/dev/null || { printf '%s\\n' 'cairn-launch-failed: cwd' >&2; exit 127; }",
        "command -v 'ls' >/dev/null 2>&1 || { printf '%s\\n' 'cairn-launch-failed: command' >&2; exit 127; }",
        "if command -v timeout >/dev/null 2>&1; then exec timeout -k 0.200s 1.700s env -i -- 'A=1' 'B=2' 'ls' '-l' 'a b'; else exec env -i -- 'A=1' 'B=2' 'ls' '-l' 'a b'; fi",
      ].join("\n"),
    );
    expect(sshArgv({ kind: "ssh", destination: "u@h", strict_host_key_checking: "yes", connect_timeout_s: 5, ssh_command: "ssh", config_file: "/dev/null", port: 2222 }, "S")).toEqual([
      "-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-p", "2222", "--", "u@h", "S",
    ]);
  });

  it("config rejects an ssh placement on a lane kind without placements, naming the field", () => {
    expect(() => buildLane("http", { placement: { kind: "ssh", destination: "h" } })).toThrow("lane http: $.placement: unknown key");
    expect(() => buildLane("process", { placement: { kind: "ssh", destination: "-oProxyCommand=x" } })).toThrow(/\$\.placement\.destination/);
  });
});
