/**
 * `cairn run` interrupted by SIGINT (the BUILT cli, `npm run build` first): exit 130, and the
 * hint names the real run id. The engine reports progress (with the run id) before the first
 * pulse, so the test waits for the "executing" progress line, then sends SIGINT while a slow
 * function is still far from done. Also: the scratch files a signal removes (leaf spill,
 * ordering index, failures temp file, a put's partial file, also of `cairn store put`), and a
 * command blocked on I/O that still ends.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore, type Digest } from "../../src/index.js";
import { cairn, CLI, json, spawnCairn, TempDirs, reapAfterEach } from "./helpers.js";

/** What a shell reports after SIGINT (128 + 2) and SIGTERM (128 + 15). */
const SIGINT_EXIT = 130;
const SIGTERM_EXIT = 143;
/** Records in the input, and how long the function takes over each (ms): far longer than the test needs. */
const RECORDS = 200;
const EU_DELAY_MS = 200;
/** Time for `store get -o fifo` to reach its blocking open (not a speed assertion: any later moment blocks too). */
const BLOCK_SETTLE_MS = 500;
/** Safety net for a child that never prints (not a speed assertion). */
const WAIT_LIMIT_MS = 60_000;

const SLOW_MODULE = `export default async (x) => { await new Promise((r) => setTimeout(r, ${EU_DELAY_MS})); return x; };\n`;

const temps = new TempDirs();
const { children } = reapAfterEach(temps);

/** Whether the run of `plan` has committed a pulse (its `contains` edge of role "pulse" from the plan, batch/pulse.ts `linkToPlan`). */
function pulseCommitted(store: string, plan: Digest): boolean {
  const s = openStore({ dir: store, readOnly: true });
  try {
    return s.edgesOfType(plan, "contains").some((e) => e.role === "pulse");
  } finally {
    s.close();
  }
}

/** Resolves once a file whose name ends with `suffix` is in the store's tmp/ (polled); rejects after WAIT_LIMIT_MS. */
async function tmpFileAppears(store: string, suffix: string, stderr: () => string): Promise<void> {
  const tmp = join(store, "tmp");
  const until = Date.now() + WAIT_LIMIT_MS;
  while (!(existsSync(tmp) && readdirSync(tmp).some((f) => f.endsWith(suffix)))) {
    if (Date.now() > until) throw new Error(`no *${suffix} file in ${tmp}; stderr: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves once `text()` matches `re` (checked on every chunk of `stream`), rejects if the child exits first. */
function waitFor(child: ChildProcess, text: () => string, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no ${String(re)} within ${WAIT_LIMIT_MS} ms; stderr: ${text()}`)), WAIT_LIMIT_MS);
    const check = (): void => {
      if (!re.test(text())) return;
      cleanup();
      resolve();
    };
    const onExit = (code: number | null): void => fail(new Error(`cairn exited (${String(code)}) before printing ${String(re)}; stderr: ${text()}`));
    function fail(err: Error): void {
      cleanup();
      reject(err);
    }
    function cleanup(): void {
      clearTimeout(timer);
      child.stderr?.off("data", check);
      child.off("exit", onExit);
    }
    child.stderr?.on("data", check);
    child.once("exit", onExit);
    check();
  });
}

describe("cairn run: SIGINT, SIGTERM", () => {
  it.each([
    ["SIGINT", SIGINT_EXIT],
    ["SIGTERM", SIGTERM_EXIT],
  ] as const)("%s: ends by that signal (a shell reports %i), names the real run id in the `cairn resume` hint, leaves no --out temp file", async (signal, _shellStatus) => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "slow.mjs"), SLOW_MODULE);
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: RECORDS }, (_, i) => `{"n":${i}}\n`).join(""));
    // stderr is a pipe: plain progress lines. With --out: its temp file (.cairn-out-<pid>-<space>-<hex>.tmp)
    // must not survive the interruption.
    const { child, stdout, stderr, exited } = spawnCairn(["--store", store, "run", "slow.mjs", "--input", "in.jsonl", "--workers", "1", "--pulse-size", "5", "--out", "out.jsonl"], { cwd: dir });
    children.push(child);

    await waitFor(child, stderr, /^cairn: executing \(/m);
    child.kill(signal);
    expect(await exited).toEqual({ code: null, signal });

    const runs = json<Array<{ runId: string; state: string }>>(cairn(["--store", store, "runs", "ls", "--json"], { cwd: dir }));
    expect(runs).toHaveLength(1);
    const [only] = runs as [{ runId: string; state: string }];
    expect(only.state).toBe("incomplete");
    expect(only.runId).toMatch(/^[0-9a-f]{16}$/);
    const err = stderr();
    const lines = err.split("\n");
    expect(lines[lines.length - 1]).toBe("");
    expect(lines[lines.length - 2]).toBe(
      `cairn: interrupted; committed pulses are kept: run the same command again, or \`cairn resume ${only.runId}\`, to continue`,
    );
    expect(err).not.toContain("<runId>");
    expect(stdout()).toBe("");
    expect(readdirSync(dir).sort()).toEqual(["in.jsonl", "slow.mjs", "store"]);
  });

  it.each([
    ["executing", /^cairn: executing \(/m],
    ["merging", /^cairn: merging outputs/m],
  ] as const)("SIGINT while %s: the run's scratch files in the store's tmp/ (leaf spill, ordering index, the output's partial file) are removed", async (_phase, progress) => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    // 1 KB outputs (the output artifact passes the 64 KiB packing limit: a partial file in tmp/
    // while merging) and a reduce that takes 5 ms per output, so the merge lasts seconds; a
    // slow function so that executing does too.
    writeFileSync(
      join(dir, "mod.mjs"),
      `export default async (x) => { await new Promise((r) => setTimeout(r, 20)); return "v".repeat(1000) + x.n; };
export const initial = 0;
export function reduce(acc) { const end = Date.now() + 5; while (Date.now() < end); return acc + 1; }\n`,
    );
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: 600 }, (_, i) => `{"n":${i}}\n`).join(""));
    const { child, stderr, exited } = spawnCairn(["--store", store, "run", "mod.mjs", "--input", "in.jsonl", "--workers", "2", "--pulse-size", "20"], { cwd: dir });
    children.push(child);
    await waitFor(child, stderr, progress);
    await new Promise((r) => setTimeout(r, 300));
    // The leaf spill and the ordering index live from the run's start to its end.
    expect(readdirSync(join(store, "tmp")).some((f) => f.endsWith(".leaves"))).toBe(true);
    child.kill("SIGINT");
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
  });

  it("SIGINT while merging with more than 100 failures: the failures temp file in the store's tmp/ is removed", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    // Every other EU fails (the 101st failure, about 200 records into the merge, opens the
    // failures temp file), and a reduce of 5 ms per output makes the merge last seconds.
    writeFileSync(
      join(dir, "mod.mjs"),
      `export default (x) => { if (x.n % 2 === 1) throw new Error("odd " + x.n); return x.n; };
export const initial = 0;
export function reduce(acc) { const end = Date.now() + 5; while (Date.now() < end); return acc + 1; }\n`,
    );
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: 1200 }, (_, i) => `{"n":${i}}\n`).join(""));
    const { child, stderr, exited } = spawnCairn(["--store", store, "run", "mod.mjs", "--input", "in.jsonl", "--retries", "0", "--allow-failures"], { cwd: dir });
    children.push(child);
    await waitFor(child, stderr, /^cairn: merging outputs/m);
    await tmpFileAppears(store, ".failures.jsonl", stderr);
    child.kill("SIGINT");
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
  });

  it("SIGINT during `cairn store put` of a FIFO still being written: its partial file in the store's tmp/ is removed", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const { child, exited } = spawnCairn(["--store", store, "store", "put", "fifo"], { cwd: dir });
    children.push(child);
    // More than 64 KiB (the put spills to tmp/<pid>-<random>.part), and the FIFO kept open.
    const writer = createWriteStream(join(dir, "fifo"));
    writer.write(Buffer.alloc(200_000, 0x61));
    try {
      await tmpFileAppears(store, ".part", () => "");
      child.kill("SIGINT");
      expect(await exited).toEqual({ code: null, signal: "SIGINT" });
      expect(readdirSync(join(store, "tmp"))).toEqual([]);
    } finally {
      writer.destroy();
    }
  });

  it("with --json the interruption is one JSON error on stderr (E_INTERRUPTED, details.runId) and stdout stays empty", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "slow.mjs"), SLOW_MODULE);
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: RECORDS }, (_, i) => `{"n":${i}}\n`).join(""));
    const { child, stdout, stderr, exited } = spawnCairn(["--store", store, "--json", "run", "slow.mjs", "--input", "in.jsonl", "--workers", "1", "--pulse-size", "5"], { cwd: dir });
    children.push(child);
    // --json shows no progress: wait until the run is listed (its plan is recorded), then until
    // it has committed a pulse. The run id reaches the CLI's progress hook only once the workers
    // have started (engine.ts reports it before the first pulse), which on a loaded machine can
    // be long after the plan is listed: a fixed pause here was a race.
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let runs: Array<{ runId: string; plan: string }> = [];
    while (runs.length === 0 || !pulseCommitted(store, runs[0]?.plan as Digest)) {
      if (Date.now() > deadline) throw new Error(`the run never committed a pulse; stderr: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
      if (runs.length > 0) continue;
      const r = cairn(["--store", store, "runs", "ls", "--json"], { cwd: dir });
      if (r.status === 0) runs = JSON.parse(r.out) as Array<{ runId: string; plan: string }>;
    }
    child.kill("SIGINT");
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
    expect(stdout()).toBe("");
    const last = stderr().trimEnd().split("\n").at(-1) as string;
    const runId = (runs[0] as { runId: string }).runId;
    expect(JSON.parse(last)).toEqual({
      error: {
        code: "E_INTERRUPTED",
        message: `interrupted; committed pulses are kept: run the same command again, or \`cairn resume ${runId}\`, to continue`,
        details: { runId },
      },
    });
  });

  it("interrupted while still reading --input - (no run id yet): says no pulse was committed, never a `<runId>` placeholder", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    writeFileSync(join(dir, "slow.mjs"), SLOW_MODULE);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
    delete env.CAIRN_STORE;
    for (const asJson of [false, true]) {
      const store = join(dir, asJson ? "store-json" : "store");
      // stdin is a pipe that stays open: the run reads (ingests) until the signal.
      const child = spawn(process.execPath, [CLI, "--store", store, ...(asJson ? ["--json"] : []), "run", "slow.mjs", "--input", "-"], { cwd: dir, env, stdio: ["pipe", "pipe", "pipe"] });
      children.push(child);
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
      child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
      child.stdin.write('{"n":1}\n');
      if (asJson) {
        // --json shows no progress: the store's lock file appears once the run holds the store,
        // after its signal handler is in place; stdin never ends, so no run id can be known.
        const deadline = Date.now() + WAIT_LIMIT_MS;
        while (!existsSync(join(store, "writer.lock"))) {
          if (Date.now() > deadline) throw new Error(`the store never appeared; stderr: ${err}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } else {
        await waitFor(child, () => err, /^cairn: reading input$/m);
      }
      child.kill("SIGINT");
      expect(await exited).toEqual({ code: null, signal: "SIGINT" });
      child.stdin.destroy();
      expect(out).toBe("");
      const message = "interrupted before the run started: no pulse was committed; run the same command again to start it";
      const last = err.trimEnd().split("\n").at(-1) as string;
      if (asJson) expect(JSON.parse(last)).toEqual({ error: { code: "E_INTERRUPTED", message } });
      else expect(last).toBe(`cairn: ${message}`);
      expect(err).not.toContain("<runId>");
      expect(json<Array<unknown>>(cairn(["--store", store, "runs", "ls", "--json"], { cwd: dir }))).toEqual([]);
    }
  });

  it("a command blocked on I/O (store get -o a FIFO nobody reads) still ends on SIGINT", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "a.txt"), "alpha");
    const digest = cairn(["--store", store, "store", "put", "a.txt"], { cwd: dir }).out.trim();
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const { child, exited } = spawnCairn(["--store", store, "store", "get", digest, "-o", "fifo"], { cwd: dir });
    children.push(child);
    await new Promise((r) => setTimeout(r, BLOCK_SETTLE_MS)); // it opens the FIFO and blocks there
    child.kill("SIGINT");
    expect(await exited).toEqual({ code: null, signal: "SIGINT" });
  });
});
