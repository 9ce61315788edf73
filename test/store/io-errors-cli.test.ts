/**
 * `cairn store put` of a large file whose temp file cannot be created (FINDINGS F8), through the
 * CLI: `tmp` replaced by a regular file is refused when the writer opens the store (since the
 * UAT of 2026-11-28, test/store/uat-tmp-sweep.test.ts: a `tmp` that is not a real directory is
 * E_STORE_CORRUPT naming it; before, the put met ENOTDIR, E_STORE_IO naming the `.part` path,
 * which a tmp replaced after the open still gives: test/store/io-errors.test.ts), exit 1 — not
 * E_INTERNAL with a raw fs message — for a file and for stdin past 64 KiB. The store stays
 * consistent: fsck reports only the stray `tmp` file.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cairn, jsonError, TempDirs, type RunResult } from "../cli/helpers.js";

const temps = new TempDirs();
let dir: string;
let store: string;

function run(args: string[], input?: Buffer): RunResult {
  return cairn(["--store", store, ...args], { cwd: dir, input });
}

beforeEach(() => {
  dir = temps.make();
  store = join(dir, "store");
  expect(run(["init", "-q"]).status).toBe(0);
});
afterEach(() => temps.cleanup());

describe("store put with tmp/ not a directory", () => {
  it("a large file and large stdin: E_STORE_CORRUPT naming tmp, exit 1; fsck finds only the stray tmp", () => {
    const big = Buffer.alloc(200_000, 7);
    writeFileSync(join(dir, "big.bin"), big);
    const tmp = join(store, "tmp");
    rmSync(tmp, { recursive: true });
    writeFileSync(tmp, "x");
    const refused = `store directory ${tmp} is a regular file, not a directory: the store will not write through it (move it out of the store; the next writer makes tmp/ again)`;
    for (const [args, input] of [[["store", "put", "big.bin"], undefined], [["store", "put", "-"], big]] as const) {
      const r = run(["--json", ...args], input);
      expect(r.status).toBe(1);
      const e = jsonError(r);
      expect(e.code).toBe("E_STORE_CORRUPT");
      expect(e.message).toBe(refused);
      const human = run([...args], input);
      expect(human.err).toBe(`cairn: ${refused} [E_STORE_CORRUPT]\n`);
    }
    const f = run(["fsck"]);
    expect(f.status).toBe(1);
    expect(f.out).toMatch(/^stray_file {2}tmp {2}tmp is not a directory\nfsck: 1 problem /);
  });
});
