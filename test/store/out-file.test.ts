/**
 * OutFile (src/store/out-file.ts): the temp files of atomic writes are named after their
 * writer's pid, and the next atomic write into a directory removes those of writers that no
 * longer run (a SIGKILLed `cairn run --out` cannot clean up), never those of live ones.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { withOutFile } from "../../src/store/out-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(p.stdout);
}

describe("stale temp files of atomic writes", () => {
  it("are removed by the next atomic write into the directory; a live writer's and foreign names are kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-outfile-"));
    dirs.push(dir);
    const stale = `.cairn-out-${deadPid()}-0123456789abcdef.tmp`;
    const live = `.cairn-out-${process.ppid}-fedcba9876543210.tmp`; // our parent runs
    const legacy = ".cairn-out-0123456789abcdef.tmp"; // an older name without a pid
    for (const n of [stale, live, legacy]) writeFileSync(join(dir, n), "partial");
    await withOutFile(join(dir, "out.txt"), async (out) => {
      // While writing, this process's own temp file is there, named after its pid.
      expect(readdirSync(dir).some((n) => n.startsWith(`.cairn-out-${process.pid}-`))).toBe(true);
      await out?.write(Buffer.from("done"));
    });
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("done");
    expect(readdirSync(dir).sort()).toEqual([live, legacy, "out.txt"].sort());
  });
});
