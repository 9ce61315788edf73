import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeDir, makeDirs } from "../../src/core/dirs.js";

const made: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-dirs-"));
  made.push(d);
  return d;
}
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function codeOf(f: () => void): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe("makeDirs", () => {
  it("makes every missing directory, and accepts an existing one (also through a symlink)", () => {
    const d = temp();
    makeDirs(join(d, "a", "b", "c"));
    expect(statSync(join(d, "a", "b", "c")).isDirectory()).toBe(true);
    makeDirs(join(d, "a", "b", "c"));
    makeDirs(join(d, "a", "b", "..", "b2", "."));
    expect(existsSync(join(d, "a", "b2"))).toBe(true);
    symlinkSync(join(d, "a"), join(d, "link"));
    makeDirs(join(d, "link", "x"));
    expect(existsSync(join(d, "a", "x"))).toBe(true);
  });

  it("follows `..` after a symlink as the kernel does (where the link points), and takes relative paths", () => {
    const d = temp();
    makeDirs(join(d, "real", "sub"));
    symlinkSync(join(d, "real", "sub"), join(d, "link"));
    makeDirs(`${join(d, "link")}/../made`);
    expect(existsSync(join(d, "real", "made"))).toBe(true);
    expect(existsSync(join(d, "made"))).toBe(false);
    const cwd = process.cwd();
    try {
      process.chdir(d);
      makeDirs("rel/a/");
      expect(statSync(join(d, "rel", "a")).isDirectory()).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it("throws as mkdir does: EEXIST for a file at the path, ENOTDIR under a file", () => {
    const d = temp();
    writeFileSync(join(d, "f"), "x");
    expect(codeOf(() => makeDirs(join(d, "f")))).toBe("EEXIST");
    expect(codeOf(() => makeDirs(join(d, "f", "g", "h")))).toBe("ENOTDIR");
    // the system call named is mkdir's, as with Node's recursive mkdir
    expect(() => makeDirs(join(d, "f", "g", "h"))).toThrow(`ENOTDIR: not a directory, mkdir '${join(d, "f", "g", "h")}'`);
  });

  it("makeDir: true when made now (missing parents too), false when there; a file is EEXIST", () => {
    const d = temp();
    expect(makeDir(join(d, "a"))).toBe(true);
    expect(makeDir(join(d, "a"))).toBe(false);
    expect(makeDir(join(d, "b", "c", "d"))).toBe(true);
    expect(statSync(join(d, "b", "c", "d")).isDirectory()).toBe(true);
    writeFileSync(join(d, "f"), "x");
    expect(codeOf(() => makeDir(join(d, "f")))).toBe("EEXIST");
    expect(codeOf(() => makeDir(join(d, "f", "g")))).toBe("ENOTDIR");
  });

  it.skipIf(!existsSync("/proc/self"))("ends with ENOENT where a parent exists but refuses children (/proc)", () => {
    expect(codeOf(() => makeDirs("/proc/self/cairn-x/y"))).toBe("ENOENT");
  });
});
