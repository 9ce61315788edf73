/**
 * `cairn verify` and `cairn replay` of an unknown run name the store, as `cairn resume` does
 * (the library's message, verify.ts `readManifest`), through the BUILT cli (CAIRN_TEST_CLI).
 */
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { cairn, jsonError, TempDirs } from "./helpers.js";

const temps = new TempDirs();
afterEach(() => temps.cleanup());
const UNKNOWN = "0123456789abcdef";

it("verify, replay and resume of an unknown run: E_NOT_FOUND naming the store, exit 1", () => {
  const d = temps.make();
  expect(cairn(["--store", "st", "init"], { cwd: d }).status).toBe(0);
  const store = join(realpathSync(d), "st");
  for (const args of [["verify", UNKNOWN], ["replay", UNKNOWN, "--pulse", "0/0"], ["resume", UNKNOWN]]) {
    const r = cairn(["--json", "--store", "st", ...args], { cwd: d });
    expect(r.status, args[0]).toBe(1);
    expect(jsonError(r)).toMatchObject({ code: "E_NOT_FOUND", message: `run ${UNKNOWN} not found in store ${store}`, details: { runId: UNKNOWN } });
  }
});
