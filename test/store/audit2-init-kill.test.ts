/**
 * Audit 2: a killed init stays recoverable. A child process creates stores one after another
 * (the built library: `CAIRN_TEST_CLI`'s build, else dist/) and is SIGKILLed part-way; whatever
 * moment the kill hit, the last directory is either no store yet (no FORMAT: readers say
 * E_STORE_MISSING) or a complete one, and the next writer opens it, stores, reads, and fsck is
 * clean. Never a FORMAT without a usable catalog, which every opener now refuses.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { CairnError, ErrorCode, openStore } from "../../src/index.js";
import { CLI } from "../cli/helpers.js";
import { makeTempDir, removeTempDirs } from "./fixtures/child.js";

afterEach(() => removeTempDirs());

/** Kills beyond the first six while none has landed inside an init. */
const MAX_EXTRA_KILLS = 24;

const LIBRARY = pathToFileURL(join(dirname(CLI), "..", "index.js")).href;

/**
 * Runs stores inits in a loop in a child until it is killed `afterMs` after it said it started.
 * It says so once its first store is made: on a loaded machine the child could otherwise still be
 * on its way to its first mkdir when the kill came (no store directory at all: nothing to check).
 */
async function initLoopKilled(base: string, afterMs: number): Promise<void> {
  const code = `
    const { openStore } = await import(${JSON.stringify(LIBRARY)});
    const dir = (i) => ${JSON.stringify(base)} + "/s" + i;
    openStore({ dir: dir(0), durability: "normal" }).close();
    process.stdout.write("go\\n");
    for (let i = 1; ; i++) openStore({ dir: dir(i), durability: "normal" }).close();
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  // Listened for from the start: a child that ended by itself fails the test, never hangs it.
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_code, signal) => r(signal)));
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the init loop exited (${String(code)}) before its first store`)));
    child.stdout.once("data", () => resolve());
  });
  await new Promise((r) => setTimeout(r, afterMs));
  child.kill("SIGKILL");
  expect(await exited, "the init loop ends only by the kill").toBe("SIGKILL");
}

describe("an init killed at any moment", () => {
  it("leaves no store or a whole one; the next writer finishes it and fsck is clean", async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (or set CAIRN_TEST_CLI)`);
    let partial = 0;
    // Six kill points, then more (at most MAX_EXTRA_KILLS) until one has hit inside an init.
    const delays = [40, 75, 110, 150, 190, 230];
    for (let k = 0; k < delays.length || (partial === 0 && k < delays.length + MAX_EXTRA_KILLS); k++) {
      const afterMs = delays[k % delays.length] as number;
      const base = makeTempDir();
      await initLoopKilled(base, afterMs);
      const dirs = readdirSync(base).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
      expect(dirs.length).toBeGreaterThan(0);
      const last = join(base, dirs[dirs.length - 1] as string);
      if (!existsSync(join(last, "FORMAT"))) {
        partial++;
        let thrown: unknown;
        try {
          openStore({ dir: last, readOnly: true }).close();
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(CairnError);
        expect((thrown as CairnError).code).toBe(ErrorCode.STORE_MISSING);
      }
      for (const d of dirs) {
        const dir = join(base, d);
        const s = openStore({ dir });
        try {
          const digest = s.putBytes(Buffer.from(`after the kill ${d}`)).digest;
          expect(s.get(digest).toString()).toBe(`after the kill ${d}`);
          expect((await s.fsck()).problems).toEqual([]);
        } finally {
          s.close();
        }
        expect(existsSync(join(dir, "FORMAT"))).toBe(true);
      }
    }
    // Most kills land inside an init (the loop does nothing else), but where is up to timing: the
    // test is void unless at least one left a store without FORMAT.
    expect(partial, "no kill landed inside an init").toBeGreaterThan(0);
  }, 120_000);
});
