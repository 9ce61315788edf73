/**
 * `cairn verify` holds one window of a pulse's records (record-windows.ts), not the pulse: a run
 * whose one pulse holds ~80 MB of records verifies, and a byte flipped in those records is
 * reported, in a process whose V8 heap is limited to 48 MiB (`--max-old-space-size`). Reading
 * the pulse whole (before 2026-11-27) ran that process out of memory (SIGABRT). And its scratch
 * ordering index that cannot be written fails verify (E_STORE_IO, naming it and TMPDIR), never a
 * finding against the records it was adding. Through the BUILT cli (CAIRN_TEST_CLI).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/index.js";
import type { Manifest } from "../../src/batch/manifest.js";
import { manifestOf } from "../batch/fixtures/engine-helpers.js";
import { cairn, CLI, flipMiddleByte, json, jsonError, objectFileOf, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const SMALL_HEAP = { NODE_OPTIONS: "--max-old-space-size=48" };

describe("cairn verify reads a large pulse a window at a time", () => {
  it("a pulse of 800 records of 100 KB verifies under a 48 MiB heap, and a flipped byte in it is artifact_tampered there", () => {
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "big.mjs"), 'export default (input) => `${input}:`.padEnd(100_000, "x");\n');
    writeFileSync(join(dir, "in.txt"), Array.from({ length: 800 }, (_, i) => `${i}\n`).join(""));
    const cli = (args: string[], env?: Record<string, string>): ReturnType<typeof cairn> => cairn(["--store", store, ...args], { cwd: dir, env });
    const r = cli(["--json", "run", "big.mjs", "--input", "in.txt", "--format", "lines", "--partitions", "1", "--pulse-size", "1000"]);
    expect([r.status, r.err]).toEqual([0, ""]);
    const { runId } = json<{ runId: string }>(r);

    const s = openStore({ dir: store, readOnly: true });
    let pulse: Manifest["pulses"][number];
    try {
      const m = manifestOf(s, runId);
      expect(m.pulses.length).toBe(1);
      pulse = m.pulses[0] as Manifest["pulses"][number];
      expect(s.stat(pulse.records).size).toBeGreaterThan(80_000_000);
    } finally {
      s.close();
    }

    const good = cli(["--json", "verify", runId], SMALL_HEAP);
    expect([good.status, good.err]).toEqual([0, ""]);
    expect(json<{ ok: boolean; recordsChecked: number }>(good)).toMatchObject({ ok: true, recordsChecked: 800 });

    flipMiddleByte(objectFileOf(store, pulse.records));

    const bad = cli(["--json", "verify", runId], SMALL_HEAP);
    expect(bad.status).toBe(1);
    const report = json<{ ok: boolean; problems: Array<{ code: string; pulse?: string; message: string }> }>(bad);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual({ code: "artifact_tampered", pulse: "0/0", message: expect.stringContaining(`records ${pulse.records}`) as unknown as string });
  });

  it("its scratch ordering index that cannot be written (a file-size limit) fails verify with E_STORE_IO naming it and TMPDIR, not a finding against the records", () => {
    const dir = temps.make();
    const store = join(dir, "store");
    writeFileSync(join(dir, "mid.mjs"), 'export default (input) => `${input}:`.padEnd(20_000, "x");\n');
    writeFileSync(join(dir, "in.txt"), Array.from({ length: 200 }, (_, i) => `${i}\n`).join(""));
    const r = cairn(["--store", store, "--json", "run", "mid.mjs", "--input", "in.txt", "--format", "lines", "--partitions", "1", "--pulse-size", "200"], { cwd: dir });
    expect([r.status, r.err]).toEqual([0, ""]);
    const { runId } = json<{ runId: string }>(r);
    // 1024 blocks (512 KiB or 1 MiB, as the shell counts them): the 4 MB of records cannot all
    // reach the scratch index; a write past the limit fails with EFBIG (SIGXFSZ ignored).
    const v = spawnSync("sh", ["-c", `trap '' XFSZ; ulimit -f 1024 && exec "$0" "$@"`, process.execPath, CLI, "--store", store, "--json", "verify", runId], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", TMPDIR: dir },
    });
    const err = v.stderr.toString("utf8");
    expect(v.status, err).toBe(1);
    expect(v.stdout.toString("utf8")).toBe("");
    const e = jsonError({ status: v.status, stdout: v.stdout, out: "", err });
    expect(e.code).toBe("E_STORE_IO");
    expect(e.message).toMatch(/^verify cannot use its scratch database .*cairn-verify-order-.*TMPDIR/s);
    const good = cairn(["--store", store, "--json", "verify", runId], { cwd: dir });
    expect([good.status, json<{ ok: boolean }>(good).ok]).toEqual([0, true]);
  });
});
