/**
 * A child process in its own process group (spawn `detached: true`, argv only, never a shell).
 *
 * - `terminate()` sends SIGTERM to the whole group (`kill(-pid)`), then SIGKILL after the grace.
 * - When the group leader exits, the rest of its group is SIGKILLed: an execution ends with its
 *   leader, and a background grandchild cannot outlive it or keep its pipes open.
 * - A process that escaped the group (its own `setsid`) and still holds a pipe cannot hold the
 *   execution: once the leader has exited (or the group was killed), stdio is destroyed after
 *   CLOSE_AFTER_KILL_MS.
 * - Once the leader has been reaped, `terminate()` is a no-op: its pid (the group id) may be
 *   reused, so the supervisor never signals it again, and a pending SIGKILL timer is cleared.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { CLOSE_AFTER_KILL_MS } from "./limits.js";

export interface GroupSpawnOptions {
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
}

export class GroupProcess {
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  /** The signals this supervisor sent to the group, in order. */
  readonly sent: NodeJS.Signals[] = [];
  private killTimer: ReturnType<typeof setTimeout> | undefined;
  private forceTimer: ReturnType<typeof setTimeout> | undefined;
  /** True once the leader exited (was reaped). */
  exited = false;
  private resolveClosed!: () => void;
  /** Resolves once the leader exited and stdio closed (or was destroyed). */
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.on("exit", (code, signal) => {
      this.exitCode = code;
      this.signal = signal;
      // Reap the rest of the group now (the group id cannot be reused while members remain);
      // after this the supervisor never signals the group again.
      this.signalGroup("SIGKILL", false);
      this.exited = true;
      this.clearKillTimer();
      this.scheduleForcedClose();
    });
    child.on("close", () => this.finish());
  }

  /** Spawns `command argv` in a new process group; resolves once it spawned or failed to. */
  static start(command: string, argv: readonly string[], opts: GroupSpawnOptions): Promise<GroupProcess | { error: NodeJS.ErrnoException }> {
    return new Promise((resolve) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(command, [...argv], { cwd: opts.cwd, env: opts.env, detached: true, shell: false, stdio: "pipe", windowsHide: true });
      } catch (err) {
        resolve({ error: err as NodeJS.ErrnoException });
        return;
      }
      const proc = new GroupProcess(child);
      const onError = (err: NodeJS.ErrnoException): void => resolve({ error: err });
      child.once("error", onError);
      child.once("spawn", () => {
        child.off("error", onError);
        child.on("error", () => undefined); // later errors (e.g. kill on a dead pid) are not launch failures
        resolve(proc);
      });
    });
  }

  /** True while a SIGKILL is scheduled (between `terminate()` and the leader's exit). */
  get killPending(): boolean {
    return this.killTimer !== undefined;
  }

  /** SIGTERM to the group now, SIGKILL after `graceMs`. Idempotent; a no-op once the leader exited. */
  terminate(graceMs: number): void {
    if (this.exited || this.killTimer !== undefined) return;
    this.signalGroup("SIGTERM", true);
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      if (this.exited) return;
      this.signalGroup("SIGKILL", true);
      this.scheduleForcedClose();
    }, graceMs);
  }

  private clearKillTimer(): void {
    if (this.killTimer !== undefined) clearTimeout(this.killTimer);
    this.killTimer = undefined;
  }

  private signalGroup(sig: NodeJS.Signals, record: boolean): void {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return;
    try {
      process.kill(-pid, sig);
      if (record) this.sent.push(sig);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private scheduleForcedClose(): void {
    if (this.forceTimer !== undefined) return;
    this.forceTimer = setTimeout(() => {
      this.child.stdout.destroy();
      this.child.stderr.destroy();
      this.child.stdin.destroy();
      if (this.child.exitCode !== null || this.child.signalCode !== null) this.finish();
    }, CLOSE_AFTER_KILL_MS);
  }

  private finish(): void {
    this.clearKillTimer();
    if (this.forceTimer !== undefined) clearTimeout(this.forceTimer);
    this.resolveClosed();
  }
}
