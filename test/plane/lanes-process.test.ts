import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { GroupProcess } from "../../src/plane/lanes/group-process.js";
import { ProcessLane } from "../../src/plane/lanes/process.js";
import { exec, harness, isDead, metrics, request } from "./fixtures/lanes/harness.js";

const FIX = fileURLToPath(new URL("./fixtures/lanes/", import.meta.url));
const lane = new ProcessLane();

/** Polls for `path` (a child's readiness sentinel), for at most `ms`. */
async function waitForFile(path: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * How long a process signalled with its group may take to be gone (not a speed assertion: far
 * below the 30 s its `sleep 30` would last if the signal had missed it). A signalled process
 * still has to be scheduled to die, which a loaded machine can put off past a fixed pause.
 */
const GONE_LIMIT_MS = 10_000;

/** Whether `pid` is gone (or a zombie) within `ms`, polled. */
async function diesWithin(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!isDead(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return isDead(pid);
}

describe("process lane: raw facts", () => {
  it("exit 0 is succeeded with stdout/stderr", async () => {
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "printf out; printf err >&2"] });
    expect(outcome).toEqual({
      status: "succeeded",
      output: { exit_code: 0, signal: null, stdout: "out", stderr: "err", stdout_truncated: false, stderr_truncated: false },
      metrics: metrics(30_000, { output_bytes: 6, output_truncated: false }),
    });
  });

  it("a non-zero exit is failed with NO failure class", async () => {
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "echo nope; exit 3"] });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toBeUndefined();
    expect(outcome.output).toEqual({ exit_code: 3, signal: null, stdout: "nope\n", stderr: "", stdout_truncated: false, stderr_truncated: false });
  });

  it("death by a signal the lane did not send is a raw fact too", async () => {
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "kill -USR1 $$"] });
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toBeUndefined();
    expect(outcome.output).toMatchObject({ exit_code: null, signal: "SIGUSR1" });
  });

  it("passes stdin and closes it", async () => {
    const { outcome } = await exec(lane, "run", { command: "cat", stdin: "hello\nworld" });
    expect(outcome.output).toMatchObject({ exit_code: 0, stdout: "hello\nworld" });
    const empty = await exec(lane, "run", { command: "cat" });
    expect(empty.outcome.output).toMatchObject({ exit_code: 0, stdout: "" });
  });

  it("runs in cwd", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-lane-cwd-"));
    const { outcome } = await exec(lane, "run", { command: "pwd", cwd: dir });
    expect(outcome.output).toMatchObject({ exit_code: 0, stdout: `${dir}\n` });
  });

  it("env projection layers over the node env; clear_env leaves only the projection", async () => {
    process.env.CAIRN_LANE_TEST_INHERITED = "from-node";
    try {
      const layered = await exec(lane, "run", { command: "sh", argv: ["-c", 'echo "$CAIRN_LANE_TEST_INHERITED/$PROJ"'], env: { PROJ: "p1" } });
      expect(layered.outcome.output).toMatchObject({ stdout: "from-node/p1\n" });
      const cleared = await exec(lane, "run", { command: "/usr/bin/env", env: { ONLY: "this" }, clear_env: true });
      expect(cleared.outcome.output).toMatchObject({ exit_code: 0, stdout: "ONLY=this\n" });
      const sealed = new ProcessLane({ inherit_env: false });
      const forced = await exec(sealed, "run", { command: "/usr/bin/env", env: { ONLY: "that" } });
      expect(forced.outcome.output).toMatchObject({ exit_code: 0, stdout: "ONLY=that\n" });
    } finally {
      delete process.env.CAIRN_LANE_TEST_INHERITED;
    }
  });

  it("caps each stream at max_output_bytes, keeps draining, flags truncation", async () => {
    const small = new ProcessLane({ max_output_bytes: 10 });
    const { outcome } = await exec(small, "run", { command: "sh", argv: ["-c", "head -c 100000 /dev/zero | tr '\\0' a; printf 0123456789abc >&2; exit 4"] });
    expect(outcome).toEqual({
      status: "failed",
      output: { exit_code: 4, signal: null, stdout: "aaaaaaaaaa", stderr: "0123456789", stdout_truncated: true, stderr_truncated: true },
      metrics: metrics(30_000, { output_bytes: 20, output_truncated: true }),
    });
  });
});

describe("process lane: classified failures", () => {
  it("a missing command is launch_failed", async () => {
    const { outcome } = await exec(lane, "run", { command: "cairn-no-such-command-xyz" });
    expect(outcome.status).toBe("failed");
    expect(outcome.output).toBeNull();
    expect(outcome.failure).toMatchObject({ class: "launch_failed", details: { reason: "command_not_found", code: "ENOENT", command: "cairn-no-such-command-xyz" } });
  });

  it("a non-executable file is launch_failed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-lane-noexec-"));
    writeFileSync(join(dir, "script"), "#!/bin/sh\necho hi\n", { mode: 0o644 });
    const { outcome } = await exec(lane, "run", { command: join(dir, "script") });
    expect(outcome.failure).toMatchObject({ class: "launch_failed", details: { reason: "command_not_executable", code: "EACCES" } });
  });

  it("a missing cwd is launch_failed", async () => {
    const { outcome } = await exec(lane, "run", { command: "pwd", cwd: "/nonexistent/cairn-cwd" });
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: { class: "launch_failed", message: "cwd /nonexistent/cairn-cwd is not an existing directory", details: { reason: "cwd_missing", cwd: "/nonexistent/cairn-cwd" } },
      metrics: metrics(30_000),
    });
  });

  it("timeout TERMs the whole process group (grandchild included) and keeps partial output", async () => {
    // The script prints at once and then waits forever: only the timeout ends it, and the
    // timeout leaves seconds for the shell to start on a busy machine.
    const started = Date.now();
    const { outcome } = await exec(lane, "run", { command: join(FIX, "grandchild.sh"), timeout_ms: 2000 });
    const elapsed = Date.now() - started;
    expect(outcome.status).toBe("failed");
    expect(outcome.failure).toEqual({ class: "timeout", message: "no result within 2000 ms", details: { timeout_ms: 2000 } });
    const out = outcome.output as { stdout: string; stderr: string; signal: string; exit_code: null };
    const m = /^grandchild (\d+)\n$/.exec(out.stdout);
    expect(m).not.toBeNull();
    expect(out.stderr).toBe("partial err\n");
    expect(out.signal).toBe("SIGTERM");
    expect(out.exit_code).toBeNull();
    expect(outcome.metrics.timeout_ms).toBe(2000);
    expect(elapsed).toBeLessThan(10_000);
    // The grandchild shared the group: it must be gone, not orphaned (its sleep would last 30 s).
    expect(await diesWithin(Number(m?.[1]), GONE_LIMIT_MS)).toBe(true);
  });

  it("a command ignoring SIGTERM is SIGKILLed after the grace", async () => {
    // The stop comes only once the command has installed its trap (it touches a file then).
    const graceful = new ProcessLane({ kill_grace_ms: 100 });
    const ready = join(mkdtempSync(join(tmpdir(), "cairn-lane-ready-")), "ready");
    const h = harness();
    const pending = graceful.execute(request("process", "run", { command: "sh", argv: ["-c", `trap '' TERM; echo ready; : > '${ready}'; while :; do sleep 0.05; done`], timeout_ms: 60_000 }), h.ctx);
    await waitForFile(ready);
    h.controller.abort();
    const outcome = await pending;
    expect(outcome.failure?.class).toBe("cancellation");
    expect(outcome.output).toMatchObject({ exit_code: null, signal: "SIGKILL", stdout: "ready\n" });
  });

  it("background stragglers are killed when the leader exits (they cannot hold the execution)", async () => {
    const { outcome } = await exec(lane, "run", { command: "sh", argv: ["-c", "sleep 30 & echo $!"], timeout_ms: 5000 });
    expect(outcome.status).toBe("succeeded");
    const pid = Number((outcome.output as { stdout: string }).stdout.trim());
    expect(await diesWithin(pid, GONE_LIMIT_MS)).toBe(true); // its sleep would last 30 s
  });

  it("ctx.signal abort is cancellation, killing the group", async () => {
    const ready = join(mkdtempSync(join(tmpdir(), "cairn-lane-ready-")), "ready");
    const h = harness();
    const pending = lane.execute(request("process", "run", { command: "sh", argv: ["-c", `echo started; : > '${ready}'; sleep 30`] }), h.ctx);
    await waitForFile(ready);
    h.controller.abort();
    const outcome = await pending;
    expect(outcome.failure).toEqual({ class: "cancellation", message: "cancelled" });
    expect(outcome.output).toMatchObject({ signal: "SIGTERM", stdout: "started\n" });
  });

  it("an already-aborted signal never launches", async () => {
    const h = harness();
    h.controller.abort();
    const outcome = await lane.execute(request("process", "run", { command: "sh", argv: ["-c", "echo should-not-run"] }), h.ctx);
    expect(outcome).toEqual({ status: "failed", output: null, failure: { class: "cancellation", message: "cancelled before launch" }, metrics: metrics(30_000) });
  });

  it("invalid payloads and operations are protocol_framing_failed naming the field", async () => {
    const unknownKey = await exec(lane, "run", { command: "echo", shell: true });
    expect(unknownKey.outcome.failure).toEqual({
      class: "protocol_framing_failed",
      message: "invalid lane request: $.payload.shell: unknown key",
      details: { reason: "invalid_lane_request", path: "$.payload.shell" },
    });
    const relCwd = await exec(lane, "run", { command: "echo", cwd: "rel" });
    expect(relCwd.outcome.failure?.details).toEqual({ reason: "invalid_lane_request", path: "$.payload.cwd" });
    const op = await exec(lane, "spawn", { command: "echo" });
    expect(op.outcome.failure?.message).toBe("invalid lane request: $.operation: must be one of run");
    const wrongLane = await lane.execute(request("http", "run", { command: "echo" }), harness().ctx);
    expect(wrongLane.failure?.details).toEqual({ reason: "invalid_lane_request", path: "$.lane_id" });
  });

  it("the timeout is the payload's, capped by the lane's max_timeout_ms", async () => {
    const capped = new ProcessLane({ max_timeout_ms: 150, default_timeout_ms: 100 });
    const dflt = await exec(capped, "run", { command: "true" });
    expect(dflt.outcome.metrics.timeout_ms).toBe(100);
    const over = await exec(capped, "run", { command: "sleep", argv: ["5"], timeout_ms: 60_000 });
    expect(over.outcome.failure?.class).toBe("timeout");
    expect(over.outcome.metrics.timeout_ms).toBe(150);
  });

  it("a request for another placement is placement_unavailable (no fallback)", async () => {
    const { outcome } = await exec(lane, "run", { command: "echo" }, { kind: "ssh" });
    expect(outcome).toEqual({
      status: "failed",
      output: null,
      failure: {
        class: "placement_unavailable",
        message: "lane process runs on local, not ssh",
        details: { lane_id: "process", requested: "ssh", placement: "local", supported: ["local"] },
      },
      metrics: metrics(0),
    });
    const local = await exec(lane, "run", { command: "true" }, { kind: "local" });
    expect(local.outcome.status).toBe("succeeded");
  });

  it("terminate() after the leader was reaped signals nothing and arms no timer", async () => {
    const started = await GroupProcess.start("true", [], { env: {} });
    if (!(started instanceof GroupProcess)) throw started.error;
    await started.closed;
    expect(started.exited).toBe(true);
    started.terminate(50);
    expect(started.killPending).toBe(false);
    expect(started.sent).toEqual([]);
  });

  it("the leader exiting during the kill grace clears the pending SIGKILL", async () => {
    const ready = join(mkdtempSync(join(tmpdir(), "cairn-lane-ready-")), "ready");
    const started = await GroupProcess.start("sh", ["-c", `trap 'exit 0' TERM; : > '${ready}'; while :; do sleep 0.05; done`], { env: process.env });
    if (!(started instanceof GroupProcess)) throw started.error;
    await waitForFile(ready);
    started.terminate(60_000);
    expect(started.killPending).toBe(true);
    await started.closed;
    expect(started.killPending).toBe(false);
    expect(started.sent).toEqual(["SIGTERM"]);
  });

  it("reports its capabilities", () => {
    expect(lane.capabilities()).toEqual({ contract_version: 1, lane_id: "process", protocols: ["process"], surfaces: ["local_subprocess"], supports_execute: true, supports_stream: false });
  });
});
