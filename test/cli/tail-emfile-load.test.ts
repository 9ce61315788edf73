/**
 * The CLI run under a low open-files limit (`ulimit -n`), through the BUILT cli (CAIRN_TEST_CLI):
 * when its command modules cannot be loaded for want of a file descriptor — Node's ESM resolver
 * then says "Cannot find package …esbuild" (ERR_MODULE_NOT_FOUND) or gives the raw EMFILE — the
 * error is E_STORE_IO "too many open files (EMFILE): raise the limit (ulimit -n)", exit 1, never
 * E_INTERNAL. Below the limit where main.ts's own static imports fail, Node itself reports the
 * EMFILE (uncaught, before any Cairn code runs): accepted here, not Cairn's to catch.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const MODULE = new URL("../../examples/zip-fips/validate.ts", import.meta.url).pathname;
/** The open-files limits tried: from where Node itself cannot start Cairn to where a small run succeeds. */
const LIMITS = Array.from({ length: 23 }, (_, i) => 20 + 2 * i);

function runUnderLimit(cwd: string, limit: number): { status: number | null; err: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.CAIRN_STORE;
  const script = `ulimit -n ${limit} && exec "$0" "$@"`;
  const args = [CLI, "--json", "--store", `st${limit}`, "run", MODULE, "--input", "in.csv", "--format", "csv", "-q"];
  const r = spawnSync("bash", ["-c", script, process.execPath, ...args], { cwd, env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, err: r.stderr };
}

describe("the CLI out of file descriptors while loading its modules", () => {
  it("E_STORE_IO naming too many open files and ulimit -n, exit 1; never E_INTERNAL or a missing package", { timeout: 240_000 }, () => {
    const d = temps.make();
    writeFileSync(join(d, "in.csv"), "ZIP,COUNTYNAME,STATE,STCOUNTYFP,CLASSFP\n36003,Autauga County,AL,01001,H1\n36006,Autauga County,AL,01001,H1\n");
    const seen = { loadProbe: 0, loadErrno: 0, ok: 0 };
    for (const limit of LIMITS) {
      const r = runUnderLimit(d, limit);
      if (r.status === 0) {
        seen.ok++;
        continue;
      }
      expect(r.status, `ulimit -n ${limit}: ${r.err}`).toBe(1);
      if (r.err.includes("Node.js v") && !r.err.startsWith("{")) {
        // main.ts's static imports failed: Node's own uncaught report, which names EMFILE.
        expect(r.err, `ulimit -n ${limit}`).toContain("EMFILE");
        continue;
      }
      const doc = JSON.parse(r.err) as { error: { code: string; message: string; details?: Record<string, unknown> } };
      expect(doc.error.code, `ulimit -n ${limit}: ${r.err}`).toBe("E_STORE_IO");
      expect(doc.error.message).toMatch(/too many open files \((?:EMFILE|ENFILE)\)/);
      if (!doc.error.message.startsWith("cannot load the command's modules: ")) continue; // later: a worker's start, an on-demand import
      expect(doc.error.message).toContain("raise the limit (ulimit -n)");
      expect(doc.error.details).toEqual({ errno: "EMFILE", reason: "open_files_exhausted" });
      if (doc.error.message.includes("(Node reported: Cannot find package")) seen.loadProbe++;
      else seen.loadErrno++;
    }
    // The range covers both ways the load fails, and a run that succeeds.
    expect(seen.loadProbe, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.loadErrno, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(seen.ok, JSON.stringify(seen)).toBeGreaterThan(0);
  });
});
