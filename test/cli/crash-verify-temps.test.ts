/**
 * `cairn verify`'s scratch databases in the OS temp directory (src/batch/verify-input.ts): named
 * by the shared temp-file rule (`cairn-verify-input-` / `cairn-verify-order-` +
 * `<pid>-<pid space>-<16 hex>.tmp`, store/temp-files.ts, ARCHITECTURE §5.16), removed when a
 * signal ends verify (the CLI's exitOnSignal), and — a SIGKILLed verify's — by the next verify
 * once their writer provably no longer runs. Through the BUILT cli (CAIRN_TEST_CLI), with TMPDIR
 * pointing at a directory of the test's own.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pidSpace } from "../../src/store/temp-files.js";
import { cairn, CLI, json, reapAfterEach, TempDirs } from "./helpers.js";

const temps = new TempDirs();
const { children } = reapAfterEach(temps);

/** Records of the run verified while a signal comes: enough that each scratch database lives far longer than the signal takes. */
const RECORDS = 60_000;
/** Safety net for a scratch file that never appears (not a speed assertion). */
const WAIT_LIMIT_MS = 120_000;

const SPACE = pidSpace() as string;
/** A pid space that is not this process's. */
const OTHER = SPACE === "00000000" ? "00000001" : "00000000";
const HEX = "0123456789abcdef";

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", "0"]).pid as number;
}

/** A store holding one finished run over `records` records, and a private TMPDIR. */
function finishedRun(records: number): { dir: string; store: string; tmp: string; runId: string } {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const dir = temps.make();
  const store = join(dir, "store");
  const tmp = join(dir, "tmp");
  mkdirSync(tmp);
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  writeFileSync(join(dir, "in.jsonl"), Array.from({ length: records }, (_, i) => `{"n":${i}}\n`).join(""));
  const r = cairn(["--store", store, "--json", "run", "id.mjs", "--input", "in.jsonl"], { cwd: dir, env: { TMPDIR: tmp } });
  if (r.status !== 0) throw new Error(`cairn run exited ${String(r.status)}: ${r.err}`);
  return { dir, store, tmp, runId: json<{ runId: string }>(r).runId };
}

describe("cairn verify: scratch databases in $TMPDIR", () => {
  it.each([
    ["SIGINT", "cairn-verify-input-"],
    ["SIGINT", "cairn-verify-order-"],
    ["SIGTERM", "cairn-verify-order-"],
  ] as const)("%s while its %s… database exists: verify ends by that signal and leaves nothing in $TMPDIR", async (signal, prefix) => {
    const { dir, store, tmp, runId } = finishedRun(RECORDS);
    const w = watch(tmp);
    try {
      const child = spawn(process.execPath, [CLI, "--store", store, "verify", runId], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: "1", TMPDIR: tmp },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, sig) => resolve({ code, signal: sig })));
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${prefix}… file appeared in ${tmp}; saw ${seen.join(", ")}; stderr: ${err}`)), WAIT_LIMIT_MS);
        w.on("change", (_type, name) => {
          if (typeof name !== "string") return;
          seen.push(name);
          if (new RegExp(`^${prefix}${String(child.pid)}-${SPACE}-[0-9a-f]{16}\\.tmp$`).test(name)) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then(({ code }) => reject(new Error(`verify exited (${String(code)}) before a ${prefix}… file appeared; stderr: ${err}`)));
      });
      child.kill(signal);
      // Ended by the signal (a shell reports 128 + its number), not finished first.
      expect(await exited).toEqual({ code: null, signal });
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      w.close();
    }
  }, 240_000);

  it("the next verify removes a dead writer's scratch files (by the shared rule) and keeps a live writer's, another pid space's and other names", () => {
    const { dir, store, tmp, runId } = finishedRun(3);
    const dead = deadPid();
    const removed = [
      `cairn-verify-input-${dead}-${SPACE}-${HEX}.tmp`,
      `cairn-verify-input-${dead}-${SPACE}-${HEX}.tmp-journal`,
      `cairn-verify-order-${dead}-${SPACE}-${HEX}.tmp`,
    ];
    const kept = [
      // this test process runs: a live writer
      `cairn-verify-input-${process.pid}-${SPACE}-${HEX}.tmp`,
      `cairn-verify-order-${process.pid}-${SPACE}-${HEX}.tmp-journal`,
      // another container, host or boot: its pid says nothing here
      `cairn-verify-order-${dead}-${OTHER}-${HEX}.tmp`,
      // the names of older builds (no pid), other prefixes, not exactly the scheme
      `cairn-verify-input-${runId}-0123abcd.sqlite`,
      `cairn-verify-${runId}-0123abcd.order.sqlite`,
      `cairn-verify-other-${dead}-${SPACE}-${HEX}.tmp`,
      `xcairn-verify-input-${dead}-${SPACE}-${HEX}.tmp`,
      `cairn-verify-input-${dead}-${SPACE}-${HEX}.tmp.bak`,
      `cairn-verify-input-0${dead}-${SPACE}-${HEX}.tmp`,
    ];
    for (const n of [...removed, ...kept]) writeFileSync(join(tmp, n), "x");
    // A directory of a dead writer's name is not a scratch file.
    const dirName = `cairn-verify-order-${dead}-${SPACE}-fedcba9876543210.tmp`;
    mkdirSync(join(tmp, dirName));

    const r = cairn(["--store", store, "verify", runId], { cwd: dir, env: { TMPDIR: tmp } });
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    expect(readdirSync(tmp).sort()).toEqual([...kept, dirName].sort());
  });
});
