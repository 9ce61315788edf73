/**
 * The `--out` checks of `cairn run` / `cairn resume` (engine.ts `checkOutTarget`,
 * `refuseMissingOutDirectory`, `refuseOutHoldingStore`; batch-commands.ts), fixed 2026-11-28:
 *  - `resume <unknown run> --out <dir | missing parent | inside the store>` is E_NOT_FOUND for the
 *    run (exit 1), the more basic error: before, the CLI checked --out first (E_USAGE / E_STORE_IO),
 *    and with no store at all said E_USAGE about --out rather than E_STORE_MISSING;
 *  - an --out that is a dangling symlink whose target's directory does not exist, or a symlink
 *    loop, is refused before the store is created and before anything runs (E_STORE_IO, as its
 *    open gives): before, the dangling one failed only once the run had executed, the loop once
 *    the store was created; `resume` of an unfinished run executed it before failing. A dangling
 *    symlink into an existing directory is written through (the target is created), as before;
 *  - `run --store SX/inner --out SX` (SX not there yet) is E_USAGE before the store is created:
 *    before, the store was created, then --out refused as a directory, leaving the store behind.
 * Through the BUILT cli (CAIRN_TEST_CLI).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const UNKNOWN = "0123456789abcdef";

function workDir(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "id.mjs"), "export default (x) => x;\n");
  writeFileSync(join(dir, "in.jsonl"), '{"n":1}\n{"n":2}\n');
  mkdirSync(join(dir, "results"));
  return dir;
}

describe("resume of an unknown run: the run is reported before --out", () => {
  it("E_NOT_FOUND, exit 1, whatever is wrong with --out", () => {
    const dir = workDir();
    symlinkSync("nodir/x", join(dir, "dangling"));
    expect(cairn(["--store", "st", "init"], { cwd: dir }).status).toBe(0);
    const notFound = `cairn: run ${UNKNOWN} not found in store ${join(dir, "st")} [E_NOT_FOUND]\n`;
    for (const out of ["results", "fresh/", "nodir/x", "st/x", "dangling"]) {
      const r = cairn(["--store", "st", "resume", UNKNOWN, "--out", out], { cwd: dir });
      expect([out, r.status, r.out, r.err]).toEqual([out, 1, "", notFound]);
    }
    const j = cairn(["--store", "st", "--json", "resume", UNKNOWN, "--out", "results"], { cwd: dir });
    expect(j.status).toBe(1);
    expect((JSON.parse(j.err) as { error: { code: string } }).error.code).toBe("E_NOT_FOUND");
    // No store at all: that is said (the store is not created by resume).
    const none = cairn(["--store", "nost", "resume", UNKNOWN, "--out", "results"], { cwd: dir });
    expect([none.status, none.err]).toEqual([1, `cairn: no Cairn store at ${join(dir, "nost")} (create one with \`cairn init\`, or openStore({ dir, create: true })) [E_STORE_MISSING]\n`]);
    expect(existsSync(join(dir, "nost"))).toBe(false);
    // Argument errors still come first: a malformed run id, `--out -`.
    expect(cairn(["--store", "st", "resume", "zz", "--out", "results"], { cwd: dir }).err).toBe('cairn: malformed run id "zz": expected 16 lowercase hex digits [E_USAGE]\n');
    expect(cairn(["--store", "st", "resume", UNKNOWN, "--out", "-"], { cwd: dir }).status).toBe(2);
  });

  it("a known run: the --out errors are unchanged", () => {
    const dir = workDir();
    const ok = cairn(["--store", "st", "--json", "run", "id.mjs", "--input", "in.jsonl"], { cwd: dir });
    expect(ok.status, ok.err).toBe(0);
    const runId = json<{ runId: string }>(ok).runId;
    const dirOut = cairn(["--store", "st", "resume", runId, "--out", "results"], { cwd: dir });
    expect([dirOut.status, dirOut.err]).toEqual([2, "cairn: --out results is a directory; give a file path [E_USAGE]\n"]);
    const missing = cairn(["--store", "st", "resume", runId, "--out", "nodir/x"], { cwd: dir });
    expect([missing.status, missing.err]).toEqual([1, "cairn: cannot write nodir/x: ENOENT: no such file or directory [E_STORE_IO]\n"]);
    const inStore = cairn(["--store", "st", "resume", runId, "--out", "st/x"], { cwd: dir });
    expect([inStore.status, inStore.err]).toEqual([2, `cairn: --out st/x is inside the store ${join(dir, "st")} [E_USAGE]\n`]);
  });
});

describe("--out a dangling symlink or a symlink loop", () => {
  it("run: a dangling symlink into a missing directory, or a loop, is refused before the store is created", () => {
    const dir = workDir();
    symlinkSync("nodir/x", join(dir, "dangling"));
    symlinkSync("loop2", join(dir, "loop1"));
    symlinkSync("loop1", join(dir, "loop2"));
    const d = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "dangling"], { cwd: dir });
    expect([d.status, d.out, d.err]).toEqual([1, "", "cairn: cannot write dangling: ENOENT: no such file or directory (a symlink to nodir/x) [E_STORE_IO]\n"]);
    const j = cairn(["--json", "run", "id.mjs", "--input", "in.jsonl", "--out", "dangling"], { cwd: dir });
    expect(JSON.parse(j.err)).toEqual({
      error: { code: "E_STORE_IO", message: "cannot write dangling: ENOENT: no such file or directory (a symlink to nodir/x)", details: { path: "dangling", target: "nodir/x" } },
    });
    const l = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "loop1"], { cwd: dir });
    expect([l.status, l.out, l.err]).toEqual([1, "", "cairn: cannot write loop1: ELOOP: too many symbolic links encountered [E_STORE_IO]\n"]);
    const under = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "loop1/x"], { cwd: dir });
    expect([under.status, under.out, under.err]).toEqual([1, "", "cairn: cannot write loop1/x: ELOOP: too many symbolic links encountered [E_STORE_IO]\n"]);
    // A dangling symlink whose target's parent is a file (stat of the link: ENOTDIR).
    writeFileSync(join(dir, "f.txt"), "x");
    symlinkSync("f.txt/x", join(dir, "intofile"));
    const f = cairn(["run", "id.mjs", "--input", "in.jsonl", "--out", "intofile"], { cwd: dir });
    expect([f.status, f.out, f.err]).toEqual([1, "", "cairn: cannot write intofile: ENOTDIR: not a directory (a symlink to f.txt/x) [E_STORE_IO]\n"]);
    expect(readdirSync(dir).sort()).toEqual(["dangling", "f.txt", "id.mjs", "in.jsonl", "intofile", "loop1", "loop2", "results"]); // no ./.cairn
  });

  it("run: a dangling symlink into an existing directory is written through, creating its target", () => {
    const dir = workDir();
    symlinkSync("results/out.jsonl", join(dir, "link"));
    const r = cairn(["--quiet", "run", "id.mjs", "--input", "in.jsonl", "--out", "link"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(readFileSync(join(dir, "results", "out.jsonl"), "utf8")).toBe('{"id":0,"output":{"n":1}}\n{"id":1,"output":{"n":2}}\n');
  });

  it("resume of an unfinished run: refused before the run is continued", () => {
    const dir = workDir();
    symlinkSync("nodir/x", join(dir, "dangling"));
    const ok = cairn(["--store", "st", "--json", "run", "id.mjs", "--input", "in.jsonl"], { cwd: dir });
    expect(ok.status, ok.err).toBe(0);
    const runId = json<{ runId: string }>(ok).runId;
    // Unfinished again: its manifest and report unpinned (what resume rebuilds from the committed pulses).
    for (const root of [`run:${runId}:manifest`, `run:${runId}:report`]) expect(cairn(["--store", "st", "store", "unpin", root], { cwd: dir }).status).toBe(0);
    const r = cairn(["--store", "st", "resume", runId, "--out", "dangling"], { cwd: dir });
    expect([r.status, r.out, r.err]).toEqual([1, "", "cairn: cannot write dangling: ENOENT: no such file or directory (a symlink to nodir/x) [E_STORE_IO]\n"]);
    const runs = json<Array<{ runId: string; state: string }>>(cairn(["--store", "st", "--json", "runs", "ls"], { cwd: dir }));
    expect(runs.find((s) => s.runId === runId)?.state).toBe("incomplete"); // not continued
  });
});

describe("--out that the store would lie in", () => {
  it("run --store SX/inner --out SX: E_USAGE before the store is created, nothing left", () => {
    const dir = workDir();
    const r = cairn(["--store", "SX/inner", "run", "id.mjs", "--input", "in.jsonl", "--out", "SX"], { cwd: dir });
    expect([r.status, r.out, r.err]).toEqual([2, "", `cairn: --out SX would be a directory: the store ${join(dir, "SX", "inner")} lies inside it; give a file path [E_USAGE]\n`]);
    const j = cairn(["--json", "--store", "SX/inner", "run", "id.mjs", "--input", "in.jsonl", "--out", "SX"], { cwd: dir });
    expect(JSON.parse(j.err)).toEqual({
      error: { code: "E_USAGE", message: `--out SX would be a directory: the store ${join(dir, "SX", "inner")} lies inside it; give a file path`, details: { field: "--out", path: "SX" } },
    });
    expect(existsSync(join(dir, "SX"))).toBe(false);
    // The reverse (--out inside a store not created yet) was already refused first.
    const rev = cairn(["--store", "SW", "run", "id.mjs", "--input", "in.jsonl", "--out", "SW/inner/x"], { cwd: dir });
    expect([rev.status, rev.err]).toEqual([2, `cairn: --out SW/inner/x is inside the store ${join(dir, "SW")} [E_USAGE]\n`]);
    expect(readdirSync(dir).sort()).toEqual(["id.mjs", "in.jsonl", "results"]);
  });
});
