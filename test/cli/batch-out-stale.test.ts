/**
 * `cairn run --out FILE` killed by SIGKILL cannot remove its temp file
 * (`.cairn-out-<pid>-<space>-<hex>.tmp` beside FILE); the next atomic `--out` into that directory
 * removes it, since its writer no longer runs (store/out-file.ts removeStaleTemps). Before, the
 * temp file stayed forever. Runs the BUILT cli (test/cli/helpers.ts).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pidSpace } from "../../src/store/out-file.js";
import { cairn, CLI, spawnCairn, TempDirs, reapAfterEach } from "./helpers.js";

/** Records in the slow input and how long the function takes over each (ms): far longer than the test needs. */
const RECORDS = 200;
const EU_DELAY_MS = 200;
/** Safety net for a child that never gets going (not a speed assertion). */
const WAIT_LIMIT_MS = 60_000;
const POLL_MS = 50;

const SLOW_MODULE = `export default async (x) => { await new Promise((r) => setTimeout(r, ${EU_DELAY_MS})); return x; };\n`;

const temps = new TempDirs();
const { children } = reapAfterEach(temps);

describe("cairn run --out after a SIGKILLed run --out", () => {
  it("the killed run's temp file stays until the next --out into the directory removes it", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "slow.mjs"), SLOW_MODULE);
    writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
    writeFileSync(join(dir, "in.jsonl"), Array.from({ length: RECORDS }, (_, i) => `{"n":${i}}\n`).join(""));
    writeFileSync(join(dir, "small.jsonl"), '{"n":1}\n');
    const { child, stderr, exited } = spawnCairn(["--store", store, "run", "slow.mjs", "--input", "in.jsonl", "--workers", "1", "--pulse-size", "5", "--out", "out.jsonl"], { cwd: dir });
    children.push(child);
    const prefix = `.cairn-out-${child.pid}-${pidSpace() as string}-`;
    const temp = (): string[] => readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith(".tmp"));
    // --out is opened before any work: wait until the run is executing, its temp file in place.
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (!/^cairn: executing \(/m.test(stderr()) || temp().length === 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the run never got going; stderr: ${stderr()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    child.kill("SIGKILL");
    expect(await exited).toEqual({ code: null, signal: "SIGKILL" });
    const [left] = temp();
    expect(left).toMatch(/^\.cairn-out-\d+-[0-9a-f]{8}-[0-9a-f]{16}\.tmp$/);
    expect(existsSync(join(dir, "out.jsonl"))).toBe(false);

    // Another run writing another file into the same directory removes it.
    const r = cairn(["--store", store, "run", "id.mjs", "--input", "small.jsonl", "--out", "small.out"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(readFileSync(join(dir, "small.out"), "utf8")).toBe('{"id":0,"output":{"n":1}}\n');
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl", "slow.mjs", "small.jsonl", "small.out", "store"]);
  });
});
