/**
 * A child process driven by its stdout lines, for tests that run part of the engine in another
 * process (store writers, data-root lock holders): `node [flags] --import tsx <script> <args…>`,
 * complete lines collected as they arrive, waiting for a line or a condition, SIGKILL, and a
 * registry so an afterEach can always kill what a test left running.
 */
import { spawn, type ChildProcess } from "node:child_process";

/** Children started by the running test file that may still be alive. */
const live = new Set<LineChild>();

export class LineChild {
  readonly proc: ChildProcess;
  /** Complete stdout lines received so far (a partial last line is held back). */
  readonly lines: string[] = [];
  stderr = "";
  private partial = "";
  private waiters: Array<() => void> = [];
  /** Resolves with the exit code / signal once the process has exited and its pipes are drained. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;

  /** `nodeFlags` go before `--import tsx` (e.g. `--expose-gc`). */
  constructor(script: string, args: readonly string[], nodeFlags: readonly string[] = []) {
    this.proc = spawn(process.execPath, [...nodeFlags, "--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(this);
    this.proc.stdout?.setEncoding("utf8");
    this.proc.stdout?.on("data", (s: string) => {
      const parts = (this.partial + s).split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
      this.wake();
    });
    this.proc.stderr?.setEncoding("utf8");
    this.proc.stderr?.on("data", (s: string) => {
      this.stderr += s;
    });
    this.exited = new Promise((resolve) => {
      this.proc.on("close", (code, signal) => {
        this.done = true;
        live.delete(this);
        this.wake();
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Waits until `cond()` holds (re-checked on every stdout chunk and every `pollMs`). */
  async waitFor(what: string, cond: () => boolean, timeoutMs = 20_000, pollMs = 0): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.done) throw new Error(`child exited while waiting for ${what}; stderr:\n${this.stderr}\nstdout tail:\n${this.lines.slice(-5).join("\n")}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs > 0 ? Math.min(pollMs, left) : left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForLine(line: string, timeoutMs?: number): Promise<void> {
    return this.waitFor(`line ${JSON.stringify(line)}`, () => this.lines.includes(line), timeoutMs);
  }

  /** SIGKILLs the child and waits until it is gone and its output is drained. */
  async kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.done) this.proc.kill("SIGKILL");
    return this.exited;
  }
}

/** Kills every child still alive (call from afterEach). */
export async function killLineChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}
