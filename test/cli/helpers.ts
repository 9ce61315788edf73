/**
 * Runs the BUILT cli (dist/cli/main.js) in a child process. `npm test` builds first.
 * `CAIRN_TEST_CLI` points the CLI suites at another build's `cli/main.js` (e.g. a private
 * `tsc --outDir`), for runs that must not rebuild dist/.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { processRuns } from "../../src/store/fsutil.js";

export const CLI = process.env.CAIRN_TEST_CLI ?? fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface RunResult {
  status: number | null;
  /** Raw stdout bytes. */
  stdout: Buffer;
  /** stdout as UTF-8. */
  out: string;
  /** stderr as UTF-8. */
  err: string;
}

export interface RunOptions {
  cwd: string;
  input?: Buffer | string;
  env?: Record<string, string | undefined>;
}

export function cairn(args: string[], opts: RunOptions): RunResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", CAIRN_STORE: undefined, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    env: env as NodeJS.ProcessEnv,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, out: r.stdout.toString("utf8"), err: r.stderr.toString("utf8") };
}

/** The error object of a `--json` failure: stderr is exactly one `{"error": {...}}` document. */
export function jsonError(r: RunResult): { code: string; message: string; details?: Record<string, unknown> } {
  return (JSON.parse(r.err) as { error: { code: string; message: string; details?: Record<string, unknown> } }).error;
}

/** Parses stdout as exactly one JSON value. */
export function json<T = unknown>(r: RunResult): T {
  return JSON.parse(r.out) as T;
}

export function sha256Hex(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The object file of a stored (unpacked) artifact under the store `store`. */
export function objectFileOf(store: string, digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(store, "objects", hex.slice(0, 2), hex.slice(2));
}

/** Flips one bit of the middle byte of `file` (made writable first): tampering verify must catch. */
export function flipMiddleByte(file: string): void {
  chmodSync(file, 0o644);
  const bytes = readFileSync(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  writeFileSync(file, bytes);
}

/** Fresh temp directories, removed by `cleanup()`. */
export class TempDirs {
  private readonly dirs: string[] = [];
  make(): string {
    const d = mkdtempSync(join(tmpdir(), "cairn-cli-"));
    this.dirs.push(d);
    return d;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** A `cairn` child process started by `spawnCairn`, with what it printed so far. */
export interface CairnChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the built CLI asynchronously (for tests that talk to it or signal it while it runs),
 * with NO_COLOR and without `unset` variables (CAIRN_STORE unless given); stdout and stderr
 * are pipes, collected as text.
 */
export function spawnCairn(args: string[], opts: { cwd: string; unset?: string[] }): CairnChild {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  for (const k of opts.unset ?? ["CAIRN_STORE"]) delete env[k];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** A `cairn serve` child that is listening, and its URL. */
export interface ServingCairn extends CairnChild {
  url: string;
}

/** Longest wait for `cairn serve` to print its URL (a safety net, not a speed assertion). */
const SERVE_LISTEN_LIMIT_MS = 20_000;

/**
 * Starts `cairn [globals] serve --port 0 --host 127.0.0.1 <args>` in `cwd` (without CAIRN_STORE,
 * PGS_WORKSPACE, PGS_DATA_ROOT) and resolves once it prints the URL it listens on; rejects if it
 * exits first. `track` receives the child at once, for the caller's cleanup.
 */
export async function serveCairn(cwd: string, args: string[], track: (c: ChildProcess) => void, globals: string[] = []): Promise<ServingCairn> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const c = spawnCairn([...globals, "serve", "--port", "0", "--host", "127.0.0.1", ...args], { cwd, unset: ["CAIRN_STORE", "PGS_WORKSPACE", "PGS_DATA_ROOT"] });
  track(c.child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within ${SERVE_LISTEN_LIMIT_MS} ms; stderr: ${c.stderr()}`)), SERVE_LISTEN_LIMIT_MS);
    const check = (): void => {
      const m = /cairn: listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(c.stderr());
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    c.child.stderr?.on("data", check);
    void c.exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`cairn serve exited (${code}) before listening; stderr: ${c.stderr()}`));
    });
  });
  return { ...c, url };
}

/** A plane request for the example node's process lane, in exactly the shape (no request_id; acceptable_attestation without a version). */
export const PLANE_PROCESS_REQUEST = {
  contract_version: 1,
  lane_id: "process",
  operation: "run",
  idempotency_key: "k1",
  payload: { command: "echo", argv: ["ok"], timeout_ms: 5000 },
  acceptable_attestation: { classes: ["local-process-weak"] },
};

/**
 * Registers an afterEach that SIGKILLs the children and pids a test left running (pushed into
 * the returned lists) and removes `temps`' directories.
 */
export function reapAfterEach(temps: TempDirs): { children: ChildProcess[]; pids: number[] } {
  const children: ChildProcess[] = [];
  const pids: number[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const p of pids.splice(0)) if (processRuns(p)) process.kill(p, "SIGKILL");
    temps.cleanup();
  });
  return { children, pids };
}

/**
 * `cairn --store <store> …` run in `cwd`, both read from `where()` at each call (a test file's
 * `beforeEach` sets them): `run` returns the result, `ok` throws unless the command exits 0.
 */
export function storeCli(where: () => { cwd: string; store: string }): { run: (args: string[]) => RunResult; ok: (args: string[]) => RunResult } {
  const run = (args: string[]): RunResult => {
    const { cwd, store } = where();
    return cairn(["--store", store, ...args], { cwd });
  };
  const ok = (args: string[]): RunResult => {
    const r = run(args);
    if (r.status !== 0) throw new Error(`cairn ${args.join(" ")} exited ${String(r.status)}: ${r.err}`);
    return r;
  };
  return { run, ok };
}

/**
 * The child processes a test file starts (push them): after each test, every one still running
 * is SIGKILLed and waited for, then `after` runs (e.g. removing the directories they used).
 */
/**
 * Another process holding `<store>/writer.lock` (an EXCLUSIVE transaction, as store/lock.ts takes
 * it) until killed; pushed on `children` (killChildrenAfterEach) so the test's end kills it.
 */
export async function holdWriterLock(store: string, children: ChildProcess[]): Promise<ChildProcess> {
  const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
  const holder = spawn(process.execPath, ["-e", `const D = require(${JSON.stringify(sqlite)}); const db = new D(process.argv[1]); db.exec("BEGIN EXCLUSIVE"); console.log("held"); setInterval(() => {}, 1000);`, join(store, "writer.lock")], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(holder);
  await new Promise<void>((res, rej) => {
    holder.stdout?.once("data", () => res());
    holder.once("exit", (c) => rej(new Error(`lock holder exited ${String(c)}`)));
  });
  return holder;
}

export function killChildrenAfterEach(after?: () => void): ChildProcess[] {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGKILL");
        await new Promise((r) => c.once("exit", r));
      }
    }
    after?.();
  });
  return children;
}
