/**
 * UAT u3 of 2026-11-27 through the built CLI:
 * - F15: a run whose reduce value is nested 5000 levels completes, and `cairn run` (human and
 *   --json) and `runs show` print it with exit 0 (JSON.stringify overflowed: E_INTERNAL, exit 1).
 * - F9: `runs show` of a run whose report root holds bytes that are not JSON, or JSON that is not
 *   a report, is E_STORE_CORRUPT naming the run and the report (E_INTERNAL; "wall NaN s", exit 0).
 * - F12: `cairn verify` with TMPDIR missing is E_STORE_IO naming the scratch path (E_INTERNAL).
 * - F3: `cairn replay` of a run whose manifest root points at another run's manifest exits 1 with
 *   E_STORE_CORRUPT (it printed the other run's records and said "matches", exit 0).
 * Runs the BUILT cli (test/cli/helpers.ts).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cairn, json, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const DEEP_REDUCE = [
  "export default (x) => ({ n: x.n });",
  "export const initial = 0;",
  "export function reduce(acc, o) { let v = 0; for (let i = 0; i < 5000; i++) v = [v]; return v; }",
  "",
].join("\n");

function setup(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "deep.mjs"), DEEP_REDUCE);
  writeFileSync(join(dir, "fnA.mjs"), "export default (x) => ({ v: x.n * 2 });\n");
  writeFileSync(join(dir, "fnB.mjs"), "export default (x) => ({ v: x.n * 3 });\n");
  writeFileSync(join(dir, "in.jsonl"), Array.from({ length: 20 }, (_, n) => `{"n":${n}}\n`).join(""));
  return dir;
}

const deepText = (depth: number): string => `${"[".repeat(depth)}0${"]".repeat(depth)}`;

/** Re-pins root `name` at the bytes `body` (stored with `store put`). */
function repin(dir: string, name: string, body: string): string {
  const put = cairn(["--store", "st", "store", "put", "-"], { cwd: dir, input: body });
  expect(put.status, put.err).toBe(0);
  const digest = put.out.trim();
  expect(cairn(["--store", "st", "store", "unpin", name], { cwd: dir }).status).toBe(0);
  const pin = cairn(["--store", "st", "store", "pin", digest, name], { cwd: dir });
  expect(pin.status, pin.err).toBe(0);
  return digest;
}

describe("a reduce value nested 5000 levels (F15)", () => {
  it("is printed by run (human and --json) and runs show, exit 0", () => {
    const dir = setup();
    const r = cairn(["--store", "st", "run", "deep.mjs", "--input", "in.jsonl", "--workers", "1"], { cwd: dir });
    expect(r.err).not.toContain("E_INTERNAL");
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain(`reduce: ${"[".repeat(40)}`);
    const j = cairn(["--store", "st", "--json", "run", "deep.mjs", "--input", "in.jsonl", "--workers", "1"], { cwd: dir });
    expect(j.status, j.err).toBe(0);
    const result = json<{ runId: string; reduce: unknown; reused: boolean }>(j);
    expect(result.reused).toBe(true);
    expect(j.out).toContain(deepText(5000)); // compact: JSON.stringify cannot indent it
    const show = cairn(["--store", "st", "runs", "show", result.runId], { cwd: dir });
    expect(show.status, show.err).toBe(0);
    expect(show.out).toContain(`reduce: ${"[".repeat(40)}`);
    const showJson = cairn(["--store", "st", "--json", "runs", "show", result.runId], { cwd: dir });
    expect(showJson.status, showJson.err).toBe(0);
    expect(json<{ runId: string }>(showJson).runId).toBe(result.runId);
    expect(showJson.out).toContain(deepText(5000));
  });
});

describe("runs show of a run whose report is not one (F9)", () => {
  it("is E_STORE_CORRUPT naming the run and the report, before anything is printed", () => {
    const dir = setup();
    const r = cairn(["--store", "st", "--json", "run", "fnA.mjs", "--input", "in.jsonl", "--workers", "1"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    const { runId } = json<{ runId: string }>(r);
    for (const [body, says] of [["hi", "is not JSON"], ['{"kind":"x"}', 'its kind is "x"'], ["[1]", "it is not a JSON object"]] as const) {
      const digest = repin(dir, `run:${runId}:report`, body);
      const show = cairn(["--store", "st", "runs", "show", runId], { cwd: dir });
      expect(show.status).toBe(1);
      expect(show.out).toBe("");
      expect(show.err).toContain(`cairn: run ${runId}: its run report ${digest}`);
      expect(show.err).toContain(says);
      expect(show.err).toContain("[E_STORE_CORRUPT]");
      expect(show.err).not.toContain("NaN");
    }
  });
});

describe("verify with TMPDIR missing (F12)", () => {
  it("is E_STORE_IO naming the scratch database and TMPDIR", () => {
    const dir = setup();
    const r = cairn(["--store", "st", "--json", "run", "fnA.mjs", "--input", "in.jsonl", "--workers", "1"], { cwd: dir });
    const { runId } = json<{ runId: string }>(r);
    const missing = join(dir, "no-such-dir");
    const v = cairn(["--store", "st", "--json", "verify", runId], { cwd: dir, env: { TMPDIR: missing } });
    expect(v.status).toBe(1);
    const err = jsonError(v);
    expect(err.code).toBe("E_STORE_IO");
    expect(err.message).toContain(`verify cannot use its scratch database ${missing}/cairn-verify-`);
  });
});

describe("replay of a run whose manifest root points at another run's manifest (F3)", () => {
  it("exits 1 with E_STORE_CORRUPT naming both runs, printing no record", () => {
    const dir = setup();
    const ids = ["fnA.mjs", "fnB.mjs"].map((fn) => {
      const r = cairn(["--store", "st", "--json", "run", fn, "--input", "in.jsonl", "--workers", "1", "--partitions", "2"], { cwd: dir });
      expect(r.status, r.err).toBe(0);
      return json<{ runId: string; manifestDigest: string }>(r);
    });
    const [a, b] = ids as [{ runId: string; manifestDigest: string }, { runId: string; manifestDigest: string }];
    expect(cairn(["--store", "st", "store", "unpin", `run:${a.runId}:manifest`], { cwd: dir }).status).toBe(0);
    expect(cairn(["--store", "st", "store", "pin", b.manifestDigest, `run:${a.runId}:manifest`], { cwd: dir }).status).toBe(0);
    const rp = cairn(["--store", "st", "replay", a.runId, "--pulse", "0/0"], { cwd: dir });
    expect(rp.status).toBe(1);
    expect(rp.out).toBe("");
    expect(rp.err).toContain(`run ${a.runId}: the manifest ${b.manifestDigest} pinned for it (run:${a.runId}:manifest) is not this run's: it describes run ${b.runId}`);
    expect(rp.err).toContain("[E_STORE_CORRUPT]");
    const again = cairn(["--store", "st", "--json", "run", "fnA.mjs", "--input", "in.jsonl", "--workers", "1", "--partitions", "2"], { cwd: dir });
    expect(again.status).toBe(1);
    expect(again.out).toBe("");
    expect(jsonError(again).code).toBe("E_STORE_CORRUPT");
  });
});
