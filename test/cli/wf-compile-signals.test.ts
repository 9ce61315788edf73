/**
 * `cairn wf compile --out F --store S` ended by SIGTERM / SIGINT while it waits for S's writer lock
 * (held by another process), through the BUILT cli (CAIRN_TEST_CLI): like the other writing
 * commands (signals.ts `exitOnSignal`) it removes F's staged temp file and ends by the signal
 * (a shell reports 143 / 130), at once rather than when --wait runs out; F is not created and a
 * store that did not exist is not created (no FORMAT, no catalog). Earlier builds had no handler:
 * a new store is created after F is staged, so a signal during its lock wait left
 * `F.<pid>-<space>-<hex>.tmp` behind.
 */
import { type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { cairn, jsonError, holdWriterLock, killChildrenAfterEach, spawnCairn, TempDirs } from "./helpers.js";

const temps = new TempDirs();
const children = killChildrenAfterEach(() => temps.cleanup());

const EXAMPLES = new URL("../../examples/workflows/", import.meta.url).pathname;
/** Far longer than the test: a command still waiting for the lock when signalled ends only by the handler. */
const LONG_WAIT = "600s";
/** How long a signalled compile may take to end (its lock wait is LONG_WAIT). */
const END_WITHIN_MS = 15_000;

/** Another process holding `<store>/writer.lock` until killed (helpers.ts `holdWriterLock`). */
const holdLock = (store: string): Promise<ChildProcess> => holdWriterLock(store, children);

/** The staged temp files of --out out.json in `dir`. */
function outTemps(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith("out.json."));
}

async function endsBy(c: ReturnType<typeof spawnCairn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timeout = sleep(END_WITHIN_MS).then(() => ({ code: -1, signal: "timed out" as NodeJS.Signals }));
  return Promise.race([c.exited, timeout]);
}

describe("wf compile on a signal during the store's lock wait", () => {
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    it(`a store not created yet (its lock held), ${sig}: ends by ${sig}, no temp file, no F, no new store`, { timeout: 60_000 }, async () => {
      const d = temps.make();
      const st = join(d, "st");
      mkdirSync(st);
      await holdLock(st);
      const compile = spawnCairn(["--store", "st", "--wait", LONG_WAIT, "wf", "compile", EXAMPLES, "--out", "out.json"], { cwd: d });
      children.push(compile.child);
      // A new store is created after --out is staged: its temp file is there while the compile waits.
      for (let i = 0; i < 300 && outTemps(d).length === 0; i++) await sleep(50);
      expect(outTemps(d)).toHaveLength(1);
      compile.child.kill(sig);
      expect(await endsBy(compile)).toEqual({ code: null, signal: sig });
      expect(outTemps(d)).toEqual([]);
      expect(existsSync(join(d, "out.json"))).toBe(false);
      // No store: neither FORMAT nor a catalog (openStore makes only the empty layout folders before the lock).
      expect(readdirSync(st).filter((n) => n === "FORMAT" || n.startsWith("catalog"))).toEqual([]);
      expect(compile.stdout()).toBe("");
    });
  }

  it("an existing store (its lock held), SIGTERM: ends by SIGTERM at once, no temp file, no F", { timeout: 60_000 }, async () => {
    const d = temps.make();
    expect(cairn(["--store", "st", "init"], { cwd: d }).status).toBe(0);
    await holdLock(join(d, "st"));
    const compile = spawnCairn(["--store", "st", "--wait", LONG_WAIT, "wf", "compile", EXAMPLES, "--out", "out.json"], { cwd: d });
    children.push(compile.child);
    await sleep(2_000); // started, compiled and waiting (a signal earlier must end it the same way)
    compile.child.kill("SIGTERM");
    expect(await endsBy(compile)).toEqual({ code: null, signal: "SIGTERM" });
    expect(outTemps(d)).toEqual([]);
    expect(existsSync(join(d, "out.json"))).toBe(false);
  });

  it("the lock kept past --wait: E_STORE_LOCKED naming the wait, exit 1, no temp file, no F, no new store", { timeout: 60_000 }, async () => {
    const d = temps.make();
    const st = join(d, "st");
    mkdirSync(st);
    await holdLock(st);
    const r = cairn(["--json", "--store", "st", "--wait", "300ms", "wf", "compile", EXAMPLES, "--out", "out.json"], { cwd: d });
    expect([r.status, r.out]).toEqual([1, ""]);
    const e = jsonError(r);
    expect(e).toMatchObject({ code: "E_STORE_LOCKED", details: { waitedMs: 300 } });
    expect(e.message).toMatch(/^store \S+st is locked by another writer \(waited 300 ms\); retry when it finishes$/);
    expect(outTemps(d)).toEqual([]);
    expect(existsSync(join(d, "out.json"))).toBe(false);
    expect(readdirSync(st).filter((n) => n === "FORMAT" || n.startsWith("catalog"))).toEqual([]);
  });
});
