/**
 * `cairn run` / `resume` after an execution of many tiny pulses (at least TINY_PULSE_MIN_PULSES,
 * fewer than TINY_PULSE_AVERAGE_EUS EUs each on average) says on stderr that each pulse costs a
 * store commit: not with --quiet, not for a normal run nor for a finished run answered again;
 * with --json stdout stays one JSON value. The output digest is the same whatever the pulse
 * size (as the note says); the manifest digest is not. The CLI runs are the BUILT cli
 * (test/cli/helpers.ts); `tinyPulseNote`'s bounds are checked directly.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { TINY_PULSE_AVERAGE_EUS, TINY_PULSE_MIN_PULSES, tinyPulseNote } from "../../src/cli/progress.js";
import { cairn, json, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());

/** EUs of the tiny-pulse runs: one pulse each with --pulse-size 1, exactly the note's least pulse count. */
const EUS = TINY_PULSE_MIN_PULSES;
/** A thousand one-EU commits take seconds, more on a loaded machine. */
const RUN_TIMEOUT_MS = 120_000;

const NOTE =
  "cairn: note: 1,000 pulses averaged 1.0 EU each; each pulse costs about a millisecond of store work (its artifacts, receipt and edges), which can take most of a run's time. " +
  "A larger --pulse-size or fewer --partitions is faster; the output digest does not depend on either (the run id and manifest do)";

function setup(): string {
  const dir = temps.make();
  writeFileSync(join(dir, "double.js"), "export default (x) => x.n * 2;\n");
  writeFileSync(join(dir, "in.jsonl"), Array.from({ length: EUS }, (_, i) => `{"n":${i}}\n`).join(""));
  return dir;
}

function notes(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("cairn: note:"));
}

const RUN = ["run", "double.js", "--input", "in.jsonl", "--workers", "2"];

describe("the tiny-pulse note", () => {
  it("is said after a run of 1,000 one-EU pulses, not when the finished run is answered again", { timeout: RUN_TIMEOUT_MS }, () => {
    const dir = setup();
    const r = cairn(["--store", "st", ...RUN, "--pulse-size", "1"], { cwd: dir });
    expect(r.status, r.err).toBe(0);
    expect(notes(r.err)).toEqual([NOTE]);
    expect(r.out).toContain(": completed\n");
    expect(r.out).not.toContain("cairn: note");
    const again = cairn(["--store", "st", ...RUN, "--pulse-size", "1"], { cwd: dir });
    expect(again.status, again.err).toBe(0);
    expect(again.out).toContain("(already finished: nothing executed)");
    expect(notes(again.err)).toEqual([]);
  });

  it("with --json: stdout is one JSON value, the note on stderr; the output digest is a normal run's, the manifest digest is not", { timeout: RUN_TIMEOUT_MS }, () => {
    const dir = setup();
    const tiny = cairn(["--json", "--store", "st", ...RUN, "--pulse-size", "1"], { cwd: dir });
    expect(tiny.status, tiny.err).toBe(0);
    const t = json<{ status: string; counts: { total: number }; outputDigest: string; manifestDigest: string }>(tiny);
    expect([t.status, t.counts.total]).toEqual(["completed", EUS]);
    expect(tiny.err).toBe(`${NOTE}\n`);
    // A normal run (8 pulses of 125 EUs): no note, the same output digest.
    const normal = cairn(["--json", "--store", "st", ...RUN], { cwd: dir });
    expect(normal.status, normal.err).toBe(0);
    expect(normal.err).toBe("");
    const n = json<{ outputDigest: string; manifestDigest: string }>(normal);
    expect(n.outputDigest).toBe(t.outputDigest);
    expect(n.manifestDigest).not.toBe(t.manifestDigest);
  });

  it("is not said with --quiet, nor after a normal run", { timeout: RUN_TIMEOUT_MS }, () => {
    const dir = setup();
    const quiet = cairn(["--quiet", "--store", "st", ...RUN, "--pulse-size", "1"], { cwd: dir });
    expect(quiet.status, quiet.err).toBe(0);
    expect(quiet.err).toBe("");
    const normal = cairn(["--store", "st", ...RUN, "--seed", "1"], { cwd: dir });
    expect(normal.status, normal.err).toBe(0);
    expect(normal.out).toContain(": completed\n");
    expect(notes(normal.err)).toEqual([]);
  });
});

describe("tinyPulseNote's bounds", () => {
  it("needs TINY_PULSE_MIN_PULSES pulses and an average below TINY_PULSE_AVERAGE_EUS", () => {
    expect(tinyPulseNote(TINY_PULSE_MIN_PULSES - 1, TINY_PULSE_MIN_PULSES - 1)).toBeUndefined();
    expect(tinyPulseNote(TINY_PULSE_MIN_PULSES, TINY_PULSE_MIN_PULSES)).toBe(NOTE.slice("cairn: note: ".length));
    expect(tinyPulseNote(1000, TINY_PULSE_AVERAGE_EUS * 1000)).toBeUndefined();
    // Just below the average bound: shown rounded down, never as the bound itself.
    expect(tinyPulseNote(1000, TINY_PULSE_AVERAGE_EUS * 1000 - 1)).toMatch(/^1,000 pulses averaged 15\.9 EUs each; /);
    expect(tinyPulseNote(5000, 12_500)).toMatch(/^5,000 pulses averaged 2\.5 EUs each; /);
  });

  it("after a resume: counts only the pulses it committed, and words the advice for a new run", () => {
    // 5,000 tiny pulses, all but 999 committed before the resume: not this execution's cost.
    expect(tinyPulseNote(5000, 5000, { executed: TINY_PULSE_MIN_PULSES - 1, resumed: true })).toBeUndefined();
    expect(tinyPulseNote(5000, 5000, { executed: TINY_PULSE_MIN_PULSES, resumed: true })).toBe(
      "5,000 pulses averaged 1.0 EU each; each pulse costs about a millisecond of store work (its artifacts, receipt and edges), which can take most of a run's time. " +
        "A new run with a larger --pulse-size or fewer --partitions is faster (a resumed run keeps its own: they are part of its id); " +
        "the output digest does not depend on either (the run id and manifest do)",
    );
  });
});
