/**
 * Keeps a sandbox worker's writes to file descriptor 1 off the process's stdout.
 *
 * A worker's `process.stdout` is a stream the pool forwards to the parent's stderr, so the CLI's
 * stdout stays machine-readable (`--json`). But inside a worker `process.stdout.fd` is
 * undefined, so loggers that write to the descriptor itself (pino and sonic-boom:
 * `fs.writeSync(1, …)`) reached the real stdout and corrupted `--json` output. The fd-taking
 * `node:fs` writers are wrapped so that descriptor 1 means descriptor 2 (stderr) in the worker.
 * A descriptor of stdout obtained otherwise (`fs.openSync("/dev/stdout")`, a child process) is
 * not covered.
 *
 * MUST only be installed inside a sandbox worker thread (it rewrites the `node:fs` module
 * object of the isolate), before the user module is imported.
 */
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

const STDOUT_FD = 1;
const STDERR_FD = 2;

/** The `node:fs` functions whose first argument may be a file descriptor they write to. */
const FD_WRITERS = ["write", "writeSync", "writev", "writevSync", "writeFile", "writeFileSync", "appendFile", "appendFileSync"] as const;

export function redirectStdoutFd(): void {
  const mod = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of FD_WRITERS) {
    const real = mod[name];
    if (typeof real !== "function") continue;
    const wrapped = function (this: unknown, target: unknown, ...rest: unknown[]): unknown {
      return real.call(this, target === STDOUT_FD ? STDERR_FD : target, ...rest);
    };
    // Keeps what util.promisify reads (fs.write's custom promisified result shape).
    for (const sym of Object.getOwnPropertySymbols(real)) Object.defineProperty(wrapped, sym, Object.getOwnPropertyDescriptor(real, sym) as PropertyDescriptor);
    mod[name] = wrapped;
  }
  syncBuiltinESMExports();
}
