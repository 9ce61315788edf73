/**
 * A run's state captures share its memo of the real data root with its CS calls
 * (pgs/state.ts `captureState(…, run)`, effects/confine.ts `runBatchCheckedDirs` /
 * `keepBatchRoot`): the root is resolved once per run, and every later use is checked by one
 * `lstat` as the run's CS calls always were. A root that is no longer that directory is resolved
 * again; a capture without a run memo shares nothing.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256 } from "../../src/core/digest.js";
import { newCheckedDirs } from "../../src/workflow/effects/confine.js";
import { captureState } from "../../src/workflow/pgs/state.js";
import { tempDir } from "./cairn-fixture.js";

function tree(t: string, d: string, text: string): string {
  mkdirSync(join(t, d, "st"), { recursive: true });
  writeFileSync(join(t, d, "st", "f.json"), text);
  return join(t, d);
}

describe("a run's captures share its real data root", () => {
  it("the first capture seeds the run's memo; a later one reuses it while lstat finds the same directory", () => {
    const t = tempDir();
    tree(t, "A", "AAAA\n");
    const root = join(t, "root");
    symlinkSync(join(t, "A"), root);
    const run = newCheckedDirs();
    expect(captureState(root, ["st/f.json"], true, run)[0]?.digest).toBe(sha256("AAAA\n"));
    expect(run.root).toBe(root);
    expect(run.realRoot).toBe(join(t, "A"));
    expect(run.rootId).toMatch(/^\d+:\d+$/);
    // Within the run the file is read under the real root it resolved, and a change to it is seen.
    writeFileSync(join(t, "A", "st", "f.json"), "AAAA2\n");
    expect(captureState(root, ["st/f.json"], true, run)[0]?.digest).toBe(sha256("AAAA2\n"));
  });

  it("a real root replaced by another directory is resolved again (the run's memo is not trusted blindly)", () => {
    const t = tempDir();
    tree(t, "A", "AAAA\n");
    const run = newCheckedDirs();
    const root = join(t, "A");
    expect(captureState(root, ["st/f.json"], true, run)[0]?.digest).toBe(sha256("AAAA\n"));
    renameSync(root, join(t, "old"));
    tree(t, "A", "NEW\n");
    const second = captureState(root, ["st/f.json"], true, run)[0];
    expect(second?.digest).toBe(sha256("NEW\n"));
    expect(second?.bytes?.toString()).toBe("NEW\n");
  });

  it("a real root removed mid-run: the file reads as absent, as without the memo", () => {
    const t = tempDir();
    tree(t, "A", "AAAA\n");
    const run = newCheckedDirs();
    const root = join(t, "A");
    captureState(root, ["st/f.json"], true, run);
    rmSync(root, { recursive: true });
    expect(captureState(root, ["st/f.json"], true, run)[0]).toEqual({ path: "st/f.json", digest: null, bytes: null });
  });

  it("a missing data root seeds nothing; once made, it is resolved", () => {
    const t = tempDir();
    const root = join(t, "later");
    const run = newCheckedDirs();
    expect(captureState(root, ["st/f.json"], true, run)[0]?.digest).toBeNull();
    expect(run.realRoot).toBeUndefined();
    tree(t, "later", "L\n");
    expect(captureState(root, ["st/f.json"], true, run)[0]?.digest).toBe(sha256("L\n"));
    expect(run.realRoot).toBe(root);
  });

  it("another data root's memo is not used", () => {
    const t = tempDir();
    tree(t, "A", "AAAA\n");
    tree(t, "B", "BBBB\n");
    const run = newCheckedDirs();
    captureState(join(t, "A"), ["st/f.json"], true, run);
    expect(captureState(join(t, "B"), ["st/f.json"], true, run)[0]?.digest).toBe(sha256("BBBB\n"));
    expect(run.realRoot).toBe(join(t, "A"));
  });

  it("captures without a run memo resolve the root each time (a re-pointed symlink is followed)", () => {
    const t = tempDir();
    tree(t, "A", "AAAA\n");
    tree(t, "B", "BBBB\n");
    const root = join(t, "root");
    symlinkSync(join(t, "A"), root);
    expect(captureState(root, ["st/f.json"], true)[0]?.digest).toBe(sha256("AAAA\n"));
    rmSync(root);
    symlinkSync(join(t, "B"), root);
    expect(captureState(root, ["st/f.json"], true)[0]?.digest).toBe(sha256("BBBB\n"));
  });
});
