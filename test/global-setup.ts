/**
 * Runs once before the test forks start: gives the whole suite its own temp directory
 * ($TMPDIR, which os.tmpdir() and every child process inherit) and removes it afterwards, so
 * what the tests leave in the temp directory — scratch stores and workspaces, and the
 * data-root lock files (one per data root, never removed by design: src/store/lock.ts) —
 * does not pile up in the machine's /tmp run after run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "cairn-tests-"));
  process.env.TMPDIR = dir;
  return () => {
    rmSync(dir, { recursive: true, force: true });
  };
}
