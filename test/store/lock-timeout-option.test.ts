/**
 * `openStore`'s `lockTimeoutMs` is named as the caller spelt it in its errors (message and
 * `details.field`), as every other option is; before 2026-11-28 it was "the writer-lock wait",
 * which no caller writes. The CLI's `--wait`, which reaches the same check (store/lock.ts
 * `checkLockWait`), still names `--wait`.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, openStore } from "../../src/index.js";
import { cairnErrorOf } from "../cairn-error-of.js";
import { cairn } from "../cli/helpers.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-lock-timeout-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("openStore lockTimeoutMs", () => {
  it("a non-integer, negative or too large lockTimeoutMs is E_USAGE naming lockTimeoutMs, and creates nothing", () => {
    const base = tempDir();
    const cases: Array<[unknown, string]> = [
      [1.5, "lockTimeoutMs must be an integer number of milliseconds, got 1.5"],
      [Number.NaN, "lockTimeoutMs must be an integer number of milliseconds, got NaN"],
      ["100", "lockTimeoutMs must be an integer number of milliseconds, got string"],
      [-5, "lockTimeoutMs must not be negative, got -5 ms"],
      [2_147_483_648, "lockTimeoutMs must be at most 2147483647 ms (about 24.8 days), got 2147483648"],
    ];
    cases.forEach(([wait, message], i) => {
      const dir = join(base, `s${i}`);
      const e = cairnErrorOf(() => openStore({ dir, lockTimeoutMs: wait as number }));
      expect(e.code).toBe(ErrorCode.USAGE);
      expect(e.message).toBe(message);
      expect(e.details).toEqual({ field: "lockTimeoutMs", value: wait });
      expect(existsSync(dir)).toBe(false);
    });
    openStore({ dir: join(base, "ok"), lockTimeoutMs: 20 }).close();
  });

  it("a read-only open checks it too (it was ignored: a reader takes no writer lock)", () => {
    const dir = join(tempDir(), "s");
    openStore({ dir }).close();
    const e = cairnErrorOf(() => openStore({ dir, readOnly: true, lockTimeoutMs: 1.5 }));
    expect([e.code, e.message, e.details]).toEqual([ErrorCode.USAGE, "lockTimeoutMs must be an integer number of milliseconds, got 1.5", { field: "lockTimeoutMs", value: 1.5 }]);
    openStore({ dir, readOnly: true, lockTimeoutMs: 20 }).close();
  });

  it("the CLI's --wait reaching the same check still names --wait", () => {
    const dir = tempDir();
    const store = join(dir, "store");
    const r = cairn(["--store", store, "--wait", "30d", "init"], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.err).toBe("cairn: --wait must be at most 2147483647 ms (about 24.8 days), got 2592000000 [E_USAGE]\n");
    const j = cairn(["--store", store, "--wait", "30d", "--json", "init"], { cwd: dir });
    expect(JSON.parse(j.err)).toEqual({
      error: { code: "E_USAGE", message: "--wait must be at most 2147483647 ms (about 24.8 days), got 2592000000", details: { field: "--wait", value: 2592000000 } },
    });
    expect(existsSync(store)).toBe(false);
  });
});
