/**
 * The ssh placement of the process lane against a REAL sshd on a loopback port. If sshd cannot
 * start here, every test in the sshd block is skipped with the reason printed (never passed).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { buildLane } from "../../src/plane/lanes/index.js";
import { ProcessLane } from "../../src/plane/lanes/process.js";
import { MAX_SSH_ENV_BYTES } from "../../src/plane/lanes/limits.js";
import type { SshPlacement } from "../../src/plane/placements/placement.js";
import { envPreamble, parseRemoteStatus, remoteScript, shQuote, sshArgv, sshClientEnv, stage2Script } from "../../src/plane/placements/ssh.js";
import { exec, isDead, metrics } from "./fixtures/lanes/harness.js";
import { freePort } from "./fixtures/lanes/servers.js";
import { startSshd, type Sshd } from "./fixtures/lanes/sshd.js";

let sshd: Sshd | undefined;
let skipReason: string | undefined;
let lane: ProcessLane;
/** The same placement with a long kill grace (the remote bound is timeout + grace + SSH_REMOTE_TIMEOUT_MARGIN_MS). */
let longGraceLane: ProcessLane;
/** The kill grace of `longGraceLane`: the room between the local timeout and the remote bound (ms). */
const LONG_KILL_GRACE_MS = 4000;

beforeAll(async () => {
  const r = await startSshd();
  if ("skip" in r) {
    skipReason = r.skip;
    console.warn(`\n*** SKIPPING ssh placement tests: ${r.skip} ***\n`);
    return;
  }
  sshd = r;
  const placement = { kind: "ssh", destination: `${r.user}@127.0.0.1`, port: r.port, identity_file: r.identityFile, known_hosts_file: r.knownHostsFile } as const;
  lane = new ProcessLane({ id: "remote", default_timeout_ms: 5000, placement });
  longGraceLane = new ProcessLane({ id: "remote-grace", default_timeout_ms: 5000, kill_grace_ms: LONG_KILL_GRACE_MS, placement });
});
afterAll(async () => {
  await sshd?.stop();
});

function needSshd(ctx: TestContext): void {
  if (skipReason !== undefined) {
    // .ci/run requires sshd and sets this: in CI a missing or failing sshd is a failure, never a skip.
    if (process.env.CAIRN_REQUIRE_SSHD === "1") throw new Error(`CAIRN_REQUIRE_SSHD=1 but the test sshd could not start: ${skipReason}`);
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
    // The timeout leaves ample room for ssh's connection set-up on a busy machine; the command
    // prints at once and then blocks, so only the timeout can end it. The long kill grace puts the
    // remote bound seconds after the local timeout (with the default 200 ms grace it came 700 ms
    // after it, and a loaded machine could take that long to return the outcome and look).
    const { outcome } = await exec(longGraceLane, "run", { command: "sh", argv: ["-c", "echo $$; exec sleep 30"], timeout_ms: 3000 });
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 3000 ms", details: { timeout_ms: 3000 } });
    const pid = Number((outcome.output as { stdout: string }).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(isDead(pid)).toBe(false); // killing the local ssh client does not reach it...
    // ...the remote bound does: 3000 + LONG_KILL_GRACE_MS + 500 (margin) ms after the remote start,
    // well before its sleep would end by itself (30 s).
    const until = Date.now() + 15_000;
    while (!isDead(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(isDead(pid)).toBe(true);
  });

  it("a remote command killed by a signal, or exiting 255, is a raw fact, not transport_failed", async (ctx) => {
    needSshd(ctx);
    const killed = await exec(lane, "run", { command: "sh", argv: ["-c", "echo dying >&2; kill -KILL $$"] });
    expect(killed.outcome.status).toBe("failed");
    expect(killed.outcome.failure).toBeUndefined();
    expect(killed.outcome.output).toMatchObject({ exit_code: 137, signal: null, stdout: "", stdout_truncated: false, stderr_truncated: false });
    // The remote /bin/sh may add its own note after the command's stderr (dash: "Killed"); the marker is stripped.
    expect((killed.outcome.output as { stderr: string }).stderr).toMatch(/^dying\n(Killed\n)?$/);
    const x255 = await exec(lane, "run", { command: "sh", argv: ["-c", "printf 'no newline' >&2; exit 255"] });
    expect(x255.outcome.failure).toBeUndefined();
    expect(x255.outcome.output).toMatchObject({ exit_code: 255, signal: null, stderr: "no newline", stderr_truncated: false });
    // The side channel is found and stripped even when stderr overflows the cap.
    const small = new ProcessLane({ placement: lane.placement, max_output_bytes: 4 });
    const capped = await exec(small, "run", { command: "sh", argv: ["-c", "printf 0123456789 >&2; exit 2"] });
    expect(capped.outcome.output).toMatchObject({ exit_code: 2, stderr: "0123", stderr_truncated: true });
    expect(capped.outcome.failure).toBeUndefined();
  });

  it("the session lost while the command runs (the remote shell killed) is remote_disconnect, not transport_failed", async (ctx) => {
    needSshd(ctx);
    // The command kills the remote session's own process group (the shell that would report the status).
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "echo before; sid=$(cut -d' ' -f6 /proc/$$/stat); kill -9 -$sid; sleep 1"] });
    expect(outcome.failure).toEqual({
      class: "remote_disconnect",
      message: "the ssh session ended while the remote command ran, without its exit status",
      details: { reason: "session_lost", exit_code: 255 },
    });
    expect(outcome.output).toMatchObject({ stdout: "before\n", exit_code: 255 });
  });

  it("the env projection reaches the command but no argv (local ssh client or remote), and the ssh client gets a minimal env", async (ctx) => {
    needSshd(ctx);
    const s = sshd as Sshd;
    const wrapper = join(s.dir, "ssh-wrapper.sh");
    const record = join(s.dir, "ssh-wrapper.record");
    writeFileSync(wrapper, `#!/bin/sh\n{ printf '%s\\n' "$@"; echo ---ENV---; env; } > '${record}'\nexec ssh "$@"\n`);
    chmodSync(wrapper, 0o755);
    const wrapped = new ProcessLane({ placement: { ...(lane.placement as SshPlacement), ssh_command: wrapper } });
    const secret = "s3cr3t-V4LUE 'quoted' $HOME\nsecond line";
    process.env.CAIRN_NODE_ONLY_SECRET = "node-only";
    try {
      const listing = 'printf "%s\\n" "$TOKEN"; echo ---PS---; for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done 2>/dev/null';
      const { outcome } = await exec(wrapped, "run", { command: "sh", argv: ["-c", listing], env: { TOKEN: secret } });
      expect(outcome.status).toBe("succeeded");
      const stdout = (outcome.output as { stdout: string }).stdout;
      const [seen, ps] = stdout.split("---PS---\n");
      expect(seen).toBe(`${secret}\n`);
      expect(ps).toMatch(/cairn-lane/); // the listing did see the remote processes...
      expect(ps).not.toMatch(/s3cr3t/); // ...and none carries the value in its argv
      expect(existsSync(record)).toBe(true);
      const [argv, env] = readFileSync(record, "utf8").split("---ENV---\n");
      expect(argv).not.toMatch(/s3cr3t/);
      expect(env).not.toMatch(/s3cr3t|CAIRN_NODE_ONLY_SECRET/);
    } finally {
      delete process.env.CAIRN_NODE_ONLY_SECRET;
    }
  });

  it("with clear_env a relative command resolves on /usr/bin:/bin and sees only the projection", async (ctx) => {
    needSshd(ctx);
    const { outcome } = await exec(lane, "run", { command: "env", env: { ONLY: "this", MULTI: "a\nb" }, clear_env: true });
    expect(outcome.output).toMatchObject({ exit_code: 0, stderr: "" });
    const stdout = (outcome.output as { stdout: string }).stdout;
    expect([stdout === "MULTI=a\nb\nONLY=this\n" || stdout === "ONLY=this\nMULTI=a\nb\n", stdout]).toEqual([true, stdout]);
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

  it("builds the remote script with every word quoted, no env value in it, and the ssh argv fail-closed", () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    const launch = { command: "ls", argv: ["-l", "a b"], env: { B: "secret-b", A: "secret-a" }, clearEnv: true, cwd: "/srv", timeoutMs: 1000, killGraceMs: 200 };
    const script = remoteScript(launch);
    expect(script).toBe(`exec env -i /bin/sh -c ${shQuote(stage2Script(launch))} cairn-lane`);
    expect(script).not.toMatch(/secret/);
    const stage2 = stage2Script(launch).split("\n");
    expect(stage2).toContain("cd '/srv' 2>/dev/null || __cairn_f cwd");
    expect(stage2).toContain("unset PWD OLDPWD SHLVL");
    expect(stage2).toContain("PATH=/usr/bin:/bin");
    expect(stage2).toContain("__cairn_c=$(command -v 'ls') || __cairn_f command");
    expect(stage2).toContain(
      `if command -v timeout >/dev/null 2>&1 && timeout -k 0.200s 1.700s /bin/sh -c : >/dev/null 2>&1; then timeout -k 0.200s 1.700s "$__cairn_c" '-l' 'a b'; else env -- "$__cairn_c" '-l' 'a b'; fi`,
    );
    // A projected PATH is used as is; without clear_env nothing is unset.
    const inherit = stage2Script({ ...launch, clearEnv: false, env: { PATH: "/opt/bin" } });
    expect(inherit).not.toMatch(/PATH=|unset/);
    expect(remoteScript({ ...launch, clearEnv: false })).toMatch(/^exec \/bin\/sh -c '/);
    expect(envPreamble("M", { B: "x\ny\n", A: "" })).toBe("cairn-preamble-1 M 2\nA 1\n\nB 3\nx\ny\n\n");
    expect(sshArgv({ kind: "ssh", destination: "u@h", strict_host_key_checking: "yes", connect_timeout_s: 5, ssh_command: "ssh", config_file: "/dev/null", use_agent: false, port: 2222 }, "S")).toEqual([
      "-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-p", "2222", "--", "u@h", "S",
    ]);
  });

  it("the remote script reads the env preamble exactly and leaves the rest of stdin to the command (local /bin/sh)", () => {
    const env = { A: "", B: "two\nlines\n", C: "it's \"q\" $HOME `x` \\n \\ \t end", D: "  padded  " };
    const launch = { command: "sh", argv: ["-c", 'printf "%s|" "$A" "$B" "$C" "$D"; cat'], env, clearEnv: true, timeoutMs: 5000, killGraceMs: 200 };
    const r = spawnSync("/bin/sh", ["-c", stage2Script(launch), "cairn-lane"], { input: `${envPreamble("cairn-exit-t", env)}rest of\nstdin`, env: {} });
    expect(r.stdout.toString()).toBe(`cairn-exit-t:started\n|two\nlines\n|${env.C}|  padded  |rest of\nstdin`);
    expect(r.stderr.toString()).toBe("\ncairn-exit-t:0\n");
    expect(r.status).toBe(0);
    // clear_env: the command sees the projection only, resolved on /usr/bin:/bin.
    const only = spawnSync("/bin/sh", ["-c", stage2Script({ command: "env", argv: [], env: { ONLY: "x" }, clearEnv: true, timeoutMs: 5000, killGraceMs: 200 })], { input: envPreamble("m", { ONLY: "x" }), env: {} });
    expect(only.stdout.toString()).toBe("m:started\nONLY=x\n");
    expect(parseRemoteStatus(Buffer.from("oops\n\ncairn-exit-t:137\n"), "cairn-exit-t")).toEqual({ status: { kind: "exit", status: 137 }, bytes: 18 });
    expect(parseRemoteStatus(Buffer.from("\ncairn-exit-t:launch-failed:cwd\n"), "cairn-exit-t")).toEqual({ status: { kind: "launch_failed", what: "cwd" }, bytes: 32 });
    expect(parseRemoteStatus(Buffer.from("\ncairn-exit-other:0\n"), "cairn-exit-t")).toEqual({ status: { kind: "none" }, bytes: 0 });
  });

  it("rejects what the ssh placement cannot carry safely, before any I/O", async () => {
    const l = new ProcessLane({ placement: { kind: "ssh", destination: "nobody@127.0.0.1", port: 1 } });
    expect((await exec(l, "run", { command: "A=1" })).outcome.failure).toMatchObject({ class: "protocol_framing_failed", details: { reason: "invalid_lane_request", path: "$.payload.command" } });
    expect((await exec(l, "run", { command: "true", env: { "not-an-identifier": "x" } })).outcome.failure).toMatchObject({
      details: { reason: "invalid_lane_request", path: '$.payload.env["not-an-identifier"]' },
    });
    expect((await exec(l, "run", { command: "true", env: { __cairn_m: "x" } })).outcome.failure?.details).toMatchObject({ path: "$.payload.env.__cairn_m" });
    expect((await exec(l, "run", { command: "true", env: { BIG: "x".repeat(MAX_SSH_ENV_BYTES) } })).outcome.failure?.details).toMatchObject({ path: "$.payload.env" });
  });

  it("the local ssh client gets only HOME, PATH, USER (and SSH_AUTH_SOCK with use_agent)", () => {
    const from = { HOME: "/h", PATH: "/p", USER: "u", SSH_AUTH_SOCK: "/agent", AWS_SECRET_ACCESS_KEY: "nope" };
    const base = { kind: "ssh" as const, destination: "h", strict_host_key_checking: "yes" as const, connect_timeout_s: 5, ssh_command: "ssh", config_file: "/dev/null" };
    expect(sshClientEnv({ ...base, use_agent: false }, from)).toEqual({ HOME: "/h", PATH: "/p", USER: "u" });
    expect(sshClientEnv({ ...base, use_agent: true }, from)).toEqual({ HOME: "/h", PATH: "/p", USER: "u", SSH_AUTH_SOCK: "/agent" });
  });

  it("config rejects an ssh placement on a lane kind without placements, naming the field", () => {
    expect(() => buildLane("http", { placement: { kind: "ssh", destination: "h" } })).toThrow("lane http: $.placement: unknown key");
    expect(() => buildLane("process", { placement: { kind: "ssh", destination: "-oProxyCommand=x" } })).toThrow(/\$\.placement\.destination/);
  });
});
