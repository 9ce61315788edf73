/**
 * `cairn run` names the flag and echoes the value as given for every bad value — also for the
 * bounds the run config checks (`--eu-timeout` above 24 h said "EU timeout must be an integer in
 * 1..86400000, got 90000000"; `--id-field ''` said "id field must be a non-empty string",
 * details.field `idField`) — and a duration is whole milliseconds: one that is not (`0.5ms`,
 * `1.9`, `0.0001s`) is refused, for every duration flag, never rounded (`0.5ms` ran with 1 ms,
 * `1.9` with 2 ms). Through the BUILT cli (CAIRN_TEST_CLI for a private build).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseDuration, parseSecondsOrDuration } from "../../src/cli/duration.js";
import { isCairnError } from "../../src/core/errors.js";
import { cairn, json, jsonError, TempDirs, type RunResult } from "./helpers.js";

const temps = new TempDirs();
let dir: string;

beforeEach(() => {
  dir = temps.make();
  writeFileSync(join(dir, "in.jsonl"), '{"k":"a"}\n');
  writeFileSync(join(dir, "echo.mjs"), "export default (x) => x;\n");
});
afterEach(() => temps.cleanup());

function cli(args: string[]): RunResult {
  return cairn(["--store", join(dir, "store"), "--json", ...args], { cwd: dir });
}

function runWith(flags: string[]): RunResult {
  return cli(["run", "echo.mjs", "--input", "in.jsonl", ...flags]);
}

function usage(r: RunResult, message: string, details: Record<string, unknown>): void {
  expect(r.status).toBe(2);
  expect(r.out).toBe("");
  expect(jsonError(r)).toEqual({ code: "E_USAGE", message, details });
}

const notWhole = (flag: string, text: string): string => `invalid ${flag} ${JSON.stringify(text)}: not a whole number of milliseconds (durations are not rounded)`;

describe("cairn run names the flag", () => {
  it("--eu-timeout above 24 h: the flag, the value as given and the bound", () => {
    usage(runWith(["--eu-timeout", "25h"]), 'invalid --eu-timeout "25h": must be at most 1d (86400000 ms)', { value: "25h" });
    usage(runWith(["--eu-timeout", "86400001"]), 'invalid --eu-timeout "86400001": must be at most 1d (86400000 ms)', { value: "86400001" });
  });

  it("--eu-timeout of exactly 24 h runs", () => {
    const r = runWith(["--eu-timeout", "24h"]);
    expect(r.status).toBe(0);
    const { runId } = json<{ runId: string }>(r);
    expect(json<{ config: { euTimeoutMs: number } }>(cli(["runs", "show", runId])).config.euTimeoutMs).toBe(86_400_000);
  });

  it("--id-field '': the flag, not the config key", () => {
    usage(runWith(["--id-field", ""]), "--id-field must not be empty", { field: "--id-field" });
  });
});

describe("durations are whole milliseconds, never rounded", () => {
  it.each(["0.5ms", "1.5ms", "1.9", "0.0001s", "1.0005s"])("--eu-timeout %s is refused", (text) => {
    usage(runWith(["--eu-timeout", text]), notWhole("--eu-timeout", text), { value: text });
  });

  it("--wait follows the same rule", () => {
    usage(cli(["--wait", "0.5ms", "init"]), notWhole("--wait", "0.5ms"), { value: "0.5ms" });
    expect(cli(["--wait", "1.5s", "init"]).status).toBe(0);
  });

  it("fractions that are whole milliseconds are exact", () => {
    expect(parseDuration("1.001s")).toBe(1001); // 1.001 * 1000 is 1000.9999999999999 in floating point
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("0.0000003125d")).toBe(27);
    expect(parseDuration("2.50000000000000000000s")).toBe(2500);
    expect(parseSecondsOrDuration("1.5s", "--ttl", 10, 1)).toBe(1500);
    for (const text of ["0.5", "0.00000000001d", "1.23456789012345s"]) {
      expect(() => parseDuration(text, "--x")).toThrow(notWhole("--x", text));
    }
    let err: unknown;
    try {
      parseSecondsOrDuration("1.0001s", "--ttl", 10, 1);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, "E_USAGE")).toBe(true);
    expect((err as Error).message).toBe(notWhole("--ttl", "1.0001s"));
  });
});
